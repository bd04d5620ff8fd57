"""The rules that say what a record of an export is: blank, a comment, a header, a summary row.

Each rule is written here once, and every reader uses it: the detection on a sample
(:mod:`~kpicli.ingest.detect`), the tolerant reader of the whole file
(:mod:`~kpicli.ingest.repair`, which `kpi clean` runs), the scan (:mod:`~kpicli.ingest.scan`:
which rows a summary filter drops, what the kinds of the columns are learned from) and the
diagnostics (:mod:`~kpicli.ingest.diagnose`). A record is its list of cells as written.
"""

from __future__ import annotations

import functools
import re

from kpicli.ingest.values import WS, detect_date, parse_number
from kpicli.spec.presets import SummaryRow

__all__ = [
    "header_like",
    "is_blank",
    "is_comment",
    "is_summary_row",
    "summary_in",
    "summary_of",
]


def is_blank(cells: list[str]) -> bool:
    """No cell holds anything but blanks (a blank line is ``[]``)."""
    return all(c.strip(WS) == "" for c in cells)


def is_comment(cells: list[str]) -> bool:
    """A ``#`` line: its first cell starts with ``#`` (blanks before it allowed)."""
    return bool(cells) and cells[0].lstrip(WS).startswith("#")


#: A cell of digits and the signs numbers, dates and times are written with: not a name.
_VALUE = re.compile(r"[-+(]?[$€£¥]?\d[\d.,:/ %'-]*\)?")


def header_like(cells: list[str]) -> bool:
    """Every cell filled, none a number or a date, no two alike: what headers look like."""
    texts = [c.strip(WS) for c in cells]
    if not all(texts) or len(set(texts)) != len(texts):
        return False
    if any(_VALUE.fullmatch(t) for t in texts):  # the quick answer for most rows of data
        return False
    return not any(parse_number(t) is not None or detect_date([t]) for t in texts)


def summary_of(cell: str, patterns: tuple[SummaryRow, ...]) -> SummaryRow | None:
    """The first of ``patterns`` that the whole cell matches (blanks around it left out,
    case ignored), None when none does."""
    text = cell.strip(WS)
    for p in patterns:
        if re.fullmatch(p.pattern, text, flags=re.IGNORECASE):  # re caches compiled patterns
            return p
    return None


def summary_in(cells: list[str], patterns: tuple[SummaryRow, ...]) -> SummaryRow | None:
    """The pattern of the first cell of a record that is a summary (:func:`summary_of`), None
    when no cell is: what marks a record right under the header that is wider than it as a
    summary (GA4 explorations' first row: an empty first cell, ``Grand total`` last)."""
    return next((p for c in cells if (p := summary_of(c, patterns)) is not None), None)


@functools.cache
def _summary_res(summary: tuple[SummaryRow, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(any summary pattern, the patterns that need no empty rest) as two regexes."""
    every = "|".join(f"(?:{p.pattern})" for p in summary) or "(?!)"
    loose = "|".join(f"(?:{p.pattern})" for p in summary if not p.alone) or "(?!)"
    return re.compile(every, re.IGNORECASE), re.compile(loose, re.IGNORECASE)


def is_summary_row(cells: list[str], summary: tuple[SummaryRow, ...]) -> bool:
    """A row that is not data (``Total: …``, ``Grand total``, ``No data available.``): its
    first cell, which does not start with a digit, matches one of the ``summary`` patterns
    wholly, and for a pattern that must stand ``alone`` the second cell is empty too.

    The second cell, not every other one: the scan drops these rows with a filter on the
    first two columns (:meth:`kpicli.ingest.scan.Part.reason`), and every reader drops the
    same rows. A record without cells counts as one (there is nothing to read in it).
    """
    if not cells:
        return True
    first = cells[0].strip(WS)
    if not first or first[0].isdigit():
        return False
    every, loose = _summary_res(summary)
    rest_empty = len(cells) < 2 or cells[1].strip(WS) == ""
    return bool((every if rest_empty else loose).fullmatch(first))
