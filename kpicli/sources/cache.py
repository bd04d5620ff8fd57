"""An opt-in cache of parsed sources, as Parquet (``--cache DIR`` or ``settings.cache``).

A source's parsed frame (after detection, rename, derive, date parsing and its filter) is
written once as Parquet; later reports scan the Parquet file instead of parsing the CSV
exports again. An entry is keyed by everything that shapes the frame: each file's resolved
path, size and modification time, the source's options, and the versions of kpi and Polars.
A changed file or option is simply another key (the old entry is left for `kpi cache clear`).
Entries are written to a temporary file and renamed, so two runs racing to fill the same
entry each leave a complete file; a corrupt or truncated entry is removed and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path

import polars as pl

from kpicli.config import Config
from kpicli.errors import DataError, OutputError
from kpicli.sources.read import SourceFrame, locate_bad_value, scan_source

SUFFIX = ".parquet"
PREFIX = "kpi-source-"


def entry_key(cfg: Config, sf: SourceFrame) -> str:
    """A hash of every input of a source's parsed frame."""
    from kpicli import __version__

    files = []
    for f in sf.files:
        st = f.stat()
        files.append([str(f.resolve()), st.st_size, st.st_mtime_ns])
    material = {
        "kpi": __version__,
        "polars": pl.__version__,
        "options": cfg.sources[sf.name].model_dump(mode="json"),
        "date_columns": list(sf.date_columns),
        "files": files,
    }
    blob = json.dumps(material, sort_keys=True).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:32]


def entry_path(cache_dir: Path, cfg: Config, sf: SourceFrame) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in sf.name)
    return cache_dir / f"{PREFIX}{safe}-{entry_key(cfg, sf)}{SUFFIX}"


def _valid(path: Path, schema: dict[str, pl.DataType]) -> bool:
    """A complete entry with the expected columns (Parquet's footer is read, not the data)."""
    try:
        return dict(pl.read_parquet_schema(path)) == schema
    except Exception:  # truncated, corrupt, or not Parquet at all
        return False


def use_cache(cfg: Config, sf: SourceFrame, cache_dir: Path) -> SourceFrame:
    """The source read from its cache entry, written first when missing or invalid."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(
            f"cannot create the cache directory: {err.strerror}",
            location=str(cache_dir),
            hint="choose a writable --cache directory",
        ) from None
    path = entry_path(cache_dir, cfg, sf)
    if path.exists() and not _valid(path, sf.schema):
        path.unlink(missing_ok=True)
    if not path.exists():
        try:
            _write(sf, path)
        except DataError:
            if not any(p.typed_dates for p in sf.parts):
                raise
            # a date cell past the sample the CSV reader cannot parse: read it as text
            _write(scan_source(cfg, sf.name, typed_dates=False), path)
    return replace(sf, frame=pl.scan_parquet(path))


def _write(sf: SourceFrame, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        sf.frame.sink_parquet(tmp)
        os.replace(tmp, path)
    except pl.exceptions.PolarsError as err:
        raise locate_bad_value(sf, err) or DataError(
            f"source `{sf.name}`: {str(err).strip().splitlines()[0]}",
            location=", ".join(str(f) for f in sf.files),
        ) from None
    except OSError as err:
        raise OutputError(
            f"cannot write the cache entry: {err.strerror}", location=str(path)
        ) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def clear(cache_dir: Path) -> int:
    """Remove every cache entry (and stray temporary files); the number removed."""
    if not cache_dir.is_dir():
        return 0
    removed = 0
    for p in cache_dir.iterdir():
        is_entry = p.name.startswith(PREFIX) and p.name.endswith(SUFFIX)
        is_tmp = p.name.startswith(f".{PREFIX}") and p.name.endswith(".tmp")
        if p.is_file() and (is_entry or is_tmp):
            p.unlink()
            removed += 1
    return removed
