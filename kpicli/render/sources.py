"""How `kpi sources` looks: one block per source for people, a stable JSON shape for programs.

``render_sources(reports, "table" | "json")`` formats what
:func:`kpicli.commands.sources.describe_sources` found; nothing here reads data.

The JSON shape (``schema_version`` 1; keys are always present, ``null`` when unknown)::

    {
      "schema_version": 1,
      "sources": [
        {
          "name": "gads", "preset": "google_ads", "rows": 12,
          "date": {"column": "date", "format": "%Y-%m-%d", "from_preset": false,
                   "first": "2026-01-01", "last": "2026-01-31"},
          "files": [
            {"path": "exports/gads.csv", "encoding": "utf-8", "bom": false,
             "delimiter": ",", "decimal": ".", "thousands": ",", "header_line": 3,
             "rows_read": 12, "rows_dropped": {"summary row `Total: …`": 5},
             "preamble": ["Campaign report", "All time"],
             "period": {"text": "All time", "start": null, "end": null},
             "stated_rows": null}
          ],
          "columns": [
            {"name": "impressions", "type": "Int64", "header": "Impr.", "kind": "number",
             "missing": 0}
          ],
          "problems": [
            {"severity": "error", "code": "data", "message": "…", "location": "file:line",
             "hint": "…"}
          ]
        }
      ]
    }

``rows`` counts rows after the source's ``filter``; ``rows_read`` counts a file's data rows
(summary rows, footers and blank lines left out, before the filter); ``header`` is the
column's header as written in the file (null for a derived column); ``kind`` is what
detection saw in the cells (``integer``, ``float``, ``number``, ``percent``, ``boolean``,
``date (%d/%m/%Y)``, ``duration (seconds)``, ``text``, ``empty``); ``period`` is what the
export's preamble states; ``date.from_preset``: the source sets no ``date:`` and is dated by
its preset's date column (its files have it); ``date.format``: how its dates are written.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from kpicli.errors import UsageError
from kpicli.ingest.remote import is_remote
from kpicli.render.console import text_console

if TYPE_CHECKING:
    from rich.console import Console

    from kpicli.commands.sources import SourceReport

SCHEMA_VERSION = 1
FORMATS = ("table", "json")
_DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_SEPARATORS = {
    ",": "comma",
    ".": "dot",
    " ": "space",
    "\u00a0": "no-break space",
    "\u202f": "narrow no-break space",
    "\u2009": "thin space",
    "'": "apostrophe",
    "’": "apostrophe",
}


def sources_json(reports: list[SourceReport]) -> dict[str, Any]:
    """The JSON document of `kpi sources -f json`, as plain data."""
    return {"schema_version": SCHEMA_VERSION, "sources": [r.to_dict() for r in reports]}


def render_sources(
    reports: list[SourceReport], fmt: str, *, color: bool = False, width: int | None = None
) -> bytes:
    """The reports as ``fmt`` ("table" or "json"), UTF-8 bytes."""
    if fmt == "json":
        text = json.dumps(sources_json(reports), indent=2, ensure_ascii=False) + "\n"
        return text.encode("utf-8")
    if fmt == "table":
        return _table(reports, color=color, width=width).encode("utf-8")
    raise UsageError(f"unknown format `{fmt}` for `kpi sources`", hint="use table or json")


def _console(color: bool, width: int | None) -> Console:
    return text_console(color, width)


def _plural(n: int | None, word: str) -> str:
    if n is None:
        return f"? {word}s"
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _dialect(f: dict[str, Any]) -> str:
    parts = []
    if f["encoding"]:
        parts.append(f["encoding"] + (" with BOM" if f["bom"] else ""))
    if f["delimiter"]:
        parts.append(f"{_DELIMITERS.get(f['delimiter'], repr(f['delimiter']))}-separated")
    if f["decimal"]:
        parts.append(f"decimal {_SEPARATORS.get(f['decimal'], f['decimal'])}")
    if f["thousands"]:
        parts.append(f"thousands {_SEPARATORS.get(f['thousands'], repr(f['thousands']))}")
    if f["header_line"]:
        parts.append(f"header on line {f['header_line']}")
    return ", ".join(parts)


def _table(reports: list[SourceReport], *, color: bool, width: int | None) -> str:
    console = _console(color, width)
    for number, report in enumerate(reports):
        d = report.to_dict()
        if number:
            console.print()
        _print_heading(console, d)
        for f in d["files"]:
            _print_file(console, f)
        if d["columns"]:
            _print_columns(console, d["columns"])
        for p in d["problems"]:
            _print_problem(console, p)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    if not color:
        text = "\n".join(line.rstrip() for line in text.split("\n"))
    return text


def _print_heading(console: Console, d: dict[str, Any]) -> None:
    """The source's name and preset, then its rows and date range."""
    from rich.padding import Padding
    from rich.text import Text

    title = Text.assemble(("source ", "bold"), (d["name"], "bold cyan"))
    if d["preset"]:
        title.append(f"  preset {d['preset']}", style="dim")
    console.print(title)
    date = d["date"]
    facts = [_plural(d["rows"], "row")]
    if d.get("table"):  # its rows are not read here
        facts = [
            f"table {d['table']}: columns as `columns:` declares them, rows read by "
            "--engine spark or duckdb"
        ]
        facts += [f"dated by {date['column']}"] if date["column"] else []
    elif d["rows"] is None and any(is_remote(f["path"]) for f in d["files"]):
        facts = ["remote files: each described from a sample, rows read by --engine spark"]
        facts += [f"dated by {date['column']}"] if date["column"] else []
    elif date["column"] is None:
        facts.append("no date column: KPIs cover the whole file")
    elif date["first"]:
        facts.append(f"{date['column']} from {date['first']} to {date['last']}")
    else:
        facts.append(f"dated by {date['column']} (no dated row)")
    console.print(Padding(Text(", ".join(facts)), (0, 0, 0, 2)))
    how = [f"dates written {date['format']}"] if date["column"] and date["format"] else []
    how += ["date column from the preset"] if date.get("from_preset") else []
    if how:
        console.print(Padding(Text("; ".join(how), style="dim"), (0, 0, 0, 2)))


