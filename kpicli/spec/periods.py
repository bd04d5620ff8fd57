"""Periods, grains, week starts, comparison ranges and prorating: pure date arithmetic.

Everything here works on :class:`datetime.date` (stdlib only, no Polars), so that the CLI can
validate ``--period``/``--from``/``--to``/``--as-of``/``--compare`` before any data is read.

Vocabulary:

- a :class:`DateRange` is an inclusive span of days;
- a *calendar unit* is one day, week, month, quarter or year (weeks start on ``week_start``);
- a :class:`Period` is what ``--period`` (or ``--from``/``--to``) asks for, resolved against
  ``--as-of``; it is *running* when it ends after ``--as-of``;
- a *bucket* is the calendar unit of a ``--grain`` containing a day, clipped to the period.

Weeks: with ``monday`` weeks, ``2026-W05`` is ISO week 5 of 2026. With ``sunday`` weeks, the
same week number names the ISO week shifted one day earlier (from the Sunday before the ISO
Monday to the Saturday), so that ``bucket()`` and ``parse_period()`` always agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

from kpicli.errors import UsageError, did_you_mean

GRAINS = ("day", "week", "month", "quarter", "year")
WEEK_STARTS = ("monday", "sunday")
COMPARE_MODES = ("none", "previous", "year")

#: Period keywords, in the order the help shows them.
KEYWORDS = (
    "all",
    "today",
    "yesterday",
    "last-7-days",
    "last-30-days",
    "this-week",
    "last-week",
    "this-month",
    "last-month",
    "this-quarter",
    "last-quarter",
    "this-year",
    "last-year",
)
#: Every accepted form of ``--period``, as shown in hints.
PERIOD_FORMS = (
    *KEYWORDS,
    "last-N-days",
    "2026-10",
    "2026-Q3",
    "2026-W05",
    "2026",
    "2026-10-05",
    "2026-10-01..2026-10-31",
)

_ONE_DAY = timedelta(days=1)


def first_look(
    period: str | None, *, dated: bool, grain: str | None, compare: str, as_of: date
) -> tuple[str, str]:
    """A report's period and comparison (``none``, ``previous``, ``year``) as asked, or, when
    nothing names the days (no period, no ``dated`` --from/--to, no grain), the first look:
    the month so far compared with the previous one (unless ``compare`` says otherwise), or
    on its first day (nothing of it complete yet) the month just ended. With dates or a
    grain alone, ``all``."""
    if period is not None:
        return period, compare
    if dated or grain is not None:
        return "all", compare
    month = "last-month" if as_of.day == 1 else "this-month"
    return month, "previous" if compare == "none" else compare


#: The ordinal of the last day a ``date`` can hold (9999-12-31).
_LAST = date.max.toordinal()
#: The hint of every error about a date computation that would leave the calendar.
_EDGE_HINT = "kpi counts days from 0001-01-01 to 9999-12-31: choose dates between them"
_DATE_HINT = "write dates as YYYY-MM-DD, e.g. 2026-10-05"
_PERIOD_HINT = "accepted periods: " + ", ".join(PERIOD_FORMS)

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_YEAR = re.compile(r"(\d{4})")
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
_QUARTER = re.compile(r"(\d{4})-q(\d+)")
_WEEK = re.compile(r"(\d{4})-w(\d+)")
_LAST_N_DAYS = re.compile(r"last-(\d+)-days?")
_RELATIVE = re.compile(r"(this|last)-(week|month|quarter|year)")


@dataclass(frozen=True, order=True)
class DateRange:
    """An inclusive span of days: ``start`` to ``end``, both included (``start <= end``)."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"DateRange ends before it starts: {self.start}..{self.end}")

    @property
    def days(self) -> int:
        """The number of days in the range, both ends included."""
        return (self.end - self.start).days + 1

    def clip(self, other: DateRange) -> DateRange | None:
        """The days in both ranges, or None when they do not overlap."""
        start, end = max(self.start, other.start), min(self.end, other.end)
        return DateRange(start, end) if start <= end else None

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


