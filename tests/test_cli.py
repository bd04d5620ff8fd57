"""`kpi report` through the front door: each option, each error, exit codes and messages."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kpicli.cli import app

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "kpi_config.yaml")
AS_OF = "2026-11-15"

runner = CliRunner()


def kpi(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env=env)


def report_json(*args: str) -> dict:
    r = kpi("report", "-p", "all", "-c", CONFIG, "--as-of", AS_OF, "-f", "json", *args)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


# ------------------------------------------------------------------ happy paths


def test_report_table_shows_every_visible_kpi() -> None:
    r = kpi("report", "-p", "all", "-c", CONFIG, "--as-of", AS_OF)
    assert r.exit_code == 0, r.stderr
    data = report_json()
    assert data["rows"], "the shipped config yields rows"
    for row in data["kpis"].values():
        assert row["label"] in r.stdout
    assert "\x1b[" not in r.stdout  # not a terminal: no color
    assert r.stderr == ""


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        ("all", "2025-01-01", AS_OF),
        ("today", AS_OF, AS_OF),
        ("yesterday", "2026-11-14", "2026-11-14"),
        ("last-7-days", "2026-11-09", AS_OF),
        ("last-30-days", "2026-10-17", AS_OF),
        ("this-week", "2026-11-09", AS_OF),
        ("last-week", "2026-11-02", "2026-11-08"),
        ("this-month", "2026-11-01", "2026-11-30"),
        ("last-month", "2026-10-01", "2026-10-31"),
        ("this-quarter", "2026-10-01", "2026-12-31"),
        ("last-quarter", "2026-07-01", "2026-09-30"),
        ("this-year", "2026-01-01", "2026-12-31"),
        ("last-year", "2025-01-01", "2025-12-31"),
        ("2026-10", "2026-10-01", "2026-10-31"),
        ("2026-Q3", "2026-07-01", "2026-09-30"),
        ("2026-W05", "2026-01-26", "2026-02-01"),
        ("2025", "2025-01-01", "2025-12-31"),
        ("2026-10-01..2026-10-15", "2026-10-01", "2026-10-15"),
    ],
)
def test_every_period_form(period: str, start: str, end: str) -> None:
    """A running period keeps its calendar bounds; rows after --as-of are not counted."""
    data = report_json("-p", period, "-k", "leads")
    assert data["period"] == {"start": start, "end": end}
    assert data["as_of"] == AS_OF
    assert {r["period_start"] for r in data["rows"]} == {start}


def test_from_to_override_period() -> None:
    data = report_json(
        "-p", "last-year", "--from", "2026-03-01", "--to", "2026-03-10", "-k", "leads"
    )
    assert data["period"] == {"start": "2026-03-01", "end": "2026-03-10"}


def test_by_adds_totals_and_dimension_keys() -> None:
    data = report_json("-p", "last-month", "--by", "channel", "-k", "leads,spend,cpl")
    assert data["dimensions"] == ["channel"]
    channels = {r["channel"] for r in data["rows"]}
    assert {"google_ads", "meta_ads", "linkedin_ads", "organic_search"} <= channels
    totals = {t["kpi"]: t["value"] for t in data["totals"]}
    leads = [r["value"] for r in data["rows"] if r["kpi"] == "leads" and r["value"] is not None]
    assert totals["leads"] == pytest.approx(sum(leads))
    # cpl's total is `sum`: the spend of the channels that have a CPL over their leads
    paid = {r["channel"] for r in data["rows"] if r["kpi"] == "cpl" and r["value"] is not None}
    paid_leads = sum(
        r["value"] for r in data["rows"] if r["kpi"] == "leads" and r["channel"] in paid
    )
    assert paid and totals["cpl"] == pytest.approx(totals["spend"] / paid_leads)
    assert totals["cpl"] != pytest.approx(totals["spend"] / totals["leads"])
    assert all("channel" not in t for t in data["totals"])


def test_by_repeatable_and_comma_separated() -> None:
    a = report_json("-p", "last-month", "--by", "channel,offer", "-k", "leads")
    b = report_json("-p", "last-month", "--by", "channel", "--by", "offer", "-k", "leads")
    assert a["dimensions"] == b["dimensions"] == ["channel", "offer"]
    assert a["rows"] == b["rows"]


def test_grain_month_one_row_per_bucket() -> None:
    data = report_json("-p", "2026", "--grain", "month", "-k", "mqls")
    starts = [r["period_start"] for r in data["rows"]]
    assert starts == [f"2026-{m:02d}-01" for m in range(1, 12)]
    assert data["rows"][-1]["period_end"] == "2026-11-30"  # the running month, counted to as-of
    assert data["grain"] == "month"


def test_grain_week_starts_monday() -> None:
    data = report_json("-p", "2026-10", "--grain", "week", "-k", "leads")
    starts = [r["period_start"] for r in data["rows"]]
    assert starts[0] == "2026-10-01"  # clipped to the period
    assert starts[1] == "2026-10-05"  # a Monday


def test_kpi_selection_keeps_order_given() -> None:
    data = report_json("-k", "cpl", "-k", "leads")
    assert [r["kpi"] for r in data["rows"]] == ["cpl", "leads"]
    assert list(data["kpis"]) == ["cpl", "leads"]


def test_hidden_kpis_only_when_asked() -> None:
    data = report_json()
    import yaml

    cfg = yaml.safe_load(Path(CONFIG).read_text())
    hidden = {k for k, v in cfg["kpis"].items() if v.get("hidden")}
    assert hidden, "the shipped config has building-block KPIs"
    assert not hidden & set(data["kpis"])
    one = sorted(hidden)[0]
    assert [r["kpi"] for r in report_json("-k", one)["rows"]] == [one]


def test_where_filters_every_source() -> None:
    alla = report_json("-p", "last-month", "--by", "channel", "-k", "leads")
    only = report_json("-p", "last-month", "-k", "leads", "--where", "channel = 'google_ads'")
    google = next(r["value"] for r in alla["rows"] if r["channel"] == "google_ads")
    assert only["rows"][0]["value"] == google


def test_sort_and_limit() -> None:
    data = report_json("--by", "keyword", "-k", "sessions", "--sort", "sessions", "--limit", "3")
    values = [r["value"] for r in data["rows"]]
    assert len(values) == 3 and values == sorted(values, reverse=True)
    full = report_json("--by", "keyword", "-k", "sessions")
    top = sorted((r["value"] for r in full["rows"] if r["value"] is not None), reverse=True)
    assert values == top[:3]
    asc = report_json("--by", "keyword", "-k", "sessions", "--sort", "sessions:asc", "--limit", "2")
    assert [r["value"] for r in asc["rows"]] == sorted(v for v in top)[:2]


def test_jsonl_one_object_per_line() -> None:
    r = kpi(
        "report",
        "-c",
        CONFIG,
        "--as-of",
        AS_OF,
        "-f",
        "jsonl",
        "-p",
        "last-month",
        "--by",
        "channel",
        "-k",
        "leads",
    )
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert r.exit_code == 0
    assert lines[-1]["total"] is True and lines[-1]["channel"] is None
    assert all(line["kpi"] == "leads" for line in lines)


def test_csv_output_parses_and_has_columns() -> None:
    r = kpi(
        "report",
        "-p",
        "all",
        "-c",
        CONFIG,
        "--as-of",
        AS_OF,
        "-f",
        "csv",
        "-p",
        "last-month",
        "-k",
        "ctr",
    )
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows[0]["kpi"] == "ctr"
    assert 0 < float(rows[0]["value"]) < 1  # a fraction, not a formatted string


def test_output_file_format_inferred_and_placeholders(tmp_path: Path) -> None:
    target = tmp_path / "kpi-{period}-{start}-{end}-{as_of}.json"
    r = kpi(
        "report",
        "-c",
        CONFIG,
        "--as-of",
        AS_OF,
        "-p",
        "last-month",
        "-k",
        "leads",
        "-o",
        str(target),
    )
    assert r.exit_code == 0, r.stderr
    written = tmp_path / f"kpi-last-month-2026-10-01-2026-10-31-{AS_OF}.json"
    assert json.loads(written.read_text())["rows"][0]["kpi"] == "leads"
    assert r.stdout == ""
    assert str(written) in r.stderr
    assert [p.name for p in tmp_path.iterdir()] == [written.name]  # no temp file left


def test_quiet_keeps_stderr_empty(tmp_path: Path) -> None:
    r = kpi(
        "report",
        "-p",
        "all",
        "-c",
        CONFIG,
        "--as-of",
        AS_OF,
        "-q",
        "-k",
        "leads",
        "-o",
        str(tmp_path / "x.csv"),
    )
    assert r.exit_code == 0 and r.stderr == ""


def test_no_color_env_and_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    from kpicli import cli

    monkeypatch.setattr(cli.sys.stdout, "isatty", lambda: True, raising=False)
    assert cli.use_color(False) is True
    assert cli.use_color(True) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert cli.use_color(False) is False


def test_config_from_env_var() -> None:
    r = kpi(
        "report",
        "-p",
        "all",
        "--as-of",
        AS_OF,
        "-k",
        "leads",
        "-f",
        "json",
        env={"KPI_CONFIG": CONFIG},
    )
    assert r.exit_code == 0, r.stderr


def test_version() -> None:
    r = kpi("--version")
    assert r.exit_code == 0 and r.stdout.startswith("kpi ")


def test_help_has_examples() -> None:
    r = kpi("report", "-p", "all", "--help")
    assert r.exit_code == 0 and "Examples" in r.stdout


# ------------------------------------------------------------------ errors


def error(code: int, *args: str, env: dict[str, str] | None = None) -> str:
    r = kpi(*args, env=env)
    assert r.exit_code == code, (r.exit_code, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    assert r.stdout == ""
    return r.stderr


def test_unknown_kpi_exit_2() -> None:
    msg = error(2, "report", "-p", "all", "-c", CONFIG, "-k", "leeds")
    assert msg == "usage error: unknown KPI `leeds` in --kpi\n  hint: did you mean `leads`?\n"


def test_bad_period_exit_2() -> None:
    msg = error(2, "report", "-p", "all", "-c", CONFIG, "-p", "last-fortnight")
    assert msg.startswith("usage error:") and "last-fortnight" in msg and "hint:" in msg


def test_bad_date_exit_2() -> None:
    msg = error(2, "report", "-p", "all", "-c", CONFIG, "--as-of", "15/11/2026")
    assert "--as-of" in msg and "15/11/2026" in msg


def test_bad_grain_exit_2() -> None:
    msg = error(2, "report", "-p", "all", "-c", CONFIG, "--grain", "fortnight")
    assert "fortnight" in msg


def test_compare_with_all_is_usage_error() -> None:
    msg = error(2, "report", "-p", "all", "-c", CONFIG, "--compare", "previous")
    assert msg.startswith("usage error:") and "--compare" in msg


def test_missing_config_exit_2(tmp_path: Path) -> None:
    msg = error(2, "report", "-p", "all", "-c", str(tmp_path / "none.yaml"))
    assert msg.startswith(f"config error: {tmp_path / 'none.yaml'}: configuration file not found")


def test_config_error_names_line_and_key(tmp_path: Path) -> None:
    text = Path(CONFIG).read_text().replace("formula: spend / leads", "formula: spend / leeds", 1)
    assert "leeds" in text
    p = tmp_path / "kpi_config.yaml"
    p.write_text(text)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "spend / leeds" in s)
    msg = error(2, "report", "-p", "all", "-c", str(p))
    assert f"{p}:{line} kpis." in msg and "unknown KPI `leeds`" in msg
    assert "did you mean `leads`?" in msg


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = Path(CONFIG).read_text()
    assert old in text
    text = text.replace(old, new).replace("sample_data/", str(ROOT / "sample_data") + "/")
    p = tmp_path / "kpi_config.yaml"
    p.write_text(text)
    return p


def test_missing_file_exit_3(tmp_path: Path) -> None:
    p = _broken(tmp_path, "crm_leads.csv", "crm_leadz.csv")
    msg = error(3, "report", "-p", "all", "-c", str(p), "-k", "leads")
    assert msg.startswith("data error:") and "crm_leadz.csv" in msg and "sources.leads.path" in msg


def test_missing_column_exit_3(tmp_path: Path) -> None:
    p = _broken(tmp_path, "SUM(impressions)", "SUM(impresions)")
    msg = error(3, "report", "-p", "all", "-c", str(p))
    assert "no column `impresions`" in msg and "did you mean `impressions`?" in msg


def test_by_missing_column_names_source_and_kpis() -> None:
    msg = error(3, "report", "-p", "all", "-c", CONFIG, "--by", "offer", "-k", "leads,spend")
    assert "source `ads` has no column `offer`" in msg and "`spend`" in msg


def test_bad_where_exit_2() -> None:
    msg = error(2, "report", "-p", "all", "-c", CONFIG, "--where", "channel = ")
    assert msg.startswith("usage error: invalid --where")


def test_unparsable_value_exit_3(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("day,spend\n2026-01-01,1\n2026-02-30,2\n")
    cfg = tmp_path / "kpi_config.yaml"
    cfg.write_text(
        "version: 1\nsources:\n  a: {path: a.csv, date: day}\n"
        "kpis:\n  s: {source: a, formula: SUM(spend)}\n"
    )
    msg = error(3, "report", "-p", "all", "-c", str(cfg))
    assert "2026-02-30" in msg and "a.csv" in msg


def test_output_creates_missing_folders(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "kpi-{start}.json"
    r = kpi("report", "-p", "all", "-c", CONFIG, "-k", "leads", "-p", "2026-10", "-o", str(out))
    assert r.exit_code == 0, r.stderr
    assert json.loads((tmp_path / "reports" / "kpi-2026-10-01.json").read_text())["rows"]


def test_output_under_a_file_exit_4(tmp_path: Path) -> None:
    (tmp_path / "no").write_text("a file")
    msg = error(
        4, "report", "-p", "all", "-c", CONFIG, "-k", "leads", "-o", str(tmp_path / "no" / "x.json")
    )
    assert msg.startswith("output error:") and "is not a directory" in msg


def test_unknown_output_extension_exit_2(tmp_path: Path) -> None:
    msg = error(2, "report", "-p", "all", "-c", CONFIG, "-o", str(tmp_path / "x.weird"))
    assert "--format" in msg


def test_debug_shows_traceback(tmp_path: Path) -> None:
    r = kpi("report", "-p", "all", "-c", str(tmp_path / "none.yaml"), "--debug")
    assert r.exit_code == 2 and "Traceback" in r.stderr


def test_help_does_not_import_polars() -> None:
    import subprocess
    import sys

    code = "import sys; from kpicli.cli import app; print('polars' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("args", "loaded"),
    [
        (["-p", "2026-10", "--by", "channel"], []),
        (["-p", "2026-10", "--by", "channel", "--compare", "previous"], []),  # pure math
        (["-p", "2026-10", "--grain", "week"], ["numpy"]),  # JSON's trends
        (["-p", "2026-10", "--grain", "week", "-f", "jsonl"], []),  # no trends in JSONL
        (["-p", "2026-10", "--grain", "day", "--anomalies"], ["numpy", "scipy"]),
    ],
)
def test_numpy_and_scipy_only_for_what_needs_them(args: list[str], loaded: list[str]) -> None:
    """A report that asks for no trend and no anomaly starts as fast as before: without
    numpy and scipy (imported by kpicli.stats only inside the functions that need them)."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom kpicli.cli import run\n"
        f"sys.argv = ['kpi', 'report', '-c', {CONFIG!r}, '--as-of', {AS_OF!r}, '-f', 'json',"
        f" *{args!r}]\n"  # a later -f wins
        "try:\n    run()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('numpy', 'scipy') if m in sys.modules), file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stderr.strip().splitlines()[-1] == str(loaded), out.stderr


