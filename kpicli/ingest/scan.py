"""Read one source's files into a clean LazyFrame.

Order of work, as SPEC.md defines it, for each set of files laid out alike (most sources: one
set, so one ``pl.scan_csv`` over all their files):

1. detection on a bounded sample of each file (``sniff.py``): encoding, delimiter, header
   row under a preamble, footer; then the kind of each column (``values.py``) and the decimal
   separator, from the sampled cells;
2. a lazy scan: UTF-8 files straight from disk (the preamble skipped with ``skip_lines``),
   other encodings transcoded in memory; plain numbers parsed by Polars as it reads, columns
   that need cleaning (``1,234.56``, ``3.45%``, `` --``) and the first column read as text;
3. summary rows, footer lines and blank lines dropped (``Total: …``, ``No data available.``:
   matched on the first cell, never on a substring anywhere);
4. numbers, booleans cleaned with Polars string expressions (strict: a cell that does not
   parse fails the query, and :func:`locate_bad_value` finds its line);
5. headers named (a preset's canonical names and snake_case, else as written), then
   ``rename``, then ``derive`` (SQL expressions, in order), date columns parsed (format
   detected from the sample unless ``date_format`` is set), then the source's ``filter``.

Nothing is collected here: the engine collects once. An explicit option always wins over
detection.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import glob as globlib
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import polars as pl

from kpicli.errors import (
    ConfigError,
    DataError,
    Location,
    Notes,
    UsageError,
    did_you_mean,
    engine_detail,
)
from kpicli.ingest import containers, remote
from kpicli.ingest import parquet as pq
from kpicli.ingest import values as V
from kpicli.ingest.detect import (
    MIXED,
    Layout,
    SniffError,
    first_invalid_utf8,
    mark_mixed,
    records,
    sniff,
)
from kpicli.ingest.memo import ReadMemo
from kpicli.ingest.parquet import PARQUET, is_parquet, is_text
from kpicli.ingest.repair import fallback_reason, mixed_notice, tolerant_csv
from kpicli.ingest.rules import is_summary_row
from kpicli.inputs import MAX_LINE_BYTES, kind, long_line
from kpicli.spec.config import Config, Source
from kpicli.spec.formula import ROW, FormulaError, check, compile_sql, kinds_of, parse, wrong_type
from kpicli.spec.presets import SUMMARY_ROWS, Preset, SummaryRow, canonical_names

ISO_DATE = "%Y-%m-%d"
#: The format of a Part that is a table of a catalog (`table:`): typed as `columns:` says.
TABLE = "table"
#: A `table:` column's declared type → its Polars type (the rows' types in every engine).
TABLE_TYPES: Mapping[str, pl.DataType] = MappingProxyType(
    {
        "text": pl.String(),
        "integer": pl.Int64(),
        "number": pl.Float64(),
        "boolean": pl.Boolean(),
        "date": pl.Date(),
    }
)
#: Reason under which blank lines inside the data are counted.
BLANK = "blank line"
FOOTER = "report footer"


@dataclass
class Part:
    """Files laid out alike, read by one scan: their header, column kinds and conversions.

    ``format`` is "csv" or "parquet". A Parquet part (:mod:`kpicli.ingest.parquet`) holds
    files with the same columns and types (``types``, from their footers), read with
    ``pl.scan_parquet``; its layouts say only the file, its columns (``header``) and a
    sample of its text columns (``records``). Its kinds: a typed column's type
    (:func:`~kpicli.ingest.parquet.kind_of_type`; read as it is), a text column's kind
    classified from the sample as a CSV column's is (converted alike). No summary row,
    footer or blank line is dropped. A date column: DATE as it is, TIMESTAMP its date (with
    a zone: in ``timezone``), text as ``dates`` says (shape and format, as CSV).
    """

    layouts: list[Layout]
    raw: list[str]  # deduplicated headers as written: the scan's column names
    names: list[str]  # after the preset (canonical names, snake_case), before `rename`
    final: list[str]  # after `rename`
    kinds: list[V.Kind]
    decimal: str
    thousands: str | None
    summary: tuple[SummaryRow, ...]
    footer: tuple[str, ...]
    blank_lines: bool
    native: bool  # plain numbers parsed by Polars while reading (no summary row seen)
    dates: dict[int, tuple[V.DateShape | None, str]] = field(default_factory=dict)
    #: columns without a single value in files read whole, that KPIs aggregate: typed Null,
    #: so that SUM, AVG, COUNT and comparisons over an empty export give SQL's empty results
    nulls: set[int] = field(default_factory=set)
    #: date columns whose sampled cells are all plain ISO dates (or empty): the CSV reader
    #: parses them as it reads (see :func:`scan_source`'s ``typed_dates``)
    typed_dates: set[int] = field(default_factory=set)
    format: str = "csv"
    #: a Parquet part's column types, as its files' footers give them (empty for CSV)
    types: list[pl.DataType] = field(default_factory=list)
    #: the time zone a Parquet TIMESTAMP with a zone is dated in (``settings.timezone``)
    timezone: str = "UTC"

    @property
    def complete(self) -> bool:
        """Every file of the part was sampled whole."""
        return all(lay.complete for lay in self.layouts)

    @property
    def layout(self) -> Layout:
        return self.layouts[0]

    def read_dtype(self, j: int) -> pl.DataType:
        if j in self.typed_dates:
            return pl.Date()
        kind = self.kinds[j]
        if j == 0 or j in self.dates or not self.native or not kind.native:
            return pl.String()
        return kind.dtype

    def scan(
        self,
        layouts: list[Layout] | None = None,
        *,
        text: bool = False,
        notes: Notes | None = None,
        memo: ReadMemo | None = None,
    ) -> pl.LazyFrame:
        """The raw lazy scan of the files (or some of them), headers as written; ``text``:
        every column read as text (what the structure of the file alone decides). Files
        that are not UTF-8 are read and transcoded now (``notes``: what was worked around).
        ``memo``: the one the files were sniffed with, which holds what the tolerant reader
        made of them (without it, such a file is read again, and its warnings given again).
        """
        layouts = layouts or self.layouts
        if remote.is_remote(layouts[0].path):  # Spark reads the rows: their columns only
            return pl.LazyFrame(schema=self.raw_schema(text=text))
        if self.format == PARQUET:  # `text`, `notes`, `memo`: nothing to work around
            paths = [str(lay.path) for lay in layouts]
            return pl.scan_parquet(paths, glob=False, hive_partitioning=False)
        first = layouts[0]
        tolerant = first.tolerant is not None
        options = dict(
            separator="," if tolerant else first.delimiter,
            has_header=True,
            skip_lines=0 if tolerant else first.skip_lines,
            skip_rows_after_header=0 if tolerant else first.skip_after_header,
            new_columns=self.raw,
            schema_overrides=self.raw_schema(text=text),
            infer_schema=False,
            quote_char='"',
            truncate_ragged_lines=first.truncate_ragged and not tolerant,
            raise_if_empty=False,
            try_parse_dates=False,
        )
        if not first.in_memory:
            # real paths (globs are resolved by match_files): `[` in a name is no glob
            paths = [str(lay.path) for lay in layouts]
            return pl.scan_csv(paths, encoding="utf8", glob=False, **options)
        sources = []
        for lay in layouts:
            if tolerant:
                fallback = tolerant_csv(lay, memo)
                if fallback.fresh:  # else the sniff gave its warnings
                    for message in fallback.notes:
                        warn(notes, message)
                sources.append(fallback.data)
                continue
            try:
                decoded = lay.decode(lay.read_bytes())
            except SniffError as err:  # bytes past the sample that are not of its encoding
                raise DataError(
                    f"{lay.path}: {err}", location=Location(str(lay.path)), hint=err.hint
                ) from None
            if decoded.cp1252_lines:
                warn(notes, mixed_notice(lay.path, decoded))
            text = decoded.text
            if lay.newline == "\r":
                text = text.replace("\r", "\n")
            sources.append(text.encode("utf-8"))
        return pl.scan_csv(sources, **options)

    def raw_schema(self, *, text: bool = False) -> dict[str, pl.DataType]:
        """The columns of the raw scan and their types (``text``: every CSV column text)."""
        if self.format == PARQUET:
            return dict(zip(self.raw, self.types, strict=True))
        return {n: pl.String() if text else self.read_dtype(j) for j, n in enumerate(self.raw)}

    def reason(self) -> pl.Expr | None:
        """Why a raw row is dropped (a label), null for a data row; None when nothing is."""
        conds = self._drops()
        if not conds:
            return None
        expr = pl.when(conds[0][1]).then(pl.lit(conds[0][0]))
        for label, cond in conds[1:]:
            expr = expr.when(cond).then(pl.lit(label))
        return expr.otherwise(pl.lit(None, dtype=pl.String))

    def keep(self) -> pl.Expr | None:
        conds = self._drops()
        if not conds:
            return None
        return ~pl.any_horizontal([c for _, c in conds])

    def _blank(self) -> pl.Expr:
        """A blank record (:func:`kpicli.ingest.rules.is_blank`): no cell holds anything
        but blanks; an empty line is read as a row of nulls. (Past a sample without blank
        records, only rows of nulls are looked for: stripping every text cell of a big
        file cost 15 % of a report.)"""
        cells = []
        for j, name in enumerate(self.raw):
            cell = pl.col(name)
            if self.read_dtype(j) == pl.String():
                cells.append(cell.is_null() | (cell.str.strip_chars(V.WS) == ""))
            else:
                cells.append(cell.is_null())
        return pl.all_horizontal(cells)

    def _drops(self) -> list[tuple[str, pl.Expr]]:
        first = pl.col(self.raw[0]).cast(pl.String).str.strip_chars(V.WS).fill_null("")
        if len(self.raw) > 1:
            second = pl.col(self.raw[1]).cast(pl.String).str.strip_chars(V.WS).fill_null("")
            rest_empty = second == ""
        else:
            rest_empty = pl.lit(True)
        conds: list[tuple[str, pl.Expr]] = []
        if self.blank_lines:
            conds.append((BLANK, self._blank()))
        elif not self.complete and self.format != PARQUET:  # an empty line past the sample
            conds.append((BLANK, pl.all_horizontal(pl.col(n).is_null() for n in self.raw)))
        for p in self.summary:
            cond = first.str.contains(f"(?i)^(?:{p.pattern})$")
            conds.append((f"summary row `{p.label}`", cond & rest_empty if p.alone else cond))
        if self.footer:
            conds.append((FOOTER, first.is_in(list(self.footer)) & rest_empty))
        return conds

    def conversions(self) -> list[pl.Expr]:
        """Expressions that turn the raw text columns into numbers, booleans and dates."""
        if self.format == PARQUET:
            return pq.conversions(self)
        exprs = []
        for j, name in enumerate(self.raw):
            kind, col = self.kinds[j], pl.col(name)
            if j in self.typed_dates:
                continue
            if j in self.dates:
                shape, fmt = self.dates[j]
                expr = V.date_expr(col, shape, fmt)
            elif kind.native and self.read_dtype(j) == pl.String():
                expr = V.native_expr(col, kind)
            elif j in self.nulls:
                expr = pl.lit(None)
            elif kind.name == "empty":  # only missing markers (` --`) in the sample: nulls
                expr = V.empty_expr(col)
            else:
                expr = V.convert_expr(col, kind, self.decimal)
            if expr is not None:
                exprs.append(expr.alias(name))
        return exprs

    def frame(self, notes: Notes | None = None, memo: ReadMemo | None = None) -> pl.LazyFrame:
        """Rows of data, converted and named (after `rename`, before `derive`)."""
        if self.format == TABLE:  # no rows here: a table is read by the SQL engines
            schema = {
                f: pl.Date() if j in self.dates else t
                for j, (f, t) in enumerate(zip(self.final, self.types, strict=True))
            }
            return pl.LazyFrame(schema=schema)
        lf = self.scan(notes=notes, memo=memo)
        keep = self.keep()
        if keep is not None:
            lf = lf.filter(keep)
        exprs = self.conversions()
        if exprs:
            lf = lf.with_columns(exprs)
        mapping = {r: f for r, f in zip(self.raw, self.final, strict=True) if r != f}
        return lf.rename(mapping) if mapping else lf


@dataclass
class SourceFrame:
    """A source's lazy frame and what is known about it without reading its rows."""

    name: str
    files: list[Path]
    frame: pl.LazyFrame
    schema: dict[str, pl.DataType]
    date_columns: tuple[str, ...]
    header: list[str] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    preset: str | None = None
    origins: dict[str, str] = field(default_factory=dict)  # column → header as written
    kinds: dict[str, V.Kind] = field(default_factory=dict)  # column → kind detected
    date_formats: dict[str, str] = field(default_factory=dict)  # date column → format used
    #: each file's columns (after the preset, `rename` and `derive`), in the files' order
    file_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: the period each file's preamble states: (as written, first day, last day), days in
    #: ISO or None (``All time``)
    stated: dict[str, tuple[str, str | None, str | None]] = field(default_factory=dict)
    #: a `table:` source's table (no files: only the SQL engines read it)
    table: str | None = None

    @property
    def layouts(self) -> list[Layout]:
        return [lay for part in self.parts for lay in part.layouts]

    def require(self, columns: dict[str, str]) -> None:
        """Raise the first of :meth:`lacking`: a DataError naming the first file that lacks
        one of ``columns`` (column → what uses it) while another file of the source has it."""
        problems = self.lacking(columns)
        if problems:
            raise problems[0]

    def lacking(self, columns: dict[str, str]) -> list[DataError]:
        """For each of ``columns`` (column → what uses it) that some files of the source
        have and others lack, an error naming the first file that lacks it.

        The files of a source are read as one table: a column missing from one file would
        be null in its rows, and its values would silently drop out of every SUM and filter
        (a file whose header says `cost` where the others say `spend`; a report written into
        the folder the glob reads). A column no file has is left to the caller, which words
        that error its own way.
        """
        out: list[DataError] = []
        if len(self.file_columns) < 2:
            return out
        others = len(self.file_columns) - 1
        for col, used_by in columns.items():
            holders = [f for f, cols in self.file_columns.items() if col in cols]
            if not holders or len(holders) == len(self.file_columns):
                continue
            lacking = next(f for f, cols in self.file_columns.items() if col not in cols)
            have = self.file_columns[lacking]
            close = next(iter(difflib.get_close_matches(col, have, n=1, cutoff=0.6)), None)
            which = (
                "the other" if len(holders) == others else f"{len(holders)} of the {others} other"
            )
            out.append(
                DataError(
                    f"source `{self.name}`: this file has no column `{col}` ({used_by}), unlike "
                    f"{which} file{'s' if others > 1 else ''} of the source",
                    location=Location(lacking),
                    hint=(
                        f"did you mean `{close}`? (`rename: {{{close}: {col}}}` on the source "
                        "names it alike in every file)"
                        if close
                        else "every file a source matches must have the columns its KPIs, "
                        "filters, dates and --by use: remove the file or narrow `path:`"
                    ),
                )
            )
        return out


