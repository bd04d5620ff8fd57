"""Result -> bytes: the terminal table and the file formats.

``render(result, fmt)`` is the one entry point; ``infer_format`` maps an output path's
extension to a format. Only this package (and the CLI) imports rich.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import TYPE_CHECKING

from kpicli.errors import UsageError

if TYPE_CHECKING:
    from kpicli.result import Result

FORMATS = ("table", "json", "jsonl", "csv", "markdown", "parquet", "xlsx", "html")

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


def render(
    result: Result,
    fmt: str,
    *,
    color: bool = False,
    width: int | None = None,
    raw: bool = False,
    wide: bool = False,
) -> bytes:
    """``result`` in format ``fmt`` (one of ``FORMATS``) as bytes, UTF-8 for text formats.

    ``color`` and ``width`` apply to the table; ``raw`` (no formula-injection guard) to CSV
    and XLSX; ``wide`` (one column per KPI) to CSV, Parquet and XLSX.
    """
    from kpicli.render import formats

    if fmt == "table":
        from kpicli.render.table import render_table

        return render_table(result, color=color, width=width).encode("utf-8")
    if fmt == "json":
        return formats.to_json(result)
    if fmt == "jsonl":
        return formats.to_jsonl(result)
    if fmt == "csv":
        return formats.to_csv(result, raw=raw, wide=wide)
    if fmt == "markdown":
        return formats.to_markdown(result)
    if fmt == "parquet":
        return formats.to_parquet(result, wide=wide)
    if fmt == "xlsx":
        from kpicli.render.xlsx import to_xlsx

        return to_xlsx(result, raw=raw, wide=wide)
    if fmt == "html":
        from kpicli.render.html import to_html

        return to_html(result)
    raise UsageError(f"unknown output format `{fmt}`", hint=f"use one of: {', '.join(FORMATS)}")


__all__ = ["FORMATS", "infer_format", "render"]
