"""A described source as SQL: the rows of :attr:`SourceFrame.frame`, for the SQL engines.

:func:`source_sql` turns a source that ingest described (its parts: files laid out alike,
their header, column kinds, separators, summary rows, footers, date formats) into one
dialect-neutral sqlglot query over one relation per group of files (:class:`PartRead`:
the files, their delimiter, encoding and the lines before the header; every CSV column
read as text). The query does what :meth:`kpicli.ingest.scan.Part.frame` and
``scan._frame`` do with Polars, with the same rules:

1. summary rows, footer lines and blank lines dropped (the first cell matched wholly, the
   second one empty where the rule says so: :meth:`Part._drops`);
2. each column converted as its kind says (:mod:`kpicli.ingest.values`): numbers with
   either decimal separator and thousands separators, percentages as fractions, currency
   signs, accounting parentheses, missing markers as NULL, booleans, durations, dates in
   the detected format;
3. headers named (``raw`` → ``final``: the preset's names, then ``rename``), then
   ``derive`` in order, date columns derived, the source's ``filter``;
4. the parts' rows put together by column name (a column a part lacks is NULL), as
   ``pl.concat(how="diagonal_relaxed")``.

A Parquet part (``Part.format == "parquet"``: files of one schema) is one relation read
as its files are typed, mapped as :func:`kpicli.ingest.parquet.conversions` maps it: typed
columns as they are (integers, floats, booleans, DECIMAL kept DECIMAL, a preset's
``percent_points`` scaled), text columns converted as CSV cells are, a date column DATE
as it is, a TIMESTAMP's date, a TIMESTAMP with a zone its date in ``settings.timezone``
(``AT TIME ZONE``; Spark's ``FROM_UTC_TIMESTAMP`` counts on a session in UTC, as
:mod:`kpicli.execute.spark` starts it); no row is dropped. Parts of other column orders
or types are put together by name, each column cast to the type Polars widens it to.

Conversions are strict as the Polars path's are: a cell that is neither a value of its
column's kind nor a missing marker raises an error inside the query (``RAISE_ERROR`` in
Spark, ``ERROR`` in DuckDB), whose message quotes the cell (``could not parse `abc` …``,
which :func:`kpicli.ingest.scan.locate_bad_value` finds in the files). A file the SQL
path cannot read as kpi reads it raises :class:`UnsupportedSource` naming it and why.

:func:`duckdb_reader` is DuckDB's reader of a :class:`PartRead` (``read_csv``); the checks
that only concern DuckDB's reader (its encodings, its globbing of paths, how it counts
the lines it skips) are made there.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from kpicli.errors import DataError, Location
from kpicli.ingest.remote import is_remote

if TYPE_CHECKING:
    from sqlglot import exp

    from kpicli.ingest.detect import Layout
    from kpicli.ingest.scan import Part, SourceFrame
    from kpicli.ingest.values import DateShape, Kind
    from kpicli.spec.config import Config

__all__ = [
    "PartRead",
    "SourceSql",
    "UnsupportedSource",
    "duckdb_reader",
    "error_message",
    "explain_failure",
    "fractional_integer",
    "polars_semantics",
    "source_sql",
    "table_sql",
]


@dataclass(frozen=True)
class PartRead:
    """One relation of a source's query: files read alike, every CSV column as text.

    ``skip``: physical lines before the first line read (the header when ``header``, else
    the first data line: a summary record of another width right under the header is
    skipped with it). ``ragged``: records may hold more cells than the header, the extra
    ones empty (trailing delimiters): they are dropped. A runner reads the cells as Polars
    does: an unquoted empty cell is NULL, a quoted one (``""``) the empty string, a record
    with fewer cells than the header has NULL in the others; quotes are doubled inside a
    quoted cell (``escape`` is ``quote``); no cell is trimmed.
    """

    view: str  # the relation's name in the SQL: "__src_<n>"
    files: tuple[str, ...]  # absolute paths
    format: str  # "csv" | "parquet"
    columns: tuple[str, ...]  # the raw column names, in file order (CSV: read as text)
    delimiter: str = ","
    encoding: str = "utf-8"  # Python codec name
    skip: int = 0
    header: bool = True
    quote: str = '"'
    ragged: bool = False
    #: a `table:` part's declared SQL types, by column (``columns``' order): what the
    #: runner checks against the catalog's (an `integer` over a fractional column)
    types: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceSql:
    """A source's rows as SQL: ``query`` reads the relations of ``reads`` by their view
    names; its columns are named and typed as the source's schema (only those asked for):
    String VARCHAR, Int64 BIGINT, Float64 DOUBLE, Boolean BOOLEAN, Date DATE; a column
    typed Null by the Polars reader (no value in a file read whole) is a DOUBLE NULL."""

    query: exp.Select
    reads: tuple[PartRead, ...]


class UnsupportedSource(DataError):
    """A file the SQL engines cannot read as kpi reads it (exit 3)."""


def _unsupported(path: str | Path, reason: str, source: str | None = None) -> UnsupportedSource:
    clean = Path(str(path)).with_suffix(".clean.csv").name
    where = f"source `{source}`: " if source else ""
    return UnsupportedSource(
        f"{where}{path}: the SQL engines cannot read this file as kpi reads it: {reason}",
        location=Location(str(path)),
        hint=f"write a plain UTF-8 copy with `kpi clean {path} -o {clean}` (or a Parquet "
        "copy) and point the source at it, or run the report with `--engine polars`",
    )


# ---------------------------------------------------------------------------- errors


@functools.cache
def _raise_error() -> type:
    """The sqlglot node of an error raised by the query: ``ERROR(msg)`` in DuckDB and
    BigQuery, ``RAISE_ERROR(msg)`` elsewhere (Spark, Databricks). Registered once with the
    generators of those dialects."""
    from sqlglot import exp
    from sqlglot.dialects.bigquery import BigQuery
    from sqlglot.dialects.duckdb import DuckDB

    class RaiseError(exp.Expression, exp.Func):
        arg_types: ClassVar[dict[str, bool]] = {"this": True}
        _sql_names: ClassVar[list[str]] = ["RAISE_ERROR"]

    def as_error(self: Any, e: exp.Expression) -> str:
        return self.func("ERROR", e.this)

    for dialect in (DuckDB, BigQuery):
        _register(dialect.Generator, RaiseError, as_error)
    return RaiseError


def _register(generator: type, node: type, render: Any) -> None:
    """``render`` writes ``node`` in the dialect of ``generator``. sqlglot builds each
    generator's dispatch table once, on its first use: a table built already (a query
    written in that dialect before) is dropped, to be built again with it."""
    from sqlglot import generator as sqlglot_generator

    generator.TRANSFORMS[node] = render
    cache = getattr(sqlglot_generator, "_DISPATCH_CACHE", None)
    if isinstance(cache, dict):
        for cls in list(cache):
            if isinstance(cls, type) and issubclass(cls, generator):
                cache.pop(cls, None)


def error_message(value: exp.Expression, what: str, column: str) -> exp.Expression:
    """``RAISE_ERROR('could not parse `<value>` as <what> in column `<column>`')``: the
    shape of message :func:`kpicli.ingest.diagnose.locate` looks for."""
    from sqlglot import exp

    text = exp.Concat(
        expressions=[
            exp.Literal.string("could not parse `"),
            exp.Coalesce(this=value, expressions=[exp.Literal.string("")]),
            exp.Literal.string(f"` as {what} in column `{column}`"),
        ],
        safe=True,
    )
    return _raise_error()(this=text)


# ---------------------------------------------------------------------------- cells

#: A part's format (Part.format, PartRead.format) when its files are Parquet.
PARQUET = "parquet"
TABLE = "table"  # ingest.scan.TABLE: a `table:` source's part
#: Whitespace stripped around cells (values.WS).
_WS = " \t\u00a0\u202f\u2009\u2007"


def _lit(value: str) -> exp.Expression:
    from sqlglot import exp

    return exp.Literal.string(value)


def _like(value: exp.Expression, pattern: str) -> exp.Expression:
    from sqlglot import exp

    return exp.RegexpLike(this=value.copy(), expression=_lit(pattern))


def _cast(value: exp.Expression, to: str, *, safe: bool = False) -> exp.Expression:
    from sqlglot import exp

    cls = exp.TryCast if safe else exp.Cast
    return cls(this=value.copy(), to=exp.DataType.build(to))


def _case(*branches: tuple[exp.Expression, exp.Expression], default: exp.Expression | None):
    from sqlglot import exp

    case = exp.Case()
    for cond, then in branches:
        case = case.when(cond, then)
    return case.else_(default) if default is not None else case


def _null() -> exp.Expression:
    from sqlglot import exp

    return exp.Null()


def _text(col: exp.Expression) -> exp.Expression:
    """The cell without the blanks around it (values._text)."""
    from sqlglot import exp

    return exp.Trim(this=_cast(col, "VARCHAR"), expression=_lit(_WS))


def _missing(text: exp.Expression) -> exp.Expression:
    """The cell is a missing marker (values.MISSING_CELLS) or NULL."""
    from sqlglot import exp

    from kpicli.ingest.values import MISSING_CELLS

    return exp.or_(
        exp.Is(this=text.copy(), expression=exp.Null()),
        exp.In(this=text.copy(), expressions=[_lit(c) for c in MISSING_CELLS]),
    )


#: A plain integer, and a number Polars' strict cast to Float64 reads (what the Polars path
#: passes on unchanged when a cell is not of its column's shape).
_INT_TEXT = "^[-+]?[0-9]+$"
_FLOAT_TEXT = "^[-+]?(?:[0-9]+[.]?[0-9]*|[.][0-9]+)(?:[eE][-+]?[0-9]+)?$"
_SPECIAL_FLOAT = "(?i)^[-+]?(?:inf|infinity|nan)$"


def _strict(text: exp.Expression, to: str, what: str, column: str) -> exp.Expression:
    """``text`` (never NULL here) cast to ``to`` as Polars' strict cast does, else the
    query's error quoting it."""
    from sqlglot import exp

    ok = _like(text, _INT_TEXT)
    if to == "DOUBLE":
        ok = exp.or_(_like(text, _FLOAT_TEXT), _like(text, _SPECIAL_FLOAT))
    value = _case((ok, _cast(text, to, safe=True)), default=None)
    return exp.Coalesce(this=value, expressions=[error_message(text, what, column)])


