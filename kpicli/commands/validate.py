"""`kpi validate`: every problem of a configuration and of the data behind it, at once.

Where `kpi report` stops at the first error, this collects :class:`~kpicli.errors.Issue`s:

1. the configuration (:func:`kpicli.spec.config.config_issues`): YAML, keys and types, names,
   formulas that parse, cycles, targets — each at ``file:line key.path``;
2. each source (skipped when the configuration already has a problem there): its files match
   and can be read, its `rename`/`derive`/`filter`/date columns exist
   (:func:`kpicli.ingest.scan.scan_source`);
3. each KPI over a source: the columns of its formula and filter exist ("did you mean"), its
   aggregate compiles; each derived KPI's formula compiles;
4. targets: a `by` column that the KPI's sources have, `values` that match values found in
   that column (a warning otherwise), no `per` on a percentage (a warning);
5. values: one lazy query per source reads every column used (projection pushdown keeps it to
   those), which parses every value; when it fails, one query per column names the column;
6. when nothing is wrong so far, the report over every KPI and all dates is run through the
   engine, as `kpi report -k <every KPI>` would, so that a clean validate means a report runs.

``code`` of an issue: ``config`` (exit 2), ``data`` (exit 3), ``warning`` (exit 0).
"""

from __future__ import annotations

import re
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpicli.errors import (
    Issue,
    IssueCode,
    KpiError,
    Location,
    Notes,
    UsageError,
    did_you_mean,
    engine_detail,
)
from kpicli.ingest.memo import ReadMemo
from kpicli.ingest.remote import is_remote

if TYPE_CHECKING:
    from kpicli.spec.config import Config

CONFIG, DATA, WARNING = IssueCode.CONFIG, IssueCode.DATA, IssueCode.WARNING
#: How Polars names the column an error is about (an engine message, not one of kpi's).
_NAMED_COLUMN = re.compile(r"column ['\"`]([^'\"`]+)['\"`]")


@dataclass
class SourceCheck:
    """What was read of one source."""

    name: str
    files: list[str] = field(default_factory=list)
    rows: int | None = None  # rows after the source's filter; None when not read
    table: str | None = None  # a `table:` source's table (its rows are read by Spark only)
    first: str | None = None  # first and last dates of its date column
    last: str | None = None


@dataclass
class Validation:
    """The outcome of `kpi validate`."""

    path: Path
    issues: list[Issue] = field(default_factory=list)
    sources: list[SourceCheck] = field(default_factory=list)
    kpis: int = 0

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.code != WARNING]

    @property
    def exit_code(self) -> int:
        """2 when the configuration has a problem, else 3 when the data has one, else 0."""
        codes = {i.code for i in self.issues}
        return 2 if CONFIG in codes else 3 if DATA in codes else 0


def validate(
    path: str | Path | None = None, *, notes: Notes | None = None, memo: ReadMemo | None = None
) -> Validation:
    """Check the configuration at ``path`` (default as for `kpi report`) and its data;
    ``notes`` gets the warnings of the reading (a file read the careful way…); ``memo``:
    what the reader remembers from one read of the files to the next (a fresh one when
    None)."""
    from kpicli.spec.config import config_issues, find_config

    cfg_path = find_config(str(path) if path is not None else None)
    result = Validation(cfg_path)
    try:
        cfg, issues = config_issues(cfg_path)
        if cfg is None and issues:
            cfg, more = _repaired(cfg_path)
            seen = {(i.where, i.message) for i in issues}
            issues += [i for i in more if (i.where, i.message) not in seen]
    except KpiError as err:  # not found, unreadable, not YAML: nothing else can be checked
        result.issues.append(Issue.of(err))
        return result
    result.issues.extend(issues)
    if cfg is None:
        return result
    from kpicli.spec.config import no_kpis_issue

    if (empty := no_kpis_issue(cfg)) is not None:
        result.issues.append(empty)
    result.kpis = len(cfg.kpis)
    from kpicli.ingest.preset_dates import with_preset_dates

    memo = memo if memo is not None else ReadMemo()
    with cfg.formulas or nullcontext():  # the formulas' memo of the per-user cache
        _Checker(with_preset_dates(cfg, memo), result, notes, memo).run()
    if cfg.formulas is not None:
        cfg.formulas.save()
    result.issues.sort(key=_order(cfg_path))
    return result


