"""The Spark runner of `--engine spark`: a session, the sources' parts as views, SQL run.

kpi's SQL (sqlglot ASTs, dialect-neutral) is transpiled to Spark SQL and run on a
:class:`~pyspark.sql.SparkSession`; the small results come back as Polars frames through
Arrow. The session comes from ``settings.spark`` (``master``, ``conf``), or from Spark
Connect when ``SPARK_REMOTE`` is set, else ``local[*]``; PySpark keeps one per process
(its own ``getOrCreate``), so kpi holds none.

What kpi sets on every session (the user's ``conf`` may override each):

- **UTC** session time zone: dates never move with the machine's zone.
- **ANSI mode on**: a cast that fails is an error, not a NULL (kpi's SQL writes the
  divisions that may be by zero with ``NULLIF``, and ``TRY_CAST`` where NULL is meant), and
  an integer sum that overflows is an error, never a wrapped value.
- **case-sensitive names**: ``Clicks`` and ``clicks`` are two columns, as in Polars.
- quiet: no Spark UI, no progress bars, the driver's log fatal only (``spark-log4j2
  .properties``: every failure reaches Python and becomes one :class:`DataError`).
- for a local master, ``spark.sql.shuffle.partitions`` of twice its cores (Spark's 200 are
  for clusters; adaptive execution coalesces them anyway).

A part is read faithfully or not at all, its cells as Polars (kpi's reader) reads them:
CSV columns all text under their raw names (Spark infers nothing), RFC quoting, quoted
cells over several lines (``multiLine``: a file is read by one task; exports come as many
files, or make a Parquet copy of a huge one), an unquoted empty cell NULL and ``""`` the
empty text, a record of fewer cells than the header NULL in the others, one of more cells
an error naming the file (unless the part is ``ragged``: the extra cells dropped). Spark's
CSV reader cannot skip a preamble, so a part with ``skip`` lines is read as bytes per
file, decoded, cut into lines, the first ``skip`` (and the header) dropped by their
position in their own file, and each line parsed by ``from_csv``; a line with an odd
number of quote characters (a quoted cell spanning lines, which that path cannot follow)
stops the query with the file and line named.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpicli.errors import ConfigError, DataError, Location, UsageError

if TYPE_CHECKING:
    import polars as pl
    from pyspark.sql import Column, DataFrame, SparkSession
    from sqlglot import exp

    from kpicli.spec.config import Config, SparkSettings

#: The driver's logging (passed to its JVM unless the user's options name a log4j file).
LOG_CONFIG = Path(__file__).with_name("spark-log4j2.properties")
INSTALL_HINT = "pip install 'kpicli[spark]'; Spark needs Java 17 or later (`java -version`)"
#: kpi's SQL semantics, set on every session (see the module's docstring).
SQL_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.caseSensitive": "true",
}
#: What kpi sets on a session it starts itself (static settings: not for Spark Connect).
LOCAL_CONF = {
    "spark.app.name": "kpi",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}
_LOCAL_MASTER = re.compile(r"^local(?:\[(?P<cores>\*|\d+)(?:,\s*\d+)?\])?$")
#: Spark's advice to Spark programmers, which means nothing to a kpi user.
_SPARK_ADVICE = re.compile(
    r"\s*(?:Use [`']?try_\w+[`']? to tolerate [^.]*\.|If necessary set .*? to bypass this "
    r"error\.|Correct the value as per the syntax, or change its target type\.)"
)
_ERROR_CLASS = re.compile(r"^\s*\[[A-Z0-9_.]+\]\s*")
#: A cause that quotes its own cause's class first (``org.apache.spark.SparkException: …``).
_CLASS_PREFIX = re.compile(r"^(?:[a-z]\w*\.)+[A-Z]\w*(?:Exception|Error)(?::\s*|$)")
_MAX_DETAIL = 300
#: The column of a CSV part's records whose cells do not match the header (their raw text).
RECORD = "__kpi_record__"
#: What Spark's reader is told an unquoted empty cell holds (Spark makes that NULL): not
#: the empty string, so that a quoted empty cell stays one.
NULL_MARK = "\u0000"
#: Spark jobs :func:`run` keeps running at once (each query is one).
CONCURRENT_JOBS = 4


# ---------------------------------------------------------------------------- the session


def session_conf(
    settings: SparkSettings | None, *, remote: bool = False, cores: int | None = None
) -> tuple[str | None, dict[str, str]]:
    """The master (None for Spark Connect) and the properties of kpi's session: kpi's
    defaults, then the user's ``conf``. Pure: :func:`start` hands them to the builder."""
    user = {key: _conf_text(value) for key, value in (settings.conf if settings else {}).items()}
    if remote:
        user.pop("spark.master", None)
        return None, {**SQL_CONF, **user}
    master = (settings.master if settings else None) or user.pop("spark.master", None)
    master = master or "local[*]"
    user.pop("spark.master", None)
    conf = {**LOCAL_CONF, **SQL_CONF}
    local = local_cores(master, cores)
    if local:
        conf["spark.sql.shuffle.partitions"] = str(2 * local)
    conf.update(user)
    conf["spark.driver.extraJavaOptions"] = _java_options(user.get("spark.driver.extraJavaOptions"))
    return master, conf


