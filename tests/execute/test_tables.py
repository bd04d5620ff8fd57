"""`table:` sources: a table of Spark's catalog (or the warehouse's, in `kpi sql`) in place
of files, its columns and their types declared in `columns:`.

The tables hold the rows of sample_data/ (ads, and leads with `created_at` as text): the
reports over them must equal the reports over the files, which the oracle suite checks
against DuckDB. The tables are made by Spark's and DuckDB's own CSV readers, not by kpi.
"""

from __future__ import annotations

import csv
import io
import re
from functools import partial
from pathlib import Path

import duckdb
import pytest
import sqlglot

from conftest import invoke_kpi
from conftest import report_csv as report_csv_of

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
CONFIG = ROOT / "kpi_config.yaml"
AS_OF = "2026-11-20"
ADS_COLUMNS = (
    "{date: date, channel: text, campaign: text, impressions: integer, clicks: integer, "
    "spend: number, conversions: integer, revenue: number}"
)
LEADS_COLUMNS = (
    "{created_at: text, channel: text, original_source: text, offer: text, landing_page: "
    "text, mql_at: date, sql_at: date, customer_at: date, deal_amount: number}"
)


def table_config(tmp_path: Path, ads: str = "kpi_t.ads", leads: str = "kpi_t.leads") -> Path:
    """The shipped config with `ads` and `leads` read from tables: `ads`' date column
    renamed (`date` → `day`), `leads`' creation dates text in a stated format."""
    text = CONFIG.read_text(encoding="utf-8")
    text = text.replace(
        "    path: sample_data/ads_*.csv\n    date: date\n",
        f"    table: {ads}\n    date: day\n    rename: {{date: day}}\n    columns: {ADS_COLUMNS}\n",
        1,
    )
    text = text.replace(
        "    path: sample_data/crm_leads.csv\n    date: created_at\n",
        f"    table: {leads}\n    date: created_at\n    date_format: '%Y-%m-%d'\n"
        f"    columns: {LEADS_COLUMNS}\n",
        1,
    )
    assert text.count("table: ") == 2
    text = text.replace("path: sample_data/", f"path: {SAMPLE}/")
    path = tmp_path / "kpi_config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


invoke = partial(invoke_kpi, as_of=AS_OF)
report_csv = partial(report_csv_of, as_of=AS_OF)


@pytest.fixture(scope="module")
def tables(spark) -> None:
    """`kpi_t.ads` and `kpi_t.leads` in the test session's catalog, typed by Spark's CSV
    reader (ints as INT, money as DOUBLE, dates as DATE)."""
    spark.sql("CREATE DATABASE IF NOT EXISTS kpi_t")
    for name, files in (("ads", "ads_*.csv"), ("leads", "crm_leads.csv")):
        frame = spark.read.options(header=True, inferSchema=True).csv(str(SAMPLE / files))
        frame.write.mode("overwrite").saveAsTable(f"kpi_t.{name}")
    assert dict(spark.table("kpi_t.ads").dtypes)["clicks"] == "int"


SHAPES = {
    "month by channel, previous": ["-p", "2026-10", "--by", "channel", "--compare", "previous"],
    "year by month": ["-p", "2026", "--grain", "month", "-k", "leads,cpl,ctr,spend,mqls"],
    "weeks, where": ["-p", "2026-Q3", "--grain", "week", "--where", "channel <> 'email'"],
}


@pytest.mark.slow
@pytest.mark.parametrize("options", SHAPES.values(), ids=SHAPES.keys())
def test_spark_reports_tables_as_the_files(tables, tmp_path: Path, options: list[str]) -> None:
    config = table_config(tmp_path)
    want = report_csv(CONFIG, *options)
    assert want.count("\n") > 3
    assert report_csv(config, *options, engine="spark") == want


def duck_database(tmp_path: Path) -> Path:
    """`kpi_t.ads` and `kpi_t.leads` in a DuckDB database file, typed by DuckDB's CSV
    reader (BIGINT, DOUBLE, DATE)."""
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA kpi_t")
    con.execute(f"CREATE TABLE kpi_t.ads AS SELECT * FROM read_csv('{SAMPLE}/ads_*.csv')")
    con.execute(f"CREATE TABLE kpi_t.leads AS SELECT * FROM read_csv('{SAMPLE}/crm_leads.csv')")
    con.close()
    return path


def with_database(config: Path, database: str) -> Path:
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("settings:\n", f"settings:\n  duckdb: {{database: {database}}}\n", 1),
        encoding="utf-8",
    )
    return config


@pytest.mark.parametrize("options", SHAPES.values(), ids=SHAPES.keys())
def test_duckdb_reports_tables_of_its_database_as_the_files(
    tmp_path: Path, options: list[str]
) -> None:
    duck_database(tmp_path)
    config = with_database(table_config(tmp_path), "warehouse.duckdb")  # beside the config
    want = report_csv(CONFIG, *options)
    assert want.count("\n") > 3
    assert report_csv(config, *options, engine="duckdb") == want


