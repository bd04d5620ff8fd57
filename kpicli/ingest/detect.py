"""Detection on a bounded sample: encoding, delimiter, header row, preamble, footer, period.

:func:`sniff` reads at most :data:`SAMPLE_BYTES` from the start of a file and
:data:`TAIL_BYTES` from its end (never the whole of a big file), and returns a
:class:`Layout`: everything the reader needs to hand the file to ``pl.scan_csv`` (the
lines to skip, the delimiter, the header) and what `kpi sources` shows (encoding, preamble,
the period the preamble states, the footer). The data itself is never read here.

- Encoding: a UTF-8 or UTF-16 byte-order mark; else UTF-16 when every other byte is NUL;
  else UTF-8 when the sample decodes as UTF-8; else each line is decoded on its own: UTF-8
  when it is, else cp1252 (latin-1 for the five bytes cp1252 leaves undefined). A file whose
  lines mix the two is :data:`MIXED` (a warning names the cp1252 lines); one without a
  UTF-8 line is cp1252. A UTF-8 sample whose file turns out not to be UTF-8 further on is
  read again line by line (:func:`mark_mixed`).
- Delimiter: of ``,`` ``;`` tab ``|``, the one that splits the most records (from the header
  on) into the same number of cells, the header counting; quoting is respected.
- Header: the first record with that number of cells, after the preamble (report-name and
  date-range lines, ``#`` comment lines, blank lines). A record just under the header with
  a different width that is a summary (GA4 explorations' ``Grand total`` row) is skipped.
- Footer: at the end of the file, after a blank line, the lines of a single cell (Microsoft's
  copyright, Salesforce's confidentiality lines): dropped by their exact text.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from kpicli.ingest.values import WS, detect_date, parse_date_text, parse_number, py_date
from kpicli.spec.presets import PREAMBLE_FACTS, SummaryRow

#: Bytes read from the start of a file to detect its layout and the kinds of its columns.
SAMPLE_BYTES = 128 * 1024
#: Records of the sample used at most (a few thousand lines).
SAMPLE_RECORDS = 5000
#: Bytes read from the end of a big file to find its footer.
TAIL_BYTES = 16 * 1024
DELIMITERS = (",", ";", "\t", "|")

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
#: Option value → Python codec.
CODECS = {"utf-8": "utf-8", "utf-16": "utf-16-le", "cp1252": "cp1252", "latin-1": "latin-1"}


class SniffError(Exception):
    """The file cannot be decoded or holds no header; ``hint`` says what to set."""

    def __init__(self, message: str, hint: str | None = None, line: int | None = None):
        super().__init__(message)
        self.hint = hint
        self.line = line


@dataclass(frozen=True)
class Period:
    """The period a report's preamble states (``text`` as written)."""

    text: str
    start: date | None = None
    end: date | None = None


@dataclass
class Layout:
    """How one file is laid out, as far as its sample shows."""

    path: Path
    size: int
    encoding: str  # a Python codec: utf-8, utf-16-le, utf-16-be, cp1252, latin-1; or MIXED
    bom: bool
    newline: str  # "\n", "\r\n" or "\r"
    delimiter: str
    header_line: int  # 1-based line of the header in the file
    header: list[str]  # header cells as written
    preamble: list[str] = field(default_factory=list)  # lines above the header, with text
    skip_after_header: int = 0  # summary records right under the header, of another width
    skipped: dict[str, int] = field(default_factory=dict)  # those, by reason
    footer: tuple[str, ...] = ()  # single-cell lines after a blank line at the end
    blank_lines: bool = False  # blank lines after the header (Polars reads them as null rows)
    truncate_ragged: bool = False  # records with extra cells, all empty (trailing delimiters)
    ragged: list[tuple[int, int]] = field(default_factory=list)  # (line, cells) wider than header
    records: list[list[str]] = field(default_factory=list)  # sampled data records
    tail: list[list[str]] = field(default_factory=list)  # the last records of the file
    record_lines: list[int] = field(default_factory=list)  # their first line
    complete: bool = True  # the sample is the whole file
    period: Period | None = None
    stated_rows: int | None = None  # a preamble's "Rows: N"
    key: tuple = ()  # the file's identity (path, size, mtime) and the options it was read with
    truncated: str | None = None  # why the last line looks cut short (no final newline and…)
    tolerant: str | None = None  # why the fast path cannot read it: read by tolerant.py
    detected: bool = True  # the encoding was detected (``encoding: auto``), not set

    def decode(self, data: bytes) -> Decoded:
        """The text of the whole file (its bytes), as this layout says to decode it."""
        return decode_file(data, self.encoding, detected=self.detected)

    @property
    def in_memory(self) -> bool:
        """Polars reads UTF-8 with LF or CRLF: anything else is transcoded in memory first
        (and a file the tolerant reader repairs is handed over as clean CSV)."""
        return self.encoding != "utf-8" or self.newline == "\r" or self.tolerant is not None

    @property
    def skip_lines(self) -> int:
        return self.header_line - 1

    @property
    def width(self) -> int:
        return len(self.header)


