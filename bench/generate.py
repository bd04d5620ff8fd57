"""Generate large, deterministic marketing exports for the benchmarks.

    python bench/generate.py --rows 1000000            # -> bench/data/1000000/
    python bench/generate.py --rows 80000000 --no-leads

Writes to ``bench/data/<rows>/`` (git-ignored):

- ``ads.csv``: ``date,channel,campaign,impressions,clicks,spend,conversions,revenue``, one row per
  ad × day as an ad platform exports it, sorted by date from 2025-01-01 to 2026-11-30; 6 channels,
  50 campaigns (10 of them ``brand_…``), money with 2 decimals.
- ``leads.csv``: ``created_at,channel,offer,landing_page,mql_at,sql_at,customer_at,deal_amount``,
  one row per lead (``--rows`` / 5 of them unless ``--leads-rows``), sorted by ``created_at``;
  8 channels (the 6 paid ones, ``organic_search`` and ``direct``); stage dates are ISO dates or
  empty, never after 2026-11-30 (the day of the export).
- ``kpi_config.yaml`` (30 KPIs, all visible) and ``kpi_config_7.yaml`` (7 KPIs over the same
  columns) beside the data; with ``--no-leads``, ``kpi_config_ads.yaml`` (3 ads KPIs) instead;
  always ``kpi_config_20.yaml`` (20 ads KPIs) and ``kpi_config_distinct.yaml`` (with
  ``COUNT(DISTINCT campaign)``), over ``ads.csv`` alone (``handwritten_ads.py``).

Every value is a function of the row number (``pl.int_range`` hashed with a fixed seed per
column), so the files are identical on every run and machine for a given Polars version; rows
are produced in chunks, so memory stays small whatever ``--rows`` is. No Python loop touches
rows.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"

START = date(2025, 1, 1)
END = date(2026, 11, 30)  # the export day: --as-of of the benchmark reports
NDAYS = (END - START).days + 1

CHANNELS = ["google_ads", "meta_ads", "linkedin_ads", "microsoft_ads", "tiktok_ads", "x_ads"]
LEAD_CHANNELS = [*CHANNELS, "organic_search", "direct"]
KINDS = ["brand", "generic", "competitor", "retargeting", "prospecting"]
# campaign i runs on channel i % 6; every fifth campaign is a brand campaign
CAMPAIGNS = [f"{KINDS[i % 5]}_{CHANNELS[i % 6].removesuffix('_ads')}_{i:02d}" for i in range(50)]
CAMPAIGN_CHANNEL = [CHANNELS[i % 6] for i in range(50)]
OFFERS = ["free_trial", "demo_request", "pricing_guide", "webinar", "newsletter"]
PAGES = [
    "/",
    "/pricing",
    "/free-trial",
    "/demo",
    "/features",
    "/integrations",
    "/customers",
    "/blog/kpi-guide",
    "/blog/cpl-benchmarks",
    "/resources/pricing-guide",
    "/webinars/q3",
    "/newsletter",
]

CHUNK = 4_000_000


def _h(seed: int) -> pl.Expr:
    """A pseudo-random UInt64 per row, independent for each seed."""
    return pl.col("i").hash(seed)


def _pick(seed: int, values: list[str]) -> pl.Expr:
    idx = (_h(seed) % len(values)).cast(pl.Int64)
    return idx.replace_strict(list(range(len(values))), values, return_dtype=pl.String)


def _day(index: pl.Expr, n: int) -> pl.Expr:
    """Row number → a date, the rows spread evenly and in order over the whole range."""
    return pl.lit(START) + pl.duration(days=(index * NDAYS) // n)


def ads_chunk(start: int, stop: int, n: int) -> pl.DataFrame:
    i = pl.int_range(start, stop, dtype=pl.Int64).alias("i")
    camp = (_h(1) % len(CAMPAIGNS)).cast(pl.Int64)
    impressions = (_h(2) % 20_000 + 50).cast(pl.Int64)
    clicks = impressions * (_h(3) % 60 + 5).cast(pl.Int64) // 1000  # CTR 0.5 % to 6.5 %
    spend_cents = clicks * (_h(4) % 300 + 20).cast(pl.Int64) + (_h(5) % 100).cast(pl.Int64)
    conversions = clicks * (_h(6) % 80).cast(pl.Int64) // 1000
    revenue_cents = conversions * (_h(7) % 20_000 + 1_000).cast(pl.Int64)
    return (
        pl.select(i)
        .with_columns(
            _day(pl.col("i"), n).alias("date"),
            camp.replace_strict(list(range(50)), CAMPAIGN_CHANNEL, return_dtype=pl.String).alias(
                "channel"
            ),
            camp.replace_strict(list(range(50)), CAMPAIGNS, return_dtype=pl.String).alias(
                "campaign"
            ),
            impressions.alias("impressions"),
            clicks.alias("clicks"),
            (spend_cents / 100).alias("spend"),
            conversions.alias("conversions"),
            (revenue_cents / 100).alias("revenue"),
        )
        .drop("i")
    )


def leads_chunk(start: int, stop: int, n: int) -> pl.DataFrame:
    i = pl.int_range(start, stop, dtype=pl.Int64).alias("i")

    def days(seed: int, modulo: int) -> pl.Expr:
        return pl.duration(days=(_h(seed) % modulo).cast(pl.Int64))

    def upto_end(expr: pl.Expr) -> pl.Expr:  # nothing after the export day
        return pl.when(expr <= END).then(expr)

    created = _day(pl.col("i"), n)
    mql = pl.when(_h(13) % 100 < 40).then(created + days(14, 15))
    sql = pl.when(_h(15) % 100 < 35).then(pl.col("mql_at") + days(16, 20))
    customer = pl.when(_h(17) % 100 < 30).then(pl.col("sql_at") + days(18, 30))
    deal = (_h(19) % 900_000 + 50_000).cast(pl.Int64) / 100
    return (
        pl.select(i)
        .with_columns(
            created.alias("created_at"),
            _pick(10, LEAD_CHANNELS).alias("channel"),
            _pick(11, OFFERS).alias("offer"),
            _pick(12, PAGES).alias("landing_page"),
        )
        .with_columns(upto_end(mql).alias("mql_at"))
        .with_columns(upto_end(sql).alias("sql_at"))
        .with_columns(upto_end(customer).alias("customer_at"))
        .with_columns(pl.when(pl.col("customer_at").is_not_null()).then(deal).alias("deal_amount"))
        .drop("i")
    )


def write_csv(path: Path, n: int, chunk_fn) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "wb") as f:
        for start in range(0, n, CHUNK):
            frame = chunk_fn(start, min(n, start + CHUNK), n)
            frame.write_csv(f, include_header=start == 0, float_precision=2, date_format="%Y-%m-%d")
    tmp.replace(path)


# --- configurations -----------------------------------------------------------------------

CONFIG_30 = """\
# 30 KPIs over the generated exports (bench/generate.py); all leads KPIs count on created_at.
version: 1
settings: {currency: EUR, week_start: monday}
sources:
  ads: {path: ads.csv, date: date}
  leads: {path: leads.csv, date: created_at}
