"""Tests of kpicli.spec.periods: period expressions, buckets, comparison ranges, prorating."""

from __future__ import annotations

import itertools
import math
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpicli.cli import option_word
from kpicli.errors import KpiError, UsageError
from kpicli.spec.periods import (
    GRAINS,
    WEEK_STARTS,
    DateRange,
    Period,
    bucket,
    buckets,
    comparison_range,
    counterpart,
    explicit_period,
    parse_date,
    parse_period,
    prorated_target,
    shift_year,
    unit_days,
)

AS_OF = date(2026, 11, 22)  # a Sunday
D = date.fromisoformat


def R(start: str, end: str) -> DateRange:
    return DateRange(D(start), D(end))


def cli(err: KpiError) -> SimpleNamespace:
    """The error's message and hint as `kpi` prints them: request fields named by their
    options (the library's own text names the fields: see test_errors_name_request_fields)."""
    message, hint = err.worded(option_word)
    return SimpleNamespace(message=message, hint=hint)


# --------------------------------------------------------------------------- DateRange


def test_date_range_basics() -> None:
    rng = R("2026-10-01", "2026-10-31")
    assert rng.days == 31
    assert str(rng) == "2026-10-01..2026-10-31"
    assert D("2026-10-15") in rng
    assert D("2026-11-01") not in rng
    assert rng.clip(R("2026-10-20", "2026-11-10")) == R("2026-10-20", "2026-10-31")
    assert rng.clip(R("2026-11-01", "2026-11-10")) is None
    assert R("2026-10-01", "2026-10-01").days == 1
    assert R("2026-01-01", "2026-01-02") < R("2026-01-02", "2026-01-02")


def test_date_range_rejects_end_before_start() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        R("2026-10-02", "2026-10-01")


# --------------------------------------------------------------------------- parse_date


