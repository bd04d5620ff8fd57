"""Cells as exports write them: numbers, percentages, money, missing markers, dates, booleans.

Two halves share one set of patterns, so that what detection accepts is exactly what the
reader converts:

- :func:`classify` looks at a column's cells in the bounded sample (plain Python, at detection
  time) and returns its :class:`Kind`;
- :func:`number_expr`, :func:`date_expr` and :func:`bool_expr` are the Polars expressions that
  convert a whole column lazily (string expressions, vectorised, no loop over rows).

Conversions are strict: a cell that is neither a value of the column's kind nor a missing
marker is passed on unchanged to a strict cast, so the query fails with that cell's text
(and :func:`kpicli.ingest.scan.locate_bad_value` finds its line). Nothing becomes null
silently but the missing markers below.

Numbers: ``1,234.56``, ``1 234,56``, ``1.234,56``, ``1'234.5``, non-breaking and narrow
spaces as thousands separators, a currency symbol or code before or after (``$0.11 ``,
``€1 234,50``, ``12 EUR``), a sign or accounting parentheses (``(1,234.00)`` is negative),
``%`` (a fraction: ``3.45%`` is 0.0345, since kpi's units are fractions) and a bound
(``< 10%`` is read as 0.1, ``> 90%`` as 0.9: the figure the export gives).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import polars as pl

#: Whitespace stripped around cells: space, tab, no-break, narrow no-break, thin, figure space.
WS = " \t\u00a0\u202f\u2009\u2007"
#: Cells that mean "no value" in a number, date or boolean column (after stripping).
MISSING = r"(?i)^(?:|-+|—|–|n/?a|#n/a|null|none|nan|\(none\))$"
_MISSING_RE = re.compile(MISSING)
_CURRENCY = r"[$€£¥₹₽₩₺₪฿₫₴₦₱¢]"
_SIGN = "[-+−]"
NEGATIVE = ("-", "−")


_S = f"[{WS}]*"  # explicit blanks: a regex without Unicode classes is twice as fast


def _number_core(decimal: str) -> str:
    """A number without its accounting parentheses, named groups included."""
    dec = re.escape(decimal)
    thousands = rf"[.{WS}'’]" if decimal == "," else rf"[,{WS}'’]"
    body = rf"(?:\d{{1,3}}(?:{thousands}\d{{3}})+|\d+)(?:{dec}\d*)?|{dec}\d+"
    return (
        rf"(?P<sign>{_SIGN})?{_S}(?P<cmp>[<>≤≥~])?{_S}"
        rf"(?P<cur>[A-Z]{{0,3}}{_CURRENCY}|[A-Z]{{3}})?{_S}(?P<sign2>{_SIGN})?{_S}"
        rf"(?P<body>{body}){_S}(?P<pct>%)?{_S}(?P<cur2>{_CURRENCY}|[A-Z]{{3}})?"
    )


def number_pattern(decimal: str) -> str:
    """The regex of a number cell whose decimal separator is ``decimal`` ("." or ",").

    Named groups: open/close (accounting parentheses), sign, sign2, cmp (<, >…), cur/cur2
    (currency), body (digits with separators) and pct. Valid in Python and in Rust (Polars).
    """
    return rf"^(?P<open>\()?{_S}{_number_core(decimal)}{_S}(?P<close>\))?$"


def number_check(decimal: str) -> str:
    """The same shape without capture groups (fast in Polars), parentheses paired."""
    core = re.sub(r"\(\?P<\w+>", "(?:", _number_core(decimal))
    return rf"^(?:\({_S}{core}{_S}\)|{core})$"


@lru_cache(maxsize=2)
def _number_re(decimal: str) -> re.Pattern[str]:
    """:func:`number_pattern` compiled (on first use: a report whose kinds are known from
    the per-user cache never compiles it)."""
    return re.compile(number_pattern(decimal))


_PLAIN_INT = re.compile(r"^[-+]?\d{1,18}$")
_PLAIN_FLOAT = re.compile(r"^[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?$")
_BOOL = {"true", "false"}
_SEPARATED = re.compile(r"\d[.,\s'’]\d")
_LOOSE_NUMBER = re.compile(r"^[^\d]{0,6}?(\d[\d.,\s'’]*\d|\d)[^\d]{0,6}$")


def is_missing(cell: str | None) -> bool:
    """True for an empty cell or a missing marker (``n/a``, `` --``, ``-``…)."""
    return cell is None or bool(_MISSING_RE.match(cell.strip(WS)))


def parse_number(cell: str, decimal: str = ".") -> float | None:
    """A number cell as Python reads it (tests and detection); None when it is not one."""
    m = _number_re(decimal).match(cell.strip(WS))
    if not m or (m["open"] is None) != (m["close"] is None):
        return None
    digits = re.sub(rf"[^\d{re.escape(decimal)}]", "", m["body"]).replace(decimal, ".")
    text = digits + ("e-2" if m["pct"] else "")
    value = float(text)
    negative = m["open"] is not None or m["sign"] in NEGATIVE or m["sign2"] in NEGATIVE
    return -value if negative else value


# ---------------------------------------------------------------------------- separators


@dataclass(frozen=True)
class Separators:
    """The decimal separator of a file and the thousands separator seen (None: none seen)."""

    decimal: str = "."
    thousands: str | None = None


def numeric_cells(rows: list[list[str]]) -> list[str]:
    """The cells of the columns whose every value (missing markers aside) is a number with
    either decimal separator: what may vote on the separators. A phone number
    (``(407) 261-8908``, ``+1 415.555.0199``), a ZIP code column with ``32801-1234``, a date
    (``2/5/24 1:51``, ``28.01.2026``) is no number, and its column does not vote."""
    width = max((len(r) for r in rows), default=0)
    out: list[str] = []
    for j in range(width):
        column = dict.fromkeys(r[j].strip(WS) for r in rows if j < len(r))
        voting = [c for c in column if _SEPARATED.search(c)]  # only these can vote
        if voting and all(_is_number(c) for c in column if not _MISSING_RE.match(c)):
            out += voting
    return out


def _is_number(cell: str) -> bool:
    for rx in (_number_re("."), _number_re(",")):
        m = rx.match(cell)
        if m is not None and (m["open"] is None) == (m["close"] is None):
            return True
    return False


def detect_separators(cells: list[str], delimiter: str = ",") -> Separators:
    """Decide the decimal separator from the number-looking cells of a sample.

    A cell with both ``.`` and ``,`` settles it (the last one is the decimal); so do one
    separator followed by other than three digits (``12,5``) and a separator repeated
    (``1,234,567``). Cells like ``1,234`` alone are ambiguous: thousands, except in a
    ``;``-separated file (a European spreadsheet), where a comma is the decimal separator and
    ``1.234`` a thousand; ``0.125`` is always a decimal.
    """
    votes = {".": 0, ",": 0}
    weak = {".": 0, ",": 0}
    thousands: Counter[str] = Counter()
    for cell in dict.fromkeys(cells):
        if not _SEPARATED.search(cell):
            continue
        m = _LOOSE_NUMBER.match(cell.strip(WS))
        if m:
            _vote(m.group(1), votes, weak, thousands)
    if votes[","] > votes["."]:
        decimal = ","
    elif votes["."] > votes[","]:
        decimal = "."
    elif (weak[","] or weak["."]) and delimiter == ";":  # a European file: 1.234 is thousands
        decimal = ","
    else:
        decimal = "."
    if weak["," if decimal == "." else "."]:
        sep = "," if decimal == "." else "."
        thousands[sep] += weak[sep]
    thousands.pop(decimal, None)
    seen = max(thousands, key=lambda k: thousands[k]) if thousands else None
    return Separators(decimal, seen)


def _vote(body: str, votes: dict[str, int], weak: dict[str, int], thousands: Counter) -> None:
    """What one number's digits and separators (``body``) say: a decimal separator for
    sure (``votes``), one that may be (``weak``: ``1,234``), thousands separators seen."""
    for ch in (" ", "\u00a0", "\u202f", "\u2009", "'", "’"):
        if ch in body:
            thousands[ch] += 1
    dots, commas = body.count("."), body.count(",")
    if dots and commas:
        dec = "." if body.rfind(".") > body.rfind(",") else ","
        votes[dec] += 1
        thousands["," if dec == "." else "."] += 1
    elif dots or commas:
        sep = "." if dots else ","
        after = len(body) - body.rfind(sep) - 1
        before = body[: body.find(sep)].strip(WS + "'’")
        if body.count(sep) > 1:
            votes["," if sep == "." else "."] += 1
            thousands[sep] += 1
        elif after != 3 or before in ("", "0"):  # 12,5 or 0.125: a decimal separator
            votes[sep] += 1
        else:
            weak[sep] += 1


# ---------------------------------------------------------------------------- dates


#: Month names and abbreviations in English, French, German, Spanish, Italian and
#: Portuguese (lower case, without a final dot) → month number.
MONTHS: dict[str, int] = {
    name: n
    for n, names in enumerate(
        (
            "january jan janvier janv januar jänner jän enero ene gennaio gen janeiro",
            "february feb février févr fév fevrier fevr fev februar febrero febbraio fevereiro",
            "march mar mars märz mär mrz marz marzo março marco",
            "april apr avril avr abril abr aprile",
            "may mai mayo maggio mag maio",
            "june jun juin juni junio giugno giu junho",
            "july jul juillet juil juli julio luglio lug julho",
            "august aug août aout agosto ago",
            "september sep sept septembre septiembre setiembre settembre setembro set",
            "october oct octobre oktober okt octubre ottobre ott outubro out",
            "november nov novembre noviembre novembro",
            "december dec décembre déc decembre dezember dez diciembre dic dicembre dezembro",
        ),
        start=1,
    )
    for name in names.split()
}


def _month_alternation() -> str:
    """A regex of the month names of :data:`MONTHS` as cells write them (lower case,
    capitalised, upper case), longest first, with an optional final dot."""
    words = {v for w in MONTHS for v in (w, w.capitalize(), w.upper())}
    return "(?:" + "|".join(sorted(words, key=lambda w: (-len(w), w))) + r")\.?"


#: A month name of :data:`MONTHS` (only those: another word is no date).
_MON = _month_alternation()


@dataclass(frozen=True)
class DateShape:
    """A way of writing dates: a regex whose first group is the date part, and its formats.

    A day/month shape has two formats (day first, month first); the cells decide which.
    A shape with month names (``order``: where the day, month and year groups are, such as
    ``dmy``) reads its groups 2 to 4 in any of the languages of :data:`MONTHS` (its format
    is shown, not used). A ``zoned`` shape (ISO date-time with a zone) counts each value by
    its date in ``timezone``.
    """

    regex: str
    formats: tuple[str, ...]
    example: str
    whole: bool = False  # the cell is the date and nothing else: no extraction needed
    order: str = ""  # month names: the order of the groups 2 to 4 (d, m, y)
    zoned: bool = False
    timezone: str = "UTC"

    def in_zone(self, timezone: str | None) -> DateShape:
        """This shape counting its zoned values in ``timezone`` (None: UTC)."""
        if not self.zoned or not timezone or timezone == self.timezone:
            return self
        return replace(self, timezone=timezone)

    def parse(self, part: str, fmt: str) -> date | None:
        """The date part of a cell (group 1 of :attr:`regex`) as this shape reads it."""
        if self.order:
            return _month_date(self, part)
        if self.zoned:
            return _zoned_date(self, part)
        return py_date(part, fmt)


def _month_date(shape: DateShape, part: str) -> date | None:
    m = re.match(shape.regex, part)
    if m is None:
        return None
    groups = dict(zip(shape.order, m.groups()[1:4], strict=True))
    month = MONTHS.get(groups["m"].lower().rstrip("."))
    year = int(groups["y"])
    if len(groups["y"]) == 2:
        year += 2000 if year < 70 else 1900  # as Polars reads %y
    try:
        return date(year, month, int(groups["d"])) if month else None
    except ValueError:
        return None


ZONED = (
    r"^(([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}:[0-9]{2})(?::([0-9]{2}))?(?:[.,][0-9]+)? ?"
    r"(Z|[+-][0-9]{2}(?::?[0-9]{2})?))$"
)


def _zoned_date(shape: DateShape, part: str) -> date | None:
    m = re.match(ZONED, part)
    if m is None:
        return None
    zone = "+00:00" if m[5] == "Z" else m[5]
    try:
        stamp = datetime.fromisoformat(f"{m[2]}T{m[3]}:{m[4] or '00'}{zone}")
        return stamp.astimezone(ZoneInfo(shape.timezone)).date()
    except (ValueError, KeyError):
        return None


def _month_shape(part: str, order: str, fmt: str, example: str, rest: str) -> DateShape:
    return DateShape(rf"^({part}){rest}$", (fmt,), example, order=order)


DATE_SHAPES: tuple[DateShape, ...] = (
    DateShape(r"^(\d{4}-\d{2}-\d{2})$", ("%Y-%m-%d",), "2026-01-28", whole=True),
    DateShape(ZONED, ("%Y-%m-%dT%H:%M:%S%z",), "2026-03-01T14:05:00Z", zoned=True),
    DateShape(r"^(\d{4}-\d{1,2}-\d{1,2})(?:[T ].*)?$", ("%Y-%m-%d",), "2026-01-28 12:48"),
    DateShape(r"^(\d{4}/\d{1,2}/\d{1,2})(?:[T ].*)?$", ("%Y/%m/%d",), "2026/01/28"),
    DateShape(r"^(\d{4}\.\d{1,2}\.\d{1,2})(?: .*)?$", ("%Y.%m.%d",), "2026.01.28"),
    DateShape(r"^(\d{8})$", ("%Y%m%d",), "20250201", whole=True),
    DateShape(r"^(\d{1,2}/\d{1,2}/\d{4})(?:[T ,].*)?$", ("%d/%m/%Y", "%m/%d/%Y"), "28/01/2026"),
    DateShape(r"^(\d{1,2}/\d{1,2}/\d{2})(?:[T ,].*)?$", ("%d/%m/%y", "%m/%d/%y"), "2/24/17 11:29"),
    DateShape(r"^(\d{1,2}\.\d{1,2}\.\d{4})(?:[ ,].*)?$", ("%d.%m.%Y", "%m.%d.%Y"), "28.01.2026"),
    DateShape(r"^(\d{1,2}-\d{1,2}-\d{4})(?:[ ,].*)?$", ("%d-%m-%Y", "%m-%d-%Y"), "28-01-2026"),
    _month_shape(
        rf"([0-9]{{1,2}})(?:\.|er|º)?(?: de | |-)({_MON})(?: de | |-)([0-9]{{4}})",
        "dmy",
        "%d %B %Y",
        "27 January 2026",
        r"(?:[ ,T].*)?",
    ),
    _month_shape(
        rf"([0-9]{{1,2}})-({_MON})-([0-9]{{2}})", "dmy", "%d-%b-%y", "27-Jan-26", r"(?: .*)?"
    ),
    _month_shape(
        rf"({_MON}) ([0-9]{{1,2}}),? ([0-9]{{4}})",
        "mdy",
        "%B %d, %Y",
        "Jun 01, 2023 09:46 pm",
        r"(?:[ ,T].*)?",
    ),
)


@lru_cache(maxsize=1)
def _date_res() -> list[re.Pattern[str]]:
    """The regexes of :data:`DATE_SHAPES`, compiled on first use (long alternations of
    month names: a report whose kinds are known from the per-user cache needs none)."""
    return [re.compile(s.regex) for s in DATE_SHAPES]


ISO = DATE_SHAPES[2]


def py_date(part: str, fmt: str) -> date | None:
    """``part`` parsed with ``fmt`` as Polars would (``%B`` also takes ``Jan``), else None."""
    if fmt == "%Y-%m-%d" and len(part) == 10:
        try:
            return date.fromisoformat(part)
        except ValueError:
            return None
    for f in (fmt, fmt.replace("%B", "%b")) if "%B" in fmt else (fmt,):
        try:
            return datetime.strptime(part, f).date()
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class DateGuess:
    """What the cells of a column say about its dates.

    ``fmt`` is the format (None when ``ambiguous``: every cell reads both day first and
    month first, so only a ``date_format`` option can decide).
    """

    shape: DateShape
    fmt: str | None
    candidates: tuple[str, ...]
    example: str

    @property
    def ambiguous(self) -> bool:
        return self.fmt is None


def detect_date(cells: list[str]) -> DateGuess | None:
    """The date shape and format every cell (missing markers aside) agrees on, else None."""
    values = list(dict.fromkeys(c.strip(WS) for c in cells if not is_missing(c)))
    if not values:
        return None
    for shape, rx in zip(DATE_SHAPES, _date_res(), strict=True):
        parts = []
        for v in values:
            m = rx.match(v)
            if m is None:
                break
            parts.append(m.group(1))
        else:
            fits = tuple(
                f for f in shape.formats if all(shape.parse(p, f) is not None for p in parts)
            )
            if not fits:
                continue
            return DateGuess(shape, fits[0] if len(fits) == 1 else None, fits, values[0])
    return None


def date_misfit(cells: list[str]) -> tuple[DateGuess, int] | None:
    """When most cells are dates of one shape but some are not: (guess, index of the first
    cell that does not fit). None when no shape fits most of the cells."""
    values = [(i, c.strip(WS)) for i, c in enumerate(cells) if not is_missing(c)]
    best: tuple[int, DateShape] | None = None
    for shape, rx in zip(DATE_SHAPES, _date_res(), strict=True):
        fit = 0
        for _, v in values:
            m = rx.match(v)
            if m and any(shape.parse(m.group(1), f) for f in shape.formats):
                fit += 1
        if fit and (best is None or fit > best[0]):
            best = (fit, shape)
    if best is None or best[0] * 2 < len(values) or best[0] == len(values):
        return None
    shape = best[1]
    rx = re.compile(shape.regex)
    good = []
    bad = None
    for i, v in values:
        m = rx.match(v)
        if m and any(shape.parse(m.group(1), f) for f in shape.formats):
            good.append(v)
        elif bad is None:
            bad = i
    guess = detect_date(good)
    if guess is None or bad is None:
        return None
    return guess, bad


def parse_date_text(text: str, prefer: str | None = None) -> date | None:
    """A date written in a report's preamble (``27 January 2026``, ``20240101``…), else None.

    A day/month date that reads both ways is taken in the order of ``prefer`` (a format such
    as ``%m/%d/%Y``) when given, else only when both readings agree.
    """
    guess = detect_date([text])
    if guess is None:
        return None
    m = re.match(guess.shape.regex, text.strip(WS))
    assert m is not None
    if guess.fmt is not None:
        return guess.shape.parse(m.group(1), guess.fmt)
    dates = {f: guess.shape.parse(m.group(1), f) for f in guess.candidates}
    if prefer in dates:
        return dates[prefer]
    values = set(dates.values())
    return values.pop() if len(values) == 1 else None


# ---------------------------------------------------------------------------- kinds


@dataclass(frozen=True)
class Kind:
    """What a column holds, decided from its cells in the sample.

    name: ``empty`` (no value in the sample), ``integer``/``float`` (plain numbers Polars
    parses as it reads), ``number`` (numbers that need cleaning: separators, %, currency,
    missing markers), ``boolean``, ``date`` (kept as text unless the column dates rows),
    ``text``.
    """

    name: str
    integer: bool = False
    percent: bool = False
    date: DateGuess | None = None
    scale: float = 1.0  # a preset's rates written as plain percents (23.5): 0.01

    @property
    def native(self) -> bool:
        """Polars can parse it while reading (no string cleaning)."""
        return self.name in ("integer", "float")

    @property
    def dtype(self) -> pl.DataType:
        """The column's type after conversion."""
        if self.name == "integer" or (self.name == "number" and self.integer):
            return pl.Int64()
        if self.name in ("float", "number", "duration"):
            return pl.Float64()
        if self.name == "boolean":
            return pl.Boolean()
        return pl.String()

    def describe(self) -> str:
        if self.name == "date" and self.date is not None:
            return f"date ({self.date.fmt or ' or '.join(self.date.candidates)})"
        if self.name == "number" and (self.percent or self.scale == 0.01):
            return "percent" if self.scale == 1 else "percent (written 23.5 for 23.5 %)"
        if self.name == "duration":
            return "duration (seconds)"
        return self.name


