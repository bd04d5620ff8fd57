"""The companion commands through the front door: list, validate, explain, init, schema.

Each command, each exit code, and the exact text of the main messages (golden files
``tests/golden/cmd_*``, regenerated with ``pytest --update-golden``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kpicli.cli import app

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "kpi_config.yaml")
AS_OF = "2026-11-15"
SHIPPED = (ROOT / "kpi_config.yaml").read_text()

runner = CliRunner()


def kpi(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env=env)


def ok(*args: str) -> str:
    r = kpi(*args)
    assert r.exit_code == 0, (r.exit_code, r.stdout, r.stderr)
    assert r.stderr == ""
    return r.stdout


def error(code: int, *args: str) -> str:
    """stderr of a command that must fail with ``code``: one block, nothing on stdout."""
    r = kpi(*args)
    assert r.exit_code == code, (r.exit_code, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    assert r.stdout == ""
    return r.stderr


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from the repository root, so that paths in the output are relative (golden files)."""
    monkeypatch.chdir(ROOT)


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with the sample data (a link) and no config yet; the current folder."""
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_config(folder: Path, text: str, name: str = "kpi_config.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def broken(*pairs: tuple[str, str]) -> str:
    """The shipped config with each ``old`` replaced by ``new`` once (each must be present)."""
    text = SHIPPED
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def line_of(text: str, needle: str) -> int:
    return next(i for i, s in enumerate(text.splitlines(), 1) if needle in s)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------- help


@pytest.mark.parametrize("command", ["list", "validate", "explain", "init", "schema", "report"])
def test_every_command_has_help_with_examples(command: str) -> None:
    out = ok(command, "--help")
    assert "Examples:" in out and f"kpi {command}" in out


def test_main_help_lists_the_commands() -> None:
    out = ok("--help")
    for command in ("report", "list", "validate", "explain", "init", "schema"):
        assert command in out


# ---------------------------------------------------------------------------- kpi list


def test_list_golden(in_root: None, golden) -> None:
    golden("cmd_list.txt", ok("list", "-c", "kpi_config.yaml"))


def test_list_shows_visible_kpis_and_counts_hidden(in_root: None) -> None:
    cfg = yaml.safe_load(SHIPPED)
    out = ok("list")
    names = [line.split()[0] for line in out.splitlines()[3:] if line and not line[0].isspace()]
    visible = [n for n, k in cfg["kpis"].items() if not k.get("hidden")]
    assert names == visible
    hidden = len(cfg["kpis"]) - len(visible)
    assert f"({len(visible)} shown; {hidden} hidden: kpi list --all)" in out.splitlines()[0]


def test_list_all_marks_hidden(in_root: None) -> None:
    out = ok("list", "--all")
    lines = {line.split()[0]: line for line in out.splitlines()[3:] if line and line[0] != " "}
    cfg = yaml.safe_load(SHIPPED)
    assert list(lines) == list(cfg["kpis"])
    assert lines["paid_leads"].split()[1] == "hidden"
    assert lines["leads"].split()[1] == "Leads"


def test_list_json() -> None:
    data = json.loads(ok("list", "-c", CONFIG, "-f", "json", "--all"))
    kpis = {k["name"]: k for k in data["kpis"]}
    assert data["config"] == CONFIG
    cpl = kpis["cpl"]
    assert cpl["source"] is None and cpl["sources"] == ["ads", "leads"]
    assert cpl["formula"] == "spend / leads" and cpl["better"] == "lower"
    assert cpl["target"]["values"] == {"google_ads": 35, "meta_ads": 38, "linkedin_ads": 55}
    assert kpis["leads"]["target"]["per"] == "week"
    assert kpis["mqls"]["date"] == "mql_at" and kpis["mqls"]["filter"] == "mql_at IS NOT NULL"
    assert kpis["paid_leads"]["hidden"] is True
    visible = json.loads(ok("list", "-c", CONFIG, "-f", "json"))
    assert all(not k["hidden"] for k in visible["kpis"])
    assert len(visible["kpis"]) < len(data["kpis"])


def test_list_missing_config_exit_2(folder: Path, golden) -> None:
    golden("cmd_list_missing_config.txt", error(2, "list"))


def test_list_config_error_exit_2(folder: Path) -> None:
    write_config(folder, broken(("formula: spend / leads", "formula: spend / leeds")))
    msg = error(2, "list")
    assert msg.startswith("config error: kpi_config.yaml:") and "did you mean `leads`?" in msg


# ---------------------------------------------------------------------------- kpi validate


def test_validate_clean_golden(in_root: None, golden) -> None:
    golden("cmd_validate_ok.txt", ok("validate", "-c", "kpi_config.yaml"))


def test_validate_quiet_prints_nothing_when_valid() -> None:
    assert ok("validate", "-c", CONFIG, "-q") == ""


BROKEN = (
    ("    better: lower", "    beter: lower"),  # an unknown key (cpa)
    ("unit: percent\n    target: 0.03", "unit: pct\n    target: 0.03"),  # a bad value
    ("SUM(impressions)", "SUM(impresions)"),  # a column the data lacks
    ("formula: spend / leads", "formula: spend / leeds"),  # an unknown KPI
    ("crm_leads.csv", "crm_leadz.csv"),  # a file that does not exist
    ("source: web\n    formula: SUM(sessions)", "source: webb\n    formula: SUM(sessions)"),
)


def test_validate_lists_every_problem_at_once(folder: Path, golden) -> None:
    """Schema, cross-reference and data problems together, each at its line."""
    text = broken(*BROKEN)
    write_config(folder, text)
    r = kpi("validate")
    assert r.exit_code == 2, r.stdout
    assert r.stderr == ""
    golden("cmd_validate_broken.txt", r.stdout)
    lines = {
        "kpis.cpa.beter": line_of(text, "beter: lower"),
        "kpis.conversion_rate.unit": line_of(text, "unit: pct"),
        "kpis.impressions.formula": line_of(text, "SUM(impresions)"),
        "kpis.cpl.formula": line_of(text, "spend / leeds"),
        "sources.leads.path": line_of(text, "crm_leadz.csv"),
        "kpis.sessions.source": line_of(text, "source: webb"),
    }
    for key, line in lines.items():
        assert f"kpi_config.yaml:{line} {key}: " in r.stdout, key
    assert "did you mean `better`?" in r.stdout
    assert "did you mean `impressions`?" in r.stdout
    assert "did you mean `leads`?" in r.stdout
    assert "did you mean `web`?" in r.stdout
    assert r.stdout.rstrip().endswith("kpi_config.yaml: 6 problems (4 config, 2 data)")


def test_validate_data_problems_exit_3(folder: Path, golden) -> None:
    write_config(folder, broken(*BROKEN[2:3], *BROKEN[4:5]))
    r = kpi("validate")
    assert r.exit_code == 3, r.stdout
    golden("cmd_validate_data.txt", r.stdout)


def test_validate_unparsable_values_name_the_column(folder: Path) -> None:
    """Values beyond the rows used to infer types, and impossible dates, are found."""
    numbers = [f"2026-01-{i % 28 + 1:02d},{i}.5,x" for i in range(12_000)] + ["2026-02-01,abc,y"]
    (folder / "a.csv").write_text("day,spend,channel\n" + "\n".join(numbers) + "\n")
    (folder / "b.csv").write_text("day,spend\n2026-02-28,1\n2026-02-30,2\n")
    write_config(
        folder,
        "version: 1\nsources:\n  a: {path: a.csv, date: day}\n  b: {path: b.csv, date: day}\n"
        "kpis:\n  s: {source: a, formula: SUM(spend)}\n  c: {source: a, formula: SUM(channel)}\n"
        "  t: {source: b, formula: SUM(spend)}\n",
    )
    r = kpi("validate")
    assert r.exit_code == 3, r.stdout
    # the parse errors' wording is the reader's (kpicli/ingest): only their substance here
    assert "source `a`, column `spend`: could not parse `abc`" in r.stdout
    problems = r.stdout.split("data error: ")
    assert any("source `b`" in p and "`day`" in p and "2026-02-30" in p for p in problems)
    assert "KPI `c`: `SUM(channel)` cannot be computed" in r.stdout
    assert r.stdout.rstrip().endswith("kpi_config.yaml: 3 problems (3 data)")


def test_validate_warnings_do_not_fail(folder: Path) -> None:
    text = broken(
        ("meta_ads: 38", "meta_ad: 38"),
        ("    target: 0.3\n", "    target: {value: 0.3, per: week}\n"),
    )
    text = text.replace("\nkpis:\n", "\n  spare: {path: sample_data/crm_leads.csv}\n\nkpis:\n", 1)
    write_config(folder, text)
    r = kpi("validate")
    assert r.exit_code == 0, r.stdout
    out = r.stdout
    line = line_of(text, "meta_ad: 38")
    assert (
        f"warning: kpi_config.yaml:{line} kpis.cpl.target.values.meta_ad: KPI `cpl`: no row has "
        "channel `meta_ad`, so its target is unused\n  hint: did you mean `meta_ads`?\n"
    ) in out
    assert "KPI `open_rate` is a percentage, but its target is `per: week`" in out
    assert "source `spare` is used by no KPI" in out
    assert "3 warnings" in out


def test_validate_target_by_unknown_column(folder: Path) -> None:
    text = broken(("{value: 40, by: channel,", "{value: 40, by: chanel,"))
    write_config(folder, text)
    r = kpi("validate")
    assert r.exit_code == 2, r.stdout
    line = line_of(text, "by: chanel")
    assert (
        f"config error: kpi_config.yaml:{line} kpis.cpl.target.by: KPI `cpl`: the target is by "
        "`chanel`, but source `ads` has no column `chanel`\n  hint: did you mean `channel`?"
    ) in r.stdout


def test_validate_json(folder: Path) -> None:
    text = broken(*BROKEN)
    write_config(folder, text)
    r = kpi("validate", "-f", "json")
    assert r.exit_code == 2
    data = json.loads(r.stdout)
    assert data["valid"] is False and data["exit_code"] == 2 and data["errors"] == 6
    first = data["issues"][0]
    assert set(first) == {
        "kind",
        "severity",
        "message",
        "location",
        "file",
        "line",
        "column",
        "key",
        "hint",
    }
    by_key = {i["key"]: i for i in data["issues"]}
    cpl = by_key["kpis.cpl.formula"]
    assert cpl["file"] == "kpi_config.yaml" and cpl["line"] == line_of(text, "spend / leeds")
    assert cpl["kind"] == "config" and cpl["hint"] == "did you mean `leads`?"
    assert by_key["kpis.impressions.formula"]["kind"] == "data"
    lines = [i["line"] for i in data["issues"]]
    assert lines == sorted(lines)


def test_validate_json_clean() -> None:
    data = json.loads(ok("validate", "-c", CONFIG, "-f", "json"))
    assert data["valid"] is True and data["issues"] == [] and data["kpis"] == 43
    sources = {s["name"]: s for s in data["sources"]}
    with open(ROOT / "sample_data" / "crm_leads.csv", encoding="utf-8") as f:
        assert sources["leads"]["rows"] == sum(1 for _ in f) - 1
    assert sources["ads"]["first_date"] == "2025-01-01"
    assert len(sources["ads"]["files"]) == 3


def test_validate_missing_config_exit_2(folder: Path, golden) -> None:
    r = kpi("validate")
    assert r.exit_code == 2 and r.stderr == ""
    golden("cmd_validate_missing_config.txt", r.stdout)


def test_validate_invalid_yaml_exit_2(folder: Path) -> None:
    write_config(folder, "version: 1\nkpis: [unclosed\n")
    r = kpi("validate")
    assert r.exit_code == 2
    assert r.stdout.startswith("config error: kpi_config.yaml:3:1: invalid YAML")


def test_validate_cycle_does_not_hang(folder: Path) -> None:
    write_config(
        folder,
        "version: 1\nsources:\n  a: {path: sample_data/email_campaigns.csv, date: date}\n"
        "kpis:\n  x: {formula: y + 1, target: {value: 1, by: channel, values: {email: 2}}}\n"
        "  y: {formula: x * 2}\n  z: {source: a, formula: SUM(sent)}\n",
    )
    r = kpi("validate")
    assert r.exit_code == 2
    assert "reference cycle: x → y → x" in r.stdout


VALIDATE_FUZZ = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=12))


@pytest.mark.slow
@VALIDATE_FUZZ
@given(
    section=st.sampled_from(["kpis", "sources", "settings"]),
    key=st.sampled_from(["cpl", "leads", "ads", "web", "currency", "new"]),
    field=st.sampled_from(["formula", "source", "path", "date", "target", "unit", "by", "x"]),
    value=_scalars,
)
def test_validate_never_crashes(folder: Path, section, key, field, value) -> None:
    cfg = yaml.safe_load(SHIPPED)
    entry = cfg[section].setdefault(key, {})
    if isinstance(entry, dict):
        entry[field] = value
    else:
        cfg[section][key] = value
    write_config(folder, yaml.safe_dump(cfg, allow_unicode=True))
    r = kpi("validate")
    assert r.exit_code in (0, 2, 3), (r.exit_code, r.stdout, r.stderr)
    assert "Traceback" not in r.stdout + r.stderr and "internal error" not in r.stderr


# ---------------------------------------------------------------------------- kpi explain


def plans_removed(text: str) -> str:
    """The explanation without the Polars plans (their text belongs to Polars' version)."""
    head, sep, _ = text.partition("The Polars plans that ran")
    assert sep, "the Polars plans are shown"
    return head


def test_explain_golden(in_root: None, golden) -> None:
    out = ok("explain", "cpl", "--period", "last-month", "--as-of", AS_OF)
    golden("cmd_explain_cpl.txt", plans_removed(out))
    plans = out.partition("The Polars plans that ran")[2]
    assert plans.count("Polars plan: source ") == 2
    assert "AGGREGATE" in plans and "crm_leads.csv]" in plans


def test_explain_by_channel_compare_golden(in_root: None, golden) -> None:
    out = ok(
        "explain", "cpl", "-p", "this-month", "--by", "channel", "--compare", "previous",
        "--as-of", AS_OF,
    )  # fmt: skip
    golden("cmd_explain_cpl_by_channel.txt", plans_removed(out))


def test_explain_grain_derived_column_golden(in_root: None, golden) -> None:
    out = ok("explain", "paid_lead_share", "-p", "2026-Q3", "-g", "month", "--as-of", AS_OF)
    golden("cmd_explain_paid_lead_share_monthly.txt", plans_removed(out))
    assert "is_paid = original_source IN ('Paid Search', 'Paid Social')  derived column" in out


def explain_json(*args: str) -> dict[str, Any]:
    return json.loads(ok("explain", "-c", CONFIG, "--as-of", AS_OF, "-f", "json", *args))


def report_rows(*args: str) -> dict[tuple, float | None]:
    r = kpi("report", "-c", CONFIG, "--as-of", AS_OF, "-f", "json", *args)
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    dims = data["dimensions"]
    out = {}
    for row in data["rows"]:
        out[(row["kpi"], row["period_start"], *(row[d] for d in dims), "value")] = row["value"]
        out[(row["kpi"], row["period_start"], *(row[d] for d in dims), "prev")] = row["previous"]
    for row in data["totals"] or []:
        out[(row["kpi"], row["period_start"], "total", "value")] = row["value"]
        out[(row["kpi"], row["period_start"], "total", "prev")] = row["previous"]
    return out


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("cpl", ("-p", "last-month")),
        ("cpl", ("-p", "this-month", "--by", "channel", "--compare", "previous")),
        ("lead_to_mql_rate", ("-p", "2026", "-g", "quarter", "--by", "offer")),
        ("mql_share", ("-p", "2026-Q3", "--where", "channel = 'google_ads'")),
        ("ctr", ("--from", "2026-03-01", "--to", "2026-03-10", "-g", "week")),
    ],
)
def test_explain_values_are_the_reports(name: str, args: tuple[str, ...]) -> None:
    """Every value explain shows is the value kpi report computes, for the same options."""
    data = explain_json(name, *args)
    kpis = [name, *data["dependencies"]]
    expected = report_rows("-k", ",".join(kpis), *args)
    dims = data["dimensions"]
    seen = 0
    for rec in data["values"]:
        for k in kpis:
            key = (k, rec["period_start"], *(rec[d] for d in dims))
            assert rec["values"][k] == expected[(*key, "value")], key
            if data["comparison"]:
                assert rec["previous"][k] == expected[(*key, "prev")], key
            seen += 1
    for rec in data["totals"] or []:
        for k in kpis:
            assert rec["values"][k] == expected[(k, rec["period_start"], "total", "value")]
    assert seen == len([key for key in expected if key[-1] == "value" and key[2] != "total"])


