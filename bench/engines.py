"""The engines sections of RESULTS.md: one report on ``--engine polars|duckdb|spark``, and
how the Spark plan's work grows with the data (``bench/run.py --engines``, ``--spark-scaling``).

Two pieces ``run.py`` cannot give:

- :func:`run_tree`: a run measured over its whole process tree. ``--engine spark`` starts a
  JVM (PySpark's gateway) that the Python process never waits for, so ``os.wait4`` of the
  Python process misses its CPU and memory. The launcher here makes itself the *child
  subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``): every descendant left behind becomes its
  child and is waited for, so ``RUSAGE_CHILDREN`` holds the CPU of the whole tree; the peak
  RSS of the tree (the sum of its processes' RSS, the JVM's included) is sampled every
  50 ms from ``/proc``.
- :func:`event_log`: Spark's event log (``spark.eventLog.enabled``) summed: stages, tasks,
  input read, shuffle written and read, task CPU, and the physical plans of the queries.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: Starts the timed command as its child, adopts every orphan of its tree, samples the tree's
#: RSS, and writes "wall tree_peak_kb max_single_kb cpu_s" (wall: until the command exits;
#: CPU: every process of the tree, reaped; a process still running 60 s after is killed).
TREE_LAUNCHER = """\
import ctypes, os, signal, sys, time
out, argv = sys.argv[1], sys.argv[2:]
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
me = os.getpid()

def children(pid):
    kids = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids

def tree_kb():
    total, todo = 0, children(me)
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
        except OSError:
            continue
        todo += children(pid)
    return total

t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
peak, wall, status = 0, None, 0
while True:
    done, st = os.waitpid(pid, os.WNOHANG)
    if done:
        wall, status = time.perf_counter() - t0, st
        break
    peak = max(peak, tree_kb())
    time.sleep(0.05)
deadline = time.monotonic() + 60
while True:
    try:
        done, _ = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        break
    if not done:
        if time.monotonic() > deadline:
            for kid in children(me):
                os.kill(kid, signal.SIGKILL)
        peak = max(peak, tree_kb())
        time.sleep(0.05)
ru = __import__("resource").getrusage(__import__("resource").RUSAGE_CHILDREN)
with open(out, "w") as f:
    f.write(f"{wall} {peak} {ru.ru_maxrss} {ru.ru_utime + ru.ru_stime}")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


@dataclass
class TreeRun:
    wall: float  # s, until the command exits
    rss: float  # MB: peak of the tree's summed RSS (sampled), at least the largest process's
    cpu: float  # user + system s of every process of the tree
    others: float  # share of the machine's CPU used by other processes meanwhile


def _jiffies() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:8]]
    return sum(fields) - fields[3] - fields[4], sum(fields)


def run_tree(
    argv: list[str],
    *,
    python: str,
    cwd: Path,
    env: dict[str, str],
    stdout: str = os.devnull,
    before: Callable[[], None] | None = None,
) -> TreeRun:
    """One run of ``argv`` measured over its process tree; SystemExit when it fails."""
    if before:
        before()
    with (
        open(stdout, "wb") as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory() as tmp,
    ):
        stats = Path(tmp) / "stats"
        j0 = _jiffies()
        proc = subprocess.run(
            [python, "-S", "-c", TREE_LAUNCHER, str(stats), *argv],
            stdout=out,
            stderr=err,
            cwd=cwd,
            env=env,
        )
        j1 = _jiffies()
        if proc.returncode != 0:
            err.seek(0)
            text = err.read().decode(errors="replace")
            raise SystemExit(f"FAILED ({proc.returncode}): {' '.join(argv)}\n{text}")
        wall, peak_kb, single_kb, cpu = (float(x) for x in stats.read_text().split())
    hz = os.sysconf("SC_CLK_TCK")
    capacity = max(1, j1[1] - j0[1]) / hz
    others = max(0.0, (j1[0] - j0[0]) / hz - cpu) / capacity
    return TreeRun(wall, max(peak_kb, single_kb) / 1024, cpu, others)


# --- Spark's event log -----------------------------------------------------------------------


