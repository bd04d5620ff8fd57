"""The tolerant reader: any bytes in, one rectangular table of text cells out.

The fast path (``scan.py``) hands a file to ``pl.scan_csv`` with the layout ``detect.py``
found in a sample; this module is the slow path, in plain Python over the whole file, for
what Polars cannot read and for `kpi clean`. It is a stage of the same reader: it takes
detection's encoding and delimiter, and its header where the file has no run of records
alike to find one by (:func:`detect_layout`); it uses the same record rules
(:mod:`kpicli.ingest.rules`: blank, comment, header-like, summary row); it goes further
where a broken file needs it (steps 2-4 below). It reports nothing
itself: what it did is data (:class:`Note`, :class:`Fallback`) for its caller to say.
It never converts a cell: every value comes out as the text written in the file; only the
structure is fixed.

1. Decoding: byte-order marks, UTF-16, UTF-8, else cp1252; a file that mixes encodings is
   decoded line by line (each line UTF-8 when it is, else cp1252), and said so. A BOM at
   the start of a later line (files concatenated) is dropped.
2. Dialect: delimiter (``,`` ``;`` tab ``|`` space, ``, ``), quote (``"`` or ``'``) and
   escape (doubled quote or backslash), chosen on a sample the way CleverCSV does: the
   candidate whose records have the most consistent widths, weighted by the share of cells
   that look like values (numbers, dates, words…).
3. Structure: the table's width is that of its first run of consistent records; the header
   is the header-like record that opens that run (under preambles, ``#`` comments and blank
   lines); a record that repeats the header is dropped; a second table (a header-like record
   of another width or other names, followed by rows of its width) ends the first one.
4. Row repairs, for a record whose width is not the table's, each kept only when the
   repaired cells fit their columns (a profile of the cells' shapes, learned from this
   file's other rows) at least as well as the alternatives:

   - a stray quote (``28/01/2018,"00:00,2,…``) read as a literal character;
   - a row written with another delimiter (a line of spaces in a comma file) re-split, its
     words regrouped into the table's columns;
   - a lost delimiter (``00:002``) put back where both halves fit their columns;
   - a surplus empty cell (``a,,b`` for ``a,b``) dropped;
   - otherwise a short row is padded with empty cells, and a row with more cells is kept
     whole (`kpi clean` adds unnamed columns; the reader reports the line).

5. Rows dropped, each counted by reason: blank lines, the preamble, summary rows
   (``Total: …``, ``Grand total``, a preset's own), footer lines after the data, repeated
   headers and a second table.

Every repair and drop is a :class:`Note` with its line number.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from kpicli.ingest.detect import (
    CODECS,
    LINE_BY_LINE,
    Decoded,
    Layout,
    SniffError,
    choose,
    decode_lines,
    detect_encoding,
    explicit_encoding,
)
from kpicli.ingest.memo import ReadMemo
from kpicli.ingest.rules import header_like, is_blank, is_comment, is_summary_row, summary_in
from kpicli.ingest.values import WS
from kpicli.spec.presets import SUMMARY_ROWS, SummaryRow

__all__ = [
    "Dialect",
    "Fallback",
    "Note",
    "Table",
    "cell_class",
    "decode",
    "detect_dialect",
    "detect_layout",
    "dialect_score",
    "fallback_reason",
    "mixed_message",
    "mixed_notice",
    "read_table",
    "shape",
    "split_lines",
    "tolerant_csv",
]

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

#: Characters of the sample the dialect is chosen on.
SAMPLE_CHARS = 64 * 1024
#: Records of the file the column profiles are learned from.
PROFILE_RECORDS = 5000
#: Quote characters of a line tried one by one as a literal character.
MAX_QUOTES = 64
#: Words of a line regrouped into columns (a row written with spaces).
MAX_WORDS = 200
#: Rows a header may spread over.
MAX_HEADER_ROWS = 4
_PH = "\ue000"  # stands for a quote read as a literal character while a line is re-parsed
_END = "\ue001"  # a sentinel line: seen inside a cell when a quote stays open
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


@dataclass(frozen=True)
class Dialect:
    """How records are written: delimiter, quote, escape (None: a doubled quote)."""

    delimiter: str = ","
    quote: str = '"'
    escape: str | None = None
    skip_space: bool = False  # ", " as the delimiter: the space after it is not data

    def kwargs(self) -> dict:
        return {
            "delimiter": self.delimiter,
            "quotechar": self.quote,
            "escapechar": self.escape,
            "doublequote": self.escape is None,
            "skipinitialspace": self.skip_space,
            "strict": False,
        }

    def describe(self) -> str:
        shown = {"\t": "tab", " ": "space"}.get(self.delimiter, self.delimiter)
        if self.skip_space:
            shown += " and space"
        text = f"delimiter {shown!r}" if len(shown) == 1 else f"delimiter {shown}"
        if self.quote != '"':
            text += f", quote {self.quote!r}"
        if self.escape:
            text += f", escape {self.escape!r}"
        return text


@dataclass(frozen=True)
class Note:
    """Something the reader did to the structure: a repair or rows dropped."""

    line: int | None  # 1-based line in the file
    kind: str  # repaired, padded, wide, dropped, decoded, header, table
    message: str
    #: a ``wide`` record: its cells past the header's width (what a reader that keeps the
    #: header's columns leaves out)
    extra: tuple[str, ...] = ()


@dataclass
class Table:
    """A file read by the tolerant reader: its header and rows, all cells as written."""

    header: list[str]
    rows: list[list[str]]
    lines: list[int]  # the first line of each row in the file
    header_line: int  # 0 when the file is empty
    encoding: str
    bom: bool
    dialect: Dialect
    preamble: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)  # reason → rows
    header_rows: int = 1  # the lines the header spreads over (their cells joined)

    @property
    def width(self) -> int:
        return len(self.header)

    def summary(self) -> str:
        """One line: how the file was read and what was left out."""
        parts = [self.encoding + (" with BOM" if self.bom else ""), self.dialect.describe()]
        if self.header_rows > 1:
            last = self.header_line + self.header_rows - 1
            parts.append(f"header on lines {self.header_line}-{last}")
        elif self.header_line:
            parts.append(f"header on line {self.header_line}")
        parts.append(f"{len(self.rows)} rows")
        if self.dropped:
            parts.append("left out: " + ", ".join(f"{n} {why}" for why, n in self.dropped.items()))
        repaired = sum(1 for n in self.notes if n.kind in ("repaired", "padded", "wide"))
        if repaired:
            parts.append(f"rows repaired or padded: {repaired}")
        return "; ".join(parts)


# ---------------------------------------------------------------------------- decoding


def decode(data: bytes, encoding: str = "auto") -> tuple[str, str, bool, list[Note]]:
    """(text, codec, BOM seen, notes) of a whole file; never fails on bytes.

    An explicit ``encoding`` must decode the file (SniffError otherwise); ``auto`` decodes
    line by line: each line UTF-8 when it decodes, else cp1252 (latin-1 for the bytes cp1252
    leaves undefined), and a file that mixes the two says which lines were cp1252.
    """
    notes: list[Note] = []
    if not data:
        return "", "utf-8", False, notes
    if encoding == "auto":
        codec, bom = detect_encoding(data[: 128 * 1024])
    else:
        codec, bom = explicit_encoding(data[:4], encoding)
    body = data[bom:]
    if codec.startswith("utf-16") and len(body) % 2:
        body = body[:-1]
        notes.append(Note(None, "decoded", "the file ends with half a UTF-16 character"))
    if encoding == "auto" and codec in LINE_BY_LINE:
        decoded = decode_lines(body)
        text, codec = decoded.text, decoded.codec
        if decoded.cp1252_lines:
            odd = decoded.cp1252_lines
            if len(odd) > len(decoded.utf8_lines):  # the UTF-8 lines are the odd ones
                odd = decoded.utf8_lines
            notes.append(Note(odd[0], "decoded", mixed_message(decoded)))
    else:
        try:
            text = body.decode(codec)
        except UnicodeDecodeError as err:
            raise SniffError(
                f"cannot decode the file as {codec} (byte {bom + err.start})",
                hint="set the encoding (utf-8, utf-16, cp1252, cp1253, shift_jis…: any Python "
                "codec)",
            ) from None
    text = re.sub(r"(?<=[\r\n])\ufeff", "", text)
    return text, codec, bom > 0, notes


def _known_codec(name: str) -> bool:
    """Whether ``name`` is a Python text codec (``cp1253``, ``shift_jis``…)."""
    try:
        return getattr(codecs.lookup(name), "_is_text_encoding", True)
    except LookupError:
        return False


def mixed_message(decoded: Decoded) -> str:
    """What a file that mixes UTF-8 and cp1252 lines is told: which lines are the odd ones."""
    cp1252, utf8 = decoded.cp1252_lines, decoded.utf8_lines
    if len(cp1252) <= len(utf8):
        return f"{_lines(cp1252, len(cp1252))} not UTF-8 like the rest of the file: read as cp1252"
    return (
        f"{_lines(utf8, len(utf8))} UTF-8, the rest of the file cp1252: each line is read in "
        "its own encoding"
    )


def _lines(lines: tuple[int, ...], count: int) -> str:
    if count == 1:
        return f"line {lines[0]} is"
    if count <= 5:
        return f"lines {', '.join(map(str, lines[:-1]))} and {lines[-1]} are"
    return f"{count} lines are (the first: line {lines[0]})"


def mixed_notice(path: object, decoded: Decoded) -> str:
    """The warning for a file that mixes UTF-8 and cp1252 lines."""
    return f"{path}: {mixed_message(decoded)}"


def split_lines(text: str) -> list[str]:
    """Physical lines with their endings (``\\r\\n``, ``\\n`` or ``\\r``)."""
    return _LINE.findall(text)


# ---------------------------------------------------------------------------- parsing


class _Feed:
    """Lines handed to ``csv.reader`` one at a time, from a position that can be moved."""

    def __init__(self, lines: list[str], start: int = 0, stop: int | None = None):
        self.lines = lines
        self.pos = start
        self.stop = len(lines) if stop is None else stop

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        if self.pos >= self.stop:
            raise StopIteration
        self.pos += 1
        return self.lines[self.pos - 1]


@dataclass
class _Rec:
    start: int  # index of its first physical line
    end: int  # index after its last physical line
    cells: list[str]

    @property
    def blank(self) -> bool:
        return is_blank(self.cells)


def _records(lines: list[str], dialect: Dialect, start: int = 0, stop: int | None = None):
    """Records of ``lines[start:stop]``, each with the physical lines it spans."""
    feed = _Feed(lines, start, stop)
    reader = csv.reader(feed, **dialect.kwargs())
    out: list[_Rec] = []
    begin = feed.pos
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error:  # a NUL byte, a field too large: read the line as one cell
            cells = [lines[begin].rstrip("\r\n")]
            feed.pos = begin + 1
            reader = csv.reader(feed, **dialect.kwargs())
        out.append(_Rec(begin, feed.pos, cells))
        begin = feed.pos
    return out


def _parse_line(line: str, dialect: Dialect) -> list[str] | None:
    """The cells of one physical line alone; None when a quote stays open or it is not one
    record."""
    text = line.rstrip("\r\n")
    try:
        rows = list(csv.reader([text + "\n", _END + "\n"], **dialect.kwargs()))
    except csv.Error:
        return None
    if len(rows) != 2 or rows[1] != [_END]:
        return None
    return rows[0]


# ---------------------------------------------------------------------------- cells

_NUM = re.compile(r"^[-+(]?\s*[$€£¥]?\s*\d[\d,. '’]*(?:[eE][-+]?\d+)?\s*[%€$£)]?$")
_DATE = re.compile(
    r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{8}"
    r"|[A-Za-z]{3,9}\.? \d{1,2},? \d{4}|\d{1,2} [A-Za-z]{3,9}\.? \d{4})"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[AaPp][Mm])?(?:Z|[+-]\d{2}:?\d{2})?)?$"
)
_TIME = re.compile(r"^\d{1,2}:\d{2}(?::\d{2})?\s*(?:[AaPp][Mm])?$")
_URL = re.compile(r"^(?:https?://|www\.)[^\s\"']+$", re.IGNORECASE)
_EMAIL = re.compile(r"^[\w.+-]+@[\w-]+\.[\w.-]+$")
_WORD = re.compile(r"^[^\W_][\w'’./&-]*$")
_MISSING = re.compile(r"^(?:-+|—|–|n/?a|#n/a|null|none|nan|true|false|yes|no)$", re.I)


def cell_class(value: str) -> str:
    """A coarse kind of a cell: empty, number, date, time, url, email, word or text."""
    v = value.strip(WS)
    if not v:
        return "empty"
    if _MISSING.match(v):
        return "missing"
    if _NUM.match(v):
        return "number"
    if _TIME.match(v):
        return "time"
    if _DATE.match(v):
        return "date"
    if _URL.match(v):
        return "url"
    if _EMAIL.match(v):
        return "email"
    if _WORD.match(v):
        return "word"
    return "text"


def shape(value: str) -> str:
    """The cell's pattern: digits as 9, runs of letters as A or a, punctuation as is."""
    out: list[str] = []
    prev = ""
    for ch in value[:48]:
        if ch.isdigit():
            c = "9"
        elif ch.isalpha():
            c = "A" if ch.isupper() else "a"
        elif ch.isspace():
            c = " "
        else:
            c = ch
        if c in "Aa " and c == prev:
            continue
        out.append(c)
        prev = c
    if len(value) > 48:
        out.append("…")
    return "".join(out)