# ---------------------------------------------------------------------------- encoding


#: The codec of a file whose lines mix UTF-8 and cp1252: each line is decoded on its own.
MIXED = "utf-8+cp1252"
#: Codecs a detected encoding may have that are decoded line by line (see :func:`decode_lines`).
LINE_BY_LINE = ("utf-8", "cp1252", "latin-1", MIXED)
_SURROGATE = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True)
class Decoded:
    """A file's text and how it was decoded."""

    text: str
    codec: str  # utf-8, cp1252, latin-1, or MIXED (some lines UTF-8, others cp1252)
    cp1252_lines: tuple[int, ...] = ()  # in a MIXED file, the lines (1-based) read as cp1252
    #: in a MIXED file, lines (1-based) with UTF-8 characters: the first ones, one more than
    #: the cp1252 lines at most (enough to tell which encoding the odd lines have)
    utf8_lines: tuple[int, ...] = ()


def _single_byte(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined
        return data.decode("latin-1"), "latin-1"


def decode_lines(data: bytes) -> Decoded:
    """Each line decoded as UTF-8 when it is valid UTF-8, else as cp1252 (latin-1 for the
    bytes cp1252 leaves undefined): one odd line never decides how the others read.

    A file without a single UTF-8 multi-byte character is cp1252 as a whole (no line is
    UTF-8 but ASCII ones, which read the same either way); one that mixes is :data:`MIXED`.
    """
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    loose = data.decode("utf-8", "surrogateescape")  # each byte that is not UTF-8: a surrogate
    if len(loose) == len(data):  # no multi-byte UTF-8 character anywhere
        return Decoded(*_single_byte(data))
    pieces: list[str] = []
    odd: list[int] = []
    kept_ascii = True
    done = 0  # end of what is already in pieces
    line = 1  # the line number at ``done``
    for m in _SURROGATE.finditer(loose):
        if m.start() < done:
            continue  # another bad byte of a line already read as cp1252
        start = max(loose.rfind("\n", done, m.start()), loose.rfind("\r", done, m.start())) + 1
        start = max(start, done)
        stop = _line_end(loose, m.start())
        kept = loose[done:start]
        kept_ascii = kept_ascii and kept.isascii()
        line += _breaks(kept)
        pieces.append(kept)
        pieces.append(_single_byte(loose[start:stop].encode("utf-8", "surrogateescape"))[0])
        odd.append(line)
        line += _breaks(loose[start:stop])
        done = stop
    rest = loose[done:]
    pieces.append(rest)
    text = "".join(pieces)
    if kept_ascii and rest.isascii():  # the only non-ASCII lines are cp1252
        return Decoded(text, "cp1252" if odd else "utf-8")
    return Decoded(text, MIXED, tuple(odd), _utf8_lines(text, odd))


_NON_ASCII = re.compile("[^\x00-\x7f]")


def _utf8_lines(text: str, odd: list[int]) -> tuple[int, ...]:
    """Lines of ``text`` with non-ASCII characters that are not in ``odd``: the first
    ``len(odd) + 1`` of them."""
    skip = set(odd)
    found: list[int] = []
    line, pos, last = 1, 0, 0
    for m in _NON_ASCII.finditer(text):
        line += _breaks(text[pos : m.start()])
        pos = m.start()
        if line != last and line not in skip:
            found.append(line)
            if len(found) > len(odd):
                break
        last = line
    return tuple(found)


def _line_end(text: str, i: int) -> int:
    """The index after the line break that ends the line holding ``text[i]``."""
    ends = [k for k in (text.find("\n", i), text.find("\r", i)) if k >= 0]
    if not ends:
        return len(text)
    k = min(ends)
    return k + 2 if text.startswith("\r\n", k) else k + 1


def _breaks(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _detect_encoding(head: bytes) -> tuple[str, int]:
    """(codec, BOM length) from the first bytes."""
    if head.startswith(codecs.BOM_UTF8):  # UTF-8, says the file: but a line may not be
        return _utf8_or_mixed(head[len(codecs.BOM_UTF8) :]), len(codecs.BOM_UTF8)
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec, len(bom)
    sample = head[:4096]
    if len(sample) >= 4:
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if odd > len(sample) // 4 and even == 0:
            return "utf-16-le", 0
        if even > len(sample) // 4 and odd == 0:
            return "utf-16-be", 0
    return _utf8_or_mixed(head), 0


def _utf8_or_mixed(head: bytes) -> str:
    """UTF-8 when the sample is, else what decoding it line by line finds (cp1252 or
    :data:`MIXED`)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    # the last line may be cut inside a character: left out of the decision
    cut = max(head.rfind(b"\n"), head.rfind(b"\r"))
    return decode_lines(head[: cut + 1] if cut > 0 else head).codec


def _explicit_encoding(head: bytes, option: str) -> tuple[str, int]:
    codec = CODECS[option]
    if option == "utf-16":
        for bom, c in _BOMS[1:]:
            if head.startswith(bom):
                return c, len(bom)
        return codec, 0
    if option == "utf-8" and head.startswith(codecs.BOM_UTF8):
        return codec, 3
    return codec, 0


def _decode(data: bytes, codec: str, final: bool, *, what: str = "the file") -> str:
    if codec == MIXED:
        return decode_lines(data).text
    try:
        return codecs.getincrementaldecoder(codec)().decode(data, final=final)
    except UnicodeDecodeError as err:
        raise SniffError(
            f"cannot decode {what} as {codec} (byte {err.start})",
            hint="set `encoding:` on the source (utf-8, utf-16, cp1252, latin-1)",
        ) from None


def decode_file(data: bytes, codec: str, *, detected: bool = False) -> Decoded:
    """A whole file's text (in-memory transcoding of non-UTF-8 files), BOM left out.

    ``detected``: the codec was detected from a sample, not set: a file detected as UTF-8,
    cp1252 or a mix of both is decoded line by line (:func:`decode_lines`), so that lines
    past the sample in the other encoding read right. A set codec must decode the file
    (SniffError otherwise; cp1252 falls back to latin-1 for its undefined bytes).
    """
    for bom, c in _BOMS:
        if (c == codec or (c == "utf-8" and codec in LINE_BY_LINE)) and data.startswith(bom):
            data = data[len(bom) :]
            break
    if detected and codec in LINE_BY_LINE:
        return decode_lines(data)
    if codec == "cp1252":
        return Decoded(*_single_byte(data))
    return Decoded(_decode(data, codec, True), codec)


def first_invalid_utf8(path: Path) -> tuple[int, int] | None:
    """(byte offset, line) of the first byte that is not UTF-8, None when the file is UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    lines = 1
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            try:
                decoder.decode(chunk, final=False)
            except UnicodeDecodeError as err:
                return offset + err.start, lines + chunk[: err.start].count(b"\n")
            offset += len(chunk)
            lines += chunk.count(b"\n")
    return None


# ---------------------------------------------------------------------------- records


def records(text: str, delimiter: str, *, complete: bool, limit: int = SAMPLE_RECORDS) -> list:
    """[(first line, cells)] of a text, quoting respected; a blank line is ``[]``.

    When the text is only the start of a file, its last record may be cut: it is left out.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    out: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for row in reader:
            out.append((start, row))
            start = reader.line_num + 1
            if len(out) > limit:
                complete = False
                break
    except csv.Error:
        complete = False
    if not complete and out:
        out.pop()
    return out


def _blank(cells: list[str]) -> bool:
    return all(c.strip(WS) == "" for c in cells)


def _comment(cells: list[str]) -> bool:
    return bool(cells) and cells[0].lstrip(WS).startswith("#")


def _summary(cell: str, patterns: tuple[SummaryRow, ...]) -> SummaryRow | None:
    text = cell.strip(WS)
    for p in patterns:
        if re.fullmatch(p.pattern, text, flags=re.IGNORECASE):  # re caches compiled patterns
            return p
    return None


@dataclass
class _Choice:
    delimiter: str
    recs: list
    header: int  # index in recs
    width: int
    score: tuple


#: A cell of digits and the signs numbers, dates and times are written with: not a name.
_VALUE = re.compile(r"[-+(]?[$€£¥]?\d[\d.,:/ %'-]*\)?")


def _header_like(cells: list[str]) -> bool:
    """Every cell filled, none a number or a date, no two alike: what headers look like."""
    texts = [c.strip(WS) for c in cells]
    if not all(texts) or len(set(texts)) != len(texts):
        return False
    if any(_VALUE.fullmatch(t) for t in texts):  # the quick answer for most rows of data
        return False
    return not any(parse_number(t) is not None or detect_date([t]) for t in texts)


def _header_index(recs: list, skip: int | None) -> tuple[int, int, float]:
    """(header index, width, score): the score says how well the records below fit it."""
    usable = [i for i, (line, cells) in enumerate(recs) if not _blank(cells)]
    if skip is not None:
        usable = [i for i in usable if recs[i][0] > skip]
        if not usable:
            return -1, 0, 0.0
        first = usable[0]
        return first, len(recs[first][1]), 1.0
    widths = Counter(len(recs[i][1]) for i in usable if not _comment(recs[i][1]))
    if not widths:
        return -1, 0, 0.0
    wide = {w: n for w, n in widths.items() if w >= 2} or dict(widths)
    width = max(wide, key=lambda w: (wide[w], w))
    candidates = []
    for n, i in enumerate(usable):
        cells = recs[i][1]
        if len(cells) != width:
            continue
        nxt = usable[n + 1] if n + 1 < len(usable) else None
        followed = nxt is None or len(recs[nxt][1]) == width
        if _comment(cells) and not followed:
            continue
        candidates.append((i, followed))
    if not candidates:
        return -1, 0, 0.0
    # the first candidate that looks like a header (checked lazily: a data row rarely does)
    header = next(
        (i for i, followed in candidates if followed and _header_like(recs[i][1])),
        candidates[0][0],
    )
    above = [i for i in usable if i < header]
    if above and 2 <= len(recs[above[-1]][1]) < width and _header_like(recs[above[-1]][1]):
        # data rows ending with a delimiter the header lacks (`1,2,` under `a,b`): the
        # narrower record is the header, and the empty extra cells are left out
        narrow = len(recs[above[-1]][1])
        if all(not any(c.strip(WS) for c in recs[i][1][narrow:]) for i in usable if i >= header):
            header, width = above[-1], narrow
    below = [i for i in usable if i > header and not _blank(recs[i][1])]
    consistent = 1 + sum(
        1
        for i in below
        if len(recs[i][1]) == width
        or (len(recs[i][1]) > width and not any(c.strip(WS) for c in recs[i][1][width:]))
    )
    ratio = consistent / (1 + len(below))
    return header, width, consistent * ratio


def _choose(text: str, complete: bool, delimiter: str | None, skip: int | None) -> _Choice:
    candidates = [delimiter] if delimiter else [d for d in DELIMITERS if d in text] or [","]
    best: _Choice | None = None
    for d in candidates:
        recs = records(text, d, complete=complete)
        header, width, fit = _header_index(recs, skip)
        score = (fit if width >= 2 else 0.0, -header, width)
        if best is None or score > best.score:
            best = _Choice(d, recs, header, width, score)
    assert best is not None
    return best


# ---------------------------------------------------------------------------- preamble


def preamble_facts(lines: list[str]) -> tuple[Period | None, int | None]:
    """The period and the row count a report's preamble states, if it does."""
    start = end = None
    start_text = end_text = label = None
    rows = None
    for line in lines:
        text = line.strip(WS).lstrip("#").strip(WS).strip('"').strip(WS)
        if not text:
            continue
        for pattern in PREAMBLE_FACTS:
            m = re.fullmatch(pattern, text, flags=re.IGNORECASE)
            if m is None:
                continue
            found = {k: v for k, v in m.groupdict().items() if v}
            if "rows" in found:
                rows = int(found["rows"])
            elif "start" in found and start_text is None:
                start_text = found["start"].strip()
            elif "end" in found and end_text is None:
                end_text = found["end"].strip()
            elif "range" in found and start_text is None:
                parts = re.split(r"\s+[-–]\s+|\s+to\s+", found["range"].strip(), maxsplit=1)
                if len(parts) == 2:
                    start_text, end_text = parts
                else:
                    label = found["range"].strip()
            elif "label" in found and label is None:
                label = found["label"]
            break
    if start_text is None and end_text is None:
        return (Period(label) if label else None), rows
    texts = [t for t in (start_text, end_text) if t]
    guess = detect_date(texts)
    prefer = guess.fmt if guess is not None else None
    if start_text:
        start = parse_date_text(start_text, prefer)
    if end_text:
        end = parse_date_text(end_text, prefer)
    shown = " - ".join(texts) if len(texts) == 2 else texts[0]
    return Period(shown, start, end), rows


# ---------------------------------------------------------------------------- footer


def _footer(
    recs: list, width: int, patterns: tuple[SummaryRow, ...]
) -> tuple[tuple[str, ...], bool]:
    """(footer texts, blank line seen) from the records at the end of a file."""
    walked: list[list[str]] = []
    for _, cells in reversed(recs):
        if _blank(cells):
            walked.append(cells)
            continue
        filled = [c for c in cells[1:] if c.strip(WS)]
        if len(cells) <= 1 or not filled:
            walked.append(cells)
            continue
        if width >= 2 and _summary(cells[0], patterns) is not None:
            walked.append(cells)
            continue
        break
    walked.reverse()
    blank = any(_blank(c) for c in walked)
    if not walked or not _blank(walked[0]):
        return (), blank
    texts = [c[0].strip(WS) for c in walked if not _blank(c) and (len(c) <= 1 or not any(c[1:]))]
    return tuple(dict.fromkeys(t for t in texts if t)), blank


def _truncated(end_text: str, end_recs: list, width: int) -> str | None:
    """Why the last line looks cut short, None when the file ends cleanly.

    A last line without a final newline that opens a quote it never closes, or that has
    fewer cells than the header, is what an interrupted download leaves.
    """
    if not end_text or end_text.endswith(("\n", "\r")) or not end_recs:
        return None
    line, cells = end_recs[-1]
    last_line = end_text.rsplit("\n", 1)[-1]
    if last_line.count('"') % 2:
        return f"line {line} ends inside a quoted cell"
    if width >= 2 and 1 < len(cells) < width:
        return f"line {line} has {len(cells)} cells, the header {width}"
    return None


# ---------------------------------------------------------------------------- sniff


#: Layouts already detected, by file identity and options (a report, `kpi validate` and the
#: tests read the same files many times in one process). Layouts are never changed once made.
_CACHE: dict[tuple, Layout] = {}
_CACHE_SIZE = 256
#: Files sniffed as UTF-8 whose bytes past the sample turned out not to be (by identity).
_MIXED: set[tuple] = set()


def mark_mixed(layout: Layout) -> bool:
    """Remember that a file sniffed as UTF-8 (``encoding: auto``) holds bytes past its sample
    that are not UTF-8, so that sniffing it again gives a layout decoded line by line; True
    when it was not known yet."""
    if not layout.key or not layout.detected or layout.encoding != "utf-8":
        return False
    identity = layout.key[:4]
    if identity in _MIXED:
        return False
    if len(_MIXED) >= _CACHE_SIZE:
        _MIXED.pop()
    _MIXED.add(identity)
    for key in [k for k in _CACHE if k[:4] == identity]:
        del _CACHE[key]
    return True


def sniff(
    path: Path,
    *,
    encoding: str = "auto",
    delimiter: str = "auto",
    skip_rows: int | str = "auto",
    summary: tuple[SummaryRow, ...] = (),
) -> Layout:
    """The layout of one file, from its first and last bytes. Raises SniffError or OSError.

    A file whose path, size and modification time have not changed is not read again.
    """
    st = path.stat()
    identity = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    key = (*identity, encoding, delimiter, skip_rows, summary)
    if key in _CACHE:
        return _CACHE[key]
    layout = _sniff(path, st.st_size, encoding, delimiter, skip_rows, summary)
    if layout.encoding == "utf-8" and layout.detected and identity in _MIXED:
        layout.encoding = MIXED  # not UTF-8 past the sample: decoded line by line
    layout.key = key
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = layout
    return layout


def _sniff(
    path: Path,
    size: int,
    encoding: str,
    delimiter: str,
    skip_rows: int | str,
    summary: tuple[SummaryRow, ...],
) -> Layout:
    with path.open("rb") as fh:
        head = fh.read(SAMPLE_BYTES)
        complete = size <= SAMPLE_BYTES
        tail = b""
        if not complete:
            start = max(SAMPLE_BYTES, size - TAIL_BYTES)
            fh.seek(start)
            tail = fh.read()
    if not head:
        raise SniffError("the file is empty (not even a header line)")
    if encoding == "auto":
        codec, bom = _detect_encoding(head)
    else:
        codec, bom = _explicit_encoding(head, encoding)
    text = _decode(head[bom:], codec, complete)
    if not complete and codec.startswith("utf-16") and (size - len(tail) - bom) % 2:
        tail = tail[1:]
    newline = "\r\n" if "\r\n" in text else "\r" if "\r" in text else "\n"
    skip = None if skip_rows == "auto" else int(skip_rows)
    choice = _choose(text, complete, None if delimiter == "auto" else delimiter, skip)
    recs = choice.recs
    if choice.header < 0:
        raise SniffError("no header line found", hint="set `skip_rows:` to the lines above it")
    header_line, header = recs[choice.header]
    width = len(header)
    layout = Layout(
        path=path,
        size=size,
        encoding=codec,
        bom=bom > 0,
        newline=newline,
        delimiter=choice.delimiter,
        header_line=header_line,
        header=list(header),
        complete=complete,
        detected=encoding == "auto",
    )
    above = [c for _, c in recs[: choice.header] if not _blank(c)]
    layout.preamble = [choice.delimiter.join(c).strip(WS) for c in above]
    layout.period, layout.stated_rows = preamble_facts(layout.preamble)

    body = recs[choice.header + 1 :]
    i = 0
    while i < len(body) and len(body[i][1]) > width:  # Polars cannot read wider records
        cells = body[i][1]
        hit = next((p for c in cells if (p := _summary(c, summary)) is not None), None)
        if hit is None:
            break
        layout.skipped[hit.label] = layout.skipped.get(hit.label, 0) + 1
        i += 1
    layout.skip_after_header = i
    body = body[i:]

    extra_empty = True
    for line, cells in body:
        if _blank(cells):
            layout.blank_lines = True
            continue
        if len(cells) > width:
            layout.ragged.append((line, len(cells)))
            extra_empty = extra_empty and not any(c.strip(WS) for c in cells[width:])
        layout.records.append(cells)
        layout.record_lines.append(line)
    layout.truncate_ragged = bool(layout.ragged) and extra_empty

    if complete:
        end_recs = body
        end_text = text
    else:
        if codec in LINE_BY_LINE and encoding == "auto":
            whole = tail[tail.find(b"\n") + 1 :]  # the first line may start inside a character
            decoded = decode_lines(whole)
            if codec == "utf-8" and decoded.codec != "utf-8":
                layout.encoding = MIXED  # the end of the file is not UTF-8: line by line
            end_text = decoded.text
        else:
            tail_text = codecs.getincrementaldecoder(codec)(errors="replace").decode(tail)
            end_text = tail_text[tail_text.find("\n") + 1 :]
        end_recs = records(end_text, choice.delimiter, complete=True)
    layout.truncated = _truncated(end_text, end_recs, width)
    layout.tail = [cells for _, cells in end_recs[-200:]]
    layout.footer, blank = _footer(end_recs, width, summary)
    layout.blank_lines = layout.blank_lines or blank
    if layout.footer:
        drop = set(layout.footer)
        keep = [
            (ln, c)
            for ln, c in zip(layout.record_lines, layout.records, strict=True)
            if not (c and c[0].strip(WS) in drop and not any(x.strip(WS) for x in c[1:]))
        ]
        layout.record_lines = [ln for ln, _ in keep]
        layout.records = [c for _, c in keep]
    return layout


__all__ = [
    "MIXED",
    "Decoded",
    "Layout",
    "Period",
    "SniffError",
    "decode_file",
    "decode_lines",
    "first_invalid_utf8",
    "mark_mixed",
    "py_date",
    "records",
    "sniff",
]
