"""How a --by total is made (a KPI's ``total:``: blended, sum, none) and the whole period's
row of --grain, against DuckDB over sample_data/ (read on its own, money as decimals).

Every case runs once per engine of the aggregation step (``--engine``: :data:`ENGINES`,
parametrised by the ``engine`` fixture)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from kpicli import Request, load_config, run_report
from kpicli.cli import app
from kpicli.render import render
from kpicli.spec import periods
from kpicli.spec.periods import DateRange

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "kpi_config.yaml"
DATA = ROOT / "sample_data"
AS_OF = date(2026, 11, 15)
OCTOBER = ("2026-10-01", "2026-10-31")
Q3, Q2 = ("2026-07-01", "2026-09-30"), ("2026-04-01", "2026-06-30")
PAID = ("google_ads", "linkedin_ads", "meta_ads")


@pytest.fixture(scope="module")
def db():
    con = duckdb.connect()
    money = "DECIMAL(18,2)"
    for table, pattern, types in (
        ("ads", "ads_*.csv", {"date": "DATE", "spend": money}),
        ("leads", "crm_leads.csv", {"created_at": "DATE"}),
    ):
        con.execute(
            f"CREATE TABLE {table} AS SELECT * FROM read_csv('{DATA / pattern}', header = true, "
            f"types = {types!r})"
        )
    yield con
    con.close()


@pytest.fixture(scope="module")
def cfg():
    return load_config(CONFIG)


def with_totals(cfg, **totals: str):
    """The config with the ``total:`` of some KPIs changed."""
    kpis = {**cfg.kpis}
    for name, how in totals.items():
        kpis[name] = kpis[name].model_copy(update={"total": how})
    return cfg.changed(kpis=kpis)


#: The engines every case runs on, each a parametrised run (``engine`` fixture).
ENGINES = ("polars", "duckdb")
_ENGINE: ContextVar[str] = ContextVar("totals_engine", default="polars")
pytestmark = pytest.mark.usefixtures("engine")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine" in metafunc.fixturenames:
        metafunc.parametrize("engine", ENGINES, indirect=True)


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    token = _ENGINE.set(request.param)
    yield request.param
    _ENGINE.reset(token)


def report(cfg, **request: Any):
    request.setdefault("as_of", AS_OF)
    request.setdefault("engine", _ENGINE.get())
    return run_report(cfg, Request(**request))


def one(db, sql: str) -> float | None:
    value = db.sql(sql).fetchall()[0][0]
    return None if value is None else float(value)


def spend(db, span: tuple[str, str], channels: tuple[str, ...] | None = None) -> float | None:
    where = f"date BETWEEN '{span[0]}' AND '{span[1]}'"
    if channels is not None:
        where += f" AND channel IN {channels!r}"
    return one(db, f"SELECT SUM(spend) FROM ads WHERE {where}")


def leads(db, span: tuple[str, str], channels: tuple[str, ...] | None = None) -> float:
    where = f"created_at BETWEEN '{span[0]}' AND '{span[1]}'"
    if channels is not None:
        where += f" AND channel IN {channels!r}"
    return float(one(db, f"SELECT COUNT(*) FROM leads WHERE {where}") or 0)


def totals(result, name: str) -> list[dict[str, Any]]:
    assert result.totals is not None
    return [r for r in result.totals.to_dicts() if r["kpi"] == name]


def close(got: Any, want: float | None) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return abs(got - want) <= 1e-9 * max(1.0, abs(want))


# ---------------------------------------------------------------------------- blended


def test_a_total_over_rows_the_kpi_has_no_value_for_is_blended(cfg, db) -> None:
    """CPL = spend / leads: the channels without ad rows have leads (DuckDB says so) and no
    CPL; the blended total divides all the spend by all the leads: marked, labelled."""
    unpaid = db.sql(
        "SELECT DISTINCT channel FROM leads WHERE created_at BETWEEN '2026-10-01' AND "
        "'2026-10-31' AND channel NOT IN (SELECT channel FROM ads)"
    ).fetchall()
    assert unpaid, "the sample has leads of channels that buy no ads"
    result = report(
        with_totals(cfg, cpl="blended"), period="2026-10", kpis=("cpl", "cpa"), by=("channel",)
    )
    assert result.blended == {"cpl"}  # CPA: spend and conversions both come from ads rows
    (total,) = totals(result, "cpl")
    assert close(total["value"], spend(db, OCTOBER) / leads(db, OCTOBER))
    document = json.loads(render(result, "json"))
    assert document["kpis"]["cpl"]["total"] == "blended"
    assert document["kpis"]["cpl"]["blended"] is True
    assert document["kpis"]["cpa"]["blended"] is False
    table = render(result, "table").decode()
    assert table.count("Total (blended)") == 1  # CPL's; CPA's total is a plain Total
    assert "blended: the total counts rows the KPI has no value for" in " ".join(table.split())
    assert "Total (blended)" in render(result, "markdown").decode()


def test_a_kpi_of_a_blended_kpi_is_blended(cfg) -> None:
    """Through another derived KPI: twice the CPL counts organic's leads too."""
    from kpicli.spec.config import Kpi

    changed = with_totals(cfg, cpl="blended")
    changed = changed.changed(kpis={**changed.kpis, "cpl2": Kpi(formula="cpl * 2")})
    result = report(changed, period="2026-10", kpis=("cpl2", "cpa"), by=("channel",))
    assert result.blended == {"cpl2"}


