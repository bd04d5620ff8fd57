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

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)


def sample_report() -> bytes:
    """The shipped sample's November by day and channel, with its injected anomalies: every
    channel's trend under a chart (the line that once ran past the window's width)."""
    from datetime import date

    from kpicli import Request, load_config, run_report

    root = Path(__file__).resolve().parents[2]
    request = Request(
        period="2026-11-01..2026-11-30",
        as_of=date(2026, 11, 30),
        grain="day",
        anomalies=True,
        kpis=("ctr", "leads", "spend"),
        by=("channel",),
    )
    return to_html(run_report(load_config(root / "kpi_config.yaml"), request))


PAGES = {
    "sample_report": sample_report,
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