def _sql_regex(pattern: str) -> str:
    """A regex of values.py as RE2 (DuckDB) and Java (Spark) read it alike: ``\\d`` as
    ASCII digits, escapes of punctuation as one-character classes (no backslash, which
    each dialect's string literals treat differently)."""
    out = pattern.replace(r"\d", "[0-9]")
    return re.sub(r"\\([.()+*?|{}\[\]$^-])", r"[\1]", out).replace("[[]", "[\\[]")


def number_sql(text: exp.Expression, decimal: str, *, integer: bool, column: str) -> exp.Expression:
    """values.number_expr as SQL: a cell of numbers (``text``: blanks stripped) as DOUBLE
    (BIGINT when ``integer``); missing markers NULL, anything else the query's error.

    As Polars does: the digits and the decimal separator kept, ``e-2`` after them for a
    percentage, ``-`` before them for a negative number, the text cast (a decimal
    separator or a percentage in an integer column fails the cast)."""
    from sqlglot import exp

    from kpicli.ingest.values import number_check

    check = _sql_regex(number_check(decimal))
    digits: exp.Expression = exp.RegexpReplace(
        this=text.copy(), expression=_lit(f"[^0-9{decimal}]"), replacement=_lit("")
    )
    if decimal != ".":
        digits = exp.func("REPLACE", digits, _lit(decimal), _lit("."))
    sign = _case((_like(text, "^[(]|^[^0-9]*[-−]"), _lit("-")), default=_lit(""))
    suffix = _case((_like(text, "%"), _lit("e-2")), default=_lit(""))
    number = exp.Concat(expressions=[sign, digits, suffix], safe=True)
    to = "BIGINT" if integer else "DOUBLE"
    what = "an integer" if integer else "a number"
    value = _cast(number, to, safe=True)
    if integer:  # Polars' cast of `12.5` or `5e-2` to an integer fails
        value = _case((_like(text, f"[%{decimal}]"), _null()), default=value)
    converted = exp.Coalesce(this=value, expressions=[error_message(text, what, column)])
    return _case(
        (_missing(text), _null()),
        (_like(text, check), converted),
        default=_strict(text, to, what, column),
    )


def native_sql(text: exp.Expression, kind: Kind, column: str) -> exp.Expression:
    """values.native_expr: a plain integer or float column (an empty cell is NULL)."""
    from sqlglot import exp

    to = "BIGINT" if kind.name == "integer" else "DOUBLE"
    what = "an integer" if to == "BIGINT" else "a number"
    empty = exp.or_(
        exp.Is(this=text.copy(), expression=exp.Null()),
        exp.EQ(this=text.copy(), expression=_lit("")),
    )
    return _case((empty, _null()), default=_strict(text, to, what, column))


def empty_sql(col: exp.Expression, text: exp.Expression) -> exp.Expression:
    """values.empty_expr: missing markers NULL, any other cell as written (``col``)."""
    return _case((_missing(text), _null()), default=_cast(col, "VARCHAR"))


def bool_sql(text: exp.Expression, column: str) -> exp.Expression:
    """values.bool_expr: ``true``/``false`` in any case; missing markers NULL; an integer
    is true when not 0 (Polars' cast through Int8); anything else the query's error."""
    from sqlglot import exp

    low = exp.Lower(this=text.copy())
    number = _strict(text, "TINYINT", "a boolean", column)
    return _case(
        (exp.EQ(this=low.copy(), expression=_lit("true")), exp.true()),
        (exp.EQ(this=low, expression=_lit("false")), exp.false()),
        (_missing(text), _null()),
        default=exp.NEQ(this=number, expression=exp.Literal.number(0)),
    )


