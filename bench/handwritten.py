"""The benchmark report written by hand: one Polars lazy query, DuckDB SQL, and pandas.

    python bench/handwritten.py polars bench/data/1000000 [--out result.csv]
    python bench/handwritten.py polars-exact bench/data/1000000   # kpi's exact sums

Each computes what ``kpi report -c kpi_config.yaml --period 2026 --grain month --compare
previous --by channel --as-of 2026-11-30`` computes over ``ads.csv`` and ``leads.csv`` (see
``bench/generate.py``): the 30 KPIs of every month from January to November 2026, per channel
and in total, each with its value in the previous month. It is written the way a data
engineer would write this one report: one pass over each file, months by truncating the date,
the previous month by joining the aggregates on the month shifted by one (so each row is
aggregated once), totals rolled up from the per-channel aggregates (every aggregate here is a
sum, count or max), ratios null when not finite, a sum over no values null (as SQL's SUM)
and a count over no rows 0 (a channel of the other file: kpi counts it so), float sums in
floating point. ``polars-exact`` is the same Polars query with the sums kpi
computes: each float sum as a ``DECIMAL(38, 10)`` part plus a float remainder (exact, so the
same in any order of addition), integer sums as Int128 (Int64 sums wrap around silently).

The result is a small CSV (``month, channel, is_total``, then each KPI and ``<kpi>_prev``),
written to ``--out`` (default ``/dev/null``); ``bench/run.py`` compares it with kpi's JSON.
Each engine is imported only by its own function, so a run pays for the one it uses.
"""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import date
from pathlib import Path

LO = date(2025, 12, 1)  # the counterpart of January 2026
FIRST = date(2026, 1, 1)
HI = date(2026, 11, 30)  # --as-of

ADS_SUMS = ["spend", "impressions", "clicks", "conversions", "revenue", "brand_spend"]
ADS_SUMS += ["brand_clicks", "ad_rows"]
LEADS_SUMS = ["leads", "leads_with_mql", "leads_with_sql", "customers", "deal_amount"]
LEADS_SUMS += ["trial_leads"]
LEADS_MAX = ["max_deal"]
#: Counts: 0 for a channel-month without rows in their file (SQL's COUNT over no rows).
COUNTS = ["ad_rows", "leads", "leads_with_mql", "leads_with_sql", "customers", "trial_leads"]
# (name, numerator, denominator): every derived KPI of the config is a ratio
RATIOS = [
    ("ctr", "clicks", "impressions"),
    ("cpc", "spend", "clicks"),
    ("cpm", "spend*1000", "impressions"),
    ("conversion_rate", "conversions", "clicks"),
    ("cpa", "spend", "conversions"),
    ("roas", "revenue", "spend"),
    ("roi", "revenue-spend", "spend"),
    ("brand_spend_share", "brand_spend", "spend"),
    ("brand_click_share", "brand_clicks", "clicks"),
    ("cpl", "spend", "leads"),
    ("lead_to_mql_rate", "leads_with_mql", "leads"),
    ("mql_to_sql_rate", "leads_with_sql", "leads_with_mql"),
    ("sql_to_customer_rate", "customers", "leads_with_sql"),
    ("avg_deal_size", "deal_amount", "customers"),
    ("cost_per_customer", "spend", "customers"),
]
ADS_KPIS = ["spend", "impressions", "clicks", "conversions", "revenue", "ad_rows"]
ADS_KPIS += ["brand_spend", "brand_clicks"]
LEADS_KPIS = ["leads", "leads_with_mql", "leads_with_sql", "customers", "deal_amount"]
LEADS_KPIS += ["max_deal", "trial_leads"]
KPIS = ADS_KPIS + LEADS_KPIS + [r[0] for r in RATIOS]  # the config's order
COLUMNS = ["month", "channel", "is_total", *KPIS, *(f"{k}_prev" for k in KPIS)]


# --- Polars: one lazy query, one collect ----------------------------------------------------