kpis:
  # ads: 8 aggregates
  spend: {source: ads, formula: SUM(spend), unit: currency, better: lower}
  impressions: {source: ads, formula: SUM(impressions), unit: integer}
  clicks: {source: ads, formula: SUM(clicks), unit: integer}
  conversions: {source: ads, formula: SUM(conversions), unit: integer}
  revenue: {source: ads, formula: SUM(revenue), unit: currency}
  ad_rows: {source: ads, formula: COUNT(*), unit: integer}
  brand_spend: {source: ads, formula: SUM(spend), filter: "campaign LIKE 'brand%'", unit: currency}
  brand_clicks: {source: ads, formula: SUM(clicks), filter: "campaign LIKE 'brand%'"}
  # leads: 7 aggregates
  leads: {source: leads, formula: COUNT(*), unit: integer}
  leads_with_mql: {source: leads, formula: COUNT(mql_at), unit: integer}
  leads_with_sql: {source: leads, formula: COUNT(sql_at), unit: integer}
  customers: {source: leads, formula: COUNT(customer_at), unit: integer}
  deal_amount: {source: leads, formula: SUM(deal_amount), unit: currency}
  max_deal: {source: leads, formula: MAX(deal_amount), unit: currency}
  trial_leads: {source: leads, formula: "COUNT(*) FILTER (WHERE offer = 'free_trial')"}
  # derived: 15 ratios, 2 of them across sources
  ctr: {formula: clicks / impressions, unit: percent}
  cpc: {formula: spend / clicks, unit: currency, better: lower}
  cpm: {formula: spend * 1000 / impressions, unit: currency, better: lower}
  conversion_rate: {formula: conversions / clicks, unit: percent}
  cpa: {formula: spend / conversions, unit: currency, better: lower}
  roas: {formula: revenue / spend}
  roi: {formula: (revenue - spend) / spend, unit: percent}
  brand_spend_share: {formula: brand_spend / spend, unit: percent}
  brand_click_share: {formula: brand_clicks / clicks, unit: percent}
  cpl: {formula: spend / leads, unit: currency, better: lower}
  lead_to_mql_rate: {formula: leads_with_mql / leads, unit: percent}
  mql_to_sql_rate: {formula: leads_with_sql / leads_with_mql, unit: percent}
  sql_to_customer_rate: {formula: customers / leads_with_sql, unit: percent}
  avg_deal_size: {formula: deal_amount / customers, unit: currency}
  cost_per_customer: {formula: spend / customers, unit: currency, better: lower}
