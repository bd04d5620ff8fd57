"""Hostile tests of the outputs (issue 11): what a report, a cron job or a stranger's data can
do to what kpi writes. Every command's stdout on a full disk or a closed pipe; -o into folders
that do not exist, onto `-`, onto the config or a source file (through links); `kpi init`
through links and into impossible places; Excel's row limit; --fail-on's reasons; the `total`
column; --wide with everything; bad choice values; markdown injection from data; a million
groups (here: a few hundred, with the table's cap lowered nowhere: TABLE_ROWS is 100).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kpicli.cli import app
from kpicli.execute.result import KpiInfo, Result
from kpicli.render import xlsx as xlsx_module
from kpicli.render.formats import md_escape, to_csv, to_json, to_jsonl, to_markdown
from kpicli.render.layout import TABLE_ROWS

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "kpi_config.yaml")
AS_OF = "2026-11-30"
runner = CliRunner()


def kpi(*args: str) -> Any:
    return runner.invoke(app, list(args))


def run(*args: str, cwd: Path | None = None, stdout: Any = None) -> subprocess.CompletedProcess:
    """`kpi ARGS` in a process of its own (real file descriptors: /dev/full, pipes)."""
    return subprocess.run(
        [sys.executable, "-m", "kpicli", *args],
        cwd=cwd or ROOT,
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def many_campaigns(tmp_path: Path, campaigns: int, *, empty_every: int = 0) -> Path:
    """A source with ``campaigns`` distinct campaigns (every ``empty_every``-th one empty),
    two days each, and a config with a summed KPI (a target on it) and a ratio."""
    n = campaigns * 2
    frame = pl.DataFrame({"i": pl.int_range(0, n, eager=True)}).select(
        day=pl.when(pl.col("i") % 2 == 0)
        .then(pl.lit("2026-10-01"))
        .otherwise(pl.lit("2026-10-02")),
        campaign=pl.format("c{}", pl.col("i") // 2),
        clicks=(pl.col("i") * 7) % 13 + 1,
        spend=((pl.col("i") * 31) % 1000) / 10,
    )
    if empty_every:
        frame = frame.with_columns(
            campaign=pl.when((pl.col("clicks") % empty_every) == 0)
            .then(pl.lit(""))
            .otherwise(pl.col("campaign"))
        )
    frame.write_csv(tmp_path / "ads.csv")
    (tmp_path / "kpi_config.yaml").write_text(
        "version: 1\nsources:\n  ads: {path: ads.csv, date: day}\n"
        "kpis:\n"
        "  clicks: {source: ads, formula: SUM(clicks), unit: integer,\n"
        "           target: {value: 25, by: campaign}}\n"
        "  cpc: {formula: spend / clicks_all, unit: currency, better: lower}\n"
        "  spend: {source: ads, formula: SUM(spend), unit: currency, hidden: true}\n"
        "  clicks_all: {source: ads, formula: SUM(clicks), hidden: true}\n"
    )
    return tmp_path / "kpi_config.yaml"


# ----------------------------------------------------------------- stdout: full disk, pipe

needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")


@pytest.mark.slow
@needs_dev_full
@pytest.mark.parametrize(
    "args",
    [
        ["report", "--as-of", AS_OF],
        ["report", "--as-of", AS_OF, "-f", "csv", "--by", "channel"],
        ["list"],
        ["schema"],
        ["sources"],
        ["validate"],
        ["explain", "cpl", "--as-of", AS_OF],
        ["clean", "sample_data/email_campaigns.csv", "-q"],
        ["--help"],  # printed by Click, outside the commands: exit 1 with a traceback before
        ["--version"],
        ["report", "--help"],
        ["cache", "clear", "--help"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_stdout_on_a_full_disk_is_exit_4(args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        done = run(*args, stdout=full)
    assert done.returncode == 4, done.stderr
    assert done.stderr.startswith("output error: stdout: no space left on device\n")
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "code"),
    [(["report", "--as-of", AS_OF], 4), (["list"], 4), (["report", "-o", "{tmp}/r.csv"], 0)],
    ids=["report", "list", "report -o"],
)
def test_a_closed_stdout_is_an_output_error(tmp_path: Path, args: list[str], code: int) -> None:
    """`kpi report >&-` (started with no stdout: exit 70 before): what prints is exit 4;
    what writes a file works."""
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    done = subprocess.run(
        [sys.executable, "-m", "kpicli", *argv],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        pass_fds=(),
        preexec_fn=lambda: os.close(1),
    )
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    if code == 4:
        assert done.stderr.startswith("output error: stdout: ")
    else:
        assert (tmp_path / "r.csv").read_text().startswith("kpi,")


@pytest.mark.slow
def test_a_closed_pipe_ends_quietly_with_the_usual_exit_code() -> None:
    """`kpi report -f jsonl | head -1`: no traceback, no "Exception ignored", and the exit
    code the report has anyway (1 here: --fail-on bad is met), with its reasons on stderr."""
    args = ["report", "--as-of", AS_OF, "-g", "day", "--by", "channel", "-f", "jsonl"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "kpicli", *args, "--fail-on", "bad"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # the reader goes away long before the end (about 10 MB of lines)
    err = proc.stderr.read().decode()
    assert proc.wait() == 1
    assert json.loads(first)["kpi"]
    assert "Traceback" not in err and "Exception ignored" not in err and "Broken" not in err
    assert err and all(line.startswith("fail-on bad: ") for line in err.splitlines())


# ----------------------------------------------------------------- -o: folders, -, inputs


def test_output_creates_its_folders_with_placeholders(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "kpi-{start}-{end}.csv"
    r = kpi("report", "-c", CONFIG, "--as-of", AS_OF, "-p", "last-week", "-o", str(out))
    assert r.exit_code == 0, r.stderr
    written = tmp_path / "reports" / "kpi-2026-11-23-2026-11-29.csv"
    assert read_csv(written.read_text())[0]["period_start"] == "2026-11-23"


@pytest.mark.parametrize(
    "args",
    [
        ["report", "-c", CONFIG, "--as-of", AS_OF, "-f", "csv", "-k", "leads"],
        ["clean", str(ROOT / "sample_data" / "email_campaigns.csv"), "-q"],
        ["schema"],
    ],
    ids=["report", "clean", "schema"],
)
def test_output_dash_is_stdout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list) -> None:
    monkeypatch.chdir(tmp_path)
    to_stdout = kpi(*args)
    dashed = kpi(*args, "-o", "-")
    assert dashed.exit_code == 0, dashed.stderr
    assert dashed.stdout == to_stdout.stdout and dashed.stdout
    assert list(tmp_path.iterdir()) == []  # no file named `-`
    assert "wrote" not in dashed.stderr


def test_output_dash_without_format_is_the_table() -> None:
    r = kpi("report", "-c", CONFIG, "--as-of", AS_OF, "-k", "leads", "-o", "-")
    assert r.exit_code == 0 and "Leads" in r.stdout and not r.stdout.startswith("{")


def _project(tmp_path: Path) -> Path:
    """A config with two sources; the report will use only the first."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("day,spend\n2026-01-01,1\n")
    (tmp_path / "data" / "b.csv").write_text("day,leads\n2026-01-01,2\n")
    cfg = tmp_path / "kpi_config.yaml"
    cfg.write_text(
        "version: 1\nsources:\n  a: {path: data/a.csv, date: day}\n"
        "  b: {path: 'data/b*.csv', date: day}\n"
        "kpis:\n  s: {source: a, formula: SUM(spend)}\n  l: {source: b, formula: SUM(leads)}\n"
    )
    return cfg


