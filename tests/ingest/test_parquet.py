"""Parquet sources in the Polars engine (`path: data/*.parquet`), with CSV's column mapping.

Every expected value is computed by DuckDB over the same Parquet files (SQL written here
from the KPIs' meaning), never kpi's output pasted back. The sample's CSV exports are
written to Parquet by DuckDB's own ``COPY … TO`` (so the files are not Polars' own
writing either), and the shipped config pointed at them.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from kpicli.cli import app

ROOT = Path(__file__).resolve().parents[2]
#: DuckDB's ``range`` as INTEGER (a DATE plus a BIGINT is refused): ``FROM {RANGE}(10)) t``
RANGE = "(SELECT CAST(range AS INTEGER) AS i FROM range"
AS_OF = "2026-12-31"
runner = CliRunner()


def kpi(*args: str):
    return runner.invoke(app, list(args))


def sql(query: str) -> list[tuple]:
    con = duckdb.connect()  # a connection of its own: no result left open on the default one
    try:
        return con.sql(query).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped config and sample data, the CSV files written to Parquet by DuckDB."""
    folder = tmp_path_factory.mktemp("parquet-sample")
    (folder / "sample_data").mkdir()
    for csv in sorted((ROOT / "sample_data").glob("*.csv")):
        out = folder / "sample_data" / f"{csv.stem}.parquet"
        sql(f"COPY (SELECT * FROM read_csv('{csv}')) TO '{out}' (FORMAT parquet)")
    text = (ROOT / "kpi_config.yaml").read_text(encoding="utf-8")
    (folder / "kpi_config.yaml").write_text(text.replace(".csv", ".parquet"), encoding="utf-8")
    return folder


def write(folder: Path, body: str) -> Path:
    p = folder / "kpi_config.yaml"
    p.write_text("version: 1\n" + body, encoding="utf-8")
    return p


def report(cfg: Path, *args: str) -> dict:
    r = kpi("report", "-c", str(cfg), "-f", "json", "--as-of", AS_OF, *args)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


# ---------------------------------------------------------------------------- the sample


#: KPI → (Parquet file glob, date column, aggregate, value of an aggregate over no rows)
ORACLE = {
    "impressions": ("ads_*", "date", "SUM(impressions)", None),
    "clicks": ("ads_*", "date", "SUM(clicks)", None),
    "spend": ("ads_*", "date", "SUM(CAST(spend AS DECIMAL(18, 2)))", None),
    "revenue": ("ads_*", "date", "SUM(CAST(revenue AS DECIMAL(18, 2)))", None),
    "ctr": ("ads_*", "date", "SUM(clicks) / NULLIF(SUM(impressions), 0)", None),
    "leads": ("crm_leads", "created_at", "COUNT(*)", 0),
    "mqls": ("crm_leads", "mql_at", "COUNT(*) FILTER (WHERE mql_at IS NOT NULL)", 0),
    "sessions": ("web_analytics", "date", "SUM(sessions)", None),
    "open_rate": ("email_campaigns", "date", "SUM(opens) / NULLIF(SUM(delivered), 0)", None),
}


def test_report_over_parquet_matches_duckdb(sample: Path) -> None:
    """`kpi report -p all --by channel --grain month` over the Parquet copy of the sample:
    each KPI's value per month and channel equals DuckDB's over the Parquet files."""
    out = report(sample / "kpi_config.yaml", "-p", "all", "--by", "channel", "--grain", "month")
    rows: dict[str, dict[tuple[str, str], float | None]] = {}
    for row in out["rows"]:
        rows.setdefault(row["kpi"], {})[(row["period_start"], row["channel"])] = row["value"]
    for name, (files, day, agg, empty) in ORACLE.items():
        expected = {
            (str(m), ch): (float(v) if v is not None else None)
            for m, ch, v in sql(
                f"SELECT date_trunc('month', {day})::DATE, channel::VARCHAR, {agg} "
                f"FROM '{sample}/sample_data/{files}.parquet' "
                f"WHERE {day} <= DATE '{AS_OF}' GROUP BY 1, 2"
            )
        }
        got = rows[name]
        assert set(expected) <= set(got), name
        assert len([v for k, v in expected.items() if v not in (None, 0)]) > 20, name
        for key, value in got.items():
            assert close(value, expected.get(key, empty)), (name, key, value, expected.get(key))