def local_cores(master: str, cores: int | None = None) -> int | None:
    """The cores of a local master (``local`` 1, ``local[4]`` 4, ``local[*]`` the
    machine's), None for a cluster's."""
    m = _LOCAL_MASTER.match(master.strip())
    if m is None:
        return None
    if m["cores"] is None:
        return 1
    if m["cores"] == "*":
        return cores or os.cpu_count() or 1
    return max(int(m["cores"]), 1)


def _conf_text(value: object) -> str:
    """A property as Spark reads it (YAML's ``true`` is ``"true"``, not ``"True"``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _java_options(user: str | None) -> str:
    """The driver's JVM options: kpi's log configuration unless the user names one."""
    if user and "log4j" in user and "configurationFile" in user:
        return user
    own = f"-Dlog4j.configurationFile={LOG_CONFIG.as_uri()}"
    return f"{own} {user}" if user else own


def require_pyspark() -> None:
    """A UsageError (exit 2) with the install hint when PySpark (or pyarrow) is missing:
    for the engine's check of a request, before any source is read."""
    try:
        import pyarrow  # noqa: F401  (results come back as Arrow)
        import pyspark.sql  # noqa: F401
    except ImportError:
        msg = "`--engine spark` needs PySpark, which is not installed"
        raise UsageError(msg, hint=INSTALL_HINT) from None


def session(config: Config | None = None) -> SparkSession:
    """The Spark session of ``config``'s ``settings.spark`` (see :func:`start`)."""
    settings = config.settings.spark if config is not None else None
    where = config.where("settings", "spark", "master") if config is not None else None
    return start(settings, where=where)


