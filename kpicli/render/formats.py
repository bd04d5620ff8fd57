"""Machine formats (JSON, JSONL, CSV, Parquet) and markdown.

Machine formats carry the tidy rows as plain numbers (fractions for percent), dates as
``YYYY-MM-DD`` and nulls for anything missing or not finite. Markdown shows formatted values.

Machine formats are written by Polars, a chunk of rows at a time, straight into the output
(:func:`write_json`, :func:`write_jsonl`, :func:`write_csv`, :func:`write_parquet`): no
Python loop touches rows, and memory stays bounded by a chunk (a report with a million
groups streams like one with ten). Each JSON line is put together by Polars expressions
(``struct.json_encode`` quotes text, numbers are cast to text), in the layout
``json.dumps`` gives, so that the bytes do not depend on the size of the report.

CSV, Parquet and XLSX have a ``total`` column (``true`` on the total rows of ``--by``), as
JSONL has ``"total": true``: a total and a row whose dimension is empty never look alike.
``--wide`` pivots to one row per time bucket and dimension values (and ``total``), with
columns ``<kpi>`` (the value), ``<kpi>_previous``, ``<kpi>_change``, ``<kpi>_change_pct``
(with ``--compare``) and ``<kpi>_target``, ``_expected``, ``_pace``, ``_projected``,
``_status`` for the KPIs that have them: nothing of the tidy rows is left out. The columns
of issue 13 follow the same rule, for every KPI when their option was given:
``<kpi>_change_significant``, ``<kpi>_p_value`` (``--compare``), ``<kpi>_baseline``,
``_lower``, ``_upper``, ``_anomaly``, ``_anomaly_score`` (``--anomalies``).

Without ``--compare`` and ``--anomalies`` the rows have none of those columns, and every
output is what it was before them, byte for byte. ``Result.trends`` goes to JSON (a
``trends`` list) and XLSX (a ``Trends`` sheet); JSONL, CSV and Parquet carry rows only.
"""

from __future__ import annotations

import io
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from kpicli.errors import UsageError
from kpicli.execute.result import (
    ANOMALY_COLUMNS,
    KEY_COLUMNS,
    SIGNIFICANCE_COLUMNS,
    TREND_COLUMNS,
    VALUE_COLUMNS,
)
from kpicli.render.layout import (
    NOTE_MORE,
    WHOLE_PERIOD,
    Line,
    dimension_text,
    has_more,
    notes,
    optional_columns,
    sections,
    summary,
    summary_line,
    total_label,
    trend_text,
    value_texts,
    without_data,
)
from kpicli.render.units import bucket_label, describe_period

if TYPE_CHECKING:
    import polars as pl

    from kpicli.execute.result import KpiInfo, Result

SCHEMA_VERSION = 1
#: Columns in the KPI's own unit: integer-valued ones are written as ints for integer KPIs.
UNIT_COLUMNS = frozenset(
    {"value", "previous", "change", "target", "expected", "projected", "baseline", "lower", "upper"}
)
#: Number columns that are ratios, never written as ints.
RATIO_COLUMNS = frozenset({"change_pct", "pace"})
#: Number columns that are statistics (a p-value, a score in standard deviations, a
#: trend's relative slope), never written as ints.
STAT_COLUMNS = frozenset({"p_value", "anomaly_score", "slope"})
#: Columns that are neither numbers nor text: their dtype when a frame lacks them.
TYPED_COLUMNS = {"change_significant": "Boolean", "anomaly": "String", "status": "String"}
#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: The column that tells total rows apart (CSV, Parquet, XLSX; ``"total": true`` in JSONL).
TOTAL = "total"
#: The last key of each JSONL line: the KPI's unit.
UNIT = "unit"
#: Rows rendered at a time by the streaming writers.
CHUNK_ROWS = 50_000
#: Value fields of ``--wide`` present whenever the report has a comparison.
COMPARE_FIELDS = ("previous", "change", "change_pct")

Record = dict[str, Any]


