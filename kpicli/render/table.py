"""The terminal table (rich): what `kpi report` prints by default.

One table for the whole report, so columns line up across KPIs:

- no ``--by``/``--grain``: one row per KPI, label then the KPI's name dimmed;
- ``--by``: a section per KPI, one row per dimension value, then a bold ``Total`` row;
- ``--grain``: a section per KPI, one row per bucket, a sparkline of the KPI under its label
  (with ``--by`` too, each bucket's rows are closed by that bucket's ``Total``).

At most ``TABLE_ROWS`` rows per KPI and bucket are shown (``layout``): a line says how many
more there are, and a note under the table how to see them all.

Optional columns (Anomaly, Baseline, Expected range, Previous, Change, Target, Pace,
Projected, Status) appear only when the result has a value in them. Every cell is a
``Text``, so data is never read as rich markup.

Issue 13's marks: with ``--compare``, a change that is not significant shows ``≈``, dimmed;
with ``--anomalies``, a flagged row has ``⚑ low -5.2σ`` (its value and flag bold red when
the KPI moved the way ``better`` does not want, amber when it did), and a line under the
table says how many rows are flagged and what the score is; with trends, a Trend column
holds each KPI's trend beside its sparkline (``▲ +3.1 %/week``; ``≈``, dimmed, when not
significant).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kpicli.render.console import DEFAULT_WIDTH, text_console
from kpicli.render.layout import (
    NOTE_MORE,
    WHOLE_PERIOD,
    Line,
    dimension_text,
    has_more,
    hidden_note,
    notes,
    optional_columns,
    sections,
    summary,
    summary_line,
    total_label,
    trend_text,
    value_texts,
    without_data,
)
from kpicli.render.units import bucket_label, describe_period

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

    from kpicli.execute.result import KpiInfo, Result


#: Blank cells between two columns: right padding, the (invisible) divider, left padding.
GAP = 3
#: The style of a group's heading row (config ``group:``).
GROUP_STYLE = "bold magenta"
#: Width a label column keeps before optional columns are left out, and at the very least.
LABEL_ROOM, LABEL_MIN = 30, 14


#: A column of the table: its header, its key (``kpi``, ``period``, ``dim``, ``value`` or an
#: optional column's), and whether its cells may wrap.
Column = tuple[str, str, bool]
#: A row of the table: its cells, whether it is a Total row, whether it ends a section.
Row = tuple[list["Text"], bool, bool]


def render_table(
    result: Result, *, color: bool, width: int | None = None, all_rows: bool = False
) -> str:
    """The report as a terminal table; no ANSI escapes at all when ``color`` is False.

    Rows without data are hidden (a note says how many) unless ``all_rows``.

    Numbers are never truncated: when the table does not fit in ``width``, the Projected,
    Pace and Previous columns are left out (a footnote says so), labels wrap, and as a last
    resort the table is wider than ``width``.
    """
    from rich.text import Text

    width = width or DEFAULT_WIDTH
    result, hidden = (result, 0) if all_rows else without_data(result)
    heading = describe_period(result.period, result.period_label, result.as_of, result.comparison)
    kpi_sections = sections(result, whole=True)
    grouped = bool(result.dimensions) or result.grain is not None
    columns = _columns(result, kpi_sections)
    body = _body(result, kpi_sections, trend=any(c[1] == "trend" for c in columns))
    kept, dropped, minimum = _fit(columns, body, width)
    room = max(width, _total(minimum, kept))
    fixed = _label_widths(columns, body, kept, minimum, room)

    console = text_console(color, room)
    console.print(Text(heading, style="bold"))
    if verdict := summary(result, kpi_sections):
        for line in _verdict_lines(summary_line(verdict), room):
            console.print(Text.assemble(*line), no_wrap=True, overflow="fold")
    if not body:
        console.print(Text("No rows: nothing matched the period and filters.", style="dim"))
        if hidden:
            console.print(Text(hidden_note(hidden), style="dim"))
    else:
        console.print(_table(columns, body, kept, fixed, grouped))
        if dropped:
            note = f"{', '.join(dropped)} left out to fit {width} columns: widen the terminal"
            console.print(Text(note + " or use --format csv.", style="dim"))
        if has_more(kpi_sections):
            console.print(Text(NOTE_MORE[0].upper() + NOTE_MORE[1:] + ".", style="dim"))
        for note in notes(result, kpi_sections, hidden):
            console.print(Text(note, style="dim"))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    if not color:  # rich pads every cell; trailing blanks only get in the way of diffs
        text = "\n".join(line.rstrip() for line in text.split("\n"))
    return text


def _verdict_lines(parts: list[tuple[str, str]], width: int) -> list[list[tuple[str, str]]]:
    """The verdict cut between its parts (never inside one) into lines of at most ``width``,
    a separator ending the line it follows."""
    lines: list[list[tuple[str, str]]] = [[]]
    used = 0
    for text, style in parts:
        separator = not style and text.strip() in ("·", "")
        if not separator and used and used + len(text.rstrip()) > width:
            lines[-1][-1] = (lines[-1][-1][0].rstrip(), "")
            lines.append([])
            used = 0
        lines[-1].append((text, style))
        used += len(text)
    return lines


def _columns(result: Result, kpi_sections: list) -> list[Column]:
    """Every column the table could have, before any is left out to fit: the trend (with
    ``--grain``) beside the KPI's sparkline."""
    columns = [("KPI", "kpi", True)]
    columns += [("Trend", "trend", False)] if any(s.trend for s in kpi_sections) else []
    columns += [("Period", "period", False)] if result.grain is not None else []
    columns += [(result.dimension_name(dim), "dim", True) for dim in result.dimensions]
    extra = optional_columns(result)
    return columns + [("Value", "value", False)] + [(title, key, False) for key, title in extra]


