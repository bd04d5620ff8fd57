"""KPI formulas and filters: SQL text checked with sqlglot, evaluated by Polars.

Formulas are never ``eval``-ed: sqlglot parses them to find the columns (or KPI names)
they use and to attach a KPI's ``filter`` to each of its aggregates; Polars' own SQL
expression parser (``pl.sql_expr``) turns the text into an expression.

Every function here is a pure function of its text arguments. A :class:`Memo` keeps their
results: by default in the per-user cache (:mod:`kpicli.usercache`, one entry per
configuration content, :meth:`Memo.of_config`), with the Parquet cache (``--cache DIR``) in
``DIR/kpi-formulas-….json``; so a repeated report neither imports sqlglot nor parses a
formula (about 0.1 s of a report on small data).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpicli.inputs import open_regular

if TYPE_CHECKING:
    from sqlglot import exp


class FormulaError(ValueError):
    """The SQL text does not parse or is not of the expected kind (with a hint)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Formula:
    """A parsed SQL expression and what it refers to."""

    text: str
    names: tuple[str, ...]  # referenced columns (source KPIs) or KPI names (derived KPIs)
    aggregates: int  # number of aggregate calls (SUM, COUNT, ...)


# ---------------------------------------------------------------------------- memo

#: The memo's file is ``kpi-formulas-ID.json``, ID told by the key (:func:`memo_file`).
MEMO_PREFIX = "kpi-formulas"
#: At most this many results are kept in a memo's file.
MEMO_SIZE = 20_000
#: The kind of the per-user cache's entries that hold memos (:meth:`Memo.of_config`).
USER_KIND = "formulas"


def _memo_version() -> str | None:
    """What the memo's results depend on; None when sqlglot's version cannot be told."""
    from importlib.metadata import PackageNotFoundError, version

    from kpicli.version import __version__

    try:
        return f"kpi {__version__}, sqlglot {version('sqlglot')}"
    except PackageNotFoundError:  # sqlglot not installed as a distribution (vendored…)
        return None


def _memo_mac(secret: bytes, body: bytes) -> bytes:
    return hmac.new(secret, b"kpi formulas\0" + body, hashlib.sha256).hexdigest().encode()


def memo_file(secret: bytes) -> str:
    """The name of the memo kept under ``secret`` (users sharing a folder have one each)."""
    tag = hmac.new(secret, b"kpi formulas file", hashlib.sha256).hexdigest()[:16]
    return f"{MEMO_PREFIX}-{tag}.json"


@dataclass
class Memo:
    """The results of this module's functions, kept in a file (:func:`memo_file`) of the
    Parquet cache under an HMAC with ``secret`` (the cache's key,
    :mod:`kpicli.ingest.cache`): a file changed by anyone else is not obeyed; or in the
    per-user cache, for one configuration's content (:meth:`of_config`). Made by
    :meth:`load` or :meth:`of_config`; used inside ``with memo:`` (the functions of this
    module called in the block consult it); written back by :meth:`save`, explicitly, when
    something was added."""

    path: Path | None  # None: kept in the per-user cache, under ``user_key``
    secret: bytes
    entries: dict[str, Any] = field(default_factory=dict)
    new: bool = False  # results were added since it was read
    version: str | None = None  # None: results are not kept (sqlglot's version unknown)
    user_key: str | None = None  # the per-user cache's key (:meth:`of_config`)
    _tokens: list[Token[Memo | None]] = field(default_factory=list, repr=False)

    @classmethod
    def of_config(cls, content: bytes) -> Memo:
        """The memo of a configuration whose file holds ``content``, kept in the per-user
        cache (:mod:`kpicli.usercache`) under the content's SHA-256; an entry that cannot
        be read is started afresh. With the cache off (``KPI_NO_CACHE``), a memo that keeps
        nothing (``version`` None: the functions compute as without one)."""
        from kpicli import usercache

        if not usercache.enabled():
            return cls(None, b"")
        version = _memo_version()
        key = f"{version}\0{hashlib.sha256(content).hexdigest()}"
        memo = cls(None, b"", version=version, user_key=key)
        if version is None:
            return memo
        raw = usercache.load(USER_KIND, key)
        try:
            data = json.loads(raw) if raw is not None else {}
        except ValueError:
            data = {}
        if isinstance(data, dict) and data.get("version") == version:
            entries = data.get("entries")
            memo.entries = entries if isinstance(entries, dict) else {}
        return memo

    @classmethod
    def load(cls, folder: Path, secret: bytes) -> tuple[Memo, str | None]:
        """The memo kept in ``folder``, and why its file was not obeyed (None: read, or
        none yet). A file written by another version of kpi or sqlglot is ignored; one that
        does not verify too, and the reason is returned."""
        memo = cls(folder / memo_file(secret), secret, version=_memo_version())
        if memo.version is None:
            return memo, None
        try:
            with open_regular(memo.path, follow_links=False) as fh:  # never waits on a FIFO
                raw = fh.read()
        except FileNotFoundError:
            return memo, None
        except OSError as err:
            return memo, f"cannot read it: {err.strerror}"
        mac, _, body = raw.partition(b"\n")
        if not raw:
            return memo, None
        if not hmac.compare_digest(mac, _memo_mac(secret, body)):
            return memo, "it does not verify (changed by someone else, or corrupt)"
        data = json.loads(body)
        if data.get("version") == memo.version and isinstance(data.get("entries"), dict):
            memo.entries = data["entries"]
        return memo, None

    def save(self) -> None:
        """Write the memo back when it gained entries (at most :data:`MEMO_SIZE` kept)."""
        if not self.new or self.version is None:
            return
        entries = self.entries
        if len(entries) > MEMO_SIZE:
            entries = dict(list(entries.items())[-MEMO_SIZE:])
        body = json.dumps({"version": self.version, "entries": entries}, sort_keys=True)
        path = self.path
        if path is None:
            from kpicli import usercache

            if self.user_key is not None:
                usercache.store(USER_KIND, self.user_key, body.encode())
            self.new = False
            return
        try:  # (into the folder as it is: one removed meanwhile is not made again)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(_memo_mac(self.secret, body.encode()) + b"\n" + body.encode())
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError:  # a memo is only a shortcut: the next run parses again
            return
        self.new = False

    def __enter__(self) -> Memo:
        self._tokens.append(_IN_USE.set(self if self.version is not None else None))
        return self

    def __exit__(self, *exc: object) -> None:
        _IN_USE.reset(self._tokens.pop())


#: The memo in use in this context (``with memo:``), if any.
_IN_USE: ContextVar[Memo | None] = ContextVar("kpi_formula_memo", default=None)


def memo_in_use() -> Memo | None:
    """The memo the functions of this module consult here (``with memo:``), if any."""
    return _IN_USE.get()


def _memoized(compute: Callable[..., Any], *args: Any) -> Any:
    """``compute(*args)``, from the memo in use, if any (JSON-able arguments and result)."""
    memo = _IN_USE.get()
    if memo is None:
        return compute(*args)
    key = json.dumps([compute.__name__, *args], default=sorted)
    entries = memo.entries
    if key not in entries:
        entries[key] = compute(*args)
        memo.new = True
    return entries[key]


# ---------------------------------------------------------------------------- parsing

#: Where an expression is used, which decides what it may say. Every expression may name
#: columns (or, in a derived KPI, KPI names), literals, operators and scalar functions;
#: only a KPI formula with a source may aggregate.
ROW = "row"  # a source's derive or filter, a KPI's filter, --where: one row at a time
AGGREGATE = "aggregate"  # a KPI formula with a source: aggregates over the source's rows
DERIVED = "derived"  # a KPI formula without source: a scalar over other KPIs
PLACES = (ROW, AGGREGATE, DERIVED)

#: A formula is a line, not a program: longer or deeper expressions are refused (Polars'
#: SQL parser stops at 50 levels, and the rewrites of :func:`compile_sql` add a few).
MAX_LENGTH = 10_000
MAX_NESTING = 24
MAX_NODES = 2_000


