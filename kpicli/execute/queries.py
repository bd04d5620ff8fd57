"""Plan → Polars queries: each aggregation of a plan as lazy frames over its source's rows.

This is where a plan (data: SQL text, keys, spans) meets an engine. For each aggregation,
one lazy frame of the rows' groups (keyed by span and dimensions) and, with dimensions, one
of the totals (keyed by span). With the Parquet cache, an aggregation whose formulas
decompose is computed from the cache's daily partial aggregates (filled here, the first
time: a scan and a collect of the source's rows). Nothing else is collected here: the
engine collects every query at once (:func:`kpicli.execute.engine.execute`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import polars as pl

from kpicli.ingest.scan import SourceFrame
from kpicli.plan.build import RANGE, Aggregation, Plan, ordinal
from kpicli.spec.formula import DistinctSplit, rollup_kind, split_distinct
from kpicli.spec.periods import DateRange

if TYPE_CHECKING:
    from kpicli.ingest.cache import Cache


@dataclass(frozen=True)
class Queries:
    """An aggregation's two queries: by span and dimensions, and by span alone (totals)."""

    rows: pl.LazyFrame
    totals: pl.LazyFrame | None


def queries(
    plan: Plan, sources: Mapping[str, SourceFrame], cache: Cache | None = None
) -> list[Queries]:
    """Each aggregation of ``plan`` as lazy frames over ``sources`` (described as the plan
    was built from), in the plan's order."""
    calendar = span_calendar(plan)
    return [_queries(plan, agg, sources[agg.source], cache, calendar) for agg in plan.aggregations]


def span_calendar(plan: Plan) -> pl.DataFrame | None:
    """Each day counted → the span it counts for (a day of two spans is listed twice).

    Joining rows on it aggregates current and comparison values in one pass over the data.
    None for ``--period all``, where buckets come from truncating the dates, and when
    the spans are whole grain buckets (:meth:`~kpicli.plan.build.Plan.align`).
    """
    if not plan.ranges or plan.aligned:
        return None
    parts = []
    for i, r in enumerate(plan.ranges):
        if r.start <= plan.as_of:
            counted = DateRange(r.start, min(r.end, plan.as_of))
            days = pl.date_range(counted.start, counted.end, "1d", eager=True)
            spans = pl.repeat(i, len(days), eager=True, dtype=pl.Int32)
            parts.append(pl.DataFrame({"__day": days, RANGE: spans}))
    if not parts:
        return pl.DataFrame(schema={"__day": pl.Date, RANGE: pl.Int32})
    return pl.concat(parts)


@dataclass(frozen=True)
class _Exprs:
    """An aggregation's SQL as Polars expressions."""

    values: list[pl.Expr]  # each KPI's aggregate, a Float64, and the bookkeeping
    partials: list[pl.Expr]  # the partial aggregates over the rows (decomposed)
    rollups: list[pl.Expr]  # the partials aggregated again
    finals: list[pl.Expr]  # each KPI's value over the partials
    book: list[pl.Expr]  # row count, first and last date
    book_again: list[pl.Expr]
    names: list[str]  # the partials' columns


def _exprs(agg: Aggregation) -> _Exprs:
    book = [pl.len().alias(agg.count)]
    book_again = [pl.col(agg.count).sum()]
    if agg.date_column is not None:
        book += [
            pl.col(agg.date_column).min().alias(agg.first),
            pl.col(agg.date_column).max().alias(agg.last),
        ]
        book_again += [pl.col(agg.first).min(), pl.col(agg.last).max()]
    values = [pl.sql_expr(t).cast(pl.Float64).alias(n) for n, t in agg.formulas.items()]
    d = agg.decomposed
    if d is None:
        return _Exprs(values + book, [], [], [], book, book_again, [])
    return _Exprs(
        values + book,
        [pl.sql_expr(sql).alias(name) for sql, name in d.partials.items()],
        [pl.sql_expr(sql).alias(name) for name, sql in d.rollups.items()],
        [pl.sql_expr(v).cast(pl.Float64).alias(n) for n, v in d.finals.items()],
        book,
        book_again,
        list(d.partials.values()),
    )


