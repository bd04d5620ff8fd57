"""Time `kpi report` against the same report written by hand (Polars, DuckDB, pandas).

    python bench/run.py --all                    # every figure of RESULTS.md, in one go
    python bench/run.py --rows 1000000 --runs 5
    python bench/run.py --rows 1000000 10000000 --runs 5 --variants --kpi-src head
    python bench/run.py --memory 80000000
    python bench/run.py --cache-test 10000000
    python bench/run.py --startup --quiet-wait 0
    python bench/run.py --engines --spark-scaling 1000000 10000000 40000000 --spark-split 10000000 8
    python bench/run.py --spark-parquet 10000000 8

For each size: generate the exports if they are missing (``bench/generate.py``), check that
every contender computes the same numbers as kpi (every value and previous value of the 30
KPIs, per channel and in total, to 1e-6 relative; exit 1 when one differs), then run each
contender in a fresh subprocess, one warm-up round and ``--runs`` timed rounds (round-robin,
so drift hits every contender alike; each run waits until the CPUs are idle), and record the
median and minimum wall time, CPU time, and peak RSS of the process (``os.wait4``).
``--variants`` also times kpi's plan with one engine change at a time (``bench/variants.py``)
and where the time goes. ``--memory ROWS`` runs the memory test on an ads-only export.
``--cache-test ROWS`` times the report without kpi's Parquet cache, filling it, and hitting
it. ``--startup`` times start-up on the shipped sample: ``kpi --help``, ``kpi report`` (kpi's
per-user cache cold and warm), ``kpi list`` and ``kpi validate`` against
``python -c "import polars"`` (part of any ``--rows`` run too). ``--engines`` times the 10 M
report on ``--engine polars``, ``duckdb`` and ``spark`` (``local[2]``), ``--spark-scaling
ROWS…`` what Spark's plan does at each size (its event log) and ``--spark-split ROWS FILES``
the same over many files, ``--spark-parquet ROWS FILES`` over those files as Parquet
(``bench/engines.py``). ``--all`` runs all of it at the sizes of
RESULTS.md: sizes 1 M and 10 M, the engine experiments, start-up, memory (80 M), cache
(10 M), the engines (10 M; Spark at 1 M, 10 M, 40 M, and 10 M in 8 CSV and 8 Parquet
files), in that order.

Results go to ``bench/RESULTS.md`` between ``<!-- BEGIN … -->`` markers; the text after
``<!-- END results -->`` (the analysis) is kept as is.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import engines  # noqa: E402
import generate  # noqa: E402
import handwritten  # noqa: E402
import handwritten_ads  # noqa: E402

RESULTS = HERE / "RESULTS.md"
PY = sys.executable
KPI = str(Path(PY).parent / "kpi")
REPORT = "--period 2026 --grain month --compare previous --by channel --as-of 2026-11-30"
RTOL = 1e-6
#: The hand-written versions compared with kpi (``handwritten.py ENGINE``), in this order.
ENGINES = ("polars", "polars-exact", "duckdb", "pandas")
EXACT = "hand-written Polars, exact sums"
#: Environment of every timed process (PYTHONPATH set by --kpi-src). Bytecode is cached as
#: an installed package's is: without it every run would compile kpicli's modules anew.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
#: Runs start once the CPUs are idle; a run disturbed by other processes is repeated.
QUIET = {"wait": 120.0, "threshold": 0.10, "retries": 3, "busy": []}


@dataclass
class Contender:
    name: str
    argv: list[str]
    note: str = ""
    times: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)  # MB
    cpu: list[float] = field(default_factory=list)  # user + system seconds
    stderr: list[str] = field(default_factory=list)
    #: Called before every run (warm-up and repeats included), outside the timing.
    before: Callable[[], None] | None = None

    @property
    def command(self) -> str:
        return " ".join(shlex.quote(_rel(a)) for a in self.argv)


def _rel(arg: str) -> str:
    """Paths shown relative to the repository (the commands run from its root)."""
    if arg == PY:
        return "python"
    for base in (str(ROOT) + "/", str(Path(PY).parent) + "/"):
        if arg.startswith(base):
            return arg[len(base) :] or "."
    return arg


def median(c: Contender) -> float:
    return statistics.median(c.times)


# --- running ------------------------------------------------------------------------------


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:8]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy() -> float:
    """Share of the machine's CPU time used (by anything) over the next 0.3 s."""
    b1, t1 = _cpu_jiffies()
    time.sleep(0.3)
    b2, t2 = _cpu_jiffies()
    return (b2 - b1) / max(1, t2 - t1)


def wait_quiet() -> None:
    """Wait (up to QUIET["wait"] s) until other processes leave the CPUs idle."""
    if not Path("/proc/stat").exists() or QUIET["wait"] <= 0:
        return
    deadline = time.monotonic() + QUIET["wait"]
    while busy() > QUIET["threshold"] and time.monotonic() < deadline:
        time.sleep(1)


@dataclass
class Run:
    wall: float  # s
    rss: float  # MB
    cpu: float  # user + system s of the process (and its children)
    others: float  # share of the machine's CPU used by other processes meanwhile
    stderr: str


#: A process whose RSS passes this (MB) is killed (the memory test must not starve the
#: machine); its run is recorded as killed.
MEMORY_LIMIT = {"mb": 0.0}


#: A tiny process that starts the timed one and reports its wall time, peak RSS and CPU.
#: Linux counts the memory of the process that forks into the child's ``ru_maxrss`` (it is
#: the child's until ``exec``), so the benchmark (which holds Polars frames) must not fork
#: the contenders itself: this launcher, a bare interpreter of ~10 MB, does.
LAUNCHER = """\
import os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
with open(out + ".pid", "w") as f:
    f.write(str(pid))
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(out, "w") as f:
    f.write(f"{wall} {ru.ru_maxrss} {ru.ru_utime + ru.ru_stime}")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def _watch(stats: Path, limit_mb: float, killed: list[float]) -> None:
    """Poll the timed process's RSS; SIGKILL it past ``limit_mb``."""
    pid_file = stats.with_name(stats.name + ".pid")
    while not pid_file.exists() or not pid_file.read_text():
        if stats.exists():
            return
        time.sleep(0.01)
    pid = int(pid_file.read_text())
    status = Path(f"/proc/{pid}/status")
    while True:
        try:
            text = status.read_text()
        except OSError:
            return
        kb = next((int(line.split()[1]) for line in text.splitlines() if "VmRSS" in line), 0)
        if kb / 1024 > limit_mb:
            killed.append(kb / 1024)
            os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.05)


def run_once(argv: list[str], stdout: str = os.devnull) -> Run:
    """One fresh process, timed; exits (status 1) when it fails."""
    wait_quiet()
    proc_stat = Path("/proc/stat").exists()
    killed: list[float] = []
    with (
        open(stdout, "wb") as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory() as tmp,
    ):
        stats = Path(tmp) / "stats"
        j0 = _cpu_jiffies() if proc_stat else (0, 0)
        launcher = [PY, "-S", "-c", LAUNCHER, str(stats), *argv]
        proc = subprocess.Popen(launcher, stdout=out, stderr=err, cwd=ROOT, env=ENV)
        if MEMORY_LIMIT["mb"]:
            args = (stats, MEMORY_LIMIT["mb"], killed)
            threading.Thread(target=_watch, args=args, daemon=True).start()
        _, status, usage = os.wait4(proc.pid, 0)  # usage: the launcher and the timed process
        proc.returncode = os.waitstatus_to_exitcode(status)
        j1 = _cpu_jiffies() if proc_stat else (0, 0)
        err.seek(0)
        text = err.read().decode(errors="replace")
        wall, maxrss_kb, cpu = (float(x) for x in stats.read_text().split())
    if killed:
        return Run(wall, killed[0], cpu, 0.0, "killed")
    if proc.returncode != 0:
        raise SystemExit(f"FAILED ({proc.returncode}): {shlex.join(argv)}\n{text}")
    others = 0.0
    if proc_stat and j1[1] > j0[1]:
        hz = os.sysconf("SC_CLK_TCK")
        busy_s = (j1[0] - j0[0]) / hz
        capacity = (j1[1] - j0[1]) / hz  # wall time x cores, in jiffies
        others = max(0.0, busy_s - usage.ru_utime - usage.ru_stime) / capacity
    return Run(wall, maxrss_kb / 1024, cpu, others, text)  # ru_maxrss: KiB on Linux


