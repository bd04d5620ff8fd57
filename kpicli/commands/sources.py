"""What `kpi sources` shows: per source, what was read, how, and what was left out.

:func:`describe_sources` returns one :class:`SourceReport` per source: the files matched and,
for each, the encoding and dialect detected, the header line, the rows read and the rows
dropped with their reasons, the period the preamble states; the columns with their types and
the headers they come from; the rows after the source's filter and the range of its date
column. Problems (no file, an unreadable file, a value that does not parse) become
:class:`~kpicli.errors.Issue`s of the report instead of exceptions, so every source is
described. This is a diagnostic: it reads the whole data (one query per file and one per
source), where a report reads only the columns it needs.

``SourceReport.to_dict()`` is the JSON shape (``render/sources.py`` documents it). A
Parquet file has no encoding, delimiter or header line (null); its ``inside`` says
``Parquet, N columns``, and its typed columns' kinds are their types (``integer``,
``float``, ``decimal``, ``boolean``, ``date``, ``datetime``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from kpicli.errors import (
    DataError,
    Issue,
    IssueCode,
    KpiError,
    Location,
    Notes,
    UsageError,
    did_you_mean,
    engine_detail,
)
from kpicli.ingest.detect import Layout
from kpicli.ingest.memo import ReadMemo
from kpicli.ingest.preset_dates import preset_date, with_preset_dates
from kpicli.ingest.remote import is_remote
from kpicli.ingest.scan import (
    Part,
    SourceFrame,
    locate_bad_value,
    match_files,
    misread_files,
    mixed_encodings,
    scan_source,
    sniff_source,
)
from kpicli.spec.config import Config

ERROR, WARNING = IssueCode.DATA, IssueCode.WARNING


@dataclass
class FileReport:
    """One file of a source, as it was read."""

    path: str
    encoding: str | None = None  # utf-8, utf-16-le, cp1252…
    bom: bool = False
    delimiter: str | None = None
    decimal: str | None = None
    thousands: str | None = None  # the thousands separator seen, if any
    header_line: int | None = None  # 1-based
    rows_read: int | None = None  # data rows kept (before the source's filter)
    rows_dropped: dict[str, int] = field(default_factory=dict)  # reason → rows
    preamble: list[str] = field(default_factory=list)  # lines above the header
    period: dict[str, Any] | None = None  # {"text", "start", "end"} the preamble states
    stated_rows: int | None = None  # "Rows: N" in a preamble
    #: how the file was opened and what else it holds (a zip member, a sheet, its tables),
    #: and a doubt about the code page detected (ingest/containers.facts)
    inside: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "encoding": self.encoding,
            "bom": self.bom,
            "delimiter": self.delimiter,
            "decimal": self.decimal,
            "thousands": self.thousands,
            "header_line": self.header_line,
            "rows_read": self.rows_read,
            "rows_dropped": dict(self.rows_dropped),
            "preamble": list(self.preamble),
            "period": dict(self.period) if self.period else None,
            "stated_rows": self.stated_rows,
        } | ({"inside": list(self.inside)} if self.inside else {})


@dataclass
class ColumnReport:
    """One column of a source after rename and derive."""

    name: str
    dtype: str  # the Polars type: Int64, Float64, String, Date, Boolean…
    header: str | None  # the header as written in the file; None for a derived column
    kind: str | None = None  # what detection saw: integer, number, percent, date (%d/%m/%Y)…
    missing: int | None = None  # null values (after the source's filter)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.dtype,
            "header": self.header,
            "kind": self.kind,
            "missing": self.missing,
        }


@dataclass
class SourceReport:
    """Everything `kpi sources` says about one source."""

    name: str
    preset: str | None
    files: list[FileReport] = field(default_factory=list)
    columns: list[ColumnReport] = field(default_factory=list)
    rows: int | None = None  # after the source's filter
    date_column: str | None = None
    date_format: str | None = None
    date_range: tuple[date, date] | None = None
    date_from_preset: bool = False  # the source sets no `date:`: its preset's date column
    problems: list[Issue] = field(default_factory=list)
    table: str | None = None  # a `table:` source's table: its columns declared, not read

    @property
    def ok(self) -> bool:
        return not any(p.code != WARNING for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        first, last = self.date_range or (None, None)
        return {
            "name": self.name,
            "preset": self.preset,
            "table": self.table,
            "rows": self.rows,
            "date": {
                "column": self.date_column,
                "format": self.date_format,
                "from_preset": self.date_from_preset,
                "first": first.isoformat() if first else None,
                "last": last.isoformat() if last else None,
            },
            "files": [f.to_dict() for f in self.files],
            "columns": [c.to_dict() for c in self.columns],
            "problems": [
                {"severity": "warning" if p.code == WARNING else "error", "code": p.code}
                | {"message": p.message, "location": p.location, "hint": p.hint}
                for p in self.problems
            ],
        }


def _issue(err: KpiError) -> Issue:
    return Issue.of(err, ERROR)


def _file_report(layout: Layout, part: Part | None) -> FileReport:
    from kpicli.ingest.parquet import is_parquet

    if is_parquet(layout.path):  # no encoding, dialect or header line: typed columns
        return _parquet_report(layout, part)
    period = None
    if layout.period is not None:
        p = layout.period
        period = {
            "text": p.text,
            "start": p.start.isoformat() if p.start else None,
            "end": p.end.isoformat() if p.end else None,
        }
    return FileReport(
        path=str(layout.path),
        encoding=layout.encoding,
        bom=layout.bom,
        delimiter=layout.delimiter,
        decimal=part.decimal if part else None,
        thousands=part.thousands if part else None,
        header_line=layout.header_line,
        rows_dropped={f"summary row `{k}`": n for k, n in layout.skipped.items()},
        preamble=list(layout.preamble),
        period=period,
        stated_rows=layout.stated_rows,
        inside=_inside(layout),
    )


def _parquet_report(layout: Layout, part: Part | None) -> FileReport:
    """A Parquet file: the decimal separator only when text columns hold numbers."""
    from kpicli.ingest.parquet import is_text

    numbers = part is not None and any(
        is_text(t) and k.name in ("number", "duration")
        for t, k in zip(part.types, part.kinds, strict=True)
    )
    return FileReport(
        path=str(layout.path),
        decimal=part.decimal if numbers and part is not None else None,
        thousands=part.thousands if numbers and part is not None else None,
        inside=[f"Parquet, {len(layout.header)} columns"],
    )


def _inside(layout: Layout) -> list[str]:
    """How a file was opened, the tables it holds, a doubt about its code page (issue 14,
    files: containers)."""
    from kpicli.ingest.containers import facts
    from kpicli.ingest.detect import CODE_PAGES, code_page_name

    said = facts(layout.path, layout.within)
    if layout.detected and layout.encoding in CODE_PAGES[1:] and not layout.doubt:
        said.append(f"code page detected: {code_page_name(layout.encoding)}")
    if layout.doubt:
        said.append(f"encoding {layout.doubt}")
    return said


def _count_rows(
    sf: SourceFrame,
    part: Part,
    layout: Layout,
    report: FileReport,
    notes: Notes | None,
    memo: ReadMemo,
) -> Issue | None:
    """Rows read and dropped (by reason) in one file; an Issue when it cannot be read."""
    lf = part.scan([layout], notes=notes, memo=memo)
    reason = part.reason()
    try:
        if reason is None:
            report.rows_read = int(lf.select(pl.len()).collect().item())
            return None
        counts = lf.select(reason.alias("reason")).group_by("reason").len().collect()
    except pl.exceptions.PolarsError as err:
        if misread_files([sf], notes=notes, memo=memo):
            raise _Misread from None
        located = locate_bad_value(sf, err)
        if located is not None:
            return _issue(located)
        return Issue(
            ERROR, f"cannot read {layout.path}: {engine_detail(err)}", Location(str(layout.path))
        )
    for why, n in counts.iter_rows():
        if why is None:
            report.rows_read = int(n)
        else:
            report.rows_dropped[why] = report.rows_dropped.get(why, 0) + int(n)
    if report.rows_read is None:
        report.rows_read = 0
    return None


def _columns(sf: SourceFrame) -> list[ColumnReport]:
    out = []
    for name, dtype in sf.schema.items():
        kind = sf.kinds.get(name)
        shown = kind.describe() if kind is not None else None
        if name in sf.date_formats:
            shown = f"date ({sf.date_formats[name]})"
        out.append(ColumnReport(name, str(dtype), sf.origins.get(name), shown))
    return out


def _read_all(sf: SourceFrame, report: SourceReport, notes: Notes | None, memo: ReadMemo) -> None:
    """Rows, date range and missing values of the whole source (every column parsed)."""
    date_col = report.date_column
    head = [pl.len().alias("__rows")]
    if date_col is not None:
        head += [pl.col(date_col).min().alias("__first"), pl.col(date_col).max().alias("__last")]
    nulls = [pl.col(c).null_count().alias(c) for c in sf.schema]
    try:
        row = sf.frame.select(*head, *nulls).collect().row(0, named=True)
    except pl.exceptions.PolarsError as err:
        if misread_files([sf], notes=notes, memo=memo):
            raise _Misread from None
        located = locate_bad_value(sf, err)
        report.problems.append(
            _issue(located)
            if located is not None
            else Issue(ERROR, f"source `{sf.name}`: cannot read the data: {engine_detail(err)}")
        )
        try:  # what can still be read: the rows and the dates
            row = sf.frame.select(*head).collect().row(0, named=True)
        except pl.exceptions.PolarsError:
            return
    report.rows = int(row["__rows"])
    if date_col is not None and row["__first"] is not None:
        report.date_range = (row["__first"], row["__last"])
    for col in report.columns:
        if col.name in row and col.name not in ("__rows", "__first", "__last"):
            col.missing = int(row[col.name])


def _uneven_columns(sf: SourceFrame) -> str:
    """The columns some files of a source lack, and which files ("" when none)."""
    files = sf.file_columns
    parts = []
    for col in sf.schema:
        holders = [f for f, cols in files.items() if col in cols]
        if not holders or len(holders) == len(files):
            continue
        few = len(holders) * 2 <= len(files)
        shown = holders if few else [f for f in files if f not in holders]
        listed = ", ".join(shown[:3]) + (f" and {len(shown) - 3} more" if len(shown) > 3 else "")
        parts.append(f"`{col}` {'only in' if few else 'not in'} {listed}")
    return "; ".join(parts)


class _Misread(Exception):
    """A file turned out to need the tolerant reader (:func:`misread_files`): describe the
    source again, that file read as `kpi report` reads it."""


def describe_source(
    cfg: Config, name: str, *, notes: Notes | None = None, memo: ReadMemo | None = None
) -> SourceReport:
    """The report of one source; problems are collected, never raised. ``notes`` gets the
    warnings of the reading (a file read the careful way…); ``memo``: what the reader
    remembers from one read of the files to the next (a fresh one when None)."""
    memo = memo if memo is not None else ReadMemo()
    src = cfg.sources[name]
    if src.table is not None:
        report = SourceReport(name, None, date_column=src.date, table=src.table)
        return _describe_table(cfg, report, notes, memo)
    found = preset_date(cfg, name, memo)
    if found is not None:  # the preset's date column, which the files have
        cfg = with_preset_dates(cfg, memo)
    try:
        report = _describe_source(cfg, name, notes, memo)
        report.date_from_preset = found is not None
        return report
    except _Misread:  # at most once per file of the source: a file is marked only once
        return describe_source(cfg, name, notes=notes, memo=memo)


def _describe_source(cfg: Config, name: str, notes: Notes | None, memo: ReadMemo) -> SourceReport:
    src = cfg.sources[name]
    preset = src.preset
    if preset in cfg.preset_files:  # a preset of the user's: say which file
        preset = f"{preset} ({cfg.preset_files[preset]})"
    report = SourceReport(name, preset, date_column=src.date)
    try:
        files = match_files(cfg, name, notes)
    except DataError as err:
        report.problems.append(_issue(err))
        return report
    layouts: list[Layout] = []
    for f in files:
        try:
            layouts += sniff_source(cfg, name, [f], notes, memo=memo)
        except DataError as err:
            report.files.append(FileReport(path=str(f)))
            report.problems.append(_issue(err))
    try:
        sf = scan_source(cfg, name, notes=notes, memo=memo)
        if mixed_encodings([sf], memo=memo):  # every row is read: bytes not UTF-8 first
            sf = scan_source(cfg, name, notes=notes, memo=memo)
    except KpiError as err:
        issue = _issue(err)
        if issue not in report.problems:  # a file that could not be sniffed, said once
            report.problems.append(issue)
        report.files += [_file_report(lay, None) for lay in layouts]
        _in_file_order(report, files)
        return report
    far = any(is_remote(f) for f in files)  # Spark reads the rows: not counted here
    _file_reports(sf, report, notes, memo, count=not far)
    _in_file_order(report, files)
    if uneven := _uneven_columns(sf):
        report.problems.append(
            Issue(
                WARNING,
                f"source `{name}`: its files do not all have the same columns: {uneven}; a "
                "report that uses one of these columns stops with an error naming the file "
                "that lacks it",
                cfg.where("sources", name, "path"),
                "rename the columns alike in every file (`rename:`), or narrow `path:`",
            )
        )
    report.columns = _columns(sf)
    if report.date_column is not None:
        report.date_format = sf.date_formats.get(report.date_column)
    if not far:
        _read_all(sf, report, notes, memo)
    return report


def _file_reports(
    sf: SourceFrame, report: SourceReport, notes: Notes | None, memo: ReadMemo, *, count: bool
) -> None:
    """Each file's report, its rows read and dropped counted (``count``), its problems."""
    for part in sf.parts:
        for layout in part.layouts:
            fr = _file_report(layout, part)
            issue = _count_rows(sf, part, layout, fr, notes, memo) if count else None
            report.problems += [issue] if issue is not None else []
            report.problems += _layout_warnings(layout, fr, counted=count and issue is None)
            report.files.append(fr)