def test_parse_date_ok() -> None:
    assert parse_date("2026-10-05") == D("2026-10-05")
    assert parse_date(" 2024-02-29 ", "--as-of") == D("2024-02-29")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("2026/10/05", "is not a date in the form YYYY-MM-DD"),
        ("05-10-2026", "is not a date in the form YYYY-MM-DD"),
        ("20261005", "is not a date in the form YYYY-MM-DD"),
        ("2026-02-30", "is not a valid date (day is out of range for month)"),
        ("2025-02-29", "is not a valid date (day is out of range for month)"),
        ("2026-13-01", "is not a valid date (month must be in 1..12)"),
    ],
)
def test_parse_date_errors(text: str, words: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_date(text, "--as-of")
    assert cli(info.value).message == f"--as-of: `{text}` {words}"
    assert cli(info.value).hint == "write dates as YYYY-MM-DD, e.g. 2026-10-05"


# --------------------------------------------------------------------------- parse_period


@pytest.mark.parametrize(
    ("text", "norm", "start", "end", "unit", "running"),
    [
        ("today", "today", "2026-11-22", "2026-11-22", "day", False),
        ("yesterday", "yesterday", "2026-11-21", "2026-11-21", "day", False),
        ("last-7-days", "last-7-days", "2026-11-16", "2026-11-22", None, False),
        ("last-30-days", "last-30-days", "2026-10-24", "2026-11-22", None, False),
        ("last-1-day", "last-1-days", "2026-11-22", "2026-11-22", None, False),
        ("last-90-days", "last-90-days", "2026-08-25", "2026-11-22", None, False),
        ("this-week", "this-week", "2026-11-16", "2026-11-22", "week", False),
        ("last-week", "last-week", "2026-11-09", "2026-11-15", "week", False),
        ("this-month", "this-month", "2026-11-01", "2026-11-30", "month", True),
        ("last-month", "last-month", "2026-10-01", "2026-10-31", "month", False),
        ("this-quarter", "this-quarter", "2026-10-01", "2026-12-31", "quarter", True),
        ("last-quarter", "last-quarter", "2026-07-01", "2026-09-30", "quarter", False),
        ("this-year", "this-year", "2026-01-01", "2026-12-31", "year", True),
        ("last-year", "last-year", "2025-01-01", "2025-12-31", "year", False),
        ("2026-10", "2026-10", "2026-10-01", "2026-10-31", "month", False),
        ("2026-11", "2026-11", "2026-11-01", "2026-11-30", "month", True),
        ("2026-2", "2026-02", "2026-02-01", "2026-02-28", "month", False),
        ("2024-02", "2024-02", "2024-02-01", "2024-02-29", "month", False),
        ("2026-Q3", "2026-Q3", "2026-07-01", "2026-09-30", "quarter", False),
        ("2026-q4", "2026-Q4", "2026-10-01", "2026-12-31", "quarter", True),
        ("2028-Q1", "2028-Q1", "2028-01-01", "2028-03-31", "quarter", True),
        ("2026-W05", "2026-W05", "2026-01-26", "2026-02-01", "week", False),
        ("2026-w5", "2026-W05", "2026-01-26", "2026-02-01", "week", False),
        ("2026-W01", "2026-W01", "2025-12-29", "2026-01-04", "week", False),
        ("2026-W53", "2026-W53", "2026-12-28", "2027-01-03", "week", True),
        ("2020-W53", "2020-W53", "2020-12-28", "2021-01-03", "week", False),
        ("2026", "2026", "2026-01-01", "2026-12-31", "year", True),
        ("2024", "2024", "2024-01-01", "2024-12-31", "year", False),
        ("2026-10-05", "2026-10-05", "2026-10-05", "2026-10-05", "day", False),
        ("2026-12-01", "2026-12-01", "2026-12-01", "2026-12-01", "day", True),
        (
            "2026-10-01..2026-10-31",
            "2026-10-01..2026-10-31",
            "2026-10-01",
            "2026-10-31",
            None,
            False,
        ),
        (
            "2026-11-01..2026-11-30",
            "2026-11-01..2026-11-30",
            "2026-11-01",
            "2026-11-30",
            None,
            True,
        ),
        (
            "2026-10-05..2026-10-05",
            "2026-10-05..2026-10-05",
            "2026-10-05",
            "2026-10-05",
            None,
            False,
        ),
        (" This_Month ", "this-month", "2026-11-01", "2026-11-30", "month", True),
        ("last 7 days", "last-7-days", "2026-11-16", "2026-11-22", None, False),
    ],
)
def test_parse_period_forms(
    text: str, norm: str, start: str, end: str, unit: str | None, running: bool
) -> None:
    period = parse_period(text, AS_OF)
    assert period == Period(norm, R(start, end), unit, running)
    assert str(period) == norm


def test_parse_period_all() -> None:
    period = parse_period("all", AS_OF)
    assert period == Period("all", None, None, False)
    assert period.elapsed(AS_OF) is None


@pytest.mark.parametrize(
    ("text", "start", "end", "running"),
    [
        ("this-week", "2026-11-22", "2026-11-28", True),
        ("last-week", "2026-11-15", "2026-11-21", False),
        ("2026-W05", "2026-01-25", "2026-01-31", False),
        ("2026-W01", "2025-12-28", "2026-01-03", False),
        ("this-month", "2026-11-01", "2026-11-30", True),
        ("last-7-days", "2026-11-16", "2026-11-22", False),
    ],
)
def test_parse_period_sunday_weeks(text: str, start: str, end: str, running: bool) -> None:
    period = parse_period(text, AS_OF, week_start="sunday")
    assert period.range == R(start, end)
    assert period.running is running


def test_this_week_midweek() -> None:
    wed = D("2026-11-18")
    assert parse_period("this-week", wed).range == R("2026-11-16", "2026-11-22")
    assert parse_period("this-week", wed).running
    assert parse_period("this-week", wed, "sunday").range == R("2026-11-15", "2026-11-21")
    assert parse_period("last-week", wed, "sunday").range == R("2026-11-08", "2026-11-14")


def test_relative_periods_across_year_end() -> None:
    jan = D("2026-01-02")  # a Friday
    assert parse_period("last-month", jan).range == R("2025-12-01", "2025-12-31")
    assert parse_period("last-quarter", jan).range == R("2025-10-01", "2025-12-31")
    assert parse_period("this-week", jan).range == R("2025-12-29", "2026-01-04")
    assert parse_period("last-week", jan).range == R("2025-12-22", "2025-12-28")
    assert parse_period("last-7-days", jan).range == R("2025-12-27", "2026-01-02")
    assert parse_period("yesterday", D("2026-01-01")).range == R("2025-12-31", "2025-12-31")
    assert parse_period("last-month", D("2024-03-31")).range == R("2024-02-01", "2024-02-29")


def test_period_elapsed() -> None:
    period = parse_period("this-month", AS_OF)
    assert period.elapsed(AS_OF) == R("2026-11-01", "2026-11-22")
    assert period.elapsed(D("2026-12-15")) == R("2026-11-01", "2026-11-30")
    assert period.elapsed(D("2026-10-31")) is None


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        (
            "2026-13",
            "--period `2026-13` is not a valid month: the month must be 01 to 12",
            "write a month as YYYY-MM, e.g. 2026-10",
        ),
        (
            "2026-00",
            "--period `2026-00` is not a valid month: the month must be 01 to 12",
            "write a month as YYYY-MM, e.g. 2026-10",
        ),
        (
            "2026-Q5",
            "--period `2026-Q5` is not a valid quarter: the quarter must be Q1 to Q4",
            "write a quarter as YYYY-Qn, e.g. 2026-Q3",
        ),
        (
            "2026-q0",
            "--period `2026-q0` is not a valid quarter: the quarter must be Q1 to Q4",
            "write a quarter as YYYY-Qn, e.g. 2026-Q3",
        ),
        (
            "2026-W54",
            "--period `2026-W54` is not a valid week: 2026 has 53 ISO weeks",
            "write a week as YYYY-Www with a week number from 01 to 53, e.g. 2026-W05",
        ),
        (
            "2025-W53",
            "--period `2025-W53` is not a valid week: 2025 has 52 ISO weeks",
            "write a week as YYYY-Www with a week number from 01 to 52, e.g. 2025-W05",
        ),
        (
            "2027-W00",
            "--period `2027-W00` is not a valid week: 2027 has 52 ISO weeks",
            "write a week as YYYY-Www with a week number from 01 to 52, e.g. 2027-W05",
        ),
        (
            "2026-02-30",
            "--period: `2026-02-30` is not a valid date (day is out of range for month)",
            "write dates as YYYY-MM-DD, e.g. 2026-10-05",
        ),
        (
            "2026-10-31..2026-10-01",
            "--period `2026-10-31..2026-10-01` ends before it starts",
            "write the earlier date first: 2026-10-01..2026-10-31",
        ),
        (
            "2026-10-01..2026-02-30",
            "--period end: `2026-02-30` is not a valid date (day is out of range for month)",
            "write dates as YYYY-MM-DD, e.g. 2026-10-05",
        ),
        (
            "2026-10-01..",
            "--period end: `` is not a date in the form YYYY-MM-DD",
            "write dates as YYYY-MM-DD, e.g. 2026-10-05",
        ),
        (
            "last-0-days",
            "--period `last-0-days`: the number of days must be 1 or more",
            "e.g. last-7-days",
        ),
    ],
)
def test_parse_period_invalid_dates(text: str, message: str, hint: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_period(text, AS_OF)
    assert cli(info.value).message == message
    assert cli(info.value).hint == hint


ACCEPTED = (
    "accepted periods: all, today, yesterday, last-7-days, last-30-days, this-week, "
    "last-week, this-month, last-month, this-quarter, last-quarter, this-year, last-year, "
    "last-N-days, 2026-10, 2026-Q3, 2026-W05, 2026, 2026-10-05, 2026-10-01..2026-10-31"
)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("lastmonth", "did you mean `last-month`? " + ACCEPTED),
        ("this-moth", "did you mean `this-month`? " + ACCEPTED),
        ("fortnight", ACCEPTED),
        ("2026-H1", ACCEPTED),
        ("last-7-weeks", "did you mean `last-week`? " + ACCEPTED),
        ("", ACCEPTED),
    ],
)
def test_parse_period_unknown(text: str, hint: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_period(text, AS_OF)
    assert cli(info.value).message == f"unknown --period `{text}`"
    assert cli(info.value).hint == hint
    assert info.value.exit_code == 2


def test_parse_period_rejects_unknown_week_start() -> None:
    with pytest.raises(ValueError, match="week_start must be one of monday, sunday"):
        parse_period("this-week", AS_OF, week_start="saturday")


# --------------------------------------------------------------------------- explicit_period


def test_explicit_period() -> None:
    everything = parse_period("all", AS_OF)
    last_month = parse_period("last-month", AS_OF)
    this_month = parse_period("this-month", AS_OF)
    assert explicit_period(None, None, AS_OF, last_month) is last_month
    assert explicit_period(D("2026-10-10"), D("2026-10-20"), AS_OF, everything) == Period(
        "2026-10-10..2026-10-20", R("2026-10-10", "2026-10-20"), None, False
    )
    assert explicit_period(D("2026-10-10"), None, AS_OF, everything).range == R(
        "2026-10-10", "2026-11-22"
    )
    assert explicit_period(D("2026-10-10"), None, AS_OF, last_month).range == R(
        "2026-10-10", "2026-10-31"
    )
    over = explicit_period(None, D("2026-11-25"), AS_OF, this_month)
    assert over == Period("2026-11-01..2026-11-25", R("2026-11-01", "2026-11-25"), None, True)


def test_explicit_period_errors() -> None:
    with pytest.raises(UsageError) as info:
        explicit_period(None, D("2026-10-20"), AS_OF, parse_period("all", AS_OF))
    assert cli(info.value).message == "--to needs --from (or a --period to take the start from)"
    assert cli(info.value).hint == "e.g. --from 2026-10-01 --to 2026-10-20"
    with pytest.raises(UsageError) as info:
        explicit_period(D("2026-10-20"), D("2026-10-10"), AS_OF, parse_period("all", AS_OF))
    assert cli(info.value).message == "--to 2026-10-10 is before --from 2026-10-20"
    with pytest.raises(UsageError) as info:
        explicit_period(D("2026-11-05"), None, AS_OF, parse_period("last-month", AS_OF))
    assert "is before --from" in cli(info.value).message


# --------------------------------------------------------------------------- buckets


@pytest.mark.parametrize(
    ("day", "grain", "week_start", "start", "end"),
    [
        ("2026-11-22", "day", "monday", "2026-11-22", "2026-11-22"),
        ("2026-11-22", "week", "monday", "2026-11-16", "2026-11-22"),
        ("2026-11-22", "week", "sunday", "2026-11-22", "2026-11-28"),
        ("2026-11-21", "week", "sunday", "2026-11-15", "2026-11-21"),
        ("2026-01-01", "week", "monday", "2025-12-29", "2026-01-04"),
        ("2024-02-10", "month", "monday", "2024-02-01", "2024-02-29"),
        ("2026-02-10", "month", "monday", "2026-02-01", "2026-02-28"),
        ("2026-12-31", "month", "monday", "2026-12-01", "2026-12-31"),
        ("2026-05-31", "quarter", "monday", "2026-04-01", "2026-06-30"),
        ("2026-11-22", "year", "sunday", "2026-01-01", "2026-12-31"),
    ],
)
def test_bucket(day: str, grain: str, week_start: str, start: str, end: str) -> None:
    assert bucket(D(day), grain, week_start) == R(start, end)


def test_buckets_clipped_to_range() -> None:
    assert buckets(R("2026-10-20", "2026-12-05"), "month") == [
        R("2026-10-20", "2026-10-31"),
        R("2026-11-01", "2026-11-30"),
        R("2026-12-01", "2026-12-05"),
    ]
    assert buckets(R("2026-11-01", "2026-11-30"), "week") == [
        R("2026-11-01", "2026-11-01"),
        R("2026-11-02", "2026-11-08"),
        R("2026-11-09", "2026-11-15"),
        R("2026-11-16", "2026-11-22"),
        R("2026-11-23", "2026-11-29"),
        R("2026-11-30", "2026-11-30"),
    ]
    assert buckets(R("2026-11-01", "2026-11-14"), "week", "sunday") == [
        R("2026-11-01", "2026-11-07"),
        R("2026-11-08", "2026-11-14"),
    ]
    assert buckets(R("2026-11-01", "2026-11-03"), "day") == [
        R("2026-11-01", "2026-11-01"),
        R("2026-11-02", "2026-11-02"),
        R("2026-11-03", "2026-11-03"),
    ]
    assert buckets(R("2025-12-15", "2026-01-15"), "year") == [
        R("2025-12-15", "2025-12-31"),
        R("2026-01-01", "2026-01-15"),
    ]


def test_unknown_grain() -> None:
    with pytest.raises(UsageError) as info:
        bucket(AS_OF, "months")
    assert cli(info.value).message == "unknown --grain `months`"
    assert cli(info.value).hint == (
        "did you mean `month`? --grain takes one of: day, week, month, quarter, year"
    )


@pytest.mark.parametrize(
    ("day", "unit", "week_start", "days"),
    [
        ("2026-11-22", "day", "monday", 1),
        ("2026-11-22", "week", "sunday", 7),
        ("2026-02-01", "month", "monday", 28),
        ("2024-02-29", "month", "monday", 29),
        ("2026-11-22", "month", "monday", 30),
        ("2026-01-31", "month", "monday", 31),
        ("2026-02-01", "quarter", "monday", 90),
        ("2028-02-01", "quarter", "monday", 91),
        ("2026-05-01", "quarter", "monday", 91),
        ("2026-08-01", "quarter", "monday", 92),
        ("2026-08-01", "year", "monday", 365),
        ("2028-08-01", "year", "monday", 366),
    ],
)
def test_unit_days(day: str, unit: str, week_start: str, days: int) -> None:
    assert unit_days(D(day), unit, week_start) == days


# --------------------------------------------------------------------------- comparisons


def test_shift_year() -> None:
    assert shift_year(D("2026-11-22")) == D("2025-11-22")
    assert shift_year(D("2024-02-29")) == D("2023-02-28")
    assert shift_year(D("2024-02-29"), 4) == D("2028-02-29")
    assert shift_year(D("2025-02-28"), -1) == D("2024-02-28")


@pytest.mark.parametrize(
    ("text", "mode", "as_of", "start", "end"),
    [
        # calendar units -> the unit just before
        ("last-month", "previous", "2026-11-22", "2026-09-01", "2026-09-30"),
        ("last-month", "previous", "2026-02-10", "2025-12-01", "2025-12-31"),
        ("2026-03", "previous", "2026-11-22", "2026-02-01", "2026-02-28"),
        ("2024-03", "previous", "2026-11-22", "2024-02-01", "2024-02-29"),
        ("2026-Q1", "previous", "2026-11-22", "2025-10-01", "2025-12-31"),
        ("2026-W01", "previous", "2026-11-22", "2025-12-22", "2025-12-28"),
        ("2021-W01", "previous", "2026-11-22", "2020-12-28", "2021-01-03"),
        ("last-year", "previous", "2026-11-22", "2024-01-01", "2024-12-31"),
        ("yesterday", "previous", "2026-01-01", "2025-12-30", "2025-12-30"),
        ("2025-03-01", "previous", "2026-11-22", "2025-02-28", "2025-02-28"),
        ("today", "previous", "2026-11-22", "2026-11-21", "2026-11-21"),
        # last-N-days and explicit ranges -> as many days just before
        ("last-7-days", "previous", "2026-11-22", "2026-11-09", "2026-11-15"),
        ("last-30-days", "previous", "2026-01-10", "2025-11-12", "2025-12-11"),
        ("2026-10-01..2026-10-31", "previous", "2026-11-22", "2026-08-31", "2026-09-30"),
        ("2024-03-01..2024-03-10", "previous", "2026-11-22", "2024-02-20", "2024-02-29"),
        # running periods -> only the elapsed days
        ("this-month", "previous", "2026-11-22", "2026-10-01", "2026-10-22"),
        ("2026-03", "previous", "2026-03-30", "2026-02-01", "2026-02-28"),
        ("this-month", "previous", "2024-03-30", "2024-02-01", "2024-02-29"),
        ("this-quarter", "previous", "2026-11-22", "2026-07-01", "2026-08-22"),
        ("this-year", "previous", "2026-11-22", "2025-01-01", "2025-11-22"),
        ("this-year", "previous", "2025-01-01", "2024-01-01", "2024-01-01"),
        ("2026-11-01..2026-11-30", "previous", "2026-11-22", "2026-10-02", "2026-10-23"),
        # a period wholly after as_of is compared whole
        ("2027-01", "previous", "2026-11-22", "2026-12-01", "2026-12-31"),
        # year: the same dates one year earlier (29 Feb -> 28 Feb)
        ("last-month", "year", "2026-11-22", "2025-10-01", "2025-10-31"),
        ("2024-02", "year", "2026-11-22", "2023-02-01", "2023-02-28"),
        ("2024-02-29", "year", "2026-11-22", "2023-02-28", "2023-02-28"),
        ("2025-02", "year", "2026-11-22", "2024-02-01", "2024-02-28"),
        ("2026-W01", "year", "2026-11-22", "2024-12-29", "2025-01-04"),
        ("last-7-days", "year", "2026-11-22", "2025-11-16", "2025-11-22"),
        ("this-month", "year", "2026-11-22", "2025-11-01", "2025-11-22"),
        ("this-year", "year", "2024-02-29", "2023-01-01", "2023-02-28"),
    ],
)
def test_comparison_range(text: str, mode: str, as_of: str, start: str, end: str) -> None:
    period = parse_period(text, D(as_of))
    assert comparison_range(period, mode, D(as_of)) == R(start, end)


def test_comparison_range_sunday_weeks() -> None:
    this_week = parse_period("this-week", AS_OF, "sunday")  # 11-22..11-28, one day elapsed
    assert comparison_range(this_week, "previous", AS_OF, "sunday") == R("2026-11-15", "2026-11-15")
    week = parse_period("2026-W01", AS_OF, "sunday")  # 2025-12-28..2026-01-03
    assert comparison_range(week, "previous", AS_OF, "sunday") == R("2025-12-21", "2025-12-27")


def test_comparison_range_none_and_errors() -> None:
    assert comparison_range(parse_period("last-month", AS_OF), "none", AS_OF) is None
    assert comparison_range(parse_period("all", AS_OF), "none", AS_OF) is None
    with pytest.raises(UsageError) as info:
        comparison_range(parse_period("all", AS_OF), "previous", AS_OF)
    assert cli(info.value).message == (
        "--compare previous needs a period: `--period all` has nothing before it to compare to"
    )
    assert cli(info.value).hint == "choose a period, e.g. --period last-month --compare previous"
    with pytest.raises(UsageError) as info:
        comparison_range(parse_period("all", AS_OF), "year", AS_OF)
    assert cli(info.value).message.startswith("--compare year needs a period")
    with pytest.raises(UsageError) as info:
        comparison_range(parse_period("last-month", AS_OF), "prev", AS_OF)
    assert cli(info.value).message == "unknown --compare `prev`"
    assert (
        cli(info.value).hint
        == "did you mean `previous`? --compare takes one of: none, previous, year"
    )


@pytest.mark.parametrize(
    ("start", "end", "mode", "grain", "as_of", "cstart", "cend"),
    [
        ("2026-03-01", "2026-03-31", "previous", "month", None, "2026-02-01", "2026-02-28"),
        ("2026-03-10", "2026-03-31", "previous", "month", None, "2026-02-16", "2026-03-09"),
        ("2026-01-01", "2026-03-31", "previous", "quarter", None, "2025-10-01", "2025-12-31"),
        ("2024-01-01", "2024-12-31", "previous", "year", None, "2023-01-01", "2023-12-31"),
        ("2026-11-16", "2026-11-22", "previous", "week", None, "2026-11-09", "2026-11-15"),
        ("2026-11-22", "2026-11-22", "previous", "day", None, "2026-11-21", "2026-11-21"),
        ("2026-11-01", "2026-11-01", "previous", "week", None, "2026-10-31", "2026-10-31"),
        ("2026-10-01", "2026-10-31", "previous", None, None, "2026-08-31", "2026-09-30"),
        ("2024-02-29", "2024-02-29", "year", "day", None, "2023-02-28", "2023-02-28"),
        ("2024-02-01", "2024-02-29", "year", "month", None, "2023-02-01", "2023-02-28"),
        ("2026-11-16", "2026-11-22", "year", "week", None, "2025-11-16", "2025-11-22"),
        # running buckets, given as_of: only the elapsed days
        ("2026-11-01", "2026-11-30", "previous", "month", "2026-11-22", "2026-10-01", "2026-10-22"),
        ("2026-03-01", "2026-03-31", "previous", "month", "2026-03-30", "2026-02-01", "2026-02-28"),
        ("2026-11-01", "2026-11-30", "year", "month", "2026-11-22", "2025-11-01", "2025-11-22"),
        ("2026-11-23", "2026-11-29", "previous", "week", "2026-11-22", "2026-11-16", "2026-11-22"),
        ("2026-10-01", "2026-10-31", "previous", "month", "2026-11-22", "2026-09-01", "2026-09-30"),
    ],
)
def test_counterpart(
    start: str,
    end: str,
    mode: str,
    grain: str | None,
    as_of: str | None,
    cstart: str,
    cend: str,
) -> None:
    kwargs = {"as_of": D(as_of)} if as_of else {}
    assert counterpart(R(start, end), mode, grain, **kwargs) == R(cstart, cend)


def test_counterpart_needs_a_mode() -> None:
    with pytest.raises(ValueError, match="previous or year"):
        counterpart(R("2026-10-01", "2026-10-31"), "none", "month")


# --------------------------------------------------------------------------- prorating


def test_prorated_target_examples() -> None:
    assert prorated_target(50, "week", R("2026-11-16", "2026-11-22")) == 50
    assert prorated_target(50, "week", R("2026-11-22", "2026-11-28"), "sunday") == 50
    assert prorated_target(0.1, "week", R("2026-11-18", "2026-11-24")) == 0.1
    assert prorated_target(310, "month", R("2026-10-01", "2026-10-31")) == 310
    assert prorated_target(290, "month", R("2024-02-01", "2024-02-29")) == 290
    assert prorated_target(1000, "quarter", R("2028-01-01", "2028-03-31")) == 1000
    assert prorated_target(365, "year", R("2026-01-01", "2026-12-31")) == 365
    assert prorated_target(3, "day", R("2026-10-01", "2026-10-31")) == 93
    # a week straddling two months (3 days of September, 4 of October), per month
    expected = 100 * (3 / 30 + 4 / 31)
    assert math.isclose(prorated_target(100, "month", R("2026-09-28", "2026-10-04")), expected)
    # a weekly goal over a month to date: 22 days of weeks
    assert math.isclose(prorated_target(70, "week", R("2026-11-01", "2026-11-22")), 220)
    # one day of a leap February vs a common one
    assert math.isclose(prorated_target(29, "month", R("2024-02-10", "2024-02-10")), 1)
    assert math.isclose(prorated_target(28, "month", R("2026-02-10", "2026-02-10")), 1)


def test_prorated_target_is_linear_in_units_not_days() -> None:
    # fifty years per day touches ~18k days but only 600 months: must stay fast and exact
    rng = R("2000-01-01", "2049-12-31")
    assert prorated_target(12.5, "month", rng) == 12.5 * 600


# --------------------------------------------------------------------------- properties

dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))
grains = st.sampled_from(GRAINS)
week_starts = st.sampled_from(WEEK_STARTS)
units = st.sampled_from(("week", "month", "quarter", "year"))


