"""The Spark runner (kpicli/execute/spark.py) against independent readers of the same files.

Aggregates are sqlglot ASTs run twice: by Spark (transpiled to Spark SQL, over the parts
registered as views) and by DuckDB (transpiled to DuckDB's SQL, over ``read_csv`` /
``read_parquet`` of the same files): the oracle. What Spark reads of a file is checked
against Python's ``csv`` module. The session's settings are pure data (``session_conf``)
and, once, a session started from a config in a process of its own.

The Spark tests need PySpark and Java: without them they are skipped with the reason, but
under CI (``CI=true``) they fail (tests/conftest.py ``require_spark``).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import sqlglot

from kpicli.errors import ConfigError, DataError
from kpicli.execute import spark as S
from kpicli.execute.sqlsource import PartRead
from kpicli.spec.config import SparkSettings

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
ADS = tuple(str(SAMPLE / f"ads_{n}.csv") for n in ("google_ads", "linkedin_ads", "meta_ads"))
LEADS = (str(SAMPLE / "crm_leads.csv"),)
WEB = (str(SAMPLE / "web_analytics.csv"),)


def header(path: str, skip: int = 0, encoding: str = "utf-8") -> tuple[str, ...]:
    with open(path, encoding=encoding, newline="") as f:
        rows = csv.reader(f)
        for _ in range(skip):
            next(rows)
        return tuple(next(rows))


def csv_read(view: str, files: tuple[str, ...], **options) -> PartRead:
    return PartRead(view, files, "csv", header(files[0], options.get("skip", 0)), **options)


# ---------------------------------------------------------------------------- the oracle


def duck_views(con: duckdb.DuckDBPyConnection, reads: list[PartRead]) -> None:
    """The parts as DuckDB views over the same files: CSV all text, nothing sniffed."""
    for r in reads:
        files = ", ".join(f"'{f}'" for f in r.files)
        if r.format == "parquet":
            con.execute(f"CREATE VIEW {r.view} AS SELECT * FROM read_parquet([{files}])")
            continue
        columns = ", ".join(f"'{c}': 'VARCHAR'" for c in r.columns)
        con.execute(  # cells as kpi reads them (Polars): "" is empty, a short record padded
            f"CREATE VIEW {r.view} AS SELECT * FROM read_csv([{files}], delim='{r.delimiter}', "
            f"quote='{r.quote}', escape='{r.quote}', header={str(r.header).lower()}, "
            f"skip={r.skip}, auto_detect=false, columns={{{columns}}}, "
            "allow_quoted_nulls=false, null_padding=true, parallel=false, "
            f"strict_mode={str(not getattr(r, 'ragged', False)).lower()})"
        )


def duck(reads: list[PartRead], query: sqlglot.exp.Expression) -> list[tuple]:
    con = duckdb.connect()
    try:
        duck_views(con, reads)
        return con.execute(query.sql(dialect="duckdb")).fetchall()
    finally:
        con.close()


def same_rows(got: list[tuple], want: list[tuple]) -> None:
    """Equal row by row: exact for text, integers, decimals and dates; a float (on either
    side) to 1e-9 relative, whatever the other side's number type (``x * 1.0 / y`` is a
    DOUBLE in DuckDB and a DECIMAL in Spark, whose ``1.0`` is a DECIMAL(2, 1))."""
    assert len(got) == len(want), (len(got), len(want))
    for i, (g_row, w_row) in enumerate(zip(got, want, strict=True)):
        assert len(g_row) == len(w_row)
        for g, w in zip(g_row, w_row, strict=True):
            if isinstance(w, float) or isinstance(g, float):
                assert g is not None and w is not None, (i, g_row, w_row)
                g, w = float(g), float(w)
                assert abs(g - w) <= 1e-9 * max(1.0, abs(w)), (i, g_row, w_row)
            else:
                assert type(g) is type(w) and g == w, (i, g_row, w_row)


# The same aggregates the SQL engines compute, written once, dialect-neutral.
ADS_QUERY = sqlglot.parse_one(
    """
    SELECT channel,
           CAST(DATE_TRUNC('month', CAST(date AS DATE)) AS DATE) AS month,
           SUM(CAST(spend AS DECIMAL(18, 2))) AS spend,
           COUNT(*) AS n_rows,
           COUNT(DISTINCT campaign) AS campaigns,
           SUM(CASE WHEN CAST(clicks AS BIGINT) > 50 THEN 1 ELSE 0 END) AS busy_days,
           SUM(CAST(clicks AS BIGINT)) / NULLIF(SUM(CAST(impressions AS BIGINT)), 0) AS ctr
    FROM __src_0
    GROUP BY 1, 2
    ORDER BY 1, 2
    """
)
LEADS_QUERY = sqlglot.parse_one(
    """
    SELECT CAST(DATE_TRUNC('month', CAST(created_at AS DATE)) AS DATE) AS month,
           COUNT(*) AS leads,
           COUNT(customer_at) AS customers,
           COUNT(DISTINCT offer) AS offers,
           SUM(CAST(deal_amount AS DECIMAL(18, 2))) AS revenue,
           CASE WHEN COUNT(mql_at) = 0 THEN NULL ELSE COUNT(sql_at) * 1.0 / COUNT(mql_at) END
             AS mql_to_sql
    FROM __src_1
    WHERE original_source <> 'Organic Search'
    GROUP BY 1
    ORDER BY 1
    """
)
WEB_QUERY = sqlglot.parse_one(
    """
    SELECT channel, COUNT(DISTINCT landing_page) AS pages,
           SUM(CAST(sessions AS BIGINT)) AS sessions,
           SUM(CAST(engaged_sessions AS DOUBLE)) / NULLIF(SUM(CAST(sessions AS DOUBLE)), 0)
             AS engagement
    FROM __src_2
    GROUP BY channel
    ORDER BY channel
    """
)


def sample_reads() -> list[PartRead]:
    return [csv_read("__src_0", ADS), csv_read("__src_1", LEADS), csv_read("__src_2", WEB)]


# ---------------------------------------------------------------------------- session settings


def test_session_conf_defaults_are_kpis_semantics() -> None:
    master, conf = S.session_conf(None, cores=4)
    assert master == "local[*]"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.sql.ansi.enabled"] == "true"  # a failed cast is an error, not NULL
    assert conf["spark.sql.caseSensitive"] == "true"
    assert conf["spark.ui.enabled"] == "false"
    assert conf["spark.ui.showConsoleProgress"] == "false"
    assert conf["spark.sql.shuffle.partitions"] == "8"  # twice the 4 cores of local[*]
    assert conf["spark.driver.extraJavaOptions"] == (
        f"-Dlog4j.configurationFile={S.LOG_CONFIG.as_uri()}"
    )
    assert S.LOG_CONFIG.is_file()


def test_session_conf_takes_the_users_settings_over_kpis() -> None:
    settings = SparkSettings(
        master="local[3]",
        conf={
            "spark.sql.ansi.enabled": False,
            "spark.executor.memory": "4g",
            "spark.sql.shuffle.partitions": 50,
            "spark.driver.extraJavaOptions": "-Xss4m",
        },
    )
    master, conf = S.session_conf(settings, cores=16)
    assert master == "local[3]"
    assert conf["spark.sql.ansi.enabled"] == "false"  # YAML's false, as Spark spells it
    assert conf["spark.executor.memory"] == "4g"
    assert conf["spark.sql.shuffle.partitions"] == "50"
    assert conf["spark.driver.extraJavaOptions"].endswith(" -Xss4m")
    assert conf["spark.driver.extraJavaOptions"].startswith("-Dlog4j.configurationFile=")
    own = "-Dlog4j.configurationFile=file:/etc/mine.properties"
    _, conf = S.session_conf(SparkSettings(conf={"spark.driver.extraJavaOptions": own}))
    assert conf["spark.driver.extraJavaOptions"] == own


def test_session_conf_of_a_cluster_and_of_spark_connect() -> None:
    master, conf = S.session_conf(SparkSettings(master="spark://head:7077"), cores=4)
    assert master == "spark://head:7077"
    assert "spark.sql.shuffle.partitions" not in conf  # a cluster's own default
    master, conf = S.session_conf(SparkSettings(conf={"spark.master": "yarn"}))
    assert master == "yarn" and "spark.master" not in conf
    master, conf = S.session_conf(
        SparkSettings(master="local[2]", conf={"spark.sql.shuffle.partitions": 9}), remote=True
    )
    assert master is None  # SPARK_REMOTE names the server
    assert conf == {**S.SQL_CONF, "spark.sql.shuffle.partitions": "9"}  # runtime settings only


@pytest.mark.parametrize(
    ("master", "cores"),
    [("local", 1), ("local[3]", 3), ("local[*]", 6), ("local[2, 4]", 2), ("yarn", None)],
)
def test_local_cores(master: str, cores: int | None) -> None:
    assert S.local_cores(master, 6) == cores


@pytest.mark.parametrize(
    ("python", "java"),
    [
        ("utf-8", "UTF-8"),
        ("utf-8-sig", "UTF-8"),
        ("cp1252", "windows-1252"),
        ("latin-1", "ISO-8859-1"),
        ("utf-16-le", "UTF-16LE"),
        ("shift_jis", "Shift_JIS"),
        ("cp1253", "windows-1253"),
    ],
)
def test_java_charset(python: str, java: str) -> None:
    assert S.java_charset(python) == java


def test_spark_settings_in_the_config(tmp_path: Path) -> None:
    from kpicli.spec.config import load_config

    cfg = tmp_path / "kpi_config.yaml"
    cfg.write_text(
        "version: 1\nsettings:\n  spark:\n    master: local[2]\n"
        "    conf: {spark.sql.shuffle.partitions: 3, spark.sql.adaptive.enabled: true}\n"
        "sources: {}\nkpis: {}\n"
    )
    spark = load_config(cfg).settings.spark
    assert spark is not None and spark.master == "local[2]"
    _, conf = S.session_conf(spark)
    assert conf["spark.sql.shuffle.partitions"] == "3"
    assert conf["spark.sql.adaptive.enabled"] == "true"
    cfg.write_text("version: 1\nsettings:\n  spark: {mastr: x}\nsources: {}\nkpis: {}\n")
    with pytest.raises(ConfigError):
        load_config(cfg)


# ---------------------------------------------------------------------------- queries


@pytest.mark.slow
def test_sample_aggregates_equal_duckdbs(spark) -> None:
    reads = sample_reads()
    queries = [ADS_QUERY, LEADS_QUERY, WEB_QUERY]
    frames = S.run(spark, queries, reads)
    for frame, query in zip(frames, queries, strict=True):
        assert frame.columns == [s.alias_or_name for s in query.selects]
        same_rows(frame.rows(), duck(reads, query))
    ads = frames[0]
    assert str(ads.schema["month"]) == "Date"
    assert str(ads.schema["spend"]).startswith("Decimal")  # exact, to the cent
    assert str(ads.schema["n_rows"]) == "Int64"
    months = set()  # every (channel, month) of the files, as the csv module reads them
    for path in ADS:
        with open(path, newline="") as f:
            months |= {(row["channel"], row["date"][:7]) for row in csv.DictReader(f)}
    assert sorted((c, m.isoformat()[:7]) for c, m in ads.select("channel", "month").rows()) == (
        sorted(months)
    )
    # the views were for the run only
    assert not {t.name for t in spark.catalog.listTables()} & {r.view for r in reads}


@pytest.mark.slow
def test_parquet_parts_equal_duckdb_over_the_same_files(spark, tmp_path: Path) -> None:
    files = []
    for i, path in enumerate(ADS):
        target = tmp_path / f"ads_{i}.parquet"
        duckdb.execute(f"COPY (SELECT * FROM read_csv('{path}')) TO '{target}' (FORMAT parquet)")
        files.append(str(target))
    read = PartRead("__src_0", tuple(files), "parquet", header(ADS[0]))
    [frame] = S.run(spark, [ADS_QUERY], [read])
    want = duck([read], ADS_QUERY)
    same_rows(frame.rows(), want)
    # and the same numbers as the CSV files they were made from
    same_rows(frame.rows(), duck([csv_read("__src_0", ADS)], ADS_QUERY))


@pytest.mark.slow
def test_cells_as_kpi_reads_them(spark, tmp_path: Path) -> None:
    """Quoted delimiters, doubled quotes, a cell over two lines, a trailing backslash,
    spaces kept, CRLF; an unquoted empty cell NULL, a quoted one empty text, a short record
    NULL in its missing cells: as Polars (kpi's reader) and DuckDB read them; the text of
    the cells as the csv module reads it."""
    import polars as pl

    path = tmp_path / "cells.csv"
    path.write_bytes(
        b'id,name,note\r\n1,"a, b","say ""hi"""\r\n2,,"two\nlines"\r\n3, x ,C:\\\r\n'
        b'4,"",z\r\n5,short\r\n'
    )
    read = csv_read("v", (str(path),))
    query = sqlglot.parse_one("SELECT * FROM v ORDER BY id")
    [frame] = S.run(spark, [query], [read])
    assert frame.rows() == pl.read_csv(path, infer_schema=False).rows()
    assert frame.rows() == duck([read], query)
    with open(path, newline="") as f:
        text = [tuple(row + [""] * (3 - len(row))) for row in list(csv.reader(f))[1:]]
    assert [tuple(c or "" for c in row) for row in frame.rows()] == text
    assert frame.rows()[3] == ("4", "", "z") and frame.rows()[1][1] is None


