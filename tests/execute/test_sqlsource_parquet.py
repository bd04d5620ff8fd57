"""The SQL reader of a Parquet source (execute/sqlsource) against the Polars reader.

Two implementations of the same reading: the rows DuckDB (and Spark, where pyspark is
installed) gives for ``source_sql`` over Parquet files must be the rows ``sf.frame`` gives
(same columns, values, nulls, in any order; types of the same class). The files are
written by DuckDB's ``COPY … TO`` (or by Polars where a test needs text cells or a
Categorical column), the cases those of tests/ingest/test_parquet.py; where a value
matters (a DECIMAL sum, a zoned date, a row of nulls), it is also checked against SQL of
the test's own over the files.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from test_sqlsource import assert_same_rows, run

from kpicli import load_config
from kpicli.errors import DataError
from kpicli.execute.sqlsource import SourceSql, explain_failure, source_sql
from kpicli.ingest.scan import SourceFrame, scan_source

ROOT = Path(__file__).parents[2]
#: DuckDB's ``range`` as INTEGER (a DATE plus a BIGINT is refused): ``FROM {RANGE}(10)) t``
RANGE = "(SELECT CAST(range AS INTEGER) AS i FROM range"


def sql(query: str) -> list[tuple]:
    con = duckdb.connect()
    try:
        return con.sql(query).fetchall()
    finally:
        con.close()


def copy(select: str, out: Path) -> Path:
    sql(f"COPY ({select}) TO '{out}' (FORMAT parquet)")
    return out


def write(folder: Path, body: str) -> Path:
    p = folder / "kpi_config.yaml"
    p.write_text("version: 1\n" + body, encoding="utf-8")
    return p


def check(config: Path, name: str, columns: list[str] | None = None) -> pl.DataFrame:
    """DuckDB's rows of ``source_sql`` equal the Polars reader's; all of them are Parquet
    reads (one per part). Returns DuckDB's rows."""
    cfg = load_config(config)
    sf = scan_source(cfg, name)
    query = source_sql(sf, cfg, columns)
    assert [r.format for r in query.reads] == ["parquet"] * len(sf.parts)
    got = run(query)
    want = sf.frame.collect() if columns is None else sf.frame.select(list(got.columns)).collect()
    assert_same_rows(got, want)
    CASES.append((config, name))
    return got


#: (config, source) of the cases checked with DuckDB, checked again on Spark
CASES: list[tuple[Path, str]] = []


# ---------------------------------------------------------------------------- the sample


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped config over the sample's CSV files written to Parquet by DuckDB."""
    folder = tmp_path_factory.mktemp("parquet-sample")
    (folder / "sample_data").mkdir()
    for csv in sorted((ROOT / "sample_data").glob("*.csv")):
        out = folder / "sample_data" / f"{csv.stem}.parquet"
        copy(f"SELECT * FROM read_csv('{csv}')", out)
    text = (ROOT / "kpi_config.yaml").read_text(encoding="utf-8")
    (folder / "kpi_config.yaml").write_text(text.replace(".csv", ".parquet"), encoding="utf-8")
    return folder / "kpi_config.yaml"


@pytest.mark.parametrize("name", ["ads", "leads", "email", "web"])
def test_sample_sources_read_alike(sample: Path, name: str) -> None:
    got = check(sample, name)
    files = {"ads": "ads_*", "leads": "crm_leads", "email": "email_*", "web": "web_*"}[name]
    ((n,),) = sql(f"SELECT COUNT(*) FROM '{sample.parent}/sample_data/{files}.parquet'")
    assert got.height == n > 100


def test_sample_columns_subset(sample: Path) -> None:
    got = check(sample, "leads", ["created_at", "is_paid"])
    assert got.columns == ["created_at", "is_paid"]
    assert 0 < got["is_paid"].sum() < got.height  # the derive is not trivially constant


# ---------------------------------------------------------------------------- dates


