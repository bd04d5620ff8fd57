"""`kpi anomalies`: the flagged buckets of every KPI, in total and per value of each --by
dimension, over the last buckets, worst first: the cron-friendly view of ``--anomalies``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

    from kpicli.errors import Notes
    from kpicli.execute.result import KpiInfo, Result
    from kpicli.plan.build import Request

#: The columns of ``Anomalies.rows`` after ``kpi``, ``period_start``, ``period_end``,
#: ``dimension`` and the dimension columns.
ROW_COLUMNS = ("value", "baseline", "lower", "upper", "anomaly", "anomaly_score")


@dataclass
class Anomalies:
    """What `kpi anomalies` found.

    ``rows``: the flagged buckets, worst first (by ``|anomaly_score|``): ``kpi`` (Utf8),
    ``period_start``, ``period_end`` (Date), ``dimension`` (Utf8: the --by dimension the
    row is a value of, null for a KPI's total), one column per dimension of ``dimensions``
    (Utf8: the value on rows of that dimension, null on others), then :data:`ROW_COLUMNS`.
    ``series``: every bucket (history included) of each flagged series, for charts:
    ``series`` (Int64, the same number for the buckets of one series), ``kpi``,
    ``dimension``, the dimension columns, ``period_start``, ``period_end``, then
    :data:`ROW_COLUMNS`; ordered by series (worst first) then date.
    """

    rows: pl.DataFrame
    series: pl.DataFrame
    kpis: dict[str, KpiInfo]
    dimensions: tuple[str, ...]  # the dimensions' columns (as Result.dimensions)
    grain: str
    last: int  # buckets looked at
    sensitivity: str
    period: tuple[date, date]  # the first and last day of the buckets looked at
    as_of: date
    generated_at: datetime | None = None
    currency: str | None = None
    locale: str | None = None
    #: the dimensions as --by named them, one per column of ``dimensions``
    dimension_names: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    #: series looked at (KPIs × (total + dimension values)), flagged or not
    checked: int = 0


#: Buckets looked at by default.
LAST = 7


def window(grain: str, last: int, as_of: date, week_start: str) -> tuple[date, date]:
    """The first and last day of the ``last`` whole buckets of ``grain`` before the one
    that contains ``as_of`` (a day, a week… still running is not judged: its data is not
    all in yet)."""
    from datetime import timedelta

    from kpicli.errors import UsageError
    from kpicli.spec import periods

    if last < 1:
        raise UsageError("{@last} must be at least 1")
    try:
        end = periods.bucket(as_of, grain, week_start).start - timedelta(days=1)
        start = end
        for _ in range(last):
            start = periods.bucket(start, grain, week_start).start - timedelta(days=1)
    except (OverflowError, ValueError):
        raise UsageError(
            f"{{@last}} {last}: the buckets before {as_of} fall outside supported dates"
        ) from None
    return start + timedelta(days=1), end


def anomalies(
    config: str | Path | None,
    request: Request,
    *,
    last: int = LAST,
    output: str | None = None,
    notes: Notes | None = None,
) -> tuple[Anomalies, str | None]:
    """Every KPI of ``request`` (or every visible one), in total and per value of each
    dimension of ``request.by`` (one at a time: a channel's series, a campaign's series),
    over the ``last`` whole buckets of ``request.grain`` (default day) before as-of: the
    flagged buckets, worst first. ``request``'s period and comparison are not used.
    ``output``: a file path (a template) to write to, returned expanded and checked never to
    be an input (None: standard output)."""
    from kpicli.commands.report import output_path, run_reports
    from kpicli.spec.config import load_config

    grain = request.grain or "day"
    as_of = request.as_of or date.today()
    cfg = load_config(config)
    start, end = window(grain, last, as_of, cfg.settings.week_start)
    base = replace(
        request,
        period="all",
        date_from=start,
        date_to=end,
        as_of=as_of,
        grain=grain,
        anomalies=True,
        compare="none",
        sort=None,
        limit=None,
    )
    dims = request.by
    requests = [replace(base, by=(d,)) for d in dims] or [base]
    _, results = run_reports(config, requests, notes=notes)
    found = _found(results, dims, grain=grain, last=last, period=(start, end), as_of=as_of)
    if output is None:
        return found, None
    return found, output_path(results[0], cfg.path, output)


def _found(
    results: list[Result],
    dims: tuple[str, ...],
    *,
    grain: str,
    last: int,
    period: tuple[date, date],
    as_of: date,
) -> Anomalies:
    """The flagged rows of every result (its totals once), worst first, and their series."""
    import polars as pl

    from kpicli.execute.result import dimension_keys

    keys = dimension_keys(dims)
    first = results[0]
    # each run's rows are one dimension's (its column under the key of all the dimensions:
    # the same name, unless two clash); the first run's totals are the totals
    totals = [first.totals, first.history_totals] if dims else [first.rows, first.history]
    parts = [_tagged(p, None, None, None) for p in totals]
    for dim, key, result in zip(dims, keys, results if dims else [], strict=True):
        name = result.dimensions[0]
        parts += [_tagged(f, dim, name, key) for f in (result.rows, result.history)]
    rows = pl.concat([p for p in parts[::2] if p is not None], how="diagonal_relaxed")
    columns = ["kpi", "period_start", "period_end", "dimension", *keys, *ROW_COLUMNS]
    rows = rows.select(columns)
    history = [h for h in parts[1::2] if h is not None]
    every = pl.concat([*history, rows], how="diagonal_relaxed").select(columns)
    series_keys = ["kpi", "dimension", *keys]
    flagged = rows.filter(pl.col("anomaly").is_not_null())
    flagged = flagged.sort(pl.col("anomaly_score").abs(), descending=True, maintain_order=True)
    order = (
        flagged.select(series_keys)
        .unique(maintain_order=True)
        .with_row_index("series")
        .with_columns(pl.col("series").cast(pl.Int64))
    )
    series = order.join(every, on=series_keys, how="left", nulls_equal=True)
    series = series.sort("series", "period_start")
    checked = rows.select(series_keys).unique().height
    return Anomalies(
        rows=flagged,
        series=series,
        kpis=first.kpis,
        dimensions=keys,
        grain=grain,
        last=last,
        sensitivity=first.anomalies or "medium",
        period=period,
        as_of=as_of,
        generated_at=first.generated_at,
        currency=first.currency,
        locale=first.locale,
        dimension_names=dims,
        warnings=results[-1].warnings,  # the notes of all the runs
        checked=checked,
    )


def _tagged(
    frame: pl.DataFrame | None, dim: str | None, name: str | None, key: str | None
) -> pl.DataFrame | None:
    """``frame`` with the ``dimension`` its rows are values of (None: totals) and that
    dimension's column ``name`` under ``key``."""
    import polars as pl

    if frame is None:
        return None
    if dim is None or name is None or key is None:
        return frame.with_columns(pl.lit(None, pl.Utf8).alias("dimension"))
    tagged = frame.with_columns(
        pl.lit(dim).alias("dimension"), pl.col(name).cast(pl.Utf8).alias(key)
    )
    return tagged.drop(name) if name != key else tagged