class _Profile:
    """What the cells of each column look like, learned from the rows of the right width."""

    def __init__(self, rows: list[list[str]], width: int, quote: str = '"', delim: str = ","):
        self.width = width
        self.quote = quote
        self.delim = delim
        self.n = max(1, len(rows))
        self.shapes = [Counter() for _ in range(width)]
        self.classes = [Counter() for _ in range(width)]
        for cells in rows:
            for j in range(width):
                v = cells[j] if j < len(cells) else ""
                self.shapes[j][shape(v)] += 1
                self.classes[j][cell_class(v)] += 1

    def _fit(self, value: str, j: int) -> float:
        ps = self.shapes[j][shape(value)] / self.n
        kind = cell_class(value)
        pc = self.classes[j][kind] / self.n
        if kind in ("word", "text"):  # free text: a word is text too
            pc = (self.classes[j]["word"] + self.classes[j]["text"]) / self.n
        return max(ps, 0.8 * pc)

    def fit(self, value: str, j: int) -> float:
        """How well ``value`` fits column j, about 0 to 1; what a misread leaves in a cell
        (a quote, spaces around it, a delimiter at its start) costs a little."""
        if j >= self.width:
            return 0.0
        score = self._fit(value, j)
        if self.quote in value:
            bare = value.replace(self.quote, "")
            score = max(score, self._fit(bare, j) - 0.05) - 0.1
        stripped = value.strip(WS)
        if stripped and stripped != value:
            score -= 0.2
        if value.startswith(self.delim):
            score -= 0.5
        return score

    def row_fit(self, cells: list[str]) -> float:
        return sum(self.fit(c, j) for j, c in enumerate(cells)) / max(1, self.width)


