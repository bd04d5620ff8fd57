"""Result -> bytes: the terminal table and the file formats.

``render(result, fmt)`` is the one entry point; ``infer_format`` maps an output path's
extension to a format. Only this package (and the CLI) imports rich.
"""

from __future__ import annotations

import io
from pathlib import PurePath
from typing import IO, TYPE_CHECKING

from kpicli.errors import UsageError

if TYPE_CHECKING:
    from kpicli.execute.result import Result

#: The output formats of `kpi report` (its ``--format`` choices), the one list of them.
FORMATS = ("table", "json", "jsonl", "csv", "markdown", "parquet", "xlsx", "html")
#: Formats that are bytes, not text: never printed to a terminal, written whole.
BINARY_FORMATS = ("parquet", "xlsx")

#: Output file extensions (lower case) and the format they imply.
EXTENSIONS = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".md": "markdown",
    ".markdown": "markdown",
    ".parquet": "parquet",
    ".txt": "table",
    ".xlsx": "xlsx",
    ".html": "html",
    ".htm": "html",
}


def infer_format(path: str) -> str | None:
    """The format implied by ``path``'s extension (``report.csv`` -> ``csv``), None if unknown."""
    return EXTENSIONS.get(PurePath(path).suffix.lower())


#: Formats that ``--wide`` pivots; any other format with ``--wide`` is a usage error.
WIDE_FORMATS = ("csv", "parquet", "xlsx")


def check_wide(fmt: str, wide: bool) -> None:
    """A UsageError when ``--wide`` is asked of a format that has no wide shape."""
    if wide and fmt not in WIDE_FORMATS:
        raise UsageError(
            f"--wide applies to csv, parquet and xlsx, not to {fmt}",
            hint="leave out --wide, or add --format csv (or parquet, xlsx)",
        )


def render_to(
    result: Result,
    fmt: str,
    out: IO[bytes],
    *,
    color: bool = False,
    width: int | None = None,
    raw: bool = False,
    wide: bool = False,
    all_rows: bool = False,
) -> None:
    """Write ``result`` in format ``fmt`` (one of ``FORMATS``) to the binary ``out``, UTF-8 for
    text formats. Machine formats are written a chunk of rows at a time.

    ``color`` and ``width`` apply to the table; ``raw`` (no formula-injection guard) to CSV
    and XLSX; ``wide`` (one column per KPI and value field) to CSV, Parquet and XLSX, and is a
    UsageError with any other format; ``all_rows`` (rows without data shown, not hidden) to
    the table, markdown and HTML.
    """
    from kpicli.render import formats

    check_wide(fmt, wide)
    if fmt == "table":
        from kpicli.render.table import render_table

        out.write(render_table(result, color=color, width=width, all_rows=all_rows).encode("utf-8"))
    elif fmt == "json":
        formats.write_json(result, out)
    elif fmt == "jsonl":
        formats.write_jsonl(result, out)
    elif fmt == "csv":
        formats.write_csv(result, out, raw=raw, wide=wide)
    elif fmt == "markdown":
        out.write(formats.to_markdown(result, all_rows=all_rows))
    elif fmt == "parquet":
        formats.write_parquet(result, out, wide=wide)
    elif fmt == "xlsx":
        from kpicli.render.xlsx import write_xlsx

        write_xlsx(result, out, raw=raw, wide=wide)
    elif fmt == "html":
        from kpicli.render.html import to_html

        out.write(to_html(result, all_rows=all_rows))
    else:
        raise UsageError(f"unknown output format `{fmt}`", hint=f"use one of: {', '.join(FORMATS)}")


def render(
    result: Result,
    fmt: str,
    *,
    color: bool = False,
    width: int | None = None,
    raw: bool = False,
    wide: bool = False,
    all_rows: bool = False,
) -> bytes:
    """:func:`render_to` into bytes."""
    buffer = io.BytesIO()
    render_to(result, fmt, buffer, color=color, width=width, raw=raw, wide=wide, all_rows=all_rows)
    return buffer.getvalue()


__all__ = [
    "FORMATS",
    "WIDE_FORMATS",
    "check_wide",
    "infer_format",
    "render",
    "render_to",
]
