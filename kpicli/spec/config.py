"""kpi_config.yaml → a validated, frozen :class:`Config`.

YAML is read safely (duplicate keys rejected) and each node's line is kept, so that every
error names ``file:line`` and the key path (``kpis.cpl.target.per``). The schema is a set of
pydantic models (also the source of ``kpi schema``); cross-references (sources, KPI names,
cycles, formulas) are checked after it.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kpicli.errors import ConfigError, Issue, IssueCode, Location, did_you_mean
from kpicli.inputs import NotRegular, read_bounded
from kpicli.spec.formula import AGGREGATE, DERIVED, ROW, FormulaError, Memo, memo_in_use, parse
from kpicli.spec.formula import check as check_sql
from kpicli.spec.presets import PRESETS, Preset

DEFAULT_CONFIG = "kpi_config.yaml"
#: The folder of one's own presets beside a configuration (spec/user_presets' DEFAULT_FOLDER).
USER_PRESETS = "presets"
UNITS = ("number", "integer", "percent", "currency", "duration")
PER_UNITS = ("day", "week", "month", "quarter", "year")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CONFIG = IssueCode.CONFIG
#: Column names the engine uses in its results; KPIs cannot take them.
RESERVED = frozenset(
    {"kpi", "period_start", "period_end", "value", "previous", "change", "change_pct"}
    | {"target", "expected", "pace", "projected", "status", "total"}
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SparkSettings(_Model):
    """The Spark session of `--engine spark`: its master and properties."""

    master: str | None = Field(
        None,
        description="Spark master URL (local[4], spark://host:7077, yarn, k8s://…); "
        "default local[*], or the Spark Connect server of SPARK_REMOTE when it is set",
    )
    conf: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="Spark properties (spark.executor.memory: 4g, …), over kpi's defaults",
    )


class DuckdbSettings(_Model):
    """The DuckDB database of `--engine duckdb`, whose tables `table:` sources read."""

    database: str = Field(
        description="A DuckDB database file (relative to the config), attached read-only"
    )


class Settings(_Model):
    """Report-wide settings."""

    currency: str | None = Field(None, description="Currency code shown in tables (EUR, USD…)")
    week_start: Literal["monday", "sunday"] = Field("monday", description="First day of weeks")
    locale: str | None = Field(None, description="Number formatting in tables (en, fr, de…)")
    cache: str | None = Field(
        None, description="Folder caching parsed sources as Parquet (relative to the config)"
    )
    presets: str | None = Field(
        None, description="Folder of your own presets (relative to the config; default presets/)"
    )
    timezone: str | None = Field(
        None, description="IANA time zone whose calendar dates zoned date-times (default UTC)"
    )
    engine: Literal["polars", "duckdb", "spark"] = Field(
        "polars",
        description="Engine that aggregates the rows: polars, duckdb or spark (--engine wins)",
    )
    spark: SparkSettings | None = Field(None, description="Where `--engine spark` runs")
    duckdb: DuckdbSettings | None = Field(
        None, description="The database whose tables `--engine duckdb` reads (`table:`)"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        from zoneinfo import ZoneInfo

        try:
            if value is not None:
                ZoneInfo(value)
        except (LookupError, ValueError):
            msg = f"unknown time zone `{value}` (an IANA name: Europe/Paris, UTC…)"
            raise ValueError(msg) from None
        return value


#: The types a `table:` source's `columns:` may declare.
TableType = Literal["text", "integer", "number", "boolean", "date"]
#: The options that say how to read files, which a `table:` source does not take.
FILE_OPTIONS = (
    "preset",
    "delimiter",
    "decimal",
    "encoding",
    "skip_rows",
    "member",
    "sheet",
    "section",
)
#: A table's name: dot-separated parts of letters, digits, `_`, `-` (a BigQuery project),
#: `$` and a trailing `*` (a BigQuery wildcard table).
TABLE_NAME = re.compile(r"[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+){0,2}\*?")


class Source(_Model):
    """One kind of export: one or more files read the same way."""

    path: list[str] = Field(
        default_factory=list,
        description="A glob, or a list of globs, relative to the config; or a URI that "
        "--engine spark reads (s3a://bucket/exports/*.csv, hdfs://…, gs://…)",
    )
    table: str | None = Field(
        None,
        description="Instead of files, a table (`db.events`, `project.dataset.events_*`): read "
        "by --engine spark from its catalog, or named in `kpi sql`'s SQL",
    )
    columns: dict[str, TableType] = Field(
        default_factory=dict,
        description="A `table:` source's columns that kpi reads, each with its type: text, "
        "integer, number, boolean or date",
    )
    date: str | None = Field(None, description="The column that dates each row")
    preset: str | None = Field(None, description="A known export format")
    delimiter: Literal["auto", ",", ";", "\t", "|"] = "auto"
    decimal: Literal["auto", ".", ","] = "auto"
    encoding: str = Field(
        "auto",
        description="The text encoding: auto (UTF-8, UTF-16, else the code page detected), "
        "or any Python codec name: utf-8, utf-16, cp1252, cp1253, cp1251, shift_jis, gbk…",
    )
    skip_rows: Annotated[int, Field(ge=0)] | Literal["auto"] = "auto"
    date_format: str = Field("auto", description='"auto" or a strftime pattern like %d/%m/%Y')
    rename: dict[str, str] = Field(default_factory=dict, description="Header → column name")
    derive: dict[str, str] = Field(default_factory=dict, description="New columns: SQL over a row")
    filter: str | None = Field(None, description="Keep rows where this SQL predicate is true")
    member: str | None = Field(
        None, description="In a .zip: the member to read, or a glob of members laid out alike"
    )
    sheet: Annotated[int, Field(ge=0)] | str | None = Field(
        None,
        description="In a spreadsheet: the sheet's name or index from 0 (default: the "
        "first with data)",
    )
    section: str | None = Field(
        None, description="In a file of several #-titled tables (GA4): the title of the one to read"
    )

    @field_validator("path", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("encoding")
    @classmethod
    def _codec(cls, value: str) -> str:
        if value == "auto":
            return value
        import codecs

        try:
            known = codecs.lookup(value)
        except LookupError:
            known = None
        if known is None or not getattr(known, "_is_text_encoding", True):
            raise ValueError(
                f"unknown encoding `{value}`: auto, or a Python codec name "
                "(utf-8, utf-16, cp1252, cp1253, cp1251, shift_jis, gbk…)"
            )
        return value


#: A number of a target: finite (YAML's `.nan` and `.inf` are not targets anyone can reach).
Finite = Annotated[float, Field(allow_inf_nan=False)]


class Target(_Model):
    """A KPI's goal."""

    value: Finite | None = Field(None, description="The target (per `per` unit when given)")
    per: Literal["day", "week", "month", "quarter", "year"] | None = Field(
        None, description="An additive goal per calendar unit, prorated by days"
    )
    by: str | None = Field(None, description="Dimension whose values have their own target")
    values: dict[str, Finite] = Field(default_factory=dict, description="Target per `by` value")
    total: Finite | None = Field(None, description="Target of rows not grouped by `by`")
    tolerance: Finite = Field(0.1, ge=0, description="Relative band counted as `warn`")


