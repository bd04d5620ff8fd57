"""The reader's memory belongs to its caller (issue 12): one :class:`ReadMemo` per command,
passed down to every read; nothing is remembered in module globals.

A file marked in one memo (to be read by the tolerant reader, say) is read so by the reads
given that memo, and only by them: a report given a fresh memo reads it the fast way
first, finds the problem again, and warns again.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from kpicli.errors import Notes
from kpicli.execute.engine import run_report
from kpicli.ingest import scan
from kpicli.ingest.memo import ReadMemo
from kpicli.ingest.scan import scan_source
from kpicli.plan.build import Request
from kpicli.spec.config import load_config

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
#: past the sniffer's 128 KB sample of the Google Ads export (2645 lines)
PAST_SAMPLE = 2301


def stray_quote(folder: Path) -> Path:
    """A config over the Google Ads export with a stray quote in a campaign past the
    sample: the fast path cannot read the file, the tolerant reader can."""
    (folder / "data").mkdir()
    target = folder / "data/ads.csv"
    shutil.copy(SAMPLE / "ads_google_ads.csv", target)
    lines = target.read_text().split("\n")
    cells = lines[PAST_SAMPLE - 1].split(",")
    cells[2] = 'brand "x'
    lines[PAST_SAMPLE - 1] = ",".join(cells)
    target.write_text("\n".join(lines))
    cfg = folder / "kpi_config.yaml"
    cfg.write_text(
        "version: 1\nsources:\n  ads: {path: data/ads.csv, date: date}\nkpis:\n"
        "  spend: {source: ads, formula: SUM(spend)}\n"
        "  rows: {source: ads, formula: COUNT(*)}\n"
    )
    return cfg


def tolerant_warnings(notes: Notes) -> list[str]:
    return [m for m in notes if f"line {PAST_SAMPLE}" in m and "tolerant reader" in m]


def test_reports_with_separate_memos_share_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_config(stray_quote(tmp_path))
    checks: list[Path] = []  # each look at a whole file for the line to blame
    structure = scan._structure

    def counted(layout, summary):  # type: ignore[no-untyped-def]
        checks.append(layout.path)
        return structure(layout, summary)

    monkeypatch.setattr(scan, "_structure", counted)
    request = Request(as_of=None)

    first_memo, first_notes = ReadMemo(), Notes()
    first = run_report(cfg, request, notes=first_notes, memo=first_memo)
    assert len(checks) == 1 and len(tolerant_warnings(first_notes)) == 1
    assert list(first_memo.tolerant) and all("line 2301" in r for r in first_memo.tolerant.values())

    # the same memo: the file is read by the tolerant reader at once, not checked again
    again_notes = Notes()
    again = run_report(cfg, request, notes=again_notes, memo=first_memo)
    assert len(checks) == 1
    assert len(tolerant_warnings(again_notes)) == 1  # each report gives its warnings

    # a fresh memo knows nothing: the fast way first, the file checked again, warned again
    fresh_memo, fresh_notes = ReadMemo(), Notes()
    fresh = run_report(cfg, request, notes=fresh_notes, memo=fresh_memo)
    assert len(checks) == 2
    assert len(tolerant_warnings(fresh_notes)) == 1
    assert fresh_memo.tolerant == first_memo.tolerant  # found again, on its own
    assert fresh_memo.tolerant is not first_memo.tolerant

    assert first.rows.equals(again.rows) and first.rows.equals(fresh.rows)


def test_a_memo_passed_in_is_used(tmp_path: Path) -> None:
    """A clean file that a memo marks for the tolerant reader is read by it, with the
    reason as warning, by the scans given that memo; a scan given another memo, or none,
    reads it the fast way without a word."""
    cfg = load_config(stray_quote(tmp_path))
    target = tmp_path / "data/ads.csv"
    shutil.copy(SAMPLE / "ads_google_ads.csv", target)  # the clean export again
    memo = ReadMemo()
    notes = Notes()
    sf = scan_source(cfg, "ads", notes=notes, memo=memo)
    assert not list(notes) and sf.layouts[0].tolerant is None
    key = sf.layouts[0].key
    assert memo.layouts and key in memo.whole_ok and memo.kinds  # what the scan kept

    memo.mark_tolerant(key, "line 7 has a made-up problem")
    marked = scan_source(cfg, "ads", notes=notes, memo=memo)
    assert marked.layouts[0].tolerant == "line 7 has a made-up problem"
    assert any("line 7 has a made-up problem" in m for m in notes)

    for other in (ReadMemo(), None):
        quiet = Notes()
        sf = scan_source(cfg, "ads", notes=quiet, memo=other)
        assert sf.layouts[0].tolerant is None and not list(quiet)


def test_mixed_encodings_marks_the_memo_given(tmp_path: Path) -> None:
    """Bytes past the sample that are not UTF-8: the file is marked in the memo passed, and
    read line by line by scans given that memo only."""
    (tmp_path / "data").mkdir()
    rows = [f"2026-01-{1 + i % 28:02d},Camp {i},{i}.5\n".encode() for i in range(20000)]
    rows[10000] = "2026-01-02,Caf\xe9,1.5\n".encode("cp1252")  # far from the sample and tail
    data = b"date,campaign,spend\n" + b"".join(rows)
    (tmp_path / "data/a.csv").write_bytes(data)
    path = tmp_path / "kpi_config.yaml"
    path.write_text(
        "version: 1\nsources:\n  a: {path: data/a.csv, date: date}\nkpis:\n"
        "  spend: {source: a, formula: SUM(spend)}\n"
    )
    cfg = load_config(path)
    memo = ReadMemo()
    sf = scan_source(cfg, "a", memo=memo)
    assert not sf.layouts[0].in_memory  # read from disk as UTF-8, as the sample shows
    assert scan.mixed_encodings([sf], memo=memo)
    assert not scan.mixed_encodings([sf], memo=memo)  # known already
    assert scan_source(cfg, "a", memo=memo).layouts[0].in_memory  # decoded line by line
    assert not scan_source(cfg, "a", memo=ReadMemo()).layouts[0].in_memory


def test_scan_has_no_module_level_mutable_state() -> None:
    """No dict, set, list or memo assigned at the top of the reader's modules (``__all__``
    aside): what is remembered between reads is the caller's ReadMemo."""
    for module in (scan, __import__("kpicli.ingest.memo", fromlist=["_"])):
        tree = ast.parse(Path(module.__file__).read_text())
        for node in tree.body:
            if isinstance(node, ast.Assign):
                targets, value = [t.id for t in node.targets if isinstance(t, ast.Name)], node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                targets, value = [node.target.id], node.value
            else:
                continue
            if targets == ["__all__"] or value is None:
                continue
            mutable = isinstance(value, ast.Dict | ast.Set | ast.List | ast.DictComp | ast.SetComp)
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
                mutable = mutable or value.func.id in {"dict", "set", "list", "ReadMemo"}
            assert not mutable, f"{module.__name__}.{targets}: module-level mutable state"
