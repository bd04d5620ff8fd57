"""`kpi clean`: real exports, the polluted test set scored like Pollock, options and output,
and the tolerant path of `kpi report`.

The polluted files (``tests/data/polluted/``) are written by ``generate.py`` beside them;
``score.py`` computes the Pollock measures (header, record and cell precision, recall and
F1, plus success: 10 at most per file).
"""

from __future__ import annotations

import csv
import hashlib
import io
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kpicli.cli import app
from kpicli.commands.clean import clean_file

ROOT = Path(__file__).resolve().parents[1]
POLLUTED = ROOT / "data" / "polluted"
REAL = ROOT / "data" / "exports" / "real"
sys.path.insert(0, str(POLLUTED))

import generate  # noqa: E402
import score  # noqa: E402

runner = CliRunner()


def rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


# ---------------------------------------------------------------------------- real exports


@pytest.mark.slow
def test_every_real_export_is_read(tmp_path: Path) -> None:
    expected = {
        "ga4__Anas3rdshade_Teefusion.csv": ("Landing page", 211),
        "google_ads__intragoinc_cp-mktg-google-ads-i.csv": ("Campaign status", 12),
        "gsc_queries__DanielTheC_internal-lnking-tool.csv": ("Top queries", 1000),
        "mailchimp_campaigns__jamestthompson3_mailchimp_data.csv": ("Title", 15),
        "meta_ads__DanielTheC_internal-lnking-tool.csv": ("Reporting starts", 0),
        "hubspot_contacts_HEADER-ONLY__helenakatsios-bot_workspacelive.csv": ("Record ID", 0),
        "hubspot_deals_HEADER-ONLY__HummingAgent_crm.csv": ("Record ID", 0),
    }
    files = sorted(REAL.glob("*.csv"))
    assert {f.name for f in files} == set(expected)
    for f in files:
        out = tmp_path / f"{f.stem}.clean.csv"
        r = runner.invoke(app, ["clean", str(f), "-o", str(out)])
        assert r.exit_code == 0, (f.name, r.stderr)
        got = rows(out.read_bytes())
        first, count = expected[f.name]
        assert got[0][0] == first, f.name
        assert len(got) - 1 == count, f.name
        assert all(len(row) == len(got[0]) for row in got), f.name


def test_google_ads_report_drops_preamble_and_totals(tmp_path: Path) -> None:
    f = REAL / "google_ads__intragoinc_cp-mktg-google-ads-i.csv"
    r = runner.invoke(app, ["clean", str(f)])
    assert r.exit_code == 0
    assert "header on line 3" in r.stderr and "5 summary rows" in r.stderr
    got = rows(r.stdout_bytes)
    assert not any(row[0].startswith("Total") for row in got)
    assert "795,836" in r.stdout  # cells are kept as written: no number conversion
    # with the preset, the header holds the canonical names
    r = runner.invoke(app, ["clean", str(f), "--preset", "google_ads", "-q"])
    assert r.exit_code == 0 and r.stderr == ""
    header = rows(r.stdout_bytes)[0]
    assert {"impressions", "spend", "campaign"} <= set(header)


# ---------------------------------------------------------------------------- polluted set


def test_committed_polluted_files_are_up_to_date() -> None:
    made = {name: (polluted, twin) for name, polluted, twin in generate.pollutions(full=False)}
    on_disk = {p.name for p in (POLLUTED / "csv").glob("*.csv")}
    assert on_disk == set(made), "run python tests/data/polluted/generate.py"
    for name, (polluted, twin) in made.items():
        assert (POLLUTED / "csv" / name).read_bytes() == polluted, name
        assert (POLLUTED / "clean" / name).read_bytes() == twin, name


@pytest.mark.slow
def test_every_polluted_file_is_read_through_the_cli(tmp_path: Path) -> None:
    """Every committed file loads (exit 0, a rectangular table) and scores like Pollock."""
    totals = {}
    for f in sorted((POLLUTED / "csv").glob("*.csv")):
        out = tmp_path / f.name
        r = runner.invoke(app, ["clean", str(f), "-o", str(out), "-q"])
        assert r.exit_code == 0, (f.name, r.stderr)
        got = out.read_bytes()
        assert len({len(row) for row in rows(got)}) <= 1, f.name
        totals[f.name] = score.score((POLLUTED / "clean" / f.name).read_bytes(), got)["total"]
    mean = sum(totals.values()) / len(totals)
    assert mean >= 9.988, sorted(totals.items(), key=lambda kv: kv[1])[:5]
    # the kinds a loader must get right, perfectly
    for name in ("source.csv", "file_preamble.csv", "file_no_payload.csv", "file_footer.csv"):
        assert totals[name] == 10.0, name


