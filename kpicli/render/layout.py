"""The shape of a human-readable report, shared by the terminal table, markdown and HTML.

It decides which optional columns appear and in which order KPI rows and totals are shown,
which trend goes with each KPI, and the notes under a report (what ``≈`` means, how many
rows ``⚑`` flags); it computes no KPI value.

People read at most ``TABLE_ROWS`` rows of one KPI and time bucket: with ``--by`` over many
values (a million campaigns), the first ``TABLE_ROWS`` rows of each bucket are shown (in the
result's order: ``--sort`` order when given), then a line that says how many were left out
(:attr:`Line.more`), then the bucket's total, which counts every row. ``NOTE_MORE`` says
how to get them all. Machine formats (``-f csv``, ``json``…) are never cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kpicli.execute.result import SEVERITY, KpiInfo
from kpicli.render.units import (
    FLAG,
    SAME,
    STATUS_MARKS,
    bucket_label,
    change_is_good,
    finite_number,
    format_anomaly,
    format_change,
    format_range,
    format_ratio,
    format_status,
    format_trend,
    format_value,
    sparkline,
)

if TYPE_CHECKING:
    from kpicli.execute.result import Result

#: Optional columns: (key, title, the row fields that make the column appear). The first
#: three come with ``--anomalies``: the flag beside the value, then what was expected.
OPTIONAL_COLUMNS = (
    ("anomaly", "Anomaly", ("anomaly",)),
    ("baseline", "Baseline", ("baseline",)),
    ("range", "Expected range", ("lower", "upper")),
    ("previous", "Previous", ("previous",)),
    ("change", "Change", ("change", "change_pct")),
    ("target", "Target", ("target",)),
    ("expected", "Expected", ("expected",)),
    ("pace", "Pace", ("pace",)),
    ("projected", "Projected", ("projected",)),
    ("status", "Status", ("status",)),
)

STATUS_STYLES = {"ok": "green", "warn": "yellow", "bad": "red"}
#: The section of KPIs without a ``group:`` in a config that groups others.
OTHER_GROUP = "Other"
#: Styles of a flagged value: the way ``better`` does not want (a drop in leads, a rise in
#: cost), or the way it wants (still unusual: a tracking glitch as often as good news).
ANOMALY_STYLES = {False: "bold red", True: "bold yellow"}
#: The style of a change or trend that is not significant.
SAME_STYLE = "dim"
#: Rows shown at most per KPI and time bucket in the table, markdown and HTML.
TABLE_ROWS = 100
#: What the table says under rows left out.
NOTE_MORE = (
    f"at most {TABLE_ROWS} rows per KPI and period are shown (the totals count them all): "
    "use --sort KPI --limit N for the top N, or -f csv for every row"
)

Record = dict[str, Any]


@dataclass
class Line:
    """One displayed row: a KPI row or a total, and whether it opens its time bucket."""

    record: Record
    is_total: bool = False
    first_of_bucket: bool = True
    more: int = 0  # a line that stands for this many rows left out (TABLE_ROWS)
    whole: bool = False  # the whole period's line (--grain), a total over the buckets

    @property
    def more_text(self) -> str:
        """``… 999,900 more rows`` for a line that stands for rows left out."""
        return f"… {self.more:,} more row{'s' if self.more != 1 else ''}"


@dataclass
class Section:
    """All lines of one KPI, with its sparkline over buckets (``--grain`` only)."""

    info: KpiInfo
    lines: list[Line] = field(default_factory=list)
    spark: str = ""
    #: with trends: the KPI's own (of its totals with dimensions), and one per dimension
    #: values (rows of ``Result.trends``)
    trend: Record | None = None
    trends: list[Record] = field(default_factory=list)
    #: the name of the group (config ``group:``) this section opens, when it opens one
    opens: str | None = None

    @property
    def severity(self) -> int:
        """The worst status of its lines as a rank (``SEVERITY``: bad first)."""
        ranks = [SEVERITY.get(line.record.get("status"), len(SEVERITY)) for line in self.lines]
        return min(ranks, default=len(SEVERITY))


def group_by(records: list[Record], *keys: str) -> dict[tuple[Any, ...], list[Record]]:
    """Records grouped by the values of ``keys``, keeping order of first appearance."""
    groups: dict[tuple[Any, ...], list[Record]] = {}
    for record in records:
        groups.setdefault(tuple(record.get(k) for k in keys), []).append(record)
    return groups


def optional_columns(result: Result) -> list[tuple[str, str]]:
    """``(key, title)`` of the optional columns that have at least one value in the result."""
    frames = [result.rows] if result.totals is None else [result.rows, result.totals]

    def filled(field: str) -> bool:
        return any(f.height and f[field].is_not_null().any() for f in frames if field in f.columns)

    return [
        (key, title)
        for key, title, fields in OPTIONAL_COLUMNS
        if any(filled(field) for field in fields)
    ]


def has_more(kpi_sections: list[Section]) -> bool:
    """Whether any rows were left out of ``kpi_sections`` (see ``TABLE_ROWS``)."""
    return any(line.more for section in kpi_sections for line in section.lines)


def _capped(result: Result) -> tuple[list[Record], dict[tuple[Any, ...], int]]:
    """The rows as records, at most ``TABLE_ROWS`` per KPI and bucket, and how many were
    left out per ``(kpi, period_start, period_end)``."""
    import polars as pl

    rows = result.rows
    if not result.dimensions or rows.height <= TABLE_ROWS:
        return rows.to_dicts(), {}
    keys = ["kpi", "period_start", "period_end"]
    keys = [k for k in keys if k in rows.columns]
    number = pl.int_range(pl.len()).over(keys)
    kept = rows.filter(number < TABLE_ROWS)
    if kept.height == rows.height:
        return rows.to_dicts(), {}
    counts = rows.group_by(keys).len().filter(pl.col("len") > TABLE_ROWS)
    more = {
        tuple(r[k] for k in ("kpi", "period_start", "period_end") if k in r): r["len"] - TABLE_ROWS
        for r in counts.to_dicts()
    }
    return kept.to_dicts(), more


def _empty(frame: Any) -> Any:
    """A polars mask of the rows without data: value and previous (when any) both null."""
    import polars as pl

    mask = pl.col("value").is_null()
    return mask & pl.col("previous").is_null() if "previous" in frame.columns else mask


def without_data(result: Result) -> tuple[Result, int]:
    """The result as a person reads it, and how many rows were hidden for want of data.

    Hidden: rows of a dimension value with no value in the period nor in the comparison
    period (CPA for the channels that buy no ads), and every row and total of a KPI that has
    no data at all (it shows no block). A time series keeps its gaps (``–``) otherwise.
    """
    import dataclasses

    import polars as pl

    frames = [f for f in (result.rows, result.totals) if f is not None]
    if not any(f.height and "value" in f.columns for f in frames):
        return result, 0
    kpis_with_data: set[str] = set()
    for frame in frames:
        if frame.height and "value" in frame.columns:
            kpis_with_data.update(frame.filter(~_empty(frame))["kpi"].unique().to_list())
    has_data = pl.col("kpi").is_in(list(kpis_with_data))

    def keep(frame: pl.DataFrame | None, rows: bool) -> pl.DataFrame | None:
        if frame is None or not frame.height or "value" not in frame.columns:
            return frame
        if rows and result.dimensions:
            return frame.filter(has_data & ~_empty(frame))
        return frame.filter(has_data)

    rows, totals = keep(result.rows, True), keep(result.totals, False)
    hidden = sum(f.height for f in frames) - sum(f.height for f in (rows, totals) if f is not None)
    if not hidden:
        return result, 0
    shown = dataclasses.replace(
        result, rows=rows, totals=totals, trend_source=lambda: result.trends
    )
    return shown, hidden


def hidden_note(hidden: int) -> str:
    """``12 rows without data hidden (--all-rows shows them).``"""
    if hidden == 1:
        return "1 row without data hidden (--all-rows shows it)."
    return f"{hidden:,} rows without data hidden (--all-rows shows them)."


def kpi_info(result: Result, name: str) -> KpiInfo:
    """The KPI's description, or a bare one for a KPI the result does not describe."""
    return result.kpis.get(name) or KpiInfo(name=name, label=name)


