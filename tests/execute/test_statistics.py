"""The statistics of issue 13 through the engine: anomalies learned from history read before
the period, the counts behind a ratio, the significance of changes checked against scipy
over DuckDB's sums of the same file, trends, and `kpi anomalies` from the shell.

The data: 150 days of ads for three channels of very different volumes (with a weekly
pattern and day-to-day variation of the click-through rate), and leads, with two injected
anomalies near the end: channel b's rows missing on OUTAGE (a tracking outage) and channel
a's clicks collapsing on COLLAPSE.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from kpicli import Request, load_config, run_report
from kpicli.cli import app

START = date(2026, 2, 1)
DAYS = 150
END = START + timedelta(days=DAYS - 1)  # 2026-06-30
OUTAGE = date(2026, 6, 25)
COLLAPSE = date(2026, 6, 27)
AS_OF = date(2026, 7, 1)
VOLUMES = {"a": 100_000, "b": 20_000, "c": 500}

CONFIG = """\
version: 1
sources:
  ads: {path: ads.csv, date: day}
  leads: {path: leads.csv, date: day}
kpis:
  impressions: {source: ads, formula: SUM(impressions), unit: integer}
  clicks: {source: ads, formula: SUM(clicks), unit: integer}
  spend: {source: ads, formula: SUM(spend), unit: currency}
  ctr: {formula: clicks / impressions, unit: percent}
  leads: {source: leads, formula: COUNT(*), unit: integer}
"""


def write_data(folder: Path, *, seed: int = 7, change_last_day: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    rows = ["day,channel,impressions,clicks,spend"]
    leads = ["day,channel"]
    for i in range(DAYS):
        day = START + timedelta(days=i)
        weekly = 0.7 if day.weekday() >= 5 else 1.0
        for channel, volume in VOLUMES.items():
            if channel == "b" and day == OUTAGE:
                continue
            shown = int(rng.poisson(volume * weekly))
            rate = 0.02 * float(rng.lognormal(0.0, 0.05))  # the rate varies beyond binomial
            if channel == "a" and day == COLLAPSE:
                rate *= 0.3
            clicks = int(rng.binomial(shown, rate))
            spend = round(clicks * 0.8 * float(rng.lognormal(0.0, 0.05)), 2)
            if change_last_day and day == END:
                shown, clicks, spend = shown * 3, clicks * 5, spend * 4
            rows.append(f"{day},{channel},{shown},{clicks},{spend}")
            leads += [f"{day},{channel}"] * int(rng.poisson(volume / 10_000 * weekly + 1))
    (folder / "ads.csv").write_text("\n".join(rows) + "\n")
    (folder / "leads.csv").write_text("\n".join(leads) + "\n")
    path = folder / "kpi_config.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module")
def cfg_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_data(tmp_path_factory.mktemp("stats"))


def last_week(cfg_path: Path, **extra: object):  # type: ignore[no-untyped-def]
    request = Request(
        period=f"{END - timedelta(days=6)}..{END}",
        grain="day",
        anomalies=True,
        by=("channel",),
        as_of=AS_OF,
        **extra,  # type: ignore[arg-type]
    )
    return run_report(load_config(cfg_path), request)


def flags(frame: pl.DataFrame) -> set[tuple]:
    flagged = frame.filter(pl.col("anomaly").is_not_null())
    keys = [c for c in ("kpi", "channel", "period_start", "anomaly") if c in flagged.columns]
    return set(flagged.select(keys).iter_rows())


def test_the_injected_anomalies_are_flagged_and_nothing_else(cfg_path: Path) -> None:
    result = last_week(cfg_path)
    assert result.anomalies == "medium"
    rows = result.rows
    assert set(rows["kpi"]) == {"impressions", "clicks", "spend", "ctr", "leads"}  # no hidden
    assert rows["period_start"].min() == END - timedelta(days=6)  # history is not shown
    assert rows["baseline"].null_count() == 0  # 84 days of history were read before
    found = flags(rows)
    for kpi in ("impressions", "clicks", "spend"):  # b's rows are missing: nothing counted
        assert (kpi, "b", OUTAGE, "low") in found
    assert ("ctr", "a", COLLAPSE, "low") in found
    assert ("clicks", "a", COLLAPSE, "low") in found
    injected = {(OUTAGE, "b"), (COLLAPSE, "a")}
    others = {f for f in found if (f[2], f[1]) not in injected}
    assert len(others) <= 1, others  # clean data: ~100 rows judged, at most one false alarm
    # c's click-through rate swings by chance on 500 impressions: no flag for it
    assert not [f for f in found if f[0] == "ctr" and f[1] == "c"]
    # the interval holds the value exactly when there is no flag
    inside = (pl.col("value").fill_null(0) >= pl.col("lower")) & (
        pl.col("value").fill_null(0) <= pl.col("upper")
    )
    judged = rows.filter(pl.col("baseline").is_not_null() & (pl.col("kpi") != "ctr"))
    assert (judged.select(inside == pl.col("anomaly").is_null()).to_series()).all()
    # the totals are judged too: a's collapse drags the total click-through rate down
    assert ("ctr", COLLAPSE, "low") in flags(result.totals)
    assert (
        result.history is not None
        and result.history["period_start"].max() < rows["period_start"].min()
    )


def test_no_look_ahead(cfg_path: Path, tmp_path: Path) -> None:
    """Tripling the last day changes no earlier bucket's baseline, interval or flag."""
    changed = write_data(tmp_path, change_last_day=True)
    columns = ["kpi", "channel", "period_start", "baseline", "lower", "upper", "anomaly"]
    before = last_week(cfg_path).rows.filter(pl.col("period_start") < END).select(columns)
    after = last_week(changed).rows.filter(pl.col("period_start") < END).select(columns)
    assert before.equals(after)
    last = last_week(changed).rows.filter(pl.col("period_start") == END)
    assert ("clicks", "a", END, "high") in flags(last)