@dataclass(frozen=True)
class Period:
    """A resolved ``--period`` (or ``--from``/``--to``).

    ``text`` is the normalised expression (``last-month``, ``2026-Q3``, ``2026-10-01..2026-10-31``).
    ``range`` is None only for ``all``. ``unit`` is the calendar unit (``day``, ``week``,
    ``month``, ``quarter``, ``year``) when the period is exactly one calendar unit, else None
    (``all``, ``last-N-days``, explicit ranges). ``running`` is True when the period ends
    after ``--as-of``.
    """

    text: str
    range: DateRange | None
    unit: str | None
    running: bool

    def elapsed(self, as_of: date) -> DateRange | None:
        """The part of the period up to ``as_of`` (None for ``all`` or when it starts later)."""
        if self.range is None or self.range.start > as_of:
            return None
        return DateRange(self.range.start, min(self.range.end, as_of))

    def __str__(self) -> str:
        return self.text


# --------------------------------------------------------------------------- calendar units


def _check_week_start(week_start: str) -> int:
    """The weekday number (Monday 0) weeks start on; ValueError for an unknown week start."""
    if week_start == "monday":
        return 0
    if week_start == "sunday":
        return 6
    raise ValueError(f"week_start must be one of {', '.join(WEEK_STARTS)}, not {week_start!r}")


def _check_grain(grain: str, what: str = "{@grain}") -> None:
    if grain not in GRAINS:
        close = did_you_mean(grain, GRAINS)
        hint = f"{close + ' ' if close else ''}{what} takes one of: {', '.join(GRAINS)}"
        raise UsageError(f"unknown {what} `{grain}`", hint=hint)


def _month_range(year: int, month: int) -> DateRange:
    start = date(year, month, 1)
    end = date(year, 12, 31) if month == 12 else date(year, month + 1, 1) - _ONE_DAY
    return DateRange(start, end)


def _quarter_range(year: int, quarter: int) -> DateRange:
    first = 3 * (quarter - 1) + 1
    return DateRange(date(year, first, 1), _month_range(year, first + 2).end)


def _year_range(year: int) -> DateRange:
    return DateRange(date(year, 1, 1), date(year, 12, 31))


def _week_range(day: date, week_start: str) -> DateRange:
    """The week containing ``day``, cut at the ends of the calendar (see :func:`bucket`)."""
    first = _check_week_start(week_start)
    start = day.toordinal() - (day.weekday() - first) % 7
    return DateRange(date.fromordinal(max(start, 1)), date.fromordinal(min(start + 6, _LAST)))