EMPTY = Kind("empty")
TEXT = Kind("text")


def classify(cells: list[str | None], decimal: str = ".") -> Kind:
    """The kind of a column from its sampled cells (None for an empty cell)."""
    present = list(dict.fromkeys(c.strip(WS) for c in cells if c is not None and c.strip(WS) != ""))
    values = [c for c in present if not _MISSING_RE.match(c)]
    if not values:
        return EMPTY
    markers = len(values) != len(present)
    if all(v.lower() in _BOOL for v in values):
        return Kind("boolean")
    if not markers and all(_PLAIN_INT.match(v) for v in values):
        if len(values[0]) == 8 and (guess := detect_date(values)) is not None:
            return Kind("date", date=guess)
        return Kind("integer", integer=True)
    if not markers and decimal == "." and all(_PLAIN_FLOAT.match(v) for v in values):
        return Kind("float")
    rx = _number_re(decimal)
    matches = [rx.match(v) for v in values]
    if all(m is not None and (m["open"] is None) == (m["close"] is None) for m in matches):
        pct = any(m["pct"] for m in matches if m is not None)
        integer = not pct and all(decimal not in m["body"] for m in matches if m is not None)
        return Kind("number", integer=integer, percent=pct)
    if (guess := detect_date(values)) is not None:
        return Kind("date", date=guess)
    return TEXT


