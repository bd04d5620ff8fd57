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
import dataclasses
import io
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from kpicli.ingest.containers import Within, content, real_file
from kpicli.ingest.memo import ReadMemo
from kpicli.ingest.rules import (
    header_like,
    is_blank,
    is_comment,
    is_summary_row,
    summary_in,
    summary_of,
)
from kpicli.ingest.values import WS, detect_date, parse_date_text
from kpicli.spec.presets import PREAMBLE_FACTS, SummaryRow

__all__ = [
    "CODECS",
    "CODE_PAGES",
    "DELIMITERS",
    "LINE_BY_LINE",
    "MIXED",
    "SAMPLE_BYTES",
    "SAMPLE_RECORDS",
    "TAIL_BYTES",
    "Choice",
    "Decoded",
    "Layout",
    "Period",
    "SniffError",
    "choose",
    "code_page_name",
    "decode_file",
    "decode_lines",
    "detect_encoding",
    "explicit_encoding",
    "first_invalid_utf8",
    "guess_code_page",
    "mark_mixed",
    "preamble_facts",
    "records",
    "sniff",
    "within_stat",
]

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
    tolerant: str | None = None  # why the fast path cannot read it: read by repair.py
    detected: bool = True  # the encoding was detected (``encoding: auto``), not set
    within: Within | None = None  # a packed file (gzip, zip member, sheet) or one section
    doubt: str | None = None  # why a code page detected may be wrong
    #: a sampled or last record is a summary row by the patterns it was sniffed with
    summary_rows: bool = False

    def read_bytes(self) -> bytes:
        """The file's bytes as a CSV: unpacked, a sheet as CSV, one section (containers)."""
        if self.within is not None:
            return content(self.path, self.within)
        return self.path.read_bytes()

    def decode(self, data: bytes) -> Decoded:
        """The text of the whole file (its bytes), as this layout says to decode it."""
        return decode_file(data, self.encoding, detected=self.detected)

    @property
    def in_memory(self) -> bool:
        """Polars reads UTF-8 with LF or CRLF: anything else is transcoded in memory first
        (and a file the tolerant reader repairs is handed over as clean CSV)."""
        return (
            self.encoding != "utf-8"
            or self.newline == "\r"
            or self.tolerant is not None
            or self.within is not None
        )

    def has_summary_rows(self, summary: tuple[SummaryRow, ...]) -> bool:
        """Whether a sampled or last record is a summary row by ``summary`` (known since
        sniffing when those are the patterns it was sniffed with)."""
        if self.key and self.key[-1] == summary:
            return self.summary_rows
        return _summary_rows_in(self, summary)

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


def detect_encoding(head: bytes) -> tuple[str, int]:
    """(codec, BOM length) from the first bytes."""
    codec, bom, _ = _detect(head)
    return codec, bom


def _detect(head: bytes) -> tuple[str, int, str | None]:
    """(codec, BOM length, doubt about a guessed code page) from the first bytes."""
    if head.startswith(codecs.BOM_UTF8):  # UTF-8, says the file: but a line may not be
        codec = _utf8_or_mixed(head[len(codecs.BOM_UTF8) :])
        if codec not in LINE_BY_LINE:  # a BOM says UTF-8: odd lines are cp1252's
            codec = _single_byte(head)[1]
        return codec, len(codecs.BOM_UTF8), None
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec, len(bom), None
    sample = head[:4096]
    if len(sample) >= 4:
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if odd > len(sample) // 4 and even == 0:
            return "utf-16-le", 0, None
        if even > len(sample) // 4 and odd == 0:
            return "utf-16-be", 0, None
    codec, doubt = _detect_text(head)
    return codec, 0, doubt


def _utf8_or_mixed(head: bytes) -> str:
    """UTF-8 when the sample is, else what decoding it line by line finds (:data:`MIXED`),
    else the code page :func:`guess_code_page` finds (cp1252 for Western text)."""
    return _detect_text(head)[0]