def dimension_text(value: Any) -> str:
    """A dimension value as shown: ``(blank)`` for null, ISO dates, else ``str``."""
    if value is None:
        return "(blank)"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def sections(result: Result, *, whole: bool = False) -> list[Section]:
    """One section per KPI, in ``result.kpis`` order (then any undeclared KPI).

    With dimensions, each time bucket's rows are followed by that bucket's total. With a
    grain, the sparkline follows the KPI's value over buckets (its totals when there are
    dimensions); it is empty when there is a single bucket; with ``whole``, the section
    ends with the whole period's line (``Result.whole``, :attr:`Line.whole`).
    """
    records, more = _capped(result)
    rows = group_by(records, "kpi")
    totals = group_by(result.totals.to_dicts(), "kpi") if result.totals is not None else {}
    names = dict.fromkeys(k for k in result.kpis if (k,) in rows or (k,) in totals)
    names.update(dict.fromkeys(k for (k,) in [*rows, *totals]))

    trends = _trend_records(result)
    out = []
    for name in names:
        kpi_rows = rows.get((name,), [])
        kpi_totals = totals.get((name,), [])
        section = Section(info=kpi_info(result, name))
        if result.dimensions:
            row_buckets = group_by(kpi_rows, "period_start", "period_end")
            total_buckets = group_by(kpi_totals, "period_start", "period_end")
            for bucket in dict.fromkeys([*row_buckets, *total_buckets]):
                bucket_lines = [Line(r) for r in row_buckets.get(bucket, [])]
                left_out = more.get((name, *bucket), 0)
                if left_out:
                    start, end = bucket
                    bucket_lines.append(
                        Line({"kpi": name, "period_start": start, "period_end": end}, more=left_out)
                    )
                bucket_lines += [Line(t, is_total=True) for t in total_buckets.get(bucket, [])]
                for index, line in enumerate(bucket_lines):
                    line.first_of_bucket = index == 0
                section.lines += bucket_lines
        else:
            section.lines = [Line(r) for r in kpi_rows]
        if result.grain is not None:
            series = group_by(kpi_totals if result.dimensions else kpi_rows, "period_start")
            if len(series) > 1:
                section.spark = sparkline([group[0].get("value") for group in series.values()])
        _attach_trends(section, trends.get((name,), []), bool(result.dimensions))
        out.append(section)
    if whole and result.grain is not None and result.whole is not None:
        wholes = group_by(result.whole.to_dicts(), "kpi")
        for section in out:
            own = wholes.get((section.info.name,), [])
            section.lines += [Line(r, is_total=True, whole=True) for r in own]
    return _grouped(out, result.status_order)


