"""Results and `kpi anomalies` data built by hand, with the columns issue 13 adds.

Shared by the render tests of ``--compare``'s significance, ``--anomalies``, trends and
`kpi anomalies`. Values are written out (or follow a simple formula), never computed by kpi.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from kpicli.commands.anomalies import ROW_COLUMNS, Anomalies
from kpicli.execute.result import (
    ANOMALY_COLUMNS,
    KEY_COLUMNS,
    SIGNIFICANCE_COLUMNS,
    TREND_COLUMNS,
    VALUE_COLUMNS,
    KpiInfo,
    Result,
)

KPIS = {
    "leads": KpiInfo("leads", "Leads", "integer", "higher", "COUNT(*)", "Leads created."),
    "ctr": KpiInfo("ctr", "Click-through rate", "percent", "higher", "clicks / impressions"),
    "spend": KpiInfo("spend", "Spend", "currency", "lower", "SUM(spend)"),
}
AS_OF = date(2026, 11, 22)
GENERATED = datetime(2026, 11, 22, 7, 0, 3, tzinfo=UTC)
#: The period: the last 7 days, at day grain.
DAYS = [date(2026, 11, 16) + timedelta(days=i) for i in range(7)]
#: The history before it (28 days).
HISTORY = [DAYS[0] - timedelta(days=28 - i) for i in range(28)]
CHANNELS = ("google_ads", "meta_ads")
#: The flagged rows: (kpi, channel or None for the total, day, anomaly, score).
FLAGS = [
    ("ctr", "meta_ads", date(2026, 11, 20), "low", -5.2),
    ("leads", None, date(2026, 11, 21), "high", 4.1),
]

SCHEMA: dict[str, Any] = {
    **{c: pl.Float64 for c in VALUE_COLUMNS},
    "status": pl.String,
    "change_significant": pl.Boolean,
    "p_value": pl.Float64,
    **{c: pl.Float64 for c in ANOMALY_COLUMNS},
    "anomaly": pl.String,
}


def _value(kpi: str, channel: str | None, day: date) -> float:
    """A deterministic series: a weekly wave around a level per KPI and channel."""
    base = {"leads": 40.0, "ctr": 0.015, "spend": 900.0}[kpi]
    share = {None: 1.0, "google_ads": 0.6, "meta_ads": 0.4}[channel]
    level = base * (share if kpi != "ctr" else 1.0 + (0.1 if channel == "google_ads" else 0.0))
    wave = 1.0 + 0.05 * ((day.toordinal() % 7) - 3) / 3
    if kpi == "leads":
        return float(round(level * wave))
    return round(level * wave, 6)


def _record(kpi: str, channel: str | None, day: date, columns: tuple[str, ...]) -> dict[str, Any]:
    value = _value(kpi, channel, day)
    record: dict[str, Any] = {"kpi": kpi, "period_start": day, "period_end": day, "value": value}
    if channel is not None or "channel" in columns:
        record["channel"] = channel
    if "p_value" in columns:
        previous = value * 0.9
        record.update(previous=previous, change=value - previous, change_pct=0.1 / 0.9)
        # leads: significant; ctr: not; spend (money): no test
        record["change_significant"] = {"leads": True, "ctr": False}.get(kpi)
        record["p_value"] = {"leads": 0.001, "ctr": 0.4}.get(kpi)
    if "baseline" in columns:
        flag = next((f for f in FLAGS if f[:3] == (kpi, channel, day)), None)
        baseline = _value(kpi, channel, day - timedelta(days=7))
        record.update(baseline=baseline, lower=baseline * 0.8, upper=baseline * 1.25)
        record["anomaly_score"] = 0.4
        if flag is not None:
            record["value"] = baseline * (0.3 if flag[3] == "low" else 1.8)
            record.update(anomaly=flag[3], anomaly_score=flag[4])
        if day == DAYS[0] and kpi == "spend":  # too little history: no baseline, no flag
            record.update(baseline=None, lower=None, upper=None, anomaly_score=None)
    return record


def tidy(records: list[dict[str, Any]], dims: tuple[str, ...], extra: tuple[str, ...]) -> Any:
    columns = [*KEY_COLUMNS, *dims, *VALUE_COLUMNS, *extra]
    schema = {"kpi": pl.String, "period_start": pl.Date, "period_end": pl.Date}
    schema.update({d: pl.String for d in dims})
    schema.update({c: SCHEMA[c] for c in [*VALUE_COLUMNS, *extra]})
    return pl.from_dicts([{c: r.get(c) for c in columns} for r in records], schema=schema)


def daily(
    *,
    compare: bool = True,
    anomalies: bool = True,
    trends: bool = True,
    by: bool = True,
    kpis: tuple[str, ...] = ("leads", "ctr", "spend"),
) -> Result:
    """``--period last-7-days --grain day [--by channel] [--compare previous] [--anomalies]``."""
    extra = (SIGNIFICANCE_COLUMNS if compare else ()) + (ANOMALY_COLUMNS if anomalies else ())
    dims = ("channel",) if by else ()
    rows, totals, past, past_totals = [], [], [], []
    for kpi in kpis:
        for day in DAYS:
            for channel in CHANNELS if by else ():
                rows.append(_record(kpi, channel, day, extra + dims))
            (totals if by else rows).append(_record(kpi, None, day, extra))
        for day in HISTORY:
            for channel in CHANNELS if by else ():
                past.append(_record(kpi, channel, day, extra + dims))
            (past_totals if by else past).append(_record(kpi, None, day, extra))
    for frame in (past, past_totals):
        for record in frame:
            record.update(baseline=None, lower=None, upper=None, anomaly=None, anomaly_score=None)
    result = Result(
        rows=tidy(rows, dims, extra),
        totals=tidy(totals, (), extra) if by else None,
        kpis={k: KPIS[k] for k in kpis},
        dimensions=dims,
        grain="day",
        as_of=AS_OF,
        period=(DAYS[0], DAYS[-1]),
        period_label="last-7-days",
        comparison=(DAYS[0] - timedelta(days=7), DAYS[0] - timedelta(days=1)) if compare else None,
        generated_at=GENERATED,
        currency="EUR",
        anomalies="medium" if anomalies else None,
        history=tidy(past, dims, extra) if anomalies else None,
        history_totals=tidy(past_totals, (), extra) if anomalies and by else None,
    )
    result.trends = trend_frame(kpis, dims) if trends else None
    return result


#: Trends: (kpi, channel or None for the total, slope, p_value, significant).
TRENDS = [
    ("leads", "google_ads", 0.031, 0.01, True),
    ("leads", "meta_ads", -0.012, 0.3, False),
    ("leads", None, 0.021, 0.02, True),
    ("ctr", "google_ads", 0.004, 0.6, False),
    ("ctr", "meta_ads", -0.08, 0.004, True),
    ("ctr", None, -0.02, 0.5, False),
    ("spend", "google_ads", None, None, None),
    ("spend", "meta_ads", 0.0, 1.0, False),
    ("spend", None, 0.01, 0.2, False),
]


def trend_frame(kpis: tuple[str, ...], dims: tuple[str, ...]) -> pl.DataFrame:
    """``Result.trends``: rows, then totals (dimensions null, ``total`` true)."""
    schema: dict[str, Any] = {"kpi": pl.String, **{d: pl.String for d in dims}}
    schema.update(total=pl.Boolean, slope=pl.Float64, p_value=pl.Float64, significant=pl.Boolean)
    schema["buckets"] = pl.Int64
    assert list(schema)[1 + len(dims) :] == list(TREND_COLUMNS)
    records = []
    for total in (False, True):
        for kpi, channel, slope, p, significant in TRENDS:
            if kpi not in kpis or (channel is None) != total or (channel and not dims):
                continue
            if not dims and not total:
                continue
            record = {"kpi": kpi, "total": total and bool(dims), "slope": slope, "p_value": p}
            record.update(significant=significant, buckets=len(DAYS))
            if dims:
                record["channel"] = channel
            records.append(record)
    if not dims:  # without --by, the KPI's own series are the rows
        for record in records:
            record["total"] = False
    return pl.from_dicts(records, schema=schema)


def anomalies(*, flagged: bool = True, by: bool = True) -> Anomalies:
    """What `kpi anomalies --by channel --last 7` returns: FLAGS worst first, and the series."""
    dims = ("channel",) if by else ()
    found = sorted(FLAGS if flagged else [], key=lambda f: -abs(f[4]))
    if not by:
        found = [f for f in found if f[1] is None]
    rows, series = [], []
    for number, (kpi, channel, day, anomaly, score) in enumerate(found):
        rows.append(_anomaly_record(kpi, channel, day, dims) | {"anomaly": anomaly})
        rows[-1]["anomaly_score"] = score
        for when in [*HISTORY, *DAYS]:
            record = _anomaly_record(kpi, channel, when, dims)
            if when < DAYS[0]:
                record.update(baseline=None, lower=None, upper=None, anomaly_score=None)
            if when == day:
                record.update(anomaly=anomaly, anomaly_score=score, value=rows[-1]["value"])
            series.append({"series": number, **record})
    key = {"kpi": pl.String, "period_start": pl.Date, "period_end": pl.Date}
    key |= {"dimension": pl.String, **{d: pl.String for d in dims}}
    values = {c: pl.String if c == "anomaly" else pl.Float64 for c in ROW_COLUMNS}
    row_schema = key | values
    series_schema = {"series": pl.Int64} | key | values
    return Anomalies(
        rows=pl.from_dicts(rows, schema=row_schema),
        series=pl.from_dicts(series, schema=series_schema),
        kpis={k: KPIS[k] for k in ("leads", "ctr", "spend")},
        dimensions=dims,
        grain="day",
        last=7,
        sensitivity="medium",
        period=(DAYS[0], DAYS[-1]),
        as_of=AS_OF,
        generated_at=GENERATED,
        currency="EUR",
        checked=3 * (1 + len(CHANNELS) if by else 1),
    )


def _anomaly_record(kpi: str, channel: str | None, day: date, dims: tuple[str, ...]) -> Any:
    record = _record(kpi, channel, day, ("baseline",))
    record.pop("channel", None)
    out = {"kpi": kpi, "period_start": day, "period_end": day}
    out["dimension"] = "channel" if channel is not None else None
    if dims:
        out["channel"] = channel
    out |= {c: record.get(c) for c in ROW_COLUMNS}
    out["anomaly"] = None
    return out
