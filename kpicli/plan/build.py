"""Config + Request + described sources → Plan: what to aggregate, and in which order to derive.

One aggregation per (source, date column): every KPI of that source counted on that date
column is one expression of a single ``group_by``; a KPI's own ``filter`` becomes a
``FILTER (WHERE …)`` on its aggregates, so it does not need a scan of its own. Derived
KPIs are listed in dependency order, to be evaluated after the aggregates are joined.

Nothing is read here: :func:`build_plan` opens no file, writes nothing and fills no cache.
Its inputs are the config, the request and the sources as ingest described them (files,
columns and their types: :class:`~kpicli.ingest.scan.SourceFrame`, whose lazy frame is not
touched here). The plan is data: each aggregation is its source, grouping keys, SQL
aggregates, ``--where`` as SQL, date column and spans; the engine
(:mod:`kpicli.execute.engine`) turns it into queries and runs them. ``Plan.describe()``
feeds ``kpi explain``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from kpicli.errors import (
    ConfigError,
    DataError,
    Location,
    UsageError,
    did_you_mean,
    engine_detail,
)
from kpicli.ingest.scan import SourceFrame, request_columns
from kpicli.spec import periods
from kpicli.spec.config import Config, no_kpis_issue
from kpicli.spec.formula import (
    AGGREGATE,
    COUNT,
    LEVEL,
    RATIO,
    ROW,
    SUM,
    FormulaError,
    MakeUp,
    check,
    compile_sql,
    decompose,
    is_amount,
    kinds_of,
    make_up,
    parse,
    rollup_kind,
    widened_columns,
    wrong_type,
)
from kpicli.spec.periods import DateRange, Period

#: ``--sort status``: rows by status, worst first (``status:asc``: best first).
STATUS_SORT = "status"
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
    #: --anomalies: each bucket against what the buckets before it predict (needs --grain)
    anomalies: bool = False
    sensitivity: str = "medium"  # the anomaly interval's width: low, medium, high
    lookback: int | None = None  # buckets of history before the period (else the grain's)
    #: the engine of the aggregation step: polars, duckdb or spark (kpicli.execute.engine);
    #: None: the config's ``settings.engine`` (polars unless set)
    engine: str | None = None


@dataclass(frozen=True)
class Decomposition:
    """An aggregation's formulas as partial aggregates (SUM, COUNT, MIN, MAX) and formulas
    over them. The partials are computed over the rows, grouped by every key; the same
    partials are aggregated again (``rollups``: the totals from the rows' groups, months
    from the cache's days), and each KPI's value is its ``final`` over them."""

    partials: dict[str, str]  # partial SQL → its column
    rollups: dict[str, str]  # partial's column → SQL that aggregates it again
    finals: dict[str, str]  # KPI → SQL of its value over the partials' columns


@dataclass
class Aggregation:
    """All KPIs of one source counted on one date column: one group_by over one scan."""

    source: str
    date_column: str | None
    formulas: dict[str, str]  # KPI name → SQL aggregate (its filter attached)
    dimensions: tuple[str, ...] = ()  # the --by columns (with the span key: the group keys)
    where: str | None = None  # --where, as SQL over this source's rows
    #: the source's date columns: a stage date after as-of has not happened yet (nulled)
    stage_dates: tuple[str, ...] = ()
    #: integer columns that are summed: Polars wraps Int64 sums around silently (2**62 +
    #: 2**62 < 0), so they are summed as Int128 (the rule: kpicli.spec.formula.widened_columns)
    widened: tuple[str, ...] = ()
    decomposed: Decomposition | None = None  # None: a formula does not decompose
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
    files: dict[str, tuple[Path, ...]] = field(default_factory=dict)  # source → its files
    buckets: list[DateRange] = field(default_factory=list)  # empty for --period all
    counterparts: list[DateRange] = field(default_factory=list)  # one per bucket (--compare)
    ranges: list[DateRange] = field(default_factory=list)  # distinct spans aggregated
    #: bucket i -> its RANGE key: its index in ranges, or its bucket number when aligned
    current: list[int] = field(default_factory=list)
    previous: list[int] = field(default_factory=list)  # bucket i -> its counterpart's key
    aggregations: list[Aggregation] = field(default_factory=list)
    #: RANGE is each row's grain bucket number (see :meth:`align`), not a calendar join
    aligned: bool = False
    #: the bucket numbers aggregated, when they are not every number from the first to the
    #: last (rows of other buckets are dropped)
    ordinals: list[int] | None = None
    #: --anomalies: the first ``history`` buckets are before the period, learned from only
    history: int = 0
    #: with --compare or --anomalies: each selected KPI's make-up (kpicli.stats' models)
    makeups: dict[str, MakeUp] = field(default_factory=dict)
    #: a ratio of counts → the hidden KPIs of its numerator and denominator (computed with
    #: the others, in the same aggregations: the statistics need the counts)
    components: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: the selected KPIs whose total (``total: sum``) is made from the rows: KPI → the KPIs
    #: summed over the rows where it has a value (empty: an amount, its values summed)
    sums: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def untotalled(self) -> list[str]:
        """The selected KPIs whose ``total`` is ``none``: no total row."""
        return [n for n in self.selected if self.config.kpis[n].total == "none"]

    @property
    def keys(self) -> list[str]:
        """Group keys of the rows frames."""
        return [RANGE, *self.dimensions]

    @property
    def total_keys(self) -> list[str]:
        return [RANGE]

    @property
    def week_start(self) -> str:
        return self.config.settings.week_start

    @property
    def engine(self) -> str:
        """The engine of the aggregation step: the request's, else ``settings.engine``."""
        return self.request.engine or self.config.settings.engine

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
        itself (:func:`ordinal`), which is cheaper than joining every row to a calendar.
        Spans that are not whole buckets (``--compare previous`` of a running period by
        day…) keep the calendar.
        """
        if not self.grain or not self.ranges:
            return
        low, high = self.counted_days()
        for r in self.ranges:
            b = periods.bucket(r.start, self.grain, self.week_start)
            if max(b.start, low) != r.start or min(b.end, high) != min(r.end, self.as_of):
                return
        starts = pl.DataFrame({"d": [r.start for r in self.ranges]}, schema={"d": pl.Date})
        numbers = starts.select(ordinal(pl.col("d"), self.grain, self.week_start))["d"]
        numbers = numbers.to_list()
        if len(set(numbers)) != len(numbers):
            return
        self.aligned = True
        self.current = [numbers[i] for i in self.current]
        self.previous = [numbers[i] for i in self.previous]
        counted = [n for n, r in zip(numbers, self.ranges, strict=True) if r.start <= high]
        if counted and sorted(counted) != list(range(min(counted), max(counted) + 1)):
            self.ordinals = sorted(counted)

    def derived_levels(self) -> list[list[str]]:
        """The derived KPIs by level: each depends only on source KPIs and lower levels."""
        level: dict[str, int] = {}
        for name in self.derived:  # dependencies first
            deps = [level.get(d, -1) for d in self.config.dependencies(name)]
            level[name] = max(deps, default=-1) + 1
        out: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
        for name, n in level.items():
            out[n].append(name)
        return out

    def counted_days(self) -> tuple[date, date]:
        """The first and last day any span counts (never after as-of)."""
        low = min(r.start for r in self.ranges)
        return low, min(max(r.end for r in self.ranges), self.as_of)

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
                    "files": [str(f) for f in self.files[a.source]],
                    "formulas": a.formulas,
                }
                for a in self.aggregations
            ],
        }


class UncomputableFormulas(DataError):
    """Formulas of a source that cannot be computed over its columns as typed (a SUM over a
    column read as text, because of one cell): the reading stage locates the cell (see
    :func:`kpicli.ingest.scan.locate_bad_value`) from ``source``, ``cause`` and ``columns``."""

    def __init__(
        self, message: str, *, source: str, cause: BaseException, columns: list[str], **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.source, self.cause, self.columns = source, cause, columns


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


def resolve_period(cfg: Config, request: Request, as_of: date) -> Period:
    week_start = cfg.settings.week_start
    period = periods.parse_period(request.period, as_of, week_start)
    if request.date_from or request.date_to:
        period = periods.explicit_period(request.date_from, request.date_to, as_of, period)
    return period


def ordinal(col: pl.Expr, grain: str, week_start: str) -> pl.Expr:
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


# ---------------------------------------------------------------------------- the request


@dataclass(frozen=True)
class _Checked:
    """A request checked against the config, before any source is looked at."""

    as_of: date
    selected: list[str]
    needed: list[str]  # selected, the KPI sorted by, and what they depend on
    period: Period
    comparison: DateRange | None
    groups: dict[tuple[str, str | None], list[str]]  # (source, date column) → its KPIs

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(s for s, _ in self.groups))


def sources_read(cfg: Config, request: Request) -> list[str]:
    """The sources a report reads, in order, once the request is checked against the config
    (a UsageError or ConfigError otherwise). Nothing is read here."""
    return _check_request(cfg, request).sources


def _check_request(cfg: Config, request: Request) -> _Checked:
    as_of = request.as_of or date.today()
    selected = _select(cfg, request)
    extra = [name] if request.sort and (name := _check_sort(cfg, request.sort)) else []
    if request.limit is not None and request.limit < 1:
        raise UsageError("{@limit} must be at least 1")
    needed = cfg.order(selected + extra)
    if request.grain is not None and request.grain not in periods.GRAINS:
        raise UsageError(
            f"unknown grain `{request.grain}`", hint=f"use one of: {', '.join(periods.GRAINS)}"
        )
    _check_dimension_names(cfg, request.by, needed)
    period = resolve_period(cfg, request, as_of)
    comparison = periods.comparison_range(period, request.compare, as_of, cfg.settings.week_start)
    groups: dict[tuple[str, str | None], list[str]] = {}
    for name in needed:
        kpi = cfg.kpis[name]
        if kpi.source is not None:
            date_col = kpi.date or cfg.sources[kpi.source].date
            groups.setdefault((kpi.source, date_col), []).append(name)
    if request.where:
        _check_where(request.where)
    _check_anomalies(request)
    return _Checked(as_of, selected, needed, period, comparison, groups)


def _check_anomalies(request: Request) -> None:
    from kpicli.stats.anomaly import Z

    if request.sensitivity not in Z:
        raise UsageError(
            f"unknown sensitivity `{request.sensitivity}`", hint=f"use one of: {', '.join(Z)}"
        )
    if request.lookback is not None and request.lookback < 1:
        raise UsageError("{@lookback} must be at least 1")
    if request.anomalies and request.grain is None:
        raise UsageError(
            "{@anomalies} needs {@grain}: a value is an anomaly against the buckets before it",
            hint="add {@grain} day (or week, month…), e.g. {@period} last-7-days {@grain} day",
        )


def _select(cfg: Config, request: Request) -> list[str]:
    if (issue := no_kpis_issue(cfg)) is not None:
        raise ConfigError(issue.message, location=issue.where, hint=issue.hint)
    if not request.kpis:
        if not cfg.visible():
            raise UsageError(
                "every KPI is hidden", hint="name the KPIs to show with {@kpis} NAME[,NAME…]"
            )
        return cfg.visible()
    for name in request.kpis:
        if name not in cfg.kpis:
            raise UsageError(
                f"unknown KPI `{name}` in --kpi",
                hint=did_you_mean(name, cfg.kpis) or "`kpi list` shows the declared KPIs",
            )
    return list(request.kpis)


def sorts_by_status(cfg: Config, sort: str | None) -> bool:
    """``--sort status`` (rows worst status first), unless a KPI is named ``status``."""
    name = (sort or "").partition(":")[0]
    return name.lower() == STATUS_SORT and name not in cfg.kpis


def _check_sort(cfg: Config, sort: str) -> str | None:
    """--sort NAME[:asc|desc]: the KPI sorted by (it is computed even when not shown); None
    for ``--sort status`` (a KPI of that name wins)."""
    name, _, direction = sort.partition(":")
    if name not in cfg.kpis and name.lower() == STATUS_SORT:
        if direction not in ("", "asc", "desc"):
            raise UsageError(f"{{@sort}} {sort}: the order is `asc` or `desc`")
        return None
    if name not in cfg.kpis:
        raise UsageError(
            f"unknown KPI `{name}` in {{@sort}}",
            hint=did_you_mean(name, cfg.kpis)
            or "sort by a KPI name, e.g. {@sort} leads, or by status: {@sort} status",
        )
    if direction not in ("", "asc", "desc"):
        raise UsageError(f"{{@sort}} {sort}: the order is `asc` or `desc`")
    return name


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


def _check_where(text: str) -> None:
    """--where is a predicate on rows: checked before any source is read."""
    try:
        check(text, ROW)
    except FormulaError as err:
        raise UsageError(f"invalid --where `{text}`: {err}", hint=err.hint) from None


# ---------------------------------------------------------------------------- the plan


def build_plan(cfg: Config, request: Request, sources: Mapping[str, SourceFrame]) -> Plan:
    """Check a request against the config and the described sources, and lay out the
    aggregations. ``sources``: at least :func:`sources_read`'s, as ingest described them
    (only their names, files, columns and types are used). Nothing is read here."""
    checked = _check_request(cfg, request)
    makeups, components = {}, {}
    if request.anomalies or request.compare != "none":
        makeups = _makeups(cfg, checked.needed, sources)
        cfg, components = _with_components(cfg, checked, makeups)
    derived = [n for n in checked.needed if cfg.kpis[n].source is None]
    plan = Plan(
        cfg,
        request,
        checked.as_of,
        checked.period,
        checked.comparison,
        request.grain,
        request.by,
        checked.selected,
        derived,
        files={s: tuple(sources[s].files) for s in checked.sources},
        makeups={n: makeups[n] for n in checked.selected if n in makeups},
        components=components,
        sums=summed_totals(cfg, checked.selected),
    )
    _lay_out_buckets(plan)
    for (sname, date_col), names in checked.groups.items():
        plan.aggregations.append(_aggregation(plan, sources[sname], date_col, names))
    return plan


def summed_totals(cfg: Config, selected: list[str]) -> dict[str, tuple[str, ...]]:
    """The KPIs of ``selected`` whose total is made from the rows (``total: sum``) → what is
    summed: nothing more for an amount (a count or sum: its rows' values are summed), the
    KPIs it combines for a derived KPI of amounts (CPL = spend / leads: the total is the
    spend of the rows that have a CPL over their leads). A ``sum`` that cannot be made (an
    average, a ratio of a ratio) is a ConfigError at ``kpis.<name>.total``."""
    amounts: set[str] = set()
    for n in cfg.order([n for n in selected if cfg.kpis[n].total == "sum"]):
        kpi = cfg.kpis[n]
        if is_amount(kpi.formula, frozenset() if kpi.source else amounts):
            amounts.add(n)
    out: dict[str, tuple[str, ...]] = {}
    for name in selected:
        kpi = cfg.kpis[name]
        if kpi.total != "sum":
            continue
        if name in amounts:
            out[name] = ()
            continue
        inputs = cfg.dependencies(name)
        others = [d for d in inputs if d not in amounts]
        if kpi.source is not None or others or not inputs:
            what = f"`{others[0]}` is not an amount" if others else "it is not an amount"
            raise ConfigError(
                f"KPI `{name}`: `total: sum` needs a count or sum, or a formula over counts "
                f"and sums; {what}",
                location=cfg.where("kpis", name, "total"),
                hint="use `total: blended` (the KPI over all rows) or `total: none`",
            )
        out[name] = inputs
    return out


def _makeups(
    cfg: Config, needed: list[str], sources: Mapping[str, SourceFrame]
) -> dict[str, MakeUp]:
    """What each KPI of ``needed`` is made of (dependencies first: a derived KPI's make-up
    follows from its KPIs')."""
    out: dict[str, MakeUp] = {}
    for name in cfg.order(needed):
        kpi = cfg.kpis[name]
        if kpi.unit in ("currency", "duration"):  # a measure, never a count of events
            out[name] = MakeUp(SUM if _amount(cfg, name, out) else LEVEL)
        elif kpi.source is not None:
            columns = kinds_of(sources[kpi.source].schema)
            out[name] = make_up(kpi.formula, columns=columns, integer=kpi.unit == "integer")
        else:
            counts = {n for n, m in out.items() if m.kind == COUNT}
            amounts = {n for n, m in out.items() if m.kind == SUM}
            out[name] = make_up(kpi.formula, counts=counts, amounts=amounts)
    return out


def _amount(cfg: Config, name: str, known: dict[str, MakeUp]) -> bool:
    kpi = cfg.kpis[name]
    if kpi.source is not None:
        return is_amount(kpi.formula)
    return is_amount(kpi.formula, {n for n, m in known.items() if m.kind in (COUNT, SUM)})


def _with_components(
    cfg: Config, checked: _Checked, makeups: dict[str, MakeUp]
) -> tuple[Config, dict[str, tuple[str, str]]]:
    """The config with a hidden KPI for the numerator and the denominator of each selected
    ratio of counts (the same source, filter and date: the counts behind its value), added
    to what ``checked`` computes."""
    components: dict[str, tuple[str, str]] = {}
    extra = {}
    for name in checked.selected:
        m = makeups[name]
        if m.kind != RATIO or m.numerator is None or m.denominator is None:
            continue
        kpi = cfg.kpis[name]
        pair = (f"__num__{name}", f"__den__{name}")
        for part, text in zip(pair, (m.numerator, m.denominator), strict=True):
            extra[part] = kpi.model_copy(update={"formula": text, "target": None, "hidden": True})
        components[name] = pair
    if not extra:
        return cfg, components
    cfg = cfg.changed(kpis={**cfg.kpis, **extra})
    for part, kpi in extra.items():
        checked.needed.append(part)
        if kpi.source is not None:
            date_col = kpi.date or cfg.sources[kpi.source].date
            checked.groups.setdefault((kpi.source, date_col), []).append(part)
    return cfg, components


def _history(plan: Plan) -> list[DateRange]:
    """--anomalies: the whole buckets before the period the model learns from."""
    from kpicli.stats.anomaly import WINDOW

    assert plan.grain is not None and plan.buckets
    count = plan.request.lookback or WINDOW[plan.grain]
    out: list[DateRange] = []
    # a first bucket cut by the period (a week from a Wednesday) is not learned from: the
    # history ends with the whole bucket before the one it is part of
    start = periods.bucket(plan.buckets[0].start, plan.grain, plan.week_start).start
    for _ in range(count):
        if start <= date.min:
            break
        bucket = periods.bucket(start - timedelta(days=1), plan.grain, plan.week_start)
        out.append(bucket)
        start = bucket.start
    return out[::-1]


def _lay_out_buckets(plan: Plan) -> None:
    """The plan's buckets (the period cut by the grain), their counterparts, the spans."""
    period, grain, request = plan.period.range, plan.grain, plan.request
    if period is None:
        return
    plan.buckets = periods.buckets(period, grain, plan.week_start) if grain else [period]
    if grain:  # buckets wholly after --as-of have nothing to count yet
        plan.buckets = [b for b in plan.buckets if b.start <= plan.as_of] or plan.buckets[:1]
    if grain and request.anomalies:
        history = _history(plan)
        plan.history = len(history)
        plan.buckets = history + plan.buckets
    if request.compare != "none":
        if grain:
            plan.counterparts = [
                periods.counterpart(b, request.compare, grain, as_of=plan.as_of)
                for b in plan.buckets
            ]
        else:
            assert plan.comparison is not None
            plan.counterparts = [plan.comparison]
    plan.lay_out_ranges()


def _aggregation(
    plan: Plan, sf: SourceFrame, date_col: str | None, names: list[str]
) -> Aggregation:
    """The KPIs ``names`` of source ``sf`` counted on ``date_col``, checked over its columns."""
    cfg, request = plan.config, plan.request
    _check_columns(cfg, sf, names, plan.dimensions, request.where)
    _check_date_use(plan, sf, date_col, names)
    kinds = kinds_of(sf.schema)
    formulas = {n: _formula(cfg, sf, n, kinds) for n in names}
    for n, text in formulas.items():
        _check_value_type(cfg, sf, n, text)
    agg = Aggregation(
        sf.name,
        date_col,
        formulas,
        plan.dimensions,
        where=_where(request.where, sf, kinds) if request.where else None,
        stage_dates=tuple(sf.date_columns),
        widened=widened_columns([cfg.kpis[n].formula for n in names], kinds),
    )
    agg.empty = _over_no_rows(cfg, sf, names, formulas)
    agg.decomposed = _decompose(formulas)
    return agg


def _check_date_use(plan: Plan, sf: SourceFrame, date_col: str | None, names: list[str]) -> None:
    """The date column of an aggregation is not a dimension; a source without one can only
    be counted whole: over any period with ``--period all``, and over a period that covers
    the period each of its files states in its preamble (a report not split by day)."""
    source = sf.name
    if date_col in plan.dimensions:
        raise UsageError(
            f"--by {date_col}: `{date_col}` is the date of the rows of source `{source}` "
            f"(for {_names(names)}), not a dimension",
            hint="for one row per day, use --grain day",
        )
    spans = plan.period.range is not None or plan.grain or plan.comparison is not None
    if date_col is None and spans:
        if not (plan.grain or plan.comparison) and stated_inside(plan, sf):
            return
        asked = "{@grain}" if plan.grain else "{@compare}" if plan.comparison else "{@period}"
        said = next((f"; {Path(f).name} states `{p[0]}`" for f, p in sf.stated.items()), "")
        raise UsageError(
            f"source `{source}` has no date column, so {asked} cannot apply to "
            f"{_names(names)}{said}",
            hint="its KPIs cover the whole file: use {@period} all, or set "
            f"`date:` on source `{source}`",
        )


def stated_inside(plan: Plan, sf: SourceFrame) -> bool:
    """Whether each file of a source without dates states a period (its first and last
    day) inside the period asked: its KPIs then count those files whole. A file that states
    a period the one asked does not cover is a UsageError; False when a file states none."""
    asked = plan.period.range
    if asked is None or not sf.files:
        return False
    last = min(asked.end, plan.as_of)
    for f in sf.files:
        text, first_day, last_day = sf.stated.get(str(f), ("", None, None))
        if first_day is None or last_day is None:
            return False
        start, end = date.fromisoformat(first_day), date.fromisoformat(last_day)
        if start < asked.start or end > last:
            raise UsageError(
                f"source `{sf.name}` has no date column and {f} states the period `{text}` "
                f"({start} to {end}), which {{@period}} {asked.start} to {last} does not cover",
                hint="its KPIs count the whole file: ask for a period that covers the one "
                "it states, or {@period} all",
            )
    return True


def _over_no_rows(
    cfg: Config, sf: SourceFrame, names: list[str], formulas: dict[str, str]
) -> dict[str, float | None]:
    """The KPIs' values over no rows (SQL: COUNT is 0, SUM is null): what buckets without
    rows take. Computing them also proves the formulas run over the columns as typed."""
    exprs = [pl.sql_expr(text).cast(pl.Float64).alias(n) for n, text in formulas.items()]
    try:
        return pl.DataFrame(schema=sf.schema).select(exprs).row(0, named=True)
    except pl.exceptions.PolarsError as err:  # e.g. SUM over a column read as text
        raise UncomputableFormulas(
            f"source `{sf.name}`: cannot compute {_names(names)}: {engine_detail(err)}",
            source=sf.name,
            cause=err,
            columns=[c for n in names for c in parse(cfg.kpis[n].formula).names],
            location=Location.files(str(f) for f in sf.files),
            hint="a column the formulas use holds text where numbers are expected",
        ) from None


def _decompose(formulas: dict[str, str]) -> Decomposition | None:
    """The decomposition of an aggregation's formulas; None when one does not decompose.

    One group_by by the rows' keys computes the partial aggregates; the rows' values are
    formulas over them, and the totals re-aggregate the same partials by the time keys
    only. So the data is grouped once, and the engine never has to keep the scanned rows
    in memory for a second grouping.
    """
    partials: dict[str, str] = {}
    finals = {n: decompose(text, partials) for n, text in formulas.items()}
    if any(v is None for v in finals.values()):
        return None
    rollups = {name: f'{rollup_kind(sql)}("{name}")' for sql, name in partials.items()}
    try:  # what the engine will run: SQL that Polars does not take is not decomposed
        for text in (*partials, *finals.values(), *rollups.values()):
            pl.sql_expr(text)
    except pl.exceptions.PolarsError:
        return None
    return Decomposition(partials, rollups, {n: v for n, v in finals.items() if v is not None})


def _names(names: list[str]) -> str:
    return "KPI " + ", ".join(f"`{n}`" for n in names)


def _where(text: str, sf: SourceFrame, kinds: dict[str, str]) -> str:
    """--where over one source's rows, as SQL (its columns' types decide the arithmetic)."""
    try:
        sql = compile_sql(text, ROW, kinds)
        dtype = _dtype(sf, pl.sql_expr(sql))
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
    return sql


def _dtype(sf: SourceFrame, expr: pl.Expr) -> pl.DataType:
    """The type of an expression over a source's rows (no row is read)."""
    return pl.LazyFrame(schema=sf.schema).select(expr.alias("__e")).collect_schema()["__e"]


def _formula(cfg: Config, sf: SourceFrame, name: str, kinds: dict[str, str]) -> str:
    """A source KPI's formula as the engine gets it: its filter attached, checked, widened."""
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


def _check_value_type(cfg: Config, sf: SourceFrame, name: str, text: str) -> None:
    """A source KPI's aggregate is a number. Its type is checked over no row: a formula
    that gives dates is a config error. (Text is left to the cast, whose failure names the
    cell when a numeric column was read as text because of one: see :func:`_over_no_rows`.)"""
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
    except pl.exceptions.PolarsError:  # SUM over text…: the data may explain it
        return
    if (gives := wrong_type(dtype, condition=False)) and gives != "text":
        raise ConfigError(
            f"formula `{formula}` gives {gives}, not a number",
            location=where,
            hint="a KPI is a number: SUM, COUNT, AVG… of numeric columns",
        )


def missing_columns(cfg: Config, name: str, have: list[str]) -> Iterator[DataError]:
    """For each column the formula or filter of source KPI ``name`` uses that its source's
    columns ``have`` lack, a DataError located at the formula or filter (the plan raises
    the first; `kpi validate` lists them all)."""
    kpi = cfg.kpis[name]
    for key, text in (("formula", kpi.formula), ("filter", kpi.filter)):
        for col in parse(text).names if text is not None else ():
            if col not in have:
                yield DataError(
                    f"KPI `{name}`: source `{kpi.source}` has no column `{col}`",
                    location=cfg.where("kpis", name, key),
                    hint=did_you_mean(col, have) or f"its columns are: {', '.join(have)}",
                )


def _check_columns(
    cfg: Config, sf: SourceFrame, names: list[str], dims: tuple[str, ...], where: str | None
) -> None:
    """Every column the KPIs, --by and --where use is a column of the source (of each of
    its files): a DataError naming the first missing."""
    have = list(sf.schema)
    for n in names:
        for problem in missing_columns(cfg, n, have):
            raise problem
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


def target_amounts(cfg: Config, names: list[str]) -> set[str]:
    """The KPIs among ``names`` whose target is an amount of the rows it was set for: a
    ``per`` goal (additive by definition), or a KPI that is an amount (SUM, COUNT, their
    sums and differences: :func:`~kpicli.spec.formula.is_amount`). The others are levels."""
    amounts: set[str] = set()
    for n in cfg.order(names):
        k = cfg.kpis[n]
        if (k.target is not None and k.target.per is not None) or is_amount(
            k.formula, frozenset() if k.source else amounts
        ):
            amounts.add(n)
    return {n for n in names if n in amounts}