def _grouped(kpi_sections: list[Section], status_order: str | None) -> list[Section]:
    """The sections in the order shown: by group (``group:``, in the order the config first
    names each; KPIs without one last, under ``OTHER_GROUP``), worst status first within a
    group with ``--sort status``; the first section of each group opens it (``opens``).
    Without any group, one run in the result's order (``--sort status``: worst first)."""
    if status_order == "desc":
        kpi_sections = sorted(kpi_sections, key=lambda s: s.severity)  # stable
    elif status_order == "asc":  # best first, KPIs without a status still last
        none = len(SEVERITY)
        kpi_sections = sorted(kpi_sections, key=lambda s: -s.severity if s.severity < none else 1)
    names = [s.info.group for s in kpi_sections]
    if not any(names):
        return kpi_sections
    order = list(dict.fromkeys(n for n in names if n))
    groups: dict[str, list[Section]] = {name: [] for name in [*order, OTHER_GROUP]}
    for section in kpi_sections:
        groups[section.info.group or OTHER_GROUP].append(section)
    out = []
    for name, members in groups.items():
        if members:
            members[0].opens = name
            out += members
    return out


#: The label of the whole period's line (--grain), in the Period column.
WHOLE_PERIOD = "Whole period"
#: The part of the legend said when a blended total is shown.
LEGEND_BLENDED = "blended: the total counts rows the KPI has no value for"