@pytest.mark.slow
def test_a_file_name_with_glob_characters_is_read_as_named(spark, tmp_path: Path) -> None:
    (tmp_path / "ads[1].csv").write_text("a\n1\n2\n")
    (tmp_path / "ads1.csv").write_text("a\n100\n")  # what the glob `ads[1].csv` would match
    read = csv_read("v", (str(tmp_path / "ads[1].csv"),))
    [frame] = S.run(spark, [sqlglot.parse_one("SELECT SUM(CAST(a AS INT)) AS s FROM v")], [read])
    assert frame.rows() == [(3,)]


def preamble_file(path: Path, title: str, rows: list[str], encoding: str = "utf-8") -> None:
    """An export as Google Ads writes them: a title and a date range over the header."""
    lines = [title, '"1 January 2025 - 31 January 2025"', "Day,Campaign,Cost", *rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))


@pytest.mark.slow
def test_a_preamble_is_skipped_in_each_file(spark, tmp_path: Path) -> None:
    """Two files of two preamble lines each: every file loses its own (not the first lines
    of a partition), values as the csv module reads them, blank lines dropped."""
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    preamble_file(a, "Campaign report", ["2025-01-01,Brand,1.50", '2025-01-02,"Gén, ""x""",2'])
    preamble_file(b, "Campaign, report", ["", "2025-01-03,Brand,", "2025-01-04,Été,4.25"], "cp1252")
    read = PartRead("v", (str(a),), "csv", ("Day", "Campaign", "Cost"), skip=2)
    query = sqlglot.parse_one("SELECT * FROM v ORDER BY Day")
    [frame] = S.run(spark, [query], [read])
    assert frame.rows() == [
        ("2025-01-01", "Brand", "1.50"),
        ("2025-01-02", 'Gén, "x"', "2"),
    ]
    # the csv module, over each file, after its preamble (cp1252: a read of its own)
    want = []
    for path, encoding in ((a, "utf-8"), (b, "cp1252")):
        with open(path, encoding=encoding, newline="") as f:
            rows = list(csv.reader(f))[3:]
        want += [tuple(c or None for c in row) for row in rows if row]
    reads = [
        PartRead("v", (str(a),), "csv", ("Day", "Campaign", "Cost"), skip=2),
        PartRead("w", (str(b),), "csv", ("Day", "Campaign", "Cost"), skip=2, encoding="cp1252"),
    ]
    union = sqlglot.parse_one("SELECT * FROM v UNION ALL SELECT * FROM w ORDER BY Day")
    [frame] = S.run(spark, [union], reads)
    assert frame.rows() == sorted(want)
    # one part of two files with the same layout: each file's preamble dropped
    preamble_file(b, "Campaign, report", ["", "2025-01-03,Brand,", "2025-01-04,Ete,4.25"])
    read = PartRead("v", (str(a), str(b)), "csv", ("Day", "Campaign", "Cost"), skip=2)
    count = sqlglot.parse_one("SELECT COUNT(*) AS n, SUM(CAST(Cost AS DECIMAL(9, 2))) AS s FROM v")
    [frame] = S.run(spark, [count], [read])
    assert frame.rows() == duck([read], count) == [(4, Decimal("7.75"))]


