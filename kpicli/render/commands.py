"""How `kpi list`, `kpi validate` and `kpi explain` look: text for people, JSON for programs.

Each ``render_*`` function takes what its command computed (plain data from
:mod:`kpicli.commands.explain` and :mod:`kpicli.commands.validate`) and returns text;
nothing here computes.
Without ``color`` the text has no ANSI escapes at all and no trailing blanks.
"""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

from kpicli.errors import IssueCode
from kpicli.render.console import text_console
from kpicli.render.formats import SCHEMA_VERSION
from kpicli.render.units import describe_period, format_value

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from kpicli.commands.explain import Entry, Explanation, Node, Scan
    from kpicli.commands.validate import SourceCheck, Validation
    from kpicli.errors import Location
    from kpicli.spec.config import Config, Target

KIND_STYLES = {
    IssueCode.CONFIG: "bold red",
    IssueCode.DATA: "bold red",
    IssueCode.WARNING: "bold yellow",
}
KIND_NAMES = {
    IssueCode.CONFIG: "config error",
    IssueCode.DATA: "data error",
    IssueCode.WARNING: "warning",
}


def _console(color: bool, width: int | None) -> Console:
    return text_console(color, width)


def _text(console: Console, color: bool) -> str:
    text = console.file.getvalue()  # type: ignore[attr-defined]
    if not color:
        text = "\n".join(line.rstrip() for line in text.split("\n"))
    return text


def _json(data: Any) -> str:
    def default(value: Any) -> Any:
        if isinstance(value, date):
            return value.isoformat()
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")

    return json.dumps(data, indent=2, ensure_ascii=False, default=default) + "\n"


def _count(n: int | None) -> str:
    return "–" if n is None else f"{n:,}"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


# ---------------------------------------------------------------------------- targets


def target_text(
    target: Target | None, unit: str, *, currency: str | None = None, locale: str | None = None
) -> str:
    """A target in a few words: ``€40.00; by channel: google_ads €35.00``, ``20/week``."""
    if target is None:
        return ""

    def fmt(value: float | None) -> str:
        return format_value(value, unit, currency=currency, locale=locale)

    per = f"/{target.per}" if target.per else ""
    parts = []
    if target.value is not None:
        parts.append(f"{fmt(target.value)}{per}")
    if target.by:
        values = ", ".join(f"{k} {fmt(v)}{per}" for k, v in target.values.items())
        parts.append(f"by {target.by}" + (f": {values}" if values else ""))
    if target.total is not None:
        parts.append(f"total {fmt(target.total)}{per}")
    if target.tolerance != 0.1:
        parts.append(f"tolerance {target.tolerance:g}")
    return "; ".join(parts)


def _target_json(target: Target | None) -> dict[str, Any] | None:
    return None if target is None else target.model_dump()


# ---------------------------------------------------------------------------- kpi list


def render_list(
    cfg: Config,
    entries: list[Entry],
    fmt: str,
    *,
    color: bool = False,
    width: int | None = None,
) -> str:
    """The declared KPIs: a table, or JSON (``{"config", "kpis": [...]}``)."""
    if fmt == "json":
        return _json(
            {
                "schema_version": SCHEMA_VERSION,
                "config": str(cfg.path),
                "kpis": [
                    {
                        "name": e.name,
                        "label": e.label,
                        "description": e.description,
                        "unit": e.unit,
                        "better": e.better,
                        "formula": e.formula,
                        "source": e.source,
                        "filter": e.filter,
                        "date": e.date,
                        "sources": list(e.sources),
                        "target": _target_json(e.target),
                        "hidden": e.hidden,
                    }
                    for e in entries
                ],
            }
        )
    from rich import box
    from rich.table import Table
    from rich.text import Text

    currency, locale = cfg.settings.currency, cfg.settings.locale
    console = _console(color, width)
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, show_edge=False)
    for title in ("KPI", "Label", "Unit", "Formula", "Source", "Target"):
        table.add_column(title, overflow="fold")
    for e in entries:
        name = Text(e.name, style="bold")
        if e.hidden:
            name.append("  hidden", style="dim")
        unit = e.unit + (", lower is better" if e.better == "lower" else "")
        formula = Text(e.formula)
        if e.filter:
            formula.append(f"  where {e.filter}", style="dim")
        if e.source is not None:
            source = Text(e.source + (f" by {e.date}" if e.date else ""))
        else:
            source = Text(", ".join(e.sources), style="dim")
        target = target_text(e.target, e.unit, currency=currency, locale=locale)
        table.add_row(name, Text(e.label), Text(unit), formula, source, Text(target))
    shown = len(entries)
    hidden = sum(1 for k in cfg.kpis.values() if k.hidden)
    listed_hidden = sum(1 for e in entries if e.hidden)
    head = f"{_plural(len(cfg.kpis), 'KPI')} in {cfg.path}"
    if hidden and not listed_hidden:
        head += f" ({shown:,} shown; {hidden:,} hidden: kpi list --all)"
    console.print(Text(head, style="bold"))
    if entries:
        console.print(table)
    return _text(console, color)