@st.composite
def ranges(draw: st.DrawFn, max_days: int = 800) -> DateRange:
    start = draw(dates)
    return DateRange(start, start + timedelta(days=draw(st.integers(0, max_days))))


@given(dates, grains, week_starts)
def test_bucket_contains_day(day: date, grain: str, week_start: str) -> None:
    b = bucket(day, grain, week_start)
    assert day in b
    assert b.days == unit_days(day, grain, week_start)
    assert bucket(b.start, grain, week_start) == b == bucket(b.end, grain, week_start)
    assert bucket(b.end + timedelta(days=1), grain, week_start).start == b.end + timedelta(days=1)
    if grain == "week":
        assert b.days == 7
        assert b.start.strftime("%A").lower() == week_start


@given(ranges(), grains, week_starts)
def test_buckets_partition_range(rng: DateRange, grain: str, week_start: str) -> None:
    parts = buckets(rng, grain, week_start)
    assert parts[0].start == rng.start
    assert parts[-1].end == rng.end
    for before, after in itertools.pairwise(parts):
        assert after.start == before.end + timedelta(days=1)
    assert sum(p.days for p in parts) == rng.days
    for part in parts:
        assert part == bucket(part.start, grain, week_start).clip(rng)


@given(dates, units, week_starts)
def test_this_and_last_periods(as_of: date, unit: str, week_start: str) -> None:
    this = parse_period(f"this-{unit}", as_of, week_start)
    last = parse_period(f"last-{unit}", as_of, week_start)
    assert this.range is not None and last.range is not None
    assert as_of in this.range
    assert this.running is (this.range.end > as_of)
    assert last.range.end < as_of
    assert last.range.end + timedelta(days=1) == this.range.start
    assert not last.running
    assert this.unit == last.unit == unit
    assert this.range == bucket(as_of, unit, week_start)
    yesterday = parse_period("yesterday", as_of, week_start)
    assert yesterday.range is not None and yesterday.range.end < as_of


