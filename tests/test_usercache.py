"""The per-user cache (kpicli.usercache): the formulas' memo of a config's content and
what detection found in a file, kept across runs under ``$XDG_CACHE_HOME/kpi``.

Each test has its own ``XDG_CACHE_HOME`` (conftest's ``_cache_home``). What is checked:
a cached result is the one a fresh computation gives (the formulas' facts, the layouts,
the kinds); a changed config or file is seen; a damaged entry is made again without a
word; ``KPI_NO_CACHE=1`` writes nothing; the folder is bounded and must be the user's.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from kpicli import usercache
from kpicli.ingest import detect
from kpicli.ingest.memo import ReadMemo

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
LONG_AGO = 1_700_000_000  # seconds: files "settled" long before the test ran
AS_OF = "2026-11-30"


def settle(path: Path, when: int = LONG_AGO) -> None:
    """Give ``path`` a modification time long past (files changed in the last seconds are
    not kept in the cache)."""
    os.utime(path, (when, when))


def ads_project(folder: Path) -> Path:
    """A config over a copy of the Google Ads export (settled), two KPIs."""
    (folder / "data").mkdir()
    shutil.copy(SAMPLE / "ads_google_ads.csv", folder / "data/ads.csv")
    settle(folder / "data/ads.csv")
    cfg = folder / "kpi_config.yaml"
    cfg.write_text(
        "version: 1\nsources:\n  ads: {path: data/ads.csv, date: date}\nkpis:\n"
        "  spend: {source: ads, formula: SUM(spend)}\n"
        "  cpc: {formula: spend / clicks}\n"
        "  clicks: {source: ads, formula: SUM(clicks)}\n"
    )
    return cfg


def csv_sum(path: Path, column: str) -> Decimal:
    """The column's sum, by the csv module (independent of kpi's reader)."""
    with path.open(newline="") as fh:
        return sum((Decimal(r[column]) for r in csv.DictReader(fh)), Decimal(0))


def spend(cfg: Path) -> float:
    """The report's spend over every row (the library's own entry, as `kpi report` does)."""
    from kpicli.commands.report import report
    from kpicli.plan.build import Request

    span = {"date_from": date(2000, 1, 1), "date_to": date(2100, 1, 1)}
    done = report(cfg, Request(**span, kpis=["spend"]))
    rows = done.result.rows
    return rows.filter(rows["kpi"] == "spend")["value"][0]


def entries(kind: str) -> list[Path]:
    folder = usercache.root()
    assert folder is not None
    return sorted((folder / kind).glob("*")) if (folder / kind).is_dir() else []


def kpi(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    """`kpi ARGS` in a process of its own (its imports are what a user's run imports)."""
    return subprocess.run(
        [sys.executable, "-m", "kpicli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        check=False,
    )


# ---------------------------------------------------------------------------- the store


def test_an_entry_reads_back_and_keys_do_not_mix() -> None:
    usercache.store("sniff", "a", b"first")
    usercache.store("sniff", "b", b"second")
    usercache.store("formulas", "a", b"third")
    assert usercache.load("sniff", "a") == b"first"
    assert usercache.load("sniff", "b") == b"second"
    assert usercache.load("formulas", "a") == b"third"
    assert usercache.load("sniff", "c") is None


def test_the_cache_is_under_xdg_cache_home_else_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert usercache.root() == tmp_path / "xdg" / "kpi"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for unusable in ("", "relative/path"):  # as the XDG spec says: ignored
        monkeypatch.setenv("XDG_CACHE_HOME", unusable)
        assert usercache.root() == tmp_path / "home" / ".cache" / "kpi"


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "garbage"])
def test_a_damaged_entry_is_not_read_and_is_removed(damage: str) -> None:
    usercache.store("sniff", "k", b"x" * 100)
    (path,) = entries("sniff")
    raw = path.read_bytes()
    damaged = {
        "truncate": raw[:-10],
        "flip": raw[:-1] + bytes([raw[-1] ^ 1]),
        "empty": b"",
        "garbage": b"not an entry at all",
    }[damage]
    path.write_bytes(damaged)
    assert usercache.load("sniff", "k") is None
    assert not path.exists()
    usercache.store("sniff", "k", b"x" * 100)  # made again
    assert usercache.load("sniff", "k") == b"x" * 100


def test_a_folder_others_may_write_is_not_used() -> None:
    usercache.store("sniff", "k", b"v")
    top = usercache.root()
    assert top is not None
    os.chmod(top, 0o777)
    try:
        assert usercache.load("sniff", "k") is None
        usercache.store("sniff", "other", b"v")
        assert len(entries("sniff")) == 1  # nothing written either
    finally:
        os.chmod(top, 0o700)
    assert usercache.load("sniff", "k") == b"v"