def extra_columns(result: Result) -> list[str]:
    """The columns of issue 13 the rows have: :data:`SIGNIFICANCE_COLUMNS` (with
    ``--compare``), then :data:`ANOMALY_COLUMNS` (with ``--anomalies``); none without."""
    present = set(result.rows.columns)
    if result.totals is not None:
        present |= set(result.totals.columns)
    out = []
    for group in (SIGNIFICANCE_COLUMNS, ANOMALY_COLUMNS):
        if any(c in present for c in group):
            out += group
    return out


def columns(result: Result) -> list[str]:
    """The columns of the tidy rows: keys, dimensions, values, then :func:`extra_columns`."""
    return [*KEY_COLUMNS, *result.dimensions, *VALUE_COLUMNS, *extra_columns(result)]


def timestamp(moment: datetime | None) -> str:
    """``moment`` (now when None; naive means UTC) as ``YYYY-MM-DDTHH:MM:SSZ``."""
    if moment is None:
        moment = datetime.now(UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def date_range(bounds: Any) -> dict[str, str] | None:
    """``{"start": …, "end": …}`` of a pair of dates, None for None."""
    return (
        None if bounds is None else {"start": bounds[0].isoformat(), "end": bounds[1].isoformat()}
    )


# ---------------------------------------------------------------------------- tidy frames


def _dtype(result: Result, column: str) -> Any:
    import polars as pl

    if column in result.rows.columns:
        return result.rows.schema[column]
    if column in TYPED_COLUMNS:
        return getattr(pl, TYPED_COLUMNS[column])
    if column == "kpi":
        return pl.String
    if column in ("period_start", "period_end"):
        return pl.Date
    return pl.Float64


def tidy_parts(result: Result, *, total: bool = False) -> list[pl.DataFrame]:
    """The rows, then the totals (dimensions null), each with exactly :func:`columns`
    (a column a frame lacks is null) and, with ``total``, the ``total`` column."""
    import polars as pl

    cols = columns(result)
    parts = []
    frames = [(result.rows, False)]
    if result.totals is not None:
        frames.append((result.totals, True))
    for frame, is_total in frames:
        exprs = [
            pl.col(c) if c in frame.columns else pl.lit(None, dtype=_dtype(result, c)).alias(c)
            for c in cols
        ]
        if total:
            exprs.append(pl.lit(is_total).alias(TOTAL))
        parts.append(frame.select(exprs))
    return parts


def _chunks(frame: pl.DataFrame, size: int = CHUNK_ROWS) -> list[pl.DataFrame]:
    return [frame.slice(offset, size) for offset in range(0, frame.height, size)]


def number_text(column: str, integer: pl.Expr | bool) -> pl.Expr:
    """A number column as text: null when missing or not finite, ``1234`` where ``integer``
    holds and the value is whole, else the shortest text that reads back as the same float.
    """
    import polars as pl

    x = pl.col(column).cast(pl.Float64)
    whole = (x.floor() == x) & (x.abs() < 2.0**53)
    return (
        pl.when(~x.is_finite().fill_null(False))
        .then(pl.lit(None, dtype=pl.String))
        .when(pl.lit(integer) & whole if isinstance(integer, bool) else integer & whole)
        .then(x.cast(pl.Int64).cast(pl.String))
        .otherwise(x.cast(pl.String))
    )


def _integer_kpis(kpis: dict[str, KpiInfo]) -> list[str]:
    return [name for name, info in kpis.items() if info.unit == "integer"]


# ---------------------------------------------------------------------------- JSON


def _json_literal(frame: pl.DataFrame, column: str, integer: pl.Expr) -> pl.Expr:
    """The JSON text of each cell of ``column`` (``null`` for a missing value)."""
    import polars as pl

    if column in UNIT_COLUMNS or column in RATIO_COLUMNS or column in STAT_COLUMNS:
        number = number_text(column, integer if column in UNIT_COLUMNS else False)
        return number.fill_null("null")
    dtype = frame.schema[column]
    if dtype == pl.Date:
        text = pl.col(column).dt.to_string("%Y-%m-%d")
        return pl.concat_str(pl.lit('"'), text, pl.lit('"')).fill_null("null")
    # any other type: Polars' JSON encoder quotes and escapes; cut the one-key object open
    empty = pl.DataFrame({column: [None]}, schema={column: dtype})
    prefix = empty.select(pl.struct(column).struct.json_encode()).item()[: -len("null}")]
    encoded = pl.struct(pl.col(column)).struct.json_encode()
    return encoded.str.strip_prefix(prefix).str.strip_suffix("}").fill_null("null")


def _json_objects(
    kpis: dict[str, KpiInfo],
    frame: pl.DataFrame,
    cols: list[str],
    *,
    indent: str | None,
    extra: dict[str, Any] | None = None,
) -> pl.Expr:
    """One JSON object per row of ``frame`` (keys ``cols`` then ``extra``'s values: JSON
    text, or an expression giving it),
    laid out as ``json.dumps`` does: on one line (``indent`` None) or indented."""
    import polars as pl

    integer = pl.col("kpi").is_in(_integer_kpis(kpis))
    pieces: list[pl.Expr | str] = []
    if indent is None:
        opening, between, closing = "{", ", ", "}"
    else:
        inner = "\n" + indent + "  "
        opening, between, closing = indent + "{" + inner, "," + inner, "\n" + indent + "}"
    keys = [(c, _json_literal(frame, c, integer)) for c in cols]
    keys += [(k, pl.lit(v) if isinstance(v, str) else v) for k, v in (extra or {}).items()]
    for index, (name, literal) in enumerate(keys):
        key = json.dumps(name, ensure_ascii=False) + ": "
        pieces.append(pl.lit((opening if index == 0 else between) + key))
        pieces.append(literal)
    pieces.append(pl.lit(closing))
    return pl.concat_str(pieces)


def _write_objects(
    out: IO[bytes],
    kpis: dict[str, KpiInfo],
    frame: pl.DataFrame,
    cols: list[str],
    *,
    indent: str | None,
    separator: str,
    first: bool,
    extra: dict[str, str] | None = None,
) -> bool:
    """Write ``frame``'s rows as JSON objects, ``separator`` between two (and before the
    first unless ``first``); return whether nothing was written and ``first`` still holds."""
    for chunk in _chunks(frame):
        objects = _json_objects(kpis, chunk, cols, indent=indent, extra=extra)
        text = chunk.select(objects.str.join(separator)).item()
        out.write(((separator if not first else "") + text).encode("utf-8"))
        first = False
    return first


def write_json(result: Result, out: IO[bytes]) -> None:
    """The report as one JSON document (SPEC "Output shapes"); ``totals`` is ``[]`` without
    --by nor --grain. The same bytes as ``json.dumps(document, indent=2)``, written a chunk
    at a time.

    With ``--grain``, the whole period's row per KPI (``Result.whole``) is ``totals``
    without --by, and a ``whole_period`` list after ``totals`` with --by (whose ``totals``
    are each bucket's). With ``--anomalies``, ``"anomalies": {"sensitivity", "flagged"}``
    follows; with trends (``--grain``), a ``"trends"`` list of objects: ``kpi``, the
    dimension keys, ``total``, ``slope`` (relative, per bucket), ``p_value``,
    ``significant``, ``buckets``.
    """
    frames = json_lists(result)
    marker = {name: f"@@{name}-{secrets.token_hex(8)}@@" for name in frames}
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": timestamp(result.generated_at),
        "as_of": result.as_of.isoformat(),
        "period": date_range(result.period),
        "comparison": date_range(result.comparison),
        "grain": result.grain,
        "dimensions": list(result.dimensions),
        "kpis": kpis_json(result.kpis, result.blended),
        "rows": marker["rows"],
        "totals": marker["totals"],
    }
    if "whole_period" in frames:
        document["whole_period"] = marker["whole_period"]
    if result.anomalies:
        document["anomalies"] = {"sensitivity": result.anomalies, "flagged": _flagged(result)}
    if "trends" in frames:
        document["trends"] = marker["trends"]
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    extra = extra_columns(result)
    totals = [*KEY_COLUMNS, *VALUE_COLUMNS, *extra]
    key_cols = {"rows": columns(result), "totals": totals, "whole_period": totals}
    key_cols["trends"] = ["kpi", *result.dimensions, *TREND_COLUMNS]
    for name, frame in frames.items():
        before, text = text.split(json.dumps(marker[name]), 1)
        out.write(before.encode("utf-8"))
        write_list(out, result.kpis, frame, key_cols[name])
    out.write(text.encode("utf-8"))


