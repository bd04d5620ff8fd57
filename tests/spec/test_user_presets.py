"""Presets of one's own: `presets/` beside the config (or `settings.presets`), in the built-in
presets' format; seen by `kpi sources`, `kpi validate`, `kpi report` and `kpi init --preset`;
a wrong file gets the config's located errors (file:line key, exit 2)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kpicli.cli import app

runner = CliRunner()

PIPEDRIVE = """\
title: Pipedrive deals export
columns:
  created_at: [Deal created on, Created]
  amount: Value
  stage: Stage
types:
  created_at: date
  amount: number
summary_rows:
  - {label: Pipedrive footer, pattern: "Exported from Pipedrive.*", alone: true}
"""

#: A Pipedrive-like export: a footer line after a blank line, quoted thousands.
DEALS = (
    "Deal created on,Title,Value,Stage\n"
    '2026-01-05,A,"1,100.50",Won\n'
    "2026-01-20,B,200,Lost\n"
    "2026-02-03,C,50,Won\n"
    "\n"
    "Exported from Pipedrive on 2026-02-10\n"
)

CONFIG = """\
sources:
  deals: {path: exports/deals.csv, preset: pipedrive, date: created_at}
kpis:
  deal_value: {source: deals, formula: SUM(amount)}
  won_value: {source: deals, formula: SUM(amount), filter: "stage = 'Won'"}
  deals: {source: deals, formula: COUNT(*)}
"""


def kpi(*args: str):
    return runner.invoke(app, list(args))


def expected() -> dict[str, float]:
    """The sums over the export's data rows, by the csv module."""
    rows = list(csv.DictReader(io.StringIO(DEALS.split("\n\n")[0] + "\n")))
    amount = [float(r["Value"].replace(",", "")) for r in rows]
    won = [a for a, r in zip(amount, rows, strict=True) if r["Stage"] == "Won"]
    return {"deal_value": sum(amount), "won_value": sum(won), "deals": len(rows)}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "pipedrive.yaml").write_text(PIPEDRIVE)
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "deals.csv").write_text(DEALS)
    (tmp_path / "kpi_config.yaml").write_text(CONFIG)
    return tmp_path


def report_values(*args: str) -> dict[str, float]:
    r = kpi("report", "-p", "all", "-f", "json", "--as-of", "2026-12-31", *args)
    assert r.exit_code == 0, r.output
    return {row["kpi"]: row["value"] for row in json.loads(r.stdout)["rows"]}


def test_a_user_preset_reads_its_export(project: Path) -> None:
    assert report_values() == pytest.approx(expected())
    assert kpi("validate", "-q").exit_code == 0
    r = kpi("sources")
    assert r.exit_code == 0, r.output
    assert "preset pipedrive (presets/pipedrive.yaml)" in r.stdout
    assert "summary row `Pipedrive footer`" in r.stdout
    data = json.loads(kpi("sources", "-f", "json").stdout)
    (source,) = data["sources"] if isinstance(data, dict) else data
    columns = {c["name"]: c for c in source["columns"]}
    assert columns["created_at"]["header"] == "Deal created on"


def test_a_user_preset_dates_its_rows_and_reads_points_and_durations(project: Path) -> None:
    """`date:` in a preset file dates a source that sets none (so --period works), and the
    types of the built-in presets apply: a rate written 23.5 for 23.5 %, a time as m:ss."""
    (project / "presets" / "newsletter.yaml").write_text(
        "columns:\n  sent_on: Sent on\n  open_rate: Open rate\n  read_time: Read time\n"
        "types:\n  sent_on: date\n  open_rate: percent_points\n  read_time: duration\n"
        "date: sent_on\n"
    )
    (project / "exports" / "news.csv").write_text(
        "Sent on,Open rate,Read time\n2026-01-05,23.5,1:40\n2026-02-02,30,00:02:00\n"
    )
    (project / "kpi_config.yaml").write_text(
        "sources:\n  news: {path: exports/news.csv, preset: newsletter}\n"
        "kpis:\n  open_rate: {source: news, formula: AVG(open_rate)}\n"
        "  read_time: {source: news, formula: SUM(read_time)}\n"
    )
    assert report_values("--period", "2026-01") == pytest.approx(
        {"open_rate": 0.235, "read_time": 100.0}
    )
    assert report_values() == pytest.approx({"open_rate": (0.235 + 0.30) / 2, "read_time": 220})
    (project / "presets" / "newsletter.yaml").write_text(
        "columns:\n  sent_on: Sent on\ndate: sent\n"
    )
    r = kpi("validate")
    assert r.exit_code == 2 and "newsletter.yaml:3 date: `date` names `sent`" in r.output


