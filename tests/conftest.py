"""Shared pytest options and fixtures.

``--update-golden`` rewrites the golden files under ``tests/golden/`` instead of comparing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="write rendered output to tests/golden/ instead of comparing with it",
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """``golden("name.txt", text)``: assert ``text`` equals ``tests/golden/name.txt``.

    With ``--update-golden``, or when the file does not exist yet, the file is written instead.
    """
    update = request.config.getoption("--update-golden")

    def check(name: str, text: str) -> None:
        path = GOLDEN_DIR / name
        if not update and not path.exists() and os.environ.get("CI"):
            pytest.fail(f"golden file {path} is missing: run pytest --update-golden and commit it")
        if update or not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
            return
        expected = path.read_bytes().decode("utf-8")
        assert text == expected, f"{name} differs from {path} (re-run with --update-golden)"

    return check


@pytest.fixture(autouse=True, scope="session")
def _state_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """kpi's key for cache entries (kpicli.ingest.cache) in a folder of the test session,
    not in the home of whoever runs the tests (subprocesses inherit it)."""
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
