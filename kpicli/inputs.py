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
take all the memory there is. :func:`long_line` finds such a line by reading the file in
chunks, never the whole line at once.

This module imports nothing of kpi's: the config and the readers both use it.
"""

from __future__ import annotations

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


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """``path`` opened for reading in binary; NotRegular (an OSError) unless it is a regular
    file. Never blocks: a FIFO is opened non-blocking, seen for what it is, and closed."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        what = kind(os.fstat(fd).st_mode)
        if what is not None:
            raise NotRegular(path, what)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: str | os.PathLike, limit: int) -> bytes | None:
    """The bytes of a regular file, or None when it holds more than ``limit`` bytes (no more
    than ``limit + 1`` bytes are read). Raises NotRegular or OSError."""
    with open_regular(path) as fh:
        data = fh.read(limit + 1)
    return None if len(data) > limit else data


def long_line(path: str | os.PathLike, limit: int | None = None) -> tuple[int, int] | None:
    """(line number, bytes read of it) of the first line longer than ``limit`` (default
    :data:`MAX_LINE_BYTES`), None when every line fits. Reads the file in 1 MiB chunks and
    stops as soon as a line passes the limit: memory stays bounded by the chunk size.
    A file no longer than the limit is not read at all. Lines end with LF (CRLF included),
    or with CR alone in a file whose first chunk has a CR and no LF."""
    limit = MAX_LINE_BYTES if limit is None else limit
    if os.stat(path).st_size <= limit:
        return None
    size = min(_CHUNK, limit + 1)  # a line wholly inside a chunk is then within the limit
    run = 0  # bytes since the last line end
    lines = 0  # line ends before the current line
    newline = b""
    with open_regular(path) as fh:
        while chunk := fh.read(size):
            if not newline:
                newline = b"\r" if b"\r" in chunk and b"\n" not in chunk else b"\n"
            first = chunk.find(newline)
            if first < 0:
                run += len(chunk)
                if run > limit:
                    return lines + 1, run
                continue
            if run + first > limit:
                return lines + 1, run + first
            lines += chunk.count(newline)
            run = len(chunk) - chunk.rfind(newline) - 1
    return None


__all__ = ["MAX_LINE_BYTES", "NotRegular", "kind", "long_line", "open_regular", "read_bounded"]
