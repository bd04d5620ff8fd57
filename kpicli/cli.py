"""The `kpi` command line: options in, a Request to the core, a Result to a renderer.

This is the only module that imports Typer. Heavy modules (Polars, the engine, the
renderers) are imported inside the commands, so `kpi --help` starts fast.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import importlib
import io
import os
import shutil
import sys
import traceback
from collections.abc import Callable
from enum import StrEnum
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from kpicli.errors import KpiError, Notes, UsageError
from kpicli.render import BINARY_FORMATS, FORMATS
from kpicli.spec.periods import PERIOD_FORMS
from kpicli.version import __version__

if TYPE_CHECKING:
    from kpicli.plan.build import Request

#: The exceptions of the Click that Typer parses with (its own copy since Typer 0.16, the
#: click package before), found through the public ``typer.BadParameter``.
click_errors = importlib.import_module(typer.BadParameter.__module__)

#: Request fields whose option is not ``--`` and the field's name with dashes.
_OPTIONS = {"kpis": "--kpi", "date_from": "--from", "date_to": "--to"}


def option_word(field: str) -> str:
    """How the CLI names a request field in a library message: by its option
    (``as_of`` → ``--as-of``, ``kpis`` → ``--kpi``)."""
    return _OPTIONS.get(field, "--" + field.replace("_", "-"))


def _choices(param: object) -> list[str]:
    """The values a parameter accepts, when it is a choice (an Enum option)."""
    from enum import Enum

    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return [str(member.value) for member in annotation]
    choices = getattr(getattr(param, "type", None), "choices", None)
    return [str(c) for c in choices] if choices else []


def usage_error(err: click_errors.UsageError) -> UsageError:
    """Click's usage error (a bad choice, a value of the wrong type, an unknown option, a
    missing argument…) as kpi's: one ``usage error:`` block with a hint, exit 2."""
    import ast
    import re

    from kpicli.errors import did_you_mean

    command = err.ctx.command_path if err.ctx is not None else "kpi"
    help_hint = f"see `{command} --help`"
    if isinstance(err, click_errors.BadParameter) and not isinstance(
        err, click_errors.MissingParameter
    ):
        param = err.param
        opts = getattr(param, "opts", None) or []
        name = max(opts, key=len) if opts else getattr(param, "name", None) or "a value"
        text = re.sub(r"^Value error, ", "", str(err.message)).rstrip(".")
        choices = _choices(param)
        quoted = re.match(r"^('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\") is not one of", text)
        problem = f"{text[:1].lower()}{text[1:]}"
        if not choices:
            return UsageError(f"{name}: {problem}", hint=help_hint)
        value = ast.literal_eval(quoted.group(1)) if quoted else None
        close = did_you_mean(value, choices) if isinstance(value, str) else None
        return UsageError(
            f"{name}: unknown value `{value}`" if quoted else f"{name}: {problem}",
            hint=f"use one of {', '.join(choices)}" + (f" ({close})" if close else ""),
        )
    message = err.format_message().strip().rstrip(".")
    hint = help_hint
    suggestion = re.search(r"\s*\(?(Did you mean [^?]*\?)\)?$", message)
    if suggestion:
        message = message[: suggestion.start()].rstrip(" .")
        hint = suggestion.group(1)[:1].lower() + suggestion.group(1)[1:] + f" ({help_hint})"
    return UsageError(message[:1].lower() + message[1:], hint=hint)


class KpiUsage(click_errors.UsageError):
    """A Click usage error shown the kpi way (Click shows it and exits with its code)."""

    def __init__(self, err: click_errors.UsageError) -> None:
        super().__init__(err.message, err.ctx)
        self.kpi_error = usage_error(err)
        self.exit_code = self.kpi_error.exit_code

    def show(self, file: object = None) -> None:
        _err(self.kpi_error.render())


class KpiGroup(TyperGroup):
    """The `kpi` command group: every usage error that Click finds while parsing (a bad
    ``--format``, ``--grain``, ``--compare``, ``--fail-on``… value, a non-number ``--limit``,
    an unknown option or command) is shown in one place, as kpi shows its own errors."""

    def make_context(self, *args: object, **kwargs: object) -> typer.Context:
        try:
            return super().make_context(*args, **kwargs)  # type: ignore[arg-type]
        except click_errors.UsageError as err:
            raise _kpi_usage(err) from None

    def invoke(self, ctx: typer.Context) -> object:
        try:
            return super().invoke(ctx)
        except click_errors.UsageError as err:
            raise _kpi_usage(err) from None


