"""Issue 15, items 1 and 2, on the shipped sample through the front door (`kpi report`).

Rows without data (value and previous both null: CPA for channels that buy no ads) are
hidden from the table, markdown and HTML with a line saying how many, shown by
``--all-rows``, and kept by every machine format. Statuses read ``✔ ok``, ``⚠ warn``,
``✖ bad`` (``▲ ▼`` only say which way a change went); one legend says what the marks shown
mean; a column left out to fit a narrow terminal is named.

The expected counts come from the JSON of the same report, by the rule read off its rows,
never from the table's own text.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from kpicli.cli import app

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "kpi_config.yaml")
AS_OF = "2026-11-22"
BY_CHANNEL = ("-p", "last-month", "--by", "channel", "--compare", "previous")
PT = "pt = percentage points"
STATUS_LEGEND = "✔ ok: at or better than target · ⚠ warn: within the tolerance · ✖ bad: beyond it"
STATUSES = {"", "✔ ok", "⚠ warn", "✖ bad"}

runner = CliRunner()


def report(*args: str) -> str:
    r = runner.invoke(app, ["report", "-c", CONFIG, "--as-of", AS_OF, *args])
    assert r.exit_code == 0, r.stderr
    return r.stdout


def report_bytes(tmp_path: Path, fmt: str, *args: str) -> bytes:
    path = tmp_path / f"out-{len(list(tmp_path.iterdir()))}.{fmt}"
    r = runner.invoke(app, ["report", "-c", CONFIG, "--as-of", AS_OF, *args, "-o", str(path)])
    assert r.exit_code == 0, r.stderr
    return path.read_bytes()


def empty(row: dict[str, Any]) -> bool:
    return row["value"] is None and row.get("previous") is None


def expected_hidden(data: dict[str, Any]) -> int:
    """The rule, from the JSON: a dimension value's row with no value and no previous; and
    every row and total of a KPI that has no data at all."""
    records = data["rows"] + data["totals"]
    with_data = {r["kpi"] for r in records if not empty(r)}
    hidden = [r for r in data["totals"] if r["kpi"] not in with_data]
    for row in data["rows"]:
        if row["kpi"] not in with_data or (data["dimensions"] and empty(row)):
            hidden.append(row)
    return len(hidden)


def md_table(text: str) -> list[list[str]]:
    """The markdown table's body rows (header, rule and group headings left out), cells
    stripped."""
    lines = [line for line in text.splitlines() if line.startswith("|")][2:]
    rows = [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]
    return [row for row in rows if any(row[1:])]


@pytest.fixture(scope="module")
def by_channel() -> dict[str, Any]:
    return json.loads(report(*BY_CHANNEL, "-f", "json"))


def test_the_sample_has_rows_without_data(by_channel: dict[str, Any]) -> None:
    """What the rest relies on: last month by channel has CPA, CTR… rows for channels that
    buy no ads, with neither value nor previous; no KPI is empty as a whole."""
    cpa_direct = [r for r in by_channel["rows"] if r["kpi"] == "cpa" and r["channel"] == "direct"]
    assert len(cpa_direct) == 1 and empty(cpa_direct[0])
    assert expected_hidden(by_channel) == sum(empty(r) for r in by_channel["rows"]) > 10


@pytest.mark.parametrize("fmt", ["table", "markdown", "html"])
def test_the_hidden_count_is_the_rows_without_data(by_channel: dict[str, Any], fmt: str) -> None:
    hidden = expected_hidden(by_channel)
    text = report(*BY_CHANNEL, "-f", fmt)
    assert f"{hidden} rows without data hidden (--all-rows shows them)." in text
    every = report(*BY_CHANNEL, "-f", fmt, "--all-rows")
    assert "without data hidden" not in every


def test_markdown_shows_every_row_with_data_and_all_rows_every_row(
    by_channel: dict[str, Any],
) -> None:
    rows, totals = by_channel["rows"], by_channel["totals"]
    shown = md_table(report(*BY_CHANNEL, "-f", "markdown"))
    assert len(shown) == len(rows) + len(totals) - expected_hidden(by_channel)
    every = md_table(report(*BY_CHANNEL, "-f", "markdown", "--all-rows"))
    assert len(every) == len(rows) + len(totals)
    # each KPI's block holds the channels with data, and with --all-rows every channel
    for table, keep_empty in ((shown, False), (every, True)):
        got = channels_by_kpi(table, by_channel["kpis"])
        for kpi in by_channel["kpis"]:
            wanted = {
                r["channel"] for r in rows if r["kpi"] == kpi and (keep_empty or not empty(r))
            }
            assert got.get(kpi, set()) == wanted, (kpi, keep_empty)
    assert "direct" not in channels_by_kpi(shown, by_channel["kpis"])["cpa"]


def channels_by_kpi(table: list[list[str]], kpis: dict[str, Any]) -> dict[str, set[str]]:
    """The channel cells of each KPI's block (its label opens it), totals left out."""
    by_label = {info["label"]: kpi for kpi, info in kpis.items()}
    out: dict[str, set[str]] = {}
    current = None
    for row in table:
        if row[0]:
            current = by_label[row[0].replace("\\", "")]
        if row[1] != "**Total**":
            out.setdefault(current, set()).add(row[1].replace("\\", ""))
    return out