def measure(group: list[Contender], runs: int, warmup: int = 1) -> None:
    """Round-robin runs; a run during which other processes used more than
    QUIET["threshold"] of the machine is repeated (up to QUIET["retries"] times, the least
    disturbed one kept). A contender's ``before`` runs before each of its runs, untimed."""
    for round_ in range(warmup + runs):
        for c in group:
            if round_ < warmup:
                if c.before:
                    c.before()
                run_once(c.argv)
                continue
            best = None
            for _ in range(1 + QUIET["retries"]):
                if c.before:
                    c.before()
                r = run_once(c.argv)
                if best is None or r.others < best.others:
                    best = r
                if r.others <= QUIET["threshold"]:
                    break
            c.times.append(best.wall)
            c.rss.append(best.rss)
            c.cpu.append(best.cpu)
            c.stderr.append(best.stderr)
            QUIET["busy"].append(best.others)
        label = "warm-up" if round_ < warmup else f"run {round_ - warmup + 1}/{runs}"
        times = ", ".join(f"{c.name}: {c.times[-1]:.2f}s" for c in group if c.times)
        print(f"  {label} {times}", flush=True)


# --- contenders ---------------------------------------------------------------------------


def kpi_report(data: Path, config: str, compare: bool = True) -> list[str]:
    opts = REPORT if compare else REPORT.replace(" --compare previous", "")
    return [KPI, "report", "-c", str(data / config), *opts.split(), "-f", "jsonl"]


def contenders(data: Path) -> list[Contender]:
    hw = [PY, str(HERE / "handwritten.py")]
    return [
        Contender("kpi, 30 KPIs", kpi_report(data, "kpi_config.yaml"), "(a)"),
        Contender(
            "kpi, 30 KPIs, --engine duckdb",
            [*kpi_report(data, "kpi_config.yaml"), "--engine", "duckdb"],
            "(a') the aggregation step in DuckDB",
        ),
        Contender("hand-written Polars", [*hw, "polars", str(data)], "(b) one lazy query"),
        Contender(
            EXACT,
            [*hw, "polars-exact", str(data)],
            "(b') kpi's exact sums (DECIMAL + remainder, Int128)",
        ),
        Contender("hand-written DuckDB", [*hw, "duckdb", str(data)], "(c) one SQL statement"),
        Contender("hand-written pandas", [*hw, "pandas", str(data)], "(d) read_csv pyarrow"),
        Contender("kpi, 7 KPIs", kpi_report(data, "kpi_config_7.yaml"), "(e) same columns"),
        Contender(
            "kpi, 30 KPIs, no --compare", kpi_report(data, "kpi_config.yaml", compare=False), "(e)"
        ),
    ]


#: The per-user cache of the start-up runs (``XDG_CACHE_HOME``): the bench's own, emptied
#: before each run of the cold variant, never the home of whoever runs the bench.
STARTUP_CACHE = generate.DATA / "xdg-cache"
#: Goals of the start-up section: contender name → at most this multiple of `import polars`.
STARTUP_GOALS = {
    "kpi --help": 0.5,
    "kpi report (warm)": 2.0,
    "kpi list": 1.5,
    "kpi validate": 1.5,
}
IMPORT_POLARS = 'python -c "import polars"'
#: The libraries `kpi report` imports (besides the standard library and kpi itself).
LIBRARIES = "import polars, typer, yaml, pydantic, rich.console, rich.table"
#: Every module `kpi report` on the sample loads, without running anything.
REPORT_MODULES = (
    "import polars, kpicli.cli, kpicli.commands.report, kpicli.execute.engine, "
    "kpicli.render.table, kpicli.usercache"
)


def _empty_startup_cache() -> None:
    shutil.rmtree(STARTUP_CACHE, ignore_errors=True)


def startup_contenders() -> list[Contender]:
    """`import polars` and kpi's commands on the shipped sample, run in the repository root
    (its kpi_config.yaml), with kpi's per-user cache warm (filled by the runs before) and,
    for the report, cold (emptied before each run: every formula parsed, every file
    sniffed, as on a first run or with ``KPI_NO_CACHE=1``)."""
    return [
        Contender(IMPORT_POLARS, [PY, "-c", "import polars"], "the baseline"),
        Contender("kpi --help", [KPI, "--help"]),
        Contender(
            "libraries alone",
            [PY, "-c", LIBRARIES],
            "what `kpi report` imports besides kpi: the floor of its start-up",
        ),
        Contender(
            "kpi's modules, no work",
            [PY, "-c", REPORT_MODULES],
            "the libraries and every kpi module `kpi report` loads; nothing run",
        ),
        Contender(
            "kpi report (cold)",
            [KPI, "report"],
            "per-user cache emptied before each run",
            before=_empty_startup_cache,
        ),
        Contender("kpi report (warm)", [KPI, "report"], "per-user cache filled"),
        Contender("kpi list", [KPI, "list"]),
        Contender("kpi validate", [KPI, "validate"]),
    ]


VARIANT_NOTES = {
    "report": "execute() + render JSONL in one process: the library path of `kpi report`",
    "collect": "only `pl.collect_all` of the plan's frames (rows and totals)",
    "in-memory": "the same, `engine='in-memory'` (kpi uses 'auto': streaming in Polars 2)",
    "rows-only": "the plan's per-channel frames only (what the totals add)",
    "before-7cbd7ce": "most days joined twice (own month, counterpart of the next), "
    "totals grouped again",
    "before-32194b9": "each day joined once, totals grouped again (not rolled up)",
    "rows-exact": "each day once, per-channel group_by only, exact sums",
    "rows-float": "the same with Polars' own Float64/Int64 sums (what exact sums cost)",
    "scan-only": "read, parse and date-filter the columns used (no join, no group_by)",
}


def variant_contenders(data: Path) -> list[Contender]:
    cfg = str(data / "kpi_config.yaml")
    hw = [PY, str(HERE / "handwritten.py")]
    group = [
        Contender("hand-written Polars", [*hw, "polars", str(data)], "one lazy query"),
        Contender(
            EXACT,
            [*hw, "polars-exact", str(data)],
            "the same query with kpi's exact sums (DECIMAL + remainder, Int128)",
        ),
        Contender(
            "hand-written Polars, scan-only",
            [*hw, "polars-scan", str(data)],
            "read, parse and date-filter the same columns",
        ),
    ]
    for v, note in VARIANT_NOTES.items():
        argv = [PY, str(HERE / "variants.py"), v, cfg]
        if v == "report":
            argv.append("--phases")
        group.append(Contender(f"kpi plan: {v}", argv, note))
    return group


# --- agreement check ------------------------------------------------------------------------


def _kpi_long(path: Path):
    import polars as pl

    frame = pl.read_ndjson(path, infer_schema_length=None)
    if "total" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.Boolean).alias("total"))
    return frame.select(
        "kpi",
        pl.col("period_start").alias("month"),
        pl.col("channel").cast(pl.String),
        pl.col("total").fill_null(False).alias("is_total"),
        pl.col("value").cast(pl.Float64),
        pl.col("previous").cast(pl.Float64),
    )


def _handwritten_long(path: Path):
    import polars as pl

    frame = pl.read_csv(path, infer_schema_length=0)  # every column as text
    frame = frame.with_columns(
        pl.col("month").str.slice(0, 10),
        pl.col("is_total").str.to_lowercase() == "true",
    ).with_columns(pl.when(~pl.col("is_total")).then(pl.col("channel")).alias("channel"))
    keys = ["month", "channel", "is_total"]
    kpis = handwritten.KPIS
    value = frame.unpivot(index=keys, on=kpis, variable_name="kpi", value_name="value")
    prev = frame.unpivot(
        index=keys, on=[f"{k}_prev" for k in kpis], variable_name="kpi", value_name="previous"
    ).with_columns(pl.col("kpi").str.strip_suffix("_prev"))
    long = value.join(prev, on=["kpi", *keys], nulls_equal=True)
    return long.with_columns(pl.col("value", "previous").cast(pl.Float64)).select(
        "kpi", *keys, "value", "previous"
    )


