"""Shared pytest options, fixtures and helpers.

``--update-golden`` rewrites the golden files under ``tests/golden/`` instead of comparing;
without it, a missing golden file fails the test that asks for it.

The helpers the test files share (``config``, ``values``, ``invoke_kpi``, ``report_csv``)
are plain functions here, imported by name: ``from conftest import config, values``.

The suite runs on every core by default (pytest-xdist, ``-n auto`` in pyproject.toml):
anything a test writes goes under its own ``tmp_path`` (or ``tmp_path_factory``, which is
per worker), each worker has its own ``$XDG_STATE_HOME`` and each test its own
``$XDG_CACHE_HOME``. ``pytest -n0`` runs in one
process; ``pytest -m "not slow"`` leaves out the fuzzers and the other slow tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

GOLDEN_DIR = Path(__file__).parent / "golden"

#: The date "today" means in :func:`values`: after every row of the tests' data.
AS_OF = date(2026, 12, 31)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="write rendered output to tests/golden/ instead of comparing with it",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Every core by default: pytest-xdist's ``-n auto --dist worksteal`` (whole tests handed
    out, an idle worker takes half of another's queue), unless the command line gives ``-n``
    (``-n0``: one process), collects only, turns xdist off (``-p no:xdist``) or names single
    tests (``pytest tests/test_x.py::test_y``: starting workers would take longer than the
    test). Not in ``addopts``, where ``-n`` would break ``-p no:xdist``."""
    option = config.option
    # LEAD: an xdist worker must never start workers of its own (this hook ran in every
    # worker and forked ~600 processes at 23:39; the machine stalled). Keep this guard.
    if os.environ.get("PYTEST_XDIST_WORKER") or hasattr(config, "workerinput"):
        return  # a worker (xdist resets its -n to None), or a pytest that a test in one runs
    if not config.pluginmanager.has_plugin("xdist"):
        return
    if getattr(option, "numprocesses", "absent") is not None or option.collectonly:
        return
    if config.args and all("::" in arg for arg in config.args):
        return
    option.numprocesses = "auto"
    if option.dist == "no":
        option.dist = "worksteal"


# ---------------------------------------------------------------------------- golden files


def check_golden(path: Path, text: str, *, update: bool) -> None:
    """Assert that ``text`` is the content of the golden file ``path``.

    With ``update``, write ``text`` there instead (atomically: a temporary file beside it,
    then a rename, so parallel workers never see half a file). A missing file fails unless
    ``update``: a golden file is written on purpose and committed, never on the fly.
    """
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_bytes(text.encode("utf-8"))
        temporary.replace(path)
        return
    if not path.exists():
        pytest.fail(f"golden file {path} is missing: run pytest --update-golden and commit it")
    expected = path.read_bytes().decode("utf-8")
    assert text == expected, f"{path.name} differs from {path} (re-run with --update-golden)"


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """``golden("name.txt", text)``: assert ``text`` equals ``tests/golden/name.txt``.

    With ``--update-golden`` the file is written instead; a missing file fails without it.
    """
    update = bool(request.config.getoption("--update-golden"))

    def check(name: str, text: str) -> None:
        check_golden(GOLDEN_DIR / name, text, update=update)

    return check


# ---------------------------------------------------------------------------- isolation


@pytest.fixture(autouse=True, scope="session")
def _state_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """kpi's key for cache entries (kpicli.ingest.cache) in a folder of the test session,
    not in the home of whoever runs the tests (subprocesses inherit it). Under xdist each
    worker is a session of its own, so each has its own folder and key."""
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    # the per-user cache of what module- and session-scoped fixtures run, before any test's
    # own (_cache_home): never the home of whoever runs the tests either
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("session-cache"))
    os.environ.pop("KPI_NO_CACHE", None)


@pytest.fixture(autouse=True)
def _cache_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """kpi's per-user cache (kpicli.usercache) in a folder of each test's own, never in the
    home of whoever runs the tests, and never shared between tests (one test's cache entries
    do not decide what another sees); subprocesses inherit it. The opt-out is cleared."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    monkeypatch.delenv("KPI_NO_CACHE", raising=False)
    return folder


# ---------------------------------------------------------------------------- helpers


def config(tmp_path: Path, sources: str, kpis: str) -> Path:
    """Write ``tmp_path/kpi_config.yaml`` with these ``sources:`` and ``kpis:`` entries
    (YAML text, indented by the caller) and return its path."""
    p = tmp_path / "kpi_config.yaml"
    p.write_text(f"version: 1\nsources:\n{sources}\nkpis:\n{kpis}\n", encoding="utf-8")
    return p


def values(cfg_path: Path, **request) -> dict[str, float | None]:
    """Each KPI's value in a report of the config at ``cfg_path`` (as of :data:`AS_OF`,
    with any other :class:`Request` field given)."""
    from kpicli import Request, load_config, run_report  # here: pytest starts without Polars

    result = run_report(load_config(cfg_path), Request(as_of=AS_OF, **request))
    return dict(zip(result.rows["kpi"], result.rows["value"], strict=True))


def invoke_kpi(*args: str, code: int = 0, as_of: str | None = None):
    """``kpi ARGS`` run in process (Typer's runner): its result, once its exit code is
    ``code`` and it printed no traceback. ``as_of``: given to `report` and `sql`."""
    from typer.testing import CliRunner

    from kpicli.cli import app

    dated = ["--as-of", as_of] if as_of and args[0] in ("report", "sql") else []
    result = CliRunner().invoke(app, [*args, *dated])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


def report_csv(
    config: Path, *options: str, engine: str = "polars", as_of: str | None = None
) -> str:
    """``kpi report -c CONFIG -f csv -q --engine ENGINE OPTIONS`` (exit 0): its CSV."""
    args = ("report", "-c", str(config), "-f", "csv", "-q", "--engine", engine, *options)
    return invoke_kpi(*args, as_of=as_of).stdout


# ---------------------------------------------------------------------------- Spark


def require_spark() -> None:
    """Skip a Spark test where PySpark or Java is missing, with the reason and the fix;
    under CI (``CI=true``, as `.ci/run` runs) fail instead: CI installs both, and a Spark
    test that does not run there must never pass for one that did."""
    import importlib.util
    import shutil

    missing = []
    if importlib.util.find_spec("pyspark") is None:
        missing.append("PySpark (pip install -e '.[spark]')")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        missing.append("Java 17 (apt-get install openjdk-17-jre-headless)")
    if not missing:
        return
    reason = "the Spark tests need " + " and ".join(missing)
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason}; CI must run them", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """One local Spark session (``local[2]``) for the test session (each xdist worker has its
    own), with kpi's settings, its warehouse and scratch space in a temporary folder,
    stopped at the end. Skipped without PySpark or Java, except under CI (see
    :func:`require_spark`)."""
    require_spark()
    from kpicli.errors import ConfigError
    from kpicli.execute.spark import start
    from kpicli.spec.config import SparkSettings

    folder = tmp_path_factory.mktemp("spark")
    conf = {
        "spark.sql.warehouse.dir": str(folder / "warehouse"),
        "spark.local.dir": str(folder / "local"),
    }
    try:
        session = start(SparkSettings(master="local[2]", conf=conf))
    except ConfigError:  # a report of an earlier test started the process's own: reuse it
        session = start(SparkSettings(conf=conf))
    yield session
    session.stop()