def match_files(cfg: Config, name: str, notes: Notes | None = None) -> list[Path]:
    """The files of a source: each glob resolved against the config's folder, its matches
    sorted, and each file once, however many spellings reach it (two globs, a symbolic link,
    a link back up the tree that ``**`` walks into: files are told apart by their device and
    inode). Directories matched are passed over; a device, FIFO or socket is an error (it
    has no end to read to)."""
    src = cfg.sources[name]
    files: list[Path] = []
    seen: set[tuple[int, int]] = set()
    for i, pattern in enumerate(src.path):
        if remote.is_remote(pattern):
            files.extend(f for f in _remote_files(cfg, name, i, pattern) if f not in files)
            continue
        full = Path(pattern).expanduser()
        if not full.is_absolute():
            full = cfg.base_dir / full
        hits: list[Path] = []
        for hit in sorted(Path(p) for p in iglob(str(full))):
            try:
                st = hit.stat()
            except OSError:  # a dangling link, a file removed meanwhile
                continue
            what = kind(st.st_mode)
            if what == "a directory":
                continue
            if what is not None:
                raise DataError(
                    f"source `{name}`: {hit} is {what}, not a regular file",
                    location=Location(str(hit)),
                    hint="a source reads regular files only: point `path:` at the exported "
                    "files (a glob that matches something else is too wide)",
                )
            hits.append(hit)
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                files.extend(_expand(cfg, name, hit))
        if not hits:
            keys = ("sources", name, "path") + ((str(i),) if len(src.path) > 1 else ())
            raise DataError(
                f"source `{name}`: no file matches `{pattern}` (looked for {full})",
                location=cfg.where(*keys),
                hint="check the path; it is relative to the folder of the config file",
            )
    _one_format(cfg, name, files)
    for f in outside_files(cfg, [f for f in files if not remote.is_remote(f)]):
        warn(
            notes,
            f"source `{name}`: {f} is outside the folder of {cfg.path.name} "
            f"({cfg.base_dir}); check that the config means to read it",
        )
    return files


