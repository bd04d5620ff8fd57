"""Plan → Result: run the aggregations, join them, derive, and shape tidy rows.

The only ``collect`` of a report happens here, once, over every aggregation (current and
totals) with ``pl.collect_all`` so that Polars shares what the plans have in common.
Non-finite results become null in one place (:func:`_finite`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import reduce

import polars as pl

from kpicli import periods
from kpicli.config import Config
from kpicli.errors import DataError
from kpicli.periods import DateRange
from kpicli.plan import BUCKET, ONE, Plan, Request, build_plan
from kpicli.result import KEY_COLUMNS, VALUE_COLUMNS, KpiInfo, Result


def run_report(config: Config, request: Request) -> Result:
    """Compute a report: the public entry point of the library."""
    return execute(build_plan(config, request))


def _join(frames: list[pl.LazyFrame], keys: list[str]) -> pl.LazyFrame:
    return reduce(
        lambda a, b: a.join(b, on=keys, how="full", coalesce=True, nulls_equal=True), frames
    )


def _collect(plan: Plan, frames: list[pl.LazyFrame]) -> list[pl.DataFrame]:
    try:
        return pl.collect_all(frames)
    except pl.exceptions.PolarsError as err:
        raise _data_error(plan, err) from None


def _data_error(plan: Plan, err: Exception) -> DataError:
    text = str(err).strip().splitlines()
    detail = text[0] if text else type(err).__name__
    files = sorted({str(f) for sf in plan.sources.values() for f in sf.files})
    return DataError(
        f"cannot compute the report: {detail}",
        location=", ".join(files),
        hint="a value does not parse as its column's type; check the column named above",
    )


def _finite(frame: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """Division by zero and other non-finite results are null, never inf or NaN."""
    return frame.with_columns(
        pl.when(pl.col(n).is_finite()).then(pl.col(n)).otherwise(None).alias(n) for n in names
    )


def _derive(plan: Plan, wide: pl.DataFrame) -> pl.DataFrame:
    cfg = plan.config
    for name in plan.derived:
        expr = pl.sql_expr(cfg.kpis[name].formula).cast(pl.Float64)
        wide = _finite(wide.with_columns(expr.alias(name)), [name])
    return wide


def _data_range(plan: Plan, frames: list[pl.DataFrame]) -> DateRange | None:
    firsts, lasts = [], []
    for frame in frames:
        for agg in plan.aggregations:
            if agg.first in frame.columns:
                firsts.append(frame[agg.first].min())
                lasts.append(frame[agg.last].max())
    firsts = [d for d in firsts if d is not None]
    lasts = [d for d in lasts if d is not None]
    if not firsts:
        return None
    return DateRange(min(firsts), max(lasts))


def _wide(plan: Plan, frames: list[pl.DataFrame], keys: list[str]) -> pl.DataFrame:
    names = [n for a in plan.aggregations for n in a.formulas]
    if not frames:
        wide = pl.DataFrame({ONE: [0]})
    else:
        wide = reduce(
            lambda a, b: a.join(b, on=keys, how="full", coalesce=True, nulls_equal=True), frames
        )
    wide = _finite(wide, names)
    return _derive(plan, wide)


def _bounds(plan: Plan, wide: pl.DataFrame, rng: DateRange | None) -> pl.DataFrame:
    """Add period_start / period_end: the period, or each bucket clipped to it."""
    if plan.grain is None:
        start = rng.start if rng else None
        end = rng.end if rng else None
        return wide.with_columns(
            pl.lit(start, dtype=pl.Date).alias("period_start"),
            pl.lit(end, dtype=pl.Date).alias("period_end"),
        )
    week_start = plan.config.settings.week_start
    starts = wide[BUCKET].drop_nulls().unique().to_list()
    mapping: dict[date, tuple[date, date]] = {}
    for s in starts:  # one per bucket, not per row
        b = periods.bucket(s, plan.grain, week_start)
        clipped = b.clip(rng) if rng else b
        b = clipped or b
        mapping[s] = (b.start, b.end)
    lookup = pl.DataFrame(
        {
            BUCKET: list(mapping),
            "__s": [v[0] for v in mapping.values()],
            "__e": [v[1] for v in mapping.values()],
        },
        schema={BUCKET: pl.Date, "__s": pl.Date, "__e": pl.Date},
    )
    out = wide.join(lookup, on=BUCKET, how="left")
    return out.drop(BUCKET).rename({"__s": "period_start", "__e": "period_end"})


def _sort_limit(plan: Plan, wide: pl.DataFrame) -> pl.DataFrame:
    req = plan.request
    by = ["period_start", *plan.dimensions]
    if req.sort:
        name, _, direction = req.sort.partition(":")
        descending = direction.lower() != "asc"
        wide = wide.sort(["period_start", name], descending=[False, descending], nulls_last=True)
    else:
        wide = wide.sort(by, nulls_last=True)
    if req.limit is not None:
        wide = wide.with_columns(pl.int_range(pl.len()).over("period_start").alias("__rank"))
        wide = wide.filter(pl.col("__rank") < req.limit).drop("__rank")
    return wide


def _tidy(plan: Plan, wide: pl.DataFrame, dims: tuple[str, ...]) -> pl.DataFrame:
    ids = ["period_start", "period_end", *dims]
    wide = wide.with_row_index("__order")
    for n in plan.selected:
        if n not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(n))
    long = wide.unpivot(
        index=["__order", *ids], on=plan.selected, variable_name="kpi", value_name="value"
    )
    rank = pl.DataFrame(
        {"kpi": plan.selected, "__k": list(range(len(plan.selected)))},
        schema={"kpi": pl.Utf8, "__k": pl.Int64},
    )
    long = long.join(rank, on="kpi").sort(["__k", "__order"]).drop("__k", "__order")
    nulls = [pl.lit(None, dtype=pl.Float64).alias(c) for c in VALUE_COLUMNS[1:-1]]
    long = long.with_columns(pl.col("value").cast(pl.Float64), *nulls)
    long = long.with_columns(pl.lit(None, dtype=pl.Utf8).alias("status"))
    return long.select(*KEY_COLUMNS, *dims, *VALUE_COLUMNS)


def execute(plan: Plan) -> Result:
    """Run a plan: one collect over every aggregation, then shape the tidy result."""
    dims = plan.dimensions
    lazy = [a.rows for a in plan.aggregations]
    if dims:
        lazy += [a.totals for a in plan.aggregations if a.totals is not None]
    frames = _collect(plan, lazy)
    n = len(plan.aggregations)
    row_frames, total_frames = frames[:n], frames[n:]

    rng = plan.period.range
    if rng is not None:
        rng = rng.clip(DateRange(rng.start, max(rng.start, plan.as_of))) or rng
    else:
        rng = _data_range(plan, row_frames)

    wide = _bounds(plan, _wide(plan, row_frames, plan.keys), rng)
    wide = _sort_limit(plan, wide)
    rows = _tidy(plan, wide, dims)
    totals = None
    if dims:
        twide = _bounds(plan, _wide(plan, total_frames, plan.total_keys), rng)
        totals = _tidy(plan, twide.sort("period_start", nulls_last=True), ())

    cfg = plan.config
    kpis = {n: _info(cfg, n) for n in plan.selected}
    return Result(
        rows=rows,
        totals=totals,
        kpis=kpis,
        dimensions=dims,
        grain=plan.grain,
        as_of=plan.as_of,
        period=(rng.start, rng.end) if rng else None,
        period_label=plan.period.text,
        comparison=(plan.comparison.start, plan.comparison.end) if plan.comparison else None,
        generated_at=datetime.now(UTC).replace(microsecond=0),
        currency=cfg.settings.currency,
        locale=cfg.settings.locale,
        plan=plan,
    )


def _info(cfg: Config, name: str) -> KpiInfo:
    k = cfg.kpis[name]
    used = cfg.order([name])
    sources = tuple(dict.fromkeys(cfg.kpis[u].source for u in used if cfg.kpis[u].source))
    return KpiInfo(
        name=name,
        label=k.label or name.replace("_", " ").capitalize(),
        unit=k.unit,
        better=k.better,
        formula=k.formula,
        description=k.description,
        sources=sources,
    )
