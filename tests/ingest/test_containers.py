"""Sources inside other files (issue 14): ``.csv.gz``, zip members, spreadsheets (xlsx,
ods), one ``#``-titled table of several (GA4), and code pages other than cp1252.

The fixtures are written byte for byte as vendors pack them (gzip, zipfile, xlsxwriter, an
.ods by hand, CSVs in Windows code pages: ``tests/data/exports14/files/make_fixtures.py``);
values are checked against readers that are not kpi's: DuckDB over the gzip, Python's csv
module over the zip members and the decoded code pages, openpyxl over the xlsx.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import zipfile
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from kpicli.cli import app
from kpicli.ingest import containers
from kpicli.ingest.detect import guess_code_page

from conftest import AS_OF, config, values

FIXTURES = Path(__file__).parents[1] / "data" / "exports14" / "files"
runner = CliRunner()


def _copy(tmp_path: Path, *names: str) -> None:
    for name in names:
        shutil.copyfile(FIXTURES / name, tmp_path / name)


def _kpi(cfg: Path, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, [*args, "-c", str(cfg)])
    return r.exit_code, r.stdout, r.stderr


def _csv_rows(data: bytes, encoding: str = "utf-8-sig", delimiter: str = ",") -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode(encoding)), delimiter=delimiter))


# ---------------------------------------------------------------------------- gzip


def test_csv_gz_reads_as_the_csv_it_holds(tmp_path: Path) -> None:
    _copy(tmp_path, "meta_ads.csv.gz")
    cfg = config(
        tmp_path,
        "  meta: {path: meta_ads.csv.gz, date: Day}",
        '  spend: {source: meta, formula: SUM("Amount spent (EUR)")}\n'
        '  clicks: {source: meta, formula: SUM("Link clicks")}\n'
        "  rows: {source: meta, formula: COUNT(*)}",
    )
    gz = str(tmp_path / "meta_ads.csv.gz")
    spend, clicks, rows = duckdb.sql(
        f'SELECT SUM("Amount spent (EUR)"), SUM("Link clicks"), COUNT(*) FROM \'{gz}\''
    ).fetchall()[0]
    got = values(cfg, period="all")
    assert got == {"spend": pytest.approx(spend), "clicks": clicks, "rows": rows}


def test_a_gzipped_export_keeps_its_preamble_summary_rows_and_encoding(tmp_path: Path) -> None:
    # a Google Ads-like report: title and period lines, cp1252 text, a Total row at the end
    text = (
        "Campaign report\r\n1 January 2026 - 7 January 2026\r\n"
        'Day,Campaign,Cost\r\n2026-01-05,Café d\'été,"1,234.50"\r\n'
        '2026-01-06,Noël,10.00\r\nTotal: Account,,"1,244.50"\r\n'
    ).encode("cp1252")
    (tmp_path / "plain.csv").write_bytes(text)
    with gzip.open(tmp_path / "packed.csv.gz", "wb") as gz:
        gz.write(text)
    cfg = config(
        tmp_path,
        "  plain: {path: plain.csv, date: Day}\n  packed: {path: packed.csv.gz, date: Day}",
        "  a: {source: plain, formula: SUM(Cost)}\n  b: {source: packed, formula: SUM(Cost)}",
    )
    assert values(cfg, period="all") == {"a": 1244.5, "b": 1244.5}
    code, out, _ = _kpi(cfg, "sources", "-f", "json")
    assert code == 0
    plain, packed = (s["files"][0] for s in json.loads(out)["sources"])
    for key in ("encoding", "delimiter", "header_line", "preamble", "period", "rows_dropped"):
        assert plain[key] == packed[key], key
    assert packed["header_line"] == 3 and packed["encoding"] == "cp1252"
    assert packed["inside"] == ["decompressed from gzip"]


def test_a_broken_gzipped_file_goes_through_the_tolerant_reader(tmp_path: Path) -> None:
    # a stray quote in a cell: the fast path cannot read it; repair reads it as for a CSV
    text = b'day,name,spend\n2026-01-05,The "best" offer,10\n2026-01-06,b,5\n'
    (tmp_path / "plain.csv").write_bytes(text)
    (tmp_path / "packed.csv.gz").write_bytes(gzip.compress(text, mtime=0))
    cfg = config(
        tmp_path,
        "  plain: {path: plain.csv, date: day}\n  packed: {path: packed.csv.gz, date: day}",
        "  a: {source: plain, formula: SUM(spend)}\n  b: {source: packed, formula: SUM(spend)}",
    )
    assert values(cfg, period="all") == {"a": 15, "b": 15}
    clean_plain = runner.invoke(app, ["clean", str(tmp_path / "plain.csv")]).stdout
    clean_packed = runner.invoke(app, ["clean", str(tmp_path / "packed.csv.gz")]).stdout
    assert clean_packed == clean_plain and "best" in clean_packed


def test_content_past_the_bound_is_refused(tmp_path: Path, monkeypatch) -> None:
    _copy(tmp_path, "meta_ads.csv.gz")
    monkeypatch.setattr(containers, "MAX_CONTENT_BYTES", 100)
    cfg = config(
        tmp_path, "  meta: {path: meta_ads.csv.gz}", "  n: {source: meta, formula: COUNT(*)}"
    )
    code, _, err = _kpi(cfg, "report", "-p", "all", "--as-of", AS_OF.isoformat())
    assert code == 3
    assert "meta_ads.csv.gz is larger than 0 MiB once decompressed" in err
    assert "Traceback" not in err


# ---------------------------------------------------------------------------- zip


def _members(name: str) -> dict[str, bytes]:
    with zipfile.ZipFile(FIXTURES / name) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_search_console_zip_members(tmp_path: Path) -> None:
    _copy(tmp_path, "search_console.zip")
    cfg = config(
        tmp_path,
        "  dates: {path: search_console.zip, member: Dates.csv, date: Date}\n"
        "  queries: {path: search_console.zip, member: Queries.csv}\n"
        '  tops: {path: search_console.zip, member: "[QPC]*.csv", rename: {Top queries: top, '
        "Top pages: top, Country: top}}",
        "  daily_clicks: {source: dates, formula: SUM(Clicks)}\n"
        "  query_clicks: {source: queries, formula: SUM(Clicks)}\n"
        "  query_imps: {source: queries, formula: SUM(Impressions)}\n"
        "  top_clicks: {source: tops, formula: SUM(Clicks)}",
    )
    members = _members("search_console.zip")
    dates = _csv_rows(members["Dates.csv"])
    queries = _csv_rows(members["Queries.csv"])
    tops = [
        r for n in ("Queries.csv", "Pages.csv", "Countries.csv")
        for r in _csv_rows(members[n])
    ]  # fmt: skip
    got = values(cfg, period="all")
    assert got["daily_clicks"] == sum(int(r["Clicks"]) for r in dates)
    assert got["query_clicks"] == sum(int(r["Clicks"]) for r in queries)
    assert got["query_imps"] == sum(int(r["Impressions"]) for r in queries)
    assert got["top_clicks"] == sum(int(r["Clicks"]) for r in tops)
    code, out, _ = _kpi(cfg, "sources", "-f", "json")
    assert code == 0
    files = {
        s["name"]: [str(Path(f["path"]).relative_to(tmp_path)) for f in s["files"]]
        for s in json.loads(out)["sources"]
    }
    assert files["dates"] == ["search_console.zip/Dates.csv"]
    assert sorted(files["tops"]) == sorted(
        f"search_console.zip/{n}" for n in ("Queries.csv", "Pages.csv", "Countries.csv")
    )


def test_a_zip_of_one_table_needs_no_member(tmp_path: Path) -> None:
    _copy(tmp_path, "one_table.zip")
    cfg = config(
        tmp_path,
        "  meta: {path: one_table.zip, date: Day}",
        '  spend: {source: meta, formula: SUM("Amount spent (EUR)")}',
    )
    rows = _csv_rows(_members("one_table.zip")["export/Campaign report.csv"])
    assert values(cfg, period="all")["spend"] == pytest.approx(
        sum(float(r["Amount spent (EUR)"]) for r in rows)
    )


@pytest.mark.parametrize(
    ("member", "key", "words"),
    [
        (None, "sources.sc", "holds several tables: Queries.csv, Pages.csv"),
        ("Nope.csv", "sources.sc.member", "has no member `Nope.csv`; it holds: Queries.csv"),
    ],
)
def test_zip_member_errors_are_located(
    tmp_path: Path, member: str | None, key: str, words: str
) -> None:
    _copy(tmp_path, "search_console.zip")
    extra = f", member: {member}" if member else ""
    cfg = config(
        tmp_path,
        f"  sc: {{path: search_console.zip{extra}}}",
        "  n: {source: sc, formula: COUNT(*)}",
    )
    code, _, err = _kpi(cfg, "report", "-p", "all", "--as-of", AS_OF.isoformat())
    assert code == 2
    assert f"kpi_config.yaml:4 {key}:" in err or f"kpi_config.yaml:3 {key}:" in err, err
    assert words in err and "Traceback" not in err


def test_member_on_a_file_that_is_no_zip(tmp_path: Path) -> None:
    _copy(tmp_path, "greek_cp1253.csv")
    cfg = config(
        tmp_path,
        "  g: {path: greek_cp1253.csv, member: a.csv}",
        "  n: {source: g, formula: COUNT(*)}",
    )
    code, _, err = _kpi(cfg, "report", "-p", "all", "--as-of", AS_OF.isoformat())
    assert code == 2 and "sources.g.member" in err and "is not a zip file" in err


def test_clean_reads_a_zip_member(tmp_path: Path) -> None:
    _copy(tmp_path, "search_console.zip")
    (tmp_path / "Queries.csv").write_bytes(_members("search_console.zip")["Queries.csv"])
    plain = runner.invoke(app, ["clean", str(tmp_path / "Queries.csv")])
    packed = runner.invoke(app, ["clean", str(tmp_path / "search_console.zip" / "Queries.csv")])
    assert packed.exit_code == 0 and packed.stdout == plain.stdout
    several = runner.invoke(app, ["clean", str(tmp_path / "search_console.zip")])
    assert several.exit_code == 2 and "kpi clean export.zip/Queries.csv" in several.stderr


def test_cached_reports_of_zip_members_follow_the_zip(tmp_path: Path) -> None:
    _copy(tmp_path, "search_console.zip")
    cfg = config(
        tmp_path,
        "  dates: {path: search_console.zip, member: Dates.csv, date: Date}",
        "  clicks: {source: dates, formula: SUM(Clicks)}",
    )
    cfg.write_text(cfg.read_text().replace("version: 1\n", "version: 1\nsettings: {cache: c}\n"))
    first = values(cfg, period="all")
    assert values(cfg, period="all") == first and any((tmp_path / "c").iterdir())
    members = _members("search_console.zip")
    members["Dates.csv"] += b"2026-01-15,1000,2000,50%,1\r\n"
    with zipfile.ZipFile(tmp_path / "search_console.zip", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    assert values(cfg, period="all") == {"clicks": first["clicks"] + 1000}


# ---------------------------------------------------------------------------- sheets


def _openpyxl_rows(path: Path, sheet: str) -> list[tuple]:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    return list(wb[sheet].iter_rows(values_only=True))


def test_xlsx_like_meta_ads_manager(tmp_path: Path) -> None:
    _copy(tmp_path, "meta_ads.xlsx")
    cfg = config(
        tmp_path,
        "  meta: {path: meta_ads.xlsx, date: Day}",
        '  spend: {source: meta, formula: SUM("Amount spent (EUR)")}\n'
        "  ctr: {source: meta, formula: SUM(CTR)}\n"
        "  imps: {source: meta, formula: SUM(Impressions)}\n"
        "  rows: {source: meta, formula: COUNT(*)}",
    )
    rows = _openpyxl_rows(tmp_path / "meta_ads.xlsx", "Raw Data Report")
    data = [r for r in rows[3:] if r[0] != "Total"]
    got = values(cfg, period="all")
    # numbers read exactly (1/3 is not cut to the 9 digits a cell's text shows)
    assert got["spend"] == pytest.approx(sum(r[2] for r in data), rel=1e-15)
    assert got["ctr"] == pytest.approx(sum(r[5] for r in data), rel=1e-15)
    assert got["imps"] == sum(r[3] for r in data) and got["rows"] == len(data)
    code, out, _ = _kpi(cfg, "sources", "-f", "json")
    source = json.loads(out)["sources"][0]
    assert code == 0
    f = source["files"][0]
    assert f["header_line"] == 3 and f["preamble"] == ["Meta Ads report: 5 Jan 2026 - 7 Jan 2026"]
    assert f["rows_dropped"] == {"summary row `Total: …`": 1}
    assert f["inside"] == ["sheet `Raw Data Report` (also: Notes)"]
    types = {c["name"]: c["type"] for c in source["columns"]}
    assert types["Day"] == "Date" and types["Amount spent (EUR)"] == "Float64"
    assert source["date"]["first"] == min(r[0] for r in data).date().isoformat()


def test_sheet_by_name_index_and_first_with_data(tmp_path: Path) -> None:
    import xlsxwriter

    path = tmp_path / "book.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    wb.add_worksheet("Cover")  # empty: skipped by default
    a = wb.add_worksheet("A")
    a.write_row(0, 0, ["k", "v"])
    a.write_row(1, 0, ["x", 1.5])
    b = wb.add_worksheet("B")
    b.write_row(0, 0, ["k", "v"])
    b.write_row(1, 0, ["y", 40])
    b.write_row(2, 0, ["z", 2])
    wb.close()
    cfg = config(
        tmp_path,
        "  first: {path: book.xlsx}\n  by_name: {path: book.xlsx, sheet: B}\n"
        "  by_index: {path: book.xlsx, sheet: 2}",
        "  a: {source: first, formula: SUM(v)}\n  b: {source: by_name, formula: SUM(v)}\n"
        "  c: {source: by_index, formula: SUM(v)}",
    )
    assert values(cfg) == {"a": 1.5, "b": 42, "c": 42}


@pytest.mark.parametrize(
    ("sheet", "words"),
    [("Campaigns", "has no sheet `Campaigns`; its sheets: Raw Data Report, Notes"),
     (7, "has no sheet 7 (it has 2, counted from 0")],
)  # fmt: skip
def test_a_sheet_that_is_not_there(tmp_path: Path, sheet: object, words: str) -> None:
    _copy(tmp_path, "meta_ads.xlsx")
    cfg = config(
        tmp_path,
        f"  meta: {{path: meta_ads.xlsx, sheet: {sheet}}}",
        "  n: {source: meta, formula: COUNT(*)}",
    )
    code, _, err = _kpi(cfg, "report", "-p", "all", "--as-of", AS_OF.isoformat())
    assert code == 2 and "kpi_config.yaml:3 sources.meta.sheet:" in err and words in err


def test_ods_reads_like_the_xlsx(tmp_path: Path) -> None:
    _copy(tmp_path, "meta_ads.ods", "meta_ads.xlsx")
    cfg = config(
        tmp_path,
        "  ods: {path: meta_ads.ods, date: Day}\n  xlsx: {path: meta_ads.xlsx, date: Day}",
        '  a: {source: ods, formula: SUM("Amount spent (EUR)")}\n'
        '  b: {source: xlsx, formula: SUM("Amount spent (EUR)")}\n'
        "  c: {source: ods, formula: SUM(CTR)}\n  d: {source: xlsx, formula: SUM(CTR)}",
    )
    got = values(cfg, period="all")
    assert got["a"] == got["b"] and got["c"] == got["d"]


def test_clean_of_a_sheet_is_its_table(tmp_path: Path) -> None:
    _copy(tmp_path, "meta_ads.xlsx")
    r = runner.invoke(app, ["clean", str(tmp_path / "meta_ads.xlsx")])
    assert r.exit_code == 0
    rows = list(csv.reader(io.StringIO(r.stdout)))
    sheet = _openpyxl_rows(tmp_path / "meta_ads.xlsx", "Raw Data Report")
    assert rows[0] == list(sheet[2])
    assert [float(x[2]) for x in rows[1:]] == [r[2] for r in sheet[3:-1]]


# ---------------------------------------------------------------------------- sections


def test_section_picks_one_table_of_a_ga4_snapshot(tmp_path: Path) -> None:
    _copy(tmp_path, "ga4_snapshot.csv")
    cfg = config(
        tmp_path,
        '  channels: {path: ga4_snapshot.csv, section: "Session default channel group"}\n'
        "  countries: {path: ga4_snapshot.csv, section: country}\n"
        '  days: {path: ga4_snapshot.csv, section: "Reports snapshot"}',
        "  sessions: {source: channels, formula: SUM(Sessions)}\n"
        '  users: {source: countries, formula: SUM("Active users")}\n'
        '  daily: {source: days, formula: SUM("Active users")}',
    )
    text = (FIXTURES / "ga4_snapshot.csv").read_bytes().decode("utf-8")
    blocks = text.split("\r\n\r\n")
    tables = [
        _csv_rows("\r\n".join(x for x in b.split("\r\n") if not x.startswith("#")).encode())
        for b in blocks
    ]
    got = values(cfg, period="all")
    assert got["sessions"] == sum(int(r["Sessions"]) for r in tables[1])
    assert got["users"] == sum(int(r["Active users"]) for r in tables[2])
    assert got["daily"] == sum(int(r["Active users"]) for r in tables[0])
    code, out, _ = _kpi(cfg, "sources", "-f", "json")
    assert code == 0
    channels = json.loads(out)["sources"][0]["files"][0]
    # the line numbers are the file's, and the file's own period is kept
    assert channels["header_line"] == 18
    assert channels["period"]["start"] == "2026-01-01"
    assert channels["inside"] == [
        "tables: `Reports snapshot`, `Session default channel group`, `Country`; "
        "read: `Session default channel group`"
    ]


def test_kpi_sources_lists_the_tables_of_a_file(tmp_path: Path) -> None:
    _copy(tmp_path, "ga4_snapshot.csv")
    cfg = config(
        tmp_path, "  all: {path: ga4_snapshot.csv}", "  n: {source: all, formula: COUNT(*)}"
    )
    code, out, _ = _kpi(cfg, "sources")
    assert code == 0
    assert (
        "tables: `Reports snapshot`, `Session default channel group`, `Country` (read as one "
        "file: pick one with `section:`)" in " ".join(out.split())
    )


def test_a_section_that_is_not_there(tmp_path: Path) -> None:
    _copy(tmp_path, "ga4_snapshot.csv")
    cfg = config(
        tmp_path,
        "  x: {path: ga4_snapshot.csv, section: Device category}",
        "  n: {source: x, formula: COUNT(*)}",
    )
    code, _, err = _kpi(cfg, "report", "-p", "all", "--as-of", AS_OF.isoformat())
    assert code == 2 and "kpi_config.yaml:3 sources.x.section:" in err
    assert "no table titled `Device category`" in err and "`Country`" in err


# ---------------------------------------------------------------------------- code pages


@pytest.mark.parametrize(
    ("name", "codec", "delimiter", "columns"),
    [
        ("greek_cp1253.csv", "cp1253", ";", ("Καμπάνια", "Κόστος")),
        ("cyrillic_cp1251.csv", "cp1251", ";", ("Кампания", "Расход")),
        ("japanese_shift_jis.csv", "cp932", ",", ("キャンペーン", "費用")),
        ("turkish_cp1254.csv", "cp1254", ";", ("Kampanya", "Maliyet")),
    ],
)
def test_code_pages_are_detected(
    tmp_path: Path, name: str, codec: str, delimiter: str, columns: tuple[str, str]
) -> None:
    _copy(tmp_path, name)
    by, cost = columns
    cfg = config(tmp_path, f"  s: {{path: {name}}}", f"  cost: {{source: s, formula: SUM({cost})}}")
    rows = _csv_rows((FIXTURES / name).read_bytes(), codec, delimiter)
    want = {}
    for r in rows:
        want[r[by]] = want.get(r[by], 0) + float(r[cost].replace(",", "."))
    from kpicli import Request, load_config, run_report

    result = run_report(load_config(cfg), Request(as_of=AS_OF, by=(by,)))
    got = dict(zip(result.rows[by], result.rows["value"], strict=True))
    assert got == pytest.approx(want)
    code, out, _ = _kpi(cfg, "sources", "-f", "json")
    file = json.loads(out)["sources"][0]["files"][0]
    assert code == 0 and file["encoding"] == codec
    assert any(codec in said for said in file["inside"])  # the code page, in words


def test_gbk_and_big5(tmp_path: Path) -> None:
    for name, codec, text in (
        ("gbk.csv", "gb18030", "活动,费用\n夏季促销,12.5\n冬季促销,3.5\n春季新品,4\n"),
        ("big5.csv", "big5", "活動,費用\n夏季促銷,12.5\n冬季促銷,3.5\n春季新品,4\n"),
    ):
        data = text.encode("gbk" if codec == "gb18030" else codec)
        assert guess_code_page(data)[0] == codec
        (tmp_path / name).write_bytes(data)
        cfg = config(tmp_path, f"  s: {{path: {name}}}", "  n: {source: s, formula: COUNT(*)}")
        code, out, _ = _kpi(cfg, "sources", "-f", "json")
        cols = [c["name"] for c in json.loads(out)["sources"][0]["columns"]]
        assert code == 0 and cols == text.splitlines()[0].split(",")


def test_western_files_stay_cp1252_without_a_warning(tmp_path: Path) -> None:
    text = "Campagne;Coût\nÉté brûlant;12,5\nNoël;3\nMünchen Größe;1\nCafé;2\n"
    assert guess_code_page(text.encode("cp1252")) == ("cp1252", None)


def test_a_weak_guess_is_said(tmp_path: Path) -> None:
    (tmp_path / "short.csv").write_bytes("name,n\nΑΒ,1\n".encode("cp1253"))
    cfg = config(tmp_path, "  s: {path: short.csv}", "  n: {source: s, formula: SUM(n)}")
    code, _, err = _kpi(cfg, "report", "-p", "all", "--as-of", AS_OF.isoformat())
    assert code == 0
    assert "short.csv: encoding read as cp1252 (Western)" in err and "it may be" in err
    assert "set `encoding:` on the source" in err


def test_any_python_codec_may_be_set(tmp_path: Path) -> None:
    (tmp_path / "short.csv").write_bytes("name,n\nΑΒ,1\n".encode("cp1253"))
    cfg = config(
        tmp_path,
        "  s: {path: short.csv, encoding: cp1253}",
        "  n: {source: s, formula: SUM(n)}",
    )
    from kpicli import Request, load_config, run_report

    result = run_report(load_config(cfg), Request(as_of=AS_OF, by=("name",)))
    assert list(result.rows["name"]) == ["ΑΒ"]
    cfg.write_text(cfg.read_text().replace("cp1253", "klingon"))
    code, out, err = _kpi(cfg, "validate")
    assert code == 2
    assert "kpi_config.yaml:3 sources.s.encoding:" in out + err
    assert "unknown encoding `klingon`" in out + err


# ---------------------------------------------------------------------------- presets, errors


def test_presets_read_a_search_console_zip_and_a_meta_ads_xlsx(tmp_path: Path) -> None:
    # one Search Console download gives queries, pages and dates; Meta's default .xlsx
    _copy(tmp_path, "search_console.zip", "meta_ads.xlsx")
    sc = "path: search_console.zip, preset: search_console"
    cfg = config(
        tmp_path,
        f"  queries: {{{sc}, member: Queries.csv}}\n  pages: {{{sc}, member: Pages.csv}}\n"
        f"  dates: {{{sc}, member: Dates.csv, date: date}}\n"
        "  meta: {path: meta_ads.xlsx, preset: meta_ads, date: date}",
        "  q: {source: queries, formula: SUM(clicks)}\n  p: {source: pages, formula: SUM(clicks)}\n"
        "  d: {source: dates, formula: SUM(clicks)}\n  s: {source: meta, formula: SUM(spend)}",
    )
    members = _members("search_console.zip")
    sheet = _openpyxl_rows(tmp_path / "meta_ads.xlsx", "Raw Data Report")
    want = {
        k: sum(int(r["Clicks"]) for r in _csv_rows(members[f"{n}.csv"]))
        for k, n in (("q", "Queries"), ("p", "Pages"), ("d", "Dates"))
    }
    got = values(cfg, period="all")
    assert got == {**want, "s": pytest.approx(sum(r[2] for r in sheet[3:-1]))}
    from kpicli import Request, load_config, run_report

    weekly = run_report(
        load_config(cfg), Request(as_of=AS_OF, period="2026-01", grain="week", kpis=("d",))
    )
    assert weekly.rows.filter(weekly.rows["kpi"] == "d")["value"].sum() == want["d"]


def test_sheet_on_a_csv_is_a_config_error(tmp_path: Path) -> None:
    _copy(tmp_path, "greek_cp1253.csv")
    cfg = config(
        tmp_path, "  g: {path: greek_cp1253.csv, sheet: 0}", "  n: {source: g, formula: COUNT(*)}"
    )
    code, _, err = _kpi(cfg, "report", "-p", "all", "--as-of", AS_OF.isoformat())
    assert code == 2 and "sources.g.sheet" in err and "is not a spreadsheet" in err


def test_a_bad_cell_in_a_zip_member_is_located(tmp_path: Path) -> None:
    lines = ["day,spend"] + [f"2026-01-{1 + i % 28:02d},{i % 100}" for i in range(20_000)]
    lines[15_000] = "2026-01-03,12x"
    with zipfile.ZipFile(tmp_path / "e.zip", "w") as zf:
        zf.writestr("in/e.csv", "\n".join(lines) + "\n")
    cfg = config(tmp_path, "  z: {path: e.zip, date: day}", "  s: {source: z, formula: SUM(spend)}")
    code, _, err = _kpi(cfg, "report", "-p", "all", "--as-of", AS_OF.isoformat())
    assert code == 3 and "e.zip/in/e.csv:15001" in err and "`12x`" in err


def test_sheet_cells_keep_their_text_and_their_exact_numbers(tmp_path: Path) -> None:
    import datetime as dt

    import xlsxwriter

    path = tmp_path / "cells.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("S")
    ws.write_row(0, 0, ["zip", "flag", "n", "when", "duration", "text_number"])
    ws.write_string(1, 0, "00123")  # a ZIP code written as text keeps its zero
    ws.write_boolean(1, 1, True)
    ws.write_number(1, 2, 1e-7)
    ws.write_datetime(
        1, 3, dt.datetime(2026, 1, 5, 13, 45), wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    )
    ws.write_number(1, 4, 0.5, wb.add_format({"num_format": "[h]:mm:ss"}))
    ws.write_string(1, 5, "1,234")
    ws.write_row(2, 0, ["07001", False, 2 / 3])
    wb.close()
    data = containers.content(path, containers.Within("sheet"))
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    assert rows[1] == ["00123", "true", "0.0000001", "2026-01-05 13:45:00", "12:00:00", "1,234"]
    assert rows[2][:3] == ["07001", "false", repr(2 / 3)] and float(rows[2][2]) == 2 / 3


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("a.zip", b"not a zip\n", "a.zip is not a readable zip file"),
        (
            "b.csv.gz",
            gzip.compress(b"day,n\n2026-01-01,1\n" * 50, mtime=0)[:-12],
            "cannot be decompressed",
        ),
        ("c.xlsx", b"nope\n", "c.xlsx is not a readable spreadsheet (calamine error"),
    ],
)
def test_broken_packed_files_are_data_errors(
    tmp_path: Path, name: str, data: bytes, words: str
) -> None:
    (tmp_path / name).write_bytes(data)
    cfg = config(tmp_path, f"  s: {{path: {name}}}", "  n: {source: s, formula: COUNT(*)}")
    code, _, err = _kpi(cfg, "report", "-p", "all", "--as-of", AS_OF.isoformat())
    assert code == 3 and words in err and "Traceback" not in err
    assert err.startswith("data error: ") and f"{name}: source `s`:" in err
    assert err.count("\n") <= 2  # one message and its hint


def test_a_zip_member_past_the_bound_is_refused(tmp_path: Path, monkeypatch) -> None:
    with zipfile.ZipFile(tmp_path / "big.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.csv", b"day,n\n" + b"2026-01-01,1\n" * 1000)
    monkeypatch.setattr(containers, "MAX_CONTENT_BYTES", 1000)
    cfg = config(tmp_path, "  s: {path: big.zip}", "  n: {source: s, formula: COUNT(*)}")
    code, _, err = _kpi(cfg, "report", "-p", "all", "--as-of", AS_OF.isoformat())
    assert code == 3 and "big.zip/big.csv is larger than" in err and "decompress it" in err


# ---------------------------------------------------------------------------- agreement

REAL = sorted((Path(__file__).parents[1] / "data" / "exports" / "real").glob("*.csv"))


@pytest.mark.parametrize("export", REAL, ids=lambda p: p.name.split("__")[0])
def test_real_exports_read_alike_plain_gzipped_and_zipped(tmp_path: Path, export: Path) -> None:
    """Each real export, as it is, gzipped and zipped: `kpi sources` finds the same layout,
    columns and rows, and `kpi clean` writes the same bytes."""
    data = export.read_bytes()
    (tmp_path / "plain.csv").write_bytes(data)
    (tmp_path / "packed.csv.gz").write_bytes(gzip.compress(data, mtime=0))
    with zipfile.ZipFile(tmp_path / "packed.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(export.name, data)
    cfg = config(
        tmp_path,
        "  plain: {path: plain.csv}\n  gz: {path: packed.csv.gz}\n  zip: {path: packed.zip}",
        "  a: {source: plain, formula: COUNT(*)}\n  b: {source: gz, formula: COUNT(*)}\n"
        "  c: {source: zip, formula: COUNT(*)}",
    )
    code, out, _ = _kpi(cfg, "sources", "-f", "json")
    assert code == 0
    reports = json.loads(out)["sources"]
    for report in reports:
        for f in report["files"]:
            f.pop("path"), f.pop("inside", None)
        report.pop("name")
    assert reports[0] == reports[1] == reports[2]
    cleaned = [
        runner.invoke(app, ["clean", str(tmp_path / n)]).stdout
        for n in ("plain.csv", "packed.csv.gz", "packed.zip")
    ]
    assert cleaned[0] == cleaned[1] == cleaned[2]


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        (
            "Kampaň;Náklady\nLetní výprodej;12,50\nŘíjnová sleva;3,40\nPoděkování;7\nMěsíc;1\n",
            "cp1250",
        ),
        ("Kampania;Koszt\nLetnia wyprzedaż;12,50\nPromocja książek;3,40\nMała łódka;1\n", "cp1250"),
        ("Kampanya;Maliyet\nYaz kampanyası;12,50\nKış indirimi;3,40\nŞubat özel;7\n", "cp1254"),
        ("Kampagne;Pris\nSommerudsalg Ærø;12,50\nVinter på Møn;3\n", "cp1252"),
        ("Campagna;Costo\nCittà più bella;12,50\nPerché così;3\nPuò darsi;1\n", "cp1252"),
        ("Campaña;Costo\nNiño año;1\nAcción rápida;2\n", "cp1252"),
    ],
)
def test_latin_code_pages_told_apart(text: str, codec: str) -> None:
    """Central-European and Turkish text by the letters it shows when read as cp1252 (a
    guess: said as a doubt); Danish, Italian, Spanish stay cp1252, without a word."""
    got, doubt = guess_code_page(text.encode(codec))
    assert got == codec
    assert (doubt is None) == (codec == "cp1252")


def test_cached_reports_of_a_sheet_follow_the_workbook_and_the_sheet(tmp_path: Path) -> None:
    import xlsxwriter

    def book(values: dict[str, float]) -> None:
        wb = xlsxwriter.Workbook(str(tmp_path / "b.xlsx"))
        for name, v in values.items():
            ws = wb.add_worksheet(name)
            ws.write_row(0, 0, ["k", "v"])
            ws.write_row(1, 0, ["x", v])
        wb.close()

    book({"A": 1.5, "B": 40})
    cfg = config(tmp_path, "  s: {path: b.xlsx, sheet: A}", "  v: {source: s, formula: SUM(v)}")
    cfg.write_text(cfg.read_text().replace("version: 1\n", "version: 1\nsettings: {cache: c}\n"))
    assert values(cfg) == values(cfg) == {"v": 1.5}
    cfg.write_text(cfg.read_text().replace("sheet: A", "sheet: B"))
    assert values(cfg) == {"v": 40}
    book({"A": 1.5, "B": 2.25})
    assert values(cfg) == {"v": 2.25}