@dataclass(frozen=True)
class _AsCounted:
    """The rows of a source as aggregated: stage dates as of, --where, integers widened."""

    stage_dates: tuple[str, ...]
    date_col: str | None
    as_of: date
    where: pl.Expr | None
    widened: tuple[str, ...]

    def __call__(self, lf: pl.LazyFrame, *, day_key: bool) -> pl.LazyFrame:
        """``day_key``: the date column itself is bounded by the time keys (not nulled)."""
        # as of a date, a stage date after it has not happened yet (a lead's future MQL date)
        later = [c for c in self.stage_dates if c != self.date_col or not day_key]
        if later:
            lf = lf.with_columns(
                pl.when(pl.col(c) <= self.as_of).then(pl.col(c)).alias(c) for c in later
            )
        if self.where is not None:
            lf = lf.filter(self.where)
        if self.widened:  # summed as INT128 (see kpicli.spec.formula.widened_columns)
            lf = lf.with_columns(pl.col(list(self.widened)).cast(pl.Int128))
        return lf


def daily_material(plan: Plan, agg: Aggregation) -> dict[str, Any]:
    """What a daily cache entry of ``agg`` depends on, besides its source's entry."""
    assert agg.decomposed is not None
    others = [c for c in agg.stage_dates if c != agg.date_column]
    return {
        "date": agg.date_column,
        "dims": list(agg.dimensions),
        "where": plan.request.where,
        "partials": list(agg.decomposed.partials),
        "ints": list(agg.widened),
        "as_of": plan.as_of.isoformat() if others else None,
    }


def _queries(
    plan: Plan,
    agg: Aggregation,
    sf: SourceFrame,
    cache: Cache | None,
    calendar: pl.DataFrame | None,
) -> Queries:
    dims, date_col = agg.dimensions, agg.date_column
    where = pl.sql_expr(agg.where) if agg.where is not None else None
    as_counted = _AsCounted(agg.stage_dates, date_col, plan.as_of, where, agg.widened)
    x = _exprs(agg)
    if cache is not None and date_col is not None and agg.decomposed is not None:
        # partial aggregates per day from the cache: any period, grain or comparison
        # is re-aggregated from them (a few rows per day) instead of from the rows
        keys, aggs = (date_col, *dims), x.partials + x.book

        def by_day(rows: pl.LazyFrame) -> pl.LazyFrame:
            return as_counted(rows, day_key=True).group_by(*keys).agg(aggs)

        days = cache.daily(sf, daily_material(plan, agg), by_day)
        grouped = _time_keys(days, date_col, plan, calendar)
        grouped = grouped.group_by(plan.keys).agg(x.rollups + x.book_again)
        return _from_partials(plan, grouped, x, dims)
    lf = sf.frame if cache is None else cache.rows(sf)
    if date_col is not None and plan.ranges:
        lf = _days(lf, date_col, plan)  # first: pushed down to the scan
    lf = as_counted(lf, day_key=bool(plan.ranges))
    if date_col is None and plan.ranges:
        # files that state a period inside the one asked (plan/build.stated_inside): their
        # rows count for the period as a row dated its first day would
        stated = pl.lit(plan.ranges[0].start).alias("__stated")
        lf = _time_keys(lf.with_columns(stated), "__stated", plan, calendar).drop("__stated")
    elif date_col is None:
        lf = lf.with_columns(pl.lit(None, dtype=pl.Date).alias(RANGE))
    else:
        lf = _time_keys(lf, date_col, plan, calendar, filtered=True)
    split = split_distinct(agg.formulas) if agg.decomposed is None else None
    distinct = _distinct(plan, lf, split, x, dims) if split is not None else None
    if distinct is not None:
        return distinct
    if agg.decomposed is None or not dims:
        # no totals to roll up, or formulas that do not decompose (MEDIAN, STDDEV…): the
        # totals group the rows themselves
        rows = _as_text(lf.group_by(plan.keys).agg(x.values), dims)
        totals = lf.group_by(plan.total_keys).agg(x.values) if dims else None
        return Queries(rows, totals)
    grouped = lf.group_by(plan.keys).agg(x.partials + x.book)
    return _from_partials(plan, grouped, x, dims)


def _from_partials(plan: Plan, grouped: pl.LazyFrame, x: _Exprs, dims: tuple[str, ...]) -> Queries:
    """The values of groups of partial aggregates, and their totals rolled up."""
    rows = _as_text(grouped.with_columns(x.finals).drop(x.names), dims)
    if not dims:
        return Queries(rows, None)
    totals = grouped.group_by(plan.total_keys).agg(x.rollups + x.book_again)
    return Queries(rows, totals.with_columns(x.finals).drop(x.names))


