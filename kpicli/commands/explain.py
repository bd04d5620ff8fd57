"""What is declared (`kpi list`) and how one KPI is made (`kpi explain`).

:func:`catalog` lists the KPIs of a configuration as plain data. :func:`explain` runs one KPI
and everything it depends on through the very plan `kpi report --kpi …` runs
(``prepare_report`` then ``run``); beside it, one hidden ``COUNT(*)`` per way its source KPIs
read their source (same source, date column and filter), counted by a query of its own over
the same period, buckets, dimensions and ``--where``. It returns the dependency tree down to
the columns of the files, the files read, the values of every KPI involved, row counts, and
the Polars plans of the aggregations that ran (``LazyFrame.explain()`` of the queries of the
very plan the engine executed).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from kpicli.errors import Notes, UsageError, did_you_mean

if TYPE_CHECKING:
    from kpicli.execute.result import Result
    from kpicli.plan.build import Request
    from kpicli.spec.config import Config, Target

#: Prefix of the hidden row-count KPIs explain adds.
ROWS = "__rows_"


# ---------------------------------------------------------------------------- kpi list


@dataclass(frozen=True)
class Entry:
    """One declared KPI, as `kpi list` shows it."""

    name: str
    label: str
    unit: str
    better: str
    formula: str
    source: str | None  # the source it aggregates; None for a derived KPI
    sources: tuple[str, ...]  # every source it reads, directly or through other KPIs
    hidden: bool
    description: str | None = None
    filter: str | None = None
    date: str | None = None
    target: Target | None = None


def label_of(cfg: Config, name: str) -> str:
    return cfg.kpis[name].label or name.replace("_", " ").capitalize()


def sources_of(cfg: Config, name: str) -> tuple[str, ...]:
    """Every source a KPI reads, in dependency order."""
    return cfg.reads([name])[name]


def catalog(cfg: Config, *, hidden: bool = False) -> list[Entry]:
    """The KPIs in file order; hidden ones only when ``hidden``."""
    out = []
    reads = cfg.reads(list(cfg.kpis))
    for name, k in cfg.kpis.items():
        if k.hidden and not hidden:
            continue
        out.append(
            Entry(
                name=name,
                label=label_of(cfg, name),
                unit=k.unit,
                better=k.better,
                formula=k.formula,
                source=k.source,
                sources=reads[name],
                hidden=k.hidden,
                description=k.description,
                filter=k.filter,
                date=k.date,
                target=k.target,
            )
        )
    return out


# ---------------------------------------------------------------------------- kpi explain


@dataclass
class Node:
    """A step of the dependency tree: a KPI, or a column of a source."""

    name: str
    kind: str  # "derived" | "source" (KPIs) | "column"
    formula: str | None = None  # KPI formula, or a derived column's SQL expression
    source: str | None = None
    date: str | None = None  # the date column a source KPI counts on
    filter: str | None = None
    origin: str | None = None  # columns: "file" | "rename" | "derive"
    header: str | None = None  # columns: the file header it comes from (rename)
    dtype: str | None = None  # columns: its type as read
    rows: str | None = None  # source KPIs: the row count KPI that counts their rows
    repeated: bool = False  # already shown above in the tree
    cut: bool = False  # has children, not shown: the tree stops at TREE_DEPTH levels
    children: list[Node] = field(default_factory=list)


#: Levels of the dependency tree `kpi explain` shows (a chain of derived KPIs can be
#: thousands deep); a node below which the tree goes on is marked ``cut``.
TREE_DEPTH = 40


@dataclass(frozen=True)
class Scan:
    """One way of reading a source: its rows for a date column and a KPI filter."""

    key: str  # the name of its hidden row-count KPI
    source: str
    date: str | None
    filter: str | None
    kpis: tuple[str, ...]
    files: tuple[str, ...]
    label: str  # how it is named in tables: the source, plus date/filter when ambiguous


@dataclass(frozen=True)
class PolarsPlan:
    source: str
    date: str | None
    rows: str  # LazyFrame.explain() of the aggregation by the request's keys
    totals: str | None  # … and of the totals (with --by)


@dataclass
class Explanation:
    """Everything `kpi explain` shows about one KPI."""

    name: str
    entry: Entry
    order: list[str]  # the KPI, then what it depends on (each once, nearest first)
    tree: Node
    scans: list[Scan]
    result: Result  # values of ``order`` and of the row counts, as the engine computed them
    plans: list[PolarsPlan]
    describe: dict[str, Any]

    @property
    def overall(self) -> dict[str, Any] | None:
        """The single row of the whole period (totals with --by), or None with --grain."""
        frame = self.result.totals if self.result.dimensions else self.result.rows
        if self.result.grain is not None or frame is None:
            return None
        records = _records(frame, self.result.dimensions if frame is self.result.rows else ())
        return records[0] if records else None

    def rows_in_period(self, scan: Scan) -> int | None:
        """Rows behind the whole period of one scan (summed over buckets)."""
        frame = self.result.totals if self.result.dimensions else self.result.rows
        if frame is None:
            return None
        values = frame.filter(frame["kpi"] == scan.key)["value"].drop_nulls()
        return int(values.sum()) if len(values) else 0

    def records(self, totals: bool = False) -> list[dict[str, Any]]:
        """One record per bucket × dimension values: values, previous values, row counts."""
        frame = self.result.totals if totals else self.result.rows
        if frame is None:
            return []
        return _records(frame, () if totals else self.result.dimensions)


def _records(frame: Any, dims: tuple[str, ...]) -> list[dict[str, Any]]:
    keys = ["period_start", "period_end", *dims]
    out: dict[tuple, dict[str, Any]] = {}
    for row in frame.iter_rows(named=True):
        key = tuple(row[k] for k in keys)
        rec = out.setdefault(
            key,
            {**{k: row[k] for k in keys}, "values": {}, "previous": {}, "rows": {}},
        )
        name = row["kpi"]
        if name.startswith(ROWS):
            rec["rows"][name] = int(row["value"] or 0)
            rec.setdefault("previous_rows", {})[name] = int(row["previous"] or 0)
        else:
            rec["values"][name] = row["value"]
            rec["previous"][name] = row["previous"]
    return list(out.values())


def _check_name(cfg: Config, name: str) -> None:
    if name not in cfg.kpis:
        raise UsageError(
            f"unknown KPI `{name}`",
            hint=did_you_mean(name, cfg.kpis) or "`kpi list --all` shows the declared KPIs",
        )


def dependency_order(cfg: Config, name: str) -> list[str]:
    """The KPI, then every KPI it depends on, nearest first, in formula order, each once."""
    order = [name]
    seen = {name}
    for n in order:  # grows while iterating: breadth first
        for d in cfg.dependencies(n):
            if d not in seen:
                seen.add(d)
                order.append(d)
    return order


def _scans(cfg: Config, order: list[str]) -> dict[tuple[str, str | None, str | None], list[str]]:
    groups: dict[tuple[str, str | None, str | None], list[str]] = {}
    for n in order:
        k = cfg.kpis[n]
        if k.source is not None:
            date_col = k.date or cfg.sources[k.source].date
            groups.setdefault((k.source, date_col, k.filter), []).append(n)
    return groups


def _with_counts(cfg: Config, groups: dict) -> tuple[Config, dict[tuple, str]]:
    """The config plus one hidden COUNT(*) KPI per scan (source, date column, filter)."""
    from kpicli.spec.config import Kpi

    extra: dict[str, Kpi] = {}
    keys: dict[tuple, str] = {}
    for i, (source, date_col, flt) in enumerate(groups, 1):
        name = f"{ROWS}{i}"
        keys[(source, date_col, flt)] = name
        own_date = date_col if date_col != cfg.sources[source].date else None
        extra[name] = Kpi(
            source=source,
            formula="COUNT(*)",
            filter=flt,
            date=own_date,
            unit="integer",
            hidden=True,
            label=f"rows of {source}",
        )
    return cfg.changed(kpis={**cfg.kpis, **extra}), keys


def _row_counts(
    cfg: Config, request: Request, groups: dict, notes: Notes | None
) -> tuple[Result, dict[tuple, str]]:
    """Explain's own query, beside the report's: one ``COUNT(*)`` per scan (source, date
    column, filter) over the same period, buckets, dimensions and ``--where``."""
    from kpicli.execute.engine import run_report

    counted, keys = _with_counts(cfg, groups)
    req = replace(request, kpis=tuple(keys.values()), sort=None, limit=None)
    return run_report(counted, req, notes=notes), keys


def _with_rows(values: Result, counts: Result) -> Result:
    """The report's result with the row counts' rows added (what the renderers read)."""
    import polars as pl

    def both(a: pl.DataFrame | None, b: pl.DataFrame | None) -> pl.DataFrame | None:
        if a is None or b is None:
            return a
        return pl.concat([a, b.select(a.columns).cast(a.schema)], how="vertical")

    return replace(
        values, rows=both(values.rows, counts.rows), totals=both(values.totals, counts.totals)
    )


def _scan_label(source: str, date_col: str | None, flt: str | None, ambiguous: bool) -> str:
    if not ambiguous:
        return source
    detail = [f"by {date_col}" if date_col else "no date"] + ([f"where {flt}"] if flt else [])
    return f"{source} ({', '.join(detail)})"


def _column_nodes(
    cfg: Config, source: str, columns: list[str], schema: dict, depth: int
) -> list[Node]:
    """Columns of a source, each down to the file headers it comes from (``depth``: the
    level of these nodes in the tree)."""
    from kpicli.spec.formula import parse

    src = cfg.sources[source]
    back = {new: old for old, new in src.rename.items()}
    out = []
    for col in columns:
        dtype = str(schema[col]) if col in schema else None
        if col in src.derive:
            text = src.derive[col]
            inputs = [c for c in parse(text).names if c != col]
            node = Node(col, "column", formula=text, source=source, origin="derive", dtype=dtype)
            if depth >= TREE_DEPTH:
                node.cut = bool(inputs)
            else:
                node.children = _column_nodes(cfg, source, inputs, schema, depth + 1)
        elif col in back:
            node = Node(col, "column", source=source, origin="rename", header=back[col])
            node.dtype = dtype
        else:
            node = Node(col, "column", source=source, origin="file", dtype=dtype)
        out.append(node)
    return out


def _tree(
    cfg: Config, name: str, schemas: dict, counts: dict, seen: set[str], depth: int = 1
) -> Node:
    """The dependency tree of a KPI, down to the columns of the files; ``depth`` levels
    above it, at most TREE_DEPTH in all (the recursion is as deep as the tree shown)."""
    from kpicli.spec.formula import parse

    k = cfg.kpis[name]
    if k.source is None:
        node = Node(name, "derived", formula=k.formula)
        if name in seen:
            node.repeated = True
            return node
        seen.add(name)
        deps = cfg.dependencies(name)
        if depth >= TREE_DEPTH:
            node.cut = bool(deps)
            return node
        node.children = [_tree(cfg, d, schemas, counts, seen, depth + 1) for d in deps]
        return node
    date_col = k.date or cfg.sources[k.source].date
    node = Node(name, "source", formula=k.formula, source=k.source, date=date_col, filter=k.filter)
    node.rows = counts[(k.source, date_col, k.filter)]
    if name in seen:
        node.repeated = True
        return node
    seen.add(name)
    columns = list(parse(k.formula).names)
    for text in (k.filter,):
        if text:
            columns += [c for c in parse(text).names if c not in columns]
    if date_col and date_col not in columns:
        columns.append(date_col)
    if depth >= TREE_DEPTH:
        node.cut = bool(columns)
        return node
    node.children = _column_nodes(cfg, k.source, columns, schemas.get(k.source, {}), depth + 1)
    return node


def explain(cfg: Config, request: Request, name: str, *, notes: Notes | None = None) -> Explanation:
    """Compute ``name`` and its dependencies as `kpi report` would, and say how. ``notes``
    receives the warnings about the data (as :func:`~kpicli.execute.engine.run_report`)."""
    from kpicli.execute.engine import prepare_report
    from kpicli.execute.queries import queries

    _check_name(cfg, name)
    order = dependency_order(cfg, name)
    groups = _scans(cfg, order)
    # the very plan `kpi report --kpi <order>` runs: the values, the plan and its queries
    prepared = prepare_report(
        cfg, replace(request, kpis=tuple(order), sort=None, limit=None), notes=notes
    )
    values = prepared.run()
    plan, sources = prepared.plan, prepared.sources
    ran = queries(plan, sources, prepared.cache)
    counts, keys = _row_counts(cfg, request, groups, notes)
    result = _with_rows(values, counts)

    per_source: dict[str, int] = {}
    for source, _, _ in groups:
        per_source[source] = per_source.get(source, 0) + 1
    scans = [
        Scan(
            key=keys[g],
            source=g[0],
            date=g[1],
            filter=g[2],
            kpis=tuple(kpis),
            files=tuple(str(f) for f in plan.files[g[0]]),
            label=_scan_label(*g, ambiguous=per_source[g[0]] > 1),
        )
        for g, kpis in groups.items()
    ]
    schemas = {s: dict(sf.schema) for s, sf in sources.items()}
    tree = _tree(cfg, name, schemas, keys, set())
    plans = [
        PolarsPlan(
            source=a.source,
            date=a.date_column,
            rows=q.rows.explain(),
            totals=q.totals.explain() if q.totals is not None else None,
        )
        for a, q in zip(plan.aggregations, ran, strict=True)
    ]
    entry = catalog(cfg, hidden=True)[list(cfg.kpis).index(name)]
    return Explanation(
        name=name,
        entry=entry,
        order=order,
        tree=tree,
        scans=scans,
        result=result,
        plans=plans,
        describe=plan.describe(),
    )