def duration_sql(text: exp.Expression, column: str) -> exp.Expression:
    """values.duration_expr: ``m:ss`` or ``h:mm:ss`` as seconds (DOUBLE), or plain seconds."""
    from sqlglot import exp

    from kpicli.ingest.values import DURATION

    pattern = _sql_regex(DURATION)

    def group(i: int) -> exp.Expression:
        return exp.RegexpExtract(
            this=text.copy(), expression=_lit(pattern), group=exp.Literal.number(i)
        )

    hours = _case(
        (exp.EQ(this=group(1), expression=_lit("")), exp.Literal.number(0)),
        default=_cast(group(1), "DOUBLE"),
    )
    total = exp.Add(
        this=exp.Add(
            this=exp.Mul(this=exp.paren(hours), expression=exp.Literal.number(3600)),
            expression=exp.Mul(this=_cast(group(2), "DOUBLE"), expression=exp.Literal.number(60)),
        ),
        expression=_cast(group(3), "DOUBLE"),
    )
    return _case(
        (_like(text, pattern), total),
        (_missing(text), _null()),
        default=_strict(text, "DOUBLE", "a duration", column),
    )


# ---------------------------------------------------------------------------- dates

#: strftime directives read as a regex group (the date's parts) or skipped (a time).
_DIRECTIVES = {
    "Y": ("y4", "([0-9]{4})"),
    "y": ("y2", "([0-9]{2})"),
    "m": ("m", "([0-9]{1,2})"),
    "d": ("d", "([0-9]{1,2})"),
    "e": ("d", " ?([0-9]{1,2})"),
    "b": ("mon", None),
    "B": ("mon", None),
    "h": ("mon", None),
    "H": ("", "(?:[0-9]{1,2})"),
    "I": ("", "(?:[0-9]{1,2})"),
    "M": ("", "(?:[0-9]{1,2})"),
    "S": ("", "(?:[0-9]{1,2})"),
    "p": ("", "(?:[AaPp][Mm])"),
}
_ENGLISH = "january february march april may june july august september october november december"


def _english_months() -> dict[str, int]:
    out = {}
    for n, word in enumerate(_ENGLISH.split(), start=1):
        out[word] = n
        out[word[:3]] = n
    return out


def _words_regex(words: Iterable[str]) -> str:
    return "(" + "|".join(sorted(set(words), key=lambda w: (-len(w), w))) + r")[.]?"


def _format_regex(fmt: str, months: dict[str, int]) -> tuple[str, list[str]] | None:
    """A strftime format as a case-insensitive regex and the names of its groups (y4, y2,
    m, d, mon); None when it has a directive this does not read (then the engine's own
    strptime parses it)."""
    out, names, i = ["^"], [], 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%" and i + 1 < len(fmt):
            code = fmt[i + 1]
            i += 2
            if code == "%":
                out.append("%")
                continue
            if code not in _DIRECTIVES:
                return None
            name, rx = _DIRECTIVES[code]
            out.append(rx if rx is not None else _words_regex(months))
            if name:
                names.append(name)
            continue
        out.append(" *" if ch == " " else ch if ch.isalnum() else f"[{ch}]")
        i += 1
    if not ({"y4", "y2"} & set(names) and {"m", "mon"} & set(names) and "d" in names):
        return None
    return "(?i)" + "".join(out) + "$", names


def _month_number(word: exp.Expression, months: dict[str, int]) -> exp.Expression:
    """A month's name (any case, a final dot) → its number as two digits."""
    from sqlglot import exp

    key = exp.Lower(this=exp.func("RTRIM", word, _lit(".")))
    case = exp.Case(this=key)
    for name, n in sorted(months.items()):
        case = case.when(_lit(name), _lit(f"{n:02d}"))
    return case


def _iso(
    text: exp.Expression, regex: str, groups: dict[str, int], months: dict[str, int]
) -> exp.Expression:
    """The ISO date text ``YYYY-MM-DD`` of a cell from its groups (y4 or y2, m or mon, d)."""
    from sqlglot import exp

    def group(name: str) -> exp.Expression:
        return exp.RegexpExtract(
            this=text.copy(), expression=_lit(regex), group=exp.Literal.number(groups[name])
        )

    def two(value: exp.Expression) -> exp.Expression:
        return exp.Right(
            this=exp.Concat(expressions=[_lit("0"), value], safe=True),
            expression=exp.Literal.number(2),
        )

    if "y4" in groups:
        year = group("y4")
    else:  # as Polars reads %y: 00-69 → 20xx, 70-99 → 19xx
        yy = group("y2")
        year = _case(
            (
                exp.LT(this=yy, expression=_lit("70")),
                exp.Concat(expressions=[_lit("20"), yy.copy()], safe=True),
            ),
            default=exp.Concat(expressions=[_lit("19"), yy.copy()], safe=True),
        )
    month = _month_number(group("mon"), months) if "mon" in groups else two(group("m"))
    return exp.Concat(expressions=[year, _lit("-"), month, _lit("-"), two(group("d"))], safe=True)