def _targets(tmp_path: Path) -> list[tuple[str, str]]:
    """Ways to name an input file as the output: (output path, what the message names)."""
    (tmp_path / "links").mkdir()
    os.symlink(tmp_path / "kpi_config.yaml", tmp_path / "links" / "cfg.csv")
    os.symlink(tmp_path / "data" / "b.csv", tmp_path / "links" / "b.csv")
    os.link(tmp_path / "data" / "a.csv", tmp_path / "links" / "hard.csv")
    return [
        (str(tmp_path / "kpi_config.yaml"), "the configuration"),
        (str(tmp_path / "links" / "cfg.csv"), "the configuration"),
        (str(tmp_path / "data" / ".." / "data" / "a.csv"), "a file of source `a`"),
        (str(tmp_path / "data" / "b.csv"), "a file of source `b`"),  # not used by the report
        (str(tmp_path / "links" / "b.csv"), "a file of source `b`"),
        (str(tmp_path / "links" / "hard.csv"), "a file of source `a`"),
    ]


def _snapshot(tmp_path: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}


def test_report_never_writes_over_the_config_or_any_source_file(tmp_path: Path) -> None:
    cfg = _project(tmp_path)
    for target, what in _targets(tmp_path):
        before = _snapshot(tmp_path)
        r = kpi("report", "-c", str(cfg), "-k", "s", "-f", "csv", "-o", target)
        assert r.exit_code == 4, (target, r.stderr)
        assert f"would overwrite {what}" in r.stderr, r.stderr
        assert _snapshot(tmp_path) == before


