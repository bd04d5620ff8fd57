"""Files inside other files: gzip, zip members, spreadsheet sheets, one table of several.

A source's `path:` may name a ``.gz`` file (a CSV compressed), a ``.zip`` (its CSV members,
chosen with `member:`), a spreadsheet (``.xlsx``, ``.xlsm``, ``.xls``, ``.ods``; a sheet
chosen with `sheet:`), and `section:` picks one ``#``-titled table of a file that holds
several (GA4's "Reports snapshot"). Each is turned into the bytes of one plain CSV, held in
memory, which the reader (``detect`` → ``scan``, ``repair``, ``diagnose``) then reads as it
reads any CSV: the same detection of the encoding, delimiter, header, preamble, footer and
summary rows, presets and repairs. Nothing is extracted to disk.

- A zip member is named by a path under the zip (``export.zip/Queries.csv``): what
  :func:`expand` lists for a source, and what messages name.
- A ``.gz`` file (or a ``.gz`` member of a zip) is decompressed; its bytes keep their
  encoding, which detection finds as for a plain file.
- A sheet is read with fastexcel (calamine): every cell as text, numbers as the shortest
  text that reads back to the same float (never a rounded display), date cells as ISO dates
  (``2026-01-05``, or ``2026-01-05 13:45:00`` with a time), as UTF-8 CSV.
- A section is the file with the lines above the chosen table blanked (so line numbers
  stay those of the file) except the file's own leading ``#`` lines (its period), and the
  lines after the table left out.

The content of one file is bounded by :data:`MAX_CONTENT_BYTES` (decompressed): a larger
one is refused with a message saying so (decompress it first), as a zip bomb is.
"""

from __future__ import annotations

import codecs
import fnmatch
import gzip
import io
import os
import zipfile
import zlib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path, PurePosixPath

from kpicli.ingest.remote import RemoteError, is_remote
from kpicli.inputs import open_regular

__all__ = [
    "MAX_CONTENT_BYTES",
    "SHEET_SUFFIXES",
    "ContainerError",
    "Within",
    "content",
    "expand",
    "facts",
    "kind_of",
    "long_line_in",
    "open_packed",
    "real_file",
    "sections",
    "sheet_names",
    "within",
]

#: The most bytes one file's content may have once decompressed (or a sheet as CSV).
MAX_CONTENT_BYTES = 512 * 1024 * 1024
SHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
#: Members of a zip read as CSV when `member:` is not set.
_TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")


class ContainerError(Exception):
    """A container cannot give what a source asks of it; ``config``: the source's keys
    (`member:`, `sheet:`, `section:`) are at fault (exit 2) rather than the file (exit 3)."""

    def __init__(self, message: str, hint: str | None = None, *, config: str | None = None):
        super().__init__(message)
        self.hint = hint
        self.config = config  # the source key to blame, when it is one


@dataclass(frozen=True)
class Within:
    """What to take inside a file: how it is packed, and the sheet and section asked for."""

    kind: str  # "gzip", "zip", "sheet" or "plain"
    sheet: str | int | None = None
    section: str | None = None

    def describe(self) -> str:
        """How the file was opened, in words (for `kpi sources`)."""
        parts = {"gzip": ["gzip"], "zip": ["zip member"], "sheet": ["spreadsheet"]}.get(
            self.kind, []
        )
        if self.kind == "sheet" and self.sheet is not None:
            parts.append(f"sheet `{self.sheet}`")
        if self.section is not None:
            parts.append(f"section `{self.section}`")
        return ", ".join(parts)


def _lower(name: str) -> str:
    return name.lower()


def kind_of(path: Path) -> str:
    """How a path is packed, by its name: "zip" for a member under a zip, "gzip", "sheet",
    or "plain"."""
    if _zip_of(path) is not None:
        return "zip"
    name = _lower(path.name)
    if name.endswith(".gz"):
        return "gzip"
    if name.endswith(SHEET_SUFFIXES):
        return "sheet"
    return "plain"


