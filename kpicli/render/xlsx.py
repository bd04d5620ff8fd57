"""The report as an Excel workbook (xlsxwriter).

Sheet ``KPIs`` holds the same table as CSV (tidy rows then totals, or ``--wide``, with the
``total`` column), with real numbers, real dates and a number format per KPI unit; sheet
``About`` says what the report covers and what each KPI means. Text is always written as
text (never as a formula), and text that a spreadsheet would read as a formula gets a ``'``
prefix unless ``raw``.

A sheet holds at most ``MAX_SHEET_ROWS`` rows (Excel's 1,048,576, the header included): a
longer report goes on in sheets ``KPIs (2)``, ``KPIs (3)``, … each with the header; no row is
ever left out. Workbooks of more than ``LARGE_ROWS`` rows are written in xlsxwriter's
constant-memory mode (rows go to temp files as they are written).
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import IO, TYPE_CHECKING, Any

from kpicli.render.formats import (
    FORMULA_PREFIXES,
    TOTAL,
    UNIT_COLUMNS,
    tidy_parts,
    timestamp,
    wide_frame,
)
from kpicli.render.layout import kpi_info
from kpicli.render.units import CURRENCY_SYMBOLS, describe_period, finite_number

if TYPE_CHECKING:
    from xlsxwriter.format import Format
    from xlsxwriter.workbook import Workbook
    from xlsxwriter.worksheet import Worksheet

    from kpicli.commands.anomalies import Anomalies
    from kpicli.execute.result import KpiInfo, Result

#: Rows of a worksheet at most, the header included (Excel's limit).
MAX_SHEET_ROWS = 1_048_576
#: Rows beyond which the workbook is written in constant-memory mode.
LARGE_ROWS = 50_000
#: The name of the first sheet of rows; the next ones are ``KPIs (2)``, ``KPIs (3)``, …
SHEET_NAME = "KPIs"
#: Number formats of the columns that do not depend on the KPI's unit.
FIXED_FORMATS = {
    "change_pct": "0.0%",
    "pace": "0%",
    "p_value": "0.0000",
    "anomaly_score": "0.0",
    "slope": "0.0%",
}
#: Fills of the flagged cells of an ``anomaly`` column (the word stays readable without).
ANOMALY_COLORS = {"high": ("#FCE4D6", "#833C0B"), "low": ("#FCE4D6", "#833C0B")}
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


def sheet_names(rows: int, limit: int | None = None) -> list[str]:
    """The names of the sheets that hold ``rows`` data rows, ``limit`` rows a sheet at most
    (``MAX_SHEET_ROWS``, header included): ``KPIs``, ``KPIs (2)``, …"""
    per_sheet = (limit or MAX_SHEET_ROWS) - 1
    count = max(1, -(-rows // per_sheet))
    return [SHEET_NAME if i == 0 else f"{SHEET_NAME} ({i + 1})" for i in range(count)]


def _rows(parts: list[Any]) -> Iterator[tuple[Any, ...]]:
    for part in parts:
        for chunk in part.iter_slices(10_000):
            yield from chunk.iter_rows()


def _write_sheets(
    writer: _Writer,
    header: list[str],
    parts: list[Any],
    formats: Any,
    status_columns: list[int],
    anomaly_columns: tuple[int, ...] = (),
) -> None:
    """The rows of ``parts`` (frames with the ``header`` columns, ``total`` last) in as many
    sheets as they need: header (bold, frozen, filtered), rows (totals bold), widths, status
    colors. ``formats(row)`` gives the number formats of a row's cells."""
    total_at = header.index(TOTAL)
    rows = sum(part.height for part in parts)
    names = sheet_names(rows, MAX_SHEET_ROWS)
    per_sheet = MAX_SHEET_ROWS - 1
    source = _rows(parts)
    for name in names:
        sheet = writer.workbook.add_worksheet(name)
        widths = [0] * len(header)
        for col, title in enumerate(header):
            writer.cell(sheet, 0, col, title, bold=True)
        written = 0
        for row in source:
            written += 1
            bold = bool(row[total_at])
            for col, (value, num_format) in enumerate(zip(row, formats(row), strict=True)):
                shown = writer.cell(sheet, written, col, value, num_format, bold=bold)
                if shown > widths[col]:
                    widths[col] = shown
            if written == per_sheet:
                break
        for col, title in enumerate(header):
            sheet.set_column(col, col, _width(title, widths[col]))
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, written, len(header) - 1)
        for col in status_columns:
            _status_colors(writer, sheet, col, written)
        for col in anomaly_columns:
            _status_colors(writer, sheet, col, written, ANOMALY_COLORS)


#: Fills and font colors of each status.
STATUS_COLORS = {
    "ok": ("#C6EFCE", "#006100"),
    "warn": ("#FFEB9C", "#9C5700"),
    "bad": ("#FFC7CE", "#9C0006"),
}


def _status_colors(
    writer: _Writer,
    sheet: Worksheet,
    col: int,
    last_row: int,
    colors: dict[str, tuple[str, str]] = STATUS_COLORS,
) -> None:
    """Green / amber / red fills on the status column (the words stay readable without);
    ``colors`` for another column of words (anomaly)."""
    if last_row < 1:
        return
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


