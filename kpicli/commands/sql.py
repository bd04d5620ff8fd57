"""`kpi sql`: a report's request → the SQL that computes it, in a dialect (sqlglot).

The sources are described as for `kpi report` (files matched and sniffed: the SQL reads
them with the layout kpi found) and the plan built the same way; nothing is aggregated.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from kpicli.execute.engine import prepare_report
from kpicli.execute.sqlreport import report_sql
from kpicli.spec.config import load_config

if TYPE_CHECKING:
    from kpicli.errors import Notes
    from kpicli.plan.build import Request


def sql(
    config: str | Path | None, request: Request, dialect: str, *, notes: Notes | None = None
) -> str:
    """The statements (views of the files, then the query) that compute the report of
    ``request`` in ``dialect``, as one script: each ends with ``;``."""
    cfg = load_config(config)
    with cfg.formulas or nullcontext():
        prepared = prepare_report(cfg, request, notes=notes, sql=True)
        statements = report_sql(prepared.plan, prepared.sources, dialect)
    return "".join(f"{s};\n\n" for s in statements).rstrip("\n") + "\n"