# ---------------------------------------------------------------------------- kpi validate


def _location_fields(where: Location | None) -> dict[str, Any]:
    """The fields of an issue's location in `kpi validate -f json` (None where absent)."""
    if where is None:
        return {"file": None, "line": None, "column": None, "key": None}
    return {"file": where.file, "line": where.line, "column": where.column, "key": where.key}


def _validation_json(v: Validation) -> str:
    """`kpi validate -f json`: the outcome, every issue with its location's fields, and what
    was read of each source."""
    return _json(
        {
            "schema_version": SCHEMA_VERSION,
            "config": str(v.path),
            "valid": not v.errors,
            "exit_code": v.exit_code,
            "errors": len(v.errors),
            "warnings": len(v.issues) - len(v.errors),
            "issues": [
                {
                    "kind": i.code,
                    "severity": "warning" if i.code == IssueCode.WARNING else "error",
                    "message": i.message,
                    "location": i.location,
                    **_location_fields(i.where),
                    "hint": i.hint,
                }
                for i in v.issues
            ],
            "sources": [
                {
                    "name": s.name,
                    "files": s.files,
                    "table": s.table,
                    "rows": s.rows,
                    "first_date": s.first,
                    "last_date": s.last,
                }
                for s in v.sources
            ],
            "kpis": v.kpis,
        }
    )


def render_validation(v: Validation, fmt: str, *, color: bool = False, quiet: bool = False) -> str:
    """Every problem in one block each (as errors print), then a summary line."""
    if fmt == "json":
        return _validation_json(v)
    from rich.text import Text

    console = _console(color, 10_000)
    for issue in v.issues:
        head = f"{issue.location}: " if issue.location else ""
        line = Text.assemble(
            (KIND_NAMES.get(issue.code, issue.code), KIND_STYLES.get(issue.code, ""))
        )
        line.append(f": {head}{issue.message}")
        console.print(line)
        if issue.hint:
            console.print(Text(f"  hint: {issue.hint}"))
    errors = v.errors
    warnings = len(v.issues) - len(errors)
    if errors:
        by_kind = {
            k: sum(1 for i in errors if i.code == k) for k in (IssueCode.CONFIG, IssueCode.DATA)
        }
        detail = ", ".join(f"{n} {k}" for k, n in by_kind.items() if n)
        summary = f"{v.path}: {_plural(len(errors), 'problem')} ({detail})"
        if warnings:
            summary += f", {_plural(warnings, 'warning')}"
        console.print()
        console.print(Text(summary, style="bold red"))
    elif not quiet:
        files = sum(len(s.files) for s in v.sources)
        rows = sum(s.rows or 0 for s in v.sources)
        far = any(_remote(s) for s in v.sources)
        summary = (
            f"{v.path}: valid · {_plural(len(v.sources), 'source')}, {_plural(files, 'file')}, "
            f"{_plural(rows, 'row')}{' (remote files not counted)' if far else ''} · "
            f"{_plural(v.kpis, 'KPI')}"
        )
        if warnings:
            console.print()
            summary += f" · {_plural(warnings, 'warning')}"
        console.print(Text("✔ " + summary, style="bold green"))
        for s in v.sources:
            span = f"  {s.first} → {s.last}" if s.first else ""
            if s.table is not None:
                console.print(Text(f"  {s.name}: table {s.table} (its rows not counted here)"))
                continue
            files = _plural(len(s.files), "file")
            if _remote(s):
                console.print(Text(f"  {s.name}: {files}, remote (rows read by Spark, not here)"))
                continue
            console.print(Text(f"  {s.name}: {files}, {_plural(s.rows or 0, 'row')}{span}"))
    return _text(console, color)