def total_label(result: Result, name: str) -> str:
    """``Total``, or ``Total (blended)`` for a KPI whose total counts rows it has no value
    for (``Result.blended``)."""
    return "Total (blended)" if name in result.blended else "Total"


def _trend_records(result: Result) -> dict[tuple[Any, ...], list[Record]]:
    """``Result.trends`` by KPI: each KPI's own, and at most ``TABLE_ROWS`` of its
    dimension values' (a report by a million campaigns has as many trends)."""
    import polars as pl

    frame = result.trends
    if frame is None:
        return {}
    if result.dimensions and frame.height > TABLE_ROWS and "total" in frame.columns:
        own = pl.col("total").fill_null(False)
        number = pl.int_range(pl.len()).over("kpi", own)
        frame = frame.filter(own | (number < TABLE_ROWS))
    return group_by(frame.to_dicts(), "kpi")


def _attach_trends(section: Section, records: list[Record], dimensions: bool) -> None:
    """The KPI's own trend (its totals' with dimensions) and the per-value ones."""
    for record in records:
        if record.get("total") or not dimensions:
            section.trend = section.trend or record
        else:
            section.trends.append(record)


def trend_text(record: Record | None, result: Result) -> tuple[str, str]:
    """``(text, style)`` of a trend: ``▲ +3.1 %/week``; not significant: ``≈``, dimmed."""
    if record is None:
        return "", ""
    text = format_trend(
        record.get("slope"), result.grain, record.get("significant"), locale=result.locale
    )
    return text, SAME_STYLE if record.get("significant") is False else ""


def anomaly_style(record: Record, better: str) -> str:
    """The style of a flagged row (``ANOMALY_STYLES``), ``""`` when it is not flagged."""
    anomaly = record.get("anomaly")
    if anomaly not in ("high", "low"):
        return ""
    return ANOMALY_STYLES[(anomaly == "high") == (better != "lower")]


#: The parts of the legend under a report, each shown only when its column or mark is.
LEGEND_PT = "pt = percentage points"
LEGEND_STATUS = (
    f"{STATUS_MARKS['ok']} ok: at or better than target",
    f"{STATUS_MARKS['warn']} warn: within the tolerance",
    f"{STATUS_MARKS['bad']} bad: beyond it",
)
LEGEND_SAME = f"{SAME}: within normal fluctuation (the change or trend is not significant at 95 %)"


def legend(result: Result, kpi_sections: list[Section]) -> str:
    """One line that says what the marks shown mean: ``pt`` (a change of a percent KPI), the
    status bands, ``≈``; empty when none is shown."""
    import polars as pl

    keys = {key for key, _ in optional_columns(result)}
    frames = [result.rows] if result.totals is None else [result.rows, result.totals]
    parts = []
    if "change" in keys and any(s.info.unit == "percent" for s in kpi_sections):
        parts.append(LEGEND_PT)
    if "status" in keys:
        parts += LEGEND_STATUS
    same = any(
        f.height
        and "change_significant" in f.columns
        and f["change_significant"].cast(pl.Boolean).not_().any()
        for f in frames
    ) or any(t.get("significant") is False for s in kpi_sections for t in _all_trends(s))
    if same:
        parts.append(LEGEND_SAME)
    if any(
        s.info.name in result.blended and any(ln.is_total for ln in s.lines) for s in kpi_sections
    ):
        parts.append(LEGEND_BLENDED)
    return " · ".join(parts) + "." if parts else ""