def _count(path: Path, column: str, start: str, end: str, where=lambda row: True) -> int:
    with open(path, encoding="utf-8") as f:
        return sum(1 for row in csv.DictReader(f) if start <= row[column] <= end and where(row))


def test_explain_counts_the_rows_behind_each_value() -> None:
    data = explain_json("mql_share", "-p", "last-month")
    assert data["dependencies"] == ["mqls", "leads"]
    scans = {s["label"]: s for s in data["scans"]}
    leads_csv = ROOT / "sample_data" / "crm_leads.csv"
    assert scans["leads (by created_at)"]["rows"] == _count(
        leads_csv, "created_at", "2026-10-01", "2026-10-31"
    )
    assert scans["leads (by mql_at, where mql_at IS NOT NULL)"]["rows"] == _count(
        leads_csv, "mql_at", "2026-10-01", "2026-10-31", lambda r: r["mql_at"] != ""
    )
    ads = explain_json("spend", "-p", "last-month", "--by", "channel")
    (scan,) = ads["scans"]
    assert scan["files"] == [str(ROOT / "sample_data" / f"ads_{c}.csv") for c in
                             ("google_ads", "linkedin_ads", "meta_ads")]  # fmt: skip
    google = next(r for r in ads["values"] if r["channel"] == "google_ads")
    assert google["rows"] == {
        "ads": _count(ROOT / "sample_data/ads_google_ads.csv", "date", "2026-10-01", "2026-10-31")
    }
    assert (
        ads["totals"][0]["rows"]["ads"]
        == scan["rows"]
        == sum(r["rows"]["ads"] for r in ads["values"])
    )


