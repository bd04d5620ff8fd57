"""Plan aggregation → SQL: the rows and totals of :mod:`kpicli.execute.queries`, as SELECTs.

The engines other than Polars run a plan's aggregations as SQL (sqlglot ASTs, dialect
neutral until :func:`render`): for each aggregation, the same groups, with the same columns
and the same values as the Polars queries give (:func:`aggregation_sql`), over a relation
of the source's rows typed as ``SourceFrame.schema`` (``source``: a table or a subquery).

What the Polars queries do, and its SQL here:

- the rows as counted (``_AsCounted``): the days counted only (``_days``); a stage date
  after as-of null (it has not happened yet), except the date column itself when the spans
  bound it; ``--where``; integer columns that are summed widened to INT128, so that a sum
  cannot wrap around;
- each row's span (``_time_keys``): the grain bucket number when the spans are whole
  buckets (``Plan.aligned``: :func:`kpicli.plan.build.ordinal`, and only the bucket numbers
  aggregated), a join on the spans' first and last days otherwise (the calendar of
  ``span_calendar``: a day of two spans counts for both), the date truncated to the grain
  with ``--period all`` (weeks from Sunday cut at 0001-01-01);
- each KPI's value, a DOUBLE, from the SQL text the plan compiled for Polars
  (:func:`kpicli.spec.formula.compile_sql`: a KPI's filter attached as ``FILTER (WHERE
  …)``, division by zero null by ``NULLIF``, integer arithmetic in DOUBLE, floating-point
  sums exact as ``DECIMAL(38, 10)`` plus a remainder), transpiled with sqlglot; where
  Polars and SQL disagree, the Polars meaning is written out (:func:`_as_polars_does`);
- the bookkeeping columns: the rows counted (``Aggregation.count``), the first and last
  date (``first``, ``last``);
- dimension values as text once grouped (``_as_text``).

The Polars queries compute decomposable aggregations from partial aggregates, and distinct
counts in two group_bys (for memory in a streaming engine); SQL engines aggregate the rows
once per grouping, which gives the same values (the partials are exact: counts, integer
and DECIMAL sums, MIN, MAX).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import TYPE_CHECKING

from kpicli.plan.build import RANGE, Aggregation, Plan
from kpicli.spec.formula import DECIMAL, FLOAT, INT, OTHER

if TYPE_CHECKING:
    from sqlglot import exp

#: The column of :func:`combined_sql` that tells a totals row (1) from a row by dimensions (0).
TOTALS = "__totals"
#: The relation of the counted rows inside the queries.
COUNTED = "__counted"
#: The spans' relation (first and last day of each) joined to the rows.
SPANS = "__spans"
#: The date a source without date column counts its rows on (files stating their period).
STATED = "__stated"

_INTEGER_TYPES = ("INT", "BIGINT", "INT128")


def aggregation_sql(
    plan: Plan,
    agg: Aggregation,
    source: exp.Expression,
    kinds: Mapping[str, str] | None = None,
) -> tuple[exp.Select, exp.Select | None]:
    """The rows (by ``plan.keys``) and, with dimensions, the totals (by ``plan.total_keys``)
    of ``agg`` over ``source`` (the relation of its source's rows), as two SELECTs whose
    columns are those of the Polars queries: the span key, the dimensions as text, each
    KPI's value (DOUBLE), the row count and the first and last date. ``kinds``: the
    source's columns' kinds (:func:`kpicli.spec.formula.kinds_of`), which decide how a
    CAST to an integer and ROUND behave as in Polars (without them, as SQL does)."""
    counted = _counted(plan, agg, source, kinds or {})
    rows = _grouped(agg, counted, list(agg.dimensions), kinds or {})
    totals = _grouped(agg, counted, [], kinds or {}) if agg.dimensions else None
    return rows, totals


def combined_sql(
    plan: Plan,
    agg: Aggregation,
    source: exp.Expression,
    kinds: Mapping[str, str] | None = None,
    *,
    text: bool = True,
) -> exp.Select:
    """The rows and the totals of :func:`aggregation_sql` in one SELECT (one scan of the
    rows: GROUPING SETS), told apart by the column :data:`TOTALS` (1: a totals row, whose
    dimension columns are null). Without dimensions, the rows alone (``TOTALS`` 0).
    ``text``: the dimension values cast to text in the SQL (else as they are, for the
    caller to cast as Polars does: a float's text differs between engines, 1e-07 for 1e-7)."""
    counted = _counted(plan, agg, source, kinds or {})
    return _grouped(agg, counted, list(agg.dimensions), kinds or {}, both=True, text=text)


def columns_used(agg: Aggregation) -> list[str]:
    """The source columns an aggregation reads (formulas, --where, dimensions, dates)."""
    import sqlglot
    from sqlglot import exp

    names: list[str] = []
    texts = [*agg.formulas.values(), *([agg.where] if agg.where else [])]
    for text in texts:
        for col in sqlglot.parse_one(text).find_all(exp.Column):
            names.append(col.name)
    names += list(agg.dimensions)
    if agg.date_column is not None:
        names.append(agg.date_column)
    return list(dict.fromkeys(names))


def render(expression: exp.Expression, dialect: str) -> str:
    """SQL text of an expression of this module for ``dialect`` (sqlglot's name), with the
    functions that differ by dialect named as it names them (TRUNC of a number, ROUND
    half to even, INT128)."""
    from sqlglot import exp

    if dialect == "spark":

        def spark(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Anonymous) and node.name.upper() == "TRUNC":
                return node.expressions[0]  # Spark's CAST to an integer truncates
            if isinstance(node, exp.Anonymous) and node.name.upper() == "ROUND_EVEN":
                return exp.Anonymous(this="BROUND", expressions=node.expressions)
            if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.INT128:
                return exp.DataType.build("DECIMAL(38, 0)")
            if isinstance(node, exp.Extract) and node.name.upper() in ("DOW", "DAYOFWEEK"):
                # Spark counts the days of the week from 1 (Sunday), Polars and DuckDB from 0
                return exp.Sub(this=node.copy(), expression=exp.Literal.number(1))
            if isinstance(node, exp.Avg):  # Spark's AVG of a DECIMAL(38, 0) is a
                # DECIMAL(38, 4): four digits only. DuckDB's AVG is a DOUBLE.
                double = exp.DataType.build("DOUBLE")
                arg = node.this
                if isinstance(arg, exp.Distinct):
                    inner = [exp.cast(e, double) for e in arg.expressions]
                    return exp.Avg(this=exp.Distinct(expressions=inner))
                return exp.Avg(this=exp.cast(arg, double))
            return node

        expression = expression.transform(spark)
    elif dialect in _WIDE_INTEGERS:  # the warehouses have no INT128: their exact decimal

        def wide(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.INT128:
                return exp.DataType.build(_WIDE_INTEGERS[dialect], dialect=dialect)
            return node

        expression = expression.transform(wide)
    return expression.sql(dialect=dialect, identify=True)


#: What a summed integer is widened to in the warehouses' SQL (DuckDB's INT128, Spark's
#: DECIMAL(38, 0)): BigQuery's NUMERIC allows 29 integer digits only.
_WIDE_INTEGERS = {
    "bigquery": "BIGNUMERIC",
    "snowflake": "NUMBER(38, 0)",
    "postgres": "NUMERIC(38, 0)",
}


# ---------------------------------------------------------------------------- the rows counted


def _ident(name: str) -> exp.Identifier:
    from sqlglot import exp

    return exp.to_identifier(name, quoted=True)


def _col(name: str, table: str | None = None) -> exp.Column:
    from sqlglot import exp

    return exp.column(name, table=table, quoted=True)


def _date(d: date) -> exp.Expression:
    from sqlglot import exp

    return exp.cast(exp.Literal.string(d.isoformat()), exp.DataType.build("DATE"))


def _counted(
    plan: Plan, agg: Aggregation, source: exp.Expression, kinds: Mapping[str, str]
) -> exp.Select:
    """The rows of ``agg`` as the Polars queries aggregate them: the columns used (stage
    dates nulled after as-of, summed integers as INT128), the days counted, --where, and
    the span key (:data:`~kpicli.plan.build.RANGE`) of each."""
    from sqlglot import exp

    date_col = agg.date_column
    day_key = bool(plan.ranges)
    used = columns_used(agg)
    # as of a date, a stage date after it has not happened yet (a lead's future MQL date)
    later = {c for c in agg.stage_dates if c != date_col or not day_key}
    first: list[exp.Expression] = [
        exp.alias_(_until(c, plan.as_of), _ident(c)) if c in later else _col(c) for c in used
    ]
    if not used:  # COUNT(*) of a source without dates: a column to select
        first.append(exp.alias_(exp.Literal.number(1), _ident("__one")))
    inner = exp.select(*first).from_(_relation(source, "__source"))
    if date_col is not None and plan.ranges:
        low, high = plan.counted_days()
        inner = inner.where(exp.Between(this=_col(date_col), low=_date(low), high=_date(high)))

    widened = set(agg.widened)
    outer_cols: list[exp.Expression] = []
    for c in used:
        if c in widened:
            outer_cols.append(exp.alias_(exp.cast(_col(c, "__rows"), "INT128"), _ident(c)))
        else:
            outer_cols.append(exp.alias_(_col(c, "__rows"), _ident(c)))
    if not used:
        outer_cols.append(_col("__one", "__rows"))
    outer = exp.select(*outer_cols).from_(inner.subquery("__rows"))
    if agg.where is not None:
        outer = outer.where(_polars_sql(agg.where, kinds))
    if date_col is None and plan.ranges:
        return _time_keys(plan, outer, _date(plan.ranges[0].start), days=True)
    if date_col is None:
        return outer.select(exp.alias_(exp.cast(exp.null(), "DATE"), _ident(RANGE)))
    return _time_keys(plan, outer, _col(date_col, "__rows"), days=False)


def _until(column: str, as_of: date) -> exp.Expression:
    """A date column null after ``as_of``."""
    from sqlglot import exp

    before = exp.LTE(this=_col(column), expression=_date(as_of))
    return exp.Case(ifs=[exp.If(this=before, true=_col(column))])


def _relation(source: exp.Expression, alias: str) -> exp.Expression:
    from sqlglot import exp

    if isinstance(source, exp.Query):
        return source.subquery(alias)
    if isinstance(source, exp.Subquery | exp.Table):
        return source
    return exp.alias_(source, alias, table=True)


def _time_keys(plan: Plan, rows: exp.Select, day: exp.Expression, *, days: bool) -> exp.Select:
    """``rows`` with the span each counts for (RANGE), keyed on the date ``day``: the grain
    bucket number (aligned spans), the spans joined (a calendar), or the date truncated to
    the grain (``--period all``). ``days``: the days counted are yet to be kept."""
    from sqlglot import exp

    if plan.ranges and days:
        low, high = plan.counted_days()
        rows = rows.where(exp.Between(this=day.copy(), low=_date(low), high=_date(high)))
    if plan.aligned:
        key = _ordinal(day, plan.grain or "day", plan.week_start)
        rows = rows.select(exp.alias_(key, _ident(RANGE)))
        if plan.ordinals is not None:  # days between the spans (--compare year)
            numbers = [exp.Literal.number(n) for n in plan.ordinals]
            rows = rows.where(exp.In(this=key.copy(), expressions=numbers))
        return rows
    if not plan.ranges:  # --period all
        rows = rows.where(exp.LTE(this=day.copy(), expression=_date(plan.as_of)))
        bucket = _bucket(day, plan.grain, plan.week_start) if plan.grain else exp.null()
        return rows.select(exp.alias_(exp.cast(bucket, "DATE"), _ident(RANGE)))
    spans = [
        exp.Tuple(
            expressions=[exp.Literal.number(i), _date(r.start), _date(min(r.end, plan.as_of))]
        )
        for i, r in enumerate(plan.ranges)
        if r.start <= plan.as_of
    ]
    if not spans:
        rows = rows.where(exp.false())
        return rows.select(exp.alias_(exp.cast(exp.null(), "INT"), _ident(RANGE)))
    table = exp.Values(
        expressions=spans,
        alias=exp.TableAlias(
            this=_ident(SPANS), columns=[_ident("__i"), _ident("__lo"), _ident("__hi")]
        ),
    )
    on = exp.Between(this=day.copy(), low=_col("__lo", SPANS), high=_col("__hi", SPANS))
    rows = rows.join(table, on=on, join_type="inner")
    return rows.select(exp.alias_(exp.cast(_col("__i", SPANS), "INT"), _ident(RANGE)))


def _ordinal(day: exp.Expression, grain: str, week_start: str) -> exp.Expression:
    """:func:`kpicli.plan.build.ordinal` in SQL: the grain bucket's number, an INT."""
    from sqlglot import exp

    def extract(part: str) -> exp.Expression:
        return exp.Extract(this=exp.var(part), expression=day.copy())

    if grain in ("day", "week"):
        days: exp.Expression = exp.DateDiff(
            this=day.copy(), expression=_date(date(1970, 1, 1)), unit=exp.var("DAY")
        )
        if grain == "week":  # floor division, as Polars' // (dates before 1970 too)
            shift = exp.Literal.number(3 if week_start == "monday" else 4)
            ratio = exp.Div(
                this=exp.paren(exp.Add(this=days, expression=shift)),
                expression=exp.Literal.number("7.0"),
            )
            days = exp.Floor(this=ratio)
        return exp.cast(days, "INT")
    year = extract("YEAR")
    if grain == "month":
        value = exp.Sub(
            this=exp.Add(
                this=exp.Mul(this=year, expression=exp.Literal.number(12)),
                expression=extract("MONTH"),
            ),
            expression=exp.Literal.number(1),
        )
    elif grain == "quarter":
        value = exp.Sub(
            this=exp.Add(
                this=exp.Mul(this=year, expression=exp.Literal.number(4)),
                expression=extract("QUARTER"),
            ),
            expression=exp.Literal.number(1),
        )
    else:
        value = year
    return exp.cast(value, "INT")


def _bucket(day: exp.Expression, grain: str, week_start: str) -> exp.Expression:
    """The first day of the grain bucket of ``day`` (``queries._bucket``)."""
    from sqlglot import exp

    if grain == "day":
        return day.copy()

    def trunc(unit: str, d: exp.Expression) -> exp.Expression:
        return exp.cast(exp.DateTrunc(unit=exp.Literal.string(unit), this=d), "DATE")

    if grain == "week" and week_start == "sunday":  # the first week is cut at 0001-01-01
        after = exp.cast(
            exp.DateAdd(this=day.copy(), expression=exp.Literal.number(1), unit=exp.var("DAY")),
            "DATE",
        )
        start = exp.cast(
            exp.DateSub(
                this=trunc("WEEK", after), expression=exp.Literal.number(1), unit=exp.var("DAY")
            ),
            "DATE",
        )
        return exp.Greatest(this=start, expressions=[_date(date(1, 1, 1))])
    return trunc(grain.upper(), day.copy())


# ---------------------------------------------------------------------------- the groups


def _grouped(
    agg: Aggregation,
    counted: exp.Select,
    dims: list[str],
    kinds: Mapping[str, str],
    *,
    both: bool = False,
    text: bool = True,
) -> exp.Select:
    """``counted`` grouped by the span key and ``dims`` (``both``: and by the span key
    alone, GROUPING SETS): the KPIs' values, the bookkeeping, the dimensions as text."""
    from sqlglot import exp

    inner_cols: list[exp.Expression] = [_col(RANGE)]
    inner_cols += [exp.alias_(_col(d), _ident(f"__d{i}")) for i, d in enumerate(dims)]
    values = list(agg.formulas.items())
    for i, (_, formula) in enumerate(values):
        value = exp.cast(_polars_sql(formula, kinds), "DOUBLE")
        inner_cols.append(exp.alias_(value, _ident(f"__v{i}")))
    book = [(agg.count, exp.Count(this=exp.Star()))]
    if agg.date_column is not None:
        book += [
            (agg.first, exp.Min(this=_col(agg.date_column))),
            (agg.last, exp.Max(this=_col(agg.date_column))),
        ]
    inner_cols += [exp.alias_(e, _ident(f"__b{i}")) for i, (_, e) in enumerate(book)]
    keys = [_col(RANGE), *(_col(d) for d in dims)]
    inner = exp.select(*inner_cols).from_(counted.subquery(COUNTED))
    if both and dims:
        sets = exp.GroupingSets(
            expressions=[exp.Tuple(expressions=keys), exp.Tuple(expressions=[_col(RANGE)])]
        )
        inner = inner.group_by(sets)
        flag = exp.cast(exp.Grouping(expressions=[_col(dims[0])]), "INT")
        inner = inner.select(exp.alias_(flag, _ident(TOTALS)))
    else:
        inner = inner.group_by(*keys)
    out: list[exp.Expression] = [_col(RANGE)]
    for i, d in enumerate(dims):
        value = exp.cast(_col(f"__d{i}"), "TEXT") if text else _col(f"__d{i}")
        out.append(exp.alias_(value, _ident(d)))
    out += [exp.alias_(_col(f"__v{i}"), _ident(name)) for i, (name, _) in enumerate(values)]
    out += [exp.alias_(_col(f"__b{i}"), _ident(name)) for i, (name, _) in enumerate(book)]
    if both:
        flag_out = _col(TOTALS) if dims else exp.Literal.number(0)
        out.append(exp.alias_(flag_out, _ident(TOTALS)))
    return exp.select(*out).from_(inner.subquery("__groups"))


# ---------------------------------------------------------------------------- Polars' meaning


def _polars_sql(text: str, kinds: Mapping[str, str]) -> exp.Expression:
    """SQL text compiled for Polars (a formula or --where) as an AST whose meaning in SQL is
    the one Polars gives it (:func:`_as_polars_does`)."""
    import sqlglot

    return _as_polars_does(sqlglot.parse_one(text, read="duckdb"), kinds)


def _as_polars_does(tree: exp.Expression, kinds: Mapping[str, str]) -> exp.Expression:
    """Where Polars and SQL engines disagree on the same text, the Polars meaning spelled
    out: a number cast to an integer is truncated (SQL engines round), ROUND of a float is
    half to even (of a decimal, half away from zero, as SQL does), CONCAT skips nulls."""
    from sqlglot import exp

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Cast) and node.to.this.name in _INTEGER_TYPES:
            if _kind(node.this, kinds) in (FLOAT, DECIMAL):
                node.set("this", exp.Anonymous(this="TRUNC", expressions=[node.this]))
            return node
        if isinstance(node, exp.Round) and _kind(node.this, kinds) == FLOAT:
            digits = node.args.get("decimals") or exp.Literal.number(0)
            return exp.Anonymous(this="ROUND_EVEN", expressions=[node.this, digits])
        if isinstance(node, exp.Concat):
            node.set("coalesce", True)
        return node

    return tree.transform(fix, copy=False)


def _kind(node: exp.Expression | None, kinds: Mapping[str, str]) -> str | None:
    """The kind of a value (INT, FLOAT, DECIMAL, OTHER) as far as told; None: unknown."""
    from sqlglot import exp

    if node is None:
        return None
    rule = _kind_rules().get(type(node))
    if rule is not None:
        return rule(node, kinds)
    if isinstance(node, exp.Binary) and isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div):
        return FLOAT  # compile_sql computes arithmetic on integers and decimals as DOUBLE
    return None


def _literal_kind(node: exp.Expression, kinds: Mapping[str, str]) -> str:
    if node.is_string:
        return OTHER
    text = str(node.this).lower()
    return FLOAT if "e" in text else DECIMAL if "." in text else INT


def _cast_kind(node: exp.Expression, kinds: Mapping[str, str]) -> str | None:
    name = node.to.this.name
    if name in _INTEGER_TYPES:
        return INT
    if name in ("DOUBLE", "FLOAT"):
        return FLOAT
    if name == "DECIMAL":
        return DECIMAL
    return OTHER


def _inner_kind(node: exp.Expression, kinds: Mapping[str, str]) -> str | None:
    return _kind(node.this, kinds)


def _joined_kind(node: exp.Expression, kinds: Mapping[str, str]) -> str | None:
    from sqlglot import exp

    if isinstance(node, exp.Case):
        parts = [i.args.get("true") for i in node.args.get("ifs", [])] + [node.args.get("default")]
    elif isinstance(node, exp.If):
        parts = [node.args.get("true"), node.args.get("false")]
    else:
        parts = [node.this, *node.expressions]
    found = {_kind(p, kinds) for p in parts if p is not None and not isinstance(p, exp.Null)}
    for kind in (OTHER, FLOAT, DECIMAL, INT):
        if kind in found:
            return kind
    return None


_KindRule = Callable[["exp.Expression", Mapping[str, str]], "str | None"]
_RULES: dict[type, _KindRule] = {}


def _kind_rules() -> dict[type, _KindRule]:
    from sqlglot import exp

    if _RULES:
        return _RULES
    _RULES.update(
        {
            exp.Column: lambda n, k: k.get(n.name),
            exp.Literal: _literal_kind,
            exp.Cast: _cast_kind,
            exp.Paren: _inner_kind,
            exp.Neg: _inner_kind,
            exp.Abs: _inner_kind,
            exp.Ceil: _inner_kind,
            exp.Floor: _inner_kind,
            exp.Round: _inner_kind,
            exp.Sign: _inner_kind,
            exp.Nullif: _inner_kind,
            exp.Sum: _inner_kind,
            exp.Min: _inner_kind,
            exp.Max: _inner_kind,
            exp.Filter: _inner_kind,
            exp.Mod: lambda n, k: _joined_kind(
                exp.Coalesce(this=n.this, expressions=[n.expression]), k
            ),
            exp.Coalesce: _joined_kind,
            exp.Greatest: _joined_kind,
            exp.Least: _joined_kind,
            exp.Case: _joined_kind,
            exp.If: _joined_kind,
            exp.Count: lambda n, k: INT,
            exp.Length: lambda n, k: INT,
            exp.Extract: lambda n, k: INT,
            **{
                t: (lambda n, k: FLOAT)
                for t in (
                    exp.Sqrt,
                    exp.Exp,
                    exp.Ln,
                    exp.Log,
                    exp.Pow,
                    exp.Avg,
                    exp.Median,
                    exp.Stddev,
                    exp.StddevSamp,
                    exp.Variance,
                )
            },
        }
    )
    return _RULES