@dataclass
class EventLog:
    """What one Spark application did, summed over its tasks (from its event log)."""

    jobs: int = 0
    stages: int = 0
    tasks: int = 0
    scan_tasks: int = 0  # tasks that read input
    input_bytes: int = 0
    input_records: int = 0
    shuffle_write_bytes: int = 0
    shuffle_write_records: int = 0
    shuffle_read_bytes: int = 0
    shuffle_read_records: int = 0
    task_cpu_s: float = 0.0  # executors' CPU time of the tasks
    task_run_s: float = 0.0  # executors' run time of the tasks
    result_bytes: int = 0
    plans: list[str] = field(default_factory=list)  # physical plans, one per SQL query


def event_log(path: Path) -> EventLog:
    """Sum a Spark event log (JSON lines; a log still ``.inprogress`` reads alike)."""
    log = EventLog()
    with open(path, encoding="utf-8") as f:
        for line in f:
            event = json.loads(line)
            kind = event.get("Event", "")
            if kind == "SparkListenerJobStart":
                log.jobs += 1
            elif kind == "SparkListenerStageCompleted":
                log.stages += 1
            elif kind == "SparkListenerTaskEnd":
                _task(log, event.get("Task Metrics") or {})
            elif kind.endswith("SparkListenerSQLExecutionStart"):
                plan = event.get("physicalPlanDescription")
                if plan:
                    log.plans.append(plan)
    return log


def _task(log: EventLog, m: dict) -> None:
    log.tasks += 1
    read = m.get("Input Metrics") or {}
    write = m.get("Shuffle Write Metrics") or {}
    shuffled = m.get("Shuffle Read Metrics") or {}
    if read.get("Bytes Read", 0) or read.get("Records Read", 0):
        log.scan_tasks += 1
    log.input_bytes += read.get("Bytes Read", 0)
    log.input_records += read.get("Records Read", 0)
    log.shuffle_write_bytes += write.get("Shuffle Bytes Written", 0)
    log.shuffle_write_records += write.get("Shuffle Records Written", 0)
    log.shuffle_read_bytes += shuffled.get("Local Bytes Read", 0) + shuffled.get(
        "Remote Bytes Read", 0
    )
    log.shuffle_read_records += shuffled.get("Total Records Read", 0)
    log.task_cpu_s += m.get("Executor CPU Time", 0) / 1e9  # ns
    log.task_run_s += m.get("Executor Run Time", 0) / 1e3  # ms
    log.result_bytes += m.get("Result Size", 0)


def newest_log(folder: Path, before: set[Path]) -> Path | None:
    """The event log a run wrote into ``folder`` (the file not in ``before``)."""
    new = [p for p in folder.iterdir() if p not in before and p.is_file()]
    return max(new, key=lambda p: p.stat().st_mtime) if new else None


def aggregate_plan(plans: list[str]) -> str:
    """The physical plan of the first query with a partial and a final aggregate around an
    exchange (the shape of kpi's aggregations), else the first plan; its tree part only."""
    for plan in plans:
        if "HashAggregate" in plan and "Exchange" in plan and "partial_" in plan:
            return plan.split("\n\n")[0]
    return plans[0].split("\n\n")[0] if plans else ""


# --- configs ---------------------------------------------------------------------------------


def spark_config(data: Path, config: str, master: str, log_dir: Path) -> str:
    """A copy of ``data/config`` (beside it, as its sources' paths are relative) with
    ``settings.spark``: ``master`` and the event log into ``log_dir``. Returns its name."""
    import yaml

    cfg = yaml.safe_load((data / config).read_text())
    settings = cfg.setdefault("settings", {})
    settings["spark"] = {
        "master": master,
        "conf": {"spark.eventLog.enabled": True, "spark.eventLog.dir": log_dir.as_uri()},
    }
    name = f"{Path(config).stem}_spark.yaml"
    target = data / name
    if target.is_symlink():
        target.unlink()
    target.write_text(
        "# written by bench/engines.py: "
        + config
        + " on Spark "
        + master
        + "\n"
        + yaml.safe_dump(cfg, sort_keys=False)
    )
    return name


# --- the sections ----------------------------------------------------------------------------

#: Relative tolerance of the engines' agreement (the same plan: only float sums' order differs).
ENGINE_RTOL = 1e-9
ENGINE_NAMES = ("polars", "duckdb", "spark")
SPARK_MASTER = "local[2]"