def test_explain_json_tree_down_to_columns() -> None:
    data = explain_json("paid_lead_share", "-p", "last-month")
    tree = data["tree"]
    assert tree["name"] == "paid_lead_share" and tree["kind"] == "derived"
    paid, leads = tree["children"]
    assert paid["kind"] == "source" and paid["source"] == "leads" and paid["date"] == "created_at"
    is_paid = paid["children"][0]
    assert is_paid == {
        "name": "is_paid",
        "kind": "column",
        "type": "Boolean",
        "origin": "derive",
        "expression": "original_source IN ('Paid Search', 'Paid Social')",
        "children": [
            {"name": "original_source", "kind": "column", "type": "String", "origin": "file"}
        ],
    }
    assert leads["name"] == "leads"
    assert data["plan"]["kpis"][:3] == ["paid_lead_share", "paid_leads", "leads"]
    assert data["polars_plans"][0]["source"] == "leads"
    assert "AGGREGATE" in data["polars_plans"][0]["rows"]
    assert data["period"] == {"start": "2026-10-01", "end": "2026-10-31"}


def test_explain_renamed_column(folder: Path) -> None:
    (folder / "a.csv").write_text("Day,Cost\n2026-01-01,2.5\n2026-01-02,3\n")
    write_config(
        folder,
        "version: 1\nsources:\n  a: {path: a.csv, date: day, rename: {Day: day, Cost: spend}}\n"
        "kpis:\n  spend: {source: a, formula: SUM(spend), unit: currency}\n",
    )
    out = ok("explain", "spend")
    assert "spend  ← header `Cost`  Float64" in out and "→ 5.50" in out
    assert "a: 2 rows in the period (for spend)" in out