def start(settings: SparkSettings | None = None, *, where: Location | None = None) -> SparkSession:
    """A session with kpi's settings: Spark Connect when ``SPARK_REMOTE`` is set, else the
    master of ``settings`` (default ``local[*]``). The process's running session is reused
    (its runtime SQL settings set again); a master named explicitly that differs from the
    running one is a :class:`ConfigError` (at ``where``), as Spark cannot change it."""
    require_pyspark()
    from pyspark.sql import SparkSession

    remote = bool(os.environ.get("SPARK_REMOTE"))
    master, conf = session_conf(settings, remote=remote)
    builder = SparkSession.builder
    if master is not None:
        builder = builder.master(master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as err:  # Java missing, a bad master URL, Spark Connect unreachable
        detail = _detail(err)
        msg = f"Spark could not start: {detail}"
        raise UsageError(msg, hint=INSTALL_HINT) from None
    explicit = settings.master if settings else None
    if explicit and not remote:
        running = spark.sparkContext.master
        if running != explicit:
            msg = (
                f"a Spark session with master `{running}` is already running in this "
                f"process; Spark cannot switch it to `{explicit}`"
            )
            raise ConfigError(msg, location=where, hint="run kpi in a process of its own")
    return spark


# ---------------------------------------------------------------------------- the sources


def register(spark: SparkSession, read: Any) -> None:
    """One part (a :class:`~kpicli.execute.sqlsource.PartRead`) as the temporary view
    ``read.view``: its CSV files with every column as text under its raw name, or its
    Parquet files. A path that does not exist is a :class:`DataError` naming it."""
    try:
        frame = _part_frame(spark, read)
        frame.createOrReplaceTempView(read.view)
    except _spark_errors() as err:
        raise spark_error(err, read.files) from None


def _part_frame(spark: SparkSession, read: Any) -> DataFrame:
    if read.format == "table":
        return _table_frame(spark, read)
    paths = [_glob_escaped(path) for path in read.files]
    if read.format == "parquet":
        frame = spark.read.parquet(*paths)
        return frame.select(*[_column(name) for name in read.columns]) if read.columns else frame
    if read.format != "csv":
        raise _unsupported(read, f"Spark reads CSV and Parquet parts, not {read.format}")
    if read.skip:
        return _skipping_frame(spark, read, paths)
    return _csv_frame(spark, read, paths)


def _table_frame(spark: SparkSession, read: Any) -> DataFrame:
    """A `table:` source's table of the session's catalog, its declared columns; a
    DataError (exit 3) when the catalog has no such table, or the table no such column."""
    (table,) = read.files
    if not spark.catalog.tableExists(table):
        raise DataError(
            f"Spark's catalog has no table `{table}`",
            location=Location(table),
            hint="check the source's `table:` (db.table), and that `settings.spark` "
            "points at the cluster and catalog that hold it",
        )
    frame = spark.table(table)
    have = set(frame.columns)
    missing = [name for name in read.columns if name not in have]
    if missing:
        raise DataError(
            f"table `{table}` has no column `{missing[0]}`",
            location=Location(table),
            hint=f"its columns are: {', '.join(frame.columns)}; fix the source's `columns:`",
        )
    from kpicli.execute.sqlsource import fractional_integer

    if (err := fractional_integer(read, dict(frame.dtypes))) is not None:
        raise err
    return frame.select(*[_column(name) for name in read.columns])


def _cell_options(read: Any) -> dict[str, str]:
    """How Spark cuts a record into cells, as kpi (Polars) does: RFC quoting, an unquoted
    empty cell NULL and a quoted one (``""``) the empty string (Spark's default reads
    both as NULL), a record of fewer cells than the header NULL in the others
    (``PERMISSIVE``: no cell is ever converted, so nothing else is "malformed")."""
    return {
        "sep": read.delimiter,
        "mode": "PERMISSIVE",
        "nullValue": NULL_MARK,
        "emptyValue": "",
        **_quoting(read.quote),
    }


def _csv_frame(spark: SparkSession, read: Any, paths: list[str]) -> DataFrame:
    """A CSV part through Spark's reader: every column text under its raw name, quoted
    cells over several lines (``multiLine``: each file is read by one task), a record of
    more cells than the header an error naming its file (unless the part is ``ragged``:
    the extra cells dropped). A record whose cells do not match the header keeps its raw
    text in a column of its own, which is what tells a long record from a short one."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    record = RECORD
    while record in read.columns:
        record += "_"
    fields = [StructField(name, StringType()) for name in (*read.columns, record)]
    options = {
        **_cell_options(read),
        "encoding": java_charset(read.encoding),
        "header": "true" if read.header else "false",
        "multiLine": "true",
        "columnNameOfCorruptRecord": record,
    }
    frame = spark.read.schema(StructType(fields)).options(**options).csv(paths)
    if not getattr(read, "ragged", False):
        raw = F.col(_quoted(record))
        where = F.concat(F.lit(" in "), F.input_file_name(), F.lit(": "), F.substring(raw, 1, 60))
        frame = frame.where(_fits(raw, read, where))
    return frame.select(*[_column(name) for name in read.columns])


def _fits(record: Column, read: Any, where: Column) -> Column:
    """True, or an error when ``record`` (a record's raw text) holds more cells than the
    header (``where``: the file and line, for the message)."""
    from pyspark.sql import functions as F

    n = len(read.columns)
    too_long = record.isNotNull() & (_cells(record, read) > n)
    message = F.concat(F.lit(f"a record has more cells than the header's {n}"), where)
    return F.when(too_long, F.raise_error(message)).otherwise(F.lit(True))


def _cells(record: Column, read: Any) -> Column:
    """The number of cells of a record's raw text: its delimiters outside quoted cells,
    plus one."""
    from pyspark.sql import functions as F

    text = record
    if read.quote:
        q = _java_literal(read.quote)
        text = F.regexp_replace(text, f"{q}(?:[^{q}]|{q}{q})*{q}", "")
    delimiter = _java_literal(read.delimiter)
    return F.length(text) - F.length(F.regexp_replace(text, delimiter, "")) + 1


def _java_literal(char: str) -> str:
    """One character as a Java regular expression matching it."""
    return char if char.isalnum() else "\\" + char


def _skipping_frame(spark: SparkSession, read: Any, paths: list[str]) -> DataFrame:
    """A CSV part whose files have ``skip`` preamble lines: each file as bytes, decoded,
    cut into lines, those before the data dropped by their position in their own file, each
    line parsed as one record (as :func:`_csv_frame` reads cells). A quoted cell spanning
    lines, which this path cannot follow, stops the query naming file and line; so does a
    record of more cells than the header (unless ``ragged``). The checks are a filter:
    Spark may leave out a column no query reads, never a filter, so a bare COUNT(*) checks
    every line too."""
    from pyspark.sql import functions as F

    start = read.skip + (1 if read.header else 0)
    lines = (
        spark.read.format("binaryFile")
        .load(paths)
        .select(
            F.regexp_replace("path", "^file:(//)?(?=/)", "").alias("path"),
            F.posexplode(
                F.split(F.decode("content", java_charset(read.encoding)), r"\r\n|\r|\n")
            ).alias("pos", "line"),
        )
        .where((F.col("pos") >= start) & (F.col("line") != ""))
    )
    line = F.col("line")
    where = F.concat(F.lit(" at line "), (F.col("pos") + 1).cast("string"), F.lit(" of "), "path")
    lines = lines.where(_balanced(line, read.quote, where))
    if not getattr(read, "ragged", False):
        lines = lines.where(_fits(line, read, where))
    ddl = ", ".join(f"{_quoted(name)} STRING" for name in read.columns)
    parsed = lines.select(F.from_csv(line, ddl, _cell_options(read)).alias("record"))
    return parsed.select(*[F.col("record").getField(name).alias(name) for name in read.columns])


def _balanced(line: Column, quote: str, where: Column) -> Column:
    """True, or an error naming file and line when the line's quote characters do not
    pair up (a quoted cell that goes on on the next line)."""
    from pyspark.sql import functions as F

    if not quote:
        return F.lit(True)
    quotes = F.length(line) - F.length(F.regexp_replace(line, _java_literal(quote), ""))
    message = F.concat(
        F.lit("a quoted cell goes on past the end of its line"),
        where,
        F.lit(", which Spark cannot read after a skipped preamble"),
    )
    return F.when(quotes % 2 == 1, F.raise_error(message)).otherwise(F.lit(True))


def _quoting(quote: str) -> dict[str, str]:
    """RFC 4180 quoting: a quote inside a quoted cell is doubled (Spark's default escape
    is a backslash, which would misread a cell ending in one); none when empty."""
    char = quote or "\u0000"
    return {"quote": char, "escape": char}


def _column(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.col(_quoted(name))


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _glob_escaped(path: str) -> str:
    """A path as Spark reads it literally: Spark globs every path it is given."""
    return re.sub(r"([\\*?\[\]{}])", r"\\\1", path)


#: Python codec names (``codecs.lookup(...).name``) → Java charset names, where they differ.
_JAVA_CHARSETS = {
    "utf-8-sig": "UTF-8",
    "utf-16-le": "UTF-16LE",
    "utf-16-be": "UTF-16BE",
    "utf-32-le": "UTF-32LE",
    "utf-32-be": "UTF-32BE",
    "latin-1": "ISO-8859-1",
    "mac-roman": "x-MacRoman",
    "shift_jis": "Shift_JIS",
    "euc_jp": "EUC-JP",
    "euc_kr": "EUC-KR",
    "cp932": "windows-31j",
}


def java_charset(encoding: str) -> str:
    """The Java name of a Python codec (``cp1252`` → ``windows-1252``)."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return encoding
    if name in _JAVA_CHARSETS:
        return _JAVA_CHARSETS[name]
    if m := re.fullmatch(r"cp(125\d)", name):
        return f"windows-{m[1]}"
    if m := re.fullmatch(r"iso8859-(\d+)", name):
        return f"ISO-8859-{m[1]}"
    return name.upper()


def _unsupported(read: Any, reason: str) -> DataError:
    """The contract's ``UnsupportedSource`` for a part Spark cannot read faithfully."""
    from kpicli.execute.sqlsource import UnsupportedSource as Error

    hint = "make a clean copy (`kpi clean FILE -o clean.csv`) or a Parquet copy, and read that"
    return Error(reason, location=Location.files(read.files), hint=hint)


# ---------------------------------------------------------------------------- queries


def run(
    spark: SparkSession,
    queries: Sequence[exp.Expression | str],
    reads: Iterable[Any],
    *,
    dtypes: Sequence[Mapping[str, pl.DataType] | None] | None = None,
    explain: Callable[[str], DataError] | None = None,
) -> list[pl.DataFrame]:
    """Each query (a sqlglot AST, or Spark SQL already written: sqlplan's ``render``) run
    on Spark over the parts ``reads`` (registered as their views for the run, dropped
    after), collected as a Polars frame with Spark's column names and types (DATE → Date,
    DECIMAL → Decimal, BIGINT → Int64, …);
    ``dtypes[i]`` casts the columns it names in the i-th frame (a DECIMAL sum to Float64).
    Spark's errors are :class:`DataError`\\s naming the parts' files (or, with
    ``explain``, the error it makes of Spark's reason in one line: sqlsource's
    ``explain_failure`` locates a cell its SQL could not parse); a query Spark's SQL cannot
    express is a :class:`UsageError`."""
    reads = list(reads)
    files = [path for read in reads for path in read.files]
    texts = [query if isinstance(query, str) else spark_sql(query) for query in queries]
    try:
        for read in reads:
            register(spark, read)
        frames = _collect_all(spark, texts, files, explain)
    finally:
        _drop_views(spark, reads)
    for i, cast in enumerate(dtypes or ()):
        if cast and i < len(frames):
            frame = frames[i]
            frames[i] = frame.cast({k: v for k, v in cast.items() if k in frame.columns})
    return frames


def _collect_all(
    spark: SparkSession,
    texts: list[str],
    files: list[str],
    explain: Callable[[str], DataError] | None = None,
) -> list[pl.DataFrame]:
    """The queries' results, in order, up to :data:`CONCURRENT_JOBS` Spark jobs at once (a
    report's queries are small jobs whose time is mostly scheduling: measured, six queries
    over the sample data take half the time on four threads)."""

    def one(text: str) -> pl.DataFrame:
        try:
            return collect(spark.sql(text))
        except _spark_errors() as err:
            raise (explain(_detail(err)) if explain else spark_error(err, files)) from None

    if len(texts) <= 1:
        return [one(text) for text in texts]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(texts), CONCURRENT_JOBS)) as pool:
        return list(pool.map(one, texts))


