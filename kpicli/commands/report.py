"""`kpi report`: a config file and a request → a computed report, and where to write it.

What the command does besides options and rendering: the config is loaded, the report
computed (:func:`kpicli.execute.engine.run_report`) and, for an output file, its path
expanded (``{start}``, ``{as_of}``…) and checked never to be a file the report stands on.
With ``--cache``, the formulas' memo is used from the start (loading the config parses
formulas too) and saved at the end; else the one of the per-user cache that the config
comes with (:attr:`kpicli.spec.config.Config.formulas`).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kpicli.commands.clean import check_output, config_inputs
from kpicli.execute.engine import own_notes, run_report
from kpicli.ingest.memo import ReadMemo
from kpicli.outputs import expand_output_path
from kpicli.spec.config import load_config

if TYPE_CHECKING:
    from kpicli.errors import Notes
    from kpicli.execute.result import Result
    from kpicli.plan.build import Request
    from kpicli.spec.config import Config


@dataclass(frozen=True)
class Report:
    """A computed report, and the file to write it to (None: standard output)."""

    result: Result
    path: str | None = None


def report(
    config: str | Path | None,
    request: Request,
    *,
    output: str | None = None,
    notes: Notes | None = None,
) -> Report:
    """Load the config (``None``: found as usual), compute the report, and, when ``output``
    is a file path (a template), the path to write it to: expanded, and never an input of
    the report (the config, a file of a source). ``notes`` receives the warnings."""
    cfg, (result,) = run_reports(config, [request], notes=notes)
    if output is None:
        return Report(result)
    return Report(result, output_path(result, cfg.path, output))


def run_reports(
    config: str | Path | None, requests: list[Request], *, notes: Notes | None = None
) -> tuple[Config, list[Result]]:
    """Load the config and compute the reports of ``requests`` one after the other, with
    one memory of the files read and one cache (the first request's ``cache``)."""
    from kpicli.ingest.cache import open_cache

    notes = own_notes(notes)
    memo = ReadMemo()  # the report's memory of the files it reads (the cache's too)
    first = requests[0]
    folder = Path(first.cache).expanduser() if first.cache else None
    cache = open_cache(folder, notes=notes, memo=memo) if folder is not None else None
    formulas = cache.memo() if cache is not None else None
    cfg = None
    try:
        with formulas or nullcontext():
            cfg = load_config(config)
            with cfg.formulas or nullcontext():  # the per-user cache's memo, else None
                results = [
                    run_report(cfg, r, notes=notes, cache=cache, memo=memo) for r in requests
                ]
    finally:
        for used in (formulas, cfg.formulas if cfg is not None else None):
            if used is not None:
                used.save()
    return cfg, results


def output_path(result: Result, config: Path, output: str) -> str:
    """The file a report is written to: ``output`` expanded, checked against its inputs."""
    start, end = result.period or (None, None)
    path = expand_output_path(
        output, start=start, end=end, as_of=result.as_of, period=result.period_label
    )
    inputs = config_inputs(config)
    inputs += [(Path(f), "an input file") for f in result.input_files()]
    check_output(path, inputs, hint="write the report to another path")
    return path