@lru_cache(maxsize=1024)
def _parse(text: str) -> exp.Expression:
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    if len(text) > MAX_LENGTH:
        raise FormulaError(
            f"the expression is longer than {MAX_LENGTH:,} characters",
            hint="split it into several KPIs (a KPI without source combines others by name)",
        )
    if _paren_depth(text) > MAX_NESTING:
        raise _too_deep()
    try:
        tree = sqlglot.parse_one(text)
    except ParseError as err:
        first = err.errors[0] if err.errors else {}
        detail = first.get("description") or str(err).splitlines()[0]
        raise FormulaError(f"cannot parse `{text}`: {detail}") from None
    except RecursionError:
        raise _too_deep() from None
    except Exception as err:  # sqlglot raises a few other kinds on odd input
        raise FormulaError(f"cannot parse `{text}`: {err}") from None
    if tree is None or isinstance(tree, exp.Query | exp.Command):
        raise FormulaError(f"`{text}` is not an expression")
    _check_tree(tree)
    return tree


def _paren_depth(text: str) -> int:
    """How deep parentheses nest, outside quotes (a bound checked before sqlglot recurses)."""
    depth = deepest = 0
    quote = None
    for ch in text:
        if quote is not None:
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        elif ch in "([":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]":
            depth -= 1
    return deepest


def _too_deep() -> FormulaError:
    return FormulaError(
        f"the expression nests more than {MAX_NESTING} levels of parentheses and functions",
        hint="split it into several KPIs (a KPI without source combines others by name)",
    )


def parse(text: str) -> Formula:
    """Parse a formula or predicate; raise FormulaError when it is not a SQL expression
    made only of what :data:`ALLOWED` lists (no subquery, table or window function…)."""
    if not isinstance(text, str) or not text.strip():
        raise FormulaError("the expression is empty")
    return _parsed(text)


@lru_cache(maxsize=8192)
def _parsed(text: str) -> Formula:
    """:func:`parse`, kept in memory: a config's formulas are asked for again and again."""
    names, aggregates = _memoized(_checked_names, text)
    return Formula(text=text, names=tuple(names), aggregates=aggregates)


def _checked_names(text: str) -> tuple[list[str], int]:
    from sqlglot import exp

    tree = _parse(text)
    names: list[str] = []
    for col in tree.find_all(exp.Column):
        if col.name and col.name not in names:
            names.append(col.name)
    aggregates = sum(1 for _ in tree.find_all(exp.AggFunc))
    return names, aggregates


def check(text: str, place: str) -> Formula:
    """:func:`parse`, and what the place allows: no aggregate in a row expression or a
    derived KPI, aggregates over row expressions (and every column inside one) in a KPI
    formula with a source. Raise FormulaError (with a hint) otherwise."""
    if place not in PLACES:
        raise ValueError(f"unknown place {place!r}")
    formula = parse(text)
    problem = _placed(text, place)
    if problem is not None:
        raise FormulaError(problem[0], hint=problem[1])
    return formula


@lru_cache(maxsize=8192)
def _placed(text: str, place: str) -> tuple[str, str] | None:
    problem = _memoized(_place_problem, text, place)
    return None if problem is None else (problem[0], problem[1])


# ---------------------------------------------------------------------------- what SQL may say

#: Kinds of values, as far as overflow is concerned (see :func:`compile_sql`).
INT, FLOAT, DECIMAL, OTHER, NULL = "int", "float", "decimal", "other", "null"
#: How a function's kind follows from its arguments: that of its first argument, or the
#: common kind of the values it may return (CASE, COALESCE…).
ARG, JOIN = "arg", "join"

#: The types CAST may convert to, and their kinds.
CAST_TYPES = {
    "DOUBLE": FLOAT,
    "FLOAT": FLOAT,
    "DECIMAL": DECIMAL,
    "INT": INT,
    "BIGINT": INT,
    "INT128": INT,
    "VARCHAR": OTHER,
    "TEXT": OTHER,
    "DATE": OTHER,
    "BOOLEAN": OTHER,
}


@dataclass(frozen=True)
class _Rules:
    """The allow-list, as sqlglot node classes: anything else is refused."""

    scalar: dict[type, tuple[str, str]]  # function class → (name shown, kind)
    named: dict[str, str]  # functions sqlglot does not model (Anonymous) → kind
    aggregate: dict[type, tuple[str, str]]
    structure: frozenset[type]  # operators, literals, columns and their parts
    subquery: tuple[type, ...]

    def functions(self) -> str:
        """The functions allowed, for hints."""
        scalar = ", ".join(sorted({n for n, _ in self.scalar.values()} | set(self.named)))
        aggs = ", ".join(dict.fromkeys(n for n, _ in self.aggregate.values()))
        return (
            f"functions {scalar}; in the formula of a KPI with a source, the aggregates "
            f"{aggs} (each with FILTER (WHERE …) if need be)"
        )


def _structure() -> frozenset[type]:
    """The node types of the allow-list that are not functions: operators, literals,
    columns and their parts."""
    from sqlglot import exp

    return frozenset(
        {
            exp.Column,
            exp.Identifier,
            exp.Literal,
            exp.Boolean,
            exp.Null,
            exp.Paren,
            exp.Neg,
            exp.Not,
            exp.And,
            exp.Or,
            exp.Add,
            exp.Sub,
            exp.Mul,
            exp.Div,
            exp.Mod,
            exp.DPipe,
            exp.EQ,
            exp.NEQ,
            exp.GT,
            exp.GTE,
            exp.LT,
            exp.LTE,
            exp.NullSafeEQ,
            exp.NullSafeNEQ,
            exp.Is,
            exp.In,
            exp.Between,
            exp.Like,
            exp.ILike,
            exp.Interval,
            exp.Var,
            exp.DataType,
            exp.DataTypeParam,
            exp.Star,
            exp.Distinct,
            exp.Filter,
            exp.Where,
        }
    )


@lru_cache(maxsize=1)
def _rules() -> _Rules:
    from sqlglot import exp

    scalar = {
        exp.Abs: ("ABS", ARG),
        exp.Ceil: ("CEIL", ARG),
        exp.Floor: ("FLOOR", ARG),
        exp.Round: ("ROUND", ARG),
        exp.Sign: ("SIGN", ARG),
        exp.Sqrt: ("SQRT", FLOAT),
        exp.Exp: ("EXP", FLOAT),
        exp.Ln: ("LN", FLOAT),
        exp.Log: ("LOG", FLOAT),  # LOG(base, x), LOG10(x), LOG2(x)
        exp.Pow: ("POWER", FLOAT),
        exp.Greatest: ("GREATEST", JOIN),
        exp.Least: ("LEAST", JOIN),
        exp.Coalesce: ("COALESCE", JOIN),
        exp.Nullif: ("NULLIF", ARG),
        exp.Case: ("CASE", JOIN),
        exp.If: ("IF", JOIN),
        exp.Cast: ("CAST", OTHER),  # its kind is its type's
        exp.Lower: ("LOWER", OTHER),
        exp.Upper: ("UPPER", OTHER),
        exp.Trim: ("TRIM", OTHER),
        exp.Substring: ("SUBSTRING", OTHER),
        exp.Concat: ("CONCAT", OTHER),
        exp.Replace: ("REPLACE", OTHER),
        exp.Left: ("LEFT", OTHER),
        exp.Right: ("RIGHT", OTHER),
        exp.Length: ("LENGTH", INT),
        exp.StartsWith: ("STARTS_WITH", OTHER),
        exp.EndsWith: ("ENDS_WITH", OTHER),
        exp.Extract: ("EXTRACT", INT),
        exp.Date: ("DATE", OTHER),
    }
    aggregate = {
        exp.Sum: ("SUM", ARG),
        exp.Count: ("COUNT", INT),
        exp.Avg: ("AVG", FLOAT),
        exp.Min: ("MIN", ARG),
        exp.Max: ("MAX", ARG),
        exp.Median: ("MEDIAN", FLOAT),
        exp.Stddev: ("STDDEV", FLOAT),
        exp.StddevSamp: ("STDDEV", FLOAT),
        exp.Variance: ("VARIANCE", FLOAT),
    }
    structure = _structure()
    subquery = (exp.Query, exp.Subquery, exp.Exists, exp.SubqueryPredicate, exp.Unnest, exp.Table)
    return _Rules(scalar, {"DATE_PART": INT, "STRFTIME": OTHER}, aggregate, structure, subquery)