def _header_fit(cells: list[str]) -> float:
    """How much a record looks like a header, from 0 to 1 per cell, averaged."""
    if not cells:
        return 0.0
    score = 0.0
    for c in cells:
        v = c.strip(WS)
        if v and cell_class(v) not in ("number", "date", "time", "missing"):
            score += 1
        elif not v:
            score += 0.3
    return score / len(cells)


# ---------------------------------------------------------------------------- dialect


def _typed(cell: str) -> bool:
    return cell_class(cell) != "text"


def dialect_score(recs: list[_Rec]) -> float:
    """CleverCSV's data consistency: pattern score × share of typed cells."""
    rows = [r.cells for r in recs if not r.blank]
    if not rows:
        return 0.0
    widths = Counter(len(c) for c in rows)
    pattern = sum(n * (w - 1) / w for w, n in widths.items()) / len(widths)
    cells = [c for r in rows for c in r]
    typed = sum(1 for c in cells if _typed(c)) / max(1, len(cells))
    return pattern * max(typed, 0.01)


def _consistency(recs: list[_Rec], width: int) -> float:
    """Share of the non-blank records that have ``width`` cells (empty extra cells allowed)."""
    rows = [r.cells for r in recs if not r.blank]
    if not rows:
        return 0.0
    return sum(1 for c in rows if _fits_table(c, width)) / len(rows)


def detect_dialect(lines: list[str], delimiter: str = "auto") -> Dialect:
    """The dialect that reads a sample of ``lines`` most consistently (see
    :func:`detect_layout`)."""
    return detect_layout(lines, delimiter)[0]


def detect_layout(lines: list[str], delimiter: str = "auto") -> tuple[Dialect, int | None]:
    """(dialect, header line) of a sample of ``lines``: the dialect that reads it most
    consistently, and the header line (1-based) detection chose with it (None when the
    dialect is not detection's, or it found no header).

    The delimiter the fast path's sniff chooses (``,`` ``;`` tab ``|``) is kept when most
    records then have the header's width (``, `` when every cell after a delimiter starts
    with a space; a backslash escape when it reads more records right); otherwise every
    candidate, space and ``'`` quotes included, is scored as CleverCSV does.
    """
    sample: list[str] = []
    size = 0
    for line in lines:
        sample.append(line)
        size += len(line)
        if size > SAMPLE_CHARS or len(sample) >= 2000:
            break
    text = "".join(sample)
    fixed = None if delimiter == "auto" else delimiter
    if fixed is None or fixed in (",", ";", "\t", "|"):
        sniffed = _sniffed_dialect(sample, text, len(sample) == len(lines), fixed)
        if sniffed is not None:
            return sniffed
    best, best_score = None, -1.0
    for cand in _dialects(text, fixed):
        score = dialect_score(_records(sample, cand))
        if best is None or score > best_score * 1.000001:
            best, best_score = cand, score
    assert best is not None
    return best, None


def _sniffed_dialect(
    sample: list[str], text: str, whole: bool, fixed: str | None
) -> tuple[Dialect, int | None] | None:
    """The delimiter and header line detection chose (:func:`~kpicli.ingest.detect.choose`),
    the dialect refined, when most records from its header on have the header's width;
    else None."""
    choice = choose(text, whole, fixed, None)
    base = Dialect(choice.delimiter)
    recs = _records(sample, base)
    top = choice.recs[choice.header][0] if choice.header >= 0 else 1
    below = [r for r in recs if r.start >= top - 1 and not r.blank]  # header on (0-based)
    cells = [r for r in below if sum(1 for c in r.cells if c.strip(WS)) > 1]
    body = [r for r in cells if r.start >= top]
    ratio = _consistency(body, choice.width) if len(body) > 1 else 1.0
    # most records from the header on with a single cell: not the file's delimiter
    if choice.width >= 2 and ratio >= 0.9 and 2 * len(cells) >= len(below):
        dialect = _refine(base, sample, text, choice.width, ratio)
        return dialect, (top if choice.header >= 0 else None)
    return None


def _dialects(text: str, fixed: str | None) -> list[Dialect]:
    """Every dialect a text may be written in: delimiters (``fixed`` when set), quotes,
    escapes, ``, ``."""
    if fixed is not None:
        delims = [fixed]
    else:
        delims = [d for d in (",", ";", "\t", "|", " ") if d in text] or [","]
    quotes = ['"'] + (["'"] if "'" in text else [])
    candidates: list[Dialect] = []
    for d in delims:
        for q in quotes:
            escapes: list[str | None] = [None]
            if "\\" + q in text:
                escapes.append("\\")
            for e in escapes:
                candidates.append(Dialect(d, q, e))
                if d == "," and ", " in text:
                    candidates.append(Dialect(d, q, e, skip_space=True))
    return candidates


def _refine(base: Dialect, sample: list[str], text: str, width: int, ratio: float) -> Dialect:
    """The sniffed dialect, with ``, `` or a backslash escape when the file shows them."""
    recs = [r for r in _records(sample, base) if not r.blank]
    after = [c for r in recs for c in r.cells[1:] if c]
    if base.delimiter == "," and after and sum(c[0] == " " for c in after) >= 0.95 * len(after):
        base = Dialect(",", base.quote, None, skip_space=True)
    if "\\" + base.quote in text:
        alt = Dialect(base.delimiter, base.quote, "\\", base.skip_space)
        if dialect_score(_records(sample, alt)) > 1.05 * dialect_score(_records(sample, base)):
            base = alt
    return base


# ---------------------------------------------------------------------------- structure


def _run_start(recs: list[_Rec], run: int = 4) -> int | None:
    """Index of the first record that opens ``run`` consecutive records of one width (≥ 2)
    and more than one filled cell (a preamble line padded with delimiters does not count);
    a blank line ends a run."""
    n = len(recs)
    run = max(1, min(run, sum(1 for r in recs if not r.blank)))
    for i in range(n):
        w = len(recs[i].cells)
        if w < 2 or recs[i].blank or _filled(recs[i].cells) <= 1:
            continue
        if all(
            i + k < n and len(recs[i + k].cells) == w and not recs[i + k].blank for k in range(run)
        ):
            return i
    return None