class Kpi(_Model):
    """A KPI: an aggregate over a source, or a formula over other KPIs."""

    source: str | None = Field(None, description="Source aggregated; none for a derived KPI")
    formula: str = Field(description="SQL aggregate (with source) or expression over KPI names")
    filter: str | None = Field(None, description="SQL predicate on rows, for this KPI only")
    date: str | None = Field(None, description="Another date column of the source")
    label: str | None = None
    description: str | None = None
    unit: Literal["number", "integer", "percent", "currency", "duration"] = "number"
    better: Literal["higher", "lower"] = "higher"
    hidden: bool = False
    target: Target | None = None
    group: str | None = Field(
        None, description="Section the KPI is shown in (ads, funnel…); KPIs without one come last"
    )
    total: Literal["blended", "sum", "none"] = Field(
        "blended",
        description="How the total row of a --by report is made: `blended` the KPI over all "
        "rows of its sources (labelled when it counts rows the KPI has no value for), `sum` "
        "from the rows shown, `none` no total row",
    )

    @field_validator("target", mode="before")
    @classmethod
    def _number_target(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"value": value}
        return value


class ConfigModel(_Model):
    """The whole kpi_config.yaml."""

    version: Literal[1] = 1
    settings: Settings = Field(default_factory=Settings)
    sources: dict[str, Source] = Field(default_factory=dict)
    kpis: dict[str, Kpi] = Field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    """A validated configuration and where it came from."""

    path: Path
    model: ConfigModel
    lines: dict[tuple[str, ...], int]
    #: the presets sources may name: the built-in ones and the user's (spec/user_presets)
    presets: dict[str, Preset] = field(default_factory=lambda: dict(PRESETS))
    #: the file of each user preset
    preset_files: dict[str, Path] = field(default_factory=dict)
    #: the memo of its formulas' parse results in the per-user cache, keyed by the file's
    #: content (:meth:`kpicli.spec.formula.Memo.of_config`): a command enters it (``with``)
    #: around the work that compiles formulas, and saves it. None when another memo (the
    #: Parquet cache's) was in use when the file was read.
    formulas: Memo | None = field(default=None, compare=False, repr=False)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def settings(self) -> Settings:
        return self.model.settings

    @property
    def sources(self) -> dict[str, Source]:
        return self.model.sources

    @property
    def kpis(self) -> dict[str, Kpi]:
        return self.model.kpis

    def where(self, *keys: str) -> Location:
        """The place of a key path: ``file:line key.path`` (the nearest known line)."""
        return locate(self.path, self.lines, keys)

    def dependencies(self, name: str) -> tuple[str, ...]:
        """KPI names a derived KPI refers to (empty for a source KPI)."""
        kpi = self.kpis[name]
        if kpi.source is not None:
            return ()
        return tuple(n for n in parse(kpi.formula).names if n in self.kpis)

    def order(self, names: list[str] | tuple[str, ...]) -> list[str]:
        """``names`` and everything they depend on, dependencies first.

        Depth first without recursion: a chain of thousands of derived KPIs is fine. A KPI
        met again while its own dependencies are being listed (a cycle, which
        :func:`check` refuses) is not followed twice."""
        out: list[str] = []
        placed: set[str] = set()
        for root in names:
            if root in placed:
                continue
            entered = {root}
            stack = [(root, iter(self.dependencies(root)))]
            while stack:
                name, deps = stack[-1]
                for dep in deps:
                    if dep not in placed and dep not in entered:
                        entered.add(dep)
                        stack.append((dep, iter(self.dependencies(dep))))
                        break
                else:
                    stack.pop()
                    placed.add(name)
                    out.append(name)
        return out

    def reads(self, names: list[str] | tuple[str, ...]) -> dict[str, tuple[str, ...]]:
        """The sources each KPI of ``names`` (and of what they depend on) reads, directly or
        through the KPIs it combines, in dependency order: one walk for them all."""
        out: dict[str, tuple[str, ...]] = {}
        for n in self.order(names):
            kpi = self.kpis[n]
            if kpi.source is not None:
                out[n] = (kpi.source,)
            else:
                deps = self.dependencies(n)
                out[n] = tuple(dict.fromkeys(s for d in deps for s in out.get(d, ())))
        return out

    def visible(self) -> list[str]:
        return [n for n, k in self.kpis.items() if not k.hidden]

    def changed(self, **update: Any) -> Config:
        """This configuration with some of its model's keys replaced (``kpis``,
        ``sources``): the same file, lines and presets (one's own included)."""
        return dataclasses.replace(self, model=self.model.model_copy(update=update))


