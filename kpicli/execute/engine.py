"""Described sources + Plan → Result: run the aggregations, join them, derive, compare, set
targets and status.

The execution stage of a report, and the only one that reads rows: :func:`run_report`
checks the request, has ingest describe the sources it reads (from the Parquet cache when
there is one), builds the plan (:func:`kpicli.plan.build.build_plan`, which reads nothing)
and executes it. :func:`execute` turns the plan into Polars queries
(:mod:`kpicli.execute.queries`, which fills the cache's daily entries) and collects them
all at once, with ``pl.collect_all`` so that Polars shares the scans they have in common.
When a fast path of the reader fails on the data (a date cell past the sample that the CSV
reader cannot parse, a stray quote, bytes that are not UTF-8), the sources are read again
the careful way and the same plan runs again (:func:`_read_again`). On another engine
(``--engine``, ``settings.engine``: :func:`check_engine`), the aggregation step alone is
that engine's (``duckdb``: :mod:`kpicli.execute.duck`, the same frames from SQL), and
everything after it is shared.

The collected frames are small (one row per bucket × dimension values × KPI); the rest is
Polars over them. A KPI value that is not finite has overflowed (division by zero is null
already, in the SQL): an error (:func:`_overflow`); targets and pacing that are not finite
are null (:func:`_finite`).

With --by, each KPI's total is made as its ``total:`` says: ``blended`` from the
aggregations' totals (the KPI over all rows; :func:`_blended` finds those that count rows
the KPI has no value for), ``sum`` from the rows (:func:`_summed`), ``none`` not at all.
With --grain, the whole period's row is a report of its own without the grain
(:func:`_whole`), run only when an output reads ``Result.whole``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import cache as once
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import polars as pl

from kpicli.errors import ConfigError, DataError, Location, Notes, UsageError, engine_detail
from kpicli.execute.analysis import Analysed, analyse, trend_table, with_components
from kpicli.execute.queries import queries
from kpicli.execute.result import SEVERITY, KpiInfo, Result, dimension_keys
from kpicli.ingest.memo import ReadMemo
from kpicli.ingest.preset_dates import with_preset_dates
from kpicli.ingest.scan import (
    SourceFrame,
    fast_dates,
    locate_bad_value,
    misread_files,
    mixed_encodings,
    scan_source,
)
from kpicli.plan.build import (
    RANGE,
    Plan,
    Request,
    UncomputableFormulas,
    build_plan,
    cache_folder,
    sorts_by_status,
    sources_read,
    target_amounts,
)
from kpicli.spec import periods
from kpicli.spec.config import Config, Target
from kpicli.spec.formula import (
    DERIVED,
    FLOAT,
    FormulaError,
    compile_sql,
    parse,
    wrong_type,
)
from kpicli.spec.periods import DateRange

if TYPE_CHECKING:
    from kpicli.ingest.cache import Cache


def run_report(
    config: Config,
    request: Request,
    *,
    notes: Notes | None = None,
    cache: Cache | None = None,
    memo: ReadMemo | None = None,
) -> Result:
    """Compute a report: the public entry point of the library.

    ``notes`` receives the warnings about the data that do not stop the report (they are
    in ``Result.warnings`` too); ``cache``: a cache already opened (else the request's
    ``cache`` or ``settings.cache`` is opened here, when set). With a cache, the formulas'
    parse results are kept in its memo, saved when the report is done. ``memo``: what the
    reader remembers between reads of the files (:func:`own_memo`).
    """
    notes = own_notes(notes)
    memo = own_memo(memo, cache)
    config, names, cache = _checked(config, request, notes, cache, memo)
    if cache is None:
        return _prepare(config, request, names, cache, notes, memo).run()
    formulas = cache.memo()
    try:
        with formulas:
            return _prepare(config, request, names, cache, notes, memo).run()
    finally:
        formulas.save()


@dataclass
class Prepared:
    """A report ready to run: its plan, the sources it was built from (described, not
    read), the cache they came from, the notes that receive the warnings, and the memo
    the sources were read with (read again with it when a fast path fails)."""

    plan: Plan
    sources: dict[str, SourceFrame]
    cache: Cache | None
    notes: Notes
    memo: ReadMemo

    def run(self) -> Result:
        return execute(self.plan, self.sources, cache=self.cache, notes=self.notes, memo=self.memo)


def prepare_report(
    config: Config,
    request: Request,
    *,
    notes: Notes | None = None,
    cache: Cache | None = None,
    memo: ReadMemo | None = None,
    sql: bool = False,
) -> Prepared:
    """The request checked, its sources described (sniffed, or served by the cache), and
    the plan built from them: everything :func:`run_report` does before the rows are read.
    ``sql``: for `kpi sql`, which reads no row (a `table:` source is then fine whatever
    the engine).
    """
    notes = own_notes(notes)
    memo = own_memo(memo, cache)
    config, names, cache = _checked(config, request, notes, cache, memo, sql=sql)
    return _prepare(config, request, names, cache, notes, memo)


def _checked(
    config: Config,
    request: Request,
    notes: Notes,
    cache: Cache | None,
    memo: ReadMemo,
    *,
    sql: bool = False,
) -> tuple[Config, list[str], Cache | None]:
    """The config with its presets' date columns (where files have them), the sources the
    request reads (checked before anything is read: a `table:` needs Spark, unless for
    ``sql``), and the cache it uses (opened here when not given)."""
    engine = check_engine(config, request)  # before any file is read
    check_sources(config, sources_read(config, request), engine, sql=sql)
    config = with_preset_dates(config, memo)
    names = sources_read(config, request)
    if cache is None and engine == "polars":  # the other engines read the files
        cache = open_report_cache(config, request, notes, memo)
    return config, names, cache


def _prepare(
    config: Config,
    request: Request,
    names: list[str],
    cache: Cache | None,
    notes: Notes,
    memo: ReadMemo,
) -> Prepared:
    sources = read_sources(config, names, cache=cache, notes=notes, memo=memo)
    return Prepared(plan_report(config, request, sources), sources, cache, notes, memo)


def own_notes(notes: Notes | None) -> Notes:
    """``notes``, or new ones for a library caller that passed none: the warnings are in
    ``Result.warnings``, and in the ``kpicli`` logger as they are given."""
    return notes if notes is not None else Notes(echo=logging.getLogger("kpicli").warning)


def own_memo(memo: ReadMemo | None, cache: Cache | None) -> ReadMemo:
    """``memo``, else the one ``cache`` was opened with, else a new one: what the reader
    remembers from one read of a report's files to the next (a file found to need the
    tolerant reader past its sample is read so when the sources are read again)."""
    if memo is not None:
        return memo
    return cache.read_memo if cache is not None else ReadMemo()


def open_report_cache(
    config: Config, request: Request, notes: Notes | None, memo: ReadMemo | None = None
) -> Cache | None:
    """The cache a report uses (``--cache``, else ``settings.cache``), opened (its reads
    of the files with ``memo``); None without one, or when it cannot be used (a warning
    says why)."""
    folder = cache_folder(config, request)
    if folder is None:
        return None
    from kpicli.ingest.cache import open_cache

    return open_cache(folder, notes=notes, memo=memo)


def read_sources(
    config: Config,
    names: list[str],
    *,
    cache: Cache | None,
    notes: Notes | None,
    memo: ReadMemo | None = None,
) -> dict[str, SourceFrame]:
    """Each source described by ingest (files sniffed, columns typed; nothing collected),
    or served by the cache. Plain ISO date columns are parsed by the CSV reader as it reads
    (the fast path: :func:`_read_again` when a cell past the sample defeats it). ``memo``:
    as :func:`own_memo` gives it."""
    if cache is None:
        memo = own_memo(memo, cache)
        return {s: scan_source(config, s, typed_dates=True, notes=notes, memo=memo) for s in names}
    return {s: cache.source(config, s) for s in names}


def _read_again(
    plan: Plan, cache: Cache | None, notes: Notes | None, memo: ReadMemo
) -> dict[str, SourceFrame]:
    """The plan's sources described again, without the fast path (the files that need the
    tolerant reader, or to be decoded line by line, are marked as such in ``memo`` by now).
    """
    if cache is None:
        return {s: scan_source(plan.config, s, notes=notes, memo=memo) for s in plan.files}
    return {s: cache.source(plan.config, s) for s in plan.files}


def plan_report(config: Config, request: Request, sources: Mapping[str, SourceFrame]) -> Plan:
    """:func:`build_plan`, with a formula that cannot be computed over a column read as text
    explained by the cell that made it text (found in the file)."""
    try:
        return build_plan(config, request, sources)
    except UncomputableFormulas as err:
        located = locate_bad_value(sources[err.source], err.cause, columns=err.columns)
        raise (located or err) from None


FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


class _ReadAgain(Exception):
    """A fast path of the reader failed on the data: read the sources again without it."""


def _collect(
    plan: Plan, sources: Mapping[str, SourceFrame], frames: list[pl.LazyFrame], memo: ReadMemo
) -> list[pl.DataFrame]:
    """Every query at once; a failure explained (a cell located, a file gone), or, when a
    file is found to need reading another way (marked in ``memo``), _ReadAgain."""
    try:
        return pl.collect_all(frames)
    except OSError:  # a file that vanished since the sources were described
        _gone(plan)
        raise
    except pl.exceptions.PolarsError as err:
        _gone(plan)
        read = list(sources.values())
        if fast_dates(read) or mixed_encodings(read, memo=memo) or misread_files(read, memo=memo):
            raise _ReadAgain from None  # without the fast path, decoded line by line, or
            # with the tolerant reader
        found = locate_bad_value(read, err)
        if found is not None:
            raise found from None
        detail = engine_detail(err)
        files = sorted({str(f) for sf in read for f in sf.files})
        raise DataError(
            f"cannot compute the report: {detail}",
            location=Location.files(files),
            hint="a value does not parse as its column's type; check the column named above",
        ) from None


def _gone(plan: Plan) -> None:
    """A DataError for a file of the plan that is not there any more."""
    from kpicli.ingest.containers import real_file

    for name, files in plan.files.items():
        for f in files:
            if not real_file(f).exists():  # a zip member: its zip
                raise DataError(
                    f"source `{name}`: {f} is gone: it was there when the report was planned",
                    location=Location(str(f)),
                    hint="run the report again once the file is back",
                )


def _finite(frame: FrameT, names: list[str]) -> FrameT:
    """Division by zero and other non-finite results are null, never inf or NaN."""
    return frame.with_columns(
        pl.when(pl.col(n).is_finite()).then(pl.col(n)).otherwise(None).alias(n) for n in names
    )


def _wide(
    plan: Plan,
    frames: list[pl.DataFrame],
    keys: list[str],
    skeleton: pl.DataFrame,
    derived: list[list[pl.Expr]],
) -> pl.DataFrame:
    """Join every aggregation to the keys of ``skeleton``, then evaluate derived KPIs.

    An aggregation without rows for a key (a bucket without data, a dimension value that
    has rows in the comparison span only, or in another source only) takes its KPIs' values
    over no rows: COUNT 0, SUM null, as SQL gives them. ``derived``: the derived KPIs'
    expressions by level (:func:`_derived_levels`).
    """
    wide = skeleton
    for frame in frames:
        wide = wide.join(frame, on=keys, how="left", nulls_equal=True)
    for agg in plan.aggregations:
        if agg.count in wide.columns:
            missing = pl.col(agg.count).is_null()
            wide = wide.with_columns(
                pl.when(missing).then(pl.lit(v, dtype=pl.Float64)).otherwise(pl.col(n)).alias(n)
                for n, v in agg.empty.items()
            )
    present = set(wide.columns)
    names = [n for a in plan.aggregations for n in a.formulas if n in present]
    lazy = wide.lazy()
    for i, level in enumerate(derived):  # the KPIs of a level are independent
        lazy = lazy.with_columns(level)
        if i % DERIVED_BATCH == DERIVED_BATCH - 1:  # a chain of KPIs keeps the plan shallow
            lazy = _collected(plan, lazy).lazy()
    frame = _collected(plan, lazy)
    _overflow(plan, frame, names + plan.derived)
    return frame


def _derived_levels(plan: Plan) -> list[list[pl.Expr]]:
    """The derived KPIs' expressions, compiled and checked once per report, by level."""
    kinds = dict.fromkeys(plan.config.kpis, FLOAT)  # every KPI's value is a Float64
    return [[_derived(plan, name, kinds) for name in level] for level in plan.derived_levels()]


