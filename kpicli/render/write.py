"""Writing a rendered report: output path placeholders and atomic, locked file writes."""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import stat
import string
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from kpicli.errors import OutputError

#: Placeholders allowed in ``--output``.
PLACEHOLDERS = ("start", "end", "as_of", "period")
#: Mode of a new output file (an existing file keeps its own).
DEFAULT_MODE = 0o644


def expand_output_path(
    template: str, *, start: date | None, end: date | None, as_of: date, period: str
) -> str:
    """``template`` with ``{start}``, ``{end}``, ``{as_of}`` and ``{period}`` filled in.

    Dates are ISO (``2026-10-01``) unless a strftime spec is given (``{start:%Y%m}``);
    ``{start}``/``{end}`` are ``all`` for a report over all dates. ``{{``/``}}`` are literal
    braces. Anything else in braces is an :class:`OutputError`.
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
        raise OutputError(
            f"invalid output path `{template}`: {exc}",
            location="--output",
            hint=f"placeholders are {valid}; write a literal brace as {{{{ or }}}}",
        ) from None
    out = []
    for literal, name, spec, conversion in parts:
        out.append(literal)
        if name is None:
            continue
        if name not in values or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + "}"
            raise OutputError(
                f"unknown placeholder `{shown}` in output path `{template}`",
                location="--output",
                hint=f"valid placeholders are {valid}",
            )
        value = values[name]
        try:
            out.append(format(value, spec) if spec else str(value))
        except (ValueError, TypeError) as exc:
            raise OutputError(
                f"bad format `{spec}` for placeholder `{{{name}}}`: {exc}",
                location="--output",
                hint="dates take strftime codes, as in {start:%Y-%m}",
            ) from None
    return "".join(out)


def _error(path: Path, exc: OSError) -> OutputError:
    """An OSError met while writing ``path`` as a user-facing OutputError."""
    location = str(path)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return OutputError(
            "permission denied", location=location, hint="choose a path you can write to"
        )
    if exc.errno == errno.ENOSPC:
        return OutputError("no space left on device", location=location, hint="free some space")
    if exc.errno == errno.EROFS:
        return OutputError(
            "read-only file system", location=location, hint="write the report elsewhere"
        )
    if exc.errno == errno.EISDIR:
        return OutputError(
            "is a directory", location=location, hint="give a file name, not a directory"
        )
    reason = exc.strerror or str(exc)
    return OutputError(f"cannot write: {reason}", location=location, hint="check the output path")


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temp file beside it, fsync, then rename.

    A failed write leaves the previous file (if any) untouched and no temp file behind.
    Concurrent writers of one path take turns (an advisory lock on ``.NAME.lock``).
    An overwritten file keeps its mode; a new one gets 0o644. A symlink is followed (its
    target is replaced); a special file such as ``/dev/stdout`` is written in place.
    """
    target = Path(path)
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    if target.is_dir():
        raise OutputError(
            "is a directory", location=str(target), hint="give a file name, not a directory"
        )
    directory = target.parent
    if not directory.exists():
        raise OutputError(
            f"directory `{directory}` does not exist",
            location=str(target),
            hint="create the directory first",
        )
    if not directory.is_dir():
        raise OutputError(
            f"`{directory}` is not a directory",
            location=str(target),
            hint="check the output path",
        )

    mode = DEFAULT_MODE
    try:
        status = target.stat()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise _error(target, exc) from None
    else:
        if not stat.S_ISREG(status.st_mode):
            _write_in_place(target, data)
            return
        mode = stat.S_IMODE(status.st_mode)

    with _locked(target):
        try:
            fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
        except OSError as exc:
            raise _error(target, exc) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, mode)
            os.replace(temp, target)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            if isinstance(exc, OSError):
                raise _error(target, exc) from None
            raise
        _fsync_directory(directory)


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


def _write_in_place(target: Path, data: bytes) -> None:
    """Write to a special file (a device or a pipe), where renaming makes no sense."""
    try:
        with open(target, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise _error(target, exc) from None


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable where the platform allows it (best effort)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