def _detect_text(head: bytes) -> tuple[str, str | None]:
    """(codec, doubt) of a sample without a BOM that is not UTF-16 (see
    :func:`_utf8_or_mixed`); ``doubt``: why a guessed code page may be wrong."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8", None
    except UnicodeDecodeError:
        pass
    # the last line may be cut inside a character: left out of the decision
    cut = max(head.rfind(b"\n"), head.rfind(b"\r"))
    whole = head[: cut + 1] if cut > 0 else head
    codec = decode_lines(whole).codec
    if codec == MIXED:
        return codec, None
    return guess_code_page(whole)


#: The code pages a file that is neither UTF-8 nor UTF-16 is weighed against: the Windows
#: code pages Excel saves CSV in, and the East Asian ones.
CODE_PAGES = (
    "cp1252", "cp1250", "cp1251", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257",
    "cp1258", "cp874", "cp932", "gb18030", "big5", "cp949", "koi8_r",
)  # fmt: skip
#: Code pages of Latin scripts: a file that reads well in one of them reads as cp1252
#: (today's behaviour), with a doubt when the text differs.
_LATIN = ("cp1252", "cp1250", "cp1254", "cp1257", "cp1258", "latin_1", "iso8859", "mac_", "cp437")
_CJK = ("cp932", "gb18030", "big5", "cp949")
_NAMES = {
    "cp1250": "Central European",
    "cp1251": "Cyrillic",
    "cp1252": "Western",
    "cp1253": "Greek",
    "cp1254": "Turkish",
    "cp1255": "Hebrew",
    "cp1256": "Arabic",
    "cp1257": "Baltic",
    "cp1258": "Vietnamese",
    "cp874": "Thai",
    "cp932": "Japanese, Shift-JIS",
    "gb18030": "Chinese, GBK",
    "big5": "Traditional Chinese",
    "cp949": "Korean",
    "koi8_r": "Cyrillic, KOI8-R",
}
#: Fewer non-ASCII characters than this in the sample make a code page's guess weak.
_FEW = 12
#: A Greek, Cyrillic, Hebrew… code page is believed on a sample of at least this many
#: non-ASCII bytes, or on fewer when charset-normalizer recognises the language in it
#: (coherence): a few odd bytes (``¡¡¡ßÅß``) read as some script too.
_ENOUGH = 64
_COHERENT = 0.1


def code_page_name(codec: str) -> str:
    """A codec with what it is for, in words: ``cp1253 (Greek)``."""
    name = _NAMES.get(codec)
    return f"{codec} ({name})" if name else codec


def _text_in(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


#: Letters that a Turkish (cp1254) or Central-European (cp1250) text shows when read as
#: cp1252: ``þ ð Þ Ð Ý`` beside a letter for ``ş ğ Ş Ğ İ`` (not ``ý``: Czech and Icelandic
#: have it too); ``¹ ³ ¾ ¥ Ÿ`` beside a letter for ``ą ł ľ Ą Ź``, and ``ì ù ò`` inside a word
#: for ``ě ů ň`` (Italian writes them at a word's end).
_TELLS = {
    "cp1254": re.compile(r"(?<=[^\W\d_])[þðÞÐÝ]|[þðÞÐÝ](?=[^\W\d_])"),
    "cp1250": re.compile(
        r"(?<=[^\W\d_])[¹³¾¥Ÿ]|[¹³¾¥Ÿ](?=[^\W\d_])|(?<=[^\W\d_])[ìùòÌÙÒ](?=[^\W\d_])"
    ),
}


#: The most frequent characters of each East Asian code page's language (and of
#: marketing exports): two code pages that both decode a sample are told apart by how many
#: of its characters are common ones (GBK bytes read as Korean make rare syllables).
_COMMON = {
    "gb18030": "的一是不了在人有我他这个们中来上大为和国地到以说时要就出也得里后自会家可下而过"
    "天去能对小多然于心学么之都好看起发当没成只如事把还用第样道想作种开美总从无情己面最女但现前"
    "些所同日手又行意动方期它头经长儿回位分老因很给名法间知世什两次使身者被高已其进此话常与活正"
    "感费点击展示广告转化率本搜索量页访问客户销售额总计月周年季春夏秋冬促合价数",
    "big5": "的一是不了在人有我他這個們中來上大為和國地到以說時要就出也得裡後自會家可下而過"
    "天去能對小多然於心學麼之都好看起發當沒成只如事把還用第樣道想作種開美總從無情己面最女但現前"
    "費點擊展示廣告轉化率本搜尋量頁訪問客戶銷售額總計月週年季活動價數",
    "cp949": "이다는의에가을를하고지기서로한사나도리자수해우일대전어시인정아부상보만것들게"
    "있수없되요그년월주합계총비용클릭노출광고전환율캠페인검색매출고객방문페이지날짜",
}


#: Kanji common in Japanese exports (a text of kanji only has no kana to go by).
_KANJI = (
    "日本年月人大中一出上下会社時間円合計費用広告東京大阪売上表示数率者分内外新全店品商"
    "名前後国地方都市県区町村週期間回目標結果成約獲得単価平均金額利益顧客問合先今"
)
#: The share of common characters an East Asian reading needs to be believed.
_COMMON_SHARE = 0.2


def _common_share(sample: bytes, codec: str) -> float:
    """The share of common characters (:data:`_COMMON`; kana and common kanji for
    Shift-JIS) among the non-ASCII characters of ``sample`` read in ``codec`` (0 when it
    does not decode, or shows fewer than four different common characters)."""
    text = _text_in(sample, codec)
    if text is None:
        return 0.0
    wide = [c for c in text if ord(c) > 0x7F]
    if not wide:
        return 0.0
    if codec == "cp932":  # hiragana, katakana, common kanji
        found = [c for c in wide if "\u3040" <= c <= "\u30ff" or c in _KANJI]
    else:
        found = [c for c in wide if c in _COMMON.get(codec, "")]
    if len(set(found)) < 4:  # a character or two that happen to pair up: no text
        return 0.0
    return len(found) / len(wide)


def _latin(
    sample: bytes, western: tuple[str, str], matches: list, rare: int
) -> tuple[str, str | None]:
    """A Latin-script sample: cp1252 (as kpi always read it), unless the text read as
    cp1252 shows the tell-tale letters of Turkish or Central-European text (then that code
    page, with a doubt); a doubt when the detector finds another Latin code page likelier."""
    best = matches[0]
    tied = [m.encoding for m in matches if m.chaos <= best.chaos + 0.01]
    for codec, tell in _TELLS.items():
        hits = len(tell.findall(western[0]))
        if hits >= 2 and codec in tied and _text_in(sample, codec) is not None:
            return codec, f"guessed {code_page_name(codec)} from {hits} letters"
    if rare < _FEW or "cp1252" in tied or best.encoding == "cp1252":
        return western[1], None
    if _text_in(sample, best.encoding) in (None, western[0]):
        return western[1], None
    return western[1], f"read as cp1252 (Western), but it may be {code_page_name(best.encoding)}"


def guess_code_page(sample: bytes) -> tuple[str, str | None]:
    """(codec, doubt) of a sample that is not UTF-8, with charset-normalizer weighing
    :data:`CODE_PAGES`: a Latin-script guess reads as cp1252 (latin-1 for the bytes cp1252
    leaves undefined), as kpi always read such files; a Greek, Cyrillic, East Asian…
    one as itself. ``doubt`` says why the guess may be wrong (few characters to go by,
    another code page as likely), None when it is clear."""
    from charset_normalizer import from_bytes

    western = _single_byte(sample)
    matches = list(from_bytes(sample, cp_isolation=list(CODE_PAGES), explain=False))
    if not matches:
        return western[1], None
    best = matches[0]
    cjk = [m for m in matches if m.encoding in _CJK and m.chaos <= best.chaos + 0.1]
    if cjk:  # the East Asian code page whose reading has the most common characters
        ranked = max((_common_share(sample, m.encoding), -m.chaos, i) for i, m in enumerate(cjk))
        if ranked[0] >= _COMMON_SHARE:
            best = cjk[ranked[2]]
        elif best.encoding in _CJK:  # bytes that pair up, but into no common text
            name = code_page_name(best.encoding)
            return western[1], f"read as cp1252 (Western), but it may be {name}"
    rare = sum(1 for b in sample if b > 0x7F)
    if best.encoding.startswith(_LATIN):
        return _latin(sample, western, matches, rare)
    codec = best.encoding
    weak = codec not in _CJK and best.coherence < _COHERENT and rare < _ENOUGH
    if rare < _FEW or weak:  # too little to go by: read as kpi always read such files
        return western[1], (
            f"read as cp1252 (Western): only {rare} non-ASCII bytes to go by; it may be "
            f"{code_page_name(codec)}"
        )
    rivals = [
        m.encoding
        for m in matches
        if m.encoding != codec
        and m.chaos <= best.chaos + 0.01
        and not m.encoding.startswith(_LATIN)
    ]
    if rivals:
        return codec, f"guessed {code_page_name(codec)}: {code_page_name(rivals[0])} fits as well"
    return codec, None


def explicit_encoding(head: bytes, option: str) -> tuple[str, int]:
    """(codec, BOM length) of an encoding set on a source: one of :data:`CODECS` or any
    Python text codec (``cp1253``, ``shift_jis``…); a UTF-16 or UTF-8 BOM is skipped."""
    codec = CODECS.get(option) or codecs.lookup(option).name
    if codec.replace("_", "-") in ("utf-16", "utf-8-sig"):
        option = "utf-16" if codec.startswith("utf") and "16" in codec else "utf-8"
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
            hint="set `encoding:` on the source (utf-8, utf-16, cp1252, cp1253, shift_jis…: "
            "any Python codec)",
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


@dataclass
class Choice:
    """The delimiter chosen for a sample, its records and the header among them."""

    delimiter: str
    recs: list  # [(first line, cells)] of the sample, read with ``delimiter``
    header: int  # index in recs; -1 when no record can be the header
    width: int  # the header's cells
    score: tuple


def _header_index(recs: list, skip: int | None) -> tuple[int, int, float]:
    """(header index, width, score): the score says how well the records below fit it."""
    usable = [i for i, (line, cells) in enumerate(recs) if not is_blank(cells)]
    if skip is not None:
        usable = [i for i in usable if recs[i][0] > skip]
        if not usable:
            return -1, 0, 0.0
        first = usable[0]
        return first, len(recs[first][1]), 1.0
    widths = Counter(len(recs[i][1]) for i in usable if not is_comment(recs[i][1]))
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
        if is_comment(cells) and not followed:
            continue
        candidates.append((i, followed))
    if not candidates:
        return -1, 0, 0.0
    # the first candidate that looks like a header (checked lazily: a data row rarely does)
    header = next(
        (i for i, followed in candidates if followed and header_like(recs[i][1])),
        candidates[0][0],
    )
    above = [i for i in usable if i < header]
    if above and 2 <= len(recs[above[-1]][1]) < width and header_like(recs[above[-1]][1]):
        # data rows ending with a delimiter the header lacks (`1,2,` under `a,b`): the
        # narrower record is the header, and the empty extra cells are left out
        narrow = len(recs[above[-1]][1])
        if all(not any(c.strip(WS) for c in recs[i][1][narrow:]) for i in usable if i >= header):
            header, width = above[-1], narrow
    below = [i for i in usable if i > header and not is_blank(recs[i][1])]
    consistent = 1 + sum(
        1
        for i in below
        if len(recs[i][1]) == width
        or (len(recs[i][1]) > width and not any(c.strip(WS) for c in recs[i][1][width:]))
    )
    ratio = consistent / (1 + len(below))
    return header, width, consistent * ratio


def choose(text: str, complete: bool, delimiter: str | None, skip: int | None) -> Choice:
    """The delimiter (``delimiter`` when set, else the best of :data:`DELIMITERS`) and the
    header row of a sample ``text``; ``skip``: the lines above the header, when set.

    Of the candidates, the one whose records from the header on have the header's width
    most often wins (the tolerant reader starts from this choice too)."""
    candidates = [delimiter] if delimiter else [d for d in DELIMITERS if d in text] or [","]
    best: Choice | None = None
    for d in candidates:
        recs = records(text, d, complete=complete)
        header, width, fit = _header_index(recs, skip)
        score = (fit if width >= 2 else 0.0, -header, width)
        if best is None or score > best.score:
            best = Choice(d, recs, header, width, score)
    assert best is not None
    return best


# ---------------------------------------------------------------------------- preamble


def preamble_facts(lines: list[str]) -> tuple[Period | None, int | None]:
    """The period and the row count a report's preamble states, if it does."""
    found: dict[str, str] = {}
    rows = None
    for line in lines:
        text = line.strip(WS).lstrip("#").strip(WS).strip('"').strip(WS)
        fact = _fact(text) if text else None
        if fact is None:
            continue
        if "rows" in fact:
            rows = int(fact["rows"])
        else:
            _add_period_fact(found, fact)
    start_text, end_text, label = found.get("start"), found.get("end"), found.get("label")
    if start_text is None and end_text is None:
        return (Period(label) if label else None), rows
    texts = [t for t in (start_text, end_text) if t]
    guess = detect_date(texts)
    prefer = guess.fmt if guess is not None else None
    start = parse_date_text(start_text, prefer) if start_text else None
    end = parse_date_text(end_text, prefer) if end_text else None
    shown = " - ".join(texts) if len(texts) == 2 else texts[0]
    return Period(shown, start, end), rows


