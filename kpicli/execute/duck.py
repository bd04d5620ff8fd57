"""Plan → DuckDB: the aggregation step of a report (``--engine duckdb``).

Every aggregation of a plan runs in one in-memory DuckDB connection, as the SQL of
:mod:`kpicli.execute.sqlplan` (rows and totals in one query: GROUPING SETS), and comes back
as the Polars frames :mod:`kpicli.execute.queries`' queries give once collected (the same
columns, names and dtypes), in :func:`kpicli.execute.engine.execute`'s order: the rows
frames by aggregation, then the totals frames. The rest of the report (joins, derived
KPIs, comparisons, targets, status) is the engine's, shared by every engine.

The sources' rows: until the SQL reader (:mod:`kpicli.execute.sqlsource`) is merged, each
source's Polars frame (the columns used) handed to DuckDB as Arrow (:func:`_relation`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from kpicli.errors import DataError, Location, UsageError, engine_detail
from kpicli.execute.sqlplan import TOTALS, columns_used, combined_sql, render
from kpicli.ingest.scan import SourceFrame, locate_bad_value
from kpicli.plan.build import RANGE, Aggregation, Plan
from kpicli.spec.formula import kinds_of

if TYPE_CHECKING:
    from sqlglot import exp

#: What to install when DuckDB is missing.
INSTALL_HINT = "install it with: pip install 'kpi[duckdb]'"


def require_duckdb() -> Any:
    """The duckdb module; a UsageError (exit 2) with the install hint when it is missing."""
    try:
        import duckdb
        import pyarrow  # noqa: F401  (the frames cross over as Arrow)
    except ImportError:
        raise UsageError(
            "--engine duckdb: DuckDB (with pyarrow) is not installed", hint=INSTALL_HINT
        ) from None
    return duckdb


def run(plan: Plan, sources: Mapping[str, SourceFrame]) -> list[pl.DataFrame]:
    """Every aggregation of ``plan`` over ``sources`` (described as the plan was built
    from): the rows frames in the plan's order, then the totals frames."""
    duckdb = require_duckdb()
    con = duckdb.connect()
    try:
        views = _relations(con, plan, sources)
        rows: list[pl.DataFrame] = []
        totals: list[pl.DataFrame] = []
        for agg in plan.aggregations:
            sf = sources[agg.source]
            select = combined_sql(plan, agg, views[agg.source], kinds_of(sf.schema))
            try:
                frame = _fetch(con.sql(render(select, "duckdb")))
            except duckdb.Error as err:
                raise _data_error(sf, err) from None
            r, t = _split(frame, agg, sf)
            rows.append(r)
            if t is not None:
                totals.append(t)
        return rows + totals
    finally:
        con.close()


def _relations(con: Any, plan: Plan, sources: Mapping[str, SourceFrame]) -> dict[str, exp.Table]:
    """Each source the plan reads, as a relation of ``con`` (the columns its aggregations
    use)."""
    used: dict[str, list[str]] = {}
    for agg in plan.aggregations:
        used.setdefault(agg.source, [])
        used[agg.source] += [c for c in columns_used(agg) if c not in used[agg.source]]
    return {
        name: _relation(con, sources[name], columns, f"__src_{i}")
        for i, (name, columns) in enumerate(used.items())
    }


def _relation(con: Any, sf: SourceFrame, columns: list[str], view: str) -> exp.Table:
    """The rows of source ``sf`` (``columns`` of them) as a relation of ``con``.

    TODO(sqlsrc): read them in DuckDB itself once kpicli.execute.sqlsource is merged:
    ``sql = sqlsource.source_sql(sf, config, columns)``, each of ``sql.reads`` registered
    with ``sqlsource.duckdb_reader(con, read)``, and ``sql.query`` as the relation (a
    subquery). Meanwhile: the source's Polars frame, collected, handed over as Arrow.
    """
    from sqlglot import exp

    if columns:
        frame = sf.frame.select(columns)
    else:  # COUNT(*) alone: a column of ones, one per row (a literal alone is one row)
        frame = sf.frame.with_columns(pl.lit(1).alias("__one")).select("__one")
    try:
        table = frame.collect().to_arrow()
    except pl.exceptions.PolarsError as err:
        found = locate_bad_value(sf, err)
        if found is not None:
            raise found from None
        raise _data_error(sf, err) from None
    con.register(view, table)
    return exp.to_table(exp.to_identifier(view, quoted=True).sql())


def _fetch(relation: Any) -> pl.DataFrame:
    """A query's result as a Polars frame, through Arrow (DuckDB 2 names it anew)."""
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    frame = pl.from_arrow(fetch())
    assert isinstance(frame, pl.DataFrame)
    return frame


def _split(
    frame: pl.DataFrame, agg: Aggregation, sf: SourceFrame
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The rows and the totals of a combined query (:func:`.sqlplan.combined_sql`)."""
    frame = typed(frame, agg, sf)
    is_total = pl.col(TOTALS) == 1
    rows = frame.filter(~is_total).drop(TOTALS)
    if not agg.dimensions:
        return rows, None
    return rows, frame.filter(is_total).drop(TOTALS, *agg.dimensions)


def typed(frame: pl.DataFrame, agg: Aggregation, sf: SourceFrame) -> pl.DataFrame:
    """A result of ``agg``'s SQL with the dtypes of the Polars queries' frames: RANGE an
    Int32 (or a Date with ``--period all``), dimensions text, values Float64, the row count
    a UInt32, the first and last date of the date column's type."""
    casts: dict[str, Any] = {agg.count: pl.UInt32}
    casts.update(dict.fromkeys(agg.formulas, pl.Float64))
    casts.update(dict.fromkeys(agg.dimensions, pl.Utf8))
    if agg.date_column is not None:
        dtype = sf.schema.get(agg.date_column, pl.Date)
        casts.update({agg.first: dtype, agg.last: dtype})
    if frame.schema.get(RANGE) not in (pl.Int32, pl.Date):
        casts[RANGE] = pl.Int32
    return frame.cast({k: v for k, v in casts.items() if k in frame.columns})


def _data_error(sf: SourceFrame, err: BaseException) -> DataError:
    """A failure of the engine over a source's rows: the cell that explains it when one
    is found in the files, else the engine's first line, naming the source's files."""
    found = locate_bad_value(sf, str(err).splitlines()[0] if str(err) else None)
    if found is not None:
        return found
    detail = engine_detail(_without_kind(str(err)))
    return DataError(
        f"source `{sf.name}`: cannot compute the report: {detail}",
        location=Location.files(str(f) for f in sf.files),
        hint="a value does not parse as its column's type; check the column named above",
    )


def _without_kind(text: str) -> str:
    """DuckDB's message without its error class (``Conversion Error: …``)."""
    first = text.strip().splitlines()[0] if text.strip() else text
    kind, sep, rest = first.partition(": ")
    return rest if sep and kind.endswith("Error") else first
