"""The HTML report's layout, read from its markup: the summary tiles (values, changes,
statuses, sparklines), the sections of the KPIs' groups, axes from zero, a line per
dimension value under ``--by``.

Values on the page are checked against sums computed here with DuckDB over the shipped
sample's CSV files, never against kpi's own output. The browser checks of the same layout
(geometry in a real Chromium) are in ``test_html_browser.py``.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from test_render import KPIS, SEP, compared, frame, make_result

from kpicli import Request, load_config, run_report
from kpicli.execute.result import KpiInfo, Result
from kpicli.render.html import to_html
from kpicli.render.layout import OTHER_GROUP
from kpicli.render.units import format_value

ROOT = Path(__file__).resolve().parents[2]
NOVEMBER = ("2026-11-01", "2026-11-30")


def sample(**options: Any) -> Result:
    return run_report(load_config(ROOT / "kpi_config.yaml"), Request(**options))


@pytest.fixture(scope="module")
def november() -> Result:
    """The README's page: last month by channel, against the month before."""
    return sample(period="last-month", as_of=date(2026, 12, 1), by=("channel",), compare="previous")


@pytest.fixture(scope="module")
def november_page(november: Result) -> str:
    return to_html(november).decode("utf-8")


def config_groups() -> list[str]:
    """The groups of the shipped config in the order they first appear (read as YAML)."""
    kpis = yaml.safe_load((ROOT / "kpi_config.yaml").read_text(encoding="utf-8"))["kpis"]
    return list(dict.fromkeys(k["group"] for k in kpis.values() if k.get("group")))


def ads_sum(column: str, start: str, end: str, channel: str | None = None) -> float:
    """SUM(column) of the ad exports between two dates, by DuckDB."""
    import duckdb

    where = f"AND channel = '{channel}'" if channel else ""
    query = (
        f"SELECT SUM({column}) FROM read_csv_auto('{ROOT}/sample_data/ads_*.csv') "
        f"WHERE date BETWEEN '{start}' AND '{end}' {where}"
    )
    with duckdb.connect() as con:  # its own: fetchone() leaves the result open
        row = con.execute(query).fetchone()
    assert row is not None
    return float(row[0])