def _function_name(node: exp.Expression) -> str:
    from sqlglot import exp

    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    names = type(node).sql_names()
    return names[0] if names else type(node).__name__.upper()


def _snippet(node: exp.Expression) -> str:
    text = node.sql(comments=False)
    return text if len(text) <= 60 else text[:57] + "…"


#: What every expression may use, for hints.
_GRAMMAR = (
    "columns, literals, + - * / %, comparisons, AND OR NOT, IN (…), BETWEEN, LIKE, "
    "IS NULL, CASE and CAST"
)


def _check_tree(tree: exp.Expression, *, limits: bool = True) -> None:
    """Refuse whatever the allow-list does not name, wherever the expression is used.

    ``limits``: also refuse expressions too long or too deep (not for the text the
    rewrites of :func:`compile_sql` produce from a checked one)."""
    from sqlglot import exp

    rules = _rules()
    for node in tree.walk(bfs=False):  # first, what reaches outside the rows
        if isinstance(node, rules.subquery):
            raise FormulaError(
                f"a subquery or table (`{_snippet(node)}`) is not allowed here",
                hint="an expression uses the columns of its own rows only: "
                "no SELECT, no other table or file",
            )
        if isinstance(node, exp.Window):
            raise FormulaError(
                f"a window function (`{_snippet(node)}`) is not allowed here",
                hint="kpi groups rows by period and dimension itself: use --grain and --by",
            )
    for nodes, node in enumerate(tree.walk(bfs=False), start=1):
        if limits and nodes > MAX_NODES:
            raise FormulaError(
                f"the expression has more than {MAX_NODES:,} terms",
                hint="split it into several KPIs (a KPI without source combines others by name)",
            )
        if isinstance(node, exp.Anonymous):
            if node.name.upper() not in rules.named:
                raise _not_allowed(node)
        elif type(node) in rules.scalar or type(node) in rules.aggregate:
            pass
        elif isinstance(node, exp.Func) and type(node) not in rules.structure:
            raise _not_allowed(node)
        elif type(node) not in rules.structure:
            raise FormulaError(
                f"`{_snippet(node)}` is not allowed here",
                hint=f"an expression may use {_GRAMMAR}, and the {_rules().functions()}",
            )
        _check_node(node)
    if limits and _nesting(tree) > MAX_NESTING:
        raise _too_deep()


def _nesting(tree: exp.Expression) -> int:
    """How deep a SQL parser recurses to read ``tree``, as Polars' does: one level per
    parenthesis, function, CASE, unary operator, and right operand of an operator (a chain
    ``a + b + c`` is read in a loop, ``a + (b + (c …))`` is not)."""
    from sqlglot import exp

    level: dict[int, int] = {}
    deepest = 0
    for node in tree.walk(bfs=False):
        parent = node.parent
        flat = isinstance(node, exp.Binary | exp.Column | exp.Identifier | exp.Literal) or (
            isinstance(node, exp.If) and isinstance(parent, exp.Case)
        )
        right = isinstance(parent, exp.Binary) and node.arg_key == "expression"
        level[id(node)] = level.get(id(parent), 0) + (0 if flat else 1) + (1 if right else 0)
        deepest = max(deepest, level[id(node)])
    return deepest


def _not_allowed(node: exp.Expression) -> FormulaError:
    return FormulaError(
        f"function `{_function_name(node)}` is not allowed here",
        hint=f"allowed: {_rules().functions()}",
    )


#: Node classes (by sqlglot name) that stand only inside these others: an identifier names a
#: column, a type is a CAST's, WHERE follows FILTER.
_ONLY_INSIDE = {
    "Identifier": ("Column",),
    "DataType": ("Cast", "DataType"),
    "DataTypeParam": ("DataType",),
    "Where": ("Filter",),
}


def _check_node(node: exp.Expression) -> None:
    """The shapes an allowed node class may take (a column is a plain name, `*` is only
    COUNT's, a CAST converts to a type of :data:`CAST_TYPES`…): the check of its class
    (:func:`_node_checks`), if it has one; raise FormulaError when it is not."""
    check = _node_checks().get(type(node))
    if check is not None:
        check(node)


def _check_column(node: exp.Expression) -> None:
    """A column is a name alone (no table, database or catalog)."""
    from sqlglot import exp

    if not isinstance(node.this, exp.Identifier) or any(
        node.args.get(k) for k in ("table", "db", "catalog")
    ):
        raise FormulaError(
            f"`{_snippet(node)}` is not a column name",
            hint='name a column alone; quote a name with dots or spaces: "Impr."',
        )


def _check_inside(node: exp.Expression) -> None:
    """An identifier, a type or WHERE stands where :data:`_ONLY_INSIDE` says; a CAST's type
    is one of :data:`CAST_TYPES`."""
    from sqlglot import exp

    outer = _ONLY_INSIDE[type(node).__name__]
    if not isinstance(node.parent, tuple(getattr(exp, name) for name in outer)):
        raise FormulaError(f"`{_snippet(node)}` is not allowed here")
    cast = isinstance(node, exp.DataType) and isinstance(node.parent, exp.Cast)
    if cast and _cast_type(node) not in CAST_TYPES:
        raise FormulaError(
            f"CAST to `{_snippet(node)}` is not allowed",
            hint=f"cast to {', '.join(t for t in CAST_TYPES if t != 'INT128')}",
        )


def _check_literal(node: exp.Expression) -> None:
    """A number is a finite 64-bit float."""
    if node.is_string:
        return
    try:
        finite = math.isfinite(float(node.this))
    except ValueError:
        finite = False
    if not finite:
        raise FormulaError(
            f"the number `{node.this}` cannot be represented",
            hint="numbers are 64-bit floating point: at most about 1.8e308",
        )


def _check_star(node: exp.Expression) -> None:
    from sqlglot import exp

    if not isinstance(node.parent, exp.Count):
        raise FormulaError("`*` is only allowed in COUNT(*)")


def _check_distinct(node: exp.Expression) -> None:
    from sqlglot import exp

    if not isinstance(node.parent, exp.Count) or len(node.expressions) != 1 or node.args.get("on"):
        raise FormulaError(
            "DISTINCT is only allowed as COUNT(DISTINCT column)",
            hint="COUNT(DISTINCT x) counts the different values of one expression",
        )


def _check_var(node: exp.Expression) -> None:
    """A bare word is only EXTRACT's field or an INTERVAL's unit."""
    from sqlglot import exp

    if not isinstance(node.parent, exp.Extract | exp.Interval):
        raise FormulaError(f"`{_snippet(node)}` is not a column, literal or function")


def _check_cast(node: exp.Expression) -> None:
    if [k for k in ("format", "safe", "action", "default") if node.args.get(k)]:
        raise FormulaError(f"`{_snippet(node)}`: only CAST(x AS type) is allowed")


def _check_in(node: exp.Expression) -> None:
    if any(node.args.get(k) for k in ("query", "unnest", "field")):
        raise FormulaError(
            f"`{_snippet(node)}`: IN takes a list of values",
            hint="write the values: channel IN ('a', 'b')",
        )


def _check_filter(node: exp.Expression) -> None:
    from sqlglot import exp

    if not isinstance(node.this, exp.AggFunc) or not isinstance(node.expression, exp.Where):
        raise FormulaError(
            f"`{_snippet(node)}`: FILTER (WHERE …) follows an aggregate",
            hint="COUNT(*) FILTER (WHERE channel = 'email')",
        )