@given(dates, st.integers(1, 400))
def test_last_n_days(as_of: date, n: int) -> None:
    period = parse_period(f"last-{n}-days", as_of)
    assert period.range is not None
    assert period.range.end == as_of
    assert period.range.days == n
    assert not period.running
    assert period.unit is None


@given(dates, st.sampled_from(("day", "week", "month", "quarter", "year")), week_starts)
def test_calendar_texts_round_trip(day: date, unit: str, week_start: str) -> None:
    b = bucket(day, unit, week_start)
    if unit == "day":
        text = day.isoformat()
    elif unit == "week":
        iso = (b.start + timedelta(days=1) if week_start == "sunday" else b.start).isocalendar()
        text = f"{iso[0]}-W{iso[1]:02d}"
    elif unit == "month":
        text = f"{day.year}-{day.month:02d}"
    elif unit == "quarter":
        text = f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    else:
        text = str(day.year)
    period = parse_period(text, AS_OF, week_start)
    assert period == Period(text, b, unit, b.end > AS_OF)


@given(dates, st.sampled_from(("last-week", "last-month", "last-quarter", "last-year")))
def test_previous_of_calendar_period(as_of: date, text: str) -> None:
    period = parse_period(text, as_of)
    assert period.range is not None and period.unit is not None
    prev = comparison_range(period, "previous", as_of)
    assert prev is not None
    assert prev.end + timedelta(days=1) == period.range.start
    assert prev == bucket(prev.start, period.unit)