@pytest.mark.parametrize("zone", [None, "America/New_York", "Asia/Kolkata"])
def test_timestamps_with_and_without_a_zone(tmp_path: Path, zone: str | None) -> None:
    """A TIMESTAMP counts on the date it shows; one with a zone on its date in
    settings.timezone (UTC when unset): around midnight they differ."""
    data = copy(
        "SELECT TIMESTAMP '2026-03-01 00:00:00' + i * INTERVAL 37 MINUTE AS local_ts, "
        "CAST(TIMESTAMP '2026-03-01 00:00:00' + i * INTERVAL 37 MINUTE AS TIMESTAMPTZ) AS ts, "
        f"i % 3 AS n FROM {RANGE}(500)) t",
        tmp_path / "events.parquet",
    )
    assert pl.read_parquet_schema(data)["ts"].time_zone == "UTC"  # type: ignore[union-attr]
    settings = f"settings: {{timezone: {zone}}}\n" if zone else ""
    cfg = write(
        tmp_path,
        settings + "sources:\n"
        "  naive: {path: events.parquet, date: local_ts}\n"
        "  zoned: {path: events.parquet, date: ts}\n"
        "kpis:\n"
        "  a: {source: naive, formula: SUM(n)}\n"
        "  b: {source: zoned, formula: SUM(n)}\n",
    )
    naive, zoned = check(cfg, "naive"), check(cfg, "zoned")
    con = duckdb.connect()
    try:
        con.sql("SET TimeZone = 'Pacific/Auckland'")  # neither the zone asked nor UTC
        day = f"timezone('{zone or 'UTC'}', ts)"
        expected = con.sql(f"SELECT CAST({day} AS DATE) FROM '{data}' ORDER BY 1").fetchall()
    finally:
        con.close()
    assert sorted(zoned["ts"].to_list()) == [d for (d,) in expected]
    assert sorted(naive["local_ts"].to_list()) == [
        d for (d,) in sql(f"SELECT CAST(local_ts AS DATE) FROM '{data}' ORDER BY 1")
    ]
    if zone:
        assert sorted(naive["local_ts"].to_list()) != sorted(zoned["ts"].to_list())


def test_text_dates_with_date_format_and_detected(tmp_path: Path) -> None:
    copy(
        "SELECT strftime(DATE '2026-01-01' + i, '%d/%m/%Y') AS day, "
        "strftime(DATE '2026-01-01' + i, '%Y-%m-%d') AS iso, "
        "strftime(DATE '2026-01-01' + i, '%d %b %Y') AS named, i AS n "
        f"FROM {RANGE}(60)) t",
        tmp_path / "days.parquet",
    )
    cfg = write(
        tmp_path,
        "sources:\n"
        "  given: {path: days.parquet, date: day, date_format: '%d/%m/%Y'}\n"
        "  found: {path: days.parquet, date: iso}\n"
        "kpis:\n"
        "  a: {source: given, formula: SUM(n)}\n"
        "  b: {source: found, formula: SUM(n)}\n"
        "  c: {source: found, formula: COUNT(*), date: named}\n",
    )
    given, found = check(cfg, "given"), check(cfg, "found")
    assert given.schema["day"] == found.schema["iso"] == found.schema["named"] == pl.Date
    assert given.sort("n")["day"].to_list() == found.sort("n")["iso"].to_list()
    assert found["named"].sort().to_list() == found["iso"].sort().to_list()


# ---------------------------------------------------------------------------- types


def test_decimal_columns_stay_decimal_and_sum_exactly(tmp_path: Path) -> None:
    data = copy(
        "SELECT DATE '2026-01-01' + (i % 28) AS day, CAST(0.10 AS DECIMAL(12, 2)) AS cost, "
        "CAST(1234567890123457 + i * 7 % 100 AS DECIMAL(36, 0)) * CAST(0.01 AS DECIMAL(2, 2)) "
        f"AS amount FROM {RANGE}(10000)) t",
        tmp_path / "money.parquet",
    )
    cfg = write(
        tmp_path,
        "sources:\n  m: {path: money.parquet, date: day}\n"
        "kpis:\n  cost: {source: m, formula: SUM(cost)}\n",
    )
    got = check(cfg, "m")
    assert isinstance(got.schema["cost"], pl.Decimal) and isinstance(
        got.schema["amount"], pl.Decimal
    )
    ((cost, amount),) = sql(f"SELECT SUM(cost), SUM(amount) FROM '{data}'")
    assert got["cost"].sum() == cost == Decimal("1000.00")
    assert got["amount"].sum() == amount


