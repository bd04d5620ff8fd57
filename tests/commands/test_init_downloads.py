"""`kpi init` in a folder of downloads, end to end: each export's preset recognised from its
header, sources pointed at the files as the vendors name them, `date:` only where the export
has a date column; then `kpi validate` and `kpi report` work on the files as downloaded, and
a file whose preamble states its period counts over a `--period` that covers it. Values are
checked against the csv module over the same bytes."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kpicli.cli import app

TESTS = Path(__file__).resolve().parents[1]
REAL = TESTS / "data" / "exports" / "real"
DOWNLOADS = TESTS / "data" / "exports14" / "presets" / "downloads"
GOOGLE_ADS = "Campaign report.csv"
GA4 = "Landing_page_Landing_page.csv"

runner = CliRunner()


def kpi(*args: str):
    return runner.invoke(app, list(args))


def ok(*args: str) -> str:
    r = kpi(*args)
    assert r.exit_code == 0, (r.exit_code, r.output)
    return r.stdout


def values(*args: str) -> dict[str, float]:
    out = ok("report", "-p", "all", "-f", "json", "--as-of", "2026-12-31", *args)
    return {row["kpi"]: row["value"] for row in json.loads(out)["rows"]}


def table(text: str, delimiter: str = ",") -> list[dict[str, str]]:
    """The data rows of an export by the csv module: from its header (the first line with
    the delimiter and no `#`), without `Total:` rows."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if delimiter in line and line[0] != "#")
    reader = csv.DictReader(io.StringIO("\n".join(lines[start:])), delimiter=delimiter)
    return [r for r in reader if not next(iter(r.values())).startswith("Total:")]


def number(cell: str) -> float:
    cell = cell.strip()
    return 0.0 if cell in ("", "--") else float(cell.replace(",", ""))


@pytest.fixture
def downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding the real downloads under the names the vendors give them."""
    shutil.copyfile(REAL / "google_ads__intragoinc_cp-mktg-google-ads-i.csv", tmp_path / GOOGLE_ADS)
    shutil.copyfile(REAL / "ga4__Anas3rdshade_Teefusion.csv", tmp_path / GA4)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_init_recognises_the_downloads(downloads: Path) -> None:
    out = ok("init")
    assert "Campaign report.csv: google_ads" in out
    assert "Landing_page_Landing_page.csv: ga4" in out
    text = (downloads / "kpi_config.yaml").read_text()
    assert 'path: "Campaign report.csv"' in text  # a space: quoted
    config = yaml.safe_load(text)
    sources = config["sources"]
    assert set(sources) == {"google_ads", "ga4"}
    assert sources["google_ads"]["path"] == GOOGLE_ADS
    assert sources["ga4"]["path"] == GA4
    # neither export is split by day: no date, said in a comment
    assert "date" not in sources["google_ads"] and "date" not in sources["ga4"]
    assert "# date: date  # no `date` column in Campaign report.csv" in text
    assert not (downloads / "exports").exists()  # nothing to put there


def test_validate_and_report_work_as_downloaded(downloads: Path) -> None:
    ok("init")
    assert ok("validate", "-q") == ""
    got = values()
    ads = table((downloads / GOOGLE_ADS).read_text(encoding="utf-8"))
    spend = sum(number(r["Cost"]) for r in ads)
    clicks = sum(number(r["Clicks"]) for r in ads)
    assert got["google_ads_spend"] == pytest.approx(spend)
    assert got["google_ads_clicks"] == clicks
    assert got["google_ads_impressions"] == sum(number(r["Impr."]) for r in ads)
    assert got["google_ads_cpc"] == pytest.approx(spend / clicks)
    ga4 = table((downloads / GA4).read_text(encoding="utf-8"))
    sessions = sum(number(r["Sessions"]) for r in ga4)
    assert got["ga4_sessions"] == sessions
    assert got["ga4_conversions"] == sum(number(r["Key events"]) for r in ga4)
    assert got["ga4_session_conversion_rate"] == pytest.approx(
        sum(number(r["Key events"]) for r in ga4) / sessions
    )
    # KPIs over columns these exports lack are left out (not failing the report)
    assert "ga4_engagement_rate" not in got and "google_ads_roas" not in got


def test_a_stated_period_works_with_period(downloads: Path) -> None:
    """GA4's preamble states 20250201 to 20250804: its KPIs count over a period covering it,
    and a period that cuts it is refused, saying why; Google Ads' `All time` covers no dated
    period."""
    ok("init")
    ga4 = table((downloads / GA4).read_text(encoding="utf-8"))
    got = values("--period", "2025", "-k", "ga4_sessions")
    assert got["ga4_sessions"] == sum(number(r["Sessions"]) for r in ga4)
    got = values("--from", "2025-02-01", "--to", "2025-08-04", "-k", "ga4_sessions")
    assert got["ga4_sessions"] == sum(number(r["Sessions"]) for r in ga4)
    r = kpi(
        "report", "-p", "all", "--period", "2025-03", "-k", "ga4_sessions", "--as-of", "2026-12-31"
    )
    assert r.exit_code == 2
    assert "states the period `20250201 - 20250804` (2025-02-01 to 2025-08-04)" in r.output
    r = kpi("report", "-p", "all", "--period", "2025", "--as-of", "2026-12-31")
    assert r.exit_code == 2
    assert "Campaign report.csv states `All time`" in r.output
    r = kpi("report", "-p", "all", "--period", "2025", "--grain", "month", "-k", "ga4_sessions")
    assert r.exit_code == 2  # a total over months cannot be split by month


def test_excel_csv_download_with_a_uk_date_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Google Ads' "Excel CSV" (UTF-16, tabs) with `27 January 2026 - 23 February 2026`."""
    shutil.copyfile(DOWNLOADS / GOOGLE_ADS, tmp_path / GOOGLE_ADS)
    monkeypatch.chdir(tmp_path)
    ok("init")
    assert ok("validate", "-q") == ""
    ads = table((tmp_path / GOOGLE_ADS).read_bytes().decode("utf-16"), "\t")
    spend = sum(number(r["Cost"]) for r in ads)
    assert values("--period", "2026")["google_ads_spend"] == pytest.approx(spend)
    got = values("--from", "2026-01-27", "--to", "2026-02-23")
    assert got["google_ads_conversions"] == pytest.approx(
        sum(number(r["Conversions"]) for r in ads)
    )
    r = kpi("report", "-p", "all", "--period", "2026-02", "--as-of", "2026-12-31")
    assert r.exit_code == 2 and "27 January 2026 - 23 February 2026" in r.output