def _parsed(
    text: exp.Expression, fmt: str, months: dict[str, int]
) -> tuple[exp.Expression, exp.Expression]:
    """(whether ``text`` reads with ``fmt``, its date or NULL)."""
    from sqlglot import exp

    found = _format_regex(fmt, months)
    if found is None:
        safe = exp.StrToDate(this=text.copy(), format=_lit(fmt), safe=True)
        return exp.Not(this=exp.Is(this=safe.copy(), expression=exp.Null())), safe
    regex, names = found
    groups = {n: i for i, n in enumerate(names, start=1)}
    value = _cast(_iso(text, regex, groups, months), "DATE", safe=True)
    if fmt == "%Y-%m-%d":  # most cells: a plain ISO date, cast as it is
        plain = _like(text, "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
        value = _case((plain, _cast(text, "DATE", safe=True)), default=value)
    return _like(text, regex), value


def date_sql(
    text: exp.Expression, shape: DateShape | None, fmt: str, column: str
) -> exp.Expression:
    """values.date_expr: the date part of each cell (``shape``) read with ``fmt``; missing
    markers NULL; anything else the query's error. A zoned date-time counts by its date
    in the shape's time zone."""
    from sqlglot import exp

    from kpicli.ingest.values import MONTHS

    err = error_message(text, f"a date ({fmt})", column)
    if shape is not None and shape.zoned:
        value = _zoned_sql(text, shape)
        return _case((_missing(text), _null()), default=exp.Coalesce(this=value, expressions=[err]))
    if shape is not None and shape.order:
        regex = _sql_regex(shape.regex)
        groups = {k: i for i, k in enumerate(shape.order, start=2)}
        groups = {
            (
                "y2"
                if k == "y" and "%y" in shape.formats[0]
                else "y4"
                if k == "y"
                else "mon"
                if k == "m"
                else k
            ): i
            for k, i in groups.items()
        }
        named = _cast(_iso(text, regex, groups, MONTHS), "DATE", safe=True)
        # a cell of another shape is parsed whole, as Polars' rewriting leaves it
        ok, whole = _parsed(text, "%y-%m-%d" if "%y" in shape.formats[0] else "%Y-%m-%d", {})
        value = _case((_like(text, regex), named), (ok, whole), default=None)
    elif shape is None or shape.whole:
        months = _english_months()
        ok, value = _parsed(text, fmt, months)
        value = _case((ok, value), default=None)
    else:
        regex = _sql_regex(shape.regex)
        part = _case(
            (
                _like(text, regex),
                exp.RegexpExtract(
                    this=text.copy(), expression=_lit(regex), group=exp.Literal.number(1)
                ),
            ),
            default=text.copy(),
        )
        ok, value = _parsed(part, fmt, _english_months())
        value = _case((ok, value), default=None)
    return _case((_missing(text), _null()), default=exp.Coalesce(this=value, expressions=[err]))


def _zoned_sql(text: exp.Expression, shape: DateShape) -> exp.Expression:
    """An ISO date-time with a zone as the date it falls on in ``shape.timezone``: its
    local time less its offset (UTC), converted to that zone."""
    from sqlglot import exp

    from kpicli.ingest.values import ZONED

    regex = _sql_regex(ZONED)

    def group(i: int) -> exp.Expression:
        return exp.RegexpExtract(
            this=text.copy(), expression=_lit(regex), group=exp.Literal.number(i)
        )

    seconds = _case((exp.EQ(this=group(4), expression=_lit("")), _lit("00")), default=group(4))
    stamp = exp.Concat(expressions=[group(2), _lit(" "), group(3), _lit(":"), seconds], safe=True)
    zone = group(5)
    sign = _case(
        (
            exp.EQ(
                this=exp.func(
                    "SUBSTRING", zone.copy(), exp.Literal.number(1), exp.Literal.number(1)
                ),
                expression=_lit("-"),
            ),
            exp.Literal.number(-1),
        ),
        default=exp.Literal.number(1),
    )
    hh = _cast(
        exp.func("SUBSTRING", zone.copy(), exp.Literal.number(2), exp.Literal.number(2)),
        "INT",
        safe=True,
    )
    mm_text = exp.RegexpExtract(
        this=zone.copy(), expression=_lit("([0-9]{2})$"), group=exp.Literal.number(1)
    )
    tail = exp.func("SUBSTRING", zone.copy(), exp.Literal.number(4))
    has_minutes = exp.GT(
        this=exp.Length(this=exp.func("REPLACE", tail, _lit(":"), _lit(""))),
        expression=exp.Literal.number(0),
    )
    mm = _case((has_minutes, _cast(mm_text, "INT", safe=True)), default=exp.Literal.number(0))
    offset = _case(
        (exp.EQ(this=zone.copy(), expression=_lit("Z")), exp.Literal.number(0)),
        default=exp.Mul(
            this=sign,
            expression=exp.paren(
                exp.Add(this=exp.Mul(this=hh, expression=exp.Literal.number(60)), expression=mm)
            ),
        ),
    )
    local = _cast(stamp, "TIMESTAMP", safe=True)
    # TimestampAdd: Spark's DATE_ADD(MINUTE, n, ts) (sqlglot writes DateAdd in days there)
    utc = exp.TimestampAdd(
        this=local, expression=exp.Neg(this=exp.paren(offset)), unit=exp.var("MINUTE")
    )
    if shape.timezone != "UTC":
        utc = exp.ConvertTimezone(
            source_tz=_lit("UTC"), target_tz=_lit(shape.timezone), timestamp=utc
        )
    value = _cast(utc, "DATE")
    return _case((_like(text, regex), value), default=None)


# ---------------------------------------------------------------------------- a part


def _column(name: str) -> exp.Expression:
    from sqlglot import exp

    return exp.column(name, quoted=True)


def _trimmed(j: int) -> str:
    """The name of raw column j's cells without the blanks around them (computed once)."""
    return f"__kpi_t{j}"


def _uses_text(part: Part, j: int) -> bool:
    """Whether column j's conversion reads its stripped cells (text columns do not, nor
    a Parquet part's typed columns)."""
    if part.format == PARQUET and not _is_text(part.types[j]):
        return False
    if part.format == TABLE:  # typed as declared: only dates written as text are parsed
        return j in part.dates and _is_text(part.types[j])
    kind = part.kinds[j]
    converted = kind.native or kind.name in ("empty", "number", "duration", "boolean")
    return j not in part.nulls and (j in part.dates or converted)


def _conversion(part: Part, j: int) -> tuple[exp.Expression, str]:
    """Part.conversions for column j as SQL, and the Polars type name it gives."""
    col, kind, name = _column(part.raw[j]), part.kinds[j], part.final[j]
    text = _column(_trimmed(j))
    if j in part.dates or j in part.typed_dates:
        shape, fmt = part.dates[j]
        return date_sql(text, shape, fmt, name), "Date"
    if kind.native:
        return native_sql(text, kind, name), kind.dtype.__class__.__name__
    if j in part.nulls:
        return _cast(_null(), "DOUBLE"), "Null"
    if kind.name == "empty":
        return empty_sql(col, text), "String"
    if kind.name == "number":
        out = number_sql(text, part.decimal, integer=kind.integer, column=name)
        if kind.scale != 1:
            from sqlglot import exp

            out = exp.Mul(
                this=exp.paren(out), expression=_cast(exp.Literal.number(kind.scale), "DOUBLE")
            )
        return out, kind.dtype.__class__.__name__
    if kind.name == "duration":
        return duration_sql(text, name), "Float64"
    if kind.name == "boolean":
        return bool_sql(text, name), "Boolean"
    return col, "String"


def _parquet_conversion(part: Part, j: int) -> tuple[exp.Expression, str]:
    """parquet.conversions for column j of a Parquet part as SQL, and the Polars type name
    it gives: a text column as a CSV column's cells (:func:`_conversion`); a typed column
    as it is (a preset's ``percent_points`` scaled by 0.01); a typed date column dated:
    DATE as it is, a TIMESTAMP's date, with a zone its date in ``part.timezone``."""
    from sqlglot import exp

    dtype, col = part.types[j], _column(part.raw[j])
    if _is_text(dtype):
        value, made = _conversion(part, j)
        if value == col and _type_name(dtype) != "String":  # a Categorical, an Enum
            value = _cast(col, "VARCHAR")
        return value, made
    if j in part.dates:  # typed: `part.dates[j]` is (None, a label), no format
        if _type_name(dtype) == "Date":
            return col, "Date"
        if getattr(dtype, "time_zone", None) is None:
            return _cast(col, "DATE"), "Date"
        # the wall-clock time in that zone (DuckDB: AT TIME ZONE; Spark, whose session
        # is in UTC: FROM_UTC_TIMESTAMP), then its date
        local = exp.AtTimeZone(this=col, zone=_lit(part.timezone))
        return _cast(local, "DATE"), "Date"
    scale = part.kinds[j].scale
    if scale != 1:  # Polars: a Float32 stays Float32, any other number is Float64
        made = "Float32" if _type_name(dtype) == "Float32" else "Float64"
        value = exp.Mul(
            this=_cast(col, _SQL_TYPES[made]),
            expression=_cast(exp.Literal.number(scale), _SQL_TYPES[made]),
        )
        return value, made
    return col, _type_name(dtype)


def _table_conversion(part: Part, j: int) -> tuple[exp.Expression, str]:
    """A `table:` column as its declared type (`columns:`): CAST (a DECIMAL, an INT of
    any width read as DOUBLE or BIGINT); a date column declared ``date`` CAST to DATE (a
    TIMESTAMP's date), declared ``text`` parsed in the source's date format."""
    dtype, col = part.types[j], _column(part.raw[j])
    if j in part.dates:
        if _is_text(dtype):
            shape, fmt = part.dates[j]
            return date_sql(_column(_trimmed(j)), shape, fmt, part.final[j]), "Date"
        return _cast(col, "DATE"), "Date"
    made = _type_name(dtype)
    return _cast(col, _SQL_TYPES[made]), made


def _drops(part: Part) -> exp.Expression | None:
    """Part._drops as one condition: the raw row is a blank line, a summary row or a
    footer line."""
    from sqlglot import exp

    def cell(j: int) -> exp.Expression:
        return exp.Coalesce(this=_column(_trimmed(j)), expressions=[_lit("")])

    first = cell(0)
    rest_empty = exp.EQ(this=cell(1), expression=_lit("")) if len(part.raw) > 1 else exp.true()
    conds: list[exp.Expression] = []
    if part.blank_lines:  # Part._blank: no cell but blanks
        conds.append(
            exp.and_(*(exp.EQ(this=cell(j), expression=_lit("")) for j in range(len(part.raw))))
        )
    elif not part.complete:  # rows of nulls past the sample
        conds.append(exp.and_(*(exp.Is(this=_column(n), expression=exp.Null()) for n in part.raw)))
    for alone in (False, True):  # one regex of the patterns, as rules._summary_res
        patterns = [_summary_regex(p.pattern) for p in part.summary if p.alone == alone]
        if patterns:
            cond = _like(first, "(?i)^(?:" + "|".join(f"(?:{p})" for p in patterns) + ")$")
            conds.append(exp.and_(cond, rest_empty.copy()) if alone else cond)
    if part.footer:
        conds.append(
            exp.and_(
                exp.In(this=first.copy(), expressions=[_lit(t) for t in part.footer]),
                rest_empty.copy(),
            )
        )
    return exp.or_(*conds) if conds else None


def _summary_regex(pattern: str) -> str:
    """A summary-row pattern (Python) for RE2 and Java: ``\\s`` also the blanks Python
    and Polars take for whitespace (no-break spaces), outside character classes."""
    out, depth, i = [], 0, 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            pair = pattern[i : i + 2]
            out.append(f"[\\s{_WS}]" if pair == r"\s" and depth == 0 else pair)
            i += 2
            continue
        depth += ch == "[" and depth == 0
        depth -= ch == "]" and depth > 0
        out.append(ch)
        i += 1
    return "".join(out)


_SQL_TYPES = {
    "String": "VARCHAR",
    "Int64": "BIGINT",
    "Int32": "INT",
    "Int16": "SMALLINT",
    "Int8": "TINYINT",
    "Float64": "DOUBLE",
    "Float32": "FLOAT",
    "Boolean": "BOOLEAN",
    "Date": "DATE",
    "Null": "DOUBLE",
}


def _type_name(dtype: Any) -> str:
    return dtype.__class__.__name__ if not isinstance(dtype, type) else dtype.__name__


#: Polars' integer types that DuckDB has and _SQL_TYPES has not (a Parquet column's).
_MORE_TYPES = {
    "UInt8": "UTINYINT",
    "UInt16": "USMALLINT",
    "UInt32": "UINT",
    "UInt64": "UBIGINT",
    "Int128": "INT128",
}


def _sql_type(dtype: Any) -> str | None:
    """The SQL type of a Polars type (None for one without a plain SQL equivalent): those
    of _SQL_TYPES as it says, DECIMAL with its precision and scale, TIMESTAMP (with a zone:
    TIMESTAMPTZ)."""
    name = _type_name(dtype)
    if name in _SQL_TYPES:
        return _SQL_TYPES[name]
    if name == "Decimal" and not isinstance(dtype, type):
        return f"DECIMAL({dtype.precision or 38}, {dtype.scale or 0})"
    if name == "Datetime" and not isinstance(dtype, type):
        return "TIMESTAMPTZ" if dtype.time_zone is not None else "TIMESTAMP"
    return _MORE_TYPES.get(name)


def _is_text(dtype: Any) -> bool:
    """parquet.is_text: a column of text (String, Categorical, Enum)."""
    return _type_name(dtype) in ("String", "Categorical", "Enum")


def _check_part(name: str, part: Part) -> None:
    """UnsupportedSource for a part the SQL path cannot read as the Polars path does."""
    from kpicli.ingest.detect import MIXED

    for lay in part.layouts:
        if lay.tolerant is not None:
            raise _unsupported(lay.path, f"it needs kpi's tolerant reader ({lay.tolerant})", name)
        if lay.within is not None:
            raise _unsupported(lay.path, f"it is read from inside a file ({lay.within.kind})", name)
        if lay.encoding == MIXED:
            raise _unsupported(lay.path, "its lines mix UTF-8 and cp1252", name)
        if lay.skip_after_header and not lay.record_lines and not lay.complete:
            raise _unsupported(lay.path, "no data line found under its summary rows", name)


def _decoded_alike(lay: Layout) -> bool:
    """A file not in UTF-8 (nor UTF-16) that kpi decodes line by line reads as one codec:
    no line of it is UTF-8 past the sample (a mix read as cp1252 would be mojibake)."""
    if lay.encoding not in ("cp1252", "latin-1") or not lay.detected:
        return True
    return lay.decode(lay.read_bytes()).codec == lay.encoding


def _reads(name: str, part: Part, first: int) -> list[PartRead]:
    """The relations of a part: its files grouped by encoding and lines to skip."""
    groups: dict[tuple, list[str]] = {}
    for lay in part.layouts:
        if not _decoded_alike(lay):
            raise _unsupported(lay.path, "its lines mix UTF-8 and cp1252", name)
        if lay.skip_after_header:
            if not lay.record_lines:
                continue  # only summary rows: nothing to read
            key = (lay.encoding, lay.record_lines[0] - 1, False)
        else:
            key = (lay.encoding, lay.skip_lines, True)
        groups.setdefault(key, []).append(_file(lay.path))
    lay = part.layout
    return [
        PartRead(
            view=f"__src_{first + i}",
            files=tuple(files),
            format="csv",
            columns=tuple(part.raw),
            delimiter=lay.delimiter,
            encoding="utf-16-le" if enc == "utf-16" else enc,
            skip=skip,
            header=header,
            ragged=lay.truncate_ragged,
        )
        for i, ((enc, skip, header), files) in enumerate(groups.items())
    ]


def _file(path: Path) -> str:
    """A file as the engines read it: its absolute path, or its URI (a remote file)."""
    return str(path) if is_remote(path) else str(Path(path).absolute())


def _typed_read(sf: SourceFrame, part: Part, first: int) -> PartRead:
    """The relation of a Parquet part: its files (one schema: the columns in one order,
    of one type each), their columns as they are typed; of a `table:` source's part: the
    table (its name in ``files``)."""
    view, columns = f"__src_{first}", tuple(part.raw)
    if part.format == TABLE:
        types = tuple(_SQL_TYPES[_type_name(t)] for t in part.types)
        return PartRead(view, (sf.table or sf.name,), TABLE, columns, types=types)
    files = tuple(_file(lay.path) for lay in part.layouts)
    return PartRead(view=view, files=files, format=part.format, columns=columns)


def _relation(part: Part, reads: list[PartRead]) -> exp.Expression:
    """The raw rows of a part: its relations one after the other (or none: no rows)."""
    from sqlglot import exp

    if not reads:
        cols = [_cast(_null(), "VARCHAR").as_(n, quoted=True) for n in part.raw]
        return exp.select(*cols).where(exp.false()).subquery("__none")
    if len(reads) == 1:
        return exp.to_table(reads[0].view)
    selects = [exp.select(*(_column(n) for n in part.raw)).from_(r.view) for r in reads]
    return exp.union(*selects, distinct=False).subquery("__files")


def _stripped(part: Part, reads: list[PartRead], needed: set[str], drops: bool) -> exp.Select:
    """The raw rows with, for each column whose conversion (or the rules of the rows to
    drop) reads it, its cells without the blanks around them: computed once a cell."""
    from sqlglot import exp

    stripped = {j for j, f in enumerate(part.final) if f in needed and _uses_text(part, j)}
    if drops:
        stripped |= {0, 1} if len(part.raw) > 1 else {0}
        if part.blank_lines:  # a blank record: every cell blank (_drops)
            stripped |= set(range(len(part.raw)))
    return exp.select(
        exp.Star(),
        *(_text(_column(part.raw[j])).as_(_trimmed(j), quoted=True) for j in sorted(stripped)),
    ).from_(_relation(part, reads))


def _row_sql(text: str, schema: Mapping[str, Any]) -> exp.Expression:
    """A derive or filter (checked by ingest already) as the Polars path compiles it,
    computing what Polars computes (:func:`polars_semantics`)."""
    import sqlglot

    from kpicli.spec.formula import ROW, compile_sql, kinds_of

    return polars_semantics(
        sqlglot.parse_one(compile_sql(text, ROW, kinds_of(schema)), read="duckdb"), schema
    )


#: Units of an interval that keep a date a date.
_DAY_UNITS = {"DAY", "DAYS", "WEEK", "WEEKS", "MONTH", "MONTHS", "QUARTER", "YEAR", "YEARS"}
_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INT", "BIGINT", "INT128", "HUGEINT"}


def _half_even(value: exp.Expression, decimals: exp.Expression | None) -> exp.Expression:
    """ROUND(value, decimals) with a tie rounded to the even neighbour, in SQL every
    dialect has: ``2 * ROUND(v / 2) / p`` when ``v = value * p`` is halfway between two
    integers, ROUND(value, decimals) otherwise."""
    from sqlglot import exp

    p = exp.Pow(this=exp.Literal.number(10), expression=(decimals or exp.Literal.number(0)).copy())
    scaled = exp.Mul(this=exp.paren(value.copy()), expression=p.copy())
    tie = exp.EQ(
        this=exp.Sub(this=scaled.copy(), expression=exp.Floor(this=scaled.copy())),
        expression=exp.Literal.number(0.5),
    )
    half = exp.Round(this=exp.Div(this=scaled.copy(), expression=exp.Literal.number(2)))
    even = exp.Div(this=exp.Mul(this=exp.Literal.number(2), expression=half), expression=p.copy())
    rounded = exp.Round(this=value.copy(), decimals=decimals.copy() if decimals else None)
    return _case((tie, even), default=rounded)


def polars_semantics(tree: exp.Expression, schema: Mapping[str, Any]) -> exp.Expression:
    """SQL that kpi compiled for Polars (:func:`kpicli.spec.formula.compile_sql`), rewritten
    so that DuckDB and Spark compute what Polars computes with it; ``schema``: the Polars
    types of the columns it reads. Where they differ:

    - CONCAT skips NULL arguments (DuckDB's ``||`` and Spark's CONCAT give NULL);
    - a number CAST to an integer type is truncated toward zero (DuckDB rounds);
    - ROUND of a value that is not a literal rounds half to even (Polars' float rounding:
      ROUND(2.5) is 2);
    - a DATE column plus or minus an interval of days or more is a DATE (DuckDB gives a
      TIMESTAMP).
    """
    from sqlglot import exp

    def numeric(node: exp.Expression) -> bool:
        if isinstance(node, exp.Column):
            dtype = schema.get(node.name)
            return dtype is not None and dtype.is_numeric()
        if isinstance(node, exp.Literal):
            return not node.is_string
        return isinstance(node, (exp.Binary, exp.Neg, exp.Paren, exp.Func)) and not isinstance(
            node, (exp.Concat, exp.Lower, exp.Upper, exp.Trim, exp.Substring, exp.Replace)
        )

    def is_date(node: exp.Expression) -> bool:
        dtype = schema.get(node.name) if isinstance(node, exp.Column) else None
        return dtype is not None and _type_name(dtype) == "Date"

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Concat):
            node.set("coalesce", True)
        elif isinstance(node, exp.Cast) and node.to.this.name in _INTEGER_TYPES:
            value = node.this
            if numeric(value) and not isinstance(value, exp.Literal):
                trunc = _case(
                    (
                        exp.LT(this=value.copy(), expression=exp.Literal.number(0)),
                        exp.Ceil(this=value.copy()),
                    ),
                    default=exp.Floor(this=value.copy()),
                )
                node.set("this", trunc)
        elif isinstance(node, exp.Round) and not isinstance(node.this, exp.Literal):
            return _half_even(node.this, node.args.get("decimals"))
        elif isinstance(node, (exp.Add, exp.Sub)) and isinstance(node.expression, exp.Interval):
            unit = node.expression.unit
            if is_date(node.this) and unit is not None and unit.name.upper() in _DAY_UNITS:
                return _cast(node, "DATE")
        return node

    return tree.transform(rewrite)