# ------------------------------------------------------------------ golden outputs


GOLDEN_ARGS = ("-p", "this-month", "--by", "channel", "--compare", "previous")


def test_golden_table_on_sample_data(golden) -> None:
    r = kpi(
        "report",
        "-p",
        "all",
        "-c",
        CONFIG,
        "--as-of",
        AS_OF,
        *GOLDEN_ARGS,
        "-k",
        "leads,spend,cpl,ctr",
    )
    assert r.exit_code == 0, r.stderr
    golden("sample_this_month_by_channel.txt", r.stdout)


def test_golden_json_on_sample_data(golden) -> None:
    r = kpi("report", "-p", "all", "-c", CONFIG, "--as-of", AS_OF, *GOLDEN_ARGS, "-f", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["generated_at"].endswith("Z")
    data["generated_at"] = "<generated_at>"
    golden("sample_this_month_by_channel.json", json.dumps(data, indent=2) + "\n")


def test_golden_grain_table(golden) -> None:
    r = kpi(
        "report",
        "-p",
        "all",
        "-c",
        CONFIG,
        "--as-of",
        AS_OF,
        "-p",
        "2026",
        "-g",
        "month",
        "-k",
        "leads,mqls",
    )
    assert r.exit_code == 0, r.stderr
    golden("sample_2026_by_month.txt", r.stdout)


def test_readme_documents_every_report_option() -> None:
    import typer.main

    readme = (ROOT / "README.md").read_text()
    command = typer.main.get_command(app)
    report = command.commands["report"]  # type: ignore[attr-defined]
    for param in report.params:
        if param.param_type_name == "option":
            for opt in param.opts:
                assert f"`{opt}" in readme or f" {opt}" in readme, f"{opt} missing from README"
    for name in command.commands:  # type: ignore[attr-defined]
        assert f"kpi {name}" in readme


def test_repeated_runs_are_byte_identical() -> None:
    """Float sums are exact decimals: the same inputs give the same bytes, every run."""
    args = (
        "report",
        "-c",
        CONFIG,
        "--as-of",
        AS_OF,
        "-p",
        "this-month",
        "--by",
        "channel",
        "--compare",
        "previous",
        "-f",
        "jsonl",
    )
    outputs = {kpi(*args).stdout for _ in range(5)}
    assert len(outputs) == 1


def test_output_never_overwrites_an_input(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("day,spend\n2026-01-01,1\n")
    cfg = tmp_path / "kpi_config.yaml"
    cfg.write_text(
        "version: 1\nsources:\n  a: {path: a.csv, date: day}\n"
        "kpis:\n  s: {source: a, formula: SUM(spend)}\n"
    )
    msg = error(
        4, "report", "-p", "all", "-c", str(cfg), "-f", "csv", "-o", str(tmp_path / "a.csv")
    )
    assert "would overwrite a file of source `a`" in msg
    assert (tmp_path / "a.csv").read_text() == "day,spend\n2026-01-01,1\n"


@pytest.mark.parametrize("ext", ["xlsx", "html", "parquet", "md"])
def test_file_formats_from_extension(tmp_path: Path, ext: str) -> None:
    out = tmp_path / f"report.{ext}"
    r = kpi(
        "report",
        "-c",
        CONFIG,
        "--as-of",
        AS_OF,
        "-p",
        "last-month",
        "--by",
        "channel",
        "-k",
        "leads,cpl",
        "-o",
        str(out),
    )
    assert r.exit_code == 0, r.stderr
    data = out.read_bytes()
    if ext == "xlsx":
        import openpyxl

        sheet = openpyxl.load_workbook(io.BytesIO(data))["KPIs"]
        header = [c.value for c in sheet[1]]
        assert header[:4] == ["kpi", "period_start", "period_end", "channel"]
        assert {row[0] for row in sheet.iter_rows(min_row=2, values_only=True)} == {"leads", "cpl"}
    elif ext == "html":
        assert data.startswith(b"<!DOCTYPE html>") and b"Cost per lead" in data
    elif ext == "parquet":
        import polars as pl

        frame = pl.read_parquet(io.BytesIO(data))
        assert set(frame["kpi"]) == {"leads", "cpl"}
    else:
        assert b"| " in data and b"Cost per lead" in data


# ------------------------------------------------------------------ words and warnings


def test_request_fields_are_named_by_their_options() -> None:
    from kpicli.cli import option_word

    assert option_word("as_of") == "--as-of"
    assert option_word("fail_on") == "--fail-on"
    assert option_word("by") == "--by"
    assert option_word("kpis") == "--kpi"
    assert option_word("date_from") == "--from"
    assert option_word("date_to") == "--to"


def test_an_output_path_error_names_the_option(tmp_path: Path) -> None:
    from kpicli.errors import UsageError
    from kpicli.outputs import check_output_path

    with pytest.raises(UsageError) as info:
        check_output_path("r-{bad}.json")
    assert info.value.location == "`output`"  # a library user reads the field
    r = kpi("report", "-p", "all", "-c", CONFIG, "-o", str(tmp_path / "r-{bad}.json"))
    assert r.exit_code == 2
    assert r.stderr.startswith("usage error: --output: unknown placeholder `{bad}`")


def test_warnings_are_the_commands_not_a_global_handler(tmp_path: Path) -> None:
    """Importing the CLI installs nothing; a command's warnings are printed once each,
    while it runs, and nothing is left installed after it."""
    import importlib.util

    assert importlib.util.find_spec("kpicli.ingest.notices") is None  # no global handler
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "data.csv").write_text("campaign,spend\na,1\n")
    (tmp_path / "p").mkdir()
    cfg = tmp_path / "p" / "kpi_config.yaml"
    cfg.write_text(
        "version: 1\nsources:\n  s: {path: ../outside/data.csv}\n"
        "kpis:\n  spend: {source: s, formula: SUM(spend)}\n  twice: {formula: spend * 2}\n"
    )
    r = kpi("explain", "twice", "-c", str(cfg))
    assert r.exit_code == 0, r.stderr
    assert r.stderr.count("warning: source `s`:") == 1 and "outside the folder" in r.stderr
    r = kpi("validate", "-q", "-c", str(cfg))
    assert r.exit_code == 0 and r.stderr == ""