def _collected(plan: Plan, lazy: pl.LazyFrame) -> pl.DataFrame:
    try:
        return lazy.collect()
    except pl.exceptions.PolarsError as err:  # each formula was tried on a row (_derived)
        raise DataError(
            f"cannot compute the derived KPIs: {engine_detail(err)}",
            location=Location(str(plan.config.path)),
            hint="check the formulas of the KPIs without source",
        ) from None


#: Derived KPIs that depend on one another are evaluated this many levels per query.
DERIVED_BATCH = 100


def _derived(plan: Plan, name: str, kinds: dict[str, str]) -> pl.Expr:
    """A derived KPI's value, as the checked SQL of its formula."""
    cfg = plan.config
    formula = cfg.kpis[name].formula
    where = cfg.where("kpis", name, "formula")
    try:
        expr = pl.sql_expr(compile_sql(formula, DERIVED, kinds))
        # run over one row of ones: types that only fail when computed fail here, located
        ones = pl.DataFrame({n: [1.0] for n in cfg.dependencies(name)})
        dtype = ones.select(expr.alias(name)).schema[name]
    except FormulaError as err:
        raise ConfigError(str(err), location=where, hint=err.hint) from None
    except pl.exceptions.PolarsError as err:
        raise ConfigError(
            f"invalid formula `{formula}`: {engine_detail(err)}", location=where
        ) from None
    if gives := wrong_type(dtype, condition=False):
        raise ConfigError(
            f"formula `{formula}` gives {gives}, not a number",
            location=where,
            hint="a KPI is a number: combine other KPIs with + - * / and numbers",
        )
    return expr.cast(pl.Float64).alias(name)