def _remote_files(cfg: Config, name: str, i: int, pattern: str) -> list[Path]:
    """The files a URI pattern matches (:mod:`kpicli.ingest.remote`: listed by Spark's
    file system), or an error: at the source's key (`member:`, `sheet:`, `section:`, a
    packed file: read from a local copy) or naming the pattern."""
    src = cfg.sources[name]
    keys = ("sources", name, "path") + ((str(i),) if len(src.path) > 1 else ())
    for key in ("member", "sheet", "section"):
        if getattr(src, key) is not None:
            raise ConfigError(
                f"source `{name}`: `{key}:` reads inside a local file, not a remote one "
                f"(`{pattern}`)",
                location=cfg.where("sources", name, key),
                hint="copy the file to a local folder, or write the table as CSV or Parquet "
                "where Spark reads it",
            )
    try:
        hits = remote.glob(pattern)
    except remote.RemoteError as err:
        error = ConfigError if "**" in pattern else UsageError
        raise error(f"source `{name}`: {err}", location=cfg.where(*keys), hint=err.hint) from None
    if not hits:
        raise DataError(
            f"source `{name}`: no file matches `{pattern}`",
            location=cfg.where(*keys),
            hint="check the URI (Spark's file system lists it): `*` matches within one "
            "folder, and a folder is not a file (`…/exports/*.csv`)",
        )
    packed = [f for f in hits if containers.kind_of(f) != "plain" or f.name.endswith(".zip")]
    if packed:
        raise DataError(
            f"source `{name}`: {packed[0]} is packed ({containers.kind_of(packed[0])}): "
            "kpi reads a remote store's plain CSV and Parquet files",
            location=Location(str(packed[0])),
            hint="unpack the files where Spark reads them, or read a local copy",
        )
    return hits  # type: ignore[return-value]  (a RemotePath stands for a Path)


def _one_format(cfg: Config, name: str, files: list[Path]) -> None:
    """A source reads Parquet files or CSV exports, not both: a ConfigError at its `path:`
    naming one file of each."""
    parquet = [f for f in files if is_parquet(f)]
    if parquet and len(parquet) < len(files):
        other = next(f for f in files if not is_parquet(f))
        raise ConfigError(
            f"source `{name}`: `path:` matches Parquet files ({parquet[0].name}…) and other "
            f"files ({other.name}…): a source reads one format",
            location=cfg.where("sources", name, "path"),
            hint="narrow `path:` (`*.parquet` or `*.csv`), or declare two sources",
        )


def _expand(cfg: Config, name: str, hit: Path) -> list[Path]:
    """The files a matched path stands for (a zip's members: ``export.zip/Queries.csv``),
    or an error naming the source's key (`member:`) or the file."""
    try:
        return containers.expand(hit, cfg.sources[name].member)
    except containers.ContainerError as err:
        raise container_error(cfg, name, hit, err) from None
    except OSError as err:
        raise DataError(
            f"source `{name}`: cannot read {hit}: {err.strerror or err}",
            location=Location(str(hit)),
        ) from None


def container_error(
    cfg: Config, name: str, path: Path, err: containers.ContainerError
) -> ConfigError | DataError:
    """A container's error: a ConfigError at the source's key it blames (`member:`,
    `sheet:`, `section:`: exit 2), else a DataError naming the file (exit 3)."""
    src = cfg.sources[name]
    if err.config is not None and getattr(src, err.config, None) is not None:
        return ConfigError(
            f"source `{name}`: {err}",
            location=cfg.where("sources", name, err.config),
            hint=err.hint,
        )
    if err.config is not None:  # the key is not set: a zip holding several tables
        return ConfigError(
            f"source `{name}`: {err}", location=cfg.where("sources", name), hint=err.hint
        )
    return DataError(f"source `{name}`: {err}", location=Location(str(path)), hint=err.hint)


def iglob(pattern: str) -> Iterator[str]:
    """The paths a glob matches, as :func:`glob.glob` with ``recursive=True`` matches them
    (``*``, ``?``, ``[…]`` within a name; ``**`` for any depth of folders; names starting
    with a dot only where the pattern's name does), except that ``**`` enters each real
    folder once: a symbolic link to a folder is followed, but never into a folder already
    walked (a link back up the tree is a loop that glob.glob walks until paths grow too
    long, reading the same files dozens of times)."""
    if not globlib.has_magic(pattern):
        if os.path.lexists(pattern):
            yield pattern
        return
    parts = pattern.split(os.sep)
    base = os.sep if pattern.startswith(os.sep) else ""
    yield from _match(base, [p for p in parts if p])


def _join(base: str, name: str) -> str:
    return os.path.join(base, name) if base else name


def _match(base: str, parts: list[str]) -> Iterator[str]:
    """The paths under ``base`` that the pattern's ``parts`` (its names, in order) match."""
    part, rest = parts[0], parts[1:]
    if part == "**":
        yield from _any_depth(base, rest)
        return
    for n in _names_matching(base, part):
        path = _join(base, n)
        if not rest:
            if os.path.lexists(path):
                yield path
        elif os.path.isdir(path):
            yield from _match(path, rest)


def _any_depth(base: str, rest: list[str]) -> Iterator[str]:
    """``**`` then ``rest``: ``rest`` matched in ``base`` and in every folder under it (each
    real folder once); with no ``rest``, every folder and file under ``base``."""
    while rest and rest[0] == "**":
        rest = rest[1:]
    for path in _below(base, set(), files=not rest):
        if not rest:
            yield path
        elif path == base or os.path.isdir(path):
            yield from _match(path, rest)


def _names_matching(base: str, part: str) -> list[str]:
    """The names in folder ``base`` that the pattern's name ``part`` matches, sorted (hidden
    names only when ``part`` starts with a dot); ``part`` itself when it has no wildcard,
    and none when the folder cannot be listed."""
    if not globlib.has_magic(part):
        return [part]
    try:
        with os.scandir(base or os.curdir) as it:
            names = sorted(e.name for e in it)
    except OSError:
        return []
    if not part.startswith("."):
        names = [n for n in names if not n.startswith(".")]
    return fnmatch.filter(names, part)