@given(ranges(max_days=2000), st.integers(0, 3000))
def test_previous_of_explicit_and_last_n_days(rng: DateRange, ahead: int) -> None:
    as_of = rng.end + timedelta(days=ahead)
    for period in (
        parse_period(str(rng), as_of),
        parse_period(f"last-{rng.days}-days", rng.end),
        explicit_period(rng.start, rng.end, as_of, parse_period("all", as_of)),
    ):
        assert period.range is not None and not period.running
        prev = comparison_range(period, "previous", as_of)
        assert prev is not None
        assert prev.end + timedelta(days=1) == period.range.start
        assert prev.days == period.range.days


@given(dates, units)
def test_running_period_compares_elapsed_days(as_of: date, unit: str) -> None:
    period = parse_period(f"this-{unit}", as_of)
    elapsed = period.elapsed(as_of)
    assert period.range is not None and elapsed is not None
    prev = comparison_range(period, "previous", as_of)
    assert prev is not None
    prev_unit = bucket(period.range.start - timedelta(days=1), unit)
    assert prev.start == prev_unit.start
    if period.running:
        assert prev.days == min(elapsed.days, prev_unit.days)
    else:  # as_of is the unit's last day: the whole previous unit
        assert prev == prev_unit
    year = comparison_range(period, "year", as_of)
    assert year == DateRange(shift_year(elapsed.start), shift_year(elapsed.end))


