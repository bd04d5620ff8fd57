"""Reports over the ads export alone, written by hand in Polars and DuckDB (issue 16).

    python bench/handwritten_ads.py polars-20 bench/data/5000000 [--out result.csv]
    python bench/handwritten_ads.py duckdb-distinct bench/data/40000000

Two reports, each computing what a ``kpi report`` over one of ``bench/generate.py``'s ads-only
configs computes (``--period 2026 --grain month --by channel --as-of 2026-11-30``, no
comparison: the months January to November 2026, per channel and in total):

- ``kpi_config_20.yaml``, 20 KPIs of one source (12 aggregates: SUMs, COUNT(*), SUMs with a
  filter, AVG, MAX; 8 ratios): ``polars-20`` (one lazy query, totals rolled up from the
  per-channel aggregates, float sums in floating point, integer sums as Int64, one
  ``collect``), ``polars-20-exact`` (the same with kpi's exact sums: each float sum a
  ``DECIMAL(38, 10)`` part plus the float remainder, integer sums as Int128) and
  ``duckdb-20`` (one SQL statement, ``GROUP BY GROUPING SETS``);
- ``kpi_config_distinct.yaml``, with ``COUNT(DISTINCT campaign)``: ``polars-distinct``
  (the per-channel and total queries, each ``collect(engine="streaming")``: Polars'
  streaming engine; ``collect_all`` of the two shares the scan through a cache that holds
  every row, 1.5 GB at 40 M rows) and ``duckdb-distinct``.

The result is a long CSV (``kpi, month, channel, is_total, value``) written to ``--out``
(default ``/dev/null``); ``bench/run.py`` compares it with kpi's JSONL.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

FIRST = date(2026, 1, 1)
HI = date(2026, 11, 30)  # --as-of
#: The report both configs are measured with (the ads exports have no leads).
REPORT = "--period 2026 --grain month --by channel --as-of 2026-11-30"

FLOAT_SUMS = {
    "spend": "spend",
    "revenue": "revenue",
    "brand_spend": "spend FILTER brand",
    "generic_spend": "spend FILTER generic",
}
INT_SUMS = ["impressions", "clicks", "conversions", "brand_clicks", "retargeting_conversions"]
#: (name, numerator, denominator) over the aggregates
RATIOS_20 = [
    ("ctr", "clicks", "impressions"),
    ("cpc", "spend", "clicks"),
    ("cpm", "spend*1000", "impressions"),
    ("conversion_rate", "conversions", "clicks"),
    ("cpa", "spend", "conversions"),
    ("roas", "revenue", "spend"),
    ("roi", "revenue-spend", "spend"),
    ("brand_spend_share", "brand_spend", "spend"),
]
KPIS_20 = [
    "spend",
    "impressions",
    "clicks",
    "conversions",
    "revenue",
    "ad_rows",
    "brand_spend",
    "brand_clicks",
    "generic_spend",
    "retargeting_conversions",
    "avg_spend",
    "max_spend",
    *(r[0] for r in RATIOS_20),
]
KPIS_DISTINCT = ["spend", "clicks", "campaigns", "cpc", "spend_per_campaign"]

CONFIG_20 = """\
# 20 KPIs over the ads export alone (bench/generate.py): 12 aggregates, 8 ratios.
version: 1
settings: {currency: EUR, week_start: monday}
sources:
  ads: {path: ads.csv, date: date}
kpis:
  spend: {source: ads, formula: SUM(spend), unit: currency, better: lower}
  impressions: {source: ads, formula: SUM(impressions), unit: integer}
  clicks: {source: ads, formula: SUM(clicks), unit: integer}
  conversions: {source: ads, formula: SUM(conversions), unit: integer}
  revenue: {source: ads, formula: SUM(revenue), unit: currency}
  ad_rows: {source: ads, formula: COUNT(*), unit: integer}
  brand_spend: {source: ads, formula: SUM(spend), filter: "campaign LIKE 'brand%'", unit: currency}
  brand_clicks: {source: ads, formula: SUM(clicks), filter: "campaign LIKE 'brand%'"}
  generic_spend:
    source: ads
    formula: SUM(spend) FILTER (WHERE campaign LIKE 'generic%')
    unit: currency
  retargeting_conversions:
    source: ads
    formula: SUM(conversions) FILTER (WHERE campaign LIKE 'retargeting%')
  avg_spend: {source: ads, formula: AVG(spend), unit: currency}
  max_spend: {source: ads, formula: MAX(spend), unit: currency}
  ctr: {formula: clicks / impressions, unit: percent}
  cpc: {formula: spend / clicks, unit: currency, better: lower}
  cpm: {formula: spend * 1000 / impressions, unit: currency, better: lower}
  conversion_rate: {formula: conversions / clicks, unit: percent}
  cpa: {formula: spend / conversions, unit: currency, better: lower}
  roas: {formula: revenue / spend}
  roi: {formula: (revenue - spend) / spend, unit: percent}
  brand_spend_share: {formula: brand_spend / spend, unit: percent}
