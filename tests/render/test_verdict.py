"""Issue 15, item 3 and 6: the verdict first, --sort status, group sections, the Expected
column, and what `kpi report` shows with no option. Checked on the shipped sample through the
CLI, against the report's own JSON rows (the statuses and changes the verdict sums up) and
against the config's groups read with PyYAML."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kpicli.cli import app

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "kpi_config.yaml")
runner = CliRunner()
BY_CHANNEL = ("-p", "last-month", "--by", "channel", "--compare", "previous")
AS_OF = ("--as-of", "2026-12-01")


def kpi(*args: str) -> str:
    r = runner.invoke(app, ["report", "-c", CONFIG, *AS_OF, *args])
    assert r.exit_code == 0, r.stderr
    return r.stdout


def as_json(*args: str) -> dict[str, Any]:
    return json.loads(kpi(*args, "-f", "json"))


@pytest.fixture(scope="module")
def by_channel() -> dict[str, Any]:
    return as_json(*BY_CHANNEL)


def test_the_verdict_counts_the_statuses_of_the_rows(by_channel: dict[str, Any]) -> None:
    statuses = [r["status"] for r in by_channel["rows"] + by_channel["totals"] if r["status"]]
    bad, warn = statuses.count("bad"), statuses.count("warn")
    assert bad and warn  # the sample has both
    verdict = kpi(*BY_CHANNEL).splitlines()[1]
    assert verdict.startswith(
        f"{bad + warn} of {len(statuses)} rows off target ({bad} ✖ bad, {warn} ⚠ warn)"
    )


def test_best_and_worst_are_the_largest_real_moves(by_channel: dict[str, Any]) -> None:
    """The best and worst relative change the way `better` wants; a change within noise
    (change_significant false) is neither."""
    better = {name: k["better"] for name, k in by_channel["kpis"].items()}
    moves = []
    for total, rows in ((False, by_channel["rows"]), (True, by_channel["totals"])):
        for r in rows:
            if r["change_pct"] is None or r["change_significant"] is False:
                continue
            sign = -1 if better[r["kpi"]] == "lower" else 1
            moves.append((sign * r["change_pct"], r, total))
    moves.sort(key=lambda m: m[0])
    text = " ".join(kpi(*BY_CHANNEL).split("\n", 2)[1].split())
    for word, (_, row, total) in (("best", moves[-1]), ("worst", moves[0])):
        label = by_channel["kpis"][row["kpi"]]["label"]
        where = "Total" if total else row["channel"]
        assert f"{word}: {label} · {where} " in text
    noise = [r for r in by_channel["rows"] if r["change_significant"] is False]
    assert noise and all(
        f"{by_channel['kpis'][r['kpi']]['label']} · {r['channel']} " not in text or r is moves[0][1]
        for r in noise
    )


def test_nothing_to_judge_no_verdict() -> None:
    lines = kpi("-p", "last-month", "--kpi", "impressions,cpa").splitlines()
    assert lines[1].startswith("KPI")  # the header right under the heading


def test_sort_status_puts_the_worst_rows_first(by_channel: dict[str, Any]) -> None:
    rank = {"bad": 0, "warn": 1, "ok": 2, None: 3}
    rows = as_json(*BY_CHANNEL, "--sort", "status")["rows"]
    assert sorted(map(json.dumps, rows)) == sorted(map(json.dumps, by_channel["rows"]))
    for name in by_channel["kpis"]:
        ranks = [rank[r["status"]] for r in rows if r["kpi"] == name]
        assert ranks == sorted(ranks), name
    leads = [r["channel"] for r in rows if r["kpi"] == "leads"]
    assert leads[:2] == ["linkedin_ads", "referral"]  # the bad ones, in channel order
    best = as_json(*BY_CHANNEL, "--sort", "status:asc")["rows"]
    for name in by_channel["kpis"]:
        ranks = [rank[r["status"]] for r in best if r["kpi"] == name]
        rated = [x for x in ranks if x != rank[None]]
        assert rated == sorted(rated, reverse=True) and ranks[: len(rated)] == rated, name
    two = as_json(*BY_CHANNEL, "--sort", "status", "--limit", "2")["rows"]
    assert [r["channel"] for r in two if r["kpi"] == "leads"] == leads[:2]


def test_sort_status_orders_the_kpis_in_the_table() -> None:
    table = kpi(
        "-p", "this-month", "--as-of", "2026-11-20", "--sort", "status", "--kpi", "ctr,cpa,spend"
    )
    labels = [line.split("  ")[0] for line in table.splitlines() if line[:1].isalpha()]
    # ctr and spend are both warn (worst): they come first, in their order, cpa last
    assert labels[labels.index("ADS") + 1 :] == [
        "Click-through rate",
        "Ad spend",
        "Cost per acquisition",
    ]


def test_sort_by_an_unknown_name_says_status_is_an_option() -> None:
    r = runner.invoke(app, ["report", "-c", CONFIG, "--sort", "stauts"])
    assert r.exit_code == 2 and "--sort status" in r.stderr


def test_the_table_and_markdown_show_the_config_groups_in_order() -> None:
    with open(CONFIG) as f:
        kpis = yaml.safe_load(f)["kpis"]
    groups = list(dict.fromkeys(k["group"] for k in kpis.values() if not k.get("hidden")))
    assert groups == ["Ads", "Website", "Acquisition", "Email", "Funnel"]
    table = kpi("-p", "last-month").splitlines()
    heads = [line for line in table if line.isupper() and line.isalpha()]
    assert heads == [g.upper() for g in groups]
    # every KPI is under its own group's heading
    under, seen = None, {}
    for line in table:
        if line in heads:
            under = line
        for name, k in kpis.items():
            label = k.get("label") or name
            if line.startswith(label + " ") and not k.get("hidden"):
                seen[name] = under
    assert seen and all(seen[n] == kpis[n]["group"].upper() for n in seen)
    md = kpi("-p", "last-month", "-f", "markdown")
    assert re.findall(r"^\| \*\*(\w+)\*\* ", md, re.M) == groups


def test_the_expected_column_is_the_prorated_target(by_channel: dict[str, Any]) -> None:
    data = as_json("-p", "this-month", "--as-of", "2026-11-20", "--kpi", "leads")
    (row,) = data["rows"]
    # the monthly target over the 20 days of November counted so far (of 30)
    assert row["expected"] == pytest.approx(row["target"] * 20 / 30)
    table = kpi("-p", "this-month", "--as-of", "2026-11-20", "--kpi", "leads")
    header = next(line for line in table.splitlines() if line.startswith("KPI")).split()
    assert header[header.index("Target") + 1] == "Expected"
    assert f"{round(row['expected']):,}" in table


@pytest.mark.parametrize(
    ("as_of", "period", "comparison"),
    [
        ("2026-11-20", ("2026-11-01", "2026-11-30"), ("2026-10-01", "2026-10-20")),
        ("2026-12-01", ("2026-11-01", "2026-11-30"), ("2026-10-01", "2026-10-31")),
    ],
)
def test_the_first_look_is_this_month_against_the_previous(
    as_of: str, period: tuple[str, str], comparison: tuple[str, str]
) -> None:
    r = runner.invoke(app, ["report", "-c", CONFIG, "--as-of", as_of, "-f", "json"])
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert (data["period"]["start"], data["period"]["end"]) == period
    assert (data["comparison"]["start"], data["comparison"]["end"]) == comparison


def test_a_grain_or_dates_alone_still_mean_all_of_the_data() -> None:
    monthly = json.loads(
        runner.invoke(
            app, ["report", "-c", CONFIG, "--grain", "month", "--kpi", "leads", "-f", "json"]
        ).stdout
    )
    assert monthly["period"] == {"start": "2025-01-01", "end": "2026-11-30"}  # the data's
    assert monthly["comparison"] is None
    assert len(monthly["rows"]) == 23  # every month of the sample
    r = runner.invoke(app, ["report", "-c", CONFIG, "-p", "all", "-f", "json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["comparison"] is None
