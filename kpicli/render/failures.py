"""The lines `kpi report --fail-on` prints on stderr: which rows made it exit 1, and why.

One line per failing row or total (at most ``MAX_LINES``, then how many more): the KPI, its
dimension values (or ``total``), the period, the value, what it was compared with (the
target; the expected amount and the pace for a running period) and the status::

    fail-on bad: cpl, channel=meta_ads, 2026-10-01..2026-10-31: value €41.20, target €35.00,
    status bad

(on one line). ``--fail-on anomaly`` gives, for each flagged row, the interval instead::

    fail-on anomaly: ctr, channel=meta_ads, 2026-11-20..2026-11-20: value 0.41 %, expected
    1.20 %–1.90 %, anomaly low (score -5.2)

and :func:`anomaly_lines` the same lines for `kpi anomalies`' rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kpicli.render.layout import dimension_text
from kpicli.render.units import format_range, format_ratio, format_score, format_value

if TYPE_CHECKING:
    import polars as pl

    from kpicli.commands.anomalies import Anomalies
    from kpicli.execute.result import KpiInfo, Result

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
    return _lines(
        failing,
        f"fail-on {fail_on}: ",
        result,
        result.dimensions,
        anomaly=fail_on == "anomaly",
        limit=limit,
    )


def anomaly_lines(anomalies: Anomalies, *, limit: int = MAX_LINES) -> list[str]:
    """The stderr lines of `kpi anomalies --fail-on anomaly`: one per flagged row, worst
    first, as :func:`failure_lines` words them for ``kpi report --fail-on anomaly``."""
    import polars as pl

    rows = anomalies.rows.with_columns(total=pl.col("dimension").is_null())
    return _lines(
        rows, "fail-on anomaly: ", anomalies, anomalies.dimensions, anomaly=True, limit=limit
    )


def _lines(
    failing: pl.DataFrame,
    prefix: str,
    source: Result | Anomalies,
    dimensions: tuple[str, ...],
    *,
    anomaly: bool,
    limit: int,
) -> list[str]:
    """One line per row of ``failing`` (with its ``total`` column), then how many more."""
    if failing.height == 0:
        return []
    lines = []
    for row in failing.head(limit).iter_rows(named=True):
        info = source.kpis.get(row["kpi"]) or kpi_info_of(row["kpi"])
        where = [_text(row["kpi"])]
        if row["total"]:
            if dimensions:
                where.append("total")
        else:
            where += [
                f"{_text(_dimension_name(source, d))}={_text(row.get(d))}"
                for d in dimensions
                if row.get("dimension", d) == d
            ]
        start, end = row.get("period_start"), row.get("period_end")
        if start is not None and end is not None:
            where.append(f"{start.isoformat()}..{end.isoformat()}")
        facts = _anomaly_facts(row, info, source) if anomaly else _facts(row, info, source)
        lines.append(prefix + ", ".join(where) + ": " + ", ".join(facts))
    if failing.height > limit:
        more = failing.height - limit
        lines.append(f"{prefix}… and {more:,} more row{'s' if more != 1 else ''}")
    return lines


def kpi_info_of(name: str) -> KpiInfo:
    """A bare description for a KPI the result does not describe."""
    from kpicli.execute.result import KpiInfo

    return KpiInfo(name=name, label=name)


def _dimension_name(source: Result | Anomalies, key: str) -> str:
    names = source.dimension_names
    if not names:
        return key
    return dict(zip(source.dimensions, names, strict=True)).get(key, key)


def _facts(row: dict[str, Any], info: KpiInfo, source: Result | Anomalies) -> list[str]:
    """Value, target, expected so far, pace, status."""

    def fmt(value: Any) -> str:
        return format_value(value, info.unit, currency=source.currency, locale=source.locale)

    facts = [f"value {fmt(row.get('value'))}"]
    if row.get("target") is not None:
        facts.append(f"target {fmt(row['target'])}")
    if row.get("expected") is not None:
        facts.append(f"expected so far {fmt(row['expected'])}")
    if row.get("pace") is not None:
        facts.append(f"pace {format_ratio(row['pace'], locale=source.locale)}")
    facts.append(f"status {row.get('status')}")
    return facts


def _anomaly_facts(row: dict[str, Any], info: KpiInfo, source: Result | Anomalies) -> list[str]:
    """Value, the interval it fell out of, the anomaly and its score."""
    currency, locale = source.currency, source.locale
    value = format_value(row.get("value"), info.unit, currency=currency, locale=locale)
    expected = format_range(
        row.get("lower"), row.get("upper"), info.unit, currency=currency, locale=locale
    )
    score = format_score(row.get("anomaly_score"), locale=locale).lstrip("+")
    return [
        f"value {value}",
        f"expected {expected}",
        f"anomaly {row.get('anomaly')} (score {score})",
    ]


__all__ = ["MAX_LINES", "anomaly_lines", "failure_lines"]