def typed(kind: Kind, wanted: str | None, cells: list[str | None]) -> Kind:
    """``kind`` as a preset's type for the column says to read it (None: as detected).

    ``number``/``boolean``: a column without a value in the sample still gets its type;
    ``percent_points``: plain numbers that are percents (Mailchimp's ``23.5`` for 23.5 %) read
    as fractions, like ``23.5%``; ``duration``: ``1:40`` or ``00:01:40`` as seconds.
    """
    if wanted in ("number", "percent_points", "duration") and kind.name == "empty":
        return Kind("number")
    if wanted == "boolean" and kind.name == "empty":
        return Kind("boolean")
    if wanted == "percent_points" and kind.name in ("integer", "float", "number"):
        return kind if kind.percent else Kind("number", scale=0.01)
    if wanted == "duration" and kind.name == "text":
        values = [c for c in cells if c is not None and not is_missing(c)]
        if all(parse_duration(c) is not None or _PLAIN_FLOAT.match(c.strip(WS)) for c in values):
            return Kind("duration")
    return kind


# ---------------------------------------------------------------------------- expressions


def _text(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String).str.strip_chars(WS)


#: The missing markers as cells write them, for a hash lookup (faster than a regex).
MISSING_CELLS = (
    "",
    *("-" * n for n in range(1, 6)),
    "—",
    "–",
    *(
        variant
        for word in ("n/a", "na", "#n/a", "null", "none", "nan", "(none)")
        for variant in {word, word.upper(), word.capitalize(), word.title()}
    ),
)