def _first_of_common_width(recs: list[_Rec]) -> int | None:
    """The first record of the most common width (the wider of two as common), comments
    and blank lines left out; None when there is none."""
    widths = Counter(len(r.cells) for r in recs if not r.blank and not is_comment(r.cells))
    if not widths:
        return None
    width = max(widths, key=lambda w: (widths[w], w))
    return next(k for k, r in enumerate(recs) if len(r.cells) == width and not r.blank)


def _names(cells: list[str], summary: tuple[SummaryRow, ...]) -> bool:
    """A record of names, as a header is (every cell filled, none a number, a date, a time
    or a missing-value marker, no two alike), that is not a summary row (`Grand total`)."""
    if not header_like(cells):
        return False
    if any(cell_class(c) == "missing" for c in cells):
        return False
    return not is_summary_row(cells, summary or SUMMARY_ROWS)


def _level(cells: list[str], width: int) -> bool:
    """A row that can be a level of a header: the table's width, every cell a name (filled,
    not a number, a date, a time or a missing-value marker), names may repeat (a group
    over several columns)."""
    if not _fits_table(cells, width):
        return False
    texts = [c.strip(WS) for c in cells[:width]]
    return all(t and cell_class(t) not in ("number", "date", "time", "missing") for t in texts)


def _filled(cells: list[str]) -> int:
    return sum(1 for c in cells if c.strip(WS))


def _fits_table(cells: list[str], width: int) -> bool:
    return len(cells) == width or (
        len(cells) > width and not any(c.strip(WS) for c in cells[width:])
    )


class _Candidates:
    """The repairs tried on one record, each with how well its cells fit; the best wins."""

    def __init__(self, width: int, fit: Callable[[list[str]], float]):
        self.width = width
        self.fit = fit
        self.items: list[tuple[float, int, list[str], str, int]] = []  # fit, priority, …

    def add(self, cells: list[str], what: str, priority: int) -> None:
        """A repair giving ``cells`` (kept when they fill the table's width)."""
        if len(cells) == self.width:
            self.items.append((round(self.fit(cells), 6), priority, cells, what, 1))

    def best(
        self, cells: list[str] | None, current: list[str] | None
    ) -> tuple[list[str], str, int] | None:
        """(cells, what was done, lines used) of the best repair, None when none fits better
        than the record as it is: ``current`` (cells of the right width), else ``cells``
        padded (a margin asked, but of a quote read as text)."""
        if not self.items:
            return None
        best = max(self.items, key=lambda c: (c[0], c[1]))
        if current is not None:
            if best[2] == current:
                return None
        elif cells is not None and len(cells) <= self.width:
            margin = 1e-6 if best[1] >= 5 else 0.3 / self.width  # a quote read as text: none
            if best[0] < self.fit(_pad(cells, self.width)) + margin:
                return None
        return best[2], best[3], best[4]


