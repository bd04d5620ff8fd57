"""Warnings about the data that do not stop a command: a file read by the tolerant path, rows
repaired or padded, a path outside the config's folder.

Code that reads data calls :func:`notice`; what happens to the text is up to the program:
the CLI installs a handler that prints ``warning: …`` on stderr (and nothing under
``--quiet``) once per command, so a file read several times (a report, then its
diagnostics) warns once; used as a library, notices go to the ``kpicli`` logger, each
message once per process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_handler: Callable[[str], None] | None = None
_seen: set[str] = set()
_recorders: list[list[str]] = []
_LOG = logging.getLogger("kpicli")


def set_handler(handler: Callable[[str], None] | None) -> None:
    """Send notices to ``handler`` (None: to the ``kpicli`` logger)."""
    global _handler
    _handler = handler


def notice(message: str) -> None:
    """Report a problem that was worked around. The handler decides about repeats (the
    CLI's reports a message once per command); the logger gets each message once."""
    for recorder in _recorders:
        recorder.append(message)
    if _handler is not None:
        _handler(message)
        return
    if message in _seen:
        return
    if len(_seen) > 10_000:
        _seen.clear()
    _seen.add(message)
    _LOG.warning(message)


@contextmanager
def recording() -> Iterator[list[str]]:
    """The notices given inside the block, in order (they are reported as usual too): the
    Parquet cache keeps them, to give them again when it serves the data without reading."""
    messages: list[str] = []
    _recorders.append(messages)
    try:
        yield messages
    finally:
        _recorders.remove(messages)


def reset() -> None:
    """Forget the messages already reported (tests, long-lived processes)."""
    _seen.clear()


__all__ = ["notice", "recording", "reset", "set_handler"]
