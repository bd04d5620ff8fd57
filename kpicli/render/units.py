"""How values look to people: units, changes, statuses, sparklines, period labels.

Pure string formatting, shared by the table and markdown renderers (``finite_number`` by
every renderer). Nothing here computes a KPI value; machine formats (JSON, CSV, Parquet)
never use these functions.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

#: Shown for a missing (null or non-finite) value.
NULL = "–"
#: Locales (language part) that write ``1 234,56`` instead of ``1,234.56``.
COMMA_DECIMAL_LOCALES = frozenset({"fr", "de", "es", "it"})
#: Currencies written with a symbol; any other code is written after the number.
CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}

_NNBSP = "\u202f"  # narrow no-break space: thousands separator, space before % (fr)
_NBSP = "\u00a0"  # no-break space: before a currency after the number (fr)
_SPARKS = "▁▂▃▄▅▆▇█"
#: The mark of each status: never an arrow (``▲ ▼`` say which way a change went).
STATUS_MARKS = {"ok": "✔", "warn": "⚠", "bad": "✖"}
_STATUS = {status: f"{mark} {status}" for status, mark in STATUS_MARKS.items()}
#: The arrow of a change or a trend that is not significant: within normal fluctuation.
SAME = "≈"
#: The mark of a flagged (anomalous) row.
FLAG = "⚑"


def finite_number(value: Any) -> float | None:
    """The value as a float, or None when missing, not a number (booleans included) or not
    finite: what every renderer shows as a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _comma_decimal(locale: str | None) -> bool:
    if not locale:
        return False
    return locale.replace("-", "_").split("_")[0].lower() in COMMA_DECIMAL_LOCALES


def _number(value: float, decimals: int, locale: str | None, *, strip: bool = False) -> str:
    """``value`` with thousands separators and ``decimals`` decimals, sign included."""
    text = f"{abs(value):,.{decimals}f}"
    if strip and "." in text:
        text = text.rstrip("0").rstrip(".")
    if _comma_decimal(locale):
        text = text.replace(",", "\0").replace(".", ",").replace("\0", _NNBSP)
    negative = value < 0 and any(ch in "123456789" for ch in text)
    return f"-{text}" if negative else text


def _number_decimals(value: float) -> int:
    """Up to 2 decimals; small non-zero values keep two significant digits (0.0042)."""
    magnitude = abs(value)
    if magnitude == 0 or magnitude >= 0.01:
        return 2
    return min(8, 1 - math.floor(math.log10(magnitude)))


def _duration(seconds: float) -> str:
    total = round(abs(seconds))
    sign = "-" if seconds < 0 and total else ""
    if total < 60:
        return f"{sign}{total}s"
    if total < 3600:
        return f"{sign}{total // 60}m {total % 60:02d}s"
    if total < 86400:
        return f"{sign}{total // 3600}h {total % 3600 // 60:02d}m"
    return f"{sign}{total // 86400}d {total % 86400 // 3600:02d}h"


def format_value(
    value: float | None, unit: str, *, currency: str | None = None, locale: str | None = None
) -> str:
    """One value as shown in a table: ``12,345``, ``3.12 %``, ``€1,234.56``, ``1m 05s``, ``–``."""
    number = finite_number(value)
    if number is None:
        return NULL
    comma = _comma_decimal(locale)
    if unit == "integer":
        return _number(number, 0, locale)
    if unit == "percent":
        space = _NNBSP if comma else " "
        scaled = finite_number(number * 100)  # a huge fraction overflows to inf once scaled
        return NULL if scaled is None else f"{_number(scaled, 2, locale)}{space}%"
    if unit == "currency":
        text = _number(number, 2, locale)
        code = (currency or "").strip().upper()
        if not code:
            return text
        symbol = CURRENCY_SYMBOLS.get(code)
        if comma:
            return f"{text}{_NBSP}{symbol or code}"
        if symbol is None:
            return f"{text} {code}"
        return f"-{symbol}{text[1:]}" if text.startswith("-") else f"{symbol}{text}"
    if unit == "duration":
        return _duration(number)
    return _number(number, _number_decimals(number), locale, strip=True)


def change_arrow(change: float | None) -> str:
    """``▲`` for a rise, ``▼`` for a fall, ``=`` for no change, empty when unknown."""
    number = finite_number(change)
    if number is None:
        return ""
    return "▲" if number > 0 else "▼" if number < 0 else "="


def format_change(
    change: float | None,
    change_pct: float | None,
    unit: str,
    *,
    currency: str | None = None,
    locale: str | None = None,
    significant: bool | None = None,
) -> str:
    """The compare column: ``▲ 8.3 %``, ``▼ 2.1 %``; percent KPIs in points (``▲ 0.24 pt``).

    Without a relative change (previous was 0), the absolute change in the KPI's unit. A
    change that is not ``significant`` (False, not None) has ``≈`` for arrow: it is within
    normal fluctuation, whichever way it went.
    """
    change, change_pct = finite_number(change), finite_number(change_pct)
    if change is None and change_pct is None:
        return NULL
    arrow = change_arrow(change if change is not None else change_pct)
    if significant is False:
        arrow = SAME
    space = _NNBSP if _comma_decimal(locale) else " "
    if unit == "percent" and change is not None:
        return f"{arrow} {_number(abs(change) * 100, 2, locale)}{space}pt"
    if change_pct is not None:
        return f"{arrow} {_number(abs(change_pct) * 100, 1, locale)}{space}%"
    assert change is not None
    return f"{arrow} {format_value(abs(change), unit, currency=currency, locale=locale)}"