def run_polars(data: Path, out: str, exact: bool = False) -> None:
    """``exact``: every sum as kpi computes it (``run_polars_exact``); else Polars' own."""
    import polars as pl

    def month(col: str) -> pl.Expr:
        return pl.col(col).dt.truncate("1mo").alias("month")

    # A float sum is one partial sum (a column), or two when exact: the totals add up each
    # over the channels, and the KPI is their sum, for the rows and the totals alike.
    partials: dict[str, list[str]] = {}  # float sum -> its partial columns
    nullable: set[str] = set()  # columns null over no values (SQL's SUM), totals too

    def fsum(name: str, x: pl.Expr, sql_null: bool = False) -> list[pl.Expr]:
        """A float sum: Polars' own, or (exact) kpi's: the value rounded to 10 decimals
        summed as DECIMAL(38, 10) (exact, so in any order) plus the float remainder.
        ``sql_null``: null when ``x`` has no value (Polars' sum is 0 there)."""
        if exact:
            coarse = pl.when(x.abs() < 1e18).then(x).cast(pl.Decimal(38, 10))
            rest = x - coarse.cast(pl.Float64).fill_null(0)
            parts = {f"{name}__dec": coarse.sum(), f"{name}__rem": rest.sum()}
        else:
            parts = {name: x.sum()}
        if sql_null:
            parts = {k: pl.when(x.count() > 0).then(v) for k, v in parts.items()}
            nullable.update(parts)
        partials[name] = list(parts)
        return [v.alias(k) for k, v in parts.items()]

    def isum(x: pl.Expr) -> pl.Expr:
        """An integer sum: Int64 (wraps around silently on overflow), or (exact) Int128."""
        return (x.cast(pl.Int128) if exact else x).sum()

    brand = pl.col("campaign").str.starts_with("brand")
    ads = (
        pl.scan_csv(data / "ads.csv", schema_overrides={"date": pl.Date})
        .filter(pl.col("date").is_between(LO, HI))
        .group_by(month("date"), "channel")
        .agg(
            *fsum("spend", pl.col("spend")),
            *fsum("revenue", pl.col("revenue")),
            *fsum("brand_spend", pl.when(brand).then(pl.col("spend"))),
            impressions=isum(pl.col("impressions")),
            clicks=isum(pl.col("clicks")),
            conversions=isum(pl.col("conversions")),
            ad_rows=pl.len(),
            brand_clicks=isum(pl.when(brand).then(pl.col("clicks"))),
        )
    )
    leads = (
        pl.scan_csv(data / "leads.csv", schema_overrides={"created_at": pl.Date})
        .filter(pl.col("created_at").is_between(LO, HI))
        .group_by(month("created_at"), "channel")
        .agg(
            # a channel-month without any deal (small exports): null, as kpi's SUM
            *fsum("deal_amount", pl.col("deal_amount"), sql_null=True),
            leads=pl.len(),
            leads_with_mql=pl.col("mql_at").count(),
            leads_with_sql=pl.col("sql_at").count(),
            customers=pl.col("customer_at").count(),
            max_deal=pl.col("deal_amount").max(),
            trial_leads=(pl.col("offer") == "free_trial").sum(),
        )
    )
    summed = [c for name in ADS_SUMS + LEADS_SUMS for c in partials.get(name, [name])]

    def rollup(c: str) -> pl.Expr:
        s = pl.col(c).sum()
        return pl.when(pl.col(c).count() > 0).then(s).alias(c) if c in nullable else s

    # used twice (rows, and totals rolled up from them): Polars' CSE does not find it alone
    base = ads.join(leads, on=["month", "channel"], how="full", coalesce=True)
    base = base.with_columns(pl.col(COUNTS).fill_null(0)).cache()
    totals = base.group_by("month").agg(*map(rollup, summed), pl.col(*LEADS_MAX).max())
    both = pl.concat(
        [base.with_columns(is_total=pl.lit(False)), totals.with_columns(is_total=pl.lit(True))],
        how="diagonal_relaxed",
    )
    if exact:  # each float sum of the rows and the totals: DECIMAL part + remainder
        both = both.with_columns(
            (pl.col(f"{n}__dec").cast(pl.Float64) + pl.col(f"{n}__rem")).alias(n) for n in partials
        ).drop(c for parts in partials.values() for c in parts)

    def ratio(num: str, den: str) -> pl.Expr:
        n = pl.sql_expr(num).cast(pl.Float64)  # "spend*1000", "revenue-spend"
        q = n / pl.col(den)
        return pl.when(q.is_finite()).then(q)

    both = both.with_columns(ratio(n, d).alias(name) for name, n, d in RATIOS)
    keys = ["month", "channel", "is_total"]
    prev = both.select(
        pl.col("month").dt.offset_by("1mo"),
        "channel",
        "is_total",
        pl.col(KPIS).name.suffix("_prev"),
    )
    result = (
        both.filter(pl.col("month") >= FIRST)
        .join(prev, on=keys, how="left", nulls_equal=True)
        .select(COLUMNS)
        .sort("is_total", "month", "channel")
        .collect()
    )
    result.write_csv(out)