def _overflow(plan: Plan, frame: pl.DataFrame, names: list[str]) -> None:
    """A KPI value that is ±inf or NaN overflowed a 64-bit float: an error, never a null.

    The SQL of every formula makes division by zero, the logarithm of 0 and the NaN of a
    function outside its domain null explicitly (:func:`kpicli.spec.formula.compile_sql`), so a
    value that is not finite here went beyond ±1.8e308 (or came from one that did: inf −
    inf). The first KPI in dependency order that has one is named.
    """
    present = set(frame.columns)
    names = [n for n in names if n in present]
    if not names or frame.height == 0:
        return
    flags = frame.select((~pl.col(n).is_finite()).any() for n in names).row(0)
    for name, bad in zip(names, flags, strict=True):
        if bad:
            raise DataError(
                f"KPI `{name}`: the value is too large to represent (beyond ±1.8e308)",
                location=plan.config.where("kpis", name, "formula"),
                hint="its formula or the data overflows a 64-bit float: check large "
                "products, POWER and EXP, and values such as 1e400 in the data",
            )


def _data_range(plan: Plan, frames: list[pl.DataFrame]) -> DateRange | None:
    firsts, lasts = [], []
    for frame in frames:
        for agg in plan.aggregations:
            if agg.first in frame.columns:
                firsts.append(frame[agg.first].min())
                lasts.append(frame[agg.last].max())
    firsts = [d for d in firsts if d is not None]
    lasts = [d for d in lasts if d is not None]
    return DateRange(min(firsts), max(lasts)) if firsts else None