def test_sources_describes_a_parquet_source(sample: Path) -> None:
    """Rows, date range, columns and types of a Parquet source, each file's rows: as DuckDB
    reads the files; no CSV dialect is claimed for them."""
    r = kpi("sources", "ads", "-c", str(sample / "kpi_config.yaml"), "-f", "json")
    assert r.exit_code == 0, r.stderr
    (src,) = json.loads(r.stdout)["sources"]
    files = f"{sample}/sample_data/ads_*.parquet"
    ((n, first, last),) = sql(f"SELECT COUNT(*), MIN(date), MAX(date) FROM '{files}'")
    assert src["rows"] == n
    assert (src["date"]["first"], src["date"]["last"]) == (str(first), str(last))
    assert "DATE" in src["date"]["format"]
    per_file = dict(
        sql(f"SELECT filename, COUNT(*) FROM read_parquet('{files}', filename=true) GROUP BY 1")
    )
    assert {f["path"]: f["rows_read"] for f in src["files"]} == per_file
    for f in src["files"]:
        assert f["encoding"] is None and f["delimiter"] is None and f["header_line"] is None
        assert any("Parquet" in fact for fact in f["inside"])
    types = {c["name"]: c["type"] for c in src["columns"]}
    duck = dict(sql(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '{files}')"))
    polars_of = {"BIGINT": "Int64", "DOUBLE": "Float64", "VARCHAR": "String", "DATE": "Date"}
    assert types == {c: polars_of[t] for c, t in duck.items()}


def test_validate_and_explain_read_parquet(sample: Path) -> None:
    cfg = str(sample / "kpi_config.yaml")
    r = kpi("validate", "-c", cfg, "-f", "json")
    assert r.exit_code == 0, r.stdout
    rows = {s["name"]: s["rows"] for s in json.loads(r.stdout)["sources"]}
    ((n,),) = sql(f"SELECT COUNT(*) FROM '{sample}/sample_data/crm_leads.parquet'")
    assert rows["leads"] == n
    r = kpi("explain", "cpl", "-c", cfg, "-p", "all", "-f", "json", "--as-of", AS_OF)
    assert r.exit_code == 0, r.stderr
    files = {f for s in json.loads(r.stdout)["scans"] for f in s["files"]}
    assert {Path(f).name for f in files} == {
        "ads_google_ads.parquet",
        "ads_linkedin_ads.parquet",
        "ads_meta_ads.parquet",
        "crm_leads.parquet",
    }


# ---------------------------------------------------------------------------- date columns


def test_timestamp_columns_count_on_their_date(tmp_path: Path) -> None:
    """A TIMESTAMP without a zone counts on the date it shows; one with a zone (an instant)
    on its date in settings.timezone: around midnight the two differ."""
    data = tmp_path / "events.parquet"
    sql(
        "COPY (SELECT TIMESTAMP '2026-03-01 00:00:00' + i * INTERVAL 37 MINUTE AS local_ts, "
        "CAST(TIMESTAMP '2026-03-01 00:00:00' + i * INTERVAL 37 MINUTE AS TIMESTAMPTZ) AS ts, "
        f"i % 3 AS n FROM {RANGE}(500)) t) TO '{data}' (FORMAT parquet)"
    )
    assert str(pl.read_parquet_schema(data)["ts"]) == "Datetime(time_unit='us', time_zone='UTC')"
    cfg = write(
        tmp_path,
        "settings: {timezone: America/New_York}\n"
        "sources:\n"
        "  naive: {path: events.parquet, date: local_ts}\n"
        "  zoned: {path: events.parquet, date: ts}\n"
        "kpis:\n"
        "  naive_n: {source: naive, formula: SUM(n)}\n"
        "  zoned_n: {source: zoned, formula: SUM(n)}\n",
    )
    out = report(cfg, "-p", "all", "--grain", "day")
    got: dict[str, dict[str, float | None]] = {}
    for row in out["rows"]:
        got.setdefault(row["kpi"], {})[row["period_start"]] = row["value"]
    con = duckdb.connect()
    con.sql("SET TimeZone = 'UTC'")
    for name, day in (
        ("naive_n", "CAST(local_ts AS DATE)"),
        ("zoned_n", "CAST(timezone('America/New_York', ts) AS DATE)"),
    ):
        expected = dict(
            con.sql(f"SELECT {day}::VARCHAR, SUM(n) FROM '{data}' GROUP BY 1").fetchall()
        )
        assert {d: v for d, v in got[name].items() if v is not None} == expected
    con.close()
    assert got["naive_n"] != got["zoned_n"]  # the zone moved rows to the day before
    r = kpi("sources", "zoned", "-c", str(cfg), "-f", "json")
    (src,) = json.loads(r.stdout)["sources"]
    assert "America/New_York" in src["date"]["format"]


def test_text_dates_with_date_format_and_detected(tmp_path: Path) -> None:
    data = tmp_path / "days.parquet"
    sql(
        "COPY (SELECT strftime(DATE '2026-01-01' + i, '%d/%m/%Y') AS day, "
        "strftime(DATE '2026-01-01' + i, '%Y-%m-%d') AS iso, i AS n "
        f"FROM {RANGE}(60)) t) TO '{data}' (FORMAT parquet)"
    )
    cfg = write(
        tmp_path,
        "sources:\n"
        "  given: {path: days.parquet, date: day, date_format: '%d/%m/%Y'}\n"
        "  found: {path: days.parquet, date: iso}\n"
        "kpis:\n"
        "  given_n: {source: given, formula: SUM(n)}\n"
        "  found_n: {source: found, formula: SUM(n)}\n",
    )
    out = report(cfg, "-p", "all", "--grain", "month")
    expected = dict(
        sql(
            "SELECT strftime(date_trunc('month', strptime(day, '%d/%m/%Y')), '%Y-%m-%d'), "
            f"SUM(n) FROM '{data}' GROUP BY 1"
        )
    )
    for name in ("given_n", "found_n"):
        got = {r["period_start"]: r["value"] for r in out["rows"] if r["kpi"] == name}
        assert got == expected


# ---------------------------------------------------------------------------- types


def test_decimal_money_sums_exactly(tmp_path: Path) -> None:
    """A DECIMAL column sums exactly: 0.10 ten thousand times is 1000.00, where a float sum
    of the same values (in file order) is not."""
    data = tmp_path / "money.parquet"
    sql(
        "COPY (SELECT DATE '2026-01-01' + (i % 28) AS day, CAST(0.10 AS DECIMAL(12, 2)) AS cost, "
        f"CAST((i % 997) / 100 AS DECIMAL(12, 2)) AS fee FROM {RANGE}(10000)) t) TO '{data}' "
        "(FORMAT parquet)"
    )
    assert pl.read_parquet_schema(data)["cost"] == pl.Decimal(12, 2)
    cfg = write(
        tmp_path,
        "sources:\n  m: {path: money.parquet, date: day}\n"
        "kpis:\n  cost: {source: m, formula: SUM(cost)}\n  fee: {source: m, formula: SUM(fee)}\n",
    )
    values = {r["kpi"]: r["value"] for r in report(cfg, "-p", "all")["rows"]}
    ((cost, fee),) = sql(f"SELECT SUM(cost), SUM(fee) FROM '{data}'")
    assert values == {"cost": float(cost), "fee": float(fee)}
    assert values["cost"] == 1000.0 and sum([0.1] * 10000) != 1000.0


def test_decimal_amounts_beyond_a_float_sum_exactly(tmp_path: Path) -> None:
    """Amounts with more digits than a float holds (12,345,678,901,234.57): summed as
    DECIMAL, the total is the float nearest the exact sum; read as floats first, each value
    would be off by up to 1e-3 and the total by more than its last bit."""
    data = tmp_path / "big.parquet"
    sql(
        "COPY (SELECT DATE '2026-01-01' AS day, "
        "CAST(1234567890123457 + i * 7 % 100 AS DECIMAL(36, 0)) * CAST(0.01 AS DECIMAL(2, 2)) "
        f"AS amount FROM {RANGE}(3000)) t) TO '{data}' (FORMAT parquet)"
    )
    assert pl.read_parquet_schema(data)["amount"] == pl.Decimal(38, 2)
    cfg = write(
        tmp_path,
        "sources:\n  b: {path: big.parquet, date: day}\n"
        "kpis:\n  amount: {source: b, formula: SUM(amount)}\n",
    )
    ((exact,),) = sql(f"SELECT SUM(amount) FROM '{data}'")
    floats = sum(sorted(float(v) for (v,) in sql(f"SELECT amount FROM '{data}'")))
    assert float(exact) != floats  # the test can tell the two apart
    values = {r["kpi"]: r["value"] for r in report(cfg, "-p", "all")["rows"]}
    assert values == {"amount": float(exact)}
    r = kpi("sources", "-c", str(cfg), "-f", "json")
    types = {c["name"]: c["type"] for c in json.loads(r.stdout)["sources"][0]["columns"]}
    assert types["amount"].startswith("Decimal")


def test_text_columns_convert_as_csv_cells(tmp_path: Path) -> None:
    """Numbers stored as text are read as CSV cells are: separators, currency, percents and
    missing markers; a preset-less integer column stored as text sums as integers."""
    data = tmp_path / "text.parquet"
    frame = pl.DataFrame(
        {
            "day": [f"2026-01-0{i % 9 + 1}" for i in range(12)],
            "amount": ["$1,234.50", "12.25", "n/a", "€1,000.00", "0.75", "--"] * 2,
            "rate": ["3.5%", "10%", "0.5%", "", "1%", "2.25%"] * 2,
            "units": [str(i) for i in range(12)],
        }
    )
    frame.write_parquet(data)
    cfg = write(
        tmp_path,
        "sources:\n  t: {path: text.parquet, date: day}\n"
        "kpis:\n"
        "  spent: {source: t, formula: SUM(amount)}\n"
        "  rate: {source: t, formula: AVG(rate)}\n"
        "  units: {source: t, formula: SUM(units)}\n",
    )
    values = {r["kpi"]: r["value"] for r in report(cfg, "-p", "all")["rows"]}
    # the same cells, cleaned by DuckDB with SQL of this test's own
    ((spent, rate, units),) = sql(
        "SELECT SUM(TRY_CAST(regexp_replace(amount, '[^0-9.]', '', 'g') AS DOUBLE)), "
        "AVG(TRY_CAST(replace(rate, '%', '') AS DOUBLE) / 100), SUM(CAST(units AS BIGINT)) "
        f"FROM '{data}'"
    )
    assert close(values["spent"], spent) and close(values["rate"], rate)
    assert values["units"] == units


def test_a_text_cell_that_does_not_convert_names_file_row_and_column(tmp_path: Path) -> None:
    data = tmp_path / "bad.parquet"
    clicks = [str(i) for i in range(3000)]
    clicks[2345] = "12x"
    pl.DataFrame({"day": ["2026-01-01"] * 3000, "clicks": clicks}).write_parquet(
        data, row_group_size=500
    )
    cfg = write(
        tmp_path,
        "sources:\n  b: {path: bad.parquet, date: day}\n"
        "kpis:\n  c: {source: b, formula: SUM(clicks)}\n",
    )
    r = kpi("report", "-c", str(cfg), "-p", "all", "--as-of", AS_OF)
    assert r.exit_code == 3
    assert "bad.parquet" in r.stderr and "row 2346" in r.stderr and "`12x`" in r.stderr
    assert "clicks" in r.stderr and "Traceback" not in r.stderr


# ---------------------------------------------------------------------------- mapping


def test_preset_names_rename_derive_and_filter(tmp_path: Path) -> None:
    """Headers named as a CSV's (the preset's canonical names), then rename, derive, filter."""
    data = tmp_path / "gads.parquet"
    sql(
        "COPY (SELECT DATE '2026-02-01' + (i % 20) AS \"Day\", "
        "['brand', 'generic', 'shopping'][i % 3 + 1] AS \"Campaign\", "
        '(i * 7) % 101 AS "Clicks", (i * 13) % 997 + 100 AS "Impr.", '
        'CAST(((i * 31) % 5000) / 100.0 AS DOUBLE) AS "Cost" '
        f"FROM {RANGE}(400)) t) TO '{data}' (FORMAT parquet)"
    )
    cfg = write(
        tmp_path,
        "sources:\n"
        "  g:\n"
        "    path: gads.parquet\n"
        "    preset: google_ads\n"
        "    date: date\n"
        "    rename: {campaign: campaign_name}\n"
        '    derive: {cpc: "spend / NULLIF(clicks, 0)", brand: "campaign_name = \'brand\'"}\n'
        '    filter: "clicks > 10"\n'
        "kpis:\n"
        "  spend: {source: g, formula: SUM(spend)}\n"
        "  imps: {source: g, formula: SUM(impressions)}\n"
        "  brand_clicks: {source: g, formula: SUM(clicks) FILTER (WHERE brand)}\n"
        "  max_cpc: {source: g, formula: MAX(cpc)}\n",
    )
    out = report(cfg, "-p", "all", "--by", "campaign_name")
    got = {(r["kpi"], r["campaign_name"]): r["value"] for r in out["rows"]}
    for campaign, spend, imps, brand, cpc in sql(
        'SELECT "Campaign", SUM(CAST("Cost" AS DECIMAL(18, 2))), SUM("Impr."), '
        'SUM("Clicks") FILTER (WHERE "Campaign" = \'brand\'), '
        'MAX("Cost" / NULLIF("Clicks", 0)) '
        f"FROM '{data}' WHERE \"Clicks\" > 10 GROUP BY 1"
    ):
        assert close(got[("spend", campaign)], float(spend))
        assert got[("imps", campaign)] == imps
        assert got[("brand_clicks", campaign)] == brand
        assert close(got[("max_cpc", campaign)], cpc)


# ---------------------------------------------------------------------------- errors


def _days(path: Path, columns: str = "1 AS clicks") -> None:
    sql(f"COPY (SELECT DATE '2026-01-01' AS day, {columns}) TO '{path}' (FORMAT parquet)")


def test_a_missing_column_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    _days(tmp_path / "d" / "a.parquet")
    _days(tmp_path / "d" / "b.parquet", "2 AS klicks")
    cfg = write(
        tmp_path,
        "sources:\n  s: {path: d/*.parquet, date: day}\n"
        "  one: {path: d/a.parquet, date: day}\n"
        "kpis:\n  c: {source: s, formula: SUM(clicks)}\n  x: {source: one, formula: SUM(nope)}\n",
    )
    r = kpi("report", "-c", str(cfg), "-p", "all", "--kpi", "c", "--as-of", AS_OF)
    assert r.exit_code == 3, r.stderr
    assert "b.parquet" in r.stderr and "`clicks`" in r.stderr and "klicks" in r.stderr
    r = kpi("report", "-c", str(cfg), "-p", "all", "--kpi", "x", "--as-of", AS_OF)
    assert r.exit_code == 3, r.stderr
    assert "`nope`" in r.stderr and "clicks" in r.stderr  # the columns there are


def test_a_file_that_is_not_parquet_is_a_data_error(tmp_path: Path) -> None:
    good = tmp_path / "good.parquet"
    _days(good)
    (tmp_path / "text.parquet").write_text("day,clicks\n2026-01-01,1\n")
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[:-10])  # a download cut short: no footer
    for name in ("text.parquet", "cut.parquet"):
        cfg = write(
            tmp_path,
            f"sources:\n  s: {{path: {name}, date: day}}\n"
            "kpis:\n  c: {source: s, formula: SUM(clicks)}\n",
        )
        r = kpi("report", "-c", str(cfg), "-p", "all", "--as-of", AS_OF)
        assert r.exit_code == 3, r.stderr
        assert name in r.stderr and "not a readable Parquet file" in r.stderr
        assert "Traceback" not in r.stderr
        r = kpi("sources", "-c", str(cfg), "-f", "json")
        assert r.exit_code == 3
        (problem,) = json.loads(r.stdout)["sources"][0]["problems"]
        assert name in problem["message"]


