"""What issue 13 adds to every output: significance (``≈``), anomalies (``⚑``, the band),
trends, and `kpi anomalies`' view. Results are built by hand (``signal_results``); expected
texts are formatted here from the data, not copied from the renderers' output."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date
from typing import Any

import polars as pl
import pytest
from signal_results import CHANNELS, DAYS, FLAGS, TRENDS, anomalies, daily

from kpicli.errors import UsageError
from kpicli.execute.result import (
    ANOMALY_COLUMNS,
    KEY_COLUMNS,
    SIGNIFICANCE_COLUMNS,
    TREND_COLUMNS,
    VALUE_COLUMNS,
)
from kpicli.render import render
from kpicli.render.anomalies import ANOMALY_FORMATS, render_anomalies
from kpicli.render.failures import anomaly_lines, failure_lines
from kpicli.render.formats import to_csv, to_json, to_jsonl, to_markdown, to_parquet
from kpicli.render.html import EXTRA_CSS, to_html
from kpicli.render.table import render_table
from kpicli.render.units import format_anomaly, format_change, format_range, format_trend
from kpicli.stats.anomaly import Z

ROWS_PER_KPI = len(DAYS) * (len(CHANNELS) + 1)  # 7 days × (2 channels + total)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def pct(x: float) -> str:
    return f"{x * 100:.2f} %"


def row_of(result: Any, kpi: str, channel: str | None, day: date) -> dict[str, Any]:
    frame = result.rows if channel is not None else result.totals
    hit = frame.filter((pl.col("kpi") == kpi) & (pl.col("period_start") == day))
    if channel is not None:
        hit = hit.filter(pl.col("channel") == channel)
    assert hit.height == 1
    return hit.row(0, named=True)


# --------------------------------------------------------------------------- units


def test_change_not_significant_is_about_equal() -> None:
    assert format_change(0.1, 0.111, "number", significant=False) == "≈ 11.1 %"
    assert format_change(-0.1, -0.111, "number", significant=False) == "≈ 11.1 %"
    assert format_change(0.1, 0.111, "number", significant=True) == "▲ 11.1 %"
    assert format_change(0.1, 0.111, "number", significant=None) == "▲ 11.1 %"
    assert format_change(0.0024, 0.08, "percent", significant=False) == "≈ 0.24 pt"
    assert format_change(None, None, "number", significant=False) == "–"


@pytest.mark.parametrize(
    ("slope", "grain", "significant", "expected"),
    [
        (0.031, "week", True, "▲ +3.1 %/week"),
        (-0.0123, "day", True, "▼ -1.2 %/day"),
        (0.004, "month", False, "≈ +0.4 %/month"),
        (-0.2, "day", False, "≈ -20.0 %/day"),
        (0.0, "week", False, "≈ 0.0 %/week"),
        (0.0, "week", True, "= 0.0 %/week"),
        (None, "week", None, "–"),
        (float("nan"), "week", True, "–"),
    ],
)
def test_format_trend(slope: Any, grain: str, significant: Any, expected: str) -> None:
    assert format_trend(slope, grain, significant) == expected


def test_format_range_and_anomaly() -> None:
    assert format_range(0.012, 0.019, "percent") == "1.20 %–1.90 %"
    assert format_range(1200, 1900.5, "currency", currency="EUR") == "€1,200.00–€1,900.50"
    assert format_range(None, 3, "integer") == "–"
    assert format_anomaly("low", -5.21) == "⚑ low -5.2σ"
    assert format_anomaly("high", 4.06) == "⚑ high +4.1σ"
    assert format_anomaly(None, 1.0) == ""


# --------------------------------------------------------------------------- table


def sections_of(text: str) -> dict[str, str]:
    """The table's text per KPI (sections are separated by blank lines)."""
    out = {}
    for block in text.split("\n", 2)[2].split("\n\n"):  # after the heading and the verdict
        for label in ("Leads", "Click-through rate", "Spend"):
            if label in block:
                out[label] = block
    return out