def run_polars_exact(data: Path, out: str) -> None:
    """The same query with kpi's exact sums: each float sum (spend, revenue, brand_spend,
    deal_amount) as a DECIMAL(38, 10) part plus a float remainder, integer sums as Int128;
    totals add up the parts separately (so they stay exact), then add them."""
    run_polars(data, out, exact=True)


def run_polars_scan(data: Path, out: str) -> None:
    """Only the reading: the same columns parsed and date-filtered, one max per column."""
    import polars as pl

    ads = pl.scan_csv(data / "ads.csv", schema_overrides={"date": pl.Date})
    leads = pl.scan_csv(data / "leads.csv", schema_overrides={"created_at": pl.Date})
    leads = leads.select(pl.exclude("landing_page"))
    frames = [
        lf.filter(pl.col(col).is_between(LO, HI)).select(pl.all().max(), pl.len())
        for lf, col in ((ads, "date"), (leads, "created_at"))
    ]
    pl.collect_all(frames)


# --- DuckDB: one SQL statement ------------------------------------------------------------


def duckdb_sql(data: Path) -> str:
    ratios = ",\n  ".join(f"({n}) / NULLIF({d}, 0) AS {name}" for name, n, d in RATIOS)
    prevs = ", ".join(f"p.{k} AS {k}_prev" for k in KPIS)
    ads = str(data / "ads.csv").replace("'", "''")
    leads = str(data / "leads.csv").replace("'", "''")
    return f"""
WITH a AS (
  SELECT CAST(date_trunc('month', "date") AS DATE) AS month, channel,
    GROUPING(channel) = 1 AS is_total,
    SUM(spend) AS spend, SUM(impressions) AS impressions, SUM(clicks) AS clicks,
    SUM(conversions) AS conversions, SUM(revenue) AS revenue, COUNT(*) AS ad_rows,
    SUM(spend) FILTER (WHERE campaign LIKE 'brand%') AS brand_spend,
    SUM(clicks) FILTER (WHERE campaign LIKE 'brand%') AS brand_clicks
  FROM read_csv('{ads}')
  WHERE "date" BETWEEN DATE '{LO}' AND DATE '{HI}'
  GROUP BY GROUPING SETS ((month, channel), (month))
), l AS (
  SELECT CAST(date_trunc('month', created_at) AS DATE) AS month, channel,
    GROUPING(channel) = 1 AS is_total,
    COUNT(*) AS leads, COUNT(mql_at) AS leads_with_mql, COUNT(sql_at) AS leads_with_sql,
    COUNT(customer_at) AS customers, SUM(deal_amount) AS deal_amount,
    MAX(deal_amount) AS max_deal,
    COUNT(*) FILTER (WHERE offer = 'free_trial') AS trial_leads
  FROM read_csv('{leads}')
  WHERE created_at BETWEEN DATE '{LO}' AND DATE '{HI}'
  GROUP BY GROUPING SETS ((month, channel), (month))
), base AS (
  SELECT COALESCE(a.month, l.month) AS month, COALESCE(a.channel, l.channel) AS channel,
    COALESCE(a.is_total, l.is_total) AS is_total,
    a.* EXCLUDE (month, channel, is_total, ad_rows), COALESCE(a.ad_rows, 0) AS ad_rows,
    l.* EXCLUDE (month, channel, is_total, {", ".join(COUNTS[1:])}),
    {", ".join(f"COALESCE(l.{c}, 0) AS {c}" for c in COUNTS[1:])}
  FROM a FULL JOIN l
    ON a.month = l.month AND a.channel IS NOT DISTINCT FROM l.channel
    AND a.is_total = l.is_total
), k AS (
  SELECT *,
  {ratios}
  FROM base
)
SELECT c.month, c.channel, c.is_total, {", ".join(f"c.{k}" for k in KPIS)}, {prevs}
FROM k c LEFT JOIN k p
  ON p.month = CAST(c.month - INTERVAL 1 MONTH AS DATE)
  AND p.channel IS NOT DISTINCT FROM c.channel AND p.is_total = c.is_total
WHERE c.month >= DATE '{FIRST}'
ORDER BY c.is_total, c.month, c.channel
"""