def _missing(text: pl.Expr) -> pl.Expr:
    return text.is_null() | text.is_in(MISSING_CELLS)


def number_expr(expr: pl.Expr, decimal: str = ".", *, integer: bool = False) -> pl.Expr:
    """A text column of numbers as Float64 (Int64 when ``integer``), strictly.

    Missing markers become null; anything else that is not a number reaches a strict cast
    unchanged, so the query fails naming that cell. One regex test per cell (the shape of
    :func:`number_pattern`), then plain character removal: no capture groups, which are slow.
    """
    text = _text(expr)
    valid = text.str.contains(number_check(decimal))
    digits = text.str.replace_all(rf"[^\d{re.escape(decimal)}]", "")
    if decimal != ".":
        digits = digits.str.replace(decimal, ".", literal=True)
    digits = pl.when(text.str.contains("%", literal=True)).then(digits + "e-2").otherwise(digits)
    negative = text.str.contains(r"^\(|^[^\d]*[-−]")
    digits = pl.when(negative).then(pl.lit("-") + digits).otherwise(digits)
    source = pl.when(_missing(text)).then(None).when(valid).then(digits).otherwise(text)
    return source.cast(pl.Int64 if integer else pl.Float64, strict=True)


def native_expr(expr: pl.Expr, kind: Kind) -> pl.Expr:
    """A text column Polars would have parsed as it read (the first column is read as text).
    An empty cell is null: read as text, a quoted empty cell (``""``, as Salesforce writes
    every missing value) is an empty string, which Polars' own reading would make null."""
    text = _text(expr)
    return pl.when(text == "").then(None).otherwise(text).cast(kind.dtype, strict=True)


