"""`kpi clean FILE`: one export read as kpi reads it, written back as plain CSV.

The file is read whole by the tolerant reader (:mod:`kpicli.ingest.repair`): the
encoding, dialect, header row, preamble, footer and summary rows are detected (or taken from
the options), broken rows are repaired or padded, and the table comes out as UTF-8,
comma-separated, RFC 4180 CSV (quotes only where needed, CRLF line ends) with one header
row. Cells are never converted: a number, a date or a missing marker is written as the
file has it, so that another tool (or a person) sees exactly what kpi read.

With a preset, its summary rows are dropped too and the header holds the preset's
canonical column names (what the KPIs of a config refer to).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

from kpicli.errors import DataError, Location, OutputError, UsageError, did_you_mean
from kpicli.ingest.detect import SniffError
from kpicli.ingest.repair import Table, read_table
from kpicli.inputs import MAX_LINE_BYTES, NotRegular, long_line, open_regular
from kpicli.spec.presets import PRESETS, SUMMARY_ROWS, canonical_names

__all__ = ["DELIMITERS", "ENCODINGS", "Cleaned", "check_output", "clean_file", "config_inputs"]

DELIMITERS = {"auto": "auto", ",": ",", ";": ";", "\\t": "\t", "\t": "\t", "tab": "\t"}
DELIMITERS |= {"|": "|", "space": " ", " ": " "}
ENCODINGS = ("auto", "utf-8", "utf-16", "cp1252", "latin-1")


@dataclass
class Cleaned:
    """The clean CSV of one file and how it was read."""

    path: Path
    data: bytes
    table: Table
    empty: bool = False


def _codec(name: str) -> bool:
    """Whether ``name`` is a Python text codec (``cp1253``, ``shift_jis``…)."""
    import codecs

    try:
        return getattr(codecs.lookup(name), "_is_text_encoding", True)
    except LookupError:
        return False


def _options(
    delimiter: str, decimal: str, encoding: str, skip_rows: str, date_format: str
) -> tuple[str, str, int | str]:
    if delimiter not in DELIMITERS:
        raise UsageError(
            f"invalid --delimiter `{delimiter}`",
            hint='one of auto, ",", ";", tab, "|", space',
        )
    if decimal not in ("auto", ".", ","):
        raise UsageError(f"invalid --decimal `{decimal}`", hint='auto, "." or ","')
    if encoding not in ENCODINGS and not _codec(encoding):
        raise UsageError(
            f"invalid --encoding `{encoding}`",
            hint=did_you_mean(encoding, ENCODINGS)
            or f"one of {', '.join(ENCODINGS)}, or any Python codec (cp1253, shift_jis…)",
        )
    skip: int | str = "auto"
    if skip_rows != "auto":
        try:
            skip = int(skip_rows)
        except ValueError:
            skip = -1
        if not isinstance(skip, int) or skip < 0:
            raise UsageError(
                f"invalid --skip-rows `{skip_rows}`", hint="auto, or the lines above the header"
            )
    if date_format != "auto" and "%" not in date_format:
        raise UsageError(
            f"invalid --date-format `{date_format}`",
            hint='auto, or a strftime pattern such as "%d/%m/%Y"',
        )
    return DELIMITERS[delimiter], encoding, skip


def clean_file(
    path: str | Path,
    *,
    delimiter: str = "auto",
    decimal: str = "auto",
    encoding: str = "auto",
    skip_rows: str = "auto",
    date_format: str = "auto",
    preset: str | None = None,
) -> Cleaned:
    """Read ``path`` tolerantly and render it as clean CSV bytes.

    ``decimal`` and ``date_format`` are checked but change nothing: cells are written as they
    are. Raises UsageError for a bad option, DataError when the file cannot be read.
    """
    delim, enc, skip = _options(delimiter, decimal, encoding, skip_rows, date_format)
    chosen = None
    if preset is not None:
        if preset not in PRESETS:
            raise UsageError(
                f"unknown preset `{preset}`",
                hint=did_you_mean(preset, PRESETS) or f"known presets: {', '.join(PRESETS)}",
            )
        chosen = PRESETS[preset]
    file = Path(path)
    data = _read_bytes(file)
    summary = SUMMARY_ROWS + (chosen.summary_rows if chosen else ())
    try:
        table = read_table(data, encoding=enc, delimiter=delim, skip_rows=skip, summary=summary)
    except SniffError as err:
        raise DataError(str(err), location=Location(str(file)), hint=err.hint) from None
    if not table.header_line:
        return Cleaned(file, b"", table, empty=True)
    header = table.header
    if chosen is not None:
        header = canonical_names(chosen, _dedupe(header))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(table.rows)
    return Cleaned(file, out.getvalue().encode("utf-8"), table)


def _read_bytes(file: Path) -> bytes:
    """The bytes of a regular file, or a DataError (no such file, not a regular file, a
    line too long for an export, unreadable)."""
    from kpicli.ingest.containers import ContainerError, open_packed

    try:
        packed = open_packed(file)  # a .gz, a zip's table, a sheet: its CSV, in memory
        if packed is not None:
            return packed
    except ContainerError as err:
        kind = UsageError if err.config else DataError
        raise kind(str(err), location=Location(str(file)), hint=_member_hint(err)) from None
    except OSError:
        pass  # said below, as for any file
    try:
        long = long_line(file)  # before the whole file is read: an endless line is refused
        if long is not None:
            raise DataError(
                f"line {long[0]} is longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB "
                "(no export has such lines)",
                location=Location(str(file), long[0]),
                hint="this is not a CSV export, or its line ends are not \\n, \\r\\n or \\r",
            )
        with open_regular(file) as handle:  # read-only: the input is never modified
            return handle.read()
    except FileNotFoundError:
        raise DataError("no such file", location=Location(str(file))) from None
    except NotRegular as err:
        raise DataError(
            f"is {err.what}, not a regular file",
            location=Location(str(file)),
            hint="kpi clean reads a regular file (save the export to a file first)",
        ) from None
    except OSError as err:
        raise DataError(
            f"cannot read: {err.strerror or err}", location=Location(str(file))
        ) from None


def _member_hint(err: Exception) -> str | None:
    """A packed file's hint for `kpi clean`: a zip member is named under the zip."""
    if getattr(err, "config", None) == "member":
        return "name the member after the zip: kpi clean export.zip/Queries.csv"
    return getattr(err, "hint", None)