"""

CONFIG_7 = """\
# 7 KPIs over the same columns as kpi_config.yaml's 30 (bench/generate.py).
version: 1
settings: {currency: EUR, week_start: monday}
sources:
  ads: {path: ads.csv, date: date}
  leads: {path: leads.csv, date: created_at}
kpis:
  spend: {source: ads, formula: SUM(spend), unit: currency, better: lower}
  ctr: {source: ads, formula: SUM(clicks) / SUM(impressions), unit: percent}
  revenue_per_conversion: {source: ads, formula: SUM(revenue) / SUM(conversions)}
  brand_spend_share:
    source: ads
    formula: "SUM(spend) FILTER (WHERE campaign LIKE 'brand%') / SUM(spend)"
    unit: percent
  trial_lead_share:
    source: leads
    formula: "COUNT(*) FILTER (WHERE offer = 'free_trial') / COUNT(*)"
    unit: percent
  mql_to_sql_rate: {source: leads, formula: COUNT(sql_at) / COUNT(mql_at), unit: percent}
  avg_deal_size: {source: leads, formula: SUM(deal_amount) / COUNT(customer_at)}
"""

CONFIG_ADS = """\
# 3 KPIs over the ads export alone (bench/generate.py --no-leads), for the memory test.
version: 1
settings: {currency: EUR, week_start: monday}
sources:
  ads: {path: ads.csv, date: date}
kpis:
  spend: {source: ads, formula: SUM(spend), unit: currency, better: lower}
  clicks: {source: ads, formula: SUM(clicks), unit: integer}
  cpc: {formula: spend / clicks, unit: currency, better: lower}
"""


def data_dir(rows: int) -> Path:
    return DATA / str(rows)


def generate(rows: int, leads_rows: int | None = None, force: bool = False) -> Path:
    """Write the exports and configs for ``rows`` ad rows (skipped when already there)."""
    out = data_dir(rows)
    out.mkdir(parents=True, exist_ok=True)
    n_leads = rows // 5 if leads_rows is None else leads_rows
    todo = [("ads.csv", rows, ads_chunk)]
    if n_leads:
        todo.append(("leads.csv", n_leads, leads_chunk))
    for name, n, fn in todo:
        path = out / name
        if path.exists() and not force:
            continue
        t0 = time.perf_counter()
        write_csv(path, n, fn)
        size = path.stat().st_size / 1e6
        print(f"{path}: {n:,} rows, {size:,.0f} MB in {time.perf_counter() - t0:.1f} s")
    if n_leads:
        (out / "kpi_config.yaml").write_text(CONFIG_30)
        (out / "kpi_config_7.yaml").write_text(CONFIG_7)
    else:
        (out / "kpi_config_ads.yaml").write_text(CONFIG_ADS)
    from handwritten_ads import write_configs  # bench/ is on sys.path (script or run.py)

    write_configs(out)  # kpi_config_20.yaml, kpi_config_distinct.yaml: ads.csv only
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, required=True, help="rows of ads.csv (e.g. 1000000)")
    ap.add_argument("--leads-rows", type=int, help="rows of leads.csv (default: rows / 5)")
    ap.add_argument("--no-leads", action="store_true", help="write ads.csv only")
    ap.add_argument("--force", action="store_true", help="rewrite files that exist")
    args = ap.parse_args(argv)
    leads = 0 if args.no_leads else args.leads_rows
    out = generate(args.rows, leads, args.force)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
