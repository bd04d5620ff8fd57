"""`kpi anomalies`: the flagged buckets of every KPI, in total and per value of each --by
dimension, over the last buckets, worst first: the cron-friendly view of ``--anomalies``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

    from kpicli.execute.result import KpiInfo

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