# ---------------------------------------------------------------------------- YAML


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML that refuses duplicate keys: libyaml's parser (PyYAML's C loader, about ten
    times faster) where PyYAML has it, composing the same nodes with the same marks (each
    key's line is kept), else PyYAML's own."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key `{key}` (first on line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

MAX_CONFIG_BYTES = 1_000_000
#: Caps on the document once YAML aliases are expanded (an "alias bomb" is a few lines that
#: expand to billions of nodes) and on its nesting.
MAX_NODES = 100_000
MAX_DEPTH = 40


def _check_shape(node: yaml.Node, path: Path) -> None:
    """Refuse alias bombs, recursive aliases and absurd nesting before walking the tree."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(n: yaml.Node, depth: int) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        where = Location(str(path), n.start_mark.line + 1)
        if key in active:
            raise ConfigError("a YAML alias refers to itself", location=where)
        if depth > MAX_DEPTH:
            raise ConfigError(f"nested deeper than {MAX_DEPTH} levels", location=where)
        active.add(key)
        total = 1
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                total += size(k, depth + 1) + size(v, depth + 1)
        elif isinstance(n, yaml.SequenceNode):
            for item in n.value:
                total += size(item, depth + 1)
        active.discard(key)
        if total > MAX_NODES:
            raise ConfigError(
                f"the YAML expands to more than {MAX_NODES} values (aliases repeat their anchors)",
                location=where,
                hint="a KPI file needs no more than a few hundred values: check the aliases",
            )
        sizes[key] = total
        return total

    size(node, 0)


def _lines(node: yaml.Node, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], int]]:
    yield path, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, str(key.value))
            yield sub, key.start_mark.line + 1
            for p, line in _lines(value, sub):
                if p != sub:
                    yield p, line
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _lines(item, (*path, str(i)))


def locate(path: Path, lines: dict[tuple[str, ...], int], keys: tuple[str, ...]) -> Location:
    """``file:line key.path`` using the line of the deepest key path that exists (the file
    alone when none does: an empty document)."""
    keys = tuple(str(k) for k in keys)
    for n in range(len(keys), -1, -1):
        if keys[:n] in lines:
            return Location(str(path), lines[keys[:n]], key=".".join(keys) or None)
    return Location(str(path))


def find_config(explicit: str | None) -> Path:
    """``--config``, else ``$KPI_CONFIG``, else ``./kpi_config.yaml``."""
    chosen = explicit or os.environ.get("KPI_CONFIG") or DEFAULT_CONFIG
    return Path(chosen)


def read_yaml(path: Path) -> tuple[Any, dict[tuple[str, ...], int]]:
    """The YAML document (read safely, size- and alias-capped) and the line of each key path."""
    return parse_yaml(read_config_bytes(path), path)


def read_config_bytes(path: Path) -> bytes:
    """The bytes of a configuration (or preset) file: a regular file, size-capped."""
    try:
        raw = read_bounded(path, MAX_CONFIG_BYTES)  # a device or a FIFO is refused, unread
    except NotRegular as err:
        raise ConfigError(
            f"the configuration is {err.what}, not a regular file",
            location=Location(str(path)),
            hint="write the configuration to a file and pass its path with --config",
        ) from None
    except FileNotFoundError:
        raise ConfigError(
            "configuration file not found",
            location=Location(str(path)),
            hint="run `kpi init` to write a starter kpi_config.yaml, or pass --config PATH",
        ) from None
    except (IsADirectoryError, PermissionError, OSError) as err:
        raise ConfigError(
            f"cannot read the configuration: {err.strerror}", location=Location(str(path))
        ) from None
    if raw is None:
        raise ConfigError(
            f"configuration larger than {MAX_CONFIG_BYTES} bytes", location=Location(str(path))
        )
    return raw


def parse_yaml(raw: bytes, path: Path) -> tuple[Any, dict[tuple[str, ...], int]]:
    """:func:`read_yaml` of the bytes ``raw`` of the file ``path``: the document is composed
    once into nodes (with their lines), checked for alias bombs, then constructed."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"not UTF-8 (byte {err.start})",
            location=Location(str(path)),
            hint="save the file as UTF-8",
        ) from None
    loader = _Loader(text)  # a SafeLoader (C or Python) that refuses duplicate keys
    try:
        node = loader.get_single_node()
        data = None
        if node is not None:
            _check_shape(node, path)
            data = loader.construct_document(node)
    except RecursionError:
        raise ConfigError("nested too deeply", location=Location(str(path))) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = Location(str(path), mark.line + 1, mark.column + 1) if mark else Location(str(path))
        problem = getattr(err, "problem", None) or str(err)
        context = getattr(err, "context", None)
        msg = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
        raise ConfigError(msg, location=where, hint="check indentation and quoting") from None
    finally:
        loader.dispose()
    lines = dict(_lines(node)) if node is not None else {}
    return data, lines