def test_parquet_and_csv_files_in_one_source_are_a_config_error(tmp_path: Path) -> None:
    _days(tmp_path / "a.parquet")
    (tmp_path / "b.csv").write_text("day,clicks\n2026-01-01,1\n")
    cfg = write(
        tmp_path,
        "sources:\n  s: {path: '[ab].*', date: day}\n"
        "kpis:\n  c: {source: s, formula: SUM(clicks)}\n",
    )
    r = kpi("report", "-c", str(cfg), "-p", "all", "--as-of", AS_OF)
    assert r.exit_code == 2, r.stderr
    assert "a.parquet" in r.stderr and "b.csv" in r.stderr and "sources.s.path" in r.stderr


# ---------------------------------------------------------------------------- the cache


def test_the_cache_sees_a_changed_parquet_file(tmp_path: Path) -> None:
    data = tmp_path / "c.parquet"
    cfg = write(
        tmp_path,
        "sources:\n  s: {path: c.parquet, date: day}\n"
        "kpis:\n  c: {source: s, formula: SUM(clicks)}\n",
    )
    cache = str(tmp_path / "cache")
    for clicks in (3, 7):
        sql(
            f"COPY (SELECT DATE '2026-01-01' + (i % 5) AS day, {clicks} * i AS clicks "
            f"FROM {RANGE}(100)) t) TO '{data}' (FORMAT parquet)"
        )
        ((expected,),) = sql(f"SELECT SUM(clicks) FROM '{data}'")
        for _ in range(2):  # filled, then served
            values = report(cfg, "-p", "all", "--cache", cache)["rows"]
            assert [r["value"] for r in values] == [expected]
        assert any(n.startswith("kpi-source-s-") for n in os.listdir(cache))