def _drop_views(spark: SparkSession, reads: Iterable[Any]) -> None:
    from contextlib import suppress

    for read in reads:
        with suppress(Exception):  # the JVM is gone: nothing is left to drop
            spark.catalog.dropTempView(read.view)


def spark_sql(query: exp.Expression) -> str:
    """A query as Spark SQL; one sqlglot cannot express in Spark's dialect is a
    :class:`UsageError` (exit 2), never SQL that means something else."""
    from sqlglot.errors import ErrorLevel, UnsupportedError

    try:
        return query.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as err:
        msg = f"Spark SQL cannot express this query: {_first_line(str(err))}"
        raise UsageError(msg, hint="run it with --engine polars or duckdb") from None


def collect(frame: DataFrame) -> pl.DataFrame:
    """A Spark DataFrame's rows as a Polars frame, through Arrow (column names kept)."""
    import polars as pl

    if hasattr(frame, "toArrow"):  # Spark 4
        return pl.from_arrow(frame.toArrow())  # type: ignore[return-value]
    if hasattr(frame, "_collect_as_arrow"):  # classic Spark 3.5
        import pyarrow as pa
        from pyspark.sql.pandas.types import to_arrow_schema

        batches = frame._collect_as_arrow()
        if batches:
            table = pa.Table.from_batches(batches)
        else:
            table = to_arrow_schema(frame.schema).empty_table()
        return pl.from_arrow(table)  # type: ignore[return-value]
    client = frame._session.client  # Spark Connect 3.5
    table, _ = client.to_table(frame._plan.to_proto(client))
    return pl.from_arrow(table)  # type: ignore[return-value]


