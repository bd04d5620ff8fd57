"""`kpi sources` and the data errors that name file, line, column and value (exit 3)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kpicli.cli import app

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "tests" / "data" / "exports" / "real"
runner = CliRunner()


def write_config(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "kpi_config.yaml"
    p.write_text("version: 1\n" + body)
    return p


def test_sources_on_the_shipped_config() -> None:
    r = runner.invoke(app, ["sources", "-c", str(ROOT / "kpi_config.yaml"), "-f", "json"])
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    by_name = {s["name"]: s for s in data["sources"]}
    assert set(by_name) == {"ads", "leads", "email", "web"}
    leads = by_name["leads"]
    import duckdb

    n = duckdb.sql(f"select count(*) from '{ROOT / 'sample_data' / 'crm_leads.csv'}'").fetchall()
    assert leads["rows"] == n[0][0]
    assert leads["date"]["column"] == "created_at"
    assert (leads["date"]["first"], leads["date"]["last"]) == ("2025-01-01", "2026-11-30")
    assert {c["name"] for c in leads["columns"]} >= {"created_at", "mql_at", "is_paid"}


def test_sources_table_names_files_and_columns() -> None:
    r = runner.invoke(app, ["sources", "ads", "-c", str(ROOT / "kpi_config.yaml")])
    assert r.exit_code == 0, r.stderr
    assert "ads_google_ads.csv" in r.stdout and "spend" in r.stdout and "leads" not in r.stdout


def test_sources_explains_dropped_summary_rows(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        "sources:\n"
        f"  gads: {{path: {REAL / 'google_ads__intragoinc_cp-mktg-google-ads-i.csv'}, "
        "preset: google_ads}\n"
        "kpis:\n  spend: {source: gads, formula: SUM(spend)}\n",
    )
    r = runner.invoke(app, ["sources", "-c", str(cfg), "-f", "json"])
    assert r.exit_code == 0, r.stderr
    (src,) = json.loads(r.stdout)["sources"]
    (file,) = src["files"]
    assert sum(file["rows_dropped"].values()) == 5
    assert any("Total" in reason for reason in file["rows_dropped"])
    assert file["period"]["text"] == "All time"


def test_sources_unknown_name_is_usage_error() -> None:
    r = runner.invoke(app, ["sources", "adz", "-c", str(ROOT / "kpi_config.yaml")])
    assert r.exit_code == 2
    assert "did you mean `ads`?" in r.stderr


def test_sources_missing_file_exit_3(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        "sources:\n  a: {path: nothing_*.csv, date: day}\n"
        "kpis:\n  n: {source: a, formula: COUNT(*)}\n",
    )
    r = runner.invoke(app, ["sources", "-c", str(cfg)])
    assert r.exit_code == 3
    assert "nothing_*.csv" in r.stdout + r.stderr


def test_bad_number_names_file_line_column_and_value(tmp_path: Path) -> None:
    rows = [f"2026-01-{d:02d},{d}.5" for d in range(1, 29)]
    rows[20] = "2026-01-21,twelve"  # beyond nothing: detection sees it, the column is text
    (tmp_path / "a.csv").write_text("day,spend\n" + "\n".join(rows) + "\n")
    cfg = write_config(
        tmp_path,
        "sources:\n  a: {path: a.csv, date: day}\nkpis:\n  s: {source: a, formula: SUM(spend)}\n",
    )
    r = runner.invoke(app, ["report", "-c", str(cfg), "--as-of", "2026-12-01"])
    assert r.exit_code == 3, r.stderr
    assert "Traceback" not in r.stderr
    assert "a.csv" in r.stderr and "spend" in r.stderr and "twelve" in r.stderr
    assert ":22" in r.stderr  # line 22 of the file (header on line 1)


def test_bad_value_beyond_the_sample_names_its_line(tmp_path: Path) -> None:
    n = 12_000
    lines = [f"2026-01-01,{i % 97}.25" for i in range(n)]
    lines[11_000] = "2026-01-01,1.2.3"
    (tmp_path / "a.csv").write_text("day,spend\n" + "\n".join(lines) + "\n")
    cfg = write_config(
        tmp_path,
        "sources:\n  a: {path: a.csv, date: day}\nkpis:\n  s: {source: a, formula: SUM(spend)}\n",
    )
    r = runner.invoke(app, ["report", "-c", str(cfg), "--as-of", "2026-12-01"])
    assert r.exit_code == 3, r.stderr
    assert "1.2.3" in r.stderr and "a.csv" in r.stderr and ":11002" in r.stderr