def _bucket_table(plan: Plan, frames: list[pl.DataFrame]) -> tuple[pl.DataFrame, DateRange | None]:
    """One row per bucket (``__b``, its order): the RANGE keys of its value (``__cur``) and of
    its comparison value (``__prev``), and its bounds; and the report's period."""
    week_start = plan.config.settings.week_start
    if plan.ranges:
        n = len(plan.buckets)
        table = pl.DataFrame(
            {
                "__cur": plan.current,
                "__prev": plan.previous or [None] * n,
                "period_start": [b.start for b in plan.buckets],
                "period_end": [b.end for b in plan.buckets],
            },
            schema={
                "__cur": pl.Int32,
                "__prev": pl.Int32,
                "period_start": pl.Date,
                "period_end": pl.Date,
            },
        )
        return table.with_row_index("__b"), plan.period.range
    # --period all: the buckets the data falls in, clipped to its first and last dates
    period = _data_range(plan, frames)
    if plan.grain is None:  # one row, dated by the data (undated when no source has dates)
        keys: list[date | None] = [None]
        ranges: list[DateRange | None] = [period]
    else:
        keys = sorted({d for f in frames for d in f[RANGE].drop_nulls().to_list()})
        ranges = [periods.bucket(k, plan.grain, week_start).clip(period) for k in keys]  # type: ignore[arg-type]
    table = pl.DataFrame(
        {
            "__cur": keys,
            "__prev": [None] * len(keys),
            "period_start": [r.start if r else None for r in ranges],
            "period_end": [r.end if r else None for r in ranges],
        },
        schema={
            "__cur": pl.Date,
            "__prev": pl.Date,
            "period_start": pl.Date,
            "period_end": pl.Date,
        },
    )
    return table.with_row_index("__b"), period


def _sort_limit(plan: Plan, cur: pl.DataFrame, dims: tuple[str, ...]) -> pl.DataFrame:
    req = plan.request
    if not dims:
        return cur.sort("__b")
    if sorts_by_status(plan.config, req.sort):
        return cur.sort(["__b", *dims], nulls_last=True)  # then by status: _by_status
    if req.sort:
        name, _, direction = req.sort.partition(":")
        cur = cur.sort(
            ["__b", name, *dims],
            descending=[False, direction.lower() != "asc", *[False] * len(dims)],
            nulls_last=True,
        )
    else:
        cur = cur.sort(["__b", *dims], nulls_last=True)
    if req.limit is not None:
        cur = cur.filter(pl.int_range(pl.len()).over("__b") < req.limit)
    return cur


def _by_status(plan: Plan, rows: pl.DataFrame) -> pl.DataFrame:
    """``--sort status``: each KPI's rows of a bucket worst status first (bad, warn, ok, then
    none; ``status:asc`` the other way, none still last), in their order otherwise, the
    first ``--limit`` of them kept."""
    req = plan.request
    rank = pl.col("status").replace_strict(SEVERITY, default=len(SEVERITY), return_dtype=pl.Int8)
    if req.sort and req.sort.partition(":")[2].lower() == "asc":
        rank = pl.when(pl.col("status").is_null()).then(len(SEVERITY)).otherwise(-rank)
    bucket = ["kpi", "period_start", "period_end"]
    rows = rows.with_row_index("__row").with_columns(
        pl.col("__row").min().over(bucket).alias("__first"), rank.alias("__rank")
    )
    rows = rows.sort(["__first", "__rank", "__row"])
    if req.limit is not None:
        rows = rows.filter(pl.int_range(pl.len()).over(bucket) < req.limit)
    return rows.drop("__row", "__first", "__rank")


def _long(plan: Plan, wide: pl.DataFrame, ids: list[str], value: str) -> pl.DataFrame:
    for n in plan.selected:
        if n not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(n))
    long = wide.unpivot(index=ids, on=plan.selected, variable_name="kpi", value_name=value)
    return long.with_columns(pl.col(value).cast(pl.Float64))


def _lines(
    plan: Plan, frames: list[pl.DataFrame], table: pl.DataFrame, dims: tuple[str, ...]
) -> pl.DataFrame:
    """The rows of the report before KPIs: bucket (``__b``, ``__cur``, ``__prev``) × dims.

    Without dimensions, every bucket, even one without data. With dimensions, each bucket's
    dimension values that have rows (in any source) in the bucket or in its comparison span:
    a channel with leads last month and none this month is a row of this month, at 0.
    """
    if not dims:
        return table
    spans = ["__cur", "__prev"] if plan.counterparts else ["__cur"]
    keys = [RANGE, *dims]
    if not frames:
        return table.clear().with_columns(pl.lit(None, pl.Utf8).alias(d) for d in dims)
    found = pl.concat([f.select(keys) for f in frames]) if len(frames) > 1 else frames[0]
    if plan.request.anomalies:  # a series is every bucket: a channel without rows one day
        # (a tracking outage) is a line of that day, where it shows as an anomaly
        return table.join(found.select(dims).unique(maintain_order=True), how="cross")
    seen = pl.concat([table.select("__b", pl.col(s).alias(RANGE)) for s in spans])
    seen = seen.join(found.select(keys), on=RANGE, nulls_equal=True).select("__b", *dims)
    return table.join(seen.unique() if len(frames) > 1 or len(spans) > 1 else seen, on="__b")