# ---------------------------------------------------------------------------- validation

_MODELS: dict[str, type[BaseModel]] = {
    "": ConfigModel,
    "settings": Settings,
    "sources.*": Source,
    "kpis.*": Kpi,
    "kpis.*.target": Target,
}


def _model_at(loc: tuple[str, ...]) -> type[BaseModel] | None:
    shape = [loc[0]] if loc else []
    if len(loc) >= 2 and loc[0] in ("sources", "kpis"):
        shape.append("*")
        shape.extend(loc[2:])
    return _MODELS.get(".".join(shape))


def _pydantic_issues(err: ValidationError, cfg_path: Path, lines: dict) -> list[Issue]:
    issues = []
    for e in err.errors():
        loc = tuple(str(p) for p in e["loc"] if not str(p).startswith("function-"))
        # unions add the member's name to the path: drop those
        loc = tuple(
            p for p in loc if p not in ("int", "float", "str", "list[str]", "literal['auto']")
        )
        where = locate(cfg_path, lines, loc)
        kind = e["type"]
        hint = None
        if kind == "extra_forbidden":
            model = _model_at(loc[:-1])
            fields = list(model.model_fields) if model else []
            msg = f"unknown key `{loc[-1]}`"
            hint = did_you_mean(loc[-1], fields) or (
                f"allowed keys: {', '.join(fields)}" if fields else None
            )
        elif kind == "missing":
            msg = f"missing required key `{loc[-1]}`"
        elif kind == "finite_number":
            msg = f"{e['msg']} (got {e.get('input')!r})"
            hint = "write the target as a plain number, e.g. 0.03 or 50"
        elif kind in ("literal_error", "enum"):
            msg = f"invalid value {e.get('input')!r}: {e['msg'].lower()}"
        else:
            got = e.get("input")
            shown = f" (got {got!r})" if not isinstance(got, dict | list) else ""
            msg = f"{e['msg']}{shown}"
        issues.append(Issue(CONFIG, msg, where, hint))
    return issues