def test_schema_and_clean_never_write_over_the_config_or_its_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _project(tmp_path)
    monkeypatch.chdir(tmp_path)  # the config they protect is the one `kpi report` would read
    for target, what in _targets(tmp_path):
        before = _snapshot(tmp_path)
        for args in (["schema"], ["clean", str(tmp_path / "data" / "a.csv"), "-q"]):
            r = kpi(*args, "-o", target)
            assert r.exit_code == 4, (args, target, r.stderr)
            assert "would overwrite" in r.stderr
        assert _snapshot(tmp_path) == before
        assert what


# ----------------------------------------------------------------- kpi init


def test_init_force_replaces_a_link_and_never_writes_through_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("mine\n")
    target = tmp_path / "project"
    target.mkdir()
    (target / "kpi_config.yaml").symlink_to(outside)
    (target / "kpi_schema.json").symlink_to(tmp_path / "nowhere.json")  # dangling
    refused = kpi("init", str(target))
    assert refused.exit_code == 2 and "already exists" in refused.stderr
    assert not (tmp_path / "nowhere.json").exists()
    r = kpi("init", str(target), "--force")
    assert r.exit_code == 0, r.stderr
    assert outside.read_text() == "mine\n"
    assert not (tmp_path / "nowhere.json").exists()
    assert not (target / "kpi_config.yaml").is_symlink()
    assert "sources:" in (target / "kpi_config.yaml").read_text()


def test_init_refuses_a_sample_folder_that_is_a_link(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "sample_data").symlink_to(elsewhere)
    r = kpi("init", str(tmp_path / "p"), "--sample", "--force")
    assert r.exit_code == 4, r.stderr
    assert "symbolic link" in r.stderr and list(elsewhere.iterdir()) == []


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (lambda t: t / ("x" * 300), "file name too long"),
        (lambda t: t / "afile" / "sub", "not a folder"),
    ],
    ids=["name too long", "under a file"],
)
def test_init_where_nothing_can_be_written_is_exit_4(tmp_path: Path, where: Any, message: str):
    (tmp_path / "afile").write_text("x")
    r = kpi("init", str(where(tmp_path)))
    assert r.exit_code == 4, (r.exit_code, r.stderr)
    assert r.stderr.startswith("output error: ") and message in r.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_init_into_a_read_only_folder_is_exit_4(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        r = kpi("init", str(locked / "project"))
    finally:
        locked.chmod(0o755)
    assert r.exit_code == 4 and "permission denied" in r.stderr


# ----------------------------------------------------------------- xlsx past Excel's limit


@pytest.mark.parametrize("large", [False, True], ids=["in memory", "constant memory"])
def test_xlsx_goes_on_in_more_sheets_and_drops_no_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, large: bool
) -> None:
    from openpyxl import load_workbook

    cfg = many_campaigns(tmp_path, 30)
    monkeypatch.setattr(xlsx_module, "MAX_SHEET_ROWS", 8)  # 7 rows a sheet, header apart
    if large:
        monkeypatch.setattr(xlsx_module, "LARGE_ROWS", 10)
    out = tmp_path / "r.xlsx"
    base = ["report", "-c", str(cfg), "--by", "campaign", "-p", "2026-10"]
    assert kpi(*base, "-o", str(out)).exit_code == 0
    tidy = read_csv(kpi(*base, "-f", "csv").stdout)
    book = load_workbook(out, read_only=True)
    sheets = [n for n in book.sheetnames if n != "About"]
    assert len(tidy) == 62  # 30 campaigns x 2 KPIs + 2 totals
    assert sheets == ["KPIs"] + [f"KPIs ({i})" for i in range(2, 10)]  # ceil(62 / 7) = 9
    rows = []
    for name in sheets:
        values = list(book[name].iter_rows(values_only=True))
        assert list(values[0]) == list(tidy[0])  # every sheet has the header
        assert 1 <= len(values) - 1 <= 7
        rows += values[1:]
    assert [(r[0], r[3], r[-1]) for r in rows] == [
        (t["kpi"], t["campaign"] or None, t["total"] == "true") for t in tidy
    ]


