"""Renderers: unit formatting, the terminal table, machine formats, atomic writes."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpicli.errors import OutputError, UsageError
from kpicli.execute.result import KEY_COLUMNS, VALUE_COLUMNS, KpiInfo, Result
from kpicli.outputs import expand_output_path, write_atomic
from kpicli.render import FORMATS, infer_format, render
from kpicli.render.formats import to_csv, to_json, to_jsonl, to_markdown, to_parquet
from kpicli.render.table import render_table
from kpicli.render.units import (
    bucket_label,
    change_is_good,
    describe_period,
    format_change,
    format_ratio,
    format_status,
    format_value,
    sparkline,
)

NNBSP = "\u202f"
NBSP = "\u00a0"

# --------------------------------------------------------------------------- results by hand

KPIS = {
    "leads": KpiInfo("leads", "Leads", "integer", "higher", "COUNT(*)", "Leads created."),
    "ctr": KpiInfo("ctr", "Click-through rate", "percent", "higher", "clicks / impressions"),
    "cpl": KpiInfo("cpl", "Cost per lead", "currency", "lower", "spend / leads"),
    "avg_session_duration": KpiInfo(
        "avg_session_duration", "Avg. session duration", "duration", "higher", "AVG(duration)"
    ),
    "roi": KpiInfo("roi", "ROI", "number", "higher", "(revenue - spend) / spend"),
}
OCT = (date(2026, 10, 1), date(2026, 10, 31))
SEP = (date(2026, 9, 1), date(2026, 9, 30))
AS_OF = date(2026, 11, 22)
GENERATED = datetime(2026, 11, 22, 7, 0, 3, 123456, tzinfo=UTC)


def frame(records: list[dict[str, Any]], dims: tuple[str, ...] = ()) -> pl.DataFrame:
    """A tidy frame with the documented columns and dtypes; missing fields are null."""
    schema: dict[str, Any] = {"kpi": pl.String, "period_start": pl.Date, "period_end": pl.Date}
    schema.update({d: pl.String for d in dims})
    schema.update({c: pl.Float64 for c in VALUE_COLUMNS})
    schema["status"] = pl.String
    full = []
    for r in records:
        row = {"period_start": OCT[0], "period_end": OCT[1], **r}
        full.append({c: row.get(c) for c in [*KEY_COLUMNS, *dims, *VALUE_COLUMNS]})
    return pl.from_dicts(full, schema=schema) if full else pl.DataFrame(schema=schema)


def compared(value: float | None, previous: float | None) -> dict[str, float | None]:
    """previous, change and change_pct as the engine fills them."""
    if value is None or previous is None:
        return {"previous": previous}
    change = value - previous
    return {
        "previous": previous,
        "change": change,
        "change_pct": change / abs(previous) if previous else None,
    }


def make_result(rows: pl.DataFrame, **kwargs: Any) -> Result:
    names = list(dict.fromkeys(rows["kpi"].to_list()))
    defaults: dict[str, Any] = {
        "totals": None,
        "kpis": {k: KPIS[k] for k in names if k in KPIS},
        "dimensions": (),
        "grain": None,
        "as_of": AS_OF,
        "period": OCT,
        "period_label": "last-month",
        "generated_at": GENERATED,
        "currency": "EUR",
    }
    defaults.update(kwargs)
    return Result(rows=rows, **defaults)


@pytest.fixture
def bare() -> Result:
    """One row per KPI, values only (one of them null)."""
    rows = frame(
        [
            {"kpi": "leads", "value": 1234.0},
            {"kpi": "ctr", "value": 0.0312},
            {"kpi": "cpl", "value": 42.5},
            {"kpi": "avg_session_duration", "value": 65.0},
            {"kpi": "roi", "value": None},
        ]
    )
    return make_result(rows)


@pytest.fixture
def full() -> Result:
    """Compared with the previous month, with targets and statuses."""
    rows = frame(
        [
            {"kpi": "leads", "value": 1234.0, **compared(1234, 1140), "target": 1200.0},
            {"kpi": "ctr", "value": 0.0312, **compared(0.0312, 0.0288), "target": 0.035},
            {"kpi": "cpl", "value": 42.5, **compared(42.5, 39.0), "target": 35.0},
            {"kpi": "avg_session_duration", "value": 65.0, **compared(65, 71)},
            {"kpi": "roi", "value": 2.5, **compared(2.5, 0)},
        ]
    ).with_columns(
        status=pl.Series(["ok", "warn", "bad", None, None], dtype=pl.String),
    )
    return make_result(rows, comparison=SEP)


@pytest.fixture
def by_channel() -> Result:
    """``--by channel`` with totals; a null channel; compare and targets."""
    rows = frame(
        [
            {"kpi": "leads", "channel": "google_ads", "value": 60.0, **compared(60, 55)},
            {"kpi": "leads", "channel": "meta_ads", "value": 40.0, **compared(40, 42)},
            {"kpi": "leads", "channel": None, "value": 3.0},
            {"kpi": "cpl", "channel": "google_ads", "value": 35.5, **compared(35.5, 30)},
            {"kpi": "cpl", "channel": "meta_ads", "value": 44.0, **compared(44, 45)},
            {"kpi": "cpl", "channel": None, "value": None},
        ],
        ("channel",),
    ).with_columns(
        target=pl.Series([60.0, 50.0, None, 35.0, 45.0, None]),
        status=pl.Series(["ok", "bad", None, "warn", "ok", None], dtype=pl.String),
    )
    totals = frame(
        [
            {"kpi": "leads", "value": 103.0, **compared(103, 97)},
            {"kpi": "cpl", "value": 39.1, **compared(39.1, 36)},
        ]
    )
    return make_result(
        rows, totals=totals, dimensions=("channel",), comparison=SEP, period_label="2026-10"
    )


MONTHS = [
    (date(2026, m, 1), date(2026 + m // 12, m % 12 + 1, 1) - timedelta(days=1))
    for m in range(6, 12)
]


@pytest.fixture
def monthly() -> Result:
    """``--grain month`` over six months, the last one running with a per-month target."""
    records: list[dict[str, Any]] = []
    leads = [80.0, 95.0, 70.0, 110.0, 120.0, 64.0]
    ctr = [0.021, 0.025, None, 0.031, 0.028, 0.03]
    for i, (start, end) in enumerate(MONTHS):
        running = i == len(MONTHS) - 1
        records.append(
            {
                "kpi": "leads",
                "period_start": start,
                "period_end": end,
                "value": leads[i],
                "target": 100.0,
                "expected": 73.0 if running else None,
                "pace": leads[i] / 73.0 if running else None,
                "projected": leads[i] * 30 / 22 if running else None,
                "status": "bad" if running else ("ok" if leads[i] >= 100 else "warn"),
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
    """``--grain week --by channel``: a total per bucket, sparkline from the totals."""
    weeks = [(date(2026, 10, 5) + timedelta(weeks=i)) for i in range(3)]
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
        totals.append(
            {"kpi": "leads", "period_start": start, "period_end": end, "value": 10.0 + 6 * i}
        )
    return make_result(
        frame(rows, ("channel",)),
        totals=frame(totals),
        dimensions=("channel",),
        grain="week",
        period=(weeks[0], weeks[-1] + timedelta(days=6)),
        period_label="2026-10-05..2026-10-25",
    )


# --------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (12345, "integer", "12,345"),
        (12345.6, "integer", "12,346"),
        (-12345, "integer", "-12,345"),
        (0, "integer", "0"),
        (1234.5, "number", "1,234.5"),
        (0.42, "number", "0.42"),
        (3.0, "number", "3"),
        (-1234.567, "number", "-1,234.57"),
        (0.0042, "number", "0.0042"),
        (1_000_000, "number", "1,000,000"),
        (0.0312, "percent", "3.12 %"),
        (-0.05, "percent", "-5.00 %"),
        (1.5, "percent", "150.00 %"),
        (0, "percent", "0.00 %"),
        (45, "duration", "45s"),
        (65, "duration", "1m 05s"),
        (7380, "duration", "2h 03m"),
        (59.6, "duration", "1m 00s"),
        (0, "duration", "0s"),
        (-65, "duration", "-1m 05s"),
        (90000, "duration", "1d 01h"),
        (2.5, "unknown-unit", "2.5"),
        (-0.001, "integer", "0"),
    ],
)
def test_format_value(value: float, unit: str, expected: str) -> None:
    assert format_value(value, unit) == expected


@pytest.mark.parametrize(
    ("currency", "value", "expected"),
    [
        ("EUR", 1234.56, "€1,234.56"),
        ("eur", 1234.56, "€1,234.56"),
        ("USD", 1234.56, "$1,234.56"),
        ("GBP", 0.5, "£0.50"),
        ("CHF", 1234.56, "1,234.56 CHF"),
        (None, 1234.56, "1,234.56"),
        ("EUR", -5, "-€5.00"),
        ("CHF", -5, "-5.00 CHF"),
    ],
)
def test_format_currency(currency: str | None, value: float, expected: str) -> None:
    assert format_value(value, "currency", currency=currency) == expected


@pytest.mark.parametrize("unit", ["integer", "number", "percent", "currency", "duration"])
@pytest.mark.parametrize("value", [None, math.nan, math.inf, -math.inf])
def test_missing_values_are_a_dash(value: float | None, unit: str) -> None:
    assert format_value(value, unit, currency="EUR") == "–"


@pytest.mark.parametrize("locale", ["fr", "fr_FR", "fr-CH", "de", "de_DE", "es", "it"])
def test_comma_decimal_locales(locale: str) -> None:
    assert format_value(1234.56, "number", locale=locale) == f"1{NNBSP}234,56"
    assert format_value(12345, "integer", locale=locale) == f"12{NNBSP}345"
    assert format_value(0.0312, "percent", locale=locale) == f"3,12{NNBSP}%"
    assert (
        format_value(1234.56, "currency", currency="EUR", locale=locale) == f"1{NNBSP}234,56{NBSP}€"
    )
    assert format_value(-1234.5, "currency", currency="CHF", locale=locale) == (
        f"-1{NNBSP}234,50{NBSP}CHF"
    )
    assert format_value(1234.5, "currency", locale=locale) == f"1{NNBSP}234,50"
    assert format_value(65, "duration", locale=locale) == "1m 05s"


@pytest.mark.parametrize("locale", [None, "", "en", "en_US", "nl"])
def test_other_locales_use_the_default_style(locale: str | None) -> None:
    assert format_value(1234.56, "currency", currency="EUR", locale=locale) == "€1,234.56"


@given(st.floats(min_value=-1e12, max_value=1e12), st.sampled_from([None, "fr"]))
def test_number_format_reads_back(value: float, locale: str | None) -> None:
    text = format_value(value, "number", locale=locale)
    separators = {NNBSP: "", ",": "."} if locale == "fr" else {",": ""}
    for old, new in separators.items():
        text = text.replace(old, new)
    if abs(value) >= 0.01:  # two decimals
        assert abs(float(text) - value) <= 0.0051
    else:  # two significant digits, at most 8 decimals
        assert math.isclose(float(text), value, rel_tol=0.051, abs_tol=1e-8)


@given(
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    st.sampled_from(["integer", "number", "percent", "currency", "duration"]),
)
def test_format_value_never_shows_nan(value: float | None, unit: str) -> None:
    text = format_value(value, unit, currency="EUR")
    assert text and "nan" not in text.lower() and "inf" not in text.lower()


@pytest.mark.parametrize(
    ("change", "change_pct", "unit", "expected"),
    [
        (94, 0.083, "integer", "▲ 8.3 %"),
        (-2, -0.021, "integer", "▼ 2.1 %"),
        (0.0024, 0.0833, "percent", "▲ 0.24 pt"),
        (-0.001, -0.05, "percent", "▼ 0.10 pt"),
        (12, None, "integer", "▲ 12"),
        (-3.5, None, "currency", "▼ €3.50"),
        (0, 0, "number", "= 0.0 %"),
        (None, None, "number", "–"),
        (math.nan, math.inf, "number", "–"),
        (None, 0.5, "number", "▲ 50.0 %"),
        (1, 12.5, "number", "▲ 1,250.0 %"),
    ],
)
def test_format_change(change: Any, change_pct: Any, unit: str, expected: str) -> None:
    assert format_change(change, change_pct, unit, currency="EUR") == expected


def test_format_change_in_french() -> None:
    assert format_change(94, 0.083, "integer", locale="fr") == f"▲ 8,3{NNBSP}%"
    assert format_change(0.0024, 0.08, "percent", locale="fr") == f"▲ 0,24{NNBSP}pt"


def test_change_is_good_follows_better() -> None:
    assert change_is_good(5, "higher") is True
    assert change_is_good(-5, "higher") is False
    assert change_is_good(5, "lower") is False
    assert change_is_good(-5, "lower") is True
    assert change_is_good(0, "higher") is None
    assert change_is_good(None, "lower") is None


def test_status_and_ratio() -> None:
    assert format_status("ok") == "✔ ok"
    assert format_status("warn") == "⚠ warn"
    assert format_status("bad") == "✖ bad"
    assert format_status(None) == "–"
    assert format_ratio(0.8767) == "88 %"
    assert format_ratio(None) == "–"


def test_sparkline() -> None:
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([8, None, 1]) == "█ ▁"
    assert sparkline([5, 5, 5]) == "▄▄▄"
    assert sparkline([None, math.nan]) == "  "
    assert sparkline([]) == ""
    assert sparkline([-10, 0, 10]) == "▁▅█"


@pytest.mark.parametrize(
    ("start", "grain", "expected"),
    [
        (date(2026, 10, 1), "month", "2026-10"),
        (date(2026, 1, 26), "week", "2026-W05"),  # a Monday
        (date(2026, 1, 25), "week", "2026-W05"),  # the Sunday before, for week_start: sunday
        (date(2025, 12, 29), "week", "2026-W01"),
        (date(2026, 7, 1), "quarter", "2026-Q3"),
        (date(2026, 1, 1), "quarter", "2026-Q1"),
        (date(2026, 1, 1), "year", "2026"),
        (date(2026, 10, 5), "day", "2026-10-05"),
    ],
)
def test_bucket_label(start: date, grain: str, expected: str) -> None:
    assert bucket_label(start, grain) == expected


def test_describe_period() -> None:
    assert describe_period(OCT, "last-month", AS_OF, SEP) == (
        "2026-10-01 → 2026-10-31 (last-month) · as of 2026-11-22 · vs 2026-09-01 → 2026-09-30"
    )
    # an explicit range is not repeated in parentheses
    assert describe_period(OCT, "2026-10-01..2026-10-31", AS_OF) == (
        "2026-10-01 → 2026-10-31 · as of 2026-11-22"
    )
    assert describe_period(None, "all", AS_OF) == "all dates · as of 2026-11-22"


# --------------------------------------------------------------------------- JSON


def test_json_shape(by_channel: Result, golden: Any) -> None:
    data = to_json(by_channel)
    assert data.endswith(b"\n")
    assert data.startswith(b'{\n  "schema_version": 1,\n')
    doc = json.loads(data)
    assert list(doc) == [
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
    ]
    assert doc["generated_at"] == "2026-11-22T07:00:03Z"
    assert doc["as_of"] == "2026-11-22"
    assert doc["period"] == {"start": "2026-10-01", "end": "2026-10-31"}
    assert doc["comparison"] == {"start": "2026-09-01", "end": "2026-09-30"}
    assert doc["grain"] is None
    assert doc["dimensions"] == ["channel"]
    assert list(doc["kpis"]) == ["leads", "cpl"]
    assert doc["kpis"]["leads"] == {
        "label": "Leads",
        "unit": "integer",
        "better": "higher",
        "formula": "COUNT(*)",
        "description": "Leads created.",
        "total": "blended",
        "blended": False,
    }
    assert list(doc["rows"][0]) == [*KEY_COLUMNS, "channel", *VALUE_COLUMNS]
    assert doc["rows"][0]["period_start"] == "2026-10-01"
    assert len(doc["rows"]) == 6
    assert [t["kpi"] for t in doc["totals"]] == ["leads", "cpl"]
    assert list(doc["totals"][0]) == [*KEY_COLUMNS, *VALUE_COLUMNS]
    golden("report_by_channel.json", data.decode())


def test_json_integer_units_are_ints(by_channel: Result) -> None:
    doc = json.loads(to_json(by_channel))
    google = doc["rows"][0]
    assert google["value"] == 60 and type(google["value"]) is int
    assert type(google["previous"]) is int and type(google["change"]) is int
    assert type(google["target"]) is int
    assert type(google["change_pct"]) is float  # a ratio, never an int
    cpl = doc["rows"][3]
    assert cpl["kpi"] == "cpl" and cpl["previous"] == 30.0 and type(cpl["previous"]) is float
    assert type(doc["totals"][0]["value"]) is int


def test_json_non_finite_values_are_null(bare: Result) -> None:
    rows = bare.rows.with_columns(
        value=pl.Series([math.nan, math.inf, -math.inf, 1.5, None]),
        change_pct=pl.Series([math.inf, None, None, None, None]),
    )
    doc = json.loads(to_json(make_result(rows)))
    assert [r["value"] for r in doc["rows"]] == [None, None, None, 1.5, None]
    assert doc["rows"][0]["change_pct"] is None
    assert b"NaN" not in to_json(make_result(rows))


def test_json_without_dimensions_or_period(bare: Result) -> None:
    bare.period = None
    bare.period_label = "all"
    bare.generated_at = datetime(2026, 11, 22, 8, 0, 3)  # naive: taken as UTC
    doc = json.loads(to_json(bare))
    assert doc["period"] is None and doc["comparison"] is None
    assert doc["dimensions"] == [] and doc["totals"] == []
    assert doc["generated_at"] == "2026-11-22T08:00:03Z"
    assert list(doc["kpis"]) == ["leads", "ctr", "cpl", "avg_session_duration", "roi"]


def test_json_generated_at_is_converted_to_utc(bare: Result) -> None:
    from datetime import timezone

    bare.generated_at = datetime(2026, 11, 22, 9, 0, 3, tzinfo=timezone(timedelta(hours=2)))
    assert json.loads(to_json(bare))["generated_at"] == "2026-11-22T07:00:03Z"
    bare.generated_at = None
    assert json.loads(to_json(bare))["generated_at"].endswith("Z")


def test_json_grain(monthly: Result) -> None:
    doc = json.loads(to_json(monthly))
    assert doc["grain"] == "month"
    assert [r["period_start"] for r in doc["rows"] if r["kpi"] == "leads"][-1] == "2026-11-01"


# --------------------------------------------------------------------------- JSONL


def test_jsonl(by_channel: Result) -> None:
    lines = to_jsonl(by_channel).decode().splitlines()
    assert len(lines) == 6 + 2
    objects = [json.loads(line) for line in lines]
    assert all("total" not in o for o in objects[:6])
    for total in objects[6:]:
        assert total["total"] is True
        assert "channel" in total and total["channel"] is None
        assert list(total) == [*KEY_COLUMNS, "channel", *VALUE_COLUMNS, "total", "unit"]
    assert all(list(o)[-1] == "unit" for o in objects)
    assert all(o["unit"] == by_channel.kpis[o["kpi"]].unit for o in objects)
    assert objects[6]["value"] == 103


def test_jsonl_without_totals(bare: Result) -> None:
    data = to_jsonl(bare)
    assert data.endswith(b"\n") and data.count(b"\n") == 5


# --------------------------------------------------------------------------- CSV


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_csv_rows_then_totals(by_channel: Result) -> None:
    rows = read_csv(to_csv(by_channel))
    assert list(rows[0]) == [*KEY_COLUMNS, "channel", *VALUE_COLUMNS, "total"]
    assert len(rows) == 8
    # a null channel and a total both have an empty channel cell: `total` tells them apart
    assert [r["total"] for r in rows] == ["false"] * 6 + ["true"] * 2
    assert rows[0]["value"] == "60" and rows[0]["change_pct"].startswith("0.0909")
    assert rows[0]["period_start"] == "2026-10-01"
    assert rows[2]["channel"] == "" and rows[2]["previous"] == ""  # nulls are empty
    assert rows[5]["value"] == ""
    assert rows[6]["kpi"] == "leads" and rows[6]["channel"] == "" and rows[6]["value"] == "103"
    assert rows[1]["change"] == "-2"  # a negative number is a number, not a formula


@pytest.mark.parametrize("cell", ["=1+1", "+33 6", "-x", "@SUM(A1)", "\tx", "\rx"])
def test_csv_neutralises_formulas(by_channel: Result, cell: str) -> None:
    rows = by_channel.rows.with_columns(channel=pl.lit(cell))
    result = make_result(rows, dimensions=("channel",), totals=by_channel.totals)
    assert read_csv(to_csv(result))[0]["channel"] == "'" + cell
    assert read_csv(to_csv(result, raw=True))[0]["channel"] == cell


def test_csv_wide(by_channel: Result) -> None:
    rows = read_csv(to_csv(by_channel, wide=True))
    # with --compare and targets: previous, change, change_pct, target, status per KPI
    values = ["", "_previous", "_change", "_change_pct", "_target", "_status"]
    assert list(rows[0]) == [
        "period_start",
        "period_end",
        "channel",
        *(f"leads{v}" for v in values),
        *(f"cpl{v}" for v in values),
        "total",
    ]
    assert [(r["channel"], r["leads"], r["cpl"], r["total"]) for r in rows] == [
        ("google_ads", "60", "35.5", "false"),
        ("meta_ads", "40", "44.0", "false"),
        ("", "3", "", "false"),
        ("", "103", "39.1", "true"),  # the totals
    ]
    google = rows[0]
    assert (google["leads_previous"], google["leads_change"]) == ("55", "5")
    assert float(google["leads_change_pct"]) == pytest.approx(5 / 55)
    assert (google["leads_target"], google["leads_status"]) == ("60", "ok")
    assert (google["cpl_previous"], google["cpl_target"], google["cpl_status"]) == (
        "30.0",
        "35.0",
        "warn",
    )


def test_csv_wide_by_month(monthly: Result) -> None:
    rows = read_csv(to_csv(monthly, wide=True))
    assert [r["period_start"] for r in rows] == [m[0].isoformat() for m in MONTHS]
    assert rows[2]["ctr"] == "" and rows[2]["leads"] == "70"


# --------------------------------------------------------------------------- markdown


def test_markdown(by_channel: Result, golden: Any) -> None:
    text = to_markdown(by_channel).decode()
    lines = text.splitlines()
    assert lines[0].startswith("**2026-10-01 → 2026-10-31 (2026-10)")
    assert lines[2].startswith("2 of 4 rows off target (1 ✖ bad, 1 ⚠ warn) · best\\:")
    del lines[2:4]  # the verdict and its blank line
    header = [c.strip() for c in lines[2].strip("|").split("|")]
    assert header == ["KPI", "channel", "Value", "Previous", "Change", "Target", "Status"]
    rule = [c.strip() for c in lines[3].strip("|").split("|")]
    assert rule[0].startswith("---") and rule[2].endswith(":") and not rule[-1].endswith(":")
    # heading, blank, header, rule; 8 rows but cpl's blank channel (no value, no previous:
    # hidden); the hidden rows' line and the legend, each after a blank line
    assert len(lines) == 4 + 7 + 4
    assert "**Total**" in lines[7] and "**103**" in lines[7]
    assert lines[-3:] == [
        "1 row without data hidden (--all-rows shows it).",
        "",
        "✔ ok\\: at or better than target · ⚠ warn\\: within the tolerance · ✖ bad\\: beyond it.",
    ]  # md_escape's colons read as plain colons
    assert "✔ ok" in text and "€35.50" in text
    golden("report_by_channel.md", text)


def test_markdown_grain_has_sparklines(monthly: Result) -> None:
    lines = to_markdown(monthly).decode().splitlines()
    assert lines[2] == "latest month (2026-11)\\: 1 of 1 row off target (1 ✖ bad)"
    del lines[2:4]  # the verdict and its blank line
    assert (
        lines[2]
        .replace(" ", "")
        .startswith("|KPI|Period|Value|Target|Expected|Pace|Projected|Status|")
    )
    assert lines[4].startswith("| Leads ") and "2026-06" in lines[4]
    assert lines[5].startswith("| " + sparkline([80, 95, 70, 110, 120, 64]))


def test_markdown_escapes_pipes(bare: Result) -> None:
    bare.kpis = {**bare.kpis, "leads": KpiInfo("leads", "Leads | all", "integer")}
    text = to_markdown(bare).decode()
    assert "Leads \\| all" in text
    table = [line for line in text.splitlines()[2:] if line.startswith("|")]
    assert len(table) == 2 + 4  # header, rule, the KPIs with data (ROI has none: hidden)
    assert all(line.count("|") - line.count("\\|") == 3 for line in table)


# --------------------------------------------------------------------------- parquet


def test_parquet_round_trip(by_channel: Result) -> None:
    back = pl.read_parquet(io.BytesIO(to_parquet(by_channel)))
    assert back.columns == [*KEY_COLUMNS, "channel", *VALUE_COLUMNS, "total"]
    assert back["total"].to_list() == [False] * 6 + [True] * 2
    assert back.height == 8
    assert back.schema["period_start"] == pl.Date and back.schema["value"] == pl.Float64
    assert back["value"].to_list()[:2] == [60.0, 40.0]
    assert back["channel"].to_list()[6:] == [None, None]


def test_parquet_wide(monthly: Result) -> None:
    back = pl.read_parquet(io.BytesIO(to_parquet(monthly, wide=True)))
    wide = ["", "_target", "_expected", "_pace", "_projected", "_status"]
    assert back.columns[:8] == ["period_start", "period_end", *(f"leads{w}" for w in wide)]
    assert back.columns[-1] == "total" and "ctr" in back.columns
    assert back.height == 6
    assert back.schema["ctr"] == pl.Float64


# --------------------------------------------------------------------------- table


def test_table_bare(bare: Result, golden: Any) -> None:
    text = render_table(bare, color=False)
    assert "\x1b" not in text
    for absent in ("Previous", "Change", "Target", "Pace", "Status"):
        assert absent not in text
    golden("table_bare.txt", text)


def test_table_full(full: Result, golden: Any) -> None:
    text = render_table(full, color=False)
    assert "\x1b" not in text
    lines = text.splitlines()
    assert lines[0] == (
        "2026-10-01 → 2026-10-31 (last-month) · as of 2026-11-22 · vs 2026-09-01 → 2026-09-30"
    )
    assert lines[1].startswith("2 of 3 rows off target (1 ✖ bad, 1 ⚠ warn)")  # the verdict
    header = next(line for line in lines if line.startswith("KPI")).split()
    assert header == ["KPI", "Value", "Previous", "Change", "Target", "Status"]
    assert "✔ ok" in text and "⚠ warn" in text and "✖ bad" in text
    assert "▲ 0.24 pt" in text
    golden("table_full.txt", text)


def test_table_color(full: Result) -> None:
    text = render_table(full, color=True)
    assert "\x1b[" in text
    # cpl rose while lower is better: its change is red (truecolor escape of rich's "red")
    cpl = next(line for line in text.splitlines() if "Cost per lead" in line)
    assert "▲ 9.0 %" in cpl and "\x1b[31m" in cpl


def test_table_by_channel(by_channel: Result, golden: Any) -> None:
    text = render_table(by_channel, color=False)
    assert "\x1b" not in text
    lines = text.splitlines()
    assert sum(line.split()[:1] == ["Total"] for line in lines) == 2
    assert "(blank)" in text
    golden("table_by_channel.txt", text)


def test_table_monthly(monthly: Result, golden: Any) -> None:
    text = render_table(monthly, color=False)
    assert "2026-06" in text and "2026-11" in text
    assert sparkline([80, 95, 70, 110, 120, 64]) in text
    assert sparkline([0.021, 0.025, None, 0.031, 0.028, 0.03]) in text
    assert "Pace" in text and "Projected" in text and "88 %" in text
    golden("table_monthly.txt", text)


def test_table_weekly_by_channel(weekly_by_channel: Result, golden: Any) -> None:
    text = render_table(weekly_by_channel, color=False)
    assert "2026-W41" in text and "2026-W43" in text
    assert sparkline([10, 16, 22]) in text
    assert text.count("Total") == 3
    golden("table_weekly_by_channel.txt", text)


def test_table_thirty_kpis_fit_and_never_truncate() -> None:
    units = {
        "integer": 1234.0,
        "percent": 0.0123,
        "currency": 45.67,
        "duration": 83.0,
        "number": 2.5,
    }
    kpis = {
        f"kpi_{i}": KpiInfo(f"kpi_{i}", f"Some KPI label {i}", list(units)[i % 5])
        for i in range(30)
    }
    records = []
    for i, info in enumerate(kpis.values()):
        value = units[info.unit] * (i + 1)
        records.append(
            {
                "kpi": info.name,
                "value": value,
                **compared(value, value * 0.9),
                "target": value * 1.1,
                "expected": value * 1.05,
                "pace": 0.95,
                "projected": value * 1.2,
                "status": ["ok", "warn", "bad"][i % 3],
            }
        )
    result = make_result(frame(records), kpis=kpis, comparison=SEP)
    text = render_table(result, color=False)
    lines = text.splitlines()
    # heading, verdict, header, rule, one line per KPI (labels never wrap), a footnote, the
    # legend
    assert lines[1].startswith("20 of 30 rows off target (10 ✖ bad, 10 ⚠ warn)")
    assert all(line.startswith("Some KPI label") for line in lines[4:34])
    assert lines[34] == (
        "Projected, Expected left out to fit 100 columns: widen the terminal or use --format csv."
    )
    assert " ".join(lines[35:]).startswith("pt = percentage points · ✔ ok")
    assert "Projected" in render_table(result, color=False, width=120)
    assert max(len(line) for line in lines) <= 100
    narrow = render_table(result, color=False, width=60)
    assert "…" not in narrow
    assert "Projected, Expected, Pace, Previous left out to fit 60 columns" in " ".join(
        narrow.split()
    )
    header = next(line for line in narrow.splitlines() if line.split()[:2] == ["KPI", "Value"])
    assert header.split() == ["KPI", "Value", "Change", "Target", "Status"]
    assert "32,084" in narrow  # kpi_25's value, whole


def test_table_data_is_not_markup(bare: Result) -> None:
    rows = frame(
        [{"kpi": "leads", "channel": "[bold]x[/bold] :smile:", "value": 1.0}], ("channel",)
    )
    result = make_result(rows, dimensions=("channel",), totals=frame([]))
    assert "[bold]x[/bold] :smile:" in render_table(result, color=True)


def test_table_no_rows() -> None:
    result = make_result(frame([]), kpis=KPIS)
    text = render_table(result, color=False)
    assert "No rows" in text


# --------------------------------------------------------------------------- render / infer


@pytest.mark.parametrize("fmt", FORMATS)
def test_render_every_format(full: Result, fmt: str) -> None:
    data = render(full, fmt)
    assert isinstance(data, bytes) and data


def test_render_passes_options(by_channel: Result) -> None:
    assert render(by_channel, "csv", wide=True).startswith(b"period_start,")
    assert b"\x1b" in render(by_channel, "table", color=True)
    assert (
        render(by_channel, "table", width=60)
        == render_table(by_channel, color=False, width=60).encode()
    )


def test_render_unknown_format(full: Result) -> None:
    with pytest.raises(UsageError, match="unknown output format `pdf`"):
        render(full, "pdf")


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("out.json", "json"),
        ("out.JSON", "json"),
        ("out.jsonl", "jsonl"),
        ("out.ndjson", "jsonl"),
        ("dir.v2/out.csv", "csv"),
        ("out.md", "markdown"),
        ("out.markdown", "markdown"),
        ("out.parquet", "parquet"),
        ("out.txt", "table"),
        ("report_{start}.csv", "csv"),
        ("out.pdf", None),
        ("out", None),
    ],
)
def test_infer_format(path: str, fmt: str | None) -> None:
    assert infer_format(path) == fmt


# --------------------------------------------------------------------------- output paths


def expand(template: str, **kwargs: Any) -> str:
    values: dict[str, Any] = {"start": OCT[0], "end": OCT[1], "as_of": AS_OF, "period": "2026-10"}
    values.update(kwargs)
    return expand_output_path(template, **values)


def test_expand_output_path() -> None:
    assert expand("r_{start}.json") == "r_2026-10-01.json"
    assert expand("r_{end}.json") == "r_2026-10-31.json"
    assert expand("r_{as_of}.json") == "r_2026-11-22.json"
    assert expand("r_{period}.json", period="last-month") == "r_last-month.json"
    assert expand("{period}/{start}_{end}.csv") == "2026-10/2026-10-01_2026-10-31.csv"
    assert expand("r_{start:%Y%m}.json") == "r_202610.json"
    assert expand("plain.json") == "plain.json"
    assert expand("r_{{start}}.json") == "r_{start}.json"
    assert expand("r_{start}.json", start=None, end=None, period="all") == "r_all.json"


@pytest.mark.parametrize(
    ("template", "named"),
    [("r_{date}.json", "{date}"), ("r_{}.json", "{}"), ("r_{start.year}.json", "{start.year}")],
)
def test_expand_output_path_unknown_placeholder(template: str, named: str) -> None:
    with pytest.raises(UsageError) as caught:
        expand(template)
    error = caught.value
    assert f"unknown placeholder `{named}`" in error.message
    assert error.hint == "valid placeholders are {start}, {end}, {as_of}, {period}"
    assert error.exit_code == 2  # a wrong option


def test_expand_output_path_malformed() -> None:
    with pytest.raises(UsageError, match="invalid output path"):
        expand("r_{start.json")


# --------------------------------------------------------------------------- atomic writes


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_write_atomic_new_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    write_atomic(target, b"{}\n")
    assert target.read_bytes() == b"{}\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert leftovers(tmp_path) == []


def test_write_atomic_keeps_mode(tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    target.write_bytes(b"old")
    target.chmod(0o600)
    write_atomic(str(target), b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert leftovers(tmp_path) == []


def test_write_atomic_follows_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "real.csv"
    real.write_bytes(b"old")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    write_atomic(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"


def test_write_atomic_creates_missing_folders(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "2026" / "report.json"
    write_atomic(target, b"x")
    assert target.read_bytes() == b"x"
    assert leftovers(target.parent) == []


def test_write_atomic_target_is_a_directory(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.mkdir()
    with pytest.raises(OutputError, match="is a directory") as caught:
        write_atomic(target, b"x")
    assert caught.value.location == str(target)
    assert caught.value.hint
    assert leftovers(tmp_path) == []


def test_write_atomic_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is not a directory"):
        write_atomic(tmp_path / "file" / "report.json", b"x")


def test_write_atomic_failure_keeps_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.json"
    target.write_bytes(b"old")

    def fail(*args: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OutputError, match="permission denied") as caught:
        write_atomic(target, b"new")
    assert caught.value.location == str(target)
    assert caught.value.exit_code == 4
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_write_atomic_interrupted_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "report.json", b"new")
    assert list(tmp_path.iterdir()) == []


def test_write_atomic_disk_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    def full(*args: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError, match="no space left"):
        write_atomic(tmp_path / "report.json", b"new")
    assert list(tmp_path.iterdir()) == []