def _remote(s: SourceCheck) -> bool:
    """A source of remote files (``s3a://``…): described, its rows not counted here."""
    from kpicli.ingest.remote import is_remote

    return s.rows is None and any(is_remote(f) for f in s.files)


# ---------------------------------------------------------------------------- kpi explain


def _value(e: Explanation, name: str, value: float | None) -> str:
    unit = e.result.kpis[name].unit if name in e.result.kpis else "number"
    return format_value(value, unit, currency=e.result.currency, locale=e.result.locale)


def _node_json(node: Node, scans: dict[str, Scan]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": node.name, "kind": node.kind}
    if node.kind == "column":
        out.update(type=node.dtype, origin=node.origin)
        if node.origin == "derive":
            out["expression"] = node.formula
        if node.origin == "rename":
            out["header"] = node.header
    else:
        out["formula"] = node.formula
        if node.kind == "source":
            out.update(source=node.source, date=node.date, filter=node.filter)
            out["rows"] = scans[node.rows].label if node.rows else None
    if node.repeated:
        out["repeated"] = True
    if node.cut:
        out["cut"] = True
    if node.children:
        out["children"] = [_node_json(c, scans) for c in node.children]
    return out


def _records_json(e: Explanation, records: list[dict[str, Any]], scans: dict[str, Scan]):
    compare = e.result.comparison is not None
    out = []
    for r in records:
        item = {
            k: v for k, v in r.items() if k not in ("values", "previous", "rows", "previous_rows")
        }
        item["values"] = r["values"]
        if compare:
            item["previous"] = r["previous"]
        item["rows"] = {scans[k].label: n for k, n in r["rows"].items()}
        if compare:
            item["previous_rows"] = {
                scans[k].label: n for k, n in r.get("previous_rows", {}).items()
            }
        out.append(item)
    return out


def _explain_json(e: Explanation) -> str:
    res = e.result
    scans = {s.key: s for s in e.scans}
    entry = e.entry
    return _json(
        {
            "schema_version": SCHEMA_VERSION,
            "kpi": e.name,
            "label": entry.label,
            "description": entry.description,
            "unit": entry.unit,
            "better": entry.better,
            "formula": entry.formula,
            "target": _target_json(entry.target),
            "as_of": res.as_of,
            "period": {"start": res.period[0], "end": res.period[1]} if res.period else None,
            "period_label": res.period_label,
            "comparison": (
                {"start": res.comparison[0], "end": res.comparison[1]} if res.comparison else None
            ),
            "grain": res.grain,
            "dimensions": list(res.dimensions),
            "dependencies": e.order[1:],
            "tree": _node_json(e.tree, scans),
            "scans": [
                {
                    "label": s.label,
                    "source": s.source,
                    "date": s.date,
                    "filter": s.filter,
                    "kpis": list(s.kpis),
                    "files": list(s.files),
                    "rows": e.rows_in_period(s),
                }
                for s in e.scans
            ],
            "values": _records_json(e, e.records(), scans),
            "totals": _records_json(e, e.records(totals=True), scans) if res.dimensions else None,
            "plan": e.describe,
            "polars_plans": [
                {"source": p.source, "date": p.date, "rows": p.rows, "totals": p.totals}
                for p in e.plans
            ],
        }
    )


def _node_label(e: Explanation, node: Node, overall: dict[str, Any] | None) -> Text:
    if node.kind == "column":
        return _column_label(node)
    from rich.text import Text

    label = Text(node.name, style="bold")
    label.append(f" = {node.formula}")
    if overall is not None and node.name in overall["values"]:
        label.append("  → ", style="dim")
        label.append(_value(e, node.name, overall["values"][node.name]), style="bold")
        if e.result.comparison is not None:
            prev = _value(e, node.name, overall["previous"].get(node.name))
            label.append(f" (previous {prev})", style="dim")
    if node.kind == "source":
        _add_source_note(label, e, node, overall)
    if node.repeated:
        label.append("  (as above)", style="dim")
    if node.cut:
        label.append(f"  … (deeper levels: kpi explain {node.name})", style="dim")
    return label


def _add_source_note(
    label: Text, e: Explanation, node: Node, overall: dict[str, Any] | None
) -> None:
    """What a source KPI reads: source, date column, filter, and its rows."""
    where = f" where {node.filter}" if node.filter else ""
    on = f" by {node.date}" if node.date else ""
    label.append(f"  · source {node.source}{on}{where}", style="dim")
    if overall is not None and node.rows:
        label.append(f", {_plural(overall['rows'].get(node.rows, 0), 'row')}", style="dim")
    elif node.rows:
        scans = {s.key: s for s in e.scans}
        label.append(f", rows: {scans[node.rows].label}", style="dim")


def _column_label(node: Node) -> Text:
    from rich.text import Text

    label = Text(node.name, style="cyan")
    if node.origin == "derive":
        label.append(f" = {node.formula}")
        label.append("  derived column", style="dim")
    elif node.origin == "rename":
        label.append(f"  ← header `{node.header}`", style="dim")
    else:
        label.append("  column of the files", style="dim")
    if node.dtype:
        label.append(f"  {node.dtype}", style="dim")
    if node.cut:
        label.append("  … (the tree is cut here)", style="dim")
    return label


def _values_table(e: Explanation) -> Any:
    from rich import box
    from rich.table import Table

    res = e.result
    dims = list(res.dimensions)
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, show_edge=False)
    if res.grain is not None:
        table.add_column("Period")
    for d in dims:
        table.add_column(res.dimension_name(d))
    for name in e.order:
        table.add_column(name, justify="right")
    for s in e.scans:
        table.add_column(f"rows: {s.label}", justify="right")
    totals = {r["period_start"]: r for r in e.records(totals=True)} if dims else {}
    rows = e.records()
    for i, record in enumerate(rows):
        table.add_row(*_values_cells(e, record, False))
        last = record["period_start"]
        following = rows[i + 1]["period_start"] if i + 1 < len(rows) else None
        if dims and following != last and last in totals:
            table.add_row(*_values_cells(e, totals[last], True), style="bold")
    return table