def summary(result: Result, kpi_sections: list[Section]) -> list[tuple[str, str]]:
    """The verdict, first thing under a report's heading, as ``(text, style)`` parts joined
    by `` · ``: how many rows are off target, how many anomalies, the best and the worst
    change (relative, the way ``better`` wants; a change within noise, ``≈``, is neither).
    With ``--grain``, of the latest bucket only. Empty when there is nothing to judge (no
    target, comparison or anomaly)."""
    lines = [
        (s.info, line)
        for s in kpi_sections
        for line in s.lines
        if not line.more and not line.whole and _latest(result, line.record)
    ]
    parts: list[tuple[str, str]] = []
    statuses = [line.record.get("status") for _, line in lines if line.record.get("status")]
    if statuses:
        bad, warn = statuses.count("bad"), statuses.count("warn")
        if bad or warn:
            marks = [f"{n} {STATUS_MARKS[k]} {k}" for n, k in ((bad, "bad"), (warn, "warn")) if n]
            rows = f"{len(statuses)} row{'s' if len(statuses) != 1 else ''}"
            text = f"{bad + warn} of {rows} off target ({', '.join(marks)})"
            parts.append((text, STATUS_STYLES["bad" if bad else "warn"]))
        else:
            text = f"all {len(statuses)} rows on target" if len(statuses) > 1 else "on target"
            parts.append((text, STATUS_STYLES["ok"]))
    if result.anomalies:
        flagged = sum(1 for _, line in lines if line.record.get("anomaly"))
        parts.append((f"{FLAG} {flagged} anomal{'y' if flagged == 1 else 'ies'}", ""))
    parts += _best_worst(result, lines)
    if parts and result.grain is not None and lines:
        start = lines[0][1].record.get("period_start")
        label = bucket_label(start, result.grain) if start is not None else ""
        parts.insert(0, (f"latest {result.grain} ({label}):", "bold"))
    return parts