def test_too_little_history_is_no_baseline_and_no_flag(cfg_path: Path) -> None:
    rows = last_week(cfg_path, lookback=10).rows
    assert rows["baseline"].null_count() == rows.height
    assert rows["anomaly"].null_count() == rows.height


def test_sensitivity_widens_the_interval(cfg_path: Path) -> None:
    low, high = (last_week(cfg_path, sensitivity=s).rows for s in ("low", "high"))
    width = (pl.col("upper") - pl.col("lower")).alias("w")
    assert (low.select(width)["w"] >= high.select(width)["w"]).all()
    assert len(flags(high)) >= len(flags(low))


# ---------------------------------------------------------------- significance and trends


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_significance_of_ratios_and_counts_against_scipy(cfg_path: Path, engine: str) -> None:
    duckdb = pytest.importorskip("duckdb")
    stats = pytest.importorskip("scipy.stats")
    folder = cfg_path.parent
    result = run_report(
        load_config(cfg_path),
        Request(period="2026-06", compare="previous", by=("channel",), as_of=AS_OF, engine=engine),
    )
    sums = {  # (channel, month) → (clicks, impressions)
        (channel, m): (c, n)
        for channel, m, c, n in duckdb.sql(
            f"""SELECT channel, month(day), SUM(clicks)::BIGINT, SUM(impressions)::BIGINT
                FROM read_csv('{folder / "ads.csv"}') WHERE month(day) IN (5, 6)
                GROUP BY ALL"""
        ).fetchall()
    }
    leads = {  # (channel, month) → leads
        (channel, m): k
        for channel, m, k in duckdb.sql(
            f"""SELECT channel, month(day), COUNT(*) FROM read_csv('{folder / "leads.csv"}')
                WHERE month(day) IN (5, 6) GROUP BY ALL"""
        ).fetchall()
    }
    rows = result.rows
    for channel in VOLUMES:
        (c6, n6), (c5, n5) = sums[channel, 6], sums[channel, 5]
        table = [[c6, n6 - c6], [c5, n5 - c5]]
        expected = stats.chi2_contingency(table, correction=False).pvalue
        row = rows.filter((pl.col("kpi") == "ctr") & (pl.col("channel") == channel)).row(
            0, named=True
        )
        assert row["p_value"] == pytest.approx(expected, rel=1e-6, abs=1e-12)
        assert row["change_significant"] == (expected < 0.05)
        # leads: two Poisson rates over 30 days (June) and 31 days (May), exact when small
        k6, k5 = leads[channel, 6], leads[channel, 5]
        test = stats.binomtest(k6, k6 + k5, 30 / 61)
        row = rows.filter((pl.col("kpi") == "leads") & (pl.col("channel") == channel)).row(
            0, named=True
        )
        assert row["p_value"] == pytest.approx(test.pvalue, rel=1e-6)
    spend = rows.filter(pl.col("kpi") == "spend")
    assert spend["p_value"].null_count() == spend.height  # money: no test applies


def test_trends_per_series(tmp_path: Path) -> None:
    """Leads that grow by 2 a week in channel up and stay flat in channel flat."""
    lines = ["day,channel"]
    for week in range(12):
        for d in range(7):
            day = date(2026, 1, 5) + timedelta(days=7 * week + d)
            lines += [f"{day},up"] * (10 + 2 * week if d == 0 else 0)
            lines += [f"{day},flat"] * (20 if d == 0 else 0)
    (tmp_path / "leads.csv").write_text("\n".join(lines) + "\n")
    path = tmp_path / "kpi_config.yaml"
    path.write_text(
        "version: 1\nsources:\n  leads: {path: leads.csv, date: day}\n"
        "kpis:\n  leads: {source: leads, formula: COUNT(*)}\n"
    )
    request = Request(period="2026-01-05..2026-03-29", grain="week", by=("channel",))
    trends = run_report(load_config(path), request).trends
    assert trends is not None
    up = trends.filter(pl.col("channel") == "up").row(0, named=True)
    flat = trends.filter(pl.col("channel") == "flat").row(0, named=True)
    median = float(np.median([10 + 2 * w for w in range(12)]))
    assert up["slope"] == pytest.approx(2 / median)
    assert up["significant"] and up["buckets"] == 12 and not up["total"]
    assert flat["slope"] == 0 and not flat["significant"]
    total = trends.filter(pl.col("total")).row(0, named=True)
    assert total["kpi"] == "leads" and total["channel"] is None and total["significant"]