def _fact(text: str) -> dict[str, str] | None:
    """The filled groups of the first preamble pattern a line matches, None when none does."""
    for pattern in PREAMBLE_FACTS:
        m = re.fullmatch(pattern, text, flags=re.IGNORECASE)
        if m is not None:
            return {k: v for k, v in m.groupdict().items() if v}
    return None


def _add_period_fact(found: dict[str, str], fact: dict[str, str]) -> None:
    """Add a line's start, end, range or label to ``found``; the first of each wins (a
    range sets both ends, unless a start is known)."""
    if "start" in fact and "start" not in found:
        found["start"] = fact["start"].strip()
    elif "end" in fact and "end" not in found:
        found["end"] = fact["end"].strip()
    elif "range" in fact and "start" not in found:
        parts = re.split(r"\s+[-–]\s+|\s+to\s+", fact["range"].strip(), maxsplit=1)
        if len(parts) == 2:
            found["start"], found["end"] = parts
        else:
            found["label"] = fact["range"].strip()
    elif "label" in fact and "label" not in found:
        found["label"] = fact["label"]


# ---------------------------------------------------------------------------- footer


def _footer(
    recs: list, width: int, patterns: tuple[SummaryRow, ...]
) -> tuple[tuple[str, ...], bool]:
    """(footer texts, blank line seen) from the records at the end of a file."""
    walked: list[list[str]] = []
    for _, cells in reversed(recs):
        if is_blank(cells):
            walked.append(cells)
            continue
        filled = [c for c in cells[1:] if c.strip(WS)]
        if len(cells) <= 1 or not filled:
            walked.append(cells)
            continue
        if width >= 2 and summary_of(cells[0], patterns) is not None:
            walked.append(cells)
            continue
        break
    walked.reverse()
    blank = any(is_blank(c) for c in walked)
    if not walked or not is_blank(walked[0]):
        return (), blank
    texts = [c[0].strip(WS) for c in walked if not is_blank(c) and (len(c) <= 1 or not any(c[1:]))]
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