def _dedupe(header: list[str]) -> list[str]:
    from kpicli.ingest.scan import dedupe

    return dedupe(header)


def _same(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file: the same real path, or the same inode (hard link)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def check_output(
    output: str | Path,
    inputs: list[str | Path] | list[tuple[str | Path, str]],
    *,
    hint: str = "write the clean file to another path",
) -> None:
    """An OutputError when ``output`` is one of the ``inputs`` (never written over), compared
    by real path (through symbolic links) and by inode (hard links). ``inputs`` are paths, or
    ``(path, what)`` pairs where ``what`` names the file in the message ("the configuration")."""
    for item in inputs:
        path, what = item if isinstance(item, tuple) else (item, "the input file")
        if _same(output, path):
            raise OutputError(
                f"the output would overwrite {what} ({path})",
                location=Location(str(output)),
                hint=hint,
            )


def config_inputs(config: str | Path | None) -> list[tuple[Path, str]]:
    """The files a configuration stands on, ``(path, what)``: the config file itself (found as
    `kpi report` finds it: ``--config``, ``$KPI_CONFIG``, ``./kpi_config.yaml``) and every file
    any of its sources matches, used by the report or not. Nothing when there is no config;
    only the config file when it does not load (a broken config is still an input)."""
    from kpicli.errors import KpiError
    from kpicli.ingest.scan import iglob
    from kpicli.spec.config import find_config, load_config

    path = find_config(str(config) if config is not None else None)
    if not path.is_file():
        return []
    found: list[tuple[Path, str]] = [(path, "the configuration")]
    try:
        cfg = load_config(path)
    except KpiError:
        return found
    seen: set[tuple[int, int]] = set()
    for name, src in cfg.sources.items():
        for pattern in src.path:
            full = Path(pattern).expanduser()
            if not full.is_absolute():
                full = cfg.base_dir / full
            for hit in iglob(str(full)):  # loop-safe: each real folder walked once
                try:
                    st = os.stat(hit)
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    found.append((Path(hit), f"a file of source `{name}`"))
    return found