@dataclass
class Timed:
    name: str
    argv: list[str]
    runs: list[TreeRun] = field(default_factory=list)
    logs: list[EventLog] = field(default_factory=list)

    def med(self, attr: str) -> float:
        import statistics

        return statistics.median(getattr(r, attr) for r in self.runs)


def _argv(bench, data: Path, config: str, report: str, engine: str) -> list[str]:
    return [bench.KPI, "report", "-c", str(data / config), *report.split(), "-f", "jsonl",
            "--engine", engine]  # fmt: skip


def _run(bench, t: Timed, log_dir: Path, stdout: str = os.devnull) -> TreeRun:
    """One run of ``t`` (waiting for idle CPUs first); its event log kept for Spark."""
    bench.wait_quiet()
    before = set(log_dir.iterdir())
    r = run_tree(t.argv, python=bench.PY, cwd=bench.ROOT, env=bench.ENV, stdout=stdout)
    path = newest_log(log_dir, before)
    if path is not None:
        t.logs.append(event_log(path))
        path.unlink()
    bench.QUIET["busy"].append(r.others)
    return r


def _group(bench, data: Path, config: str, report: str, log_dir: Path) -> list[Timed]:
    spark_cfg = spark_config(data, config, SPARK_MASTER, log_dir)
    return [
        Timed(e, _argv(bench, data, spark_cfg if e == "spark" else config, report, e))
        for e in ENGINE_NAMES
    ]


def agree(bench, group: list[Timed], data: Path, log_dir: Path, keep: bool = False) -> float:
    """Run each engine once into a file and compare every value and previous value with the
    Polars engine's to :data:`ENGINE_RTOL` relative; exit 1 on a gap. Returns the largest gap.
    With ``keep``, these runs are the first measured ones."""
    tmp = data / "check"
    tmp.mkdir(exist_ok=True)
    frames, worst = {}, 0.0
    for t in group:
        out = tmp / f"engine-{Path(t.argv[t.argv.index('-c') + 1]).stem}-{t.name}.jsonl"
        r = _run(bench, t, log_dir, str(out))
        if keep:
            t.runs.append(r)
        frames[t.name] = bench._kpi_long(out)
        print(f"  {t.name}: {r.wall:.1f} s (check run)", flush=True)
    ref = frames["polars"]
    for name, other in frames.items():
        if name == "polars":
            continue
        bad, gap = bench.differences(ref, other, ENGINE_RTOL)
        if bad.height or other.height != ref.height:
            print(bad.head(20))
            raise SystemExit(
                f"CHECK FAILED: --engine {name} differs from --engine polars in {bad.height} "
                f"rows ({other.height} vs {ref.height}); outputs in {tmp}"
            )
        worst = max(worst, gap or 0.0)
        print(f"  check: --engine {name} agrees with polars on {ref.height} rows", flush=True)
    return worst


def engines_test(bench, rows: int, runs: int, spark_runs: int) -> str:
    """The 10M report on the three engines: agreement, then timed runs (round-robin)."""
    data = bench.generate.data_dir(rows)
    log_dir = Path(tempfile.mkdtemp(prefix="kpi-bench-eventlog-"))
    group = _group(bench, data, "kpi_config.yaml", bench.REPORT, log_dir)
    print(f"engines, {rows:,} rows", flush=True)
    worst = agree(bench, group, data, log_dir)  # also the warm-up round
    for t in group:
        t.logs.clear()
    for round_ in range(max(runs, spark_runs)):
        for t in group:
            if round_ < (spark_runs if t.name == "spark" else runs):
                t.runs.append(_run(bench, t, log_dir))
        ran = [t for t in group if len(t.runs) == round_ + 1]
        print(f"  run {round_ + 1}: " + ", ".join(f"{t.name} {t.runs[-1].wall:.1f}s" for t in ran))
    shutil.rmtree(log_dir, ignore_errors=True)
    return engines_block(bench, rows, data, group, worst)