def differences(ref, other, rtol: float = RTOL):
    """(rows that disagree, largest relative gap): a missing row, a null, or a relative gap."""
    import polars as pl

    keys = ["kpi", "month", "channel", "is_total"]
    both = ref.join(other, on=keys, how="full", coalesce=True, nulls_equal=True, suffix="_x")
    bad = []
    for col in ("value", "previous"):
        a, b = pl.col(col), pl.col(f"{col}_x")
        a = pl.when(a.is_nan()).then(None).otherwise(a)
        b = pl.when(b.is_nan()).then(None).otherwise(b)
        gap = (a - b).abs() / pl.max_horizontal(a.abs(), b.abs(), pl.lit(1e-300))
        both_null = a.is_null() & b.is_null()
        gap = pl.when(both_null).then(0.0).otherwise(gap.fill_null(math.inf))
        both = both.with_columns(gap.alias(f"gap_{col}"))
        bad.append(pl.col(f"gap_{col}") > rtol)
    worst = both.select(pl.max_horizontal("gap_value", "gap_previous").max()).item()
    return both.filter(pl.any_horizontal(bad)), worst


def check(data: Path) -> dict:
    """Run kpi and the hand-written versions once and compare every value; exit 1 on a gap."""
    import polars as pl

    tmp = data / "check"
    tmp.mkdir(exist_ok=True)
    kpi_out = tmp / "kpi.jsonl"
    run_once(kpi_report(data, "kpi_config.yaml"), str(kpi_out))  # exits if kpi fails
    ref = _kpi_long(kpi_out)
    if ref["kpi"].n_unique() != len(handwritten.KPIS):
        raise SystemExit(f"kpi output has {ref['kpi'].n_unique()} KPIs, not 30")
    summary: dict = {"cells": ref.height * 2, "worst": {}, "sample": {}}
    sample = (pl.col("month") == "2026-10-01") & pl.col("kpi").is_in(["spend", "leads", "cpl"])
    summary["sample"]["kpi"] = ref.filter(sample)
    for engine in ENGINES:
        out = tmp / f"{engine}.csv"
        run_once([PY, str(HERE / "handwritten.py"), engine, str(data), "--out", str(out)])
        other = _handwritten_long(out)
        bad, worst = differences(ref, other)
        summary["worst"][engine] = worst
        summary["sample"][engine] = other.filter(sample)
        if bad.height:
            with pl.Config(tbl_cols=-1, tbl_width_chars=200):
                print(bad.head(20))
            raise SystemExit(
                f"CHECK FAILED: hand-written {engine} differs from kpi in {bad.height} rows "
                f"(relative tolerance {RTOL}); see above, and the outputs in {tmp}"
            )
        print(f"  check: {engine} agrees with kpi on {ref.height} rows (worst gap {worst:.1e})")
    return summary


def _num(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "null"
    if float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:,.2f}" if abs(v) >= 100 else f"{v:.6g}"