# ---------------------------------------------------------------------------- errors


def _spark_errors() -> tuple[type[BaseException], ...]:
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    return (PySparkException, Py4JJavaError)


def spark_error(err: BaseException, files: Iterable[str]) -> DataError:
    """A Spark failure as kpi reports it: Spark's deepest reason in one line (no JVM stack
    trace, no advice on Spark settings), at the file it names, else at the files read."""
    files = list(dict.fromkeys(files))
    messages = _messages(err)
    named = [f for f in files if any(_names(text, f) for text in messages)]
    location = Location.files(named or files) if (named or files) else None
    hint = None
    if any("MALFORMED" in text or "quoted cell" in text for text in messages):
        hint = "make a clean copy (`kpi clean FILE -o clean.csv`) and read that"
    return DataError(f"Spark: {_detail(err)}", location=location, hint=hint)


def _messages(err: BaseException) -> list[str]:
    """The messages of the error and of its Java causes, outermost first."""
    out = [str(err)]
    java = getattr(err, "java_exception", None)
    if java is None:
        java = getattr(err, "_origin", None)
    seen = 0
    while java is not None and seen < 20:
        try:
            out.append(str(java.getMessage() or ""))
            java = java.getCause()
        except Exception:  # the JVM is gone
            break
        seen += 1
    return out