def test_explain_unknown_kpi_exit_2(golden) -> None:
    golden("cmd_explain_unknown_kpi.txt", error(2, "explain", "cpll", "-c", CONFIG))


def test_explain_usage_and_data_errors() -> None:
    msg = error(2, "explain", "cpl", "-c", CONFIG, "-p", "last-fortnight")
    assert msg.startswith("usage error:") and "last-fortnight" in msg
    msg = error(2, "explain", "cpl", "-c", CONFIG, "--compare", "previous")
    assert msg.startswith("usage error:") and "--compare" in msg
    msg = error(3, "explain", "leads", "-c", CONFIG, "--by", "keyword")
    assert msg.startswith("data error: --by keyword: source `leads` has no column `keyword`")


def test_explain_missing_file_exit_3(folder: Path) -> None:
    write_config(folder, broken(("crm_leads.csv", "crm_leadz.csv")))
    msg = error(3, "explain", "cpl")
    assert msg.startswith("data error: kpi_config.yaml:") and "crm_leadz.csv" in msg


# ---------------------------------------------------------------------------- kpi init


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`kpi init demo --sample`, once for the module."""
    base = tmp_path_factory.mktemp("init")
    cwd = os.getcwd()
    os.chdir(base)
    try:
        r = kpi("init", "demo", "--sample")
    finally:
        os.chdir(cwd)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == (
        "wrote demo/kpi_config.yaml\n"
        "wrote demo/kpi_schema.json (editor completion)\n"
        "wrote demo/sample_data/ (6 CSV files, 3.6 MB)\n"
        "next: cd demo && kpi report\n"
    )
    return base / "demo"


def test_init_sample_writes_the_repository_config_and_data(demo: Path) -> None:
    from kpicli.commands.sample import FILE_NAMES

    assert (demo / "kpi_config.yaml").read_text() == SHIPPED
    assert (demo / "kpi_schema.json").read_text() == (ROOT / "kpi_schema.json").read_text()
    written = sorted(p.name for p in (demo / "sample_data").iterdir())
    assert written == sorted(FILE_NAMES)
    committed = sorted(p.name for p in (ROOT / "sample_data").glob("*.csv"))
    assert written == committed
    for name in FILE_NAMES:
        assert md5(demo / "sample_data" / name) == md5(ROOT / "sample_data" / name), name
    assert not (demo / "exports").exists()


def test_init_sample_then_report_works(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(demo)
    args = ("report", "--as-of", AS_OF, "-p", "last-month", "--by", "channel", "-f", "json")
    here = json.loads(ok(*args))
    monkeypatch.chdir(ROOT)
    there = json.loads(ok(*args))
    here["generated_at"] = there["generated_at"] = None
    assert here == there
    monkeypatch.chdir(demo)
    assert ok("validate", "-q") == ""


def test_init_refuses_to_overwrite(demo: Path, monkeypatch: pytest.MonkeyPatch, golden) -> None:
    monkeypatch.chdir(demo.parent)
    before = (demo / "kpi_config.yaml").stat().st_mtime_ns
    golden("cmd_init_exists.txt", error(2, "init", "demo", "--sample"))
    msg = error(2, "init", "demo")
    assert msg == (
        "usage error: demo/kpi_config.yaml already exists (and 1 more file)\n"
        "  hint: kpi init never overwrites a file: pass --force to replace them, or choose "
        "another DIR\n"
    )
    assert (demo / "kpi_config.yaml").stat().st_mtime_ns == before


def test_init_force_overwrites(folder: Path) -> None:
    write_config(folder, "# mine\n")
    assert error(2, "init").startswith("usage error: kpi_config.yaml already exists\n")
    out = ok("init", "--force")
    assert out.endswith("put your exports in exports/\nnext: kpi validate, then kpi report\n")
    assert (folder / "kpi_config.yaml").read_text().startswith("# yaml-language-server:")


def test_init_starter_is_commented_and_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    out = ok("init", "starter")
    assert out == (
        "wrote starter/kpi_config.yaml\n"
        "wrote starter/kpi_schema.json (editor completion)\n"
        "put your exports in starter/exports/\n"
        "next: cd starter && kpi validate, then kpi report\n"
    )
    text = (tmp_path / "starter" / "kpi_config.yaml").read_text()
    assert text.splitlines()[0] == "# yaml-language-server: $schema=kpi_schema.json"
    assert sum(1 for line in text.splitlines() if "#" in line) > 30
    assert (tmp_path / "starter" / "exports").is_dir()
    # as written: only the export files are missing (exit 3)
    monkeypatch.chdir(tmp_path / "starter")
    r = kpi("validate")
    assert r.exit_code == 3 and r.stdout.count("no file matches `exports/") == 2
    # over the sample data (the same columns), it is valid and reports
    (tmp_path / "starter" / "sample_data").symlink_to(ROOT / "sample_data")
    text = text.replace("exports/ads_*.csv", "sample_data/ads_*.csv")
    text = text.replace("exports/leads*.csv", "sample_data/crm_leads.csv")
    (tmp_path / "starter" / "kpi_config.yaml").write_text(text)
    assert ok("validate", "-q") == ""
    data = json.loads(ok("report", "--as-of", AS_OF, "-p", "last-month", "-f", "json"))
    assert {r["kpi"] for r in data["rows"]} >= {"spend", "ctr", "cpl", "leads", "mqls"}


def preset_config(*names: str, sample: bool = False) -> str:
    from kpicli.commands.init import starter_config

    return starter_config(names, sample=sample)


def test_init_presets(folder: Path) -> None:
    from kpicli.spec.config import config_issues

    out = ok("init", "mkt", "--preset", "google_ads,hubspot_contacts", "--preset", "mailchimp")
    assert "put your exports in mkt/exports/" in out
    text = (folder / "mkt" / "kpi_config.yaml").read_text()
    assert text == preset_config("google_ads", "hubspot_contacts", "mailchimp")
    data = yaml.safe_load(text)
    assert list(data["sources"]) == ["google_ads", "hubspot_contacts", "mailchimp"]
    assert data["sources"]["google_ads"]["path"] == "exports/google_ads*.csv"
    assert data["sources"]["google_ads"]["preset"] == "google_ads"
    assert "google_ads_cpc" in data["kpis"] and "hubspot_mqls" in data["kpis"]
    cfg, issues = config_issues(folder / "mkt" / "kpi_config.yaml")
    assert cfg is not None and issues == []


def test_init_sample_with_preset_adds_to_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path
    monkeypatch.chdir(folder)
    ok("init", "--sample", "--preset", "ga4")
    data = yaml.safe_load((folder / "kpi_config.yaml").read_text())
    assert list(data["sources"]) == ["ads", "leads", "email", "web", "ga4"]
    assert "cpl" in data["kpis"] and "ga4_engagement_rate" in data["kpis"]
    assert (folder / "exports").is_dir()


def test_init_unknown_preset_exit_2(folder: Path, golden) -> None:
    golden("cmd_init_unknown_preset.txt", error(2, "init", "--preset", "gogle_ads"))
    assert not (folder / "kpi_config.yaml").exists()


def test_init_into_a_file_exit_2(folder: Path) -> None:
    (folder / "afile").write_text("")
    assert error(2, "init", "afile") == (
        "usage error: `afile` is a file, not a folder\n  hint: choose another DIR\n"
    )


def test_template_config_is_the_shipped_one() -> None:
    """kpi init --sample writes kpicli/templates/kpi_config.yaml: keep it equal to the root's."""
    template = ROOT / "kpicli" / "templates" / "kpi_config.yaml"
    assert template.read_text() == SHIPPED, "copy kpi_config.yaml to kpicli/templates/"