def test_table_dims_a_change_that_is_not_significant() -> None:
    result = daily(anomalies=False, trends=False, by=False)
    text = render_table(result, color=False, width=120)
    parts = sections_of(text)
    # ctr's changes are not significant, leads' are, spend has no test (null): as today
    assert parts["Click-through rate"].count("≈ ") == len(DAYS)
    assert "▲" not in parts["Click-through rate"] and "▼" not in parts["Click-through rate"]
    assert parts["Leads"].count("▲ 11.1 %") == len(DAYS) and "≈ " not in parts["Leads"]
    assert parts["Spend"].count("▲ 11.1 %") == len(DAYS) and "≈ " not in parts["Spend"]
    assert "≈: within normal fluctuation" in text
    colored = render_table(result, color=True, width=120)
    # the ≈ cells are dim (SGR 2), the significant ones green
    assert re.search(r"\x1b\[2m≈ 0\.\d\d pt", colored)
    assert re.search(r"\x1b\[32m ?▲ 11\.1 %", colored)


def test_table_without_the_new_options_shows_none_of_their_marks() -> None:
    text = render_table(daily(compare=False, anomalies=False, trends=False), color=False)
    for mark in ("≈", "⚑", "Trend", "Anomaly", "Expected range", "Baseline", "σ"):
        assert mark not in text


def test_table_marks_flagged_rows_with_their_range() -> None:
    result = daily(trends=False)
    text = render_table(result, color=False, width=160)
    (kpi, channel, day, anomaly, score) = FLAGS[0]
    row = row_of(result, kpi, channel, day)
    line = next(ln for ln in text.splitlines() if "⚑ low" in ln)
    assert channel in line and pct(row["value"]) in line
    assert f"{pct(row['lower'])}–{pct(row['upper'])}" in line
    assert f"⚑ {anomaly} {score:.1f}σ" in line
    total_line = next(ln for ln in text.splitlines() if "⚑ high" in ln)
    assert "Total" in total_line and "+4.1σ" in total_line
    flagged = len(FLAGS)
    rows = 3 * ROWS_PER_KPI
    z = Z["medium"]
    note = f"⚑ {flagged} of {rows} rows flagged (medium sensitivity: |score| > {z:.1f}, in standard"
    assert note + " deviations)." in text
    # spend's first day has no baseline, in each of its 3 series
    assert "3 rows without a baseline: less than 28 days of history before them." in text
    colored = render_table(result, color=True, width=160)
    assert re.search(r"\x1b\[1;31m⚑ low -5\.2σ", colored)  # ctr low: the bad way, bold red