# ----------------------------------------------------------------- --fail-on says why


def test_fail_on_lists_every_failing_row_even_when_quiet() -> None:
    args = ["report", "-c", CONFIG, "--as-of", "2026-11-15", "-p", "this-month"]
    args += ["--by", "channel", "--compare", "previous"]
    doc = json.loads(kpi(*args, "-f", "json").stdout)
    failing = [r for r in doc["rows"] if r["status"] == "bad"]
    failing += [t for t in doc["totals"] if t["status"] == "bad"]
    assert failing, "the shipped data has red rows this month"
    r = kpi(*args, "--fail-on", "bad", "-q", "-o", os.devnull, "-f", "csv")
    assert r.exit_code == 1
    lines = r.stderr.splitlines()
    assert len(lines) == len(failing)
    for line, row in zip(lines, failing, strict=True):
        where = f"channel={row['channel']}" if "channel" in row else "total"
        assert line.startswith(f"fail-on bad: {row['kpi']}, {where}, ")
        assert line.endswith(", status bad") and " target " in line
    ok = kpi(*args, "--fail-on", "never", "-o", os.devnull, "-f", "csv", "-q")
    assert ok.exit_code == 0 and ok.stderr == ""


def test_fail_on_lines_are_capped_and_counted(tmp_path: Path) -> None:
    cfg = many_campaigns(tmp_path, 80)  # clicks target 25 a campaign over 2 days: most red
    args = ["report", "-c", str(cfg), "--by", "campaign", "-k", "clicks", "-p", "2026-10"]
    doc = json.loads(kpi(*args, "-f", "json").stdout)
    bad = [r for r in doc["rows"] + doc["totals"] if r["status"] == "bad"]
    r = kpi(*args, "--fail-on", "bad", "-f", "csv", "-o", os.devnull, "-q")
    lines = r.stderr.splitlines()
    assert r.exit_code == 1 and len(bad) > 50
    assert len(lines) == 51 and lines[-1] == f"fail-on bad: … and {len(bad) - 50} more rows"


# ----------------------------------------------------------------- the total column


def test_a_total_and_an_empty_dimension_never_look_alike(tmp_path: Path) -> None:
    cfg = many_campaigns(tmp_path, 20, empty_every=4)
    args = ["report", "-c", str(cfg), "--by", "campaign", "-k", "clicks", "-p", "2026-10"]
    rows = read_csv(kpi(*args, "-f", "csv").stdout)
    blanks = [r for r in rows if r["campaign"] == "" and r["total"] == "false"]
    totals = [r for r in rows if r["total"] == "true"]
    assert blanks and len(totals) == 1
    con = duckdb.connect()
    want = con.execute(f"SELECT SUM(clicks) FROM read_csv('{tmp_path / 'ads.csv'}')").fetchone()[0]
    assert int(totals[0]["value"]) == want
    wide = read_csv(kpi(*args, "-f", "csv", "--wide").stdout)
    assert [r["total"] for r in wide].count("true") == 1
    assert int(next(r for r in wide if r["total"] == "true")["clicks"]) == want
    out = tmp_path / "r.parquet"
    assert kpi(*args, "-o", str(out)).exit_code == 0
    back = pl.read_parquet(out)
    assert back.filter(pl.col("total"))["value"].to_list() == [want]
    assert back.filter(~pl.col("total") & (pl.col("campaign") == "")).height == len(blanks)


# ----------------------------------------------------------------- --wide