def test_preset_templates_match_the_presets(tmp_path: Path) -> None:
    """Every preset has a template; each template's KPIs use the preset's canonical columns."""
    from kpicli.commands.init import PRESET_NAMES
    from kpicli.spec.config import config_issues
    from kpicli.spec.formula import parse
    from kpicli.spec.presets import PRESETS

    if not PRESETS:
        pytest.skip("no presets in this version of the reader")
    assert set(PRESET_NAMES) == set(PRESETS)
    for name in PRESET_NAMES:
        data = yaml.safe_load(preset_config(name))
        (source,) = data["sources"].values()
        columns = getattr(PRESETS[name], "columns", None)
        if columns is None:
            continue
        have = set(columns) | set(source.get("derive", {}))
        used = {source.get("date")} - {None}
        for k in data["kpis"].values():
            if k.get("source"):
                used |= set(parse(k["formula"]).names) | {k.get("date")} - {None}
                used |= set(parse(k["filter"]).names) if k.get("filter") else set()
        assert used <= have, (name, used - have)
    for name in PRESET_NAMES:  # each alone is a valid configuration
        path = tmp_path / f"{name}.yaml"
        path.write_text(preset_config(name))
        cfg, issues = config_issues(path)
        assert cfg is not None and issues == [], (name, issues)