def _step(
    prev: exp.Expression, columns: list[str], values: dict[str, exp.Expression], alias: str
) -> exp.Select:
    """SELECT ``columns`` (those of ``values`` computed, the others as they are) FROM prev."""
    from sqlglot import exp

    source = prev.subquery(alias) if isinstance(prev, exp.Query) else prev
    return exp.select(
        *(values[c].as_(c, quoted=True) if c in values else _column(c) for c in columns)
    ).from_(source)


def _part_sql(
    cfg: Config,
    sf: SourceFrame,
    part: Part,
    reads: list[PartRead],
    needed: set[str],
    output: list[str],
    n: int,
) -> exp.Select:
    """The rows of one part, converted, derived, filtered; the columns of ``output`` (a
    column the part lacks as a typed NULL)."""
    from sqlglot import exp

    from kpicli.ingest.scan import ISO_DATE, date_columns
    from kpicli.ingest.values import ISO

    src = cfg.sources[sf.name]
    parquet = part.format == PARQUET
    convert = {PARQUET: _parquet_conversion, TABLE: _table_conversion}.get(part.format, _conversion)
    made: dict[str, str] = {}
    values: dict[str, exp.Expression] = {}
    for j, final in enumerate(part.final):
        if final in needed:
            values[final], made[final] = convert(part, j)
    # a Parquet part's typed columns as they are: their exact type (a DECIMAL's scale)
    exact = {
        f: part.types[j]
        for j, f in enumerate(part.final)
        if parquet
        and made.get(f)
        and j not in part.dates
        and not _is_text(part.types[j])
        and part.kinds[j].scale == 1
    }
    current = list(values)
    drops = (
        None if part.format in (PARQUET, TABLE) else _drops(part)
    )  # no summary row, footer or blank line
    query = exp.select(*(v.as_(c, quoted=True) for c, v in values.items())).from_(
        _stripped(part, reads, needed, drops is not None).subquery(f"__cells{n}")
    )
    if drops is not None:
        query = query.where(exp.Not(this=exp.paren(drops)))
    for i, (col, text) in enumerate(src.derive.items()):
        if col not in needed:
            continue
        columns = current if col in current else [*current, col]
        query = _step(query, columns, {col: _row_sql(text, sf.schema)}, f"__d{n}_{i}")
        current = columns
        made.pop(col, None)
        exact.pop(col, None)
    late = [c for c in date_columns(cfg, sf.name) if c in src.derive and c in current]
    if late:
        shape, fmt = (ISO, ISO_DATE) if src.date_format == "auto" else (None, src.date_format)
        dates = {c: date_sql(_text(_column(c)), shape, fmt, c) for c in late}
        query = _step(query, current, dates, f"__dates{n}")
        made.update(dict.fromkeys(late, "Date"))
        for c in late:
            exact.pop(c, None)
    if src.filter:
        query = (
            exp.select("*").from_(query.subquery(f"__f{n}")).where(_row_sql(src.filter, sf.schema))
        )
    out = [_output(col, sf.schema[col], current, made, exact, parquet=parquet) for col in output]
    return exp.select(*out).from_(query.subquery(f"__p{n}"))