def format_trend(
    slope: float | None, grain: str | None, significant: bool | None, *, locale: str | None = None
) -> str:
    """A trend per bucket, relative: ``▲ +3.1 %/week``; ``≈ +0.4 %/week`` when not
    significant (the sign still says which way); ``–`` without a slope."""
    number = finite_number(slope)
    if number is None:
        return NULL
    scaled = finite_number(number * 100)
    if scaled is None:
        return NULL
    arrow = SAME if significant is False else change_arrow(round(scaled, 1))
    sign = "+" if round(scaled, 1) > 0 else ""
    space = _NNBSP if _comma_decimal(locale) else " "
    return f"{arrow} {sign}{_number(scaled, 1, locale)}{space}%/{grain or 'bucket'}"


def format_range(
    lower: float | None,
    upper: float | None,
    unit: str,
    *,
    currency: str | None = None,
    locale: str | None = None,
) -> str:
    """An interval in the KPI's unit, ``1.20 %–1.90 %``; ``–`` when a bound is missing."""
    if finite_number(lower) is None or finite_number(upper) is None:
        return NULL
    low = format_value(lower, unit, currency=currency, locale=locale)
    high = format_value(upper, unit, currency=currency, locale=locale)
    return f"{low}–{high}"


def format_score(score: float | None, *, locale: str | None = None) -> str:
    """An anomaly score (standard deviations), signed, one decimal: ``-5.2``, ``+4.1``."""
    number = finite_number(score)
    if number is None:
        return NULL
    sign = "+" if round(number, 1) > 0 else ""
    return f"{sign}{_number(number, 1, locale)}"


def format_anomaly(anomaly: str | None, score: float | None, *, locale: str | None = None) -> str:
    """A flagged row's mark, ``⚑ low -5.2σ`` (its score in standard deviations); empty for a
    row that is not flagged."""
    if not anomaly:
        return ""
    if finite_number(score) is None:
        return f"{FLAG} {anomaly}"
    return f"{FLAG} {anomaly} {format_score(score, locale=locale)}σ"


def change_is_good(change: float | None, better: str) -> bool | None:
    """Whether a change goes the way ``better`` wants; None when unknown or zero."""
    number = finite_number(change)
    if not number:
        return None
    return (number > 0) == (better != "lower")


def format_ratio(value: float | None, *, locale: str | None = None) -> str:
    """A ratio such as pace (value / expected) as a whole percentage: ``86 %``."""
    number = finite_number(value)
    if number is None:
        return NULL
    space = _NNBSP if _comma_decimal(locale) else " "
    return f"{_number(number * 100, 0, locale)}{space}%"


def format_status(status: str | None) -> str:
    """A status readable without color: ``✔ ok``, ``⚠ warn``, ``✖ bad``; ``–`` for none."""
    if not status:
        return NULL
    return _STATUS.get(status, status)


def sparkline(values: list[float | None]) -> str:
    """A one-line chart with ``▁▂▃▄▅▆▇█``, scaled from min to max; nulls as spaces."""
    numbers = [finite_number(v) for v in values]
    present = [v for v in numbers if v is not None]
    if not present:
        return " " * len(numbers)
    low, high = min(present), max(present)
    span = high - low
    chars = []
    for number in numbers:
        if number is None:
            chars.append(" ")
        elif span == 0:
            chars.append(_SPARKS[3])
        else:
            chars.append(_SPARKS[round((number - low) / span * (len(_SPARKS) - 1))])
    return "".join(chars)


def bucket_label(start: date, grain: str | None, end: date | None = None) -> str:
    """A ``--grain`` bucket by its start: ``2026-10``, ``2026-W05``, ``2026-Q3``, ``2026``.

    Weeks use ISO numbering, a Sunday counting with the Monday after it, so a Sunday-start
    week is numbered like the Monday-start week it mostly overlaps (and a bucket cut by the
    period, starting mid-week, like its week). Days, and buckets without a grain, are dates
    (a range when ``end`` differs).
    """
    if grain == "month":
        return f"{start.year}-{start.month:02d}"
    if grain == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    if grain == "year":
        return f"{start.year}"
    if grain == "week":
        day = start + timedelta(days=1) if start.weekday() == 6 else start  # never 9999-12-31
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if grain is None and end is not None and end != start:
        return f"{start.isoformat()} → {end.isoformat()}"
    return start.isoformat()


def describe_period(
    period: tuple[date, date] | None,
    period_label: str,
    as_of: date,
    comparison: tuple[date, date] | None = None,
) -> str:
    """The heading of a report: ``2026-10-01 → 2026-10-31 (last-month) · as of 2026-11-22``."""
    if period is None:
        text = "all dates" if period_label in ("", "all") else period_label
    else:
        start, end = period
        text = f"{start.isoformat()} → {end.isoformat()}"
        literal = f"{start.isoformat()}..{end.isoformat()}"
        if period_label and period_label not in (literal, "all"):
            text += f" ({period_label})"
    text += f" · as of {as_of.isoformat()}"
    if comparison is not None:
        text += f" · vs {comparison[0].isoformat()} → {comparison[1].isoformat()}"
    return text