#: The distinct value's column in the first group_by of :func:`_distinct`.
DISTINCT = "__distinct"


def _distinct(
    plan: Plan, lf: pl.LazyFrame, split: DistinctSplit, x: _Exprs, dims: tuple[str, ...]
) -> Queries | None:
    """Distinct counts in two group_bys (:class:`~kpicli.spec.formula.DistinctSplit`):
    the rows by the keys and the distinct value, which the streaming engine runs in
    bounded memory, then the few groups of that by the keys, and by the time keys for the
    totals. (Grouping the rows with ``n_unique``, and the totals by grouping the rows
    again, made two consumers of one scan: Polars kept every scanned row in memory.)
    None when Polars does not take the split's SQL (the rows are grouped whole then)."""
    try:
        key = pl.sql_expr(split.key).alias(DISTINCT)
        partials = [pl.sql_expr(sql).alias(name) for sql, name in split.partials.items()]
        rollups = [
            pl.sql_expr(f'{rollup_kind(sql)}("{name}")').alias(name)
            for sql, name in split.partials.items()
        ]
        finals = [pl.sql_expr(v).cast(pl.Float64).alias(n) for n, v in split.finals.items()]
    except pl.exceptions.PolarsError:
        return None
    pairs = lf.group_by(*plan.keys, key).agg(partials + x.book)
    counted = []
    for column, flag in split.counts.items():
        value = pl.col(DISTINCT)
        if flag is not None:
            value = value.filter(pl.col(flag) > 0)
        counted.append(value.drop_nulls().n_unique().alias(column))
    drop = [*split.partials.values(), *split.counts]

    def values(keys: list[str]) -> pl.LazyFrame:
        grouped = pairs.group_by(keys).agg(rollups + counted + x.book_again)
        return grouped.with_columns(finals).drop(drop)

    rows = _as_text(values(list(plan.keys)), dims)
    return Queries(rows, values(list(plan.total_keys)) if dims else None)


def _as_text(grouped: pl.LazyFrame, dims: tuple[str, ...]) -> pl.LazyFrame:
    """Dimension values as text once grouped (sources join on them, outputs show them as
    text): cast after the group_by, so that a column can be grouped by and aggregated too
    (`--by spend` with `SUM(spend)`), and only the groups are cast."""
    return grouped.with_columns(pl.col(dim).cast(pl.Utf8) for dim in dims)


def _days(lf: pl.LazyFrame, date_col: str, plan: Plan) -> pl.LazyFrame:
    """The rows of the days counted (never after as-of)."""
    low, high = plan.counted_days()
    return lf.filter(pl.col(date_col).is_between(low, high))


def _bucket(col: str, grain: str, week_start: str) -> pl.Expr:
    c = pl.col(col)
    if grain == "day":
        return c
    if grain == "week" and week_start == "sunday":  # the first week is cut at 0001-01-01
        start = (c + pl.duration(days=1)).dt.truncate("1w") - pl.duration(days=1)
        return pl.max_horizontal(start, pl.lit(date(1, 1, 1)))
    every = {"week": "1w", "month": "1mo", "quarter": "1q", "year": "1y"}[grain]
    return c.dt.truncate(every)


def _time_keys(
    lf: pl.LazyFrame,
    date_col: str,
    plan: Plan,
    calendar: pl.DataFrame | None,
    *,
    filtered: bool = False,
) -> pl.LazyFrame:
    """Each row with the span it counts for (RANGE): from the calendar of the ranges, or
    (``--period all``) the date truncated to the grain. ``filtered``: the days are already
    limited to the calendar's."""
    if plan.aligned:
        if not filtered:
            lf = _days(lf, date_col, plan)
        key = ordinal(pl.col(date_col), plan.grain or "day", plan.week_start).alias(RANGE)
        lf = lf.with_columns(key)
        if plan.ordinals is not None:  # days between the spans (--compare year)
            lf = lf.filter(pl.col(RANGE).is_in(plan.ordinals))
        return lf
    if calendar is None:
        lf = lf.filter(pl.col(date_col) <= plan.as_of)
        grain = plan.grain
        bucket = _bucket(date_col, grain, plan.week_start) if grain else pl.lit(None, pl.Date)
        return lf.with_columns(bucket.alias(RANGE))
    if not filtered:
        lf = _days(lf, date_col, plan)
    return lf.join(calendar.lazy(), left_on=date_col, right_on="__day", how="inner")