def test_settings_presets_names_another_folder(project: Path) -> None:
    (project / "presets").rename(project / "my_formats")
    assert kpi("report").exit_code == 2  # the preset is unknown without its folder
    cfg = "settings: {presets: my_formats}\n" + CONFIG
    (project / "kpi_config.yaml").write_text(cfg)
    assert report_values() == pytest.approx(expected())
    (project / "kpi_config.yaml").write_text("settings: {presets: nowhere}\n" + CONFIG)
    r = kpi("validate")
    assert r.exit_code == 2
    assert "kpi_config.yaml:1 settings.presets: presets folder" in r.output


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ("columns:\n  amount: Value\ntypes:\n  amount: numbr\n", ":4 types.amount", "'numbr'"),
        ("columns:\n  amount: Value\ncolour: red\n", ":3 colour", "unknown key `colour`"),
        ("columns:\n  amount: Value\ntypes:\n  stage: date\n", ":4 types.stage", "not under"),
        (
            "columns:\n  amount: Value\nsummary_rows:\n  - {label: x, pattern: '(open'}\n",
            ":4 summary_rows.0.pattern",
            "invalid pattern",
        ),
        ("columns: [a\n", ":2:1", "invalid YAML"),
        ("columns:\n  2nd: Value\n", ":2 columns.2nd", "not an identifier"),
        ("- a\n- b\n", ":1", "must be a mapping"),
    ],
)
def test_a_wrong_preset_file_is_located(project: Path, text: str, where: str, says: str) -> None:
    (project / "presets" / "pipedrive.yaml").write_text(text)
    for command in ("validate", "report", "sources"):
        r = kpi(command)
        assert r.exit_code == 2, (command, r.output)
        assert "Traceback" not in r.output
        assert f"presets/pipedrive.yaml{where}" in r.output, r.output
        assert says in r.output


def test_a_built_in_name_needs_overrides(project: Path) -> None:
    """A file named like a built-in preset is an error, unless it says `overrides: true`:
    then it replaces the built-in preset for this configuration."""
    (project / "presets" / "pipedrive.yaml").rename(project / "presets" / "hubspot_deals.yaml")
    (project / "kpi_config.yaml").write_text(CONFIG.replace("pipedrive", "hubspot_deals"))
    r = kpi("validate")
    assert r.exit_code == 2
    assert "presets/hubspot_deals.yaml:1: preset `hubspot_deals` is built in" in r.output
    assert "overrides: true" in r.output
    path = project / "presets" / "hubspot_deals.yaml"
    path.write_text(PIPEDRIVE + "overrides: true\n")
    assert report_values() == pytest.approx(expected())  # the built-in has no `Value` alias
    assert "preset hubspot_deals (presets/hubspot_deals.yaml)" in kpi("sources").stdout


def test_a_changed_user_preset_is_not_served_from_the_cache(project: Path) -> None:
    (project / "kpi_config.yaml").write_text("settings: {cache: .cache}\n" + CONFIG)
    assert report_values() == pytest.approx(expected())
    text = PIPEDRIVE.replace("amount: Value", "amount: Missing header")
    (project / "presets" / "pipedrive.yaml").write_text(text)
    r = kpi("report")
    assert r.exit_code != 0  # `amount` is gone: not the cached frame that still has it


def test_init_preset_sees_user_presets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "pipedrive.yaml").write_text(PIPEDRIVE)
    r = kpi("init", "--preset", "pipedrive")
    assert r.exit_code == 0, r.output
    (tmp_path / "exports" / "pipedrive_deals.csv").write_text(DEALS)
    assert kpi("validate", "-q").exit_code == 0
    values = report_values()
    assert values["pipedrive_rows"] == 3
    assert values["pipedrive_amount"] == pytest.approx(expected()["deal_value"])
    r = kpi("init", "x", "--preset", "pipedriv")
    assert r.exit_code == 2 and "unknown preset `pipedriv`" in r.output


def test_init_refuses_a_wrong_preset_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "mine.yaml").write_text("columns: {}\n")
    r = kpi("init")
    assert r.exit_code == 2
    assert "presets/mine.yaml:1 columns: `columns` is empty" in r.output
    assert not (tmp_path / "kpi_config.yaml").exists()


def test_init_recognises_a_download_by_a_user_preset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "pipedrive.yaml").write_text(PIPEDRIVE)
    (tmp_path / "Deals export.csv").write_text(DEALS)
    r = kpi("init")
    assert r.exit_code == 0, r.output
    assert "found Deals export.csv: pipedrive (dated by `created_at`)" in r.stdout
    assert 'path: "Deals export.csv"' in (tmp_path / "kpi_config.yaml").read_text()
    values = report_values()
    assert values["pipedrive_rows"] == expected()["deals"]
    assert values["pipedrive_amount"] == pytest.approx(expected()["deal_value"])