@pytest.mark.parametrize("width", [100, 120])
def test_table_with_everything_fits(width: int) -> None:
    text = render_table(daily(), color=False, width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    header = next(ln for ln in text.splitlines() if ln.startswith("KPI"))
    for title in ("Value", "Anomaly", "Expected range", "Change"):
        assert title in header
    # what goes first, to fit: Previous, then Baseline, then (at 100) the Trend
    left_out = "Previous, Baseline, Trend" if width == 100 else "Previous, Baseline"
    assert f"{left_out} left out to fit {width} columns" in text
    assert ("Trend" in header) == (width == 120)


def test_table_trend_beside_the_sparkline() -> None:
    result = daily(anomalies=False, compare=False)
    text = render_table(result, color=False, width=120)
    lines = text.splitlines()
    assert "Trend" in lines[1]
    totals = {kpi: (slope, significant) for kpi, ch, slope, _, significant in TRENDS if ch is None}
    for label, kpi in (("Leads", "leads"), ("Click-through rate", "ctr"), ("Spend", "spend")):
        block = sections_of(text)[label]
        spark = next(ln for ln in block.splitlines() if any(c in ln for c in "▁▂▃▄▅▆▇█"))
        slope, significant = totals[kpi]
        arrow = "≈" if not significant else "▲" if slope > 0 else "▼"
        sign = "+" if slope > 0 else ""
        assert f"{arrow} {sign}{slope * 100:.1f} %/day" in spark
    colored = render_table(result, color=True, width=120)
    assert re.search(r"\x1b\[2m≈ -2\.0 %/day", colored)  # ctr's total: not significant


def test_table_trends_without_dimensions() -> None:
    text = render_table(daily(anomalies=False, compare=False, by=False), color=False)
    assert "Trend" in text.splitlines()[1]
    # without --by, each KPI has one trend (its own series), beside its sparkline
    assert text.count("%/day") == 3
    spark = next(ln for ln in text.splitlines() if "▲ +2.1 %/day" in ln)
    assert any(c in spark for c in "▁▂▃▄▅▆▇█")


# --------------------------------------------------------------------------- markdown


def test_markdown_shows_the_same_marks() -> None:
    text = to_markdown(daily()).decode("utf-8")
    header = next(ln for ln in text.splitlines() if ln.startswith("| KPI"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells[:2] == ["KPI", "Trend"]
    assert {"Anomaly", "Baseline", "Expected range", "Change"} <= set(cells)
    assert "⚑ low -5.2σ" in text and "⚑ high +4.1σ" in text
    assert "≈ 0." in text and "▲ +2.1 %/day" in text
    assert "≈\\: within normal fluctuation" in text


# --------------------------------------------------------------------------- JSON


def expected_json(record: dict[str, Any]) -> dict[str, Any]:
    """A tidy row as JSON must show it: dates as text, the rest as it is."""
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in record.items()}


def test_json_carries_the_new_fields_after_the_old_ones() -> None:
    result = daily()
    text = to_json(result).decode("utf-8")
    document = json.loads(text)
    assert text == json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    assert list(document) == [
        "schema_version",
        "generated_at",
        "as_of",
        "period",
        "comparison",
        "grain",
        "dimensions",
        "kpis",
        "rows",
        "totals",
        "anomalies",
        "trends",
    ]
    row_keys = [*KEY_COLUMNS, "channel", *VALUE_COLUMNS, *SIGNIFICANCE_COLUMNS, *ANOMALY_COLUMNS]
    assert list(document["rows"][0]) == row_keys
    assert list(document["totals"][0]) == [k for k in row_keys if k != "channel"]
    assert document["rows"] == [expected_json(r) for r in result.rows.to_dicts()]
    assert document["totals"] == [expected_json(r) for r in result.totals.to_dicts()]
    flagged = [r for r in document["rows"] + document["totals"] if r["anomaly"]]
    assert sorted((r["kpi"], r["anomaly"], r["anomaly_score"]) for r in flagged) == sorted(
        (f[0], f[3], f[4]) for f in FLAGS
    )
    assert document["anomalies"] == {"sensitivity": "medium", "flagged": len(FLAGS)}
    first = document["rows"][0]
    assert first["change_significant"] is True and isinstance(first["p_value"], float)
    assert first["baseline"] == 23 and isinstance(first["baseline"], int)  # leads: integer


def test_json_trends() -> None:
    result = daily()
    document = json.loads(to_json(result))
    trends = document["trends"]
    assert [list(t) for t in trends] == [["kpi", "channel", *TREND_COLUMNS]] * len(TRENDS)
    assert trends == result.trends.to_dicts()
    assert [t["total"] for t in trends].count(True) == 3
    assert trends[0]["buckets"] == len(DAYS) and isinstance(trends[0]["buckets"], int)


@pytest.mark.parametrize(
    ("options", "keys", "absent"),
    [
        ({"anomalies": False, "trends": False}, ["change_significant", "p_value"], "baseline"),
        ({"compare": False, "trends": False}, list(ANOMALY_COLUMNS), "p_value"),
    ],
)
def test_json_only_what_was_asked(options: dict[str, bool], keys: list[str], absent: str) -> None:
    document = json.loads(to_json(daily(**options)))
    assert all(k in document["rows"][0] for k in keys)
    assert absent not in document["rows"][0] and absent not in document["totals"][0]
    assert "trends" not in document
    assert ("anomalies" in document) == options.get("anomalies", True)


def test_jsonl_rows_then_totals_with_the_new_fields() -> None:
    result = daily(trends=False)
    lines = to_jsonl(result).decode("utf-8").splitlines()
    assert len(lines) == result.rows.height + result.totals.height
    objects = [json.loads(line) for line in lines]
    assert all("trends" not in o for o in objects)
    last = objects[-1]
    assert last["total"] is True and last["channel"] is None
    assert list(last)[-7:] == [*ANOMALY_COLUMNS, "total", "unit"]
    assert sum(1 for o in objects if o["anomaly"]) == len(FLAGS)


# --------------------------------------------------------------------------- CSV, Parquet


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_csv_has_the_new_columns() -> None:
    result = daily()
    rows = read_csv(to_csv(result))
    assert len(rows) == 3 * ROWS_PER_KPI
    assert list(rows[0])[-8:] == [*SIGNIFICANCE_COLUMNS, *ANOMALY_COLUMNS, "total"]
    kpi, channel, day, anomaly, score = FLAGS[0]
    hit = next(
        r
        for r in rows
        if (r["kpi"], r["channel"], r["period_start"]) == (kpi, channel, day.isoformat())
    )
    record = row_of(result, kpi, channel, day)
    assert hit["anomaly"] == anomaly and float(hit["anomaly_score"]) == score
    assert float(hit["lower"]) == record["lower"] and float(hit["upper"]) == record["upper"]
    assert hit["change_significant"] == "false"
    assert {r["change_significant"] for r in rows if r["kpi"] == "spend"} == {""}
    assert {r["change_significant"] for r in rows if r["kpi"] == "leads"} == {"true"}
    leads = next(r for r in rows if r["kpi"] == "leads")
    assert re.fullmatch(r"\d+", leads["baseline"])  # an integer KPI's whole baseline


def test_csv_without_options_has_no_new_columns() -> None:
    header = to_csv(daily(compare=False, anomalies=False)).decode().splitlines()[0].split(",")
    assert not {*SIGNIFICANCE_COLUMNS, *ANOMALY_COLUMNS} & set(header)


def test_csv_wide_pivots_the_new_fields_per_kpi() -> None:
    result = daily(trends=False)
    rows = read_csv(to_csv(result, wide=True))
    assert len(rows) == ROWS_PER_KPI
    for kpi in ("leads", "ctr", "spend"):
        for field in (*SIGNIFICANCE_COLUMNS, *ANOMALY_COLUMNS):
            assert f"{kpi}_{field}" in rows[0]
    kpi, channel, day, anomaly, score = FLAGS[0]
    hit = next(r for r in rows if (r["channel"], r["period_start"]) == (channel, day.isoformat()))
    assert hit[f"{kpi}_anomaly"] == anomaly and float(hit[f"{kpi}_anomaly_score"]) == score
    assert hit["ctr_change_significant"] == "false" and hit["leads_change_significant"] == "true"
    total = next(
        r for r in rows if r["total"] == "true" and r["period_start"] == FLAGS[1][2].isoformat()
    )
    assert total["leads_anomaly"] == "high"


def test_parquet_types() -> None:
    frame = pl.read_parquet(io.BytesIO(to_parquet(daily())))
    assert frame.schema["change_significant"] == pl.Boolean
    assert frame.schema["anomaly"] == pl.String
    assert frame.schema["anomaly_score"] == pl.Float64
    assert frame.filter(pl.col("anomaly").is_not_null()).height == len(FLAGS)
    wide = pl.read_parquet(io.BytesIO(to_parquet(daily(), wide=True)))
    assert wide.schema["ctr_change_significant"] == pl.Boolean
    assert wide.schema["ctr_anomaly"] == pl.String


def test_xlsx_columns_and_trends_sheet() -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.load_workbook(io.BytesIO(render(daily(), "xlsx")))
    assert book.sheetnames == ["KPIs", "Trends", "About"]
    header = [c.value for c in book["KPIs"][1]]
    assert header[-8:] == [*SIGNIFICANCE_COLUMNS, *ANOMALY_COLUMNS, "total"]
    trends = list(book["Trends"].iter_rows(values_only=True))
    assert trends[0] == ("kpi", "channel", *TREND_COLUMNS)
    assert len(trends) == 1 + len(TRENDS)
    about = {r[0]: r[1] for r in book["About"].iter_rows(values_only=True) if r[0]}
    assert about["Anomalies"] == "medium sensitivity"
    plain = openpyxl.load_workbook(
        io.BytesIO(render(daily(compare=False, anomalies=False, trends=False), "xlsx"))
    )
    assert plain.sheetnames == ["KPIs", "About"]
    assert "Anomalies" not in {r[0] for r in plain["About"].iter_rows(values_only=True)}


# --------------------------------------------------------------------------- --fail-on


def test_fail_on_anomaly_lines() -> None:
    result = daily()
    kpi, channel, day, _, _ = FLAGS[0]
    row = row_of(result, kpi, channel, day)
    first = (
        f"fail-on anomaly: ctr, channel=meta_ads, {day}..{day}: value {pct(row['value'])}, "
        f"expected {pct(row['lower'])}–{pct(row['upper'])}, anomaly low (score -5.2)"
    )
    total = row_of(result, "leads", None, FLAGS[1][2])
    second = (
        f"fail-on anomaly: leads, total, {FLAGS[1][2]}..{FLAGS[1][2]}: "
        f"value {round(total['value'])}, expected {round(total['lower'])}–{round(total['upper'])}, "
        "anomaly high (score 4.1)"
    )
    assert failure_lines(result, "anomaly") == [first, second]
    assert failure_lines(daily(compare=False, anomalies=False), "anomaly") == []
    # the lines of `kpi anomalies` are worded alike, worst first
    assert anomaly_lines(anomalies()) == [first, second]
    assert anomaly_lines(anomalies(flagged=False)) == []


def test_fail_on_status_lines_are_unchanged() -> None:
    result = daily()
    assert failure_lines(result, "bad") == []  # no status in this data


# --------------------------------------------------------------------------- HTML report


def test_html_report_draws_the_band_and_rings_flagged_points() -> None:
    text = to_html(daily()).decode("utf-8")
    assert EXTRA_CSS in text
    assert "http://" not in text and "https://" not in text and "<script" not in text
    # a band behind each KPI's totals chart, and one in each flagged series' small chart
    # (leads' flag is on its total: no small chart; ctr's on meta_ads: one)
    assert text.count('class="band"') == 3 + 1
    rings = re.findall(
        r'<circle class="pt anom anom-(\w+)( bad)?"[^>]*><title>([^<]*)</title>', text
    )
    assert sorted(r[0] for r in rings) == ["high", "low"]
    low = [r for r in rings if r[0] == "low"]
    assert low and low[0][1] == " bad" and "⚑ low -5.2σ" in low[0][2]
    assert "expected 1.24 %–1.94 %" in low[0][2]
    assert '<span class="flag anom-bad">⚑ low -5.2σ</span>' in text
    assert '<span class="flag">⚑ high +4.1σ</span>' in text
    assert 'class="trend"' in text and "▲ +2.1 %/day" in text
    assert "Trends: " in text and "≈ -1.2 %/day" in text
    assert '<td class="num chg-same">≈ 0.' in text


def test_html_without_the_new_options_has_no_extra_css() -> None:
    text = to_html(daily(compare=False, anomalies=False, trends=False)).decode("utf-8")
    assert EXTRA_CSS not in text and 'class="band"' not in text and "≈" not in text


# --------------------------------------------------------------------------- kpi anomalies


def test_anomalies_table_lists_worst_first() -> None:
    found = anomalies()
    text = render_anomalies(found, "table", width=100).decode("utf-8")
    lines = text.splitlines()
    assert lines[0].startswith("Anomalies in the last 7 days: 2026-11-16 → 2026-11-22")
    body = [ln for ln in lines if "⚑ " in ln and "flagged" not in ln]
    assert len(body) == 2
    assert body[0].split()[:3] == ["Click-through", "rate", "2026-11-20"]
    assert "channel=meta_ads" in body[0] and "⚑ low -5.2σ" in body[0]
    assert "total" in body[1] and "⚑ high +4.1σ" in body[1]
    assert (
        f"⚑ 2 buckets flagged across 9 series (medium sensitivity: |score| > {Z['medium']:.1f}, in"
        in text
    )
    assert max(len(line) for line in lines) <= 100


def test_anomalies_none_found() -> None:
    text = render_anomalies(anomalies(flagged=False), "table").decode("utf-8")
    assert text.splitlines()[-1] == "No anomalies in the last 7 days across 9 series."
    md = render_anomalies(anomalies(flagged=False), "markdown").decode("utf-8")
    assert "No anomalies in the last 7 days across 9 series." in md and "|" not in md
    page = render_anomalies(anomalies(flagged=False), "html").decode("utf-8")
    assert "No anomalies in the last 7 days across 9 series." in page and "<svg" not in page
    document = json.loads(render_anomalies(anomalies(flagged=False), "json"))
    assert document["anomalies"] == []


def test_anomalies_json() -> None:
    found = anomalies()
    text = render_anomalies(found, "json").decode("utf-8")
    document = json.loads(text)
    assert text == json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    assert list(document) == [
        "schema_version",
        "generated_at",
        "as_of",
        "grain",
        "last",
        "sensitivity",
        "period",
        "dimensions",
        "kpis",
        "checked",
        "anomalies",
    ]
    assert document["last"] == 7 and document["grain"] == "day"
    assert document["period"] == {"start": "2026-11-16", "end": "2026-11-22"}
    assert document["anomalies"] == [expected_json(r) for r in found.rows.to_dicts()]
    assert [a["anomaly_score"] for a in document["anomalies"]] == [-5.2, 4.1]
    assert document["kpis"]["ctr"]["unit"] == "percent"


def test_anomalies_jsonl_csv_parquet_markdown() -> None:
    found = anomalies()
    lines = render_anomalies(found, "jsonl").decode("utf-8").splitlines()
    units = {name: info.unit for name, info in found.kpis.items()}  # the unit ends each line
    assert [json.loads(line) for line in lines] == [
        {**expected_json(r), "unit": units[r["kpi"]]} for r in found.rows.to_dicts()
    ]
    rows = read_csv(render_anomalies(found, "csv"))
    assert [r["kpi"] for r in rows] == ["ctr", "leads"]
    assert rows[0]["dimension"] == "channel" and rows[1]["dimension"] == ""
    assert float(rows[0]["anomaly_score"]) == -5.2
    frame = pl.read_parquet(io.BytesIO(render_anomalies(found, "parquet")))
    assert frame.equals(found.rows)
    md = render_anomalies(found, "markdown").decode("utf-8")
    assert "| Click-through rate | 2026-11-20 | channel=meta\\_ads" not in md  # `_` between letters
    assert "channel=meta_ads" in md and "⚑ low -5.2σ" in md


def test_anomalies_html_page_of_small_charts() -> None:
    found = anomalies()
    text = render_anomalies(found, "html").decode("utf-8")
    assert text.count("<svg") == found.series["series"].n_unique() == 2
    assert text.count('class="recent"') == 2  # the last 7 days shaded
    assert text.count('class="band"') == 2
    assert len(re.findall(r'<circle class="pt anom', text)) == 2
    assert "http://" not in text and "https://" not in text and "<script" not in text
    assert "channel=meta_ads" in text and ">total<" in text


def test_anomalies_formats_and_errors() -> None:
    assert set(ANOMALY_FORMATS) >= {"table", "json", "jsonl", "csv", "markdown", "html"}
    with pytest.raises(UsageError):
        render_anomalies(anomalies(), "svg")
    with pytest.raises(UsageError):
        render_anomalies(anomalies(), "csv", wide=True)


def test_html_report_shows_history_and_the_period_shaded() -> None:
    result = daily()
    text = to_html(result).decode("utf-8")
    # each KPI's totals chart, and the flagged series' small chart, draw history muted
    assert text.count('class="history"') == 3 + 1
    assert text.count('class="recent"') == 3 + 1
    assert "grey: the 14 days before the period" in text  # HISTORY has 28: the last 14 shown
    assert "1 flagged in the period (shaded)" in text
    plain = to_html(daily(anomalies=False)).decode("utf-8")
    assert 'class="history"' not in plain and 'class="recent"' not in plain


def test_html_flagged_bucket_without_value_is_a_dashed_ring() -> None:
    """An outage: no rows, so no value, yet flagged low: ringed at the bottom of the chart."""
    result = daily(trends=False)
    kpi, channel, day, _, _ = FLAGS[0]
    hit = (pl.col("kpi") == kpi) & (pl.col("channel") == channel) & (pl.col("period_start") == day)
    result.rows = result.rows.with_columns(value=pl.when(hit).then(None).otherwise(pl.col("value")))
    text = to_html(result).decode("utf-8")
    rings = re.findall(r'<circle class="pt anom anom-low bad missing"[^>]*><title>([^<]*)<', text)
    assert len(rings) == 1 and rings[0].startswith(f"{day}: no value · expected ")
    found = anomalies()
    found.series = found.series.with_columns(
        value=pl.when((pl.col("series") == 0) & (pl.col("period_start") == day))
        .then(None)
        .otherwise(pl.col("value"))
    )
    page = render_anomalies(found, "html").decode("utf-8")
    assert len(re.findall(r'<circle class="pt anom anom-low bad missing"', page)) == 1


def test_anomalies_xlsx() -> None:
    openpyxl = pytest.importorskip("openpyxl")
    found = anomalies()
    book = openpyxl.load_workbook(io.BytesIO(render_anomalies(found, "xlsx")))
    rows = list(book["Anomalies"].iter_rows(values_only=True))
    assert rows[0] == tuple(found.rows.columns)
    assert [r[0] for r in rows[1:]] == ["ctr", "leads"]
    ctr = dict(zip(rows[0], rows[1], strict=True))
    assert ctr["anomaly"] == "low" and ctr["anomaly_score"] == -5.2
    assert ctr["channel"] == "meta_ads" and isinstance(ctr["value"], float)
    assert book["Anomalies"].cell(2, rows[0].index("value") + 1).number_format == "0.00%"


def test_many_dimension_trends_are_cut_but_not_the_kpis_own() -> None:
    from kpicli.render.layout import TABLE_ROWS, sections

    result = daily(anomalies=False, compare=False, kpis=("leads",))
    many = pl.DataFrame(
        {
            "kpi": ["leads"] * (TABLE_ROWS + 50),
            "channel": [f"c{i}" for i in range(TABLE_ROWS + 50)],
            "total": [False] * (TABLE_ROWS + 50),
            "slope": [0.01] * (TABLE_ROWS + 50),
            "p_value": [0.5] * (TABLE_ROWS + 50),
            "significant": [False] * (TABLE_ROWS + 50),
            "buckets": [7] * (TABLE_ROWS + 50),
        }
    )
    result.trends = pl.concat([many, result.trends.filter(pl.col("total"))])
    (section,) = sections(result)
    assert len(section.trends) == TABLE_ROWS
    assert section.trend is not None and section.trend["total"] is True
    assert "… more with -f json" in to_html(result).decode("utf-8")
