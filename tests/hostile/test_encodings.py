"""Hostile encodings: a UTF-8 export with a few cp1252 lines (a row pasted from Excel, two
exports concatenated) is decoded line by line, never garbled as a whole, wherever the odd
lines are: inside the sample the encoding is detected on, in its middle, or at the end.

Values are checked against DuckDB over a clean UTF-8 copy of the same rows (the oracle).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kpicli.cli import app
from kpicli.ingest.detect import MIXED, SAMPLE_BYTES, decode_lines, sniff
from kpicli.ingest.repair import decode

runner = CliRunner()
PRODUCTS = ("café", "thé", "crème brûlée", "Müsli", "naïve €", "plain")


def _rows(n: int) -> list[tuple[str, str, int]]:
    return [
        (f"2026-01-{i % 28 + 1:02d}", PRODUCTS[i % len(PRODUCTS)], i % 97 + 1) for i in range(n)
    ]


def _write(
    tmp_path: Path, rows: list[tuple[str, str, int]], odd: set[int], *, bom: bool = False
) -> tuple[Path, Path]:
    """The export (rows ``odd`` in cp1252, the others UTF-8; ``bom``: starting with UTF-8's
    byte-order mark) and its clean UTF-8 twin."""
    lines = [b"\xef\xbb\xbfday,product,spend" if bom else b"day,product,spend"]
    for i, (day, product, spend) in enumerate(rows):
        lines.append(f"{day},{product},{spend}".encode("cp1252" if i in odd else "utf-8"))
    export = tmp_path / "export.csv"
    export.write_bytes(b"\n".join(lines) + b"\n")
    twin = tmp_path / "twin.csv"
    twin.write_text("day,product,spend\n" + "".join(f"{d},{p},{s}\n" for d, p, s in rows))
    (tmp_path / "kpi_config.yaml").write_text(
        "version: 1\nsources:\n  ads: {path: export.csv, date: day}\n"
        "kpis:\n  spend: {source: ads, formula: SUM(spend)}\n"
        "  rows: {source: ads, formula: COUNT(*)}\n"
    )
    return export, twin


def _report(tmp_path: Path, *extra: str) -> tuple[dict, str]:
    r = runner.invoke(
        app,
        [
            *(
                "report",
                "-p",
                "all",
                "-c",
                str(tmp_path / "kpi_config.yaml"),
                "--as-of",
                "2026-12-31",
            ),
            *("--by", "product", "-f", "json", *extra),
        ],
    )
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    got = {(row["kpi"], row["product"]): row["value"] for row in data["rows"]}
    return got, r.stderr


def _oracle(twin: Path) -> dict[tuple[str, str], float]:
    sql = (
        "SELECT product, SUM(spend), COUNT(*) FROM read_csv(?, header = true, "
        "columns = {'day': 'DATE', 'product': 'VARCHAR', 'spend': 'BIGINT'}) GROUP BY product"
    )
    out: dict[tuple[str, str], float] = {}
    for product, total, count in duckdb.execute(sql, [str(twin)]).fetchall():
        out[("spend", product)] = float(total)
        out[("rows", product)] = float(count)
    return out


@pytest.mark.parametrize(
    ("n", "where"),
    [
        (200, "in the sample"),
        (20_000, "past the sample, in the middle"),
        (20_000, "at the end"),
    ],
)
@pytest.mark.parametrize("bom", [False, True], ids=["", "with a BOM"])
def test_a_few_cp1252_lines_do_not_garble_a_utf8_export(
    tmp_path: Path, n: int, where: str, bom: bool
) -> None:
    """(With a byte-order mark, the file said UTF-8 and an odd line in the sample was exit 3.)"""
    rows = _rows(n)
    odd = {6, 13} if where == "in the sample" else {n // 2, n // 2 + 6}
    if where == "at the end":
        odd = {n - 1}
    export, twin = _write(tmp_path, rows, odd, bom=bom)
    if where != "in the sample":
        assert export.stat().st_size > 2 * SAMPLE_BYTES
    got, stderr = _report(tmp_path)
    assert got == _oracle(twin)  # café is one group, with every row's spend
    assert not any("Ã" in product for _, product in got)
    lines = sorted(i + 2 for i in odd)  # 1-based, under the header
    which = f"line {lines[0]}" if len(lines) == 1 else f"lines {lines[0]} and {lines[1]}"
    assert f"{export.name}: {which} " in stderr and "read as cp1252" in stderr


def test_mixed_lines_past_the_sample_with_the_cache(tmp_path: Path) -> None:
    rows = _rows(20_000)
    _, twin = _write(tmp_path, rows, {9_000})
    cache = str(tmp_path / "cache")
    got, stderr = _report(tmp_path, "--cache", cache)
    assert got == _oracle(twin) and "line 9002 is not UTF-8" in stderr
    again, stderr = _report(tmp_path, "--cache", cache)  # a hit: the same, the same warning
    assert again == got and "line 9002 is not UTF-8" in stderr


def test_sources_and_validate_read_a_mixed_file_whole(tmp_path: Path) -> None:
    _write(tmp_path, _rows(20_000), {12_000})
    cfg = str(tmp_path / "kpi_config.yaml")
    r = runner.invoke(app, ["sources", "-c", cfg])
    assert r.exit_code == 0, r.stderr
    assert "20,000 rows" in r.stdout and "utf-8+cp1252" in r.stdout
    assert "line 12002 is not UTF-8" in r.stderr
    r = runner.invoke(app, ["validate", "-c", cfg])
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "20,000 rows" in r.stdout


def test_a_set_encoding_still_wins(tmp_path: Path) -> None:
    rows = _rows(20_000)
    _write(tmp_path, rows, {12_000})
    cfg = tmp_path / "kpi_config.yaml"
    cfg.write_text(cfg.read_text().replace("date: day}", "date: day, encoding: utf-8}"))
    r = runner.invoke(
        app, ["report", "-p", "all", "-c", str(cfg), "--as-of", "2026-12-31", "--by", "product"]
    )
    assert r.exit_code == 3
    assert "export.csv:12002" in r.stderr and "is not UTF-8" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_whole_cp1252_file_is_cp1252_without_a_warning(tmp_path: Path) -> None:
    rows = _rows(300)
    export, twin = _write(tmp_path, rows, set(range(300)))
    assert sniff(export).encoding == "cp1252"
    got, stderr = _report(tmp_path)
    assert got == _oracle(twin) and stderr == ""


def test_a_cp1252_file_with_utf8_lines_past_its_sample(tmp_path: Path) -> None:
    # the other way round: the sample is cp1252, a UTF-8 line comes later
    rows = _rows(20_000)
    export, twin = _write(tmp_path, rows, set(range(20_000)) - {15_000})
    assert sniff(export).encoding == "cp1252"
    got, stderr = _report(tmp_path)
    assert got == _oracle(twin)
    assert "export.csv: line 15002 is UTF-8, the rest of the file cp1252" in stderr


# ------------------------------------------------------------------ the property

_UTF8_TEXT = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc", "Zl", "Zp"),
        blacklist_characters="\ufeff",  # a byte-order mark, left out at the start of a line
        max_codepoint=0x1FFFF,
    ),
    max_size=30,
)
_CP1252_TEXT = st.text(
    alphabet=st.sampled_from(list("abcXYZ 019,;éèêàçüöß€’“”…ŒœšŽ°±µ¿¡ñÑÆæøÅ")), max_size=30
)


@st.composite
def _mixes(draw: st.DrawFn) -> list[tuple[str, bool]]:
    """Lines of text, each with whether it is written in cp1252 (a few) or UTF-8."""
    n = draw(st.integers(1, 40))
    odd = draw(st.sets(st.integers(0, n - 1), max_size=3))
    return [(draw(_CP1252_TEXT if i in odd else _UTF8_TEXT), i in odd) for i in range(n)]


def _bytes(lines: list[tuple[str, bool]], newline: str) -> bytes:
    return b"".join(
        (text.replace("\r", "").replace("\n", "") + newline).encode("cp1252" if odd else "utf-8")
        for text, odd in lines
    )


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


@settings(max_examples=300, deadline=None)
@given(lines=_mixes(), newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_no_utf8_line_is_ever_garbled(lines: list[tuple[str, bool]], newline: str) -> None:
    data = _bytes(lines, newline)
    decoded = decode_lines(data)
    got = decoded.text.split(newline)
    assert got[-1] == "" and len(got) == len(lines) + 1
    for (text, odd), line in zip(lines, got, strict=False):
        text = text.replace("\r", "").replace("\n", "")
        raw = text.encode("cp1252" if odd else "utf-8")
        if not odd or not _valid_utf8(raw):  # cp1252 bytes that are valid UTF-8 are ambiguous
            assert line == text
    cp1252 = [
        i + 1 for i, (t, odd) in enumerate(lines) if odd and not _valid_utf8(t.encode("cp1252"))
    ]
    non_ascii_utf8 = any(not odd and not t.isascii() for t, odd in lines)
    if cp1252 and non_ascii_utf8:
        assert decoded.codec == MIXED and list(decoded.cp1252_lines) == cp1252
    assert decode(data)[0] == decoded.text  # kpi clean's reader decodes alike


@pytest.mark.slow
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(odd=st.sets(st.integers(0, 59), min_size=1, max_size=3))
def test_the_report_path_never_garbles_a_utf8_line(tmp_path: Path, odd: set[int]) -> None:
    rows = _rows(60)
    _, twin = _write(tmp_path, rows, odd)
    got, _ = _report(tmp_path, "-q")
    assert got == _oracle(twin)