class KpiCommand(TyperCommand):
    """A command whose help names each argument by its placeholder alone (``KPI``,
    ``NAME...``), without the Python type Typer would print after it (``KPI <str>``)."""

    def format_options(self, ctx: typer.Context, formatter: Any) -> None:  # Click's HelpFormatter
        args: list[tuple[str, str]] = []
        opts: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                name = param.metavar or (param.name or "").upper()
                args.append((name + ("..." if param.nargs != 1 else ""), record[1]))
            elif param.param_type_name == "option":
                opts.append(record)
        for title, rows in (("Arguments", args), ("Options", opts)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def _kpi_usage(err: click_errors.UsageError) -> click_errors.UsageError:
    """Click's usage error worded as kpi's (a bare `kpi` still shows the help)."""
    if isinstance(err, click_errors.NoArgsIsHelpError | KpiUsage):
        return err
    return KpiUsage(err)


app = typer.Typer(
    cls=KpiGroup,
    name="kpi",
    help="Compute marketing KPIs from CSV exports, as declared in kpi_config.yaml.\n\n"
    "Examples:\n\n"
    "  kpi report\n\n"
    "  kpi report --period last-month --by channel\n\n"
    "  kpi report -f json --period 2026-10 | jq '.rows[]'",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: `kpi --help` starts without importing rich
    context_settings={"help_option_names": ["-h", "--help"]},
)

INTERNAL_ERROR = 70

#: ``--format`` of `kpi report`: the formats of :data:`kpicli.render.FORMATS`.
Format = StrEnum("Format", {name: name for name in FORMATS})  # type: ignore[misc]


class Grain(StrEnum):
    day = "day"
    week = "week"
    month = "month"
    quarter = "quarter"
    year = "year"


class Compare(StrEnum):
    none = "none"
    previous = "previous"
    year = "year"


class FailOn(StrEnum):
    never = "never"
    warn = "warn"
    bad = "bad"
    anomaly = "anomaly"


class Sensitivity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


class AnomalyFailOn(StrEnum):
    never = "never"
    anomaly = "anomaly"


class Engine(StrEnum):
    polars = "polars"
    duckdb = "duckdb"
    spark = "spark"


EngineOpt = Annotated[
    Engine | None,
    typer.Option(
        "--engine",
        show_default=False,
        help="Engine that aggregates the rows (default: settings.engine, else polars); "
        "duckdb needs pip install 'kpicli[duckdb]', spark 'kpicli[spark]' and Java 17. "
        "Only spark reads remote paths (path: s3a://…, hdfs://…, gs://…) and tables of its "
        "catalog. Example: --engine duckdb",
    ),
]
SensitivityOpt = Annotated[
    Sensitivity,
    typer.Option(
        "--sensitivity",
        help="The anomaly interval's width: low flags only the clearest (fewest false "
        "alarms), high flags more.",
    ),
]
LookbackOpt = Annotated[
    int | None,
    typer.Option(
        "--lookback",
        metavar="N",
        help="Buckets of history before the period the anomaly model learns from (default: "
        "112 days, 30 weeks, 24 months, 12 quarters, 6 years).",
    ),
]


def _err(text: str) -> None:
    """A line on stderr; when stderr itself cannot be written, there is nobody to tell."""
    try:
        sys.stderr.write(text.rstrip("\n") + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def command_notes(quiet: bool = False) -> Notes:
    """The warnings of one command: each printed once on stderr as ``warning: …`` when it
    is given (nothing with ``--quiet``)."""
    return Notes(echo=None if quiet else lambda message: _err(f"warning: {message}"))


def guarded(debug: bool, work: Callable[[], int | None]) -> None:
    """Run a command's work: its nonzero return is the exit code; a KpiError becomes its
    message (request fields named by their options) and exit code; a closed stdout pipe
    ends it quietly (exit 0); a bug, exit 70. Warnings are not its business: each command
    passes its own :func:`command_notes` to its library call."""
    from kpicli.outputs import PipeClosed

    try:
        code = work()
    except PipeClosed:
        code = 0
    except KpiError as err:
        if debug:
            traceback.print_exc()
        _err(err.render(option_word))
        raise typer.Exit(err.exit_code) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # a bug (a Rust panic in Polars is a BaseException too)
        if debug:
            traceback.print_exc()
        else:
            first = (str(err).strip().splitlines() or [""])[0]
            _err(
                f"internal error: {type(err).__name__}: {first}\n"
                "  hint: this is a bug in kpi; re-run with --debug to see the traceback"
            )
        raise typer.Exit(INTERNAL_ERROR) from None
    if code:
        raise typer.Exit(code)


class _ClosedStdout(io.TextIOBase):
    """Standard output when the program was started with it closed (``kpi report >&-``):
    writing to it fails as writing to a closed descriptor does, so that a command that
    prints is exit 4, while one that writes a file (``-o``) works."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "standard output is closed")

    def isatty(self) -> bool:
        return False


def run() -> None:
    """The `kpi` program: :data:`app`, and what happens outside any command's
    :func:`guarded`: help or version text that stdout cannot take (a full disk) is exit 4,
    as a command's output is; a closed stdout is one that cannot be written to."""
    if sys.stdout is None:
        sys.stdout = _ClosedStdout()
    # One short run: the cycle collector's passes over the modules imported (Polars, Typer,
    # pydantic, rich) cost about a tenth of a small report (bench/RESULTS.md, start-up), and
    # what kpi itself allocates is freed by reference counting (the data lives in Polars'
    # memory, which the collector never scans): peak RSS of a 10M-row report is unchanged.
    gc.disable()
    try:
        app(prog_name="kpi")
    except OSError as exc:
        from kpicli.outputs import output_error

        _err(output_error("stdout", exc).render())
        sys.exit(4)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kpi {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Compute marketing KPIs from CSV exports, as declared in kpi_config.yaml."""


ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config",
        "-c",
        metavar="PATH",
        help="The configuration file (default: $KPI_CONFIG, else ./kpi_config.yaml).",
        show_default=False,
    ),
]


#: How ``--period``'s help names the forms of :data:`PERIOD_FORMS` that are not keywords.
_PERIOD_FORM_NAMES = {
    "last-N-days": "last-N-days (e.g. last-90-days)",
    "2026-10-05": "a day (2026-10-05)",
    "2026-10": "a month (2026-10)",
    "2026-Q3": "a quarter (2026-Q3)",
    "2026-W05": "an ISO week (2026-W05)",
    "2026": "a year (2026)",
    "2026-10-01..2026-10-31": "a range of days (2026-10-01..2026-10-31)",
}
#: ``--period``'s help: every form :func:`kpicli.spec.periods.parse_period` accepts.
PERIOD_HELP = (
    "Which days: "
    + ", ".join(_PERIOD_FORM_NAMES.get(form, form) for form in PERIOD_FORMS[:-1])
    + f" or {_PERIOD_FORM_NAMES.get(PERIOD_FORMS[-1], PERIOD_FORMS[-1])}."
)

# Options shared by `report` and `explain` (the same words, the same meaning).
PeriodOpt = Annotated[str, typer.Option("--period", "-p", metavar="PERIOD", help=PERIOD_HELP)]
FromOpt = Annotated[
    str | None,
    typer.Option("--from", metavar="DATE", help="First day (YYYY-MM-DD); overrides --period."),
]
ToOpt = Annotated[
    str | None, typer.Option("--to", metavar="DATE", help="Last day (YYYY-MM-DD), inclusive.")
]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of", metavar="DATE", help="The date 'today' means (YYYY-MM-DD); default: today."
    ),
]
ByOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--by", "-b", metavar="COLUMN", help="Dimension(s) to group by; repeatable or a,b."
    ),
]
GrainOpt = Annotated[
    Grain | None, typer.Option("--grain", "-g", help="One row per day/week/month/…")
]
WhereOpt = Annotated[
    str | None,
    typer.Option("--where", metavar="SQL", help="SQL predicate applied to every source used."),
]
CompareOpt = Annotated[
    Compare, typer.Option("--compare", help="Compare with the previous period or year.")
]


def _request(
    period: str,
    date_from: str | None,
    date_to: str | None,
    as_of: str | None,
    by: list[str] | None,
    grain: Grain | None,
    where: str | None,
    compare: Compare,
    **extra: object,
) -> Request:
    """The Request of `report` and `explain` from their shared options."""
    from kpicli.plan.build import Request, split_list
    from kpicli.spec import periods

    return Request(
        period=period.strip().lower(),
        date_from=periods.parse_date(date_from, "{@date_from}") if date_from else None,
        date_to=periods.parse_date(date_to, "{@date_to}") if date_to else None,
        as_of=periods.parse_date(as_of, "{@as_of}") if as_of else None,
        grain=grain.value if grain else None,
        by=split_list(by),
        where=where,
        compare=compare.value,
        **extra,  # type: ignore[arg-type]
    )


def _first_look(
    period: str | None,
    date_from: str | None,
    date_to: str | None,
    as_of: str | None,
    grain: Grain | None,
    compare: Compare,
) -> tuple[str, Compare]:
    """`kpi report`'s period and comparison (:func:`kpicli.spec.periods.first_look`)."""
    from datetime import date

    from kpicli.spec import periods

    day = periods.parse_date(as_of, "{@as_of}") if as_of else date.today()
    chosen, compared = periods.first_look(
        period,
        dated=bool(date_from or date_to),
        grain=grain.value if grain else None,
        compare=compare.value,
        as_of=day,
    )
    return chosen, Compare(compared)


def use_color(no_color: bool) -> bool:
    """Color only on a terminal, and never with NO_COLOR or --no-color."""
    if no_color or os.environ.get("NO_COLOR") is not None:
        return False
    return sys.stdout.isatty()


@app.command(
    epilog="Examples:\n\n"
    "  kpi report --period last-month\n\n"
    "  kpi report --period this-month --by channel --kpi leads,cpl\n\n"
    "  kpi report --period 2026 --grain month --kpi mqls\n\n"
    "  kpi report --by keyword --kpi sessions --sort sessions --limit 10\n\n"
    "  kpi report -f json -p last-month --by channel | jq '.rows[] | select(.kpi==\"cpl\")'\n\n"
    "  kpi report --as-of 2026-11-15 -o 'reports/kpi-{as_of}.json'\n\n"
    "  kpi report -p last-7-days --grain day --anomalies --by channel --kpi ctr,leads\n\n"
    "  kpi report -p last-month --compare previous   # ≈ marks a change within noise"
)
def report(
    config: ConfigOpt = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            "-p",
            metavar="PERIOD",
            show_default=False,
            help=PERIOD_HELP[:-1] + ". Default: this month so far against the previous month "
            "(the 1st: last month), or all with --grain.",
        ),
    ] = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    as_of: AsOfOpt = None,
    by: ByOpt = None,
    grain: GrainOpt = None,
    kpi: Annotated[
        list[str] | None,
        typer.Option(
            "--kpi", "-k", metavar="NAME", help="KPIs to show (default: all not hidden); a,b."
        ),
    ] = None,
    where: WhereOpt = None,
    compare: CompareOpt = Compare.none,
    sort: Annotated[
        str | None,
        typer.Option(
            "--sort",
            metavar="KPI[:asc]",
            help="Order rows by a KPI, descending (KPI:asc ascending); `status`: each KPI's "
            "rows worst status first, and KPIs too in the table.",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", metavar="N", help="Keep the first N rows (per time bucket)."),
    ] = None,
    fmt: Annotated[
        Format | None,
        typer.Option("--format", "-f", help="Output format (default: from --output, else table)."),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Write to this file (atomically; missing folders are created); placeholders "
            "{start} {end} {as_of} {period}; - is stdout.",
        ),
    ] = None,
    fail_on: Annotated[
        FailOn,
        typer.Option(
            "--fail-on",
            help="Exit 1 when a KPI has this status or worse (anomaly: when a row is "
            "flagged, with --anomalies); the failing rows are listed on stderr (also with -q).",
        ),
    ] = FailOn.never,
    anomalies: Annotated[
        bool,
        typer.Option(
            "--anomalies",
            help="With --grain: each row gets the baseline its history predicts, the "
            "interval (lower, upper) and a flag (high/low) when it falls outside.",
        ),
    ] = False,
    sensitivity: SensitivityOpt = Sensitivity.medium,
    lookback: LookbackOpt = None,
    cache: Annotated[
        str | None,
        typer.Option(
            "--cache",
            metavar="DIR",
            help="Cache parsed sources and daily aggregates as Parquet in DIR (default: "
            "settings.cache, else none).",
        ),
    ] = None,
    engine: EngineOpt = None,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide",
            help="csv/parquet/xlsx: one row per period and dimension values, columns per KPI "
            "(kpi, kpi_previous, kpi_change, kpi_target, kpi_status…).",
        ),
    ] = False,
    raw: Annotated[
        bool, typer.Option("--raw", help="csv/xlsx: do not neutralise formula-like cells.")
    ] = False,
    all_rows: Annotated[
        bool,
        typer.Option(
            "--all-rows",
            help="table/markdown/html: also show rows without data in the period and the "
            "comparison (hidden by default; machine formats keep every row).",
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Nothing on stderr but errors.")
    ] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colors (also NO_COLOR).")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    """Compute KPIs and print them, or write them to a file."""

    def work() -> int:
        from kpicli.commands.report import report as compute
        from kpicli.outputs import STDOUT, check_output_path
        from kpicli.plan.build import split_list
        from kpicli.render import check_wide, render_to
        from kpicli.render.failures import failure_lines

        to_file = output is not None and output != STDOUT
        chosen = _report_format(fmt, output if to_file else None)
        check_wide(chosen, wide)
        if to_file:
            check_output_path(output)
        period_, compare_ = _first_look(period, date_from, date_to, as_of, grain, compare)
        request = _request(
            period_,
            date_from,
            date_to,
            as_of,
            by,
            grain,
            where,
            compare_,
            kpis=split_list(kpi),
            sort=sort,
            limit=limit,
            cache=cache,
            anomalies=anomalies,
            sensitivity=sensitivity.value,
            lookback=lookback,
            engine=engine.value if engine else None,
        )
        if fail_on is FailOn.anomaly and not anomalies:
            raise UsageError(
                "--fail-on anomaly needs --anomalies", hint="add --anomalies --grain day"
            )
        done = compute(config, request, output=output if to_file else None, notes=notes)
        result = done.result

        def write(out: IO[bytes], color: bool, width: int | None) -> None:
            render_to(
                result,
                chosen,
                out,
                color=color,
                width=width,
                raw=raw,
                wide=wide,
                all_rows=all_rows,
            )

        _deliver(done.path, chosen, write, quiet=quiet, no_color=no_color, name="report")
        # the reason for exit 1, even with -q: cron mails stderr
        for line in failure_lines(result, fail_on.value):
            _err(line)
        return 1 if result.fails(fail_on.value) else 0

    notes = command_notes(quiet)
    guarded(debug, work)


@app.command(
    "anomalies",
    epilog="Examples:\n\n"
    "  kpi anomalies\n\n"
    "  kpi anomalies --by channel --fail-on anomaly -q   # in cron: exit 1 when flagged\n\n"
    "  kpi anomalies --grain week --last 4 --kpi leads,cpl\n\n"
    "  kpi anomalies -f json --by channel | jq '.anomalies[] | {kpi, channel, anomaly}'",
)
def anomalies_command(
    config: ConfigOpt = None,
    last: Annotated[
        int,
        typer.Option(
            "--last",
            metavar="N",
            help="Look at the last N whole buckets before --as-of (the running one is not "
            "over yet).",
        ),
    ] = 7,
    grain: Annotated[
        Grain, typer.Option("--grain", "-g", help="The buckets: day, week, month…")
    ] = Grain.day,
    as_of: AsOfOpt = None,
    by: ByOpt = None,
    kpi: Annotated[
        list[str] | None,
        typer.Option(
            "--kpi", "-k", metavar="NAME", help="KPIs to check (default: all not hidden); a,b."
        ),
    ] = None,
    where: WhereOpt = None,
    sensitivity: SensitivityOpt = Sensitivity.medium,
    lookback: LookbackOpt = None,
    fmt: Annotated[
        Format | None,
        typer.Option("--format", "-f", help="Output format (default: from --output, else table)."),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", metavar="PATH", help="Write to this file (atomically); - is stdout."
        ),
    ] = None,
    fail_on: Annotated[
        AnomalyFailOn,
        typer.Option("--fail-on", help="anomaly: exit 1 when a bucket is flagged."),
    ] = AnomalyFailOn.never,
    cache: Annotated[
        str | None,
        typer.Option("--cache", metavar="DIR", help="Cache parsed sources as Parquet in DIR."),
    ] = None,
    engine: EngineOpt = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Nothing on stderr but errors.")
    ] = False,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Only the flagged buckets of every KPI, in total and per --by value, worst first."""

    def work() -> int:
        from kpicli.commands.anomalies import anomalies
        from kpicli.outputs import STDOUT, check_output_path
        from kpicli.plan.build import Request, split_list
        from kpicli.render.anomalies import render_anomalies_to
        from kpicli.render.failures import anomaly_lines
        from kpicli.spec import periods

        to_file = output is not None and output != STDOUT
        chosen = _report_format(fmt, output if to_file else None)
        if to_file:
            check_output_path(output)
        request = Request(
            as_of=periods.parse_date(as_of, "{@as_of}") if as_of else None,
            grain=grain.value,
            by=split_list(by),
            kpis=split_list(kpi),
            where=where,
            cache=cache,
            sensitivity=sensitivity.value,
            lookback=lookback,
            engine=engine.value if engine else None,
        )
        found, path = anomalies(
            config, request, last=last, output=output if to_file else None, notes=notes
        )

        def write(out: IO[bytes], color: bool, width: int | None) -> None:
            render_anomalies_to(found, chosen, out, color=color, width=width)

        _deliver(path, chosen, write, quiet=quiet, no_color=no_color, name="anomalies")
        if fail_on is AnomalyFailOn.anomaly and found.rows.height:
            for line in anomaly_lines(found):  # even with -q: cron mails stderr
                _err(line)
            return 1
        return 0

    notes = command_notes(quiet)
    guarded(debug, work)


def _deliver(
    path: str | None,
    chosen: str,
    write: Callable[[IO[bytes], bool, int | None], None],
    *,
    quiet: bool,
    no_color: bool,
    name: str,
) -> None:
    """A command's output, by ``write(out, color, width)``: to ``path`` atomically (and a
    `wrote` line unless quiet), else to stdout: colored on a terminal, never a binary
    format on a terminal, a closed pipe ended quietly (the exit code stands)."""
    from kpicli.outputs import PipeClosed, Stdout, open_atomic

    if path is not None:
        with open_atomic(path) as handle:
            write(handle, False, None)
        if not quiet:
            _err(f"wrote {path}")
        return
    if chosen in BINARY_FORMATS and sys.stdout.isatty():
        raise UsageError(
            f"{chosen} is a binary format: it would garble the terminal",
            hint=f"write it to a file: -o {name}.{chosen}",
        )
    color = use_color(no_color) and chosen == "table"
    stdout = Stdout()
    try:
        if chosen in BINARY_FORMATS:  # written whole: their writers need to seek
            buffer = io.BytesIO()
            write(buffer, False, None)
            stdout.write(buffer.getvalue())
        else:
            write(stdout, color, _width())
    except PipeClosed:  # the reader had enough: not an error
        pass


def _report_format(fmt: Format | None, output: str | None) -> str:
    """--format, else the format of the output file's extension, else table."""
    from kpicli.render import infer_format

    if fmt:
        return fmt.value
    if output is None:
        return "table"
    chosen = infer_format(output)
    if chosen is None:
        raise UsageError(
            f"cannot tell the format of `{output}` from its extension",
            hint=f"add --format ({', '.join(FORMATS)})",
        )
    return chosen


# ---------------------------------------------------------------------------- companions


class TextFormat(StrEnum):
    table = "table"
    json = "json"


NoColorOpt = Annotated[bool, typer.Option("--no-color", help="No colors (also NO_COLOR).")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")]
TextFormatOpt = Annotated[
    TextFormat, typer.Option("--format", "-f", help="table (for people) or json (for programs).")
]


def _width() -> int:
    return shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() else 200


def _out(text: str | bytes) -> None:
    """Print a command's output: exit 4 when stdout cannot be written (a full disk); nothing
    more, quietly, when its reader went away (a closed pipe: the command's exit code stands).
    """
    from kpicli.outputs import PipeClosed, Stdout

    with contextlib.suppress(PipeClosed):
        Stdout().write(text)


@app.command(
    "list",
    epilog="Examples:\n\n"
    "  kpi list\n\n"
    "  kpi list --all\n\n"
    "  kpi list -f json | jq -r '.kpis[] | select(.unit==\"percent\") | .name'",
)
def list_kpis(
    config: ConfigOpt = None,
    show_all: Annotated[
        bool, typer.Option("--all", "-a", help="Also the hidden KPIs (marked hidden).")
    ] = False,
    fmt: TextFormatOpt = TextFormat.table,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """List the declared KPIs: name, label, unit, formula, source(s) and target."""

    def work() -> None:
        from kpicli.commands.explain import catalog
        from kpicli.render.commands import render_list
        from kpicli.spec.config import load_config

        cfg = load_config(config)
        entries = catalog(cfg, hidden=show_all)
        color = use_color(no_color) and fmt == TextFormat.table
        _out(render_list(cfg, entries, fmt.value, color=color, width=_width()))

    guarded(debug, work)


@app.command(
    cls=KpiCommand,
    epilog="Examples:\n\n"
    "  kpi sources\n\n"
    "  kpi sources ads leads\n\n"
    "  kpi sources -f json | jq '.sources[] | {name, rows}'",
)
def sources(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Sources to describe (default: all).", metavar="NAME"),
    ] = None,
    config: ConfigOpt = None,
    fmt: TextFormatOpt = TextFormat.table,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """What each source reads: files, encoding and dialect, header row, rows read and dropped
    (and why), columns with their types, date range, and the period an export states.

    Exit 3 when a source's files are missing or unreadable.
    """

    def work() -> int:
        from kpicli.commands.sources import describe_sources
        from kpicli.render.sources import render_sources
        from kpicli.spec.config import load_config

        cfg = load_config(config)
        reports = describe_sources(cfg, list(names) if names else None, notes=notes)
        color = use_color(no_color) and fmt == TextFormat.table
        _out(render_sources(reports, fmt.value, color=color, width=_width()))
        return 0 if all(r.ok for r in reports) else 3

    notes = command_notes()
    guarded(debug, work)


@app.command(
    epilog="Examples:\n\n"
    "  kpi validate\n\n"
    "  kpi validate -c marketing/kpi_config.yaml\n\n"
    "  kpi validate -q && kpi report -p yesterday -o report.json\n\n"
    "  kpi validate -f json | jq '.issues[] | {line, key, message}'",
)
def validate(
    config: ConfigOpt = None,
    fmt: TextFormatOpt = TextFormat.table,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print problems only (nothing when valid).")
    ] = False,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Check the configuration and the data behind it; list every problem at once.

    Exit 0 when valid (warnings allowed), 2 when the configuration has a problem, 3 when only
    the data has.
    """

    def work() -> int:
        from kpicli.commands.validate import validate as run_validation
        from kpicli.render.commands import render_validation

        result = run_validation(config, notes=notes)
        color = use_color(no_color) and fmt == TextFormat.table
        _out(render_validation(result, fmt.value, color=color, quiet=quiet))
        return result.exit_code

    notes = command_notes(quiet)
    guarded(debug, work)


@app.command(
    cls=KpiCommand,
    epilog="Examples:\n\n"
    "  kpi explain cpl --period last-month\n\n"
    "  kpi explain cpl -p this-month --by channel --compare previous\n\n"
    "  kpi explain mqls -p 2026 --grain quarter\n\n"
    "  kpi explain ctr -f json | jq '.scans'",
)
def explain(
    kpi: Annotated[
        str, typer.Argument(help="The KPI to explain.", show_default=False, metavar="KPI")
    ],
    config: ConfigOpt = None,
    period: PeriodOpt = "all",
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    as_of: AsOfOpt = None,
    by: ByOpt = None,
    grain: GrainOpt = None,
    where: WhereOpt = None,
    compare: CompareOpt = Compare.none,
    fmt: TextFormatOpt = TextFormat.table,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Show how a KPI is computed: formula, dependencies, rows and files, values, query plan.

    It runs the KPI and those it depends on exactly as kpi report does, with the same options.
    """

    def work() -> None:
        from kpicli.commands.explain import explain as run_explain
        from kpicli.render.commands import render_explanation
        from kpicli.spec.config import load_config

        request = _request(period, date_from, date_to, as_of, by, grain, where, compare)
        cfg = load_config(config)
        result = run_explain(cfg, request, kpi, notes=notes)
        color = use_color(no_color) and fmt == TextFormat.table
        _out(render_explanation(result, fmt.value, color=color, width=_width()))

    notes = command_notes()
    guarded(debug, work)


class Dialect(StrEnum):
    duckdb = "duckdb"
    spark = "spark"
    bigquery = "bigquery"
    snowflake = "snowflake"
    postgres = "postgres"


@app.command(
    "sql",
    cls=KpiCommand,
    epilog="Examples:\n\n"
    "  kpi sql -p last-month --by channel > report.sql && duckdb < report.sql\n\n"
    "  kpi sql --dialect spark -p 2026 --grain month --kpi leads,cpl\n\n"
    "  kpi sql --dialect bigquery -p last-month --compare previous   # over tables named as "
    "the sources",
)
def sql_command(
    config: ConfigOpt = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            "-p",
            metavar="PERIOD",
            show_default=False,
            help=PERIOD_HELP[:-1] + ". Default: as kpi report's.",
        ),
    ] = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    as_of: AsOfOpt = None,
    by: ByOpt = None,
    grain: GrainOpt = None,
    kpi: Annotated[
        list[str] | None,
        typer.Option(
            "--kpi", "-k", metavar="NAME", help="KPIs to compute (default: all not hidden); a,b."
        ),
    ] = None,
    where: WhereOpt = None,
    compare: CompareOpt = Compare.none,
    sort: Annotated[
        str | None,
        typer.Option("--sort", metavar="KPI[:asc]", help="Order rows by a KPI, descending."),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", metavar="N", help="Keep the first N rows (per time bucket)."),
    ] = None,
    dialect: Annotated[
        Dialect, typer.Option("--dialect", help="The SQL dialect to write.")
    ] = Dialect.duckdb,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Nothing on stderr but errors.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Print the SQL that computes a report (kpi report's options), to run where the data is.

    Its rows are those of `kpi report -f csv`, without the statistics (p_value,
    change_significant): DuckDB and Spark read the source files as kpi reads them (views
    first, then the query); BigQuery, Snowflake and PostgreSQL read a table per source,
    named as the source. A source with `table:` is read from that table in every dialect.

    Examples:

      kpi sql -p last-month --by channel > report.sql && duckdb < report.sql

      kpi sql --dialect spark -p 2026 --grain month -k leads,cpl > report.sql

      kpi sql --dialect bigquery -p last-month
    """

    def work() -> None:
        from kpicli.commands.sql import sql
        from kpicli.plan.build import split_list

        period_, compare_ = _first_look(period, date_from, date_to, as_of, grain, compare)
        request = _request(
            period_,
            date_from,
            date_to,
            as_of,
            by,
            grain,
            where,
            compare_,
            kpis=split_list(kpi),
            sort=sort,
            limit=limit,
        )
        _out(sql(config, request, dialect.value, notes=notes))

    notes = command_notes(quiet)
    guarded(debug, work)


@app.command(
    cls=KpiCommand,
    epilog="Examples:\n\n"
    "  kpi init demo --sample && cd demo && kpi report\n\n"
    "  kpi init\n\n"
    "  kpi init marketing --preset google_ads --preset hubspot_contacts\n\n"
    "  kpi init . --sample --force",
)
def init(
    directory: Annotated[
        str,
        typer.Argument(
            help="The folder to write into (created if needed; default: the current one).",
            show_default=False,
            metavar="DIR",
        ),
    ] = ".",
    sample: Annotated[
        bool,
        typer.Option(
            "--sample", help="Write the demo config and its sample data: kpi report works at once."
        ),
    ] = False,
    preset: Annotated[
        list[str] | None,
        typer.Option(
            "--preset",
            metavar="NAME",
            help="Add a source and typical KPIs for an export format; repeatable or a,b. "
            "google_ads, meta_ads, linkedin_ads, microsoft_ads, ga4, search_console, "
            "hubspot_contacts, hubspot_deals, mailchimp, tiktok_ads, salesforce_opportunities, "
            "salesforce_leads, or one of DIR/presets/. Default: the presets of the exports "
            "found in DIR.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite files that already exist.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Write a commented starter kpi_config.yaml (and kpi_schema.json, for editors)."""

    def work() -> None:
        from pathlib import Path

        from kpicli.commands.init import init as run_init

        done = run_init(Path(directory), sample=sample, presets=tuple(preset or ()), force=force)
        lines = [f"wrote {done.config}", f"wrote {done.schema} (editor completion)"]
        for found in done.found:
            dated = f"dated by `{found.date}`" if found.date else "no date column"
            stated = f"; states the period `{found.period}`" if found.period else ""
            lines.append(f"found {found.path}: {found.preset} ({dated}{stated})")
        if done.unknown:
            names = ", ".join(str(p) for p in done.unknown[:5])
            more = f" and {len(done.unknown) - 5} more" if len(done.unknown) > 5 else ""
            lines.append(f"not recognised (no preset matches its header): {names}{more}")
        if done.data:
            size = sum(p.stat().st_size for p in done.data) / 1e6
            folder = done.data[0].parent
            lines.append(f"wrote {folder}/ ({len(done.data)} CSV files, {size:.1f} MB)")
        if done.exports is not None:
            lines.append(f"put your exports in {done.exports}/")
        cd = "" if Path(directory) == Path(".") else f"cd {directory} && "
        lines.append(
            f"next: {cd}kpi report" if sample else f"next: {cd}kpi validate, then kpi report"
        )
        _out("\n".join(lines) + "\n")

    guarded(debug, work)


@app.command(
    epilog="Examples:\n\n"
    "  kpi schema\n\n"
    "  kpi schema -o kpi_schema.json\n\n"
    "  kpi schema | jq '.[\"$defs\"].Kpi.properties | keys'\n\n"
    "  kpi schema --report -o report_schema.json\n\n"
    "  kpi schema --report --jsonl",
)
def schema(
    report: Annotated[
        bool,
        typer.Option(
            "--report", help="The schema of `kpi report -f json` instead of the config's."
        ),
    ] = False,
    jsonl: Annotated[
        bool,
        typer.Option(
            "--jsonl", help="The schema of one line of `kpi report -f jsonl` (implies --report)."
        ),
    ] = False,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Write to this file (atomically) instead of stdout; - is stdout.",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Nothing on stderr but errors.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Print the JSON Schema of kpi_config.yaml, for completion and checks in editors; with
    --report, that of `kpi report -f json` (--jsonl: of one JSONL line), for machines."""

    def work() -> None:
        from kpicli.outputs import STDOUT

        if report or jsonl:
            from kpicli.render.report_schema import schema_text as report_text

            text = report_text(jsonl=jsonl)
        else:
            from kpicli.commands.init import schema_text

            text = schema_text()
        if output is None or output == STDOUT:
            _out(text)
            return
        from kpicli.commands.clean import check_output, config_inputs
        from kpicli.outputs import write_atomic

        check_output(output, config_inputs(None), hint="write the schema to another path")
        write_atomic(output, text.encode("utf-8"))
        if not quiet:
            _err(f"wrote {output}")

    guarded(debug, work)


# ---------------------------------------------------------------------------- clean

#: Warnings about one file printed by `kpi clean` before "… and N more".
MAX_NOTES = 20


@app.command(
    cls=KpiCommand,
    epilog="Examples:\n\n"
    "  kpi clean export.csv\n\n"
    "  kpi clean 'Campaign report.csv' -o campaigns.csv\n\n"
    "  kpi clean linkedin.csv --preset linkedin_ads -o linkedin_clean.csv\n\n"
    "  kpi clean odd.csv --delimiter ';' --encoding cp1252 --skip-rows 3 | head",
)
def clean(
    file: Annotated[
        str,
        typer.Argument(help="The export to read.", show_default=False, metavar="FILE"),
    ],
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Write to this file (atomically) instead of stdout; - is stdout.",
        ),
    ] = None,
    delimiter: Annotated[
        str, typer.Option("--delimiter", metavar="CHAR", help='auto, ",", ";", tab, "|" or space.')
    ] = "auto",
    decimal: Annotated[
        str,
        typer.Option(
            "--decimal",
            metavar="CHAR",
            help='auto, "." or ",": checked; cells are kept as written.',
        ),
    ] = "auto",
    encoding: Annotated[
        str,
        typer.Option("--encoding", metavar="NAME", help="auto, utf-8, utf-16, cp1252 or latin-1."),
    ] = "auto",
    skip_rows: Annotated[
        str,
        typer.Option(
            "--skip-rows", metavar="N", help="auto, or the number of lines above the header."
        ),
    ] = "auto",
    date_format: Annotated[
        str,
        typer.Option(
            "--date-format",
            metavar="PATTERN",
            help="auto or a strftime pattern: checked; cells kept as written.",
        ),
    ] = "auto",
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            metavar="NAME",
            help="A known export format: its summary rows and canonical names.",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Nothing on stderr but errors.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Read one export as kpi reads it and write it back as clean UTF-8 CSV: one header row,
    commas, quotes where needed; preamble, footer and summary rows left out, broken rows
    repaired or padded. Cells are kept exactly as written.

    Exit 3 when the file cannot be read, 4 when the output cannot be written.
    """

    def work() -> None:
        from kpicli.commands.clean import check_output, clean_file, config_inputs
        from kpicli.outputs import STDOUT

        to_file = output is not None and output != STDOUT
        if output is not None and to_file:
            check_output(output, [(file, "the input file"), *config_inputs(None)])
        result = clean_file(  # its warnings are the table's notes, printed below
            file,
            delimiter=delimiter,
            decimal=decimal,
            encoding=encoding,
            skip_rows=skip_rows,
            date_format=date_format,
            preset=preset,
        )
        if not quiet:
            table = result.table
            if result.empty:
                _err(f"warning: {file}: no table in the file (it is empty or blank)")
            else:
                _err(f"read {file}: {table.summary()}")
            shown = [n for n in table.notes if n.kind != "dropped"]
            for note in shown[:MAX_NOTES]:
                where = f"{file}:{note.line}" if note.line else file
                _err(f"warning: {where}: {note.message}")
            if len(shown) > MAX_NOTES:
                _err(f"warning: {file}: … and {len(shown) - MAX_NOTES} more")
        if output is None or not to_file:
            _out(result.data)
            return
        from kpicli.outputs import write_atomic

        write_atomic(output, result.data)
        if not quiet:
            _err(f"wrote {output}")

    guarded(debug, work)


cache_app = typer.Typer(
    help="The Parquet cache of parsed sources and daily aggregates (see `kpi report --cache`).",
    epilog="Examples:\n\n"
    "  kpi report -p last-month --cache ~/.cache/kpi\n\n"
    "  kpi cache clear --cache ~/.cache/kpi",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(cache_app, name="cache")


@cache_app.command(
    "clear",
    epilog="Examples:\n\n  kpi cache clear\n\n  kpi cache clear --cache /var/cache/kpi\n\n"
    "  kpi cache clear --user",
)
def cache_clear(
    config: ConfigOpt = None,
    cache: Annotated[
        str | None,
        typer.Option("--cache", metavar="DIR", help="The cache folder (default: settings.cache)."),
    ] = None,
    user: Annotated[
        bool,
        typer.Option(
            "--user",
            help="Clear instead the per-user cache of what kpi learned about files and "
            "formulas ($XDG_CACHE_HOME/kpi; off with KPI_NO_CACHE=1).",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Remove every cache entry (the next reports parse the exports again)."""

    def work() -> None:
        from pathlib import Path

        from kpicli.ingest.cache import clear

        if user:
            from kpicli import usercache

            removed = usercache.clear()
            if not quiet:
                where = usercache.root() or "the per-user cache"
                _err(f"removed {removed} cache entr{'y' if removed == 1 else 'ies'} from {where}")
            return
        folder = Path(cache).expanduser() if cache else None
        if folder is None:
            from kpicli.plan.build import Request, cache_folder
            from kpicli.spec.config import load_config

            folder = cache_folder(load_config(config), Request())
        if folder is None:
            raise UsageError(
                "no cache folder: the configuration has no `settings.cache`",
                hint="name it: kpi cache clear --cache DIR",
            )
        removed = clear(folder)
        if not quiet:
            _err(f"removed {removed} cache entr{'y' if removed == 1 else 'ies'} from {folder}")

    guarded(debug, work)
