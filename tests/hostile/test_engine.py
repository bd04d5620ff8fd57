"""Hostile inputs to the engine: dates at the ends of the calendar, targets asked of rows
they were not set for, groups without rows, names that clash with kpi's own.

Each class of input either gives the right answer (checked by hand or against DuckDB) or
a clear error with SPEC.md's exit code: never a traceback, never exit 70.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kpicli.cli import app
from kpicli.errors import UsageError
from kpicli.periods import (
    GRAINS,
    KEYWORDS,
    DateRange,
    bucket,
    buckets,
    comparison_range,
    counterpart,
    explicit_period,
    parse_period,
    prorated_target,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "kpi_config.yaml"
runner = CliRunner()


def kpi(*args: str):
    """`kpi ARGS` through the front door (stdout and stderr apart)."""
    return runner.invoke(app, list(args))


# --------------------------------------------------------------------------- the calendar's ends

#: Days near the two ends of the calendar, and anywhere.
edge_days = st.one_of(
    st.dates(max_value=date(3, 12, 31)),
    st.dates(min_value=date(9997, 1, 1)),
    st.dates(),
)
edge_years = st.sampled_from(["0001", "0002", "9998", "9999"])
edge_periods = st.one_of(
    st.sampled_from(KEYWORDS),
    st.from_regex(r"\Alast-\d{1,7}-days\Z"),
    edge_years,
    st.builds("{}-{:02d}".format, edge_years, st.integers(1, 12)),
    st.builds("{}-Q{}".format, edge_years, st.integers(1, 4)),
    st.builds("{}-W{:02d}".format, edge_years, st.integers(1, 53)),
    st.builds(lambda d: d.isoformat(), edge_days),
    st.builds(
        lambda a, b: f"{min(a, b)}..{max(a, b)}",
        st.dates(max_value=date(2, 12, 31)),
        st.dates(max_value=date(2, 12, 31)),
    ),
    st.builds(
        lambda a, b: f"{min(a, b)}..{max(a, b)}",
        st.dates(min_value=date(9998, 1, 1)),
        st.dates(min_value=date(9998, 1, 1)),
    ),
)


def _edges(rng: DateRange) -> list[DateRange]:
    """The first and last 70 days of a range (all of a short one): where buckets are cut."""
    if rng.days <= 140:
        return [rng]
    span = timedelta(days=69)
    return [DateRange(rng.start, rng.start + span), DateRange(rng.end - span, rng.end)]


def lay_out(
    text: str,
    as_of: date,
    week_start: str,
    mode: str,
    grain: str | None,
    date_from: date | None,
    date_to: date | None,
) -> None:
    """Every date computation a report makes of these options (as kpicli.plan and
    kpicli.engine make them), with the invariants each result must hold."""
    period = parse_period(text, as_of, week_start)
    if date_from or date_to:
        period = explicit_period(date_from, date_to, as_of, period)
    comparison = comparison_range(period, mode, as_of, week_start)
    if period.range is None:
        return
    if comparison is not None:
        assert comparison.start < period.range.start
    for part in _edges(period.range):
        for b in buckets(part, grain, week_start) if grain else [part]:
            assert period.range.start <= b.start <= b.end <= period.range.end
            if grain:
                assert b.clip(bucket(b.start, grain, week_start)) == b
            if mode != "none":
                c = counterpart(b, mode, grain, as_of=as_of)
                assert c.end < b.start if mode == "previous" else c.start < b.start
            for per in GRAINS:
                whole = prorated_target(1.0, per, b, week_start)
                assert 0 < whole <= b.days
                if b.start <= as_of < b.end:
                    elapsed = prorated_target(1.0, per, DateRange(b.start, as_of), week_start)
                    assert 0 < elapsed <= whole


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edge_periods,
    edge_days,
    st.sampled_from(["monday", "sunday"]),
    st.sampled_from(["none", "previous", "year"]),
    st.sampled_from([None, *GRAINS]),
    st.one_of(st.none(), edge_days),
    st.one_of(st.none(), edge_days),
)
def test_any_period_as_of_comparison_and_grain_are_dates_or_a_usage_error(
    text: str,
    as_of: date,
    week_start: str,
    mode: str,
    grain: str | None,
    date_from: date | None,
    date_to: date | None,
) -> None:
    """Whatever the options, at either end of the calendar: a usage error or ranges that
    hold (buckets inside the period, comparisons before it, targets prorated by days)."""
    try:
        lay_out(text, as_of, week_start, mode, grain, date_from, date_to)
    except UsageError as err:
        assert "--" in err.message  # names the option
        assert "Error" not in err.message


def test_weeks_at_the_ends_of_the_calendar_are_cut_there() -> None:
    last = date(9999, 12, 31)  # a Friday
    assert bucket(last, "week") == DateRange(date(9999, 12, 27), last)
    assert bucket(date(1, 1, 1), "week", "sunday") == DateRange(date(1, 1, 1), date(1, 1, 6))
    # a weekly goal over the 5 days that exist of the last week: 5/7 of it
    assert prorated_target(70.0, "week", DateRange(date(9999, 12, 27), last)) == 50.0
    with pytest.raises(UsageError, match="falls outside supported dates"):
        parse_period("this-week", last)
    with pytest.raises(UsageError, match="falls outside supported dates"):
        parse_period("9999-W52", last)


EDGE_RUNS = [
    ("-p", "9999"),
    ("--as-of", "9999-12-31", "-p", "this-year"),
    ("-p", "9999", "--compare", "year"),
    ("-p", "9999-12", "--compare", "previous", "-g", "week"),
    ("-p", "9999", "-g", "week", "--compare", "previous"),
    ("--as-of", "9999-12-31", "-p", "last-30-days", "--compare", "previous", "-g", "day"),
    ("-p", "9999-12-31", "-g", "week", "--compare", "previous"),
    ("--from", "0001-01-01", "--to", "0001-03-01", "-g", "week"),
    ("-p", "0001-W01", "--by", "channel"),
]
EDGE_ERRORS = [
    ("-p", "0001", "--compare", "previous"),
    ("-p", "0001", "--compare", "year"),
    ("--from", "0001-01-01", "--compare", "previous"),
    ("-p", "last-year", "--as-of", "0001-06-01"),
    ("-p", "9999-W52"),
    ("--as-of", "9999-12-31", "-p", "this-week"),
    ("-p", "0001-02", "-g", "month", "--compare", "year"),
]


@pytest.mark.parametrize("args", EDGE_RUNS, ids=" ".join)
def test_reports_at_the_ends_of_the_calendar_run(args: tuple[str, ...]) -> None:
    r = kpi("report", "-c", str(CONFIG), "-k", "leads,spend", "--as-of", "2026-11-30", *args)
    assert r.exit_code == 0, r.stderr


@pytest.mark.parametrize("args", EDGE_ERRORS, ids=" ".join)
def test_reports_past_the_ends_of_the_calendar_are_usage_errors(args: tuple[str, ...]) -> None:
    r = kpi("report", "-c", str(CONFIG), "-k", "leads", "--as-of", "2026-11-30", *args)
    assert r.exit_code == 2, r.stderr
    assert "falls outside supported dates" in r.stderr or "fall outside" in r.stderr
    assert "hint: kpi counts days from 0001-01-01 to 9999-12-31" in r.stderr


def test_the_last_week_of_the_calendar_gets_its_days_share_of_a_weekly_goal() -> None:
    r = kpi(
        "report", "-c", str(CONFIG), "-k", "leads", "-p", "9999", "-g", "week", "-f", "json",
        "--as-of", "9999-12-30",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    last = json.loads(r.stdout)["rows"][-1]
    assert (last["period_start"], last["period_end"]) == ("9999-12-27", "9999-12-31")
    # the shipped leads goal: 240 a week for the company; 5 of the week's 7 days exist,
    # 4 of them have passed on 30 December
    assert last["target"] == pytest.approx(240 * 5 / 7)
    assert last["expected"] == pytest.approx(240 * 4 / 7)


# --------------------------------------------------------------------------- targets' rows


def report_json(*args: str) -> dict:
    r = kpi("report", "-c", str(CONFIG), "--as-of", "2026-11-30", "-f", "json", *args)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize(
    "args",
    [
        ("--by", "offer"),
        ("--by", "channel,offer"),
        ("--by", "offer", "-g", "week"),
        ("--by", "landing_page", "--compare", "previous"),
    ],
    ids=" ".join,
)
def test_a_channel_goal_is_no_goal_of_an_offer(args: tuple[str, ...]) -> None:
    """The shipped weekly leads goal is set by channel, with a company total (240 a week):
    split another way, no row is compared with the company's goal, nor a channel × offer
    row with its channel's whole goal; the totals still are."""
    data = report_json("-k", "leads", "-p", "this-month", *args)
    assert data["rows"] and all(r["target"] is None and r["status"] is None for r in data["rows"])
    for total in data["totals"]:
        days = date.fromisoformat(total["period_end"]) - date.fromisoformat(total["period_start"])
        assert total["target"] == pytest.approx(240 * (days.days + 1) / 7)
        assert total["status"] is not None


