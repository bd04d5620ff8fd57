"""Writing what a command prints: output path placeholders, atomic and locked file writes,
and stdout.

- :func:`open_atomic` (and :func:`write_atomic` over it) writes a file through a temp file
  beside it and a rename, creating the missing parent folders; renderers stream into it.
- :class:`Stdout` is standard output as a binary sink: a full disk or any other failed write
  is an :class:`OutputError` (exit 4), and a reader that went away (``kpi report | head -1``)
  ends the output quietly: :class:`PipeClosed` is raised once, so that the writer stops, and
  the command goes on to exit with the code it would have had.
- :func:`output_error` turns any ``OSError`` of a write into an OutputError naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import stat
import string
import sys
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import IO, Any

from kpicli.errors import Location, OutputError, UsageError

#: Placeholders allowed in ``--output``.
PLACEHOLDERS = ("start", "end", "as_of", "period")
#: Mode of a new output file (an existing file keeps its own).
DEFAULT_MODE = 0o644
#: The ``--output`` value that means standard output (the usual convention).
STDOUT = "-"


def expand_output_path(
    template: str, *, start: date | None, end: date | None, as_of: date, period: str
) -> str:
    """``template`` with ``{start}``, ``{end}``, ``{as_of}`` and ``{period}`` filled in.

    Dates are ISO (``2026-10-01``) unless a strftime spec is given (``{start:%Y%m}``);
    ``{start}``/``{end}`` are ``all`` for a report over all dates. ``{{``/``}}`` are literal
    braces. Anything else in braces is a :class:`UsageError` (a wrong option, exit 2).
    """
    values: dict[str, object] = {
        "start": start if start is not None else "all",
        "end": end if end is not None else "all",
        "as_of": as_of,
        "period": period,
    }
    valid = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise UsageError(
            f"invalid output path `{template}`: {exc}",
            location=Location(request="output"),
            hint=f"placeholders are {valid}; write a literal brace as {{{{ or }}}}",
        ) from None
    out = []
    for literal, name, spec, conversion in parts:
        out.append(literal)
        if name is None:
            continue
        if name not in values or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + "}"
            raise UsageError(
                f"unknown placeholder `{shown}` in output path `{template}`",
                location=Location(request="output"),
                hint=f"valid placeholders are {valid}",
            )
        value = values[name]
        try:
            out.append(format(value, spec) if spec else str(value))
        except (ValueError, TypeError) as exc:
            raise UsageError(
                f"bad format `{spec}` for placeholder `{{{name}}}`: {exc}",
                location=Location(request="output"),
                hint="dates take strftime codes, as in {start:%Y-%m}",
            ) from None
    return "".join(out)


def check_output_path(template: str) -> None:
    """UsageError when ``template``'s placeholders are wrong: checked before any work."""
    day = date(2000, 1, 1)
    expand_output_path(template, start=day, end=day, as_of=day, period="all")


def output_error(path: str | Path, exc: OSError) -> OutputError:
    """An OSError met while writing ``path`` as a user-facing OutputError naming the path."""
    location = Location(str(path))
    if exc.errno in (errno.EACCES, errno.EPERM):
        return OutputError(
            "permission denied", location=location, hint="choose a path you can write to"
        )
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputError("no space left on device", location=location, hint="free some space")
    if exc.errno == errno.EROFS:
        return OutputError(
            "read-only file system", location=location, hint="write the report elsewhere"
        )
    if exc.errno == errno.EISDIR:
        return OutputError(
            "is a directory", location=location, hint="give a file name, not a directory"
        )
    if exc.errno == errno.ENAMETOOLONG:
        return OutputError(
            "file name too long", location=location, hint="choose a shorter name or path"
        )
    if exc.errno == errno.ENOTDIR:
        return OutputError(
            "a part of the path is a file, not a folder",
            location=location,
            hint="check the output path",
        )
    reason = (exc.strerror or str(exc)).lower()
    return OutputError(f"cannot write: {reason}", location=location, hint="check the output path")


