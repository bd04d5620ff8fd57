"""KPI formulas and filters: SQL text checked with sqlglot, evaluated by Polars.

Formulas are never ``eval``-ed: sqlglot parses them to find the columns (or KPI names)
they use and to attach a KPI's ``filter`` to each of its aggregates; Polars' own SQL
expression parser (``pl.sql_expr``) turns the text into an expression.

Every function here is a pure function of its text arguments. With the Parquet cache
(``--cache DIR``), :func:`use_memo` keeps their results in ``DIR/kpi-formulas-….json``, so a
repeated report neither imports sqlglot nor parses a formula (about 0.1 s of a cache hit).
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlglot import exp


class FormulaError(ValueError):
    """The SQL text does not parse or is not of the expected kind."""


@dataclass(frozen=True)
class Formula:
    """A parsed SQL expression and what it refers to."""

    text: str
    names: tuple[str, ...]  # referenced columns (source KPIs) or KPI names (derived KPIs)
    aggregates: int  # number of aggregate calls (SUM, COUNT, ...)


# ---------------------------------------------------------------------------- memo

#: The memo's file is ``kpi-formulas-ID.json``, ID told by the key (:func:`memo_file`).
MEMO_PREFIX = "kpi-formulas"
_MEMO: dict[str, Any] = {"entries": None, "file": None, "new": False, "secret": None}


def _memo_version() -> str | None:
    """What the memo's results depend on; None when sqlglot's version cannot be told."""
    from importlib.metadata import PackageNotFoundError, version

    from kpicli import __version__

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


def use_memo(folder: Path, secret: bytes) -> str | None:
    """Remember the results of this module's functions in ``folder`` (:func:`memo_file`;
    read now, written back atomically at exit when something was added), under an HMAC with
    ``secret`` (the cache's key, :mod:`kpicli.sources.cache`): a file changed by anyone
    else is not obeyed. A file written by another version of kpi or sqlglot is ignored;
    one that does not verify too, and the reason is returned (None: used, or none yet)."""
    path = folder / memo_file(secret)
    if _MEMO["file"] == path and _MEMO["secret"] == secret:
        return None
    save_memo()  # what another cache folder's memo gained so far
    current = _memo_version()
    if current is None:
        return None
    entries: dict[str, Any] = {}
    problem = None
    try:
        raw = _read_regular(path)
    except FileNotFoundError:
        raw = b""
    except OSError as err:
        raw, problem = b"", f"cannot read it: {err.strerror}"
    mac, _, body = raw.partition(b"\n")
    if raw:
        if hmac.compare_digest(mac, _memo_mac(secret, body)):
            data = json.loads(body)
            if data.get("version") == current and isinstance(data.get("entries"), dict):
                entries = data["entries"]
        else:
            problem = "it does not verify (changed by someone else, or corrupt)"
    if _MEMO["file"] is None:
        atexit.register(save_memo)
    _MEMO.update(entries=entries, file=path, new=False, secret=secret)
    return problem


def _read_regular(path: Path) -> bytes:
    """The bytes of the regular file ``path``: never waits on a FIFO, never follows a link."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file")
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read()
    finally:
        os.close(fd)


def save_memo() -> None:
    """Write the memo back when it gained entries (at most 20,000 kept)."""
    path, entries, secret = _MEMO["file"], _MEMO["entries"], _MEMO["secret"]
    if path is None or entries is None or secret is None or not _MEMO["new"]:
        return
    if len(entries) > 20_000:
        entries = dict(list(entries.items())[-20_000:])
    body = json.dumps({"version": _memo_version(), "entries": entries}, sort_keys=True).encode()
    try:  # (into the folder as it is: one removed meanwhile is not made again)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_memo_mac(secret, body) + b"\n" + body)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:  # a memo is only a shortcut: the next run parses again
        return
    _MEMO["new"] = False


def _memoized(compute: Callable[..., Any], *args: Any) -> Any:
    """``compute(*args)``, from the memo when it is on (JSON-able arguments and result)."""
    entries = _MEMO["entries"]
    if entries is None:
        return compute(*args)
    key = json.dumps([compute.__name__, *args], default=sorted)
    if key not in entries:
        entries[key] = compute(*args)
        _MEMO["new"] = True
    return entries[key]


# ---------------------------------------------------------------------------- parsing


@lru_cache(maxsize=1024)
def _parse(text: str) -> exp.Expression:
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

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
    names, aggregates = _memoized(_names_and_aggregates, text)
    return Formula(text=text, names=tuple(names), aggregates=aggregates)


def _names_and_aggregates(text: str) -> tuple[list[str], int]:
    from sqlglot import exp

    tree = _parse(text)
    names: list[str] = []
    for col in tree.find_all(exp.Column):
        if col.name and col.name not in names:
            names.append(col.name)
    aggregates = sum(1 for _ in tree.find_all(exp.AggFunc))
    return names, aggregates


def to_polars(text: str) -> str:
    """The SQL text Polars gets: identifiers quoted, so a column named `user` is a column."""
    return _memoized(_to_polars, text)


def _to_polars(text: str) -> str:
    return _parse(text).sql(identify=True)


def with_filter(text: str, predicate: str | None) -> str:
    """Attach ``FILTER (WHERE predicate)`` to every aggregate of ``text``.

    Combined with AND when an aggregate already has a FILTER clause. This makes a KPI's
    own ``filter`` apply to that KPI only, inside the single aggregation of its source.
    """
    if not predicate:
        return to_polars(text)
    return _memoized(_with_filter, text, predicate)


def _with_filter(text: str, predicate: str) -> str:
    from sqlglot import exp

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

    return tree.transform(wrap, copy=False).sql(identify=True)


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
    """
    return _memoized(_exact_sums, text, sorted(float_columns))


def _exact_sums(text: str, float_columns: list[str]) -> str:
    from sqlglot import exp

    tree = _parse(text).copy()
    targets = [
        node
        for node in tree.find_all(exp.Sum, exp.Avg)
        if any(c.name in float_columns for c in node.find_all(exp.Column))
    ]
    if not targets:
        return to_polars(text)
    for node in targets:
        where = node.parent.expression if isinstance(node.parent, exp.Filter) else None
        outer = node.parent if where is not None else node

        def agg(func: exp.Expression, where=where) -> exp.Expression:
            return exp.Filter(this=func, expression=where.copy()) if where is not None else func

        arg = node.this.sql()
        coarse = f"CAST(CASE WHEN ABS({arg}) < {EXACT_LIMIT} THEN {arg} END AS {EXACT})"
        exact = exp.Paren(
            this=exp.Add(
                this=exp.Cast(this=agg(exp.Sum(this=_parse(coarse).copy())), to="DOUBLE"),
                expression=agg(
                    exp.Sum(this=_parse(f"{arg} - COALESCE(CAST({coarse} AS DOUBLE), 0)").copy())
                ),
            )
        )
        if isinstance(node, exp.Avg):
            count = agg(exp.Count(this=node.this.copy()))
            exact = exp.Paren(this=exp.Div(this=exact, expression=count))
        if outer is tree:
            tree = exact
        else:
            outer.replace(exact)
    return tree.sql(identify=True)


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
    tree = _parse(text).copy()
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


def rollup_kind(partial_sql: str) -> str:
    """SUM, MIN or MAX: how a partial combines over groups."""
    return _memoized(_rollup_kind, partial_sql)


def _rollup_kind(partial_sql: str) -> str:
    from sqlglot import exp

    node = _parse(partial_sql)
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