def _below(base: str, walked: set[tuple[int, int]], *, files: bool) -> Iterator[str]:
    """``base`` and what is under it, hidden names left out: the folders (and the files
    too with ``files``), entering each real folder once (``walked``)."""
    try:
        st = os.stat(base or os.curdir)
    except OSError:
        return
    if (st.st_dev, st.st_ino) in walked:
        return
    walked.add((st.st_dev, st.st_ino))
    yield base
    try:
        with os.scandir(base or os.curdir) as it:
            names = sorted(e.name for e in it if not e.name.startswith("."))
    except OSError:
        return
    for n in names:
        path = _join(base, n)
        if os.path.isdir(path):
            yield from _below(path, walked, files=files)
        elif files:
            yield path


def outside_files(cfg: Config, files: list[Path]) -> list[Path]:
    """The files whose path leaves the config file's folder (``..``, an absolute path); a
    symbolic link inside the folder is the user's choice and is not followed."""
    base = Path(os.path.abspath(cfg.base_dir))
    return [f for f in files if not Path(os.path.abspath(f)).is_relative_to(base)]


def date_columns(cfg: Config, name: str) -> tuple[str, ...]:
    """The source's date column and the other date columns its KPIs count on."""
    cols: list[str] = []
    src = cfg.sources[name]
    if src.date:
        cols.append(src.date)
    for kpi in cfg.kpis.values():
        if kpi.source == name and kpi.date and kpi.date not in cols:
            cols.append(kpi.date)
    return tuple(cols)


def parse_dates(expr: pl.Expr, fmt: str) -> pl.Expr:
    """A text column as dates: ``fmt`` a strftime pattern, or "auto" (ISO, time ignored)."""
    if fmt == "auto":
        return V.date_expr(expr, V.ISO, ISO_DATE)
    return V.date_expr(expr, None, fmt)


def _missing(
    cfg: Config, name: str, names: tuple[str, ...] | list[str], have: list[str], keys: tuple
) -> None:
    for col in names:
        if col not in have:
            raise DataError(
                f"source `{name}` has no column `{col}`",
                location=cfg.where(*keys),
                hint=did_you_mean(col, have) or f"its columns are: {', '.join(have)}",
            )


def _read_error(name: str, files: list[Path], err: Exception) -> DataError:
    return DataError(
        f"source `{name}`: cannot read {', '.join(str(f) for f in files)}: {engine_detail(err)}",
        hint="check the file's delimiter, encoding and skip_rows options",
    )


def dedupe(header: list[str]) -> list[str]:
    """Header cells as column names: stripped, ``column_N`` when empty, ``_2`` when repeated."""
    out: list[str] = []
    for j, cell in enumerate(header):
        base = cell.strip(V.WS).lstrip("\ufeff") or f"column_{j + 1}"
        name, n = base, 1
        while name in out:
            n += 1
            name = f"{base}_{n}"
        out.append(name)
    return out


def _repeated_names(name: str, layout: Layout, notes: Notes | None) -> None:
    """Warn about header names a file repeats: the columns are told apart as :func:`dedupe`
    names them (``channel``, ``channel_2``), which a KPI must then name."""
    names = dedupe(layout.header)
    seen: dict[str, list[str]] = {}
    for cell, col in zip(layout.header, names, strict=True):
        text = cell.strip(V.WS).lstrip("\ufeff")
        if text:
            seen.setdefault(text, []).append(col)
    for text, cols in seen.items():
        if len(cols) > 1:
            shown = ", ".join(f"`{c}`" for c in cols[:-1]) + f" and `{cols[-1]}`"
            warn(
                notes,
                f"source `{name}`: {layout.path}: the header (line {layout.header_line}) has "
                f"{len(cols)} columns named `{text}`: they are read as {shown}, left to right; "
                f"a KPI that means another than the first names it (or `rename:` it)",
            )


def sniff_source(
    cfg: Config,
    name: str,
    files: list[Path],
    notes: Notes | None = None,
    *,
    memo: ReadMemo | None = None,
) -> list[Layout]:
    """Each file's layout, or a DataError naming the file; the reader's warnings go to
    ``notes``. ``memo``: what the caller's earlier reads found (a fresh one when None)."""
    memo = memo if memo is not None else ReadMemo()
    src = cfg.sources[name]
    summary = _summary_rows(cfg, src)
    layouts = []
    for f in files:
        if is_parquet(f):
            try:  # `sheet:` and `section:` are errors here
                containers.within(f, src.sheet, src.section)
            except containers.ContainerError as err:
                raise container_error(cfg, name, f, err) from None
            layouts.append(pq.parquet_layout(name, f))
            continue
        try:
            layout = sniff(
                f,
                encoding=src.encoding,
                delimiter=src.delimiter,
                skip_rows=src.skip_rows,
                summary=summary,
                memo=memo,
                within=containers.within(f, src.sheet, src.section),
            )
            if layout.doubt is not None:
                warn(
                    notes,
                    f"source `{name}`: {f}: encoding {layout.doubt}; set `encoding:` on the "
                    "source if its text reads wrong",
                )
            if remote.is_remote(f):  # Spark reads the rows: it checks the lines
                _refuse_tolerant(name, layout, fallback_reason(layout, summary))
                layouts.append(layout)
                continue
            _check_lines(layout, memo)
            reason = fallback_reason(layout, summary) or memo.tolerant.get(layout.key)
            if reason is not None:
                layout = dataclasses.replace(layout, tolerant=reason)
                # reads the file now: its problems are raised here
                for message in tolerant_csv(layout, memo).notes:
                    warn(notes, message)
            layouts.append(layout)
        except SniffError as err:
            raise DataError(
                f"source `{name}`: {f}: {err}",
                location=Location(str(f), err.line or None),
                hint=err.hint,
            ) from None
        except containers.ContainerError as err:
            raise container_error(cfg, name, f, err) from None
        except OSError as err:
            raise DataError(
                f"source `{name}`: cannot read {f}: {err.strerror or err}",
                location=Location(str(f)),
            ) from None
        except remote.RemoteError as err:
            raise DataError(
                f"source `{name}`: {err}", location=Location(str(f)), hint=err.hint
            ) from None
    return layouts


def _refuse_tolerant(name: str, layout: Layout, reason: str | None) -> None:
    """A DataError for a remote file that only kpi's tolerant reader reads right (a stray
    quote, a record wider than its header…): Spark would read it otherwise."""
    if reason is None and layout.encoding != MIXED:
        return
    why = reason or "its lines mix UTF-8 and cp1252"
    clean = Path(layout.path.name).with_suffix(".clean.csv").name
    raise DataError(
        f"source `{name}`: {layout.path}: Spark cannot read this file as kpi reads it: {why}",
        location=Location(str(layout.path)),
        hint=f"repair a local copy with `kpi clean FILE -o {clean}` (or write a Parquet "
        "copy) and point `path:` at it",
    )


#: Files up to this size are checked whole when read, row by row (a cell too many past the
#: sample, which a query reading some columns would not see): a scan of every column as
#: text, about 1-2 ms a MB. Larger files are checked whole by `kpi validate` and when the
#: cache is filled (see RELIABILITY.md).
WHOLE_CHECK_BYTES = 64 << 20


def _check_lines(layout: Layout, memo: ReadMemo) -> None:
    """A SniffError for a line longer than :data:`kpicli.inputs.MAX_LINE_BYTES`: no reader
    is given such a line (Polars would hold several times its size in memory). A file
    found without one is remembered in ``memo``."""
    if layout.complete or _sheet(layout) or memo.is_lines_ok(layout.key):
        return  # a sheet's CSV is kpi's own: a cell holds at most 32,767 characters
    if layout.within is not None:
        long = containers.long_line_in(layout.read_bytes(), MAX_LINE_BYTES)
    else:
        long = long_line(layout.path)
    if long is not None:
        raise SniffError(
            f"line {long[0]} is longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB "
            "(no export has such lines)",
            hint="this is not a CSV export, or its line ends are not \\n, \\r\\n or \\r",
            line=long[0],
        )
    memo.mark_lines_ok(layout.key)


