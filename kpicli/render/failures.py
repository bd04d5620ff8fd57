"""The lines `kpi report --fail-on` prints on stderr: which rows made it exit 1, and why.

One line per failing row or total (at most ``MAX_LINES``, then how many more): the KPI, its
dimension values (or ``total``), the period, the value, what it was compared with (the
target; the expected amount and the pace for a running period) and the status::

    fail-on bad: cpl, channel=meta_ads, 2026-10-01..2026-10-31: value €41.20, target €35.00,
    status bad

(on one line).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kpicli.render.layout import dimension_text, kpi_info
from kpicli.render.units import format_ratio, format_value

if TYPE_CHECKING:
    from kpicli.execute.result import Result

#: Failing rows listed at most; the rest are counted.
MAX_LINES = 50
#: Control characters (terminal escapes included) shown as ``\\xNN`` on stderr.
_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F]}


def _text(value: Any) -> str:
    return dimension_text(value).translate(_CONTROL)


def failure_lines(result: Result, fail_on: str, *, limit: int = MAX_LINES) -> list[str]:
    """The stderr lines of ``--fail-on fail_on``: one per failing row (none when nothing
    fails), at most ``limit`` of them, then ``… and N more``."""
    failing = result.failing(fail_on)
    if failing.height == 0:
        return []
    prefix = f"fail-on {fail_on}: "
    lines = []
    for row in failing.head(limit).iter_rows(named=True):
        info = kpi_info(result, row["kpi"])

        def fmt(value: Any, info: Any = info) -> str:
            return format_value(value, info.unit, currency=result.currency, locale=result.locale)

        where = [_text(row["kpi"])]
        if row["total"]:
            if result.dimensions:
                where.append("total")
        else:
            where += [
                f"{_text(result.dimension_name(d))}={_text(row.get(d))}" for d in result.dimensions
            ]
        start, end = row.get("period_start"), row.get("period_end")
        if start is not None and end is not None:
            where.append(f"{start.isoformat()}..{end.isoformat()}")
        facts = [f"value {fmt(row.get('value'))}"]
        if row.get("target") is not None:
            facts.append(f"target {fmt(row['target'])}")
        if row.get("expected") is not None:
            facts.append(f"expected so far {fmt(row['expected'])}")
        if row.get("pace") is not None:
            facts.append(f"pace {format_ratio(row['pace'], locale=result.locale)}")
        facts.append(f"status {row.get('status')}")
        lines.append(prefix + ", ".join(where) + ": " + ", ".join(facts))
    if failing.height > limit:
        more = failing.height - limit
        lines.append(f"{prefix}… and {more:,} more row{'s' if more != 1 else ''}")
    return lines


__all__ = ["MAX_LINES", "failure_lines"]