def _kpi_name_issue(name: str, where: str) -> Issue | None:
    if not NAME_RE.match(name):
        return Issue(
            CONFIG,
            f"KPI name `{name}` is not an identifier",
            where,
            "use letters, digits and underscores (snake_case), starting with a letter",
        )
    if name in RESERVED:
        return Issue(CONFIG, f"KPI name `{name}` is reserved", where, "choose another name")
    if name.startswith("__"):  # the engine's own columns (__p0, __range, __n_…)
        return Issue(
            CONFIG,
            f"KPI name `{name}` starts with `__`, which kpi keeps for its own columns",
            where,
            f"choose another name, e.g. `{name.lstrip('_') or 'kpi'}`",
        )
    return None


def check(
    model: ConfigModel, cfg_path: Path, lines: dict, presets: dict[str, Preset] | None = None
) -> list[Issue]:
    """Cross-reference checks: sources, formulas, KPI names, cycles, targets. ``presets``:
    those sources may name (default: the built-in ones)."""

    def at(*keys: str) -> Location:
        return locate(cfg_path, lines, keys)

    known = PRESETS if presets is None else presets
    issues: list[Issue] = []
    for sname, src in model.sources.items():
        issues += _source_issues(sname, src, at, known)
    deps: dict[str, list[str]] = {}
    for name, kpi in model.kpis.items():
        issues += _kpi_issues(model, name, kpi, at, deps)
    issues.extend(_cycles(deps, cfg_path, lines))
    return issues


def _source_issues(
    sname: str, src: Source, at: Callable[..., Location], presets: dict[str, Preset]
) -> list[Issue]:
    """A source's path, preset, derived columns and filter."""
    issues: list[Issue] = _table_issues(sname, src, at)
    if not src.path and src.table is None:
        issues.append(
            Issue(
                CONFIG,
                "`path` is empty",
                at("sources", sname, "path"),
                "give the files' glob in `path:`, or a table's name in `table:`",
            )
        )
    if src.preset is not None and src.preset not in presets:
        issues.append(
            Issue(
                CONFIG,
                f"unknown preset `{src.preset}`",
                at("sources", sname, "preset"),
                did_you_mean(src.preset, presets)
                or (f"known presets: {', '.join(presets)}" if presets else None),
            )
        )
    for col, text in src.derive.items():
        if issue := _sql_issue(text, ROW, at("sources", sname, "derive", col)):
            issues.append(issue)
    if src.filter is not None and (
        issue := _sql_issue(src.filter, ROW, at("sources", sname, "filter"))
    ):
        issues.append(issue)
    return issues