def engines_block(bench, rows: int, data: Path, group: list[Timed], worst: float) -> str:
    ads_mb = (data / "ads.csv").stat().st_size / 1e6
    leads_mb = (data / "leads.csv").stat().st_size / 1e6
    base = group[0]
    out = [
        f"`kpi report -c bench/data/{rows}/kpi_config.yaml {bench.REPORT} -f jsonl --engine "
        f"ENGINE` over {rows:,} ads rows + {rows // 5:,} leads ({ads_mb:,.0f} MB + "
        f"{leads_mb:,.0f} MB of CSV, one file each), 30 KPIs. Spark: `settings.spark.master: "
        f"{SPARK_MASTER}` (a copy of the config, `kpi_config_spark.yaml`, written by "
        "`bench/engines.py`, with Spark's event log on). Median of "
        + ", ".join(f"{len(t.runs)} ({t.name})" for t in group)
        + " runs after one round of agreement check (which also warms the page cache). "
        "Wall: until `kpi` exits; CPU and peak RSS: the whole process tree — Spark's JVM is a "
        "child of the Python process that it never waits for, so the launcher adopts it "
        "(child subreaper) and counts its CPU; peak RSS is the tree's summed RSS sampled every "
        "50 ms." + bench._busy_note(),
        "",
        "| engine | median wall s | min wall s | CPU s | peak RSS MB | wall vs polars |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for t in group:
        out.append(
            f"| `--engine {t.name}` | {t.med('wall'):.1f} | {min(r.wall for r in t.runs):.1f} | "
            f"{t.med('cpu'):.1f} | {max(r.rss for r in t.runs):,.0f} | "
            f"{t.med('wall') / base.med('wall'):.1f}x |"
        )
    spark = group[-1]
    if spark.logs:
        log = spark.logs[-1]
        out += [
            "",
            f"Spark's work in one run (its event log): {log.jobs} jobs, {log.stages} stages, "
            f"{log.tasks} tasks ({log.scan_tasks} reading input: one per CSV file, as kpi "
            f"reads CSV with `multiLine`), {log.input_bytes / 1e6:,.0f} MB read, "
            f"{log.shuffle_write_records:,} records ({log.shuffle_write_bytes / 1e3:,.1f} kB) "
            f"shuffled, tasks' CPU {log.task_cpu_s:.1f} s.",
        ]
    out += [
        "",
        "Agreement, checked before timing: every value and previous value of the 30 KPIs per "
        "channel and in total for each month is the Polars engine's to "
        f"{ENGINE_RTOL:g} relative on DuckDB and Spark (largest relative gap {worst:.1e}).",
    ]
    return "\n".join(out)


SCALING_CONFIG = "kpi_config_20.yaml"  # ads.csv alone: the one config every size has


def _warm(data: Path) -> None:
    """Read the exports once, so every engine finds them in the page cache."""
    for name in ("ads.csv", "leads.csv"):
        path = data / name
        if path.exists():
            with open(path, "rb") as f:
                while f.read(1 << 24):
                    pass


def scaling_test(bench, sizes: list[int], runs: int) -> tuple[str, dict]:
    """Each size on the three engines (the agreement runs are the measured ones), Spark's
    event log summed per run."""
    import handwritten_ads

    log_dir = Path(tempfile.mkdtemp(prefix="kpi-bench-eventlog-"))
    results: dict[int, list[Timed]] = {}
    worst = 0.0
    for rows in sizes:
        data = bench.generate.data_dir(rows)
        if not (data / SCALING_CONFIG).exists():
            bench.generate.generate(rows, leads_rows=0)  # ads.csv and its configs
        print(f"spark scaling, {rows:,} rows", flush=True)
        _warm(data)
        group = _group(bench, data, SCALING_CONFIG, handwritten_ads.REPORT, log_dir)
        worst = max(worst, agree(bench, group, data, log_dir, keep=True))
        for _ in range(runs - 1):
            for t in group:
                t.runs.append(_run(bench, t, log_dir))
        results[rows] = group
    shutil.rmtree(log_dir, ignore_errors=True)
    raw = {
        str(rows): {
            t.name: {"runs": [vars(r) for r in t.runs], "logs": [_log_dict(g) for g in t.logs]}
            for t in group
        }
        for rows, group in results.items()
    }
    return scaling_block(bench, results, worst), raw


def _log_dict(log: EventLog) -> dict:
    return {k: v for k, v in vars(log).items() if k != "plans"}


def scaling_block(
    bench,
    results: dict[int, list[Timed]],
    worst: float,
    files: int = 1,
    data: Path | None = None,
) -> str:
    import handwritten_ads

    sizes = list(results)
    where = f"ROWS/{SCALING_CONFIG}"
    what = "`ads.csv` alone, one file: the one config every size has"
    kind = "parquet" if data is not None and any(data.glob("ads*.parquet")) else "csv"
    if data is not None:
        where = f"{data.name}/{SCALING_CONFIG}"
        what = f"`ads.csv` of {sizes[0]:,} rows cut into {files} files read as `ads_*.{kind}`"
    if kind == "parquet":
        what += ", written by Polars with dates, integers and floats typed"
    out = [
        f"`kpi report -c bench/data/{where} {handwritten_ads.REPORT} -f jsonl "
        f"--engine ENGINE` (20 KPIs of {what}), Spark on "
        f"`{SPARK_MASTER}`; {len(results[sizes[0]][0].runs)} run(s) per engine "
        "and size (median), measured as in *Engines*, the files in the page cache. The "
        "three engines' outputs agree to "
        f"{ENGINE_RTOL:g} relative at every size (largest gap {worst:.1e})." + bench._busy_note(),
        "",
        f"| rows | {'Parquet' if kind == 'parquet' else 'CSV'} MB | engine | wall s | CPU s "
        "| peak RSS MB |",
        "| ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for rows, group in results.items():
        folder = data or bench.generate.data_dir(rows)
        mb = sum(p.stat().st_size for p in folder.glob(f"ads*.{kind}")) / 1e6
        for t in group:
            out.append(
                f"| {rows:,} | {mb:,.0f} | {t.name} | {t.med('wall'):.1f} | {t.med('cpu'):.1f} "
                f"| {max(r.rss for r in t.runs):,.0f} |"
            )
    out += [
        "",
        "Spark's work per run, from its event log (`spark.eventLog.enabled`: the "
        "`SparkListenerTaskEnd` events' task metrics summed; scan MB/s per core: input bytes "
        "over the tasks' executor CPU time):",
        "",
        "| rows | jobs | stages | tasks | tasks reading | input MB | input records | "
        "shuffle write records | shuffle write kB | tasks' CPU s | scan MB/s per core |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for rows, group in results.items():
        log = group[-1].logs[-1]
        out.append(
            f"| {rows:,} | {log.jobs} | {log.stages} | {log.tasks} | {log.scan_tasks} | "
            f"{log.input_bytes / 1e6:,.0f} | {log.input_records:,} | "
            f"{log.shuffle_write_records:,} | {log.shuffle_write_bytes / 1e3:,.1f} | "
            f"{log.task_cpu_s:.1f} | {log.input_bytes / 1e6 / max(log.task_cpu_s, 1e-9):,.0f} |"
        )
    plan = aggregate_plan(results[sizes[-1]][-1].logs[-1].plans)
    if plan:
        out += [
            "",
            "The physical plan of the aggregation (from the event log's "
            "`SparkListenerSQLExecutionStart`, as `EXPLAIN FORMATTED` prints it; the aggregate "
            "functions of the two `HashAggregate`s below it):",
            "",
            "```",
            plan.strip(),
            *_aggregate_lines(results[sizes[-1]][-1].logs[-1].plans),
            "```",
        ]
    if data is None and len(sizes) > 1:
        out += projection(results)
    return "\n".join(out)


def _aggregate_lines(plans: list[str]) -> list[str]:
    """The Keys and Functions of the HashAggregate nodes of the aggregation's plan, cut short."""
    for plan in plans:
        if "partial_" not in plan:
            continue
        lines, node = [], ""
        for line in plan.splitlines():
            if line.startswith("("):
                node = line
            elif "HashAggregate" in node and line.startswith(("Keys", "Functions")):
                text = f"{node.strip()}: {line.strip()}"
                lines.append(text if len(text) <= 160 else text[:157] + "...")
        return lines
    return []


def parquet_data(rows: int, files: int, data_dir: Callable[[int], Path]) -> Path:
    """:func:`split_data`'s files written as Parquet (typed by Polars' CSV reader: dates,
    integers, floats) in ``bench/data/ROWS-xFILES-parquet/``, with ``kpi_config_20.yaml``
    reading ``ads_*.parquet``."""
    import polars as pl
    import yaml

    csvs = split_data(rows, files, data_dir)
    out = csvs.with_name(f"{csvs.name}-parquet")
    out.mkdir(exist_ok=True)
    cfg = yaml.safe_load((csvs / SCALING_CONFIG).read_text())
    cfg["sources"]["ads"]["path"] = "ads_*.parquet"
    (out / SCALING_CONFIG).write_text(yaml.safe_dump(cfg, sort_keys=False))
    for path in sorted(csvs.glob("ads_*.csv")):
        target = out / path.with_suffix(".parquet").name
        if not target.exists():
            pl.scan_csv(path, try_parse_dates=True).sink_parquet(target)
    return out


def split_data(rows: int, files: int, data_dir: Callable[[int], Path]) -> Path:
    """``ads.csv`` of ``rows`` cut into ``files`` CSV files of whole lines (each with the
    header) in ``bench/data/ROWS-xFILES/``, with ``kpi_config_20.yaml`` reading ``ads_*.csv``."""
    import yaml

    src = data_dir(rows)
    out = src.with_name(f"{rows}-x{files}")
    out.mkdir(exist_ok=True)
    cfg = yaml.safe_load((src / SCALING_CONFIG).read_text())
    cfg["sources"]["ads"]["path"] = "ads_*.csv"
    (out / SCALING_CONFIG).write_text(yaml.safe_dump(cfg, sort_keys=False))
    if len(list(out.glob("ads_*.csv"))) == files:
        return out
    size = (src / "ads.csv").stat().st_size
    with open(src / "ads.csv", "rb") as f:
        header = f.readline()
        for i in range(files):
            with open(out / f"ads_{i:03d}.csv", "wb") as part:
                part.write(header)
                stop = size * (i + 1) // files
                while f.tell() < stop or i == files - 1:
                    line = f.readline()
                    if not line:
                        break
                    part.write(line)
    return out


def split_test(bench, rows: int, files: int, runs: int, *, parquet: bool = False) -> str:
    """The scaling report over ``rows`` cut into ``files`` files: one scan task per file
    (``parquet``: the files written as Parquet)."""
    import handwritten_ads

    if not (bench.generate.data_dir(rows) / SCALING_CONFIG).exists():
        bench.generate.generate(rows, leads_rows=0)  # ads.csv and its configs
    make = parquet_data if parquet else split_data
    data = make(rows, files, bench.generate.data_dir)
    log_dir = Path(tempfile.mkdtemp(prefix="kpi-bench-eventlog-"))
    print(f"spark, {rows:,} rows in {files} {'Parquet' if parquet else 'CSV'} files", flush=True)
    _warm_glob(data)
    group = _group(bench, data, SCALING_CONFIG, handwritten_ads.REPORT, log_dir)
    worst = agree(bench, group, data, log_dir, keep=True)
    for _ in range(runs - 1):
        for t in group:
            t.runs.append(_run(bench, t, log_dir))
    shutil.rmtree(log_dir, ignore_errors=True)
    return scaling_block(bench, {rows: group}, worst, files=files, data=data)


def _warm_glob(data: Path) -> None:
    for path in sorted(data.glob("ads_*.*")):
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


# --- the projection --------------------------------------------------------------------------

#: Assumed, not measured: the cluster the projection sizes.
CLUSTER = {
    "machines": (4, 16, 64),
    "cores": 8,  # executor cores per machine
    "bandwidth_mb_s": 1000,  # object-store read per machine (about a 10 Gbit/s link)
    "file_mb": 128,  # exports cut into files of this size (kpi reads a CSV file in one task)
}
EXPORTS_GB = (10, 100, 1000)


def projection(results: dict[int, list[Timed]]) -> list[str]:
    """A reasoned estimate for 10 GB, 100 GB and 1 TB of exports on N machines, from the
    largest size's Spark scan rate and shuffle, the smallest size's fixed cost, and
    :data:`CLUSTER`'s assumptions."""
    import math

    sizes = sorted(results)
    big = results[sizes[-1]][-1].logs[-1]
    small_wall = results[sizes[0]][-1].med("wall")
    small_scan = results[sizes[0]][-1].logs[-1].task_run_s
    rate = big.input_bytes / 1e6 / big.task_cpu_s  # MB/s per core, measured
    fixed = max(0.0, small_wall - small_scan)  # s: JVM, session, planning, result, measured
    groups = big.shuffle_write_records / max(1, big.scan_tasks)  # partial rows per scan task
    per_record = big.shuffle_write_bytes / max(1, big.shuffle_write_records)
    polars = results[sizes[-1]][0]
    polars_rate = (
        sum(p.stat().st_size for p in _data_of(results, sizes[-1]).glob("ads*.csv"))
        / 1e6
        / polars.med("wall")
    )
    c = CLUSTER
    head = " | ".join(f"{n} x {c['cores']} cores" for n in c["machines"])
    out = [
        "",
        "#### What that means on a cluster (a projection)",
        "",
        "**Measured** here: Spark's scan rate per core, "
        f"**{rate:,.0f} MB/s of CSV** (input bytes over the tasks' CPU time at "
        f"{sizes[-1]:,} rows: kpi's CSV reading, typing and partial aggregation together); "
        f"its fixed cost, **{fixed:.0f} s** (the {sizes[0]:,}-row run's wall time less its "
        "tasks' time: the JVM, the session, planning, the results back to Python); what is "
        f"shuffled, **{groups:,.0f} partial aggregate rows per scan task** at most (one per group "
        f"of the report its file holds: month x channel, and the totals; a file of fewer months "
        f"gives fewer) of **{per_record:,.0f} bytes** each, whatever the rows a task read; "
        "and Polars' rate on this whole machine "
        f"(2 cores), {polars_rate:,.0f} MB/s of CSV at {sizes[-1]:,} rows. **Assumed**: "
        f"machines of {c['cores']} executor cores each scanning as one core here does; "
        f"{c['bandwidth_mb_s']:,} MB/s of object-store reads per machine; exports in files of "
        f"{c['file_mb']} MB (kpi reads a CSV file in one task, `multiLine`, so the files are "
        "the parallelism: one 100 GB file would be one task; Parquet splits by row group); "
        "the same fixed cost (a real cluster adds its own start-up: executors, not counted). "
        "Time = fixed + waves x (file MB / scan rate), waves = files / (machines x cores) "
        "rounded up, and never less than the bytes over the machines' read bandwidth; "
        "shuffle = scan tasks x partial rows x bytes.",
        "",
        f"| exports | files | shuffled | {head} | Polars, this machine |",
        "| ---: | ---: | ---: | " + " | ".join("---:" for _ in c["machines"]) + " | ---: |",
    ]
    for gb in EXPORTS_GB:
        mb = gb * 1000
        files = math.ceil(mb / c["file_mb"])
        shuffled = files * groups * per_record / 1e6
        cells = []
        for n in c["machines"]:
            waves = math.ceil(files / (n * c["cores"]))
            scan = max(waves * c["file_mb"] / rate, mb / (n * c["bandwidth_mb_s"]))
            cells.append(_duration(fixed + scan))
        out.append(
            f"| {gb:,} GB | {files:,} | {shuffled:,.1f} MB | "
            + " | ".join(cells)
            + f" | {_duration(mb / polars_rate)} |"
        )
    out += [
        "",
        "The shuffle stays megabytes at a terabyte: what crosses the network grows with the "
        "number of files times the groups of the report, never with the rows (a terabyte of "
        f"this CSV is ~{1e12 / (big.input_bytes / max(1, big.input_records)) / 1e9:,.0f} "
        "billion rows). The scan is the whole cost, and it divides by the cores as long as "
        "there are more files than cores. The Polars column is a straight line from the rate "
        "measured here, on 2 cores, for comparison (its memory stays bounded: see *Memory on "
        "a 5 GB export*); a bigger single machine scans faster.",
    ]
    return out


def _data_of(results: dict[int, list[Timed]], rows: int) -> Path:
    argv = results[rows][0].argv
    return Path(argv[argv.index("-c") + 1]).parent


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:,.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:,.0f} min"
    return f"{seconds / 3600:,.1f} h"
