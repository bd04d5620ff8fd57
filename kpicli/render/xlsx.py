"""The report as an Excel workbook (xlsxwriter).

Sheet ``KPIs`` holds the same table as CSV (tidy rows then totals, or ``--wide``), with real
numbers, real dates and a number format per KPI unit; sheet ``About`` says what the report
covers and what each KPI means. Text is always written as text (never as a formula), and
text that a spreadsheet would read as a formula gets a ``'`` prefix unless ``raw``.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from kpicli.render.formats import FORMULA_PREFIXES, columns, timestamp, wide_records
from kpicli.render.layout import kpi_info
from kpicli.render.units import CURRENCY_SYMBOLS, describe_period, finite_number

if TYPE_CHECKING:
    from xlsxwriter.format import Format
    from xlsxwriter.workbook import Workbook
    from xlsxwriter.worksheet import Worksheet

    from kpicli.result import KpiInfo, Result

#: Columns in the KPI's own unit (the others have a fixed format or none).
UNIT_COLUMNS = frozenset({"value", "previous", "change", "target", "expected", "projected"})
#: Number formats of the columns that do not depend on the KPI's unit.
FIXED_FORMATS = {"change_pct": "0.0%", "pace": "0%"}
DATE_FORMAT = "yyyy-mm-dd"
#: Column widths (characters): never narrower or wider than these.
MIN_WIDTH, MAX_WIDTH = 8, 50
#: Room for the autofilter drop-down button next to a header.
FILTER_BUTTON = 3

Row = dict[str, Any]


def number_format(unit: str, currency: str | None) -> str:
    """The Excel number format of a KPI unit: ``0.00%``, ``€#,##0.00``, ``#,##0``, …

    Durations are seconds, shown as a plain number. A currency without a known symbol is
    written after the number (``#,##0.00 "CHF"``).
    """
    if unit == "percent":
        return "0.00%"
    if unit == "integer":
        return "#,##0"
    if unit == "duration":
        return "#,##0.0"
    if unit == "currency":
        code = (currency or "").strip().upper()
        if not code:
            return "#,##0.00"
        symbol = CURRENCY_SYMBOLS.get(code)
        if symbol is None:
            return '#,##0.00 "' + code.replace('"', "") + '"'
        return f"{symbol}#,##0.00"
    return "#,##0.00##"


def safe_text(text: str, *, raw: bool) -> str:
    """``text`` with a ``'`` prefix when a spreadsheet would read it as a formula (not ``raw``)."""
    if not raw and text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class _Writer:
    """Writes cells with cached formats; text always with ``write_string``."""

    def __init__(self, workbook: Workbook, *, raw: bool) -> None:
        self.workbook = workbook
        self.raw = raw
        self._formats: dict[tuple[str | None, bool, bool], Format] = {}

    def fmt(self, num_format: str | None = None, *, bold: bool = False, wrap: bool = False) -> Any:
        key = (num_format, bold, wrap)
        if key not in self._formats:
            props: dict[str, Any] = {"valign": "top"}
            if num_format:
                props["num_format"] = num_format
            if bold:
                props["bold"] = True
            if wrap:
                props["text_wrap"] = True
            self._formats[key] = self.workbook.add_format(props)
        return self._formats[key]

    def cell(
        self,
        sheet: Worksheet,
        row: int,
        col: int,
        value: Any,
        num_format: str | None = None,
        *,
        bold: bool = False,
        wrap: bool = False,
    ) -> int:
        """Write one cell (nothing for null or non-finite); return its display width."""
        if value is None:
            return 0
        if isinstance(value, bool):
            sheet.write_boolean(row, col, value, self.fmt(bold=bold))
            return 5
        if isinstance(value, datetime):
            sheet.write_datetime(row, col, value, self.fmt("yyyy-mm-dd hh:mm:ss", bold=bold))
            return 19
        if isinstance(value, date):
            sheet.write_datetime(row, col, value, self.fmt(DATE_FORMAT, bold=bold))
            return 10
        if isinstance(value, str):
            text = safe_text(value, raw=self.raw)
            sheet.write_string(row, col, text, self.fmt(bold=bold, wrap=wrap))
            return max((len(part) for part in text.splitlines()), default=0)
        number = finite_number(value)
        if number is None:
            if isinstance(value, float | int):
                return 0  # NaN or infinity: an empty cell, like null
            text = safe_text(str(value), raw=self.raw)
            sheet.write_string(row, col, text, self.fmt(bold=bold, wrap=wrap))
            return len(text)
        sheet.write_number(row, col, number, self.fmt(num_format, bold=bold))
        return _number_width(number, num_format)


def _number_width(number: float, num_format: str | None) -> int:
    """About how wide ``number`` shows in ``num_format``."""
    if num_format and "%" in num_format:
        return len(f"{number * 100:,.2f}") + 2
    digits = len(f"{abs(number):,.0f}") + (1 if number < 0 else 0)
    return digits + (3 if num_format != "#,##0" else 0) + (2 if num_format else 0)


def _width(header: str, longest: int) -> float:
    return float(min(MAX_WIDTH, max(MIN_WIDTH, len(header) + FILTER_BUTTON, longest + 1)))


def _column_format(column: str, info: KpiInfo, currency: str | None) -> str | None:
    if column in UNIT_COLUMNS:
        return number_format(info.unit, currency)
    return FIXED_FORMATS.get(column)


def _table(
    writer: _Writer,
    sheet: Worksheet,
    header: list[str],
    body: list[tuple[Row, bool]],
    formats: Any,
) -> None:
    """Header (bold, frozen, filtered) then ``body`` rows ``(row, is_total)``.

    ``formats(row, column)`` gives a cell's number format.
    """
    widths = [0] * len(header)
    for col, name in enumerate(header):
        writer.cell(sheet, 0, col, name, bold=True)
    for number, (row, is_total) in enumerate(body, start=1):
        for col, name in enumerate(header):
            shown = writer.cell(
                sheet, number, col, row.get(name), formats(row, name), bold=is_total
            )
            widths[col] = max(widths[col], shown)
    for col, name in enumerate(header):
        sheet.set_column(col, col, _width(name, widths[col]))
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, len(body), len(header) - 1)