def _table_issues(sname: str, src: Source, at: Callable[..., Location]) -> list[Issue]:
    """A `table:` source: no `path:` beside it, its `columns:` declared, no file option."""
    if src.table is None:
        if src.columns:
            return [
                Issue(
                    CONFIG,
                    "`columns:` is for a `table:` source (files name their columns in their "
                    "header)",
                    at("sources", sname, "columns"),
                    "remove `columns:`",
                )
            ]
        return []
    issues = []
    if not TABLE_NAME.fullmatch(src.table):
        issues.append(
            Issue(
                CONFIG,
                f"`{src.table}` is not a table's name",
                at("sources", sname, "table"),
                "write it as table, db.table or project.dataset.table (letters, digits, _, -, $; "
                "a trailing * for a wildcard table)",
            )
        )
    if src.path:
        issues.append(
            Issue(
                CONFIG,
                "a source reads files (`path:`) or a table (`table:`), not both",
                at("sources", sname, "path"),
                "make two sources, or remove one of the keys",
            )
        )
    if not src.columns:
        issues.append(
            Issue(
                CONFIG,
                "a `table:` source lists the columns kpi reads, with their types",
                at("sources", sname, "table"),
                "add `columns: {date: date, channel: text, spend: number, clicks: integer}`",
            )
        )
    given = src.model_fields_set
    for key in FILE_OPTIONS:
        if key in given:
            issues.append(
                Issue(
                    CONFIG,
                    f"`{key}:` says how to read files; a `table:` source has typed columns",
                    at("sources", sname, key),
                    f"remove `{key}:` (a table's types are in `columns:`)",
                )
            )
    return issues


def _kpi_issues(
    model: ConfigModel,
    name: str,
    kpi: Kpi,
    at: Callable[..., Location],
    deps: dict[str, list[str]],
) -> list[Issue]:
    """A KPI's name, formula, references and target (not checked further when its formula
    does not parse); a derived KPI's dependencies go in ``deps``, for the cycle check."""
    issues: list[Issue] = []
    if issue := _kpi_name_issue(name, at("kpis", name)):
        issues.append(issue)
    place = AGGREGATE if kpi.source is not None else DERIVED
    if issue := _sql_issue(kpi.formula, place, at("kpis", name, "formula")):
        return [*issues, issue]
    if kpi.source is not None:
        issues += _source_kpi_issues(model, name, kpi, at)
    else:
        issues += _derived_kpi_issues(model, name, kpi, at, deps)
    if kpi.target is not None:
        issues += _target_issues(name, kpi.target, at)
    return issues


def _source_kpi_issues(
    model: ConfigModel, name: str, kpi: Kpi, at: Callable[..., Location]
) -> list[Issue]:
    issues: list[Issue] = []
    assert kpi.source is not None
    if kpi.source not in model.sources:
        issues.append(
            Issue(
                CONFIG,
                f"unknown source `{kpi.source}`",
                at("kpis", name, "source"),
                did_you_mean(kpi.source, model.sources)
                or f"declared sources: {', '.join(model.sources) or 'none'}",
                refers=("sources", kpi.source),
            )
        )
    if kpi.filter is not None and (
        issue := _sql_issue(kpi.filter, ROW, at("kpis", name, "filter"))
    ):
        issues.append(issue)
    return issues


def _derived_kpi_issues(
    model: ConfigModel,
    name: str,
    kpi: Kpi,
    at: Callable[..., Location],
    deps: dict[str, list[str]],
) -> list[Issue]:
    issues: list[Issue] = []
    for key in ("filter", "date"):
        if getattr(kpi, key) is not None:
            issues.append(
                Issue(
                    CONFIG,
                    f"`{key}` needs a `source`",
                    at("kpis", name, key),
                    "a KPI without source combines other KPIs; move the filter to them",
                )
            )
    names = parse(kpi.formula).names
    for n in (n for n in names if n not in model.kpis):
        issues.append(
            Issue(
                CONFIG,
                f"unknown KPI `{n}` in formula `{kpi.formula}`",
                at("kpis", name, "formula"),
                did_you_mean(n, model.kpis) or "a formula without source refers to KPI names",
                refers=("kpis", n),
            )
        )
    deps[name] = [n for n in names if n in model.kpis]
    return issues


def _target_issues(name: str, t: Target, at: Callable[..., Location]) -> list[Issue]:
    issues: list[Issue] = []
    if t.values and t.by is None:
        issues.append(
            Issue(
                CONFIG,
                "target `values` needs `by`",
                at("kpis", name, "target", "values"),
                "say which dimension the values are for: `by: channel`",
            )
        )
    if t.value is None and t.total is None and not t.values:
        issues.append(Issue(CONFIG, "target has no value", at("kpis", name, "target")))
    return issues


