"""File renderers: the Excel workbook (read back with openpyxl) and the HTML page."""

from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import polars as pl
import pytest

from kpicli.execute.result import KEY_COLUMNS, VALUE_COLUMNS, KpiInfo, Result
from kpicli.render import infer_format, render
from kpicli.render.html import nice_ticks, to_html
from kpicli.render.xlsx import number_format, to_xlsx

openpyxl = pytest.importorskip("openpyxl")

# --------------------------------------------------------------------------- results by hand
# The builders of tests/render/test_render.py; the fixtures below are this file's own data.
from test_render import KPIS, MONTHS, SEP, compared, frame, make_result  # noqa: E402


@pytest.fixture
def full() -> Result:
    """One row per KPI, compared, with targets and statuses (one value null)."""
    rows = frame(
        [
            {"kpi": "leads", "value": 1234.0, **compared(1234, 1140), "target": 1200.0},
            {"kpi": "ctr", "value": 0.0312, **compared(0.0312, 0.0288), "target": 0.035},
            {"kpi": "cpl", "value": 42.5, **compared(42.5, 39.0), "target": 35.0},
            {"kpi": "avg_session_duration", "value": 65.0, **compared(65, 71)},
            {"kpi": "roi", "value": None},
        ]
    ).with_columns(status=pl.Series(["ok", "warn", "bad", None, None], dtype=pl.String))
    return make_result(rows, comparison=SEP)


def by_channel_result(channels: tuple[str | None, ...]) -> Result:
    """``--by channel`` with totals, compare, targets and statuses over ``channels``."""
    leads = [60.0, 40.0, 3.0]
    cpl = [35.5, 44.0, None]
    statuses = ["ok", "bad", None]
    rows = [
        {
            "kpi": "leads",
            "channel": c,
            "value": v,
            **compared(v, v - 5),
            "target": 50.0,
            "status": s,
        }
        for c, v, s in zip(channels, leads, statuses, strict=True)
    ]
    rows += [
        {"kpi": "cpl", "channel": c, "value": v, "status": "warn" if v else None}
        for c, v in zip(channels, cpl, strict=True)
    ]
    totals = [
        {"kpi": "leads", "value": 103.0, **compared(103, 88)},
        {"kpi": "cpl", "value": 39.1},
    ]
    return make_result(
        frame(rows, ("channel",)),
        totals=frame(totals),
        dimensions=("channel",),
        comparison=SEP,
        period_label="2026-10",
    )


@pytest.fixture
def by_channel() -> Result:
    return by_channel_result(("google_ads", "meta_ads", None))


@pytest.fixture
def monthly() -> Result:
    """``--grain month`` over six months with a target; one ctr month is null."""
    records: list[dict[str, Any]] = []
    leads = [80.0, 95.0, 70.0, 110.0, 120.0, 64.0]
    ctr = [0.021, 0.025, None, 0.031, 0.028, 0.03]
    for i, (start, end) in enumerate(MONTHS):
        records.append(
            {
                "kpi": "leads",
                "period_start": start,
                "period_end": end,
                "value": leads[i],
                "target": 100.0,
                "status": "ok" if leads[i] >= 100 else "warn" if leads[i] >= 90 else "bad",
            }
        )
        records.append({"kpi": "ctr", "period_start": start, "period_end": end, "value": ctr[i]})
    return make_result(
        frame(records),
        grain="month",
        period=(MONTHS[0][0], MONTHS[-1][1]),
        period_label="2026-06-01..2026-11-30",
    )


@pytest.fixture
def weekly_by_channel() -> Result:
    """``--grain week --by channel``: the chart follows the totals."""
    weeks = [date(2026, 10, 5) + timedelta(weeks=i) for i in range(3)]
    rows, totals = [], []
    for i, start in enumerate(weeks):
        end = start + timedelta(days=6)
        for channel, value in (("google_ads", 10.0 + i), ("meta_ads", 5.0 * i)):
            rows.append(
                {
                    "kpi": "leads",
                    "period_start": start,
                    "period_end": end,
                    "channel": channel,
                    "value": value,
                }
            )
            rows.append(
                {
                    "kpi": "cpl",
                    "period_start": start,
                    "period_end": end,
                    "channel": channel,
                    "value": 30.0 + i,
                }
            )
        totals.append(
            {"kpi": "leads", "period_start": start, "period_end": end, "value": 10.0 + 6 * i}
        )
        totals.append({"kpi": "cpl", "period_start": start, "period_end": end, "value": 30.0 + i})
    return make_result(
        frame(rows, ("channel",)),
        totals=frame(totals),
        dimensions=("channel",),
        grain="week",
        period=(weeks[0], weeks[-1] + timedelta(days=6)),
        period_label="2026-10-05..2026-10-25",
    )