def json_lists(result: Result) -> dict[str, pl.DataFrame | None]:
    """The lists of a JSON report, in order: ``rows``, ``totals`` (the whole period's rows
    with --grain and without --by), ``whole_period`` (with --grain and --by), ``trends``
    (when there are)."""
    parts = tidy_parts(result)
    lists: dict[str, pl.DataFrame | None] = {
        "rows": parts[0],
        "totals": parts[1] if len(parts) > 1 else None,
    }
    if result.grain is not None and (whole := _whole_part(result)) is not None:
        lists["totals" if not result.dimensions else "whole_period"] = whole
    if result.trends is not None:
        lists["trends"] = result.trends
    return lists


def _whole_part(result: Result) -> pl.DataFrame | None:
    """``Result.whole`` with the columns of the totals (a column it lacks is null)."""
    import polars as pl

    frame = result.whole
    if frame is None:
        return None
    cols = [*KEY_COLUMNS, *VALUE_COLUMNS, *extra_columns(result)]
    return frame.select(
        pl.col(c) if c in frame.columns else pl.lit(None, dtype=_dtype(result, c)).alias(c)
        for c in cols
    )


def kpis_json(
    kpis: dict[str, KpiInfo], blended: frozenset[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The ``kpis`` object of a JSON document: how each KPI is described. With ``blended``
    (a report's: the KPIs whose total is blended), how its total is made too: ``total``
    (its config's ``blended``, ``sum`` or ``none``) and ``blended`` (whether its total
    counts rows the KPI has no value for)."""
    out = {}
    for name, info in kpis.items():
        out[name] = {
            "label": info.label,
            "unit": info.unit,
            "better": info.better,
            "formula": info.formula,
            "description": info.description,
        }
        if blended is not None:
            out[name].update(total=info.total, blended=name in blended)
    return out


def write_list(
    out: IO[bytes], kpis: dict[str, KpiInfo], frame: pl.DataFrame | None, cols: list[str]
) -> None:
    """``frame``'s rows as an indented JSON list of objects (keys ``cols``), ``[]`` when
    there is none, a chunk at a time."""
    if frame is None or frame.height == 0:
        out.write(b"[]")
        return
    out.write(b"[\n")
    _write_objects(out, kpis, frame, cols, indent="    ", separator=",\n", first=True)
    out.write(b"\n  ]")


def _flagged(result: Result) -> int:
    """How many rows and totals are flagged as anomalies."""
    frames = [result.rows] if result.totals is None else [result.rows, result.totals]
    return sum(int(f["anomaly"].is_not_null().sum()) for f in frames if "anomaly" in f.columns)


def unit_json(kpis: dict[str, KpiInfo]) -> pl.Expr:
    """The JSON text of each row's KPI's unit (``null`` for a KPI ``kpis`` lacks)."""
    import polars as pl

    units = {name: json.dumps(info.unit) for name, info in kpis.items()}
    return pl.col("kpi").replace_strict(units, default="null", return_dtype=pl.String)


def write_jsonl(result: Result, out: IO[bytes]) -> None:
    """One JSON object per line: rows, then totals (dimensions null, ``"total": true``);
    the KPI's ``unit`` last on every line (after the columns, so that their order is the
    one of the other formats)."""
    parts = tidy_parts(result)
    cols = columns(result)
    for index, frame in enumerate(parts):
        extra: dict[str, Any] = {TOTAL: "true"} if index else {}
        extra[UNIT] = unit_json(result.kpis)
        write_objects_lines(out, result.kpis, frame, cols, extra=extra)


def write_objects_lines(
    out: IO[bytes],
    kpis: dict[str, KpiInfo],
    frame: pl.DataFrame,
    cols: list[str],
    *,
    extra: dict[str, Any] | None = None,
) -> None:
    """``frame``'s rows as JSON objects, one per line (keys ``cols`` then ``extra``)."""
    for chunk in _chunks(frame):
        objects = _json_objects(kpis, chunk, cols, indent=None, extra=extra)
        text = chunk.select(objects.str.join("\n")).item()
        out.write((text + "\n").encode("utf-8"))


def _bytes(write: Any, result: Result, **options: Any) -> bytes:
    buffer = io.BytesIO()
    write(result, buffer, **options)
    return buffer.getvalue()


def to_json(result: Result) -> bytes:
    """:func:`write_json` as bytes."""
    return _bytes(write_json, result)


def to_jsonl(result: Result) -> bytes:
    """:func:`write_jsonl` as bytes."""
    return _bytes(write_jsonl, result)


# ---------------------------------------------------------------------------- wide


@dataclass(frozen=True)
class WideColumn:
    """A value column of ``--wide``: its name, the KPI and the tidy field it holds."""

    name: str
    kpi: str
    field: str


def wide_name(kpi: str, field: str) -> str:
    """``cpl`` for the value, ``cpl_previous``, ``cpl_change_pct``, … for the others."""
    return kpi if field == "value" else f"{kpi}_{field}"


def wide_frame(result: Result) -> tuple[pl.DataFrame, list[WideColumn]]:
    """The rows then the totals pivoted to one row per time bucket, dimension values and
    ``total``, and one column per KPI and value field (see the module's doc).

    Rows keep the order of the tidy rows; KPIs follow ``result.kpis``. A column name that
    two columns would share (a KPI ``leads_previous`` beside ``leads`` with --compare, a
    dimension named like a KPI) is a UsageError.
    """
    import polars as pl

    index = ["period_start", "period_end", *result.dimensions, TOTAL]
    long = pl.concat(tidy_parts(result, total=True), how="vertical_relaxed")
    present = long["kpi"].unique(maintain_order=True).to_list()
    names = [k for k in result.kpis if k in present] + [k for k in present if k not in result.kpis]
    wanted = _wide_columns(result, long, names)

    seen: dict[str, str] = {c: "a key column" for c in index}
    for col in wanted:
        if col.name in seen:
            raise UsageError(
                f"--wide: two columns would be named `{col.name}` "
                f"({seen[col.name]}, and the {col.field} of KPI `{col.kpi}`)",
                hint="rename the KPI, or leave out --wide",
            )
        seen[col.name] = f"the {col.field} of KPI `{col.kpi}`"

    group = "__kpi_wide_group"
    keyed = long.with_row_index(group).with_columns(pl.col(group).min().over(index))
    frame = keyed.select(group, *index).unique(group, keep="first", maintain_order=True)
    numeric = [f for f in dict.fromkeys(c.field for c in wanted) if f not in TYPED_COLUMNS]
    for fields in [numeric, *([f] for f in TYPED_COLUMNS if any(c.field == f for c in wanted))]:
        if fields and keyed.height:
            frame = frame.join(
                _pivot(keyed, group, fields, wanted), on=group, how="left", maintain_order="left"
            )
    filled = [
        pl.col(c.name)
        if c.name in frame.columns
        else pl.lit(None, dtype=_dtype(result, c.field)).alias(c.name)
        for c in wanted
    ]
    frame = frame.sort(group).select(*index[:-1], *filled, TOTAL)
    return frame, wanted


def _wide_columns(result: Result, long: pl.DataFrame, names: list[str]) -> list[WideColumn]:
    """The value columns of ``--wide``, KPI by KPI: the value, the comparison's fields and
    their significance (with ``--compare``), the fields the KPI has a value in (target,
    pace…), the anomaly fields (with ``--anomalies``)."""
    import polars as pl

    compared = result.comparison is not None
    extra = extra_columns(result)
    other = [f for f in VALUE_COLUMNS if f != "value" and f not in COMPARE_FIELDS]
    have = (
        long.group_by("kpi").agg(pl.col(f).is_not_null().any() for f in other)
        if long.height
        else None
    )
    found = {row["kpi"]: row for row in have.to_dicts()} if have is not None else {}
    wanted: list[WideColumn] = []
    for kpi in names:
        fields = ["value", *(COMPARE_FIELDS if compared else ())]
        fields += [f for f in extra if f in SIGNIFICANCE_COLUMNS]
        fields += [f for f in other if found.get(kpi, {}).get(f)]
        fields += [f for f in extra if f in ANOMALY_COLUMNS]
        wanted += [WideColumn(wide_name(kpi, f), kpi, f) for f in fields]
    return wanted


def _pivot(
    keyed: pl.DataFrame, group: str, fields: list[str], wanted: list[WideColumn]
) -> pl.DataFrame:
    """``fields`` (of one dtype) pivoted to one column per KPI and field, one row per
    ``group``; only the columns of ``wanted``."""
    import polars as pl

    cells = keyed.unpivot(index=[group, "kpi"], on=fields, variable_name="field", value_name="cell")
    cells = cells.with_columns(
        pl.when(pl.col("field") == "value")
        .then(pl.col("kpi"))
        .otherwise(pl.concat_str(pl.col("kpi"), pl.lit("_"), pl.col("field")))
        .alias("name")
    ).filter(pl.col("name").is_in([c.name for c in wanted]))
    return cells.pivot(on="name", index=group, values="cell")


def _wide_integers(result: Result, wanted: list[WideColumn]) -> set[str]:
    integer = set(_integer_kpis(result.kpis))
    return {c.name for c in wanted if c.kpi in integer and c.field in UNIT_COLUMNS}


# ---------------------------------------------------------------------------- CSV


def _csv_header(names: list[str], *, raw: bool) -> bytes:
    """The header line, written as :func:`write_csv` writes text cells."""
    import polars as pl

    frame = pl.DataFrame({str(i): [n] for i, n in enumerate(names)})
    frame = frame.select(_guard(pl.col(c), raw).alias(c) for c in frame.columns)
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False, line_terminator="\n")
    return buffer.getvalue()


def _guard(expr: pl.Expr, raw: bool) -> pl.Expr:
    """Text that a spreadsheet would run as a formula, prefixed with ``'`` (unless ``raw``)."""
    import polars as pl

    if raw:
        return expr
    risky = pl.any_horizontal(expr.str.starts_with(p) for p in FORMULA_PREFIXES)
    return pl.when(risky).then(pl.concat_str(pl.lit("'"), expr)).otherwise(expr)


def _csv_cells(frame: pl.DataFrame, integer: dict[str, pl.Expr | bool], raw: bool) -> Any:
    """``frame`` with numbers as text (ints where ``integer`` says so) and text guarded."""
    import polars as pl

    exprs = []
    for name, dtype in frame.schema.items():
        if name in integer:
            exprs.append(number_text(name, integer[name]).alias(name))
        elif dtype == pl.String:
            exprs.append(_guard(pl.col(name), raw).alias(name))
        elif dtype in (pl.Categorical, pl.Enum):
            exprs.append(_guard(pl.col(name).cast(pl.String), raw).alias(name))
        else:
            exprs.append(pl.col(name))
    return frame.select(exprs)


def write_csv(result: Result, out: IO[bytes], *, raw: bool = False, wide: bool = False) -> None:
    """Rows then totals (dimension cells empty, ``total`` true) as CSV; formula-like text gets
    a ``'`` prefix unless ``raw``; ``wide`` pivots (see :func:`wide_frame`)."""

    if wide:
        frame, wanted = wide_frame(result)
        ints = _wide_integers(result, wanted)
        integer: dict[str, pl.Expr | bool] = {
            c.name: c.name in ints for c in wanted if c.field not in TYPED_COLUMNS
        }
        parts = [frame]
    else:
        parts = tidy_parts(result, total=True)
        integer = unit_integers(result.kpis)
    _write_csv_parts(out, parts, integer, raw=raw)


def unit_integers(kpis: dict[str, KpiInfo]) -> dict[str, pl.Expr | bool]:
    """Which number columns of tidy rows are written as ints (``1234``): those in the unit
    of an integer KPI, where the value is whole; ratios and statistics never."""
    import polars as pl

    is_int = pl.col("kpi").is_in(_integer_kpis(kpis))
    integer: dict[str, pl.Expr | bool] = {c: is_int for c in UNIT_COLUMNS}
    integer.update({c: False for c in RATIO_COLUMNS | STAT_COLUMNS})
    return integer


def write_csv_frame(
    out: IO[bytes], kpis: dict[str, KpiInfo], frame: pl.DataFrame, *, raw: bool = False
) -> None:
    """A frame of tidy rows (a ``kpi`` column, numbers in the KPI's unit) as CSV, as
    :func:`write_csv` writes them."""
    _write_csv_parts(out, [frame], unit_integers(kpis), raw=raw)


def _write_csv_parts(
    out: IO[bytes], parts: list[pl.DataFrame], integer: dict[str, Any], *, raw: bool
) -> None:
    out.write(_csv_header(parts[0].columns, raw=raw))
    for part in parts:
        for chunk in _chunks(part):
            cells = _csv_cells(chunk, integer, raw)
            buffer = io.BytesIO()  # Polars writes a whole chunk; `out` may be a closed pipe
            cells.write_csv(buffer, include_header=False, line_terminator="\n", null_value="")
            out.write(buffer.getvalue())


def to_csv(result: Result, *, raw: bool = False, wide: bool = False) -> bytes:
    """:func:`write_csv` as bytes."""
    return _bytes(write_csv, result, raw=raw, wide=wide)


# ---------------------------------------------------------------------------- Parquet


def write_parquet(result: Result, out: IO[bytes], *, wide: bool = False) -> None:
    """Rows then totals (dimensions null, ``total`` true) as Parquet; ``wide`` pivots as
    :func:`write_csv` does. Numbers are Float64, dates Date, ``total`` Boolean."""
    import polars as pl

    if wide:
        frame, _ = wide_frame(result)
    else:
        frame = pl.concat(tidy_parts(result, total=True), how="vertical_relaxed", rechunk=False)
    frame.write_parquet(out)


def to_parquet(result: Result, *, wide: bool = False) -> bytes:
    """:func:`write_parquet` as bytes."""
    return _bytes(write_parquet, result, wide=wide)


#: ASCII punctuation that means something inline in GitHub-flavoured markdown: escapes,
#: code, emphasis, strikethrough, links and images, HTML and autolinks, entities, table
#: cells, math (``$``), emoji (``:smile:``), mentions and email links (``@``), issue links
#: (``#``). A backslash before ASCII punctuation always shows it as it is (CommonMark).
MD_SPECIAL = frozenset("\\`*~[]<>&|$:@#!")
#: Characters that never show: control characters become U+FFFD (whitespace becomes a space).
_CONTROL = {c: "\ufffd" for c in [*range(0x00, 0x20), 0x7F] if chr(c) not in " \t\n\r\v\f"}


def md_escape(text: str) -> str:
    """``text`` shown as it is in one cell of a markdown table (GitHub, CommonMark).

    Every character that markdown would read as syntax is backslash-escaped (``MD_SPECIAL``;
    ``_`` unless it stands between two letters or digits, where it never emphasises; the
    ``.`` of ``www.``, which starts a bare link); runs of whitespace (newlines included) are
    one space, as HTML shows them; control characters are U+FFFD. So a data value such as
    ``[x](javascript:…)`` or ``![](http://…)`` shows as text: never a link, an image or HTML.
    """
    words = " ".join(text.translate(_CONTROL).split())
    out = []
    for i, char in enumerate(words):
        if char in MD_SPECIAL:
            out.append("\\" + char)
        elif char == "_":
            inner = 0 < i < len(words) - 1 and words[i - 1].isalnum() and words[i + 1].isalnum()
            out.append(char if inner else "\\_")
        elif char == "." and words[max(0, i - 3) : i].lower() == "www":
            out.append("\\.")
        else:
            out.append(char)
    return "".join(out)


def _md_dimensions(result: Result, line: Line, name: str) -> list[str]:
    """The dimension cells of a markdown line: the values, or a total's bold label."""
    dims = result.dimensions
    if not line.is_total:
        return [md_escape(dimension_text(line.record.get(d))) for d in dims]
    if not dims:
        return []
    return [f"**{md_escape(total_label(result, name))}**"] + [""] * (len(dims) - 1)


def _md_body(
    result: Result, kpi_sections: list[Any], extra: list[tuple[str, str]], trend: bool, width: int
) -> list[list[str]]:
    """The markdown table's rows: a bold row per group heading, then each KPI's lines."""
    dims = list(result.dimensions)
    table: list[list[str]] = []
    for section in kpi_sections:
        info = section.info
        if section.opens:
            table.append([f"**{md_escape(section.opens)}**"] + [""] * (width - 1))
        for index, line in enumerate(section.lines):
            record = line.record
            first = md_escape(info.label or info.name)
            cells = [first if index == 0 else section.spark if index == 1 else ""]
            if trend:
                cells.append(
                    md_escape(trend_text(section.trend if index == 1 else None, result)[0])
                )
            if result.grain:
                start = record["period_start"]
                label = bucket_label(start, result.grain) if line.first_of_bucket else ""
                cells.append(f"**{WHOLE_PERIOD}**" if line.whole else label)
            if line.more:
                cells += [f"*{md_escape(line.more_text)}*"] + [""] * (len(dims) - 1)
                cells += [""] * (1 + len(extra))
                table.append(cells)
                continue
            cells += _md_dimensions(result, line, info.name)
            for text, _ in value_texts(record, info, extra, result):
                text = md_escape(text)
                cells.append(f"**{text}**" if line.is_total and text else text)
            table.append(cells)

    return table


def to_markdown(result: Result, *, all_rows: bool = False) -> bytes:
    """A GitHub-flavoured markdown table of the formatted values, under a bold heading.

    Laid out like the terminal table: a KPI's label on its first line (its sparkline on the
    second with ``--grain``), a bold ``Total`` line per bucket with ``--by``. Rows without
    data are hidden (a line says how many) unless ``all_rows``.
    """
    result, hidden = (result, 0) if all_rows else without_data(result)
    dims = list(result.dimensions)
    extra = optional_columns(result)
    kpi_sections = sections(result, whole=True)
    trend = any(s.trend for s in kpi_sections)
    keys = ["KPI"] + (["Trend"] if trend else []) + (["Period"] if result.grain else [])
    keys += [md_escape(result.dimension_name(d)) for d in dims]
    header = [*keys, "Value", *(title for _, title in extra)]
    right = [False] * len(keys) + [True] + [key not in ("status", "anomaly") for key, _ in extra]

    table = _md_body(result, kpi_sections, extra, trend, len(header))

    widths = [max([3, len(h), *(len(r[i]) for r in table)]) for i, h in enumerate(header)]

    def md_row(cells: list[str]) -> str:
        pairs = zip(cells, widths, right, strict=True)
        return "| " + " | ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in pairs) + " |"

    rule = md_row(
        ["-" * (w - 1) + ":" if r else "-" * w for w, r in zip(widths, right, strict=True)]
    )
    heading = describe_period(result.period, result.period_label, result.as_of, result.comparison)
    out = [f"**{md_escape(heading)}**", ""]
    if verdict := summary(result, kpi_sections):
        out += [md_escape("".join(text for text, _ in summary_line(verdict))), ""]
    out += [md_row(header), rule, *(md_row(r) for r in table)]
    if has_more(kpi_sections):
        out += ["", md_escape(NOTE_MORE[0].upper() + NOTE_MORE[1:]) + "."]
    for note in notes(result, kpi_sections, hidden):
        for part in note.split("\n"):
            out += ["", md_escape(part)]
    return ("\n".join(out) + "\n").encode("utf-8")