def empty_expr(expr: pl.Expr) -> pl.Expr:
    """A text column whose missing markers (`` --``, ``n/a``) become null."""
    return pl.when(_missing(_text(expr))).then(None).otherwise(expr.cast(pl.String))


def bool_expr(expr: pl.Expr) -> pl.Expr:
    """``true``/``false`` (any case) as Boolean; missing markers null; anything else fails."""
    text = _text(expr)
    low = text.str.to_lowercase()
    source = (
        pl.when(low == "true")
        .then(pl.lit("1"))
        .when(low == "false")
        .then(pl.lit("0"))
        .when(_missing(text))
        .then(None)
        .otherwise(text)
    )
    return source.cast(pl.Int8, strict=True).cast(pl.Boolean)


def date_expr(expr: pl.Expr, shape: DateShape | None, fmt: str) -> pl.Expr:
    """A text column as dates: the date part of each cell (``shape``) read with ``fmt``.

    Without a shape (an explicit ``date_format``) the whole cell is read with ``fmt``.
    A time after the date is ignored (a zoned shape: the value counts by its date in the
    shape's time zone); month names are read in any language of :data:`MONTHS`; missing
    markers are null; anything else fails.
    """
    text = _text(expr)
    if shape is not None and shape.zoned:
        return _zoned_expr(text, shape)
    if shape is not None and shape.order:
        return _month_dates(text, shape)
    if shape is None or shape.whole:
        source = pl.when(_missing(text)).then(None).otherwise(text)
    else:
        part = text.str.extract(shape.regex, 1)
        source = pl.when(_missing(text)).then(None).when(part.is_not_null()).then(part)
        source = source.otherwise(text)
    return source.str.to_date(fmt, strict=True)


