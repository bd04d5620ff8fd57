"""Machine formats (JSON, JSONL, CSV, Parquet) and markdown.

Machine formats carry the tidy rows as plain numbers (fractions for percent), dates as
``YYYY-MM-DD`` and nulls for anything missing or not finite. Markdown shows formatted values.
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from kpicli.render.layout import (
    dimension_text,
    kpi_info,
    optional_columns,
    sections,
    value_texts,
)
from kpicli.render.units import bucket_label, describe_period
from kpicli.result import KEY_COLUMNS, VALUE_COLUMNS

if TYPE_CHECKING:
    import polars as pl

    from kpicli.result import Result

SCHEMA_VERSION = 1
#: Columns in the KPI's own unit: integer-valued ones are written as ints for integer KPIs.
UNIT_COLUMNS = frozenset({"value", "previous", "change", "target", "expected", "projected"})
#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

Record = dict[str, Any]


def columns(result: Result) -> list[str]:
    """The columns of the tidy rows: keys, dimensions, values."""
    return [*KEY_COLUMNS, *result.dimensions, *VALUE_COLUMNS]


def plain(value: Any, *, integer: bool = False) -> Any:
    """A cell as a JSON-ready value: ISO dates, None for non-finite, ints when ``integer``."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return None
    if integer and number.is_integer():
        return int(number)
    return number


def records(result: Result, frame: pl.DataFrame | None, *, dims: bool = True) -> list[Record]:
    """``frame`` as JSON-ready dicts in column order (dimensions dropped unless ``dims``)."""
    if frame is None:
        return []
    cols = columns(result) if dims else [*KEY_COLUMNS, *VALUE_COLUMNS]
    have = [c for c in cols if c in frame.columns]
    missing = {c: None for c in cols if c not in frame.columns}
    units = [c in UNIT_COLUMNS for c in have]
    integer = {k: kpi_info(result, k).unit == "integer" for k in frame["kpi"].unique()}
    out = []
    # one tuple per row, and the common cells (text, None, finite floats) without a call
    for row in frame.select(have).iter_rows():
        record = dict(missing) if missing else {}
        as_int = integer[row[0]]
        for c, unit, v in zip(have, units, row, strict=True):
            if v is None or type(v) is str:
                record[c] = v
            elif type(v) is float and v - v == 0 and not (as_int and unit):
                record[c] = v  # finite (inf - inf and nan - nan are nan)
            else:
                record[c] = plain(v, integer=as_int and unit)
        out.append({c: record[c] for c in cols} if missing else record)
    return out


def timestamp(moment: datetime | None) -> str:
    """``moment`` (now when None; naive means UTC) as ``YYYY-MM-DDTHH:MM:SSZ``."""
    if moment is None:
        moment = datetime.now(UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _range(bounds: tuple[date, date] | None) -> dict[str, str] | None:
    return (
        None if bounds is None else {"start": bounds[0].isoformat(), "end": bounds[1].isoformat()}
    )


def to_json(result: Result) -> bytes:
    """The report as one JSON document (SPEC "Output shapes"); ``totals`` is ``[]`` without --by."""
    document = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": timestamp(result.generated_at),
        "as_of": result.as_of.isoformat(),
        "period": _range(result.period),
        "comparison": _range(result.comparison),
        "grain": result.grain,
        "dimensions": list(result.dimensions),
        "kpis": {
            name: {
                "label": info.label,
                "unit": info.unit,
                "better": info.better,
                "formula": info.formula,
                "description": info.description,
            }
            for name, info in result.kpis.items()
        },
        "rows": records(result, result.rows),
        "totals": records(result, result.totals, dims=False),
    }
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def _long_records(result: Result) -> list[Record]:
    """Rows, then totals with every dimension null and ``total: true``."""
    out = records(result, result.rows)
    for total in records(result, result.totals, dims=False):
        row = {c: total.get(c) for c in columns(result)}
        row["total"] = True
        out.append(row)
    return out


def to_jsonl(result: Result) -> bytes:
    """One JSON object per line: rows, then totals (dimensions null, ``"total": true``)."""
    lines = [json.dumps(r, ensure_ascii=False, allow_nan=False) for r in _long_records(result)]
    return "".join(line + "\n" for line in lines).encode("utf-8")


def wide_records(result: Result) -> tuple[list[str], list[Record]]:
    """The rows pivoted to one value column per KPI, then the totals pivoted the same way.

    Index: ``period_start``, ``period_end`` and the dimensions (empty for totals). Values are
    raw (dates, floats); KPI columns follow ``result.kpis`` order.
    """
    index = ["period_start", "period_end", *result.dimensions]
    frames = [result.rows] + ([result.totals] if result.totals is not None else [])
    names: dict[str, None] = {}
    blocks = []
    for frame in frames:
        pivot: dict[tuple[Any, ...], Record] = {}
        for row in frame.to_dicts():
            key = tuple(row.get(c) for c in index)
            pivot.setdefault(key, dict(zip(index, key, strict=True)))[row["kpi"]] = row["value"]
            names[row["kpi"]] = None
        blocks.append(pivot)
    ordered = [k for k in result.kpis if k in names] + [k for k in names if k not in result.kpis]
    rows = [{**r, **{k: r.get(k) for k in ordered}} for block in blocks for r in block.values()]
    return index + ordered, rows