def bucket(day: date, grain: str, week_start: str = "monday") -> DateRange:
    """The calendar day, week, month, quarter or year that contains ``day``.

    Dates run from 0001-01-01 to 9999-12-31, so the two weeks that straddle an end of the
    calendar (the week of 9999-12-31; with Sunday weeks, the week of 0001-01-01) are cut
    there: they have fewer than 7 days, as a bucket cut by its period would. Months,
    quarters and years are always whole. :func:`unit_days` still counts 7 days in a week.
    """
    _check_grain(grain)
    if grain == "day":
        return DateRange(day, day)
    if grain == "week":
        return _week_range(day, week_start)
    if grain == "month":
        return _month_range(day.year, day.month)
    if grain == "quarter":
        return _quarter_range(day.year, (day.month - 1) // 3 + 1)
    return _year_range(day.year)


def buckets(rng: DateRange, grain: str, week_start: str = "monday") -> list[DateRange]:
    """The ``grain`` buckets covering ``rng`` in order, each clipped to ``rng``.

    They partition ``rng``: contiguous, without gaps or overlaps.
    """
    out: list[DateRange] = []
    day = rng.start
    while day <= rng.end:
        whole = bucket(day, grain, week_start)
        part = DateRange(day, min(whole.end, rng.end))
        out.append(part)
        if part.end == date.max:
            break
        day = part.end + _ONE_DAY
    return out


def unit_days(day: date, unit: str, week_start: str = "monday") -> int:
    """The days of the calendar ``unit`` containing ``day``: 1, 7, 28 to 31, 90 to 92, 365/366.

    A week has 7 days even where :func:`bucket` cuts it at an end of the calendar.
    """
    return 7 if unit == "week" else bucket(day, unit, week_start).days


def shift_year(day: date, years: int = -1) -> date:
    """The same date ``years`` years later (earlier when negative); 29 Feb becomes 28 Feb."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 Feb in a year without one
        return day.replace(year=day.year + years, day=28)


def prorated_target(amount: float, per: str, rng: DateRange, week_start: str = "monday") -> float:
    """The ``per``-unit goal ``amount`` summed over the days of ``rng``.

    Each day contributes ``amount / unit_days(day, per)``: a full week with ``per: week`` gets
    exactly ``amount``; a week straddling two months with ``per: month`` gets
    ``amount * (d1 / len(m1) + d2 / len(m2))``. The sum is exact (rational arithmetic, one
    term per calendar unit touched, not per day) and rounded once to a float.
    """
    _check_grain(per, "per")
    exact = Fraction(amount)
    total = Fraction(0)
    for part in buckets(rng, per, week_start):
        total += exact * part.days / unit_days(part.start, per, week_start)
    return float(total)


# --------------------------------------------------------------------------- parsing


def parse_date(text: str, what: str = "date") -> date:
    """An ISO ``YYYY-MM-DD`` date, else a :class:`UsageError` naming ``what``: the request
    field written ``{@as_of}`` (see :meth:`kpicli.errors.KpiError.worded`), or any words."""
    value = text.strip()
    if not _ISO_DATE.fullmatch(value):
        raise UsageError(f"{what}: `{text}` is not a date in the form YYYY-MM-DD", hint=_DATE_HINT)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"{what}: `{text}` is not a valid date ({exc})", hint=_DATE_HINT) from None


def _period(text: str, rng: DateRange | None, unit: str | None, as_of: date) -> Period:
    return Period(text, rng, unit, running=rng is not None and rng.end > as_of)


def _relative(which: str, unit: str, as_of: date, week_start: str) -> DateRange:
    """This or last calendar unit; OverflowError when it is not wholly in the calendar."""
    current = bucket(as_of, unit, week_start)
    if which == "last":
        current = bucket(current.start - _ONE_DAY, unit, week_start)
    if current.days < unit_days(current.start, unit, week_start):  # a week cut by the calendar
        raise OverflowError(unit)
    return current


def _year_of(text: str, digits: str) -> int:
    year = int(digits)
    if year < 1:
        raise UsageError(f"{{@period}} `{text}`: the year must be 0001 or later", hint=_PERIOD_HINT)
    return year


def _outside(raw: str) -> UsageError:
    return UsageError(f"{{@period}} `{raw}` falls outside supported dates", hint=_EDGE_HINT)


def parse_period(text: str, as_of: date, week_start: str = "monday") -> Period:
    """Resolve a ``--period`` expression against ``as_of`` (every form of SPEC.md).

    ``all``; ``today``/``yesterday``; ``last-N-days`` (the N days ending at ``as_of``,
    inclusive); ``this-``/``last-`` ``week``/``month``/``quarter``/``year`` (``this-*`` is the
    whole unit containing ``as_of``, so it is running until its last day); ``2026``,
    ``2026-10``, ``2026-Q3``, ``2026-W05``; one day ``2026-10-05``; an inclusive range
    ``2026-10-01..2026-10-31``. Case, surrounding spaces and ``_`` for ``-`` are forgiven.
    """
    _check_week_start(week_start)
    t = text.strip().lower()
    if ".." in t:
        return _range_period(t, text, as_of)
    t = re.sub(r"[\s_]+", "-", t)
    if (keyword := _keyword_period(t, text, as_of)) is not None:
        return keyword
    for pattern, form in _FORMS:
        if m := pattern.fullmatch(t):
            return form(m, t, text, as_of, week_start)
    close = did_you_mean(t, KEYWORDS)
    hint = f"{close} {_PERIOD_HINT}" if close else _PERIOD_HINT
    raise UsageError(f"unknown {{@period}} `{text}`", hint=hint)


def _range_period(t: str, raw: str, as_of: date) -> Period:
    """``2026-10-01..2026-10-31``."""
    left, _, right = t.partition("..")
    start = parse_date(left, "{@period} start")
    end = parse_date(right, "{@period} end")
    if end < start:
        raise UsageError(
            f"{{@period}} `{raw}` ends before it starts",
            hint=f"write the earlier date first: {end}..{start}",
        )
    rng = DateRange(start, end)
    return _period(str(rng), rng, None, as_of)


def _keyword_period(t: str, raw: str, as_of: date) -> Period | None:
    """``all``, ``today``, ``yesterday``; None for any other text."""
    if t == "all":
        return Period("all", None, None, running=False)
    if t == "today":
        return _period(t, DateRange(as_of, as_of), "day", as_of)
    if t == "yesterday":
        day = _shift_days(as_of, -1, raw)
        return _period(t, DateRange(day, day), "day", as_of)
    return None


def _last_n_days(m: re.Match[str], t: str, raw: str, as_of: date, week_start: str) -> Period:
    n = int(m.group(1))
    if n < 1:
        raise UsageError(
            f"{{@period}} `{raw}`: the number of days must be 1 or more",
            hint="e.g. last-7-days",
        )
    start = _shift_days(as_of, -(n - 1), raw)
    return _period(f"last-{n}-days", DateRange(start, as_of), None, as_of)


def _relative_period(m: re.Match[str], t: str, raw: str, as_of: date, week_start: str) -> Period:
    which, unit = m.groups()
    try:
        rng = _relative(which, unit, as_of, week_start)
    except (OverflowError, ValueError):
        raise _outside(raw) from None
    return _period(t, rng, unit, as_of)


def _day_period(m: re.Match[str], t: str, raw: str, as_of: date, week_start: str) -> Period:
    day = parse_date(t, "{@period}")
    return _period(t, DateRange(day, day), "day", as_of)


def _year_period(m: re.Match[str], t: str, raw: str, as_of: date, week_start: str) -> Period:
    year = _year_of(raw, m.group(1))
    return _period(f"{year:04d}", _year_range(year), "year", as_of)


def _month_period(m: re.Match[str], t: str, raw: str, as_of: date, week_start: str) -> Period:
    year, month = _year_of(raw, m.group(1)), int(m.group(2))
    if not 1 <= month <= 12:
        raise UsageError(
            f"{{@period}} `{raw}` is not a valid month: the month must be 01 to 12",
            hint="write a month as YYYY-MM, e.g. 2026-10",
        )
    return _period(f"{year:04d}-{month:02d}", _month_range(year, month), "month", as_of)


def _quarter_period(m: re.Match[str], t: str, raw: str, as_of: date, week_start: str) -> Period:
    year, quarter = _year_of(raw, m.group(1)), int(m.group(2))
    if not 1 <= quarter <= 4:
        raise UsageError(
            f"{{@period}} `{raw}` is not a valid quarter: the quarter must be Q1 to Q4",
            hint="write a quarter as YYYY-Qn, e.g. 2026-Q3",
        )
    return _period(f"{year:04d}-Q{quarter}", _quarter_range(year, quarter), "quarter", as_of)


def _week_period(m: re.Match[str], t: str, raw: str, as_of: date, week_start: str) -> Period:
    year, week = _year_of(raw, m.group(1)), int(m.group(2))
    weeks = iso_weeks_in_year(year)
    if not 1 <= week <= weeks:
        raise UsageError(
            f"{{@period}} `{raw}` is not a valid week: {year} has {weeks} ISO weeks",
            hint=f"write a week as YYYY-Www with a week number from 01 to {weeks}, e.g. {year}-W05",
        )
    first = date.fromisocalendar(year, week, 1).toordinal()
    first -= 1 if week_start == "sunday" else 0
    if first < 1 or first + 6 > _LAST:
        raise _outside(raw)
    rng = DateRange(date.fromordinal(first), date.fromordinal(first + 6))
    return _period(f"{year:04d}-W{week:02d}", rng, "week", as_of)


#: The forms of ``--period`` after the keywords, tried in this order: each pattern (matched
#: whole, on the lower-cased text) and what resolves it.
_FORMS: tuple[tuple[re.Pattern[str], Callable[..., Period]], ...] = (
    (_LAST_N_DAYS, _last_n_days),
    (_RELATIVE, _relative_period),
    (_ISO_DATE, _day_period),
    (_YEAR, _year_period),
    (_MONTH, _month_period),
    (_QUARTER, _quarter_period),
    (_WEEK, _week_period),
)


def iso_weeks_in_year(year: int) -> int:
    """The number of ISO weeks (52 or 53) of ``year``."""
    return date(year, 12, 28).isocalendar()[1]


def _shift_days(day: date, days: int, raw: str) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        raise _outside(raw) from None


def explicit_period(start: date | None, end: date | None, as_of: date, base: Period) -> Period:
    """The period of ``--from``/``--to``, which override ``--period`` (``base``).

    A missing side is taken from ``base``'s range; when ``base`` is ``all``, ``--to`` defaults
    to ``as_of`` and ``--from`` is required. With neither given, ``base`` is returned as is.
    The result has no calendar unit (it compares like an explicit range).
    """
    if start is None and end is None:
        return base
    if start is None:
        if base.range is None:
            raise UsageError(
                "{@date_to} needs {@date_from} (or a {@period} to take the start from)",
                hint=f"e.g. {{@date_from}} 2026-10-01 {{@date_to}} {end}",
            )
        start = base.range.start
    if end is None:
        end = base.range.end if base.range is not None else as_of
    if end < start:
        raise UsageError(
            f"{{@date_to}} {end} is before {{@date_from}} {start}",
            hint="{@date_from} is the first day and {@date_to} the last day of the period "
            "(both included)",
        )
    rng = DateRange(start, end)
    return _period(str(rng), rng, None, as_of)


# --------------------------------------------------------------------------- comparisons


def _check_mode(mode: str) -> None:
    if mode not in COMPARE_MODES:
        close = did_you_mean(mode, COMPARE_MODES)
        modes = ", ".join(COMPARE_MODES)
        hint = f"{close + ' ' if close else ''}{{@compare}} takes one of: {modes}"
        raise UsageError(f"unknown {{@compare}} `{mode}`", hint=hint)


def _first_days(rng: DateRange, days: int) -> DateRange:
    """The first ``days`` days of ``rng`` (all of it when it is shorter)."""
    return DateRange(rng.start, min(rng.end, rng.start + timedelta(days=days - 1)))


def _days_before(rng: DateRange) -> DateRange:
    """As many days as ``rng`` has, just before it."""
    return DateRange(rng.start - timedelta(days=rng.days), rng.start - _ONE_DAY)


def _year_before(rng: DateRange) -> DateRange:
    return DateRange(shift_year(rng.start), shift_year(rng.end))


def _compare(
    whole: DateRange, previous_whole: DateRange, mode: str, elapsed: DateRange | None
) -> DateRange:
    """The counterpart of ``whole``, cut to its ``elapsed`` part when that is shorter."""
    if mode == "year":
        return _year_before(elapsed if elapsed is not None else whole)
    if elapsed is None or elapsed == whole:
        return previous_whole
    return _first_days(previous_whole, elapsed.days)


def comparison_range(
    period: Period, mode: str, as_of: date, week_start: str = "monday"
) -> DateRange | None:
    """The range ``--compare`` compares ``period`` with (None for ``none``).

    ``previous``: the calendar unit just before for a one-unit period (``last-month`` -> the
    month before it); as many days just before for ``last-N-days`` and explicit ranges.
    ``year``: the same dates one year earlier (29 Feb -> 28 Feb). For a running period only the
    elapsed days count: month to date is compared with the first as many days of the previous
    month (clipped to that month), or with the same dates a year earlier. A period wholly after
    ``as_of`` has no elapsed days and is compared whole.
    """
    _check_mode(mode)
    _check_week_start(week_start)
    if mode == "none":
        return None
    if period.range is None:
        raise UsageError(
            f"{{@compare}} {mode} needs a period: `{{@period}} all` has nothing before it to "
            "compare to",
            hint=f"choose a period, e.g. {{@period}} last-month {{@compare}} {mode}",
        )
    whole = period.range
    elapsed = period.elapsed(as_of)
    try:
        if period.unit is not None:
            previous_whole = bucket(whole.start - _ONE_DAY, period.unit, week_start)
        else:
            previous_whole = _days_before(whole)
        return _compare(whole, previous_whole, mode, elapsed)
    except (OverflowError, ValueError):
        raise UsageError(
            f"{{@compare}} {mode}: the period before `{period.text}` falls outside supported dates",
            hint=_EDGE_HINT,
        ) from None


def counterpart(
    rng: DateRange, mode: str, grain: str | None, *, as_of: date | None = None
) -> DateRange:
    """The range one ``--grain`` bucket is compared with.

    ``previous``: the previous calendar unit of ``grain`` when ``rng`` is one whole unit of it
    (the bucket before), else as many days just before. ``year``: the same dates one year
    earlier (29 Feb -> 28 Feb). Given ``as_of`` and a bucket still running at that date, only
    its elapsed days are compared, as :func:`comparison_range` does for a period. (A whole week
    is 7 days whatever the week start, so the week start is not needed here.)
    """
    _check_mode(mode)
    if mode == "none":
        raise ValueError("counterpart() needs --compare previous or year")
    if grain is not None:
        _check_grain(grain)
    elapsed = None
    if as_of is not None and rng.start <= as_of < rng.end:
        elapsed = DateRange(rng.start, as_of)
    try:
        if grain in ("month", "quarter", "year") and bucket(rng.start, grain) == rng:
            previous_whole = bucket(rng.start - _ONE_DAY, grain)
        else:
            previous_whole = _days_before(rng)
        return _compare(rng, previous_whole, mode, elapsed)
    except (OverflowError, ValueError):
        raise UsageError(
            f"{{@compare}} {mode}: the days before {rng} fall outside supported dates",
            hint=_EDGE_HINT,
        ) from None