def _identity(layout: Layout) -> tuple:
    """The file's identity in a layout's key: path, size, modification time, inode."""
    return layout.key[:4]


def mark_mixed(layout: Layout, memo: ReadMemo) -> bool:
    """Remember in ``memo`` that a file sniffed as UTF-8 (``encoding: auto``) holds bytes
    past its sample that are not UTF-8, so that sniffing it again with that memo gives a
    layout decoded line by line; True when it was not known yet."""
    if not layout.key or not layout.detected or layout.encoding != "utf-8":
        return False
    return memo.mark_mixed(_identity(layout))


def sniff(
    path: Path,
    *,
    encoding: str = "auto",
    delimiter: str = "auto",
    skip_rows: int | str = "auto",
    summary: tuple[SummaryRow, ...] = (),
    memo: ReadMemo | None = None,
    within: Within | None = None,
) -> Layout:
    """The layout of one file, from its first and last bytes. Raises SniffError or OSError
    (and :class:`~kpicli.ingest.containers.ContainerError`).

    ``memo``: the caller's memory of files already sniffed: a file whose path, size and
    modification time have not changed is not read again (None: the file is read).
    ``within``: what to read inside the file (a zip member under ``path``, a sheet, a
    section): its content, held in memory, is sniffed.
    """
    memo = memo if memo is not None else ReadMemo()
    if within is not None:
        st = within_stat(path)
        identity = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino, within)
    else:
        st = path.stat()
        identity = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    key = (*identity, encoding, delimiter, skip_rows, summary)
    known = memo.layout(key)
    if known is not None:
        return known
    layout = _layout_from(memo.stored("layout", key), path, within)  # an earlier run's
    if layout is None:
        layout = _sniffed(path, st, encoding, delimiter, skip_rows, summary, within)
        memo.store("layout", key, _layout_plain(layout), [st.st_mtime_ns])
    if layout.encoding == "utf-8" and layout.detected and identity in memo.mixed:
        layout.encoding = MIXED  # not UTF-8 past the sample: decoded line by line
    layout.key = key
    memo.keep_layout(key, layout)
    return layout