def test_a_text_column_without_a_value_sums_to_null(tmp_path: Path) -> None:
    """A text column that holds no value in a file sampled whole (as a CSV column without a
    value): its SUM is SQL's over no value, not an error."""
    data = tmp_path / "n.parquet"
    sql(
        "COPY (SELECT '2026-01-01' AS day, CAST(NULL AS VARCHAR) AS clicks, 'x' AS ch) "
        f"TO '{data}' (FORMAT parquet)"
    )
    cfg = write(
        tmp_path,
        "sources:\n  s: {path: n.parquet, date: day}\n"
        "kpis:\n  c: {source: s, formula: SUM(clicks)}\n  n: {source: s, formula: COUNT(*)}\n",
    )
    values = {r["kpi"]: r["value"] for r in report(cfg, "-p", "all")["rows"]}
    ((total, n),) = sql(f"SELECT SUM(CAST(clicks AS DOUBLE)), COUNT(*) FROM '{data}'")
    assert values == {"c": total, "n": n}


def test_files_with_other_column_orders_and_types_are_read_as_one_table(tmp_path: Path) -> None:
    """Files whose columns come in another order, as INTEGER or BIGINT, or as text: each
    its own part, one table; sums equal DuckDB's over the files unioned by name."""
    (tmp_path / "d").mkdir()
    sql(
        "COPY (SELECT DATE '2026-01-01' + (i % 9) AS day, CAST(i AS INTEGER) AS clicks, "
        f"'a' AS ch FROM {RANGE}(50)) t) TO '{tmp_path}/d/1.parquet' (FORMAT parquet)"
    )
    sql(
        "COPY (SELECT 'b' AS ch, CAST(i * 3 AS BIGINT) AS clicks, DATE '2026-01-03' + (i % 4) "
        f"AS day FROM {RANGE}(40)) t) TO '{tmp_path}/d/2.parquet' (FORMAT parquet)"
    )
    sql(
        "COPY (SELECT strftime(DATE '2026-01-02' + (i % 5), '%Y-%m-%d') AS day, "
        f"CAST(i * 5 AS VARCHAR) AS clicks, 'c' AS ch FROM {RANGE}(30)) t) "
        f"TO '{tmp_path}/d/3.parquet' (FORMAT parquet)"
    )
    cfg = write(
        tmp_path,
        "sources:\n  s: {path: d/*.parquet, date: day}\n"
        "kpis:\n  c: {source: s, formula: SUM(clicks)}\n",
    )
    out = report(cfg, "-p", "all", "--by", "ch", "--grain", "day")
    got = {(r["period_start"], r["ch"]): r["value"] for r in out["rows"] if r["value"] is not None}
    expected = {
        (str(d), ch): v
        for d, ch, v in sql(
            "SELECT CAST(day AS DATE), ch, SUM(CAST(clicks AS BIGINT)) "
            f"FROM read_parquet('{tmp_path}/d/*.parquet', union_by_name=true) GROUP BY 1, 2"
        )
    }
    assert got == expected