def summary_line(parts: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The parts of :func:`summary` with their separators: `` · `` between two, a blank
    after a heading (``latest week (…):``)."""
    out: list[tuple[str, str]] = []
    for text, style in parts:
        if out:
            out.append((" " if out[-1][0].endswith(":") else " · ", ""))
        out.append((text, style))
    return out


def _latest(result: Result, record: Record) -> bool:
    """Whether the record is of the latest bucket (always, without ``--grain``)."""
    if result.grain is None or result.period is None:
        return True
    end = record.get("period_end")
    return end is not None and end >= min(result.period[1], result.as_of)


def _best_worst(result: Result, lines: list[tuple[KpiInfo, Line]]) -> list[tuple[str, str]]:
    """``best: Leads · meta_ads ▲ 41.4 %`` and ``worst: …``, in green and red."""
    scored = []
    for info, line in lines:
        record = line.record
        pct = finite_number(record.get("change_pct"))
        if pct is None or record.get("change_significant") is False:
            continue
        scored.append((pct if info.better != "lower" else -pct, info, line))
    if not scored:
        return []
    scored.sort(key=lambda item: item[0])
    out = []
    for word, (score, info, line), style in (
        ("best", scored[-1], "green"),
        ("worst", scored[0], "red"),
    ):
        if (score > 0) != (word == "best") or (word == "worst" and len(scored) == 1):
            continue
        record = line.record
        where = (
            " · Total"
            if line.is_total
            else "".join(f" · {dimension_text(record.get(d))}" for d in result.dimensions)
        )
        change = format_change(
            record.get("change"),
            record.get("change_pct"),
            info.unit,
            currency=result.currency,
            locale=result.locale,
        )
        out.append((f"{word}: {info.label or info.name}{where} {change}", style))
    return out


def notes(result: Result, kpi_sections: list[Section], hidden: int = 0) -> list[str]:
    """The lines under a human-readable report: how many rows were hidden for want of data
    (``hidden``), the legend of the marks shown (pt, statuses, ``≈``), how many rows ``⚑``
    flags."""
    out = [hidden_note(hidden)] if hidden else []
    if kpi_sections:
        out += [text] if (text := legend(result, kpi_sections)) else []
        if result.anomalies:
            frames = [result.rows] if result.totals is None else [result.rows, result.totals]
            out.append(anomaly_note(result, frames))
        compare = result.plan.request.compare if result.plan is not None else "none"
        wholes = any(line.whole for s in kpi_sections for line in s.lines)
        if wholes and compare in WHOLE_COMPARED:
            out.append(f"{WHOLE_PERIOD}: compared with {WHOLE_COMPARED[compare]}.")
    return out


#: What the whole period's line (--grain) is compared with, by --compare.
WHOLE_COMPARED = {
    "previous": "the period before it",
    "year": "the same dates a year earlier",
}


def _all_trends(section: Section) -> list[Record]:
    return ([section.trend] if section.trend else []) + section.trends


def anomaly_note(result: Result, frames: list[Any]) -> str:
    """``⚑ 2 of 48 rows flagged (medium sensitivity: |score| > 3.0, …)``, and on a second
    line how many rows had too little history for a baseline."""
    from kpicli.stats.anomaly import MIN_HISTORY, Z

    sensitivity = result.anomalies or "medium"
    total = sum(f.height for f in frames)
    flagged = sum(int(f["anomaly"].is_not_null().sum()) for f in frames if "anomaly" in f.columns)
    bare = sum(int(f["baseline"].is_null().sum()) for f in frames if "baseline" in f.columns)
    z = Z.get(sensitivity)
    text = f"{FLAG} {flagged:,} of {total:,} row{'s' if total != 1 else ''} flagged"
    limit = f": |score| > {z:.1f}" if z is not None else ""
    text += f" ({sensitivity} sensitivity{limit}, in standard deviations)"
    if bare:
        need = MIN_HISTORY.get(result.grain or "", 0)
        unit = f"{result.grain}s" if result.grain else "buckets"
        text += f".\n{bare:,} row{'s' if bare != 1 else ''} without a baseline"
        text += f": less than {need} {unit} of history before {'them' if bare != 1 else 'it'}"
    return text + "."


def change_style(record: Record, better: str) -> str:
    """``green`` when the change goes the way ``better`` wants, ``red`` when not, else ``""``."""
    good = change_is_good(record.get("change"), better)
    if good is None:
        good = change_is_good(record.get("change_pct"), better)
    return "" if good is None else "green" if good else "red"


def value_texts(
    record: Record, info: KpiInfo, extra: list[tuple[str, str]], result: Result
) -> list[tuple[str, str]]:
    """``(text, style)`` of the Value column then of each optional column in ``extra``.

    Missing value, previous and change show ``–``; a missing target, pace, projection or
    status is blank (there is nothing to say, rather than a value missing). A flagged value
    is styled as its anomaly; a change that is not significant shows ``≈``, dimmed.
    """

    def fmt(value: Any) -> str:
        return format_value(value, info.unit, currency=result.currency, locale=result.locale)

    out = [(fmt(record.get("value")), anomaly_style(record, info.better))]
    return out + [_optional_text(key, record, info, result, fmt) for key, _ in extra]


def _optional_text(
    key: str, record: Record, info: KpiInfo, result: Result, fmt: Any
) -> tuple[str, str]:
    """``(text, style)`` of one optional column's cell (see :func:`value_texts`)."""
    value = record.get(key)
    if key == "previous":
        return fmt(value), ""
    if key == "change":
        significant = record.get("change_significant")
        text = format_change(
            record.get("change"),
            record.get("change_pct"),
            info.unit,
            currency=result.currency,
            locale=result.locale,
            significant=significant,
        )
        return text, SAME_STYLE if significant is False else change_style(record, info.better)
    if key == "range":
        lower, upper = record.get("lower"), record.get("upper")
        text = format_range(lower, upper, info.unit, currency=result.currency, locale=result.locale)
        return text, ""
    if key == "baseline":
        return fmt(value), ""
    if key == "anomaly":
        text = format_anomaly(value, record.get("anomaly_score"), locale=result.locale)
        return text, anomaly_style(record, info.better)
    if value is None:
        return "", ""
    if key == "pace":
        return format_ratio(value, locale=result.locale), ""
    if key == "status":
        return format_status(value), STATUS_STYLES.get(value, "")
    return fmt(value), ""
