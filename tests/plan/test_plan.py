"""The plan is data, built without reading: from the config, the request and the sources as
ingest described them. The engine executes it (and is the one that reads)."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from kpicli import DataError, Request, load_config
from kpicli.execute.engine import execute, prepare_report, run_report
from kpicli.ingest.scan import scan_source
from kpicli.plan.build import RANGE, Plan, build_plan, sources_read

CONFIG = """\
version: 1
sources:
  ads: {path: ads.csv, date: day}
kpis:
  spend: {source: ads, formula: SUM(spend)}
  clicks: {source: ads, formula: SUM(clicks), filter: "channel = 'a'"}
  cpc: {formula: spend / clicks}
"""
ROWS = "day,channel,spend,clicks\n2026-01-01,a,1.5,3\n2026-01-02,b,2.5,4\n2026-02-01,a,4,1\n"
REQUEST = Request(
    period="2026-01",
    grain="month",
    by=("channel",),
    where="spend > 0",
    as_of=date(2026, 3, 1),
)


@pytest.fixture
def cfg_path(tmp_path: Path) -> Path:
    (tmp_path / "ads.csv").write_text(ROWS)
    path = tmp_path / "kpi_config.yaml"
    path.write_text(CONFIG)
    return path


def engine_objects(value: object, seen: set[int] | None = None) -> list[str]:
    """The Polars frames and expressions found anywhere in a plan (but its config)."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return []
    seen.add(id(value))
    if isinstance(value, pl.LazyFrame | pl.DataFrame | pl.Expr | pl.Series):
        return [type(value).__name__]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [f.name for f in dataclasses.fields(value) if f.name != "config"]
        return [x for name in fields for x in engine_objects(getattr(value, name), seen)]
    if isinstance(value, dict):
        return [x for item in value.items() for x in engine_objects(item, seen)]
    if isinstance(value, list | tuple | set):
        return [x for item in value for x in engine_objects(item, seen)]
    return []


def test_a_plan_is_built_from_sources_whose_files_are_gone(cfg_path: Path) -> None:
    cfg = load_config(cfg_path)
    cache = cfg_path.parent / "cache"
    request = dataclasses.replace(REQUEST, cache=str(cache))
    sources = {s: scan_source(cfg, s) for s in sources_read(cfg, request)}
    (cfg_path.parent / "ads.csv").unlink()

    plan = build_plan(cfg, request, sources)

    assert not cache.exists()  # the plan opens no cache either
    assert plan.selected == ["spend", "clicks", "cpc"]
    assert plan.derived == ["cpc"]
    assert plan.keys == [RANGE, "channel"]
    assert plan.files == {"ads": (cfg_path.parent / "ads.csv",)}
    assert [(r.start, r.end) for r in plan.ranges] == [(date(2026, 1, 1), date(2026, 1, 31))]
    (agg,) = plan.aggregations
    assert (agg.source, agg.date_column, agg.dimensions) == ("ads", "day", ("channel",))
    assert sorted(agg.formulas) == ["clicks", "spend"]
    assert agg.formulas["clicks"] == 'SUM("clicks") FILTER(WHERE "channel" = \'a\')'
    assert agg.where == '"spend" > 0'
    assert agg.widened == ("clicks",)  # an integer sum, widened against overflow
    assert agg.empty == {"clicks": None, "spend": None}
    assert agg.decomposed is not None
    assert agg.decomposed.finals["clicks"] == f'"{agg.decomposed.partials[agg.formulas["clicks"]]}"'
    assert engine_objects(plan) == []  # data: SQL text, names, dates


def test_executing_a_plan_whose_files_are_gone_is_a_data_error(cfg_path: Path) -> None:
    cfg = load_config(cfg_path)
    sources = {s: scan_source(cfg, s) for s in sources_read(cfg, REQUEST)}
    plan = build_plan(cfg, REQUEST, sources)
    (cfg_path.parent / "ads.csv").unlink()
    with pytest.raises(DataError) as err:
        execute(plan, sources)
    assert err.value.location == str(cfg_path.parent / "ads.csv")
    assert "is gone" in str(err.value)


def test_the_plan_executed_is_the_plan_built(cfg_path: Path) -> None:
    cfg = load_config(cfg_path)
    prepared = prepare_report(cfg, REQUEST)
    result = prepared.run()
    assert result.plan is prepared.plan
    assert isinstance(result.plan, Plan)
    by = {(r["kpi"], r["channel"]): r["value"] for r in result.rows.iter_rows(named=True)}
    assert by == {
        ("spend", "a"): 1.5,
        ("spend", "b"): 2.5,
        ("clicks", "a"): 3.0,
        ("clicks", "b"): None,
        ("cpc", "a"): 0.5,
        ("cpc", "b"): None,
    }
    assert result.rows.equals(run_report(cfg, REQUEST).rows)


def test_warnings_travel_in_the_result(cfg_path: Path) -> None:
    """A warning about the data is in ``Result.warnings`` and in the notes passed in."""
    from kpicli.errors import Notes

    (cfg_path.parent / "ads.csv").write_text(
        "day,channel,channel,spend,clicks\n2026-01-01,a,a,1,2\n"
    )
    notes = Notes()
    result = run_report(load_config(cfg_path), Request(as_of=date(2026, 3, 1)), notes=notes)
    assert len(result.warnings) == 1
    assert "columns named `channel`" in result.warnings[0]
    assert list(notes) == list(result.warnings)


def test_a_failed_fast_path_reads_again_and_runs_the_same_plan(tmp_path: Path, monkeypatch) -> None:
    """A date cell past the sniffer's samples that the CSV reader cannot parse: the engine
    reads the sources again the careful way and executes the plan it was given (built
    once), with the values of the careful reading."""
    import kpicli.execute.engine as engine
    from kpicli.ingest.detect import SAMPLE_BYTES, TAIL_BYTES

    lines, size, i = ["day,channel,spend,clicks"], 0, 0
    while size < 2 * SAMPLE_BYTES + 3 * TAIL_BYTES:
        if size >= 2 * SAMPLE_BYTES and "2026-01-05 ,a,1000,1" not in lines:
            lines.append("2026-01-05 ,a,1000,1")  # padded: the fast reader fails on it
        lines.append(f"2026-01-{1 + i % 28:02d},{'ab'[i % 2]},1,1")
        size += len(lines[-1]) + 1
        i += 1
    (tmp_path / "ads.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "kpi_config.yaml").write_text(CONFIG)
    built = []
    monkeypatch.setattr(engine, "build_plan", lambda *a: built.append(1) or build_plan(*a))
    request = Request(period="2026-01", as_of=date(2026, 3, 1), kpis=("spend",))
    prepared = prepare_report(load_config(tmp_path / "kpi_config.yaml"), request)
    result = prepared.run()
    assert result.reread  # the fast path failed, the sources were read again
    assert result.plan is prepared.plan and built == [1]
    assert result.rows["value"].to_list() == [float(i + 1000)]