def _detail(err: BaseException) -> str:
    """The deepest non-empty reason, first line, without Spark's advice or error class."""
    messages = [_first_line(text) for text in _messages(err)]
    messages = [m for m in messages if m and not m.startswith("An error occurred while calling")]
    text = messages[-1] if messages else type(err).__name__
    text = _CLASS_PREFIX.sub("", text)
    text = re.sub(r"\bfile:(?://)?(?=/)", "", text)  # Spark's URIs of local files
    text = re.sub(r";\s*line \d+ pos \d+;?$", "", text)  # where in kpi's SQL, not the user's
    text = _SPARK_ADVICE.sub("", _ERROR_CLASS.sub("", text)).strip()
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL - 1] + "…"
    return text or type(err).__name__


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def _names(text: str, path: str) -> bool:
    """Whether Spark's message names ``path`` (Spark writes ``file:/…`` or ``file:///…``)."""
    return path in text or (Path(path).is_absolute() and Path(path).as_uri() in text)


# ---------------------------------------------------------------------------- a plan


def run_plan(plan: Any, sources: Mapping[str, Any]) -> list[pl.DataFrame]:
    """Every aggregation of ``plan`` on Spark: the rows frames in the plan's order, then
    the totals frames (as :func:`kpicli.execute.duck.run`). The aggregations run as
    concurrent jobs, each over views of its own (``__a<k>__src_<n>``)."""
    from concurrent.futures import ThreadPoolExecutor

    from kpicli.execute.sqlplan import columns_used

    spark = session(plan.config)
    used: dict[str, list[str]] = {}
    for agg in plan.aggregations:
        have = used.setdefault(agg.source, [])
        have += [c for c in columns_used(agg) if c not in have]
    jobs = [
        (k, agg, sources[agg.source], used[agg.source]) for k, agg in enumerate(plan.aggregations)
    ]
    with ThreadPoolExecutor(max_workers=CONCURRENT_JOBS) as pool:
        frames = list(pool.map(lambda job: _aggregate(spark, plan, *job), jobs))
    rows, totals = [], []
    for agg, frame in zip(plan.aggregations, frames, strict=True):
        r, t = _rows_and_totals(frame, agg, sources[agg.source])
        rows.append(r)
        if t is not None:
            totals.append(t)
    return rows + totals


def _aggregate(
    spark: SparkSession, plan: Any, k: int, agg: Any, sf: Any, columns: list[str]
) -> pl.DataFrame:
    """One aggregation's combined rows-and-totals query, over views named for it."""
    import dataclasses

    import polars as pl
    from sqlglot import exp

    from kpicli.execute.sqlplan import combined_sql, render
    from kpicli.execute.sqlsource import explain_failure, source_sql
    from kpicli.spec.formula import kinds_of

    if not columns:  # COUNT(*) alone: a column to count the rows of, text if there is one
        text = [c for c, dtype in sf.schema.items() if dtype == pl.Utf8]
        columns = (text or list(sf.schema))[:1]
    sql = source_sql(sf, plan.config, columns)
    names = {r.view: f"__a{k}{r.view}" for r in sql.reads}
    reads = [dataclasses.replace(r, view=names[r.view]) for r in sql.reads]

    def renamed(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.name in names and not node.db:
            return exp.to_table(names[node.name])
        return node

    source = sql.query.transform(renamed)
    select = combined_sql(plan, agg, source, kinds_of(sf.schema), text=False)
    [frame] = run(
        spark,
        [render(select, "spark")],
        reads,
        explain=lambda detail: explain_failure([sf], detail, columns),
    )
    return frame


def _rows_and_totals(frame: pl.DataFrame, agg: Any, sf: Any) -> tuple[pl.DataFrame, Any]:
    """The rows and the totals of a combined query (``sqlplan.combined_sql``), typed as
    the Polars queries' frames (``duck.typed``)."""
    import polars as pl

    from kpicli.execute.duck import typed
    from kpicli.execute.sqlplan import TOTALS

    frame = typed(frame, agg, sf)
    is_total = pl.col(TOTALS) == 1
    rows = frame.filter(~is_total).drop(TOTALS)
    if not agg.dimensions:
        return rows, None
    return rows, frame.filter(is_total).drop(TOTALS, *agg.dimensions)