def _check_log(node: exp.Expression) -> None:
    if node.expression is None:
        raise FormulaError(
            "LOG needs a base: LOG(base, x)",
            hint="LN(x) is the natural logarithm; LOG10(x) and LOG2(x) work too",
        )


def _check_is(node: exp.Expression) -> None:
    from sqlglot import exp

    if not isinstance(node.expression, exp.Null | exp.Boolean):
        raise FormulaError(f"`{_snippet(node)}`: IS is followed by NULL, TRUE or FALSE")


@lru_cache(maxsize=1)
def _node_checks() -> dict[type, Callable[[exp.Expression], None]]:
    """The check of each node class that has one (:func:`_check_node`), by exact class:
    only the classes of :class:`_Rules` reach it."""
    from sqlglot import exp

    checks: dict[type, Callable[[exp.Expression], None]] = {
        exp.Column: _check_column,
        exp.Literal: _check_literal,
        exp.Star: _check_star,
        exp.Distinct: _check_distinct,
        exp.Var: _check_var,
        exp.Cast: _check_cast,
        exp.In: _check_in,
        exp.Filter: _check_filter,
        exp.Log: _check_log,
        exp.Is: _check_is,
    }
    checks.update({getattr(exp, name): _check_inside for name in _ONLY_INSIDE})
    return checks


def _cast_type(node: exp.Expression) -> str:
    """The name of a CAST's type as :data:`CAST_TYPES` lists it."""
    from sqlglot import exp

    kind = node.this
    name = kind.name if isinstance(kind, exp.DataType.Type) else str(kind)
    return {"INTEGER": "INT", "REAL": "FLOAT", "STRING": "TEXT"}.get(name, name)


def _place_problem(text: str, place: str) -> tuple[str, str] | None:
    """(message, hint) when the expression does not suit its place; None when it does."""
    from sqlglot import exp

    tree = _parse(text)
    if place == AGGREGATE and tree.find(exp.AggFunc) is None:
        return (
            f"formula `{text}` has no aggregate",
            "a source KPI aggregates rows: SUM(col), COUNT(*), AVG(col)…",
        )
    inside: dict[int, bool] = {}  # node → whether an aggregate encloses it
    for node in tree.walk(bfs=False):
        parent = node.parent
        enclosed = parent is not None and (
            inside.get(id(parent), False)
            or isinstance(parent, exp.AggFunc)
            or (isinstance(parent, exp.Filter) and node.arg_key == "expression")
        )
        inside[id(node)] = enclosed
        aggregate = isinstance(node, exp.AggFunc | exp.Filter)
        if aggregate and place == DERIVED:
            return (
                f"formula `{text}` aggregates but the KPI has no `source`",
                "add `source: NAME`, or write the formula over other KPI names",
            )
        if aggregate and place == ROW:
            return (
                f"`{_snippet(node)}` is an aggregate, but this expression is computed on "
                "each row (a filter, derive or --where sees one row at a time)",
                "compare with a fixed value (spend > 100), or aggregate in a KPI's formula",
            )
        if place != AGGREGATE:
            continue
        if isinstance(node, exp.AggFunc) and enclosed:
            return (
                f"`{_snippet(node)}` is an aggregate inside another aggregate",
                "an aggregate's argument is computed on each row: SUM(spend * 2), not "
                "SUM(SUM(spend))",
            )
        if isinstance(node, exp.Column) and not enclosed:
            return (
                f"column `{node.name}` is used outside an aggregate",
                f"a KPI with a source aggregates rows: SUM({node.name}), MAX({node.name}), "
                f"COUNT(DISTINCT {node.name})…",
            )
    return None


# ---------------------------------------------------------------------------- for Polars


def to_polars(text: str) -> str:
    """The SQL text Polars gets: identifiers quoted, so a column named `user` is a column."""
    return _memoized(_to_polars, text)


def _to_polars(text: str) -> str:
    return _sql(_parse(text))


def _sql(tree: exp.Expression) -> str:
    """SQL text of a tree, identifiers quoted, comments dropped (never passed to Polars).

    A logarithm to a base, ``LOG(base, x)`` (also how LOG10 and LOG2 parse), is written
    ``LN(x) / LN(base)``: Polars' SQL reads ``LOG(a, b)`` as the logarithm of ``a`` to the
    base ``b``, the other way round from SQL's, and the quotient means the same in every
    engine. (LOG10(100) was 0.5.)"""
    from sqlglot import exp

    def by_ln(node: exp.Expression) -> exp.Expression:
        if type(node) is exp.Log and node.expression is not None:
            ln_x = exp.Ln(this=node.expression.copy())
            return exp.Div(this=ln_x, expression=exp.Ln(this=node.this.copy()))
        return node

    if tree.find(exp.Log):
        tree = tree.transform(by_ln)
    return tree.sql(identify=True, comments=False)


def kinds_of(schema: Mapping[str, Any]) -> dict[str, str]:
    """Each column's kind (INT, FLOAT, DECIMAL or OTHER) from a Polars schema."""
    out = {}
    for name, dtype in schema.items():
        if dtype.is_integer():
            out[name] = INT
        elif dtype.is_float():
            out[name] = FLOAT
        elif dtype.is_decimal():
            out[name] = DECIMAL
        else:
            out[name] = OTHER
    return out


def wrong_type(dtype: Any, *, condition: bool) -> str | None:
    """What an expression gives, in words, when it is not what its place needs (None when
    it is): a condition (filter, --where) is true or false; a KPI's value is a number (or
    true/false, counted as 1/0). ``dtype``: its Polars type."""
    name = str(dtype)
    if name == "Boolean" or (not condition and (name == "Null" or dtype.is_numeric())):
        return None
    if name == "Null":  # `--where NULL`: a filter keeps no row, and Polars refuses it
        return "NULL (no row would be kept)"
    if name == "String":
        return "text"
    if dtype.is_temporal():
        return f"a {name.split('(')[0].lower()}"
    return "a number" if dtype.is_numeric() else f"a value of type {name}"


def compile_sql(
    text: str, place: str, kinds: Mapping[str, str], predicate: str | None = None
) -> str:
    """The SQL text Polars gets for an expression used at ``place``, checked first.

    ``kinds``: the kind of each column it may name (of each KPI, for a derived KPI), as
    :func:`kinds_of` gives them. ``predicate``: a KPI's filter, attached to each of its
    aggregates as ``FILTER (WHERE …)`` (:func:`with_filter`). Both are checked
    (:func:`check`) before anything is rewritten, and the text produced is checked again.
    Besides quoting identifiers (:func:`to_polars`):

    - integer arithmetic cannot wrap around (Polars' integer + - * and POWER do, silently):
      an integer or decimal operand of + - * / or POWER is computed as DOUBLE (unless the
      other operand is DOUBLE already), a SUM of integers as INT128, so that a result too
      large for a 64-bit float becomes ±inf, which the engine reports as an error;
    - division by zero is null explicitly (``x / NULLIF(y, 0)``, also for ``%``), and so
      are the logarithm of 0 or less, POWER(0, negative), and the NaN of a function outside
      its domain (SQRT(-1), POWER(-8, 0.5)): an infinity or NaN left is an overflow;
    - SUM and AVG of floating-point values are exact (:func:`exact_sums`).
    """
    names = set(parse(text).names) | (set(parse(predicate).names) if predicate else set())
    used = tuple(sorted((n, kinds[n]) for n in names if n in kinds))
    return _compiled(text, place, used, predicate)


@lru_cache(maxsize=8192)
def _compiled(
    text: str, place: str, used: tuple[tuple[str, str], ...], predicate: str | None
) -> str:
    return _memoized(_compile, text, place, [list(u) for u in used], predicate)


def _compile(text: str, place: str, used: list[list[str]], predicate: str | None) -> str:
    check(text, place)
    tree = _parse(text).copy()
    if predicate:
        check(predicate, ROW)
        tree = _attach_filter(tree, _parse(predicate))
    tree, summed = _widen(tree, {name: kind for name, kind in used})
    for node in summed:
        tree = _exact(node, tree)
    sql = _sql(tree)
    _verify(sql)
    return sql