def _sniffed(
    path: Path,
    st: os.stat_result,
    encoding: str,
    delimiter: str,
    skip_rows: int | str,
    summary: tuple[SummaryRow, ...],
    within: Within | None,
) -> Layout:
    """:func:`sniff`'s detection itself (``within``: a file inside ``path``)."""
    data = None
    if within is not None:
        data = content(path, within)
        if within.kind == "sheet" and encoding == "auto":
            encoding = "utf-8"  # a sheet's CSV is written as UTF-8
    size = st.st_size if data is None else len(data)
    layout = _sniff(path, size, encoding, delimiter, skip_rows, summary, data)
    if within is not None:
        layout.within = within
        layout.detected = layout.detected and within.kind != "sheet"
    return layout


#: Fields of a :class:`Layout` that the per-user cache does not hold: the call gives them.
_GIVEN = ("path", "key", "within", "tolerant")


def _layout_plain(layout: Layout) -> dict:
    """A layout just sniffed as JSON data, for the per-user cache (:func:`_layout_from`)."""
    plain = {f: getattr(layout, f) for f in _layout_fields() if f not in _GIVEN}
    period = layout.period
    if period is not None:
        plain["period"] = [period.text] + [
            d.isoformat() if d else None for d in (period.start, period.end)
        ]
    return plain


