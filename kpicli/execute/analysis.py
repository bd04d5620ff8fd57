"""The statistics of a report's rows: is a change real (``--compare``), is a bucket an
anomaly (``--anomalies``), is there a trend (``--grain``).

The engine computes each row's value, its comparison and, for a ratio of counts, the counts
behind both (the plan's hidden component KPIs); this module hands them to the pure models
of :mod:`kpicli.stats` and joins back what they say. With ``--anomalies`` the plan's first
buckets are history (:attr:`Plan.history`): learned from, then split off the rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl

from kpicli.execute.result import (
    ANOMALY_COLUMNS,
    KEY_COLUMNS,
    SIGNIFICANCE_COLUMNS,
    TREND_COLUMNS,
    VALUE_COLUMNS,
)
from kpicli.plan.build import ordinal
from kpicli.spec import periods
from kpicli.spec.formula import COUNT, RATIO, SUM
from kpicli.spec.periods import DateRange

if TYPE_CHECKING:
    from kpicli.plan.build import Plan

#: The component columns of a row: its counts (a ratio's numerator and denominator) now
#: and in the comparison span.
COMPONENTS = ("__num", "__den", "__pnum", "__pden")


@dataclass
class Analysed:
    """Rows (or totals) of a report, shaped for the Result: the period's rows and the history
    before it (``--anomalies``)."""

    rows: pl.DataFrame
    history: pl.DataFrame | None = None
    keys: dict[str, str] = field(default_factory=dict)  # the dimension columns, renamed


def with_components(
    plan: Plan,
    long: pl.DataFrame,
    wide: pl.DataFrame,
    dims: tuple[str, ...],
    names: tuple[str, str],
) -> pl.DataFrame:
    """``long`` (one row per KPI × bucket × dims) with the numerator and denominator of each
    ratio of counts, from the hidden KPIs of ``wide``, as columns ``names`` (null for
    other KPIs). Unchanged when the report asks for no statistics."""
    if not plan.makeups:
        return long
    num, den = names
    parts = [
        wide.select(
            "__b",
            *dims,
            pl.lit(kpi).alias("kpi"),
            pl.col(pair[0]).cast(pl.Float64).alias(num),
            pl.col(pair[1]).cast(pl.Float64).alias(den),
        )
        for kpi, pair in plan.components.items()
    ]
    if not parts:
        return long.with_columns(pl.lit(None, pl.Float64).alias(n) for n in names)
    keys = ["kpi", "__b", *dims]
    return long.join(pl.concat(parts), on=keys, how="left", nulls_equal=True)


def analyse(plan: Plan, long: pl.DataFrame, table: pl.DataFrame, keys: dict[str, str]) -> Analysed:
    """The rows of one set of keys (``keys``: the engine's dimension columns → their output
    names; empty for totals) with their statistics, cut into the period's rows and the
    history, in the Result's columns."""
    columns = tuple(keys)
    extra: list[str] = []
    tested = bool(plan.counterparts and plan.makeups)
    # the days of each bucket, when a statistic needs them (a plain report does not)
    buckets = _buckets(plan, table) if tested or plan.request.anomalies else None
    if tested:
        assert buckets is not None
        long = long.with_columns(_significance(plan, long, buckets))
        extra += SIGNIFICANCE_COLUMNS
    if plan.request.anomalies:
        assert buckets is not None
        long = _anomalies(plan, long, buckets, columns)
        extra += ANOMALY_COLUMNS
        if columns:  # a series is every dimension value seen in the window: not those of a
            # KPI that has none in it (ads KPIs of the channel `email`), nothing to judge
            seen = (pl.col("value").fill_null(0) != 0).any().over("kpi", *columns)
            long = long.filter(seen)
    shaped = long.select("__b", *KEY_COLUMNS, *columns, *VALUE_COLUMNS, *extra).rename(keys)
    if not plan.history:
        return Analysed(shaped.drop("__b"), keys=keys)
    return Analysed(
        shaped.filter(pl.col("__b") >= plan.history).drop("__b"),
        history=shaped.filter(pl.col("__b") < plan.history).drop("__b"),
        keys=keys,
    )


def _buckets(plan: Plan, table: pl.DataFrame) -> pl.DataFrame:
    """Per bucket (``__b``): the days it counts (``__days``: none after as-of), the days its
    comparison span counts (``__pdays``) and the share of its grain bucket it covers
    (``__exposure``: a week cut by the period's first day covers less than a week)."""
    as_of, grain, week_start = plan.as_of, plan.grain, plan.week_start
    rows = []
    for b, start, end in table.select("__b", "period_start", "period_end").iter_rows():
        if start is None or end is None:  # one undated row (--period all, no date column)
            rows.append((b, None, None, 1.0))
            continue
        days = DateRange(start, min(end, as_of)).days if start <= as_of else 0
        whole = periods.bucket(start, grain, week_start).days if grain else days
        prev = None
        if plan.counterparts and b < len(plan.counterparts):
            c = plan.counterparts[b]
            prev = DateRange(c.start, min(c.end, as_of)).days if c.start <= as_of else 0
        rows.append((b, days, prev, days / whole if whole else 1.0))
    return pl.DataFrame(
        rows,
        schema={
            "__b": pl.UInt32,
            "__days": pl.Float64,
            "__pdays": pl.Float64,
            "__exposure": pl.Float64,
        },
        orient="row",
    )