def _month_words() -> tuple[list[str], list[str]]:
    """``-word-`` → ``-MM-`` for every month name of :data:`MONTHS`, as cells write it
    (lower case, capitalised, upper case; with or without a final dot)."""
    patterns: dict[str, str] = {}
    for word, n in MONTHS.items():
        for variant in (word, word.capitalize(), word.upper()):
            for dot in ("", "."):
                patterns[f"-{variant}{dot}-"] = f"-{n:02d}-"
    return list(patterns), list(patterns.values())


_WORDS, _NUMBERS = _month_words()


def _month_dates(text: pl.Expr, shape: DateShape) -> pl.Expr:
    """Cells with a month name as dates: one regex rewrites a cell as ``y-word-d``, one
    multi-pattern pass turns the word into its number (cells of another shape are left as
    they are, and fail the strict parse with their own text)."""
    groups = {k: f"${{{i}}}" for i, k in enumerate(shape.order, start=2)}
    rewritten = text.str.replace(shape.regex, f"{groups['y']}-{groups['m']}-{groups['d']}")
    numbered = rewritten.str.replace_many(_WORDS, _NUMBERS)
    fmt = "%y-%m-%d" if "%y" in shape.formats[0] else "%Y-%m-%d"
    source = pl.when(_missing(text)).then(None).otherwise(numbered)
    return source.str.to_date(fmt, strict=True)