def test_text_cells_convert_as_csv_cells(tmp_path: Path) -> None:
    """Numbers, money, percentages, missing markers, booleans, durations stored as text;
    a Categorical column; a text column without a value (typed Null when a KPI sums it)."""
    n = 12
    pl.DataFrame(
        {
            "day": [f"2026-01-0{i % 9 + 1}" for i in range(n)],
            "amount": ["$1,234.50", "12.25", "n/a", "€1,000.00", "0.75", "--"] * 2,
            "rate": ["3.5%", "10%", "0.5%", "", "1%", "2.25%"] * 2,
            "units": [str(i) for i in range(n)],
            "ok": ["true", "FALSE", "", "True", "false", "TRUE"] * 2,
            "time": ["1:05", "0:30", "1:00:00", "", "12:34", "0:01"] * 2,
            "ch": pl.Series(["a", "b", "c"] * 4, dtype=pl.Categorical),
            "empty": pl.Series([None] * n, dtype=pl.String),
        }
    ).write_parquet(tmp_path / "text.parquet")
    cfg = write(
        tmp_path,
        "sources:\n  t: {path: text.parquet, date: day}\n"
        "kpis:\n  s: {source: t, formula: SUM(amount) + SUM(empty)}\n",
    )
    got = check(cfg, "t")
    assert got.schema["units"].is_integer() and got.schema["ch"] == pl.String
    ((amount, rate),) = sql(
        "SELECT SUM(TRY_CAST(regexp_replace(amount, '[^0-9.]', '', 'g') AS DOUBLE)), "
        f"SUM(TRY_CAST(replace(rate, '%', '') AS DOUBLE) / 100) FROM '{tmp_path}/text.parquet'"
    )
    assert got["amount"].sum() == pytest.approx(amount) and got["rate"].sum() == pytest.approx(rate)


def test_a_text_cell_that_does_not_convert_fails_and_is_located(tmp_path: Path) -> None:
    clicks = [str(i) for i in range(3000)]
    clicks[2345] = "12x"
    data = tmp_path / "bad.parquet"
    pl.DataFrame({"day": ["2026-01-01"] * 3000, "clicks": clicks}).write_parquet(data)
    cfg = load_config(
        write(
            tmp_path,
            "sources:\n  b: {path: bad.parquet, date: day}\n"
            "kpis:\n  c: {source: b, formula: SUM(clicks)}\n",
        )
    )
    sf = scan_source(cfg, "b")
    with pytest.raises(pl.exceptions.PolarsError):
        sf.frame.collect()
    with pytest.raises(duckdb.Error) as failed:
        run(source_sql(sf, cfg))
    err = explain_failure([sf], failed.value)
    assert isinstance(err, DataError) and err.exit_code == 3
    assert "row 2346" in str(err) and "`12x`" in str(err) and "bad.parquet" in str(err.location)


def test_percent_points_of_a_preset_are_scaled(tmp_path: Path) -> None:
    copy(
        'SELECT DATE \'2026-02-01\' + (i % 9) AS "Send Date", i * 7 AS "Unique Opens", '
        'CAST(i % 50 AS DOUBLE) + 0.5 AS "Open Rate", CAST(i % 40 AS INTEGER) AS "Click Rate", '
        f'CAST(i % 30 AS FLOAT) AS "Bounce Rate" FROM {RANGE}(100)) t',
        tmp_path / "mc.parquet",
    )
    cfg = write(
        tmp_path,
        "sources:\n  mc: {path: mc.parquet, preset: mailchimp}\n"
        "kpis:\n  o: {source: mc, formula: AVG(open_rate)}\n",
    )
    got = check(cfg, "mc")
    ((opens, clicks),) = sql(
        f'SELECT SUM("Open Rate") / 100, SUM("Click Rate") / 100 FROM \'{tmp_path}/mc.parquet\''
    )
    assert got["open_rate"].sum() == pytest.approx(opens)
    assert got["click_rate"].sum() == pytest.approx(clicks)
    assert got["opens"].dtype.is_integer()


