"""kpi: marketing KPIs from CSV exports, declared in a YAML file.

The public API: ``load_config`` reads and validates a ``kpi_config.yaml``; ``run_report``
computes a :class:`Result` for a :class:`Request` (``notes=``: a :class:`Notes` that
receives the warnings about the data; they are in ``Result.warnings`` too). In stages:
``prepare_report`` checks the request, describes the sources and builds the
:class:`Plan` (which reads nothing); ``Prepared.run()`` executes it. Everything is imported
lazily, so that ``import kpicli`` (and ``kpi --help``) does not import Polars.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kpicli.errors import ConfigError, DataError, KpiError, Notes, OutputError, UsageError
from kpicli.version import __version__

__all__ = [
    "ConfigError",
    "DataError",
    "KpiError",
    "Notes",
    "OutputError",
    "Plan",
    "Request",
    "Result",
    "UsageError",
    "__version__",
    "load_config",
    "prepare_report",
    "run_report",
]

if TYPE_CHECKING:
    from kpicli.execute.engine import prepare_report, run_report
    from kpicli.execute.result import Result
    from kpicli.plan.build import Plan, Request
    from kpicli.spec.config import load_config

_LAZY = {
    "load_config": "kpicli.spec.config",
    "run_report": "kpicli.execute.engine",
    "prepare_report": "kpicli.execute.engine",
    "Request": "kpicli.plan.build",
    "Plan": "kpicli.plan.build",
    "Result": "kpicli.execute.result",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kpicli' has no attribute {name!r}")