def test_a_linked_entry_is_not_followed(tmp_path: Path) -> None:
    usercache.store("sniff", "k", b"v")
    (path,) = entries("sniff")
    elsewhere = tmp_path / "elsewhere"
    path.rename(elsewhere)
    path.symlink_to(elsewhere)
    assert usercache.load("sniff", "k") is None


def test_each_kind_is_bounded_oldest_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usercache, "MAX_ENTRIES", 8)
    for i in range(30):
        usercache.store("sniff", f"k{i}", b"v")
        for path in entries("sniff"):  # distinct times, whatever the clock's resolution
            st = path.stat()
            if st.st_mtime_ns > time.time_ns() - 10**9:
                os.utime(path, ns=(st.st_atime_ns, LONG_AGO * 10**9 + i * 10**9))
    assert 0 < len(entries("sniff")) <= 8
    assert usercache.load("sniff", "k29") == b"v"  # the newest are kept
    assert usercache.load("sniff", "k0") is None
    monkeypatch.setattr(usercache, "MAX_BYTES", 10)
    usercache.store("sniff", "big", b"v" * 11)
    assert usercache.load("sniff", "big") is None


def test_each_kind_is_bounded_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usercache, "MAX_KIND_BYTES", 10_000)
    folder = usercache.root() / "sniff"  # type: ignore[operator]
    for i in range(30):
        usercache.store("sniff", f"k{i}", bytes(1000))
        newest = folder / usercache._name(f"k{i}")
        os.utime(newest, ns=(LONG_AGO * 10**9 + i * 10**9,) * 2)  # whatever the clock
    total = sum(p.stat().st_size for p in entries("sniff"))
    assert 0 < total <= 10_000
    assert usercache.load("sniff", "k29") == bytes(1000)


def test_the_opt_out_reads_and_writes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    usercache.store("sniff", "k", b"v")
    monkeypatch.setenv("KPI_NO_CACHE", "1")
    assert usercache.root() is None
    assert usercache.load("sniff", "k") is None
    usercache.store("sniff", "other", b"v")
    monkeypatch.setenv("KPI_NO_CACHE", "0")  # "0" does not opt out
    assert usercache.load("sniff", "other") is None
    assert usercache.load("sniff", "k") == b"v"


def test_kpi_with_the_opt_out_leaves_the_folder_empty(_cache_home: Path) -> None:
    for args in (["report", "--as-of", AS_OF], ["list"], ["validate"]):
        done = kpi(*args, KPI_NO_CACHE="1")
        assert done.returncode == 0, done.stderr
    assert list(_cache_home.iterdir()) == []
    done = kpi("report", "--as-of", AS_OF)  # without it: entries are made
    assert done.returncode == 0, done.stderr
    assert entries("formulas") and entries("sniff")


def test_kpi_cache_clear_user_empties_it(_cache_home: Path) -> None:
    done = kpi("report", "--as-of", AS_OF)
    assert done.returncode == 0, done.stderr
    made = len(entries("formulas")) + len(entries("sniff"))
    assert made
    done = kpi("cache", "clear", "--user")
    assert done.returncode == 0 and f"removed {made} cache entries" in done.stderr
    assert entries("formulas") == entries("sniff") == []


# ---------------------------------------------------------------------------- formulas


def test_a_cached_report_is_the_fresh_one(tmp_path: Path) -> None:
    """The shipped config and sample, by channel with a comparison: the report made with
    a warm cache is the one made with none (every KPI, every row)."""
    cold = kpi(
        "report",
        "--as-of",
        AS_OF,
        "--by",
        "channel",
        "-f",
        "csv",
        "--period",
        "2026",
        "--grain",
        "month",
        "--compare",
        "previous",
    )
    assert cold.returncode == 0, cold.stderr
    assert entries("formulas")
    warm = kpi(
        "report",
        "--as-of",
        AS_OF,
        "--by",
        "channel",
        "-f",
        "csv",
        "--period",
        "2026",
        "--grain",
        "month",
        "--compare",
        "previous",
    )
    none = kpi(
        "report",
        "--as-of",
        AS_OF,
        "--by",
        "channel",
        "-f",
        "csv",
        "--period",
        "2026",
        "--grain",
        "month",
        "--compare",
        "previous",
        KPI_NO_CACHE="1",
    )
    assert cold.stdout == warm.stdout == none.stdout
    assert cold.stderr == warm.stderr == none.stderr