def test_no_total_is_blended_without_dimensions(cfg) -> None:
    result = report(with_totals(cfg, cpl="blended"), period="2026-10", kpis=("cpl",))
    assert result.blended == frozenset()
    assert "blended" not in render(result, "table").decode()


# ---------------------------------------------------------------------------- sum


def test_a_sum_total_of_a_ratio_is_its_inputs_over_the_rows_that_have_it(cfg, db) -> None:
    """The shipped CPL's total is the paid channels' spend over their leads; its previous
    (September) the same, and its change follows."""
    assert cfg.kpis["cpl"].total == "sum"
    result = report(cfg, period="2026-10", kpis=("cpl",), by=("channel",), compare="previous")
    (total,) = totals(result, "cpl")
    september = ("2026-09-01", "2026-09-30")
    want = spend(db, OCTOBER, PAID) / leads(db, OCTOBER, PAID)
    before = spend(db, september, PAID) / leads(db, september, PAID)
    assert close(total["value"], want) and close(total["previous"], before)
    assert close(total["change"], want - before)
    assert not close(want, spend(db, OCTOBER) / leads(db, OCTOBER))  # not the blended one
    assert result.blended == frozenset()
    assert "Total (blended)" not in render(result, "table").decode()


def test_a_sum_total_of_an_amount_sums_the_rows_shown(cfg, db) -> None:
    """With --limit, the rows shown: the 3 channels with the most leads, and their target
    (an amount's total target: the config's `total`, prorated) judges that sum."""
    result = report(
        with_totals(cfg, leads="sum"),
        period="2026-10",
        kpis=("leads",),
        by=("channel",),
        sort="leads",
        limit=3,
    )
    top = db.sql(
        "SELECT COUNT(*) AS n FROM leads WHERE created_at BETWEEN '2026-10-01' AND "
        "'2026-10-31' GROUP BY channel ORDER BY n DESC LIMIT 3"
    ).fetchall()
    (total,) = totals(result, "leads")
    assert close(total["value"], float(sum(n for (n,) in top)))
    assert total["value"] < leads(db, OCTOBER)
    target = periods.prorated_target(240, "week", DateRange(date(2026, 10, 1), date(2026, 10, 31)))
    assert close(total["target"], target)
    assert total["status"] == "bad"  # 3 channels' leads against the whole team's goal


@pytest.mark.parametrize(
    ("kpi", "words"),
    [
        ("avg_spend: {source: ads, formula: AVG(spend), total: sum}", "it is not an amount"),
        ("per_click: {formula: ctr * 100, total: sum}", "`ctr` is not an amount"),
    ],
)
def test_a_sum_that_cannot_be_made_is_a_config_error(tmp_path: Path, kpi: str, words) -> None:
    (tmp_path / "kpi_config.yaml").write_text(
        "version: 1\nsources:\n"
        f"  ads: {{path: '{DATA / 'ads_*.csv'}', date: date}}\n"
        "kpis:\n"
        "  clicks: {source: ads, formula: SUM(clicks)}\n"
        "  impressions: {source: ads, formula: SUM(impressions)}\n"
        "  ctr: {formula: clicks / impressions}\n"
        f"  {kpi}\n",
        encoding="utf-8",
    )
    name = kpi.split(":")[0]
    r = CliRunner().invoke(
        app,
        ["report", "-c", str(tmp_path / "kpi_config.yaml"), "-k", name, "--as-of", "2026-11-15"],
    )
    assert r.exit_code == 2
    assert f"kpis.{name}.total" in r.stderr and words in r.stderr
    assert "Traceback" not in r.stderr