def _output(
    col: str,
    dtype: Any,
    current: list[str],
    made: dict[str, str],
    exact: dict[str, Any],
    *,
    parquet: bool,
) -> exp.Expression:
    """Column ``col`` of a part's rows as the source's schema types it (``dtype``, the
    parts' types widened as ``pl.concat(how="diagonal_relaxed")`` widens them): NULL of
    that type when the part lacks it, cast when the part gives another type."""
    want = _type_name(dtype)
    typed = _sql_type(dtype) if parquet else None  # a Parquet part's DECIMAL, TIMESTAMP…
    if col not in current:
        return _cast(_null(), _SQL_TYPES.get(want, typed or "VARCHAR")).as_(col, quoted=True)
    if col in made and made[col] != want and want in _SQL_TYPES:
        return _cast(_column(col), _SQL_TYPES[want]).as_(col, quoted=True)
    if col in exact and exact[col] != dtype and typed is not None:
        return _cast(_column(col), typed).as_(col, quoted=True)
    return _column(col)


def _needed(cfg: Config, sf: SourceFrame, output: list[str]) -> set[str]:
    """The columns the output needs: itself, the filter's, and what each derive needed
    reads (later derives first)."""
    from kpicli.spec.formula import parse

    src = cfg.sources[sf.name]
    needed = set(output)
    if src.filter:
        needed |= set(parse(src.filter).names)
    for col, text in reversed(src.derive.items()):
        if col in needed:
            needed |= set(parse(text).names)
    return needed


