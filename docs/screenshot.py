"""Regenerate ``docs/report.png``, the README's picture of the HTML report.

    python docs/screenshot.py [--output docs/report.png] [--chromium /usr/bin/chromium]

Renders the shipped sample with the command the README shows::

    kpi report -p last-month --by channel --compare previous -f html --as-of 2026-12-01

(run from the repository's root with this checkout's ``kpicli``), opens the page in a
headless Chromium 1,200 px wide, and keeps its top: the summary tiles, the notes, then the
first KPI blocks. Needs playwright's Python package and a Chromium (Debian's ``chromium``;
playwright's own browser download is not used). The page requests nothing from the network.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = (
    "report",
    "-p",
    "last-month",
    "--by",
    "channel",
    "--compare",
    "previous",
    "-f",
    "html",
    "--as-of",
    "2026-12-01",
)
WIDTH = 1200
#: KPI blocks shown under the summary.
BLOCKS = 1
#: The picture is refused beyond this size (it lives in the repository).
MAX_BYTES = 400_000


def render(path: Path) -> None:
    """The sample's report as HTML in ``path``, by this checkout's ``kpi``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "-m", "kpicli", *COMMAND, "-q", "-o", str(path)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def shoot(page_path: Path, output: Path, chromium: str) -> None:
    """The top of the page (summary and the first ``BLOCKS`` KPI blocks) as a PNG."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        try:
            page = browser.new_page(
                viewport={"width": WIDTH, "height": 900},
                device_scale_factor=1,
                color_scheme="light",
            )
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.as_uri())
            page.wait_for_load_state("load")
            if requests != [page_path.as_uri()]:
                raise SystemExit(f"the page requested more than itself: {requests}")
            bottom = page.evaluate(
                """(blocks) => {
                    const all = document.querySelectorAll('section.kpi');
                    const last = all[Math.min(blocks, all.length) - 1];
                    return Math.ceil(last.getBoundingClientRect().bottom + window.scrollY);
                }""",
                BLOCKS,
            )
            clip = {"x": 0, "y": 0, "width": WIDTH, "height": bottom + 16}
            page.screenshot(path=str(output), full_page=True, clip=clip)
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "report.png")
    parser.add_argument(
        "--chromium",
        default=shutil.which("chromium") or "/usr/bin/chromium",
        help="the Chromium to run (default: chromium on the PATH)",
    )
    options = parser.parse_args(argv)
    if not Path(options.chromium).exists():
        print(f"no Chromium at {options.chromium} (apt-get install chromium)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as folder:
        page_path = Path(folder) / "report.html"
        render(page_path)
        shoot(page_path, options.output, options.chromium)
    size = options.output.stat().st_size
    print(f"wrote {options.output} ({size:,} bytes)")
    if size > MAX_BYTES:
        print(f"{options.output} is over {MAX_BYTES:,} bytes", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