#: Text a spreadsheet would read as a formula.
INJECTIONS = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]

# --------------------------------------------------------------------------- xlsx


def workbook(data: bytes) -> Any:
    return openpyxl.load_workbook(io.BytesIO(data))


def ooxml_text(text: str) -> str:
    """Text as Excel shows it: control characters are stored as ``_x000D_`` escapes."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), text)


def sheet_rows(sheet: Any) -> list[dict[str, Any]]:
    """Data rows as dicts keyed by the header."""
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def cells_by_header(sheet: Any) -> list[dict[str, Any]]:
    """Data rows as dicts of openpyxl cells keyed by the header."""
    rows = list(sheet.iter_rows())
    header = [c.value for c in rows[0]]
    return [dict(zip(header, r, strict=True)) for r in rows[1:]]


def test_xlsx_is_a_format() -> None:
    assert infer_format("report.xlsx") == "xlsx"
    assert infer_format("REPORT.XLSX") == "xlsx"


def test_xlsx_rows_then_totals(by_channel: Result) -> None:
    book = workbook(to_xlsx(by_channel))
    assert book.sheetnames == ["KPIs", "About"]
    sheet = book["KPIs"]
    header = [c.value for c in sheet[1]]
    assert header == [*KEY_COLUMNS, "channel", *VALUE_COLUMNS, "total"]  # the CSV columns
    rows = sheet_rows(sheet)
    assert len(rows) == 8
    first = rows[0]
    assert first["kpi"] == "leads" and first["channel"] == "google_ads"
    assert first["value"] == 60 and first["previous"] == 55 and first["target"] == 50
    assert first["change_pct"] == pytest.approx(5 / 55)
    assert first["status"] == "ok"
    # nulls are empty cells: a null channel, a null value, no expected/pace/projected
    assert rows[2]["channel"] is None
    assert rows[5]["value"] is None and rows[5]["status"] is None
    assert all(r["expected"] is None and r["pace"] is None for r in rows)
    # totals last, dimension cell empty, bold
    assert [(r["kpi"], r["channel"], r["value"]) for r in rows[6:]] == [
        ("leads", None, 103),
        ("cpl", None, 39.1),
    ]
    assert sheet.cell(row=8, column=1).font.b and not sheet.cell(row=2, column=1).font.b
    assert [r["total"] for r in rows] == [False] * 6 + [True] * 2


def test_xlsx_dates_are_dates(by_channel: Result) -> None:
    sheet = workbook(to_xlsx(by_channel))["KPIs"]
    cell = sheet["B2"]
    assert cell.is_date and cell.value == datetime(2026, 10, 1)
    assert cell.number_format == "yyyy-mm-dd"
    assert sheet["C2"].value == datetime(2026, 10, 31)


def test_xlsx_number_formats_follow_units(full: Result) -> None:
    sheet = workbook(to_xlsx(full))["KPIs"]
    cells = {row["kpi"].value: row for row in cells_by_header(sheet)}
    assert cells["leads"]["value"].number_format == "#,##0"
    assert cells["leads"]["target"].number_format == "#,##0"
    assert cells["ctr"]["value"].number_format == "0.00%"
    assert cells["ctr"]["value"].value == pytest.approx(0.0312)  # a fraction, not 3.12
    assert cells["cpl"]["value"].number_format == "€#,##0.00"
    assert cells["cpl"]["previous"].number_format == "€#,##0.00"
    duration = cells["avg_session_duration"]["value"]
    assert duration.value == 65 and duration.data_type == "n"  # seconds, as a number
    assert cells["leads"]["change_pct"].number_format == "0.0%"
    for row in cells.values():
        assert row["value"].data_type == "n"
        assert row["kpi"].data_type == "s"
    assert cells["roi"]["value"].value is None


@pytest.mark.parametrize(
    ("unit", "currency", "expected"),
    [
        ("percent", "EUR", "0.00%"),
        ("integer", None, "#,##0"),
        ("currency", "eur", "€#,##0.00"),
        ("currency", "USD", "$#,##0.00"),
        ("currency", "GBP", "£#,##0.00"),
        ("currency", "CHF", '#,##0.00 "CHF"'),
        ("currency", None, "#,##0.00"),
        ("number", "EUR", "#,##0.00##"),
    ],
)
def test_number_format(unit: str, currency: str | None, expected: str) -> None:
    assert number_format(unit, currency) == expected


def test_xlsx_header_frozen_filtered_and_sized(by_channel: Result) -> None:
    sheet = workbook(to_xlsx(by_channel))["KPIs"]
    assert all(c.font.b for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:N9"  # 14 columns, header + 8 rows
    for letter in "ABCDEFGHIJKLM":
        assert 8 <= sheet.column_dimensions[letter].width <= 50


def test_xlsx_non_finite_values_are_empty() -> None:
    rows = frame([{"kpi": "roi", "value": float("inf")}, {"kpi": "ctr", "value": float("nan")}])
    sheet = workbook(to_xlsx(make_result(rows)))["KPIs"]
    assert [r["value"] for r in sheet_rows(sheet)] == [None, None]


@pytest.mark.parametrize("text", INJECTIONS)
def test_xlsx_neutralises_formulas(text: str) -> None:
    result = by_channel_result((text, "meta_ads", None))
    rows = sheet_rows(workbook(to_xlsx(result))["KPIs"])
    assert ooxml_text(rows[0]["channel"]) == "'" + text


@pytest.mark.parametrize("text", INJECTIONS)
def test_xlsx_raw_keeps_text_but_never_a_formula(text: str) -> None:
    data = to_xlsx(by_channel_result((text, "meta_ads", None)), raw=True)
    cell = workbook(data)["KPIs"]["D2"]
    assert ooxml_text(cell.value) == text and cell.data_type == "s"
    # no formula anywhere in the workbook: openpyxl reads formulas back as type "f"
    for sheet in workbook(data).worksheets:
        for row in sheet.iter_rows():
            assert all(c.data_type != "f" for c in row)


def test_xlsx_neutralises_headers_and_about(by_channel: Result) -> None:
    kpis = {"leads": KpiInfo("leads", "=1+1", "integer", description="@evil")}
    rows = frame([{"kpi": "leads", "value": 1.0}])
    about = workbook(to_xlsx(make_result(rows, kpis=kpis)))["About"]
    texts = [c.value for row in about.iter_rows() for c in row if isinstance(c.value, str)]
    assert "'=1+1" in texts and "'@evil" in texts
    assert "=1+1" not in texts


def test_xlsx_wide(by_channel: Result) -> None:
    sheet = workbook(to_xlsx(by_channel, wide=True))["KPIs"]
    header = [c.value for c in sheet[1]]
    values = ["", "_previous", "_change", "_change_pct", "_target", "_status"]
    assert header == [
        "period_start",
        "period_end",
        "channel",
        *(f"leads{v}" for v in values),
        *(f"cpl{v}" for v in values if v != "_target"),  # cpl has no target
        "total",
    ]
    rows = sheet_rows(sheet)
    assert [(r["channel"], r["leads"], r["cpl"]) for r in rows] == [
        ("google_ads", 60, 35.5),
        ("meta_ads", 40, 44),
        (None, 3, None),
        (None, 103, 39.1),
    ]
    cells = cells_by_header(sheet)
    assert cells[0]["leads"].number_format == "#,##0"
    assert cells[0]["cpl"].number_format == "€#,##0.00"
    assert cells[0]["period_start"].is_date
    assert cells[3]["leads"].font.b and not cells[2]["leads"].font.b  # the total row
    assert cells[0]["leads_previous"].number_format == "#,##0"
    assert cells[0]["leads_change_pct"].number_format == "0.0%"
    assert cells[0]["cpl_status"].value == "warn" and rows[3]["total"] is True


def test_xlsx_wide_by_month(monthly: Result) -> None:
    rows = sheet_rows(workbook(to_xlsx(monthly, wide=True))["KPIs"])
    assert len(rows) == 6
    assert rows[2]["period_start"] == datetime(2026, 8, 1)
    assert rows[2]["leads"] == 70 and rows[2]["ctr"] is None


def test_xlsx_about_sheet(by_channel: Result) -> None:
    about = workbook(to_xlsx(by_channel))["About"]
    facts = {row[0]: row[1] for row in about.iter_rows(max_row=11, values_only=True) if row[0]}
    assert facts["Period start"] == datetime(2026, 10, 1)
    assert facts["Period end"] == datetime(2026, 10, 31)
    assert facts["Period"] == "2026-10"
    assert facts["As of"] == datetime(2026, 11, 22)
    assert facts["Comparison start"] == datetime(2026, 9, 1)
    assert facts["Comparison end"] == datetime(2026, 9, 30)
    assert facts["Dimensions"] == "channel"
    assert facts["Generated at"] == "2026-11-22T07:00:03Z"
    assert facts["Grain"] is None
    rows = list(about.iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r[0] == "KPI")
    assert rows[start][:6] == ("KPI", "Label", "Unit", "Better", "Formula", "Description")
    assert rows[start + 1][:6] == (
        "leads",
        "Leads",
        "integer",
        "higher",
        "COUNT(*)",
        "Leads created.",
    )
    assert rows[start + 2][:5] == ("cpl", "Cost per lead", "currency", "lower", "spend / leads")


def test_xlsx_is_reproducible(by_channel: Result) -> None:
    assert to_xlsx(by_channel) == to_xlsx(by_channel)
    props = workbook(to_xlsx(by_channel)).properties
    assert props.created == datetime(2026, 11, 22, 7, 0, 3)


def test_xlsx_no_rows() -> None:
    result = make_result(frame([]), kpis=KPIS)
    book = workbook(render(result, "xlsx"))
    assert [c.value for c in book["KPIs"][1]] == [*KEY_COLUMNS, *VALUE_COLUMNS, "total"]
    assert book["KPIs"].max_row == 1


def test_render_dispatches_xlsx_options(by_channel: Result) -> None:
    assert render(by_channel, "xlsx", raw=True, wide=True) == to_xlsx(
        by_channel, raw=True, wide=True
    )


# --------------------------------------------------------------------------- html


class Page(HTMLParser):
    """Collects tags, attributes and text; checks that every element is closed."""

    VOID = frozenset({"meta", "br", "img", "link", "input", "hr", "col", "source", "wbr"})
    SVG_LEAVES = frozenset({"line", "path", "rect", "circle", "polyline"})

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.open: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1:]}>"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return "".join(self.text)


def parse(data: bytes) -> Page:
    page = Page(data.decode("utf-8"))
    assert page.open == [], f"unclosed elements: {page.open}"
    return page


def test_html_is_a_format() -> None:
    assert infer_format("report.html") == "html"
    assert infer_format("report.HTM") == "html"


@pytest.mark.parametrize("name", ["full", "by_channel", "monthly", "weekly_by_channel"])
def test_html_is_self_contained(name: str, request: pytest.FixtureRequest) -> None:
    result = request.getfixturevalue(name)
    data = to_html(result)
    text = data.decode("utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in text
    assert "prefers-color-scheme: dark" in text
    page = parse(data)
    assert {"script", "link", "img", "iframe", "object", "embed"}.isdisjoint(page.tags)
    assert not [a for a, v in page.attrs if a in ("src", "href", "srcset", "action")]
    assert "http://" not in text and "https://" not in text
    assert not re.search(r"url\(|@import", text)


def test_html_escapes_data() -> None:
    nasty = '<script>alert("x")</script>'
    result = by_channel_result((nasty, "a&b", None))
    result.kpis["leads"] = KpiInfo("leads", "<b>Leads</b>", "integer", description="<i>x</i>")
    data = to_html(result)
    text = data.decode("utf-8")
    assert "<script" not in text and "<b>" not in text and "<i>" not in text
    assert "&lt;script&gt;" in text and "a&amp;b" in text
    page = parse(data)
    assert "script" not in page.tags
    assert nasty in page.all_text  # shown as text: in the table and the chart
    assert "<b>Leads</b>" in page.all_text


def test_html_summary_table(full: Result) -> None:
    page = parse(to_html(full))
    text = page.all_text
    assert page.tags.count("table") == 2  # the report and the KPI definitions
    assert "svg" not in page.tags
    for word in ("✔ ok", "⚠ warn", "✖ bad"):
        assert word in text
    assert "1,234" in text and "3.12 %" in text and "€42.50" in text and "1m 05s" in text
    assert "▲ 8.2 %" in text and "▲ 0.24 pt" in text
    assert "2026-10-01 → 2026-10-31 (last-month)" in text
    assert "2026-11-22" in text and "2026-09-01 → 2026-09-30" in text


def test_html_status_and_change_classes(full: Result) -> None:
    text = to_html(full).decode("utf-8")
    assert '<span class="status st-ok">✔ ok</span>' in text
    assert '<span class="status st-warn">⚠ warn</span>' in text
    assert '<span class="status st-bad">✖ bad</span>' in text
    # leads rose (good), cpl rose while lower is better (bad)
    assert '<td class="num chg-good">▲ 8.2 %</td>' in text
    assert '<td class="num chg-bad">▲ 9.0 %</td>' in text


def test_html_line_chart_per_kpi(monthly: Result) -> None:
    text = to_html(monthly).decode("utf-8")
    assert text.count('<svg class="chart"') == len(monthly.kpis) == 2
    assert text.count('class="target"') == 1  # only leads has a target
    assert "2026-06" in text and "2026-11" in text
    page = parse(text.encode())
    assert "✔ ok" in page.all_text and "✖ bad" in page.all_text


def test_html_line_chart_follows_totals_and_each_channel(weekly_by_channel: Result) -> None:
    text = to_html(weekly_by_channel).decode("utf-8")
    # leads' total (the sum: 22 in the last week) dwarfs its channels (12): a chart of its
    # own above theirs; cpl's total (30–32, as its channels) shares their chart
    assert text.count('<svg class="chart"') == 3
    leads = text[text.index('id="kpi-leads"') : text.index('id="kpi-cpl"')]
    total, channels = leads.split("</figure>")[:2]
    assert total.count("<circle") == 3  # one point per week, from the totals
    assert total.count('<path class="line total"') == 1 and "series" not in total
    assert "(the total of every channel)" in total
    # a line per channel, each in its color (google_ads sorts first: c0), and a legend
    assert re.search(r'<path class="series c0" d="[^"]*"><title>google_ads: 12 ', channels)
    assert re.search(r'<path class="series c1" d="[^"]*"><title>meta_ads: 10 ', channels)
    legend = re.findall(r'<span class="swatch ([^"]+)"></span>([^<]+)</li>', channels)
    assert legend == [("c0", "google_ads"), ("c1", "meta_ads")]
    cpl = text[text.index('id="kpi-cpl"') :]
    legend = re.findall(r'<span class="swatch ([^"]+)"></span>([^<]+)</li>', cpl)
    assert legend == [("c0", "google_ads"), ("c1", "meta_ads"), ("total", "Total")]
    assert cpl.count('<path class="line total"') == 1
    assert "2026-W41: 10</title>" in leads and "2026-W43: 22</title>" in leads
    assert leads.count('<tr class="total">') == 3


def test_html_bar_chart_by_dimension(by_channel: Result) -> None:
    text = to_html(by_channel).decode("utf-8")
    assert text.count("<svg") == 2
    leads = text[text.index('id="kpi-leads"') : text.index('id="kpi-cpl"')]
    # a bar per channel in its color (the same in every chart), then the total's, outlined
    assert re.findall(r'<rect class="bar (c\d|total)"', leads) == ["c0", "c1", "c2", "total"]
    assert 'class="mark st-ok"' in leads and 'class="mark st-bad"' in leads
    assert leads.count('class="target-tick"') == 3  # one per channel with a target
    cpl = text[text.index('id="kpi-cpl"') :]
    assert re.findall(r'<rect class="bar (c\d|total)"', cpl) == ["c0", "c1", "total"]
    assert "(blank)" not in cpl  # no value, no previous: hidden
    assert "1 row without data hidden (--all-rows shows it)." in text
    every = to_html(by_channel, all_rows=True).decode("utf-8")
    cpl = every[every.index('id="kpi-cpl"') :]
    assert cpl.count('<rect class="bar c') == 2  # the null value has no bar
    assert "(blank)" in cpl
    assert "without data hidden" not in every


def test_html_bar_chart_keeps_a_readable_number_of_bars() -> None:
    rows = frame(
        [{"kpi": "leads", "keyword": f"kw{i}", "value": float(i)} for i in range(40)],
        ("keyword",),
    )
    totals = frame([{"kpi": "leads", "value": 780.0}])
    result = make_result(rows, totals=totals, dimensions=("keyword",))
    text = to_html(result).decode("utf-8")
    assert text.count('<rect class="bar"') == 25  # more values than colors: one color
    assert text.count('<rect class="bar total"') == 1
    assert "the first 25 of 40 rows" in text
    # every row is in the table; + its header, the definitions' header and row
    assert text.count("<tr>") == 40 + 1 + 2


def test_html_bar_chart_negative_values() -> None:
    rows = frame(
        [
            {"kpi": "roi", "channel": "a", "value": -0.5},
            {"kpi": "roi", "channel": "b", "value": 1.5},
        ],
        ("channel",),
    )
    result = make_result(
        rows, totals=frame([{"kpi": "roi", "value": 1.0}]), dimensions=("channel",)
    )
    text = to_html(result).decode("utf-8")
    widths = [float(w) for w in re.findall(r'<rect [^>]*width="([\d.]+)"', text)]
    assert widths[0] * 3 == pytest.approx(widths[1], rel=0.01)


def test_html_no_rows() -> None:
    text = to_html(make_result(frame([]), kpis=KPIS)).decode("utf-8")
    assert "No rows" in text
    parse(text.encode())


def test_html_all_null_kpi_has_no_chart(monthly: Result) -> None:
    rows = monthly.rows.with_columns(value=pl.lit(None, dtype=pl.Float64))
    text = to_html(make_result(rows, grain="month", period=monthly.period)).decode("utf-8")
    assert "<svg" not in text


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0, 100, [0, 25, 50, 75, 100]),
        (64, 120, [60, 80, 100, 120]),
        (0.021, 0.031, [0.02, 0.0225, 0.025, 0.0275, 0.03, 0.0325]),
        (5, 5, [4.5, 4.75, 5, 5.25, 5.5]),
        (0, 0, [-1, -0.5, 0, 0.5, 1]),
        (-3, 7, [-5, -2.5, 0, 2.5, 5, 7.5]),
    ],
)
def test_nice_ticks(low: float, high: float, expected: list[float]) -> None:
    ticks = nice_ticks(low, high)
    assert ticks == pytest.approx(expected)
    assert ticks[0] <= low and ticks[-1] >= high


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [(0, 10, [0, 5, 10]), (5, 5, [4, 5, 6]), (3, 4, [3, 4]), (0, 120, [0, 50, 100, 150])],
)
def test_nice_ticks_whole(low: float, high: float, expected: list[float]) -> None:
    """Integer and duration axes: whole steps only, so that no tick label is rounded."""
    assert nice_ticks(low, high, whole=True) == expected


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0, 50, [0, 15, 30, 45, 60]),
        (60, 300, [60, 120, 180, 240, 300]),
        (0, 3 * 86400, [0, 86400, 172800, 259200]),
    ],
)
def test_nice_ticks_seconds(low: float, high: float, expected: list[float]) -> None:
    """Duration axes step by 15s, 1m, 5m, 1h, … so that labels read 1m 00s, not 1m 40s."""
    assert nice_ticks(low, high, seconds=True) == expected


def test_render_dispatches_html(monthly: Result) -> None:
    assert render(monthly, "html") == to_html(monthly)


def test_html_golden_by_channel(by_channel: Result, golden: Any) -> None:
    golden("render_by_channel.html", to_html(by_channel).decode("utf-8"))


def test_html_golden_monthly(monthly: Result, golden: Any) -> None:
    golden("render_monthly.html", to_html(monthly).decode("utf-8"))