def within(path: Path, sheet: str | int | None, section: str | None) -> Within | None:
    """What :func:`content` takes from ``path``; None for a plain file read as it is."""
    kind = kind_of(path)
    if sheet is not None and kind != "sheet":
        raise ContainerError(
            f"{path} is not a spreadsheet: `sheet:` picks a sheet of an .xlsx, .xls or .ods",
            hint="remove `sheet:`, or point `path:` at the workbook",
            config="sheet",
        )
    if section is not None and kind == "plain" and _lower(path.name).endswith(".parquet"):
        raise ContainerError(
            f"{path} is a Parquet file: `section:` picks a `#`-titled table of a CSV export",
            hint="remove `section:` (a Parquet file holds one table)",
            config="section",
        )
    if kind == "plain" and section is None:
        return None
    return Within(kind, sheet if kind == "sheet" else None, section)


def _zip_of(path: Path) -> tuple[Path, str] | None:
    """(zip file, member name) of a member's path (``export.zip/Queries.csv``), else None."""
    text = str(path)
    if ".zip" not in text.lower() or os.path.isfile(text):
        return None
    for parent in path.parents:
        if parent.name.lower().endswith(".zip") and os.path.isfile(parent):
            return parent, path.relative_to(parent).as_posix()
    return None


def real_file(path: Path) -> Path:
    """The file on disk that holds ``path`` (the zip of a member; else the path itself)."""
    found = _zip_of(path)
    return found[0] if found is not None else path


def _is_zip(path: Path) -> bool:
    return path.name.lower().endswith(".zip")


def expand(path: Path, member: str | None) -> list[Path]:
    """The files a matched path stands for: a zip's members (`member:`, a name or a glob;
    else its only table), each as ``zip/member``; any other file as it is. Raises
    ContainerError (a missing member, several tables and no `member:`) or OSError."""
    if not _is_zip(path):
        if member is not None:
            raise ContainerError(
                f"{path} is not a zip file: `member:` picks a file inside a .zip",
                hint="remove `member:`, or point `path:` at the .zip",
                config="member",
            )
        return [path]
    names = _members(path)
    if member is None:
        tables = [n for n in names if _lower(n).endswith(_TABLE_SUFFIXES)]
        if len(tables) == 1:
            return [path / tables[0]]
        shown = ", ".join(tables or names) or "nothing"
        raise ContainerError(
            f"{path} holds {'several tables' if tables else 'no CSV file'}: {shown}",
            hint="set `member:` on the source to the one to read (a name, or a glob such as "
            '"*.csv" for several laid out alike)',
            config="member",
        )
    chosen = [n for n in names if n == member or fnmatch.fnmatchcase(n, member)]
    if not chosen:  # a name without its folder inside the zip
        chosen = [n for n in names if fnmatch.fnmatchcase(PurePosixPath(n).name, member)]
    if not chosen:
        raise ContainerError(
            f"{path} has no member `{member}`; it holds: {', '.join(names) or 'nothing'}",
            hint="set `member:` to one of the names listed (or a glob that matches some)",
            config="member",
        )
    parquet = [n for n in chosen if _lower(n).endswith(".parquet")]
    if parquet:
        raise ContainerError(
            f"{path / parquet[0]} is a Parquet file inside a zip, which kpi does not read",
            hint="extract it and point `path:` at the .parquet file",
        )
    return [path / n for n in chosen]


def _members(path: Path) -> list[str]:
    """The files of a zip (no folders, no macOS resource forks), in the zip's order."""
    with open_regular(path) as fh, _open_zip(fh, path) as zf:
        return [
            i.filename
            for i in zf.infolist()
            if not i.is_dir() and not i.filename.startswith("__MACOSX/")
        ]