def _describe_table(
    cfg: Config, report: SourceReport, notes: Notes | None, memo: ReadMemo
) -> SourceReport:
    """A `table:` source: its columns as declared (Spark reads its rows, not this)."""
    try:
        sf = scan_source(cfg, report.name, notes=notes, memo=memo)
    except KpiError as err:
        report.problems.append(_issue(err))
        return report
    report.columns = _columns(sf)
    if report.date_column is not None:
        report.date_format = sf.date_formats.get(report.date_column)
    return report


def _in_file_order(report: SourceReport, files: list[Any]) -> None:
    """The file reports in the order the files were matched."""
    order = {str(f): i for i, f in enumerate(files)}
    report.files.sort(key=lambda r: order.get(r.path, 0))


def _layout_warnings(layout: Layout, fr: FileReport, *, counted: bool) -> list[Issue]:
    """A file that looks truncated, or whose preamble states another number of rows than
    were read (``counted``: its rows could be counted)."""
    out = []
    if layout.truncated:
        out.append(
            Issue(
                WARNING,
                f"{layout.path} looks truncated: {layout.truncated}, without a final newline",
                Location(str(layout.path)),
                "download the export again if rows are missing",
            )
        )
    if counted and layout.stated_rows not in (None, fr.rows_read):
        out.append(
            Issue(
                WARNING,
                f"{layout.path} states {layout.stated_rows} rows in its preamble, "
                f"{fr.rows_read} were read",
                Location(str(layout.path)),
            )
        )
    return out


def describe_sources(
    cfg: Config,
    names: list[str] | None = None,
    *,
    notes: Notes | None = None,
    memo: ReadMemo | None = None,
) -> list[SourceReport]:
    """One report per source (all of them, or those named, in that order).

    An unknown name is a UsageError; anything wrong with a source's files or data is an
    Issue in its report; warnings about the reading go to ``notes``. ``memo``: what the
    reader remembers between reads of the files (one for all the sources; a fresh one when
    None).
    """
    memo = memo if memo is not None else ReadMemo()
    chosen = list(names) if names else list(cfg.sources)
    for n in chosen:
        if n not in cfg.sources:
            raise UsageError(
                f"unknown source `{n}`",
                hint=did_you_mean(n, cfg.sources)
                or f"declared sources: {', '.join(cfg.sources) or 'none'}",
            )
    from kpicli.execute.engine import remote_sources, spark_session

    if remote_sources(cfg, chosen):  # described through Spark's file system
        spark_session(cfg)
    return [describe_source(cfg, n, notes=notes, memo=memo) for n in dict.fromkeys(chosen)]


__all__ = ["ColumnReport", "FileReport", "SourceReport", "describe_source", "describe_sources"]
