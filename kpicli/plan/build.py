"""Config + Request → Plan: what to read, how to aggregate it, in which order to derive.

One aggregation per (source, date column): every KPI of that source counted on that date
column is one expression of a single ``group_by``; a KPI's own ``filter`` becomes a
``FILTER (WHERE …)`` on its aggregates, so it does not need a scan of its own. Derived
KPIs are listed in dependency order, to be evaluated after the aggregates are joined.
The plan is lazy: nothing is read here but file headers. ``Plan.describe()`` feeds
``kpi explain``; the engine executes the very same frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from kpicli.errors import ConfigError, DataError, UsageError, did_you_mean, engine_detail
from kpicli.ingest.scan import SourceFrame, locate_bad_value, request_columns, scan_source
from kpicli.spec import periods
from kpicli.spec.config import Config, no_kpis_issue
from kpicli.spec.formula import (
    AGGREGATE,
    ROW,
    FormulaError,
    check,
    compile_sql,
    decompose,
    kinds_of,
    parse,
    rollup_kind,
    summed_columns,
    wrong_type,
)
from kpicli.spec.periods import DateRange, Period

#: Key of the span of days a row is aggregated for: the index of one of ``Plan.ranges``
#: (a bucket or a comparison range) or, with ``--period all``, the bucket's first day.
RANGE = "__range"


@dataclass(frozen=True)
class Request:
    """What the user asked `kpi report` for (command-line options, parsed)."""

    period: str = "all"
    date_from: date | None = None
    date_to: date | None = None
    as_of: date | None = None
    grain: str | None = None
    by: tuple[str, ...] = ()
    kpis: tuple[str, ...] = ()
    where: str | None = None
    sort: str | None = None
    limit: int | None = None
    compare: str = "none"
    cache: str | None = None  # folder of the Parquet cache (else settings.cache, else none)


@dataclass
class Aggregation:
    """All KPIs of one source counted on one date column: one group_by over one scan."""

    source: str
    date_column: str | None
    formulas: dict[str, str]  # KPI name → SQL aggregate (its filter attached)
    rows: pl.LazyFrame  # keyed by grain bucket and dimensions
    totals: pl.LazyFrame | None  # keyed by grain bucket only (when there are dimensions)
    empty: dict[str, float | None] = field(default_factory=dict)  # the KPIs over no rows

    @property
    def count(self) -> str:
        """Rows aggregated in a group: null after a join means the group had none."""
        return f"__n_{self.source}_{self.date_column}"

    @property
    def first(self) -> str:
        return f"__first_{self.source}_{self.date_column}"

    @property
    def last(self) -> str:
        return f"__last_{self.source}_{self.date_column}"


@dataclass
class Plan:
    """Everything the engine runs, decided before any row is read."""

    config: Config
    request: Request
    as_of: date
    period: Period
    comparison: DateRange | None
    grain: str | None
    dimensions: tuple[str, ...]
    selected: list[str]  # KPIs shown, in order
    derived: list[str]  # derived KPIs to evaluate after the join, dependencies first
    sources: dict[str, SourceFrame]
    buckets: list[DateRange] = field(default_factory=list)  # empty for --period all
    counterparts: list[DateRange] = field(default_factory=list)  # one per bucket (--compare)
    ranges: list[DateRange] = field(default_factory=list)  # distinct spans aggregated
    #: bucket i -> its RANGE key: its index in ranges, or its bucket number when aligned
    current: list[int] = field(default_factory=list)
    previous: list[int] = field(default_factory=list)  # bucket i -> its counterpart's key
    aggregations: list[Aggregation] = field(default_factory=list)
    fast: bool = True  # read with the optimistic fast paths (see build_plan)
    #: RANGE is each row's grain bucket number (see :meth:`align`), not a calendar join
    aligned: bool = False
    #: the bucket numbers aggregated, when they are not every number from the first to the
    #: last (rows of other buckets are dropped)
    ordinals: list[int] | None = None

    @property
    def typed(self) -> bool:
        """Whether a fast path was taken that a value past the sample can make fail."""
        return self.fast and any(p.typed_dates for sf in self.sources.values() for p in sf.parts)

    @property
    def keys(self) -> list[str]:
        """Group keys of the rows frames."""
        return [RANGE, *self.dimensions]

    @property
    def total_keys(self) -> list[str]:
        return [RANGE]

    def lay_out_ranges(self) -> None:
        """The distinct spans to aggregate: every bucket, and every counterpart not a bucket.

        Month by month with ``--compare previous``, each month is also the counterpart of the
        next: it is aggregated once and read twice.
        """
        index: dict[DateRange, int] = {}

        def rid(r: DateRange) -> int:
            if r not in index:
                index[r] = len(self.ranges)
                self.ranges.append(r)
            return index[r]

        self.current = [rid(b) for b in self.buckets]
        self.previous = [rid(c) for c in self.counterparts]
        self.align()

    def align(self) -> None:
        """Key the spans by grain bucket number when each is a whole grain bucket.

        Every span of ``--grain month`` (and its counterparts with ``--compare previous`` or
        ``year``) is a calendar month, cut only where all of them are (the period's first
        and last day, as-of): a row's span is then its date's month, computed from the date
        itself (``_ordinal``), which is cheaper than joining every row to a calendar. Spans
        that are not whole buckets (``--compare previous`` of a running period by day…)
        keep the calendar.
        """
        if not self.grain or not self.ranges:
            return
        week_start = self.config.settings.week_start
        low = min(r.start for r in self.ranges)
        high = min(max(r.end for r in self.ranges), self.as_of)
        for r in self.ranges:
            b = periods.bucket(r.start, self.grain, week_start)
            if max(b.start, low) != r.start or min(b.end, high) != min(r.end, self.as_of):
                return
        starts = pl.DataFrame({"d": [r.start for r in self.ranges]}, schema={"d": pl.Date})
        numbers = starts.select(_ordinal(pl.col("d"), self.grain, week_start))["d"].to_list()
        if len(set(numbers)) != len(numbers):
            return
        self.aligned = True
        self.current = [numbers[i] for i in self.current]
        self.previous = [numbers[i] for i in self.previous]
        counted = [n for n, r in zip(numbers, self.ranges, strict=True) if r.start <= high]
        if counted and sorted(counted) != list(range(min(counted), max(counted) + 1)):
            self.ordinals = sorted(counted)

    def calendar(self) -> pl.DataFrame | None:
        """Each day counted → the span it counts for (a day of two spans is listed twice).

        Joining rows on it aggregates current and comparison values in one pass over the data.
        None for ``--period all``, where buckets come from truncating the dates, and when
        the spans are whole grain buckets (:meth:`align`).
        """
        if not self.ranges or self.aligned:
            return None
        parts = []
        for i, r in enumerate(self.ranges):
            if r.start <= self.as_of:
                counted = DateRange(r.start, min(r.end, self.as_of))
                days = pl.date_range(counted.start, counted.end, "1d", eager=True)
                parts.append(
                    pl.DataFrame(
                        {"__day": days, RANGE: pl.repeat(i, len(days), eager=True, dtype=pl.Int32)}
                    )
                )
        if not parts:
            return pl.DataFrame(schema={"__day": pl.Date, RANGE: pl.Int32})
        return pl.concat(parts)

    def describe(self) -> dict[str, Any]:
        """A plain description of the plan (for `kpi explain` and --debug)."""
        return {
            "period": str(self.period.range) if self.period.range else "all",
            "as_of": self.as_of.isoformat(),
            "grain": self.grain,
            "dimensions": list(self.dimensions),
            "kpis": self.selected,
            "derived": {n: self.config.kpis[n].formula for n in self.derived},
            "aggregations": [
                {
                    "source": a.source,
                    "date": a.date_column,
                    "files": [str(f) for f in self.sources[a.source].files],
                    "formulas": a.formulas,
                }
                for a in self.aggregations
            ],
        }


def cache_folder(cfg: Config, request: Request) -> Path | None:
    """--cache, else settings.cache (relative to the config's folder), else no cache."""
    if request.cache:
        return Path(request.cache).expanduser()
    if cfg.settings.cache:
        folder = Path(cfg.settings.cache).expanduser()
        return folder if folder.is_absolute() else cfg.base_dir / folder
    return None


def split_list(values: tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """Options that are repeatable and comma-separated: ("a,b", "c") → ("a", "b", "c")."""
    out: list[str] = []
    for v in values or ():
        for part in v.split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return tuple(out)


def _select(cfg: Config, request: Request) -> list[str]:
    if (issue := no_kpis_issue(cfg)) is not None:
        raise ConfigError(issue.message, location=issue.where, hint=issue.hint)
    if not request.kpis:
        if not cfg.visible():
            raise UsageError(
                "every KPI is hidden", hint="name the KPIs to show with --kpi NAME[,NAME…]"
            )
        return cfg.visible()
    for name in request.kpis:
        if name not in cfg.kpis:
            raise UsageError(
                f"unknown KPI `{name}` in --kpi",
                hint=did_you_mean(name, cfg.kpis) or "`kpi list` shows the declared KPIs",
            )
    return list(request.kpis)


def resolve_period(cfg: Config, request: Request, as_of: date) -> Period:
    week_start = cfg.settings.week_start
    period = periods.parse_period(request.period, as_of, week_start)
    if request.date_from or request.date_to:
        period = periods.explicit_period(request.date_from, request.date_to, as_of, period)
    return period


def _ordinal(col: pl.Expr, grain: str, week_start: str) -> pl.Expr:
    """The number of the grain bucket a date falls in: one more for each next bucket."""
    days = col.cast(pl.Int32)  # since 1970-01-01, a Thursday
    if grain == "day":
        return days
    if grain == "week":
        return (days + (3 if week_start == "monday" else 4)) // 7
    year, month = col.dt.year().cast(pl.Int32), col.dt.month().cast(pl.Int32)
    if grain == "month":
        return year * 12 + month - 1
    if grain == "quarter":
        return year * 4 + (month - 1) // 3
    return year


def _bucket(col: str, grain: str, week_start: str) -> pl.Expr:
    c = pl.col(col)
    if grain == "day":
        return c
    if grain == "week" and week_start == "sunday":  # the first week is cut at 0001-01-01
        start = (c + pl.duration(days=1)).dt.truncate("1w") - pl.duration(days=1)
        return pl.max_horizontal(start, pl.lit(date(1, 1, 1)))
    every = {"week": "1w", "month": "1mo", "quarter": "1q", "year": "1y"}[grain]
    return c.dt.truncate(every)


def build_plan(cfg: Config, request: Request, *, fast: bool = True) -> Plan:
    """Check a request against the config and lay out the lazy aggregations.

    ``fast``: let the CSV reader parse plain ISO date columns itself (see
    :func:`~kpicli.ingest.scan.scan_source`); the engine builds the plan again with
    ``fast=False`` when a cell past the sampled rows defeats that.
    """
    as_of = request.as_of or date.today()
    selected = _select(cfg, request)
    extra = []
    if request.sort:
        sort_name = request.sort.partition(":")[0]
        direction = request.sort.partition(":")[2]
        if sort_name not in cfg.kpis:
            raise UsageError(
                f"unknown KPI `{sort_name}` in --sort",
                hint=did_you_mean(sort_name, cfg.kpis) or "sort by a KPI name, e.g. --sort leads",
            )
        if direction not in ("", "asc", "desc"):
            raise UsageError(f"--sort {request.sort}: the order is `asc` or `desc`")
        extra.append(sort_name)
    if request.limit is not None and request.limit < 1:
        raise UsageError("--limit must be at least 1")
    needed = cfg.order(selected + extra)
    grain = request.grain
    if grain is not None and grain not in periods.GRAINS:
        raise UsageError(
            f"unknown grain `{grain}`", hint=f"use one of: {', '.join(periods.GRAINS)}"
        )
    dims = request.by
    _check_dimension_names(cfg, dims, needed)
    period = resolve_period(cfg, request, as_of)
    comparison = periods.comparison_range(period, request.compare, as_of, cfg.settings.week_start)

    by_source: dict[tuple[str, str | None], list[str]] = {}
    for name in needed:
        kpi = cfg.kpis[name]
        if kpi.source is not None:
            date_col = kpi.date or cfg.sources[kpi.source].date
            by_source.setdefault((kpi.source, date_col), []).append(name)
    derived = [n for n in needed if cfg.kpis[n].source is None]

    if request.where:
        _check_where(request.where)
    cache_dir = cache_folder(cfg, request)
    used = list(dict.fromkeys(s for s, _ in by_source))
    cache = None
    if cache_dir is not None:  # None too when the folder cannot be used (a warning says why)
        from kpicli.ingest.cache import open_cache

        cache = open_cache(cache_dir)
    if cache is None:
        sources = {s: scan_source(cfg, s, typed_dates=fast) for s in used}
    else:
        cache.memo()
        sources = {s: cache.source(cfg, s, typed_dates=fast) for s in used}
    plan = Plan(cfg, request, as_of, period, comparison, grain, dims, selected, derived, sources)
    plan.fast = fast

    week_start = cfg.settings.week_start
    if period.range is not None:
        plan.buckets = periods.buckets(period.range, grain, week_start) if grain else [period.range]
        if grain:  # buckets wholly after --as-of have nothing to count yet
            plan.buckets = [b for b in plan.buckets if b.start <= as_of] or plan.buckets[:1]
        if request.compare != "none":
            if grain:
                plan.counterparts = [
                    periods.counterpart(b, request.compare, grain, as_of=as_of)
                    for b in plan.buckets
                ]
            else:
                assert comparison is not None
                plan.counterparts = [comparison]
        plan.lay_out_ranges()
    calendar = plan.calendar()

    for (sname, date_col), names in by_source.items():
        sf = sources[sname]
        _check_columns(cfg, sf, names, dims, request.where)
        if date_col in dims:
            raise UsageError(
                f"--by {date_col}: `{date_col}` is the date of the rows of source `{sname}` "
                f"(for {_names(names)}), not a dimension",
                hint="for one row per day, use --grain day",
            )
        if date_col is None and (period.range is not None or grain or comparison is not None):
            asked = "--grain" if grain else "--compare" if comparison else "--period"
            raise UsageError(
                f"source `{sname}` has no date column, so {asked} cannot apply to {_names(names)}",
                hint="its KPIs cover the whole file: use --period all, or set "
                f"`date:` on source `{sname}`",
            )
        kinds = kinds_of(sf.schema)
        # Polars wraps Int64 sums around silently (2**62 + 2**62 < 0): sum integers as Int128
        summed = {c for n in names for c in summed_columns(cfg.kpis[n].formula)}
        ints = [c for c, t in sf.schema.items() if t.is_integer() and c in summed]
        formulas = {n: _formula(cfg, sf, n, kinds) for n in names}
        exprs = [_agg(cfg, sf, n, text) for n, text in formulas.items()]
        where = _where(request.where, sf, kinds) if request.where else None
        agg = Aggregation(sname, date_col, formulas, sf.frame, None)
        # SQL over no rows: COUNT is 0, SUM is null; buckets without rows take these values
        try:
            agg.empty = pl.DataFrame(schema=sf.schema).select(exprs).row(0, named=True)
        except pl.exceptions.PolarsError as err:  # e.g. SUM over a column read as text
            used_cols = [c for n in names for c in parse(cfg.kpis[n].formula).names]
            raise locate_bad_value(sf, err, columns=used_cols) or DataError(
                f"source `{sname}`: cannot compute {_names(names)}: {engine_detail(err)}",
                location=", ".join(str(f) for f in sf.files),
                hint="a column the formulas use holds text where numbers are expected",
            ) from None
        exprs.append(pl.len().alias(agg.count))
        if date_col is not None:
            exprs += [
                pl.col(date_col).min().alias(agg.first),
                pl.col(date_col).max().alias(agg.last),
            ]
        parts = _partials(agg)

        prepared = _Prepared(sf.date_columns, date_col, as_of, where, ints)
        if cache is not None and date_col is not None and parts is not None:
            # partial aggregates per day from the cache: any period, grain or comparison
            # is re-aggregated from them (a few rows per day) instead of from the rows
            others = [c for c in sf.date_columns if c != date_col]
            material = {
                "date": date_col,
                "dims": list(dims),
                "where": request.where,
                "partials": list(parts.sql),
                "ints": ints,
                "as_of": as_of.isoformat() if others else None,
            }
            days = cache.daily(
                sf,
                material,
                lambda rows, p=prepared, keys=(date_col, *dims), aggs=parts.parts + parts.book: (
                    p(rows, day_key=True).group_by(*keys).agg(aggs)
                ),
            )
            grouped = _time_keys(days, date_col, plan, calendar, week_start)
            grouped = grouped.group_by(plan.keys).agg(parts.again + parts.book_again)
        else:
            lf = sf.frame if cache is None else cache.rows(sf)
            if date_col is not None and plan.ranges:
                lf = _days(lf, date_col, plan)  # first: pushed down to the scan
            lf = prepared(lf, day_key=bool(plan.ranges))
            if date_col is None:
                lf = lf.with_columns(pl.lit(None, dtype=pl.Date).alias(RANGE))
            else:
                lf = _time_keys(lf, date_col, plan, calendar, week_start, filtered=True)
            if parts is None or not dims:
                # no totals to roll up, or formulas that do not decompose (COUNT(DISTINCT
                # …), MEDIAN…): the totals group the rows themselves
                agg.rows = _as_text(lf.group_by(plan.keys).agg(exprs), dims)
                if dims:
                    agg.totals = lf.group_by(plan.total_keys).agg(exprs)
                plan.aggregations.append(agg)
                continue
            grouped = lf.group_by(plan.keys).agg(parts.parts + parts.book)
        agg.rows = _as_text(grouped.with_columns(parts.finals).drop(parts.names), dims)
        if dims:
            totals = grouped.group_by(plan.total_keys).agg(parts.again + parts.book_again)
            agg.totals = totals.with_columns(parts.finals).drop(parts.names)
        plan.aggregations.append(agg)
    return plan


@dataclass(frozen=True)
class _Prepared:
    """The rows of a source as aggregated: stage dates as of, --where, integer sums."""

    date_columns: tuple[str, ...]
    date_col: str | None
    as_of: date
    where: pl.Expr | None
    ints: list[str]

    def __call__(self, lf: pl.LazyFrame, *, day_key: bool) -> pl.LazyFrame:
        """``day_key``: the date column itself is bounded by the time keys (not nulled)."""
        # as of a date, a stage date after it has not happened yet (a lead's future MQL date)
        later = [c for c in self.date_columns if c != self.date_col or not day_key]
        if later:
            lf = lf.with_columns(
                pl.when(pl.col(c) <= self.as_of).then(pl.col(c)).alias(c) for c in later
            )
        if self.where is not None:
            lf = lf.filter(self.where)
        if self.ints:
            lf = lf.with_columns(pl.col(self.ints).cast(pl.Int128))
        return lf


def _as_text(grouped: pl.LazyFrame, dims: tuple[str, ...]) -> pl.LazyFrame:
    """Dimension values as text once grouped (sources join on them, outputs show them as
    text): cast after the group_by, so that a column can be grouped by and aggregated too
    (`--by spend` with `SUM(spend)`), and only the groups are cast."""
    return grouped.with_columns(pl.col(dim).cast(pl.Utf8) for dim in dims)


def _days(lf: pl.LazyFrame, date_col: str, plan: Plan) -> pl.LazyFrame:
    """The rows of the days counted (never after as-of)."""
    low = min(r.start for r in plan.ranges)
    high = min(max(r.end for r in plan.ranges), plan.as_of)
    return lf.filter(pl.col(date_col).is_between(low, high))


def _time_keys(
    lf: pl.LazyFrame,
    date_col: str,
    plan: Plan,
    calendar: pl.DataFrame | None,
    week_start: str,
    *,
    filtered: bool = False,
) -> pl.LazyFrame:
    """Each row with the span it counts for (RANGE): from the calendar of the ranges, or
    (``--period all``) the date truncated to the grain. ``filtered``: the days are already
    limited to the calendar's."""
    if plan.aligned:
        if not filtered:
            lf = _days(lf, date_col, plan)
        key = _ordinal(pl.col(date_col), plan.grain or "day", week_start).alias(RANGE)
        lf = lf.with_columns(key)
        if plan.ordinals is not None:  # days between the spans (--compare year)
            lf = lf.filter(pl.col(RANGE).is_in(plan.ordinals))
        return lf
    if calendar is None:
        lf = lf.filter(pl.col(date_col) <= plan.as_of)
        grain = plan.grain
        bucket = _bucket(date_col, grain, week_start) if grain else pl.lit(None, pl.Date)
        return lf.with_columns(bucket.alias(RANGE))
    if not filtered:
        lf = _days(lf, date_col, plan)
    return lf.join(calendar.lazy(), left_on=date_col, right_on="__day", how="inner")


@dataclass
class _Partials:
    """An aggregation's formulas as partial aggregates (SUM, COUNT, MIN, MAX) and formulas
    over them: computed over the rows (``parts``), re-aggregated from partials (``again``:
    totals from the rows' groups, months from the cache's days), then ``finals``."""

    sql: dict[str, str]  # partial SQL → its column name
    parts: list[pl.Expr]
    again: list[pl.Expr]
    finals: list[pl.Expr]
    book: list[pl.Expr]  # row count, first and last date
    book_again: list[pl.Expr]

    @property
    def names(self) -> list[str]:
        return list(self.sql.values())


def _partials(agg: Aggregation) -> _Partials | None:
    """The decomposition of an aggregation's formulas; None when one does not decompose.

    One group_by by the rows' keys computes the partial aggregates; the rows' values are
    formulas over them, and the totals re-aggregate the same partials by the time keys
    only. So the data is grouped once, and Polars never has to keep the scanned rows in
    memory for a second grouping.
    """
    partials: dict[str, str] = {}
    scalar = {n: decompose(text, partials) for n, text in agg.formulas.items()}
    if any(v is None for v in scalar.values()):
        return None
    try:
        parts = [pl.sql_expr(sql).alias(name) for sql, name in partials.items()]
        finals = [pl.sql_expr(v).cast(pl.Float64).alias(n) for n, v in scalar.items()]
        again = [
            pl.sql_expr(f'{rollup_kind(sql)}("{name}")').alias(name)
            for sql, name in partials.items()
        ]
    except pl.exceptions.PolarsError:
        return None
    book = [pl.len().alias(agg.count)]
    book_again = [pl.col(agg.count).sum()]
    if agg.date_column is not None:
        book += [
            pl.col(agg.date_column).min().alias(agg.first),
            pl.col(agg.date_column).max().alias(agg.last),
        ]
        book_again += [pl.col(agg.first).min(), pl.col(agg.last).max()]
    return _Partials(partials, parts, again, finals, book, book_again)


def _names(names: list[str]) -> str:
    return "KPI " + ", ".join(f"`{n}`" for n in names)


def _check_where(text: str) -> None:
    """--where is a predicate on rows: checked before any source is read."""
    try:
        check(text, ROW)
    except FormulaError as err:
        raise UsageError(f"invalid --where `{text}`: {err}", hint=err.hint) from None


def _where(text: str, sf: SourceFrame, kinds: dict[str, str]) -> pl.Expr:
    """--where over one source's rows (its columns' types decide the arithmetic)."""
    try:
        expr = pl.sql_expr(compile_sql(text, ROW, kinds))
        dtype = _dtype(sf, expr)
    except FormulaError as err:
        raise UsageError(f"invalid --where `{text}`: {err}", hint=err.hint) from None
    except pl.exceptions.PolarsError as err:
        raise UsageError(
            f"invalid --where `{text}` over source `{sf.name}`: {engine_detail(err)}"
        ) from None
    if gives := wrong_type(dtype, condition=True):
        raise UsageError(
            f"--where `{text}` is not a condition: it gives {gives}",
            hint="--where keeps the rows where it is true: channel = 'email', spend > 0…",
        )
    return expr


def _dtype(sf: SourceFrame, expr: pl.Expr) -> pl.DataType:
    """The type of an expression over a source's rows (no row is read)."""
    return pl.LazyFrame(schema=sf.schema).select(expr.alias("__e")).collect_schema()["__e"]


def _formula(cfg: Config, sf: SourceFrame, name: str, kinds: dict[str, str]) -> str:
    """A source KPI's formula as Polars gets it: its filter attached, checked, widened."""
    kpi = cfg.kpis[name]
    try:
        if kpi.filter:
            _condition(cfg, sf, name, compile_sql(kpi.filter, ROW, kinds))
        return compile_sql(kpi.formula, AGGREGATE, kinds, predicate=kpi.filter)
    except FormulaError as err:
        key = "filter" if kpi.filter and _fails(kpi.filter, ROW) else "formula"
        raise ConfigError(str(err), location=cfg.where("kpis", name, key), hint=err.hint) from None


def _condition(cfg: Config, sf: SourceFrame, name: str, sql: str) -> None:
    """A KPI's filter is true or false on each row."""
    text = cfg.kpis[name].filter
    where = cfg.where("kpis", name, "filter")
    try:
        dtype = _dtype(sf, pl.sql_expr(sql))
    except pl.exceptions.PolarsError as err:
        detail = engine_detail(err)
        raise ConfigError(f"invalid filter `{text}`: {detail}", location=where) from None
    if gives := wrong_type(dtype, condition=True):
        raise ConfigError(
            f"filter `{text}` is not a condition: it gives {gives}",
            location=where,
            hint="a filter keeps the rows where it is true: spend > 0, channel = 'email'…",
        )


def _fails(text: str, place: str) -> bool:
    try:
        check(text, place)
    except FormulaError:
        return True
    return False


def _agg(cfg: Config, sf: SourceFrame, name: str, text: str) -> pl.Expr:
    """A source KPI's aggregate, a Float64. Its type is checked over no row: a formula that
    gives dates is a config error. (Text is left to the cast, whose failure names the cell
    when a numeric column was read as text because of one: see ``agg.empty``.)"""
    formula = cfg.kpis[name].formula
    where = cfg.where("kpis", name, "formula")
    try:
        expr = pl.sql_expr(text)
    except pl.exceptions.PolarsError as err:
        raise ConfigError(
            f"invalid formula `{formula}`: {engine_detail(err)}", location=where
        ) from None
    try:
        dtype = _dtype(sf, expr)
    except pl.exceptions.PolarsError:  # SUM over text…: the data may explain it, below
        return expr.cast(pl.Float64).alias(name)
    if (gives := wrong_type(dtype, condition=False)) and gives != "text":
        raise ConfigError(
            f"formula `{formula}` gives {gives}, not a number",
            location=where,
            hint="a KPI is a number: SUM, COUNT, AVG… of numeric columns",
        )
    return expr.cast(pl.Float64).alias(name)


def _check_dimension_names(cfg: Config, dims: tuple[str, ...], needed: list[str]) -> None:
    """A dimension may not share its name with a KPI of the report (its numbers would
    stand in the dimension's column), nor take the engine's own names (``__…``)."""
    for dim in dims:
        if dim in needed:
            raise UsageError(
                f"--by {dim}: KPI `{dim}` has the same name as the dimension",
                location=cfg.where("kpis", dim),
                hint=f"rename KPI `{dim}`, or give the column another name on its source "
                f"(`rename: {{{dim}: {dim}_name}}`) and use --by {dim}_name",
            )
        if dim.startswith("__"):
            raise UsageError(
                f"--by {dim}: names starting with `__` are kpi's own",
                hint=f"give the column another name on its source (`rename: {{{dim}: …}}`)",
            )


def _check_columns(
    cfg: Config, sf: SourceFrame, names: list[str], dims: tuple[str, ...], where: str | None
) -> None:
    have = list(sf.schema)
    for n in names:
        kpi = cfg.kpis[n]
        for key, text in (("formula", kpi.formula), ("filter", kpi.filter)):
            if text is None:
                continue
            for col in parse(text).names:
                if col not in have:
                    raise DataError(
                        f"KPI `{n}`: source `{sf.name}` has no column `{col}`",
                        location=cfg.where("kpis", n, key),
                        hint=did_you_mean(col, have) or f"its columns are: {', '.join(have)}",
                    )
    # a column the data lacks is a data error (exit 3) wherever it was named, as in formulas
    asked = [(f"--by {dim}", dim) for dim in dims]
    if where:
        asked += [(f"--where `{where}`", col) for col in parse(where).names]
    for option, col in asked:
        if col not in have:
            raise DataError(
                f"{option}: source `{sf.name}` has no column `{col}` (used by {_names(names)})",
                hint=did_you_mean(col, have)
                or f"it applies to every source used: add `{col}` to `{sf.name}` with "
                f"`rename` or `derive`; its columns are: {', '.join(have)}",
            )
    sf.require(request_columns(cfg, names, dims, where))  # in every file of the source