def _frame(
    plan: Plan,
    frames: list[pl.DataFrame],
    table: pl.DataFrame,
    dims: tuple[str, ...],
    derived: list[list[pl.Expr]],
    rows: Wides | None = None,
) -> tuple[pl.DataFrame, Wides]:
    """Tidy rows (value, previous, change) for one set of keys (rows or totals), and the
    wide frames they come from (each line's KPIs, current and comparison span). ``rows``:
    for totals, the rows' wide frames, from which ``total: sum`` KPIs are made."""
    keys = [RANGE, *dims]
    lines = _lines(plan, frames, table, dims)

    def side(span: str) -> pl.DataFrame:
        """Each line with its KPIs over the span (``__cur`` or ``__prev``)."""
        skeleton = lines.select("__b", pl.col(span).alias(RANGE), *dims)
        wide = _wide(plan, frames, keys, skeleton, derived)
        return _summed(plan, wide, rows[span]) if rows is not None and plan.sums else wide

    cur = _sort_limit(plan, side("__cur"), dims).with_row_index("__order")
    wides = {"__cur": cur}
    long = _long(plan, cur, ["__order", "__b", *dims], "value")
    long = with_components(plan, long, cur, dims, ("__num", "__den"))
    if plan.counterparts:
        prev_wide = side("__prev")
        if dims and plan.request.limit is not None:  # the lines shown
            shown = cur.select("__b", *dims)
            prev_wide = prev_wide.join(shown, on=["__b", *dims], how="semi", nulls_equal=True)
        wides["__prev"] = prev_wide
        prev = _long(plan, prev_wide, ["__b", *dims], "previous")
        prev = with_components(plan, prev, prev_wide, dims, ("__pnum", "__pden"))
        long = long.join(prev, on=["kpi", "__b", *dims], how="left", nulls_equal=True)
    else:
        long = long.with_columns(pl.lit(None, dtype=pl.Float64).alias("previous"))
    change = pl.col("value") - pl.col("previous")
    long = long.with_columns(change.alias("change"))
    long = long.with_columns(
        pl.when(pl.col("previous") != 0)
        .then(pl.col("change") / pl.col("previous").abs())
        .alias("change_pct")
    )
    rank = pl.DataFrame({"kpi": plan.selected, "__k": range(len(plan.selected))})
    long = long.join(rank, on="kpi").sort(["__k", "__order"]).drop("__k", "__order")
    bounds = table.select("__b", "period_start", "period_end")
    return long.join(bounds, on="__b", how="left"), wides


#: The wide frames of a set of lines, by span (``__cur``, ``__prev``).
Wides = dict[str, pl.DataFrame]