def source_sql(
    sf: SourceFrame, config: Config, columns: Collection[str] | None = None
) -> SourceSql:
    """The rows of ``sf.frame`` as SQL over the relations of its files (see the module).

    ``columns``: only these columns of the source (in the schema's order; their derive
    and filter inputs are read too). Raises :class:`UnsupportedSource` for a file the SQL
    path cannot read as kpi does, and DataError for a column the source does not have.
    """
    from sqlglot import exp

    wanted = list(sf.schema) if columns is None else [c for c in sf.schema if c in columns]
    unknown = [c for c in columns or () if c not in sf.schema]
    if unknown:
        raise DataError(
            f"source `{sf.name}` has no column `{unknown[0]}`",
            hint=f"its columns are: {', '.join(sf.schema)}",
        )
    needed = _needed(config, sf, wanted)
    reads: list[PartRead] = []
    selects = []
    for n, part in enumerate(sf.parts):
        if part.format in (PARQUET, TABLE):
            part_reads = [_typed_read(sf, part, len(reads))]
        else:
            _check_part(sf.name, part)
            part_reads = _reads(sf.name, part, len(reads))
        reads += part_reads
        selects.append(_part_sql(config, sf, part, part_reads, needed, wanted, n))
    if len(selects) == 1:
        return SourceSql(selects[0], tuple(reads))
    union = exp.union(*selects, distinct=False)
    query = exp.select(*(_column(c) for c in wanted)).from_(union.subquery("__parts"))
    return SourceSql(query, tuple(reads))