def _print_file(console: Console, f: dict[str, Any]) -> None:
    """One file: its path, dialect, the period it states, rows read and dropped."""
    from rich.padding import Padding
    from rich.text import Text

    console.print(Padding(Text(f["path"], style="bold"), (0, 0, 0, 2)))
    lines = []
    dialect = _dialect(f)
    if dialect:
        lines.append(dialect)
    lines.extend(f.get("inside") or ())  # a zip member, a sheet, the tables a file holds
    if f["period"]:
        p = f["period"]
        span = f" ({p['start']} to {p['end']})" if p["start"] or p["end"] else ""
        lines.append(f"period stated: {p['text']}{span}")
    if f["rows_read"] is not None:
        read = f"{_plural(f['rows_read'], 'row')} read"
        if f["stated_rows"] is not None:
            read += f" ({f['stated_rows']:,} stated)"
        dropped = "; ".join(
            f"{_plural(n, 'row')} dropped: {why}" for why, n in f["rows_dropped"].items()
        )
        lines.append(read + (f"; {dropped}" if dropped else ""))
    for line in lines:
        console.print(Padding(Text(line), (0, 0, 0, 4)))


def _print_columns(console: Console, columns: list[dict[str, Any]]) -> None:
    from rich import box
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    table = Table(
        box=box.SIMPLE_HEAD,
        header_style="bold",
        pad_edge=False,
        show_edge=False,
        padding=(0, 1),
    )
    for title_text in ("column", "type", "header in file", "detected", "missing"):
        table.add_column(title_text, justify="right" if title_text == "missing" else "left")
    for c in columns:
        header = c["header"] if c["header"] is not None else "(derived)"
        table.add_row(
            Text(c["name"]),
            Text(c["type"], style="dim"),
            Text(header if header != c["name"] else "", style="dim"),
            Text(c["kind"] or ""),
            Text("" if c["missing"] is None else f"{c['missing']:,}"),
        )
    console.print(Padding(table, (0, 0, 0, 2)))


def _print_problem(console: Console, p: dict[str, Any]) -> None:
    from rich.padding import Padding
    from rich.text import Text

    style = "bold yellow" if p["severity"] == "warning" else "bold red"
    kind = "warning" if p["severity"] == "warning" else "data error"
    line = Text.assemble((kind, style), ": ")
    if p["location"]:
        line.append(f"{p['location']}: ")
    line.append(p["message"])
    console.print(Padding(line, (0, 0, 0, 2)))
    if p["hint"]:
        console.print(Padding(Text(f"hint: {p['hint']}", style="dim"), (0, 0, 0, 4)))


__all__ = ["FORMATS", "SCHEMA_VERSION", "render_sources", "sources_json"]
