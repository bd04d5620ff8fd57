"""The HTML pages in a real headless Chromium: they render, log no console error, request
nothing from the network, and show the expected band and the flagged points.

Needs Debian's ``chromium`` (``/usr/bin/chromium``) and playwright's Python package (its own
browser download is not used); skipped, with the reason, when either is missing. Set
``KPI_SCREENSHOTS=DIR`` to keep a screenshot of each page (light and dark) in DIR.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from signal_results import FLAGS, anomalies, daily

from kpicli.render.anomalies import render_anomalies
from kpicli.render.html import to_html

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)


def sample_report() -> bytes:
    """The shipped sample's November by day and channel, with its injected anomalies: every
    channel's trend under a chart (the line that once ran past the window's width)."""
    from datetime import date

    from kpicli import Request, load_config, run_report

    request = Request(
        period="2026-11-01..2026-11-30",
        as_of=date(2026, 11, 30),
        grain="day",
        anomalies=True,
        kpis=("ctr", "leads", "spend"),
        by=("channel",),
    )
    return to_html(run_report(load_config(ROOT / "kpi_config.yaml"), request))


def readme_report() -> bytes:
    """The README's page: ``kpi report -p last-month --by channel --compare previous -f html
    --as-of 2026-12-01`` (``python docs/screenshot.py`` takes its picture)."""
    from datetime import date

    from kpicli import Request, load_config, run_report

    request = Request(
        period="last-month", as_of=date(2026, 12, 1), by=("channel",), compare="previous"
    )
    return to_html(run_report(load_config(ROOT / "kpi_config.yaml"), request))


def weekly_report() -> bytes:
    """The sample's autumn by week and channel: a line per channel, sparklines in the tiles."""
    from datetime import date

    from kpicli import Request, load_config, run_report

    request = Request(
        period="2026-09-07..2026-11-29",
        as_of=date(2026, 12, 1),
        grain="week",
        by=("channel",),
        compare="previous",
        kpis=("leads", "spend", "engagement_rate", "ctr"),
    )
    return to_html(run_report(load_config(ROOT / "kpi_config.yaml"), request))


PAGES = {
    "sample_report": sample_report,
    "readme_report": readme_report,
    "weekly_report": weekly_report,
    "report": lambda: to_html(daily()),
    "report_no_dimensions": lambda: to_html(daily(by=False)),
    "report_compare_only": lambda: to_html(daily(anomalies=False, trends=False)),
    "anomalies": lambda: render_anomalies(anomalies(), "html"),
    "anomalies_none": lambda: render_anomalies(anomalies(flagged=False), "html"),
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright's Python package is not installed"
    )
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM)
        yield instance
        instance.close()


class Loaded:
    """A page loaded from a file, with what it logged and requested on the way."""

    def __init__(self, browser: Any, path: Path, *, dark: bool = False) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.context = browser.new_context(
            viewport={"width": 1100, "height": 900}, color_scheme="dark" if dark else "light"
        )
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")
        self.url = path.as_uri()

    def close(self) -> None:
        self.context.close()