#: The floor of each Pollock kind's mean score (as measured, rounded down): a change that
#: reads one of them worse fails here. Every other kind of Pollock's scores 10.
FLOORS = {
    "row_less_sep": 9.992,
    "row_extra_quote": 9.998,
    "file_escape_char_0x5C": 9.86,  # `\'` in a cell: the backslash is read as an escape
}


@pytest.mark.slow
def test_pollock_score_of_every_combination(tmp_path: Path) -> None:
    """Every row × column of the row-level kinds (700 files, in memory): the figures that
    RELIABILITY.md records, per kind and as Pollock counts and weighs its 2,290 files.
    Above DuckDB's 9.961 / 9.599 on Pollock, with detection alone."""
    _, files = score.run(full=True, tmp=tmp_path)
    mean = sum(files.values()) / len(files)
    assert mean >= 9.997, mean
    assert min(files.values()) >= 9.3  # the worst: a header `DATETIME` that lost its comma
    simple, weighted, means = score.pollock_estimate(files)
    assert simple >= 9.997 and weighted >= 9.999, (simple, weighted)
    for kind, value in means.items():
        assert value >= FLOORS.get(kind, 10.0), (kind, value)
    # the kinds the published loaders find hardest, each variant of them
    hard = [
        name
        for name in files
        if name.startswith(("file_field_delimiter_0x20", "file_header_multirow", "file_multitable"))
    ]
    assert len(hard) == 13
    assert {name: files[name] for name in hard} == dict.fromkeys(hard, 10.0)
    first = [
        s
        for name, s in files.items()
        if name.startswith(("row_less_sep_row0_", "row_less_sep_row1_"))
    ]
    assert sum(first) / len(first) >= 9.95  # a delimiter lost in the header or the first row


def test_score_measures() -> None:
    twin = generate.clean([["a", "b"], ["1", "x"], ["2", "y"]])
    assert score.score(twin, twin)["total"] == 10.0
    assert score.score(twin, None)["total"] == 0.0
    shifted = generate.clean([["1", "x"], ["2", "y"]])
    assert score.score(twin, shifted)["header"] == 0.0


# ---------------------------------------------------------------------------- options


