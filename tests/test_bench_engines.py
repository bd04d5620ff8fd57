"""bench/engines.py's two measuring pieces: the Spark event log summed, and a run measured
over its whole process tree (the orphans a command leaves behind, as Spark's JVM, included)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def engines():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import engines
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return engines


def _task(stage: int, read: int, records: int, written: int, w_records: int, cpu_ns: int) -> dict:
    return {
        "Event": "SparkListenerTaskEnd",
        "Stage ID": stage,
        "Task Metrics": {
            "Executor Run Time": cpu_ns // 1_000_000 + 5,
            "Executor CPU Time": cpu_ns,
            "Result Size": 100,
            "Input Metrics": {"Bytes Read": read, "Records Read": records},
            "Shuffle Write Metrics": {
                "Shuffle Bytes Written": written,
                "Shuffle Records Written": w_records,
            },
            "Shuffle Read Metrics": {
                "Local Bytes Read": 0 if read else 3000,
                "Remote Bytes Read": 0 if read else 1000,
                "Total Records Read": 0 if read else 40,
            },
        },
    }


PLAN = (
    "== Physical Plan ==\nAdaptiveSparkPlan (4)\n+- HashAggregate (3)\n   +- Exchange (2)\n"
    "      +- HashAggregate (1)\n\n\n(1) HashAggregate\nKeys [1]: [channel#1]\n"
    "Functions [1]: [partial_sum(spend#2)]\n\n(3) HashAggregate\nKeys [1]: [channel#1]\n"
    "Functions [1]: [sum(spend#2)]\n"
)


def test_event_log_sums_the_tasks_of_every_stage(engines, tmp_path):
    events = [
        {"Event": "SparkListenerLogStart", "Spark Version": "3.5.9"},
        {"Event": "SparkListenerJobStart", "Job ID": 0, "Stage IDs": [0, 1]},
        {
            "Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart",
            "physicalPlanDescription": "== Physical Plan ==\nLocalTableScan (1)\n",
        },
        {
            "Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart",
            "physicalPlanDescription": PLAN,
        },
        _task(0, 1000, 10, 200, 4, 2_000_000_000),
        _task(0, 500, 5, 100, 3, 500_000_000),
        {"Event": "SparkListenerStageCompleted", "Stage Info": {"Stage ID": 0}},
        _task(1, 0, 0, 0, 0, 10_000_000),
        {"Event": "SparkListenerStageCompleted", "Stage Info": {"Stage ID": 1}},
    ]
    path = tmp_path / "local-1.inprogress"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    log = engines.event_log(path)
    assert (log.jobs, log.stages, log.tasks, log.scan_tasks) == (1, 2, 3, 2)
    assert (log.input_bytes, log.input_records) == (1500, 15)
    assert (log.shuffle_write_bytes, log.shuffle_write_records) == (300, 7)
    assert (log.shuffle_read_bytes, log.shuffle_read_records) == (4000, 40)
    assert log.task_cpu_s == pytest.approx(2.51)
    assert log.task_run_s == pytest.approx((2000 + 5 + 500 + 5 + 10 + 5) / 1000)
    assert len(log.plans) == 2
    # the plan with a partial and a final aggregate around an exchange, its tree alone
    assert engines.aggregate_plan(log.plans) == PLAN.split("\n\n")[0]
    assert engines._aggregate_lines(log.plans) == [
        "(1) HashAggregate: Keys [1]: [channel#1]",
        "(1) HashAggregate: Functions [1]: [partial_sum(spend#2)]",
        "(3) HashAggregate: Keys [1]: [channel#1]",
        "(3) HashAggregate: Functions [1]: [sum(spend#2)]",
    ]


#: A parent that leaves an orphan (as PySpark leaves its JVM): the orphan holds 200 MB and
#: burns 0.3 s of its own CPU after the parent exited.
ORPHAN = """
import os, sys, time
if os.fork() == 0:
    time.sleep(0.2)  # the parent is gone by then
    hold = bytearray(200 * 2**20)
    for i in range(0, len(hold), 4096):
        hold[i] = 1
    while time.process_time() < 0.3:
        pass
    os._exit(0)
sys.exit(0)
"""


def test_run_tree_counts_the_orphans_cpu_and_memory(engines):
    r = engines.run_tree(
        [sys.executable, "-c", ORPHAN], python=sys.executable, cwd=ROOT, env=dict(os.environ)
    )
    assert r.cpu >= 0.3  # the orphan's CPU, reaped by the launcher
    assert r.rss >= 200  # MB: the orphan's memory, sampled in the tree


def test_run_tree_fails_loudly(engines):
    with pytest.raises(SystemExit, match="FAILED"):
        engines.run_tree(
            [sys.executable, "-c", "raise SystemExit(3)"],
            python=sys.executable,
            cwd=ROOT,
            env=dict(os.environ),
        )


def test_parquet_data_holds_the_split_csv_rows_typed(engines, tmp_path):
    """`--spark-parquet`'s files: the rows of the CSV split, dates and numbers typed, and a
    config that reads them."""
    import polars as pl
    import yaml

    src = tmp_path / "1000"
    src.mkdir()
    lines = [f"2026-0{1 + i % 9}-{1 + i % 28:02d},ch{i % 3},{i},{i * 0.25}" for i in range(1000)]
    (src / "ads.csv").write_text("date,channel,clicks,spend\n" + "\n".join(lines) + "\n")
    config = {"version": 1, "sources": {"ads": {"path": "ads.csv", "date": "date"}}}
    (src / engines.SCALING_CONFIG).write_text(yaml.safe_dump(config))
    out = engines.parquet_data(1000, 3, lambda rows: tmp_path / str(rows))
    assert out.name == "1000-x3-parquet"
    assert (
        yaml.safe_load((out / engines.SCALING_CONFIG).read_text())["sources"]["ads"]["path"]
        == "ads_*.parquet"
    )
    files = sorted(out.glob("ads_*.parquet"))
    assert len(files) == 3
    got = pl.concat([pl.read_parquet(f) for f in files])
    assert got.schema["date"] == pl.Date and got.schema["clicks"] == pl.Int64
    want = pl.read_csv(src / "ads.csv", try_parse_dates=True)
    assert got.equals(want)
