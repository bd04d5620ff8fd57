"""Errors users can act on, and the problems `kpi validate` lists.

Every mistake a user can make is a :class:`KpiError` carrying a message, a location
(``file:line`` and key path, or file/line/column of a data file) and a hint. The CLI prints
it in one block on stderr and exits with ``exit_code``. Any other exception is a bug.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Location:
    """Where a problem is: a file (a config or data file, or several data files named
    together), its 1-based line and column, and a config key path (``kpis.cpl.formula``).
    Printed as users read it (``kpi_config.yaml:12 kpis.cpl.formula``, ``data/ads.csv:7``,
    ``kpi_config.yaml:3:5``); code reads the fields, never the text. ``request``: instead of
    a file, the field of the request at fault (``output``), named as the reader knows it
    (the CLI: ``--output``)."""

    file: str | None = None
    line: int | None = None
    column: int | None = None
    key: str | None = None
    request: str | None = None

    def __str__(self) -> str:
        return self.text()

    def text(self, word: Callable[[str], str] | None = None) -> str:
        """As printed; a request field named by ``word`` (default: ```field```)."""
        if self.request:
            return (word or _field_word)(self.request)
        text = self.file or ""
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        if self.key:
            text = f"{text} {self.key}" if text else self.key
        return text

    @classmethod
    def of(cls, where: str | Location | None) -> Location | None:
        """``where`` as a Location: a text location given by code not converted yet (see
        :meth:`parse`) is read back once, here, so that everything downstream reads fields."""
        if where is None or isinstance(where, Location):
            return where
        return cls.parse(where) if where else None

    @classmethod
    def files(cls, paths: Iterable[str]) -> Location:
        """Several files at once (a problem of a whole source), shown joined by commas."""
        return cls(file=", ".join(paths))

    @classmethod
    def parse(cls, text: str) -> Location:
        """A location written as text (``file:line[:column][ key]``) back into fields; text
        that does not read back exactly (several files, an option) is all ``file``. kpi's
        own code builds Locations; this is for a library caller that passes a string."""
        m = _LOCATION.match(text)
        if m is not None:
            column = int(m["column"]) if m["column"] else None
            loc = cls(m["file"], int(m["line"]), column, m["key"])
            if str(loc) == text:
                return loc
        return cls(file=text)


_LOCATION = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::(?P<column>\d+))?(?: (?P<key>.+))?$")


class IssueCode(StrEnum):
    """What kind of problem an :class:`Issue` is (the ``code`` of ``kpi validate --format
    json`` and of ``kpi sources``' problems): its values are part of the output contract.
    ``config`` makes `kpi validate` exit 2, ``data`` exit 3; a ``warning`` stops nothing."""

    CONFIG = "config"
    DATA = "data"
    WARNING = "warning"


class Notes:
    """Warnings about the data that did not stop a command (a file read the careful way,
    rows repaired, a cache entry rebuilt), in order, each message once. The command that
    reads data makes one and passes it down to whatever reads; a ``Result`` carries the
    messages. ``echo`` (the CLI's printer to stderr) sees each new message when it is
    added, so a long command warns as it goes."""

    def __init__(self, echo: Callable[[str], None] | None = None) -> None:
        self.messages: list[str] = []
        self._seen: set[str] = set()
        self._echo = echo

    def add(self, message: str) -> None:
        if message in self._seen:
            return
        self._seen.add(message)
        self.messages.append(message)
        if self._echo is not None:
            self._echo(message)

    def extend(self, messages: Iterable[str]) -> None:
        for message in messages:
            self.add(message)

    def __iter__(self) -> Iterator[str]:
        return iter(self.messages)

    def __len__(self) -> int:
        return len(self.messages)


#: The fields of a request that an error may name. The library's messages name them as
#: ``{@field}`` (``"unknown KPI `x` in {@sort}"``); :meth:`KpiError.worded` puts words on
#: them: the CLI its options (``--sort``), a library user the field (```sort```).
REQUEST_FIELDS = frozenset(
    {
        "kpis",
        "period",
        "compare",
        "by",
        "grain",
        "where",
        "sort",
        "limit",
        "as_of",
        "fail_on",
        "cache",
        "format",
        "output",
        "wide",
        "sensitivity",
        "anomalies",
        "lookback",
        "last",
        "config",
        "date_from",
        "date_to",
    }
)
_FIELD = re.compile(r"\{@([a-z_]+)\}")


def _field_word(field: str) -> str:
    return f"`{field}`"


class KpiError(Exception):
    """A user-facing error: message, where it happened, and how to fix it."""

    exit_code = 2
    kind = "error"

    def __init__(
        self, message: str, *, location: str | Location | None = None, hint: str | None = None
    ):
        super().__init__(message)
        self.template = message
        self.hint_template = hint
        self.where = Location.of(location)

    @property
    def location(self) -> str | None:
        """:attr:`where` as users read it (``kpi_config.yaml:12 kpis.cpl.formula``)."""
        return str(self.where) if self.where else None

    @staticmethod
    def _word(text: str | None, word: Callable[[str], str]) -> str | None:
        if text is None:
            return None
        return _FIELD.sub(lambda m: word(m[1]) if m[1] in REQUEST_FIELDS else m[0], text)

    @property
    def message(self) -> str:
        return self._word(self.template, _field_word) or ""

    @property
    def hint(self) -> str | None:
        return self._word(self.hint_template, _field_word)

    def worded(self, word: Callable[[str], str]) -> tuple[str, str | None]:
        """The message and hint with request fields named by ``word`` (the CLI: options)."""
        return self._word(self.template, word) or "", self._word(self.hint_template, word)

    def __str__(self) -> str:
        return self.message

    def render(self, word: Callable[[str], str] = _field_word) -> str:
        """The error as the CLI prints it: one block, no traceback."""
        message, hint = self.worded(word)
        head = f"{self.where.text(word)}: " if self.where else ""
        text = f"{self.kind}: {head}{message}"
        if hint:
            text += f"\n  hint: {hint}"
        return text


class UsageError(KpiError):
    """A bad command-line option (exit 2)."""

    exit_code = 2
    kind = "usage error"


class ConfigError(KpiError):
    """A mistake in kpi_config.yaml (exit 2)."""

    exit_code = 2
    kind = "config error"


class DataError(KpiError):
    """Input data missing, unreadable or unparsable (exit 3)."""

    exit_code = 3
    kind = "data error"


class OutputError(KpiError):
    """The result could not be written (exit 4)."""

    exit_code = 4
    kind = "output error"


@dataclass(frozen=True)
class Issue:
    """One problem found by `kpi validate` or `kpi sources` (which collect instead of
    stopping). ``refers``: what an "unknown KPI/source" issue names, as ``("kpis", name)``
    or ``("sources", name)`` (`kpi validate` leaves out those about entries it removed)."""

    code: IssueCode
    message: str
    where: Location | None = None
    hint: str | None = None
    refers: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", IssueCode(self.code))
        object.__setattr__(self, "where", Location.of(self.where))

    @property
    def location(self) -> str | None:
        """:attr:`where` as users read it."""
        return str(self.where) if self.where else None

    @classmethod
    def of(cls, err: KpiError, code: IssueCode | None = None) -> Issue:
        """A collected error: ``data`` for a DataError, else ``config`` (unless ``code``)."""
        code = code or (IssueCode.DATA if isinstance(err, DataError) else IssueCode.CONFIG)
        return cls(code, err.message, err.where, err.hint)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A "did you mean `x`?" hint for a misspelt name, or None when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


#: What an engine (Polars) error may quote that a user must never see: the names it gives
#: subqueries, and lists of the columns of whatever it read (a schema dump can be the first
#: line of a file read through SQL).
_INTERNAL_NAME = re.compile(r"_*POLARS_[A-Z]+_(?:0x[0-9a-fA-F]+|[A-Z]+_)\w*")
#: Polars' own advice to Python programmers, which means nothing to a kpi user.
_PYTHON_ADVICE = re.compile(r"\s*\((?:create native python|consider)\b.*\)\s*$", re.I)
_COLUMN_LIST = re.compile(r"[;,]?\s*\b(?:valid columns|schema)\b\s*:.*", re.I)
MAX_DETAIL = 200


def engine_detail(err: BaseException | str) -> str:
    """The first line of an engine error, fit to show a user: no internal names, no schema
    dump, at most :data:`MAX_DETAIL` characters. Every message that quotes a Polars error
    goes through here."""
    text = str(err).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else (type(err).__name__ if isinstance(err, BaseException) else "")
    first = _COLUMN_LIST.sub("", first)
    first = _PYTHON_ADVICE.sub("", first)
    first = _INTERNAL_NAME.sub("(internal)", first).strip() or "the engine refused the query"
    if len(first) > MAX_DETAIL:
        first = first[: MAX_DETAIL - 1] + "…"
    return first