def _summed(plan: Plan, totals: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """``totals`` (one line per bucket ``__b``) with the KPIs of ``total: sum`` made from
    ``rows`` (the lines by dimension values, same span): per bucket, an amount is the sum
    of the rows' values; a derived KPI is its formula over its inputs summed over the rows
    where it has a value. A ratio's component counts are summed over the same rows. A
    bucket without such rows has no value."""
    kinds = dict.fromkeys(plan.config.kpis, FLOAT)
    for name, inputs in plan.sums.items():
        summed = [*(inputs or (name,)), *plan.components.get(name, ())]
        has = rows.filter(pl.col(name).is_not_null())
        sums = has.group_by("__b").agg(pl.col(c).cast(pl.Float64).sum() for c in summed)
        made = totals.select("__b").join(sums, on="__b", how="left")
        if inputs:
            made = made.with_columns(_derived(plan, name, kinds))
        made = made.select("__b", name, *plan.components.get(name, ()))
        _overflow(plan, made, [name])
        totals = totals.drop(made.columns[1:]).join(made, on="__b", how="left")
    return totals


def _blended(plan: Plan, rows: pl.DataFrame) -> frozenset[str]:
    """The derived KPIs of ``total: blended`` whose total counts rows they have no value
    for: null in a line (of ``rows``, the lines by dimension values) where a KPI they
    combine (directly or not) is neither null nor zero (CPL = spend / leads of organic:
    leads, no spend)."""
    cfg = plan.config
    checked = [
        n for n in plan.selected if cfg.kpis[n].source is None and cfg.kpis[n].total == "blended"
    ]
    if not plan.dimensions or not checked or rows.height == 0:
        return frozenset()
    tests = []
    for name in checked:
        # what it combines, directly or through other derived KPIs (cpl * 2 is blended too)
        inputs = [d for d in cfg.order([name]) if d != name and d in rows.columns]
        some = pl.any_horizontal(pl.col(d).fill_null(0) != 0 for d in inputs) if inputs else False
        tests.append((pl.col(name).is_null() & some).any().alias(name))
    found = rows.select(tests).row(0, named=True)
    return frozenset(n for n, hit in found.items() if hit)


def _targets(
    plan: Plan, long: pl.DataFrame, dims: tuple[str, ...], columns: tuple[str, ...]
) -> pl.DataFrame:
    """target, expected, pace, projected and status of each row, as SPEC.md defines them;
    which rows have a target at all is :func:`_base`'s rule. ``columns``: the dimensions'
    columns in ``long``."""
    cfg, as_of = plan.config, plan.as_of
    week_start = cfg.settings.week_start
    targeted = [n for n in plan.selected if cfg.kpis[n].target is not None]
    if not targeted:
        return _no_target(long)
    amounts = target_amounts(cfg, targeted)
    where = frozenset(parse(plan.request.where).names) if plan.request.where else None
    long = long.with_row_index("__row")
    is_targeted = pl.col("kpi").is_in(targeted)
    parts = [_no_target(long.filter(~is_targeted))]
    for (name,), part in long.filter(is_targeted).group_by("kpi", maintain_order=True):
        kpi = cfg.kpis[str(name)]
        t = kpi.target
        assert t is not None
        base = _base(t, dims, columns, amount=str(name) in amounts, where=where)
        part = part.with_columns(base.cast(pl.Float64).alias("__base"))
        if t.per is not None:
            spans = part.select("period_start", "period_end").unique().drop_nulls()
            factors = []
            for start, end in spans.iter_rows():  # one per bucket, not per data row
                whole = DateRange(start, end)
                running = start <= as_of < end
                f = periods.prorated_target(1.0, t.per, whole, week_start)
                e = (
                    periods.prorated_target(1.0, t.per, DateRange(start, as_of), week_start)
                    if running
                    else None
                )
                elapsed = (as_of - start).days + 1 if running else None
                factors.append((start, end, f, e, whole.days, elapsed))
            ftable = pl.DataFrame(
                factors,
                schema={
                    "period_start": pl.Date,
                    "period_end": pl.Date,
                    "__f": pl.Float64,
                    "__e": pl.Float64,
                    "__days": pl.Float64,
                    "__elapsed": pl.Float64,
                },
                orient="row",
            )
            part = part.join(ftable, on=["period_start", "period_end"], how="left")
            part = part.with_columns(
                (pl.col("__base") * pl.col("__f")).alias("target"),
                (pl.col("__base") * pl.col("__e")).alias("expected"),
            ).with_columns(
                (pl.col("value") / pl.col("expected")).alias("pace"),
                (pl.col("value") * pl.col("__days") / pl.col("__elapsed")).alias("projected"),
            )
            part = part.drop("__f", "__e", "__days", "__elapsed")
        else:
            part = part.with_columns(
                pl.col("__base").alias("target"),
                *(
                    pl.lit(None, dtype=pl.Float64).alias(c)
                    for c in ("expected", "pace", "projected")
                ),
            )
        part = _finite(part, ["target", "expected", "pace", "projected"])
        ratio = pl.coalesce(pl.col("pace"), pl.col("value") / pl.col("target"))
        parts.append(part.drop("__base").with_columns(_status(ratio, kpi.better, t.tolerance)))
    return pl.concat(parts, how="vertical").sort("__row").drop("__row")


def _no_target(part: pl.DataFrame) -> pl.DataFrame:
    return part.with_columns(
        *(
            pl.lit(None, dtype=pl.Float64).alias(c)
            for c in ("target", "expected", "pace", "projected")
        ),
        pl.lit(None, dtype=pl.Utf8).alias("status"),
    )


def _base(
    t: Target,
    dims: tuple[str, ...],
    columns: tuple[str, ...],
    *,
    amount: bool,
    where: frozenset[str] | None,
) -> pl.Expr:
    """The row's target before prorating, or null: which rows a target applies to.

    ``dims`` are the rows' dimensions (none for totals and reports without --by), in
    ``columns``; ``where`` the columns --where reads (None without --where).

    A **level** (a rate, a cost per, an average: no ``per``, not an amount) is a standard
    that any slice of the data is held to: rows grouped by ``by`` (alone or with other
    dimensions, filtered or not) take ``values[their value]``, else ``value``; other rows
    take ``total`` (a target without ``by``: ``value``, and ``total`` instead on rows not
    split by a dimension when both are given).

    An **amount** (a ``per`` goal, or a count or sum without ``per``) is a goal for the rows
    it was set for, and no target for a part of them:

    - rows of ``--by <by>`` alone take ``values[their value]``, else ``value``, unless
      --where reads another column than ``by`` (a filter on ``by`` alone keeps whole
      values; any other makes each row a part of its value);
    - rows not split by any dimension take ``total`` (a target without ``by``: ``total``,
      else ``value``), unless --where filters them: a filtered total is not the total;
    - every other row (split by dimensions other than ``by``, or by ``by`` and others) has
      no target and no status.
    """
    none = pl.lit(None, dtype=pl.Float64)
    if t.by is not None and t.by in dims:
        whole = dims == (t.by,) and (where is None or where <= {t.by})
        if amount and not whole:
            return none
        if not t.values:
            return pl.lit(t.value, dtype=pl.Float64)
        return pl.col(columns[dims.index(t.by)]).replace_strict(
            list(t.values), list(t.values.values()), default=t.value, return_dtype=pl.Float64
        )
    if amount and (dims or where is not None):
        return none
    if t.by is not None:
        return pl.lit(t.total, dtype=pl.Float64)
    plain = t.value if dims or t.total is None else t.total
    return pl.lit(plain, dtype=pl.Float64)


def _status(ratio: pl.Expr, better: str, tolerance: float) -> pl.Expr:
    ok = ratio >= 1 if better == "higher" else ratio <= 1
    warn = ratio >= 1 - tolerance if better == "higher" else ratio <= 1 + tolerance
    finite = ratio.is_finite()
    return (
        pl.when(finite & ok)
        .then(pl.lit("ok"))
        .when(finite & warn)
        .then(pl.lit("warn"))
        .when(finite)
        .then(pl.lit("bad"))
        .otherwise(None)
        .alias("status")
    )


def execute(
    plan: Plan,
    sources: Mapping[str, SourceFrame],
    *,
    cache: Cache | None = None,
    notes: Notes | None = None,
    memo: ReadMemo | None = None,
) -> Result:
    """Run a plan over the sources it was built from: one collect over every aggregation
    (rows and totals), then shape the tidy result. ``memo``: the one the sources were read
    with (:func:`own_memo`), with which they are read again when a fast path fails."""
    notes = own_notes(notes)
    memo = own_memo(memo, cache)
    dims = plan.dimensions
    frames, sources, reread = _aggregate(plan, sources, cache, notes, memo)
    n = len(plan.aggregations)
    row_frames, total_frames = frames[:n], frames[n:]
    table, period = _bucket_table(plan, row_frames)

    # the dimensions under names of the engine's own until the end: a data column may be
    # named like a column of the tidy rows (a CRM's `status`, a `value`, a `kpi`)
    columns = tuple(f"__by{i}" for i in range(len(dims)))
    row_frames = [f.rename(dict(zip(dims, columns, strict=True))) for f in row_frames]
    derived = _derived_levels(plan)
    long, wides = _frame(plan, row_frames, table, columns, derived)
    rows = _targets(plan, long, dims, columns)
    if dims and sorts_by_status(plan.config, plan.request.sort):
        rows = _by_status(plan, rows)
    keys = dimension_keys(dims)
    analysed = analyse(plan, rows, table, dict(zip(columns, keys, strict=True)))
    totals = None
    if dims:
        long, _ = _frame(plan, total_frames, table, (), derived, wides)
        long = long.filter(~pl.col("kpi").is_in(plan.untotalled))
        totals = analyse(plan, _targets(plan, long, (), ()), table, {})
    out = _result(plan, analysed, totals, period, notes, reread=reread)
    out.blended = _blended(plan, wides["__cur"])
    if plan.grain is not None:
        out.whole_source = once(partial(_whole, plan, sources, cache=cache, memo=memo))
    return out


def _aggregate(
    plan: Plan,
    sources: Mapping[str, SourceFrame],
    cache: Cache | None,
    notes: Notes,
    memo: ReadMemo,
) -> tuple[list[pl.DataFrame], Mapping[str, SourceFrame], bool]:
    """The aggregation step on the plan's engine: the rows frames of every aggregation in
    the plan's order, then the totals frames; the sources (read again when a fast path of
    the Polars reader failed: then True)."""
    engine = check_engine(plan.config, plan.request)
    if engine == "duckdb":  # the rest of the report is shared
        from kpicli.execute import duck

        try:
            return duck.run(plan, sources), sources, False
        except DataError:
            _gone(plan)  # a file gone since the plan was made: said so, as on Polars
            raise
    if engine == "spark":
        from kpicli.execute import spark

        try:
            return spark.run_plan(plan, sources), sources, False
        except DataError:
            _gone(plan)
            raise
    reread = False
    while True:
        built = queries(plan, sources, cache)
        lazy = [q.rows for q in built] + [q.totals for q in built if q.totals is not None]
        try:
            return _collect(plan, sources, lazy, memo), sources, reread
        except _ReadAgain:  # a date cell past the sample that the CSV reader cannot parse,
            # or a file found to need the tolerant reader (a stray quote past the sample)
            sources, reread = _read_again(plan, cache, notes, memo), True


#: The engines of the aggregation step (``--engine``, ``settings.engine``).
ENGINES = ("polars", "duckdb", "spark")


def check_engine(config: Config, request: Request) -> str:
    """The engine of a report (``--engine``, else ``settings.engine``), checked: known,
    installed (a UsageError, exit 2, otherwise), and without ``--cache`` (the Parquet
    cache is the Polars engine's: ``settings.cache`` is not used by the others)."""
    engine = request.engine or config.settings.engine
    if engine not in ENGINES:
        raise UsageError(f"unknown engine `{engine}`", hint=f"use one of: {', '.join(ENGINES)}")
    if engine != "polars" and request.cache:
        raise UsageError(
            f"--cache works with the polars engine only, not with --engine {engine}",
            hint="leave --cache out (the engine reads the files), or use --engine polars",
        )
    if engine == "duckdb":
        from kpicli.execute.duck import require_duckdb

        require_duckdb()
    elif engine == "spark":
        from kpicli.execute.spark import require_pyspark

        require_pyspark()
    return engine


def check_sources(config: Config, names: Iterable[str], engine: str, *, sql: bool = False) -> None:
    """Before any file is read: the sources of ``names`` that ``engine`` cannot read are a
    UsageError (exit 2): a `table:` (:func:`refuse_tables`; not for ``sql``, which only
    names it), a remote path (``s3a://``…: Spark's alone). With remote paths, the Spark
    session of ``settings.spark`` is started now: kpi lists and samples those files
    through its file system (:mod:`kpicli.ingest.remote`), ``kpi sql`` too."""
    names = list(names)
    if not sql:
        refuse_tables(config, names, engine)
    remote = remote_sources(config, names)
    if not remote:
        return
    if engine != "spark" and not sql:
        name, pattern = remote[0]
        raise UsageError(
            f"source `{name}` reads `{pattern}`, a remote path, which --engine {engine} "
            "cannot read",
            hint="run with --engine spark (or `settings.engine: spark`; settings.spark says "
            "where), or copy the files to a local folder",
        )
    spark_session(config)


def remote_sources(config: Config, names: Iterable[str]) -> list[tuple[str, str]]:
    """(source, pattern) of each `path:` of ``names`` that is a URI (a remote store)."""
    from kpicli.ingest.remote import is_remote

    return [(n, p) for n in names for p in config.sources[n].path if is_remote(p)]


def spark_session(config: Config) -> None:
    """The Spark session of ``config``, started (PySpark missing: a UsageError)."""
    from kpicli.execute.spark import require_pyspark, session

    require_pyspark()
    session(config)


def refuse_tables(config: Config, names: Iterable[str], engine: str) -> None:
    """A UsageError (exit 2) when a source of ``names`` is a `table:` and ``engine`` cannot
    read tables: Spark reads its catalog's, DuckDB those of `settings.duckdb.database`."""
    if engine == "spark" or (engine == "duckdb" and config.settings.duckdb is not None):
        return
    for name in names:
        table = config.sources[name].table
        if table is not None:
            raise UsageError(
                f"source `{name}` is the table `{table}`, which --engine {engine} cannot read",
                hint="run with --engine spark (settings.spark says where), or --engine duckdb "
                "with `settings.duckdb.database`; or print the report's SQL for the warehouse "
                "with `kpi sql --dialect bigquery` (or snowflake, postgres, spark, duckdb)",
            )


def _whole(
    plan: Plan, sources: Mapping[str, SourceFrame], *, cache: Cache | None, memo: ReadMemo
) -> pl.DataFrame | None:
    """With --grain, the report over the whole period (the request without its grain nor
    anomalies): its totals with dimensions, else its rows; one row per KPI. The sources are
    read again (only when an output shows it); its warnings were given by the report."""
    request = replace(plan.request, grain=None, anomalies=False)
    sub = build_plan(plan.config, request, sources)
    whole = execute(sub, sources, cache=cache, notes=Notes(), memo=memo)
    return whole.totals if whole.dimensions else whole.rows


def _result(
    plan: Plan,
    rows: Analysed,
    totals: Analysed | None,
    period: DateRange | None,
    notes: Notes,
    *,
    reread: bool,
) -> Result:
    cfg = plan.config
    reads = cfg.reads(plan.selected)
    comparison = None
    if shown := plan.counterparts[plan.history :]:  # not those of the history's buckets
        comparison = (min(c.start for c in shown), max(c.end for c in shown))
    out = Result(
        rows=rows.rows,
        totals=totals.rows if totals is not None else None,
        kpis={n: _info(cfg, n, reads[n]) for n in plan.selected},
        dimensions=dimension_keys(plan.dimensions),
        dimension_names=plan.dimensions,
        grain=plan.grain,
        as_of=plan.as_of,
        period=(period.start, period.end) if period else None,
        period_label=plan.period.text,
        comparison=comparison,
        generated_at=datetime.now(UTC).replace(microsecond=0),
        currency=cfg.settings.currency,
        locale=cfg.settings.locale,
        plan=plan,
        warnings=tuple(notes),
        reread=reread,
        anomalies=plan.request.sensitivity if plan.request.anomalies else None,
    )
    if sorts_by_status(cfg, plan.request.sort):
        out.status_order = "asc" if plan.request.sort.lower().endswith(":asc") else "desc"
    if plan.request.anomalies:
        out.history = rows.history
        out.history_totals = totals.history if totals is not None else None
    out.trend_source = partial(trend_table, plan, rows, totals, out.dimensions)
    return out


def _info(cfg: Config, name: str, sources: tuple[str, ...]) -> KpiInfo:
    k = cfg.kpis[name]
    return KpiInfo(
        name=name,
        label=k.label or name.replace("_", " ").capitalize(),
        unit=k.unit,
        better=k.better,
        formula=k.formula,
        description=k.description,
        sources=sources,
        group=k.group,
        total=k.total,
    )