def _sheet(layout: Layout) -> bool:
    """Whether the file is a spreadsheet's sheet, whose CSV kpi wrote itself."""
    return layout.within is not None and layout.within.kind == "sheet"


def misread_files(
    frames: Iterable[SourceFrame],
    *,
    memo: ReadMemo,
    up_to: int | None = None,
    notes: Notes | None = None,
) -> list[Path]:
    """The files the fast path cannot read past their sample (a stray quote, a row with
    more cells than the header), each marked to be read by the tolerant reader from now on,
    as a file whose sample shows the problem is (the warning names the line). Empty when no
    file is: after a failed query, the failure is about values, which
    :func:`locate_bad_value` explains. ``up_to``: only the files sampled in part whose size
    is at most this (a check before any query: :func:`scan_source`).

    A file is suspected when Polars cannot read it even with every column as text (so the
    structure, not a value, is at fault), and marked when Python's csv module finds the
    line to blame; files already read by the tolerant reader are not looked at again.
    What is found is kept in ``memo`` (the one the frames were read with, and the next
    read's: the marks are for it).
    """
    found: list[Path] = []
    for sf in frames:
        for part in sf.parts:
            for lay in part.layouts if part.format != PARQUET else ():
                if lay.tolerant is not None or lay.key in memo.tolerant:
                    continue
                if remote.is_remote(lay.path):  # Spark reads it, and checks its records
                    continue
                if _sheet(lay):  # kpi wrote a sheet's CSV
                    continue
                if up_to is not None and (lay.complete or lay.size > up_to):
                    continue
                if memo.is_whole_ok(lay.key):
                    continue
                if _misread(part, lay, memo, notes):
                    found.append(lay.path)
    return found


def _misread(part: Part, lay: Layout, memo: ReadMemo, notes: Notes | None) -> bool:
    """Whether the file ``lay`` of ``part`` is one :func:`misread_files` looks for: then
    marked for the tolerant reader in ``memo``; a file read whole without fault is marked
    as such."""
    try:
        lf = part.scan([lay], text=True, notes=notes, memo=memo)
        lf.select(pl.all().null_count()).collect()
        memo.mark_whole_ok(lay.key)
        return False
    except pl.exceptions.PolarsError:
        pass
    try:
        reason = _structure(lay, _summary_rows_of(part))
    except (OSError, SniffError, UnicodeDecodeError):
        reason = None
    if reason is None:
        return False
    memo.mark_tolerant(lay.key, reason)
    return True


def _summary_rows_of(part: Part) -> tuple[SummaryRow, ...]:
    return part.summary or SUMMARY_ROWS


def _structure(layout: Layout, summary: tuple[SummaryRow, ...]) -> str | None:
    """Why the whole file (not just its sample) needs the tolerant reader; None when its
    records all fit the header as Python's csv module reads them and no cell holds a quote.
    """
    data = layout.read_bytes()
    text = layout.decode(data).text
    if layout.newline == "\r":
        text = text.replace("\r", "\n")
    recs = records(text, layout.delimiter, complete=True, limit=1 << 62)
    body = [(ln, c) for ln, c in recs if ln > layout.header_line][layout.skip_after_header :]
    width = layout.width
    full = dataclasses.replace(
        layout,
        records=[c for _, c in body if not all(x.strip(V.WS) == "" for x in c)],
        record_lines=[ln for ln, c in body if not all(x.strip(V.WS) == "" for x in c)],
        ragged=[(ln, len(c)) for ln, c in body if len(c) > width],
    )
    full.truncate_ragged = bool(full.ragged) and all(
        not any(x.strip(V.WS) for x in c[width:]) for _, c in body if len(c) > width
    )
    reason = fallback_reason(full, summary)
    if reason is not None:
        return reason
    for line, cells in body:
        for cell in cells:
            if '"' in cell:
                shown = cell if len(cell) <= 40 else cell[:37] + "…"
                return f"line {line} has a quote inside a cell (`{shown.strip()}`)"
    return None


def _summary_rows(cfg: Config, src: Source) -> tuple[SummaryRow, ...]:
    preset = cfg.presets.get(src.preset) if src.preset else None
    return SUMMARY_ROWS + (preset.summary_rows if preset else ())


def _preset(cfg: Config, name: str) -> Preset | None:
    src = cfg.sources[name]
    if src.preset is None:
        return None
    if src.preset not in cfg.presets:
        raise ConfigError(
            f"unknown preset `{src.preset}`",
            location=cfg.where("sources", name, "preset"),
            hint=did_you_mean(src.preset, cfg.presets)
            or f"known presets: {', '.join(cfg.presets)}",
        )
    return cfg.presets[src.preset]


def _group(layouts: list[Layout]) -> list[list[Layout]]:
    groups: dict[tuple, list[Layout]] = {}
    for lay in layouts:
        key = (
            lay.in_memory,
            lay.delimiter,
            lay.skip_lines,
            lay.skip_after_header,
            lay.truncate_ragged,
            lay.tolerant is not None,
            tuple(dedupe(lay.header)),
        )
        groups.setdefault(key, []).append(lay)
    return list(groups.values())


def _kinds(
    src: Source,
    preset: Preset | None,
    layouts: list[Layout],
    raw: list[str],
    names: list[str],
    memo: ReadMemo,
) -> tuple[list[V.Kind], str, str | None, bool]:
    """Kinds of the columns, the decimal and thousands separators, and whether native
    (detected once per ``memo``)."""
    types = tuple(sorted(preset.types.items())) if preset else ()  # a user preset may change
    key = (tuple(lay.key for lay in layouts), src.decimal, src.preset, types, tuple(names))
    found = memo.known_kinds(key)
    if found is None:
        found = _detect_kinds(src, preset, layouts, raw, names)
        memo.keep_kinds(key, found)
    kinds, decimal, thousands, native = found
    return list(kinds), decimal, thousands, native


def _detect_kinds(
    src: Source, preset: Preset | None, layouts: list[Layout], raw: list[str], names: list[str]
) -> tuple[list[V.Kind], str, str | None, bool]:
    summary = SUMMARY_ROWS + (preset.summary_rows if preset else ())
    rows = []
    seen_summary = False
    for lay in layouts:
        for cells in lay.records:
            if is_summary_row(cells, summary):
                seen_summary = True
                continue
            rows.append(cells)
        seen_summary = (
            seen_summary
            or bool(lay.footer)
            or bool(lay.skipped)
            or any(is_summary_row(r, summary) for r in lay.tail if any(r))
        )
    sheets = bool(layouts) and all(
        lay.within is not None and lay.within.kind == "sheet" for lay in layouts
    )
    if src.decimal != "auto" or sheets:  # a sheet's numbers are written with a dot
        decimal = "." if src.decimal == "auto" else src.decimal
        thousands = "," if decimal == "." else "."
        seps = V.detect_separators(V.numeric_cells(rows), layouts[0].delimiter if layouts else ",")
        thousands = seps.thousands if seps.decimal == decimal else thousands
    else:
        seps = V.detect_separators(V.numeric_cells(rows), layouts[0].delimiter if layouts else ",")
        decimal, thousands = seps.decimal, seps.thousands
    types = preset.types if preset else {}
    kinds = []
    for j in range(len(raw)):
        cells = [r[j] if j < len(r) else None for r in rows]
        kinds.append(V.typed(V.classify(cells, decimal), types.get(names[j]), cells))
    return kinds, decimal, thousands, not seen_summary


