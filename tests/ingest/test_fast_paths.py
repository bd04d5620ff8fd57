"""The optimistic fast paths of a report, and what happens when the data defeats them.

A date column whose sampled cells are all plain ISO dates is parsed by the CSV reader
itself; a cell past the sample that the reader cannot parse makes the engine read the
sources again the careful way and run the same plan. Results are checked against DuckDB
over the same file.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from kpicli import Request, load_config
from kpicli.cli import app
from kpicli.execute.engine import prepare_report
from kpicli.ingest.detect import SAMPLE_BYTES, TAIL_BYTES
from kpicli.ingest.scan import fast_dates, scan_source

AS_OF = date(2026, 12, 31)
CONFIG = """\
version: 1
sources:
  ads: {path: ads.csv, date: day}
kpis:
  spend: {source: ads, formula: SUM(spend)}
  rows: {source: ads, formula: COUNT(*)}
"""


def write_export(folder: Path, late_cells: list[str], *, at_end: bool = False) -> Path:
    """An export larger than the sniffer's samples of its start and end, clean ISO dates,
    and ``late_cells`` in the middle (seen by neither sample), or ``at_end``."""
    lines = ["day,channel,spend"]

    def clean(until: int) -> None:
        size = sum(len(line) + 1 for line in lines)
        i = len(lines)
        while size < until:
            day = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}"
            lines.append(f"{day},{'ab'[i % 2]},{i % 97}.{i % 100:02d}")
            size += len(lines[-1]) + 1
            i += 1

    clean(2 * SAMPLE_BYTES)
    if not at_end:
        lines.extend(f"{cell},a,1000.25" for cell in late_cells)
        clean(2 * SAMPLE_BYTES + 3 * TAIL_BYTES)
    else:
        lines.extend(f"{cell},a,1000.25" for cell in late_cells)
    (folder / "ads.csv").write_text("\n".join(lines) + "\n")
    cfg = folder / "kpi_config.yaml"
    cfg.write_text(CONFIG)
    return cfg


def duckdb_by_month(path: Path) -> dict[str, tuple[float, int]]:
    """SUM(spend), COUNT(*) per month, dates read as text and cleaned as kpi documents."""
    rows = duckdb.sql(
        f"""
        WITH t AS (
            SELECT CAST(NULLIF(lower(trim(day)), 'n/a') AS DATE) AS d, spend
            FROM read_csv('{path}', all_varchar = true)
        )
        SELECT strftime(date_trunc('month', d), '%Y-%m-%d'), SUM(CAST(spend AS DECIMAL(18, 2))),
               COUNT(*)
        FROM t WHERE d IS NOT NULL GROUP BY 1
        """
    ).fetchall()
    return {m: (float(s), n) for m, s, n in rows}


def typed(cfg: Path) -> bool:
    """Whether a report reads the dates of the export the fast way (the CSV reader's)."""
    prepared = prepare_report(load_config(cfg), Request(period="2026", as_of=AS_OF))
    return fast_dates(prepared.sources.values())


def kpi_by_month(cfg: Path, **kw) -> tuple[dict[str, tuple[float, int]], bool]:
    request = Request(period="2026", grain="month", as_of=AS_OF, **kw)
    result = prepare_report(load_config(cfg), request).run()
    wide = {}
    for row in result.rows.iter_rows(named=True):
        wide.setdefault(row["period_start"].isoformat(), {})[row["kpi"]] = row["value"]
    got = {m: (v["spend"], int(v["rows"])) for m, v in wide.items() if v["rows"]}
    return got, not result.reread


def test_clean_iso_dates_take_the_fast_path(tmp_path: Path) -> None:
    cfg = write_export(tmp_path, ["2026-03-05"])
    assert typed(cfg)  # the reader parses the dates
    assert not fast_dates([scan_source(load_config(cfg), "ads")])
    got, fast = kpi_by_month(cfg)
    assert fast
    want = duckdb_by_month(tmp_path / "ads.csv")
    assert got.keys() == want.keys()
    for m, (spend, n) in want.items():
        assert got[m][1] == n
        assert got[m][0] == pytest.approx(spend, abs=1e-6)


@pytest.mark.parametrize("late", [["2026-03-05 "], ["n/a", "2026-04-01"], ["N/A"]])
def test_a_late_cell_the_reader_cannot_parse_falls_back(tmp_path: Path, late: list[str]) -> None:
    cfg = write_export(tmp_path, late)
    got, fast = kpi_by_month(cfg)
    assert not fast  # the report was computed again, the careful way
    want = duckdb_by_month(tmp_path / "ads.csv")
    assert got.keys() == want.keys()
    for m, (spend, n) in want.items():
        assert got[m][1] == n
        assert got[m][0] == pytest.approx(spend, abs=1e-6)


def test_a_bad_cell_among_the_last_rows_keeps_the_text_path(tmp_path: Path) -> None:
    """The sniffer reads the end of the file too: a cell there that the reader cannot parse
    means no fast path, rather than a failed attempt."""
    cfg = write_export(tmp_path, ["2026-03-05 "], at_end=True)
    assert not typed(cfg)
    got, fast = kpi_by_month(cfg)
    assert fast  # not rebuilt: the first plan already read the dates as text
    assert got == {
        m: (pytest.approx(v[0], abs=1e-6), v[1])
        for m, v in duckdb_by_month(tmp_path / "ads.csv").items()
    }


def test_fallback_with_the_parquet_cache(tmp_path: Path) -> None:
    cfg = write_export(tmp_path, ["2026-03-05 "])
    cache = tmp_path / "cache"
    for _ in range(2):  # fill, then hit
        got, _ = kpi_by_month(cfg, cache=str(cache))
        assert got == kpi_by_month(cfg)[0]
    assert got["2026-03-01"][1] == duckdb_by_month(tmp_path / "ads.csv")["2026-03-01"][1]


def test_a_late_date_that_is_no_date_is_located(tmp_path: Path) -> None:
    cfg = write_export(tmp_path, ["2026-02-30"])
    text = (tmp_path / "ads.csv").read_text().splitlines()
    line = next(i for i, row in enumerate(text, 1) if row.startswith("2026-02-30"))
    res = CliRunner().invoke(
        app, ["report", "-c", str(cfg), "--period", "2026", "--as-of", "2026-12-31"]
    )
    assert res.exit_code == 3, res.output
    assert f"ads.csv:{line}" in res.stderr
    assert "2026-02-30" in res.stderr
    assert "Traceback" not in res.stderr


# --- spans keyed by grain bucket number instead of a calendar join --------------------------

SAMPLE = Path(__file__).resolve().parents[2] / "kpi_config.yaml"
END_OF_MONTH, MID_MONTH = date(2026, 11, 30), date(2026, 11, 15)
#: (request, as of, keyed by bucket numbers?)
SHAPES = [
    (dict(period="2026", grain="month", compare="previous", by=("channel",)), END_OF_MONTH, True),
    (dict(period="2026", grain="month", compare="year"), END_OF_MONTH, True),
    (dict(period="2026", grain="month", by=("channel",)), MID_MONTH, True),
    (dict(period="2026", grain="quarter", compare="previous"), date(2026, 9, 30), True),
    (dict(period="2026", grain="quarter", compare="previous"), END_OF_MONTH, False),  # Q4 runs
    (dict(period="2026-10", grain="week", by=("channel",)), MID_MONTH, True),
    (dict(period="2026-10", grain="week", compare="previous"), MID_MONTH, False),  # cut weeks
    (dict(period="2026-10", grain="day", compare="year"), MID_MONTH, True),
    (dict(period="2025", grain="year", compare="year", by=("channel",)), END_OF_MONTH, True),
    (dict(period="this-month", grain="week", compare="previous"), MID_MONTH, False),
    (dict(period="2026", grain="month", compare="previous"), MID_MONTH, False),
    (dict(period="2026-09-10..2026-11-05", grain="month", compare="previous"), MID_MONTH, False),
]


@pytest.mark.parametrize(
    ("shape", "as_of", "aligned"), SHAPES, ids=[str(i) for i in range(len(SHAPES))]
)
def test_bucket_numbers_equal_the_calendar_join(
    shape: dict, as_of: date, aligned: bool, monkeypatch
) -> None:
    """A report keyed by grain bucket numbers (Plan.align) equals the same report through
    the calendar join, for whole and cut buckets, comparisons and a running period."""
    from kpicli.plan.build import Plan

    cfg = load_config(SAMPLE)
    request = Request(as_of=as_of, **shape)
    fast = prepare_report(cfg, request).run()
    assert fast.plan.aligned == aligned
    monkeypatch.setattr(Plan, "align", lambda self: None)
    slow = prepare_report(cfg, request).run()
    assert not slow.plan.aligned
    assert fast.rows.equals(slow.rows), shape
    assert (fast.totals is None and slow.totals is None) or fast.totals.equals(slow.totals)
    assert fast.rows["value"].null_count() < fast.rows.height


def test_which_spans_are_bucket_numbers() -> None:
    cfg = load_config(SAMPLE)

    def aligned(as_of: date = date(2026, 11, 30), **shape) -> bool:
        return prepare_report(cfg, Request(as_of=as_of, **shape)).plan.aligned

    assert aligned(period="2026", grain="month", compare="previous")
    assert aligned(period="2026", grain="month", compare="year")
    assert aligned(period="2026-10", grain="week")  # weeks cut at the month's ends
    assert aligned(period="2026", grain="month", as_of=date(2026, 11, 15))  # cut at as-of
    # mid-month, the running month is compared with the same days of October: not a month
    assert not aligned(period="2026", grain="month", compare="previous", as_of=date(2026, 11, 15))
    assert not aligned(period="2026-10")  # no grain: the calendar
    assert not aligned(period="2026-09-10..2026-11-05", grain="month", compare="previous")


@pytest.mark.parametrize("blank", ["", ",,"], ids=["empty line", "empty cells"])
def test_a_blank_record_past_the_sample_is_no_row(tmp_path: Path, blank: str) -> None:
    """A blank line (or one of empty cells) that neither sample sees is dropped as one in
    the sample is: COUNT(*) of a source without dates counted it as a row of nulls."""
    cfg = write_export(tmp_path, [])
    path = tmp_path / "ads.csv"
    lines = path.read_text().splitlines()
    middle = len(lines) // 2
    lines.insert(middle, blank)
    path.write_text("\n".join(lines) + "\n")
    cfg.write_text(CONFIG.replace(", date: day", ""))  # no date: every row counts
    con = duckdb.connect()
    want = con.execute(
        "SELECT COUNT(*), SUM(spend::DOUBLE) "
        f"FROM read_csv('{path}', header = true, all_varchar = true) "
        "WHERE trim(coalesce(day, '')) <> '' OR trim(coalesce(spend, '')) <> ''"
    ).fetchone()
    result = CliRunner().invoke(app, ["report", "-c", str(cfg), "-p", "all", "-f", "json"])
    assert result.exit_code == 0, result.output
    got = {r["kpi"]: r["value"] for r in json.loads(result.stdout)["rows"]}
    assert got["rows"] == want[0] == len(lines) - 2
    assert got["spend"] == pytest.approx(float(want[1]), rel=1e-12)


def test_a_record_of_blank_cells_is_no_row(tmp_path: Path) -> None:
    """A record whose cells hold only blanks is a blank line (ingest/rules.is_blank), as
    the sniffer says: it was counted as a row."""
    (tmp_path / "ads.csv").write_text("day,channel,spend\n2026-01-01,a,1\n , ,\t\n2026-01-02,b,2\n")
    cfg = tmp_path / "kpi_config.yaml"
    cfg.write_text(CONFIG.replace(", date: day", ""))
    result = CliRunner().invoke(app, ["report", "-c", str(cfg), "-p", "all", "-f", "json"])
    assert result.exit_code == 0, result.output
    got = {r["kpi"]: r["value"] for r in json.loads(result.stdout)["rows"]}
    assert got == {"rows": 2, "spend": 3}


def test_an_empty_line_past_the_sample_of_two_columns_is_no_row(tmp_path: Path) -> None:
    """Polars reads an empty line of a two-column file as a row of nulls (of three, not)."""
    rows = [f"2026-01-{1 + i % 28:02d},{i}\n" for i in range(20_000)]
    rows[12_000] = "\n"
    (tmp_path / "b.csv").write_text("day,n\n" + "".join(rows))
    cfg = tmp_path / "kpi_config.yaml"
    cfg.write_text(
        "version: 1\nsources:\n  s: {path: b.csv}\nkpis:\n"
        "  rows: {source: s, formula: COUNT(*)}\n  n: {source: s, formula: SUM(n)}\n"
    )
    result = CliRunner().invoke(app, ["report", "-c", str(cfg), "-p", "all", "-f", "json"])
    assert result.exit_code == 0, result.output
    got = {r["kpi"]: r["value"] for r in json.loads(result.stdout)["rows"]}
    assert got == {"rows": 19_999, "n": sum(range(20_000)) - 12_000}