def no_kpis_issue(cfg: Config) -> Issue | None:
    """The problem of a configuration without KPIs: `kpi report` and `kpi validate` refuse it
    (other commands, `kpi sources` among them, work on its sources)."""
    if cfg.kpis:
        return None
    return Issue(
        CONFIG,
        "the configuration declares no KPIs",
        cfg.where("kpis"),
        "add KPIs under `kpis:`; `kpi init` writes a commented starter file",
    )


def _sql_issue(text: str, place: str, where: str) -> Issue | None:
    """The problem of a formula, filter or derive at its place (see formula.check)."""
    try:
        check_sql(text, place)
    except FormulaError as err:
        return Issue(CONFIG, str(err), where, err.hint)
    return None


def _cycles(deps: dict[str, list[str]], cfg_path: Path, lines: dict) -> list[Issue]:
    """Each reference cycle once, found depth first without recursion."""
    issues: list[Issue] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    reported: set[frozenset[str]] = set()
    for start in deps:
        if start in state:
            continue
        state[start] = 1
        path = [start]
        pending = [iter(deps.get(start, []))]
        while pending:
            for d in pending[-1]:
                if state.get(d) == 1:
                    cycle = [*path[path.index(d) :], d]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        issues.append(
                            Issue(
                                CONFIG,
                                f"reference cycle: {' → '.join(cycle)}",
                                locate(cfg_path, lines, ("kpis", d, "formula")),
                                "a KPI cannot depend on itself, directly or through others",
                            )
                        )
                elif state.get(d) is None:
                    state[d] = 1
                    path.append(d)
                    pending.append(iter(deps.get(d, [])))
                    break
            else:
                state[path.pop()] = 2
                pending.pop()
    return issues


def user_presets(
    path: Path, model: ConfigModel | None, lines: dict, folder: Path | None = None
) -> tuple[dict[str, Preset], dict[str, Path], list[Issue]]:
    """The presets a configuration's sources may name (built-in, then the user's:
    :mod:`kpicli.spec.user_presets`), each user preset's file, and their files' problems.
    ``folder``: read this folder instead of the configuration's (`kpi init`)."""
    if folder is None and (model is None or model.settings.presets is None):
        try:  # no presets/ beside the configuration: the module and its models not needed
            none = not (path.parent / USER_PRESETS).is_dir()
        except OSError:
            none = True
        if none:
            return dict(PRESETS), {}, []
    from kpicli.spec.user_presets import YamlTools, folder_of, load_folder

    explicit = False
    if folder is None:
        folder, explicit = folder_of(path, model.settings.presets if model else None)
    tools = YamlTools(read_yaml, locate, _pydantic_issues)
    where = locate(path, lines, ("settings", "presets"))
    return load_folder(folder, tools, explicit=explicit, where=where)


def config_issues(path: Path) -> tuple[Config | None, list[Issue]]:
    """Load and check a configuration, collecting every problem (for `kpi validate`).

    The formulas are checked with the memo of the file's content (the per-user cache's,
    :meth:`~kpicli.spec.formula.Memo.of_config`; saved here, and kept in the Config for
    the command's later work), unless a memo is in use already (the Parquet cache's)."""
    raw = read_config_bytes(path)
    formulas = Memo.of_config(raw) if memo_in_use() is None else None
    if formulas is None:
        return _config_issues(path, raw, None)
    with formulas:
        found = _config_issues(path, raw, formulas)
    formulas.save()
    return found


def _config_issues(
    path: Path, raw: bytes, formulas: Memo | None
) -> tuple[Config | None, list[Issue]]:
    data, lines = parse_yaml(raw, path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None, [Issue(CONFIG, "the configuration must be a mapping", Location(str(path), 1))]
    try:
        model = ConfigModel.model_validate(data)
    except ValidationError as err:
        return None, _pydantic_issues(err, path, lines)
    presets, files, issues = user_presets(path, model, lines)
    issues += check(model, path, lines, presets)
    cfg = Config(
        path=path, model=model, lines=lines, presets=presets, preset_files=files, formulas=formulas
    )
    return cfg, issues


def load_config(path: str | Path | None = None) -> Config:
    """Load, validate and check a configuration; raise ConfigError on the first problem."""
    cfg_path = find_config(str(path) if path is not None else None)
    cfg, issues = config_issues(cfg_path)
    if issues:
        first = issues[0]
        more = (
            f" (and {len(issues) - 1} more problems: run `kpi validate`)" if len(issues) > 1 else ""
        )
        raise ConfigError(first.message + more, location=first.where, hint=first.hint)
    assert cfg is not None
    return cfg
