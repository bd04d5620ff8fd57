"""The report as one self-contained HTML page: tables and inline SVG charts.

Nothing on the page is loaded from anywhere (inline CSS, inline SVG, no scripts, fonts or
images), so it opens offline and can be mailed as an attachment. Values are formatted with
the same helpers as the terminal table; every text from data or configuration is escaped.

- no ``--by``/``--grain``: one table, a row per KPI;
- ``--by`` or ``--grain``: a section per KPI with its chart and table. With ``--grain``, a
  line chart of the KPI over buckets (its totals when there are dimensions), the target
  dashed; with ``--by`` only, a horizontal bar per dimension value.

Status is a colored badge with its word (``✔ ok``), changes carry ``▲``/``▼``: the page reads
the same without color. Light and dark themes follow ``prefers-color-scheme``.

With ``--anomalies``, each line chart draws the expected band (lower–upper) behind the line
and marks flagged points (a ring, colored, with a tooltip); with ``--by`` too, each series of
a dimension value that has a flagged bucket gets a small chart of its own. A change that is
not significant shows ``≈``, muted; trends (``--grain``) sit beside each KPI's title, and per
dimension value under its chart. The CSS of those (:data:`EXTRA_CSS`) is on the page only when
they are, so a report without them is the page it was.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

from kpicli.render.formats import timestamp
from kpicli.render.layout import (
    LEGEND_STATUS,
    NOTE_MORE,
    SAME_STYLE,
    WHOLE_PERIOD,
    Line,
    Section,
    anomaly_style,
    dimension_text,
    has_more,
    notes,
    optional_columns,
    sections,
    summary,
    summary_line,
    trend_text,
    value_texts,
    without_data,
)
from kpicli.render.units import (
    NULL,
    STATUS_MARKS,
    bucket_label,
    finite_number,
    format_anomaly,
    format_range,
    format_value,
)

if TYPE_CHECKING:
    from datetime import date

    from kpicli.execute.result import KpiInfo, Result

#: The width of a bar chart (the page's, less its margins): bars as wide as the tables.
BARS_WIDTH = 1040
#: Where a bar's label ends (right-aligned) in a bar chart.
LABEL_X = 160
#: Bars drawn at most in a bar chart (the table below it has every row).
MAX_BARS = 25
#: Labels on a line chart's time axis at most.
MAX_X_LABELS = 8
#: Characters of a bar label before it is shortened (the full text is in its tooltip).
BAR_LABEL_CHARS = 24

STATUS_CLASSES = {"ok": "st-ok", "warn": "st-warn", "bad": "st-bad"}
CHANGE_CLASSES = {
    "green": "chg-good",
    "red": "chg-bad",
    SAME_STYLE: "chg-same",
    "bold red": "anom-bad",
    "bold yellow": "anom-good",
}
#: Small charts of flagged dimension series drawn at most per KPI in the report.
MAX_FLAGGED_CHARTS = 12
NL = "\n"
#: Axis steps of a duration chart, in seconds (beyond a day: whole days).
DURATION_STEPS = (
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
)

CSS = (
    """\
:root {
  color-scheme: light dark;
  --bg: #ffffff; --fg: #1f2328; --muted: #59636e; --border: #d1d9e0; --soft: #f6f8fa;
  --accent: #0969da; --ok: #1a7f37; --warn: #9a6700; --bad: #d1242f;
  --ok-bg: #dafbe1; --warn-bg: #fff8c5; --bad-bg: #ffebe9;
  --c0: #1f77b4; --c1: #9467bd; --c2: #17becf; --c3: #e377c2; --c4: #8c564b; --c5: #7f7f7f;
  --c6: #393b79; --c7: #0b6e75;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --border: #3d444d; --soft: #151b23;
    --accent: #4493f8; --ok: #3fb950; --warn: #d29922; --bad: #f85149;
    --ok-bg: rgba(46, 160, 67, .18); --warn-bg: rgba(187, 128, 9, .18);
    --bad-bg: rgba(248, 81, 73, .18);
    --c0: #4da3ff; --c1: #b392f0; --c2: #39d0e0; --c3: #f09ad8; --c4: #c49a82; --c5: #a0a0a0;
    --c6: #8a8fe8; --c7: #2fb5a6;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    sans-serif;
}
main { max-width: 1080px; margin: 0 auto; padding: 32px 20px 48px; }
header { border-bottom: 1px solid var(--border); padding-bottom: 16px; margin-bottom: 8px; }
h1 { font-size: 1.75rem; margin: 0 0 12px; }
h2 { font-size: 1.2rem; margin: 0; }
.facts { display: flex; flex-wrap: wrap; gap: 4px 32px; margin: 0; }
.facts div { display: flex; gap: 8px; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; font-weight: 600; }
section.kpi { padding: 24px 0 8px; border-bottom: 1px solid var(--border); }
.kpi-head { display: flex; align-items: baseline; gap: 12px; flex-wrap: wrap; }
.name { color: var(--muted); font: .85em ui-monospace, SFMono-Regular, Menlo, Consolas,
  monospace; font-weight: 400; }
.desc { color: var(--muted); margin: 4px 0 0; font-weight: 400; }
tbody th .desc { font-size: .85rem; margin: 0; }
figure { margin: 12px 0; }
figcaption { color: var(--muted); font-size: .85rem; }
svg.chart { display: block; width: 100%; max-width: 720px; height: auto; }
svg.chart.bars { max-width: 1040px; }
svg.bars text { font-size: 13px; }
.table-wrap { overflow-x: auto; margin-top: 12px; }
table.kpis thead th:first-child { width: 45%; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--border); text-align: left;
  vertical-align: top; }
tbody th { font-weight: 600; }
thead th { color: var(--muted); font-size: .8rem; font-weight: 600; text-transform: uppercase;
  letter-spacing: .03em; white-space: nowrap; }
tbody + tbody { border-top: 2px solid var(--border); }
tr.total td { font-weight: 700; background: var(--soft); }
.num { text-align: right; white-space: nowrap; }
.nowrap { white-space: nowrap; }
.missing, .blank { color: var(--muted); }
.blank { font-style: italic; }
.chg-good { color: var(--ok); }
.chg-bad { color: var(--bad); }
.status { display: inline-block; padding: 0 8px; border-radius: 999px; font-size: .85rem;
  font-weight: 600; white-space: nowrap; }
.status.st-ok { color: var(--ok); background: var(--ok-bg); }
.status.st-warn { color: var(--warn); background: var(--warn-bg); }
.status.st-bad { color: var(--bad); background: var(--bad-bg); }
.empty { color: var(--muted); font-style: italic; }
svg text { fill: var(--muted); font-size: 12px; font-family: inherit; }
svg .grid { stroke: var(--border); stroke-width: 1; }
svg .axis { stroke: var(--muted); stroke-width: 1; }
svg .line { fill: none; stroke: var(--accent); stroke-width: 2.5; stroke-linejoin: round;
  stroke-linecap: round; }