def _body(result: Result, kpi_sections: list, *, trend: bool = False) -> list[Row]:
    """Every row's cells: a KPI's label on its first row, its sparkline on the second (and
    with ``trend``, its trend beside it)."""
    from rich.text import Text

    grouped = bool(result.dimensions) or result.grain is not None
    extra = optional_columns(result)
    width = len(_columns(result, kpi_sections))
    body: list[Row] = []
    for number, section in enumerate(kpi_sections):
        if section.opens:
            if body:  # the group's heading closes the rows before it
                cells, is_total, _ = body[-1]
                body[-1] = (cells, is_total, True)
            heading = Text(section.opens.upper(), style=GROUP_STYLE)
            body.append(([heading] + [Text("") for _ in range(width - 1)], False, False))
        for index, line in enumerate(section.lines):
            if index == 0:
                kpi_cell = _label_text(section.info, grouped)
            elif index == 1 and section.spark:
                kpi_cell = Text(section.spark, style="cyan")
            else:
                kpi_cell = Text("")
            last = index == len(section.lines) - 1 and number < len(kpi_sections) - 1
            ends = grouped and last
            cells = [kpi_cell]
            if trend:
                text, style = trend_text(section.trend if index == 1 else None, result)
                cells.append(Text(text, style=style))
            cells += _row_cells(result, line, section.info, extra)
            body.append((cells, line.is_total, ends))
    return body


def _label_text(info: KpiInfo, grouped: bool) -> Text:
    from rich.text import Text

    style = "bold" if grouped else ""
    label = info.label or info.name
    if label.lower() != info.name.replace("_", " ").lower():
        return Text.assemble((label, style), "  ", (info.name, "dim"))
    return Text(label, style=style)