@pytest.mark.parametrize("fmt", ["table", "json", "jsonl", "markdown", "html"])
def test_wide_is_refused_where_it_has_no_shape(fmt: str) -> None:
    r = kpi("report", "-c", CONFIG, "--as-of", AS_OF, "-f", fmt, "--wide")
    assert r.exit_code == 2
    assert r.stderr.startswith(
        f"usage error: --wide applies to csv, parquet and xlsx, not to {fmt}"
    )
    assert "hint: " in r.stderr and r.stdout == ""


def test_wide_keeps_every_value_of_the_tidy_rows() -> None:
    args = ["report", "-c", CONFIG, "--as-of", "2026-11-15", "-p", "this-month"]
    args += ["--by", "channel", "--compare", "previous", "-k", "leads,cpl,ctr", "-f", "csv"]
    tidy = read_csv(kpi(*args).stdout)
    wide = read_csv(kpi(*args, "--wide").stdout)
    by_key = {(r["channel"], r["total"]): r for r in wide}
    assert len(by_key) == len(wide)
    checked = 0
    for row in tidy:
        line = by_key[(row["channel"], row["total"])]
        for field in ("value", "previous", "change", "change_pct", "target", "expected",
                      "pace", "projected", "status"):  # fmt: skip
            name = row["kpi"] if field == "value" else f"{row['kpi']}_{field}"
            if row[field] != "":
                assert line[name] == row[field], (name, row)
                checked += 1
            else:
                assert line.get(name, "") == ""
    assert checked > 3 * len(tidy)


def test_wide_refuses_two_columns_of_one_name(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("day,x\n2026-01-01,1\n2026-02-01,2\n")
    cfg = tmp_path / "kpi_config.yaml"
    cfg.write_text(
        "version: 1\nsources:\n  a: {path: a.csv, date: day}\n"
        "kpis:\n  s: {source: a, formula: SUM(x)}\n  s_previous: {source: a, formula: MAX(x)}\n"
    )
    r = kpi("report", "-c", str(cfg), "-p", "2026-02", "--compare", "previous", "-f", "csv",
            "--wide")  # fmt: skip
    assert r.exit_code == 2 and "`s_previous`" in r.stderr and "Traceback" not in r.stderr


# ----------------------------------------------------------------- bad choice values


@pytest.mark.parametrize(
    ("args", "option", "choices"),
    [
        (["report", "-f", "bogus"], "--format", "table, json, jsonl, csv, markdown, parquet"),
        (["report", "--grain", "fortnight"], "--grain", "day, week, month, quarter, year"),
        (["report", "--compare", "last"], "--compare", "none, previous, year"),
        (["report", "--fail-on", "red"], "--fail-on", "never, warn, bad"),
        (["list", "-f", "csv"], "--format", "table, json"),
        (["explain", "cpl", "-g", "hour"], "--grain", "day, week"),
        (["validate", "--format", "yaml"], "--format", "table, json"),
    ],
)
def test_bad_choice_values_get_kpi_s_message(args: list[str], option: str, choices: str) -> None:
    r = kpi(*args)
    assert r.exit_code == 2
    lines = r.stderr.splitlines()
    assert lines[0] == f"usage error: {option}: unknown value `{args[-1]}`", r.stderr
    assert lines[1].startswith(f"  hint: use one of {choices}")
    assert len(lines) == 2 and "Error:" not in r.stderr and "Usage:" not in r.stderr


VALID_CHOICES = {"table", "json", "jsonl", "csv", "markdown", "parquet", "xlsx", "html"}
VALID_CHOICES |= {"day", "week", "month", "quarter", "year", "none", "previous"}
VALID_CHOICES |= {"never", "warn", "bad"}


@given(
    option=st.sampled_from(["--format", "--grain", "--compare", "--fail-on"]),
    value=st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1)
    .filter(lambda v: not v.startswith("-") and v.strip() == v and v)
    .filter(lambda v: v not in VALID_CHOICES),
)
@settings(max_examples=40, deadline=None)
def test_any_bad_choice_is_named_back_verbatim(option: str, value: str) -> None:
    r = kpi("report", option, value)
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == f"usage error: {option}: unknown value `{value}`"


@pytest.mark.parametrize(
    "args",
    [["report", "--limit", "ten"], ["report", "--bogus"], ["explain"], ["reprt"]],
)
def test_other_usage_errors_are_one_kpi_block(args: list[str]) -> None:
    r = kpi(*args)
    assert r.exit_code == 2
    assert r.stderr.startswith("usage error: ") and "\n  hint: " in r.stderr
    assert "Error:" not in r.stderr and "Usage:" not in r.stderr