#: How deep the SQL Polars gets may nest (its parser stops at 50 levels).
MAX_SQL_NESTING = 40


def _verify(sql: str) -> None:
    """The text Polars gets is made of what the allow-list names, like the user's, and
    nests no deeper than Polars reads."""
    tree = _parse_sql(sql)
    _check_tree(tree, limits=False)
    if _nesting(tree) > MAX_SQL_NESTING:
        raise _too_deep_once_safe()


def _too_deep_once_safe() -> FormulaError:
    return FormulaError(
        "the expression nests too deeply once its arithmetic is made safe from overflow "
        f"(more than {MAX_SQL_NESTING} levels)",
        hint="split it into several KPIs (a KPI without source combines others by name)",
    )


@lru_cache(maxsize=1024)
def _parse_sql(sql: str) -> exp.Expression:
    """Parse SQL this module wrote (from a checked expression): no limits, no checks."""
    import sqlglot

    try:
        return sqlglot.parse_one(sql)
    except RecursionError:
        raise _too_deep_once_safe() from None


def with_filter(text: str, predicate: str | None) -> str:
    """Attach ``FILTER (WHERE predicate)`` to every aggregate of ``text``.

    Combined with AND when an aggregate already has a FILTER clause. This makes a KPI's
    own ``filter`` apply to that KPI only, inside the single aggregation of its source.
    """
    if not predicate:
        return to_polars(text)
    return _memoized(_filtered, text, predicate)


def _filtered(text: str, predicate: str) -> str:
    return _sql(_attach_filter(_parse(text).copy(), _parse(predicate)))


def _attach_filter(tree: exp.Expression, pred: exp.Expression) -> exp.Expression:
    from sqlglot import exp

    def wrap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Filter):
            where = node.args.get("expression")
            inner = where.this if isinstance(where, exp.Where) else where
            combined = exp.and_(exp.paren(pred.copy()), exp.paren(inner.copy()))
            return exp.Filter(this=node.this, expression=exp.Where(this=combined))
        if isinstance(node, exp.AggFunc) and not isinstance(node.parent, exp.Filter):
            return exp.Filter(this=node.copy(), expression=exp.Where(this=pred.copy()))
        return node

    return tree.transform(wrap, copy=False)


_NUMERIC = (INT, FLOAT, DECIMAL, NULL)


def _literal_kind(node: exp.Expression) -> str:
    text = str(node.this)
    if "e" in text.lower():
        return FLOAT
    return DECIMAL if "." in text else INT  # Polars reads 2.5 as a DECIMAL


def _join(kinds: list[str]) -> str:
    """The kind of a value that may be any of ``kinds`` (CASE, COALESCE…)."""
    present = [k for k in kinds if k != NULL]
    for kind in (OTHER, FLOAT, DECIMAL, INT):
        if kind in present:
            return kind
    return NULL


def _widen(
    tree: exp.Expression, kinds: dict[str, str]
) -> tuple[exp.Expression, list[exp.Expression]]:
    """Rewrite the arithmetic of ``tree`` so that no integer wraps around and division by
    zero is null (see :func:`compile_sql`); return the new root, and the SUM and AVG nodes
    whose argument is floating point (for :func:`_exact`).

    One pass from the leaves up (iterative: a sum of a thousand terms is a deep tree), each
    node's kind computed from its operands' as Polars types them, by the rule of its class
    (:func:`_widen_rules`); a class without a rule is OTHER.
    """
    widening = _Widening(tree, kinds)
    rules = _widen_rules()
    for node in reversed(list(tree.walk(bfs=False))):
        rule = rules.get(type(node))
        widening.kind[id(node)] = OTHER if rule is None else rule(widening, node)
    return widening.root, widening.summed


class _Widening:
    """The state of one :func:`_widen` pass: each node's kind (by ``id``), the root (a
    rewrite may replace it) and the SUM and AVG nodes of floating-point arguments; and the
    rewrites the rules make."""

    def __init__(self, tree: exp.Expression, kinds: dict[str, str]) -> None:
        self.root = tree
        self.columns = kinds
        self.kind: dict[int, str] = {}
        self.summed: list[exp.Expression] = []

    def of(self, node: exp.Expression | None) -> str:
        """The kind of a node already seen (an absent operand is NULL)."""
        return NULL if node is None else self.kind.get(id(node), OTHER)

    def wrap(
        self, node: exp.Expression, make: Callable[[exp.Expression], exp.Expression], to: str
    ) -> exp.Expression:
        """Put ``make(node)``, of kind ``to``, where ``node`` stands."""
        parent, key, index = node.parent, node.arg_key, node.index
        new = make(node)
        if parent is None:
            self.root = new
        else:
            parent.set(key, new, index)
        self.kind[id(new)] = to
        return new

    def double(self, node: exp.Expression) -> exp.Expression:
        """The operand as DOUBLE: a literal written as one, else a CAST."""
        from sqlglot import exp

        lit = node.this if isinstance(node, exp.Neg) else node
        if isinstance(lit, exp.Literal) and not lit.is_string:
            text = repr(float(lit.this))
            new_lit = exp.Literal.number(text if "e" in text else f"{text}e0")
            self.kind[id(new_lit)] = FLOAT
            self.wrap(lit, lambda _: new_lit, FLOAT)
            self.kind[id(node)] = FLOAT
            return node
        return self.wrap(node, lambda n: exp.Cast(this=n, to=exp.DataType.build("DOUBLE")), FLOAT)

    def null_if(self, node: exp.Expression, *values: int) -> exp.Expression:
        """``node``, null where it equals one of ``values`` (NULLIF each)."""
        from sqlglot import exp

        for value in values:
            node = self.wrap(
                node,
                lambda n, v=value: exp.Nullif(this=n, expression=exp.Literal.number(v)),
                self.of(node),
            )
        return node

    def not_a_number(self, node: exp.Expression) -> None:
        """NaN (a function outside its domain) is null, as a division by zero is."""
        from sqlglot import exp

        nan = exp.Cast(this=exp.Literal.string("NaN"), to=exp.DataType.build("DOUBLE"))
        self.wrap(node, lambda n: exp.Nullif(this=n, expression=nan), FLOAT)

    def at_least_zero(self, node: exp.Expression) -> None:
        """GREATEST(node, 0): a logarithm's argument or base below 0 counts as 0 (null)."""
        from sqlglot import exp

        zero = exp.Literal.number(0)
        self.wrap(node, lambda n: exp.Greatest(this=n, expressions=[zero]), self.of(node))

    def arithmetic(self, node: exp.Expression, always: bool = False) -> str:
        """The kind of ``this <op> expression``, its integer and decimal operands made
        DOUBLE (unless the other is DOUBLE already and ``always`` is false)."""
        operands = [node.args.get("this"), node.args.get("expression")]
        found = [self.of(o) for o in operands]
        if not all(f in _NUMERIC for f in found):
            return OTHER
        if FLOAT in found and not always:  # Polars computes the rest as DOUBLE too
            return FLOAT
        for o, f in zip(operands, found, strict=True):
            if f in (INT, DECIMAL):
                self.double(o)
        return NULL if all(f == NULL for f in found) else FLOAT

    def divisor(self, node: exp.Expression, kind: str) -> str:
        """``kind``, the divisor of ``node`` (/ or %) made null where it is 0."""
        if kind != OTHER and not _nonzero_literal(node.expression):
            self.null_if(node.expression, 0)
        return kind


# ---- the rules of _widen: a node's kind, from its operands' (rewriting it if need be)


def _column_kind(w: _Widening, node: exp.Expression) -> str:
    return w.columns.get(node.name, OTHER)


def _literal_or_text_kind(w: _Widening, node: exp.Expression) -> str:
    return OTHER if node.is_string else _literal_kind(node)


def _null_kind(w: _Widening, node: exp.Expression) -> str:
    return NULL