def _status_colors(writer: _Writer, sheet: Worksheet, col: int, last_row: int) -> None:
    """Green / amber / red fills on the status column (the words stay readable without)."""
    if last_row < 1:
        return
    colors = {
        "ok": ("#C6EFCE", "#006100"),
        "warn": ("#FFEB9C", "#9C5700"),
        "bad": ("#FFC7CE", "#9C0006"),
    }
    for status, (fill, font) in colors.items():
        sheet.conditional_format(
            1,
            col,
            last_row,
            col,
            {
                "type": "cell",
                "criteria": "==",
                "value": f'"{status}"',
                "format": writer.workbook.add_format({"bg_color": fill, "font_color": font}),
            },
        )


def _kpi_sheet(writer: _Writer, sheet: Worksheet, result: Result, *, wide: bool) -> None:
    currency = result.currency
    if wide:
        header, data = wide_records(result)
        totals = 0
        if result.totals is not None and result.totals.height:
            totals = result.totals.select("period_start", "period_end").unique().height
        body = [(row, index >= len(data) - totals) for index, row in enumerate(data)]

        def wide_format(row: Row, column: str) -> str | None:
            if column in ("period_start", "period_end") or column in result.dimensions:
                return None
            return number_format(kpi_info(result, column).unit, currency)

        _table(writer, sheet, header, body, wide_format)
        return

    header = columns(result)
    body = [(row, False) for row in result.rows.to_dicts()]
    if result.totals is not None:
        body += [(row, True) for row in result.totals.to_dicts()]

    def tidy_format(row: Row, column: str) -> str | None:
        return _column_format(column, kpi_info(result, row["kpi"]), currency)

    _table(writer, sheet, header, body, tidy_format)
    _status_colors(writer, sheet, header.index("status"), len(body))


def _about_sheet(writer: _Writer, sheet: Worksheet, result: Result) -> None:
    bold = writer.fmt(bold=True)
    heading = describe_period(result.period, result.period_label, result.as_of, result.comparison)
    start, end = result.period or (None, None)
    before, after = result.comparison or (None, None)
    facts: list[tuple[str, Any]] = [
        ("Report", heading),
        ("Period", result.period_label or "all"),
        ("Period start", start),
        ("Period end", end),
        ("As of", result.as_of),
        ("Comparison start", before),
        ("Comparison end", after),
        ("Grain", result.grain),
        ("Dimensions", ", ".join(result.dimensions) or None),
        ("Currency", result.currency),
        ("Generated at", timestamp(result.generated_at)),
    ]
    row = 0
    for name, value in facts:
        sheet.write_string(row, 0, name, bold)
        writer.cell(sheet, row, 1, value)
        row += 1

    row += 1
    header = ["KPI", "Label", "Unit", "Better", "Formula", "Description"]
    for col, name in enumerate(header):
        sheet.write_string(row, col, name, bold)
    for info in result.kpis.values():
        row += 1
        unit = "duration (seconds)" if info.unit == "duration" else info.unit
        cells = [info.name, info.label, unit, info.better, info.formula, info.description]
        for col, value in enumerate(cells):
            writer.cell(sheet, row, col, value or None, wrap=col >= 4)
    for col, width in enumerate([18, 28, 18, 8, 40, 60]):
        sheet.set_column(col, col, width)


def _created(result: Result) -> datetime:
    """When the workbook says it was created: the report's generated_at (reproducible bytes)."""
    moment = result.generated_at or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def to_xlsx(result: Result, *, raw: bool = False, wide: bool = False) -> bytes:
    """The report as an ``.xlsx`` workbook: sheets ``KPIs`` (as CSV, typed) and ``About``.

    Numbers are numbers with their unit's format, dates are Excel dates, nulls are empty
    cells; ``wide`` pivots to one column per KPI; ``raw`` keeps formula-like text unprefixed
    (it is written as text either way, so Excel never evaluates it).
    """
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        buffer,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "remove_timezone": True,
        },
    )
    workbook.set_properties(
        {
            "title": "KPI report",
            "subject": describe_period(
                result.period, result.period_label, result.as_of, result.comparison
            ),
            "author": "kpi",
            "created": _created(result),
        }
    )
    writer = _Writer(workbook, raw=raw)
    _kpi_sheet(writer, workbook.add_worksheet("KPIs"), result, wide=wide)
    _about_sheet(writer, workbook.add_worksheet("About"), result)
    workbook.close()
    return buffer.getvalue()


__all__ = ["number_format", "safe_text", "to_xlsx"]