def test_duckdb_names_a_missing_database_table_or_column(tmp_path: Path) -> None:
    config = with_database(table_config(tmp_path), "nowhere.duckdb")
    result = invoke("report", "-c", str(config), "--engine", "duckdb", "-k", "cpl", code=3)
    assert "no DuckDB database at" in result.stderr and "nowhere.duckdb" in result.stderr
    duck_database(tmp_path)
    config = with_database(table_config(tmp_path, ads="kpi_t.nothing"), "warehouse.duckdb")
    result = invoke("report", "-c", str(config), "--engine", "duckdb", "-k", "cpl", code=3)
    assert "has no table `kpi_t.nothing`" in result.stderr
    config = with_database(table_config(tmp_path), "warehouse.duckdb")
    text = config.read_text(encoding="utf-8").replace("spend: number", "spend: integer", 1)
    config.write_text(text, encoding="utf-8")
    result = invoke("report", "-c", str(config), "--engine", "duckdb", "-k", "spend", code=3)
    assert "column `spend` is double, but `columns:` declares it integer" in result.stderr


@pytest.mark.slow
def test_kpi_sql_over_tables_runs_in_spark(spark, tables, tmp_path: Path) -> None:
    options = ["-p", "2026-10", "--by", "channel", "--compare", "previous"]
    config = table_config(tmp_path)
    script = invoke("sql", "-c", str(config), "--dialect", "spark", "-q", *options).stdout
    assert "kpi_t`.`ads" in script or "kpi_t.ads" in script
    statements = [s.strip() for s in script.split(";\n") if s.strip()]
    for statement in statements[:-1]:  # the views of the files of `web` and `email`
        spark.sql(statement)
    frame = spark.sql(statements[-1].rstrip(";"))
    got = [[("" if v is None else str(v)) for v in row] for row in frame.collect()]
    want = list(csv.reader(io.StringIO(report_csv(CONFIG, *options))))
    header = want[0]
    assert frame.columns == [c for c in header if c not in ("p_value", "change_significant")]
    assert len(got) == len(want) - 1
    for g, w in zip(got, want[1:], strict=True):
        row = dict(zip(frame.columns, g, strict=True))
        expected = dict(zip(header, w, strict=True))
        for column in ("kpi", "period_start", "channel", "status"):
            assert row[column] == expected[column], (expected, row)
        for column in ("value", "previous", "target"):
            if expected[column] == "":
                assert row[column] == ""
            else:
                assert float(row[column]) == pytest.approx(float(expected[column]), rel=1e-9)


def test_kpi_sql_over_tables_runs_in_duckdb(tmp_path: Path) -> None:
    options = ["-p", "2026", "--grain", "month", "-k", "leads,cpl,ctr,mqls,spend"]
    config = table_config(tmp_path)
    script = invoke("sql", "-c", str(config), "--dialect", "duckdb", "-q", *options).stdout
    con = duckdb.connect()
    con.execute("CREATE SCHEMA kpi_t")
    con.execute(f"CREATE TABLE kpi_t.ads AS SELECT * FROM read_csv('{SAMPLE}/ads_*.csv')")
    con.execute(f"CREATE TABLE kpi_t.leads AS SELECT * FROM read_csv('{SAMPLE}/crm_leads.csv')")
    statements = [s for s in sqlglot.parse(script, read="duckdb") if s is not None]
    for statement in statements[:-1]:
        con.execute(statement.sql(dialect="duckdb"))
    cur = con.execute(statements[-1].sql(dialect="duckdb"))
    names = [d[0] for d in cur.description]
    want = list(csv.DictReader(io.StringIO(report_csv(CONFIG, *options))))
    rows = cur.fetchall()
    assert len(rows) == len(want) > 12
    for got, expected in zip(rows, want, strict=True):
        row = dict(zip(names, got, strict=True))
        assert (row["kpi"], str(row["period_start"])) == (expected["kpi"], expected["period_start"])
        if expected["value"] == "":
            assert row["value"] is None
        else:
            assert row["value"] == pytest.approx(float(expected["value"]), rel=1e-9)


def test_warehouse_sql_names_the_table_as_written(tmp_path: Path) -> None:
    config = table_config(tmp_path, ads="my-project.analytics_1.ads_*", leads="CRM.LEADS")
    options = ["-c", str(config), "-p", "2026-10", "-k", "cpl,ctr", "-q"]
    for dialect in ("bigquery", "snowflake", "postgres"):
        script = invoke("sql", "--dialect", dialect, *options).stdout
        query = sqlglot.parse_one(script, read=dialect)
        tables = {(t.catalog, t.db, t.name) for t in query.find_all(sqlglot.exp.Table)}
        assert ("my-project", "analytics_1", "ads_*") in tables, (dialect, tables)
        assert ("", "CRM", "LEADS") in tables, (dialect, tables)
        assert "INT128" not in script  # DuckDB's type, not the warehouses'
        assert "SUM(" in script
        # a plain name is left unquoted: each warehouse applies its own case rules to it
        assert re.search(r"[^\"`]CRM\.LEADS\b", script), dialect