def test_a_filtered_total_is_not_compared_with_the_company_goal() -> None:
    (row,) = report_json("-k", "leads", "-p", "this-month", "--where", "channel = 'google_ads'")[
        "rows"
    ]
    assert (row["target"], row["status"]) == (None, None)
    # the google_ads row of --by channel is the whole channel: its own goal, 60 a week
    data = report_json(
        "-k", "leads", "-p", "this-month", "--by", "channel", "--where", "channel = 'google_ads'"
    )
    (row,) = data["rows"]
    assert row["target"] == pytest.approx(60 * 30 / 7)
    assert [t["target"] for t in data["totals"]] == [None]


def test_no_false_alarm_from_a_goal_applied_to_the_wrong_rows() -> None:
    """--fail-on bad failed on every offer compared with the company goal."""
    r = kpi(
        "report", "-c", str(CONFIG), "--as-of", "2026-11-30", "-k", "leads", "-p", "this-month",
        "--by", "offer", "--fail-on", "bad", "-f", "csv",
    )  # fmt: skip
    assert r.exit_code == 0, r.stdout + r.stderr


def test_a_rate_target_holds_for_every_slice() -> None:
    """ctr's plain target (a level, 1.4 %) applies to every row, split or filtered."""
    data = report_json("-k", "ctr", "-p", "this-month", "--by", "channel,campaign")
    assert all(r["target"] == 0.014 and r["status"] for r in data["rows"] + data["totals"])
    (row,) = report_json("-k", "ctr", "-p", "this-month", "--where", "channel = 'meta_ads'")["rows"]
    assert row["target"] == 0.014