def test_a_report_by_day_gets_its_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file name with glob characters is escaped; a `Day` column becomes `date:`."""
    name = "Campaign report [by day].csv"
    shutil.copyfile(DOWNLOADS / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    ok("init")
    source = yaml.safe_load((tmp_path / "kpi_config.yaml").read_text())["sources"]["google_ads"]
    assert source["path"] == "Campaign report [[]by day].csv"
    assert source["date"] == "date"
    rows = table((tmp_path / name).read_text(encoding="utf-8"))
    feb = [r for r in rows if r["Day"].startswith("2026-02")]
    got = values("--period", "2026-02")
    assert got["google_ads_spend"] == pytest.approx(sum(number(r["Cost"]) for r in feb))
    assert got["google_ads_clicks"] == sum(number(r["Clicks"]) for r in feb)


def test_preset_given_points_at_the_download(downloads: Path) -> None:
    """`--preset` names the sources; the recognised files of those presets are used."""
    ok("init", "--preset", "ga4")
    sources = yaml.safe_load((downloads / "kpi_config.yaml").read_text())["sources"]
    assert list(sources) == ["ga4"] and sources["ga4"]["path"] == GA4
    assert ok("validate", "-q") == ""


def test_nothing_recognised_writes_the_starter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")
    monkeypatch.chdir(tmp_path)
    out = ok("init")
    assert "put your exports in" in out
    assert (tmp_path / "exports").is_dir()


def test_search_console_tables_are_sources_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Queries.csv` and `Dates.csv` of one Search Console download are two sources (summed
    together they would count every click twice); `Dates.csv` is dated."""
    shutil.copyfile(
        REAL / "gsc_queries__DanielTheC_internal-lnking-tool.csv", tmp_path / "Queries.csv"
    )
    shutil.copyfile(DOWNLOADS / "Dates.csv", tmp_path / "Dates.csv")
    monkeypatch.chdir(tmp_path)
    out = ok("init")
    assert "found Dates.csv: search_console (dated by `date`)" in out
    sources = yaml.safe_load((tmp_path / "kpi_config.yaml").read_text())["sources"]
    assert sources["search_console"] == {
        "path": "Dates.csv",
        "preset": "search_console",
        "date": "date",
    }
    assert sources["search_console_queries"]["path"] == "Queries.csv"
    assert "date" not in sources["search_console_queries"]
    assert ok("validate", "-q") == ""
    queries = table((tmp_path / "Queries.csv").read_text(encoding="utf-8"))
    dates = table((tmp_path / "Dates.csv").read_text(encoding="utf-8"))
    got = values()
    assert got["search_console_clicks_queries"] == sum(number(r["Clicks"]) for r in queries)
    assert got["search_console_clicks"] == sum(number(r["Clicks"]) for r in dates)
    feb = [r for r in dates if r["Date"].startswith("2026-02")]
    got = values("--period", "2026-02", "-k", "search_console_clicks,search_console_ctr")
    clicks = sum(number(r["Clicks"]) for r in feb)
    assert got["search_console_clicks"] == clicks
    assert got["search_console_ctr"] == pytest.approx(
        clicks / sum(number(r["Impressions"]) for r in feb)
    )