def explain_failure(
    sources: Iterable[SourceFrame], error: BaseException | str, columns: Iterable[str] = ()
) -> DataError:
    """The DataError for a failed query of the SQL engines over ``sources`` (a runner
    catches its engine's error and raises this): a file past its sample that the SQL path
    cannot read after all (bytes that are not UTF-8 further on, which kpi decodes line by
    line; a record the fast reader cannot read, which kpi repairs) is UnsupportedSource;
    else the cell the error quotes (``could not parse `x```), located in its file; else
    the error's text, naming the files."""
    from kpicli.errors import engine_detail
    from kpicli.ingest.detect import first_invalid_utf8
    from kpicli.ingest.memo import ReadMemo
    from kpicli.ingest.scan import locate_bad_value, misread_files

    frames = list(sources)
    for sf in frames:
        for lay in (lay for p in sf.parts if p.format != PARQUET for lay in p.layouts):
            local = not is_remote(lay.path)  # a remote file: Spark's error says it
            if local and lay.encoding == "utf-8" and not lay.complete and not lay.in_memory:
                bad = first_invalid_utf8(lay.path)
                if bad is not None:
                    reason = f"line {bad[1]} is not UTF-8 (kpi decodes its lines one by one)"
                    return _unsupported(lay.path, reason, sf.name)
    memo = ReadMemo(persist=False)
    for path in misread_files(frames, memo=memo):
        reason = next(iter(memo.tolerant.values()), "a record the fast reader cannot read")
        return _unsupported(path, f"it needs kpi's tolerant reader ({reason})")
    located = locate_bad_value(frames, str(error), columns or None)
    if located is not None:
        return located
    detail = engine_detail(error)
    files = sorted({str(f) for sf in frames for f in sf.files})
    return DataError(
        f"cannot compute the report: {detail}",
        location=Location.files(files),
        hint="a value does not parse as its column's type; check the column named above",
    )


# ---------------------------------------------------------------------------- DuckDB

#: Python codecs → DuckDB's read_csv encodings (utf-16: little-endian only).
_DUCKDB_ENCODINGS = {"utf-8": "utf-8", "utf-16-le": "utf-16", "latin-1": "latin-1"}
#: cp1252 reads as latin-1 but for these bytes (€ is 0x80 in cp1252): DuckDB's latin-1
#: refuses them, so a cp1252 file with none is read as latin-1, one with some is refused.
_CP1252_ONLY = re.compile(rb"[\x80-\x9f]")


def table_sql(name: str) -> exp.Table:
    """A `table:` source's table (``db.events``, ``project.dataset.events_*``): each
    part quoted only when it is not a plain identifier (an unquoted name keeps each
    warehouse's own case rules: Snowflake upper-cases it)."""
    from sqlglot import exp

    parts: list[exp.Identifier | None] = [
        exp.to_identifier(p, quoted=not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p))
        for p in name.split(".")
    ]
    parts = [None] * (3 - len(parts)) + parts
    return exp.Table(this=parts[2], db=parts[1], catalog=parts[0])


def fractional_integer(read: PartRead, have: Mapping[str, str]) -> DataError | None:
    """The error for the first column of a `table:` part declared `integer` over a column
    of the table with fractions (``have``: the table's column → its type, as the engine
    names it: double, float, real, decimal(10,2)), which a CAST would cut without a word."""
    for name, declared in zip(read.columns, read.types, strict=False):
        kind = have.get(name, "").lower().replace(" ", "")
        fractional = kind in ("double", "float", "real") or (
            kind.startswith("decimal(") and not kind.endswith(",0)")
        )
        if declared == "BIGINT" and fractional:
            table = read.files[0]
            return DataError(
                f"table `{table}`: column `{name}` is {kind}, but `columns:` declares it "
                "integer (its fractions would be cut)",
                location=Location(table),
                hint=f"declare `{name}: number`",
            )
    return None


def duckdb_reader(read: PartRead) -> exp.Expression:
    """DuckDB's table function reading ``read``: ``read_csv([...], ...)`` with every column
    as text (or ``read_parquet``). Raises :class:`UnsupportedSource` for a file DuckDB's
    reader would read otherwise than kpi: an encoding it lacks (UTF-16 big-endian, code
    pages but latin-1; cp1252 with the bytes where it is not latin-1), a path it would
    take for a glob (``[``, ``*``, ``?``, ``{``), lines before the data with a quote left
    open (DuckDB counts the lines it skips as CSV records)."""
    import sqlglot
    from sqlglot import exp

    if read.format == TABLE:  # a table of the attached database (settings.duckdb)
        return table_sql(read.files[0])
    for f in read.files:
        if any(ch in f for ch in "*?[{"):
            raise _unsupported(f, "DuckDB would read its name as a glob pattern")
    files = exp.Array(expressions=[_lit(f) for f in read.files])
    if read.format == PARQUET:  # as Polars reads them: no columns of folder names
        return sqlglot.parse_one(
            f"read_parquet({files.sql('duckdb')}, hive_partitioning = false)", read="duckdb"
        )
    encoding = _duckdb_encoding(read)
    for f in read.files if read.skip else ():
        _check_skipped_lines(f, read)
    from kpicli.inputs import MAX_LINE_BYTES

    columns = ", ".join(f"{_lit(c).sql('duckdb')}: 'VARCHAR'" for c in read.columns)
    options = {
        "auto_detect": "false",
        "delim": _lit(read.delimiter).sql("duckdb"),
        "quote": _lit(read.quote).sql("duckdb"),
        "escape": _lit(read.quote).sql("duckdb"),
        "skip": str(read.skip),
        "header": "true" if read.header else "false",
        "columns": "{" + columns + "}",
        "encoding": _lit(encoding).sql("duckdb"),
        "allow_quoted_nulls": "false",
        "null_padding": "true",
        "strict_mode": "false" if read.ragged else "true",
        "hive_partitioning": "false",
        "union_by_name": "false",
        "max_line_size": str(MAX_LINE_BYTES + 2),
    }
    args = ", ".join(f"{k} = {v}" for k, v in options.items())
    return sqlglot.parse_one(f"read_csv({files.sql('duckdb')}, {args})", read="duckdb")


def _duckdb_encoding(read: PartRead) -> str:
    if read.encoding in _DUCKDB_ENCODINGS:
        return _DUCKDB_ENCODINGS[read.encoding]
    if read.encoding == "cp1252":
        for f in read.files:
            with open(f, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    if _CP1252_ONLY.search(chunk):
                        raise _unsupported(
                            f,
                            "it is in cp1252 with characters DuckDB's reader does not have "
                            "(€, curly quotes, dashes…: the bytes 0x80-0x9F)",
                        )
        return "latin-1"
    raise _unsupported(read.files[0], f"DuckDB's reader cannot decode {read.encoding}")


def _check_skipped_lines(path: str, read: PartRead) -> None:
    """The lines DuckDB skips are the file's first ``read.skip`` lines: none of them
    leaves a quote open (DuckDB counts CSV records there, Polars and kpi lines)."""
    import codecs

    decoder = codecs.getincrementaldecoder(read.encoding)(errors="replace")
    text = ""
    with open(path, "rb") as fh:
        while text.count("\n") + text.count("\r") <= read.skip + 1:
            chunk = fh.read(1 << 16)
            if not chunk:
                break
            text += decoder.decode(chunk)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[: read.skip]
    for i, line in enumerate(lines, start=1):
        if line.count(read.quote) % 2:
            raise _unsupported(
                path,
                f"line {i}, above the data, has an odd number of quotes (DuckDB's reader "
                "would skip other lines than kpi's)",
            )
