"""KPI formulas and filters: SQL text checked with sqlglot, evaluated by Polars.

Formulas are never ``eval``-ed: sqlglot parses them to find the columns (or KPI names)
they use and to attach a KPI's ``filter`` to each of its aggregates; Polars' own SQL
expression parser (``pl.sql_expr``) turns the text into an expression.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError


class FormulaError(ValueError):
    """The SQL text does not parse or is not of the expected kind."""


@dataclass(frozen=True)
class Formula:
    """A parsed SQL expression and what it refers to."""

    text: str
    names: tuple[str, ...]  # referenced columns (source KPIs) or KPI names (derived KPIs)
    aggregates: int  # number of aggregate calls (SUM, COUNT, ...)


@lru_cache(maxsize=1024)
def _parse(text: str) -> exp.Expression:
    try:
        tree = sqlglot.parse_one(text)
    except ParseError as err:
        first = err.errors[0] if err.errors else {}
        detail = first.get("description") or str(err).splitlines()[0]
        raise FormulaError(f"cannot parse `{text}`: {detail}") from None
    except Exception as err:  # sqlglot raises a few other kinds on odd input
        raise FormulaError(f"cannot parse `{text}`: {err}") from None
    if tree is None or isinstance(tree, exp.Query | exp.Command):
        raise FormulaError(f"`{text}` is not an expression")
    return tree


def parse(text: str) -> Formula:
    """Parse a formula or predicate; raise FormulaError when it is not a SQL expression."""
    if not isinstance(text, str) or not text.strip():
        raise FormulaError("the expression is empty")
    tree = _parse(text)
    names: list[str] = []
    for col in tree.find_all(exp.Column):
        if col.name and col.name not in names:
            names.append(col.name)
    aggregates = sum(1 for _ in tree.find_all(exp.AggFunc))
    return Formula(text=text, names=tuple(names), aggregates=aggregates)


def with_filter(text: str, predicate: str | None) -> str:
    """Attach ``FILTER (WHERE predicate)`` to every aggregate of ``text``.

    Combined with AND when an aggregate already has a FILTER clause. This makes a KPI's
    own ``filter`` apply to that KPI only, inside the single aggregation of its source.
    """
    if not predicate:
        return text
    tree = _parse(text).copy()
    pred = _parse(predicate)

    def wrap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Filter):
            where = node.args.get("expression")
            inner = where.this if isinstance(where, exp.Where) else where
            combined = exp.and_(exp.paren(pred.copy()), exp.paren(inner.copy()))
            return exp.Filter(this=node.this, expression=exp.Where(this=combined))
        if isinstance(node, exp.AggFunc) and not isinstance(node.parent, exp.Filter):
            return exp.Filter(this=node.copy(), expression=exp.Where(this=pred.copy()))
        return node

    return tree.transform(wrap, copy=False).sql()


EXACT = exp.DataType.build("DECIMAL(38, 9)")


def exact_sums(text: str, float_columns: set[str] | frozenset[str]) -> str:
    """Sum floating-point columns as decimals: exact to the cent, and the same every run.

    Polars adds floats in parallel, in an order that varies between runs, so the last bits
    of a float SUM (and AVG) change from run to run. Each SUM/AVG whose argument uses a
    float column gets it as ``DECIMAL(38, 9)`` (an exact, order-independent sum); the
    aggregate (with its FILTER) is cast back to DOUBLE, so that formula arithmetic (and
    division by zero, which becomes null) stays in floating point.
    """
    tree = _parse(text).copy()
    targets = [
        node
        for node in tree.find_all(exp.Sum, exp.Avg)
        if any(c.name in float_columns for c in node.find_all(exp.Column))
    ]
    if not targets:
        return text
    for node in targets:
        arg = node.this
        arg.replace(exp.TryCast(this=arg.copy(), to=EXACT.copy()))
        outer = node.parent if isinstance(node.parent, exp.Filter) else node
        cast = exp.Cast(this=outer.copy(), to=exp.DataType.build("DOUBLE"))
        if outer is tree:
            tree = cast
        else:
            outer.replace(cast)
    return tree.sql()