def _zoned_expr(text: pl.Expr, shape: DateShape) -> pl.Expr:
    """ISO date-times with a zone as the dates they fall on in ``shape.timezone``: each
    cell rewritten as ``YYYY-MM-DD HH:MM:SS|±HHMM`` by a few regex passes."""
    stamp = text.str.replace(
        r"^([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}:[0-9]{2})(?::([0-9]{2}))?(?:[.,][0-9]+)? ?"
        r"(?:Z|([+-][0-9]{2}):?([0-9]{2})?)$",
        "${1} ${2}:${3}|${4}${5}",
    )
    stamp = stamp.str.replace(":|", ":00|", literal=True)  # no seconds
    stamp = stamp.str.replace(r"\|$", "|+0000").str.replace(r"(\|[+-][0-9]{2})$", "${1}00")
    source = pl.when(_missing(text)).then(None).otherwise(stamp)
    parsed = source.str.to_datetime("%Y-%m-%d %H:%M:%S|%z", time_zone="UTC", strict=True)
    return parsed.dt.convert_time_zone(shape.timezone).dt.date()


#: A duration cell: ``m:ss``, ``h:mm:ss`` (``1:40`` is 100 seconds, ``00:01:40`` too).
DURATION = r"^(?:([0-9]+):)?([0-9]+):([0-5][0-9])(?:[.,][0-9]+)?$"
_DURATION_RE = re.compile(DURATION)


