"""`kpi schema --report [--jsonl]`: real reports of the sample validate against the schema the
CLI prints, broken ones do not, and every JSON output starts with ``schema_version``."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kpicli.cli import app
from kpicli.execute.result import (
    ANOMALY_COLUMNS,
    KEY_COLUMNS,
    SIGNIFICANCE_COLUMNS,
    VALUE_COLUMNS,
    dimension_keys,
)
from kpicli.render.formats import SCHEMA_VERSION

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "kpi_config.yaml")
AS_OF = "2026-11-15"
runner = CliRunner()

#: Option sets of `kpi report` on the sample: each adds what the schema makes optional.
OPTIONS = [
    [],
    ["-p", "all"],
    ["-p", "2026-10", "--by", "channel"],
    ["-p", "2026-10", "--compare", "previous"],
    ["-p", "2026-10", "--by", "channel", "--compare", "year"],
    ["-p", "2026", "--grain", "month"],
    ["-p", "2026-10", "--grain", "week", "--by", "channel"],
    ["-p", "2026-10", "--grain", "day", "--anomalies"],
    ["-p", "2026-10", "--grain", "day", "--anomalies", "--sensitivity", "high", "--by", "channel"],
    ["-p", "2026-Q3", "--grain", "week", "--compare", "previous", "--anomalies", "--by", "channel"],
]


def kpi(*args: str) -> str:
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, r.stderr
    return r.stdout


def validator(*flags: str) -> Any:
    schema = json.loads(kpi("schema", *flags))
    cls = jsonschema.Draft202012Validator
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def report() -> Any:
    return validator("--report")


@pytest.fixture(scope="module")
def row() -> Any:
    return validator("--report", "--jsonl")


def errors(v: Any, instance: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in v.iter_errors(instance)]


def run_report(fmt: str, options: list[str]) -> str:
    return kpi("report", "-p", "all", "-c", CONFIG, "--as-of", AS_OF, "-f", fmt, *options)


def config_units() -> dict[str, str]:
    """Each KPI's unit as kpi_config.yaml declares it (``number`` when it says none)."""
    kpis = yaml.safe_load(Path(CONFIG).read_text(encoding="utf-8"))["kpis"]
    return {name: (spec or {}).get("unit", "number") for name, spec in kpis.items()}


# ------------------------------------------------------------------ the schemas


def test_the_cli_prints_draft_2020_12_schemas() -> None:
    for flags in (["--report"], ["--report", "--jsonl"]):
        schema = json.loads(kpi("schema", *flags))
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(schema)
    assert kpi("schema", "--jsonl") == kpi("schema", "--report", "--jsonl")
    assert json.loads(kpi("schema"))["title"] == "kpi_config.yaml"  # unchanged without


def test_the_row_schema_lists_the_writers_fields() -> None:
    schema = json.loads(kpi("schema", "--report"))
    fields = schema["$defs"]["row"]["properties"]
    assert list(fields) == [*KEY_COLUMNS, *VALUE_COLUMNS, *SIGNIFICANCE_COLUMNS, *ANOMALY_COLUMNS]
    assert schema["$defs"]["row"]["required"] == [*KEY_COLUMNS, *VALUE_COLUMNS]
    assert schema["properties"]["schema_version"] == {"const": SCHEMA_VERSION}
    line = json.loads(kpi("schema", "--jsonl"))
    assert list(line["properties"])[-2:] == ["total", "unit"]
    assert line["required"][-1] == "unit"


def test_schema_writes_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "report_schema.json"
    r = runner.invoke(app, ["schema", "--report", "-o", str(out)])
    assert r.exit_code == 0, r.stderr
    assert out.read_text(encoding="utf-8") == kpi("schema", "--report")


# ------------------------------------------------------------------ real outputs


@pytest.mark.parametrize("options", OPTIONS, ids=" ".join)
def test_real_json_reports_validate(report: Any, options: list[str]) -> None:
    data = json.loads(run_report("json", options))
    assert errors(report, data) == []
    assert next(iter(data)) == "schema_version"
    assert data["rows"], "an empty report proves little"
    given = set(options)
    keys = set().union(*(set(r) for r in data["rows"] + data["totals"]))
    assert ("change_significant" in keys) == ("--compare" in given)
    assert ("anomaly" in keys) == ("--anomalies" in given)
    assert ("trends" in data) == ("--grain" in given)
    assert ("anomalies" in data) == ("--anomalies" in given)
    if "--by" in given:
        assert "channel" in keys and data["totals"]