def _date_format(
    cfg: Config, name: str, part: Part, j: int, col: str, rows: list[tuple[Layout, int, list]]
) -> tuple[V.DateShape | None, str]:
    """How column j of a part is parsed as dates: the option, else what its cells show."""
    src = cfg.sources[name]
    if src.date_format != "auto":
        return None, src.date_format
    kind = part.kinds[j]
    guess = kind.date
    cells = [r[j] if j < len(r) else "" for _, _, r in rows]
    if guess is None:
        if not [c for c in cells if not V.is_missing(c)]:
            return V.ISO, ISO_DATE
        guess = V.detect_date(cells)
    if guess is None:
        misfit = V.date_misfit(cells)
        if misfit is not None:
            fit, i = misfit
            layout, line, _ = rows[i]
            raise DataError(
                f"source `{name}`: column `{part.raw[j]}`: `{cells[i].strip()}` is not a date "
                f"({fit.fmt or ' or '.join(fit.candidates)}, as the other rows)",
                location=Location(str(layout.path), line),
                hint="fix the cell in the export, or set `date_format:` on the source",
            )
        example = next(c for c in cells if not V.is_missing(c))
        raise DataError(
            f"source `{name}`: column `{part.raw[j]}` does not hold dates kpi recognises "
            f"(e.g. `{example.strip()}`)",
            location=Location(str(part.layout.path)),
            hint='set `date_format:` on the source, a strftime pattern such as "%d/%m/%Y"',
        )
    if guess.ambiguous:
        day_first, month_first = guess.candidates[0], guess.candidates[1]
        raise DataError(
            f"source `{name}`: cannot tell whether the dates of column `{part.raw[j]}` are "
            f"day/month or month/day: every day is 12 or less in the rows sampled "
            f"(e.g. `{guess.example}`)",
            location=Location(str(part.layout.path)),
            hint=f'set `date_format: "{day_first}"` (day first) or '
            f'`date_format: "{month_first}"` (month first) on source `{name}`',
        )
    assert guess.fmt is not None
    return guess.shape.in_zone(cfg.settings.timezone), guess.fmt


def _parts(
    cfg: Config, name: str, layouts: list[Layout], notes: Notes | None, memo: ReadMemo
) -> list[Part]:
    src = cfg.sources[name]
    preset = _preset(cfg, name)
    if layouts and is_parquet(layouts[0].path):
        return _parquet_parts(cfg, name, preset, layouts)
    summary = _summary_rows(cfg, src)
    parts = []
    for group in _group(layouts):
        raw = dedupe(group[0].header)
        for lay in group:
            _repeated_names(name, lay, notes)
        names = canonical_names(preset, raw)
        kinds, decimal, thousands, native = _kinds(src, preset, group, raw, names, memo)
        final = _final(cfg, name, raw, names, group[0].path)
        seen = any(lay.skipped or lay.has_summary_rows(summary) for lay in group)
        parts.append(
            Part(
                layouts=group,
                raw=raw,
                names=names,
                final=final,
                kinds=kinds,
                decimal=decimal,
                thousands=thousands,
                # no summary row at either end of the files: no filter, so a query reads
                # only the columns it uses
                summary=summary if seen else (),
                footer=tuple(dict.fromkeys(t for lay in group for t in lay.footer)),
                blank_lines=any(lay.blank_lines for lay in group),
                native=native,
            )
        )
    return parts


def _final(cfg: Config, name: str, raw: list[str], names: list[str], path: Path) -> list[str]:
    """The columns' names after `rename` (of the header as written, or of its name after
    the preset); a DataError when two columns of the file ``path`` get the same name."""
    src = cfg.sources[name]
    final = [src.rename.get(r, src.rename.get(n, n)) for r, n in zip(raw, names, strict=True)]
    twice = next((c for j, c in enumerate(final) if c in final[:j]), None)
    if twice is not None:
        cols = [r for r, f in zip(raw, final, strict=True) if f == twice]
        raise DataError(
            f"source `{name}`: `rename` gives two columns of this file the name "
            f"`{twice}` ({', '.join(f'`{c}`' for c in cols)})",
            location=Location(str(path)),
            hint=f"rename only one of them to `{twice}` "
            f"({cfg.where('sources', name, 'rename')}), or the other to another name",
        )
    return final


def _parquet_parts(
    cfg: Config, name: str, preset: Preset | None, layouts: list[Layout]
) -> list[Part]:
    """The Parquet files of a source, grouped by their columns and types (one part, one
    ``pl.scan_parquet``, each); text columns classified from the files' samples."""
    src = cfg.sources[name]
    groups: dict[tuple, tuple[dict[str, pl.DataType], list[Layout]]] = {}
    for lay in layouts:
        schema = pq.schema_of(name, lay.path)
        key = tuple((n, str(t)) for n, t in schema.items())
        groups.setdefault(key, (schema, []))[1].append(lay)
    parts = []
    for schema, group in groups.values():
        raw, types = list(schema), list(schema.values())
        names = canonical_names(preset, raw)
        rows = [r for lay in group for r in lay.records]
        if src.decimal != "auto":
            seps = V.Separators(src.decimal, "," if src.decimal == "." else ".")
        else:
            seps = V.detect_separators(V.numeric_cells(rows))
        wanted = preset.types if preset else {}
        kinds = []
        for j, dtype in enumerate(types):
            if is_text(dtype):
                cells = [r[j] or None for r in rows]
                kinds.append(V.typed(V.classify(cells, seps.decimal), wanted.get(names[j]), cells))
            else:
                kinds.append(pq.kind_of_type(dtype, wanted.get(names[j])))
        parts.append(
            Part(
                layouts=group,
                raw=raw,
                names=names,
                final=_final(cfg, name, raw, names, group[0].path),
                kinds=kinds,
                decimal=seps.decimal,
                thousands=seps.thousands,
                summary=(),
                footer=(),
                blank_lines=False,
                native=True,
                format=PARQUET,
                types=types,
                timezone=cfg.settings.timezone or "UTC",
            )
        )
    return parts


#: A date cell the CSV reader parses as it reads (``typed_dates``): exactly ``YYYY-MM-DD``.
_PLAIN_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")


def _typed_date(part: Part, j: int, rows: list[tuple[Layout, int, list]]) -> bool:
    """Whether column j can be read as dates by the CSV reader itself (the fast path)."""
    shape, fmt = part.dates[j]
    if not part.native or shape is not V.DATE_SHAPES[0] or fmt != ISO_DATE:
        return False
    if any(lay.tolerant is not None for lay in part.layouts):
        return False
    cells = [r[j] if j < len(r) else "" for _, _, r in rows]
    cells += [r[j] for lay in part.layouts for r in lay.tail if j < len(r)]  # the last rows
    return all(c == "" or _PLAIN_ISO.fullmatch(c) for c in cells)