def _inner_kind(w: _Widening, node: exp.Expression) -> str:
    """A parenthesis or a FILTER: the kind of what it holds."""
    return w.of(node.this)


def _negated(w: _Widening, node: exp.Expression) -> str:
    """-x: DOUBLE for an integer or decimal x (-(-2**63) wraps), but for a literal."""
    from sqlglot import exp

    kind = w.of(node.this)
    if kind in (INT, DECIMAL) and not isinstance(node.this, exp.Literal):
        w.double(node.this)
        return FLOAT
    return kind


def _plain_arithmetic(w: _Widening, node: exp.Expression) -> str:
    """+ - *: computed as DOUBLE."""
    return w.arithmetic(node)


def _power(w: _Widening, node: exp.Expression) -> str:
    """POWER, always DOUBLE: 0 to a negative power is null, a non-real result too."""
    from sqlglot import exp

    kind = w.arithmetic(node, always=True)
    power = node.expression
    if kind == FLOAT and isinstance(power, exp.Neg) and _nonzero_literal(power):
        w.null_if(node.this, 0)  # 0 to a negative power: a division by zero
    if kind == FLOAT and not _whole_literal(power):  # (-8) ^ 0.5: no real number
        w.not_a_number(node)
    return kind


def _square_root(w: _Widening, node: exp.Expression) -> str:
    w.not_a_number(node)  # the square root of a negative number
    return FLOAT


def _division(w: _Widening, node: exp.Expression) -> str:
    """/: computed as DOUBLE, null when dividing by zero."""
    return w.divisor(node, w.arithmetic(node))


def _modulo(w: _Widening, node: exp.Expression) -> str:
    """%: of integers stays integer (it cannot overflow), of decimals is DOUBLE; null when
    dividing by zero."""
    found = [w.of(node.this), w.of(node.expression)]
    kind = w.arithmetic(node) if DECIMAL in found else _join(found)
    return w.divisor(node, kind)


def _logarithm(w: _Widening, node: exp.Expression) -> str:
    """LN(x), LOG(base, x): null for x ≤ 0, and for a base ≤ 0 or 1 (unless a literal
    one above 0 and other than 1)."""
    from sqlglot import exp

    ln = type(node) is exp.Ln
    if not ln and node.expression is None:
        return FLOAT  # (refused by the checks: LOG needs a base)
    x = node.this if ln else node.expression
    if w.of(x) in _NUMERIC:  # log(x ≤ 0): null, as a division by zero is
        w.at_least_zero(x)
        w.null_if(node.this if ln else node.expression, 0)
    base = node.this
    if not ln and w.of(base) in _NUMERIC and not _positive_base(base):
        w.at_least_zero(base)
        w.null_if(node.this, 0, 1)
    return FLOAT


def _cast_kind(w: _Widening, node: exp.Expression) -> str:
    return CAST_TYPES.get(_cast_type(node.to), OTHER)


def _aggregate_kind(w: _Widening, node: exp.Expression) -> str:
    """An aggregate's kind (:attr:`_Rules.aggregate`). A SUM of integers computed inside
    it is summed as INT128 (:data:`WIDE_INTEGER`: a summed integer column is widened before,
    :func:`widened_columns`); a SUM or AVG of floating point values is noted, to be made
    exact."""
    from sqlglot import exp

    t = type(node)
    rule = _rules().aggregate[t][1]
    arg = node.this
    kind = w.of(arg) if rule == ARG else rule
    if t is exp.Sum and kind == INT and not isinstance(arg, exp.Column):
        w.wrap(arg, lambda n: exp.Cast(this=n, to=exp.DataType.build(WIDE_INTEGER)), INT)
    if t in (exp.Sum, exp.Avg) and w.of(arg) == FLOAT:
        w.summed.append(node)
    return kind


def _scalar_kind(w: _Widening, node: exp.Expression) -> str:
    """A scalar function's kind (:attr:`_Rules.scalar`): its first argument's, the common
    kind of the values it may return, or its own."""
    from sqlglot import exp

    rule = _rules().scalar[type(node)][1]
    if rule == ARG:
        return w.of(node.this)
    if rule != JOIN:
        return rule
    if type(node) is exp.Case:
        values = [*node.args.get("ifs", []), node.args.get("default")]
    elif type(node) is exp.If:
        values = [node.args.get("true"), node.args.get("false")]
    else:
        values = [node.this, *node.expressions]
    return _join([w.of(v) for v in values])


def _named_kind(w: _Widening, node: exp.Expression) -> str:
    return _rules().named.get(str(node.name).upper(), OTHER)


#: A rule of :func:`_widen`: the kind of a node (its operands' known), rewriting it if need be.
_WidenRule = Callable[[_Widening, "exp.Expression"], str]


@lru_cache(maxsize=1)
def _widen_rules() -> dict[type, _WidenRule]:
    """Each node class's rule in :func:`_widen` (by exact class, as the checks allow)."""
    from sqlglot import exp

    rules = _rules()
    table: dict[type, _WidenRule] = dict.fromkeys(rules.scalar, _scalar_kind)
    table.update(dict.fromkeys(rules.aggregate, _aggregate_kind))
    table.update(
        {
            exp.Column: _column_kind,
            exp.Literal: _literal_or_text_kind,
            exp.Null: _null_kind,
            exp.Paren: _inner_kind,
            exp.Filter: _inner_kind,
            exp.Neg: _negated,
            exp.Add: _plain_arithmetic,
            exp.Sub: _plain_arithmetic,
            exp.Mul: _plain_arithmetic,
            exp.Pow: _power,
            exp.Sqrt: _square_root,
            exp.Div: _division,
            exp.Mod: _modulo,
            exp.Ln: _logarithm,
            exp.Log: _logarithm,
            exp.Cast: _cast_kind,
            exp.Anonymous: _named_kind,
        }
    )
    return table


def _nonzero_literal(node: exp.Expression) -> bool:
    """A literal number other than 0, maybe negative (a divisor that needs no NULLIF)."""
    from sqlglot import exp

    lit = node.this if isinstance(node, exp.Neg) else node
    return isinstance(lit, exp.Literal) and not lit.is_string and float(lit.this) != 0


def _whole_literal(node: exp.Expression) -> bool:
    """A literal integer, maybe negative (an exponent that keeps POWER real)."""
    from sqlglot import exp

    lit = node.this if isinstance(node, exp.Neg) else node
    if not isinstance(lit, exp.Literal) or lit.is_string:
        return False
    return float(lit.this).is_integer()


def _positive_base(node: exp.Expression) -> bool:
    """A literal logarithm base above 0 and other than 1 (LOG10, LOG2 are LOG(10, x)…)."""
    from sqlglot import exp

    if not isinstance(node, exp.Literal) or node.is_string:
        return False
    value = float(node.this)
    return value > 0 and value != 1


EXACT = "DECIMAL(38, 10)"
#: Values at least this large are summed as floats (a DECIMAL(38, 10) sum holds up to 1e28).
EXACT_LIMIT = "1e18"


def exact_sums(text: str, float_columns: set[str] | frozenset[str]) -> str:
    """Sum floating-point columns exactly: the same result every run, exact to the cent.

    Polars adds floats in parallel, in an order that varies between runs, so the last bits
    of a float SUM (and AVG) changed from run to run. Each SUM/AVG whose argument uses a
    float column is split in two: the value rounded to 10 decimals, summed as
    ``DECIMAL(38, 10)`` (exact, so order-independent), plus the float remainder (below
    1e-10 of each value, so its rounding noise cannot reach the result). Values of 1e18 and
    more go to the remainder whole. The sum is cast back to DOUBLE, so formula arithmetic
    (and division by zero, which becomes null) stays in floating point.
    :func:`compile_sql` does the same for every SUM and AVG of a floating-point argument.
    """
    return _memoized(_exact_sums_of, text, sorted(float_columns))


