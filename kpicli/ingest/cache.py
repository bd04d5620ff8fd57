"""An opt-in cache of parsed sources and of their daily aggregates, that trusts nothing it reads.

``--cache DIR`` or ``settings.cache``. Two kinds of entries:

- **source** (``kpi-source-…``): a source's parsed frame (after detection, rename, derive,
  date parsing and its filter). Keyed by everything that shapes it: each file's resolved
  path, size, modification and change times and inode, the source's options, its date
  columns, and the versions of kpi (and of its code) and Polars; all known *before* the
  files are sniffed, so a hit reads neither the CSV files nor their samples: the schema and
  what the sniffing found (the header as written, date formats, the warnings it gave) are in
  the entry's signature.
- **daily** (``kpi-daily-…``): the partial aggregates of one aggregation (the SUMs, COUNTs,
  MINs and MAXs its formulas decompose into; see :func:`kpicli.spec.formula.decompose`) per day
  of its date column and per ``--by`` value, computed from the source entry. Keyed by the
  source entry's key, the date column, the dimensions, ``--where``, the formulas and, when
  the source has other date columns (nulled after ``--as-of``), the as-of date. Any period,
  grain or comparison is then re-aggregated from these few thousand rows.

**Trust.** A cache folder may be shared (``/var/cache/kpi``) or damaged: nothing read back
from it is obeyed unless it is proven to be what this user's kpi wrote for these very
inputs. Each entry is two files:

- its *signature*, ``kpi-source-NAME-KEY.json`` (or ``kpi-daily-…``): the entry's key and
  kind, what is known about its data (schema; for a source, what the sniffing found), and
  the SHA-256 and size of the data file; under an HMAC-SHA256, with the user's secret key,
  of the file's name and content. The name binds the signature to its key: an entry renamed
  or swapped with another does not verify;
- its *data*, a Parquet file named by an HMAC of its SHA-256 (``kpi-data-….parquet``).

The formulas' memo (``kpi-formulas-….json``, :class:`kpicli.spec.formula.Memo`) is kept in the
same folder under an HMAC with a key of its own, derived from the user's and bound to kpi's
code.

KEY itself is an HMAC of the entry's inputs, so the entries of users sharing a folder have
different names and never collide. The secret key (32 random bytes) is
``$XDG_STATE_HOME/kpi/cache-key`` (default ``~/.local/state/kpi/cache-key``), created 0600
in a 0700 folder, and used only when it is a regular file of this user that nobody else can
read or write; when that folder cannot be written (a read-only home), ``DIR/.kpi-cache-key``
instead, but only when DIR is this user's and nobody else can write it. Else the cache is
off (with a warning).

**Cost.** A hit reads and verifies the small signatures only. A data file is verified
(its SHA-256 recomputed, about 1 s per GB) only when its rows are read: a daily entry's
(small) whenever it is used, a source entry's when a report aggregates its rows (its daily
entry missing, or formulas that do not decompose). Each data file is read through one
descriptor opened when its signature is checked, so what was verified is what Polars
reads (``/proc/self/fd/N``; where there is no such path, the verified bytes are read into
memory): a concurrent ``kpi cache clear``, or another run replacing the file, cannot change
it or make it vanish mid-query. (Data files are created 0600 and must not be writable by
others: only their owner could change them in place.)

**Failures.** An entry that does not verify (changed, truncated, swapped, unreadable, not a
regular file) is rebuilt, with a warning naming it. A folder that cannot be used (not a
folder, not creatable or not readable, no key; or, when an entry must be written,
read-only or full) makes the rest of the run go without the cache, with one warning naming
the folder and the reason; a report never fails because of its cache (a read-only folder
of valid entries is used as it is). Entries are written to temporary files and renamed
into place; a run that replaces an entry another run is reading does not disturb it (that
one holds its data file open). Old entries, and data files no signature names any more,
stay until ``kpi cache clear``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import json
import os
import re
import tempfile
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from kpicli.errors import DataError, Location, Notes, OutputError, engine_detail
from kpicli.ingest.memo import ReadMemo
from kpicli.ingest.scan import (
    SourceFrame,
    date_columns,
    locate_bad_value,
    match_files,
    misread_files,
    mixed_encodings,
    scan_source,
    warn,
)
from kpicli.inputs import open_fd
from kpicli.spec.config import Config

if TYPE_CHECKING:
    from kpicli.spec.formula import Memo

PREFIX = "kpi-source-"
DAILY_PREFIX = "kpi-daily-"
DATA_PREFIX = "kpi-data-"
PREFIXES = (PREFIX, DAILY_PREFIX, DATA_PREFIX)
#: Suffix of a signature, and of a data file.
SIGNED, SUFFIX = ".json", ".parquet"
#: The secret key's file, in the state folder; in the cache folder (see the module's doc).
KEY_FILE, FOLDER_KEY_FILE = "cache-key", ".kpi-cache-key"
#: The layout of entries (part of every key: a new layout is a new set of entries).
FORMAT = 2
#: A signature is never larger (it holds a schema and a few warnings).
MAX_SIGNED = 64 << 20
#: Descriptors let a verified data file be read by Polars; elsewhere it is read into memory.
_FD_PATHS = Path("/proc/self/fd").is_dir()
_OS_ERROR = re.compile(r"\(os error (\d+)\)")


class _Misread(Exception):
    """A file of the source needs the tolerant reader (see :func:`misread_files`)."""


class _Unusable(Exception):
    """The cache folder cannot be used in this run (the message says why)."""


# ---------------------------------------------------------------------------- the key


def state_dir() -> Path:
    """Where kpi keeps what belongs to the user and not to a cache folder (its key)."""
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "kpi"


def _private(st: os.stat_result) -> str | None:
    """Why a regular file with this status cannot hold a secret (None: it can)."""
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        return "owned by another user"
    if st.st_mode & 0o077:
        return "readable or writable by others (chmod 600 it, or remove it for a new one)"
    return None


def _read_key(path: Path) -> bytes | None:
    """The key in ``path``; None when there is none; _Unusable when it cannot be trusted."""
    try:
        fd = open_fd(path, follow_links=False)  # a link, FIFO or device is refused
    except FileNotFoundError:
        return None
    except OSError as err:
        raise _Unusable(f"cannot read the key {path}: {err.strerror}") from None
    try:
        problem = _private(os.fstat(fd))
        if problem:
            raise _Unusable(f"the key {path} is {problem}")
        key = os.read(fd, 64)
    finally:
        os.close(fd)
    if len(key) != 32:
        raise _Unusable(f"the key {path} is damaged (remove it: a new one is made)")
    return key


def _make_key(folder: Path, name: str) -> bytes:
    """The key in ``folder/name``, created first when there is none (race-free)."""
    path = folder / name
    key = _read_key(path)
    if key is not None:
        return key
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")  # 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(32))
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):  # another run made one: theirs is the key
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    key = _read_key(path)
    if key is None:
        raise _Unusable(f"the key {path} vanished")
    return key


def _secret(cache_dir: Path) -> bytes:
    """The user's secret key for ``cache_dir`` (see the module's doc)."""
    try:
        home = state_dir()
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        return _make_key(home, KEY_FILE)
    except (OSError, RuntimeError, KeyError) as err:  # no home, read-only home…
        why = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    st = os.stat(cache_dir)
    mine = not hasattr(os, "geteuid") or st.st_uid == os.geteuid()
    if not mine or st.st_mode & 0o022:
        raise _Unusable(
            f"no place for kpi's key ({why} in the state folder, $XDG_STATE_HOME/kpi), "
            "and the cache folder is not yours alone"
        )
    try:
        return _make_key(cache_dir, FOLDER_KEY_FILE)
    except OSError as err:
        raise _Unusable(f"cannot create kpi's key: {err.strerror}") from None


# ---------------------------------------------------------------------------- keys


def _code() -> str:
    """kpi's own code (:func:`kpicli.usercache.code_digest`): a development copy edited
    under the same version number makes new entries."""
    from kpicli.usercache import code_digest

    return code_digest()


def source_material(cfg: Config, name: str, files: list[Path]) -> dict[str, Any]:
    """Every input of a source's parsed frame (no file is opened: stat only). The change
    time and inode catch a file rewritten with its size and modification time kept."""
    from kpicli.ingest.containers import real_file
    from kpicli.version import __version__

    stats = []
    for f in files:  # a zip member: its zip's (the member's name is in the path)
        st = real_file(f).stat()
        stats.append([str(f.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino])
    material = {
        "format": FORMAT,
        "kpi": __version__,
        "code": _code(),
        "polars": pl.__version__,
        "options": cfg.sources[name].model_dump(mode="json"),
        "date_columns": list(date_columns(cfg, name)),
        "timezone": cfg.settings.timezone,  # the calendar zoned date-times are dated in
        "files": stats,
    }
    preset = cfg.sources[name].preset
    if preset in cfg.preset_files:  # a preset of the user's: its content, not only its name
        material["user_preset"] = repr(cfg.presets[preset])
    return material


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:80]


def _os_error(err: Exception) -> OSError | None:
    """The I/O error behind a Polars error (a full disk while writing…), if it is one."""
    found = _OS_ERROR.search(str(err))
    if found is None:
        return None
    code = int(found.group(1))
    return OSError(code, os.strerror(code))


# ---------------------------------------------------------------------------- data files


class _Data:
    """A data file opened once: what was verified is what is read. The descriptor is
    closed when nothing refers to this object any more (the frames reading it do)."""

    def __init__(self, fd: int, path: Path, sha: str, size: int, ok: bool | None = None):
        self.fd, self.path, self.sha, self.size, self.ok = fd, path, sha, size, ok
        weakref.finalize(self, os.close, fd)

    def verify(self) -> bool:
        """Whether the file's bytes are those its signature names (hashed once)."""
        if self.ok is None:
            digest, size = _digest(self.fd)
            self.ok = size == self.size and hmac.compare_digest(digest, self.sha)
        return self.ok

    def read(self) -> bytes | None:
        """The whole file, when it is what its signature names (a small file)."""
        blob = os.pread(self.fd, self.size + 1, 0)
        digest = hashlib.sha256(blob).hexdigest()
        self.ok = len(blob) == self.size and hmac.compare_digest(digest, self.sha)
        return blob if self.ok else None

    def signed(self) -> dict[str, Any]:
        """What a signature says of this file."""
        return {"data": self.path.name, "sha256": self.sha, "size": self.size}

    def scan(self) -> pl.LazyFrame:
        """The rows (call only while this object is alive, after :meth:`verify`)."""
        if _FD_PATHS:
            return pl.scan_parquet(f"/proc/self/fd/{self.fd}")
        return pl.scan_parquet(io.BytesIO(os.pread(self.fd, self.size, 0)))


