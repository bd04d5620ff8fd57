"""What kpi agrees to read: regular files only, and lines of a bounded length.

A device (``/dev/zero``, ``/dev/urandom``), a FIFO or a socket has no end kpi can count on
(and opening a FIFO without a writer blocks forever), so the config, every file a source
matches and the file of `kpi clean` must be regular files (a symbolic link to one is
fine). :func:`open_regular` opens without blocking and checks what it opened, so a path
that is swapped for a FIFO between a check and the open is refused too.

A line longer than :data:`MAX_LINE_BYTES` is refused before any reader holds it in memory
(Polars needs a few times a line's size to read it, the tolerant reader more): no real
export has one (Excel caps a cell at 32,767 characters; 8 MiB is over 250 such cells), and a
file of one endless line (a dump of binary data, a device copied to a file) would otherwise
take all the memory there is. :func:`long_line` finds such a line without reading the file:
it maps it and looks only near one line end per window of the limit's size.

This module imports nothing of kpi's: the config and the readers both use it.
"""

from __future__ import annotations

import mmap
import os
import stat
from typing import BinaryIO

#: The longest line (bytes, line end excluded) a data file may have.
MAX_LINE_BYTES = 8 * 1024 * 1024
_CHUNK = 1024 * 1024


class NotRegular(OSError):
    """The path names a device, a FIFO, a socket or a directory, not a regular file."""

    def __init__(self, path: str | os.PathLike, what: str):
        super().__init__(f"{path} is {what}, not a regular file")
        self.what = what
        self.strerror = f"{what}, not a regular file"


def kind(mode: int) -> str | None:
    """What a file of this ``st_mode`` is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a plain file"


def open_fd(path: str | os.PathLike, *, follow_links: bool = True) -> int:
    """A read-only descriptor of ``path``; NotRegular (an OSError) unless it is a regular
    file. Never blocks: a FIFO is opened non-blocking, seen for what it is, and closed.
    ``follow_links=False``: a symbolic link is refused too (OSError ELOOP), for files kpi
    wrote itself and must not be redirected (the cache)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_links:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        what = kind(os.fstat(fd).st_mode)
        if what is not None:
            raise NotRegular(path, what)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


def open_regular(path: str | os.PathLike, *, follow_links: bool = True) -> BinaryIO:
    """``path`` opened for reading in binary (see :func:`open_fd`)."""
    return os.fdopen(open_fd(path, follow_links=follow_links), "rb")


def read_bounded(path: str | os.PathLike, limit: int) -> bytes | None:
    """The bytes of a regular file, or None when it holds more than ``limit`` bytes (no more
    than ``limit + 1`` bytes are read). Raises NotRegular or OSError."""
    with open_regular(path) as fh:
        data = fh.read(limit + 1)
    return None if len(data) > limit else data


def long_line(path: str | os.PathLike, limit: int | None = None) -> tuple[int, int] | None:
    """(line number, first byte) of the first line longer than ``limit`` bytes (default
    :data:`MAX_LINE_BYTES`), None when every line fits.

    The file is mapped, not read: from the start of a line, the last line end within the
    next ``limit + 1`` bytes is looked for backwards (so only the pages near it are touched)
    and the walk goes on from there; a window without a line end holds a line that is too
    long. A file no longer than the limit is not looked at. Lines end with LF (CRLF
    included), or with CR alone in a file whose first MiB has a CR and no LF.
    """
    limit = MAX_LINE_BYTES if limit is None else limit
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size <= limit:
            return None
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            head = min(size, _CHUNK)
            newline = b"\r" if mm.find(b"\n", 0, head) < 0 <= mm.find(b"\r", 0, head) else b"\n"
            pos = 0
            while size - pos > limit:
                end = mm.rfind(newline, pos, pos + limit + 1)
                if end < 0:
                    return _line_number(mm, pos, newline), pos
                pos = end + 1
    return None


def _line_number(mm: mmap.mmap, offset: int, newline: bytes) -> int:
    """The 1-based line of the byte at ``offset`` (read in chunks: an error path)."""
    lines = 1
    for start in range(0, offset, _CHUNK):
        lines += mm[start : min(offset, start + _CHUNK)].count(newline)
    return lines


__all__ = [
    "MAX_LINE_BYTES",
    "NotRegular",
    "kind",
    "long_line",
    "open_fd",
    "open_regular",
    "read_bounded",
]
