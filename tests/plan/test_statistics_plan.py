"""What the plan lays out for the statistics of issue 13: the history the anomaly model
learns from (whole buckets before the period) and the counts behind each ratio (hidden KPIs
of the same aggregations, with the KPI's filter)."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from pathlib import Path

import pytest

from kpicli import Request, UsageError, load_config
from kpicli.ingest.scan import scan_source
from kpicli.plan.build import build_plan, sources_read
from kpicli.spec.formula import COUNT, LEVEL, RATIO, SUM
from kpicli.stats.anomaly import WINDOW

CONFIG = """\
version: 1
sources:
  ads: {path: ads.csv, date: day}
kpis:
  spend: {source: ads, formula: SUM(spend)}
  clicks: {source: ads, formula: SUM(clicks), unit: integer}
  shown: {source: ads, formula: SUM(impressions), unit: integer}
  a_ctr: {source: ads, formula: SUM(clicks) / SUM(impressions), filter: "channel = 'a'"}
  ctr: {formula: clicks / shown}
  cpc: {formula: spend / clicks}
"""
ROWS = "day,channel,spend,clicks,impressions\n2026-01-01,a,1.5,3,30\n2026-01-02,b,2.5,4,50\n"


def plan_of(tmp_path: Path, request: Request):  # type: ignore[no-untyped-def]
    (tmp_path / "ads.csv").write_text(ROWS)
    (tmp_path / "kpi_config.yaml").write_text(CONFIG)
    cfg = load_config(tmp_path / "kpi_config.yaml")
    sources = {s: scan_source(cfg, s) for s in sources_read(cfg, request)}
    return build_plan(cfg, request, sources)


def test_history_is_whole_buckets_right_before_the_period(tmp_path: Path) -> None:
    request = Request(period="2026-03-04..2026-03-10", grain="day", anomalies=True)
    plan = plan_of(tmp_path, request)
    assert plan.history == WINDOW["day"]
    days = [b.start for b in plan.buckets]
    assert days[plan.history] == date(2026, 3, 4)
    assert days[0] == date(2026, 3, 4) - timedelta(days=WINDOW["day"])
    assert days == [days[0] + timedelta(days=i) for i in range(len(days))]  # no gap

    weeks = plan_of(tmp_path, dataclasses.replace(request, grain="week", lookback=3))
    assert weeks.history == 3
    starts = [(b.start, b.end) for b in weeks.buckets[:4]]
    # the period's first week is cut at its first day (a Wednesday); history weeks are whole
    assert starts == [
        (date(2026, 2, 9), date(2026, 2, 15)),
        (date(2026, 2, 16), date(2026, 2, 22)),
        (date(2026, 2, 23), date(2026, 3, 1)),
        (date(2026, 3, 4), date(2026, 3, 8)),
    ]


def test_no_history_without_anomalies(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, Request(period="2026-03", grain="day"))
    assert plan.history == 0 and plan.buckets[0].start == date(2026, 3, 1)
    assert not plan.makeups and not plan.components  # nothing asked: the plan is as before


def test_ratios_carry_their_counts_as_hidden_kpis(tmp_path: Path) -> None:
    request = Request(period="2026-01", compare="previous", kpis=("a_ctr", "ctr", "cpc", "spend"))
    plan = plan_of(tmp_path, request)
    kinds = {n: m.kind for n, m in plan.makeups.items()}
    assert kinds == {"a_ctr": RATIO, "ctr": RATIO, "cpc": LEVEL, "spend": SUM}
    assert plan.selected == ["a_ctr", "ctr", "cpc", "spend"]  # the hidden ones are not shown
    num, den = plan.components["a_ctr"]
    (agg,) = plan.aggregations
    # the KPI's filter is attached to its counts as to its value
    assert "channel" in agg.formulas[num] and "clicks" in agg.formulas[num]
    assert "channel" in agg.formulas[den] and "impressions" in agg.formulas[den]
    num, den = plan.components["ctr"]  # derived: the KPIs it divides
    assert plan.config.kpis[num].formula == "clicks"
    assert plan.config.kpis[den].formula == "shown"
    assert {num, den} <= set(plan.derived)
    assert plan.makeups.keys() == set(plan.selected)
    assert make_count(tmp_path) == COUNT


def make_count(tmp_path: Path) -> str:
    plan = plan_of(tmp_path, Request(period="2026-01", compare="previous", kpis=("clicks",)))
    return plan.makeups["clicks"].kind


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"anomalies": True}, "--anomalies needs --grain"),
        ({"sensitivity": "extreme"}, "unknown sensitivity `extreme`"),
        ({"lookback": 0, "grain": "day"}, "--lookback must be at least 1"),
    ],
)
def test_bad_requests(tmp_path: Path, change: dict, message: str) -> None:
    from kpicli.cli import option_word

    with pytest.raises(UsageError) as err:
        plan_of(tmp_path, Request(period="2026-01", **change))
    assert message in err.value.worded(option_word)[0]


def test_money_and_durations_are_measures_not_counts(tmp_path: Path) -> None:
    """Seconds of session are whole numbers but not events: a duration's sum is a sum (log
    scale), and seconds per session a level, not a ratio of counts."""
    (tmp_path / "web.csv").write_text("day,seconds,sessions\n2026-01-01,300,4\n")
    (tmp_path / "kpi_config.yaml").write_text(
        "version: 1\nsources:\n  web: {path: web.csv, date: day}\nkpis:\n"
        "  seconds: {source: web, formula: SUM(seconds), unit: duration}\n"
        "  sessions: {source: web, formula: SUM(sessions), unit: integer}\n"
        "  avg: {formula: seconds / sessions, unit: duration}\n"
        "  per: {source: web, formula: SUM(seconds) / SUM(sessions), unit: duration}\n"
    )
    cfg = load_config(tmp_path / "kpi_config.yaml")
    request = Request(period="2026-01", compare="previous")
    sources = {s: scan_source(cfg, s) for s in sources_read(cfg, request)}
    plan = build_plan(cfg, request, sources)
    kinds = {n: m.kind for n, m in plan.makeups.items()}
    assert kinds == {"seconds": SUM, "sessions": COUNT, "avg": LEVEL, "per": LEVEL}
    assert not plan.components