# ----------------------------------------------------------------- markdown from hostile data


def _one_dimension(value: str) -> Result:
    from datetime import date

    rows = pl.DataFrame(
        {
            "kpi": ["leads"],
            "period_start": [date(2026, 10, 1)],
            "period_end": [date(2026, 10, 31)],
            "keyword": [value],
            "value": [3.0],
            **{c: [None] for c in ("previous", "change", "change_pct", "target", "expected")},
            **{c: [None] for c in ("pace", "projected")},
            "status": [None],
        },
        schema_overrides={"status": pl.String, "keyword": pl.String}
        | {c: pl.Float64 for c in ("previous", "change", "change_pct", "target", "expected")}
        | {c: pl.Float64 for c in ("pace", "projected")},
    )
    return Result(
        rows=rows,
        totals=rows.drop("keyword"),
        kpis={"leads": KpiInfo("leads", "Leads", "integer")},
        dimensions=("keyword",),
        grain=None,
        as_of=date(2026, 11, 15),
        period=(date(2026, 10, 1), date(2026, 10, 31)),
    )


def _shown(text: str) -> str:
    """What a reader sees of ``text`` in a cell: whitespace runs as one space, trimmed,
    control characters (other than tab, newlines, vertical tab, form feed) as U+FFFD."""
    kept = "\t\n\r\v\f"
    cleaned = "".join(
        "\ufffd" if (ord(c) < 32 or ord(c) == 127) and c not in kept else c for c in text
    )
    return " ".join(cleaned.split())


def _cell_tokens(markdown: str) -> list[list[Any]]:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table").enable("strikethrough")
    tokens = md.parse(markdown)
    rows: list[list[Any]] = []
    for token in tokens:
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and rows:
            rows[-1].append(token)
    return rows


HOSTILE = [
    "[x](javascript:alert(1))",
    "![](http://evil.example/pixel.png)",
    "<img src=x onerror=alert(1)>",
    "a | b | c",
    "`code` and ``more``",
    "# heading",
    "line one\nline two\r\nthree",
    "**bold** _em_ ~~gone~~",
    "&amp; &lt;tag&gt;",
    "<http://autolink.example>",
    "back\\slash\\|pipe",
    "$x$ and :smile: and @user and #12",
    "www.evil.example",
]


@pytest.mark.slow
@given(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40)))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_markdown_shows_any_dimension_value_as_text_in_one_cell(value: str) -> None:
    text = to_markdown(_one_dimension(value)).decode()
    rows = _cell_tokens(text)
    header, body = rows[0], rows[1:]
    assert len(body) == 2 and all(len(r) == len(header) for r in body)  # one cell each
    cell = body[0][1]
    # only text: no link, image, code, HTML, emphasis or strikethrough token
    assert all(child.type in ("text", "softbreak") for child in cell.children or [])
    assert "".join(child.content for child in cell.children or []) == _shown(value)


@given(st.text(max_size=40))
def test_markdown_escape_leaves_no_active_character(value: str) -> None:
    escaped = md_escape(value)
    # GitHub's extras that CommonMark parsers do not know: emoji, mentions, issue links,
    # math, bare links: each of their characters is escaped, so none of them starts
    for i, char in enumerate(escaped):
        if char in "$:@#|`*~[]<>&!":
            assert i > 0 and escaped[i - 1] == "\\", (value, escaped)
    assert "www." not in escaped.lower()


# ----------------------------------------------------------------- a machine format is exact