def _sample_table(summary: dict) -> str:
    import polars as pl

    ref = summary["sample"]["kpi"].sort("kpi", "is_total", "channel")
    lines = [
        "| KPI | channel | kpi: value / previous | Polars | Polars, exact sums | DuckDB | pandas |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in ref.iter_rows(named=True):
        if row["kpi"] != "cpl" and not row["is_total"] and row["channel"] != "google_ads":
            continue
        cells = []
        for engine in ("kpi", *ENGINES):
            o = summary["sample"][engine].filter(
                (pl.col("kpi") == row["kpi"])
                & (pl.col("is_total") == row["is_total"])
                & pl.col("channel").eq_missing(row["channel"])
            )
            v, p = (o["value"][0], o["previous"][0]) if o.height else (None, None)
            cells.append(f"{_num(v)} / {_num(p)}")
        channel = "**total**" if row["is_total"] else row["channel"]
        lines.append(f"| {row['kpi']} | {channel} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- RESULTS.md -----------------------------------------------------------------------------


def _git(*args: str) -> str:
    """A read-only git query (rev-parse, status)."""
    try:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=ROOT, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def kpi_source(choice: str) -> str:
    """Point the timed processes at a kpicli source tree; describe it for RESULTS.md."""
    head = _git("rev-parse", "--short=12", "HEAD")
    if choice == "installed":
        ENV.pop("PYTHONPATH", None)
        dirty = [line[3:] for line in _git("status", "--porcelain", "kpicli").splitlines() if line]
        state = f"with uncommitted changes in {len(dirty)} paths under kpicli/" if dirty else ""
        return f"the installed kpicli (working tree at {head or '?'} {state})".strip()
    if choice == "head":
        dest = generate.DATA / f"kpicli-{head}"
        if not (dest / "kpicli").exists():
            dest.mkdir(parents=True, exist_ok=True)
            archive = subprocess.run(
                ["git", "archive", "HEAD", "kpicli"], capture_output=True, cwd=ROOT, check=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        path = dest
        what = f"kpicli as committed at {head} (`git archive HEAD kpicli`, on PYTHONPATH)"
    else:
        path = Path(choice).resolve()
        what = f"kpicli from {path} (on PYTHONPATH)"
    ENV["PYTHONPATH"] = str(path)
    return what


def machine(kpi_what: str) -> str:
    import duckdb
    import pandas
    import polars

    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    os_name = platform.platform()
    try:
        release = dict(
            line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if line
        )
        os_name = f"{release['PRETTY_NAME'].strip(chr(34))}, Linux {platform.release()}"
    except (OSError, KeyError, ValueError):
        pass
    version = subprocess.run([KPI, "--version"], capture_output=True, text=True, env=ENV).stdout
    return "\n".join(
        [
            f"- Machine: {cpu}, {os.cpu_count()} cores, {ram:.1f} GiB RAM, {os_name}",
            f"- Python {platform.python_version()}, Polars {polars.__version__}, "
            f"DuckDB {duckdb.__version__}, pandas {pandas.__version__} (pyarrow "
            f"{_version('pyarrow')}), {version.strip() or 'kpi ?'}",
            f"- kpi measured (last run; each section names its own): {kpi_what}",
            f"- Threads: Polars and DuckDB use every core (POLARS_MAX_THREADS="
            f"{os.environ.get('POLARS_MAX_THREADS', 'unset')}); files in the page cache (the "
            "warm-up round reads them); each run starts once the CPUs are idle "
            f"(< {QUIET['threshold']:.0%} busy, waiting up to {QUIET['wait']:.0f} s) and is "
            f"repeated (up to {QUIET['retries']} times) when other processes used more than "
            f"{QUIET['threshold']:.0%} of the machine meanwhile",
            f"- Recorded {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        ]
    )


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return "?"


def _busy_note() -> str:
    b = QUIET["busy"]
    if not b:
        return ""
    return (
        " Share of the machine's CPU used by other processes during the runs kept: median "
        f"{statistics.median(b):.0%}, max {max(b):.0%}."
    )


def size_block(rows: int, data: Path, group: list[Contender], summary: dict | None) -> str:
    ads_mb = (data / "ads.csv").stat().st_size / 1e6
    leads_mb = (data / "leads.csv").stat().st_size / 1e6
    by = {c.name: c for c in group}
    base = by["hand-written Polars"]
    out = [
        f"### {rows:,} ads rows + {rows // 5:,} leads ({ads_mb:,.0f} MB + {leads_mb:,.0f} MB "
        "of CSV)",
        "",
        f"Wall time: median and minimum of {len(base.times)} runs after one warm-up; CPU: "
        "median user + system time; peak RSS: the largest of the runs; ratio: median / median "
        "of the hand-written Polars query." + _busy_note(),
        "",
        "| contender | median s | min s | CPU s | peak RSS MB | ratio to Polars |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in group:
        out.append(
            f"| {c.name} {c.note} | {median(c):.2f} | {min(c.times):.2f} | "
            f"{statistics.median(c.cpu):.2f} | {max(c.rss):,.0f} | "
            f"{median(c) / median(base):.2f}x |"
        )
    k30, k7, duck = by["kpi, 30 KPIs"], by["kpi, 7 KPIs"], by["hand-written DuckDB"]
    goals = [
        ("kpi within 1.15x of hand-written Polars", k30, base, 1.15),
        ("kpi within 1.15x of hand-written Polars with the same exact sums", k30, by[EXACT], 1.15),
        ("kpi no slower than DuckDB", k30, duck, 1.0),
        ("30 KPIs within 1.3x of 7 KPIs over the same columns", k30, k7, 1.3),
    ]
    out += ["", "| goal | measured | result |", "| --- | ---: | --- |"]
    for text, a, b, limit in goals:
        ratio = median(a) / median(b)
        out.append(f"| {text} | {ratio:.2f}x | {'pass' if ratio <= limit else '**FAIL**'} |")
    if summary is not None:
        worst = ", ".join(f"{e} {w:.1e}" for e, w in summary["worst"].items())
        out += [
            "",
            "Agreement, checked before timing: every value and previous value of the 30 KPIs "
            f"per channel and in total for each month ({summary['cells']:,} numbers) equals "
            f"kpi's to {RTOL:g} relative (largest relative gap: {worst}). Some of them, "
            "October 2026 (value / previous month):",
            "",
            _sample_table(summary),
        ]
    return "\n".join(out)


def variants_block(rows: int, group: list[Contender]) -> str:
    by = {c.name: c for c in group}
    base = by["hand-written Polars"]
    ref = by["kpi plan: collect"]
    out = [
        f"{rows:,} ads rows, 30 KPIs (`python bench/variants.py VARIANT "
        f"bench/data/{rows}/kpi_config.yaml`), median of {len(base.times)} runs after one "
        "warm-up, each in a fresh process (interpreter start and imports included)." + _busy_note(),
        "",
        "| variant | what changes | median s | CPU s | peak RSS MB | vs `collect` |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for c in group:
        out.append(
            f"| {c.name} | {c.note} | {median(c):.2f} | {statistics.median(c.cpu):.2f} | "
            f"{max(c.rss):,.0f} | {median(c) / median(ref):.2f}x |"
        )
    phases: dict[str, list[float]] = {}
    for err in by["kpi plan: report"].stderr:
        for line in err.splitlines():
            name, _, value = line.partition("\t")
            if value and name != "result rows":
                phases.setdefault(name, []).append(float(value))
    if phases:
        out += [
            "",
            "Where the time of `kpi plan: report` goes (in-process timers, median of the runs; "
            "the rest of the wall time is interpreter start-up, other imports and exit):",
            "",
            "| phase | median s |",
            "| --- | ---: |",
            *(f"| {k} | {statistics.median(v):.3f} |" for k, v in phases.items()),
        ]
    return "\n".join(out)


def startup_block(group: list[Contender]) -> str:
    """The start-up table (each command against `import polars`, side by side in one run)
    and the goals of issue 16."""
    polars = next(c for c in group if c.name == IMPORT_POLARS)
    base, base_cpu = median(polars), statistics.median(polars.cpu)
    goals = []
    for c in group:
        if c.name in STARTUP_GOALS:
            ratio, limit = median(c) / base, STARTUP_GOALS[c.name]
            cpu = statistics.median(c.cpu) / base_cpu
            verdict = "pass" if ratio <= limit else "**FAIL**"
            goals.append(f"| {c.name} | ≤ {limit:g}x | {ratio:.2f}x | {cpu:.2f}x | {verdict} |")
    busy = _busy_note()
    return "\n".join(
        [
            f"Median of {len(group[0].times)} runs after one warm-up, round-robin, on the shipped "
            "sample (`sample_data/`, 6 files, 3.6 MB) from the repository root; kpi's per-user "
            "cache in a folder of the bench's own (`XDG_CACHE_HOME`): *cold* emptied before each "
            "run (every formula parsed, every file sniffed: a first run, or `KPI_NO_CACHE=1`), "
            "*warm* filled by the runs before." + busy,
            "",
            "| command | what | median s | min s | x import polars | CPU s | peak RSS MB |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
            *(
                f"| `{c.command}` | {c.note if c.argv[0] == PY else c.name} "
                f"| {median(c):.3f} "
                f"| {min(c.times):.3f} | {median(c) / base:.2f} "
                f"| {statistics.median(c.cpu):.3f} | {max(c.rss):,.0f} |"
                for c in group
            ),
            "",
            "| goal (issue 16) | limit | wall time | (CPU time) | |",
            "| --- | ---: | ---: | ---: | --- |",
            *goals,
        ]
    )


def startup_test(runs: int) -> str:
    """The start-up section: :func:`startup_contenders` measured side by side."""
    QUIET["busy"].clear()
    print("start-up", flush=True)
    STARTUP_CACHE.mkdir(parents=True, exist_ok=True)
    before = ENV.get("XDG_CACHE_HOME")
    ENV["XDG_CACHE_HOME"] = str(STARTUP_CACHE)
    ENV.pop("KPI_NO_CACHE", None)
    try:
        group = startup_contenders()
        measure(group, runs)
    finally:
        if before is None:
            ENV.pop("XDG_CACHE_HOME", None)
        else:
            ENV["XDG_CACHE_HOME"] = before
    return startup_block(group)


def commands_block(data: Path) -> str:
    group = contenders(data) + startup_contenders()
    lines = [f"{c.command}   # {c.name}" for c in group]
    text = "\n".join(
        [
            "Run from the repository root; `bench/data/<rows>/` is written by "
            "`python bench/generate.py --rows <rows>` (`bench/run.py` does it when missing).",
            "",
            "```sh",
            *lines,
            "```",
        ]
    )
    return text.replace(str(data.relative_to(ROOT)), "bench/data/<rows>")


def write_results(blocks: dict[str, str]) -> None:
    old = RESULTS.read_text() if RESULTS.exists() else ""
    found = dict(re.findall(r"<!-- BEGIN (\S+) -->\n(.*?)<!-- END \1 -->\n", old, flags=re.S))
    notes = old.partition("<!-- END results -->\n")[2]
    found.update({k: v.rstrip("\n") + "\n" for k, v in blocks.items()})
    sizes = sorted((k for k in found if k.startswith("size-")), key=lambda k: int(k[5:]))
    variants = sorted((k for k in found if k.startswith("variants-")), key=lambda k: int(k[9:]))
    distinct = sorted((k for k in found if k.startswith("distinct-")), key=lambda k: int(k[9:]))
    titles = {
        "machine": "## Machine and versions",
        "commands": "## Commands",
        "startup": "## Start-up",
        "memory": "## Memory on a 5 GB export",
        "cache": "## Report cache: `kpi report … --cache DIR`",
        "anomalies": "## Anomalies: kpi's model against two baselines (`bench/anomalies.py`)",
        "one-source": "## One source at scale: 20 KPIs, `--by` and `--grain` (issue 16)",
        "engines": "## Engines: `--engine polars`, `duckdb` and `spark` (issue 17)",
        "spark-scaling": "## Scaling the Spark plan (issue 17)",
        "spark-split": "### The same plan over many files: one scan task per file",
        "spark-parquet": "### The same files as Parquet: typed columns, nothing to convert",
    }
    if distinct:
        titles[distinct[0]] = "## Distinct counts: memory of `COUNT(DISTINCT …)` (issue 16)"
    if sizes:
        titles[sizes[0]] = f"## Report: `kpi report {REPORT}`"
    if variants:
        titles[variants[0]] = "## Engine experiments: kpi's plan with one change at a time"
    parts = [
        "# Benchmark results\n",
        "Written by `python bench/run.py` (see bench/README.md): the sections between the "
        "markers are regenerated; the notes after `END results` are kept.\n",
    ]
    keys = ["machine", "commands", *sizes, "engines", "spark-scaling", "spark-split"]
    keys += ["spark-parquet"]
    keys += ["startup", "memory"]
    keys += ["cache", "one-source"]
    keys += [*distinct, *variants, "anomalies"]
    for key in keys:
        if key not in found:
            continue
        if key in titles:
            parts.append(titles[key] + "\n")
        parts.append(f"<!-- BEGIN {key} -->\n{found[key]}<!-- END {key} -->\n")
    parts.append("<!-- END results -->\n" + notes)
    RESULTS.write_text("\n".join(parts))


# --- the memory test -------------------------------------------------------------------------


def memory_test(rows: int, runs: int, limit_mb: float) -> str:
    data = generate.generate(rows, leads_rows=0)
    size_gb = (data / "ads.csv").stat().st_size / 1e9
    cfg = str(data / "kpi_config_ads.yaml")
    variants = [PY, str(HERE / "variants.py")]
    group = [
        Contender("kpi report, 3 ads KPIs", kpi_report(data, "kpi_config_ads.yaml")),
        Contender("kpi plan: collect (engine 'auto' = streaming)", [*variants, "collect", cfg]),
        Contender("kpi plan: in-memory engine", [*variants, "in-memory", cfg]),
        Contender("kpi plan: before 7cbd7ce", [*variants, "before-7cbd7ce", cfg]),
        Contender("kpi plan: before 32194b9", [*variants, "before-32194b9", cfg]),
        Contender("kpi plan: scan-only", [*variants, "scan-only", cfg]),
    ]
    print(f"memory test on {data} ({size_gb:.1f} GB)", flush=True)
    MEMORY_LIMIT["mb"] = limit_mb
    measure(group, runs, warmup=0)
    MEMORY_LIMIT["mb"] = 0.0
    out = [
        f"`ads.csv` of {rows:,} rows ({size_gb:.2f} GB), `kpi report -c "
        f"bench/data/{rows}/kpi_config_ads.yaml {REPORT} -f jsonl` (3 ads KPIs: spend, clicks, "
        "cpc), and the same plan collected differently by `bench/variants.py` (see the "
        f"engine experiments). {runs} run(s) each; a process passing {limit_mb:,.0f} MB is "
        "killed (not to starve the machine). Goal: peak RSS under 2 GB." + _busy_note(),
        "",
        "| contender | median s | CPU s | peak RSS MB | under 2 GB |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for c in group:
        killed = "killed" in c.stderr
        ok = max(c.rss) < 2000 and not killed
        rss = f"> {max(c.rss):,.0f} (killed)" if killed else f"{max(c.rss):,.0f}"
        wall = "–" if killed else f"{median(c):.1f}"
        cpu = "–" if killed else f"{statistics.median(c.cpu):.1f}"
        out.append(f"| {c.name} | {wall} | {cpu} | {rss} | {'pass' if ok else '**FAIL**'} |")
    out += ["", "```sh", *(c.command for c in group), "```"]
    return "\n".join(out)


# --- the cache test --------------------------------------------------------------------------


def _entries(folder: Path) -> dict[str, int]:
    """The cache entries in ``folder`` (name: bytes); hidden temporary files left out."""
    if not folder.is_dir():
        return {}
    return {p.name: p.stat().st_size for p in folder.iterdir() if not p.name.startswith(".")}


def _empty(folder: Path) -> None:
    """An empty cache folder (what ``kpi cache clear --cache DIR`` leaves, and strays too)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


def cache_test(rows: int, runs: int) -> tuple[str, dict]:
    """The report without cache (a), filling an empty cache (b), hitting a filled one (c),
    and one hit after an input's modification time changed (d). Exits 1 when a cached
    report's JSONL differs from the uncached one, byte for byte."""
    data = generate.generate(rows)
    print(f"cache test on {data}", flush=True)
    plain = kpi_report(data, "kpi_config.yaml")
    fill_dir, hit_dir = data / "cache-fill", data / "cache"  # bench/data/ is git-ignored
    touched = data / "ads.csv"

    # Identity first: an uncached report, a fill and a hit of the cache that (c) then uses.
    tmp = data / "check"
    tmp.mkdir(exist_ok=True)
    _empty(hit_dir)
    outs: dict[str, Path] = {}
    filled: dict[str, int] = {}
    for name, argv in [
        ("uncached", plain),
        ("fill", [*plain, "--cache", str(hit_dir)]),
        ("hit", [*plain, "--cache", str(hit_dir)]),
    ]:
        outs[name] = tmp / f"kpi-{name}.jsonl"
        run_once(argv, str(outs[name]))  # exits if kpi fails
        if name == "fill":
            filled = _entries(hit_dir)
    if not filled:
        raise SystemExit(f"CACHE CHECK FAILED: `--cache {hit_dir}` wrote no cache entry")
    if _entries(hit_dir) != filled:
        raise SystemExit(
            f"CACHE CHECK FAILED: the second `--cache {hit_dir}` run wrote new entries "
            f"(not a hit): {sorted(set(_entries(hit_dir)) - set(filled))}"
        )
    reference = outs["uncached"].read_bytes()
    for name in ("fill", "hit"):
        if outs[name].read_bytes() != reference:
            raise SystemExit(
                f"CACHE CHECK FAILED: the JSONL of the cache {name} differs from the uncached "
                f"report's: diff {outs['uncached']} {outs[name]}"
            )
    print(f"  check: fill and hit JSONL byte-identical to the uncached ({len(reference):,} B)")

    argv_fill = [*plain, "--cache", str(fill_dir)]
    argv_hit = [*plain, "--cache", str(hit_dir)]
    group = [
        Contender("kpi report, no cache", plain, "(a)"),
        Contender(
            "kpi report --cache, empty (fill)", argv_fill, "(b)", before=lambda: _empty(fill_dir)
        ),
        Contender("kpi report --cache, filled (hit)", argv_hit, "(c)"),
    ]
    measure(group, runs)
    if not _entries(fill_dir):
        raise SystemExit(f"CACHE CHECK FAILED: the fill runs left no entry in {fill_dir}")

    # (d): a new modification time for ads.csv (a new one before each run, repeats
    # included, so every run finds its entry stale); the original is put back afterwards.
    st = touched.stat()
    bump = itertools.count(1)

    def touch() -> None:
        os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + next(bump) * 1_000_000_000))

    stale = Contender(f"kpi report --cache, after os.utime({touched.name})", argv_hit, "(d)")
    stale.before = touch
    entries_before = _entries(hit_dir)
    try:
        measure([stale], 1, warmup=0)
    finally:
        os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns))
    new_entries = sorted(set(_entries(hit_dir)) - set(entries_before))
    group.append(stale)

    a, b, c, d = group
    speedup = median(a) / median(c)
    invalidated = bool(new_entries)
    if not invalidated:
        print(f"WARNING: the run after os.utime({touched}) wrote no new cache entry", flush=True)
    ads_mb = touched.stat().st_size / 1e6
    leads_mb = (data / "leads.csv").stat().st_size / 1e6
    cache_mb = sum(filled.values()) / 1e6
    out = [
        f"{rows:,} ads rows + {rows // 5:,} leads ({ads_mb:,.0f} MB + {leads_mb:,.0f} MB of "
        f"CSV), the report of the contenders (`kpi report -c bench/data/{rows}/kpi_config.yaml "
        f"{REPORT} -f jsonl`, 30 KPIs) without and with kpi's Parquet cache of parsed sources "
        "(`--cache DIR`), each run a fresh process. (a), (b), (c): median of "
        f"{len(a.times)} runs after one warm-up, round-robin; (b)'s cache folder is emptied "
        "before every run (untimed), so each one parses the CSVs and writes the cache; (c) "
        "reads the cache a first run filled; (d): one run of (c)'s command after `os.utime` "
        f"gave `{touched.name}` a new modification time (its entry is stale: kpi must parse "
        f"it again; `leads.csv`'s entry is still hit). Cache: {len(filled)} entries, "
        f"{cache_mb:,.0f} MB." + _busy_note(),
        "",
        "| contender | median s | CPU s | peak RSS MB | ratio to (a) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for x in group:
        out.append(
            f"| {x.name} {x.note} | {median(x):.2f} | {statistics.median(x.cpu):.2f} | "
            f"{max(x.rss):,.0f} | {median(x) / median(a):.2f}x |"
        )
    verdict = "pass" if speedup >= 5 else "**FAIL**"
    stale_verdict = "pass" if invalidated else "**FAIL**"
    out += [
        "",
        "Goal: repeated report with a filled cache at least 5x faster than without: measured "
        f"{speedup:.1f}x: {verdict}.",
        "",
        f"Invalidation: after the touch of `{touched.name}`, (d) wrote "
        f"{len(new_entries)} new cache entr{'y' if len(new_entries) == 1 else 'ies'} and took "
        f"{median(d) / median(b):.2f}x the fill (b): {stale_verdict}.",
        "",
        "Checked before timing: the JSONL of a fill and of a hit are byte-identical to the "
        f"uncached report's ({len(reference):,} bytes).",
        "",
        "```sh",
        f"{a.command}   # (a)",
        f"rm -rf {_rel(str(fill_dir))} && mkdir {_rel(str(fill_dir))}   # before every run "
        "of (b), untimed (as `kpi cache clear --cache DIR`)",
        f"{b.command}   # (b)",
        f"{c.command}   # (c), after a first run filled the cache",
        f"touch {_rel(str(touched))}   # before (d): run.py sets a new mtime with os.utime "
        "(and puts the original back afterwards)",
        f"{d.command}   # (d)",
        "```",
    ]
    raw = {x.name: {"argv": x.argv, "s": x.times, "rss_mb": x.rss, "cpu_s": x.cpu} for x in group}
    return "\n".join(out), raw


# --- issue 16: one source at scale, distinct counts ------------------------------------------


def ads_report(data: Path, config: str, *cache: str) -> list[str]:
    """``kpi report`` of an ads-only config (``handwritten_ads.REPORT``), JSONL."""
    opts = handwritten_ads.REPORT.split()
    return [KPI, "report", "-c", str(data / config), *opts, "-f", "jsonl", *cache]


def _ads_long(path: Path):
    import polars as pl

    frame = pl.read_csv(path, infer_schema_length=0)
    return frame.select(
        "kpi",
        pl.col("month").str.slice(0, 10),
        pl.when(pl.col("is_total").str.to_lowercase() != "true").then(pl.col("channel")),
        pl.col("is_total").str.to_lowercase() == "true",
        pl.col("value").cast(pl.Float64),
        pl.lit(None, pl.Float64).alias("previous"),
    )


def ads_check(data: Path, config: str, engines: list[str], kpis: list[str]) -> str:
    """kpi's JSONL against each hand-written version of ``handwritten_ads.py``, every value
    to RTOL; exits 1 on a gap. Returns a sentence for RESULTS.md."""
    import polars as pl

    tmp = data / "check"
    tmp.mkdir(exist_ok=True)
    kpi_out = tmp / f"kpi-{Path(config).stem}.jsonl"
    run_once(ads_report(data, config), str(kpi_out))
    ref = _kpi_long(kpi_out)
    if sorted(ref["kpi"].unique()) != sorted(kpis):
        raise SystemExit(f"CHECK FAILED: kpi's {config} report has KPIs {ref['kpi'].unique()}")
    worst = {}
    for engine in engines:
        out = tmp / f"{engine}.csv"
        run_once([PY, str(HERE / "handwritten_ads.py"), engine, str(data), "--out", str(out)])
        bad, worst[engine] = differences(ref, _ads_long(out))
        if bad.height:
            with pl.Config(tbl_cols=-1, tbl_width_chars=200):
                print(bad.head(20))
            raise SystemExit(
                f"CHECK FAILED: {engine} differs from kpi ({config}) in {bad.height} rows; "
                f"outputs in {tmp}"
            )
        print(f"  check: {engine} agrees with kpi on {ref.height} values ({worst[engine]:.1e})")
    gaps = ", ".join(f"{e} {w:.1e}" for e, w in worst.items())
    return (
        f"Agreement, checked before timing: every value of the {len(kpis)} KPIs per channel "
        f"and in total for each month ({ref.height:,} numbers) equals kpi's to {RTOL:g} "
        f"relative (largest relative gap: {gaps})."
    )


def one_source_test(rows: int, runs: int, check_values: bool = True) -> tuple[str, dict]:
    """Issue 16, goals 3 and 4: 20 KPIs of one source with --by and --grain, kpi against
    the same report written by hand in Polars (plain, and with kpi's exact sums) and
    DuckDB, and the same kpi report with a filled --cache (a hit) and filling it."""
    data = generate.generate(rows, leads_rows=0)
    config = "kpi_config_20.yaml"
    print(f"one source, 20 KPIs: {data}", flush=True)
    agreement = ""
    if check_values:
        engines = ["polars-20", "polars-20-exact", "duckdb-20"]
        agreement = ads_check(data, config, engines, handwritten_ads.KPIS_20)
    plain = ads_report(data, config)
    fill_dir, hit_dir = data / "cache-20-fill", data / "cache-20"
    _empty(hit_dir)
    tmp = data / "check"
    tmp.mkdir(exist_ok=True)
    outs = {}
    for name, argv in [("uncached", plain), ("fill", [*plain, "--cache", str(hit_dir)])]:
        outs[name] = tmp / f"kpi-20-{name}.jsonl"
        run_once(argv, str(outs[name]))
    filled = _entries(hit_dir)
    outs["hit"] = tmp / "kpi-20-hit.jsonl"
    run_once([*plain, "--cache", str(hit_dir)], str(outs["hit"]))
    if not filled or _entries(hit_dir) != filled:
        raise SystemExit(f"CACHE CHECK FAILED: {hit_dir} not filled once, then hit")
    for name in ("fill", "hit"):
        if outs[name].read_bytes() != outs["uncached"].read_bytes():
            raise SystemExit(f"CACHE CHECK FAILED: the {name}'s JSONL differs from the uncached")
    hw = [PY, str(HERE / "handwritten_ads.py")]
    group = [
        Contender("kpi, 20 KPIs", plain, "(a)"),
        Contender("hand-written Polars", [*hw, "polars-20", str(data)], "(b) one lazy query"),
        Contender(EXACT, [*hw, "polars-20-exact", str(data)], "(b') kpi's exact sums"),
        Contender("hand-written DuckDB", [*hw, "duckdb-20", str(data)], "(c) one SQL statement"),
        Contender("kpi, 20 KPIs, --cache filled (hit)", [*plain, "--cache", str(hit_dir)], "(d)"),
        Contender(
            "kpi, 20 KPIs, --cache empty (fill)",
            [*plain, "--cache", str(fill_dir)],
            "(e)",
            before=lambda: _empty(fill_dir),
        ),
    ]
    measure(group, runs)
    a, b, b2, c, d, _ = group
    mb = (data / "ads.csv").stat().st_size / 1e6
    out = [
        f"`ads.csv` of {rows:,} rows ({mb:,.0f} MB), `kpi report -c "
        f"bench/data/{rows}/{config} {handwritten_ads.REPORT} -f jsonl` (20 KPIs of one "
        "source: 12 aggregates, 8 ratios; 11 months × 6 channels + totals), against the same "
        "report written by hand (`bench/handwritten_ads.py`), and with kpi's Parquet cache. "
        f"Median of {len(a.times)} runs after one warm-up, round-robin, each a fresh "
        "process; (e)'s cache folder is emptied before each run (untimed)." + _busy_note(),
        "",
        "| contender | median s | min s | CPU s | peak RSS MB | ratio to (a) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for x in group:
        out.append(
            f"| {x.name} {x.note} | {median(x):.2f} | {min(x.times):.2f} | "
            f"{statistics.median(x.cpu):.2f} | {max(x.rss):,.0f} | {median(x) / median(a):.2f}x |"
        )
    goals = [
        ("kpi within 1.15x of hand-written Polars", median(a) / median(b), 1.15, "<="),
        ("kpi within 1.15x of Polars with the same exact sums", median(a) / median(b2), 1.15, "<="),
        ("kpi no slower than DuckDB", median(a) / median(c), 1.0, "<="),
        ("a cached repeat at least 5x faster than uncached", median(a) / median(d), 5.0, ">="),
    ]
    cpu = {x.name: statistics.median(x.cpu) for x in group}
    cpus = [cpu[a.name] / cpu[y.name] for y in (b, b2, c)] + [cpu[a.name] / cpu[d.name]]
    out += [
        "",
        "| goal (issue 16) | measured | result | CPU time ratio |",
        "| --- | ---: | --- | ---: |",
    ]
    for (text, ratio, limit, op), cpu_ratio in zip(goals, cpus, strict=True):
        ok = ratio <= limit if op == "<=" else ratio >= limit
        out.append(f"| {text} | {ratio:.2f}x | {'pass' if ok else '**FAIL**'} | {cpu_ratio:.2f}x |")
    out += [
        "",
        "The goals are on wall time; the CPU time ratio (user + system, medians) is less "
        "sensitive to other load, and shows what each costs when the cores are shared.",
    ]
    if agreement:
        out += ["", agreement]
    out += [
        "",
        "The fill and the hit give the uncached report's JSONL byte for byte (checked first).",
        "",
        "```sh",
        *(x.command for x in group),
        "```",
    ]
    raw = {x.name: {"argv": x.argv, "s": x.times, "rss_mb": x.rss, "cpu_s": x.cpu} for x in group}
    return "\n".join(out), raw


def distinct_test(rows: int, runs: int, limit_mb: float, check_values: bool = True) -> str:
    """Issue 16, goal 5: peak RSS of a report with COUNT(DISTINCT campaign) per channel and
    month against the hand-written streaming Polars query and DuckDB (and kpi with sums
    only, the same scan): at 40 M rows, and on the 5 GB export (80 M)."""
    data = generate.generate(rows, leads_rows=0)
    size_gb = (data / "ads.csv").stat().st_size / 1e9
    print(f"distinct counts: {data} ({size_gb:.1f} GB)", flush=True)
    agreement = ""
    if check_values:
        engines = ["polars-distinct", "duckdb-distinct"]
        agreement = ads_check(
            data, "kpi_config_distinct.yaml", engines, handwritten_ads.KPIS_DISTINCT
        )
    hw = [PY, str(HERE / "handwritten_ads.py")]
    group = [
        Contender(
            "kpi, COUNT(DISTINCT campaign) + 2 SUMs",
            ads_report(data, "kpi_config_distinct.yaml"),
            "(a)",
        ),
        Contender(
            "hand-written Polars, streaming",
            [*hw, "polars-distinct", str(data)],
            "(b) `collect(engine='streaming')` of rows and totals",
        ),
        Contender("hand-written DuckDB", [*hw, "duckdb-distinct", str(data)], "(c)"),
        Contender("kpi, SUMs only", ads_report(data, "kpi_config_ads.yaml"), "(d) 3 KPIs"),
    ]
    MEMORY_LIMIT["mb"] = limit_mb
    measure(group, runs, warmup=0)
    MEMORY_LIMIT["mb"] = 0.0
    a, b = group[0], group[1]
    out = [
        f"`ads.csv` of {rows:,} rows ({size_gb:.2f} GB, sorted by date), `kpi report -c "
        f"bench/data/{rows}/kpi_config_distinct.yaml {handwritten_ads.REPORT} -f jsonl` "
        "(spend, clicks, COUNT(DISTINCT campaign), two ratios) against the same report "
        f"written by hand (`bench/handwritten_ads.py`). {runs} run(s) each, no warm-up; a "
        f"process passing {limit_mb:,.0f} MB is killed." + _busy_note(),
        "",
        "| contender | median s | CPU s | peak RSS MB | RSS ratio to (b) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for x in group:
        killed = "killed" in x.stderr
        rss = f"> {max(x.rss):,.0f} (killed)" if killed else f"{max(x.rss):,.0f}"
        wall = "–" if killed else f"{median(x):.1f}"
        cpu = "–" if killed else f"{statistics.median(x.cpu):.1f}"
        out.append(
            f"| {x.name} {x.note} | {wall} | {cpu} | {rss} | {max(x.rss) / max(b.rss):.2f}x |"
        )
    ratio = max(a.rss) / max(b.rss)
    verdict = "pass" if ratio <= 1.25 and "killed" not in a.stderr else "**FAIL**"
    out += [
        "",
        f"Goal (issue 16): peak RSS of (a) within 1.25x of the streaming Polars query's: "
        f"{ratio:.2f}x, {verdict}.",
    ]
    if agreement:
        out += ["", agreement]
    out += ["", "```sh", *(x.command for x in group), "```"]
    return "\n".join(out)


# --- one command for all of RESULTS.md -------------------------------------------------------

#: What ``--all`` runs (ads rows), scaled by the hidden ``--scale`` for a quick dry run.
ALL = {
    "rows": [1_000_000, 10_000_000],
    "memory": 80_000_000,
    "cache": 10_000_000,
    "one_source": 5_000_000,
    "distinct": [40_000_000, 80_000_000],
    "engines": 10_000_000,
    "spark_scaling": [1_000_000, 10_000_000, 40_000_000],
    "spark_split": (10_000_000, 8),
    "spark_parquet": (10_000_000, 8),
}

#: Rough seconds of one round of each part (every contender once, plus the ~0.35 s each run
#: spends checking for idle CPUs and starting), as (fixed, per million ads rows), fitted to
#: the figures of RESULTS.md on a 2-core machine (plus, for "hand-written Polars, exact
#: sums", the plain query's figures). Only for the estimate printed at the start.
ROUND_S = {
    "size": (5.0, 2.05),
    "check": (4.0, 1.6),
    "variants": (10.5, 2.4),
    "startup": (5.0, 0.0),  # six commands, ~2.7 s of them
    "memory": (4.5, 0.87),
    "cache": (3.0, 0.65),
    "generate": (0.5, 0.5),  # writing ads.csv + leads.csv when missing
    "one_source": (4.0, 1.9),  # 6 contenders
    "distinct": (2.0, 1.0),  # 4 contenders, one run each
    "engines": (20.0, 9.0),  # --engine polars, duckdb, spark once each (Spark ~80 %)
}


def estimate(args: argparse.Namespace) -> str:
    """A rough duration of the run asked for, on a quiet 2-core machine."""

    def cost(part: str, rows: int, rounds: int = 1) -> float:
        fixed, per_mrow = ROUND_S[part]
        return rounds * (fixed + per_mrow * rows / 1e6)

    rounds = args.runs + 1
    parts: dict[str, float] = {}
    if args.rows:
        check = 0 if args.no_check else 1
        parts["sizes"] = sum(cost("size", r, rounds) + check * cost("check", r) for r in args.rows)
    if args.variants:
        parts["engine experiments"] = sum(cost("variants", r, rounds) for r in args.rows)
    if args.rows or args.startup:
        parts["start-up"] = cost("startup", 0, max(args.runs, 10) + 1)
    if args.memory:
        parts["memory"] = cost("memory", args.memory, args.memory_runs)
    if args.cache_test:
        parts["cache"] = cost("cache", args.cache_test, rounds + 1)  # + the identity check
    if args.one_source:
        parts["one source"] = cost("one_source", args.one_source, rounds + 1)
    if args.distinct:
        parts["distinct"] = sum(cost("distinct", r, args.memory_runs + 1) for r in args.distinct)
    if args.engines:
        parts["engines"] = cost("engines", ALL["engines"], max(min(args.runs, 3), 2) + 1)
    if args.spark_scaling or args.spark_split or args.spark_parquet:
        sizes = [*args.spark_scaling, *(args.spark_split or [])[:1]]
        sizes += (args.spark_parquet or [])[:1]
        parts["spark scaling"] = sum(cost("engines", r, args.scaling_runs) for r in sizes)
    missing = {r for r in [*args.rows, args.cache_test] if r}
    missing = {r for r in missing if not (generate.data_dir(r) / "leads.csv").exists()}
    gen = sum(cost("generate", r) for r in missing)
    ads_only = {r for r in [args.memory, args.one_source, *args.distinct] if r}
    for r in ads_only - missing:
        if not (generate.data_dir(r) / "ads.csv").exists():
            gen += 0.85 * cost("generate", r)  # ads.csv only
    if gen:
        parts["generating missing data"] = gen
    total = sum(parts.values())
    detail = ", ".join(f"{k} {v / 60:.1f}" for k, v in parts.items())
    return (
        f"estimated duration: ~{total / 60:.{0 if total >= 600 else 1}f} min on a quiet "
        f"2-core machine ({detail} min); "
        f"each run waits up to {QUIET['wait']:.0f} s (--quiet-wait) while other processes "
        "keep the CPUs busy, so a busy machine takes longer"
    )


def _save_raw(data: Path, raw: dict, merge: bool = False) -> None:
    path = data / "timings.json"
    if merge and path.exists():
        raw = json.loads(path.read_text()) | raw
    path.write_text(json.dumps(raw, indent=1))


def main(argv: list[str] | None = None) -> int:
    global RESULTS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--all",
        action="store_true",
        help="every section of RESULTS.md: --rows 1000000 10000000 --variants, start-up, "
        "--memory 80000000, --cache-test 10000000, --engines, --spark-scaling, --spark-split",
    )
    ap.add_argument("--rows", type=int, nargs="*", default=[], help="ads rows, e.g. 1000000")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per contender (default 5)")
    ap.add_argument("--variants", action="store_true", help="also time the engine experiments")
    ap.add_argument("--memory", type=int, help="memory test on an ads export of this many rows")
    ap.add_argument("--memory-runs", type=int, default=1)
    ap.add_argument(
        "--memory-limit", type=float, default=12000, help="kill a process past this RSS (MB)"
    )
    ap.add_argument(
        "--cache-test",
        type=int,
        metavar="ROWS",
        help="time the report without, filling and hitting kpi's --cache on ROWS ads rows",
    )
    ap.add_argument(
        "--one-source",
        type=int,
        metavar="ROWS",
        help="20 KPIs of one source (kpi, hand-written Polars and DuckDB, --cache) on ROWS rows",
    )
    ap.add_argument(
        "--distinct",
        type=int,
        nargs="*",
        default=[],
        metavar="ROWS",
        help="peak memory of COUNT(DISTINCT …) against hand-written streaming Polars",
    )
    ap.add_argument(
        "--startup",
        action="store_true",
        help="time start-up: kpi --help, report (cold and warm cache), list, validate on the "
        "shipped sample against import polars (also part of --rows and --all)",
    )
    ap.add_argument(
        "--engines",
        action="store_true",
        help="the 10M report on --engine polars, duckdb and spark (local[2]), side by side",
    )
    ap.add_argument("--spark-runs", type=int, default=2, help="timed Spark runs (--engines)")
    ap.add_argument(
        "--spark-scaling",
        type=int,
        nargs="*",
        default=[],
        metavar="ROWS",
        help="the Spark plan's work (event log) and the three engines at these sizes",
    )
    ap.add_argument(
        "--spark-split",
        type=int,
        nargs=2,
        metavar=("ROWS", "FILES"),
        help="the --spark-scaling report over ROWS ads rows cut into FILES files",
    )
    ap.add_argument(
        "--spark-parquet",
        type=int,
        nargs=2,
        metavar=("ROWS", "FILES"),
        help="the --spark-split report over the same files written as Parquet",
    )
    ap.add_argument("--scaling-runs", type=int, default=1, help="runs per size (--spark-scaling)")
    ap.add_argument("--no-check", action="store_true", help="skip the agreement check")
    ap.add_argument(
        "--kpi-src",
        default="installed",
        help="kpicli to measure: installed (default), head (a `git archive` of HEAD), or a path",
    )
    ap.add_argument("--quiet-wait", type=float, default=120, help="max s to wait for idle CPUs")
    # A dry run of --all at a fraction of its sizes (0.01: 10k/100k rows, 800k for memory),
    # written to bench/data/RESULTS-scaled.md, never to RESULTS.md.
    ap.add_argument("--scale", type=float, default=1.0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.all:
        if args.rows or args.variants or args.memory or args.cache_test or args.one_source:
            ap.error("--all runs every part: no --rows, --variants, --memory or --cache-test")
        rows, memory, cache, one, distinct = (
            [max(1000, round(r * args.scale)) for r in rs]
            for rs in (
                ALL["rows"],
                [ALL["memory"]],
                [ALL["cache"]],
                [ALL["one_source"]],
                ALL["distinct"],
            )
        )
        args.rows, args.variants, args.memory, args.cache_test = rows, True, *memory, *cache
        args.one_source, args.distinct = one[0], distinct
        args.engines, args.spark_split = True, [ALL["spark_split"][0], ALL["spark_split"][1]]
        args.spark_split[0] = max(1000, round(args.spark_split[0] * args.scale))
        args.spark_parquet = [args.spark_split[0], ALL["spark_parquet"][1]]
        args.spark_scaling = [max(1000, round(r * args.scale)) for r in ALL["spark_scaling"]]
    elif args.scale != 1.0:
        ap.error("--scale goes with --all")
    wanted = (args.rows, args.memory, args.cache_test, args.one_source, args.distinct, args.startup)
    sparks = (args.engines, args.spark_scaling, args.spark_split, args.spark_parquet)
    if not any(wanted) and not any(sparks):
        ap.error(
            "give --all, or --rows, --startup, --memory, --cache-test, --one-source, "
            "--distinct, --engines and/or --spark-scaling"
        )
    if args.variants and not args.rows:
        ap.error("--variants times the engine experiments at each --rows size")
    QUIET["wait"] = args.quiet_wait
    if args.scale != 1.0:
        RESULTS = generate.DATA / "RESULTS-scaled.md"
        generate.DATA.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(HERE / "RESULTS.md", RESULTS)
    print(estimate(args), flush=True)
    t0 = time.monotonic()

    blocks: dict[str, str] = {}
    what = kpi_source(args.kpi_src)
    blocks["machine"] = machine(what)
    measured = f"kpi measured: {what}.\n\n"
    for rows in args.rows:
        data = generate.generate(rows)
        print(f"{rows:,} rows: {data}", flush=True)
        summary = None if args.no_check else check(data)
        QUIET["busy"].clear()
        group = contenders(data)
        measure(group, args.runs)
        blocks[f"size-{rows}"] = measured + size_block(rows, data, group, summary)
        blocks["commands"] = commands_block(data)
        raw = {
            c.name: {"argv": c.argv, "s": c.times, "rss_mb": c.rss, "cpu_s": c.cpu} for c in group
        }
        _save_raw(data, raw)
        write_results(blocks)  # after each part, so a long run leaves what it measured
    if args.variants:
        for rows in args.rows:
            data = generate.data_dir(rows)
            QUIET["busy"].clear()
            print(f"engine experiments, {rows:,} rows", flush=True)
            vgroup = variant_contenders(data)
            measure(vgroup, args.runs)
            blocks[f"variants-{rows}"] = measured + variants_block(rows, vgroup)
            raw = {c.name: {"s": c.times, "rss_mb": c.rss, "cpu_s": c.cpu} for c in vgroup}
            _save_raw(data, raw, merge=True)
            write_results(blocks)
    if args.rows or args.startup:
        blocks["startup"] = measured + startup_test(max(args.runs, 10))
        write_results(blocks)
    if args.memory:
        QUIET["busy"].clear()
        memory = memory_test(args.memory, args.memory_runs, args.memory_limit)
        blocks["memory"] = measured + memory
        write_results(blocks)
    if args.cache_test:
        QUIET["busy"].clear()
        text, raw = cache_test(args.cache_test, args.runs)
        blocks["cache"] = measured + text
        (generate.data_dir(args.cache_test) / "cache-timings.json").write_text(
            json.dumps(raw, indent=1)
        )
        write_results(blocks)
    if args.one_source:
        QUIET["busy"].clear()
        text, raw = one_source_test(args.one_source, args.runs, not args.no_check)
        blocks["one-source"] = measured + text
        (generate.data_dir(args.one_source) / "one-source-timings.json").write_text(
            json.dumps(raw, indent=1)
        )
        write_results(blocks)
    for rows in args.distinct:
        QUIET["busy"].clear()
        text = distinct_test(rows, args.memory_runs, args.memory_limit, not args.no_check)
        blocks[f"distinct-{rows}"] = measured + text
        write_results(blocks)
    if args.engines:
        QUIET["busy"].clear()
        rows = max(1000, round(ALL["engines"] * args.scale))
        generate.generate(rows)
        blocks["engines"] = measured + engines.engines_test(
            sys.modules[__name__], rows, min(args.runs, 3), args.spark_runs
        )
        write_results(blocks)
    if args.spark_scaling:
        QUIET["busy"].clear()
        text, raw = engines.scaling_test(
            sys.modules[__name__], args.spark_scaling, args.scaling_runs
        )
        blocks["spark-scaling"] = measured + text
        (generate.DATA / "spark-scaling.json").write_text(json.dumps(raw, indent=1))
        write_results(blocks)
    if args.spark_split:
        QUIET["busy"].clear()
        rows, files = args.spark_split
        text = engines.split_test(sys.modules[__name__], rows, files, args.scaling_runs)
        blocks["spark-split"] = measured + text
        write_results(blocks)
    if args.spark_parquet:
        QUIET["busy"].clear()
        rows, files = args.spark_parquet
        text = engines.split_test(
            sys.modules[__name__], rows, files, args.scaling_runs, parquet=True
        )
        blocks["spark-parquet"] = measured + text
        write_results(blocks)
    write_results(blocks)
    print(f"wrote {RESULTS} in {(time.monotonic() - t0) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
