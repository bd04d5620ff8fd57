"""What the reader remembers between reads of the same files: a :class:`ReadMemo`.

A report, `kpi validate` and the tests read the same files many times in one process: the
layout detected on a file's sample (:func:`kpicli.ingest.detect.sniff`), the clean CSV
the tolerant reader made of it (:func:`kpicli.ingest.repair.tolerant_csv`), what the
checks past the sample found (:func:`kpicli.ingest.scan.misread_files`,
:func:`kpicli.ingest.scan.mixed_encodings`) and the kinds detected on its columns are
kept, by the file's identity (path, size, modification time, inode) and the options it
was read with. The memo belongs to its caller, which passes it to each read (one per
command: a report, `kpi validate`, `kpi sources`, a cache); a read given none remembers
nothing past itself.

What detection found (the layouts, the kinds of the columns: pure functions of a file's
bytes and the options it is read with) is also kept in the per-user cache
(:mod:`kpicli.usercache`), keyed by the file's identity and the options, so that an
unchanged export is not sniffed again by the next command; so is the good news of the
checks past the sample (no overlong line, read whole without a structural problem). A
file changed in the last
:data:`SETTLED_S` seconds is not kept there (a rewrite within the same clock tick, of the
same size, would keep its modification time: "racy" entries are never made). The files
found to need the tolerant reader, or to mix encodings, are found again by each memo.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SETTLED_S", "ReadMemo"]

#: Seconds since its last change before a file's detection results are kept across runs.
SETTLED_S = 2.0
#: The kind of the per-user cache's entries that hold detection results.
USER_KIND = "sniff"


@dataclass
class ReadMemo:
    """Layouts, files found to mix encodings, files read by the tolerant reader, what the
    checks past a file's sample found, and the kinds detected on columns.

    Entries are never changed once stored; the oldest go first when a store is full (the
    sets of checked files are emptied instead).
    """

    #: file identity + options → the :class:`~kpicli.ingest.detect.Layout` sniffed
    layouts: dict[tuple, Any] = field(default_factory=dict)
    #: identities of files sniffed as UTF-8 whose bytes past the sample are not
    mixed: set[tuple] = field(default_factory=set)
    #: layout key → the :class:`~kpicli.ingest.repair.Fallback` made of the file
    repaired: dict[tuple, Any] = field(default_factory=dict)
    #: layout keys of files found to have no line longer than the bound
    lines_ok: set[tuple] = field(default_factory=set)
    #: layout keys of files read whole without a structural problem
    whole_ok: set[tuple] = field(default_factory=set)
    #: layout key → why the file is read by the tolerant reader though its sample is clean
    tolerant: dict[tuple, str] = field(default_factory=dict)
    #: layouts' keys + options → the columns' kinds, decimal and thousands separators, and
    #: whether plain numbers are parsed by Polars as it reads
    kinds: dict[tuple, Any] = field(default_factory=dict)
    max_layouts: int = 256
    max_repaired: int = 8
    max_checked: int = 1024
    max_kinds: int = 256
    #: layouts and kinds are read from and kept in the per-user cache too
    persist: bool = True

    def stored(self, what: str, key: tuple) -> Any | None:
        """What the per-user cache holds for ``what`` (``layout``, ``kinds``) of ``key``, as
        JSON data; None when nothing (or the cache is off, or the entry is unreadable)."""
        if not self.persist:
            return None
        from kpicli import usercache

        raw = usercache.load(USER_KIND, f"{what}\0{key!r}")
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def store(self, what: str, key: tuple, plain: Any, changed_ns: list[int]) -> None:
        """Keep ``plain`` (JSON data) for ``what`` of ``key`` in the per-user cache, unless
        a file it comes from changed (``changed_ns``: their modification times) in the
        last :data:`SETTLED_S` seconds."""
        if not self.persist or plain is None:
            return
        now = time.time_ns()
        if any(now - ns < SETTLED_S * 1e9 for ns in changed_ns):
            return
        from kpicli import usercache

        usercache.store(USER_KIND, f"{what}\0{key!r}", json.dumps(plain).encode())

    def layout(self, key: tuple) -> Any | None:
        """The layout stored under ``key``, None when there is none."""
        return self.layouts.get(key)

    def keep_layout(self, key: tuple, layout: Any) -> None:
        if len(self.layouts) >= self.max_layouts:
            self.layouts.pop(next(iter(self.layouts)))
        self.layouts[key] = layout

    def mark_mixed(self, identity: tuple) -> bool:
        """Remember that the file ``identity`` is not UTF-8 past its sample, and forget its
        layouts (sniffed again, it is decoded line by line); True when it was not known."""
        if identity in self.mixed:
            return False
        if len(self.mixed) >= self.max_layouts:
            self.mixed.pop()
        self.mixed.add(identity)
        for key in [k for k in self.layouts if k[: len(identity)] == identity]:
            del self.layouts[key]
        return True

    def repair(self, key: tuple) -> Any | None:
        """What the tolerant reader made of the file ``key``, None when it has not read it."""
        return self.repaired.get(key)

    def keep_repair(self, key: tuple, value: Any) -> None:
        if len(self.repaired) >= self.max_repaired:
            self.repaired.pop(next(iter(self.repaired)))
        self.repaired[key] = value

    def mark_lines_ok(self, key: tuple, *, persist: bool = True) -> None:
        """Remember that the file ``key`` has no line longer than the bound."""
        if len(self.lines_ok) >= self.max_checked:
            self.lines_ok.clear()
        self.lines_ok.add(key)
        if persist:
            self.store("lines_ok", key, True, [key[2]])

    def mark_whole_ok(self, key: tuple, *, persist: bool = True) -> None:
        """Remember that the file ``key`` was read whole without a structural problem."""
        if len(self.whole_ok) >= self.max_checked:
            self.whole_ok.clear()
        self.whole_ok.add(key)
        if persist:
            self.store("whole_ok", key, True, [key[2]])

    def is_lines_ok(self, key: tuple) -> bool:
        """Whether the file ``key`` is known (here or in the per-user cache) to have no line
        longer than the bound."""
        if key not in self.lines_ok and self.stored("lines_ok", key) is True:
            self.mark_lines_ok(key, persist=False)
        return key in self.lines_ok

    def is_whole_ok(self, key: tuple) -> bool:
        """Whether the file ``key`` is known (here or in the per-user cache) to read whole
        without a structural problem (a file found to need the tolerant reader never is:
        only this good news is kept across runs)."""
        if key not in self.whole_ok and self.stored("whole_ok", key) is True:
            self.mark_whole_ok(key, persist=False)
        return key in self.whole_ok

    def mark_tolerant(self, key: tuple, reason: str) -> None:
        """Remember that the file ``key`` is read by the tolerant reader, and why."""
        self.tolerant[key] = reason

    def known_kinds(self, key: tuple) -> Any | None:
        """The kinds stored under ``key`` (a tuple of layout keys first, then options): here,
        else in the per-user cache; None when neither has them."""
        found = self.kinds.get(key)
        if found is None:
            found = _kinds_from(self.stored("kinds", key))
            if found is not None:
                self.keep_kinds(key, found, persist=False)
        return found

    def keep_kinds(self, key: tuple, kinds: Any, *, persist: bool = True) -> None:
        if len(self.kinds) >= self.max_kinds:
            self.kinds.pop(next(iter(self.kinds)))
        self.kinds[key] = kinds
        if persist:
            self.store("kinds", key, _kinds_plain(kinds), [lay[2] for lay in key[0]])


def _kinds_plain(found: Any) -> list | None:
    """The kinds of a source part's columns, their separators and nativeness as JSON data
    (None when a date shape is not one of the known ones: not kept)."""
    from kpicli.ingest.values import DATE_SHAPES

    kinds, decimal, thousands, native = found
    out = []
    for k in kinds:
        date = None
        if k.date is not None:
            if k.date.shape not in DATE_SHAPES:
                return None
            d = k.date
            date = [DATE_SHAPES.index(d.shape), d.fmt, list(d.candidates), d.example]
        out.append([k.name, k.integer, k.percent, date, k.scale])
    return [out, decimal, thousands, native]


def _kinds_from(plain: Any) -> tuple | None:
    """:func:`_kinds_plain` read back (the very date shapes of the values module); None
    when ``plain`` is not what it writes."""
    from kpicli.ingest.values import DATE_SHAPES, DateGuess, Kind

    try:
        rows, decimal, thousands, native = plain
        kinds = []
        for name, integer, percent, date, scale in rows:
            guess = None
            if date is not None:
                shape, fmt, candidates, example = date
                guess = DateGuess(DATE_SHAPES[shape], fmt, tuple(candidates), example)
            kinds.append(Kind(name, integer=integer, percent=percent, date=guess, scale=scale))
        return kinds, decimal, thousands, native
    except (TypeError, ValueError, IndexError):
        return None