@pytest.mark.slow
@given(
    st.lists(
        st.tuples(
            st.text(max_size=12),
            st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
        ),
        min_size=1,
        max_size=20,
    )
)
@settings(deadline=None)
def test_json_jsonl_and_csv_carry_every_value_exactly(
    cells: list[tuple[str, float | None]],
) -> None:
    import math

    result = _one_dimension("x")
    rows = pl.concat([result.rows] * len(cells)).with_columns(
        keyword=pl.Series([c[0] for c in cells], dtype=pl.String),
        value=pl.Series([c[1] for c in cells], dtype=pl.Float64),
    )
    result.rows = rows
    want = [None if v is None or not math.isfinite(v) else v for _, v in cells]
    doc = json.loads(to_json(result))
    assert [r["keyword"] for r in doc["rows"]] == [c[0] for c in cells]
    assert [r["value"] for r in doc["rows"]] == want
    lines = [json.loads(line) for line in to_jsonl(result).decode().split("\n")[:-1]]
    assert [r["keyword"] for r in lines[: len(cells)]] == [c[0] for c in cells]
    assert [r["value"] for r in lines[: len(cells)]] == want
    table = list(csv.reader(io.StringIO(to_csv(result, raw=True).decode(), newline="")))
    assert [r[3] for r in table[1 : len(cells) + 1]] == [c[0] for c in cells]
    got = [float(r[4]) if r[4] else None for r in table[1 : len(cells) + 1]]
    assert got == want


# ----------------------------------------------------------------- many groups


@pytest.mark.slow
def test_the_table_shows_a_hundred_rows_per_kpi_and_says_what_is_left_out(tmp_path: Path):
    campaigns = 250
    cfg = many_campaigns(tmp_path, campaigns)
    base = ["report", "-c", str(cfg), "--by", "campaign", "-p", "2026-10", "-k", "clicks"]
    table = kpi(*base).stdout
    names = [word for line in table.splitlines() for word in line.split() if word[:1] == "c"]
    assert len([n for n in names if n[1:].isdigit()]) == TABLE_ROWS
    assert f"… {campaigns - TABLE_ROWS} more rows" in table
    assert "use --sort KPI --limit N for the top N, or -f csv for every row" in table
    con = duckdb.connect()
    total = con.execute(f"SELECT SUM(clicks) FROM read_csv('{tmp_path / 'ads.csv'}')").fetchone()[0]
    total_line = next(line for line in table.splitlines() if line.strip().startswith("Total"))
    assert f"{total:,}" in total_line  # the total counts the rows left out
    for fmt in ("markdown", "html"):
        out = kpi(*base, "-f", fmt).stdout
        assert f"… {campaigns - TABLE_ROWS} more rows" in out
    rows = read_csv(kpi(*base, "-f", "csv").stdout)
    assert len(rows) == campaigns + 1  # machine formats are never cut
    jsonl = kpi(*base, "-f", "jsonl").stdout.splitlines()
    assert len(jsonl) == campaigns + 1


def test_an_unknown_output_placeholder_is_a_usage_error_before_any_work(tmp_path: Path) -> None:
    """A wrong -o is a wrong option (exit 2), said before the report is computed: a config
    that cannot even load is not reached."""
    broken = tmp_path / "kpi_config.yaml"
    broken.write_text("version: 1\nkpis: {}\n")
    r = kpi("report", "-c", str(broken), "-o", str(tmp_path / "r-{nope}.csv"))
    assert r.exit_code == 2
    assert r.stderr.startswith("usage error: --output: unknown placeholder `{nope}`")
    assert list(tmp_path.iterdir()) == [broken]


@pytest.mark.slow
def test_the_inputs_an_output_must_spare_are_found_without_walking_a_loop(
    tmp_path: Path,
) -> None:
    """`-o` is checked against every file a source matches: a glob through links back up
    the tree is walked once (it hung, memory growing, with -o; report to stdout did not)."""
    data = tmp_path / "data" / "a"
    data.mkdir(parents=True)
    (data / "ads.csv").write_text("date,spend\n2026-01-01,5\n")
    (data / "loop").symlink_to("..")
    (data / "loop2").symlink_to("../..")
    (tmp_path / "kpi_config.yaml").write_text(
        "version: 1\nsources:\n  ads: {path: 'data/**/*.csv', date: date}\n"
        "kpis:\n  spend: {source: ads, formula: SUM(spend)}\n"
    )
    for args, code in (
        (["report", "-o", "out/r.json"], 0),
        (["schema", "-o", "out/s.json"], 0),
        (["report", "-o", "data/a/loop/a/ads.csv"], 4),  # the source's file, through a link
    ):
        done = subprocess.run(
            [sys.executable, "-m", "kpicli", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == code, (args, done.stderr)
    assert (tmp_path / "data" / "a" / "ads.csv").read_text() == "date,spend\n2026-01-01,5\n"