"""

CONFIG_DISTINCT = """\
# Distinct campaigns beside sums, over the ads export alone (bench/generate.py).
version: 1
settings: {currency: EUR, week_start: monday}
sources:
  ads: {path: ads.csv, date: date}
kpis:
  spend: {source: ads, formula: SUM(spend), unit: currency, better: lower}
  clicks: {source: ads, formula: SUM(clicks), unit: integer}
  campaigns: {source: ads, formula: COUNT(DISTINCT campaign), unit: integer}
  cpc: {formula: spend / clicks, unit: currency, better: lower}
  spend_per_campaign: {formula: spend / campaigns, unit: currency}
"""


def _write(out: str, frame) -> None:
    """``frame`` (month, channel, is_total, one column per KPI) as the long CSV."""
    import polars as pl

    kpis = [c for c in frame.columns if c not in ("month", "channel", "is_total")]
    long = frame.unpivot(index=["month", "channel", "is_total"], on=kpis, variable_name="kpi")
    long = long.select("kpi", "month", "channel", "is_total", pl.col("value").cast(pl.Float64))
    long.sort("kpi", "is_total", "month", "channel").write_csv(out)


def _ratio(num: str, den: str):
    import polars as pl

    q = pl.sql_expr(num).cast(pl.Float64) / pl.col(den)
    return pl.when(q.is_finite()).then(q)


# --- 20 KPIs ------------------------------------------------------------------------------


def run_polars_20(data: Path, out: str, exact: bool = False) -> None:
    import polars as pl

    campaign = pl.col("campaign")
    filters = {
        "brand": campaign.str.starts_with("brand"),
        "generic": campaign.str.starts_with("generic"),
        "retargeting": campaign.str.starts_with("retargeting"),
    }
    parts: dict[str, list[str]] = {}  # float sum -> its partial columns

    def fsum(name: str, x: pl.Expr) -> list[pl.Expr]:
        if exact:  # kpi's: DECIMAL(38, 10) part + float remainder
            coarse = pl.when(x.abs() < 1e18).then(x).cast(pl.Decimal(38, 10))
            rest = x - coarse.cast(pl.Float64).fill_null(0)
            p = {f"{name}__dec": coarse.sum(), f"{name}__rem": rest.sum()}
        else:
            p = {name: x.sum()}
        parts[name] = list(p)
        return [v.alias(k) for k, v in p.items()]

    def isum(x: pl.Expr) -> pl.Expr:
        return (x.cast(pl.Int128) if exact else x).sum()

    spend = pl.col("spend")
    rows = (
        pl.scan_csv(data / "ads.csv", schema_overrides={"date": pl.Date})
        .filter(pl.col("date").is_between(FIRST, HI))
        .group_by(pl.col("date").dt.truncate("1mo").alias("month"), "channel")
        .agg(
            *fsum("spend", spend),
            *fsum("revenue", pl.col("revenue")),
            *fsum("brand_spend", pl.when(filters["brand"]).then(spend)),
            *fsum("generic_spend", pl.when(filters["generic"]).then(spend)),
            impressions=isum(pl.col("impressions")),
            clicks=isum(pl.col("clicks")),
            conversions=isum(pl.col("conversions")),
            brand_clicks=isum(pl.when(filters["brand"]).then(pl.col("clicks"))),
            retargeting_conversions=isum(
                pl.when(filters["retargeting"]).then(pl.col("conversions"))
            ),
            ad_rows=pl.len(),
            spend_n=spend.count(),
            max_spend=spend.max(),
        )
        .cache()  # the rows and the totals rolled up from them
    )
    summed = [c for p in parts.values() for c in p] + [*INT_SUMS, "ad_rows", "spend_n"]
    totals = rows.group_by("month").agg(*(pl.col(c).sum() for c in summed), pl.max("max_spend"))
    both = pl.concat(
        [rows.with_columns(is_total=pl.lit(False)), totals.with_columns(is_total=pl.lit(True))],
        how="diagonal_relaxed",
    )
    if exact:
        both = both.with_columns(
            (pl.col(f"{n}__dec").cast(pl.Float64) + pl.col(f"{n}__rem")).alias(n) for n in parts
        )
    both = both.with_columns(
        (pl.col("spend") / pl.col("spend_n")).alias("avg_spend"),
        *(_ratio(n, d).alias(name) for name, n, d in RATIOS_20),
    )
    _write(out, both.select("month", "channel", "is_total", *KPIS_20).collect())


def run_polars_20_exact(data: Path, out: str) -> None:
    run_polars_20(data, out, exact=True)


def duckdb_20_sql(data: Path) -> str:
    ratios = ",\n  ".join(f"({n}) / NULLIF({d}, 0) AS {name}" for name, n, d in RATIOS_20)
    ads = str(data / "ads.csv").replace("'", "''")
    return f"""
