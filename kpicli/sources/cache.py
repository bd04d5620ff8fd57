"""An opt-in cache of parsed sources and of their daily aggregates, as Parquet.

``--cache DIR`` or ``settings.cache``. Two kinds of entries, each one Parquet file:

- **source** (``kpi-source-…``): a source's parsed frame (after detection, rename, derive,
  date parsing and its filter). Keyed by everything that shapes it: each file's resolved
  path, size and modification time, the source's options, its date columns, and the versions
  of kpi and Polars; all known *before* the files are sniffed, so a hit reads neither the
  CSV files nor their samples: the schema comes from the Parquet footer, the rest of what
  the sniffing found (the header as written, date formats, the warnings it gave) from the
  file's key-value metadata.
- **daily** (``kpi-daily-…``): the partial aggregates of one aggregation (the SUMs, COUNTs,
  MINs and MAXs its formulas decompose into; see :func:`kpicli.formula.decompose`) per day
  of its date column and per ``--by`` value, computed from the source entry. Keyed by the
  source entry's key, the date column, the dimensions, ``--where``, the formulas and, when
  the source has other date columns (nulled after ``--as-of``), the as-of date. Any period,
  grain or comparison is then re-aggregated from these few thousand rows.

A changed file or option is simply another key (old entries are left for `kpi cache
clear`). Entries are written to a temporary file and linked into place: of two runs racing
to fill the same entry, the first one's file is kept (and never replaced while valid, since
the other may be reading it); a corrupt or truncated entry is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from kpicli.config import Config
from kpicli.errors import DataError, OutputError, engine_detail
from kpicli.sources import notices
from kpicli.sources.read import (
    SourceFrame,
    date_columns,
    locate_bad_value,
    match_files,
    misread_files,
    mixed_encodings,
    scan_source,
)

SUFFIX = ".parquet"
PREFIX = "kpi-source-"
DAILY_PREFIX = "kpi-daily-"
PREFIXES = (PREFIX, DAILY_PREFIX)
#: Key of the key-value metadata kpi writes in each entry (its own key and what it knows).
META = "kpi"


class _Misread(Exception):
    """A file of the source needs the tolerant reader (see :func:`misread_files`)."""


def _hash(material: dict[str, Any]) -> str:
    blob = json.dumps(material, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:32]


def source_key(cfg: Config, name: str, files: list[Path]) -> str:
    """A hash of every input of a source's parsed frame (no file is opened: stat only)."""
    from kpicli import __version__

    stats = []
    for f in files:
        st = f.stat()
        stats.append([str(f.resolve()), st.st_size, st.st_mtime_ns])
    return _hash(
        {
            "kpi": __version__,
            "polars": pl.__version__,
            "options": cfg.sources[name].model_dump(mode="json"),
            "date_columns": list(date_columns(cfg, name)),
            "files": stats,
        }
    )


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _meta(path: Path, key: str) -> dict[str, Any] | None:
    """kpi's metadata of a complete entry written under ``key``; None when the file is
    missing, truncated, corrupt or someone else's (only the footer is read)."""
    try:
        meta = json.loads(pl.read_parquet_metadata(path)[META])
    except Exception:  # missing, truncated, not Parquet, no or bad metadata
        return None
    return meta if isinstance(meta, dict) and meta.get("key") == key else None


def _mkdir(cache_dir: Path) -> None:
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(
            f"cannot create the cache directory: {err.strerror}",
            location=str(cache_dir),
            hint="choose a writable --cache directory",
        ) from None


def cached_source(cfg: Config, name: str, cache_dir: Path, *, typed_dates: bool) -> SourceFrame:
    """A source read from its cache entry; parsed (and the entry written) when missing."""
    _mkdir(cache_dir)
    files = match_files(cfg, name)
    key = source_key(cfg, name, files)
    path = cache_dir / f"{PREFIX}{_safe(name)}-{key}{SUFFIX}"
    meta = _meta(path, key)
    if meta is None:
        with notices.recording() as said:
            sf = scan_source(cfg, name, typed_dates=typed_dates)
        meta = {
            "key": key,
            "header": sf.header,
            "preset": sf.preset,
            "origins": sf.origins,
            "date_formats": sf.date_formats,
            "file_columns": sf.file_columns,
            "notices": list(dict.fromkeys(said)),
        }

        def careful() -> pl.LazyFrame:
            mixed_encodings([sf])  # bytes past a sample that are not UTF-8: line by line
            with notices.recording() as again:
                frame = scan_source(cfg, name, typed_dates=False).frame
            meta["notices"] = list(dict.fromkeys([*meta["notices"], *again]))
            return frame

        try:
            _write(sf.frame, path, meta, sf, careful)
        except _Misread:  # a file needs the tolerant reader: parse the source again
            return cached_source(cfg, name, cache_dir, typed_dates=typed_dates)
        frame = pl.scan_parquet(path)
        return replace(sf, frame=frame, schema=dict(frame.collect_schema()))
    for message in meta.get("notices", []):
        notices.notice(message)
    frame = pl.scan_parquet(path)
    return SourceFrame(
        name,
        files,
        frame,
        dict(frame.collect_schema()),
        date_columns(cfg, name),
        list(meta.get("header", [])),
        preset=meta.get("preset"),
        origins=dict(meta.get("origins", {})),
        date_formats=dict(meta.get("date_formats", {})),
        file_columns={f: tuple(c) for f, c in meta.get("file_columns", {}).items()},
    )