def test_a_kpi_without_any_data_shows_no_block() -> None:
    """Email alone buys no ads: CPA, CTR, ROI have no value nor previous at all; they show
    no block (and are counted), the KPIs with data do."""
    args = (*BY_CHANNEL[:2], "--where", "channel = 'email'", "--compare", "previous")
    data = json.loads(report(*args, "-f", "json"))
    records = data["rows"] + data["totals"]
    empty_kpis = {r["kpi"] for r in records} - {r["kpi"] for r in records if not empty(r)}
    assert {"cpa", "ctr", "roi"} <= empty_kpis
    text = report(*args)
    hidden = expected_hidden(data)
    assert hidden == sum(1 for r in records if r["kpi"] in empty_kpis)
    assert f"{hidden} rows without data hidden" in text or hidden == 1
    for kpi, info in data["kpis"].items():
        shown = re.search(rf"^{re.escape(info['label'])}\b", text, re.MULTILINE) is not None
        assert shown == (kpi not in empty_kpis), kpi
    every = report(*args, "--all-rows")
    assert all(data["kpis"][kpi]["label"] in every for kpi in empty_kpis)


def test_machine_formats_keep_every_row(by_channel: dict[str, Any], tmp_path: Path) -> None:
    rows, totals = by_channel["rows"], by_channel["totals"]
    for fmt in ("json", "jsonl", "csv", "parquet", "xlsx"):
        plain = report_bytes(tmp_path, fmt, *BY_CHANNEL)
        every = report_bytes(tmp_path, fmt, *BY_CHANNEL, "--all-rows")
        if fmt == "json":
            a, b = json.loads(plain), json.loads(every)
            a.pop("generated_at"), b.pop("generated_at")
            assert a == b and len(a["rows"]) == len(rows)
        elif fmt == "jsonl":
            assert plain == every
            lines = [json.loads(line) for line in plain.decode().splitlines()]
            kinds = [line for line in lines if line.get("kpi") == "cpa"]
            assert any(line.get("channel") == "direct" for line in kinds)
        elif fmt == "csv":
            assert plain == every
            table = list(csv.DictReader(io.StringIO(plain.decode("utf-8-sig"))))
            assert len(table) == len(rows) + len(totals)
            assert any(r["kpi"] == "cpa" and r["channel"] == "direct" for r in table)
        elif fmt == "parquet":
            a, b = pl.read_parquet(io.BytesIO(plain)), pl.read_parquet(io.BytesIO(every))
            assert a.equals(b) and a.height == len(rows) + len(totals)
        else:
            from openpyxl import load_workbook

            sheets = []
            for data in (plain, every):
                book = load_workbook(io.BytesIO(data), read_only=True)
                sheets.append({ws.title: list(ws.values) for ws in book.worksheets})
            first = next(iter(sheets[0].values()))
            assert any("cpa" in row and "direct" in row for row in first)
            assert sheets[0].keys() == sheets[1].keys()
            for title in sheets[0]:
                if "info" not in title.lower() and "about" not in title.lower():
                    assert sheets[0][title] == sheets[1][title], title