def _csv_cell(value: Any, *, raw: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if not raw and value.startswith(FORMULA_PREFIXES):
            return "'" + value
        return value
    return str(value)


def _csv_line(cells: list[str]) -> str:
    """One CSV record ending in ``\\n``; cells holding ``\\r`` or ``\\n`` are quoted.

    (``csv.writer`` only quotes the characters of its line terminator, so a bare ``\\n``
    terminator would leave a lone ``\\r`` unquoted.)
    """
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()[:-2] + "\n"


def to_csv(result: Result, *, raw: bool = False, wide: bool = False) -> bytes:
    """Rows then totals (dimension cells empty) as CSV; formula-like text gets a ``'`` prefix.

    ``raw`` keeps text cells as they are; ``wide`` pivots to one column per KPI value.
    """
    if wide:
        header, data = wide_records(result)
        data = [
            {
                c: plain(v, integer=c in result.kpis and result.kpis[c].unit == "integer")
                for c, v in row.items()
            }
            for row in data
        ]
    else:
        header = columns(result)
        data = records(result, result.rows)
        data += records(result, result.totals, dims=False)
    lines = [_csv_line([_csv_cell(c, raw=raw) for c in header])]
    lines += [_csv_line([_csv_cell(row.get(c), raw=raw) for c in header]) for row in data]
    return "".join(lines).encode("utf-8")


def to_parquet(result: Result, *, wide: bool = False) -> bytes:
    """Rows then totals (dimensions null) as Parquet; ``wide`` pivots as :func:`to_csv`."""
    import polars as pl

    if wide:
        header, data = wide_records(result)
        schema: dict[str, Any] = {c: pl.Float64 for c in header}
        schema.update(period_start=pl.Date, period_end=pl.Date)
        for dim in result.dimensions:
            schema[dim] = result.rows.schema.get(dim, pl.String)
        frame = pl.from_dicts(data, schema=schema) if data else pl.DataFrame(schema=schema)
    else:
        parts = [result.rows]
        if result.totals is not None:
            parts.append(result.totals)
        frame = pl.concat(parts, how="diagonal_relaxed").select(
            [c for c in columns(result) if c in result.rows.columns]
        )
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def _md_escape(text: str) -> str:
    """Text safe in a table cell; ``_`` is left alone (intraword, it never emphasises)."""
    for char in "\\|*`<":
        text = text.replace(char, "\\" + char)
    return " ".join(text.split())


def to_markdown(result: Result) -> bytes:
    """A GitHub-flavoured markdown table of the formatted values, under a bold heading.

    Laid out like the terminal table: a KPI's label on its first line (its sparkline on the
    second with ``--grain``), a bold ``Total`` line per bucket with ``--by``.
    """
    dims = list(result.dimensions)
    extra = optional_columns(result)
    keys = ["KPI"] + (["Period"] if result.grain else []) + [result.dimension_name(d) for d in dims]
    header = [*keys, "Value", *(title for _, title in extra)]
    right = [False] * len(keys) + [True] + [key != "status" for key, _ in extra]

    table: list[list[str]] = []
    for section in sections(result):
        info = section.info
        for index, line in enumerate(section.lines):
            record = line.record
            first = _md_escape(info.label or info.name)
            cells = [first if index == 0 else section.spark if index == 1 else ""]
            if result.grain:
                start = record["period_start"]
                cells.append(bucket_label(start, result.grain) if line.first_of_bucket else "")
            if line.is_total:
                cells += ["**Total**"] + [""] * (len(dims) - 1)
            else:
                cells += [_md_escape(dimension_text(record.get(d))) for d in dims]
            for text, _ in value_texts(record, info, extra, result):
                cells.append(f"**{text}**" if line.is_total and text else text)
            table.append(cells)

    widths = [max([3, len(h), *(len(r[i]) for r in table)]) for i, h in enumerate(header)]

    def md_row(cells: list[str]) -> str:
        pairs = zip(cells, widths, right, strict=True)
        return "| " + " | ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in pairs) + " |"

    rule = md_row(
        ["-" * (w - 1) + ":" if r else "-" * w for w, r in zip(widths, right, strict=True)]
    )
    heading = describe_period(result.period, result.period_label, result.as_of, result.comparison)
    out = [f"**{heading}**", "", md_row(header), rule, *(md_row(r) for r in table)]
    return ("\n".join(out) + "\n").encode("utf-8")