def _exact_sums_of(text: str, float_columns: list[str]) -> str:
    from sqlglot import exp

    tree = _parse(text).copy()
    targets = [
        node
        for node in tree.find_all(exp.Sum, exp.Avg)
        if any(c.name in float_columns for c in node.find_all(exp.Column))
    ]
    for node in targets:
        tree = _exact(node, tree)
    return _sql(tree)


def _exact(node: exp.Expression, root: exp.Expression) -> exp.Expression:
    """Replace the SUM or AVG ``node`` of ``root`` by its exact form; return the root."""
    from sqlglot import exp

    where = node.parent.expression if isinstance(node.parent, exp.Filter) else None
    outer = node.parent if where is not None else node
    arg = node.this

    def agg(func: exp.Expression) -> exp.Expression:
        return exp.Filter(this=func, expression=where.copy()) if where is not None else func

    def double(e: exp.Expression) -> exp.Expression:
        return exp.Cast(this=e, to=exp.DataType.build("DOUBLE"))

    def zero_if_null(e: exp.Expression) -> exp.Expression:
        return exp.Coalesce(this=e, expressions=[exp.Literal.number(0)])

    def coarse() -> exp.Expression:
        small = exp.LT(this=exp.Abs(this=arg.copy()), expression=exp.Literal.number(EXACT_LIMIT))
        case = exp.Case(ifs=[exp.If(this=small, true=arg.copy())])
        return exp.Cast(this=case, to=exp.DataType.build(EXACT))

    # the coarse sum is null when every value is 1e18 or more: 0 then, the remainder's sum
    # being null only when there is no value at all (SQL's SUM over no value)
    rest = exp.Sub(this=arg.copy(), expression=zero_if_null(double(coarse())))
    exact: exp.Expression = exp.Paren(
        this=exp.Add(
            this=zero_if_null(double(agg(exp.Sum(this=coarse())))),
            expression=agg(exp.Sum(this=rest)),
        )
    )
    if isinstance(node, exp.Avg):
        exact = exp.Paren(this=exp.Div(this=exact, expression=agg(exp.Count(this=arg.copy()))))
    if outer is root:
        return exact
    outer.replace(exact)
    return root


#: The type integers are summed as: Polars wraps an Int64 (or Int32, UInt32…) sum around
#: silently (2**62 + 2**62 < 0); an INT128 sum of 64-bit integers cannot overflow.
WIDE_INTEGER = "INT128"


def widened_columns(formulas: Iterable[str], kinds: Mapping[str, str]) -> tuple[str, ...]:
    """The integer columns to cast to :data:`WIDE_INTEGER` before aggregating ``formulas``
    (SQL aggregates over a source's rows; ``kinds`` as :func:`kinds_of` gives them, in the
    source's column order): those used inside a SUM or AVG (:func:`summed_columns`).

    Integer sums are widened in two places, by one rule (a SUM of integers is an INT128
    sum), each covering what the other cannot:

    - here, the integer *columns* summed: the engine casts them once in the rows it
      aggregates (``Aggregation.widened``), so every aggregate reading the column sums it as
      INT128, including those :func:`compile_sql` leaves as written: ``SUM(col)``, and
      ``AVG(col)``, which :func:`decompose` turns into ``SUM(col) / COUNT(col)`` (also the
      partial sums kept per day in the cache);
    - in :func:`compile_sql`, the integers *computed* inside a SUM (``CAST(x AS BIGINT)``,
      ``LENGTH``, ``EXTRACT``, integer literals in a CASE…), which no column's type
      reaches: ``SUM(CAST(expr AS INT128))``. ``SUM(col)`` is not cast there: an integer
      ``col`` is one of the columns above.

    Arithmetic on integers (+ - * / POWER) is made DOUBLE by :func:`compile_sql` itself.
    """
    summed = {c for text in formulas for c in summed_columns(text)}
    return tuple(c for c, kind in kinds.items() if kind == INT and c in summed)


def summed_columns(text: str) -> set[str]:
    """Columns used inside a SUM or AVG of ``text`` (where integer overflow can happen)."""
    return set(_memoized(_summed_columns, text))


def _summed_columns(text: str) -> list[str]:
    from sqlglot import exp

    found = {
        c.name
        for node in _parse(text).find_all(exp.Sum, exp.Avg)
        for c in node.find_all(exp.Column)
    }
    return sorted(found)


def _rollup() -> dict[type, str]:
    """How partial aggregates of finer groups combine into a coarser group's (for totals)."""
    from sqlglot import exp

    return {exp.Sum: "SUM", exp.Count: "SUM", exp.Min: "MIN", exp.Max: "MAX"}


def decompose(text: str, partials: dict[str, str]) -> str | None:
    """Split an aggregate formula into partial aggregates and a scalar formula over them.

    Each outermost aggregate (with its FILTER) of ``text`` becomes a column ``__p<i>``:
    ``partials`` maps each partial's SQL to its column name (shared between formulas, so a
    ``SUM(spend)`` used by several KPIs is computed once). The result is the formula over
    those columns, or None when an aggregate does not decompose (COUNT(DISTINCT …), MEDIAN,
    STDDEV…): totals then need their own aggregation. AVG becomes SUM / COUNT.
    A coarser group's partial is the ROLLUP of the finer groups' (SUM of SUMs and COUNTs,
    MIN of MINs, MAX of MAXes), so totals come from the rows' partials, not from the data.
    """
    scalar, after = _memoized(_decompose, text, list(partials.items()))
    partials.update(dict(after))
    return scalar


def _decompose(text: str, before: list[tuple[str, str]]) -> tuple[str | None, list]:
    """:func:`decompose` as a function of its arguments: (scalar, partials after)."""
    from sqlglot import exp

    partials = dict(before)
    rollup = _rollup()
    tree = _sums_and_counts(_parse_sql(text).copy())
    outer = []
    for node in tree.find_all(exp.AggFunc):
        top = node.parent if isinstance(node.parent, exp.Filter) else node
        if _inside_agg(top):
            continue
        outer.append((node, top))
    for node, _ in outer:
        if type(node) not in rollup or (isinstance(node, exp.Count) and node.find(exp.Distinct)):
            return None, before
    for _, top in outer:
        sql = top.sql(identify=True)
        name = partials.setdefault(sql, f"__p{len(partials)}")
        column = exp.column(name, quoted=True)
        if top is tree:
            tree = column
        else:
            top.replace(column)
    return tree.sql(identify=True), list(partials.items())


def _sums_and_counts(tree: exp.Expression) -> exp.Expression:
    """``tree`` with each AVG(x) (and its FILTER) as SUM(x) / COUNT(x); returns the root."""
    from sqlglot import exp

    for avg in list(tree.find_all(exp.Avg)):
        arg = avg.this
        div = exp.Div(this=exp.Sum(this=arg.copy()), expression=exp.Count(this=arg.copy()))
        target = avg.parent if isinstance(avg.parent, exp.Filter) else avg
        if target is avg:
            if avg is tree:
                tree = exp.Paren(this=div)
            else:
                avg.replace(exp.Paren(this=div))
        else:  # AVG(x) FILTER (WHERE p): both halves keep the filter
            where = target.expression
            div = exp.Div(
                this=exp.Filter(this=exp.Sum(this=arg.copy()), expression=where.copy()),
                expression=exp.Filter(this=exp.Count(this=arg.copy()), expression=where.copy()),
            )
            if target is tree:
                tree = exp.Paren(this=div)
            else:
                target.replace(exp.Paren(this=div))
    return tree


@dataclass(frozen=True)
class DistinctSplit:
    """An aggregation whose formulas count distinct values of one expression, computed in
    two group_bys that a streaming engine runs in bounded memory.

    The rows are grouped by the keys and the distinct value (``key``, SQL over the rows),
    computing ``partials`` (SQL → column: the other aggregates' partial sums, counts, min
    and max, as :func:`decompose` makes them, and one ``COUNT(*) FILTER (WHERE p)`` per
    filtered distinct count: whether a row of the group passes the filter). Each
    ``COUNT(DISTINCT key) [FILTER (WHERE p)]`` is then the number of those groups with a
    non-null value (and a row passing ``p``), per key or for the totals alike: ``counts``
    maps its column to the column of its filter's count (None without a filter). The other
    partials roll up (SUM, MIN, MAX) and ``finals`` (KPI → SQL over the partials' and the
    counts' columns) give each KPI's value.
    """

    key: str
    partials: dict[str, str]
    counts: dict[str, str | None]
    finals: dict[str, str]


