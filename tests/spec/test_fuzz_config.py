"""Hostile and broken configurations through the CLI: always exit 0, 2 or 3 with a message.

Never a traceback, never an internal error (exit 70), never a hang: every input is bounded
in size, and hypothesis runs a bounded number of examples.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kpicli.cli import app

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = yaml.safe_load((ROOT / "kpi_config.yaml").read_text())
runner = CliRunner()
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    return tmp_path


def run_config(folder: Path, text: str | bytes) -> None:
    p = folder / "kpi_config.yaml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    r = runner.invoke(app, ["report", "-c", str(p), "--as-of", "2026-11-15", "-p", "last-month"])
    assert r.exit_code in (0, 2, 3), (r.exit_code, r.stderr, r.stdout)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    if r.exit_code:
        assert r.stderr.startswith(("config error:", "usage error:", "data error:")), r.stderr
        assert r.stdout == ""


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=25,
)
KEYS = [
    "version",
    "settings",
    "sources",
    "kpis",
    "path",
    "date",
    "formula",
    "source",
    "target",
    "unit",
    "better",
    "filter",
    "derive",
    "rename",
    "per",
    "by",
    "values",
    "hidden",
]


@pytest.mark.slow
@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=10), values, max_size=5))
def test_random_documents(folder: Path, doc: dict) -> None:
    run_config(folder, yaml.safe_dump(doc, allow_unicode=True))


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    return out


PATHS = [p for p in _paths(SHIPPED) if p]


def _mutate(doc: dict, path: tuple, action: str, value: object) -> dict:
    import copy

    doc = copy.deepcopy(doc)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "replace":
        parent[last] = value
    elif action == "rename":
        parent[f"{last}x"] = parent.pop(last)
    elif action == "unicode-key":
        parent["ключ_é_🙂"] = parent.pop(last)
    return doc


@pytest.mark.slow
@FUZZ
@given(
    st.sampled_from(PATHS),
    st.sampled_from(["delete", "replace", "rename", "unicode-key"]),
    values,
)
def test_mutated_shipped_config(folder: Path, path: tuple, action: str, value: object) -> None:
    run_config(folder, yaml.safe_dump(_mutate(SHIPPED, path, action, value), allow_unicode=True))


@pytest.mark.slow
@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes(folder: Path, data: bytes) -> None:
    run_config(folder, data)


@pytest.mark.slow
@FUZZ
@given(st.text(max_size=300))
def test_random_text(folder: Path, text: str) -> None:
    run_config(folder, text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a: &a [x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n"
                for p, c in zip("abcdefg", "bcdefgh", strict=False)
            ),
            "expands to more than",
        ),
        ("a: &a [*a]\n", "refers to itself"),
        ("a: " + "[" * 100 + "]" * 100 + "\n", "nested deeper than"),
        ("kpis: {}\nkpis: {}\n", "duplicate key `kpis`"),
        ("version: 1\nkpis:\n  x: {formula: 10" + "0" * 400 + "}\n", ""),
        ("- just\n- a list\n", "must be a mapping"),
        ("version: 2\n", "version"),
        ("!!python/object/apply:os.system ['echo pwned']\n", "invalid YAML"),
        ("a: 1\n---\nb: 2\n", "invalid YAML"),
        ("x" * 1_000_001, "larger than"),
    ],
)
def test_hostile_yaml(folder: Path, text: str, message: str) -> None:
    p = folder / "kpi_config.yaml"
    p.write_text(text)
    r = runner.invoke(app, ["report", "-c", str(p)])
    assert r.exit_code in (2, 3), r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_python_tags_are_never_executed(folder: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    run_config(folder, f"!!python/object/apply:os.system ['touch {marker}']\n")
    assert not marker.exists()
    assert os.path.exists(folder / "kpi_config.yaml")