def daily_entry(
    cache_dir: Path, cfg: Config, sf: SourceFrame, material: dict[str, Any], daily: pl.LazyFrame
) -> pl.LazyFrame:
    """The daily partial aggregates of one aggregation (``daily``, over the source entry),
    from the cache, or computed and written first."""
    key = _hash({"source": source_key(cfg, sf.name, sf.files), **material})
    path = cache_dir / f"{DAILY_PREFIX}{_safe(sf.name)}-{key}{SUFFIX}"
    if _meta(path, key) is None:
        _write(daily, path, {"key": key}, sf, None)
    return pl.scan_parquet(path)


def _write(
    frame: pl.LazyFrame,
    path: Path,
    meta: dict[str, Any],
    sf: SourceFrame,
    fallback: Callable[[], pl.LazyFrame] | None,
) -> None:
    """``frame`` sunk to ``path`` atomically (see :func:`_publish`), with kpi's metadata;
    ``fallback()`` gives the frame to write instead when the fast reading of ``frame`` fails
    on the data."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        metadata = {META: json.dumps(meta, sort_keys=True)}
        try:
            frame.sink_parquet(tmp, metadata=metadata)
        except pl.exceptions.PolarsError:
            if fallback is None:
                raise
            # a date cell past the sample that the CSV reader cannot parse (read it as text),
            # bytes past it that are not UTF-8 (read line by line): read again, carefully
            careful = fallback()
            metadata = {META: json.dumps(meta, sort_keys=True)}
            careful.sink_parquet(tmp, metadata=metadata)
        _publish(tmp, path, meta["key"])
    except pl.exceptions.PolarsError as err:
        if misread_files([sf]):  # marked for the tolerant reader: the caller parses again
            raise _Misread from None
        raise locate_bad_value(sf, err) or DataError(
            f"source `{sf.name}`: {engine_detail(err)}",
            location=", ".join(str(f) for f in sf.files),
        ) from None
    except OSError as err:
        raise OutputError(
            f"cannot write the cache entry: {err.strerror}", location=str(path)
        ) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _publish(tmp: str, path: Path, key: str) -> None:
    """Put a complete file at ``path``; the first run to get there wins.

    An entry is never replaced while it is valid: another run may be reading it (Polars
    reads a Parquet file's footer when the plan is built and its pages at collect, so a
    file swapped in between, with the same rows laid out differently, would not read). So
    the file is hard-linked into place, which fails when a racing run already put its own
    there (that one is kept); only a corrupt entry is replaced.
    """
    try:
        os.link(tmp, path)
    except FileExistsError:
        if _meta(path, key) is None:  # corrupt: replaced
            os.replace(tmp, path)
    except OSError:  # a file system without hard links
        os.replace(tmp, path)


def clear(cache_dir: Path) -> int:
    """Remove every cache entry, the formulas' memo (``kpi-formulas.json``, see
    :func:`kpicli.formula.use_memo`) and stray temporary files; the number removed."""
    if not cache_dir.is_dir():
        return 0
    from kpicli.formula import MEMO_FILE

    removed = 0
    for p in cache_dir.iterdir():
        is_entry = (p.name.startswith(PREFIXES) and p.name.endswith(SUFFIX)) or p.name == MEMO_FILE
        temps = (*(f".{x}" for x in PREFIXES), f".{MEMO_FILE}.")
        is_tmp = p.name.startswith(temps) and p.name.endswith(".tmp")
        if p.is_file() and (is_entry or is_tmp):
            p.unlink()
            removed += 1
    return removed