@given(dates, grains, week_starts, st.integers(1, 30), st.floats(0, 1e9))
def test_prorated_whole_units(
    day: date, per: str, week_start: str, count: int, amount: float
) -> None:
    start = bucket(day, per, week_start).start
    end = start
    for _ in range(count):
        end = bucket(end, per, week_start).end + timedelta(days=1)
    rng = DateRange(start, end - timedelta(days=1))
    assert prorated_target(amount, per, rng, week_start) == amount * count


@given(ranges(), grains, week_starts, st.floats(0, 1e6), st.data())
def test_prorated_is_additive(
    rng: DateRange, per: str, week_start: str, amount: float, data: st.DataObject
) -> None:
    cut = rng.start + timedelta(days=data.draw(st.integers(0, rng.days - 1)))
    whole = prorated_target(amount, per, rng, week_start)
    left = prorated_target(amount, per, DateRange(rng.start, cut), week_start)
    if cut == rng.end:
        assert left == whole
        return
    right = prorated_target(amount, per, DateRange(cut + timedelta(days=1), rng.end), week_start)
    assert math.isclose(left + right, whole, rel_tol=1e-12, abs_tol=1e-9)
    per_day = sum(amount / unit_days(d, per, week_start) for d in _days(rng))
    assert math.isclose(whole, per_day, rel_tol=1e-9, abs_tol=1e-9)