def _repaired(cfg_path: Path) -> tuple[Config | None, list[Issue]]:
    """When the schema rejects the file, check the rest of it too.

    The entries the schema rejected are repaired for the rest of the checks: a bad key is
    dropped (its default applies), an entry that cannot be repaired (a KPI without formula) is
    removed, and "unknown KPI/source" issues about removed entries are left out. So a typo in
    a key does not hide a misspelt KPI name or a missing column further down.
    """
    from copy import deepcopy

    from pydantic import ValidationError

    from kpicli.spec import config as config_module
    from kpicli.spec.config import Config, ConfigModel

    data, lines = config_module.read_yaml(cfg_path)
    if not isinstance(data, dict):
        return None, []
    data = deepcopy(data)
    removed: dict[str, set[str]] = {"kpis": set(), "sources": set()}
    for _ in range(5):
        try:
            model = ConfigModel.model_validate(data)
            break
        except ValidationError as err:
            for e in err.errors():
                _repair(data, tuple(str(p) for p in e["loc"]), e["type"], removed)
    else:
        return None, []
    presets, files, issues = config_module.user_presets(cfg_path, model, lines)
    issues += [
        issue
        for issue in config_module.check(model, cfg_path, lines, presets)
        if issue.refers is None or issue.refers[1] not in removed[issue.refers[0]]
    ]
    cfg = Config(path=cfg_path, model=model, lines=lines, presets=presets, preset_files=files)
    return cfg, issues


def _repair(data: dict, loc: tuple[str, ...], kind: str, removed: dict[str, set[str]]) -> None:
    """Drop what the schema rejected at ``loc`` from ``data`` (in place)."""
    if not loc:
        return
    head = loc[0]
    if head in ("kpis", "sources") and isinstance(data.get(head), dict) and len(loc) >= 2:
        entries = data[head]
        entry = entries.get(loc[1])
        if len(loc) >= 3 and isinstance(entry, dict) and kind != "missing":
            entry.pop(loc[2], None)
        else:
            entries.pop(loc[1], None)
            removed[head].add(loc[1])
    elif head == "settings" and isinstance(data.get(head), dict) and len(loc) >= 2:
        data[head].pop(loc[1], None)
    else:
        data.pop(head, None)


def _order(cfg_path: Path):
    """Issues in the order of the file's lines; then those located elsewhere."""

    def key(issue: Issue) -> tuple[int, int]:
        where = issue.where
        if where is not None and where.file == str(cfg_path) and where.line is not None:
            return (0, where.line)
        return (1, 0)

    return key