def run_duckdb(data: Path, out: str) -> None:
    import duckdb

    con = duckdb.connect()
    rows = con.sql(duckdb_sql(data)).fetchall()
    _write_rows(out, rows)


# --- pandas ------------------------------------------------------------------------------


def run_pandas(data: Path, out: str) -> None:
    import numpy as np
    import pandas as pd

    def months(frame: pd.DataFrame, col: str) -> pd.DataFrame:
        d = pd.to_datetime(frame[col])
        frame = frame[(d >= pd.Timestamp(LO)) & (d <= pd.Timestamp(HI))]
        month = d[frame.index].to_numpy().astype("datetime64[M]")
        return frame.assign(month=month)

    ads = pd.read_csv(data / "ads.csv", engine="pyarrow")
    ads = months(ads, "date")
    brand = ads["campaign"].str.startswith("brand")
    ads = ads.assign(brand_spend=ads["spend"].where(brand), brand_clicks=ads["clicks"].where(brand))
    a = ads.groupby(["month", "channel"]).agg(
        spend=("spend", "sum"),
        impressions=("impressions", "sum"),
        clicks=("clicks", "sum"),
        conversions=("conversions", "sum"),
        revenue=("revenue", "sum"),
        ad_rows=("spend", "size"),
        brand_spend=("brand_spend", "sum"),
        brand_clicks=("brand_clicks", "sum"),
    )
    cols = ["created_at", "channel", "offer", "mql_at", "sql_at", "customer_at", "deal_amount"]
    leads = pd.read_csv(data / "leads.csv", engine="pyarrow", usecols=cols)
    leads = months(leads, "created_at")
    leads = leads.assign(trial=leads["offer"] == "free_trial")
    b = leads.groupby(["month", "channel"]).agg(
        leads=("channel", "size"),
        leads_with_mql=("mql_at", "count"),
        leads_with_sql=("sql_at", "count"),
        customers=("customer_at", "count"),
        deal_amount=("deal_amount", "sum"),
        max_deal=("deal_amount", "max"),
        trial_leads=("trial", "sum"),
    )
    # SQL's SUM over no values is null, pandas' 0: no deal at all (its MAX is NaN) -> NaN
    b["deal_amount"] = b["deal_amount"].where(b["max_deal"].notna())
    base = a.join(b, how="outer").astype("float64")
    base[COUNTS] = base[COUNTS].fillna(0)
    totals = base.groupby(level="month").agg(
        {**{c: lambda s: s.sum(min_count=1) for c in ADS_SUMS + LEADS_SUMS}, "max_deal": "max"}
    )
    base = base.reset_index().assign(is_total=False)
    totals = totals.reset_index().assign(channel=None, is_total=True)
    both = pd.concat([base, totals], ignore_index=True)
    spend, revenue = both["spend"], both["revenue"]
    extra = {"spend*1000": spend * 1000, "revenue-spend": revenue - spend}
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, n, d in RATIOS:
            q = (extra[n] if n in extra else both[n]) / both[d]
            both[name] = q.where(np.isfinite(q))
    prev = both[["month", "channel", "is_total", *KPIS]].copy()
    prev["month"] = prev["month"].to_numpy().astype("datetime64[M]") + np.timedelta64(1, "M")
    prev = prev.rename(columns={k: f"{k}_prev" for k in KPIS})
    keys = ["month", "channel", "is_total"]
    cur = both[both["month"] >= pd.Timestamp(FIRST)]
    result = cur.merge(prev, on=keys, how="left").sort_values(["is_total", "month", "channel"])
    result["month"] = result["month"].dt.strftime("%Y-%m-%d")
    result[COLUMNS].to_csv(out, index=False)


def _write_rows(out: str, rows: list[tuple]) -> None:
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for r in rows:
            w.writerow(["" if v is None else v for v in r])


RUNNERS = {
    "polars": run_polars,
    "polars-exact": run_polars_exact,
    "polars-scan": run_polars_scan,
    "duckdb": run_duckdb,
    "pandas": run_pandas,
}


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
