"""Plan → DuckDB: the aggregation step of a report (``--engine duckdb``).

Every aggregation of a plan runs in one in-memory DuckDB connection, as the SQL of
:mod:`kpicli.execute.sqlplan` (rows and totals in one query: GROUPING SETS), and comes back
as the Polars frames :mod:`kpicli.execute.queries`' queries give once collected (the same
columns, names and dtypes), in :func:`kpicli.execute.engine.execute`'s order: the rows
frames by aggregation, then the totals frames. The rest of the report (joins, derived
KPIs, comparisons, targets, status) is the engine's, shared by every engine.

The sources' rows are read by DuckDB itself: each source's query of
:mod:`kpicli.execute.sqlsource` (the columns the aggregations use), over DuckDB's reader of
each group of its files (``read_csv``, all text, or ``read_parquet``), as the query's CTEs.
A file the SQL reader cannot read as kpi does (one that needs the tolerant reader, a
container…) is an ``UnsupportedSource`` (exit 3, with the hint). There is no second,
careful read as the Polars engine has.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from kpicli.errors import DataError, Location, UsageError, engine_detail
from kpicli.execute.sqlplan import TOTALS, columns_used, combined_sql, render
from kpicli.ingest.scan import SourceFrame
from kpicli.plan.build import RANGE, Aggregation, Plan
from kpicli.spec.formula import kinds_of

if TYPE_CHECKING:
    from sqlglot import exp

#: What to install when DuckDB is missing.
INSTALL_HINT = "install it with: pip install 'kpicli[duckdb]'"


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
    used: dict[str, list[str]] = {}
    for agg in plan.aggregations:
        have = used.setdefault(agg.source, [])
        have += [c for c in columns_used(agg) if c not in have]
    counts = Counter(agg.source for agg in plan.aggregations)
    con = duckdb.connect()
    try:
        _attach(con, plan, sources)
        rows: list[pl.DataFrame] = []
        totals: list[pl.DataFrame] = []
        kept: dict[str, exp.Table] = {}
        for agg in plan.aggregations:
            sf = sources[agg.source]
            try:
                if counts[agg.source] > 1 and agg.source not in kept and _small(sf):
                    # read and converted once for its aggregations (a date column each)
                    kept[agg.source] = _kept(con, plan, sf, used[agg.source], len(kept))
                if agg.source in kept:
                    select = combined_sql(
                        plan, agg, kept[agg.source], kinds_of(sf.schema), text=False
                    )
                else:
                    source, reads = _relation(plan, sf, used[agg.source])
                    select = _with(
                        combined_sql(plan, agg, source, kinds_of(sf.schema), text=False), reads
                    )
                frame = _fetch(con.sql(render(select, "duckdb")))
            except duckdb.Error as err:
                raise _data_error(sf, err, used[agg.source]) from None
            r, t = _split(frame, agg, sf)
            rows.append(r)
            if t is not None:
                totals.append(t)
        return rows + totals
    finally:
        con.close()


#: A source read by several aggregations is kept in a temporary table (read and converted
#: once) when its files hold at most this many bytes; larger ones are read by each.
KEEP_BYTES = 512 * 1024 * 1024


def _small(sf: SourceFrame) -> bool:
    """Whether the files of ``sf`` hold at most :data:`KEEP_BYTES` (False when one cannot be
    looked at)."""
    if sf.table is not None:  # a table of the database: read where it is, by each
        return False
    try:
        return sum(Path(f).stat().st_size for f in sf.files) <= KEEP_BYTES
    except OSError:
        return False


def _attach(con: Any, plan: Plan, sources: Mapping[str, SourceFrame]) -> None:
    """When the plan reads `table:` sources: `settings.duckdb.database` attached read-only
    as the connection's default database (``schema.table`` names resolve in it), each
    table checked to exist and to hold its declared columns, an `integer` not over
    fractions. A DataError (exit 3) names what is wrong."""
    import duckdb

    from kpicli.execute.sqlsource import fractional_integer, source_sql, table_sql

    tables = {agg.source: sources[agg.source] for agg in plan.aggregations}
    tables = {n: sf for n, sf in tables.items() if sf.table is not None}
    settings = plan.config.settings.duckdb
    if not tables or settings is None:
        return
    path = plan.config.base_dir / settings.database
    where = Location(str(path))
    if not path.is_file():
        raise DataError(
            f"settings.duckdb.database: no DuckDB database at {path}",
            location=where,
            hint="point `settings.duckdb.database` at the database file (relative to the config)",
        )
    try:
        con.execute(f"ATTACH '{str(path).replace(chr(39), chr(39) * 2)}' AS __kpi_db (READ_ONLY)")
        con.execute("USE __kpi_db")
    except duckdb.Error as err:
        raise DataError(
            f"{path} is not a DuckDB database kpi can open: {_without_kind(str(err))}",
            location=where,
        ) from None
    for sf in tables.values():
        (read,) = source_sql(sf, plan.config).reads
        try:
            table = render(table_sql(read.files[0]), "duckdb")
            have = {r[0]: r[1] for r in con.sql(f"DESCRIBE SELECT * FROM {table}").fetchall()}
        except duckdb.Error:
            raise DataError(
                f"{path} has no table `{sf.table}`",
                location=where,
                hint="check the source's `table:` (schema.table) and `settings.duckdb.database`",
            ) from None
        missing = [c for c in read.columns if c not in have]
        if missing:
            raise DataError(
                f"table `{sf.table}` has no column `{missing[0]}`",
                location=where,
                hint=f"its columns are: {', '.join(have)}; fix the source's `columns:`",
            )
        if (err := fractional_integer(read, have)) is not None:
            raise err


def _kept(con: Any, plan: Plan, sf: SourceFrame, columns: list[str], n: int) -> exp.Table:
    """The rows of source ``sf`` (``columns`` of them) kept in a temporary table of
    ``con``, for the aggregations that read it."""
    from sqlglot import exp

    name = f"__source_{n}"
    source, reads = _relation(plan, sf, columns)
    table = exp.to_table(exp.to_identifier(name, quoted=True).sql())
    create = exp.Create(this=table, kind="TABLE", expression=_with(source, reads))
    create.set("properties", exp.Properties(expressions=[exp.TemporaryProperty()]))
    con.execute(render(create, "duckdb"))
    return table


def _with(select: exp.Select, reads: list[tuple[str, exp.Select]]) -> exp.Select:
    """``select`` with the relations it reads as its CTEs."""
    for view, reader in reads:
        select = select.with_(view, as_=reader)
    return select


def _relation(
    plan: Plan, sf: SourceFrame, columns: list[str]
) -> tuple[exp.Select, list[tuple[str, exp.Select]]]:
    """The rows of source ``sf`` (``columns`` of them) as DuckDB SQL: the source's query
    (:func:`kpicli.execute.sqlsource.source_sql`), and the relations it reads (their
    names, and DuckDB's reader of their files), to be the query's CTEs."""
    from sqlglot import exp

    from kpicli.execute.sqlsource import duckdb_reader, source_sql

    if not columns:  # COUNT(*) alone: a column to count the rows of, text if there is one
        text = [c for c, dtype in sf.schema.items() if dtype == pl.Utf8]
        columns = (text or list(sf.schema))[:1]
    sql = source_sql(sf, plan.config, columns)
    reads = [(r.view, exp.select("*").from_(duckdb_reader(r))) for r in sql.reads]
    return sql.query, reads


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
    Int32 (or a Date with ``--period all``), dimensions text (cast here, as the Polars
    queries cast them), values Float64, the row count a UInt32, the first and last date of
    the date column's type."""
    casts: dict[str, Any] = {agg.count: pl.UInt32}
    casts.update(dict.fromkeys(agg.formulas, pl.Float64))
    casts.update(dict.fromkeys(agg.dimensions, pl.Utf8))
    if agg.date_column is not None:
        dtype = sf.schema.get(agg.date_column, pl.Date)
        casts.update({agg.first: dtype, agg.last: dtype})
    if frame.schema.get(RANGE) not in (pl.Int32, pl.Date):
        casts[RANGE] = pl.Int32
    return frame.cast({k: v for k, v in casts.items() if k in frame.columns})


def _data_error(sf: SourceFrame, err: BaseException, columns: list[str]) -> DataError:
    """A failure of DuckDB over a source's rows (:func:`.sqlsource.explain_failure`: a file
    the SQL reader cannot read after all, else the cell the error quotes, located in its
    file, else the error's first line without DuckDB's class of error, naming the files)."""
    from kpicli.execute.sqlsource import explain_failure

    detail = _without_kind(str(err))
    try:
        return explain_failure([sf], detail, columns)
    except OSError:  # a file that cannot be read again (gone: the engine says so)
        return DataError(
            f"source `{sf.name}`: cannot compute the report: {engine_detail(detail)}",
            location=Location.files(str(f) for f in sf.files),
        )


def _without_kind(text: str) -> str:
    """DuckDB's message without its error class (``Conversion Error: …``)."""
    first = text.strip().splitlines()[0] if text.strip() else text
    kind, sep, rest = first.partition(": ")
    return rest if sep and kind.endswith("Error") else first