class _Reader:
    def __init__(
        self,
        lines: list[str],
        dialect: Dialect,
        *,
        skip_rows: int | None,
        summary: tuple[SummaryRow, ...],
        width: int | None,
        wide: str,
        guess: bool = True,
        detected: int | None = None,
    ):
        self.lines = lines
        self.detected = detected  # the header line detection chose (1-based), if any
        self.dialect = dialect
        self.skip = skip_rows
        self.summary = summary
        self.fixed_width = width
        self.wide = wide  # "widen" (kpi clean) or "keep" (the caller reports it)
        self.guess = guess  # cut a cell in two, regroup words: repairs that guess values
        self.notes: list[Note] = []
        self.dropped: Counter = Counter()

    def drop(self, why: str, n: int = 1) -> None:
        self.dropped[why] += n

    # -- the table's frame: width, header, end

    def frame(self, recs: list[_Rec]) -> tuple[int, int, int]:
        """(width, header index, end index) over the first-pass records."""
        if self.skip is not None:
            usable = [i for i, r in enumerate(recs) if r.start >= self.skip and not r.blank]
            if not usable:
                return 0, -1, len(recs)
            h = usable[0]
            width = self.fixed_width or len(recs[h].cells)
            return width, h, self._end(recs, h, width)
        s = _run_start(recs)
        if s is None:  # no run of records alike (a small file): detection's header
            s = self._detected_header(recs)
        if s is None:
            s = _first_of_common_width(recs)
        if s is None:
            return 0, -1, len(recs)
        width = self.fixed_width or len(recs[s].cells)
        h = s if header_like(recs[s].cells) else self._header_above(recs, s, width)
        return width, h, self._end(recs, h, width)

    def _header_above(self, recs: list[_Rec], s: int, width: int) -> int:
        """The header of a table whose run of records starts at ``s`` with no header: the
        nearest record above whose cells (repaired if need be) fill the table's width and
        look like a header; without one, the rows of data from the top (no header)."""
        rows = [r.cells for r in recs[s : s + PROFILE_RECORDS] if len(r.cells) == width]
        profile = _Profile(rows, width, self.dialect.quote, self.dialect.delimiter)
        k = s - 1
        while k >= 0:
            rec = recs[k]
            if rec.blank or is_comment(rec.cells):
                break  # a preamble above
            cells = rec.cells
            if not _fits_table(cells, width):
                fixed = self.repair(rec, width, profile) or self.repair(
                    rec, width, profile, header=True
                )
                if fixed is not None:
                    cells = fixed[0]
                elif k == s - 1 and width > len(cells) >= width - 1:
                    cells = _pad(cells, width)  # a header short of a cell, just above
                else:
                    break
            if header_like(cells[:width]):
                return k
            k -= 1
        return k + 1

    def _detected_header(self, recs: list[_Rec]) -> int | None:
        """The index of the record detection chose as the header, None without one."""
        if self.detected is None:
            return None
        return next((i for i, r in enumerate(recs) if r.start + 1 == self.detected), None)

    def _end(self, recs: list[_Rec], h: int, width: int) -> int:
        """Where a second table starts (its header-like record), else the end."""
        header = [c.strip(WS) for c in recs[h].cells]
        n = len(recs)
        for i in range(h + 1, n):
            cells = recs[i].cells
            if recs[i].blank or len(cells) < 2 or not _names(cells, self.summary):
                continue
            if [c.strip(WS) for c in cells] == header:
                continue  # the header repeated: the same table goes on
            w = len(cells)
            below = [r for r in recs[i + 1 : i + 4] if not r.blank]
            consistent = len(below) >= 2 and all(len(r.cells) == w for r in below)
            if consistent and (w != width or not any(header_like(r.cells) for r in below)):
                return i
        return n

    def header_block(self, recs: list[_Rec], h: int, width: int, end: int) -> tuple[int, list[int]]:
        """(header index, the records the header spreads over) given the header ``h``.

        A header may spread over rows (a group row over the names, or the same names
        repeated): the records right under ``h``, of the table's width, every cell a name
        (filled, none a number or a date, no two alike) are more rows of it, as long as
        ``h`` itself has every cell filled with names and the table's data has a column
        of numbers, dates or times (where the names stand out). A record like that under
        a header that is not (empty cells: a title, a note) makes that one a preamble line.
        """
        below = h + 1
        if below >= len(recs) or not self._typed_below(recs, below, width):
            return h, [h]
        if not _level(recs[h].cells, width):
            nxt = recs[below]
            if end == below and len(nxt.cells) == width and _names(nxt.cells, self.summary):
                return below, [below]  # a preamble line of the table's width above it
            return h, [h]
        block = [h]
        for i in range(below, min(len(recs), h + MAX_HEADER_ROWS)):
            cells = recs[i].cells
            if recs[i].blank or not _fits_table(cells, width):
                break
            if not _names(cells[:width], self.summary):
                break
            block.append(i)
        if block[-1] + 1 >= len(recs) or not self._typed_below(recs, block[-1] + 1, width):
            return h, [h]  # names all the way down: not a header over data
        return h, block

    def _typed_below(self, recs: list[_Rec], start: int, width: int) -> bool:
        """Whether the records from ``start`` on (the first that are not names) have a
        column of numbers, dates or times."""
        rows = []
        for r in recs[start:]:
            if r.blank or not _fits_table(r.cells, width) or header_like(r.cells[:width]):
                continue
            rows.append(r.cells)
            if len(rows) >= 200:
                break
        for j in range(width):
            kinds = [cell_class(c[j]) for c in rows if c[j].strip(WS)]
            typed = sum(1 for k in kinds if k in ("number", "date", "time"))
            if len(kinds) >= 2 and typed >= 0.8 * len(kinds):
                return True
        return False

    # -- repairs

    def repair(
        self,
        rec: _Rec,
        width: int,
        profile: _Profile,
        *,
        header: bool = False,
        current: list[str] | None = None,
    ) -> tuple[list[str], str, int] | None:
        """(cells, what was done, physical lines used) for a record of the wrong width, or
        (``current``: cells of the right width) one whose line has an odd number of quotes;
        None when nothing fits better than the record as it is (padded)."""
        line = self.lines[rec.start]
        found = _Candidates(width, _header_fit if header else profile.row_fit)
        self._quote_repairs(line, found)
        single = rec.end - rec.start == 1
        cells = current or (rec.cells if single else _parse_line(line, self.dialect))
        if current is not None:
            found.add(current, "", 1)
        elif cells is not None:
            self._width_repairs(cells, found, profile, header)
        if current is None and (cells is None or len(cells) < width):
            self._resplit(line, found, profile, header)
        return found.best(cells, current)

    def _quote_repairs(self, line: str, found: _Candidates) -> None:
        """A stray quote read as a literal character; quotes inside a quoted cell not
        doubled; (guessing) a delimiter lost before a quoted cell."""
        d = self.dialect
        quotes = [i for i, ch in enumerate(line) if ch == d.quote][:MAX_QUOTES]
        if not quotes:
            return
        bare = line.rstrip("\r\n")
        found.add(_lenient(bare, d), "quotes inside a cell read as text", 6)
        if self.guess:
            found.add(_lenient(bare, d, glued=True), "a lost delimiter put back before a quote", 5)
        for p in quotes:
            cells = _parse_line(line[:p] + _PH + line[p + 1 :], d)
            if cells is not None:
                found.add([c.replace(_PH, d.quote) for c in cells], "a stray quote read as text", 5)

    def _width_repairs(
        self, cells: list[str], found: _Candidates, profile: _Profile, header: bool
    ) -> None:
        """A record a cell too wide or too narrow: a surplus empty cell dropped, a lost
        delimiter put back, empty cells at the end dropped, words of an unquoted cell put
        back together (a file written with spaces)."""
        n, width = len(cells), found.width
        if n == width + 1:  # a surplus empty cell
            for j, c in enumerate(cells):
                if not c.strip(WS):
                    found.add(cells[:j] + cells[j + 1 :], "a surplus delimiter dropped", 4)
        if n == width - 1 and width >= 2 and self.guess:  # a lost delimiter
            for split in self._splits(cells, width, profile, header):
                found.add(split, "a lost delimiter put back", 3)
        if n > width and not any(c.strip(WS) for c in cells[width:]):
            found.add(cells[:width], "empty cells at the end dropped", 4)
        if n > width and self.dialect.delimiter == " " and n <= MAX_WORDS and self.guess:
            grouped = self._regroup(cells, width, profile, header)
            if grouped is not None:
                found.add(grouped, "words of an unquoted cell put back together", 2)

    def _resplit(self, line: str, found: _Candidates, profile: _Profile, header: bool) -> None:
        """A row written with another delimiter, re-split (its words regrouped when that
        delimiter is a space)."""
        d, width = self.dialect, found.width
        for other in (" ", "\t", ";", "|", ","):
            if other == d.delimiter or other not in line:
                continue
            alt = Dialect(other, d.quote, d.escape)
            words = _parse_line(line, alt)
            if words is None or len(words) < width:
                continue
            what = f"a row written with {alt.describe()} re-split"
            if len(words) == width:
                found.add(words, what, 2)
            elif other == " " and len(words) <= MAX_WORDS and self.guess:
                grouped = self._regroup(words, width, profile, header)
                if grouped is not None:
                    found.add(grouped, what, 2)

    def _splits(
        self, cells: list[str], width: int, profile: _Profile, header: bool
    ) -> list[list[str]]:
        """The best ways of cutting one cell in two (a delimiter lost between them)."""
        q = self.dialect.quote
        if header:
            return _header_splits(cells, q)
        before = [profile.fit(c, j) for j, c in enumerate(cells)]
        after = [profile.fit(c, j + 1) for j, c in enumerate(cells)]
        head = [0.0]
        for f in before:
            head.append(head[-1] + f)
        tail = [0.0]
        for f in reversed(after):
            tail.append(tail[-1] + f)
        tail.reverse()  # tail[k] = sum of after[k:]
        scored: list[tuple[float, int, int]] = []
        for k, cell in enumerate(cells):
            rest = head[k] + tail[k + 1]
            for cut in _cuts(cell):
                left, right = _unquote(cell[:cut], q), _unquote(cell[cut:], q)
                score = rest + profile.fit(left, k) + profile.fit(right, k + 1)
                if 0 < cut < len(cell) and q in (cell[cut], cell[cut - 1]):
                    score += 0.05  # at a quote: a quoted cell glued to another
                scored.append((score, k, cut))
        scored.sort(key=lambda t: -t[0])
        out = []
        for _, k, cut in scored[:3]:
            cell = cells[k]
            left, right = _unquote(cell[:cut], q), _unquote(cell[cut:], q)
            out.append([*cells[:k], left, right, *cells[k + 1 :]])
            if right.startswith(q) and right.count(q) == 1:  # "a""b": the quote opened b
                out.append([*cells[:k], left, right[1:], *cells[k + 1 :]])
        return out

    def _regroup(
        self, words: list[str], width: int, profile: _Profile, header: bool
    ) -> list[str] | None:
        """Words of a space-separated row grouped into ``width`` cells, best fit first; a
        word that holds a space was quoted, so it stays a cell of its own."""
        n = len(words)
        neg = -1e18
        best = [[neg] * (width + 1) for _ in range(n + 1)]
        back = [[0] * (width + 1) for _ in range(n + 1)]
        best[0][0] = 0.0
        for j in range(1, width + 1):
            for i in range(j, n - (width - j) + 1):
                for k in range(j - 1, i):
                    if best[k][j - 1] == neg:
                        continue
                    group = words[k:i]
                    cell = " ".join(group)
                    f = _header_fit([cell]) if header else profile.fit(cell, j - 1)
                    if len(group) > 1 and any(" " in w for w in group):
                        f -= 1.0
                    score = best[k][j - 1] + f - 0.001 * (i - k - 1)
                    if score > best[i][j]:
                        best[i][j], back[i][j] = score, k
        if best[n][width] == neg:
            return None
        out: list[str] = []
        i = n
        for j in range(width, 0, -1):
            k = back[i][j]
            out.append(" ".join(words[k:i]))
            i = k
        return out[::-1]


