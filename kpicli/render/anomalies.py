"""How `kpi anomalies` looks: its flagged rows, worst first, in every format it offers.

``render_anomalies(anomalies, fmt)`` is the entry point, the counterpart of ``render`` for
`kpi report`:

- ``table``: one line per flagged bucket (KPI, bucket, where: ``total`` or
  ``channel=meta_ads``, value, expected range, the flag with its score), then how many
  were flagged across how many series; "No anomalies in the last 7 days across 9 series."
  when none was;
- ``json``: one document (``schema_version``, ``generated_at``, ``as_of``, ``grain``,
  ``last``, ``sensitivity``, ``period``, ``dimensions``, ``kpis`` as `kpi report` writes
  them, ``checked``: the series looked at, ``anomalies``: the rows);
- ``jsonl``, ``csv``, ``parquet``, ``xlsx``: the rows (plain numbers, as `kpi report`'s);
- ``markdown``: the table;
- ``html``: a self-contained page: the table, then a small chart per flagged series (its
  line, the expected band, the flagged buckets ringed, the last buckets shaded).
"""

from __future__ import annotations

import io
import json
from typing import IO, TYPE_CHECKING, Any

from kpicli.errors import UsageError
from kpicli.render import FORMATS
from kpicli.render.formats import (
    SCHEMA_VERSION,
    UNIT,
    date_range,
    kpis_json,
    md_escape,
    timestamp,
    unit_json,
    write_csv_frame,
    write_list,
    write_objects_lines,
)
from kpicli.render.layout import anomaly_style, dimension_text
from kpicli.render.units import FLAG, format_anomaly, format_range, format_value

if TYPE_CHECKING:
    import polars as pl

    from kpicli.commands.anomalies import Anomalies
    from kpicli.execute.result import KpiInfo

#: The formats of `kpi anomalies`: those of `kpi report` (the CLI's ``--format`` choices).
ANOMALY_FORMATS = FORMATS
#: The columns of a rendered row, after the key columns and the dimensions.
HEADERS = ("KPI", "Bucket", "Where", "Value", "Expected range", "Anomaly")


def render_anomalies(
    anomalies: Anomalies,
    fmt: str,
    *,
    color: bool = False,
    width: int | None = None,
    raw: bool = False,
    wide: bool = False,
) -> bytes:
    """:func:`render_anomalies_to` into bytes."""
    buffer = io.BytesIO()
    render_anomalies_to(anomalies, fmt, buffer, color=color, width=width, raw=raw, wide=wide)
    return buffer.getvalue()


def render_anomalies_to(
    anomalies: Anomalies,
    fmt: str,
    out: IO[bytes],
    *,
    color: bool = False,
    width: int | None = None,
    raw: bool = False,
    wide: bool = False,
) -> None:
    """Write what `kpi anomalies` found in format ``fmt`` (one of ``ANOMALY_FORMATS``) to
    ``out``. ``color`` and ``width`` apply to the table, ``raw`` to CSV; ``wide`` has no
    meaning here and is a UsageError."""
    if wide:
        raise UsageError("--wide applies to `kpi report`, not to `kpi anomalies`")
    if fmt == "table":
        out.write(anomaly_table(anomalies, color=color, width=width).encode("utf-8"))
    elif fmt == "json":
        write_anomalies_json(anomalies, out)
    elif fmt == "jsonl":
        rows = anomalies.rows  # the KPI's unit last on each line, as in `kpi report -f jsonl`
        extra = {UNIT: unit_json(anomalies.kpis)}
        write_objects_lines(out, anomalies.kpis, rows, rows.columns, extra=extra)
    elif fmt == "csv":
        write_csv_frame(out, anomalies.kpis, anomalies.rows, raw=raw)
    elif fmt == "parquet":
        anomalies.rows.write_parquet(out)
    elif fmt == "xlsx":
        from kpicli.render.xlsx import write_anomalies_xlsx

        write_anomalies_xlsx(anomalies, out, raw=raw)
    elif fmt == "markdown":
        out.write(anomaly_markdown(anomalies))
    elif fmt == "html":
        out.write(anomalies_html(anomalies))
    else:
        raise UsageError(
            f"unknown output format `{fmt}` for `kpi anomalies`",
            hint=f"use one of: {', '.join(ANOMALY_FORMATS)}",
        )


# ---------------------------------------------------------------------------- words


def plural(count: int, word: str) -> str:
    """``1 day``, ``7 days``, ``1,234 series``."""
    if word.endswith("s"):
        return f"{count:,} {word}"
    return f"{count:,} {word}{'s' if count != 1 else ''}"


def span_text(anomalies: Anomalies) -> str:
    """``the last 7 days``, ``the last day``."""
    if anomalies.last == 1:
        return f"the last {anomalies.grain}"
    return f"the last {plural(anomalies.last, anomalies.grain)}"