def _days(rng: DateRange) -> list[date]:
    return [rng.start + timedelta(days=i) for i in range(rng.days)]


period_texts = st.one_of(
    st.text(alphabet="0123456789-.qQwWlastdyhmonrk _", max_size=24),
    st.from_regex(r"\A\d{4}-(\d{1,2}|[qQ]\d|[wW]\d{1,2}|\d{2}-\d{2})\Z"),
    st.from_regex(r"\Alast-\d{1,12}-days\Z"),
    st.from_regex(r"\A\d{4}-\d{2}-\d{2}\.\.\d{4}-\d{2}-\d{2}\Z"),
)


@given(period_texts, st.dates(), week_starts, st.sampled_from(("previous", "year")))
def test_any_period_text_is_a_period_or_a_usage_error(
    text: str, as_of: date, week_start: str, mode: str
) -> None:
    """Whatever the user types, even at the ends of the calendar: a period or a usage error.

    A parsed period's normalised text parses back to the same period.
    """
    try:
        period = parse_period(text, as_of, week_start)
    except UsageError as exc:
        assert cli(exc).message.startswith(("unknown --period", "--period"))
        return
    assert parse_period(period.text, as_of, week_start) == period
    if period.range is not None:
        try:
            comparison_range(period, mode, as_of, week_start)
        except UsageError as exc:
            assert "falls outside supported dates" in exc.message


