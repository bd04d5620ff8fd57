"""Targets, comparisons, pacing and --fail-on, checked against hand computations of SPEC.md.

The data: 10 leads a day, every day, on two channels (6 on `a`, 4 on `b`), so every expected
figure can be worked out on paper.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kpicli import Request, load_config, run_report
from kpicli.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("targets")
    lines = ["day,channel,n"]
    day = date(2022, 11, 1)
    while day <= date(2027, 1, 31):
        lines.append(f"{day},a,6")
        lines.append(f"{day},b,4")
        day += timedelta(days=1)
    (d / "leads.csv").write_text("\n".join(lines) + "\n")
    return d


def make(data_dir: Path, tmp_path: Path, target: str, better: str = "higher") -> Path:
    p = tmp_path / "kpi_config.yaml"
    p.write_text(
        "version: 1\n"
        f"sources:\n  leads: {{path: {data_dir / 'leads.csv'}, date: day}}\n"
        "kpis:\n"
        f"  leads: {{source: leads, formula: SUM(n), better: {better}, target: {target}}}\n"
    )
    return p


def rows(cfg: Path, **req) -> list[dict]:
    result = run_report(load_config(cfg), Request(**req))
    return result.rows.to_dicts() + (result.totals.to_dicts() if result.totals is not None else [])


def one(cfg: Path, **req) -> dict:
    (row,) = rows(cfg, **req)
    return row


def test_week_goal_month_to_date(data_dir: Path, tmp_path: Path) -> None:
    cfg = make(data_dir, tmp_path, "{value: 70, per: week}")
    r = one(cfg, period="this-month", as_of=date(2026, 11, 15))
    assert (r["period_start"], r["period_end"]) == (date(2026, 11, 1), date(2026, 11, 30))
    assert r["value"] == 150  # 15 days x 10
    assert r["target"] == pytest.approx(30 * 70 / 7)  # every day of the month: 70/7
    assert r["expected"] == pytest.approx(15 * 70 / 7)
    assert r["pace"] == pytest.approx(1.0)
    assert r["projected"] == pytest.approx(150 * 30 / 15)
    assert r["status"] == "ok"


def test_month_goal_in_a_leap_february(data_dir: Path, tmp_path: Path) -> None:
    cfg = make(data_dir, tmp_path, "{value: 290, per: month}")
    r = one(cfg, period="2024-02", as_of=date(2024, 2, 10))
    assert r["target"] == pytest.approx(290)
    assert r["expected"] == pytest.approx(290 * 10 / 29)
    assert r["value"] == 100
    assert r["pace"] == pytest.approx(100 / (290 * 10 / 29))
    assert r["projected"] == pytest.approx(100 * 29 / 10)


@pytest.mark.parametrize(("month", "days"), [("2026-02", 28), ("2026-04", 30), ("2026-07", 31)])
def test_month_goal_over_a_closed_month(
    data_dir: Path, tmp_path: Path, month: str, days: int
) -> None:
    cfg = make(data_dir, tmp_path, "{value: 300, per: month}")
    r = one(cfg, period=month, as_of=date(2026, 11, 15))
    assert r["target"] == pytest.approx(300)
    assert r["value"] == 10 * days
    assert r["expected"] is None and r["pace"] is None and r["projected"] is None
    assert r["status"] == ("ok" if 10 * days >= 300 else "warn" if 10 * days >= 270 else "bad")


def test_week_straddling_two_months_prorates_each_day(data_dir: Path, tmp_path: Path) -> None:
    cfg = make(data_dir, tmp_path, "{value: 310, per: month}")
    r = one(cfg, period="2026-W05", as_of=date(2026, 11, 15))  # 26 Jan .. 1 Feb 2026
    assert r["target"] == pytest.approx(6 * 310 / 31 + 1 * 310 / 28)


def test_quarter_goal_pace(data_dir: Path, tmp_path: Path) -> None:
    cfg = make(data_dir, tmp_path, "{value: 900, per: quarter}")
    r = one(cfg, period="this-quarter", as_of=date(2026, 2, 14))  # Q1: 90 days, 45 elapsed
    assert r["target"] == pytest.approx(900)
    assert r["expected"] == pytest.approx(450)
    assert r["value"] == 450 and r["status"] == "ok"


def test_year_goal_in_a_leap_year(data_dir: Path, tmp_path: Path) -> None:
    cfg = make(data_dir, tmp_path, "{value: 366, per: year}")
    assert one(cfg, period="2024-02", as_of=date(2025, 1, 1))["target"] == pytest.approx(29)
    cfg = make(data_dir, tmp_path, "{value: 365, per: year}")
    assert one(cfg, period="2025-02", as_of=date(2025, 3, 1))["target"] == pytest.approx(28)


def test_grain_buckets_each_get_their_target(data_dir: Path, tmp_path: Path) -> None:
    cfg = make(data_dir, tmp_path, "{value: 70, per: week}")
    got = rows(cfg, period="2026-11", grain="week", as_of=date(2026, 11, 18))
    # weeks (monday): 1 (Sun, clipped), 2-8, 9-15, 16-22 (running, 3 days elapsed)
    assert [r["period_start"].day for r in got] == [1, 2, 9, 16]
    assert [r["target"] for r in got] == pytest.approx([10, 70, 70, 70])
    assert got[-1]["expected"] == pytest.approx(30) and got[-1]["value"] == 30
    assert got[-1]["projected"] == pytest.approx(70)
    assert [r["expected"] for r in got[:3]] == [None, None, None]


def test_by_values_and_total(data_dir: Path, tmp_path: Path) -> None:
    cfg = make(data_dir, tmp_path, "{value: 100, by: channel, values: {a: 200}, total: 250}")
    got = rows(cfg, period="2026-10", by=("channel",), as_of=date(2026, 11, 15))
    by = {r.get("channel", "total"): r for r in got}
    assert by["a"]["target"] == 200 and by["b"]["target"] == 100
    assert by["total"]["target"] == 250
    # without --by channel the rows take `total`
    assert one(cfg, period="2026-10", as_of=date(2026, 11, 15))["target"] == 250


def test_target_by_another_dimension_without_total(data_dir: Path, tmp_path: Path) -> None:
    cfg = make(data_dir, tmp_path, "{value: 100, by: region}")
    assert one(cfg, period="2026-10", as_of=date(2026, 11, 15))["target"] is None


@pytest.mark.parametrize(
    ("target", "better", "status"),
    [
        (300, "higher", "ok"),  # value 300: ratio 1
        (333.33, "higher", "warn"),  # ratio 0.90000...
        (333.34, "higher", "bad"),  # ratio 0.89999...
        (300, "lower", "ok"),
        (272.73, "lower", "warn"),  # ratio 1.09999...
        (272.72, "lower", "bad"),  # ratio 1.10004...
    ],
)
def test_status_at_the_edges_of_the_tolerance(
    data_dir: Path, tmp_path: Path, target: float, better: str, status: str
) -> None:
    cfg = make(data_dir, tmp_path, str(target), better)
    r = one(cfg, period="2026-11", as_of=date(2026, 12, 15))
    assert r["value"] == 300
    assert r["status"] == status


def test_custom_tolerance(data_dir: Path, tmp_path: Path) -> None:
    cfg = make(data_dir, tmp_path, "{value: 400, tolerance: 0.25}")
    assert one(cfg, period="2026-11", as_of=date(2026, 12, 15))["status"] == "warn"  # 0.75
    cfg = make(data_dir, tmp_path, "{value: 400, tolerance: 0.2}")
    assert one(cfg, period="2026-11", as_of=date(2026, 12, 15))["status"] == "bad"


def test_compare_previous_across_the_year_end(data_dir: Path, tmp_path: Path) -> None:
    cfg = make(data_dir, tmp_path, "1")
    result = run_report(
        load_config(cfg), Request(period="2026-01", compare="previous", as_of=date(2026, 3, 1))
    )
    assert result.comparison == (date(2025, 12, 1), date(2025, 12, 31))
    r = result.rows.to_dicts()[0]
    assert (r["value"], r["previous"], r["change"]) == (310, 310, 0)


def test_compare_previous_month_to_date(data_dir: Path, tmp_path: Path) -> None:
    cfg = make(data_dir, tmp_path, "1")
    result = run_report(
        load_config(cfg), Request(period="this-month", compare="previous", as_of=date(2026, 3, 30))
    )
    # 30 days of March against February, which has only 28
    assert result.comparison == (date(2026, 2, 1), date(2026, 2, 28))
    r = result.rows.to_dicts()[0]
    assert (r["value"], r["previous"]) == (300, 280)
    assert r["change_pct"] == pytest.approx(20 / 280)


def test_compare_year_from_29_february(data_dir: Path, tmp_path: Path) -> None:
    cfg = make(data_dir, tmp_path, "1")
    result = run_report(
        load_config(cfg), Request(period="2024-02-29", compare="year", as_of=date(2024, 3, 5))
    )
    assert result.comparison == (date(2023, 2, 28), date(2023, 2, 28))
    assert result.rows["previous"].to_list() == [10]


def test_compare_each_grain_bucket_with_its_own(data_dir: Path, tmp_path: Path) -> None:
    cfg = make(data_dir, tmp_path, "1")
    result = run_report(
        load_config(cfg),
        Request(period="2024", grain="month", compare="previous", as_of=date(2024, 3, 10)),
    )
    got = result.rows.to_dicts()
    assert [r["value"] for r in got] == [310, 290, 100]
    # Jan vs Dec 2023, Feb vs Jan, March to date (10 days) vs the first 10 days of Feb
    assert [r["previous"] for r in got] == [310, 310, 100]


def test_compare_year_by_channel(data_dir: Path, tmp_path: Path) -> None:
    cfg = make(data_dir, tmp_path, "1")
    got = rows(cfg, period="2025-03", compare="year", by=("channel",), as_of=date(2025, 6, 1))
    assert [(r.get("channel"), r["value"], r["previous"]) for r in got] == [
        ("a", 186, 186),
        ("b", 124, 124),
        (None, 310, 310),
    ]


def test_change_pct_null_when_previous_is_zero(data_dir: Path, tmp_path: Path) -> None:
    cfg = make(data_dir, tmp_path, "1")
    got = run_report(
        load_config(cfg), Request(period="2022-11-01", compare="previous", as_of=date(2024, 1, 1))
    ).rows.to_dicts()[0]
    assert got["previous"] is None and got["change"] is None and got["change_pct"] is None


# ---------------------------------------------------------------- --fail-on through the CLI


def invoke(cfg: Path, *args: str):
    return runner.invoke(app, ["report", "-c", str(cfg), "--as-of", "2026-12-15", *args])


def test_fail_on_bad(data_dir: Path, tmp_path: Path) -> None:
    bad = make(data_dir, tmp_path, "1000")  # November: 300 of 1000
    r = invoke(bad, "-p", "2026-11", "--fail-on", "bad", "-f", "json")
    assert r.exit_code == 1
    assert json.loads(r.stdout)["rows"][0]["status"] == "bad"  # still written in full
    assert invoke(bad, "-p", "2026-11").exit_code == 0  # --fail-on never by default
    warn = make(data_dir, tmp_path, "320")
    assert invoke(warn, "-p", "2026-11", "--fail-on", "bad").exit_code == 0
    assert invoke(warn, "-p", "2026-11", "--fail-on", "warn").exit_code == 1
    ok = make(data_dir, tmp_path, "300")
    assert invoke(ok, "-p", "2026-11", "--fail-on", "warn").exit_code == 0


def test_fail_on_looks_at_totals_too(data_dir: Path, tmp_path: Path) -> None:
    cfg = make(data_dir, tmp_path, "{value: 1, by: channel, total: 1000}")
    r = invoke(
        cfg, "-p", "2026-11", "--by", "channel", "--fail-on", "bad", "-o", str(tmp_path / "r.csv")
    )
    assert r.exit_code == 1
    assert (tmp_path / "r.csv").exists()


def test_same_inputs_give_identical_output(data_dir: Path, tmp_path: Path) -> None:
    cfg = make(data_dir, tmp_path, "{value: 70, per: week}")
    args = ("-p", "this-month", "--by", "channel", "--compare", "previous", "-f", "json")
    a, b = invoke(cfg, *args).stdout, invoke(cfg, *args).stdout
    strip = lambda s: "\n".join(x for x in s.splitlines() if "generated_at" not in x)  # noqa: E731
    assert strip(a) == strip(b) and a.count("\n") > 20
    t1, t2 = invoke(cfg, "-p", "this-month").stdout, invoke(cfg, "-p", "this-month").stdout
    assert t1 == t2


# ---------------------------------------------------------------- which rows a target is for


@pytest.fixture(scope="module")
def split_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every day: channel a 6 (4 of offer x, 2 of y), channel b 4 (1 of x, 3 of y).

    Amounts (goals for the rows they were set for): ``leads`` by channel with a total,
    ``weekly`` a per-week goal, ``rows`` a plain count goal. Levels (standards for any
    slice): ``avg_n`` a plain average, ``avg_by`` an average by channel with a total.
    """
    d = tmp_path_factory.mktemp("split")
    lines = ["day,channel,offer,n"]
    day = date(2026, 9, 1)
    while day <= date(2026, 11, 30):
        lines += [f"{day},a,x,4", f"{day},a,y,2", f"{day},b,x,1", f"{day},b,y,3"]
        day += timedelta(days=1)
    (d / "split.csv").write_text("\n".join(lines) + "\n")
    p = d / "kpi_config.yaml"
    p.write_text(
        "version: 1\n"
        f"sources:\n  s: {{path: {d / 'split.csv'}, date: day}}\n"
        "kpis:\n"
        "  leads: {source: s, formula: SUM(n),"
        " target: {value: 100, by: channel, values: {a: 200}, total: 250}}\n"
        "  weekly: {source: s, formula: SUM(n), target: {value: 70, per: week}}\n"
        "  rows: {source: s, formula: COUNT(*), target: 100}\n"
        "  avg_n: {source: s, formula: AVG(n), target: 2.5}\n"
        "  avg_by: {source: s, formula: SUM(n) / COUNT(*),"
        " target: {value: 2, by: channel, values: {a: 3}, total: 2.5}}\n"
    )
    return p