def test_the_memo_holds_what_a_fresh_parse_gives() -> None:
    """Every result the memo holds after a report is what the function computes without a
    memo, from sqlglot anew."""
    from kpicli.spec import formula

    done = kpi(
        "report",
        "--as-of",
        AS_OF,
        "--by",
        "channel",
        "--period",
        "2026",
        "--grain",
        "month",
        "--compare",
        "previous",
    )
    assert done.returncode == 0, done.stderr
    (path,) = entries("formulas")
    memo = formula.Memo.of_config((ROOT / "kpi_config.yaml").read_bytes())
    assert memo.entries, "the entry of the shipped config is read back"
    assert path.name in {p.name for p in entries("formulas")}
    names = set()
    assert formula.memo_in_use() is None
    for key, cached in memo.entries.items():
        name, *args = json.loads(key)
        names.add(name)
        fresh = getattr(formula, name)(*args)
        assert json.loads(json.dumps(fresh)) == cached, key
    # the parse checks of the config, and what the report compiled
    assert {"_checked_names", "_place_problem", "_compile"} <= names


def test_a_warm_report_does_not_import_sqlglot() -> None:
    code = (
        "import sys; from kpicli.cli import run; sys.argv = ['kpi', 'report', '--as-of', "
        f"'{AS_OF}', '-f', 'json']\ntry:\n    run()\nexcept SystemExit:\n    pass\n"
        "print('SQLGLOT', 'sqlglot' in sys.modules, file=sys.stderr)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def imported() -> bool:
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env
        )
        return "SQLGLOT True" in done.stderr

    assert imported()  # cold: parsed
    assert not imported()  # warm: from the memo


def test_a_changed_config_gets_its_own_entry(tmp_path: Path) -> None:
    cfg = ads_project(tmp_path)
    assert spend(cfg) == pytest.approx(float(csv_sum(tmp_path / "data/ads.csv", "spend")))
    assert len(entries("formulas")) == 1
    cfg.write_text(cfg.read_text().replace("SUM(spend)", "SUM(revenue)"))
    expected = float(csv_sum(tmp_path / "data/ads.csv", "revenue"))
    assert spend(cfg) == pytest.approx(expected)
    assert len(entries("formulas")) == 2
    assert spend(cfg) == pytest.approx(expected)  # warm: the same