def _digest(fd: int) -> tuple[str, int]:
    h = hashlib.sha256()
    pos = 0
    while chunk := os.pread(fd, 1 << 22, pos):
        h.update(chunk)
        pos += len(chunk)
    return h.hexdigest(), pos


def _reader(
    entry: Path,
    data: _Data,
    schema: dict[str, pl.DataType],
    fallback: Callable[[], pl.LazyFrame],
    notes: Notes | None,
) -> pl.LazyFrame:
    """A lazy frame over a source entry's data that verifies it before the first read (the
    frame holds ``data``, so its descriptor lives as long as any plan reading it)."""
    from polars.io.plugins import register_io_source

    def read(
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        if data.verify():
            lf = data.scan()
        else:  # normally caught by Cache.rows before the query runs
            warn(notes, f"cache entry {entry}: {_changed(data.path)}; read the files instead")
            lf = fallback()
        if with_columns is not None:
            lf = lf.select(with_columns)
        if predicate is not None:
            lf = lf.filter(predicate)
        if n_rows is not None:
            lf = lf.head(n_rows)
        yield from lf.collect_batches(chunk_size=batch_size)

    return register_io_source(
        read, schema=schema, is_pure=True, explain_name="kpi cache", explain_detail=data.path.name
    )


def _changed(data: Path) -> str:
    return f"its data {data.name} is not what its signature names (changed, or corrupt)"


def _schema_text(schema: dict[str, pl.DataType]) -> str:
    buf = io.BytesIO()
    pl.DataFrame(schema=schema).write_ipc(buf)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _schema_of(text: str) -> dict[str, pl.DataType]:
    return dict(pl.read_ipc_schema(io.BytesIO(base64.b64decode(text, validate=True))))


# ---------------------------------------------------------------------------- the cache


@dataclass
class _Source:
    """A source served by the cache in this run (to verify, or rebuild, its data)."""

    data: _Data
    frame: pl.LazyFrame
    cfg: Config
    key: str
    signature: Path


@dataclass
class Cache:
    """One run's use of a cache folder (see :func:`open_cache`)."""

    folder: Path
    secret: bytes
    broken: str | None = None  # why the rest of the run goes without the cache
    notes: Notes | None = None  # the run's warnings (a rebuilt entry…)
    #: what the reader remembers between reads of the files (the run's: see open_cache)
    read_memo: ReadMemo = field(default_factory=ReadMemo)
    _sources: dict[str, _Source] = field(default_factory=dict)
    _memo: Memo | None = None

    # -- what the engine calls

    def memo(self) -> Memo:
        """The formulas' memo kept in the folder (:class:`kpicli.spec.formula.Memo`: used
        inside ``with``, saved by whoever uses it), read once per run; a file that was not
        obeyed is rebuilt, with a warning."""
        if self._memo is None:
            from kpicli.spec.formula import Memo

            # a key of its own, bound to kpi's code: a memo of other code is another file
            secret = hmac.new(self.secret, b"kpi formulas\0" + _code().encode(), "sha256").digest()
            self._memo, problem = Memo.load(self.folder, secret)
            if problem:
                self._rebuilt(self._memo.path, problem)
        return self._memo

    def source(self, cfg: Config, name: str) -> SourceFrame:
        """A source read from its cache entry; parsed (and the entry written) when missing,
        when its signature does not verify, or when the cache is not usable any more. A
        source parsed is read the fast way (plain ISO dates parsed by the CSV reader: see
        :func:`~kpicli.ingest.scan.scan_source`), the careful way when that fails."""
        if self.broken:
            return scan_source(cfg, name, typed_dates=True, notes=self.notes, memo=self.read_memo)
        files = match_files(cfg, name, self.notes)
        key = self._key(source_material(cfg, name, files))
        path = self.folder / f"{PREFIX}{_safe(name)}-{key}{SIGNED}"
        signed, problem = self._signed(path, "source", key)
        if signed is not None:
            data, problem = self._data(signed)
            if data is not None:
                try:
                    schema = _schema_of(signed["schema"])
                    meta = signed["meta"]
                    sf = SourceFrame(
                        name,
                        files,
                        pl.LazyFrame(),  # replaced below
                        schema,
                        date_columns(cfg, name),
                        list(meta["header"]),
                        preset=meta["preset"],
                        origins=dict(meta["origins"]),
                        date_formats=dict(meta["date_formats"]),
                        file_columns={f: tuple(c) for f, c in meta["file_columns"].items()},
                        stated={f: tuple(p) for f, p in meta.get("stated", {}).items()},
                    )
                    said = list(meta["notices"])
                except (KeyError, TypeError, ValueError, pl.exceptions.PolarsError):
                    problem = "its signature does not hold what kpi writes"  # a kpi bug
                else:
                    for message in said:
                        warn(self.notes, message)
                    return self._serve(sf, cfg, data, key, path)
        if problem:
            self._rebuilt(path, problem)
        return self._fill(cfg, name, key, path)

    def rows(self, sf: SourceFrame) -> pl.LazyFrame:
        """The frame to read a source's rows from: its entry's data once verified (a
        changed entry is rebuilt from the files, with a warning), else ``sf.frame``."""
        served = self._sources.get(sf.name)
        if served is None:
            return sf.frame
        if served.data.verify():
            return served.frame
        self._rebuilt(served.signature, _changed(served.data.path))
        del self._sources[sf.name]
        fresh = self._fill(served.cfg, sf.name, served.key, served.signature)
        return fresh.frame

    def daily(
        self,
        sf: SourceFrame,
        material: dict[str, Any],
        build: Callable[[pl.LazyFrame], pl.LazyFrame],
    ) -> pl.LazyFrame:
        """The daily partial aggregates of one aggregation (``build`` over the source's
        rows), from the cache, or computed and written first."""
        served = self._sources.get(sf.name)
        if served is None or self.broken:
            return build(self.rows(sf))
        key = self._key({"source": served.key, **material})
        path = self.folder / f"{DAILY_PREFIX}{_safe(sf.name)}-{key}{SIGNED}"
        signed, problem = self._signed(path, "daily", key)
        if signed is not None:
            data, problem = self._data(signed)
            blob = data.read() if data is not None else None
            if blob is not None:
                # the verified bytes, decoded with the report's other scans
                return pl.scan_parquet(io.BytesIO(blob))
            elif data is not None:
                problem = _changed(data.path)
        if problem:
            self._rebuilt(path, problem)
        lf = build(self.rows(sf))
        try:
            frame = lf.collect()
        except pl.exceptions.PolarsError as err:
            raise _data_error(sf, err) from None
        if not self.broken:
            buf = io.BytesIO()
            frame.write_parquet(buf)
            try:
                data = self._store(buf.getvalue())
                self._sign(path, {"kind": "daily", "key": key, **data.signed()})
            except OSError as err:
                self._break(err)
        return frame.lazy()

    # -- filling

    def _serve(
        self, sf: SourceFrame, cfg: Config, data: _Data, key: str, path: Path
    ) -> SourceFrame:
        def from_files() -> pl.LazyFrame:
            return scan_source(cfg, sf.name, notes=self.notes, memo=self.read_memo).frame

        frame = _reader(path, data, sf.schema, from_files, self.notes)
        self._sources[sf.name] = _Source(data, frame, cfg, key, path)
        return replace(sf, frame=frame)

    def _parse(self, cfg: Config, name: str, said: list[str], *, fast: bool) -> SourceFrame:
        """The source parsed from its files; the warnings given are added to ``said``, to
        be stored with the entry (and given again when it is served)."""
        heard = Notes(echo=lambda message: warn(self.notes, message))
        sf = scan_source(cfg, name, typed_dates=fast, notes=heard, memo=self.read_memo)
        said.extend(dict.fromkeys(heard))
        return sf

    def _fill(self, cfg: Config, name: str, key: str, path: Path) -> SourceFrame:
        """Parse the source's files and write its entry; the parsed frame when it cannot
        be written (the cache is then off for the rest of the run)."""
        said: list[str] = []
        sf = self._parse(cfg, name, said, fast=True)
        if self.broken:
            return sf

        def careful() -> pl.LazyFrame:
            mixed_encodings(
                [sf], memo=self.read_memo
            )  # bytes past a sample that are not UTF-8: line by line
            return self._parse(cfg, name, said, fast=False).frame

        try:
            data = self._sink(sf, careful)
        except _Misread:  # a file needs the tolerant reader: parse the source again
            return self._fill(cfg, name, key, path)
        except OSError as err:
            self._break(err)
            return sf
        try:
            schema = dict(data.scan().collect_schema())
            meta = {
                "header": sf.header,
                "preset": sf.preset,
                "origins": sf.origins,
                "date_formats": sf.date_formats,
                "file_columns": sf.file_columns,
                "stated": sf.stated,
                "notices": list(dict.fromkeys(said)),
            }
            signed = {"kind": "source", "key": key, **data.signed()}
            self._sign(path, {**signed, "schema": _schema_text(schema), "meta": meta})
        except OSError as err:
            self._break(err)
            return sf
        return self._serve(replace(sf, schema=schema), cfg, data, key, path)

    def _sink(self, sf: SourceFrame, fallback: Callable[[], pl.LazyFrame] | None) -> _Data:
        """``sf.frame`` written as a data file (``fallback()`` instead when the fast reading
        of the frame fails on the data); OSError when it cannot be written."""
        fd, tmp = self._temp(DATA_PREFIX)
        os.close(fd)
        try:
            try:
                sf.frame.sink_parquet(tmp)
            except pl.exceptions.PolarsError as err:
                if _os_error(err) is not None or fallback is None:
                    raise
                # a date cell past the sample that the CSV reader cannot parse (read it as
                # text), bytes past it that are not UTF-8 (read line by line): read carefully
                fallback().sink_parquet(tmp)
            return self._publish_data(tmp)
        except pl.exceptions.PolarsError as err:
            failed = _os_error(err)
            if failed is not None:
                raise failed from None
            if misread_files(
                [sf], memo=self.read_memo
            ):  # marked for the tolerant reader: the caller parses again
                raise _Misread from None
            raise _data_error(sf, err) from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _store(self, blob: bytes) -> _Data:
        fd, tmp = self._temp(DATA_PREFIX)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
            return self._publish_data(tmp)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _publish_data(self, tmp: str) -> _Data:
        """The complete file ``tmp`` put in place under its SHA-256, and held open (runs
        reading a file this one replaces hold theirs open too: they are not disturbed)."""
        fd = open_fd(tmp, follow_links=False)
        try:
            sha, size = _digest(fd)
            # named by its content, and by the key: users sharing a folder have their own
            tag = hmac.new(self.secret, b"kpi data\0" + sha.encode(), "sha256").hexdigest()
            path = self.folder / f"{DATA_PREFIX}{tag[:40]}{SUFFIX}"
            os.replace(tmp, path)
        except BaseException:
            os.close(fd)
            raise
        return _Data(fd, path, sha, size, ok=True)

    def _temp(self, prefix: str) -> tuple[int, str]:
        return tempfile.mkstemp(dir=self.folder, prefix=f".{prefix}", suffix=".tmp")  # 0600

    # -- signatures

    def _key(self, material: dict[str, Any]) -> str:
        blob = json.dumps(material, sort_keys=True, default=str).encode("utf-8")
        return hmac.new(self.secret, b"kpi cache key\0" + blob, hashlib.sha256).hexdigest()[:32]

    def _mac(self, name: str, body: bytes) -> str:
        message = b"kpi cache entry\0" + name.encode("utf-8") + b"\0" + body
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def _sign(self, path: Path, content: dict[str, Any]) -> None:
        """Write the signature ``path``: ``content`` under its MAC (replacing one there:
        runs that read the one replaced hold its data open)."""
        body = json.dumps(content, sort_keys=True).encode("utf-8")
        fd, tmp = self._temp(PREFIX if content["kind"] == "source" else DAILY_PREFIX)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(self._mac(path.name, body).encode("ascii") + b"\n" + body)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _signed(self, path: Path, kind: str, key: str) -> tuple[dict[str, Any] | None, str | None]:
        """The verified content of the signature ``path``, or why there is none (None when
        it is simply missing)."""
        try:
            fd = open_fd(path, follow_links=False)
        except FileNotFoundError:
            return None, None
        except OSError as err:
            return None, f"cannot read it: {err.strerror}"
        try:
            raw = os.read(fd, MAX_SIGNED)
        except OSError as err:
            return None, f"cannot read it: {err.strerror}"
        finally:
            os.close(fd)
        mac, _, body = raw.partition(b"\n")
        if not hmac.compare_digest(mac, self._mac(path.name, body).encode("ascii")):
            return None, "its signature does not verify (changed by someone else, or corrupt)"
        content = json.loads(body)
        if content.get("kind") != kind or content.get("key") != key:  # only a kpi bug
            return None, "its signature is for another entry"
        return content, None

    def _data(self, signed: dict[str, Any]) -> tuple[_Data | None, str | None]:
        """The data file a verified signature names, opened (its bytes are verified when
        read); or why not (None: missing, e.g. removed by `kpi cache clear`)."""
        sha, size, name = str(signed.get("sha256")), signed.get("size"), str(signed.get("data"))
        ok = re.fullmatch(rf"{DATA_PREFIX}[0-9a-f]{{40}}\{SUFFIX}", name) and isinstance(size, int)
        if not ok:
            return None, "its signature does not hold what kpi writes"  # only a kpi bug
        path = self.folder / name
        try:
            fd = open_fd(path, follow_links=False)
        except FileNotFoundError:
            return None, None
        except OSError as err:
            return None, f"cannot read its data {path.name}: {err.strerror}"
        st = os.fstat(fd)
        problem = None
        if st.st_size != size:
            problem = _changed(path)
        elif st.st_mode & 0o022 or (hasattr(os, "geteuid") and st.st_uid != os.geteuid()):
            problem = f"its data {path.name} can be changed by others (kpi did not write it)"
        if problem:
            os.close(fd)
            return None, problem
        return _Data(fd, path, sha, size), None

    # -- problems

    def _rebuilt(self, path: Path, problem: str) -> None:
        warn(self.notes, f"cache entry {path}: {problem}; rebuilt")

    def _break(self, err: OSError) -> None:
        """A write failed: the rest of the run goes without the cache (said once)."""
        if self.broken is None:
            self.broken = err.strerror or str(err)
            warn(
                self.notes,
                f"cache folder {self.folder}: cannot write: {self.broken}; running without "
                "the cache",
            )


def _data_error(sf: SourceFrame, err: Exception) -> DataError:
    return locate_bad_value(sf, err) or DataError(
        f"source `{sf.name}`: {engine_detail(err)}",
        location=Location.files(str(f) for f in sf.files),
    )


def open_cache(
    folder: Path, *, notes: Notes | None = None, memo: ReadMemo | None = None
) -> Cache | None:
    """The cache in ``folder`` (created when missing), or None, with a warning (into
    ``notes``, as all the cache's) saying why, when it cannot be used: the run then goes
    without it. ``memo``: the run's memory of the files read (its reads of the files use
    it; a fresh one when None)."""
    try:
        if folder.exists() and not folder.is_dir():
            raise _Unusable("not a folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise _Unusable(f"cannot create it: {err.strerror}") from None
        if not os.access(folder, os.R_OK | os.X_OK):
            raise _Unusable("cannot read it: Permission denied")
        read_memo = memo if memo is not None else ReadMemo()
        return Cache(folder, _secret(folder.resolve()), notes=notes, read_memo=read_memo)
    except _Unusable as err:
        warn(notes, f"cache folder {folder}: {err}; running without the cache")
        return None
    except OSError as err:  # e.g. the folder vanished meanwhile
        warn(notes, f"cache folder {folder}: {err.strerror}; running without the cache")
        return None


def clear(cache_dir: Path) -> int:
    """Remove every cache entry, the formulas' memos (``kpi-formulas-….json``, see
    :class:`kpicli.spec.formula.Memo`) and stray temporary files; the number removed. The
    key (``.kpi-cache-key``) stays. OutputError when something cannot be removed."""
    from kpicli.spec.formula import MEMO_PREFIX

    if not cache_dir.exists():
        return 0
    if not cache_dir.is_dir():
        raise OutputError(
            "cannot clear the cache: not a folder",
            location=Location(str(cache_dir)),
            hint="the cache is a folder: check --cache or settings.cache",
        )
    removed = 0
    try:
        names = sorted(os.listdir(cache_dir))
    except FileNotFoundError:  # removed meanwhile
        return 0
    except OSError as err:
        raise OutputError(
            f"cannot clear the cache: {err.strerror}", location=Location(str(cache_dir))
        ) from None
    for name in names:
        p = cache_dir / name
        entry = name.startswith((*PREFIXES, MEMO_PREFIX)) and name.endswith((SIGNED, SUFFIX))
        temp = name.startswith(tuple(f".{x}" for x in (*PREFIXES, MEMO_PREFIX)))
        if not (entry or (temp and name.endswith(".tmp"))):
            continue
        try:
            if not (p.is_symlink() or p.is_file()):
                continue
            p.unlink()
        except FileNotFoundError:  # removed meanwhile (another `kpi cache clear`)
            continue
        except OSError as err:
            raise OutputError(
                f"cannot remove the cache entry: {err.strerror}",
                location=Location(str(p)),
                hint="check the folder's permissions (removed so far: "
                f"{removed} entr{'y' if removed == 1 else 'ies'})",
            ) from None
        removed += 1
    return removed