def test_extreme_dates_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="the year must be 0001 or later"):
        parse_period("0000-01", AS_OF)
    with pytest.raises(UsageError, match="falls outside supported dates"):
        parse_period("last-999999999-days", AS_OF)
    with pytest.raises(UsageError, match="falls outside supported dates"):
        parse_period("0001-W01", AS_OF, "sunday")
    first = parse_period("0001-01", AS_OF)
    with pytest.raises(UsageError, match="the period before `0001-01` falls outside"):
        comparison_range(first, "previous", AS_OF)


def test_errors_name_request_fields() -> None:
    """A library user reads the request's field names where `kpi` prints its options."""
    with pytest.raises(UsageError) as info:
        parse_period("2026-13", AS_OF)
    assert (
        info.value.message == "`period` `2026-13` is not a valid month: the month must be 01 to 12"
    )
    assert str(info.value) == info.value.message
    with pytest.raises(UsageError) as info:
        explicit_period(None, D("2026-10-20"), AS_OF, parse_period("all", AS_OF))
    assert (
        info.value.message == "`date_to` needs `date_from` (or a `period` to take the start from)"
    )
    assert info.value.hint == "e.g. `date_from` 2026-10-01 `date_to` 2026-10-20"
    with pytest.raises(UsageError) as info:
        comparison_range(parse_period("last-month", AS_OF), "prev", AS_OF)
    assert info.value.message == "unknown `compare` `prev`"
    assert "--" not in info.value.message + (info.value.hint or "")
    with pytest.raises(UsageError) as info:
        buckets(R("2026-10-01", "2026-10-31"), "months")
    assert info.value.message == "unknown `grain` `months`"
    with pytest.raises(UsageError) as info:
        parse_date("2026-02-30", "{@as_of}")
    assert info.value.message.startswith("`as_of`: `2026-02-30` is not a valid date")
    assert cli(info.value).message.startswith("--as-of: `2026-02-30` is not a valid date")
    assert info.value.render(option_word).startswith("usage error: --as-of: `2026-02-30`")