def test_the_polars_and_duckdb_engines_refuse_a_table(tmp_path: Path) -> None:
    config = table_config(tmp_path)
    for engine in ("polars", "duckdb"):
        result = invoke("report", "-c", str(config), "--engine", engine, "-k", "cpl", code=2)
        assert f"source `ads` is the table `kpi_t.ads`, which --engine {engine} cannot" in (
            result.stderr
        )
        assert "--engine spark" in result.stderr
        assert "settings.duckdb.database" in result.stderr
    # a report that reads no table runs
    assert "sessions" in invoke("report", "-c", str(config), "-k", "sessions", "-f", "csv").stdout


@pytest.mark.slow
def test_a_missing_table_or_column_is_a_data_error(tables, tmp_path: Path) -> None:
    config = table_config(tmp_path, ads="kpi_t.nowhere")
    result = invoke("report", "-c", str(config), "--engine", "spark", "-k", "cpl", code=3)
    assert "no table `kpi_t.nowhere`" in result.stderr
    config = table_config(tmp_path)
    text = config.read_text(encoding="utf-8").replace(
        "revenue: number}", "revenue: number, fee: number}"
    )
    text = text.replace("formula: SUM(spend)", "formula: SUM(spend + fee)", 1)
    config.write_text(text, encoding="utf-8")
    result = invoke("report", "-c", str(config), "--engine", "spark", "-k", "spend", code=3)
    assert "table `kpi_t.ads` has no column `fee`" in result.stderr


@pytest.mark.slow
def test_an_integer_declared_over_fractions_is_a_data_error(tables, tmp_path: Path) -> None:
    """`spend` holds cents: declared `integer`, a CAST would cut them without a word."""
    config = table_config(tmp_path)
    text = config.read_text(encoding="utf-8").replace("spend: number", "spend: integer", 1)
    config.write_text(text, encoding="utf-8")
    result = invoke("report", "-c", str(config), "--engine", "spark", "-k", "spend", code=3)
    assert "column `spend` is double, but `columns:` declares it integer" in result.stderr
    assert "spend: number" in result.stderr


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (
            lambda t: t.replace(
                "    table: kpi_t.ads\n", "    table: kpi_t.ads\n    path: x.csv\n"
            ),
            "not both",
        ),
        (lambda t: re.sub(r"    columns: \{date: date.*\n", "", t), "lists the columns"),
        (
            lambda t: t.replace(
                "    table: kpi_t.ads\n", "    table: kpi_t.ads\n    delimiter: ';'\n"
            ),
            "`delimiter:` says how to read files",
        ),
        (
            lambda t: t.replace("table: kpi_t.ads", "table: 'ads; DROP TABLE x'"),
            "not a table's name",
        ),
        (
            lambda t: t.replace("    date: day\n", "    date: clicks\n", 1),
            "date column `clicks` is declared integer",
        ),
    ],
    ids=["path and table", "no columns", "a file option", "a bad name", "a date declared integer"],
)
def test_config_mistakes_are_config_errors(tmp_path: Path, edit, words: str) -> None:
    config = table_config(tmp_path)
    config.write_text(edit(config.read_text(encoding="utf-8")), encoding="utf-8")
    result = invoke("sql", "-c", str(config), "-k", "cpl", code=2)
    assert words in result.stderr
    assert "kpi_config.yaml:" in result.stderr  # located in the config


def test_columns_without_a_table_is_a_config_error(tmp_path: Path) -> None:
    text = CONFIG.read_text(encoding="utf-8").replace(
        "    path: sample_data/ads_*.csv\n",
        "    path: sample_data/ads_*.csv\n    columns: {date: date}\n",
        1,
    )
    config = tmp_path / "kpi_config.yaml"
    config.write_text(text, encoding="utf-8")
    result = invoke("report", "-c", str(config), "-k", "cpl", code=2)
    assert "`columns:` is for a `table:` source" in result.stderr


def test_validate_and_sources_say_what_they_did_not_read(tmp_path: Path) -> None:
    config = table_config(tmp_path)
    out = invoke("validate", "-c", str(config))
    assert "ads: table kpi_t.ads (its rows not counted here)" in out.stdout
    assert "the report was not run: source `ads` is the table" in out.output
    assert "web: 1 file" in out.stdout  # the files are still checked
    duck_database(tmp_path)  # a report that reads the tables runs: nothing to warn about
    with_database(config, "warehouse.duckdb")
    text = config.read_text(encoding="utf-8").replace(
        "settings:\n", "settings:\n  engine: duckdb\n"
    )
    config.write_text(text, encoding="utf-8")
    out = invoke("validate", "-c", str(config))
    assert "the report was not run" not in out.output
    assert "✔" in out.output
    shown = invoke("sources", "-c", str(config), "ads").stdout
    assert "table kpi_t.ads" in shown
    assert re.search(r"day\s+Date\s+date\s+date \(DATE\)", shown)
