"""The terminal table (rich): what `kpi report` prints by default.

One table for the whole report, so columns line up across KPIs:

- no ``--by``/``--grain``: one row per KPI, label then the KPI's name dimmed;
- ``--by``: a section per KPI, one row per dimension value, then a bold ``Total`` row;
- ``--grain``: a section per KPI, one row per bucket, a sparkline of the KPI under its label
  (with ``--by`` too, each bucket's rows are closed by that bucket's ``Total``).

At most ``TABLE_ROWS`` rows per KPI and bucket are shown (``layout``): a line says how many
more there are, and a note under the table how to see them all.

Optional columns (Previous, Change, Target, Pace, Projected, Status) appear only when the
result has a value in them. Every cell is a ``Text``, so data is never read as rich markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kpicli.render.console import DEFAULT_WIDTH, text_console
from kpicli.render.layout import (
    NOTE_MORE,
    Line,
    dimension_text,
    has_more,
    optional_columns,
    sections,
    value_texts,
)
from kpicli.render.units import bucket_label, describe_period

if TYPE_CHECKING:
    from rich.text import Text

    from kpicli.execute.result import KpiInfo, Result


#: Blank cells between two columns: right padding, the (invisible) divider, left padding.
GAP = 3
#: Width a label column keeps before optional columns are left out, and at the very least.
LABEL_ROOM, LABEL_MIN = 30, 14


def render_table(result: Result, *, color: bool, width: int | None = None) -> str:
    """The report as a terminal table; no ANSI escapes at all when ``color`` is False.

    Numbers are never truncated: when the table does not fit in ``width``, the Projected,
    Pace and Previous columns are left out (a footnote says so), labels wrap, and as a last
    resort the table is wider than ``width``.
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    width = width or DEFAULT_WIDTH
    heading = describe_period(result.period, result.period_label, result.as_of, result.comparison)
    kpi_sections = sections(result)
    dims = list(result.dimensions)
    grain = result.grain
    grouped = bool(dims) or grain is not None
    extra = optional_columns(result)

    def label_text(info: KpiInfo) -> Text:
        style = "bold" if grouped else ""
        label = info.label or info.name
        if label.lower() != info.name.replace("_", " ").lower():
            return Text.assemble((label, style), "  ", (info.name, "dim"))
        return Text(label, style=style)

    def row_cells(line: Line, info: KpiInfo) -> list[Text]:
        record = line.record
        cells = []
        if grain is not None:
            label = bucket_label(record["period_start"], grain) if line.first_of_bucket else ""
            cells.append(Text(label))
        if line.more:
            cells += [Text(line.more_text, style="dim")] + [Text("") for _ in dims[1:]]
            return cells + [Text("") for _ in range(1 + len(extra))]
        if line.is_total:
            cells += [Text("Total")] + [Text("") for _ in dims[1:]]
        else:
            for dim in dims:
                value = record.get(dim)
                cells.append(Text(dimension_text(value), style="dim" if value is None else ""))
        texts = value_texts(record, info, extra, result)
        return cells + [Text(text, style=style) for text, style in texts]

    # (header, key, wraps) of every column, then every row's cells, before choosing columns.
    columns = [("KPI", "kpi", True)]
    columns += [("Period", "period", False)] if grain is not None else []
    columns += [(result.dimension_name(dim), "dim", True) for dim in dims]
    columns += [("Value", "value", False)] + [(title, key, False) for key, title in extra]
    body: list[tuple[list[Text], bool, bool]] = []  # cells, is_total, ends a section
    for number, section in enumerate(kpi_sections):
        for index, line in enumerate(section.lines):
            if index == 0:
                kpi_cell = label_text(section.info)
            elif index == 1 and section.spark:
                kpi_cell = Text(section.spark, style="cyan")
            else:
                kpi_cell = Text("")
            ends = index == len(section.lines) - 1 and number < len(kpi_sections) - 1
            body.append(([kpi_cell, *row_cells(line, section.info)], line.is_total, ends))

    natural = [
        max([len(title), *(cells[i].cell_len for cells, _, _ in body)])
        for i, (title, _, _) in enumerate(columns)
    ]

    # Labels may wrap, but only once the optional columns are gone: first fit with labels
    # up to LABEL_ROOM wide, dropping columns; then let labels wrap down to LABEL_MIN.
    def widest(limit: int) -> list[int]:
        return [min(n, limit) if c[2] else n for n, c in zip(natural, columns, strict=True)]

    def total(widths: list[int], kept: list[int]) -> int:
        return sum(widths[i] for i in kept) + GAP * (len(kept) - 1)

    roomy, minimum = widest(LABEL_ROOM), widest(LABEL_MIN)
    kept = list(range(len(columns)))
    dropped: list[str] = []
    for key in ("projected", "pace", "previous"):
        if total(roomy, kept) <= width:
            break
        position = next((i for i in kept if columns[i][1] == key), None)
        if position is not None:
            kept.remove(position)
            dropped.append(columns[position][0])
    needed = total(minimum, kept)

    console = text_console(color, max(width, needed))
    console.print(Text(heading, style="bold"))
    if not body:
        console.print(Text("No rows: nothing matched the period and filters.", style="dim"))
    else:
        table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, show_edge=False)
        for i in kept:
            title, key, wraps = columns[i]
            table.add_column(
                title,
                justify="left" if wraps or key in ("period", "status") else "right",
                no_wrap=not wraps,
                overflow="fold",
                min_width=minimum[i],
            )
        for cells, is_total, ends in body:
            table.add_row(
                *(cells[i] for i in kept),
                style="bold" if is_total else None,
                end_section=grouped and ends,
            )
        console.print(table)
        if dropped:
            note = f"{', '.join(dropped)} left out to fit {width} columns: widen the terminal"
            console.print(Text(note + " or use --format csv.", style="dim"))
        if has_more(kpi_sections):
            console.print(Text(NOTE_MORE[0].upper() + NOTE_MORE[1:] + ".", style="dim"))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    if not color:  # rich pads every cell; trailing blanks only get in the way of diffs
        text = "\n".join(line.rstrip() for line in text.split("\n"))
    return text