def _parent(target: Path) -> Path:
    """The folder ``target`` goes in, created (with its parents) when missing."""
    directory = target.parent
    if directory.is_dir():
        return directory
    if directory.exists() or directory.is_symlink():
        raise OutputError(
            f"`{directory}` is not a directory",
            location=Location(str(target)),
            hint="check the output path",
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a part of the path is a file
        raise OutputError(
            f"`{directory}` is not a directory",
            location=Location(str(target)),
            hint="check the output path",
        ) from None
    except OSError as exc:
        raise output_error(directory, exc) from None
    return directory


@contextlib.contextmanager
def open_atomic(path: str | Path, *, follow_links: bool = True) -> Iterator[IO[bytes]]:
    """A binary handle whose bytes replace ``path`` atomically when the block ends.

    The bytes go to a temp file beside the target (fsync, then rename), so that a failed or
    interrupted write leaves the previous file (if any) untouched and no temp file behind.
    Missing parent folders are created. Concurrent writers of one path take turns (an
    advisory lock on ``.NAME.lock``). An overwritten file keeps its mode; a new one gets
    0o644. ``follow_links``: a symlink's target is replaced (the default, for reports);
    otherwise the link itself is replaced and nothing is written through it (``kpi init``).
    A special file such as ``/dev/stdout`` is written in place (the link is followed then).
    Any OSError is an :class:`OutputError` naming the path.
    """
    target = Path(path)
    if follow_links and target.is_symlink():
        target = Path(os.path.realpath(target))
    if target.is_dir() and not (target.is_symlink() and not follow_links):
        raise OutputError(
            "is a directory",
            location=Location(str(target)),
            hint="give a file name, not a directory",
        )
    directory = _parent(target)

    mode = DEFAULT_MODE
    try:
        status = target.stat() if follow_links else target.lstat()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise output_error(target, exc) from None
    else:
        if stat.S_ISREG(status.st_mode):
            mode = stat.S_IMODE(status.st_mode)
        elif not stat.S_ISLNK(status.st_mode):
            with _in_place(target) as handle:
                yield handle
            return

    with _locked(target):
        try:
            fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
        except OSError as exc:
            raise output_error(target, exc) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, mode)
            os.replace(temp, target)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            if isinstance(exc, OSError):
                raise output_error(target, exc) from None
            raise
        _fsync_directory(directory)


def write_atomic(path: str | Path, data: bytes, *, follow_links: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`open_atomic`)."""
    with open_atomic(path, follow_links=follow_links) as handle:
        handle.write(data)


def lock_path(target: Path) -> Path:
    """The lock file of an output: ``.NAME.lock`` beside it, there while a write holds it."""
    return target.parent / f".{target.name}.lock"


@contextlib.contextmanager
def _locked(target: Path) -> Iterator[None]:
    """An exclusive advisory lock (``flock``) on the output's lock file, held from the temp
    file's creation to the rename: two runs writing the same output (cron jobs that
    overlap) write one after the other, never interleaved. Where locks are not available
    (no ``fcntl``, a lock file that cannot be created) the write goes on unlocked: the rename
    alone keeps every reader from seeing a partial file. Temp files of killed runs are removed
    under the lock."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    path = lock_path(target)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, DEFAULT_MODE)
        except OSError:
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:  # the lock file still the one at its path (a holder removes it when done)?
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except OSError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        # a writer holds the lock while its temp file exists: any temp file seen now was left
        # by a run that was killed (SIGKILL, power loss) and is removed
        for stale in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextlib.contextmanager
def _in_place(target: Path) -> Iterator[IO[bytes]]:
    """Write to a special file (a device or a pipe), where renaming makes no sense."""
    try:
        with open(target, "wb") as handle:
            yield handle
    except OSError as exc:
        raise output_error(target, exc) from None


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable where the platform allows it (best effort)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---------------------------------------------------------------------------- stdout


class PipeClosed(Exception):
    """Standard output's reader went away (``kpi report | head -1``): stop writing.

    Not an error: the command ends quietly with the exit code it would have had.
    """


class Stdout:
    """Standard output as a binary sink (what every command prints goes through it).

    ``write`` raises :class:`OutputError` (exit 4, ``location="stdout"``) when the bytes cannot
    be written (a full disk: ``kpi report > /dev/full``), and :class:`PipeClosed` when the
    reader closed the pipe; from then on standard output is ``/dev/null``, so that nothing
    is left to fail when Python flushes it at exit (no "Exception ignored" line).
    """

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.closed = False

    def _binary(self) -> Any:
        return getattr(self.stream, "buffer", None)

    def write(self, data: bytes | str) -> int:
        if self.closed:
            raise PipeClosed
        try:
            binary = self._binary()
            if binary is not None:
                self.stream.flush()  # text written before stays in order
                binary.write(data if isinstance(data, bytes) else data.encode("utf-8"))
                binary.flush()
            else:
                text = data.decode("utf-8") if isinstance(data, bytes) else data
                self.stream.write(text)
                self.stream.flush()
        except BrokenPipeError:
            self._silence()
            raise PipeClosed from None
        except OSError as exc:
            self._silence()
            raise output_error("stdout", exc) from None
        return len(data)

    def flush(self) -> None:
        """Nothing to do: every write is flushed."""

    def _silence(self) -> None:
        """Point standard output at /dev/null (the pipe is gone, or the disk is full)."""
        self.closed = True
        try:
            fd = self.stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a real file (tests)
            return
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