def _cuts(cell: str) -> list[int]:
    """Where a cell may be cut: anywhere in a short cell, else where its characters change
    kind (a letter then a digit, a space, a quote…)."""
    if len(cell) <= 200:
        return list(range(len(cell) + 1))
    kinds = [shape(ch) for ch in cell]
    return [0, *(i for i in range(1, len(cell)) if kinds[i] != kinds[i - 1]), len(cell)]


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _header_splits(cells: list[str], quote: str) -> list[list[str]]:
    """Header cells glued together, cut where a quote closes or a new word starts with a
    capital letter (``ClicksCost``, ``PRODUCTIDPrice``); the first such place wins."""
    for k, cell in enumerate(cells):
        cuts = [i for i in range(1, len(cell)) if quote in (cell[i], cell[i - 1])]
        cuts += [m.start() for m in _CAMEL.finditer(cell) if 0 < m.start() < len(cell)]
        for cut in sorted(set(cuts)):
            left, right = _unquote(cell[:cut], quote), _unquote(cell[cut:], quote)
            if right.startswith(quote) and right.count(quote) == 1:
                right = right[1:]  # `"a""b"` reads `a"b`: the quote closed a and opened b
            if left.strip(WS) and right.strip(WS):
                return [[*cells[:k], left, right, *cells[k + 1 :]]]
    return []


def _closes(line: str, start: int, delim: str, q: str) -> bool:
    """A quote at ``start`` is answered by a quote before a delimiter or the line's end."""
    k = line.find(q, start + 1)
    while k >= 0:
        if k + 1 == len(line) or line.startswith(delim, k + 1):
            return True
        k = line.find(q, k + 1)
    return False


def _lenient(line: str, d: Dialect, glued: bool = False) -> list[str]:
    """Cells of a line where a quote closes a quoted cell only before a delimiter or the
    end of the line (quotes inside it, not doubled, are text). ``glued``: a quote inside an
    unquoted cell that a closing quote answers starts a new cell (a delimiter lost before
    a quoted cell)."""
    out: list[str] = []
    i, n = 0, len(line)
    delim, q = d.delimiter, d.quote
    while True:
        if glued and i < n and line[i] != q:
            k = line.find(delim, i)
            stop = n if k < 0 else k
            m = line.find(q, i, stop)
            if m > i and _closes(line, m, delim, q):
                out.append(line[i:m])
                i = m
        if i < n and line[i] == q:
            j = i + 1
            while True:
                k = line.find(q, j)
                if k < 0:
                    out.append(line[i:])
                    return out
                if k + 1 == n or line.startswith(delim, k + 1):
                    out.append(line[i + 1 : k].replace(q * 2, q))
                    i = k + 1
                    break
                j = k + 1
        else:
            k = line.find(delim, i)
            if k < 0:
                out.append(line[i:])
                return out
            out.append(line[i:k])
            i = k
        if i >= n:
            return out
        i += len(delim)
        if i == n:
            out.append("")
            return out


def _suspect(line: str, cells: list[str], d: Dialect) -> bool:
    """A record of the right width that a stray quote may have misread: its line has an odd
    number of quotes, or a cell holds one."""
    if d.escape:
        return (line.count(d.quote) - line.count(d.escape + d.quote)) % 2 == 1
    return d.quote in line and not _well_formed(line.rstrip("\r\n"), d)


def _well_formed(text: str, d: Dialect) -> bool:
    """Every quote of a line (one record) opens a cell, closes it before a delimiter or the
    line's end, or is doubled inside a quoted cell (RFC 4180)."""
    i, n = 0, len(text)
    q, delim = d.quote, d.delimiter
    while True:
        while d.skip_space and i < n and text[i] == " ":
            i += 1
        if i < n and text[i] == q:
            i += 1
            while True:
                k = text.find(q, i)
                if k < 0:
                    return False
                if text.startswith(q, k + 1):  # a doubled quote
                    i = k + 2
                    continue
                i = k + 1
                break
            if i == n:
                return True
            if not text.startswith(delim, i):
                return False
            i += len(delim)
            continue
        k = text.find(delim, i)
        if q in text[i : k if k >= 0 else n]:
            return False
        if k < 0:
            return True
        i = k + len(delim)


def _unquote(text: str, quote: str) -> str:
    if len(text) >= 2 and text[0] == quote and text[-1] == quote:
        return text[1:-1].replace(quote * 2, quote)
    return text


def _pad(cells: list[str], width: int) -> list[str]:
    return cells + [""] * (width - len(cells))


def read_table(
    data: bytes,
    *,
    encoding: str = "auto",
    delimiter: str = "auto",
    skip_rows: int | str = "auto",
    summary: tuple[SummaryRow, ...] = SUMMARY_ROWS,
    width: int | None = None,
    wide: str = "widen",
    guess: bool = True,
) -> Table:
    """Read a whole file's bytes into a :class:`Table` (see the module docstring).

    ``width`` fixes the table's width (the fallback of the fast path keeps the header its
    sniff found); ``wide="widen"`` adds unnamed columns for rows with more cells than the
    header, ``"keep"`` leaves such rows longer (the caller reports them). ``guess=False``
    leaves out the repairs that guess where a value ends (a cell cut in two, words regrouped):
    the reader of `kpi report` pads such rows instead, and says so.
    Raises SniffError only for an explicit encoding that does not decode the file.
    """
    if encoding != "auto" and encoding not in CODECS and not _known_codec(encoding):
        raise SniffError(
            f"unknown encoding `{encoding}`",
            hint="utf-8, utf-16, cp1252, latin-1, or any Python codec (cp1253, shift_jis…)",
        )
    text, codec, bom, notes = decode(data, encoding)
    lines = split_lines(text)
    dialect, detected = detect_layout(lines, delimiter)
    skip = None if skip_rows == "auto" else int(skip_rows)
    reader = _Reader(
        lines,
        dialect,
        skip_rows=skip,
        summary=summary,
        width=width,
        wide=wide,
        guess=guess,
        detected=detected,
    )
    reader.notes.extend(notes)
    header, rows, row_lines, header_line, preamble, header_rows = _read(reader)
    table = Table(
        header=header,
        rows=rows,
        lines=row_lines,
        header_line=header_line,
        encoding=codec,
        bom=bom,
        dialect=dialect,
        preamble=preamble,
        notes=reader.notes,
        dropped=reader.dropped,
        header_rows=header_rows,
    )
    if wide == "widen":
        most = max((len(r) for r in rows), default=len(header))
        if most > len(header):
            table.header = header + [""] * (most - len(header))
            table.rows = [r + [""] * (most - len(r)) for r in rows]
    return table