def scan_source(
    cfg: Config,
    name: str,
    *,
    typed_dates: bool = False,
    notes: Notes | None = None,
    memo: ReadMemo | None = None,
) -> SourceFrame:
    """The lazy frame of one source after rename, derive, date parsing and filter.

    ``typed_dates``: the fast path for reports. A date column whose sampled cells are all
    plain ISO dates is parsed by the CSV reader as it reads (~0.1 s of a 10 M-row report),
    instead of as text then converted. A cell past the sample that the
    reader cannot parse (`` 2026-01-05 ``, ``n/a``) then fails the query: the engine runs
    the report again without the fast path (:func:`kpicli.execute.engine.execute`), which reads
    such cells as the rest of kpi does. ``notes``: the warnings about the files (a file
    read the careful way, a repeated header name…). ``memo``: what the caller's earlier
    reads found (layouts, files marked for the tolerant reader or to be decoded line by
    line: :func:`misread_files`, :func:`mixed_encodings`); a fresh one when None.

    This is the describing step of a report: the files are matched and sniffed (a bounded
    sample of each; files up to :data:`WHOLE_CHECK_BYTES` are checked whole, and files not
    in UTF-8 are read to be transcoded), the columns typed; the rows are not collected.
    """
    memo = memo if memo is not None else ReadMemo()
    src = cfg.sources[name]
    if src.table is not None:
        return _table_source(cfg, name)
    files = match_files(cfg, name, notes)
    layouts = sniff_source(cfg, name, files, notes, memo=memo)
    parts = _parts(cfg, name, layouts, notes, memo)
    have = _check_columns(cfg, name, parts)
    dates = date_columns(cfg, name)
    _check_dates(cfg, name, dates, have)
    formats = _date_formats(cfg, name, parts, dates, typed_dates=typed_dates)
    file_columns = _file_columns(src, files, parts)
    probe = SourceFrame(name, files, pl.LazyFrame(), {}, dates, file_columns=file_columns)
    probe.require(_needed(src, dates))
    for col, text in src.derive.items():  # checked before any file is scanned
        _sql_text(cfg, text, ("sources", name, "derive", col))
    if src.filter:
        _sql_text(cfg, src.filter, ("sources", name, "filter"))
        _missing(cfg, name, parse(src.filter).names, have, ("sources", name, "filter"))
    lf, schema = _frame(cfg, name, parts, files, notes, memo)
    for col in dates:
        if col in src.derive:
            formats[col] = src.date_format if src.date_format != "auto" else ISO_DATE
    origins, kinds = _origins(parts)
    sf = SourceFrame(
        name,
        files,
        lf,
        schema,
        dates,
        list(parts[0].names),
        parts=parts,
        preset=src.preset,
        origins=origins,
        kinds=kinds,
        date_formats=formats,
        file_columns=file_columns,
        stated=stated_periods(parts),
    )
    if misread_files([sf], up_to=WHOLE_CHECK_BYTES, notes=notes, memo=memo):  # past the sample
        return scan_source(cfg, name, typed_dates=typed_dates, notes=notes, memo=memo)
    return sf


def _table_source(cfg: Config, name: str) -> SourceFrame:
    """A `table:` source described from its `columns:` (nothing is read: the SQL engines
    read the table). A column declared ``date`` is CAST to a DATE (a DATE or TIMESTAMP
    column); a date column declared ``text`` is parsed in `date_format` (ISO when auto)."""
    src = cfg.sources[name]
    assert src.table is not None
    raw = list(src.columns)
    types = [TABLE_TYPES[t] for t in src.columns.values()]
    part = Part(
        layouts=[],
        raw=raw,
        names=raw,
        final=_final(cfg, name, raw, raw, Path(src.table)),
        kinds=[pq.kind_of_type(t, None) if not is_text(t) else V.Kind("text") for t in types],
        decimal=".",
        thousands=None,
        summary=(),
        footer=(),
        blank_lines=False,
        native=True,
        format=TABLE,
        types=types,
        timezone=cfg.settings.timezone or "UTC",
    )
    have = _check_columns(cfg, name, [part])
    dates = date_columns(cfg, name)
    _check_dates(cfg, name, dates, have)
    fmt = ISO_DATE if src.date_format == "auto" else src.date_format
    formats = {}
    for col in dates:
        if col in src.derive:
            formats[col] = fmt
            continue
        j = part.final.index(col)
        declared = src.columns[raw[j]]
        if declared not in ("date", "text"):
            raise ConfigError(
                f"source `{name}`: date column `{col}` is declared {declared}",
                location=cfg.where("sources", name, "columns", raw[j]),
                hint="declare it `date` (a DATE or TIMESTAMP column) or `text` (dates written "
                "in `date_format`)",
            )
        if declared == "date":
            part.dates[j] = (None, "DATE")
        else:
            part.dates[j] = (V.ISO, ISO_DATE) if src.date_format == "auto" else (None, fmt)
        formats[col] = part.dates[j][1]
    for col, text in src.derive.items():
        _sql_text(cfg, text, ("sources", name, "derive", col))
    if src.filter:
        _sql_text(cfg, src.filter, ("sources", name, "filter"))
        _missing(cfg, name, parse(src.filter).names, have, ("sources", name, "filter"))
    lf, schema = _frame(cfg, name, [part], [], None, ReadMemo())
    return SourceFrame(
        name,
        [],
        lf,
        schema,
        dates,
        raw,
        parts=[part],
        origins=dict(zip(part.final, part.raw, strict=True)),
        kinds=dict(zip(part.final, part.kinds, strict=True)),
        date_formats=formats,
        table=src.table,
    )


def stated_periods(parts: list[Part]) -> dict[str, tuple[str, str | None, str | None]]:
    """The period each file's preamble states (:attr:`SourceFrame.stated`)."""
    out: dict[str, tuple[str, str | None, str | None]] = {}
    for lay in (lay for part in parts for lay in part.layouts):
        if lay.period is not None:
            p = lay.period
            days = (d.isoformat() if d else None for d in (p.start, p.end))
            out[str(lay.path)] = (p.text, *days)
    return out


def _origins(parts: list[Part]) -> tuple[dict[str, str], dict[str, V.Kind]]:
    """Each column's header as written and its kind detected (the first part's that has
    it)."""
    origins: dict[str, str] = {}
    kinds: dict[str, V.Kind] = {}
    for part in parts:
        for r, f, k in zip(part.raw, part.final, part.kinds, strict=True):
            origins.setdefault(f, r)
            kinds.setdefault(f, k)
    return origins, kinds


def _check_columns(cfg: Config, name: str, parts: list[Part]) -> list[str]:
    """The source's columns after `rename` and `derive`, each of which is checked to name
    columns there are (a ConfigError located in the config)."""
    src = cfg.sources[name]
    if src.rename:
        known = list(dict.fromkeys(c for p in parts for c in (*p.raw, *p.names)))
        _missing(cfg, name, list(src.rename), known, ("sources", name, "rename"))
    have = list(dict.fromkeys(c for p in parts for c in p.final))
    for col, text in src.derive.items():
        _missing(cfg, name, parse(text).names, have, ("sources", name, "derive", col))
        if col not in have:
            have.append(col)
    return have


def _check_dates(cfg: Config, name: str, dates: tuple[str, ...], have: list[str]) -> None:
    """Each date column is one of ``have``, else a ConfigError located where it is named
    (the source's `date`, or the KPI's)."""
    src = cfg.sources[name]
    for col in dates:
        keys = ("sources", name, "date")
        if col != src.date:
            keys = next(
                ("kpis", k, "date")
                for k, v in cfg.kpis.items()
                if v.source == name and v.date == col
            )
        _missing(cfg, name, [col], have, keys)


def _date_formats(
    cfg: Config, name: str, parts: list[Part], dates: tuple[str, ...], *, typed_dates: bool
) -> dict[str, str]:
    """How each part parses its date columns (:attr:`Part.dates`, and ``typed_dates``: the
    columns the CSV reader parses), and which of its columns are typed Null (a file read
    whole without a value in a column a KPI aggregates); the format of each date column."""
    src = cfg.sources[name]
    aggregated = {
        col for kpi in cfg.kpis.values() if kpi.source == name for col in _names(kpi.formula)
    }
    formats: dict[str, str] = {}
    for part in parts:
        rows = [
            (lay, line, r)
            for lay in part.layouts
            for line, r in zip(lay.record_lines, lay.records, strict=True)
            if not is_summary_row(r, part.summary)
        ]
        for col in dates:
            if col in src.derive or col not in part.final:
                continue
            j = part.final.index(col)
            if part.format == PARQUET and not is_text(part.types[j]):
                part.dates[j] = (None, _parquet_date(name, part, j))
            else:
                part.dates[j] = _date_format(cfg, name, part, j, col, rows)
            formats.setdefault(col, part.dates[j][1])
            if typed_dates and part.format != PARQUET and _typed_date(part, j, rows):
                part.typed_dates.add(j)
        if part.complete:
            part.nulls = {
                j
                for j, (kind, col) in enumerate(zip(part.kinds, part.final, strict=True))
                if kind.name == "empty" and col in aggregated and j not in part.dates
            }
    return formats