def test_stdout_stderr_and_quiet(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_bytes(b"Report\r\n\r\nday;spend\r\n2026-01-01;1,5\r\n2026-01-02;2\r\n")
    r = runner.invoke(app, ["clean", str(f)])
    assert r.exit_code == 0
    assert r.stdout_bytes == b'day,spend\r\n2026-01-01,"1,5"\r\n2026-01-02,2\r\n'
    assert "delimiter ';'" in r.stderr and "header on line 3" in r.stderr
    r = runner.invoke(app, ["clean", str(f), "--quiet"])
    assert r.exit_code == 0 and r.stderr == ""


def test_repairs_are_reported_with_their_line(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    body = "".join(f"2026-01-{d:02d},camp {d},{d}.50\n" for d in range(1, 9))
    f.write_text("day,campaign,spend\n" + body + '2026-01-09,"camp 9,9.50\n2026-01-10,,x,1\n')
    r = runner.invoke(app, ["clean", str(f)])
    assert r.exit_code == 0, r.stderr
    got = rows(r.stdout_bytes)
    assert got[9] == ["2026-01-09", '"camp 9', "9.50"]
    assert f"{f}:10: a stray quote read as text" in r.stderr
    assert len(got) == 11 and all(len(row) == 3 for row in got[:10])


def test_explicit_options(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_bytes("x\ny\nnom|montant\nété|1\n".encode("cp1252"))
    r = runner.invoke(
        app,
        ["clean", str(f), "--delimiter", "|", "--encoding", "cp1252", "--skip-rows", "2"],
    )
    assert r.exit_code == 0, r.stderr
    assert r.stdout_bytes == "nom,montant\r\nété,1\r\n".encode()
    for bad in (
        ["--delimiter", "x"],
        ["--encoding", "utf8x"],
        ["--skip-rows", "-1"],
        ["--decimal", ";"],
        ["--date-format", "dd/mm"],
        ["--preset", "gogle_ads"],
    ):
        r = runner.invoke(app, ["clean", str(f), *bad])
        assert r.exit_code == 2, bad
        assert r.stderr.startswith("usage error:"), r.stderr


def test_errors_and_empty_files(tmp_path: Path) -> None:
    r = runner.invoke(app, ["clean", str(tmp_path / "missing.csv")])
    assert r.exit_code == 3 and "no such file" in r.stderr
    r = runner.invoke(app, ["clean", str(tmp_path)])
    assert r.exit_code == 3 and "directory" in r.stderr
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    r = runner.invoke(app, ["clean", str(empty)])
    assert r.exit_code == 0 and r.stdout == "" and "empty" in r.stderr


def test_never_written_over_the_input(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_bytes(b"a;b\n1;2\n")
    before = hashlib.sha256(f.read_bytes()).hexdigest()
    for target in (str(f), str(tmp_path / "." / "a.csv")):
        r = runner.invoke(app, ["clean", str(f), "-o", target])
        assert r.exit_code == 4 and "overwrite the input" in r.stderr
    link = tmp_path / "link.csv"
    link.symlink_to(f)
    r = runner.invoke(app, ["clean", str(f), "-o", str(link)])
    assert r.exit_code == 4
    assert hashlib.sha256(f.read_bytes()).hexdigest() == before


def test_api_keeps_cells_as_written(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_text('d,v,p\n01/02/2026," 1 234,50 € ",3.45%\n2026-02-02, --,n/a\n')
    got = rows(clean_file(f).data)
    assert got[1] == ["01/02/2026", " 1 234,50 € ", "3.45%"]
    assert got[2] == ["2026-02-02", " --", "n/a"]


# ---------------------------------------------------------------------------- kpi report


def _config(folder: Path, data: str) -> Path:
    (folder / "ads.csv").write_text(data)
    cfg = folder / "kpi_config.yaml"
    cfg.write_text(
        "version: 1\nsources:\n  ads: {path: ads.csv, date: day}\n"
        "kpis:\n  spend: {source: ads, formula: SUM(spend)}\n"
        "  rows: {source: ads, formula: COUNT(*)}\n"
    )
    return cfg


@pytest.mark.parametrize(
    ("bad", "spend"),
    [
        ("2026-01-09,x,2,4,5\n", 38.0),  # more cells than the header: the surplus left out
        ('2026-01-09,"camp 9,9\n', 45.0),  # a stray quote: read as text
        ("2026-01-09,camp 9\n", 36.0),  # a short row: padded (spend missing)
    ],
)
def test_report_falls_back_to_the_tolerant_reader(tmp_path: Path, bad: str, spend: float) -> None:
    body = "".join(f"2026-01-0{d},camp {d},{d}\n" for d in range(1, 10) if d != 9)
    cfg = _config(tmp_path, "day,campaign,spend\n" + body + bad + "2026-01-01,camp 1,0\n")
    r = runner.invoke(app, ["report", "-p", "all", "-c", str(cfg), "-f", "json"])
    assert r.exit_code == 0, r.stderr
    assert "ads.csv" in r.stderr and "line 10" in r.stderr
    import json

    values = {row["kpi"]: row["value"] for row in json.loads(r.stdout)["rows"]}
    assert values == {"spend": spend, "rows": 10.0}
    r = runner.invoke(app, ["report", "-p", "all", "-c", str(cfg), "-f", "json", "-q"])
    assert r.exit_code == 0 and r.stderr == ""


# ---------------------------------------------------------------------------- hard layouts

_DATA = "".join(f"2026-01-0{d},camp {d},{d}.50,{d * 10}\r\n" for d in range(1, 7))


def _clean(tmp_path: Path, text: str) -> tuple[list[list[str]], str]:
    f = tmp_path / "a.csv"
    f.write_bytes(text.encode())
    r = runner.invoke(app, ["clean", str(f)])
    assert r.exit_code == 0, r.stderr
    return rows(r.stdout_bytes), r.stderr


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        (["day,campaign,spend,clicks"], ["day day", "campaign campaign", "spend spend"]),
        (["day,campaign,spend,clicks"] * 2, ["day day day", "campaign campaign campaign"]),
        (["Date,Ads,Cost,Results"], ["Date day", "Ads campaign", "Cost spend", "Results clicks"]),
        (["When,Campaign,Results,Results"], ["When day", "Campaign campaign", "Results spend"]),
    ],
)
def test_a_header_over_several_rows_is_joined_cell_by_cell(
    tmp_path: Path, top: list[str], expected: list[str]
) -> None:
    # Pollock's clean twin of a header on k rows joins them (`DATE DATE`): a group row over
    # the names reads as `When day`; the rows of data are all kept
    text = "".join(f"{line}\r\n" for line in top) + "day,campaign,spend,clicks\r\n" + _DATA
    got, stderr = _clean(tmp_path, text)
    assert got[0][: len(expected)] == expected
    assert len(got) == 7 and got[1] == ["2026-01-01", "camp 1", "1.50", "10"]
    last = len(top) + 1
    assert f"header on lines 1-{last}" in stderr
    assert f"the header spreads over lines 1-{last}: their cells are joined" in stderr


def test_rows_of_names_over_names_stay_rows(tmp_path: Path) -> None:
    # a table of text only: nothing tells a second header row from a row of data
    text = "channel,label\r\ngoogle_ads,Google Ads\r\nmeta_ads,Meta\r\nbing,Bing\r\n"
    got, stderr = _clean(tmp_path, text)
    assert got[0] == ["channel", "label"] and len(got) == 4 and "header on line 1" in stderr


def test_a_title_row_of_the_tables_width_is_a_preamble(tmp_path: Path) -> None:
    # was: the header read as "a second table" under the title, and every row left out
    text = "Acme,Campaigns,,\r\nday,campaign,spend,clicks\r\n" + _DATA
    got, stderr = _clean(tmp_path, text)
    assert got[0] == ["day", "campaign", "spend", "clicks"] and len(got) == 7
    assert "header on line 2" in stderr and "second table" not in stderr


@pytest.mark.parametrize(("first", "kept"), [("Grand total,n/a,—", 3), ("Big sale,n/a,—", 4)])
def test_a_row_of_words_and_markers_under_the_header_is_a_row(
    tmp_path: Path, first: str, kept: int
) -> None:
    # was: read as the header of a second table, and every row of the file left out
    text = f"Campaign,Clicks,Cost\r\n{first}\r\nBrand,10,1.5\r\nGeneric,20,2.5\r\nPromo,5,0.5\r\n"
    got, stderr = _clean(tmp_path, text)
    assert got[0] == ["Campaign", "Clicks", "Cost"] and len(got) == kept + 1
    assert got[-1] == ["Promo", "5", "0.5"] and "second table" not in stderr


def test_a_file_written_with_spaces_and_unquoted_text(tmp_path: Path) -> None:
    # Pollock's space-delimited file: only the cells the comma file quotes are quoted, so
    # a name of several words spreads over cells; its words are put back together
    names = ["Spring Sale", "Retargeting", "Men's Trail Shoes", "Web", "Black  Friday", "Gen"]
    notes = ["Search, exact", "Display", "Video, 15 s, skip", "Lookalikes", "Posts", "Feed"]
    lines = [
        f'2026-01-0{i + 1} 1{i}:00 {i * 7} "{note}" {name} {i}.50'
        for i, (name, note) in enumerate(zip(names, notes, strict=True))
    ]
    text = "day time clicks note campaign spend\r\n" + "".join(f"{x}\r\n" for x in lines)
    got, stderr = _clean(tmp_path, text)
    assert [r[4] for r in got[1:]] == names
    assert [r[3] for r in got[1:]] == notes
    assert [r[5] for r in got[1:]] == [f"{i}.50" for i in range(6)]
    assert "a.csv:2: words of an unquoted cell put back together" in stderr


def test_a_table_given_twice_is_read_once(tmp_path: Path) -> None:
    header = "day,campaign,spend,clicks\r\n"
    got, stderr = _clean(tmp_path, header + _DATA + header + _DATA)
    assert len(got) == 7  # every row once: a KPI over it does not count twice
    assert "a.csv:8: the header repeats here and 6 of the 6 rows under it repeat rows above" in (
        stderr
    )
    # exports of two months concatenated: the header repeats, the rows are new, all kept
    february = _DATA.replace("2026-01", "2026-02")
    got, stderr = _clean(tmp_path, header + _DATA + header + february)
    assert len(got) == 13 and "repeat rows above" not in stderr


def test_quotes_doubled_inside_quoted_cells_are_not_repairs(tmp_path: Path) -> None:
    # was: a cell holding a quote made the line suspect, and `"Shoes 10"" Promo"` was
    # "repaired" into a cell with its quotes; in a `, ` file too
    names = ["Spring Sale", "Retargeting", "Newsletter", "Generic", '"Shoes 10"" Promo"']
    names += ["Webinar", "Black Friday", "App Installs", '"a ""b"", c"', "Holiday Gifts"]
    for sep in (",", ", "):
        body = "".join(
            f"2026-01-0{d % 9 + 1}{sep}{name}{sep}{d * 3}{sep}{d}.5\r\n"
            for d, name in enumerate(names)
        )
        got, stderr = _clean(tmp_path, f"day{sep}name{sep}clicks{sep}cost\r\n" + body)
        assert [r[1] for r in got[1:]][4::4] == ['Shoes 10" Promo', 'a "b", c'], sep
        assert "repaired" not in stderr and "read as text" not in stderr


def test_a_header_glued_at_doubled_quotes_is_cut_there(tmp_path: Path) -> None:
    text = 'day,"campaign""spend",clicks\r\n' + _DATA
    got, _ = _clean(tmp_path, text)
    assert got[0] == ["day", "campaign", "spend", "clicks"]


def test_a_surplus_empty_cell_dropped_is_reported(tmp_path: Path) -> None:
    # was: the repair was made without a word
    text = "day,campaign,spend\r\n2026-01-01,a,1\r\n2026-01-02,,b,\r\n" + "".join(
        f"2026-01-0{d},c{d},{d}\r\n" for d in range(3, 7)
    )
    got, stderr = _clean(tmp_path, text)
    assert got[2] == ["2026-01-02", "b", ""]
    assert "a.csv:3: a surplus delimiter dropped" in stderr


def test_report_says_what_the_tolerant_reader_left_out(tmp_path: Path) -> None:
    # a file the fast reader cannot read (a row short of a cell) that holds a second
    # table: the rows of the second table are not silently gone
    body = "".join(f"2026-01-{d % 28 + 1:02d},camp {d},1\n" for d in range(8000))
    second = "name,owner\nx,y\nz,w\nq,r\n"  # past the sample the layout is detected on
    cfg = _config(tmp_path, "day,campaign,spend\n2026-01-09,9\n" + body + second)
    r = runner.invoke(app, ["report", "-p", "all", "-c", str(cfg), "-f", "json"])
    assert r.exit_code == 0, r.stderr
    assert "ads.csv: line 8003: a second table starts here (2 columns)" in r.stderr
    import json

    values = {row["kpi"]: row["value"] for row in json.loads(r.stdout)["rows"]}
    assert values == {"spend": 8000.0, "rows": 8001.0}


# ---------------------------------------------------------------------------- properties

_MARKERS = {"na", "nan", "null", "none", "true", "false", "yes", "no", "n/a"}
_WORD = st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=8).filter(
    lambda w: w not in _MARKERS
)
_NAME = st.builds(str.capitalize, _WORD)


def _table(draw: st.DrawFn, n: int, words: st.SearchStrategy) -> list[list[str]]:
    """Rows of a ledger: a date, a count, a text cell (``words``), an amount."""
    return [
        [
            f"2026-{i // 28 + 1:02d}-{i % 28 + 1:02d}",
            str(draw(st.integers(0, 9999))),
            draw(words),
            f"{draw(st.integers(0, 99999)) / 100:.2f}",
        ]
        for i in range(n)
    ]


@st.composite
def _spaced(draw: st.DrawFn) -> list[list[str]]:
    """A ledger whose text cells hold 1 to 3 words (the first rows one word)."""
    n = draw(st.integers(4, 25))
    rows = _table(draw, n, st.lists(_NAME, min_size=1, max_size=3).map(" ".join))
    for row in rows[:3]:
        row[2] = row[2].split(" ")[0]
    return rows


@settings(max_examples=25, deadline=None)
@given(rows=_spaced())
def test_any_space_delimited_ledger_with_unquoted_text_is_read_back(rows: list[list[str]]) -> None:
    header = ["day", "clicks", "campaign", "spend"]
    text = "".join(" ".join(r) + "\r\n" for r in [header, *rows])
    table = clean_file_bytes(text.encode())
    assert table == [header, *rows]


@st.composite
def _names(draw: st.DrawFn) -> list[str]:
    return draw(st.lists(_NAME, min_size=4, max_size=4, unique=True))


@settings(max_examples=25, deadline=None)
@given(names=_names(), groups=st.none() | _names(), k=st.integers(2, 3), data=st.data())
def test_any_header_over_rows_is_joined(
    names: list[str], groups: list[str] | None, k: int, data: st.DataObject
) -> None:
    rows = _table(data.draw, data.draw(st.integers(3, 12)), _NAME)
    above = [groups] if groups is not None else [names] * (k - 1)
    text = "".join(",".join(r) + "\r\n" for r in [*above, names, *rows])
    joined = [" ".join(parts) for parts in zip(*above, names, strict=True)]
    assert clean_file_bytes(text.encode()) == [joined, *rows]


@settings(max_examples=25, deadline=None)
@given(data=st.data(), copy=st.booleans())
def test_a_table_repeated_under_its_header_counts_once(data: st.DataObject, copy: bool) -> None:
    n = data.draw(st.integers(2, 15))
    rows = _table(data.draw, n, _NAME)
    second = [list(r) for r in rows] if copy else _table(data.draw, n, _NAME)
    if not copy:
        for r in second:
            r[0] = r[0].replace("2026-", "2027-")  # another year's export: new rows
    header = ["day", "clicks", "campaign", "spend"]
    text = "".join(",".join(r) + "\r\n" for r in [header, *rows, header, *second])
    got = clean_file_bytes(text.encode())
    assert got == [header, *rows] if copy else got == [header, *rows, *second]


def clean_file_bytes(data: bytes) -> list[list[str]]:
    """What `kpi clean` writes for a file of these bytes, as rows."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "a.csv"
        path.write_bytes(data)
        return rows(clean_file(path).data)


# ---------------------------------------------------------------------------- one reader

#: Exports as kpi meets them: each file read by `kpi clean` and by the scan of `kpi report`
#: must give the same header and rows (issue 12: one detection for both).
SAME_READING = {
    "preamble_semicolon_footer.csv": "Report: Campaigns\nDate range: 2026-01-01 - 2026-01-31\n"
    "\nDay;Campaign;Clicks;Cost\n2026-01-01;A;10;1,5\n2026-01-02;B;20;2,5\n"
    "2026-01-03;C;30;3,5\nTotal;;60;7,5\n\nCopyright 2026 Acme\n",
    "comment_lines.csv": "# exported by a tool\n# on 2026-02-03\nDate,Channel,Sessions\n"
    "2026-02-01,email,5\n2026-02-02,seo,7\nGrand total,,12\n",
    "ga4_exploration.csv": "# GA4\n# Start date: 20260101\n# End date: 20260131\n\n"
    "Date,Sessions,Users\n,100,50,Grand total\n20260101,60,30\n20260102,40,20\n",
    "microsoft_ads.csv": '"Report Name: X"\n"Report Time: 1/1/2026"\n"Time Zone: UTC"\n'
    '"Rows: 2"\n\nGregorian date,Campaign name,Clicks,Spend\n2026-01-01,A,1,2.00\n'
    '2026-01-02,B,3,4.00\n\n"©2026 Microsoft Corporation. All rights reserved. "\n',
    "salesforce.csv": "Opportunity,Amount,Close Date\nA,100,2026-01-01\nB,200,2026-01-02\n\n"
    '"Grand Totals (2 records)"\n\n"Confidential Information - Do Not Distribute"\n',
    "trailing_delimiters.csv": "a,b\n1,2,\n3,4,\n",
}


@pytest.mark.parametrize("name", list(SAME_READING))
def test_clean_and_report_read_a_file_through_the_same_detection(tmp_path: Path, name: str) -> None:
    """The header and rows `kpi clean` writes are those the scan of `kpi report` and
    `kpi sources` reads (every column as text, summary, footer and blank rows dropped)."""
    from kpicli.ingest.scan import scan_source
    from kpicli.spec.config import load_config

    path = tmp_path / name
    path.write_text(SAME_READING[name], encoding="utf-8")
    config = tmp_path / "kpi_config.yaml"
    config.write_text(
        f"version: 1\nsources:\n  s: {{path: {name}}}\n"
        "kpis:\n  n: {source: s, formula: COUNT(*)}\n"
    )
    cleaned = clean_file(path)
    header, *written = rows(cleaned.data)
    part = scan_source(load_config(config), "s").parts[0]
    scan = part.scan(text=True)
    keep = part.keep()
    read = (scan.filter(keep) if keep is not None else scan).collect()
    assert cleaned.table.header_line == part.layout.header_line
    assert header == part.raw
    assert written == [["" if v is None else v for v in row] for row in read.rows()]