def parse_duration(cell: str) -> float | None:
    """A duration cell in seconds (tests and detection); None when it is not one."""
    m = _DURATION_RE.match(cell.strip(WS))
    if m is None:
        return None
    return int(m[1] or 0) * 3600 + int(m[2]) * 60 + int(m[3])


def duration_expr(expr: pl.Expr) -> pl.Expr:
    """A text column of durations (:data:`DURATION`) or plain seconds as Float64 seconds;
    missing markers null; anything else fails."""
    text = _text(expr)
    found = text.str.extract_groups(DURATION).struct
    hours = found.field("1").cast(pl.Float64).fill_null(0.0)
    minutes = found.field("2").cast(pl.Float64)
    seconds = found.field("3").cast(pl.Float64)
    total = hours * 3600 + minutes * 60 + seconds
    plain = pl.when(_missing(text)).then(None).otherwise(text).cast(pl.Float64, strict=True)
    return pl.when(total.is_not_null()).then(total).otherwise(plain)


def convert_expr(expr: pl.Expr, kind: Kind, decimal: str) -> pl.Expr | None:
    """The conversion a column of ``kind`` needs after reading, None when it needs none."""
    if kind.name == "number":
        out = number_expr(expr, decimal, integer=kind.integer)
        return out * kind.scale if kind.scale != 1 else out
    if kind.name == "duration":
        return duration_expr(expr)
    if kind.name == "boolean":
        return bool_expr(expr)
    return None