def test_a_damaged_formulas_entry_is_made_again_silently(tmp_path: Path) -> None:
    cfg = ads_project(tmp_path)
    first = kpi("report", "-c", str(cfg), "--period", "all", "-f", "json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (path,) = entries("formulas")
    path.write_bytes(path.read_bytes()[:-20])
    again = kpi("report", "-c", str(cfg), "--period", "all", "-f", "json", cwd=tmp_path)
    assert again.returncode == 0 and again.stderr == first.stderr
    assert json.loads(again.stdout)["rows"] == json.loads(first.stdout)["rows"]
    from kpicli.spec import formula

    assert formula.Memo.of_config(cfg.read_bytes()).entries  # whole again


# ---------------------------------------------------------------------------- detection


def count_sniffs(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = detect._sniff

    def counted(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(detect, "_sniff", counted)
    return calls


def scan(cfg: Path, name: str = "ads"):  # type: ignore[no-untyped-def]
    from kpicli.ingest.scan import scan_source
    from kpicli.spec.config import load_config

    return scan_source(load_config(cfg), name, memo=ReadMemo())


def test_an_unchanged_file_is_not_sniffed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = ads_project(tmp_path)
    calls = count_sniffs(monkeypatch)
    first = scan(cfg)
    assert len(calls) == 1 and entries("sniff")
    second = scan(cfg)  # a fresh memo: as the next command
    assert len(calls) == 1
    assert second.layouts == first.layouts
    assert [p.kinds for p in second.parts] == [p.kinds for p in first.parts]
    assert second.schema == first.schema


@pytest.mark.parametrize(
    "path",
    sorted(SAMPLE.glob("*.csv"))
    + sorted((ROOT / "tests/data/exports").rglob("*.csv"))
    + sorted((ROOT / "tests/data/exports14").rglob("*.csv"))
    + sorted((ROOT / "tests/data/polluted/csv").glob("*.csv")),
    ids=lambda p: p.name,
)
def test_a_stored_layout_is_the_sniffed_one(path: Path) -> None:
    """Every field of the layout read back equals the one sniffed (real exports: preambles,
    stated periods, footers, summary rows)."""
    try:
        layout = detect.sniff(path, memo=ReadMemo(persist=False))
    except detect.SniffError:
        pytest.skip("not a file detection reads")
    plain = json.loads(json.dumps(detect._layout_plain(layout)))
    back = detect._layout_from(plain, layout.path, layout.within)
    assert back is not None
    back.key = layout.key
    assert back == layout


def test_stored_kinds_are_the_detected_ones(tmp_path: Path) -> None:
    """Kinds of every sample source read back from the cache, date shapes included (the
    same objects: the fast path of dates checks for them by identity)."""
    from kpicli.ingest import values as V
    from kpicli.ingest.memo import _kinds_from, _kinds_plain
    from kpicli.ingest.scan import scan_source
    from kpicli.spec.config import load_config

    cfg = load_config(ROOT / "kpi_config.yaml")
    seen_dates = 0
    for name in cfg.sources:
        sf = scan_source(cfg, name, memo=ReadMemo(persist=False))
        for part in sf.parts:
            found = (part.kinds, part.decimal, part.thousands, part.native)
            back = _kinds_from(json.loads(json.dumps(_kinds_plain(found))))
            assert back is not None and back[1:] == found[1:]
            assert back[0] == list(part.kinds)
            for k, b in zip(part.kinds, back[0], strict=True):
                if k.date is not None:
                    seen_dates += 1
                    assert b.date.shape is k.date.shape
                    assert b.date.shape in V.DATE_SHAPES
    assert seen_dates


def test_a_changed_file_is_seen(tmp_path: Path) -> None:
    cfg = ads_project(tmp_path)
    data = tmp_path / "data/ads.csv"
    assert spend(cfg) == pytest.approx(float(csv_sum(data, "spend")))
    # another export in its place: rows dropped, a column more, the same old time
    lines = data.read_text().splitlines()
    header = lines[0] + ",note"
    data.write_text("\n".join([header, *(line + ",x" for line in lines[1:1000])]) + "\n")
    settle(data, LONG_AGO + 60)
    assert spend(cfg) == pytest.approx(float(csv_sum(data, "spend")))
    # the same size and content, another time: detected again (and the same sum)
    settle(data, LONG_AGO + 120)
    assert spend(cfg) == pytest.approx(float(csv_sum(data, "spend")))


def test_a_touched_file_is_sniffed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = ads_project(tmp_path)
    calls = count_sniffs(monkeypatch)
    scan(cfg)
    scan(cfg)
    assert len(calls) == 1
    settle(tmp_path / "data/ads.csv", LONG_AGO + 1)
    scan(cfg)
    assert len(calls) == 2


def test_a_file_just_written_is_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = ads_project(tmp_path)
    os.utime(tmp_path / "data/ads.csv")  # now: it may still be being written
    calls = count_sniffs(monkeypatch)
    scan(cfg)
    scan(cfg)
    assert len(calls) == 2 and not entries("sniff")


def test_damaged_detection_entries_are_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = ads_project(tmp_path)
    calls = count_sniffs(monkeypatch)
    first = scan(cfg)
    stored = entries("sniff")
    assert stored
    for path in stored:
        raw = path.read_bytes()
        path.write_bytes(raw[: len(raw) // 2])
    notes_free = scan(cfg)
    assert len(calls) == 2
    assert notes_free.layouts == first.layouts
    assert [p.kinds for p in notes_free.parts] == [p.kinds for p in first.parts]
    scan(cfg)
    assert len(calls) == 2  # whole again


def test_a_user_preset_changed_gives_new_kinds(tmp_path: Path) -> None:
    """The kinds depend on a preset's types: a user preset edited is seen."""
    (tmp_path / "data").mkdir()
    data = tmp_path / "data/mail.csv"
    data.write_text("date,opens,rate\n2026-01-01,10,23.5\n2026-01-02,20,12.5\n")
    settle(data)
    presets = tmp_path / "presets"
    presets.mkdir()
    preset = presets / "mine.yaml"
    preset.write_text("columns:\n  rate: rate\n")
    cfg = tmp_path / "kpi_config.yaml"
    cfg.write_text(
        "version: 1\nsources:\n  mail: {path: data/mail.csv, date: date, preset: mine}\n"
        "kpis:\n  rate: {source: mail, formula: MAX(rate)}\n"
    )
    from kpicli.ingest.scan import scan_source
    from kpicli.spec.config import load_config

    loaded = load_config(cfg)
    assert "mine" in loaded.presets
    before = scan_source(loaded, "mail", memo=ReadMemo())
    preset.write_text("columns:\n  rate: rate\ntypes:\n  rate: percent_points\n")
    after = scan_source(load_config(cfg), "mail", memo=ReadMemo())
    names = before.parts[0].names
    j = names.index("rate")
    assert before.parts[0].kinds[j].scale == 1.0
    assert after.parts[0].kinds[j].scale == 0.01