def _open_zip(fh: io.BufferedIOBase, path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(fh)
    except zipfile.BadZipFile as err:
        raise ContainerError(f"{path} is not a readable zip file ({err})") from None


def _too_big(what: str) -> ContainerError:
    return ContainerError(
        f"{what} is larger than {MAX_CONTENT_BYTES >> 20} MiB once decompressed",
        hint="decompress it and point `path:` at the CSV (kpi holds a packed file's content "
        "in memory)",
    )


def _bounded(stream: io.BufferedIOBase, what: str) -> bytes:
    """Everything ``stream`` gives, up to the bound (a zip bomb stops there)."""
    try:
        data = stream.read(MAX_CONTENT_BYTES + 1)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as err:
        raise ContainerError(f"{what} cannot be decompressed ({err})") from None
    if len(data) > MAX_CONTENT_BYTES:
        raise _too_big(what)
    return data


def _gunzip(data: bytes, what: str) -> bytes:
    return _bounded(gzip.GzipFile(fileobj=io.BytesIO(data)), what)


def _packed(path: Path, kind: str) -> bytes:
    """The bytes a path stands for, unpacked (a sheet's file as it is)."""
    if kind == "zip":
        archive, member = _zip_of(path) or (path, "")
        with open_regular(archive) as fh, _open_zip(fh, archive) as zf:
            try:
                info = zf.getinfo(member)
            except KeyError:
                raise ContainerError(f"{archive} has no member `{member}`") from None
            if info.file_size > MAX_CONTENT_BYTES:
                raise _too_big(str(path))
            with zf.open(info) as stream:
                data = _bounded(stream, str(path))
        return _gunzip(data, str(path)) if member.lower().endswith(".gz") else data
    if kind == "gzip":
        with open_regular(path) as fh:
            return _bounded(gzip.GzipFile(fileobj=fh), str(path))
    with open_regular(path) as fh:
        return _bounded(fh, str(path))


def content(path: Path, inside: Within) -> bytes:
    """The bytes of the CSV ``path`` stands for: unpacked, a sheet as UTF-8 CSV, one
    section. Raises ContainerError or OSError."""
    data = _sheet_csv(path, inside.sheet) if inside.kind == "sheet" else _packed(path, inside.kind)
    if inside.section is not None:
        data = _section(data, inside.section, path)
    return data


# ---------------------------------------------------------------------------- sheets


def sheet_names(path: Path) -> list[str]:
    """The sheets of a workbook, in order."""
    return list(_workbook(path).sheet_names)


def _workbook(path: Path):
    import fastexcel

    with open_regular(path) as fh:
        data = _bounded(fh, str(path))
    try:
        return fastexcel.read_excel(data)
    except Exception as err:  # fastexcel raises its own errors for a file it cannot read
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ContainerError(
            f"{path} is not a readable spreadsheet ({first})",
            hint="open it in a spreadsheet program and save it again, or export it as CSV",
        ) from None


def _sheet_csv(path: Path, sheet: str | int | None) -> bytes:
    """A sheet as UTF-8 CSV text (see the module docstring): each cell read twice by
    fastexcel, as text and as a float, and made one text by :func:`_cells` (vectorised)."""
    import polars as pl

    book = _workbook(path)
    index = _sheet_index(book, sheet, path)
    try:
        text = _load(book, index, "string")
        nums = _load(book, index, "float")
    except Exception as err:
        raise ContainerError(f"{path}: sheet `{book.sheet_names[index]}`: {err}") from None
    if not text.width:
        return b""
    cells = text.select(
        _cells(pl.col(t), nums.get_column(n)).alias(t)
        for t, n in zip(text.columns, nums.columns, strict=True)
    )
    data = _write_csv(cells)
    if len(data) > MAX_CONTENT_BYTES:
        raise _too_big(f"{path}: sheet `{book.sheet_names[index]}`")
    return data


def _load(book, index: int, dtype: str):
    """A sheet's cells, every column as ``dtype``, without a header row."""
    import polars as pl

    return pl.DataFrame(book.load_sheet(index, header_row=None, dtypes=dtype))


def _write_csv(cells) -> bytes:  # a polars DataFrame of text cells
    """The cells as CSV; the lines above the table (a title, a period: rows with fewer
    than two cells filled) without their empty cells, as an export's preamble lines are."""
    import csv

    filled = cells.select(sum(c.is_not_null().cast(int) for c in _cols(cells)))
    wide = filled.to_series().to_list()
    top = next((i for i, n in enumerate(wide) if n >= 2), len(wide))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for cells_of in cells.head(top).iter_rows():
        row = ["" if c is None else c for c in cells_of]
        while row and not row[-1]:
            row.pop()
        writer.writerow(row)
    body = cells.slice(top).write_csv(include_header=False, line_terminator="\n")
    return out.getvalue().encode("utf-8") + body.encode("utf-8")


def _cols(frame):
    import polars as pl

    return [pl.col(c) for c in frame.columns]


#: A date-time at midnight, written as its date.
_MIDNIGHT = r"^(\d{4}-\d{2}-\d{2})[ T]00:00:00(?:\.0+)?$"
#: A time-of-day or duration cell ([h]:mm:ss) reads as a date-time on Excel's day zero.
_DAY_ZERO = r"^1899-12-3[01][ T](\d{2}:\d{2}:\d{2})(?:\.\d+)?$"
#: A number as fastexcel writes a numeric cell's text (a text cell ``00123`` or ``1,234``
#: is not one, and stays as written).
_NUMBER_TEXT = r"^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?$"


def _cells(text, value):  # polars expressions
    """One column of cells as CSV text: a numeric cell as its exact shortest text (no
    exponent; the text fastexcel gives keeps 9 digits), a date at midnight as its date, a
    time or a duration as ``HH:MM:SS``, anything else as its text; empty for no cell."""
    import polars as pl

    value = pl.lit(value)
    numeric = (
        text.str.contains(_NUMBER_TEXT)
        & value.is_not_null()
        & value.is_finite()
        & (
            (text.cast(pl.Float64, strict=False) - value).abs()
            <= 1e-8 * pl.max_horizontal(pl.lit(1.0), value.abs())
        )
    )
    integral = (value == value.round(0)) & (value.abs() < 1e15)
    shown = value.cast(pl.String)
    exact = (
        pl.when(integral)
        .then(value.cast(pl.Int64).cast(pl.String))
        .when(shown.str.contains("e"))
        .then(value.map_elements(_plain, return_dtype=pl.String))
        .otherwise(shown)
    )
    dated = text.str.replace(_MIDNIGHT, "${1}").str.replace(_DAY_ZERO, "${1}")
    cell = pl.when(numeric).then(exact).otherwise(dated)
    return pl.when(cell == "").then(None).otherwise(cell)  # written as nothing, unquoted


def _plain(value: float) -> str:
    """A float without an exponent, digits as its shortest repr has them."""
    return format(Decimal(repr(value)), "f")


def _sheet_index(book, sheet: str | int | None, path: Path) -> int:
    names = list(book.sheet_names)
    if sheet is None:  # the first with data (a sheet is read once: calamine keeps it)
        for i in range(len(names)):
            if book.load_sheet(i, header_row=None, n_rows=1, dtypes="string").height:
                return i
        raise ContainerError(f"{path} has no sheet with data (sheets: {', '.join(names)})")
    if isinstance(sheet, int):
        if 0 <= sheet < len(names):
            return sheet
        raise ContainerError(
            f"{path} has no sheet {sheet} (it has {len(names)}, counted from 0: "
            f"{', '.join(names)})",
            hint="set `sheet:` to a name or an index from 0",
            config="sheet",
        )
    if sheet in names:
        return names.index(sheet)
    folded = [n for n in names if n.casefold() == sheet.casefold()]
    if len(folded) == 1:
        return names.index(folded[0])
    raise ContainerError(
        f"{path} has no sheet `{sheet}`; its sheets: {', '.join(names)}",
        hint="set `sheet:` to one of these names, or an index from 0",
        config="sheet",
    )


# ---------------------------------------------------------------------------- sections


def _text_of(data: bytes) -> tuple[str, str]:
    """(text, codec) of a file for finding its sections: UTF-16 by its BOM, else each byte
    as itself (latin-1: line ends and ``#`` are where they are in any ASCII-based code page),
    so that cutting and encoding back gives the same bytes."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    return data.decode("latin-1"), "latin-1"


def _title(line: str) -> str:
    return line.strip().lstrip("#").strip().strip('"').strip()


def _blocks(lines: list[str]) -> list[tuple[int, int, str, list[str]]]:
    """The tables of a file: (first line of its ``#`` block, line after the table, title,
    the block's texts), 0-based; a table is the lines under a ``#`` block up to the next."""
    blocks: list[tuple[int, int, str, list[str]]] = []
    i, n = 0, len(lines)
    while i < n:
        if not lines[i].lstrip().startswith("#"):
            i += 1
            continue
        start = i
        while i < n and lines[i].lstrip().startswith("#"):
            i += 1
        texts = [t for t in (_title(x) for x in lines[start:i]) if t and set(t) != {"-"}]
        body = i
        while i < n and not lines[i].lstrip().startswith("#"):
            i += 1
        if any(lines[k].strip() for k in range(body, i)) and texts:
            blocks.append((start, i, texts[0], texts))
    return blocks


def sections(data: bytes) -> list[str]:
    """The titles of the ``#``-titled tables a file holds (empty when fewer than two)."""
    text, _ = _text_of(data)
    found = [b[2] for b in _blocks(text.splitlines(keepends=True))]
    return found if len(found) > 1 else []


def _section(data: bytes, title: str, path: Path) -> bytes:
    text, codec = _text_of(data)
    lines = text.splitlines(keepends=True)
    blocks = _blocks(lines)
    wanted = title.strip().casefold()
    hits = [b for b in blocks if b[2].casefold() == wanted]
    if not hits:
        hits = [b for b in blocks if any(t.casefold() == wanted for t in b[3])]
    if len(hits) != 1:
        titles = ", ".join(f"`{b[2]}`" for b in blocks) or "none"
        raise ContainerError(
            f"{path} has {'several tables' if hits else 'no table'} titled `{title}` "
            f"(its tables: {titles})",
            hint="set `section:` to one of the titles listed",
            config="section",
        )
    start, stop, _, _ = hits[0]
    lead = blocks[0][0] if blocks else 0
    keep_head = 0  # the file's own leading # lines (its period), when the first table's block
    while keep_head < len(lines) and lines[keep_head].lstrip().startswith("#"):
        keep_head += 1
    keep_head = keep_head if lead == 0 and start != 0 else 0
    out = [
        line if k < keep_head or k >= start else _line_end(line)
        for k, line in enumerate(lines[:stop])
    ]
    body = "".join(out)
    if codec == "utf-16":
        return codecs.BOM_UTF16_LE + body.encode("utf-16-le")
    return body.encode("latin-1")


def _line_end(line: str) -> str:
    """A line's end alone (the line blanked, its number kept)."""
    return line[len(line.rstrip("\r\n")) :]


def long_line_in(data: bytes, limit: int) -> tuple[int, int] | None:
    """(line number, first byte) of the first line of ``data`` longer than ``limit`` bytes
    (the bound :func:`kpicli.inputs.long_line` puts on files on disk), None when all fit."""
    newline = b"\r" if data.find(b"\n", 0, 1 << 20) < 0 <= data.find(b"\r", 0, 1 << 20) else b"\n"
    pos, line = 0, 1
    while len(data) - pos > limit:
        end = data.rfind(newline, pos, pos + limit + 1)
        if end < 0:
            return line, pos
        line += data.count(newline, pos, end + 1)
        pos = end + 1
    return None


#: The bytes of a plain file looked at for the tables it holds (`kpi sources`).
SECTIONS_SCAN_BYTES = 1 << 20


def facts(path: Path, inside: Within | None) -> list[str]:
    """What `kpi sources` says of how a file was opened and what else it holds: a zip
    member, a spreadsheet's sheet (and its other sheets), the ``#``-titled tables of a file
    of several (each one a `section:`). Never raises: a fact that cannot be had is left out.
    """
    out: list[str] = []
    try:
        if inside is not None and inside.kind == "zip":
            out.append(f"a member of {real_file(path).name}")
        elif inside is not None and inside.kind == "gzip":
            out.append("decompressed from gzip")
        if inside is not None and inside.kind == "sheet":
            book = _workbook(path)
            names = list(book.sheet_names)
            name = names[_sheet_index(book, inside.sheet, path)]
            others = [n for n in names if n != name]
            out.append(f"sheet `{name}`" + (f" (also: {', '.join(others)})" if others else ""))
            return out
        if inside is not None and (inside.kind != "plain" or inside.section is not None):
            data = _packed(path, inside.kind)[:SECTIONS_SCAN_BYTES]
        else:
            with path.open("rb") if is_remote(path) else open_regular(path) as fh:
                data = fh.read(SECTIONS_SCAN_BYTES)
        titles = sections(data)
        if titles:
            chosen = inside.section if inside is not None else None
            shown = ", ".join(f"`{t}`" for t in titles)
            out.append(
                f"tables: {shown}; read: `{chosen}`"
                if chosen
                else f"tables: {shown} (read as one file: pick one with `section:`)"
            )
    except (ContainerError, OSError, RemoteError):
        pass
    return out


def open_packed(path: Path) -> bytes | None:
    """The CSV bytes of a packed file named on the command line (`kpi clean`): a ``.gz``,
    a zip's only table or a member named under it (``export.zip/Queries.csv``), a
    spreadsheet's first sheet with data; None for a plain file. Raises ContainerError
    (``config`` set: name the member) or OSError."""
    kind = kind_of(path)
    if kind == "plain" and _is_zip(path):
        path, kind = expand(path, None)[0], "zip"
    if kind == "plain":
        return None
    return content(path, Within(kind))