def _row_cells(
    result: Result, line: Line, info: KpiInfo, extra: list[tuple[str, str]]
) -> list[Text]:
    """The cells of one row after the KPI column: bucket, dimension values, values."""
    from rich.text import Text

    dims, grain = list(result.dimensions), result.grain
    record = line.record
    cells = []
    if grain is not None:
        label = bucket_label(record["period_start"], grain) if line.first_of_bucket else ""
        cells.append(Text(WHOLE_PERIOD if line.whole else label))
    if line.more:
        cells += [Text(line.more_text, style="dim")] + [Text("") for _ in dims[1:]]
        return cells + [Text("") for _ in range(1 + len(extra))]
    if line.is_total and dims:
        cells += [Text(total_label(result, info.name))] + [Text("") for _ in dims[1:]]
    elif line.is_total:
        pass
    else:
        for dim in dims:
            value = record.get(dim)
            cells.append(Text(dimension_text(value), style="dim" if value is None else ""))
    texts = value_texts(record, info, extra, result)
    return cells + [Text(text, style=style) for text, style in texts]


def _total(widths: list[int], kept: list[int]) -> int:
    """The width of the kept columns side by side."""
    return sum(widths[i] for i in kept) + GAP * (len(kept) - 1)


def _fit(
    columns: list[Column], body: list[Row], width: int
) -> tuple[list[int], list[str], list[int]]:
    """The columns kept (indexes), the headers of those left out, and each column's least
    width. Labels may wrap, but only once the optional columns are gone: first fit with
    labels up to LABEL_ROOM wide, dropping columns; then let labels wrap down to LABEL_MIN;
    then leave out the trend.
    """
    natural = _natural(columns, body)

    def widest(limit: int) -> list[int]:
        return [min(n, limit) if c[2] else n for n, c in zip(natural, columns, strict=True)]

    roomy, minimum = widest(LABEL_ROOM), widest(LABEL_MIN)
    kept = list(range(len(columns)))
    dropped: list[str] = []
    for key in ("projected", "expected", "pace", "previous", "baseline", "trend"):
        # the trend goes only once wrapping the labels does not make room for it
        if _total(minimum if key == "trend" else roomy, kept) <= width:
            break
        position = next((i for i in kept if columns[i][1] == key), None)
        if position is not None:
            kept.remove(position)
            dropped.append(columns[position][0])
    return kept, dropped, minimum


def _natural(columns: list[Column], body: list[Row]) -> list[int]:
    """Each column's width unwrapped: its header's or its widest cell's."""
    return [
        max([len(title), *(cells[i].cell_len for cells, _, _ in body)])
        for i, (title, _, _) in enumerate(columns)
    ]


def _label_widths(
    columns: list[Column], body: list[Row], kept: list[int], minimum: list[int], room: int
) -> list[int]:
    """The width of each column, its least for those that do not wrap: when the kept columns
    do not fit in ``room`` unwrapped, the columns that wrap share what the others leave (at
    least their least width each, in order), so that rich never has to cut a number or a
    status to make the table fit (it squeezed the last column by a cell or two)."""
    natural = _natural(columns, body)
    if _total(natural, kept) <= room:
        return natural
    widths = list(minimum)
    wraps = [i for i in kept if columns[i][2]]
    spare = room - _total(
        [natural[i] if i not in wraps else minimum[i] for i in range(len(columns))], kept
    )
    for i in wraps:
        extra = max(0, min(spare, natural[i] - minimum[i]))
        widths[i] = minimum[i] + extra
        spare -= extra
    return widths


def _table(
    columns: list[Column], body: list[Row], kept: list[int], widths: list[int], grouped: bool
) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, show_edge=False)
    for i in kept:
        title, key, wraps = columns[i]
        table.add_column(
            title,
            justify="left" if wraps or key in ("period", "status", "anomaly", "trend") else "right",
            no_wrap=not wraps,
            overflow="fold",
            min_width=widths[i],
            max_width=widths[i] if wraps else None,
        )
    for cells, is_total, ends in body:
        table.add_row(
            *(cells[i] for i in kept),
            style="bold" if is_total else None,
            end_section=ends,
        )
    return table