# ---------------------------------------------------------------------------- none


def test_none_leaves_the_kpi_without_a_total_row(cfg) -> None:
    result = report(
        with_totals(cfg, cpl="none"), period="2026-10", kpis=("cpl", "spend"), by=("channel",)
    )
    assert totals(result, "cpl") == [] and len(totals(result, "spend")) == 1
    assert [t["kpi"] for t in json.loads(render(result, "json"))["totals"]] == ["spend"]
    lines = [json.loads(x) for x in render(result, "jsonl").decode().splitlines()]
    assert [x["kpi"] for x in lines if x.get("total")] == ["spend"]
    rows = list(csv.DictReader(io.StringIO(render(result, "csv").decode())))
    assert [x["kpi"] for x in rows if x["total"] == "true"] == ["spend"]
    for fmt in ("table", "markdown"):
        text = render(result, fmt).decode()
        assert text.count("Total") == 1, fmt  # spend's


# ---------------------------------------------------------------------------- whole period


def test_the_whole_period_of_a_grain_is_the_kpi_over_the_period(cfg, db, engine: str) -> None:
    """`-p 2026-q3 --grain month --compare previous -f json`: ``totals`` holds each KPI over
    the quarter, against the quarter before; the goal is prorated to the quarter."""
    r = CliRunner().invoke(
        app,
        [
            *("report", "-c", str(CONFIG), "--as-of", "2026-11-15", "-p", "2026-q3"),
            *("--grain", "month", "--compare", "previous", "-k", "leads,cpl,spend", "-f", "json"),
            *("--engine", engine),
        ],
    )
    assert r.exit_code == 0, r.stderr
    document = json.loads(r.stdout)
    assert len(document["rows"]) == 9 and "whole_period" not in document
    whole = {t["kpi"]: t for t in document["totals"]}
    assert list(whole) == ["leads", "cpl", "spend"]
    for t in whole.values():
        assert (t["period_start"], t["period_end"]) == Q3
    assert close(whole["leads"]["value"], leads(db, Q3))
    assert close(whole["leads"]["previous"], leads(db, Q2))
    assert close(whole["spend"]["value"], spend(db, Q3))
    assert close(whole["cpl"]["value"], spend(db, Q3) / leads(db, Q3))
    assert close(whole["cpl"]["previous"], spend(db, Q2) / leads(db, Q2))
    quarter = DateRange(date(2026, 7, 1), date(2026, 9, 30))
    assert close(whole["leads"]["target"], periods.prorated_target(240, "week", quarter))
    assert close(whole["spend"]["target"], periods.prorated_target(19500, "month", quarter))
    assert whole["leads"]["status"] == "bad"  # 2,597 leads against 3,154


def test_the_whole_period_by_channel_is_a_list_of_its_own(cfg, db) -> None:
    result = report(cfg, period="2026-q3", grain="month", kpis=("leads", "cpl"), by=("channel",))
    document = json.loads(render(result, "json"))
    assert {t["period_start"] for t in document["totals"]} == {
        "2026-07-01",
        "2026-08-01",
        "2026-09-01",
    }
    whole = {t["kpi"]: t for t in document["whole_period"]}
    assert close(whole["leads"]["value"], leads(db, Q3))
    # cpl's total is `sum`: the paid channels' spend over their leads, over the quarter
    assert close(whole["cpl"]["value"], spend(db, Q3, PAID) / leads(db, Q3, PAID))
    table = render(result, "table").decode()
    assert table.count("Whole period") == 2


def test_csv_and_jsonl_never_compute_the_whole_period(cfg) -> None:
    result = report(cfg, period="2026-q3", grain="month", kpis=("leads",), by=("channel",))

    def refused() -> None:
        raise AssertionError("the whole period was computed")

    result.whole_source = refused
    for fmt in ("csv", "jsonl", "parquet"):
        assert render(result, fmt)


def test_no_whole_period_without_a_grain(cfg) -> None:
    result = report(cfg, period="2026-q3", kpis=("leads",))
    assert result.whole is None
    assert "Whole period" not in render(result, "table").decode()