#: One tiny export per preset, as the tool writes it (headers, number and date formats).
EXPORTS = {
    "google_ads": 'Campaign report\n"All time"\nDay,Campaign,Impr.,Clicks,Cost,Conversions,'
    'Conv. value\n2026-10-01,Brand,"1,000",50,25.50,2,200\n2026-10-02,Brand,900,40,20.00,1,100\n'
    'Total: Account,,"1,900",90,45.50,3,300\n',
    "meta_ads": "Reporting starts,Reporting ends,Campaign name,Reach,Impressions,Link clicks,"
    "Amount spent (EUR),Results,Purchases conversion value\n"
    "2026-10-01,2026-10-01,A,100,200,10,5.5,1,20\n",
    "linkedin_ads": "Start Date (in UTC),Campaign Name,Impressions,Clicks,Total Spent,Leads,"
    "Conversions\n10/15/2026,A,100,5,20.5,1,2\n",
    "microsoft_ads": "Gregorian date,Campaign name,Impressions,Clicks,Spend,Conversions,Revenue\n"
    "2026-10-01,A,100,5,2.5,1,10\n",
    "ga4": "# GA4 export\nDate,Sessions,New users,Engaged sessions,Average session duration,"
    "Key events,Total revenue\n20261001,10,5,6,60.5,1,10\n20261002,20,5,12,30,2,0\n",
    "search_console": "Top queries,Clicks,Impressions,CTR,Position\n"
    "kpi tool,10,100,10%,2.5\ncpl,5,200,2.5%,7\n",
    "hubspot_contacts": "Record ID,Create Date,Lifecycle Stage,Original Source,"
    "Became a Marketing Qualified Lead Date,Became a Sales Qualified Lead Date,"
    "Became a Customer Date\n1,2026-10-01,lead,Paid Search,2026-10-03,,\n"
    "2,2026-10-02,customer,Direct Traffic,2026-10-02,2026-10-04,2026-10-09\n",
    "hubspot_deals": "Record ID,Create Date,Close Date,Amount,Deal Stage,Pipeline,Is Closed Won,"
    "Original Traffic Source\n1,2026-10-01,2026-10-05,1000,closedwon,default,true,Direct\n"
    "2,2026-10-02,,500,appointment,default,false,Direct\n",
    "mailchimp": "Title,Subject,List,Send Date,Total Recipients,Successful Deliveries,"
    'Total Bounces,Unique Opens,Unique Clicks,Unsubscribes\nNews,Hi,Main,"Oct 01, 2026 10:00 am",'
    "100,98,2,40,10,1\n",
    "tiktok_ads": "By Day,Campaign name,Cost,Impressions,Clicks (destination),Conversions\n"
    '2026-10-01,A,"1,200.50",1000,40,4\n2026-10-02,A,99.50,500,10,1\n',
    "salesforce_opportunities": '"Opportunity Name","Stage","Amount","Close Date","Created Date"\n'
    '"A","Closed Won","1000.00","10/20/2026","10/13/2026"\n'
    '"B","Prospecting","","12/31/2026","10/15/2026"\n\n\n"Pipeline"\n'
    '"Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved."\n'
    '"Confidential Information - Do Not Distribute"\n'
    '"Generated By:  Jane Smith  11/2/2026 9:41 AM"\n"Example Ltd"\n',
    "salesforce_leads": '"Lead Owner","Lead Source","Lead Status","Created Date"\n'
    '"Jane","Web","Open","10/14/2026"\n"Tom","Partner","Open","10/22/2026"\n\n'
    '"Grand Totals (2 records)"\n',
}