svg .target { fill: none; stroke: var(--muted); stroke-width: 1.5; stroke-dasharray: 5 4; }
svg .pt { fill: var(--accent); stroke: var(--bg); stroke-width: 1.5; }
svg .bar { fill: var(--accent); }
svg .st-ok { fill: var(--ok); }
svg .st-warn { fill: var(--warn); }
svg .st-bad { fill: var(--bad); }
svg text.label { fill: var(--fg); }
details { margin-top: 32px; }
summary { cursor: pointer; font-weight: 600; }
details table { margin-top: 8px; font-size: .9rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
footer { color: var(--muted); font-size: .85rem; margin-top: 32px; }
.summary { display: flex; flex-wrap: wrap; gap: 0 28px; margin: 16px 0 8px; }
.notes { margin: 12px 0 0; }
.verdict { font-size: 1.05rem; font-weight: 600; margin: 16px 0 0; }
.v-ok { color: var(--ok); }
.v-warn { color: var(--warn); }
.v-bad { color: var(--bad); }
.v-same { color: var(--muted); font-weight: 400; }
.v-head { font-weight: 700; }
.note { color: var(--muted); font-size: .9rem; margin: 4px 0 0; }
.tile-group { margin-top: 12px; max-width: 100%; }
.tiles-head { font-size: .78rem; font-weight: 700; text-transform: uppercase;
  letter-spacing: .06em; color: var(--muted); margin: 0 0 6px; }
.tiles { display: flex; flex-wrap: wrap; gap: 10px; }
.tile { width: 198px; max-width: 100%; border: 1px solid var(--border);
  border-left: 4px solid var(--border); border-radius: 8px; padding: 8px 12px;
  background: var(--bg); display: flex; flex-direction: column; }
.tile.st-ok { border-left-color: var(--ok); }
.tile.st-warn { border-left-color: var(--warn); }
.tile.st-bad { border-left-color: var(--bad); }
.tile-top { display: flex; justify-content: space-between; align-items: flex-start; gap: 6px; }
.tile-label { font-size: .85rem; font-weight: 600; color: var(--muted); line-height: 1.3; }
.tile-mark { font-weight: 700; line-height: 1.2; }
.tile-mark.st-ok { color: var(--ok); }
.tile-mark.st-warn { color: var(--warn); }
.tile-mark.st-bad { color: var(--bad); }
.tile-value { font-size: 1.4rem; font-weight: 700; line-height: 1.3; white-space: nowrap;
  font-variant-numeric: tabular-nums; }
.tile-change { font-size: .85rem; font-weight: 600; white-space: nowrap;
  font-variant-numeric: tabular-nums; }
.tile-vs { color: var(--muted); font-weight: 400; }
.tile-note { font-size: .8rem; color: var(--muted); }
svg.spark { display: block; width: 100%; height: 30px; margin-top: auto; padding-top: 4px; }
svg.spark path { fill: none; stroke: var(--accent); stroke-width: 1.5; stroke-linejoin: round;
  vector-effect: non-scaling-stroke; }
svg.spark circle { fill: var(--accent); }
section.group { margin-top: 36px; }
.group-title { font-size: 1.4rem; margin: 0; padding-bottom: 6px;
  border-bottom: 2px solid var(--fg); }
h3 { font-size: 1.15rem; margin: 0; }
.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 2px 16px; padding: 0;
  margin: 4px 0; font-size: .85rem; }
.legend li { display: flex; align-items: center; gap: 6px; }
.swatch { display: inline-block; width: 16px; height: 4px; border-radius: 2px; }
.swatch.total { height: 6px; background: var(--fg); }
svg .series { fill: none; stroke-width: 1.75; stroke-linejoin: round; stroke-linecap: round; }
svg .line.total { stroke: var(--fg); stroke-width: 3; }
svg .bar.total { fill: var(--soft); stroke: var(--fg); stroke-width: 1.5; }
svg text.value { fill: var(--fg); }
svg text.total { fill: var(--fg); font-weight: 700; }
svg text.mark { font-weight: 700; }
svg .target-tick { stroke: var(--fg); stroke-width: 2.5; }
svg .axis-break rect { fill: var(--bg); }
svg .axis-break path { fill: none; stroke: var(--muted); stroke-width: 1.5; }
"""
    + "".join(
        f".swatch.c{i}, svg .bar.c{i}, svg .series-pt.c{i} "
        f"{{ background: var(--c{i}); fill: var(--c{i}); }}\n"
        f"svg .series.c{i} {{ stroke: var(--c{i}); }}\n"
        for i in range(8)
    )
    + """@media print {
  section.kpi, .tile { break-inside: avoid; }
  details { display: none; }
}
"""
)


#: CSS of issue 13's marks (band, flagged points, ≈, trends), on the page only when used.
EXTRA_CSS = """\
:root { --band: rgba(9, 105, 218, .14); --flag: #bc4c00; --flag-bg: #fff1e5; }
@media (prefers-color-scheme: dark) {
  :root { --band: rgba(68, 147, 248, .20); --flag: #f0883e; --flag-bg: rgba(219, 109, 40, .18); }
}
.chg-same { color: var(--muted); }
.anom-bad { color: var(--bad); font-weight: 700; }
.anom-good { color: var(--warn); font-weight: 700; }
.flag { display: inline-block; padding: 0 8px; border-radius: 999px; font-size: .85rem;
  font-weight: 600; white-space: nowrap; color: var(--flag); background: var(--flag-bg); }
.flag.anom-bad { color: var(--bad); background: var(--bad-bg); }
.trend { font-weight: 600; white-space: nowrap; }
.trend.chg-same { font-weight: 400; }
.trends { color: var(--muted); font-size: .9rem; margin: 4px 0 0; }
.trends span { white-space: nowrap; margin-right: 16px; }
.note { color: var(--muted); font-size: .9rem; margin: 12px 0 0; }
svg .band { fill: var(--band); stroke: none; }
svg .recent { fill: var(--soft); stroke: none; }
svg .history { fill: none; stroke: var(--muted); stroke-width: 1.5; stroke-linejoin: round; }
svg .pt.anom { fill: var(--bg); stroke: var(--flag); stroke-width: 3; }
svg .pt.anom-low.bad, svg .pt.anom-high.bad { stroke: var(--bad); }
svg .pt.anom.missing { stroke-dasharray: 3 2; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr));
  gap: 8px 24px; }
.charts figure { margin: 8px 0; }
.charts h3 { font-size: 1rem; margin: 0; }
.charts .where { font-weight: 600; font-size: .9rem; }
"""


def uses_extra_css(result: Result) -> bool:
    """Whether the page shows any of issue 13's marks (and so needs :data:`EXTRA_CSS`)."""
    columns = set(result.rows.columns)
    return bool(result.anomalies or result.trends is not None or "change_significant" in columns)


def esc(value: Any) -> str:
    """Text safe anywhere in an element or a quoted attribute."""
    return escape(str(value), quote=True)


def _fmt(value: Any, info: KpiInfo, result: Result) -> str:
    return format_value(value, info.unit, currency=result.currency, locale=result.locale)


def _coord(x: float) -> str:
    """An SVG coordinate with at most one decimal (stable, short output)."""
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _period_text(result: Result) -> str:
    if result.period is None:
        label = result.period_label
        return "all dates" if label in ("", "all") else label
    start, end = result.period
    text = f"{start.isoformat()} → {end.isoformat()}"
    if result.period_label and result.period_label not in (
        "all",
        f"{start.isoformat()}..{end.isoformat()}",
    ):
        text += f" ({result.period_label})"
    return text


def _title(info: KpiInfo) -> tuple[str, str | None]:
    """A KPI's label, and its name when the label does not already say it."""
    label = info.label or info.name
    same = label.lower() == info.name.replace("_", " ").lower()
    return label, None if same else info.name


# --------------------------------------------------------------------------- charts


def nice_ticks(
    low: float, high: float, count: int = 4, *, whole: bool = False, seconds: bool = False
) -> list[float]:
    """Round axis ticks (steps of 1, 2, 2.5 or 5 × 10^k) covering ``low``..``high``.

    ``whole``: steps of at least 1 and never 2.5 × 10^k (integer axes, whose labels are
    rounded to whole numbers). ``seconds``: steps that read well as durations (15s, 1m, 5m,
    1h, …).
    """
    if high < low:
        low, high = high, low
    if high == low:
        pad = abs(high) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / max(1, count)
    if seconds and raw <= DURATION_STEPS[-1]:
        step: float = next(s for s in DURATION_STEPS if s >= raw)
    else:
        if seconds:
            raw /= DURATION_STEPS[-1]
        magnitude = 10 ** math.floor(math.log10(raw))
        steps = (1, 2, 5, 10) if whole or seconds else (1, 2, 2.5, 5, 10)
        step = next(m * magnitude for m in steps if m * magnitude >= raw)
        if whole or seconds:
            step = max(1, round(step))
        if seconds:
            step *= DURATION_STEPS[-1]
    first = math.floor(low / step) * step
    ticks = []
    tick = first
    while tick < high + step * 1e-9 and len(ticks) < 50:
        ticks.append(round(tick, 12))
        tick += step
    if ticks[-1] < high - step * 1e-9:
        ticks.append(round(tick, 12))
    return ticks


#: Units whose chart axes start at zero (amounts: a bar or a line's height is its size);
#: a ``percent`` axis may zoom, and then says that it does not start at 0.
ZOOMABLE_UNITS = frozenset({"percent"})


def axis_ticks(present: list[float], info: KpiInfo, count: int = 4) -> list[float]:
    """The y axis ticks of a chart of ``present`` values: from zero for counts, money and
    durations (zero and the values inside), zoomed on the values for a percent."""
    low, high = min(present), max(present)
    if info.unit not in ZOOMABLE_UNITS:
        low, high = min(0.0, low), max(0.0, high)
    return nice_ticks(
        low, high, count, whole=info.unit == "integer", seconds=info.unit == "duration"
    )