def split_distinct(formulas: Mapping[str, str]) -> DistinctSplit | None:
    """``formulas`` (KPI → SQL aggregate) as a :class:`DistinctSplit`; None when none
    counts distinct values, when they count distinct values of several expressions, or
    when another aggregate does not decompose (MEDIAN, STDDEV…)."""
    found = _memoized(_split_distinct, list(formulas.items()))
    if found is None:
        return None
    key, partials, counts, finals = found
    return DistinctSplit(key, dict(partials), dict(counts), dict(finals))


def _split_distinct(items: list[list[str]]) -> list | None:
    from sqlglot import exp

    rollup = _rollup()
    partials: dict[str, str] = {}
    counts: dict[str, str | None] = {}
    keys: set[str] = set()
    finals: dict[str, str] = {}
    for name, text in items:
        tree = _sums_and_counts(_parse_sql(text).copy())
        outer = []
        for node in tree.find_all(exp.AggFunc):
            top = node.parent if isinstance(node.parent, exp.Filter) else node
            if not _inside_agg(top):
                outer.append((node, top))
        for node, top in outer:
            if isinstance(node, exp.Count) and isinstance(node.this, exp.Distinct):
                if len(node.this.expressions) != 1:
                    return None
                keys.add(node.this.expressions[0].sql(identify=True))
                flag = None
                if top is not node:  # FILTER (WHERE p): whether a row of the group passes
                    passes = exp.Filter(
                        this=exp.Count(this=exp.Star()), expression=top.expression.copy()
                    )
                    flag = partials.setdefault(passes.sql(identify=True), f"__p{len(partials)}")
                column = next((c for c, f in counts.items() if f == flag), f"__c{len(counts)}")
                counts[column] = flag
            elif type(node) in rollup and not node.find(exp.Distinct):
                sql = top.sql(identify=True)
                column = partials.setdefault(sql, f"__p{len(partials)}")
            else:
                return None
            replacement = exp.column(column, quoted=True)
            if top is tree:
                tree = replacement
            else:
                top.replace(replacement)
        finals[name] = tree.sql(identify=True)
    if len(keys) != 1:
        return None
    return [keys.pop(), list(partials.items()), list(counts.items()), list(finals.items())]


def rollup_kind(partial_sql: str) -> str:
    """SUM, MIN or MAX: how a partial combines over groups."""
    return _memoized(_rollup_kind, partial_sql)


def _rollup_kind(partial_sql: str) -> str:
    from sqlglot import exp

    node = _parse_sql(partial_sql)
    agg = node.this if isinstance(node, exp.Filter) else node
    return _rollup()[type(agg)]


def _inside_agg(node: exp.Expression) -> bool:
    from sqlglot import exp

    parent = node.parent
    while parent is not None:
        if isinstance(parent, exp.AggFunc):
            return True
        parent = parent.parent
    return False


# ---------------------------------------------------------------------------- amounts


def is_amount(text: str, amounts: frozenset[str] | set[str] = frozenset()) -> bool:
    """Whether a formula is an amount: it grows with the rows it covers.

    ``SUM(…)`` and ``COUNT(…)`` (with a FILTER, ``DISTINCT``), and sums, differences and
    constant multiples of amounts; in a derived formula, the KPIs named in ``amounts``.
    Anything else is a level, the same whatever the size of the slice: a ratio of two
    amounts, AVG, MEDIAN, MIN, MAX, CASE…. A target of an amount is an amount of the rows it
    was set for; a target of a level holds for any slice (see kpicli.execute.engine).
    """
    return bool(_memoized(_is_amount, text, sorted(amounts)))


def _is_amount(text: str, amounts: list[str]) -> bool:
    from sqlglot import exp

    def constant(node: exp.Expression) -> bool:
        return next(node.find_all(exp.Column, exp.AggFunc, exp.Star), None) is None

    def amount(node: exp.Expression) -> bool:
        if isinstance(node, exp.Paren | exp.Neg | exp.Cast | exp.Filter):
            return amount(node.this)
        if isinstance(node, exp.Sum | exp.Count):
            return True
        if isinstance(node, exp.Column):
            return node.name in amounts
        if isinstance(node, exp.Add | exp.Sub):
            return amount(node.left) and amount(node.right)
        if isinstance(node, exp.Mul):
            return (amount(node.left) and constant(node.right)) or (
                constant(node.left) and amount(node.right)
            )
        if isinstance(node, exp.Div):
            return amount(node.left) and constant(node.right)
        return False

    return amount(_parse(text))


# ---------------------------------------------------------------------------- make-up

#: What a KPI is made of, for the statistics of kpicli.stats: a ratio of two counts, a
#: count, another amount (money, durations), or a level (an average, a cost per, ROI).
RATIO, COUNT, SUM, LEVEL = "ratio", "count", "sum", "level"


@dataclass(frozen=True)
class MakeUp:
    """A KPI's make-up: its kind and, for a ratio of counts, the SQL of its numerator and
    denominator (over the source's columns, or over KPI names for a derived KPI)."""

    kind: str
    numerator: str | None = None
    denominator: str | None = None


def make_up(
    text: str,
    *,
    columns: Mapping[str, str] | None = None,
    counts: frozenset[str] | set[str] = frozenset(),
    amounts: frozenset[str] | set[str] = frozenset(),
    integer: bool = False,
) -> MakeUp:
    """The make-up of a formula: with a source, ``columns`` are its columns' kinds
    (:func:`kinds_of`); a derived formula names KPIs, of which ``counts`` are counts and
    ``amounts`` other amounts. A count is ``COUNT(…)`` (FILTER, DISTINCT too), or ``SUM`` of
    whole numbers (integer columns, or any column when the KPI's unit is ``integer``),
    and sums of counts; a ratio of counts is ``count / count`` and nothing more (a constant
    factor makes it a level: its value is not the share the counts give)."""
    kind, numerator, denominator = _memoized(
        _make_up,
        text,
        sorted(columns.items()) if columns is not None else None,
        sorted(counts),
        sorted(amounts),
        integer,
    )
    return MakeUp(kind, numerator, denominator)


def _make_up(
    text: str,
    column_kinds: list[list[str]] | None,
    counts: list[str],
    amounts: list[str],
    integer: bool,
) -> list[str | None]:
    """:func:`make_up` as JSON-able data (``[kind, numerator, denominator]``), for the memo."""
    from sqlglot import exp

    columns = dict(column_kinds) if column_kinds is not None else None
    kinds = columns or {}

    def whole(node: exp.Expression) -> bool:
        cols = list(node.find_all(exp.Column))
        no_division = next(node.find_all(exp.Div), None) is None
        return no_division and (integer or all(kinds.get(c.name) == INT for c in cols))

    def count(node: exp.Expression) -> bool:
        if isinstance(node, exp.Paren | exp.Filter):
            return count(node.this)
        if isinstance(node, exp.Count):
            return True
        if isinstance(node, exp.Sum):
            return whole(node.this)
        if isinstance(node, exp.Column):
            return columns is None and node.name in counts
        if isinstance(node, exp.Add):
            return count(node.left) and count(node.right)
        return False

    tree = _parse(text)
    while isinstance(tree, exp.Paren):
        tree = tree.this
    if isinstance(tree, exp.Div) and count(tree.left) and count(tree.right):
        return [RATIO, tree.left.sql(), tree.right.sql()]
    if count(tree):
        return [COUNT, None, None]
    if is_amount(text, frozenset(amounts) | frozenset(counts) if columns is None else frozenset()):
        return [SUM, None, None]
    return [LEVEL, None, None]