def _kpi_sheets(writer: _Writer, result: Result, *, wide: bool) -> None:
    currency = result.currency
    if wide:
        frame, wanted = wide_frame(result)
        header = frame.columns
        by_name = {c.name: c for c in wanted}
        fixed: list[str | None] = []
        for name in header:
            col = by_name.get(name)
            if col is None or col.field == "status":
                fixed.append(None)
            elif col.field in UNIT_COLUMNS:
                fixed.append(number_format(kpi_info(result, col.kpi).unit, currency))
            else:
                fixed.append(FIXED_FORMATS.get(col.field))
        statuses = [
            i for i, n in enumerate(header) if n in by_name and by_name[n].field == "status"
        ]
        flags = tuple(
            i for i, n in enumerate(header) if n in by_name and by_name[n].field == "anomaly"
        )
        _write_sheets(writer, header, [frame], lambda row: fixed, statuses, flags)
        return

    parts = tidy_parts(result, total=True)
    header = parts[0].columns
    per_kpi: dict[str, list[str | None]] = {}

    def tidy_formats(row: tuple[Any, ...]) -> list[str | None]:
        kpi = row[0]
        if kpi not in per_kpi:
            info = kpi_info(result, kpi)
            per_kpi[kpi] = [_column_format(c, info, currency) for c in header]
        return per_kpi[kpi]

    flags = (header.index("anomaly"),) if "anomaly" in header else ()
    _write_sheets(writer, header, parts, tidy_formats, [header.index("status")], flags)


def _trends_sheet(writer: _Writer, result: Result) -> None:
    """Sheet ``Trends`` (with trends): one row per KPI and dimension values, as JSON's."""
    trends = result.trends
    if trends is None:
        return
    sheet = writer.workbook.add_worksheet("Trends")
    header = trends.columns
    widths = [0] * len(header)
    for col, title in enumerate(header):
        writer.cell(sheet, 0, col, title, bold=True)
    for number, row in enumerate(trends.iter_rows(), start=1):
        bold = bool(row[header.index("total")]) if "total" in header else False
        for col, value in enumerate(row):
            shown = writer.cell(
                sheet, number, col, value, FIXED_FORMATS.get(header[col]), bold=bold
            )
            widths[col] = max(widths[col], shown)
    for col, title in enumerate(header):
        sheet.set_column(col, col, _width(title, widths[col]))
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, trends.height, len(header) - 1)


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
    if result.anomalies:  # only then: a workbook without --anomalies stays as it was
        facts.insert(-1, ("Anomalies", f"{result.anomalies} sensitivity"))
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


def _created(result: Result | Anomalies) -> datetime:
    """When the workbook says it was created: the report's generated_at (reproducible bytes)."""
    moment = result.generated_at or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def write_xlsx(result: Result, out: IO[bytes], *, raw: bool = False, wide: bool = False) -> None:
    """The report as an ``.xlsx`` workbook: sheets ``KPIs`` (as CSV, typed; continued in
    ``KPIs (2)``… past Excel's row limit) and ``About``.

    Numbers are numbers with their unit's format, dates are Excel dates, nulls are empty
    cells; ``wide`` pivots to one column per KPI and value field; ``raw`` keeps formula-like
    text unprefixed (it is written as text either way, so Excel never evaluates it).
    """
    import xlsxwriter

    rows = result.rows.height + (result.totals.height if result.totals is not None else 0)
    large = rows > LARGE_ROWS
    # constant memory: rows go to temp files as they are written; the zip needs a seekable file
    target: Any = tempfile.TemporaryFile() if large else io.BytesIO()  # noqa: SIM115
    try:
        workbook = xlsxwriter.Workbook(
            target,
            {
                "in_memory": not large,
                "constant_memory": large,
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
        _kpi_sheets(writer, result, wide=wide)
        _trends_sheet(writer, result)
        _about_sheet(writer, workbook.add_worksheet("About"), result)
        workbook.close()
        target.seek(0)
        shutil.copyfileobj(target, out)
    finally:
        target.close()


def write_anomalies_xlsx(anomalies: Anomalies, out: IO[bytes], *, raw: bool = False) -> None:
    """`kpi anomalies -f xlsx`: sheet ``Anomalies`` (the rows as CSV has them, worst first,
    typed, each number in its KPI's format, flags colored)."""
    import xlsxwriter

    buffer = io.BytesIO()
    options = {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    workbook = xlsxwriter.Workbook(buffer, {**options, "strings_to_numbers": False})
    workbook.set_properties(
        {"title": "KPI anomalies", "author": "kpi", "created": _created(anomalies)}
    )
    writer = _Writer(workbook, raw=raw)
    sheet = workbook.add_worksheet("Anomalies")
    header = anomalies.rows.columns
    widths = [0] * len(header)
    for col, title in enumerate(header):
        writer.cell(sheet, 0, col, title, bold=True)
    for number, row in enumerate(anomalies.rows.iter_rows(), start=1):
        info = kpi_info_of(anomalies.kpis, row[0])
        for col, value in enumerate(row):
            shown = writer.cell(
                sheet, number, col, value, _column_format(header[col], info, anomalies.currency)
            )
            widths[col] = max(widths[col], shown)
    for col, title in enumerate(header):
        sheet.set_column(col, col, _width(title, widths[col]))
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, anomalies.rows.height, len(header) - 1)
    if "anomaly" in header:
        last = anomalies.rows.height
        _status_colors(writer, sheet, header.index("anomaly"), last, ANOMALY_COLORS)
    workbook.close()
    out.write(buffer.getvalue())


def kpi_info_of(kpis: dict[str, KpiInfo], name: str) -> KpiInfo:
    """The KPI's description, or a bare one."""
    from kpicli.execute.result import KpiInfo

    return kpis.get(name) or KpiInfo(name=name, label=name)


def to_xlsx(result: Result, *, raw: bool = False, wide: bool = False) -> bytes:
    """:func:`write_xlsx` as bytes."""
    buffer = io.BytesIO()
    write_xlsx(result, buffer, raw=raw, wide=wide)
    return buffer.getvalue()


__all__ = [
    "number_format",
    "safe_text",
    "sheet_names",
    "to_xlsx",
    "write_anomalies_xlsx",
    "write_xlsx",
]