def _layout_from(plain: object, path: Path, within: Within | None) -> Layout | None:
    """A layout from :func:`_layout_plain`'s data (None when it is not that: made again)."""
    fields = _layout_fields()
    if not isinstance(plain, dict) or set(plain) != set(fields) - set(_GIVEN):
        return None
    try:
        layout = Layout(path=path, within=within, **plain)
        layout.footer = tuple(layout.footer)
        layout.ragged = [(line, cells) for line, cells in layout.ragged]
        if plain["period"] is not None:
            text, start, end = plain["period"]
            layout.period = Period(
                text,
                date.fromisoformat(start) if start else None,
                date.fromisoformat(end) if end else None,
            )
    except (TypeError, ValueError):
        return None
    return layout


def _layout_fields() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(Layout))


def within_stat(path: Path) -> os.stat_result:
    """The stat of the file on disk holding ``path`` (a zip member's zip)."""
    return real_file(path).stat()


def _read_ends(path: Path, size: int, data: bytes | None = None) -> tuple[bytes, bytes, bool]:
    """(first bytes, last bytes past them, whether the first are the whole file); ``data``:
    the file's content, when it is held in memory."""
    if data is not None:
        complete = size <= SAMPLE_BYTES
        tail = b"" if complete else data[max(SAMPLE_BYTES, size - TAIL_BYTES) :]
        return data[:SAMPLE_BYTES], tail, complete
    with path.open("rb") as fh:
        head = fh.read(SAMPLE_BYTES)
        complete = size <= SAMPLE_BYTES
        tail = b""
        if not complete:
            fh.seek(max(SAMPLE_BYTES, size - TAIL_BYTES))
            tail = fh.read()
    return head, tail, complete