@pytest.mark.slow
def test_init_presets_read_exports_as_downloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every preset's template over an export as the tool writes it: valid, right values."""
    from kpicli.commands.init import PRESET_NAMES
    from kpicli.spec.presets import PRESETS

    if not set(PRESET_NAMES) <= set(PRESETS):
        pytest.skip("the reader of this version has no presets")
    monkeypatch.chdir(tmp_path)
    ok("init", "--preset", ",".join(PRESET_NAMES))
    for name, text in EXPORTS.items():
        (tmp_path / "exports" / f"{name}.csv").write_text(text)
    assert ok("validate", "-q") == ""
    data = json.loads(ok("report", "-p", "2026-10", "--as-of", AS_OF, "-f", "json"))
    values = {r["kpi"]: r["value"] for r in data["rows"]}
    assert values["google_ads_spend"] == 45.5 and values["google_ads_impressions"] == 1900
    assert values["meta_ads_cost_per_result"] == 5.5
    assert values["linkedin_ads_cpl"] == 20.5
    assert values["microsoft_ads_roas"] == 4
    assert values["ga4_avg_session_duration"] == pytest.approx((60.5 * 10 + 30 * 20) / 30)
    assert values["hubspot_mqls"] == 2 and values["hubspot_mql_to_sql_rate"] == 0.5
    assert values["hubspot_won_revenue"] == 1000 and values["hubspot_deal_win_rate"] == 0.5
    assert values["mailchimp_open_rate"] == pytest.approx(40 / 98)
    assert values["tiktok_ads_spend"] == 1300 and values["tiktok_ads_cpa"] == 260
    assert values["salesforce_pipeline_created"] == 1000
    assert values["salesforce_won_revenue"] == 1000 and values["salesforce_deals_won"] == 1
    assert values["salesforce_leads"] == 2 and values["salesforce_web_lead_share"] == 0.5
    assert not any(k.startswith("search_console") for k in values)  # hidden: no date