def _read(
    reader: _Reader,
) -> tuple[list[str], list[list[str]], list[int], int, list[str], int]:
    """(header, rows, their lines, header line, preamble, header rows) of the whole file."""
    recs = _records(reader.lines, reader.dialect)
    if not recs:
        return [], [], [], 0, [], 1
    width, h, end = reader.frame(recs)
    if h < 0:
        return [], [], [], 0, [], 1
    block = [h]
    if reader.skip is None:
        first = h
        h, block = reader.header_block(recs, h, width, end)
        if block != [first]:
            end = reader._end(recs, block[-1], width)
    profile_rows = [r.cells for r in recs[h + 1 : end] if len(r.cells) == width and not r.blank]
    profile = _Profile(
        profile_rows[:PROFILE_RECORDS], width, reader.dialect.quote, reader.dialect.delimiter
    )
    preamble = [reader.dialect.delimiter.join(r.cells).strip(WS) for r in recs[:h] if not r.blank]
    if preamble:
        reader.drop("preamble lines", len(preamble))
    head_rec = recs[block[-1]]
    header = _header_cells(reader, [recs[b] for b in block], width, profile)
    stop = _second_table(reader, recs, end)
    names = header if len(block) == 1 else head_rec.cells[:width]  # what a repeat looks like
    rows, lines, padded = _body(reader, head_rec.end, stop, width, names)
    rows, lines = _footer(reader, rows, lines, padded)
    return header, rows, lines, recs[block[0]].start + 1, preamble, len(block)


def _header_cells(reader: _Reader, block: list[_Rec], width: int, profile: _Profile) -> list[str]:
    """The header's names, ``width`` of them: the cells of a header on several rows joined
    column by column, else those of its record, repaired when they do not fill the width
    (or a stray quote may have misread them)."""
    head_rec = block[-1]
    header = head_rec.cells
    if len(block) > 1:  # a header on several rows: their cells joined, column by column
        levels = [r.cells for r in block]
        header = [
            " ".join(c[j].strip(WS) for c in levels if j < len(c) and c[j].strip(WS))
            for j in range(width)
        ]
        first, last = block[0].start + 1, head_rec.start + 1
        reader.notes.append(
            Note(
                first,
                "header",
                f"the header spreads over lines {first}-{last}: their cells are joined, "
                "column by column",
            )
        )
    else:
        fixed = None
        if not _fits_table(header, width):
            fixed = reader.repair(head_rec, width, profile, header=True)
        elif head_rec.end - head_rec.start == 1 and _suspect(
            reader.lines[head_rec.start], header, reader.dialect
        ):
            fixed = reader.repair(head_rec, width, profile, header=True, current=header[:width])
        if fixed is not None:
            header = fixed[0]
            reader.notes.append(Note(head_rec.start + 1, "repaired", f"header: {fixed[1]}"))
    return list(header[:width]) + [""] * (width - len(header))


def _second_table(reader: _Reader, recs: list[_Rec], end: int) -> int | None:
    """The line index where a second table starts (``recs[end]``), its lines counted as
    dropped; None when the table goes on to the end of the file."""
    if end >= len(recs):
        return None
    stop = recs[end].start
    tail = sum(1 for r in recs[end:] if not r.blank)
    reader.notes.append(
        Note(
            stop + 1,
            "table",
            f"a second table starts here ({len(recs[end].cells)} columns); it is left "
            f"out ({tail} lines)",
        )
    )
    reader.drop("lines of a second table", tail)
    return stop


def _body(
    reader: _Reader, start: int, stop: int | None, width: int, header: list[str]
) -> tuple[list[list[str]], list[int], list[bool]]:
    """The rows under the header, repaired; and which of them were narrow (padded)."""
    d = reader.dialect
    first = _records(reader.lines, d, start, stop)
    good = [r.cells for r in first if len(r.cells) == width and not r.blank]
    profile = _Profile(good[:PROFILE_RECORDS], width, d.quote, d.delimiter)
    head = [c.strip(WS) for c in header]
    rows: list[list[str]] = []
    lines: list[int] = []
    narrow: list[bool] = []
    repeats: list[tuple[int, int]] = []  # (rows read before it, line) of each repeated header
    feed = _Feed(reader.lines, start, stop)
    rd = csv.reader(feed, **d.kwargs())
    begin = feed.pos
    under = True  # right under the header: a wider summary record there is dropped
    while True:
        try:
            cells = next(rd)
        except StopIteration:
            break
        except csv.Error:
            cells = [reader.lines[begin].rstrip("\r\n")]
            feed.pos = begin + 1
            rd = csv.reader(feed, **d.kwargs())
        rec = _Rec(begin, feed.pos, cells)
        begin = feed.pos
        if under and len(cells) > width and summary_in(cells, reader.summary) is not None:
            reader.drop("summary rows")  # as detection skips it (GA4's `Grand total` row)
            continue
        under = False
        if rec.blank:
            reader.drop("blank lines")
            continue
        if reader.summary and is_summary_row(cells, reader.summary):
            reader.drop("summary rows")
            continue
        cells, short, used = _fix_row(reader, rec, width, profile)
        if rec.end - rec.start > used:  # the lines a repaired record had swallowed: read again
            feed.pos = begin = rec.start + used
            rd = csv.reader(feed, **d.kwargs())
        if [c.strip(WS) for c in cells] == head:
            reader.drop("repeated header lines")
            repeats.append((len(rows), rec.start + 1))
            continue
        rows.append(cells)
        lines.append(rec.start + 1)
        narrow.append(short)
    if repeats:
        rows, lines, narrow = _repeated_tables(reader, rows, lines, narrow, repeats)
    return rows, lines, narrow


def _fix_row(
    reader: _Reader, rec: _Rec, width: int, profile: _Profile
) -> tuple[list[str], bool, int]:
    """(cells, padded, physical lines used) of a record under the header: of the table's
    width, repaired when it is not (or a stray quote may have misread it), else padded
    (narrow) or kept whole (wide); each repair a note."""
    cells, d, line_no = rec.cells, reader.dialect, rec.start + 1
    spanned = rec.end - rec.start
    surplus = "" in cells[:width] or d.delimiter == " "  # which empty cell is the surplus?
    if _fits_table(cells, width) and len(cells) > width and surplus:
        fixed = reader.repair(rec, width, profile)
        if fixed is not None and fixed[0] != cells[:width]:
            reader.notes.append(Note(line_no, "repaired", fixed[1]))
        return (fixed[0] if fixed is not None else cells[:width]), False, spanned
    if _fits_table(cells, width):
        cells = cells[:width]
        if spanned == 1 and _suspect(reader.lines[rec.start], cells, d):
            fixed = reader.repair(rec, width, profile, current=cells)
            if fixed is not None:
                cells = fixed[0]
                reader.notes.append(Note(line_no, "repaired", fixed[1]))
        return cells, False, spanned
    fixed = reader.repair(rec, width, profile)
    if fixed is not None:
        reader.notes.append(Note(line_no, "repaired", fixed[1]))
        return fixed[0], False, min(fixed[2], spanned)
    if len(cells) < width:
        reader.notes.append(
            Note(
                line_no,
                "padded",
                f"{len(cells)} cells where the header has {width}: padded with empty cells",
            )
        )
        return cells + [""] * (width - len(cells)), True, spanned
    while len(cells) > width and not cells[-1].strip(WS):
        cells = cells[:-1]
    reader.notes.append(
        Note(
            line_no,
            "wide",
            f"{len(cells)} cells where the header has {width}",
            tuple(cells[width:]),
        )
    )
    return cells, False, spanned


