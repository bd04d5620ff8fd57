"""Where a failed read went wrong: the file, line, column and value of the cell.

The diagnostic path of :func:`kpicli.ingest.scan.locate_bad_value`, run only after a query
failed: each file is re-read eagerly as text with Python's csv module (so line numbers are
exact, quoted newlines included) and every cell is checked the way the scan converts it
(``values.py``). What is reported, in this order of preference:

1. a cell holding a value the Polars error quotes (``values: ["abc"]``, ``parse `abc```);
2. bytes that are not UTF-8 in a file read as UTF-8 (hint: ``encoding: cp1252``);
3. a file that ends inside a quoted cell (a cut download);
4. a record with more cells than the header;
5. the first cell that does not convert: a number, a date of the detected format, a boolean;
   and, among the columns the failed query used, a cell that is not a number in a column
   read as text because of it (``SUM`` over text fails).

Parquet files (:mod:`kpicli.ingest.parquet`) are not read as text: their text columns that
convert are checked with the conversion itself, and the error names the file and the row.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from typing import Protocol

from kpicli.errors import DataError, Location
from kpicli.ingest import values as V
from kpicli.ingest.detect import Layout, first_invalid_utf8, records
from kpicli.ingest.parquet import PARQUET
from kpicli.ingest.parquet import locate as locate_parquet
from kpicli.ingest.remote import is_remote
from kpicli.ingest.rules import is_summary_row
from kpicli.spec.presets import SummaryRow

__all__ = ["FrameFiles", "ReadFiles", "locate"]


class ReadFiles(Protocol):
    """What the diagnostics read of files laid out alike (a :class:`kpicli.ingest.scan.Part`):
    their layouts, the header as the scan names it, and how each column converts."""

    layouts: list[Layout]
    raw: list[str]  # headers as written (deduplicated)
    final: list[str]  # the names a query uses
    kinds: list[V.Kind]
    decimal: str
    summary: tuple[SummaryRow, ...]
    footer: tuple[str, ...]
    dates: dict[int, tuple[V.DateShape | None, str]]


class FrameFiles(Protocol):
    """A source as the diagnostics see it (a :class:`kpicli.ingest.scan.SourceFrame`)."""

    name: str

    @property
    def parts(self) -> Sequence[ReadFiles]: ...


def _error_values(error: BaseException | str | None) -> set[str]:
    """Cell values a Polars error message quotes (``values: ["x"]``, ``parse `x` as``)."""
    if error is None:
        return set()
    text = str(error)
    found = set(re.findall(r'"((?:[^"\\]|\\.)*)"', text))
    found |= set(re.findall(r"could not parse `([^`]*)`", text))
    return {v.strip(V.WS) for v in found}


def _cell_ok(cell: str | None, part: ReadFiles, j: int) -> str | None:
    """None when the cell converts as its column does, else what it should have been."""
    if cell is None or V.is_missing(cell):
        return None
    text = cell.strip(V.WS)
    kind = part.kinds[j]
    if j in part.dates:
        shape, fmt = part.dates[j]
        if shape is not None:
            m = re.match(shape.regex, text)
            ok = m is not None and shape.parse(m.group(1), fmt) is not None
        else:
            ok = V.py_date(text, fmt) is not None
        return None if ok else f"a date ({fmt})"
    if kind.name == "integer":
        return None if re.fullmatch(r"[-+]?\d+", text) else "a whole number"
    if kind.name == "float":
        try:
            float(text)
            return None
        except ValueError:
            return "a number"
    if kind.name == "number":
        value = V.parse_number(text, part.decimal)
        if value is None:
            return "a number"
        if kind.integer and (part.decimal in text or "%" in text):
            return "a whole number"
        return None
    if kind.name == "boolean":
        return None if text.lower() in ("true", "false", "1", "0") else "true or false"
    if kind.name == "duration":
        plain = re.fullmatch(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)", text)
        ok = V.parse_duration(text) is not None or plain is not None
        return None if ok else "a duration (m:ss, h:mm:ss or seconds)"
    return None


def _numeric_text(part: ReadFiles, j: int) -> bool:
    """A text column whose sampled cells are mostly numbers (one bad cell made it text)."""
    cells = [r[j].strip(V.WS) for lay in part.layouts for r in lay.records if j < len(r)]
    cells = [c for c in cells if not V.is_missing(c)]
    numbers = sum(1 for c in cells if V.parse_number(c, part.decimal) is not None)
    return bool(cells) and numbers * 2 >= len(cells)


def _file_problem(
    sf_name: str, part: ReadFiles, layout: Layout, wanted: set[str], columns: set[str] | None
) -> tuple[DataError | None, DataError | None]:
    """(error on a quoted value, first error of any kind) found in one file."""
    text = _text(layout)
    if isinstance(text, tuple):  # not UTF-8
        err = DataError(
            f"source `{sf_name}`: {layout.path} is not UTF-8 from byte {text[0]} on",
            location=Location(str(layout.path), text[1]),
            hint="set `encoding: cp1252` (or latin-1) on the source if the file is not UTF-8",
        )
        return err, err
    recs = records(text, layout.delimiter, complete=True, limit=1 << 62)
    start = next((i for i, (ln, _) in enumerate(recs) if ln >= layout.header_line), len(recs))
    body = recs[start + 1 + layout.skip_after_header :]
    checked = [
        j
        for j in range(len(part.raw))
        if columns is None or part.final[j] in columns or part.raw[j] in columns
    ]
    as_text = {j for j in checked if part.kinds[j].name == "text" and _numeric_text(part, j)}
    first: DataError | None = None
    if layout.truncated and "quoted" in layout.truncated:
        first = DataError(
            f"source `{sf_name}`: the file looks truncated: {layout.truncated}",
            location=Location(str(layout.path), recs[-1][0] if recs else layout.header_line),
            hint="download the export again",
        )
    for line, cells in body:
        if not _data_row(cells, part):
            continue
        if len(cells) > len(part.raw) and not layout.truncate_ragged:
            first = first or _wide_error(sf_name, part, layout, line, len(cells))
            continue
        for j in checked:
            err = _cell_error(sf_name, part, layout, line, cells, j, j in as_text)
            if err is None:
                continue
            if cells[j].strip(V.WS) in wanted:
                return err, err
            first = first or err
    return None, first


def _text(layout: Layout) -> str | tuple[int, int]:
    """The whole file's text, as the scan decodes it; (byte, line) of the first byte that
    is not UTF-8 in a file read from disk as UTF-8."""
    if layout.in_memory:
        return layout.decode(layout.read_bytes()).text
    bad = first_invalid_utf8(layout.path)
    if bad is not None:
        return bad
    return layout.path.read_text(encoding="utf-8-sig")


def _data_row(cells: list[str], part: ReadFiles) -> bool:
    """A record the scan reads as data: not blank, not a summary row, not a footer line."""
    if not cells or all(not c.strip(V.WS) for c in cells):
        return False
    if is_summary_row(cells, part.summary):
        return False
    rest = cells[1:]
    return not (cells[0].strip(V.WS) in part.footer and not any(c.strip(V.WS) for c in rest))


def _wide_error(sf_name: str, part: ReadFiles, layout: Layout, line: int, n: int) -> DataError:
    width = len(part.raw)
    return DataError(
        f"source `{sf_name}`: line {line} has {n} cells but the header "
        f"(line {layout.header_line}) has {width}",
        location=Location(str(layout.path), line),
        hint="a cell holds an unquoted delimiter, or the file is not one table; "
        "fix the export or set `delimiter:`",
    )


def _cell_error(
    sf_name: str,
    part: ReadFiles,
    layout: Layout,
    line: int,
    cells: list[str],
    j: int,
    as_text: bool,
) -> DataError | None:
    """The error of cell ``j`` of a row, None when it converts as its column does;
    ``as_text``: the column is read as text because of a cell that is not a number."""
    if j >= len(cells):
        return None
    cell = cells[j]
    if as_text:
        bad = not V.is_missing(cell) and V.parse_number(cell, part.decimal) is None
        should = "a number (the column is read as text because of it)" if bad else None
    else:
        should = _cell_ok(cell, part, j)
    if should is None:
        return None
    col = part.final[j]
    shown = f"`{part.raw[j]}`" + (f" ({col})" if col != part.raw[j] else "")
    hint = (
        "set `date_format:` on the source if the dates are written another way"
        if j in part.dates
        else "fix the cell in the export, or leave the column out of the KPIs"
    )
    return DataError(
        f"source `{sf_name}`: column {shown}: `{cell.strip()}` is not {should}",
        location=Location(str(layout.path), line),
        hint=hint,
    )


def locate(
    frames: list[FrameFiles],
    error: BaseException | str | None = None,
    columns: Iterable[str] | None = None,
) -> DataError | None:
    """The first cell of ``frames`` that explains a failed read (see the module docstring)."""
    wanted = _error_values(error)
    chosen = set(columns) if columns is not None else None
    fallback: DataError | None = None
    for sf in frames:
        parquet = [p for p in sf.parts if getattr(p, "format", "csv") == PARQUET]
        if parquet and (found := locate_parquet(sf.name, parquet, wanted, chosen)) is not None:
            return found
        for part in sf.parts:
            if part in parquet:
                continue
            for layout in part.layouts:
                if is_remote(layout.path):  # not read whole through Spark's gateway
                    continue
                try:
                    exact, first = _file_problem(sf.name, part, layout, wanted, chosen)
                except (OSError, UnicodeDecodeError, csv.Error):
                    continue
                if exact is not None:
                    return exact
                fallback = fallback or first
    return fallback
