"""A report as SQL (`kpi sql`): the plan's aggregations, then what :mod:`engine` does on
their small frames (lines, derived KPIs, comparisons, targets, status), as one query.

The query's rows are `kpi report -f csv`'s, in its order: ``kpi``, ``period_start``,
``period_end``, the dimension columns, ``value``, ``previous``, ``change``,
``change_pct``, ``target``, ``expected``, ``pace``, ``projected``, ``status`` and
``total`` (the totals rows after the rows, with ``--by``). The statistics (``p_value``,
``change_significant``, anomalies, trends) are not SQL: `kpi report` computes them.

The text is written in DuckDB's dialect and transpiled by sqlglot to the one asked. The
sources are, for DuckDB and Spark, the files as kpi reads them (each part of a source a
view over its files, typed as kpi types them: :mod:`kpicli.execute.sqlsource`); for the
warehouses (BigQuery, Snowflake, PostgreSQL), a table per source, named as the source (or
its ``table:``), holding its columns as `kpi sources` lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from kpicli.errors import UsageError
from kpicli.execute.result import KEY_COLUMNS, VALUE_COLUMNS
from kpicli.plan.build import RANGE, Aggregation, Plan, target_amounts
from kpicli.spec import periods
from kpicli.spec.formula import DERIVED, ROW, compile_sql

if TYPE_CHECKING:
    from sqlglot import exp

    from kpicli.ingest.scan import SourceFrame

#: The dialects `kpi sql` writes, and whether their engine reads files.
DIALECTS = {"duckdb": True, "spark": True, "bigquery": False, "snowflake": False, "postgres": False}
FLOAT = "float"


def q(name: str) -> str:
    """An identifier, quoted (DuckDB's quoting; sqlglot re-quotes for the dialect)."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: object) -> str:
    """A literal: NULL, a DOUBLE, a DATE or a string."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return f"CAST({float(value)!r} AS DOUBLE)"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


@dataclass
class _Query:
    """The CTEs of the query being written, in order, each with its comment. A body is
    DuckDB's SQL (transpiled at the end), or ``native``: written in the dialect already
    (what :mod:`sqlplan` and :mod:`sqlsource` render)."""

    dialect: str
    ctes: list[tuple[str, str, str]] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)  # statements before the query (views)
    views: int = 0

    def view(self) -> str:
        self.views += 1
        return f"__view{self.views - 1}"

    def add(self, name: str, body: str, comment: str = "", *, native: bool = False) -> str:
        if not native:
            body = _transpiled(body, self.dialect)
        self.ctes.append((name, body, comment))
        return name

    def text(self, final: str) -> str:
        """The query: every CTE, then ``final`` (DuckDB's SQL)."""
        ctes = ",\n".join(
            (f"-- {c}\n" if c else "") + f"{name} AS (\n{body}\n)" for name, body, c in self.ctes
        )
        return f"WITH\n{ctes}\n{_transpiled(final, self.dialect)}"


def _transpiled(text: str, dialect: str) -> str:
    import sqlglot

    (out,) = sqlglot.transpile(text, read="duckdb", write=dialect, pretty=True)
    return out


def report_sql(
    plan: Plan, sources: Mapping[str, SourceFrame], dialect: str = "duckdb"
) -> list[str]:
    """The statements that compute ``plan``'s report in ``dialect``: views of the source
    files (DuckDB, Spark), then the query. Raises UsageError for what SQL cannot say."""
    _supported(plan, dialect)
    query = _Query(dialect)
    relations = _sources(plan, sources, dialect, query)
    for i, agg in enumerate(plan.aggregations):
        _aggregation(plan, i, agg, relations[agg.source], sources[agg.source], query)
    _buckets(plan, query)
    dims = plan.dimensions
    n = len(plan.aggregations)
    rows = _side_pair(plan, query, "", dims, [f"__agg{i}" for i in range(n)])
    parts = [_long(plan, query, rows, dims, total=False)]
    if dims:
        totals = _side_pair(plan, query, "t", (), [f"__agg{i}_t" for i in range(n)], rows)
        parts.append(_long(plan, query, totals, (), total=True))
    columns = [
        *KEY_COLUMNS,
        *(q(d) for d in dims),
        *VALUE_COLUMNS,
        "total",
    ]
    order = ["__total", "__k", "__b", *_sort_order(plan), *(f"{q(d)} NULLS LAST" for d in dims)]
    union = "\nUNION ALL\n".join(f"SELECT * FROM {p}" for p in parts)
    final = f"SELECT {', '.join(columns)} FROM ({union}) AS report ORDER BY {', '.join(order)}"
    return [*query.setup, query.text(final)]


def _supported(plan: Plan, dialect: str) -> None:
    if dialect not in DIALECTS:
        raise UsageError(
            f"{{@dialect}}: `{dialect}` is not a dialect kpi writes",
            hint="one of " + ", ".join(DIALECTS),
        )
    req = plan.request
    if req.anomalies:
        raise UsageError(
            "kpi sql does not compute anomalies (a statistical model, not SQL)",
            hint="run `kpi report --anomalies`, or leave --anomalies out",
        )
    if (
        req.sort
        and req.sort.partition(":")[0].lower() == "status"
        and "status" not in plan.selected
    ):
        raise UsageError(
            "kpi sql does not sort by status",
            hint="sort by a KPI (--sort KPI), or leave --sort out",
        )
    if not plan.buckets:
        per = [n for n in plan.selected if (t := plan.config.kpis[n].target) and t.per]
        if per:
            raise UsageError(
                f"kpi sql cannot prorate the `per` targets of {', '.join(per)} over "
                "{@period} all: its buckets depend on the data",
                hint="give a period (-p 2026, --from/--to), or leave those KPIs out with -k",
            )


# ---------------------------------------------------------------------------- sources


def _sources(
    plan: Plan, sources: Mapping[str, SourceFrame], dialect: str, query: _Query
) -> dict[str, str]:
    """Each source's rows as a CTE (its relation's name)."""
    import sqlglot.expressions as exp

    from kpicli.execute import sqlplan, sqlsource

    out: dict[str, str] = {}
    used: dict[str, list[str]] = {}
    for agg in plan.aggregations:
        cols = used.setdefault(agg.source, [])
        cols += [c for c in sqlplan.columns_used(agg) if c not in cols]
    for n, (name, columns) in enumerate(used.items()):
        sf = sources[name]
        if not DIALECTS[dialect] and sf.table is None:
            out[name] = query.add(
                f"__source{n}",
                _table_relation(plan, name),
                f"source `{name}`: table {name} (its columns as `kpi sources` lists them)",
            )
            continue
        src = sqlsource.source_sql(sf, plan.config, columns)
        relations: dict[str, exp.Expression] = {}
        for read in src.reads:
            if read.format == "table":
                relations[read.view] = sqlsource.table_sql(read.files[0])
                continue
            view = query.view()
            relations[read.view] = exp.to_table(view)
            query.setup.extend(_view(read, view, dialect))
        body = sqlplan.render(src.query.copy().transform(_swap(relations)), dialect)
        if sf.table is not None:
            what = f"table {sf.table}"
        else:
            what = ", ".join(str(f) for f in sf.files[:3]) + (" …" if len(sf.files) > 3 else "")
        out[name] = query.add(f"__source{n}", body, f"source `{name}`: {what}", native=True)
    return out


def _swap(relations: Mapping[str, exp.Expression]) -> Callable[[exp.Expression], exp.Expression]:
    """A transform: each table named as a key of ``relations`` → its relation."""
    import sqlglot.expressions as exp

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and not node.db and node.name in relations:
            new = relations[node.name].copy()
            if node.alias:
                new.set("alias", node.args["alias"].copy())
            return new
        return node

    return swap


def _table_relation(plan: Plan, name: str) -> str:
    src = plan.config.sources[name]
    table = name
    derive = "".join(
        f", {compile_sql(text, ROW, {})} AS {q(col)}" for col, text in src.derive.items()
    )
    where = f" WHERE {compile_sql(src.filter, ROW, {})}" if src.filter else ""
    return f"SELECT *{derive} FROM {table}{where}"


def _view(read: object, view: str, dialect: str) -> list[str]:
    """The statements that make ``view`` the text columns of a part's files."""
    from kpicli.execute import sqlsource

    if dialect == "duckdb":
        reader = sqlsource.duckdb_reader(read).sql(dialect="duckdb")  # type: ignore[arg-type]
        return [f"CREATE OR REPLACE TEMPORARY VIEW {q(view)} AS SELECT * FROM {reader}"]
    return _spark_views(read, view)


def _spark_views(read: object, view: str) -> list[str]:
    """Spark: a view per file (``USING csv OPTIONS``), the part's view their union."""
    from kpicli.errors import Location
    from kpicli.execute.sqlsource import UnsupportedSource

    files = read.files  # type: ignore[attr-defined]
    fmt = read.format  # type: ignore[attr-defined]
    if fmt == "csv" and (read.skip or not read.header or read.ragged):  # type: ignore[attr-defined]
        raise UnsupportedSource(
            f"{files[0]}: Spark SQL's CSV reader cannot skip the lines before its header "
            "or drop the surplus cells of its rows (kpi sql writes the views as SQL)",
            location=Location(files[0]),
            hint=f"write a plain copy with `kpi clean {files[0]} -o clean.csv` (or a Parquet "
            "copy) and point the source at it, or run `kpi report --engine spark`",
        )
    out, names = [], []
    for i, path in enumerate(files):
        name = f"{view}_{i}"
        names.append(name)
        if fmt == "parquet":
            options = f"path {lit(path)}"
        else:
            options = ", ".join(
                [
                    f"path {lit(path)}",
                    "header 'true'",
                    f"sep {lit(read.delimiter)}",  # type: ignore[attr-defined]
                    f"encoding {lit(read.encoding)}",  # type: ignore[attr-defined]
                    f"quote {lit(read.quote)}",  # type: ignore[attr-defined]
                    "escape '\"'",
                    "inferSchema 'false'",
                    "multiLine 'true'",
                ]
            )
        out.append(f"CREATE OR REPLACE TEMPORARY VIEW {name} USING {fmt} OPTIONS ({options})")
    union = " UNION ALL ".join(f"SELECT * FROM {n}" for n in names)  # files laid out alike
    out.append(f"CREATE OR REPLACE TEMPORARY VIEW {view} AS {union}")
    return out


# ----------------------------------------------------------------------- aggregations


def _aggregation(
    plan: Plan, i: int, agg: Aggregation, relation: str, sf: SourceFrame, query: _Query
) -> None:
    import sqlglot.expressions as exp

    from kpicli.execute.sqlplan import aggregation_sql, render
    from kpicli.spec.formula import kinds_of

    # the warehouses' SQL takes the column types as they come (their sums of integers are
    # wide or checked already; DuckDB's INT128 is not theirs)
    kinds = kinds_of(sf.schema) if DIALECTS[query.dialect] else {}
    rows, totals = aggregation_sql(plan, agg, exp.to_table(relation), kinds)
    what = f"KPIs of `{agg.source}`" + (f" by {agg.date_column}" if agg.date_column else "")
    names = ", ".join(agg.formulas)
    dialect = query.dialect
    parts = [(f"__agg{i}", rows, f"{what}: {names}")]
    if plan.dimensions:
        assert totals is not None
        parts.append((f"__agg{i}_t", totals, f"{what}, in total"))
    for name, select, comment in parts:
        body = render(select, dialect)
        query.add(name, body, comment, native=True)


# ----------------------------------------------------------------------------- buckets


def _buckets(plan: Plan, query: _Query) -> None:
    """``__buckets``: one row per bucket (``__b``), the span keys of its value (``__cur``)
    and comparison (``__prev``), its bounds; and with ``per`` targets, ``__prorate``."""
    if plan.buckets:
        prev = plan.previous or [None] * len(plan.buckets)
        values = ", ".join(
            f"({i}, {c}, {lit(p) if p is None else p}, {lit(b.start)}, {lit(b.end)})"
            for i, (b, c, p) in enumerate(zip(plan.buckets, plan.current, prev, strict=True))
        )
        body = (
            "SELECT CAST(__b AS BIGINT) AS __b, CAST(__cur AS INTEGER) AS __cur, "
            "CAST(__prev AS INTEGER) AS __prev, period_start, period_end "
            f"FROM (VALUES {values}) AS t(__b, __cur, __prev, period_start, period_end)"
        )
        query.add("__buckets", body, "the report's buckets: span keys and bounds")
        _prorate(plan, query)
        return
    n = len(plan.aggregations)
    firsts = (
        " UNION ALL ".join(
            f"SELECT {q(a.first)} AS f, {q(a.last)} AS l FROM __agg{i}"
            for i, a in enumerate(plan.aggregations)
            if a.date_column is not None
        )
        or "SELECT CAST(NULL AS DATE) AS f, CAST(NULL AS DATE) AS l"
    )
    query.add("__data", f"SELECT MIN(f) AS first_day, MAX(l) AS last_day FROM ({firsts}) AS d")
    if plan.grain is None:
        body = (
            "SELECT CAST(0 AS BIGINT) AS __b, CAST(NULL AS DATE) AS __cur, "
            "CAST(NULL AS DATE) AS __prev, first_day AS period_start, last_day AS period_end "
            "FROM __data"
        )
    else:
        keys = " UNION ".join(f"SELECT {q(RANGE)} AS k FROM __agg{i}" for i in range(n))
        end = _bucket_end("k", plan.grain)
        body = (
            "SELECT ROW_NUMBER() OVER (ORDER BY k) - 1 AS __b, k AS __cur, "
            "CAST(NULL AS DATE) AS __prev, GREATEST(k, first_day) AS period_start, "
            f"LEAST({end}, last_day) AS period_end FROM ({keys}) AS b CROSS JOIN __data "
            "WHERE k IS NOT NULL"
        )
    query.add("__buckets", body, "the buckets the data falls in, clipped to its dates")


def _bucket_end(col: str, grain: str) -> str:
    if grain == "day":
        return col
    step = {"week": "7 DAY", "month": "1 MONTH", "quarter": "3 MONTH", "year": "1 YEAR"}[grain]
    return f"CAST({col} + INTERVAL {step} - INTERVAL 1 DAY AS DATE)"


def _prorate(plan: Plan, query: _Query) -> None:
    """Per bucket and ``per`` target: the target's factor, the expected share as of
    as-of in a running bucket, the bucket's days and the days elapsed."""
    cfg, as_of, week_start = plan.config, plan.as_of, plan.config.settings.week_start
    rows = []
    for name in plan.selected:
        t = cfg.kpis[name].target
        if t is None or t.per is None:
            continue
        for i, b in enumerate(plan.buckets):
            running = b.start <= as_of < b.end
            f = periods.prorated_target(1.0, t.per, b, week_start)
            e = (
                periods.prorated_target(1.0, t.per, periods.DateRange(b.start, as_of), week_start)
                if running
                else None
            )
            elapsed = (as_of - b.start).days + 1 if running else None
            rows.append(f"({lit(name)}, {i}, {lit(f)}, {lit(e)}, {lit(b.days)}, {lit(elapsed)})")
    if rows:
        body = (
            "SELECT kpi, CAST(__b AS BIGINT) AS __b, CAST(f AS DOUBLE) AS f, "
            "CAST(e AS DOUBLE) AS e, CAST(days AS DOUBLE) AS days, "
            "CAST(elapsed AS DOUBLE) AS elapsed "
            f"FROM (VALUES {', '.join(rows)}) AS t(kpi, __b, f, e, days, elapsed)"
        )
        query.add("__prorate", body, "`per` targets prorated to each bucket")


# ------------------------------------------------------------------------------ lines


def _side_pair(
    plan: Plan,
    query: _Query,
    tag: str,
    dims: tuple[str, ...],
    aggs: list[str],
    rows: _Sides | None = None,
) -> _Sides:
    """The lines (bucket × dimension values) with every KPI over their span and, with a
    comparison, over their counterpart span."""
    lines = _lines(plan, query, tag, dims, aggs)
    spans = ["__cur", "__prev"] if plan.counterparts else ["__cur"]
    wides = {s: _wide(plan, query, f"{tag}{s}", lines, s, dims, aggs, rows) for s in spans}
    return _Sides(tag, lines, wides, dims)


@dataclass
class _Sides:
    tag: str
    lines: str
    wides: dict[str, str]
    dims: tuple[str, ...]


def _lines(plan: Plan, query: _Query, tag: str, dims: tuple[str, ...], aggs: list[str]) -> str:
    if not dims:
        return "__buckets"
    cols = ", ".join(q(d) for d in dims)
    found = " UNION ".join(f"SELECT {q(RANGE)}, {cols} FROM {a}" for a in aggs)
    on = "s.__range IS NOT DISTINCT FROM b.__cur"
    if plan.counterparts:
        on += " OR s.__range IS NOT DISTINCT FROM b.__prev"
    body = (
        f"SELECT DISTINCT b.__b, b.__cur, b.__prev, {', '.join(f's.{q(d)}' for d in dims)} "
        f"FROM __buckets AS b JOIN ({found}) AS s ON {on}"
    )
    return query.add(f"__lines{tag}", body, "each bucket's dimension values with rows")


def _wide(
    plan: Plan,
    query: _Query,
    name: str,
    lines: str,
    span: str,
    dims: tuple[str, ...],
    aggs: list[str],
    rows: _Sides | None,
) -> str:
    """Each line with its KPIs over ``span``: every aggregation joined (a group without
    rows takes the KPIs' values over no rows), then the derived KPIs level by level."""
    cols = ["l.__b", *(f"l.{q(d)}" for d in dims)]
    joins = []
    for i, (agg, rel) in enumerate(zip(plan.aggregations, aggs, strict=True)):
        a = f"a{i}"
        on = [f"{a}.{q(RANGE)} IS NOT DISTINCT FROM l.{span}"]
        on += [f"{a}.{q(d)} IS NOT DISTINCT FROM l.{q(d)}" for d in dims]
        joins.append(f"LEFT JOIN {rel} AS {a} ON {' AND '.join(on)}")
        for kpi, empty in ((k, agg.empty.get(k)) for k in agg.formulas):
            value = f"CAST({a}.{q(kpi)} AS DOUBLE)"
            if empty is not None:
                value = f"CASE WHEN {a}.{q(agg.count)} IS NULL THEN {lit(empty)} ELSE {value} END"
            cols.append(f"{value} AS {q(kpi)}")
    body = f"SELECT {', '.join(cols)} FROM {lines} AS l {' '.join(joins)}"
    current = query.add(f"__{name}_0", body, f"KPIs of the lines over {span[2:]}")
    kinds = dict.fromkeys(plan.config.kpis, FLOAT)
    for level, names in enumerate(plan.derived_levels(), start=1):
        exprs = ", ".join(
            f"CAST({compile_sql(plan.config.kpis[n].formula, DERIVED, kinds)} AS DOUBLE) AS {q(n)}"
            for n in names
        )
        current = query.add(f"__{name}_{level}", f"SELECT *, {exprs} FROM {current}")
    if rows is not None and plan.sums:
        current = _summed(plan, query, name, current, rows.wides[span])
    return current


def _summed(plan: Plan, query: _Query, name: str, totals: str, rows: str) -> str:
    """Totals whose KPIs of ``total: sum`` are made from the rows shown (per bucket: an
    amount summed where it has a value; a derived KPI, its formula over its inputs summed
    over those rows), as :func:`kpicli.execute.engine._summed` makes them."""
    kinds = dict.fromkeys(plan.config.kpis, FLOAT)
    if plan.request.limit is not None and plan.dimensions:
        on = " AND ".join(
            ["x.__b = w.__b", *(f"x.{q(d)} IS NOT DISTINCT FROM w.{q(d)}" for d in plan.dimensions)]
        )
        rows = query.add(
            f"__{name}_shown", f"SELECT w.* FROM {rows} AS w JOIN __shown AS x ON {on}"
        )
    made = []
    for kpi, inputs in plan.sums.items():
        summed = inputs or (kpi,)
        sums = ", ".join(f"SUM({q(c)}) AS {q(c)}" for c in summed)
        one = f"SELECT __b, {sums} FROM {rows} WHERE {q(kpi)} IS NOT NULL GROUP BY __b"
        if inputs:
            formula = compile_sql(plan.config.kpis[kpi].formula, DERIVED, kinds)
            one = f"SELECT __b, CAST({formula} AS DOUBLE) AS {q(kpi)} FROM ({one}) AS m"
        made.append(query.add(f"__{name}_sum{len(made)}", one, f"`{kpi}`: total: sum of the rows"))
    columns = ["t.__b"]
    for kpi in _wide_columns(plan):
        at = next((f"s{i}" for i, k in enumerate(plan.sums) if k == kpi), "t")
        columns.append(f"{at}.{q(kpi)}")
    joins = " ".join(f"LEFT JOIN {m} AS s{i} ON s{i}.__b = t.__b" for i, m in enumerate(made))
    body = f"SELECT {', '.join(columns)} FROM {totals} AS t {joins}"
    return query.add(f"__{name}_summed", body)


def _wide_columns(plan: Plan) -> list[str]:
    """The KPI columns of a wide frame: each aggregation's, then the derived KPIs."""
    return [*(k for a in plan.aggregations for k in a.formulas), *plan.derived]


# ------------------------------------------------------------------------------- long


def _long(plan: Plan, query: _Query, sides: _Sides, dims: tuple[str, ...], *, total: bool) -> str:
    """One row per KPI × line: value, previous, change, targets, status (the totals' rows
    with every dimension NULL)."""
    cur, prev = sides.wides["__cur"], sides.wides.get("__prev")
    names = [n for n in plan.selected if not (total and n in plan.untotalled)]
    join, previous = "", ""
    if prev:  # the comparison joined once (a join per KPI made Spark's plan outgrow memory)
        join = f" LEFT JOIN {prev} AS p ON {_same('p', 'c', dims)}"
        previous = "".join(f", p.{q(n)} AS {q('__p_' + n)}" for n in names)
    shown = _limited(plan, query, sides, dims) if dims and not total else None
    if shown:
        join += f" JOIN {shown} AS x ON {_same('x', 'c', dims)}"
    both = query.add(
        f"__{sides.tag}sides", f"SELECT c.*{previous} FROM {cur} AS c{join}", "each line's KPIs"
    )
    if not names:  # every KPI without a total row
        return query.add(f"__{sides.tag}long", "SELECT * FROM __long WHERE FALSE")
    raw = query.add(
        f"__{sides.tag}raw",
        _unpivoted(plan, both, names, dims, prev, total),
        "one row per KPI and line",
    )
    shown_dims = [
        f"r.{q(d)}" if d in dims else f"CAST(NULL AS VARCHAR) AS {q(d)}" for d in plan.dimensions
    ]
    fields = [
        "r.kpi",
        "b.period_start",
        "b.period_end",
        *shown_dims,
        "r.value",
        "r.previous",
        "r.value - r.previous AS change",
        "CASE WHEN r.previous <> 0 THEN (r.value - r.previous) / ABS(r.previous) END AS change_pct",
        "r.target",
        "r.expected",
        "r.value / NULLIF(r.expected, 0) AS pace",
        "r.value * r.__days / NULLIF(r.__elapsed, 0) AS projected",
        f"{_statuses(plan)} AS status",
        f"{lit(total)} AS total",
        f"{int(total)} AS __total",
        "r.__k",
        "r.__b",
        "r.__s",
    ]
    body = f"SELECT {', '.join(fields)} FROM {raw} AS r JOIN __buckets AS b ON b.__b = r.__b"
    return query.add(f"__{sides.tag}long", body)


def _unpivoted(
    plan: Plan, both: str, names: list[str], dims: tuple[str, ...], prev: str | None, total: bool
) -> str:
    """Each line once per KPI (a cross join with the KPIs' names, each column picked by a
    CASE): one read of the lines (a UNION of a SELECT per KPI made Spark plan the lines'
    whole lineage once per KPI, past the driver's memory)."""
    sort = _sort_kpi(plan)
    keys = ", ".join(f"({lit(n)}, {plan.selected.index(n)})" for n in names)
    cases: dict[str, list[str]] = {c: [] for c in ("value", "previous", "target", "expected")}
    prorated = []
    for name in names:
        target, expected, per = _target(plan, name, dims)
        when = f"WHEN {lit(name)} THEN"
        cases["value"].append(f"{when} c.{q(name)}")
        if prev:
            cases["previous"].append(f"{when} c.{q('__p_' + name)}")
        cases["target"].append(f"{when} {target}")
        cases["expected"].append(f"{when} {expected}")
        if per:
            prorated.append(name)

    def picked(column: str) -> str:
        whens = " ".join(cases[column])
        return f"CAST(CASE k.kpi {whens} END AS DOUBLE)" if whens else NULL

    fields = [
        "k.kpi",
        "k.__k",
        "c.__b",
        *(f"c.{q(d)}" for d in dims),
        f"{picked('value')} AS value",
        f"{picked('previous')} AS previous",
        f"{picked('target')} AS target",
        f"{picked('expected')} AS expected",
        f"{'r.days' if prorated else NULL} AS __days",
        f"{'r.elapsed' if prorated else NULL} AS __elapsed",
        f"{'c.' + q(sort) if sort and not total else NULL} AS __s",
    ]
    body = f"SELECT {', '.join(fields)} FROM {both} AS c CROSS JOIN (VALUES {keys}) AS k(kpi, __k)"
    if prorated:
        body += " LEFT JOIN __prorate AS r ON r.kpi = k.kpi AND r.__b = c.__b"
    return body


NULL = "CAST(NULL AS DOUBLE)"


def _same(a: str, b: str, dims: tuple[str, ...]) -> str:
    """The join condition of two frames' lines: the same bucket and dimension values."""
    on = [f"{a}.__b = {b}.__b", *(f"{a}.{q(d)} IS NOT DISTINCT FROM {b}.{q(d)}" for d in dims)]
    return " AND ".join(on)


def _statuses(plan: Plan) -> str:
    """status from the ratio (pace, else value / target), by each KPI's better/tolerance."""
    ratio = "COALESCE(r.value / NULLIF(r.expected, 0), r.value / NULLIF(r.target, 0))"
    cases = []
    for name in plan.selected:
        kpi = plan.config.kpis[name]
        t = kpi.target
        if t is None:
            continue
        tol = float(t.tolerance)
        if kpi.better == "higher":
            ok, warn = f"{ratio} >= 1", f"{ratio} >= {1 - tol!r}"
        else:
            ok, warn = f"{ratio} <= 1", f"{ratio} <= {1 + tol!r}"
        cases.append(
            f"WHEN r.kpi = {lit(name)} AND {ratio} IS NOT NULL THEN CASE WHEN {ok} THEN 'ok' "
            f"WHEN {warn} THEN 'warn' ELSE 'bad' END"
        )
    if not cases:
        return "CAST(NULL AS VARCHAR)"
    return "CASE " + " ".join(cases) + " END"


def _target(plan: Plan, name: str, dims: tuple[str, ...]) -> tuple[str, str, bool]:
    """The SQL of a KPI's target and expected value on a line, and whether it is prorated
    (engine._base's rule of which rows a target applies to)."""
    cfg = plan.config
    t = cfg.kpis[name].target
    if t is None:
        return NULL, NULL, False
    amount = name in target_amounts(cfg, [name])
    where = None
    if plan.request.where:
        from kpicli.spec.formula import parse

        where = frozenset(parse(plan.request.where).names)
    base = _base_sql(t, dims, amount=amount, where=where)
    if t.per is None:
        return base, NULL, False
    return f"({base}) * r.f", f"({base}) * r.e", True


def _base_sql(
    t: object, dims: tuple[str, ...], *, amount: bool, where: frozenset[str] | None
) -> str:
    none = "CAST(NULL AS DOUBLE)"
    by, values, value, total = t.by, t.values, t.value, t.total  # type: ignore[attr-defined]
    if by is not None and by in dims:
        whole = dims == (by,) and (where is None or where <= {by})
        if amount and not whole:
            return none
        if not values:
            return lit(value)
        cases = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in values.items())
        return f"CASE c.{q(by)} {cases} ELSE {lit(value)} END"
    if amount and (dims or where is not None):
        return none
    if by is not None:
        return lit(total)
    plain = value if dims or total is None else total
    return lit(plain)


def _sort_kpi(plan: Plan) -> str | None:
    sort = plan.request.sort
    if not sort or not plan.dimensions:
        return None
    name = sort.partition(":")[0]
    return name if name in plan.config.kpis else None


def _sort_order(plan: Plan) -> list[str]:
    sort = plan.request.sort
    if not _sort_kpi(plan):
        return []
    asc = sort.partition(":")[2].lower() == "asc"  # type: ignore[union-attr]
    return [f"__s {'ASC' if asc else 'DESC'} NULLS LAST"]


def _limited(plan: Plan, query: _Query, sides: _Sides, dims: tuple[str, ...]) -> str | None:
    """With --limit: the first N lines of each bucket in the report's order."""
    limit = plan.request.limit
    if limit is None:
        return None
    sort = _sort_kpi(plan)
    order = [
        *(
            f"{q(sort)} {'ASC' if plan.request.sort.endswith(':asc') else 'DESC'} NULLS LAST"
            for _ in [0]
            if sort
        )
    ]  # type: ignore[union-attr]
    order += [f"{q(d)} NULLS LAST" for d in dims]
    body = (
        f"SELECT __b, {', '.join(q(d) for d in dims)} FROM (SELECT __b, "
        f"{', '.join(q(d) for d in dims)}, ROW_NUMBER() OVER (PARTITION BY __b ORDER BY "
        f"{', '.join(order)}) AS __n FROM {sides.wides['__cur']}) AS o WHERE __n <= {int(limit)}"
    )
    return query.add("__shown", body, f"--limit {limit}: the lines shown per bucket")