def _repeated_tables(
    reader: _Reader,
    rows: list[list[str]],
    lines: list[int],
    narrow: list[bool],
    repeats: list[tuple[int, int]],
) -> tuple[list[list[str]], list[int], list[bool]]:
    """Under a repeated header, the rows that repeat rows above it, when most of them do:
    the same table given twice (a copy, an export downloaded again) is read once, so that
    no row counts twice. Rows under a repeated header that are new (the next month of
    concatenated exports) are kept."""
    keep = [True] * len(rows)
    bounds = [b for b, _ in repeats] + [len(rows)]
    for (start, line_no), stop in zip(repeats, bounds[1:], strict=True):
        seen = Counter(tuple(r) for r, k in zip(rows[:start], keep, strict=False) if k)
        copies = []
        for i in range(start, stop):
            key = tuple(rows[i])
            if seen[key]:
                seen[key] -= 1
                copies.append(i)
        if not copies or 2 * len(copies) < stop - start:
            continue
        for i in copies:
            keep[i] = False
        reader.notes.append(
            Note(
                line_no,
                "table",
                f"the header repeats here and {len(copies)} of the {stop - start} rows under "
                "it repeat rows above (the same table twice): they are left out",
            )
        )
        reader.drop("rows of a repeated table", len(copies))
    if all(keep):
        return rows, lines, narrow
    pick = [i for i, k in enumerate(keep) if k]
    return [rows[i] for i in pick], [lines[i] for i in pick], [narrow[i] for i in pick]


def _footer(
    reader: _Reader, rows: list[list[str]], lines: list[int], narrow: list[bool]
) -> tuple[list[list[str]], list[int]]:
    """Lines after the data that are notes, not rows: short lines of one filled cell."""
    cut = len(rows)
    while cut > 1 and narrow[cut - 1] and sum(1 for c in rows[cut - 1] if c.strip(WS)) <= 1:
        cut -= 1
    if cut == len(rows):
        return rows, lines
    gone = set(lines[cut:])
    reader.notes[:] = [n for n in reader.notes if not (n.line in gone and n.kind == "padded")]
    reader.drop("footer lines", len(rows) - cut)
    return rows[:cut], lines[:cut]


# ---------------------------------------------------------------------------- the fallback


def fallback_reason(layout: Layout, summary: tuple[SummaryRow, ...] = ()) -> str | None:
    """Why ``pl.scan_csv`` cannot read a file as its sample shows it, None when it can.

    Polars fails on a record with more cells than the header (unless they are empty); a
    record with fewer cells than the header and more than one filled cell is what a stray
    quote or a lost delimiter leaves: Polars would read it without a word, shifted. A file
    cut short (its last line) is left to the fast path, which reports it.
    """
    width = layout.width
    if layout.ragged and not layout.truncate_ragged:
        line, n = layout.ragged[0]
        return f"line {line} has {n} cells where the header has {width}"
    last = layout.record_lines[-1] if layout.truncated and layout.record_lines else None
    for line, cells in zip(layout.record_lines, layout.records, strict=False):
        if line == last:
            continue  # a cut download: reported as such, never repaired
        if len(cells) < width and _filled(cells) > 1 and not is_summary_row(cells, summary):
            return f"line {line} has {len(cells)} cells where the header has {width}"
    return None


@dataclass(frozen=True)
class Fallback:
    """A file read by the tolerant reader for the fast path: clean CSV and what to say."""

    data: bytes  # UTF-8, comma-separated, the sniffed header's columns
    #: the warnings, in order: how the file was read (rows repaired, padded, cut to the
    #: header), then rows left out and how the bytes were decoded
    notes: tuple[str, ...]
    #: read now; False when the caller's memo had it (its notes were given then)
    fresh: bool = True


def tolerant_csv(layout: Layout, memo: ReadMemo | None = None) -> Fallback:
    """A file the fast path cannot read, read by the tolerant reader with the header its
    sniff found, as clean CSV for ``pl.scan_csv`` (summary rows kept: the scan drops and
    counts them), with the warnings the caller gives (nothing is reported here). ``memo``:
    the caller's memory of files already read (None: the file is read).

    A record that keeps more cells than the header (no repair placed them) is read with the
    header's cells, the surplus left out, and the warning names its line and what was left
    out: the row as `kpi clean` writes it, under the header's columns.
    """
    key = layout.key or (str(layout.path), layout.size)
    if memo is not None and (known := memo.repair(key)) is not None:
        return dataclasses.replace(known, fresh=False)
    data = layout.read_bytes()  # read-only (a packed file unpacked in memory)
    option = "auto"
    if not layout.detected:  # an encoding set on the source is kept
        option = "utf-16" if layout.encoding.startswith("utf-16") else layout.encoding
    table = read_table(
        data,
        encoding=option,
        delimiter=layout.delimiter,
        skip_rows=layout.header_line - 1,
        summary=(),
        width=layout.width,
        wide="keep",
        guess=False,
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(layout.header)
    writer.writerows(row[: layout.width] for row in table.rows)
    result = Fallback(out.getvalue().encode("utf-8"), _fallback_notes(layout, table))
    if memo is not None:
        memo.keep_repair(key, result)
    return result


def _fallback_notes(layout: Layout, table: Table) -> tuple[str, ...]:
    """The warnings of a file read by :func:`tolerant_csv`: why and what was repaired (the
    first three rows), then rows left out (a second table) and how the bytes were decoded."""
    kept = set(table.lines)
    fixed = [n for n in table.notes if n.kind in ("repaired", "padded", "wide")]
    shown = "; ".join(f"line {n.line}: {_cut_message(n, kept)}" for n in fixed[:3])
    more = f" (and {len(fixed) - 3} more)" if len(fixed) > 3 else ""
    said = [
        f"{layout.path}: {layout.tolerant or 'the fast reader cannot read it'}; read with the "
        f"tolerant reader instead" + (f": {shown}{more}" if shown else "")
    ]
    for note in table.notes:
        if note.kind in ("table", "decoded"):
            where = f"line {note.line}: " if note.line and note.kind == "table" else ""
            said.append(f"{layout.path}: {where}{note.message}")
    return tuple(said)


def _cut_message(note: Note, kept: set[int | None]) -> str:
    """A note's message; for a wide row that is kept, what cutting it to the header's width
    leaves out."""
    if note.kind != "wide" or not note.extra or note.line not in kept:
        return note.message
    cells = "cells" if len(note.extra) > 1 else "cell"
    shown = ", ".join(repr(c) for c in note.extra)
    return f"{note.message}: the {cells} past the header's left out ({shown})"