WITH a AS (
  SELECT CAST(date_trunc('month', "date") AS DATE) AS month, channel,
    GROUPING(channel) = 1 AS is_total,
    SUM(spend) AS spend, SUM(impressions) AS impressions, SUM(clicks) AS clicks,
    SUM(conversions) AS conversions, SUM(revenue) AS revenue, COUNT(*) AS ad_rows,
    SUM(spend) FILTER (WHERE campaign LIKE 'brand%') AS brand_spend,
    SUM(clicks) FILTER (WHERE campaign LIKE 'brand%') AS brand_clicks,
    SUM(spend) FILTER (WHERE campaign LIKE 'generic%') AS generic_spend,
    SUM(conversions) FILTER (WHERE campaign LIKE 'retargeting%') AS retargeting_conversions,
    AVG(spend) AS avg_spend, MAX(spend) AS max_spend
  FROM read_csv('{ads}')
  WHERE "date" BETWEEN DATE '{FIRST}' AND DATE '{HI}'
  GROUP BY GROUPING SETS ((month, channel), (month))
)
SELECT month, channel, is_total, {", ".join(KPIS_20[:12])},
  {ratios}
FROM a
"""


def _duckdb(sql: str, out: str) -> None:
    import duckdb
    import polars as pl

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    frame = pl.DataFrame(cursor.fetchall(), schema=names, orient="row", infer_schema_length=None)
    _write(out, frame)


def run_duckdb_20(data: Path, out: str) -> None:
    _duckdb(duckdb_20_sql(data), out)


# --- COUNT(DISTINCT campaign) --------------------------------------------------------------


def run_polars_distinct(data: Path, out: str) -> None:
    import polars as pl

    lf = (
        pl.scan_csv(data / "ads.csv", schema_overrides={"date": pl.Date})
        .filter(pl.col("date").is_between(FIRST, HI))
        .with_columns(pl.col("date").dt.truncate("1mo").alias("month"))
    )
    aggs = [
        pl.col("spend").sum(),
        pl.col("clicks").sum(),
        pl.col("campaign").drop_nulls().n_unique().alias("campaigns"),
    ]
    rows = lf.group_by("month", "channel").agg(aggs).collect(engine="streaming")
    totals = lf.group_by("month").agg(aggs).collect(engine="streaming")
    both = pl.concat(
        [rows.with_columns(is_total=pl.lit(False)), totals.with_columns(is_total=pl.lit(True))],
        how="diagonal_relaxed",
    ).with_columns(
        _ratio("spend", "clicks").alias("cpc"),
        _ratio("spend", "campaigns").alias("spend_per_campaign"),
    )
    _write(out, both.select("month", "channel", "is_total", *KPIS_DISTINCT))


def run_duckdb_distinct(data: Path, out: str) -> None:
    ads = str(data / "ads.csv").replace("'", "''")
    sql = f"""
WITH a AS (
  SELECT CAST(date_trunc('month', "date") AS DATE) AS month, channel,
    GROUPING(channel) = 1 AS is_total,
    SUM(spend) AS spend, SUM(clicks) AS clicks, COUNT(DISTINCT campaign) AS campaigns
  FROM read_csv('{ads}')
  WHERE "date" BETWEEN DATE '{FIRST}' AND DATE '{HI}'
  GROUP BY GROUPING SETS ((month, channel), (month))
)
SELECT month, channel, is_total, spend, clicks, campaigns,
  spend / NULLIF(clicks, 0) AS cpc, spend / NULLIF(campaigns, 0) AS spend_per_campaign
FROM a
"""
    _duckdb(sql, out)


RUNNERS = {
    "polars-20": run_polars_20,
    "polars-20-exact": run_polars_20_exact,
    "duckdb-20": run_duckdb_20,
    "polars-distinct": run_polars_distinct,
    "duckdb-distinct": run_duckdb_distinct,
}


def write_configs(folder: Path) -> None:
    """The two configs beside an ads export (``bench/generate.py`` calls this)."""
    (folder / "kpi_config_20.yaml").write_text(CONFIG_20)
    (folder / "kpi_config_distinct.yaml").write_text(CONFIG_DISTINCT)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("engine", choices=sorted(RUNNERS))
    ap.add_argument("data", type=Path, help="a folder written by bench/generate.py")
    ap.add_argument("--out", default="/dev/null", help="where to write the result (CSV)")
    args = ap.parse_args(argv)
    RUNNERS[args.engine](args.data, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