def _values_cells(e: Explanation, record: dict[str, Any], total: bool) -> list[Text]:
    """One row of the values table: bucket, dimension values (or Total), each KPI's value
    and each scan's rows, with the previous period's under them when comparing."""
    from rich.text import Text

    from kpicli.render.units import bucket_label

    res = e.result
    compare = res.comparison is not None
    cells: list[Text] = []
    if res.grain is not None:
        cells.append(Text(bucket_label(record["period_start"], res.grain)))
    for i, d in enumerate(res.dimensions):
        text = "Total" if total and i == 0 else "" if total else str(record.get(d) or "–")
        cells.append(Text(text))
    for name in e.order:
        cell = Text(_value(e, name, record["values"].get(name)))
        if compare:
            cell.append("\n" + _value(e, name, record["previous"].get(name)), style="dim")
        cells.append(cell)
    for s in e.scans:
        cell = Text(_count(record["rows"].get(s.key)))
        if compare:
            cell.append("\n" + _count(record.get("previous_rows", {}).get(s.key)), style="dim")
        cells.append(cell)
    return cells


def render_explanation(
    e: Explanation, fmt: str, *, color: bool = False, width: int | None = None
) -> str:
    """How a KPI is made: formula, tree, rows and files, values, the Polars plans."""
    if fmt == "json":
        return _explain_json(e)
    from rich.text import Text

    res = e.result
    console = _console(color, width)
    _print_heading(console, e)
    overall = e.overall
    console.print()
    title = "How it is computed"
    if overall is not None and res.dimensions:
        title += " (values: the total row)"
    elif overall is None:
        title += " (values: see the table below)"
    console.print(Text(title, style="bold underline"))
    console.print(_tree(e, overall))
    info = res.kpis.get(e.name)
    if overall is not None and res.dimensions and info is not None and info.total == "sum":
        made = (
            f"The total of {e.name} is made from the rows (total: sum): its inputs summed over "
            "the rows that have a value (the Values table), not the inputs' totals above."
        )
        console.print(Text(made, style="dim"))
    console.print()
    console.print(Text("Rows and files behind the value", style="bold underline"))
    _print_scans(console, e)
    if overall is None or res.dimensions:
        console.print()
        note = " (below each value: the previous period's)" if res.comparison is not None else ""
        console.print(Text("Values" + note, style="bold underline"))
        console.print(_values_table(e))
    text = _text(console, color)
    return "\n".join([text.rstrip("\n"), "", *_plans_lines(e)])


