"""`kpi validate` and `kpi report` agree: a configuration validate calls valid runs, and one
it refuses is refused by report with the same exit code (issue 11: an empty config and
`target: .nan` were "valid" for validate while report refused the first and ignored the
second)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kpicli.cli import app

runner = CliRunner()

DATA = "day,channel,spend,clicks\n2026-01-01,a,10,2\n2026-01-02,b,5,1\n"
HEAD = "version: 1\nsources:\n  s: {path: data.csv, date: day}\n"


def _run(folder: Path, config: str) -> tuple[int, int, str, str]:
    (folder / "data.csv").write_text(DATA)
    path = folder / "kpi_config.yaml"
    path.write_text(config)
    v = runner.invoke(app, ["validate", "-c", str(path)])
    r = runner.invoke(app, ["report", "-c", str(path), "--as-of", "2026-01-31"])
    return v.exit_code, r.exit_code, v.output, r.stderr


@pytest.mark.parametrize(
    "config",
    ["", "version: 1\n", HEAD, HEAD + "kpis: {}\n", "version: 1\nsources: {}\nkpis: {}\n"],
    ids=["empty file", "version only", "no kpis key", "empty kpis", "empty sources and kpis"],
)
def test_a_config_without_kpis_is_refused_by_both(tmp_path: Path, config: str) -> None:
    v, r, out, err = _run(tmp_path, config)
    assert (v, r) == (2, 2)
    assert "declares no KPIs" in out and "declares no KPIs" in err


@pytest.mark.parametrize("number", [".nan", ".NaN", ".inf", "-.inf", "+.Inf"])
@pytest.mark.parametrize("key", ["target", "target.value", "target.total", "target.values"])
def test_a_target_that_is_not_finite_is_a_config_error(
    tmp_path: Path, number: str, key: str
) -> None:
    target = {
        "target": number,
        "target.value": f"{{value: {number}}}",
        "target.total": f"{{value: 1, total: {number}, by: channel}}",
        "target.values": f"{{value: 1, by: channel, values: {{a: {number}}}}}",
    }[key]
    config = HEAD + f"kpis:\n  spend: {{source: s, formula: SUM(spend), target: {target}}}\n"
    v, r, out, err = _run(tmp_path, config)
    assert (v, r) == (2, 2)
    assert "finite number" in out and "finite number" in err
    assert ":5 kpis.spend.target" in err  # located at the line and key path


_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.integers(-(10**6), 10**6),
)


@pytest.mark.slow
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=_numbers, tolerance=_numbers, with_kpi=st.booleans())
def test_validate_and_report_agree_on_any_target(
    tmp_path_factory: pytest.TempPathFactory, value: float, tolerance: float, with_kpi: bool
) -> None:
    folder = tmp_path_factory.mktemp("agree")
    kpis = (
        f"kpis:\n  spend: {{source: s, formula: SUM(spend), "
        f"target: {{value: {value!r}, tolerance: {tolerance!r}}}}}\n"
        if with_kpi
        else "kpis: {}\n"
    )
    config = HEAD + kpis.replace("nan", ".nan").replace("inf", ".inf")
    v, r, _, _ = _run(folder, config)
    finite = math.isfinite(value) and math.isfinite(tolerance) and tolerance >= 0
    expected = 0 if with_kpi and finite else 2
    assert (v, r) == (expected, expected)


@pytest.mark.parametrize("name", ["__p0", "__range", "__n_s_day", "__"])
def test_a_kpi_named_like_the_engine_s_own_columns_is_refused(tmp_path: Path, name: str) -> None:
    """`__p0` is the engine's first partial sum: a KPI of that name would take its values."""
    config = HEAD + (
        f"kpis:\n  {name}: {{source: s, formula: SUM(spend)}}\n"
        "  n: {source: s, formula: COUNT(*)}\n  avg: {source: s, formula: AVG(clicks)}\n"
    )
    v, r, out, err = _run(tmp_path, config)
    assert (v, r) == (2, 2)
    assert f"KPI name `{name}` starts with `__`" in err and ":5 kpis." in err
    assert f"KPI name `{name}` starts with `__`" in out