def _axis_break(plot: _Plot, result: Any, info: KpiInfo) -> list[str]:
    """The y axis line, with a zigzag at its foot when it does not start at 0 (a zoomed
    percent): the mark, its tooltip and a label say so."""
    bottom = plot.height - plot.bottom
    out = [f'<line class="axis" x1="{plot.left}" x2="{plot.left}" y1="{plot.top}" y2="{bottom}"/>']
    if plot.low <= 0 <= plot.high:
        return out
    x, y = plot.left, bottom - 6
    zigzag = f"M{x - 5} {y + 3} l5 -4 l5 4 M{x - 5} {y - 1} l5 -4 l5 4"
    tip = f"the axis starts at {_fmt(plot.low, info, result)}, not at 0"
    out.append(
        f'<g class="axis-break"><title>{esc(tip)}</title>'
        f'<rect x="{x - 6}" y="{y - 7}" width="12" height="12"/><path d="{zigzag}"/></g>'
    )
    return out


def _segments(points: list[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """Runs of consecutive points that have a value (a null breaks the line)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if y is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((x, y))
    return [run for run in runs if run]


def _path(run: list[tuple[float, float]]) -> str:
    return "M" + " L".join(f"{_coord(x)} {_coord(y)}" for x, y in run)


@dataclass(frozen=True)
class _Plot:
    """The geometry of a line chart: the SVG's size, the plot area inside its margins, the
    value range of the y axis and the number of points along x."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    low: float
    high: float
    points: int

    def x_at(self, index: int) -> float:
        plot_w = self.width - self.left - self.right
        if self.points == 1:
            return self.left + plot_w / 2
        return self.left + plot_w * index / (self.points - 1)

    def y_at(self, value: float) -> float:
        plot_h = self.height - self.top - self.bottom
        return self.top + plot_h * (self.high - value) / (self.high - self.low)


def _whole_period(record: dict[str, Any], result: Result, spans: set[tuple[Any, Any]]) -> bool:
    """Whether ``record`` is the whole period's total beside the ``--grain`` buckets (not a
    point of a chart over buckets): it spans the period while other buckets are shorter."""
    span = (record.get("period_start"), record.get("period_end"))
    return result.period is not None and span == tuple(result.period) and len(spans) > 1


def _by_bucket(lines: list[Line], result: Result) -> dict[date, dict[str, Any]]:
    """One record per bucket start (the first one), the whole period's left out."""
    lines = [line for line in lines if not line.whole]
    spans = {(ln.record.get("period_start"), ln.record.get("period_end")) for ln in lines}
    out: dict[date, dict[str, Any]] = {}
    for line in lines:
        record = line.record
        if record.get("period_start") is not None and not _whole_period(record, result, spans):
            out.setdefault(record["period_start"], record)
    return out


@dataclass(frozen=True)
class _Series:
    """One dimension value's line in a chart: its key, label, color index and values."""

    key: tuple[Any, ...]
    label: str
    color: int
    values: list[float | None]


#: Dimension values drawn at most as lines of one chart (the table has every row).
MAX_SERIES = 8
#: Colors of the dimension values (``.c0`` … in the CSS), the same value the same color in
#: every chart of a page; none of them is the green, amber or red of a status.
PALETTE_SIZE = 8


#: A color index per dimension value (see :func:`series_colors`).
Colors = dict[tuple[Any, ...], int]


def series_colors(result: Result) -> Colors:
    """A color index per dimension value of the result (sorted by their text, blanks last,
    so that a channel keeps its color from chart to chart and from report to report)."""
    dims = list(result.dimensions)
    if not dims or not result.rows.height:
        return {}
    keys = set(result.rows.select(dims).unique().iter_rows())
    ordered = sorted(keys, key=lambda k: tuple((v is None, dimension_text(v)) for v in k))
    return {key: index % PALETTE_SIZE for index, key in enumerate(ordered)}


def _value_key(record: dict[str, Any], result: Result) -> tuple[Any, ...]:
    return tuple(record.get(d) for d in result.dimensions)


def _value_label(key: tuple[Any, ...]) -> str:
    return " · ".join(dimension_text(v) for v in key)


def _dimension_series(
    section: Section, result: Result, starts: list[date], colors: Colors | None = None
) -> list[_Series]:
    """The lines of a chart under ``--by``: each dimension value's values over ``starts``,
    at most ``MAX_SERIES`` (the largest on average), in color order."""
    colors = series_colors(result) if colors is None else colors
    rows = [ln.record for ln in section.lines if not ln.is_total and not ln.more]
    by_key: dict[tuple[Any, ...], dict[date, Any]] = {}
    for record in rows:
        by_key.setdefault(_value_key(record, result), {}).setdefault(
            record.get("period_start"), record.get("value")
        )
    series = [
        _Series(
            key, _value_label(key), colors.get(key, 0), [finite_number(v.get(s)) for s in starts]
        )
        for key, v in by_key.items()
    ]
    series = [s for s in series if any(v is not None for v in s.values)]
    if len(series) > MAX_SERIES:
        size = {s.key: _mean(s.values) for s in series}
        series = sorted(series, key=lambda s: -abs(size[s.key]))[:MAX_SERIES]
    if len(colors) > PALETTE_SIZE:  # more values than colors: one each among those drawn
        series = sorted(series, key=lambda s: s.label)
        series = [dataclasses.replace(s, color=i) for i, s in enumerate(series)]
    return sorted(series, key=lambda s: (s.color, s.label))


def _mean(values: list[float | None]) -> float:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else 0.0


def _total_label(info: KpiInfo, result: Result) -> str:
    """``Total``, or ``Total (blended)`` for a total over rows the KPI has no value for
    (``Result.blended``), as the table says."""
    return "Total (blended)" if info.name in getattr(result, "blended", ()) else "Total"


def _has_total(info: KpiInfo) -> bool:
    """Whether the KPI's ``--by`` total is shown (``total: none`` has none)."""
    return info.total != "none"


#: A total this many times its largest dimension value's is drawn in a chart of its own
#: (a sum of channels would flatten them at the bottom of a shared axis from zero).
OWN_CHART = 1.5


def line_chart(section: Section, result: Result, colors: Colors | None = None) -> str:
    """An SVG line chart of the KPI over ``--grain`` buckets; empty when it has no value.

    With dimensions, a line per dimension value (colored as everywhere on the page, a
    legend under the chart) and the total drawn thicker in the text color (none with
    ``total: none``); a total that dwarfs the values (a sum: ``OWN_CHART``) gets a chart
    of its own above theirs. The target, when there is one, is dashed; each point of the
    total (of the values without dimensions) is colored by its status and has a tooltip
    with its value. Counts, money and durations are drawn from zero; a percent may zoom.
    """
    info = section.info
    dims = bool(result.dimensions)
    main = [ln for ln in section.lines if ln.is_total] if dims else section.lines
    main = main if _has_total(info) or not dims else []
    starts = sorted(_by_bucket([ln for ln in section.lines if not ln.more], result))
    series = _dimension_series(section, result, starts, colors) if dims else []
    totals = [finite_number(r.get("value")) for r in _by_bucket(main, result).values()]
    top = max((abs(v) for s in series for v in s.values if v is not None), default=0.0)
    if series and any(v is not None and abs(v) > OWN_CHART * top for v in totals):
        figures = (
            _line_figure(section, result, main, [], starts, "total"),
            _line_figure(section, result, [], series, starts, "values"),
        )
        return NL.join(f for f in figures if f)
    return _line_figure(section, result, main, series, starts, "")


def _line_figure(
    section: Section,
    result: Result,
    main: list[Line],
    series: list[_Series],
    starts: list[date],
    part: str,
) -> str:
    """One line chart over ``starts``: the ``main`` line (the total, or the values without
    dimensions) with its target, band, history and points, and the ``series`` lines;
    ``part`` says which of a pair it is (``total``, ``values``) or ``""``."""
    info = section.info
    dims = bool(result.dimensions)
    by_start = _by_bucket(main, result)
    records = [by_start.get(s, {"period_start": s}) for s in starts]
    past = _history(result, info.name, {}, len(records)) if main else []
    shown = past + records
    values = [None if i < len(past) else finite_number(r.get("value")) for i, r in enumerate(shown)]
    targets = [finite_number(r.get("target")) for r in shown]
    band = _bounds(shown)
    before = [finite_number(r.get("value")) for r in past]
    lifted = [v for s in series for v in s.values]
    present = [v for v in values + targets + band[0] + band[1] + before + lifted if v is not None]
    if not any(v is not None for v in values + lifted):
        return ""

    ticks = axis_ticks(present, info)
    tick_labels = [_fmt(tick, info, result) for tick in ticks]
    left = max(48, 16 + 7 * max(len(label) for label in tick_labels))
    plot = _Plot(720, 240, left, 24, 14, 30, ticks[0], ticks[-1], len(shown))
    labels = [bucket_label(r["period_start"], result.grain) for r in shown]
    name = info.label or info.name
    what = ", ".join(result.dimension_name(d) for d in result.dimensions)
    what = {"total": f", total of all {what}", "values": f", by {what}"}.get(part, f", by {what}")
    what = what if dims else ""
    out = [
        f'<svg class="chart" viewBox="0 0 {plot.width} {plot.height}" role="img" '
        f'aria-label="{esc(f"{name} by {result.grain}{what}")}">',
        *_shade(plot, len(past), f"the period; before it, the {result.grain}s learned from"),
        *_grid(plot, ticks, tick_labels),
        *_band(plot, *band),
        *_axis_break(plot, result, info),
        *_x_labels(plot, labels, HISTORY_X_LABELS if past else MAX_X_LABELS),
        *_target_marks(plot, targets),
        *_series_lines(plot, series, len(past), info, result),
        *_past_line(plot, before + values[len(past) : len(past) + 1]),
        *_value_line(plot, values, "line total" if dims else "line"),
    ]
    for index, record in enumerate(shown):
        if values[index] is not None:
            out.append(_point(plot, index, record, labels[index], values, targets, info, result))
        elif index >= len(past) and record.get("anomaly") in ("high", "low"):
            out.append(_missing_point(plot, index, record, labels[index], info, result))
    out.append("</svg>")
    key = _legend(series, _total_label(info, result) if main and dims else "")
    return (
        f"<figure>\n{NL.join(out)}\n{key}"
        f"<figcaption>{esc(_line_caption(section, result, plot, shown, len(past), series, part))}"
        "</figcaption>\n</figure>"
    )


def _line_caption(
    section: Section,
    result: Result,
    plot: _Plot,
    shown: list[dict[str, Any]],
    past: int,
    series: list[_Series],
    part: str = "",
) -> str:
    """What a line chart shows: its lines, the target, the band, the history, the axis."""
    info = section.info
    name = info.label or info.name
    dims = " · ".join(result.dimension_name(d) for d in result.dimensions)
    caption = f"{name} by {result.grain}"
    if part == "total":
        caption += f" (the total of every {dims})"
    elif part == "values":
        caption = f"{name} by {result.grain} and {dims}"
    if series:
        values = len({_value_key(ln.record, result) for ln in section.lines if not ln.is_total})
        if len(series) < values:
            caption += f"; the {len(series)} largest of {values} values drawn (all in the table)"
    targets = [r.get("target") for r in shown]
    if any(finite_number(t) is not None for t in targets):
        caption += "; dashed line: target"
    caption += _band_caption(_bounds(shown), shown)
    if past:
        caption += f"; grey: the {past} {result.grain}s before the period"
    if not plot.low <= 0 <= plot.high:
        caption += f"; the axis starts at {_fmt(plot.low, info, result)}, not at 0"
    return caption


def _series_lines(
    plot: _Plot, series: list[_Series], offset: int, info: KpiInfo, result: Result
) -> list[str]:
    """Each dimension value's line (a dot where it has a lone bucket), with its label as
    tooltip; ``offset`` buckets of history come before the first value."""
    out = []
    for item in series:
        points = [
            (plot.x_at(offset + i), None if v is None else plot.y_at(v))
            for i, v in enumerate(item.values)
        ]
        last = next((v for v in reversed(item.values) if v is not None), None)
        tip = esc(f"{item.label}: {_fmt(last, info, result)} (last)")
        for run in _segments(points):
            if len(run) > 1:
                out.append(
                    f'<path class="series c{item.color}" d="{_path(run)}">'
                    f"<title>{tip}</title></path>"
                )
            else:
                x, y = run[0]
                out.append(
                    f'<circle class="series-pt c{item.color}" cx="{_coord(x)}" cy="{_coord(y)}" '
                    f'r="3"><title>{tip}</title></circle>'
                )
    return out


def _legend(series: list[_Series], total: str) -> str:
    """The key of a chart's lines: a swatch and the value per line, then the ``total``'s
    (its label; none when empty)."""
    if not series:
        return ""
    items = [f'<li><span class="swatch c{s.color}"></span>{esc(s.label)}</li>' for s in series]
    if total:
        items.append(f'<li><span class="swatch total"></span>{esc(total)}</li>')
    return f'<ul class="legend">{"".join(items)}</ul>\n'


#: Labels on the time axis of a chart that shows history (more buckets: fewer labels).
HISTORY_X_LABELS = 5
#: Buckets of history drawn before the period at least (with ``--anomalies``), and at most
#: as many as the period has beyond that.
HISTORY_SHOWN = 14


def _history(result: Result, kpi: str, where: dict[str, Any], buckets: int) -> list[dict[str, Any]]:
    """With ``--anomalies``: the last buckets of history before the period of a KPI's series
    (its totals when ``where`` is empty and there are dimensions, else the rows whose
    dimension values are ``where``), at most ``max(buckets, HISTORY_SHOWN)``, by date."""
    import polars as pl

    frame = result.history_totals if result.dimensions and not where else result.history
    if not result.anomalies or frame is None or frame.height == 0:
        return []
    mask = pl.col("kpi") == kpi
    for key, value in where.items():
        mask &= pl.col(key).is_null() if value is None else pl.col(key) == value
    rows = frame.filter(mask).sort("period_start")
    return rows.tail(max(buckets, HISTORY_SHOWN)).to_dicts()


def _shade(plot: _Plot, first: int, tip: str) -> list[str]:
    """A shaded background from bucket ``first`` to the end (nothing when it is 0)."""
    if first <= 0 or first >= plot.points:
        return []
    x = (plot.x_at(first - 1) + plot.x_at(first)) / 2
    return [
        f'<rect class="recent" x="{_coord(x)}" y="{plot.top}" '
        f'width="{_coord(plot.width - plot.right - x)}" '
        f'height="{plot.height - plot.top - plot.bottom}"><title>{esc(tip)}</title></rect>'
    ]


def _past_line(plot: _Plot, values: list[float | None]) -> list[str]:
    """The muted line of the buckets before the period (into the period's first point)."""
    points = [(plot.x_at(i), None if v is None else plot.y_at(v)) for i, v in enumerate(values)]
    return [
        f'<path class="history" d="{_path(run)}"/>' for run in _segments(points) if len(run) > 1
    ]


def _grid(plot: _Plot, ticks: list[float], tick_labels: list[str]) -> list[str]:
    """A horizontal line and a label per tick of the y axis."""
    out = []
    for tick, tick_label in zip(ticks, tick_labels, strict=True):
        y = _coord(plot.y_at(tick))
        out.append(
            f'<line class="grid" x1="{plot.left}" x2="{plot.width - plot.right}" y1="{y}" '
            f'y2="{y}"/>'
            f'<text x="{plot.left - 8}" y="{y}" dy="4" text-anchor="end">{esc(tick_label)}</text>'
        )
    return out


#: The width of a character of an axis label (12px text), to keep labels apart.
LABEL_CHAR_WIDTH = 6.8


def _x_labels(plot: _Plot, labels: list[str], limit: int = MAX_X_LABELS) -> list[str]:
    """Bucket labels under the plot, at most ``limit`` of them, none over another."""
    out = []
    step = math.ceil(len(labels) / limit)
    right = -math.inf
    for index, label in enumerate(labels):
        if index % step == 0 and label:
            anchor = "middle"
            if len(labels) > 1 and index == 0:
                anchor = "start"
            elif len(labels) > 1 and index == len(labels) - 1:
                anchor = "end"
            x, width = plot.x_at(index), len(label) * LABEL_CHAR_WIDTH
            left = {"start": x, "end": x - width}.get(anchor, x - width / 2)
            if left < right + 8:
                continue
            right = left + width
            out.append(
                f'<text x="{_coord(x)}" y="{plot.height - 8}" '
                f'text-anchor="{anchor}">{esc(label)}</text>'
            )
    return out


def _target_marks(plot: _Plot, targets: list[float | None]) -> list[str]:
    """The target as a dashed line (a short dash for a lone bucket with a target)."""
    out = []
    points = [(plot.x_at(i), None if t is None else plot.y_at(t)) for i, t in enumerate(targets)]
    for run in _segments(points):
        if len(run) > 1:
            out.append(f'<path class="target" d="{_path(run)}"/>')
        else:
            x, y = run[0]
            out.append(
                f'<line class="target" x1="{_coord(x - 10)}" x2="{_coord(x + 10)}" '
                f'y1="{_coord(y)}" y2="{_coord(y)}"/>'
            )
    return out


def _value_line(plot: _Plot, values: list[float | None], css: str = "line") -> list[str]:
    points = [(plot.x_at(i), None if v is None else plot.y_at(v)) for i, v in enumerate(values)]
    return [f'<path class="{css}" d="{_path(run)}"/>' for run in _segments(points) if len(run) > 1]


def _point(
    plot: _Plot,
    index: int,
    record: dict[str, Any],
    label: str,
    values: list[float | None],
    targets: list[float | None],
    info: KpiInfo,
    result: Result,
) -> str:
    """One bucket's point, colored by its status, with its value (and target) as tooltip."""
    value = values[index]
    assert value is not None
    tip = f"{label}: {_fmt(value, info, result)}"
    if targets[index] is not None:
        tip += f" (target {_fmt(targets[index], info, result)})"
    status = record.get("status")
    if status:
        tip += f" · {status}"
    css = " ".join(["pt", *([STATUS_CLASSES[status]] if status in STATUS_CLASSES else [])])
    radius = "4.5" if plot.points <= 40 else "3" if plot.points <= 100 else "2.2"
    if record.get("lower") is not None or record.get("anomaly"):
        tip += _anomaly_tip(record, info, result)
    if record.get("anomaly") in ("high", "low"):
        css += _flag_classes(record, info)
        radius = "6"
    return (
        f'<circle class="{css}" cx="{_coord(plot.x_at(index))}" cy="{_coord(plot.y_at(value))}" '
        f'r="{radius}"><title>{esc(tip)}</title></circle>'
    )


def _flag_classes(record: dict[str, Any], info: KpiInfo) -> str:
    """`` anom anom-low bad`` for a flagged point (``bad`` the way ``better`` does not want)."""
    bad = " bad" if anomaly_style(record, info.better) == "bold red" else ""
    return f" anom anom-{record['anomaly']}{bad}"


def _anomaly_tip(record: dict[str, Any], info: KpiInfo, result: Any) -> str:
    """`` · expected 1.20 %–1.90 % · ⚑ low -5.2σ`` for a point's tooltip."""
    expected = format_range(
        record.get("lower"),
        record.get("upper"),
        info.unit,
        currency=result.currency,
        locale=result.locale,
    )
    tip = f" · expected {expected}"
    if record.get("anomaly"):
        flag = format_anomaly(record["anomaly"], record.get("anomaly_score"), locale=result.locale)
        tip += f" · {flag}"
    return tip


def _bounds(records: list[dict[str, Any]]) -> tuple[list[float | None], list[float | None]]:
    """The lower and upper bounds of each bucket (both None where either is missing)."""
    lows, highs = [], []
    for record in records:
        low, high = finite_number(record.get("lower")), finite_number(record.get("upper"))
        both = low is not None and high is not None
        lows.append(low if both else None)
        highs.append(high if both else None)
    return lows, highs


def _band(plot: _Plot, lows: list[float | None], highs: list[float | None]) -> list[str]:
    """The expected band: a shape from lower to upper over each run of buckets that have
    both (a short bar for a lone bucket); nothing without bounds."""
    out = []
    points = [(float(i), low) for i, low in enumerate(lows)]
    for run in _segments(points):
        first, last = int(run[0][0]), int(run[-1][0])
        span = range(first, last + 1)
        if first == last:
            x = plot.x_at(first)
            top, bottom = plot.y_at(highs[first] or 0.0), plot.y_at(lows[first] or 0.0)
            out.append(
                f'<rect class="band" x="{_coord(x - 8)}" y="{_coord(top)}" width="16" '
                f'height="{_coord(max(bottom - top, 1.0))}"/>'
            )
            continue
        upper = [(plot.x_at(i), plot.y_at(highs[i] or 0.0)) for i in span]
        lower = [(plot.x_at(i), plot.y_at(lows[i] or 0.0)) for i in reversed(span)]
        out.append(f'<path class="band" d="{_path(upper + lower)} Z"/>')
    return out


def _band_caption(band: tuple[list[float | None], list[float | None]], records: list[Any]) -> str:
    """What the band and the rings mean, when there are."""
    if not any(v is not None for v in band[0]):
        return ""
    flagged = sum(1 for r in records if r.get("anomaly") in ("high", "low"))
    text = "; shaded: expected range"
    if flagged:
        text += f"; ringed: {flagged} flagged bucket{'s' if flagged != 1 else ''}"
    return text


def _shorten(text: str, limit: int = BAR_LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class _Bar:
    """One bar: its label, value, target, status, color class and whether it is the total."""

    label: str
    value: float | None
    target: float | None
    status: str | None
    css: str
    total: bool = False


def _bars(section: Section, result: Result, colors: Colors | None) -> tuple[list[_Bar], int]:
    """The bars of a KPI by dimension (at most ``MAX_BARS``, then its total unless
    ``total: none``), and how many rows there are in all."""
    colors = series_colors(result) if colors is None else colors
    rows = [ln.record for ln in section.lines if not ln.is_total and not ln.more]
    left_out = sum(ln.more for ln in section.lines)
    bars = []
    for record in rows[:MAX_BARS]:
        key = _value_key(record, result)
        bars.append(
            _Bar(
                _value_label(key),
                finite_number(record.get("value")),
                finite_number(record.get("target")),
                record.get("status"),
                f"c{colors[key]}" if len(colors) <= PALETTE_SIZE and key in colors else "",
            )
        )
    totals = [ln.record for ln in section.lines if ln.is_total]
    if totals and _has_total(section.info) and finite_number(totals[0].get("value")) is not None:
        record = totals[0]
        bars.append(
            _Bar(
                _total_label(section.info, result),
                finite_number(record.get("value")),
                finite_number(record.get("target")),
                record.get("status"),
                "total",
                total=True,
            )
        )
    return bars, len(rows) + left_out


def bar_chart(section: Section, result: Result, colors: Colors | None = None) -> str:
    """An SVG horizontal bar per dimension value, then the total's (outlined, apart);
    empty without values.

    Bars start at zero and take each dimension value's color (the same in every chart);
    the value is written at the end with the status mark (✔ ⚠ ✖, colored), a target is a
    tick across its bar. Only the first ``MAX_BARS`` rows are drawn.
    """
    info = section.info
    bars, count = _bars(section, result, colors)
    present = [v for b in bars for v in (b.value, b.target) if v is not None]
    if not any(b.value is not None for b in bars if not b.total):
        return ""
    low, high = min(0.0, *present), max(0.0, *present)
    if high == low:
        high = low + 1.0

    row_h, bar_h, top, gap = 26, 18, 6, 10
    label_w, value_w, width = 170, 150, BARS_WIDTH
    plot_w = width - label_w - value_w
    height = top * 2 + row_h * len(bars) + (gap if bars[-1].total else 0)

    def x_at(value: float) -> float:
        return label_w + plot_w * (value - low) / (high - low)

    zero = x_at(0.0)
    name = info.label or info.name
    dims = " · ".join(result.dimension_name(d) for d in result.dimensions)
    out = [
        f'<svg class="chart bars" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{esc(f"{name} by {dims}")}">'
    ]
    for index, bar in enumerate(bars):
        y = top + row_h * index + (gap if bar.total else 0)
        out.append(_bar(bar, y, row_h, bar_h, x_at, zero, width, info, result))
    zero_x = _coord(zero)
    out.append(f'<line class="axis" x1="{zero_x}" x2="{zero_x}" y1="{top}" y2="{height - top}"/>')
    out.append("</svg>")
    caption = f"{name} by {dims}"
    shown = sum(not b.total for b in bars)
    if count > shown:
        caption += f"; the first {shown} of {count:,} rows"
    if any(b.target is not None for b in bars):
        caption += "; tick: target"
    return f"<figure>\n{NL.join(out)}\n<figcaption>{esc(caption)}</figcaption>\n</figure>"


def _bar(
    bar: _Bar,
    y: float,
    row_h: int,
    bar_h: int,
    x_at: Any,
    zero: float,
    width: int,
    info: KpiInfo,
    result: Result,
) -> str:
    """One bar's group: its label, the bar, the target tick, the value and status mark."""
    middle = _coord(y + row_h / 2)
    text = _fmt(bar.value, info, result)
    tip = f"{bar.label}: {text}"
    if bar.target is not None:
        tip += f" (target {_fmt(bar.target, info, result)})"
    if bar.status:
        tip += f" · {bar.status}"
    label_css = "label total" if bar.total else "label"
    out = [
        f"<g><title>{esc(tip)}</title>",
        f'<text class="{label_css}" x="{LABEL_X}" '
        f'y="{middle}" dy="4" text-anchor="end">{esc(_shorten(bar.label))}</text>',
    ]
    if bar.value is not None:
        start, end = sorted((zero, x_at(bar.value)))
        css = f"bar {bar.css}" if bar.css else "bar"
        out.append(
            f'<rect class="{css}" x="{_coord(start)}" '
            f'y="{_coord(y + (row_h - bar_h) / 2)}" '
            f'width="{_coord(max(end - start, 1.0))}" height="{bar_h}" rx="3"/>'
        )
    if bar.target is not None:
        x = _coord(x_at(bar.target))
        out.append(
            f'<line class="target-tick" x1="{x}" x2="{x}" y1="{_coord(y + 1)}" '
            f'y2="{_coord(y + row_h - 1)}"/>'
        )
    mark = STATUS_MARKS.get(bar.status or "", "")
    value_css = "value total" if bar.total else "value"
    out.append(
        f'<text class="{value_css}" x="{width - 24}" y="{middle}" dy="4" text-anchor="end">'
        f"{esc(text)}</text>"
    )
    if mark:
        out.append(
            f'<text class="mark {STATUS_CLASSES[bar.status or ""]}" x="{width - 4}" y="{middle}" '
            f'dy="4" text-anchor="end">{mark}</text>'
        )
    out.append("</g>")
    return "".join(out)


# --------------------------------------------------------------------------- tables


def _value_cells(line: Line, info: KpiInfo, extra: list[tuple[str, str]], result: Result) -> str:
    """The Value cell then one cell per optional column, formatted as in the terminal."""
    keys = ["value"] + [key for key, _ in extra]
    cells = []
    for key, (text, style) in zip(keys, value_texts(line.record, info, extra, result), strict=True):
        if key == "status":
            status = line.record.get("status")
            if status in STATUS_CLASSES:
                badge = f'<span class="status {STATUS_CLASSES[status]}">{esc(text)}</span>'
                cells.append(f"<td>{badge}</td>")
            else:
                cells.append(f"<td>{esc(text)}</td>")
            continue
        if key == "anomaly":
            css = " anom-bad" if style == "bold red" else ""
            badge = f'<span class="flag{css}">{esc(text)}</span>' if text else ""
            cells.append(f'<td class="nowrap">{badge}</td>')
            continue
        classes = ["num"]
        if text == NULL:
            classes.append("missing")
        if style in CHANGE_CLASSES:
            classes.append(CHANGE_CLASSES[style])
        cells.append(f'<td class="{" ".join(classes)}">{esc(text)}</td>')
    return "".join(cells)


def _value_headers(extra: list[tuple[str, str]]) -> str:
    heads = ['<th scope="col" class="num">Value</th>']
    for key, title in extra:
        css = "" if key in ("status", "anomaly") else ' class="num"'
        heads.append(f'<th scope="col"{css}>{esc(title)}</th>')
    return "".join(heads)


def _summary_table(kpi_sections: list[Section], result: Result) -> str:
    """No dimensions and no grain: one table, a row per KPI."""
    extra = optional_columns(result)
    body = []
    for section in kpi_sections:
        label, name = _title(section.info)
        cell = esc(label) + (f' <span class="name">{esc(name)}</span>' if name else "")
        if section.info.description:
            cell += f'<div class="desc">{esc(section.info.description)}</div>'
        for line in section.lines:
            values = _value_cells(line, section.info, extra, result)
            body.append(f'<tr><th scope="row">{cell}</th>{values}</tr>')
    head = f'<tr><th scope="col">KPI</th>{_value_headers(extra)}</tr>'
    return (
        f'<div class="table-wrap"><table class="kpis"><thead>{head}</thead>'
        f"<tbody>\n{NL.join(body)}\n</tbody></table></div>"
    )


def _section_table(section: Section, result: Result, extra: list[tuple[str, str]]) -> str:
    """One KPI's rows: a bucket column with ``--grain``, the dimensions, the values."""
    dims = list(result.dimensions)
    head = ['<th scope="col">Period</th>'] if result.grain else []
    head += [f'<th scope="col">{esc(result.dimension_name(dim))}</th>' for dim in dims]
    groups: list[list[str]] = []
    for line in section.lines:
        record = line.record
        cells = []
        if result.grain:
            start, end = record.get("period_start"), record.get("period_end")
            text = ""
            if line.first_of_bucket and start is not None:
                span = f"{start.isoformat()} → {end.isoformat() if end else ''}"
                label = WHOLE_PERIOD if line.whole else bucket_label(start, result.grain)
                text = f'<span title="{esc(span)}">{esc(label)}</span>'
            cells.append(f'<td class="nowrap">{text}</td>')
        if line.more:
            span = len(dims) + 1 + len(extra)
            cells.append(f'<td class="blank" colspan="{span}">{esc(line.more_text)}</td>')
        elif line.is_total and dims:
            total = esc(_total_label(section.info, result))
            cells += [f"<td>{total}</td>"] + ["<td></td>" for _ in dims[1:]]
        else:
            for dim in dims:
                value = record.get(dim)
                css = ' class="blank"' if value is None else ""
                cells.append(f"<td{css}>{esc(dimension_text(value))}</td>")
        if not line.more:
            cells.append(_value_cells(line, section.info, extra, result))
        tr = '<tr class="total">' if line.is_total else "<tr>"
        row = f"{tr}{''.join(cells)}</tr>"
        if not groups or (dims and result.grain and line.first_of_bucket):
            groups.append([])
        groups[-1].append(row)
    bodies = "".join(f"<tbody>\n{NL.join(rows)}\n</tbody>" for rows in groups)
    return (
        f'<div class="table-wrap"><table><thead><tr>{"".join(head)}{_value_headers(extra)}'
        f"</tr></thead>\n{bodies}</table></div>"
    )


def _section(
    section: Section,
    result: Result,
    extra: list[tuple[str, str]],
    level: int = 2,
    colors: Colors | None = None,
) -> str:
    """One KPI's block: its title (an ``h{level}``), trend, description, chart, table."""
    info = section.info
    label, name = _title(info)
    parts = [f'<section class="kpi" id="kpi-{esc(info.name)}"><div class="kpi-head">']
    parts.append(f"<h{level}>{esc(label)}</h{level}>")
    if name:
        parts.append(f'<span class="name">{esc(name)}</span>')
    if section.trend is not None:
        parts.append(_trend_span(section.trend, result, title="trend over the period"))
    parts.append("</div>")
    if info.description:
        parts.append(f'<p class="desc">{esc(info.description)}</p>')
    if result.grain:
        parts.append(line_chart(section, result, colors))
        parts += [
            p for p in (_dimension_trends(section, result), _flagged_charts(section, result)) if p
        ]
    elif result.dimensions:
        parts.append(bar_chart(section, result, colors))
    parts.append(_section_table(section, result, extra))
    parts.append("</section>")
    return NL.join(parts)


def _trend_span(record: dict[str, Any], result: Result, *, title: str) -> str:
    """A trend as a span (``▲ +3.1 %/week``, muted with ``≈`` when not significant) whose
    tooltip gives the p-value and the buckets used."""
    text, style = trend_text(record, result)
    css = "trend" + (f" {CHANGE_CLASSES[style]}" if style in CHANGE_CLASSES else "")
    p_value = finite_number(record.get("p_value"))
    tip = title
    if p_value is not None:
        tip += f": p = {p_value:.3g} over {record.get('buckets')} {result.grain}s"
    return f'<span class="{css}" title="{esc(tip)}">{esc(text)}</span>'


def _where(record: dict[str, Any], result: Result) -> str:
    """``channel=meta_ads`` (each dimension of ``result`` that the record has a value for)."""
    return ", ".join(
        f"{result.dimension_name(d)}={dimension_text(record.get(d))}" for d in result.dimensions
    )


def _dimension_trends(section: Section, result: Result) -> str:
    """One line of each dimension value's trend under the chart (empty without)."""
    if not section.trends:
        return ""
    spans = []
    for record in section.trends[:MAX_BARS]:
        where = " · ".join(dimension_text(record.get(d)) for d in result.dimensions)
        spans.append(f"<span>{esc(where)} {_trend_span(record, result, title=where)}</span>")
    more = len(section.trends) > MAX_BARS
    tail = "<span>… more with -f json</span>" if more else ""
    # a space between the (unbreakable) spans: where the line may wrap
    return f'<p class="trends">Trends: {" ".join([*spans, tail])}</p>'


def _flagged_charts(section: Section, result: Result) -> str:
    """With ``--anomalies --by``: a small chart per dimension series with a flagged bucket
    (at most ``MAX_FLAGGED_CHARTS``), its band and its rings."""
    if not result.anomalies or not result.dimensions:
        return ""
    rows = [ln.record for ln in section.lines if not ln.is_total and not ln.more]
    series: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for record in rows:
        series.setdefault(tuple(record.get(d) for d in result.dimensions), []).append(record)
    flagged = [records for records in series.values() if any(r.get("anomaly") for r in records)]
    if not flagged:
        return ""
    charts = []
    for records in flagged[:MAX_FLAGGED_CHARTS]:
        where = {d: records[0].get(d) for d in result.dimensions}
        past = _history(result, section.info.name, where, len(records))
        title = _where(records[0], result)
        charts.append(
            band_chart(
                past + records,
                section.info,
                result,
                title=title,
                recent=len(records),
                looked_at="the period",
            )
        )
    return f'<div class="charts">{NL.join(charts)}</div>'


#: Buckets before the ones looked at that a small chart shows, per bucket looked at.
SERIES_HISTORY = 4


def _missing_point(
    plot: _Plot, index: int, record: dict[str, Any], label: str, info: KpiInfo, result: Any
) -> str:
    """A flagged bucket without a value (no rows: an outage): a dashed ring at the bottom."""
    tip = f"{label}: no value{_anomaly_tip(record, info, result)}"
    css = "pt" + _flag_classes(record, info) + " missing"
    return (
        f'<circle class="{css}" cx="{_coord(plot.x_at(index))}" '
        f'cy="{_coord(plot.y_at(plot.low))}" r="6"><title>{esc(tip)}</title></circle>'
    )


def band_chart(
    records: list[dict[str, Any]],
    info: KpiInfo,
    result: Any,
    *,
    title: str,
    heading: str | None = None,
    recent: int = 0,
    looked_at: str | None = None,
    width: int = 480,
    height: int = 190,
) -> str:
    """A small SVG chart of one series (``records`` by date: value, lower, upper, anomaly,
    anomaly_score): the band, the line, the flagged buckets ringed (at the bottom, dashed,
    when they have no value: an outage); the last ``recent`` buckets shaded (those looked
    at), at most ``SERIES_HISTORY`` × as many before them drawn muted."""
    if recent:
        records = records[-(recent + max(SERIES_HISTORY * recent, HISTORY_SHOWN * 2)) :]
    values = [finite_number(r.get("value")) for r in records]
    band = _bounds(records)
    present = [v for v in values + band[0] + band[1] if v is not None]
    if not present:
        return ""
    ticks = axis_ticks(present, info, 3)
    tick_labels = [_fmt(tick, info, result) for tick in ticks]
    left = max(44, 14 + 7 * max(len(label) for label in tick_labels))
    plot = _Plot(width, height, left, 16, 10, 28, ticks[0], ticks[-1], len(records))
    labels = [bucket_label(r["period_start"], result.grain) for r in records]
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{esc(f"{info.label or info.name}, {title}")}">'
    ]
    first = len(records) - recent
    if 0 < recent < len(records):
        out += _shade(plot, first, f"the last {recent} {result.grain}s, looked at")
    out += _grid(plot, ticks, tick_labels)
    out += _band(plot, *band)
    out += _axis_break(plot, result, info)
    ends = {0, (len(labels) - 1) // 2, len(labels) - 1}  # first, middle, last
    shown = [label if i in ends else "" for i, label in enumerate(labels)]
    out += _x_labels(plot, shown, len(shown))
    if 0 < recent < len(records):
        out += _past_line(plot, values[: first + 1])
        values = [None if i < first else v for i, v in enumerate(values)]
    out += _value_line(plot, values)
    none = [None] * len(values)
    for index, record in enumerate(records):
        if record.get("anomaly") not in ("high", "low") or index < first:
            continue
        if values[index] is None:
            out.append(_missing_point(plot, index, record, labels[index], info, result))
        else:
            out.append(_point(plot, index, record, labels[index], values, none, info, result))
    out.append("</svg>")
    flagged = [r for r in records if r.get("anomaly") in ("high", "low")]
    caption = f"{len(flagged)} flagged" if flagged else "none flagged"
    if recent:
        caption += f" in {looked_at or f'the last {recent} {result.grain}s'} (shaded)"
    caption += "; band: expected range"
    head = f"<h3>{esc(heading)}</h3>\n" if heading else ""
    return (
        f'<figure class="series">\n{head}<div class="where">{esc(title)}</div>\n{NL.join(out)}\n'
        f"<figcaption>{esc(caption)}</figcaption>\n</figure>"
    )


def _definitions(result: Result) -> str:
    rows = []
    for info in result.kpis.values():
        unit = "duration (seconds)" if info.unit == "duration" else info.unit
        rows.append(
            f"<tr><td>{esc(info.label or info.name)}</td><td><code>{esc(info.name)}</code></td>"
            f"<td>{esc(unit)}</td><td>{esc(info.better)}</td>"
            f"<td><code>{esc(info.formula)}</code></td><td>{esc(info.description or '')}</td></tr>"
        )
    if not rows:
        return ""
    head = "".join(
        f'<th scope="col">{t}</th>'
        for t in ("KPI", "Name", "Unit", "Better", "Formula", "Description")
    )
    return (
        "<details><summary>KPI definitions</summary>"
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>\n{NL.join(rows)}\n</tbody></table></div></details>"
    )


def _facts(result: Result) -> str:
    facts = [("Period", _period_text(result)), ("As of", result.as_of.isoformat())]
    if result.comparison is not None:
        start, end = result.comparison
        facts.append(("Compared with", f"{start.isoformat()} → {end.isoformat()}"))
    if result.grain:
        facts.append(("Grain", result.grain))
    if result.dimensions:
        facts.append(("By", ", ".join(result.dimension_name(d) for d in result.dimensions)))
    items = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts)
    return f'<dl class="facts">{items}</dl>'


#: What the colours of a change mean (the page's own note: the terminal says it in words).
NOTE_CHANGES = (
    "▲ ▼ change against the comparison period: green when the KPI moved the way it should "
    "(up, or down for costs), red when it moved the other way."
)


def kpi_groups(kpi_sections: list[Section]) -> list[tuple[str | None, list[Section]]]:
    """The KPI sections, in the order :func:`kpicli.render.layout.sections` gives them, cut
    where a group opens (``Section.opens``); one unnamed group when no KPI has a group."""
    groups: list[tuple[str | None, list[Section]]] = []
    for section in kpi_sections:
        if section.opens or not groups:
            groups.append((section.opens, []))
        groups[-1][1].append(section)
    return groups


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "group"


def _headline(section: Section, result: Result) -> tuple[dict[str, Any] | None, str]:
    """The record a KPI's tile shows, and the bucket it is when it is not the whole period:
    its total under ``--by`` (none with ``total: none``), its row otherwise; with
    ``--grain``, the whole period's (its line from ``Result.whole``, or a row that spans the
    period),
    else the last bucket's."""
    dims = bool(result.dimensions)
    if dims and not _has_total(section.info):
        return None, ""
    lines = [ln for ln in section.lines if not ln.more and (ln.is_total == dims or ln.whole)]
    records = [ln.record for ln in lines if not ln.whole]
    if not lines:
        return None, ""
    if result.grain is None:
        return records[0], ""
    whole_row = next((ln.record for ln in lines if ln.whole), None)
    if whole_row is not None:
        return whole_row, ""
    if not records:
        return None, ""
    spans = {(r.get("period_start"), r.get("period_end")) for r in records}
    whole = [r for r in records if _whole_period(r, result, spans)]
    if whole or len(spans) == 1:
        return (whole or records)[0], ""
    last = max(records, key=lambda r: r.get("period_start"))
    return last, bucket_label(last["period_start"], result.grain)


#: The width of a sparkline's drawing: about a tile's inside, where it is stretched to fit.
SPARK_WIDTH = 172


def _spark(section: Section, result: Result) -> str:
    """A small SVG line of the tile's series over ``--grain`` buckets (its totals under
    ``--by``), the last point dotted; empty with fewer than two values."""
    if result.grain is None:
        return ""
    dims = bool(result.dimensions)
    main = [ln for ln in section.lines if not ln.more and ln.is_total == dims]
    buckets = _by_bucket(main, result)
    values = [finite_number(buckets[s].get("value")) for s in sorted(buckets)]
    present = [v for v in values if v is not None]
    if len(present) < 2:
        return ""
    low, high = min(present), max(present)
    plot = _Plot(SPARK_WIDTH, 30, 3, 5, 4, 4, low, high if high > low else low + 1.0, len(values))
    points = [(plot.x_at(i), None if v is None else plot.y_at(v)) for i, v in enumerate(values)]
    runs = _segments(points)
    x, y = runs[-1][-1]
    first, last = present[0], present[-1]
    tip = f"{_fmt(first, section.info, result)} → {_fmt(last, section.info, result)}"
    tip += f" over {len(values)} {result.grain}s"
    lines = "".join(f'<path d="{_path(run)}"/>' for run in runs if len(run) > 1)
    return (
        f'<svg class="spark" viewBox="0 0 {SPARK_WIDTH} 30" preserveAspectRatio="none" '
        f'role="img" aria-label="{esc(tip)}">'
        f"<title>{esc(tip)}</title>{lines}"
        f'<circle cx="{_coord(x)}" cy="{_coord(y)}" r="2.5"/></svg>'
    )


#: What a blended total is, as its tooltip says.
BLENDED_TIP = (
    "over every row, including those the KPI has no value for (CPL: all leads, organic "
    "ones too): not a total of the values shown"
)
#: What each status mark means, as a tile's tooltip says.
STATUS_TIPS = dict(zip(("ok", "warn", "bad"), LEGEND_STATUS, strict=True))


def _tile(section: Section, result: Result) -> str:
    """A KPI's tile: label, value, change (colored the way ``better`` wants), status mark,
    target, and a sparkline with ``--grain``."""
    info = section.info
    record, bucket = _headline(section, result)
    status = (record or {}).get("status")
    css = f"tile {STATUS_CLASSES[status]}" if status in STATUS_CLASSES else "tile"
    label, _ = _title(info)
    tip = f"{label}: {info.description}" if info.description else label
    mark = ""
    if status in STATUS_CLASSES:
        mark = (
            f'<span class="tile-mark {STATUS_CLASSES[status]}" title="{esc(STATUS_TIPS[status])}">'
            f"{STATUS_MARKS[status]}</span>"
        )
    parts = [
        f'<div class="{css}" id="tile-{esc(info.name)}" data-kpi="{esc(info.name)}">',
        f'<div class="tile-top"><span class="tile-label" title="{esc(tip)}">{esc(label)}</span>'
        f"{mark}</div>",
    ]
    if record is None:
        by = ", ".join(result.dimension_name(d) for d in result.dimensions)
        parts.append(f'<div class="tile-value missing">{NULL}</div>')
        parts.append(f'<div class="tile-note">no total: see by {esc(by)}</div>')
    else:
        parts += _tile_figures(record, bucket, info, result)
    parts.append(_spark(section, result))
    parts.append("</div>")
    return "".join(parts)


def _tile_figures(record: dict[str, Any], bucket: str, info: KpiInfo, result: Result) -> list[str]:
    """A tile's value (and the bucket it is of), change against the previous value, target."""
    extra = [("change", "Change"), ("target", "Target")]
    (value, _), (change, change_css), (target, _none) = value_texts(record, info, extra, result)
    value_css = "tile-value" + (" missing" if value == NULL else "")
    out = [f'<div class="{value_css}">{esc(value)}</div>']
    if bucket:
        out.append(f'<div class="tile-note">{esc(bucket)}, the last {esc(result.grain)}</div>')
    if info.name in getattr(result, "blended", ()):
        out.append(f'<div class="tile-note blended" title="{esc(BLENDED_TIP)}">blended total</div>')
    if result.comparison is not None and finite_number(record.get("previous")) is not None:
        css = " ".join(
            ["tile-change", *([CHANGE_CLASSES[change_css]] if change_css in CHANGE_CLASSES else [])]
        )
        previous = _fmt(record.get("previous"), info, result)
        out.append(
            f'<div class="{css}">{esc(change)} '
            f'<span class="tile-vs">vs {esc(previous)}</span></div>'
        )
    if target:
        out.append(f'<div class="tile-note">target {esc(target)}</div>')
    return out


#: The classes of a verdict part's style (rich styles, as the terminal shows them).
VERDICT_CLASSES = {
    "green": "v-ok",
    "yellow": "v-warn",
    "red": "v-bad",
    "bold": "v-head",
    SAME_STYLE: "v-same",
}


def verdict(parts: list[tuple[str, str]]) -> str:
    """The verdict line above the tiles (:func:`kpicli.render.layout.summary`'s parts: rows
    off target, anomalies, best and worst change), each part colored as its style says;
    empty without parts."""
    if not parts:
        return ""
    spans = []
    for text, style in summary_line(parts):
        css = " ".join(VERDICT_CLASSES[s] for s in style.split() if s in VERDICT_CLASSES)
        spans.append(f'<span class="{css}">{esc(text)}</span>' if css else esc(text))
    return f'<p class="verdict">{"".join(spans)}</p>'


def _summary(groups: list[tuple[str | None, list[Section]]], result: Result) -> str:
    """The tiles at the top of the page: one per KPI, in its group's block."""
    blocks = []
    for name, group in groups:
        head = f'<h2 class="tiles-head">{esc(name)}</h2>' if name else ""
        tiles = NL.join(_tile(s, result) for s in group)
        blocks.append(f'<div class="tile-group">{head}<div class="tiles">\n{tiles}\n</div></div>')
    return f'<section class="summary" aria-label="Summary">\n{NL.join(blocks)}\n</section>'


def _blocks(groups: list[tuple[str | None, list[Section]]], result: Result) -> str:
    """The blocks under the summary: per group (a section headed by its name), each KPI's
    chart and table, or without ``--by``/``--grain`` the group's table."""
    extra = optional_columns(result)
    charts = bool(result.dimensions) or result.grain is not None
    colors = series_colors(result)  # once for the page: a value's color in every chart
    out = []
    for name, group in groups:
        if charts:
            inner = [_section(s, result, extra, 3 if name else 2, colors) for s in group]
        else:
            inner = [_summary_table(group, result)]
        if name is None:
            out += inner
            continue
        head = f'<h2 class="group-title">{esc(name)}</h2>'
        out.append(
            f'<section class="group" id="group-{esc(_slug(name))}">{head}\n'
            f"{NL.join(inner)}\n</section>"
        )
    return NL.join(out)


def to_html(result: Result, *, all_rows: bool = False) -> bytes:
    """The report as one self-contained UTF-8 HTML page (no network needed to open it).
    Rows without data are hidden (a note says how many) unless ``all_rows``.

    At the top, a tile per KPI; then each KPI's chart and table (a table of every KPI
    without ``--by``/``--grain``), both in the sections of the KPIs' ``group``."""
    result, hidden = (result, 0) if all_rows else without_data(result)
    kpi_sections = sections(result, whole=True)
    lines = [part for note in notes(result, kpi_sections, hidden) for part in note.split("\n")]
    if has_more(kpi_sections):
        lines.append(NOTE_MORE[0].upper() + NOTE_MORE[1:] + ".")
    if result.comparison is not None and kpi_sections:
        lines.append(NOTE_CHANGES)
    said = "".join(f'\n<p class="note">{esc(line)}</p>' for line in lines)
    if not kpi_sections:
        body = f'<p class="empty">No rows: nothing matched the period and filters.</p>{said}'
    else:
        groups = kpi_groups(kpi_sections)
        said = f'\n<div class="notes">{said}\n</div>' if said else ""
        head = verdict(summary(result, kpi_sections))
        body = f"{head}{_summary(groups, result)}{said}\n{_blocks(groups, result)}"
    return page(
        title=f"KPI report · {_period_text(result)}",
        heading="KPI report",
        facts=_facts(result),
        body=f"{body}\n{_definitions(result)}",
        generated=result.generated_at,
        css=CSS + (EXTRA_CSS if uses_extra_css(result) else ""),
    )


def page(
    *, title: str, heading: str, facts: str, body: str, generated: Any, css: str = CSS
) -> bytes:
    """A whole self-contained page: ``facts`` (HTML) under the heading, then ``body`` (HTML)."""
    moment = timestamp(generated)
    text = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="generator" content="kpi">
<title>{esc(title)}</title>
<style>
{css}</style>
</head>
<body>
<main>
<header>
<h1>{esc(heading)}</h1>
{facts}
</header>
{body}
<footer>Generated by kpi at <time datetime="{esc(moment)}">{esc(moment)}</time></footer>
</main>
</body>
</html>
"""
    return text.encode("utf-8")


def fact_list(facts: list[tuple[str, str]]) -> str:
    """Facts (name, value) as the page's header shows them."""
    items = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts)
    return f'<dl class="facts">{items}</dl>'


__all__ = ["band_chart", "bar_chart", "line_chart", "nice_ticks", "to_html"]