# ---------------------------------------------------------------------------- mapping


def test_preset_names_rename_derive_and_filter(tmp_path: Path) -> None:
    copy(
        "SELECT DATE '2026-02-01' + (i % 20) AS \"Day\", "
        "['brand', 'generic', 'shopping'][i % 3 + 1] AS \"Campaign\", "
        '(i * 7) % 101 AS "Clicks", (i * 13) % 997 + 100 AS "Impr.", '
        'CAST(((i * 31) % 5000) / 100.0 AS DECIMAL(12, 2)) AS "Cost" '
        f"FROM {RANGE}(400)) t",
        tmp_path / "gads.parquet",
    )
    cfg = write(
        tmp_path,
        "sources:\n"
        "  g:\n"
        "    path: gads.parquet\n"
        "    preset: google_ads\n"
        "    date: date\n"
        "    rename: {campaign: campaign_name}\n"
        '    derive: {cpc: "ROUND(spend / NULLIF(clicks, 0), 2)", '
        "brand: \"campaign_name = 'brand'\", label: \"CONCAT(campaign_name, '-', clicks)\"}\n"
        '    filter: "clicks > 10 AND NOT (brand AND spend > 40)"\n'
        "kpis:\n  spend: {source: g, formula: SUM(spend)}\n",
    )
    got = check(cfg, "g")
    assert {"campaign_name", "cpc", "brand", "label", "impressions"} <= set(got.columns)
    ((n,),) = sql(
        f"SELECT COUNT(*) FROM '{tmp_path}/gads.parquet' WHERE \"Clicks\" > 10 "
        'AND NOT ("Campaign" = \'brand\' AND "Cost" > 40)'
    )
    assert got.height == n


def test_files_with_other_column_orders_and_types(tmp_path: Path) -> None:
    """Files whose columns come in another order, as INTEGER, BIGINT or text, DECIMALs of
    other scales, one without a column: each its own part, one table, types widened as
    Polars widens them."""
    d = tmp_path / "d"
    d.mkdir()
    copy(
        "SELECT DATE '2026-01-01' + (i % 9) AS day, CAST(i AS INTEGER) AS clicks, "
        f"'a' AS ch, CAST(i / 4 AS DECIMAL(12, 2)) AS cost FROM {RANGE}(50)) t",
        d / "1.parquet",
    )
    copy(
        "SELECT 'b' AS ch, CAST(i * 3 AS BIGINT) AS clicks, DATE '2026-01-03' + (i % 4) "
        f"AS day, CAST(i / 8 AS DECIMAL(18, 4)) AS cost FROM {RANGE}(40)) t",
        d / "2.parquet",
    )
    copy(
        "SELECT strftime(DATE '2026-01-02' + (i % 5), '%Y-%m-%d') AS day, "
        f"CAST(i * 5 AS VARCHAR) AS clicks, 'c' AS ch FROM {RANGE}(30)) t",
        d / "3.parquet",
    )
    cfg = write(
        tmp_path,
        "sources:\n  s: {path: d/*.parquet, date: day}\n"
        "kpis:\n  c: {source: s, formula: SUM(clicks)}\n",
    )
    got = check(cfg, "s")
    assert len(load_parts(cfg, "s")) == 3
    ((clicks, cost),) = sql(
        "SELECT SUM(CAST(clicks AS BIGINT)), SUM(cost) "
        f"FROM read_parquet('{d}/*.parquet', union_by_name=true)"
    )
    assert got["clicks"].sum() == clicks and got["cost"].sum() == cost
    assert got.schema["cost"] == pl.Decimal(18, 4) and got.schema["clicks"] == pl.Int64


