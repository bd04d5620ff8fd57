"""`kpi sql`: the SQL it prints, run by DuckDB and by Spark SQL (``local[2]``) over
sample_data/, gives the rows of `kpi report -f csv` with the same options (the statistics
aside); the other dialects' SQL parses back; what SQL cannot say is a usage error."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import duckdb
import pytest
import sqlglot
from typer.testing import CliRunner

from kpicli.cli import app

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "kpi_config.yaml")
AS_OF = "2026-11-20"
COMPARED = (
    "value",
    "previous",
    "change",
    "change_pct",
    "target",
    "expected",
    "pace",
    "projected",
)

SHAPES = {
    "month by channel, previous": ["-p", "2026-10", "--by", "channel", "--compare", "previous"],
    "year by month": ["-p", "2026", "--grain", "month", "-k", "leads,cpl,ctr,spend"],
    "running month, paced": ["-p", "this-month", "--compare", "previous"],
    "weeks by channel, paced": ["-p", "2026-10", "--grain", "week", "--by", "channel"],
    "all by week": ["-p", "all", "--grain", "week", "-k", "sessions,ctr,conversion_rate"],
    "all": ["-p", "all", "-k", "sessions,ctr,cpl,leads_with_customer"],
    "sorted, limited": ["-p", "2026-10", "--by", "channel", "--sort", "leads", "--limit", "2"],
    "where": ["-p", "2026-Q3", "--by", "channel", "--where", "channel <> 'google_ads'"],
    "days, previous": ["-p", "2026-10-01..2026-10-10", "--grain", "day", "--compare", "previous"],
    "year over year": ["-p", "2026-10", "--compare", "year", "-k", "sessions,leads"],
}


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "-c", CONFIG, "--as-of", AS_OF, "-q"])
    assert result.exit_code == 0, result.output
    return result.stdout


def report_rows(options: list[str]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(invoke("report", "-f", "csv", *options))))


def sql_rows(options: list[str]) -> tuple[list[str], list[tuple]]:
    script = invoke("sql", "--dialect", "duckdb", *options)
    con = duckdb.connect()
    statements = [s for s in sqlglot.parse(script, read="duckdb") if s is not None]
    for statement in statements[:-1]:
        con.execute(statement.sql(dialect="duckdb"))
    cur = con.execute(statements[-1].sql(dialect="duckdb"))
    names = [d[0] for d in cur.description]
    return names, cur.fetchall()


def same(a: str, b: object) -> bool:
    if a == "":
        return b is None
    if b is None:
        return False
    x, y = float(a), float(b)  # type: ignore[arg-type]
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def spark_rows(spark, options: list[str]) -> tuple[list[str], list[tuple]]:
    """The Spark dialect's script run statement by statement in ``spark``, as a user would
    paste it into `spark-sql` or `spark.sql`."""
    script = invoke("sql", "--dialect", "spark", *options)
    statements = [s.strip() for s in script.split(";\n") if s.strip()]
    for statement in statements[:-1]:
        spark.sql(statement)
    frame = spark.sql(statements[-1].rstrip(";"))
    return frame.columns, [tuple(row) for row in frame.collect()]


def assert_same_rows(options: list[str], names: list[str], rows: list[tuple]) -> None:
    expected = report_rows(options)
    assert len(rows) == len(expected) > 0
    dims = [n for n in names if n not in {"kpi", "period_start", "period_end", "status", "total"}]
    dims = [n for n in dims if n not in COMPARED]
    for want, got in zip(expected, rows, strict=True):
        got_row = dict(zip(names, got, strict=True))
        key = (want["kpi"], want["period_start"], *(want[d] for d in dims))
        assert got_row["kpi"] == want["kpi"], key
        assert str(got_row["period_start"]) == want["period_start"], key
        assert str(got_row["period_end"]) == want["period_end"], key
        for d in dims:
            assert (got_row[d] or "") == want[d], key
        for column in COMPARED:
            assert same(want[column], got_row[column]), (key, column, want[column], got_row[column])
        assert (got_row["status"] or "") == want["status"], key
        assert str(got_row["total"]).lower() == want["total"], key


@pytest.mark.parametrize("options", SHAPES.values(), ids=SHAPES.keys())
def test_duckdb_runs_the_report(options: list[str]) -> None:
    assert_same_rows(options, *sql_rows(options))


@pytest.mark.slow
@pytest.mark.parametrize("options", SHAPES.values(), ids=SHAPES.keys())
def test_spark_runs_the_report(spark, options: list[str]) -> None:
    assert_same_rows(options, *spark_rows(spark, options))


def test_columns_are_the_reports_without_statistics() -> None:
    options = ["-p", "2026-10", "--by", "channel", "--compare", "previous", "-k", "ctr"]
    header = next(csv.reader(io.StringIO(invoke("report", "-f", "csv", *options))))
    names, _ = sql_rows(options)
    assert names == [c for c in header if c not in ("change_significant", "p_value")]


@pytest.mark.parametrize("dialect", ["spark", "bigquery", "snowflake", "postgres"])
def test_other_dialects_parse_back(dialect: str) -> None:
    script = invoke("sql", "--dialect", dialect, "-p", "2026-10", "--by", "channel")
    query = sqlglot.parse(script, read=dialect)[-1]
    assert query is not None
    assert query.find(sqlglot.exp.Select) is not None
    if dialect in ("bigquery", "snowflake", "postgres"):  # a table per source
        tables = {t.name for t in query.find_all(sqlglot.exp.Table)}
        assert {"ads", "sessions", "leads"} & tables
        assert "INT128" not in script  # DuckDB's type: summed integers widened to theirs
        assert "(38, 0)" in script or "BIGNUMERIC" in script


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["-p", "2026-10", "--by", "channel", "--sort", "status"], "status"),
        (["-p", "all", "-k", "spend"], "per"),
    ],
)
def test_what_sql_cannot_say_is_a_usage_error(options: list[str], words: str) -> None:
    result = CliRunner().invoke(app, ["sql", *options, "-c", CONFIG, "--as-of", AS_OF])
    assert result.exit_code == 2, result.output
    assert words in result.stderr
    assert "Traceback" not in result.output