class _Checker:
    """The data checks of one configuration (steps 2 to 6 of the module docstring)."""

    def __init__(
        self,
        cfg: Config,
        result: Validation,
        notes: Notes | None = None,
        memo: ReadMemo | None = None,
    ):
        self.cfg = cfg
        self.result = result
        self.notes = notes
        self.memo = memo if memo is not None else ReadMemo()  # one for every read of the run
        keys = [i.where.key or "" for i in result.issues if i.where is not None]
        self.bad_sources = {
            s
            for s in cfg.sources
            if any(k == f"sources.{s}" or k.startswith(f"sources.{s}.") for k in keys)
        }
        self.bad_kpis = {
            n for n in cfg.kpis if any(k == f"kpis.{n}" or k.startswith(f"kpis.{n}.") for k in keys)
        }
        self.cyclic = any("reference cycle" in i.message for i in result.issues)
        self.columns: dict[str, dict[str, Any]] = {}  # source → its schema
        self.frames: dict[str, Any] = {}  # source → its LazyFrame
        #: (source, column) → values found (None: the values could not be read)
        self.values: dict[tuple[str, str], set[str] | None] = {}

    def add(
        self,
        code: IssueCode,
        message: str,
        where: Location | None = None,
        hint: str | None = None,
    ) -> None:
        self.result.issues.append(Issue(code, message, where, hint))

    def run(self) -> None:
        self.start_spark()
        for name in self.cfg.sources:
            self.check_source(name)
        self.check_derived()
        self.check_targets()
        self.check_unused()
        if not self.result.errors:
            self.check_report()

    def start_spark(self) -> None:
        """Remote files (``s3a://``…) are described through Spark's file system: its
        session started first; when it cannot be, the error is those sources' issue."""
        from kpicli.execute.engine import remote_sources, spark_session

        remote = remote_sources(self.cfg, self.cfg.sources)
        if not remote:
            return
        try:
            spark_session(self.cfg)
        except KpiError as err:
            self.result.issues.append(Issue.of(err))
            self.bad_sources |= {name for name, _ in remote}

    # ------------------------------------------------------------------ sources and KPIs

    def check_source(self, name: str) -> None:
        """Step 2 to 5 of the module docstring for one source."""
        check = SourceCheck(name)
        self.result.sources.append(check)
        if name in self.bad_sources:
            return
        sf = self.scan(name)
        if sf is None:
            return
        check.files = [str(f) for f in sf.files]
        check.table = sf.table
        self.columns[name] = dict(sf.schema)
        used: list[str] = list(sf.date_columns)
        aggregates = self.check_kpis(name, sf, used)
        if sf.table is not None or any(is_remote(f) for f in sf.files):
            return  # its columns checked; its rows are Spark's (or DuckDB's) to read
        self.frames[name] = sf.frame
        self.check_lacking(name, sf)
        self.check_types(name, sf, aggregates)
        self.count_rows(name, sf, used, check)

    def scan(self, name: str) -> Any:
        """The source's SourceFrame, or None (its problem added)."""
        from kpicli.ingest.scan import mixed_encodings, scan_source

        try:
            sf = scan_source(self.cfg, name, notes=self.notes, memo=self.memo)
            if mixed_encodings(
                [sf], memo=self.memo
            ):  # every row is read: bytes past a sample not UTF-8 first
                sf = scan_source(self.cfg, name, notes=self.notes, memo=self.memo)
        except KpiError as err:
            self.result.issues.append(Issue.of(err))
            return None
        return sf

    def check_kpis(self, name: str, sf: Any, used: list[str]) -> dict[str, Any]:
        """The columns of the formula and filter of each KPI over the source (those found
        go in ``used``); the aggregate of each KPI whose columns all exist."""
        import polars as pl

        from kpicli.plan.build import missing_columns
        from kpicli.spec.formula import AGGREGATE, FormulaError, compile_sql, kinds_of, parse

        have = list(sf.schema)
        kinds = kinds_of(sf.schema)
        aggregates: dict[str, Any] = {}
        for kpi_name, kpi in self.cfg.kpis.items():
            if kpi.source != name or kpi_name in self.bad_kpis:
                continue
            for text in (kpi.formula, kpi.filter):
                used += [c for c in parse(text).names if c in have] if text else []
            missing = list(missing_columns(self.cfg, kpi_name, have))  # as the plan checks
            for err in missing:
                self.add(DATA, err.message, err.location, err.hint)
            if missing:
                continue
            try:
                text = compile_sql(kpi.formula, AGGREGATE, kinds, predicate=kpi.filter)
                aggregates[kpi_name] = pl.sql_expr(text).cast(pl.Float64).alias(kpi_name)
            except FormulaError as err:  # the config check said it first (not reached)
                self.add(CONFIG, str(err), self.cfg.where("kpis", kpi_name, "formula"), err.hint)
            except pl.exceptions.PolarsError as err:
                self.add(
                    CONFIG,
                    f"invalid formula `{kpi.formula}`: {engine_detail(err)}",
                    self.cfg.where("kpis", kpi_name, "formula"),
                )

        return aggregates

    def check_lacking(self, name: str, sf: Any) -> None:
        """The columns its KPIs need that some files of the source lack."""
        from kpicli.ingest.scan import request_columns

        have = list(sf.schema)
        wanted: dict[str, str] = {}
        for kpi_name, kpi in self.cfg.kpis.items():
            if kpi.source == name and kpi_name not in self.bad_kpis:
                wanted.update(
                    (c, w) for c, w in request_columns(self.cfg, [kpi_name]).items() if c in have
                )
                if kpi.target is not None and kpi.target.by in have:
                    wanted.setdefault(kpi.target.by, f"the target of KPI `{kpi_name}` is by it")
        for err in sf.lacking(wanted):
            self.result.issues.append(Issue.of(err))

    def check_types(self, name: str, sf: Any, aggregates: dict[str, Any]) -> None:
        """Each aggregate over the source's types (SUM over text, and the like)."""
        import polars as pl

        from kpicli.spec.formula import parse

        def kpi_text(kpi_name: str) -> str:
            kpi = self.cfg.kpis[kpi_name]
            return f"({kpi.formula}) AND ({kpi.filter})" if kpi.filter else kpi.formula

        for kpi_name, expr in aggregates.items():  # types: SUM over text, and the like
            try:
                sf.frame.head(0).select(expr).collect()
            except pl.exceptions.PolarsError as err:
                text_columns = [c for c in parse(kpi_text(kpi_name)).names if _is_text(sf, c)]
                self.add(
                    DATA,
                    f"KPI `{kpi_name}`: `{self.cfg.kpis[kpi_name].formula}` cannot be computed "
                    f"over source `{name}`: {engine_detail(err)}",
                    self.cfg.where("kpis", kpi_name, "formula"),
                    (
                        f"column {', '.join(f'`{c}`' for c in text_columns)} is read as text: "
                        "check its values (a number format the source's options do not match?)"
                        if text_columns
                        else "check the types of the columns it uses"
                    ),
                )

    def count_rows(self, name: str, sf: Any, used: list[str], check: SourceCheck) -> None:
        """Step 5: one query reads every column used (each value parsed), counts the rows and
        finds the date range; a failing query is narrowed down to the columns at fault."""
        import polars as pl

        from kpicli.ingest.scan import misread_files, scan_source

        used = list(dict.fromkeys(used))
        exprs = [pl.len().alias("__rows"), *(pl.col(c).null_count() for c in used)]
        date_col = self.cfg.sources[name].date
        if date_col:
            exprs += [
                pl.col(date_col).min().alias("__first"),
                pl.col(date_col).max().alias("__last"),
            ]
        if misread_files([sf], notes=self.notes, memo=self.memo):
            # a row past the sample that the fast path reads without a word when a report
            # reads only some columns (a cell too many: the rest shifted): every row is read
            # whole here, and such a file goes through the tolerant reader, which warns
            try:
                sf = scan_source(self.cfg, name, notes=self.notes, memo=self.memo)
            except KpiError as again:
                self.result.issues.append(Issue.of(again))
                return
            self.frames[name] = sf.frame
        try:
            row = sf.frame.select(exprs).collect().row(0, named=True)
        except pl.exceptions.PolarsError as err:
            if not misread_files([sf], notes=self.notes, memo=self.memo):
                self.locate_parse_error(name, sf, used, err)
                return
            # a file the fast path cannot read past its sample (a stray quote): read again,
            # that file by the tolerant reader (which warns), as `kpi report` does
            try:
                sf = scan_source(self.cfg, name, notes=self.notes, memo=self.memo)
                self.frames[name] = sf.frame
                row = sf.frame.select(exprs).collect().row(0, named=True)
            except KpiError as again:
                self.result.issues.append(Issue.of(again))
                return
            except pl.exceptions.PolarsError as again:
                self.locate_parse_error(name, sf, used, again)
                return
        check.rows = int(row["__rows"])
        check.first = _iso(row.get("__first"))
        check.last = _iso(row.get("__last"))

    def locate_parse_error(self, name: str, sf: Any, used: list[str], err: Exception) -> None:
        """The combined query failed: find each column whose values do not parse.

        One query per column; the column an error names (Polars says ``column 'spend'``) is
        the one blamed, since reading one column can need others (the reader's own checks).
        """
        import polars as pl

        files = Location(", ".join(str(f) for f in sf.files))  # the files, named together
        src = self.cfg.sources[name]
        found: dict[tuple[str, str], None] = {}
        for col in used:
            try:
                sf.frame.select(pl.col(col).null_count()).collect()
            except pl.exceptions.PolarsError as col_err:
                message = engine_detail(col_err)
                named = _NAMED_COLUMN.search(message)
                blamed = named[1] if named and named[1] in sf.schema else col
                found.setdefault((blamed, message))
        for col, message in found:
            where = self.cfg.where("sources", name)
            hint = (
                f"dates are read with date_format `{src.date_format}`: set `date_format:` "
                f"on source `{name}` ({where})"
                if col in sf.date_columns
                else f"fix the value, or set `decimal:`/`delimiter:` on source `{name}` ({where})"
            )
            self.add(DATA, f"source `{name}`, column `{col}`: {message}", files, hint)
        if not found:
            self.add(
                DATA,
                f"source `{name}`: cannot read the data: {engine_detail(err)}",
                files,
                "check the file's delimiter, encoding and skip_rows options",
            )

    def check_derived(self) -> None:
        import polars as pl

        from kpicli.spec.formula import DERIVED, FLOAT, FormulaError, compile_sql

        kinds = dict.fromkeys(self.cfg.kpis, FLOAT)
        for kpi_name, kpi in self.cfg.kpis.items():
            if kpi.source is not None or kpi_name in self.bad_kpis:
                continue
            try:
                pl.sql_expr(compile_sql(kpi.formula, DERIVED, kinds))
            except (FormulaError, pl.exceptions.PolarsError) as err:
                self.add(
                    CONFIG,
                    f"invalid formula `{kpi.formula}`: {engine_detail(err)}",
                    self.cfg.where("kpis", kpi_name, "formula"),
                )

    # ------------------------------------------------------------------ targets

    def sources_of(self, kpi_name: str) -> list[str]:
        """The sources a KPI reads, directly or through the KPIs it combines (cycle-safe)."""
        from kpicli.spec.formula import FormulaError, parse

        seen: set[str] = set()
        out: list[str] = []
        stack = [kpi_name]
        while stack:
            n = stack.pop()
            if n in seen or n not in self.cfg.kpis:
                continue
            seen.add(n)
            kpi = self.cfg.kpis[n]
            if kpi.source is not None:
                if kpi.source not in out:
                    out.append(kpi.source)
                continue
            try:
                stack.extend(parse(kpi.formula).names)
            except FormulaError:
                continue
        return out

    def values_of(self, sources: list[str], column: str) -> set[str] | None:
        """The values of ``column`` in ``sources`` (None when one could not be read: that
        is reported once, elsewhere)."""
        import polars as pl

        found: set[str] = set()
        unreadable = False
        for s in sources:
            if s not in self.frames:  # a table: its values are not read here
                return None
            if (s, column) not in self.values:
                try:
                    frame = self.frames[s].select(pl.col(column).cast(pl.Utf8).unique())
                    self.values[(s, column)] = set(frame.collect().to_series().drop_nulls())
                except pl.exceptions.PolarsError:
                    self.values[(s, column)] = None
            values = self.values[(s, column)]
            unreadable = unreadable or values is None
            found |= values or set()
        return None if unreadable else found

    def check_targets(self) -> None:
        for kpi_name, kpi in self.cfg.kpis.items():
            t = kpi.target
            if t is None or kpi_name in self.bad_kpis:
                continue
            if t.per is not None and kpi.unit == "percent":
                self.add(
                    WARNING,
                    f"KPI `{kpi_name}` is a percentage, but its target is `per: {t.per}`",
                    self.cfg.where("kpis", kpi_name, "target", "per"),
                    "`per` prorates an amount (leads, spend) by days; a rate's target has no `per`",
                )
            if t.by is None:
                continue
            read = [s for s in self.sources_of(kpi_name) if s in self.columns]
            lacking = [s for s in read if t.by not in self.columns[s]]
            for s in lacking:
                have = list(self.columns[s])
                self.add(
                    CONFIG,
                    f"KPI `{kpi_name}`: the target is by `{t.by}`, but source `{s}` has no "
                    f"column `{t.by}`",
                    self.cfg.where("kpis", kpi_name, "target", "by"),
                    did_you_mean(t.by, have)
                    or f"add it to source `{s}` with `derive`; its columns are: {', '.join(have)}",
                )
            if lacking or not read or not t.values:
                continue
            found = self.values_of(read, t.by)
            if found is None:  # "no row has …" would be false: the rows were not read
                continue
            for value in t.values:
                if value not in found:
                    close = did_you_mean(value, sorted(found))
                    self.add(
                        WARNING,
                        f"KPI `{kpi_name}`: no row has {t.by} `{value}`, so its target is unused",
                        self.cfg.where("kpis", kpi_name, "target", "values", value),
                        close or f"values of `{t.by}` in the data: {_some(found)}",
                    )

    def check_unused(self) -> None:
        used = {k.source for k in self.cfg.kpis.values()}
        for name in self.cfg.sources:
            if name not in used:
                self.add(
                    WARNING,
                    f"source `{name}` is used by no KPI",
                    self.cfg.where("sources", name),
                    "add a KPI with `source: " + name + "`, or remove the source",
                )

    # ------------------------------------------------------------------ the report itself

    def not_run(self, name: str, key: str, what: str) -> None:
        """The warning that the report was not run: source ``name`` is ``what`` (at its
        ``key``), which settings.engine cannot read."""
        engine = self.cfg.settings.engine
        self.add(
            WARNING,
            f"the report was not run: source `{name}` is {what}, which settings.engine "
            f"({engine}) cannot read",
            self.cfg.where("sources", name, key),
            "set `settings.engine: spark` (or, for a table, `duckdb` with "
            "`settings.duckdb.database`) for kpi validate to run the report there",
        )

    def check_report(self) -> None:
        """Run the whole report once (every KPI, all dates): what cron will run."""
        from kpicli.execute.engine import refuse_tables, remote_sources, run_report
        from kpicli.plan.build import Request

        if not self.cfg.kpis or self.cyclic:
            return
        engine = self.cfg.settings.engine
        tables = [n for n, src in self.cfg.sources.items() if src.table is not None]
        try:
            refuse_tables(self.cfg, tables, engine)
        except UsageError:
            table = self.cfg.sources[tables[0]].table
            self.not_run(tables[0], "table", f"the table `{table}`")
            return
        remote = remote_sources(self.cfg, self.cfg.sources)
        if remote and engine != "spark":
            self.not_run(remote[0][0], "path", f"the remote path `{remote[0][1]}`")
            return
        try:
            run_report(
                self.cfg, Request(kpis=tuple(self.cfg.kpis)), notes=self.notes, memo=self.memo
            )
        except KpiError as err:
            self.result.issues.append(Issue.of(err))


def _is_text(sf: Any, column: str) -> bool:
    import polars as pl

    return sf.schema.get(column) == pl.Utf8


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _some(values: set[str], n: int = 8) -> str:
    shown = sorted(values)[:n]
    more = f", … ({len(values) - n} more)" if len(values) > n else ""
    return ", ".join(shown) + more if shown else "none"