def _sniff(
    path: Path,
    size: int,
    encoding: str,
    delimiter: str,
    skip_rows: int | str,
    summary: tuple[SummaryRow, ...],
    data: bytes | None = None,
) -> Layout:
    head, tail, complete = _read_ends(path, size, data)
    if not head:
        raise SniffError("the file is empty (not even a header line)")
    doubt = None
    if encoding == "auto":
        codec, bom, doubt = _detect(head)
    else:
        codec, bom = explicit_encoding(head, encoding)
    text = _decode(head[bom:], codec, complete)
    if not complete and codec.startswith("utf-16") and (size - len(tail) - bom) % 2:
        tail = tail[1:]
    skip = None if skip_rows == "auto" else int(skip_rows)
    choice = choose(text, complete, None if delimiter == "auto" else delimiter, skip)
    if choice.header < 0:
        raise SniffError("no header line found", hint="set `skip_rows:` to the lines above it")
    header_line, header = choice.recs[choice.header]
    layout = Layout(
        path=path,
        size=size,
        encoding=codec,
        bom=bom > 0,
        newline="\r\n" if "\r\n" in text else "\r" if "\r" in text else "\n",
        delimiter=choice.delimiter,
        header_line=header_line,
        header=list(header),
        complete=complete,
        detected=encoding == "auto",
        doubt=doubt,
    )
    above = [c for _, c in choice.recs[: choice.header] if not is_blank(c)]
    layout.preamble = [choice.delimiter.join(c).strip(WS) for c in above]
    layout.period, layout.stated_rows = preamble_facts(layout.preamble)
    body = _skip_summaries(layout, choice.recs[choice.header + 1 :], summary)
    _sample_records(layout, body)
    if complete:
        end_text, end_recs = text, body
    else:
        end_text = _end_text(layout, tail, codec, encoding)
        end_recs = records(end_text, choice.delimiter, complete=True)
    _ending(layout, end_text, end_recs, summary)
    layout.summary_rows = _summary_rows_in(layout, summary)
    return layout


def _summary_rows_in(layout: Layout, summary: tuple[SummaryRow, ...]) -> bool:
    return any(is_summary_row(r, summary) for r in (*layout.records, *layout.tail) if any(r))


def _skip_summaries(layout: Layout, body: list, summary: tuple[SummaryRow, ...]) -> list:
    """The records under the header past the summary records of another width right under
    it (GA4 explorations' ``Grand total`` row, counted in ``layout.skipped``)."""
    i = 0
    while i < len(body) and len(body[i][1]) > layout.width:  # Polars cannot read wider ones
        hit = summary_in(body[i][1], summary)
        if hit is None:
            break
        layout.skipped[hit.label] = layout.skipped.get(hit.label, 0) + 1
        i += 1
    layout.skip_after_header = i
    return body[i:]


def _sample_records(layout: Layout, body: list) -> None:
    """The sampled data records, blank lines and records wider than the header."""
    width = layout.width
    extra_empty = True
    for line, cells in body:
        if is_blank(cells):
            layout.blank_lines = True
            continue
        if len(cells) > width:
            layout.ragged.append((line, len(cells)))
            extra_empty = extra_empty and not any(c.strip(WS) for c in cells[width:])
        layout.records.append(cells)
        layout.record_lines.append(line)
    layout.truncate_ragged = bool(layout.ragged) and extra_empty


def _end_text(layout: Layout, tail: bytes, codec: str, encoding: str) -> str:
    """The text of a big file's last bytes, from its first whole line; a file detected as
    UTF-8 whose end is not becomes :data:`MIXED`."""
    if codec in LINE_BY_LINE and encoding == "auto":
        whole = tail[tail.find(b"\n") + 1 :]  # the first line may start inside a character
        decoded = decode_lines(whole)
        if codec == "utf-8" and decoded.codec != "utf-8":
            layout.encoding = MIXED  # the end of the file is not UTF-8: line by line
        return decoded.text
    tail_text = codecs.getincrementaldecoder(codec)(errors="replace").decode(tail)
    return tail_text[tail_text.find("\n") + 1 :]


def _ending(layout: Layout, end_text: str, end_recs: list, summary: tuple[SummaryRow, ...]) -> None:
    """What the end of the file shows: a cut last line, the last records, the footer (its
    lines left out of the sampled records)."""
    width = layout.width
    layout.truncated = _truncated(end_text, end_recs, width)
    layout.tail = [cells for _, cells in end_recs[-200:]]
    layout.footer, blank = _footer(end_recs, width, summary)
    layout.blank_lines = layout.blank_lines or blank
    if not layout.footer:
        return
    drop = set(layout.footer)
    keep = [
        (ln, c)
        for ln, c in zip(layout.record_lines, layout.records, strict=True)
        if not (c and c[0].strip(WS) in drop and not any(x.strip(WS) for x in c[1:]))
    ]
    layout.record_lines = [ln for ln, _ in keep]
    layout.records = [c for _, c in keep]