@pytest.mark.parametrize("options", OPTIONS, ids=" ".join)
def test_real_jsonl_lines_validate_and_carry_the_unit(row: Any, options: list[str]) -> None:
    lines = run_report("jsonl", options).splitlines()
    assert lines
    units = config_units()
    for line in lines:
        obj = json.loads(line)
        assert errors(row, obj) == [], line
        assert list(obj)[-1] == "unit"
        assert obj["unit"] == units[obj["kpi"]]


def test_csv_has_no_unit_column() -> None:
    header = run_report("csv", ["-p", "2026-10"]).splitlines()[0]
    assert "unit" not in header.split(",")


def test_a_dimension_named_unit_is_keyed_by_unit() -> None:
    assert dimension_keys(("unit", "channel")) == ("by_unit", "channel")


# ------------------------------------------------------------------ broken outputs


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    options = ["-p", "2026-10", "--by", "channel", "--compare", "previous", "--grain", "week"]
    return json.loads(run_report("json", [*options, "--anomalies"]))


def _drop(d: dict, key: str) -> None:
    del d[key]


MUTATIONS = {
    "a row without value": lambda d: _drop(d["rows"][0], "value"),
    "a row's period_end renamed": lambda d: d["rows"][0].update(end=d["rows"][0].pop("period_end")),
    "a value as text": lambda d: d["rows"][0].update(value="12.5"),
    "a date not a date": lambda d: d["rows"][0].update(period_start="2026-13-01"),
    "an unknown status": lambda d: d["totals"][0].update(status="fine"),
    "an unknown anomaly": lambda d: d["rows"][0].update(anomaly="up"),
    "significance as text": lambda d: d["rows"][0].update(change_significant="yes"),
    "a dimension as a number": lambda d: d["rows"][0].update(channel=3),
    "no totals": lambda d: _drop(d, "totals"),
    "another schema_version": lambda d: d.update(schema_version=SCHEMA_VERSION + 1),
    "an unknown top-level key": lambda d: d.update(extra=1),
    "a KPI without unit": lambda d: _drop(next(iter(d["kpis"].values())), "unit"),
    "a trend without slope": lambda d: _drop(d["trends"][0], "slope"),
    "buckets as a float": lambda d: d["trends"][0].update(buckets=2.5),
    "an unknown sensitivity": lambda d: d["anomalies"].update(sensitivity="extreme"),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_a_broken_report_fails(report: Any, sample: dict[str, Any], name: str) -> None:
    assert errors(report, sample) == []
    broken = copy.deepcopy(sample)
    MUTATIONS[name](broken)
    assert errors(report, broken), f"{name} validates"


def test_a_broken_line_fails(row: Any) -> None:
    line = json.loads(run_report("jsonl", ["-p", "2026-10", "--by", "channel"]).splitlines()[-1])
    assert errors(row, line) == [] and line["total"] is True
    for key, value in [("unit", "euros"), ("total", False), ("value", "1"), ("kpi", None)]:
        assert errors(row, {**line, key: value}), key
    assert errors(row, {k: v for k, v in line.items() if k != "unit"})


# ------------------------------------------------------------------ README and versions


def readme_json_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)


def test_every_report_the_readme_shows_validates(report: Any) -> None:
    reports = [json.loads(b) for b in readme_json_blocks()]
    reports = [d for d in reports if isinstance(d, dict) and "rows" in d]
    assert reports, "README.md shows a report"
    for data in reports:
        assert errors(report, data) == []


@pytest.mark.parametrize(
    "args",
    [
        ["list", "-c", CONFIG],
        ["validate", "-c", CONFIG],
        ["explain", "cpl", "-c", CONFIG, "--as-of", AS_OF],
        ["anomalies", "-c", CONFIG, "--as-of", AS_OF],
        ["sources", "-c", CONFIG],
        ["report", "-p", "all", "-c", CONFIG, "--as-of", AS_OF],
    ],
    ids=lambda a: a[0],
)
def test_every_json_output_starts_with_schema_version(args: list[str]) -> None:
    data = json.loads(kpi(*args, "-f", "json"))
    assert next(iter(data)) == "schema_version"
    assert data["schema_version"] == SCHEMA_VERSION