def _print_heading(console: Console, e: Explanation) -> None:
    """The KPI's name and label, description, period, grouping, then its facts."""
    from rich.text import Text

    res, entry = e.result, e.entry
    head = Text(e.name, style="bold")
    if entry.label.lower() != e.name.replace("_", " ").lower():
        head.append(f" · {entry.label}", style="bold")
    console.print(head)
    if entry.description:
        console.print(Text(entry.description))
    console.print(Text(describe_period(res.period, res.period_label, res.as_of, res.comparison)))
    if res.dimensions or res.grain:
        names = [res.dimension_name(d) for d in res.dimensions]
        keys = [f"by {', '.join(names)}"] if names else []
        keys += [f"per {res.grain}"] if res.grain else []
        console.print(Text(" · ".join(keys)))
    console.print()
    unit = entry.unit + (", lower is better" if entry.better == "lower" else "")
    facts = [("formula", entry.formula), ("unit", unit)]
    if entry.filter:
        facts.append(("filter", entry.filter))
    target = target_text(entry.target, entry.unit, currency=res.currency, locale=res.locale)
    if target:
        facts.append(("target", target))
    for key, value in facts:
        console.print(Text.assemble((f"{key:<8}", "dim"), value))


def _tree(e: Explanation, overall: dict[str, Any] | None) -> Any:
    """The dependency tree, each node labelled with its formula and value."""
    from rich.tree import Tree

    def grow(branch: Tree, node: Node) -> None:
        for child in node.children:
            grow(branch.add(_node_label(e, child, overall)), child)

    tree = Tree(_node_label(e, e.tree, overall), guide_style="dim")
    grow(tree, e.tree)
    return tree


def _print_scans(console: Console, e: Explanation) -> None:
    """Each way a source is read: its rows in the period, the KPIs it serves, its files."""
    from rich.text import Text

    for s in e.scans:
        line = Text(s.label, style="bold")
        rows = e.rows_in_period(s)
        line.append(f": {_plural(rows or 0, 'row')} in the period")
        line.append(f" (for {', '.join(s.kpis)})", style="dim")
        console.print(line)
        for f in s.files:
            console.print(Text(f"  {f}"))
    if not e.scans:
        console.print(Text("no source: the formula uses numbers only", style="dim"))


def _plans_lines(e: Explanation) -> list[str]:
    """The Polars plans that ran, as plain lines after the rest."""
    parts = []
    if e.plans:
        parts.append(
            "The Polars plans that ran (LazyFrame.explain): __rows_N are the row counts explain "
            "adds; __n_, __first_ and __last_ the engine's own bookkeeping."
        )
        parts.append("")
    for p in e.plans:
        on = f", date column {p.date}" if p.date else ""
        parts.append(f"Polars plan: source {p.source}{on}")
        parts.extend(line.rstrip() for line in p.rows.rstrip("\n").splitlines())
        parts.append("")
    if e.result.dimensions and any(p.totals for p in e.plans):
        parts.append("(the totals run the same plans grouped without the dimensions: -f json)")
        parts.append("")
    return parts
