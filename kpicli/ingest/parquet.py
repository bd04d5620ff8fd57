"""Parquet files as sources: their schema and a sample, never the whole file, to describe them.

A source's `path:` may name ``.parquet`` files (not mixed with CSV files: :func:`is_parquet`
tells them apart by name; a zip member is not read as Parquet). Each file is described by
:func:`parquet_layout` from its footer (the schema) and the first rows of its text columns
(a sample, as a CSV file's); the scan (:mod:`kpicli.ingest.scan`) then reads the files with
``pl.scan_parquet`` (lazy: only the columns and row groups a query needs).

The same column mapping as CSV: the column names are the headers (a preset's canonical names
and snake_case, then `rename`, `derive`, `filter`). Types:

- a typed column is read as it is: integers, floats, DECIMAL (summed exactly: Polars sums a
  Decimal as a Decimal), booleans; a preset's ``percent_points`` scales a number by 0.01;
- a text column (String, Categorical, Enum) is classified from its sample as a CSV column is
  and converted the same way (``1,234.56``, ``3.4%``, ``n/a`` …, strictly: a cell that does
  not parse fails the query, and :func:`locate` names its file, row and column);
- a date column may be DATE (as it is), TIMESTAMP without a zone (the date it shows),
  TIMESTAMP with a zone (an instant: the date it falls on in ``settings.timezone``, else UTC,
  as a CSV cell ``2026-03-01T14:05:00Z`` is), or text in the source's ``date_format`` or the
  format detected from the sample. Any other type is an error naming the file and column.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import polars as pl

from kpicli.errors import DataError, Location, engine_detail
from kpicli.ingest import values as V
from kpicli.ingest.containers import real_file
from kpicli.ingest.detect import Layout
from kpicli.ingest.remote import RemoteError, is_remote

__all__ = [
    "PARQUET",
    "SAMPLE_ROWS",
    "ParquetFiles",
    "conversions",
    "date_label",
    "is_parquet",
    "is_text",
    "kind_of_type",
    "locate",
    "parquet_layout",
    "schema_of",
]

#: The format of a Part read with ``pl.scan_parquet``.
PARQUET = "parquet"
#: Rows of a file's text columns sampled to classify them (its first rows).
SAMPLE_ROWS = 1000


def is_parquet(path: Path) -> bool:
    """Whether the source reads ``path`` as Parquet: its name ends with ``.parquet`` and it is
    a file on disk (a zip's member is not read as Parquet: :func:`containers.expand`)."""
    return path.name.lower().endswith(".parquet") and real_file(path) == path


def is_text(dtype: pl.DataType) -> bool:
    """A column of text, whose cells are classified and converted as CSV cells are."""
    return isinstance(dtype, pl.String | pl.Categorical | pl.Enum)


def _unreadable(source: str, path: Path, err: BaseException) -> DataError:
    if isinstance(err, RemoteError):  # Spark's file system could not list or read it
        return DataError(f"source `{source}`: {err}", location=Location(str(path)), hint=err.hint)
    detail = err.strerror if isinstance(err, OSError) and err.strerror else engine_detail(err)
    return DataError(
        f"source `{source}`: {path} is not a readable Parquet file: {detail}",
        location=Location(str(path)),
        hint="write the file again (a Parquet file ends with its schema: a copy cut short "
        "has none), or point `path:` at the files that are Parquet",
    )


def schema_of(source: str, path: Path) -> dict[str, pl.DataType]:
    """The columns of a Parquet file and their types, from its footer (the data is not
    read; a file unchanged since it was last read is not read again); a DataError naming
    the file when it is not Parquet."""
    try:
        st = path.stat()
        where = path if is_remote(path) else str(path)
        return dict(_footer(where, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    except (pl.exceptions.PolarsError, OSError, RemoteError) as err:
        raise _unreadable(source, path, err) from None


def _remote_schema(path: Path) -> dict[str, pl.DataType]:
    """A remote file's schema, from its footer read through Spark's file system (pyarrow,
    which comes with kpi[spark], reads it from a stream)."""
    import pyarrow as pa
    import pyarrow.parquet as papq

    try:
        with path.open("rb") as fh:
            empty = papq.ParquetFile(fh).schema_arrow.empty_table()
    except pa.ArrowException as err:
        raise OSError(str(err)) from None
    return dict(pl.DataFrame(pl.from_arrow(empty)).schema)


def _remote_sample(path: Path, texts: list[str]) -> pl.DataFrame:
    """The first rows of a remote file's text columns (its first row groups only)."""
    import pyarrow as pa
    import pyarrow.parquet as papq

    try:
        with path.open("rb") as fh:
            file = papq.ParquetFile(fh)
            batches = file.iter_batches(batch_size=SAMPLE_ROWS + 1, columns=texts)
            batch = next(batches, None)
            table = pa.Table.from_batches([batch]) if batch is not None else None
            if table is None:
                table = file.schema_arrow.empty_table().select(texts)
    except pa.ArrowException as err:
        raise OSError(str(err)) from None
    return pl.DataFrame(pl.from_arrow(table)).select(pl.col(texts).cast(pl.String))


@lru_cache(maxsize=256)
def _footer(
    path: str | Path, size: int, mtime: int, ctime: int, inode: int
) -> tuple[tuple[str, pl.DataType], ...]:
    """A file's schema, by its identity (path, size, modification and change times, inode);
    ``path`` a local path's text, or a remote file (:mod:`kpicli.ingest.remote`)."""
    if is_remote(path):
        return tuple(_remote_schema(path).items())  # type: ignore[arg-type]
    return tuple(pl.read_parquet_schema(path).items())


def parquet_layout(source: str, path: Path) -> Layout:
    """A Parquet file described as the scan needs it: its columns (``header``), and the
    first :data:`SAMPLE_ROWS` rows of its text columns as text (``records``; other columns
    empty), to classify them as a CSV file's sample is. Nothing else of a CSV layout
    applies (no encoding, delimiter, preamble, summary rows or footer)."""
    schema = schema_of(source, path)
    texts = [n for n, t in schema.items() if is_text(t)]
    rows: list[list[str]] = []
    complete = True
    if texts:
        try:
            if is_remote(path):
                sample = _remote_sample(path, texts)
            else:
                sample = (
                    pl.scan_parquet(path, glob=False, hive_partitioning=False)
                    .select(pl.col(texts).cast(pl.String))
                    .head(SAMPLE_ROWS + 1)
                    .collect()
                )
        except (pl.exceptions.PolarsError, OSError, RemoteError) as err:
            raise _unreadable(source, path, err) from None
        complete = sample.height <= SAMPLE_ROWS
        columns = {n: sample[n].to_list() for n in texts}
        height = min(sample.height, SAMPLE_ROWS)
        rows = [[_cell(columns, n, i) for n in schema] for i in range(height)]
    st = path.stat()
    return Layout(
        path=path,
        size=st.st_size,
        encoding="utf-8",
        bom=False,
        newline="\n",
        delimiter=",",
        header_line=0,
        header=list(schema),
        records=rows,
        record_lines=list(range(1, len(rows) + 1)),  # rows, 1-based
        complete=complete,
        key=(PARQUET, str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino),
        detected=False,
    )


def _cell(columns: dict[str, list], name: str, i: int) -> str:
    if name not in columns:
        return ""
    value = columns[name][i]
    return "" if value is None else value


def kind_of_type(dtype: pl.DataType, wanted: str | None) -> V.Kind:
    """The kind of a typed (not text) column, as a preset's type for it says to read it:
    ``percent_points`` scales a number by 0.01 (``23.5`` is 23.5 %)."""
    if dtype.is_integer():
        kind = V.Kind("integer", integer=True)
    elif dtype.is_float():
        kind = V.Kind("float")
    elif dtype.is_decimal():
        kind = V.Kind("decimal")
    elif isinstance(dtype, pl.Boolean):
        kind = V.Kind("boolean")
    elif isinstance(dtype, pl.Date):
        kind = V.Kind("date")
    elif isinstance(dtype, pl.Datetime):
        kind = V.Kind("datetime")
    else:
        kind = V.Kind(str(dtype).split("(")[0].lower())
    if wanted == "percent_points" and dtype.is_numeric():
        return V.Kind("number", scale=0.01)
    return kind


def date_label(dtype: pl.DataType, timezone: str) -> str | None:
    """How a typed date column is dated (what `kpi sources` shows as its format); None for
    a type that is no date."""
    if isinstance(dtype, pl.Date):
        return "Parquet DATE"
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return "Parquet TIMESTAMP, its date"
        return f"Parquet TIMESTAMP, its date in {timezone}"
    return None


class ParquetFiles(Protocol):
    """What :func:`conversions` reads of a Parquet part (:class:`kpicli.ingest.scan.Part`)."""

    layouts: list[Layout]
    raw: list[str]
    final: list[str]
    kinds: list[V.Kind]
    types: list[pl.DataType]
    decimal: str
    dates: dict[int, tuple[V.DateShape | None, str]]
    nulls: set[int]
    timezone: str


def _date_expr(part: ParquetFiles, j: int) -> pl.Expr:
    col, dtype = pl.col(part.raw[j]), part.types[j]
    if isinstance(dtype, pl.Date):
        return col
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return col.dt.date()
        return col.dt.convert_time_zone(part.timezone).dt.date()
    shape, fmt = part.dates[j]
    return V.date_expr(col, shape, fmt)


def conversions(part: ParquetFiles) -> list[pl.Expr]:
    """The expressions that turn a Parquet part's columns into numbers, booleans and dates
    (text columns as CSV cells; typed columns as they are, a date column dated)."""
    exprs = []
    for j, name in enumerate(part.raw):
        kind, col, text = part.kinds[j], pl.col(name), is_text(part.types[j])
        expr: pl.Expr | None
        if j in part.dates:
            expr = _date_expr(part, j)
        elif not text:
            expr = col * kind.scale if kind.scale != 1 else None
        elif kind.native:
            expr = V.native_expr(col, kind)
        elif j in part.nulls:  # no value in files sampled whole, and a KPI aggregates it
            expr = pl.lit(None)
        elif kind.name == "empty":
            expr = V.empty_expr(col)
        else:
            expr = V.convert_expr(col, kind, part.decimal)
        if expr is None and not isinstance(part.types[j], pl.String) and text:
            expr = col.cast(pl.String)  # a Categorical or an Enum: as text
        if expr is not None:
            exprs.append(expr.alias(name))
    return exprs


def _converted(part: ParquetFiles, j: int, checked: set[str] | None) -> bool:
    """Column j is text converted to another type (a cell of it can fail the query)."""
    if checked is not None and part.final[j] not in checked and part.raw[j] not in checked:
        return False
    if not is_text(part.types[j]):
        return False
    kind = part.kinds[j]
    return j in part.dates or kind.native or kind.name in ("number", "boolean", "duration")


def _first_bad(part: ParquetFiles, j: int, path: Path, wanted: set[str]) -> tuple[int, str] | None:
    """The first row (1-based) of column j of one file whose cell does not convert, and its
    text: a cell the error quotes first (one filter over the column), else each cell checked
    by the conversion itself (a batch at a time, the column only)."""
    name = part.raw[j]
    lf = pl.scan_parquet(path, glob=False, hive_partitioning=False).select(
        pl.col(name).cast(pl.String)
    )
    lf = lf.with_row_index("__row", offset=1)
    text = pl.col(name).str.strip_chars(V.WS)
    if wanted:
        hit = lf.filter(text.is_in(sorted(wanted))).head(1).collect()
        if hit.height:
            return int(hit["__row"][0]), hit[name][0]
    convert = next(e for e in conversions(part) if e.meta.output_name() == name)
    for batch in lf.collect_batches(chunk_size=50_000):
        if not _fails(batch, convert):
            continue
        while batch.height > 1:  # halve the batch until one row is left
            head = batch.head(batch.height // 2)
            batch = head if _fails(head, convert) else batch.slice(head.height)
        return int(batch["__row"][0]), batch[name][0]
    return None


def _fails(frame: pl.DataFrame, convert: pl.Expr) -> bool:
    try:
        frame.select(convert)
        return False
    except pl.exceptions.PolarsError:
        return True


#: What a text cell should have been, by its column's kind.
_SHOULD = {
    "integer": "a whole number",
    "float": "a number",
    "number": "a number",
    "boolean": "true or false",
    "duration": "a duration (m:ss, h:mm:ss or seconds)",
}


def locate(
    source: str,
    parts: Iterable[ParquetFiles],
    wanted: set[str],
    columns: set[str] | None,
) -> DataError | None:
    """The first text cell of these Parquet parts that does not convert to its column's
    type: a DataError naming the file, row, column and value (None when none is found)."""
    for part in parts:
        for j in range(len(part.raw)):
            if not _converted(part, j, columns):
                continue
            for lay in part.layouts:
                if is_remote(lay.path):  # Spark's error quotes the value
                    continue
                try:
                    found = _first_bad(part, j, lay.path, wanted)
                except (pl.exceptions.PolarsError, OSError):
                    continue
                if found is None:
                    continue
                row, cell = found
                col = part.final[j]
                shown = f"`{part.raw[j]}`" + (f" ({col})" if col != part.raw[j] else "")
                fmt = part.dates[j][1] if j in part.dates else None
                should = f"a date ({fmt})" if fmt else _SHOULD.get(part.kinds[j].name, "valid")
                return DataError(
                    f"source `{source}`: row {row}: column {shown}: "
                    f"`{cell.strip()}` is not {should}",
                    location=Location(str(lay.path)),
                    hint="set `date_format:` on the source if the dates are written another way"
                    if fmt
                    else "fix the value in the file, or leave the column out of the KPIs",
                )
    return None