def targets_of(cfg: Path, **req) -> dict[tuple[str, tuple], float | None]:
    """(kpi, dimension values or ("total",)) → target; checks that status follows target."""
    req.setdefault("as_of", date(2026, 11, 30))
    result = run_report(load_config(cfg), Request(period="2026-10", **req))
    out = {}
    frames = [(result.rows, list(result.dimensions))]
    if result.totals is not None:
        frames.append((result.totals, []))
    for frame, dims in frames:
        for r in frame.iter_rows(named=True):
            key = tuple(r[d] for d in dims) if dims else ("total",)
            out[(r["kpi"], key)] = r["target"]
            assert (r["status"] is None) == (r["target"] is None), r
    return out


# (kpi → row → target): a row is a dimension value, a pair of them, or "total";
# October 2026 has 31 days: a weekly goal of 70 is 310.
CASES = {
    "no --by": (
        {},
        {"leads": {"total": 250}, "weekly": {"total": 310}, "rows": {"total": 100},
         "avg_n": {"total": 2.5}, "avg_by": {"total": 2.5}},
    ),
    "--by channel": (
        {"by": ("channel",)},
        {"leads": {"a": 200, "b": 100, "total": 250}, "weekly": {"a": None, "total": 310},
         "rows": {"a": None, "total": 100}, "avg_n": {"a": 2.5, "b": 2.5, "total": 2.5},
         "avg_by": {"a": 3, "b": 2, "total": 2.5}},
    ),
    "--by offer": (
        {"by": ("offer",)},
        {"leads": {"x": None, "y": None, "total": 250}, "weekly": {"x": None, "total": 310},
         "rows": {"x": None, "total": 100}, "avg_n": {"x": 2.5, "total": 2.5},
         "avg_by": {"x": 2.5, "y": 2.5, "total": 2.5}},
    ),
    "--by channel,offer": (
        {"by": ("channel", "offer")},
        {"leads": {("a", "x"): None, ("b", "y"): None, "total": 250},
         "weekly": {("a", "x"): None, "total": 310},
         "rows": {("b", "x"): None, "total": 100}, "avg_n": {("a", "y"): 2.5, "total": 2.5},
         "avg_by": {("a", "x"): 3, ("a", "y"): 3, ("b", "x"): 2, "total": 2.5}},
    ),
    "--where offer": (
        {"where": "offer = 'x'"},
        {"leads": {"total": None}, "weekly": {"total": None}, "rows": {"total": None},
         "avg_n": {"total": 2.5}, "avg_by": {"total": 2.5}},
    ),
    "--where channel --by channel": (
        {"where": "channel = 'a'", "by": ("channel",)},
        {"leads": {"a": 200, "total": None}, "weekly": {"a": None, "total": None},
         "rows": {"a": None, "total": None}, "avg_n": {"a": 2.5, "total": 2.5},
         "avg_by": {"a": 3, "total": 2.5}},
    ),
    "--where offer --by channel": (
        {"where": "offer = 'x'", "by": ("channel",)},
        {"leads": {"a": None, "b": None, "total": None}, "weekly": {"a": None, "total": None},
         "avg_by": {"a": 3, "b": 2, "total": 2.5}},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_a_target_applies_to_the_rows_it_was_set_for(split_config: Path, case: str) -> None:
    """An amount's target is for the whole it was set for (a channel, the company), no target
    for a part of it (an offer, a channel × offer, a filtered total); a level's holds for any
    slice."""
    request, want = CASES[case]
    got = targets_of(split_config, **request)
    for name, rows in want.items():
        for key, target in rows.items():
            dims = key if isinstance(key, tuple) else (key,)
            assert got[(name, dims)] == (None if target is None else pytest.approx(target)), (
                f"{case}: {name} {key}"
            )


def test_weekly_goal_by_week_applies_to_each_bucket_total_only(split_config: Path) -> None:
    got = rows(
        split_config, period="2026-10", grain="week", by=("channel",), as_of=date(2026, 11, 30)
    )
    weekly = [r for r in got if r["kpi"] == "weekly"]
    totals = [r for r in weekly if "channel" not in r]
    assert [r["target"] for r in totals] == pytest.approx([40, 70, 70, 70, 60])  # 4, 7…, 6 days
    assert all(r["target"] is None and r["status"] is None for r in weekly if "channel" in r)