def heading(anomalies: Anomalies) -> str:
    """``Anomalies in the last 7 days: 2026-11-16 → 2026-11-22 · as of … · medium sensitivity``."""
    start, end = anomalies.period
    return (
        f"Anomalies in {span_text(anomalies)}: {start.isoformat()} → {end.isoformat()}"
        f" · as of {anomalies.as_of.isoformat()} · {anomalies.sensitivity} sensitivity"
    )


def summary(anomalies: Anomalies) -> str:
    """The line under the list: how many flagged across how many series, and the score's
    unit; or that none was."""
    series = plural(anomalies.checked, "series")
    count = anomalies.rows.height
    if count == 0:
        return f"No anomalies in {span_text(anomalies)} across {series}."
    from kpicli.stats.anomaly import Z

    z = Z.get(anomalies.sensitivity)
    limit = f": |score| > {z:.1f}" if z is not None else ""
    return (
        f"{FLAG} {plural(count, 'bucket')} flagged across {series}"
        f" ({anomalies.sensitivity} sensitivity{limit}, in standard deviations)."
    )


def where(row: dict[str, Any], anomalies: Anomalies) -> str:
    """``total`` for a KPI's total, ``channel=meta_ads`` for a dimension's value."""
    dimension = row.get("dimension")
    if dimension is None:
        return "total"
    names = anomalies.dimension_names or anomalies.dimensions
    for key, name in zip(anomalies.dimensions, names, strict=True):
        if dimension in (key, name):
            return f"{name}={dimension_text(row.get(key))}"
    return f"{dimension}=?"


def _info(anomalies: Anomalies, name: str) -> KpiInfo:
    from kpicli.execute.result import KpiInfo

    return anomalies.kpis.get(name) or KpiInfo(name=name, label=name)


def row_texts(row: dict[str, Any], anomalies: Anomalies) -> tuple[list[str], str]:
    """The cells of one flagged row (as ``HEADERS``) and the style of its value."""
    from kpicli.render.units import bucket_label

    info = _info(anomalies, row["kpi"])
    currency, locale = anomalies.currency, anomalies.locale
    start, end = row["period_start"], row.get("period_end")
    bucket = bucket_label(start, anomalies.grain)
    if anomalies.grain not in ("day", None) and end is not None:
        bucket += f" ({start.isoformat()} → {end.isoformat()})"
    cells = [
        info.label or info.name,
        bucket,
        where(row, anomalies),
        format_value(row.get("value"), info.unit, currency=currency, locale=locale),
        format_range(
            row.get("lower"), row.get("upper"), info.unit, currency=currency, locale=locale
        ),
        format_anomaly(row.get("anomaly"), row.get("anomaly_score"), locale=locale),
    ]
    return cells, anomaly_style(row, info.better)


# ---------------------------------------------------------------------------- table