def test_statuses_have_their_own_marks(by_channel: dict[str, Any]) -> None:
    statuses = {r["status"] for r in by_channel["rows"] + by_channel["totals"]}
    assert {"ok", "warn", "bad"} <= statuses
    md = report(*BY_CHANNEL, "-f", "markdown", "--all-rows")
    header_line = next(line for line in md.splitlines() if line.startswith("| KPI"))
    header = [c.strip() for c in header_line.strip("|").split("|")]
    status = header.index("Status")
    cells = {row[status].strip("*") for row in md_table(md)}  # totals are bold
    assert cells <= STATUSES and "⚠ warn" in cells
    change = {row[header.index("Change")].strip("*")[:1] for row in md_table(md)}
    assert change <= {"▲", "▼", "=", "≈", "–"}
    for fmt in ("table", "markdown", "html"):
        text = report(*BY_CHANNEL, "-f", fmt)
        assert "▲ warn" not in text and "⚠ warn" in text
    table = report(*BY_CHANNEL)
    for line in table.splitlines():
        if line.rstrip().endswith(("ok", "warn", "bad")):
            assert line.rstrip()[-6:].strip() in STATUSES, line


def test_one_legend_under_the_table_markdown_and_html() -> None:
    legend = f"{PT} · {STATUS_LEGEND} · ≈: within normal fluctuation"
    table = report(*BY_CHANNEL)
    assert legend in table
    assert table.count("≈: within normal fluctuation") == 1  # one legend, not two
    md = report(*BY_CHANNEL, "-f", "markdown").replace("\\:", ":")
    assert legend in md
    html = report(*BY_CHANNEL, "-f", "html")
    assert f'<p class="note">{legend}' in html


def test_the_legend_names_only_what_is_shown() -> None:
    """No change column, no pt; no status column, no bands; nothing shown, no legend."""
    plain = report("-p", "last-month", "-k", "impressions,clicks")
    assert "Status" not in plain and "Change" not in plain
    assert PT not in plain and "✔ ok:" not in plain and "≈" not in plain
    compared = report("-p", "last-month", "-k", "impressions", "--compare", "previous")
    assert "Change" in compared and PT not in compared  # no percent KPI: no pt
    rate = report("-p", "last-month", "-k", "ctr", "--compare", "previous")
    assert PT in rate and STATUS_LEGEND in rate


WEEKLY = {"period": "2026-11-01..2026-11-22", "grain": "week"}


@pytest.mark.parametrize("width", [60, 72, 80, 86, 100, 107])
@pytest.mark.parametrize("shape", [{"period": "this-month"}, WEEKLY], ids=["month", "weekly"])
def test_every_column_left_out_to_fit_is_named(width: int, shape: dict[str, str]) -> None:
    """Projected, Pace, Previous… go with a note naming them; what stays is never cut (rich
    once squeezed the Status column to ``Statu`` and ``⚠ war`` at 60 to 90 columns)."""
    from kpicli import Request, load_config, run_report
    from kpicli.render.layout import OPTIONAL_COLUMNS
    from kpicli.render.table import render_table

    request = Request(as_of=date(2026, 11, 22), by=("channel",), compare="previous", **shape)
    result = run_report(load_config(Path(CONFIG)), request)
    titles = [title for _, title, _ in OPTIONAL_COLUMNS] + ["Trend"]

    def header(text: str) -> set[str]:
        line = next(line for line in text.splitlines() if line.startswith("KPI "))
        return {title for title in titles if re.search(rf"\b{title}\b", line)}

    wide = render_table(result, color=False, width=400)
    narrow = render_table(result, color=False, width=width)
    dropped = header(wide) - header(narrow)
    if width == 80:  # this month has pace and projection; weeks have a trend
        assert {"Projected", "Pace", "Previous"} <= dropped if shape != WEEKLY else dropped
        assert "Previous" in dropped
    note = " ".join(line for line in narrow.splitlines() if "left out to fit" in line)
    named = set(note.split(" left out to fit")[0].split(", ")) if note else set()
    assert named == dropped
    if dropped:
        assert f"left out to fit {width} columns" in note
    assert "Status" in header(narrow)
    cut = re.search(r"⚠ (?!warn)|✔ (?!ok)|✖ (?!bad)|Stat(?!us)", narrow)
    assert cut is None, narrow
    for status in ("✔ ok", "⚠ warn", "✖ bad"):
        table = [line for line in wide.splitlines() if "·" not in line]
        shown = [line for line in narrow.splitlines() if "·" not in line]
        assert sum(status in x for x in table) == sum(status in x for x in shown), status
