"""kpi's per-user cache: what costs time to work out again and depends only on its key.

Two kinds of entries are kept, as ruff, mypy and pip keep theirs, in
``$XDG_CACHE_HOME/kpi`` (default ``~/.cache/kpi``), never inside a project:

- ``formulas/``: the parse results of a configuration's formulas (the memo of
  :mod:`kpicli.spec.formula`), one entry per configuration content;
- ``sniff/``: what detection found in a file (its layout, the kinds of its columns),
  keyed by the file's real path, size, modification and change times and inode, and the
  options it was read with: an unchanged export is not sniffed again.

Every key also holds kpi's version and its code (each module's size and modification
time), so a new kpi, or a development copy edited, makes new entries. ``KPI_NO_CACHE=1``
turns the cache off: nothing is read or written.

An entry is a file named by a hash of its key, its content preceded by its SHA-256: one
that does not check out (truncated, damaged) is removed and made again, silently (an entry
is only a shortcut). The folder is used only when it is this user's and nobody else can
write to it (created 0700); entries are written to a temporary file and renamed into
place, so a run never reads half an entry. Each kind holds at most :data:`MAX_ENTRIES`
entries and :data:`MAX_KIND_BYTES` (one entry: :data:`MAX_BYTES` at most): the least
recently used go first.

This module imports nothing of kpi's but its version: any layer may use it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from functools import lru_cache
from pathlib import Path

#: Set (to anything but "" or "0"), the per-user cache is neither read nor written.
OFF_ENV = "KPI_NO_CACHE"
#: Entries kept per kind (and their bytes in all), and the size of one at most.
MAX_ENTRIES = 1024
MAX_KIND_BYTES = 64 << 20
MAX_BYTES = 8 << 20
_MAGIC = b"kpi-cache 1\n"


def enabled() -> bool:
    """Whether the cache may be used (``KPI_NO_CACHE`` unset, empty or ``0``)."""
    return os.environ.get(OFF_ENV, "") in ("", "0")


def root() -> Path | None:
    """The cache's folder (whether it exists or not); None when the cache is off or there
    is no home to put it in."""
    if not enabled():
        return None
    base = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(base):
        return Path(base) / "kpi"
    try:
        return Path.home() / ".cache" / "kpi"
    except (RuntimeError, KeyError):  # no home directory
        return None


@lru_cache(maxsize=1)
def code_digest() -> str:
    """kpi's own code, by each module's size and modification time (a cheap stat of each):
    a development copy edited under the same version number gets new keys (here and in the
    project's Parquet cache)."""
    stats: list[tuple[str, int, int]] = []
    package = os.path.dirname(os.path.abspath(__file__))

    def walk(folder: str) -> None:
        with os.scandir(folder) as entries:
            for e in entries:
                if e.is_dir(follow_symlinks=False) and e.name != "__pycache__":
                    walk(e.path)
                elif e.name.endswith(".py"):
                    st = e.stat()
                    stats.append((e.path[len(package) :], st.st_size, st.st_mtime_ns))

    walk(package)
    return hashlib.sha256(repr(sorted(stats)).encode()).hexdigest()


def code_tag() -> str:
    """kpi's version and :func:`code_digest`: part of every key."""
    from kpicli.version import __version__

    return f"{__version__}+{code_digest()[:16]}"


def _trusted(st: os.stat_result) -> bool:
    """A folder or entry kpi may use: this user's, writable by nobody else."""
    mine = not hasattr(os, "geteuid") or st.st_uid == os.geteuid()
    return mine and not st.st_mode & 0o022


def _folder(kind: str, *, create: bool) -> Path | None:
    """The folder of one kind of entries, made (0700) when ``create``; None when the cache
    is off or the folder cannot be trusted or made."""
    top = root()
    if top is None:
        return None
    folder = top / kind
    try:
        if create:
            top.mkdir(mode=0o700, parents=True, exist_ok=True)
            folder.mkdir(mode=0o700, exist_ok=True)
        for f in (top, folder):
            st = os.lstat(f)
            if not stat.S_ISDIR(st.st_mode) or not _trusted(st):
                return None
    except OSError:
        return None
    return folder


def _name(key: str) -> str:
    return hashlib.sha256(f"{code_tag()}\0{key}".encode()).hexdigest()[:40]


def load(kind: str, key: str) -> bytes | None:
    """The entry of ``kind`` stored under ``key``; None when there is none, the cache is
    off, or the entry does not check out (then it is removed)."""
    folder = _folder(kind, create=False)
    if folder is None:
        return None
    path = folder / _name(key)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not _trusted(st) or st.st_size > MAX_BYTES + 100:
            return None
        with os.fdopen(os.dup(fd), "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    finally:
        os.close(fd)
    head, _, rest = raw.partition(b"\n")
    digest, _, body = rest.partition(b"\n")
    if head + b"\n" != _MAGIC or hashlib.sha256(body).hexdigest().encode() != digest:
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: pruned last
    return body


def store(kind: str, key: str, data: bytes) -> None:
    """Keep ``data`` under ``key`` (atomically); nothing when the cache is off, the entry
    too large or the folder not writable (an entry is only a shortcut)."""
    if len(data) > MAX_BYTES:
        return
    folder = _folder(kind, create=True)
    if folder is None:
        return
    digest = hashlib.sha256(data).hexdigest().encode()
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")  # 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_MAGIC + digest + b"\n" + data)
            os.replace(tmp, folder / _name(key))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        _prune(folder)
    except OSError:
        return


def _prune(folder: Path) -> None:
    """At most :data:`MAX_ENTRIES` entries of :data:`MAX_KIND_BYTES` in all: past either,
    the least recently used go first (temporary files a killed run left with them), down
    to three quarters of both."""
    with os.scandir(folder) as it:
        entries = list(it)
    dated = []
    for e in entries:
        with contextlib.suppress(OSError):
            st = e.stat(follow_symlinks=False)
            dated.append((st.st_mtime_ns, st.st_size, e.path))
    total = sum(size for _, size, _ in dated)
    if len(dated) <= MAX_ENTRIES and total <= MAX_KIND_BYTES:
        return
    dated.sort()
    count = len(dated)
    for _, size, path in dated:
        if count <= MAX_ENTRIES * 3 // 4 and total <= MAX_KIND_BYTES * 3 // 4:
            break
        with contextlib.suppress(OSError):
            os.unlink(path)
        count -= 1
        total -= size


def clear() -> int:
    """Remove every entry (all kinds); the number removed."""
    top = root()
    removed = 0
    if top is None or not top.is_dir():
        return 0
    for folder in top.iterdir():
        if not folder.is_dir() or folder.is_symlink():
            continue
        for entry in folder.iterdir():
            with contextlib.suppress(OSError):
                entry.unlink()
                removed += 1
    return removed