def anomaly_table(anomalies: Anomalies, *, color: bool, width: int | None = None) -> str:
    """The flagged rows, worst first, as a terminal table (no ANSI escapes unless ``color``)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from kpicli.render.console import DEFAULT_WIDTH, text_console

    console = text_console(color, width or DEFAULT_WIDTH)
    console.print(Text(heading(anomalies), style="bold"))
    if anomalies.rows.height:
        table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, show_edge=False)
        for title in HEADERS:
            right = title in ("Value", "Expected range")
            table.add_column(
                title,
                justify="right" if right else "left",
                no_wrap=title not in ("KPI", "Where"),
                overflow="fold",
            )
        for row in anomalies.rows.iter_rows(named=True):
            cells, style = row_texts(row, anomalies)
            texts = [Text(c) for c in cells]
            texts[3].stylize(style)
            texts[5].stylize(style)
            table.add_row(*texts)
        console.print(table)
    console.print(Text(summary(anomalies), style="dim" if anomalies.rows.height else ""))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    if not color:
        text = "\n".join(line.rstrip() for line in text.split("\n"))
    return text


# ---------------------------------------------------------------------------- JSON, markdown


def write_anomalies_json(anomalies: Anomalies, out: IO[bytes]) -> None:
    """One JSON document: the run's facts, then ``anomalies``: the rows, worst first (the
    same bytes as ``json.dumps(document, indent=2)``)."""
    marker = "@@anomalies-rows@@"
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": timestamp(anomalies.generated_at),
        "as_of": anomalies.as_of.isoformat(),
        "grain": anomalies.grain,
        "last": anomalies.last,
        "sensitivity": anomalies.sensitivity,
        "period": date_range(anomalies.period),
        "dimensions": list(anomalies.dimensions),
        "kpis": kpis_json(anomalies.kpis),
        "checked": anomalies.checked,
        "anomalies": marker,
    }
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    before, after = text.split(json.dumps(marker), 1)
    out.write(before.encode("utf-8"))
    write_list(out, anomalies.kpis, anomalies.rows, anomalies.rows.columns)
    out.write(after.encode("utf-8"))


def anomaly_markdown(anomalies: Anomalies) -> bytes:
    """The flagged rows as a GitHub-flavoured markdown table under a bold heading."""
    lines = [f"**{md_escape(heading(anomalies))}**", ""]
    if anomalies.rows.height:
        rows = [row_texts(r, anomalies)[0] for r in anomalies.rows.iter_rows(named=True)]
        table = [[md_escape(c) for c in cells] for cells in rows]
        right = [False, False, False, True, True, False]
        widths = [max([3, len(h), *(len(r[i]) for r in table)]) for i, h in enumerate(HEADERS)]

        def md_row(cells: list[str] | tuple[str, ...]) -> str:
            pairs = zip(cells, widths, right, strict=True)
            return "| " + " | ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in pairs) + " |"

        rule = ["-" * (w - 1) + ":" if r else "-" * w for w, r in zip(widths, right, strict=True)]
        lines += [md_row(HEADERS), md_row(rule), *(md_row(r) for r in table), ""]
    lines.append(md_escape(summary(anomalies)))
    return ("\n".join(lines) + "\n").encode("utf-8")


def anomalies_html(anomalies: Anomalies) -> bytes:
    """`kpi anomalies -f html`: the flagged rows, worst first, then a small chart per flagged
    series (its line, the expected band, the flagged buckets ringed, the last buckets
    shaded); one self-contained page."""
    from kpicli.render.html import CHANGE_CLASSES, CSS, EXTRA_CSS, NL, band_chart, esc, page
    from kpicli.render.html import fact_list as facts_html

    start, end = anomalies.period
    facts = [
        ("Looked at", f"{span_text(anomalies)}: {start.isoformat()} → {end.isoformat()}"),
        ("As of", anomalies.as_of.isoformat()),
        ("Sensitivity", anomalies.sensitivity),
        ("Series", f"{anomalies.checked:,}"),
        ("Flagged", f"{anomalies.rows.height:,}"),
    ]
    if anomalies.dimensions:
        names = anomalies.dimension_names or anomalies.dimensions
        facts.append(("By", ", ".join(names)))
    parts = []
    if anomalies.rows.height:
        numbers = ("Value", "Expected range")
        heads = "".join(
            f'<th scope="col" class="num">{esc(h)}</th>' if h in numbers else f"<th>{esc(h)}</th>"
            for h in HEADERS
        )
        body = []
        for row in anomalies.rows.iter_rows(named=True):
            cells, style = row_texts(row, anomalies)
            css = CHANGE_CLASSES.get(style, "")
            flag = f'<span class="flag{" anom-bad" if style == "bold red" else ""}">'
            body.append(
                f'<tr><td>{esc(cells[0])}</td><td class="nowrap">{esc(cells[1])}</td>'
                f'<td>{esc(cells[2])}</td><td class="num {css}">{esc(cells[3])}</td>'
                f'<td class="num">{esc(cells[4])}</td><td>{flag}{esc(cells[5])}</span></td></tr>'
            )
        parts.append(
            f'<div class="table-wrap"><table><thead><tr>{heads}</tr></thead>'
            f"<tbody>\n{NL.join(body)}\n</tbody></table></div>"
        )
    parts.append(f'<p class="note">{esc(summary(anomalies))}</p>')
    charts = []
    for records in series_groups(anomalies.series):
        info = anomalies.kpis.get(records[0]["kpi"])
        if info is None:
            from kpicli.execute.result import KpiInfo

            info = KpiInfo(name=records[0]["kpi"], label=records[0]["kpi"])
        charts.append(
            band_chart(
                records,
                info,
                anomalies,
                title=where(records[0], anomalies),
                heading=info.label or info.name,
                recent=anomalies.last,
            )
        )
    if charts:
        parts.append(f'<section class="kpi"><div class="charts">{NL.join(charts)}</div></section>')
    return page(
        title=f"Anomalies · {start.isoformat()} → {end.isoformat()}",
        heading="Anomalies",
        facts=facts_html(facts),
        body=NL.join(parts),
        generated=anomalies.generated_at,
        css=CSS + EXTRA_CSS,
    )


def series_groups(series: pl.DataFrame) -> list[list[dict[str, Any]]]:
    """``Anomalies.series`` as one list of bucket records per series, in its order."""
    groups: dict[Any, list[dict[str, Any]]] = {}
    for record in series.iter_rows(named=True):
        groups.setdefault(record["series"], []).append(record)
    return list(groups.values())


__all__ = ["ANOMALY_FORMATS", "render_anomalies", "render_anomalies_to"]