def _parquet_date(name: str, part: Part, j: int) -> str:
    """How a typed date column of a Parquet part is dated (DATE, TIMESTAMP), or a
    DataError naming the file and column when its type is no date."""
    label = pq.date_label(part.types[j], part.timezone)
    if label is None:
        raise DataError(
            f"source `{name}`: column `{part.raw[j]}` of {part.layout.path} is "
            f"{part.types[j]}, not a date",
            location=Location(str(part.layout.path)),
            hint="a Parquet date column is DATE, TIMESTAMP or text; `derive:` a date from it "
            "and name that as the source's `date:`",
        )
    return label


def _file_columns(src: Source, files: list[Path], parts: list[Part]) -> dict[str, tuple[str, ...]]:
    """Each file's columns (after the preset, `rename` and `derive`), in the files' order."""
    part_of = {str(lay.path): part for part in parts for lay in part.layouts}
    return {
        str(f): tuple(dict.fromkeys((*part_of[str(f)].final, *src.derive)))
        for f in files
        if str(f) in part_of
    }


def _needed(src: Source, dates: tuple[str, ...]) -> dict[str, str]:
    """The columns of the files that the source's `derive`, dates and `filter` use, each
    with what uses it: for :meth:`SourceFrame.require`."""
    needed: dict[str, str] = {}
    for col, text in src.derive.items():
        for used in parse(text).names:
            needed.setdefault(used, f"used by `derive: {col}`")
    for col in dates:
        needed.setdefault(col, "a date column of the source")
    if src.filter:
        for used in parse(src.filter).names:
            needed.setdefault(used, "used by the source's `filter`")
    return {c: w for c, w in needed.items() if c not in src.derive}


def _frame(
    cfg: Config,
    name: str,
    parts: list[Part],
    files: list[Path],
    notes: Notes | None,
    memo: ReadMemo,
) -> tuple[pl.LazyFrame, dict[str, pl.DataType]]:
    """The source's lazy frame (its parts' frames, `derive`, dates derived, `filter`) and
    its schema; a failure of the reader is a DataError naming the files."""
    src = cfg.sources[name]
    late = [c for c in date_columns(cfg, name) if c in src.derive]
    frames = []
    try:
        for part in parts:
            lf = part.frame(notes, memo)
            for col, text in src.derive.items():
                expr = _sql(cfg, text, ("sources", name, "derive", col), lf)
                lf = lf.with_columns(expr.alias(col))
            if late:
                lf = lf.with_columns(parse_dates(pl.col(c), src.date_format).alias(c) for c in late)
            if src.filter:
                keys = ("sources", name, "filter")
                lf = lf.filter(_sql(cfg, src.filter, keys, lf, condition=True))
            frames.append(lf)
        lf = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
        return lf, dict(lf.collect_schema())
    except pl.exceptions.PolarsError as err:
        raise _read_error(name, files, err) from None


def fast_dates(sources: Iterable[SourceFrame]) -> bool:
    """Whether the CSV reader parses date columns of these sources itself (the fast path of
    :func:`scan_source`'s ``typed_dates``), which a value past the sample can make fail."""
    return any(p.typed_dates for sf in sources for p in sf.parts)


def warn(notes: Notes | None, message: str) -> None:
    """A warning about the data: into ``notes``; a caller that passes none (a library user
    calling the reader directly) finds it in the ``kpicli`` logger."""
    if notes is not None:
        notes.add(message)
    else:
        logging.getLogger("kpicli").warning(message)


def request_columns(
    cfg: Config, kpis: Iterable[str], dims: Iterable[str] = (), where: str | None = None
) -> dict[str, str]:
    """The columns a report over ``kpis`` reads (their formulas and filters, ``--by`` and
    ``--where``), each with what uses it: for :meth:`SourceFrame.require`."""
    out: dict[str, str] = {}
    for n in kpis:
        kpi = cfg.kpis[n]
        for text in (kpi.formula, kpi.filter):
            for col in _names(text) if text else ():
                out.setdefault(col, f"used by KPI `{n}`")
    for dim in dims:
        out.setdefault(dim, f"--by {dim}")
    for col in _names(where) if where else ():
        out.setdefault(col, "used by --where")
    return out


def _names(text: str) -> tuple[str, ...]:
    try:
        return tuple(parse(text).names)
    except FormulaError:
        return ()


def _sql_text(cfg: Config, text: str, keys: tuple[str, ...]) -> None:
    """A derive or filter is an expression over one row (formula.check), or a ConfigError
    located in the config."""
    try:
        check(text, ROW)
    except FormulaError as err:
        raise ConfigError(
            f"invalid SQL `{text}`: {err}", location=cfg.where(*keys), hint=err.hint
        ) from None


def mixed_encodings(frames: Iterable[SourceFrame], *, memo: ReadMemo) -> bool:
    """After a read failed: whether a file of these sources, read from disk as UTF-8 (as its
    sample showed, ``encoding: auto``), holds bytes further on that are not UTF-8. Each such
    file is remembered in ``memo`` (:func:`~kpicli.ingest.detect.mark_mixed`): scanned
    again with it, it is decoded line by line, as a file whose sample mixes encodings is.
    True: read again.
    """
    found = False
    for sf in frames:
        for lay in (lay for p in sf.parts if p.format != PARQUET for lay in p.layouts):
            suspect = lay.detected and lay.encoding == "utf-8" and not lay.complete
            suspect = suspect and not remote.is_remote(lay.path)
            if suspect and not lay.in_memory and first_invalid_utf8(lay.path) is not None:
                found = mark_mixed(lay, memo) or found
    return found


def _sql(
    cfg: Config, text: str, keys: tuple[str, ...], lf: pl.LazyFrame, *, condition: bool = False
) -> pl.Expr:
    """``pl.sql_expr`` of a derive or (``condition``) a filter over the rows of ``lf``
    (whose column types decide its arithmetic: formula.compile_sql), with its errors
    located in the config."""
    kinds = kinds_of(lf.collect_schema())  # a failure here is the reader's (_read_error)
    try:
        expr = pl.sql_expr(compile_sql(text, ROW, kinds))
        dtype = lf.select(expr.alias("__e")).collect_schema()["__e"]  # `'a' + 1` fails here
    except FormulaError as err:
        raise ConfigError(
            f"invalid SQL `{text}`: {err}", location=cfg.where(*keys), hint=err.hint
        ) from None
    except pl.exceptions.PolarsError as err:
        raise ConfigError(
            f"invalid SQL `{text}`: {engine_detail(err)}", location=cfg.where(*keys)
        ) from None
    if condition and (gives := wrong_type(dtype, condition=True)):
        raise ConfigError(
            f"filter `{text}` is not a condition: it gives {gives}",
            location=cfg.where(*keys),
            hint="a filter keeps the rows where it is true: spend > 0, channel = 'email'…",
        )
    return expr


def locate_bad_value(
    source: SourceFrame | Iterable[SourceFrame] | tuple[Config, str],
    error: BaseException | str | None = None,
    columns: Iterable[str] | None = None,
) -> DataError | None:
    """The cell behind a failed read, as a DataError naming file, line, column and value.

    The diagnostic path, for after a collect failed: see :mod:`kpicli.ingest.diagnose`.
    ``source`` is a SourceFrame, several (a plan's sources), or a config and a source name;
    ``error`` the Polars exception (the values it quotes are looked for first); ``columns``
    the columns the failed query used. None when no cell explains the failure.
    """
    from kpicli.ingest.diagnose import locate

    if isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], Config):
        cfg, name = source
        try:
            frames = [scan_source(cfg, name)]
        except DataError as err:
            return err
    elif isinstance(source, SourceFrame):
        frames = [source]
    else:
        frames = list(source)
    return locate(frames, error, columns)


__all__ = [
    "Part",
    "SourceFrame",
    "date_columns",
    "fast_dates",
    "locate_bad_value",
    "match_files",
    "misread_files",
    "mixed_encodings",
    "parse_dates",
    "request_columns",
    "scan_source",
    "stated_periods",
]
