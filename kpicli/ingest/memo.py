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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ReadMemo"]


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

    def mark_lines_ok(self, key: tuple) -> None:
        """Remember that the file ``key`` has no line longer than the bound."""
        if len(self.lines_ok) >= self.max_checked:
            self.lines_ok.clear()
        self.lines_ok.add(key)

    def mark_whole_ok(self, key: tuple) -> None:
        """Remember that the file ``key`` was read whole without a structural problem."""
        if len(self.whole_ok) >= self.max_checked:
            self.whole_ok.clear()
        self.whole_ok.add(key)

    def mark_tolerant(self, key: tuple, reason: str) -> None:
        """Remember that the file ``key`` is read by the tolerant reader, and why."""
        self.tolerant[key] = reason

    def keep_kinds(self, key: tuple, kinds: Any) -> None:
        if len(self.kinds) >= self.max_kinds:
            self.kinds.pop(next(iter(self.kinds)))
        self.kinds[key] = kinds