def _kinds(plan: Plan) -> pl.Expr:
    """Each row's KPI make-up (ratio, count, sum, level)."""
    kinds = {k: m.kind for k, m in plan.makeups.items()}
    return pl.col("kpi").replace_strict(kinds, default=None, return_dtype=pl.Utf8)


def _significance(plan: Plan, long: pl.DataFrame, buckets: pl.DataFrame) -> list[pl.Series]:
    """``change_significant`` and ``p_value`` of each row (:mod:`kpicli.stats.change`): a
    ratio by its counts, a count as a rate over the days each span counts."""
    from kpicli.stats.change import significance

    frame = long.join(buckets, on="__b", how="left").with_columns(_kinds(plan).alias("kind"))
    frame = frame.select(
        "kind",
        *_counts("__num", "value", "__den", "__days", "num", "den"),
        *_counts("__pnum", "previous", "__pden", "__pdays", "prev_num", "prev_den"),
    )
    tested = significance(frame)
    return [tested[c] for c in SIGNIFICANCE_COLUMNS]


def _counts(num: str, value: str, den: str, days: str, *names: str) -> list[pl.Expr]:
    ratio = pl.col("kind") == RATIO
    return [
        pl.when(ratio).then(pl.col(num)).otherwise(pl.col(value)).alias(names[0]),
        pl.when(ratio).then(pl.col(den)).otherwise(pl.col(days)).alias(names[1]),
    ]


def _anomalies(
    plan: Plan, long: pl.DataFrame, buckets: pl.DataFrame, columns: tuple[str, ...]
) -> pl.DataFrame:
    """Each row with its baseline, interval and flag (:mod:`kpicli.stats.anomaly`): the
    series are a KPI × dimension values over every bucket, history first."""
    from kpicli.stats.anomaly import detect

    assert plan.grain is not None
    ids = long.select("kpi", *columns).unique(maintain_order=True).with_row_index("series")
    kind = _kinds(plan)
    amount = kind.is_in([COUNT, SUM])  # over no rows, SUM is null: nothing counted, 0
    value = pl.when(amount).then(pl.col("value").fill_null(0.0)).otherwise(pl.col("value"))
    frame = (
        long.join(ids, on=["kpi", *columns], how="left", nulls_equal=True)
        .join(buckets, on="__b", how="left")
        .select(
            pl.col("series").cast(pl.Int64),
            "__b",
            kind.alias("kind"),
            pl.col("period_start").alias("start"),
            value.alias("value"),
            pl.col("__num").fill_null(0.0).alias("num"),
            pl.col("__den").fill_null(0.0).alias("den"),
            pl.col("__exposure").alias("exposure"),
            (pl.col("__b") >= plan.history).alias("evaluate"),
        )
        .sort("series", "start")
    )
    found = detect(frame, grain=plan.grain, sensitivity=plan.request.sensitivity)
    found = found.select("series", "__b", *ANOMALY_COLUMNS)
    long = long.join(ids, on=["kpi", *columns], how="left", nulls_equal=True)
    return long.join(found, on=["series", "__b"], how="left").drop("series")


def _trends(plan: Plan, shaped: pl.DataFrame, keys: dict[str, str]) -> pl.DataFrame | None:
    """One row per KPI × dimension values: the trend of its values over the period's
    buckets (:mod:`kpicli.stats.trend`); None with fewer than 3 buckets."""
    from kpicli.stats.trend import trends

    assert plan.grain is not None
    dims = list(keys.values())
    if shaped.select(pl.col("period_start").n_unique()).item() < 3:
        return None
    ids = shaped.select("kpi", *dims).unique(maintain_order=True).with_row_index("series")
    index = ordinal(pl.col("period_start"), plan.grain, plan.week_start)
    frame = (
        shaped.join(ids, on=["kpi", *dims], how="left", nulls_equal=True)
        .select(
            pl.col("series").cast(pl.Int64),
            (index - index.min()).cast(pl.Int64).alias("index"),
            "value",
        )
        .sort("series", "index")
    )
    found = trends(frame).with_columns(pl.col("series").cast(pl.UInt32))
    out = ids.join(found, on="series", how="left").drop("series")
    return out.with_columns(pl.lit(not keys).alias("total"))


def trend_table(
    plan: Plan, rows: Analysed, totals: Analysed | None, dims: tuple[str, ...]
) -> pl.DataFrame | None:
    """The Result's trends (``--grain``): the rows' series, then the totals' (dimensions
    null, ``total`` true); ``total`` is false without --by (the rows are the totals then).
    Computed when an output reads them (:attr:`Result.trends`): CSV and JSONL do not."""
    if plan.grain is None:
        return None
    found = [_trends(plan, a.rows, a.keys) for a in (rows, totals) if a is not None]
    parts = [f for f in found if f is not None]
    if not parts:
        return None
    if totals is None:
        parts = [p.with_columns(pl.lit(False).alias("total")) for p in parts]
    frame = pl.concat(parts, how="diagonal_relaxed")
    missing = [pl.lit(None, pl.Utf8).alias(d) for d in dims if d not in frame.columns]
    return frame.with_columns(missing).select("kpi", *dims, *TREND_COLUMNS)