def load_parts(cfg: Path, name: str) -> list:
    return scan_source(load_config(cfg), name).parts


def test_a_row_of_nulls_past_the_sample_is_a_row(tmp_path: Path) -> None:
    """A Parquet row whose cells are all null is a row (COUNT(*) counts it), however far
    from the first rows: the blank-line rule of CSV files does not apply."""
    data = copy(
        "SELECT CASE WHEN i = 1200 THEN NULL ELSE DATE '2026-01-01' + i % 20 END AS day, "
        "CASE WHEN i = 1200 THEN NULL ELSE 'x' END AS ch, "
        f"CASE WHEN i = 1200 THEN NULL ELSE i END AS n FROM {RANGE}(1500)) t",
        tmp_path / "a.parquet",
    )
    cfg = write(
        tmp_path,
        "sources:\n  s: {path: a.parquet}\nkpis:\n  n: {source: s, formula: COUNT(*)}\n",
    )
    got = check(cfg, "s")
    ((n,),) = sql(f"SELECT COUNT(*) FROM '{data}'")
    assert got.height == n == 1500


def test_a_folder_named_like_a_hive_partition_adds_no_column(tmp_path: Path) -> None:
    d = tmp_path / "year=2026"
    d.mkdir()
    copy(f"SELECT DATE '2026-01-01' + i AS day, i AS n FROM {RANGE}(5)) t", d / "x.parquet")
    cfg = write(
        tmp_path,
        "sources:\n  s: {path: 'year=2026/*.parquet', date: day}\n"
        "kpis:\n  n: {source: s, formula: SUM(n)}\n",
    )
    assert check(cfg, "s").columns == ["day", "n"]


# ---------------------------------------------------------------------------- Spark


def run_spark(spark, query: SourceSql) -> pl.DataFrame:
    """The SQL as Spark SQL over each Parquet PartRead as a temporary view."""
    for read in query.reads:
        assert read.format == "parquet"
        spark.read.parquet(*read.files).createOrReplaceTempView(read.view)
    frame = spark.sql(query.query.sql(dialect="spark"))
    names = [f.name for f in frame.schema.fields]
    # an instant (TimestampType) comes as the local time of this process: made UTC again
    instants = [f.typeName() == "timestamp" for f in (g.dataType for g in frame.schema.fields)]
    rows = [
        tuple(
            v.astimezone(UTC) if instant and v is not None else v
            for v, instant in zip(r, instants, strict=True)
        )
        for r in frame.collect()
    ]
    return pl.DataFrame(rows, schema=names, orient="row")


SPARK_CASES: list[Callable[[Path], None]] = [
    test_text_dates_with_date_format_and_detected,
    test_decimal_columns_stay_decimal_and_sum_exactly,
    test_text_cells_convert_as_csv_cells,
    test_percent_points_of_a_preset_are_scaled,
    test_preset_names_rename_derive_and_filter,
    test_files_with_other_column_orders_and_types,
]


@pytest.mark.slow
def test_spark_reads_alike(spark, sample: Path, tmp_path: Path) -> None:
    """The cases above, their SQL transpiled to Spark SQL: the Polars reader's rows."""
    CASES.clear()
    for i, case in enumerate(SPARK_CASES):
        (tmp_path / str(i)).mkdir()
        case(tmp_path / str(i))
    for i, zone in enumerate(("America/New_York", None)):
        (tmp_path / f"zone{i}").mkdir()
        test_timestamps_with_and_without_a_zone(tmp_path / f"zone{i}", zone)
    cases = [*CASES, *((sample, n) for n in ("ads", "leads", "email", "web"))]
    assert len(cases) > 10
    for config, name in cases:
        cfg = load_config(config)
        sf: SourceFrame = scan_source(cfg, name)
        got = run_spark(spark, source_sql(sf, cfg))
        want = sf.frame.collect()
        got = got.with_columns(
            pl.col(c).cast(want.schema[c]) for c in got.columns if got.schema[c] == pl.Null
        )
        assert_same_rows(got, want)
