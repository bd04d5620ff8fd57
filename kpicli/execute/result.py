"""The engine's output: one tidy frame of KPI rows plus what renderers need to show it.

Renderers only format what is here; they never compute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

    from kpicli.plan.build import Plan

#: Columns of ``Result.rows`` before the dimension columns.
KEY_COLUMNS = ("kpi", "period_start", "period_end")
#: Columns of ``Result.rows`` after the dimension columns (all Float64 but ``status``).
VALUE_COLUMNS = (
    "value",
    "previous",
    "change",
    "change_pct",
    "target",
    "expected",
    "pace",
    "projected",
    "status",
)
#: Columns added to ``Result.rows`` (after VALUE_COLUMNS) with ``--compare``: whether the
#: change is real (:mod:`kpicli.stats.change`).
SIGNIFICANCE_COLUMNS = ("change_significant", "p_value")
#: Columns added to ``Result.rows`` (after those) with ``--anomalies``
#: (:mod:`kpicli.stats.anomaly`): Float64 but ``anomaly`` (Utf8: high, low or null).
ANOMALY_COLUMNS = ("baseline", "lower", "upper", "anomaly", "anomaly_score")
#: Columns of ``Result.trends`` after ``kpi`` and the dimension columns.
TREND_COLUMNS = ("total", "slope", "p_value", "significant", "buckets")
#: Statuses worst first (``--sort status``); rows without a status come after them.
SEVERITY = {"bad": 0, "warn": 1, "ok": 2}
#: The statuses each ``--fail-on`` level exits 1 on.
FAIL_LEVELS = {"warn": ["warn", "bad"], "bad": ["bad"]}

#: The fields of a row in the outputs (with what SPEC.md adds to some: comparisons'
#: significance, anomalies; JSONL's ``unit``). A dimension of one of these names is keyed
#: ``by_<name>``.
OUTPUT_FIELDS = frozenset(
    {*KEY_COLUMNS, *VALUE_COLUMNS, "total", *SIGNIFICANCE_COLUMNS, *ANOMALY_COLUMNS}
    | {"slope", "significant", "buckets", "unit"}
)


def dimension_keys(dims: tuple[str, ...]) -> tuple[str, ...]:
    """The column of each dimension in the results and machine outputs: its own name, or
    ``by_<name>`` when that is an output field (``--by status``, a CRM's lead status, beside
    the KPI's ``status``), prefixed again while it clashes with another dimension's."""
    taken = set(dims)
    keys: list[str] = []
    for dim in dims:
        key = dim
        while key in OUTPUT_FIELDS or (key != dim and key in taken):
            key = f"by_{key}"
        taken.add(key)
        keys.append(key)
    return tuple(keys)


@dataclass(frozen=True)
class KpiInfo:
    """How one KPI is described and shown."""

    name: str
    label: str
    unit: str = "number"  # number | integer | percent | currency | duration
    better: str = "higher"  # higher | lower
    formula: str = ""
    description: str | None = None
    sources: tuple[str, ...] = ()
    group: str | None = None  # the section it is shown in (config `group:`)
    total: str = "blended"  # blended | sum | none: how its total row is made (config `total:`)


@dataclass
class Result:
    """A computed report.

    ``rows``: one row per KPI x time bucket x dimension values, columns
    ``KEY_COLUMNS + dimensions + VALUE_COLUMNS``, where ``dimensions`` are the dimensions'
    columns (:func:`dimension_keys` of ``dimension_names``, the names --by gave); ``kpi``
    Utf8, ``period_start``/``period_end`` Date, dimension columns as read, values Float64
    (null when missing or not finite), ``status`` Utf8 (``ok``/``warn``/``bad``/null).
    Rows are ordered by KPI (in ``kpis`` order), then period, then dimension order
    (``--sort`` order when given).
    ``totals``: the same without dimension columns, present when ``dimensions`` is non-empty.

    With ``--compare``, rows and totals also have :data:`SIGNIFICANCE_COLUMNS`
    (``change_significant`` Boolean, ``p_value`` Float64; null where no test applies); with
    ``--anomalies`` (``anomalies`` is the sensitivity), :data:`ANOMALY_COLUMNS` after them.
    ``history``: with ``--anomalies``, the rows of the buckets before the period that the
    model learned from (same columns; never shown as rows of the report, for charts).
    ``blended``: with dimensions, the KPIs whose total counts rows the KPI has no value for
    (a derived KPI null in a row where one of the KPIs it combines is not null nor zero: CPL
    of organic, which has leads but no spend): their total mixes what the rows do not.
    ``whole``: with ``--grain``, one row per KPI over the whole period (the columns of
    ``totals``, ``period_start``/``period_end`` the period; ``previous`` over the period's
    comparison range; the target prorated to the period), computed when an output first
    reads it (CSV and JSONL never do); with dimensions, the whole period's totals.
    ``trends``: with ``--grain`` and at least 3 buckets, one row per KPI × dimension values
    (rows, then totals with dimensions null and ``total`` true): ``kpi``, the dimension
    columns, :data:`TREND_COLUMNS` (``slope`` relative per bucket, ``p_value``,
    ``significant`` Boolean, ``buckets`` the values used).
    """

    rows: pl.DataFrame
    totals: pl.DataFrame | None
    kpis: dict[str, KpiInfo]
    dimensions: tuple[str, ...]
    grain: str | None
    as_of: date
    period: tuple[date, date] | None
    period_label: str = "all"
    comparison: tuple[date, date] | None = None
    generated_at: datetime | None = None
    currency: str | None = None
    locale: str | None = None
    plan: Plan | None = field(default=None, repr=False)  # the plan that was executed
    #: the dimensions as --by named them, one per column of ``dimensions`` (the same names
    #: unless one is an output field); empty means the same as ``dimensions``
    dimension_names: tuple[str, ...] = ()
    #: warnings about the data that did not stop the report (a file read the careful way,
    #: rows repaired, a cache entry rebuilt), in order
    warnings: tuple[str, ...] = ()
    #: a fast path of the reader failed on the data (a late date cell it cannot parse, a
    #: stray quote past the sample): the sources were read again, the careful way
    reread: bool = False
    #: with --anomalies: the sensitivity (low, medium, high); None without
    anomalies: str | None = None
    #: with --sort status: ``desc`` (worst first) or ``asc`` (best first); None without
    status_order: str | None = None
    history: pl.DataFrame | None = None
    history_totals: pl.DataFrame | None = None
    #: what computes :attr:`trends` when an output first reads them (set by the engine):
    #: they need numpy, and CSV or JSONL never show them
    trend_source: Callable[[], pl.DataFrame | None] | None = field(default=None, repr=False)
    #: the KPIs whose total is blended (see the class)
    blended: frozenset[str] = frozenset()
    #: what computes :attr:`whole` when an output first reads it (set by the engine, with
    #: --grain): a report over the whole period, which reads the sources again
    whole_source: Callable[[], pl.DataFrame | None] | None = field(default=None, repr=False)

    @cached_property
    def trends(self) -> pl.DataFrame | None:
        """The trends of the series (see the class), or None; assignable."""
        return self.trend_source() if self.trend_source is not None else None

    @cached_property
    def whole(self) -> pl.DataFrame | None:
        """The whole period's row per KPI with ``--grain`` (see the class), or None;
        assignable."""
        return self.whole_source() if self.whole_source is not None else None

    def dimension_name(self, key: str) -> str:
        """The name --by gave the dimension of column ``key`` (what tables show)."""
        if not self.dimension_names:
            return key
        return dict(zip(self.dimensions, self.dimension_names, strict=True)).get(key, key)

    def fails(self, fail_on: str) -> bool:
        """True when a row or total has the status ``fail_on`` (warn or bad) or worse, or,
        for ``anomaly``, is flagged."""
        return fail_on != "never" and self.failing(fail_on).height > 0

    def failing(self, fail_on: str) -> pl.DataFrame:
        """The rows, then the totals (dimensions null), whose status is ``fail_on`` or worse
        (``anomaly``: that are flagged), with a ``total`` column: what made ``--fail-on``
        exit 1 (no rows for ``never``)."""
        import polars as pl

        frames = [(self.rows, False)]
        if self.totals is not None:
            frames.append((self.totals, True))
        if fail_on == "anomaly":
            flagged = pl.col("anomaly").is_not_null() if self.anomalies else pl.lit(False)
        else:
            flagged = pl.col("status").is_in(FAIL_LEVELS.get(fail_on, []))
        parts = [f.filter(flagged).with_columns(total=pl.lit(is_total)) for f, is_total in frames]
        return pl.concat(parts, how="diagonal_relaxed")

    def input_files(self) -> list[str]:
        """Every file read for this result (so that no output overwrites one)."""
        if self.plan is None:
            return []
        return sorted({str(f) for files in self.plan.files.values() for f in files})