# ---------------------------------------------------------------- from the shell

runner = CliRunner()


def test_kpi_anomalies_lists_only_the_flagged_worst_first(cfg_path: Path) -> None:
    args = ["anomalies", "-c", str(cfg_path), "--as-of", "2026-06-30", "--by", "channel"]
    r = runner.invoke(app, [*args, "-f", "json"])
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["last"] == 7 and data["grain"] == "day" and data["sensitivity"] == "medium"
    assert data["period"] == {"start": "2026-06-23", "end": "2026-06-29"}
    found = data["anomalies"]
    assert {"kpi": "ctr", "channel": "a", "day": "2026-06-27"} in [
        {"kpi": f["kpi"], "channel": f["channel"], "day": f["period_start"]} for f in found
    ]
    scores = [abs(f["anomaly_score"]) for f in found]
    assert scores == sorted(scores, reverse=True)
    assert all(f["anomaly"] in ("high", "low") for f in found)
    assert {f["dimension"] for f in found} <= {None, "channel"}

    r = runner.invoke(app, [*args, "--fail-on", "anomaly", "-q"])
    assert r.exit_code == 1 and "fail-on anomaly" in r.stderr
    # before the anomalies: nothing flagged, exit 0
    calm = ["anomalies", "-c", str(cfg_path), "--as-of", "2026-06-10", "-k", "ctr,leads"]
    r = runner.invoke(app, [*calm, "--fail-on", "anomaly"])
    assert r.exit_code == 0, r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--anomalies"], "--anomalies needs --grain"),
        (["report", "--fail-on", "anomaly"], "--fail-on anomaly needs --anomalies"),
        (["report", "-g", "day", "--anomalies", "--sensitivity", "wild"], "wild"),
        (["anomalies", "--last", "0"], "--last must be at least 1"),
    ],
)
def test_usage_errors(cfg_path: Path, args: list[str], message: str) -> None:
    r = runner.invoke(app, [*args, "-c", str(cfg_path)])
    assert r.exit_code == 2 and message in r.stderr, r.stderr


def test_report_fail_on_anomaly(cfg_path: Path) -> None:
    base = ["report", "-c", str(cfg_path), "-g", "day", "--anomalies", "--as-of", "2026-07-01"]
    r = runner.invoke(app, [*base, "-p", "2026-06-24..2026-06-30", "--fail-on", "anomaly"])
    assert r.exit_code == 1 and "fail-on anomaly" in r.stderr
    quiet = ["-p", "2026-06-01..2026-06-07", "-k", "ctr", "--fail-on", "anomaly"]
    r = runner.invoke(app, [*base, *quiet])
    assert r.exit_code == 0, r.stderr


def test_kpi_anomalies_writes_a_file_never_over_an_input(cfg_path: Path, tmp_path: Path) -> None:
    args = ["anomalies", "-c", str(cfg_path), "--as-of", "2026-06-30", "-k", "ctr", "-q"]
    r = runner.invoke(app, [*args, "-o", str(tmp_path / "out" / "anomalies-{end}.csv")])
    assert r.exit_code == 0, r.stderr
    written = (tmp_path / "out" / "anomalies-2026-06-29.csv").read_text()
    assert written.splitlines()[0].startswith("kpi,period_start,period_end,dimension")
    assert "2026-06-27" in written  # the collapse, in total
    before = (cfg_path.parent / "ads.csv").read_bytes()
    r = runner.invoke(app, [*args, "-o", str(cfg_path.parent / "ads.csv"), "-f", "csv"])
    assert r.exit_code == 4 and "would overwrite a file of source `ads`" in r.stderr
    assert (cfg_path.parent / "ads.csv").read_bytes() == before


def test_kpi_anomalies_jsonl_lines_carry_the_unit(cfg_path: Path) -> None:
    args = ["anomalies", "-c", str(cfg_path), "--as-of", "2026-06-30", "--by", "channel"]
    r = runner.invoke(app, [*args, "-k", "ctr,clicks", "-f", "jsonl"])
    assert r.exit_code == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert lines and {x["kpi"] for x in lines} <= {"ctr", "clicks"}
    units = {"ctr": "percent", "clicks": "integer"}  # as CONFIG declares them
    assert all(x["unit"] == units[x["kpi"]] and list(x)[-1] == "unit" for x in lines)