class Tiles(HTMLParser):
    """The tiles of a page: per KPI (``data-kpi``), its classes and the text of each part."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tiles: dict[str, dict[str, Any]] = {}
        self.current: dict[str, Any] | None = None
        self.part: str | None = None
        self.depth = 0
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        classes = (found.get("class") or "").split()
        if "tile" in classes and found.get("data-kpi"):
            self.current = {"classes": classes, "parts": {}, "svg": False}
            self.tiles[found["data-kpi"] or ""] = self.current
            self.depth = 0
        if self.current is None:
            return
        if tag == "svg":
            self.current["svg"] = True
        if tag in ("div", "span"):
            self.depth += 1
            part = next((c for c in classes if c.startswith("tile-")), None)
            if part:
                self.part = part
                self.current["parts"].setdefault(part, "")
                self.current.setdefault("css", {})[part] = classes

    def handle_endtag(self, tag: str) -> None:
        if self.current is not None and tag in ("div", "span"):
            self.depth -= 1
            self.part = None
            if self.depth == 0:
                self.current = None

    def handle_data(self, data: str) -> None:
        if self.current is not None and self.part:
            self.current["parts"][self.part] += data


def test_a_tile_per_kpi_in_config_order(november: Result, november_page: str) -> None:
    tiles = Tiles(november_page).tiles
    groups = config_groups()
    infos = november.kpis
    # by group (in the config's order), then in the config's order within a group
    shown = sorted(
        (name for name in infos if name in tiles), key=lambda n: groups.index(infos[n].group)
    )
    assert list(tiles) == shown
    assert len(tiles) >= 20  # every KPI of the sample with data in November
    # the tiles come before the first chart
    assert november_page.index('class="tile') < november_page.index('<svg class="chart')


def test_tile_values_and_changes_against_duckdb(november_page: str) -> None:
    tiles = Tiles(november_page).tiles
    spend = ads_sum("spend", *NOVEMBER)
    before = ads_sum("spend", "2026-10-01", "2026-10-31")
    parts = tiles["spend"]["parts"]
    assert parts["tile-value"] == format_value(spend, "currency", currency="EUR")
    change = (spend - before) / before
    arrow = "▲" if change > 0 else "▼"
    assert parts["tile-change"].startswith(f"{arrow} {abs(change) * 100:.1f} %")
    assert parts["tile-vs"] == f"vs {format_value(before, 'currency', currency='EUR')}"
    # spend: lower is better, so a fall is green and a rise red
    css = tiles["spend"]["css"]["tile-change"]
    assert ("chg-good" if change < 0 else "chg-bad") in css
    impressions = ads_sum("impressions", *NOVEMBER)
    assert tiles["impressions"]["parts"]["tile-value"] == f"{impressions:,.0f}"
    # a rate is the ratio of the sums
    ctr = ads_sum("clicks", *NOVEMBER) / impressions
    assert tiles["ctr"]["parts"]["tile-value"] == f"{ctr * 100:.2f} %"


def test_tile_status_mark_and_colour(november: Result, november_page: str) -> None:
    tiles = Tiles(november_page).tiles
    assert november.totals is not None
    statuses = dict(
        november.totals.filter(pl.col("status").is_not_null()).select("kpi", "status").iter_rows()
    )
    assert statuses  # the sample has targets
    marks = {"ok": "✔", "warn": "⚠", "bad": "✖"}
    for kpi, tile in tiles.items():
        status = statuses.get(kpi)
        if status is None:
            assert "tile-mark" not in tile["parts"]
            continue
        assert f"st-{status}" in tile["classes"]
        assert tile["parts"]["tile-mark"] == marks[status]
        assert f"st-{status}" in tile["css"]["tile-mark"]
    # spend over its budget of €19,500: by DuckDB's sum, beyond the target
    assert ads_sum("spend", *NOVEMBER) > 19500
    assert statuses["spend"] in ("warn", "bad")


def test_sections_follow_the_config_groups(november_page: str) -> None:
    groups = config_groups()
    assert groups == ["Ads", "Website", "Acquisition", "Email", "Funnel"]
    heads = re.findall(r'<h2 class="tiles-head">([^<]+)</h2>', november_page)
    assert heads == groups
    titles = re.findall(r'<h2 class="group-title">([^<]+)</h2>', november_page)
    assert titles == groups
    # each KPI's block is inside its group's section
    kpis = yaml.safe_load((ROOT / "kpi_config.yaml").read_text(encoding="utf-8"))["kpis"]
    for match in re.finditer(r'<section class="group" id="group-([a-z]+)">', november_page):
        end = november_page.find('<section class="group"', match.end())
        inside = november_page[match.end() : end if end > 0 else None]
        names = re.findall(r'<section class="kpi" id="kpi-([a-z_]+)">', inside)
        assert names
        assert {kpis[n]["group"].lower() for n in names} == {match.group(1)}


def grouped(groups: dict[str, str | None]) -> dict[str, KpiInfo]:
    return {k: dataclasses.replace(KPIS[k], group=g) for k, g in groups.items()}


def test_kpis_without_a_group_come_last_under_other() -> None:
    rows = frame(
        [
            {"kpi": "leads", "value": 10.0},
            {"kpi": "ctr", "value": 0.02},
            {"kpi": "cpl", "value": 40.0},
        ]
    )
    kpis = grouped({"leads": None, "ctr": "Ads", "cpl": "Acquisition"})
    text = to_html(make_result(rows, kpis=kpis)).decode("utf-8")
    heads = re.findall(r'<h2 class="group-title">([^<]+)</h2>', text)
    assert heads == ["Ads", "Acquisition", OTHER_GROUP]
    other = text[text.index(f'"group-title">{OTHER_GROUP}</h2>') : text.index("<details>")]
    assert "Leads" in other and "Click-through rate" not in other


def test_no_group_no_headings() -> None:
    rows = frame([{"kpi": "leads", "value": 10.0}, {"kpi": "ctr", "value": 0.02}])
    text = to_html(make_result(rows)).decode("utf-8")
    assert 'class="group-title"' not in text and 'class="tiles-head"' not in text
    assert text.count('class="tile"') == 2


def weekly(kpis: dict[str, KpiInfo] | None = None, **values: list[float]) -> Result:
    """``--grain week --by channel`` over four weeks: the values of each KPI for google_ads,
    twice them for meta_ads, a total between the two (as a rate's is)."""
    weeks = [date(2026, 10, 5) + timedelta(weeks=i) for i in range(4)]
    rows, totals = [], []
    for kpi, series in values.items():
        for i, start in enumerate(weeks):
            span = {"period_start": start, "period_end": start + timedelta(days=6)}
            for channel, scale in (("google_ads", 1.0), ("meta_ads", 2.0)):
                rows.append({"kpi": kpi, **span, "channel": channel, "value": series[i] * scale})
            totals.append({"kpi": kpi, **span, "value": series[i] * 1.5})
    return make_result(
        frame(rows, ("channel",)),
        totals=frame(totals),
        kpis=kpis or {k: KPIS[k] for k in values},
        dimensions=("channel",),
        grain="week",
        period=(weeks[0], weeks[-1] + timedelta(days=6)),
        period_label="weeks",
    )


def chart_of(text: str, kpi: str) -> str:
    block = text[text.index(f'id="kpi-{kpi}"') :]
    return block[: block.index("</svg>")]


def y_labels(svg: str) -> list[tuple[float, str]]:
    """The y axis labels of a chart: (y, text), top to bottom."""
    found = re.findall(r'<text x="\d+" y="([\d.]+)" dy="4" text-anchor="end">([^<]+)</text>', svg)
    return sorted((float(y), label) for y, label in found)


def test_count_and_money_axes_start_at_zero() -> None:
    result = weekly(leads=[700.0, 720.0, 710.0, 730.0], cpl=[41.0, 40.0, 42.0, 43.0])
    text = to_html(result).decode("utf-8")
    for kpi, zero in (("leads", "0"), ("cpl", "€0.00")):
        svg = chart_of(text, kpi)
        labels = y_labels(svg)
        assert labels[-1][1] == zero  # the lowest tick
        assert "axis-break" not in svg
        # every point is above the zero line
        bottom = labels[-1][0]
        assert all(float(y) < bottom for y in re.findall(r'<circle [^>]*cy="([\d.]+)"', svg))


def test_a_percent_axis_zooms_and_says_so() -> None:
    result = weekly(ctr=[0.021, 0.022, 0.0215, 0.023])
    text = to_html(result).decode("utf-8")
    svg = chart_of(text, "ctr")
    labels = y_labels(svg)
    assert labels[-1][1] != "0.00 %"  # zoomed on the values (6.3 % to 6.9 % for the total)
    assert '<g class="axis-break"><title>the axis starts at' in svg
    caption = text[text.index("<figcaption>", text.index('id="kpi-ctr"')) :]
    assert re.match(r"<figcaption>[^<]*the axis starts at [\d.]+ %, not at 0", caption)


def test_a_line_per_channel_same_colours_in_every_chart() -> None:
    result = weekly(leads=[10.0, 12.0, 11.0, 13.0], cpl=[40.0, 41.0, 42.0, 43.0])
    text = to_html(result).decode("utf-8")
    for kpi in ("leads", "cpl"):
        svg = chart_of(text, kpi)
        lines = re.findall(r'<path class="series (c\d)" d="[^"]*"><title>([a-z_]+):', svg)
        assert lines == [("c0", "google_ads"), ("c1", "meta_ads")]
        assert svg.count('<path class="line total"') == 1
    # meta_ads is twice google_ads: its line is higher (a smaller y) at every week
    svg = chart_of(text, "leads")
    paths = dict(
        (name, [float(y) for y in re.findall(r"[ML][\d.]+ ([\d.]+)", d)])
        for d, name in re.findall(r'<path class="series c\d" d="([^"]*)"><title>([a-z_]+)', svg)
    )
    assert all(m < g for m, g in zip(paths["meta_ads"], paths["google_ads"], strict=True))


def test_total_none_draws_no_total() -> None:
    kpis = {"leads": dataclasses.replace(KPIS["leads"], total="none")}
    result = weekly(kpis, leads=[10.0, 12.0, 11.0, 13.0])
    text = to_html(result).decode("utf-8")
    svg = chart_of(text, "leads")
    assert "line total" not in svg and "<circle" not in svg
    assert svg.count('class="series c') == 2
    tile = Tiles(text).tiles["leads"]
    assert tile["parts"]["tile-value"] == "–"
    assert "no total" in tile["parts"]["tile-note"]


def test_sparkline_follows_the_totals() -> None:
    result = weekly(leads=[10.0, 12.0, 11.0, 13.0])
    text = to_html(result).decode("utf-8")
    tile = text[text.index('id="tile-leads"') :]
    spark = tile[tile.index('<svg class="spark"') : tile.index("</svg>")]
    # 15, 18, 16.5, 19.5 (the totals): the path climbs, dips, climbs
    ys = [float(y) for y in re.findall(r"[ML][\d.]+ ([\d.]+)", spark)]
    assert len(ys) == 4
    assert ys[1] < ys[0] and ys[2] > ys[1] and ys[3] < ys[1]
    assert "15 → 20 over 4 weeks" in spark  # integers: 19.5 rounds to 20


def test_no_comparison_no_change_line() -> None:
    rows = frame([{"kpi": "leads", "value": 10.0}])
    text = to_html(make_result(rows)).decode("utf-8")
    assert 'class="tile-change' not in text
    compared_rows = frame([{"kpi": "leads", "value": 12.0, **compared(12, 10)}])
    text = to_html(make_result(compared_rows, comparison=SEP)).decode("utf-8")
    assert re.search(
        r'<div class="tile-change chg-good">▲ 20.0 % <span class="tile-vs">vs 10', text
    )


def test_a_total_that_dwarfs_its_channels_gets_its_own_chart() -> None:
    result = weekly(leads=[10.0, 12.0, 11.0, 13.0])
    assert result.totals is not None
    # all leads, organic ones included: 4× google_ads's, twice meta_ads's
    result.totals = result.totals.with_columns(value=pl.Series([40.0, 48.0, 44.0, 52.0]))
    text = to_html(result).decode("utf-8")
    block = text[text.index('id="kpi-leads"') :]
    figures = block[: block.index("</section>")].split("</figure>")[:-1]
    assert len(figures) == 2
    assert "line total" in figures[0] and "series" not in figures[0]
    assert figures[1].count('class="series c') == 2 and "line total" not in figures[1]
    # each chart has its own axis from zero: the channels' top tick is under the total's
    tops = [y_labels(f[: f.index("</svg>")])[0][1] for f in figures]
    assert tops == ["60", "30"]


def test_tile_shows_the_whole_period_with_grain() -> None:
    """With ``--grain``, a tile shows the whole period's row (``Result.whole``); without
    one, the last bucket's, saying so."""
    result = weekly(leads=[10.0, 12.0, 11.0, 13.0])
    last = Tiles(to_html(result).decode("utf-8")).tiles["leads"]["parts"]
    assert last["tile-value"] == "20"  # 13 × 1.5, rounded: the last week's total
    assert last["tile-note"] == "2026-W44, the last week"
    whole = frame([{"kpi": "leads", "value": 69.0, **compared(69, 60)}])
    result.whole = whole  # type: ignore[misc]  (Result.whole: the whole period's totals)
    text = to_html(result).decode("utf-8")
    tile = Tiles(text).tiles["leads"]["parts"]
    assert tile["tile-value"] == "69"
    assert "tile-note" not in tile
    # the table ends with the whole period's line; the chart and sparkline keep the 4 weeks
    block = text[text.index('id="kpi-leads"') :]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", block[: block.index("</section>")])
    assert '>Whole period</span></td><td>Total</td><td class="num">69</td>' in rows[-1]
    assert chart_of(text, "leads").count("<circle") == 4


def test_a_blended_total_says_so() -> None:
    result = weekly(leads=[10.0, 12.0, 11.0, 13.0])
    result.blended = frozenset({"leads"})  # type: ignore[misc]  (Result.blended)
    text = to_html(result).decode("utf-8")
    assert "blended total" in Tiles(text).tiles["leads"]["parts"]["tile-note"]
    assert '<span class="swatch total"></span>Total (blended)</li>' in text


def test_verdict_line(november_page: str) -> None:
    from kpicli.render.html import verdict

    page = november_page
    assert '<p class="verdict"><span class="v-bad">' in page  # first, above the tiles
    assert page.index('class="verdict"') < page.index('class="summary"')

    assert verdict([]) == ""
    text = verdict(
        [
            ("latest week (2026-W48):", "bold"),
            ("5 of 31 rows off target (2 ✖ bad, 3 ⚠ warn)", "red"),
            ("<best>", ""),
        ]
    )
    assert text == (
        '<p class="verdict"><span class="v-head">latest week (2026-W48):</span> '
        '<span class="v-bad">5 of 31 rows off target (2 ✖ bad, 3 ⚠ warn)</span> · '
        "&lt;best&gt;</p>"
    )


def test_more_values_than_colours_draws_the_largest_each_in_its_own() -> None:
    weeks = [date(2026, 10, 5) + timedelta(weeks=i) for i in range(3)]
    rows = [
        {
            "kpi": "ctr",
            "period_start": start,
            "period_end": start + timedelta(days=6),
            "campaign": f"c{n:02d}",
            "value": 0.01 * (n + 1),
        }
        for start in weeks
        for n in range(10)
    ]
    result = make_result(
        frame(rows, ("campaign",)),
        dimensions=("campaign",),
        grain="week",
        period=(weeks[0], weeks[-1] + timedelta(days=6)),
    )
    svg = chart_of(to_html(result).decode("utf-8"), "ctr")
    lines = re.findall(r'<path class="series (c\d)" d="[^"]*"><title>(c\d\d):', svg)
    # the 8 largest (c02 … c09, by their mean), one colour each
    assert sorted(name for _, name in lines) == [f"c{n:02d}" for n in range(2, 10)]
    assert len({colour for colour, _ in lines}) == 8


def test_group_names_are_escaped() -> None:
    rows = frame([{"kpi": "leads", "value": 10.0}, {"kpi": "ctr", "value": 0.02}])
    kpis = grouped({"leads": '<script>alert("x")</script>', "ctr": "Ads & more"})
    text = to_html(make_result(rows, kpis=kpis)).decode("utf-8")
    assert "<script" not in text
    assert '<h2 class="group-title">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</h2>' in text
    assert '<h2 class="group-title">Ads &amp; more</h2>' in text
    assert re.findall(r'<section class="group" id="([^"]+)">', text) == [
        "group-script-alert--x----script",
        "group-ads---more",
    ]