def load(browser: Any, tmp_path: Path, name: str, *, dark: bool = False) -> Loaded:
    path = tmp_path / f"{name}.html"
    path.write_bytes(PAGES[name]())
    loaded = Loaded(browser, path, dark=dark)
    keep = os.environ.get("KPI_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shot = Path(keep) / f"{name}{'_dark' if dark else ''}.png"
        loaded.page.screenshot(path=str(shot), full_page=True)
    return loaded


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_renders_offline_without_errors(
    browser: Any, tmp_path: Path, name: str, dark: bool
) -> None:
    loaded = load(browser, tmp_path, name, dark=dark)
    try:
        assert loaded.errors == []
        assert loaded.requests == [loaded.url]  # the page itself, nothing else
        page = loaded.page
        assert page.locator("h1").inner_text() in ("KPI report", "Anomalies")
        # nothing wider than the window: wide tables scroll inside their own box
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1100
    finally:
        loaded.close()


def visible_boxes(page: Any, selector: str) -> list[dict[str, float]]:
    boxes = [
        page.locator(selector).nth(i).bounding_box() for i in range(page.locator(selector).count())
    ]
    return [b for b in boxes if b and b["width"] > 0 and b["height"] > 0]


def test_report_band_and_flagged_points(browser: Any, tmp_path: Path) -> None:
    loaded = load(browser, tmp_path, "report")
    try:
        page = loaded.page
        # a band behind each KPI's totals chart and in ctr's meta_ads chart, drawn (not empty)
        assert len(visible_boxes(page, "svg .band")) == 4
        rings = page.locator("svg circle.anom")
        assert rings.count() == len(FLAGS)
        titles = sorted(rings.nth(i).locator("title").text_content() for i in range(rings.count()))
        assert "2026-11-20: 0.46 %" in titles[0] and "⚑ low -5.2σ" in titles[0]
        assert "2026-11-21" in titles[1] and "⚑ high +4.1σ" in titles[1]
        # the band is painted behind the line: it comes first in its SVG
        order = page.evaluate(
            """() => { const svg = document.querySelector('svg .band').ownerSVGElement;
                 const kids = [...svg.children];
                 return [kids.findIndex(e => e.classList.contains('band')),
                         kids.findIndex(e => e.classList.contains('line'))]; }"""
        )
        assert 0 <= order[0] < order[1]
        # the band's fill is translucent, so grid lines and the line show through
        fill = page.evaluate("getComputedStyle(document.querySelector('svg .band')).fill")
        assert fill.startswith("rgba(") and not fill.endswith(", 1)")
        assert page.locator(".flag").count() == len(FLAGS)
        assert page.locator(".trend").count() >= 3
        # the buckets before the period, muted, and the period shaded, in every chart
        assert len(visible_boxes(page, "svg path.history")) == 4
        assert len(visible_boxes(page, "svg rect.recent")) == 4
    finally:
        loaded.close()


def test_anomalies_page_charts(browser: Any, tmp_path: Path) -> None:
    loaded = load(browser, tmp_path, "anomalies")
    try:
        page = loaded.page
        assert page.locator("figure.series").count() == len(FLAGS)
        assert len(visible_boxes(page, "svg rect.recent")) == len(FLAGS)
        assert len(visible_boxes(page, "svg .band")) == len(FLAGS)
        assert page.locator("svg circle.anom").count() == len(FLAGS)
        assert page.locator("svg path.history").count() == len(FLAGS)
        rows = page.locator("tbody tr")
        assert rows.count() == len(FLAGS)
        assert "channel=meta_ads" in rows.nth(0).inner_text()  # the worst first
    finally:
        loaded.close()


def config_groups() -> list[str]:
    """The shipped config's groups, in the order they first appear (read as YAML)."""
    import yaml

    kpis = yaml.safe_load((ROOT / "kpi_config.yaml").read_text(encoding="utf-8"))["kpis"]
    return list(dict.fromkeys(k["group"] for k in kpis.values() if k.get("group")))


def test_layout_summary_tiles_then_sections(browser: Any, tmp_path: Path) -> None:
    """The README's page: a grid of tiles above the first chart, grouped as the config is,
    then the sections of KPI blocks in the same order."""
    loaded = load(browser, tmp_path, "readme_report")
    try:
        page = loaded.page
        tiles = visible_boxes(page, ".tile")
        assert len(tiles) >= 20
        first_chart = visible_boxes(page, "svg.chart")[0]
        assert max(t["y"] + t["height"] for t in tiles) < first_chart["y"]
        # a grid: rows of several tiles side by side, of one width, in columns
        rows: dict[float, list[dict[str, float]]] = {}
        for tile in tiles:
            rows.setdefault(round(tile["y"]), []).append(tile)
        assert max(len(r) for r in rows.values()) >= 4
        widest = max(rows.values(), key=len)
        assert len({round(t["width"]) for t in widest}) == 1
        lefts = {round(t["x"]) for t in tiles}
        assert len(lefts) == max(len(r) for r in rows.values())  # every tile in a column
        # the tiles' group headings, then the blocks' section titles: the config's order
        groups = config_groups()
        heads = page.locator(".tiles-head")
        assert [heads.nth(i).inner_text().title() for i in range(heads.count())] == groups
        titles = page.locator("h2.group-title")
        assert [titles.nth(i).inner_text() for i in range(titles.count())] == groups
        ys = [b["y"] for b in visible_boxes(page, "h2.group-title")]
        assert ys == sorted(ys) and ys[0] > first_chart["y"] - 400
        # each tile group's tiles sit between its heading and the next one's
        head_ys = [b["y"] for b in visible_boxes(page, ".tiles-head")]
        assert head_ys == sorted(head_ys)
        status = page.evaluate(
            """() => [...document.querySelectorAll('.tile.st-bad .tile-mark')]
                 .map(e => getComputedStyle(e).color)"""
        )
        bad = page.evaluate(
            "getComputedStyle(document.documentElement).getPropertyValue('--bad').trim()"
        )
        assert status and all(c == hex_rgb(bad) for c in status)  # ✖ drawn in the red
    finally:
        loaded.close()


def hex_rgb(color: str) -> str:
    """``#d1242f`` → ``rgb(209, 36, 47)``, as getComputedStyle gives colors."""
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


#: A chart's y axis as the browser lays it out: its labels (text, y), the axis line's foot,
#: the points' centres and whether the axis-break mark is drawn.
AXIS_JS = """(svg) => {
    const axis = svg.querySelector('line.axis');
    const left = Number(axis.getAttribute('x1'));
    const labels = [...svg.querySelectorAll('text')]
        .filter(t => t.getAttribute('text-anchor') === 'end' && Number(t.getAttribute('x')) < left)
        .map(t => [t.textContent, t.getBBox().y + t.getBBox().height / 2]);
    const grid = [...svg.querySelectorAll('line.grid')].map(l => Number(l.getAttribute('y1')));
    const points = [...svg.querySelectorAll('circle')].map(c => Number(c.getAttribute('cy')));
    return {labels, foot: Number(axis.getAttribute('y2')), bottomGrid: Math.max(...grid),
            points, broken: svg.querySelector('.axis-break') !== null};
}"""


def test_count_axis_starts_at_zero_and_a_percent_may_zoom(browser: Any, tmp_path: Path) -> None:
    loaded = load(browser, tmp_path, "weekly_report")
    try:
        page = loaded.page
        leads = page.evaluate(AXIS_JS, page.locator("#kpi-leads svg.chart").first.element_handle())
        lowest = max(leads["labels"], key=lambda label: label[1])
        assert lowest[0] == "0"
        assert leads["bottomGrid"] == leads["foot"]  # the 0 line is the axis' foot
        assert abs(lowest[1] - leads["foot"]) < 4  # its label beside it
        assert leads["points"] and all(y < leads["foot"] for y in leads["points"])
        assert not leads["broken"]
        # a line per channel under the total's chart, with a legend
        charts = page.locator("#kpi-leads svg.chart")
        assert charts.count() == 2
        assert charts.nth(1).locator("path.series").count() == 7
        swatches = page.locator("#kpi-leads .legend .swatch")
        colors = {
            swatches.nth(i).evaluate("e => getComputedStyle(e).backgroundColor")
            for i in range(swatches.count())
        }
        assert len(colors) == 7  # a colour each
        # engagement rate (38–67 %): zoomed, its foot marked as not 0
        rate = page.evaluate(
            AXIS_JS, page.locator("#kpi-engagement_rate svg.chart").first.element_handle()
        )
        assert max(rate["labels"], key=lambda label: label[1])[0] != "0.00 %"
        assert rate["broken"]
        assert len(visible_boxes(page, "#kpi-engagement_rate .axis-break")) == 1
        # a sparkline in every tile
        assert page.locator(".tile svg.spark").count() == page.locator(".tile").count() == 4
    finally:
        loaded.close()


def test_bars_start_at_zero_with_the_total_apart(browser: Any, tmp_path: Path) -> None:
    loaded = load(browser, tmp_path, "readme_report")
    try:
        page = loaded.page
        chart = page.locator("#kpi-impressions svg.chart")
        zero = chart.locator("line.axis").bounding_box()
        bars = visible_boxes(page, "#kpi-impressions rect.bar")
        assert zero and len(bars) == 4  # google_ads, linkedin_ads, meta_ads, the total
        assert all(abs(b["x"] - zero["x"]) < 1.5 for b in bars)
        total = bars[-1]
        assert total["width"] == max(b["width"] for b in bars)  # the sum of the three
        assert total["y"] - (bars[-2]["y"] + bars[-2]["height"]) > 10  # set apart
        # a channel keeps its colour from chart to chart
        fills = page.evaluate(
            """() => ['impressions', 'spend', 'ctr'].map(k =>
                 [...document.querySelectorAll(`#kpi-${k} rect.bar`)]
                   .map(r => getComputedStyle(r).fill))"""
        )
        assert fills[0] == fills[1] == fills[2]
        assert len(set(fills[0][:3])) == 3
    finally:
        loaded.close()