@pytest.mark.slow
def test_a_quoted_cell_over_two_lines_after_a_preamble_is_an_error(spark, tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    preamble_file(path, "Report", ["2025-01-01,Brand,1", '2025-01-02,"two\r\nlines",2'])
    read = PartRead("v", (str(path),), "csv", ("Day", "Campaign", "Cost"), skip=2)
    for query in ("SELECT COUNT(*) FROM v", "SELECT SUM(CAST(Cost AS INT)) FROM v"):
        with pytest.raises(DataError) as caught:  # a bare count too: nothing is pruned
            S.run(spark, [sqlglot.parse_one(query)], [read])
        err = caught.value
        assert err.exit_code == 3
        assert err.where is not None and err.where.file == str(path)
        assert "line 5" in err.message and "kpi clean" in (err.hint or "")
        assert "\tat " not in err.render() and "org.apache" not in err.render()
    # a record of too few cells after a preamble: NULL in the others, as without one
    preamble_file(path, "Report", ["2025-01-01,Brand,1", '2025-01-02,""'])
    [frame] = S.run(spark, [sqlglot.parse_one("SELECT * FROM v ORDER BY Day")], [read])
    assert frame.rows() == [("2025-01-01", "Brand", "1"), ("2025-01-02", "", None)]


# ---------------------------------------------------------------------------- errors


@pytest.mark.slow
def test_a_missing_file_is_a_data_error_naming_it(spark, tmp_path: Path) -> None:
    gone = tmp_path / "gone.csv"
    read = PartRead("v", (str(gone),), "csv", ("a",))
    with pytest.raises(DataError) as caught:
        S.run(spark, [sqlglot.parse_one("SELECT COUNT(*) FROM v")], [read])
    err = caught.value
    assert err.exit_code == 3 and err.where is not None and err.where.file == str(gone)
    assert "does not exist" in err.message
    assert "\n" not in err.message and "org.apache" not in err.message
    # a file removed after its part was registered: the same error, from the running job
    here = tmp_path / "here.csv"
    here.write_text("a\n1\n")
    S.register(spark, PartRead("v", (str(here),), "csv", ("a",)))
    here.unlink()
    with pytest.raises(DataError) as caught:
        S.run(spark, [sqlglot.parse_one("SELECT COUNT(*) FROM v")], [])
    assert caught.value.exit_code == 3 and "does not exist" in caught.value.message
    assert "\n" not in caught.value.message and "org.apache" not in caught.value.message
    spark.catalog.dropTempView("v")


@pytest.mark.slow
def test_a_value_that_does_not_cast_is_an_error_not_null(spark, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("clicks\n1\n2\nn/a\n")
    read = PartRead("v", (str(path),), "csv", ("clicks",))
    query = sqlglot.parse_one("SELECT SUM(CAST(clicks AS INT)) AS clicks FROM v")
    with pytest.raises(DataError) as caught:
        S.run(spark, [query], [read])
    err = caught.value
    assert err.exit_code == 3 and err.where is not None and err.where.file == str(path)
    assert "'n/a'" in err.message and "cannot be cast" in err.message
    assert "ansi" not in err.message.lower() and "try_cast" not in err.message  # Spark's advice
    with pytest.raises(DuckDBError):  # the oracle agrees that this is no number
        duck([read], query)


DuckDBError = duckdb.Error


@pytest.mark.slow
def test_explain_makes_the_error_of_sparks_reason(spark, tmp_path: Path) -> None:
    """The caller's ``explain`` gets Spark's reason in one line (what sqlsource's
    explain_failure reads a cell's location from): a RAISE_ERROR's message as written."""
    path = tmp_path / "x.csv"
    path.write_text("n\n1\nabc\n")
    read = PartRead("v", (str(path),), "csv", ("n",))
    query = sqlglot.parse_one(
        "SELECT SUM(CASE WHEN n RLIKE '^[0-9]+$' THEN CAST(n AS INT) "
        "ELSE RAISE_ERROR(CONCAT('could not parse `', n, '` as a number in column `n`')) END) "
        "AS s FROM v",
        read="spark",
    )
    seen = []

    def explain(detail: str) -> DataError:
        seen.append(detail)
        return DataError("explained", location=str(path))

    with pytest.raises(DataError, match="explained"):
        S.run(spark, [query], [read], explain=explain)
    assert seen == ["could not parse `abc` as a number in column `n`"]


@pytest.mark.slow
def test_a_missing_column_and_a_record_too_long_are_data_errors(spark, tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text('a,b\n1,2\n3\n"4,x",5,6\n')
    read = PartRead("v", (str(path),), "csv", ("a", "b"))
    with pytest.raises(DataError) as caught:
        S.run(spark, [sqlglot.parse_one("SELECT SUM(c) FROM v")], [read])
    assert "`c`" in caught.value.message and caught.value.exit_code == 3
    for query in ("SELECT COUNT(*) FROM v", "SELECT MAX(b) FROM v"):  # nothing pruned
        with pytest.raises(DataError) as caught:
            S.run(spark, [sqlglot.parse_one(query)], [read])
        assert "more cells than the header's 2" in caught.value.message
        assert caught.value.where is not None and caught.value.where.file == str(path)
        assert '"4,x",5,6' in caught.value.message  # the record, quoted delimiter kept
    with pytest.raises(duckdb.Error):  # DuckDB's strict reader refuses it too
        duck([read], sqlglot.parse_one("SELECT COUNT(*) FROM v"))
    # a ragged part: the extra cells dropped, as DuckDB's reader does; short records padded
    ragged = PartRead("v", (str(path),), "csv", ("a", "b"), ragged=True)
    query = sqlglot.parse_one("SELECT * FROM v ORDER BY a")
    [frame] = S.run(spark, [query], [ragged])
    assert frame.rows() == duck([ragged], query) == [("1", "2"), ("3", None), ("4,x", "5")]
    # and after a preamble, the same
    pre = tmp_path / "pre.csv"
    pre.write_text('Report\na,b\n1,2\n3\n"4,x",5,6\n')
    read = PartRead("v", (str(pre),), "csv", ("a", "b"), skip=1)
    with pytest.raises(DataError) as caught:
        S.run(spark, [sqlglot.parse_one("SELECT COUNT(*) FROM v")], [read])
    assert "more cells than the header's 2 at line 5 of" in caught.value.message
    [frame] = S.run(
        spark, [query], [PartRead("v", (str(pre),), "csv", ("a", "b"), skip=1, ragged=True)]
    )
    assert frame.rows() == [("1", "2"), ("3", None), ("4,x", "5")]


@pytest.mark.slow
def test_empty_results_keep_their_columns_and_dtypes_are_cast_on_request(spark) -> None:
    import polars as pl

    reads = [csv_read("__src_0", ADS)]
    none = sqlglot.parse_one(
        "SELECT channel, SUM(CAST(spend AS DECIMAL(18, 2))) AS spend, "
        "CAST(date AS DATE) AS day FROM __src_0 WHERE channel = 'nobody' GROUP BY 1, 3"
    )
    total = sqlglot.parse_one("SELECT SUM(CAST(spend AS DECIMAL(18, 2))) AS spend FROM __src_0")
    empty, floats = S.run(spark, [none, total], reads, dtypes=[None, {"spend": pl.Float64}])
    assert empty.height == 0 and empty.columns == ["channel", "spend", "day"]
    assert empty.schema["day"] == pl.Date and isinstance(empty.schema["spend"], pl.Decimal)
    assert floats.schema["spend"] == pl.Float64
    [(exact,)] = duck(reads, total)
    assert floats.item() == pytest.approx(float(exact), rel=1e-12)


@pytest.mark.slow
def test_session_reuse_applies_runtime_settings_and_refuses_another_master(
    spark, tmp_path: Path
) -> None:
    from kpicli.spec.config import load_config

    cfg = tmp_path / "kpi_config.yaml"
    cfg.write_text(
        "version: 1\nsettings:\n  spark:\n    conf: {spark.sql.shuffle.partitions: 7}\n"
        "sources: {}\nkpis: {}\n"
    )
    before = spark.conf.get("spark.sql.shuffle.partitions")
    try:
        again = S.session(load_config(cfg))
        assert again.conf.get("spark.sql.shuffle.partitions") == "7"
        assert again.sparkContext is spark.sparkContext  # one session per process
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", before)
    cfg.write_text("version: 1\nsettings:\n  spark:\n    master: local[3]\nsources: {}\nkpis: {}\n")
    with pytest.raises(ConfigError) as caught:
        S.session(load_config(cfg))
    assert caught.value.where is not None and caught.value.where.line == 4
    assert f"`{spark.sparkContext.master}`" in caught.value.message


SESSION_SCRIPT = """
import json, sys
from kpicli.spec.config import load_config
from kpicli.execute.spark import session
spark = session(load_config(sys.argv[1]))
print(json.dumps({
    "master": spark.sparkContext.master,
    "flag": spark.conf.get("spark.kpi.test.flag"),
    "partitions": spark.conf.get("spark.sql.shuffle.partitions"),
    "zone": spark.conf.get("spark.sql.session.timeZone"),
    "ansi": spark.conf.get("spark.sql.ansi.enabled"),
    "ui": spark.sparkContext.uiWebUrl,
    "sum": spark.sql("SELECT SUM(id) AS s FROM range(5)").collect()[0][0],
}))
spark.stop()
"""


@pytest.mark.slow
def test_a_session_from_the_configs_settings_in_a_process_of_its_own(tmp_path: Path) -> None:
    from conftest import require_spark

    require_spark()
    work = tmp_path / "work"
    work.mkdir()
    cfg = tmp_path / "kpi_config.yaml"
    cfg.write_text(
        "version: 1\nsettings:\n  spark:\n    master: local[1]\n    conf:\n"
        "      spark.kpi.test.flag: yes-please\n"
        f"      spark.local.dir: {tmp_path / 'scratch'}\n"
        "sources: {}\nkpis: {}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SPARK_REMOTE", None)
    done = subprocess.run(
        [sys.executable, "-c", SESSION_SCRIPT, str(cfg)],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got == {
        "master": "local[1]",
        "flag": "yes-please",
        "partitions": "2",  # twice local[1]'s one core
        "zone": "UTC",
        "ansi": "true",
        "ui": None,  # no Spark UI
        "sum": 10,
    }
    # quiet: no Spark log line, no progress bar, nothing left in the working folder
    assert "WARN" not in done.stderr and "log level" not in done.stderr, done.stderr
    assert "[Stage" not in done.stderr
    assert list(work.iterdir()) == []


def test_no_pyspark_is_a_usage_error_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from kpicli.errors import UsageError

    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(UsageError) as caught:
        S.start(None)
    assert "kpicli[spark]" in (caught.value.hint or "")


@pytest.mark.slow
def test_a_query_already_in_spark_sql_runs_as_written(spark) -> None:
    reads = [csv_read("__src_0", ADS)]
    text = S.spark_sql(ADS_QUERY)
    [from_text, from_ast] = S.run(spark, [text, ADS_QUERY], reads)
    assert from_text.equals(from_ast)
    same_rows(from_text.rows(), duck(reads, ADS_QUERY))


def test_spark_sql_of_the_ast() -> None:
    text = S.spark_sql(ADS_QUERY)
    assert "TRUNC(CAST(date AS DATE), 'MONTH')" in text and "FROM __src_0" in text


@pytest.mark.parametrize("ci", ["true", ""])
def test_without_pyspark_the_spark_tests_skip_but_fail_under_ci(
    ci: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from conftest import require_spark

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else real(name, *a)
    )
    monkeypatch.setenv("CI", ci)
    expected = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(expected) as caught:
        require_spark()
    assert "PySpark (pip install -e '.[spark]')" in str(caught.value)


@pytest.mark.slow
def test_no_java_is_a_usage_error_naming_the_fix(tmp_path: Path) -> None:
    from conftest import require_spark

    require_spark()
    script = (
        "from kpicli.execute.spark import start\n"
        "from kpicli.errors import KpiError\n"
        "try:\n    start()\nexcept KpiError as e:\n"
        "    print(e.exit_code, e.render())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAVA_HOME": str(tmp_path / "no-java")}
    env.pop("SPARK_REMOTE", None)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.stdout.startswith("2 usage error: Spark could not start: "), done
    assert "Java 17" in done.stdout and "Traceback" not in done.stdout + done.stderr