def test_sample_generator_wrapper_is_thin() -> None:
    text = (ROOT / "sample_data" / "generate.py").read_text()
    assert "from kpicli.commands.sample import generate" in text and len(text.splitlines()) < 40


# ---------------------------------------------------------------------------- kpi schema


def test_schema_is_up_to_date() -> None:
    """kpi_schema.json (the modeline's target) is what `kpi schema` prints."""
    out = ok("schema")
    assert out == (ROOT / "kpi_schema.json").read_text(), "run: kpi schema -o kpi_schema.json"


def test_schema_output_file(tmp_path: Path) -> None:
    target = tmp_path / "s.json"
    r = kpi("schema", "-o", str(target))
    assert r.exit_code == 0 and r.stdout == "" and r.stderr == f"wrote {target}\n"
    assert json.loads(target.read_text())["title"] == "kpi_config.yaml"
    r = kpi("schema", "-o", str(target), "-q")
    assert r.exit_code == 0 and r.stderr == ""


def test_schema_output_error_exit_4(tmp_path: Path) -> None:
    (tmp_path / "no").write_text("a file")
    msg = error(4, "schema", "-o", str(tmp_path / "no" / "s.json"))
    assert msg.startswith("output error:")


def test_shipped_config_has_the_modeline() -> None:
    assert SHIPPED.splitlines()[0] == "# yaml-language-server: $schema=kpi_schema.json"


def _check(schema: dict, root: dict, value: Any, path: str = "") -> list[str]:
    """A small JSON Schema checker (the keywords `kpi schema` uses), for the tests."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return _check(root["$defs"][name], root, value, path)
    if "anyOf" in schema:
        if any(not _check(s, root, value, path) for s in schema["anyOf"]):
            return []
        return [f"{path}: no alternative matches {value!r}"]
    errors = []
    kind = schema.get("type")
    types = {
        "object": dict,
        "array": list,
        "string": str,
        "number": (int, float),
        "integer": int,
        "boolean": bool,
        "null": type(None),
    }
    if kind and not isinstance(value, types[kind]):
        return [f"{path}: not {kind}"]
    if kind in ("number", "integer") and isinstance(value, bool):
        return [f"{path}: not {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: {value!r} != {schema['const']!r}")
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{path}: below minimum")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for req in schema.get("required", []):
            if req not in value:
                errors.append(f"{path}.{req}: required")
        for k, v in value.items():
            if "propertyNames" in schema:
                import re

                if not re.match(schema["propertyNames"]["pattern"], k):
                    errors.append(f"{path}.{k}: bad name")
            if k in props:
                errors += _check(props[k], root, v, f"{path}.{k}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}.{k}: unknown key")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += _check(schema["additionalProperties"], root, v, f"{path}.{k}")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            errors += _check(schema["items"], root, v, f"{path}[{i}]")
    return errors


def test_schema_accepts_what_the_config_accepts() -> None:
    schema = json.loads((ROOT / "kpi_schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["description"]
    texts = [SHIPPED, preset_config(), preset_config("google_ads", "ga4", "hubspot_deals")]
    for text in texts:
        assert _check(schema, schema, yaml.safe_load(text)) == []
    single = {"version": 1, "sources": {"a": {"path": "x.csv"}}, "kpis": {"k": {"formula": "1"}}}
    assert _check(schema, schema, single) == []
    single["kpis"]["k"]["target"] = 5
    assert _check(schema, schema, single) == []


def test_schema_rejects_what_the_config_rejects() -> None:
    schema = json.loads((ROOT / "kpi_schema.json").read_text())
    cfg = yaml.safe_load(SHIPPED)
    cfg["kpis"]["cpa"]["beter"] = "lower"
    cfg["kpis"]["ctr"]["unit"] = "pct"
    cfg["kpis"]["bad name"] = {"formula": "1"}
    cfg["sources"]["ads"]["delimiter"] = ":"
    del cfg["kpis"]["leads"]["formula"]
    errors = _check(schema, schema, cfg)
    assert len(errors) == 5, errors


def test_every_described_key_has_a_description() -> None:
    schema = json.loads((ROOT / "kpi_schema.json").read_text())
    for name, model in [("root", schema), *schema["$defs"].items()]:
        for key, prop in model["properties"].items():
            assert prop.get("description"), (name, key)


def test_today_is_not_needed_for_the_goldens() -> None:
    """The goldens above pin --as-of; explain without it uses today (a smoke test)."""
    data = json.loads(ok("explain", "leads", "-c", CONFIG, "-f", "json", "-p", "last-month"))
    assert data["as_of"] == date.today().isoformat()
