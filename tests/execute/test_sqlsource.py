"""The SQL reader of a source (execute/sqlsource) against the Polars reader (ingest/scan).

Two implementations of the same reading: the rows DuckDB gives for ``source_sql`` over
the files must be the rows ``sf.frame`` gives (same columns, same values, same nulls, in
any order; compatible types), for the shipped config, the real exports, the polluted
files of tests/data/polluted and generated edge cases. A file the SQL path cannot read as
kpi does is UnsupportedSource, never a different result; a cell that does not parse fails
the query, as it fails the Polars one.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
import sqlglot

from kpicli import load_config
from kpicli.errors import DataError, KpiError
from kpicli.execute.sqlsource import (
    PartRead,
    SourceSql,
    UnsupportedSource,
    duckdb_reader,
    explain_failure,
    source_sql,
)
from kpicli.ingest.scan import SourceFrame, locate_bad_value, scan_source

ROOT = Path(__file__).parents[2]
REAL = ROOT / "tests" / "data" / "exports" / "real"
POLLUTED = ROOT / "tests" / "data" / "polluted" / "csv"

#: real exports of tests/data/exports/real with their preset (and date column)
REAL_SOURCES = {
    "gads": ("google_ads__intragoinc_cp-mktg-google-ads-i.csv", "google_ads", None),
    "ga4": ("ga4__Anas3rdshade_Teefusion.csv", "ga4", None),
    "gsc": ("gsc_queries__DanielTheC_internal-lnking-tool.csv", "search_console", None),
    "mailchimp": ("mailchimp_campaigns__jamestthompson3_mailchimp_data.csv", "mailchimp", "date"),
    "meta": ("meta_ads__DanielTheC_internal-lnking-tool.csv", "meta_ads", "date"),
    "contacts": (
        "hubspot_contacts_HEADER-ONLY__helenakatsios-bot_workspacelive.csv",
        "hubspot_contacts",
        "created_at",
    ),
    "deals": ("hubspot_deals_HEADER-ONLY__HummingAgent_crm.csv", "hubspot_deals", None),
}


# ---------------------------------------------------------------------------- helpers


def run(sql: SourceSql) -> pl.DataFrame:
    """The test's DuckDB runner: each PartRead as a view over DuckDB's reader."""
    con = duckdb.connect()
    try:
        for read in sql.reads:
            reader = duckdb_reader(read).sql("duckdb")
            con.execute(f'CREATE VIEW "{read.view}" AS SELECT * FROM {reader}')
        return con.sql(sql.query.sql("duckdb")).pl()
    finally:
        con.close()


def _class(dtype: pl.DataType) -> str:
    if dtype.is_integer():
        return "int"
    if dtype.is_float():
        return "float"
    return str(dtype).split("(")[0]


def _key(row: tuple) -> tuple:
    return tuple((v is None, str(v)) for v in row)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)
    return a == b


def assert_same_rows(got: pl.DataFrame, want: pl.DataFrame) -> None:
    """Same columns in order, types of the same class (a Null column: any type, all
    null), the same rows in any order."""
    assert got.columns == want.columns
    for name in want.columns:
        g, w = got.schema[name], want.schema[name]
        if w == pl.Null:
            assert got[name].null_count() == got.height, name
        else:
            assert _class(g) == _class(w), (name, g, w)
    assert got.height == want.height
    rows_got = sorted(got.rows(), key=_key)
    rows_want = sorted(want.rows(), key=_key)
    for r_got, r_want in zip(rows_got, rows_want, strict=True):
        assert all(_same(a, b) for a, b in zip(r_got, r_want, strict=True)), (r_got, r_want)


def check_source(cfg, name: str) -> tuple[SourceFrame, SourceSql]:
    """The SQL reader's rows equal the Polars reader's; the SQL parses back as Spark SQL."""
    sf = scan_source(cfg, name)
    sql = source_sql(sf, cfg)
    assert_same_rows(run(sql), sf.frame.collect())
    spark = sql.query.sql(dialect="spark")
    assert sqlglot.parse_one(spark, read="spark") is not None
    return sf, sql


def write_config(folder: Path, sources: dict[str, str], extra: str = "") -> Path:
    """A config of ``sources`` (name → the YAML mapping's inside) and one KPI."""
    lines = ["version: 1", "sources:"]
    lines += [f"  {name}: {{{spec}}}" for name, spec in sources.items()]
    first = next(iter(sources))
    lines += ["kpis:", f"  n: {{source: {first}, formula: COUNT(*)}}", extra]
    path = folder / "kpi_config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- shipped


@pytest.mark.parametrize("name", ["ads", "leads", "email", "web"])
def test_shipped_sources_read_alike(name: str) -> None:
    cfg = load_config(ROOT / "kpi_config.yaml")
    assert name in cfg.sources
    sf, sql = check_source(cfg, name)
    assert len(sql.reads) == len(sf.parts)
    assert all(r.format == "csv" and r.columns for r in sql.reads)


def test_every_shipped_source_is_tested() -> None:
    cfg = load_config(ROOT / "kpi_config.yaml")
    assert set(cfg.sources) == {"ads", "leads", "email", "web"}


def test_columns_subset_and_derive() -> None:
    cfg = load_config(ROOT / "kpi_config.yaml")
    sf = scan_source(cfg, "leads")
    sql = source_sql(sf, cfg, columns=["is_paid", "created_at"])
    got = run(sql)
    want = sf.frame.select("created_at", "is_paid").collect()
    assert_same_rows(got, want)
    assert want["is_paid"].sum() > 0  # the derive is not trivially false
    with pytest.raises(DataError, match="no column `nope`"):
        source_sql(sf, cfg, columns=["nope"])


# ---------------------------------------------------------------------------- real exports


@pytest.mark.parametrize("name", sorted(REAL_SOURCES))
def test_real_exports_read_alike(tmp_path: Path, name: str) -> None:
    file, preset, date = REAL_SOURCES[name]
    shutil.copy(REAL / file, tmp_path / file)
    spec = f"path: '{file}', preset: {preset}" + (f", date: {date}" if date else "")
    cfg = load_config(write_config(tmp_path, {name: spec}))
    sf, _ = check_source(cfg, name)
    if name == "gads":  # the five `Total: …` rows are dropped, the preamble skipped
        assert sf.frame.collect().height == 12


# ---------------------------------------------------------------------------- polluted


@pytest.mark.parametrize("file", sorted(p.name for p in POLLUTED.glob("*.csv")))
def test_polluted_files_alike_or_refused(tmp_path: Path, file: str) -> None:
    """Each of the polluted files: the same rows, or UnsupportedSource, or (when the Polars
    reader fails on it) a failure too: never another result."""
    shutil.copy(POLLUTED / file, tmp_path / file)
    cfg = load_config(write_config(tmp_path, {"s": f"path: '{file}'"}))
    try:
        sf = scan_source(cfg, "s")
    except KpiError:
        return  # not a source either path reads
    try:
        want = sf.frame.collect()
    except pl.exceptions.PolarsError:
        want = None
    try:
        got = run(source_sql(sf, cfg))
    except UnsupportedSource as err:
        assert err.exit_code == 3 and "kpi clean" in (err.hint_template or "")
        return
    except duckdb.Error:
        assert want is None, "the SQL path failed where the Polars one did not"
        return
    assert want is not None, "the SQL path read what the Polars one could not"
    assert_same_rows(got, want)


# ---------------------------------------------------------------------------- edge cases


def test_european_numbers_percent_money_missing_summary_preamble(tmp_path: Path) -> None:
    (tmp_path / "eu.csv").write_text(
        "Campaign report\n"
        "1 January 2026 - 31 January 2026\n"
        "Datum;Kampagne;Kosten;Klicks;CTR;Umsatz;Aktiv\n"
        "05.01.2026;Marke;1.234,50 €;1.200;3,5%;$1.000,25;true\n"
        "06.01.2026;Generisch;-12,00 €;--;n/a;(2.000,00);FALSE\n"
        "07.01.2026;Marke; 0,5 €;7;12%;;\n"
        "28.01.2026;Other;EUR 9.999.999,99;1.000.000;0,01%;€ 3,00;True\n"
        "Total;;1.234,50 €;1.207;4,1%;;\n",
        encoding="utf-8",
    )
    cfg = load_config(write_config(tmp_path, {"eu": "path: eu.csv, date: Datum"}))
    sf, sql = check_source(cfg, "eu")
    frame = sf.frame.collect()
    assert frame.height == 4  # the Total row dropped, the preamble skipped
    assert sql.reads[0].skip == 2 and sql.reads[0].delimiter == ";"
    costs = sorted(frame["Kosten"].to_list())
    assert costs == [-12.0, 0.5, 1234.5, 9999999.99]
    assert sorted(v for v in frame["CTR"].to_list() if v is not None) == pytest.approx(
        [0.0001, 0.035, 0.12]
    )
    assert frame.schema["Aktiv"] == pl.Boolean
    assert frame.schema["Datum"] == pl.Date


def test_dates_of_several_shapes(tmp_path: Path) -> None:
    rows = {
        "dmy.csv": ("28/01/2026", "13/02/2026", " 01/03/2026 ", "n/a"),
        "mdy2.csv": ("2/24/17 11:29", "12/31/69 0:00", "1/13/70 9:05", ""),
        "names.csv": ("27 January 2026", "3 févr. 2026", "1 März 2026", "--"),
        "abbr.csv": ("27-Jan-26", "03-Feb-26", "01-Mar-69", "-"),
        "zoned.csv": (
            "2026-03-01T23:30:00+02:00",
            "2026-03-01T23:30:00Z",
            "2026-03-02T00:10:00-01:00",
            "",
        ),
        "iso_time.csv": ("2026-01-28 12:48", "2026-1-5 00:00", "2026-12-31T23:59", ""),
    }
    sources = {}
    for file, cells in rows.items():
        body = "".join(f'"{c}",{i}\n' for i, c in enumerate(cells))
        (tmp_path / file).write_text("day,n\n" + body, encoding="utf-8")
        sources[file.split(".")[0]] = f"path: {file}, date: day"
    cfg = load_config(write_config(tmp_path, sources))
    for name in sources:
        sf, _ = check_source(cfg, name)
        days = sf.frame.collect()["day"]
        assert days.dtype == pl.Date and days.null_count() == 1, name


def test_zoned_dates_in_a_time_zone(tmp_path: Path) -> None:
    cells = ("2026-03-01T23:30:00+02:00", "2026-03-01T23:30:00Z", "2026-03-28T23:10:00-01:00")
    (tmp_path / "z.csv").write_text("at,n\n" + "".join(f"{c},1\n" for c in cells))
    cfg = load_config(
        write_config(tmp_path, {"z": "path: z.csv, date: at"}, "settings: {timezone: Europe/Paris}")
    )
    sf, _ = check_source(cfg, "z")
    days = [d.isoformat() for d in sf.frame.collect()["at"]]
    assert days == ["2026-03-01", "2026-03-02", "2026-03-29"]  # 01:10 in Paris, summer time


def test_explicit_date_format(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("when,n\n2026.01.28 at 10:05,1\n2026.02.01 at 9:00,2\n")
    cfg = load_config(
        write_config(tmp_path, {"d": "path: d.csv, date: when, date_format: '%Y.%m.%d at %H:%M'"})
    )
    sf, _ = check_source(cfg, "d")
    assert sf.frame.collect()["when"].to_list()[0].isoformat() == "2026-01-28"


def test_derive_filter_rename_and_two_parts(tmp_path: Path) -> None:
    """Two layouts in one source (another header: two parts): the columns one lacks are
    NULL; rename, derive (one over another) and filter apply to both."""
    (tmp_path / "a.csv").write_text(
        "date,channel,spend,clicks\n2026-01-01,email,10.5,3\n2026-01-02,ads,0,0\n"
        "2026-01-03,ads,7.25,2\n"
    )
    (tmp_path / "b.csv").write_text(
        "date;channel;spend;conversions\n2026-01-04;ads;1,5;1\n2026-01-05;email;2,5;0\n"
    )
    spec = (
        "path: '*.csv', date: day, rename: {date: day}, "
        "derive: {cost: 'spend * 2', paid: \"channel = 'ads' AND cost > 0\"}, "
        "filter: 'spend > 0'"
    )
    cfg = load_config(write_config(tmp_path, {"s": spec}))
    sf, sql = check_source(cfg, "s")
    assert len(sf.parts) == 2 and len(sql.reads) == 2
    frame = sf.frame.collect()
    assert frame.height == 4  # the row with spend 0 filtered out
    assert frame["clicks"].null_count() == 2 and frame["conversions"].null_count() == 2
    assert sorted(frame["cost"].to_list()) == [3.0, 5.0, 14.5, 21.0]
    got = run(source_sql(sf, cfg, columns=["paid"]))
    assert sorted(got["paid"].to_list()) == sorted(frame["paid"].to_list())


#: derives over the functions a row's SQL may call, where Polars and the SQL engines differ
#: unless told (CONCAT and NULL, CAST to an integer, ROUND half to even, a date plus days)
DERIVES = {
    "c1": "CONCAT(name, '-', n)",
    "c2": "name || '!'",
    "c3": "SUBSTRING(name, 2, 3)",
    "c4": "LENGTH(name)",
    "c5": "ROUND(x * 3.333, 2)",
    "c6": "CASE WHEN n > 0 THEN 'pos' WHEN n < 0 THEN 'neg' ELSE 'zero' END",
    "c7": "COALESCE(name, 'none')",
    "c8": "UPPER(TRIM(name))",
    "c9": "REPLACE(LOWER(name), 'a', 'o')",
    "c10": "LEFT(name, 2) || RIGHT(name, 2)",
    "c11": "STARTS_WITH(LOWER(name), 'al')",
    "c12": "EXTRACT(month FROM day)",
    "c13": "IF(flag, n * 2, n / 3)",
    "c14": "name LIKE 'A%' OR name ILIKE '%GAM%'",
    "c15": "n BETWEEN -4 AND 3",
    "c16": "n % 3",
    "c17": "x / n",
    "c18": "CAST(n AS DOUBLE) / 0",
    "c19": "ABS(n) + CEIL(x) - FLOOR(x) + SIGN(n)",
    "c20": "GREATEST(n, x, 1)",
    "c21": "CAST(x AS INT)",
    "c22": "SQRT(ABS(x)) + POWER(n, 2) + LN(ABS(n) + 1)",
    "c23": "NULLIF(n, 0)",
    "c24": "CAST(day AS VARCHAR)",
    "c25": "day + INTERVAL 1 DAY",
    "c26": "ENDS_WITH(name, 'a')",
    "c27": "n IN (7, 0)",
    "c28": "ROUND(x)",
    "c29": "CAST(n AS VARCHAR) || 'x'",
}


def derive_config(folder: Path) -> Path:
    rows = [
        "day,name,n,x,flag",
        "2026-01-05,Alpha One,7,2.5,true",
        "2026-02-15,,3,,false",
        "2026-03-25,beta,-4,1.25,",
        "2026-12-31, gamma ,0,-3.75,true",
    ]
    (folder / "d.csv").write_text("\n".join(rows) + "\n")
    derive = ", ".join(f'{k}: "{v}"' for k, v in DERIVES.items())
    return write_config(folder, {"d": f"path: d.csv, date: day, derive: {{{derive}}}"})


def test_derives_compute_what_polars_computes(tmp_path: Path) -> None:
    cfg = load_config(derive_config(tmp_path))
    sf, _ = check_source(cfg, "d")
    frame = sf.frame.collect()
    assert "-3" in frame["c1"].to_list()  # CONCAT skips the NULL name
    assert frame["c21"].drop_nulls().sort().to_list() == [-3, 1, 2]  # truncated, not rounded
    assert 2.0 in frame["c28"].to_list()  # ROUND(2.5): half to even


def test_log_in_a_derive(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_text("day,x\n2026-01-01,100\n2026-01-02,8\n")
    cfg = load_config(
        write_config(tmp_path, {"l": "path: l.csv, date: day, derive: {a: 'LOG10(x)'}"})
    )
    check_source(cfg, "l")


def test_footer_blank_lines_and_trailing_delimiters(tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_text(
        'Name,Amount,Stage\r\nAcme,"1,000.00",Won,\r\n\r\nBeta,250.5,Lost,\r\n\r\n'
        'Grand Totals (2 records),"1,250.50",,\r\n\r\n'
        "Copyright (c) 2000-2026 salesforce.com inc. All rights reserved.\r\n"
        "Confidential Information - Do Not Distribute\r\n"
    )
    cfg = load_config(write_config(tmp_path, {"f": "path: f.csv"}))
    sf, sql = check_source(cfg, "f")
    assert sql.reads[0].ragged  # the empty cells past the header are dropped
    assert sf.frame.collect()["Amount"].to_list() == [1000.0, 250.5]


def test_a_bad_number_fails_the_query_and_is_located(tmp_path: Path) -> None:
    # past the sample (its first 128 KiB) and before its last 16 KiB: kinds come from
    # the sample, and the cell reaches the conversion
    rows = [f"2026-01-{1 + i % 28:02d},{i},1.5%\n" for i in range(20_000)]
    rows[12_000] = "2026-01-29,12x,2%\n"
    (tmp_path / "bad.csv").write_text("date,n,rate\n" + "".join(rows))
    cfg = load_config(write_config(tmp_path, {"s": "path: bad.csv, date: date"}))
    sf = scan_source(cfg, "s")
    with pytest.raises(pl.exceptions.PolarsError):
        sf.frame.collect()
    sql = source_sql(sf, cfg)
    with pytest.raises(duckdb.Error) as info:
        run(sql)
    assert "could not parse `12x`" in str(info.value)
    located = locate_bad_value(sf, str(info.value))
    assert located is not None and located.where.line == 12_002
    explained = explain_failure([sf], info.value)  # what a runner raises
    assert not isinstance(explained, UnsupportedSource)
    assert explained.where.line == 12_002 and "12x" in explained.template
    # a column not asked for is not converted, as Polars does not convert it
    assert run(source_sql(sf, cfg, columns=["rate"])).height == 20_000


@pytest.mark.parametrize(
    ("cells", "good"),
    [(("1,5%", "n/a", "2"), True), (("abc",), False), (("1.5.5",), False), (("9" * 25,), True)],
)
def test_number_cells_past_the_sample(tmp_path: Path, cells: tuple[str, ...], good: bool) -> None:
    """Cells the sample did not show: what Polars reads, SQL reads alike; what fails it
    fails the query."""
    rows = [f"2026-01-01,{i}.25\n" for i in range(12_000)]
    rows[9_000:9_000] = [f'2026-01-02,"{c}"\n' for c in cells]  # past the sample
    rows = "".join(rows)
    (tmp_path / "n.csv").write_text("date,x\n" + rows)
    cfg = load_config(write_config(tmp_path, {"s": "path: n.csv, date: date"}))
    sf = scan_source(cfg, "s")
    sql = source_sql(sf, cfg)
    if good:
        try:
            want = sf.frame.collect()
        except pl.exceptions.PolarsError:
            with pytest.raises(duckdb.Error):
                run(sql)
            return
        assert_same_rows(run(sql), want)
    else:
        with pytest.raises(pl.exceptions.PolarsError):
            sf.frame.collect()
        with pytest.raises(duckdb.Error, match="could not parse"):
            run(sql)


# ---------------------------------------------------------------------------- refused


def test_a_repaired_file_is_unsupported(tmp_path: Path) -> None:
    rows = "".join(f"2026-01-{d:02d},c{d},{d}\n" for d in range(1, 20))
    (tmp_path / "r.csv").write_text("date,name,n\n2026-01-01,a,1,extra\n" + rows)
    cfg = load_config(write_config(tmp_path, {"r": "path: r.csv"}))
    sf = scan_source(cfg, "r")
    assert any(lay.tolerant for lay in sf.layouts)
    with pytest.raises(UnsupportedSource) as info:
        source_sql(sf, cfg)
    err = info.value
    assert err.exit_code == 3 and isinstance(err, DataError)
    assert str(tmp_path / "r.csv") in err.template and "tolerant reader" in err.template
    assert "kpi clean" in (err.hint_template or "")


def test_containers_are_unsupported(tmp_path: Path) -> None:
    import gzip

    (tmp_path / "z.csv.gz").write_bytes(gzip.compress(b"date,n\n2026-01-01,1\n"))
    cfg = load_config(write_config(tmp_path, {"z": "path: z.csv.gz"}))
    sf = scan_source(cfg, "z")
    with pytest.raises(UnsupportedSource, match="inside a file"):
        source_sql(sf, cfg)


def test_cp1252(tmp_path: Path) -> None:
    """cp1252 without the bytes where it differs from latin-1: read as latin-1; with a €
    (0x80): refused by DuckDB's reader, never read as another character."""
    (tmp_path / "plain.csv").write_bytes("name,n\ncafé,1\nMüller,2\n".encode("cp1252"))
    (tmp_path / "euro.csv").write_bytes("name,n\n5 €,1\ncafé,2\n".encode("cp1252"))
    cfg = load_config(
        write_config(tmp_path, {"plain": "path: plain.csv", "euro": "path: euro.csv"})
    )
    sf, sql = check_source(cfg, "plain")
    assert sql.reads[0].encoding == "cp1252"
    assert sf.frame.collect()["name"].to_list() == ["café", "Müller"]
    sf = scan_source(cfg, "euro")
    with pytest.raises(UnsupportedSource, match="0x80-0x9F"):
        run(source_sql(sf, cfg))


def test_utf16_is_read_and_big_endian_refused(tmp_path: Path) -> None:
    text = "Campaign\tSpend\r\nA\t1,5\r\nB\t2\r\n"
    (tmp_path / "le.csv").write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    (tmp_path / "be.csv").write_bytes(b"\xfe\xff" + text.encode("utf-16-be"))
    cfg = load_config(write_config(tmp_path, {"le": "path: le.csv", "be": "path: be.csv"}))
    check_source(cfg, "le")
    sf = scan_source(cfg, "be")
    with pytest.raises(UnsupportedSource, match="utf-16-be"):
        run(source_sql(sf, cfg))


def test_a_name_duckdb_would_glob_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x[1].csv").write_text("a,b\n1,2\n")
    (tmp_path / "x1.csv").write_text("a,b\n3,4\n")  # what DuckDB's glob would read
    read = PartRead("__src_0", (str(tmp_path / "x[1].csv"),), "csv", ("a", "b"))
    with pytest.raises(UnsupportedSource, match="glob"):
        duckdb_reader(read)


def test_a_preamble_with_an_open_quote_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text('Report "Q1\nx,y\n1,2\n')
    read = PartRead("__src_0", (str(tmp_path / "p.csv"),), "csv", ("x", "y"), skip=1)
    with pytest.raises(UnsupportedSource, match="odd number of quotes"):
        duckdb_reader(read)
    (tmp_path / "q.csv").write_text('"Report: Q1"\nx,y\n1,2\n')
    read = PartRead("__src_0", (str(tmp_path / "q.csv"),), "csv", ("x", "y"), skip=1)
    con = duckdb.connect()
    assert con.sql(f"SELECT * FROM {duckdb_reader(read).sql('duckdb')}").fetchall() == [("1", "2")]


def test_errors_transpile() -> None:
    """ERROR in DuckDB, RAISE_ERROR in Spark, also in a process that wrote DuckDB SQL
    before (sqlglot builds a dialect's dispatch table on its first use)."""
    import subprocess
    import sys

    code = (
        "import sqlglot\n"
        "from sqlglot import exp\n"
        "sqlglot.parse_one('SELECT 1').sql('duckdb')\n"
        "from kpicli.execute.sqlsource import error_message\n"
        "node = error_message(exp.column('x'), 'a number', 'spend')\n"
        "print(node.sql('duckdb'))\n"
        "print(node.sql('spark'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.splitlines()
    assert out[0].startswith("ERROR(") and out[1].startswith("RAISE_ERROR(")
    assert "could not parse `" in out[0]
    assert sqlglot.parse_one(out[1], read="spark") is not None


def test_summary_row_that_does_not_convert_under_a_filter(tmp_path: Path) -> None:
    """The summary row is dropped before its cells are converted, also when the source's
    filter reads a converted column (an optimiser must not convert it first)."""
    rows = "".join(f"2026-01-{1 + i % 28:02d},{i}\n" for i in range(50))
    (tmp_path / "t.csv").write_text("date,n\n" + rows + "Total,all of them\n")
    cfg = load_config(write_config(tmp_path, {"s": "path: t.csv, date: date, filter: 'n > 3'"}))
    sf, _ = check_source(cfg, "s")
    assert sf.frame.collect().height == 46


def test_bytes_past_the_sample_that_are_not_utf8(tmp_path: Path) -> None:
    """kpi decodes such a file line by line (the Polars path reads it again so); DuckDB's
    reader fails on it, and the failure is explained as UnsupportedSource naming the line."""
    rows = [f"2026-01-{1 + i % 28:02d},caf{i},{i}\n".encode() for i in range(20_000)]
    rows[12_000] = "2026-01-02,café,1\n".encode("cp1252")
    (tmp_path / "m.csv").write_bytes(b"date,name,n\n" + b"".join(rows))
    cfg = load_config(write_config(tmp_path, {"m": "path: m.csv, date: date"}))
    sf = scan_source(cfg, "m")
    sql = source_sql(sf, cfg)
    with pytest.raises(duckdb.Error) as info:
        run(sql)
    explained = explain_failure([sf], info.value)
    assert isinstance(explained, UnsupportedSource)
    assert "line 12002 is not UTF-8" in explained.template


def test_a_blank_line_past_the_sample(tmp_path: Path) -> None:
    rows = [f"2026-01-{1 + i % 28:02d},{i}\n" for i in range(20_000)]
    rows[12_000] = "\n"
    (tmp_path / "b.csv").write_text("date,n\n" + "".join(rows))
    cfg = load_config(write_config(tmp_path, {"s": "path: b.csv, date: date"}))
    check_source(cfg, "s")


# ---------------------------------------------------------------------------- Spark SQL


def run_spark(spark, sql: SourceSql) -> pl.DataFrame:
    """The SQL as Spark SQL over each PartRead as a temporary view (CSV without lines to
    skip: Spark's reader has no such option, the Spark runner's business)."""
    for read in sql.reads:
        assert read.skip == 0 and read.header
        schema = ", ".join(f"`{c}` STRING" for c in read.columns)
        frame = (
            spark.read.options(
                header=True,
                sep=read.delimiter,
                encoding=read.encoding,
                quote=read.quote,
                escape=read.quote,
                mode="FAILFAST",
            )
            .schema(schema)
            .csv(list(read.files))
        )
        frame.createOrReplaceTempView(read.view)
    rows = spark.sql(sql.query.sql(dialect="spark")).collect()
    names = [f.name for f in spark.sql(sql.query.sql(dialect="spark")).schema.fields]
    return pl.DataFrame([tuple(r) for r in rows], schema=names, orient="row")


@pytest.mark.slow
def test_spark_reads_alike(spark, tmp_path: Path) -> None:
    """The same SQL, transpiled to Spark SQL, gives the Polars reader's rows: the shipped
    sources, and numbers, percentages, money, booleans, durations and dates of every shape
    (zoned ones in a time zone), a summary row, derive and filter."""
    body = [
        "28/01/2026;1.234,50 €;3,5%;true;27 January 2026;2026-03-01T23:30:00+02:00",
        "13/02/2026;-12,00 €;n/a;FALSE;3 févr. 2026;2026-03-28T23:10:00-01:00",
        "01/03/2026;(2.000,00);12%;;1 März 2026;",
        "Total;1,00 €;;;;",
    ]
    (tmp_path / "mix.csv").write_text("day;cost;rate;ok;named;zoned\n" + "\n".join(body) + "\n")
    config = write_config(
        tmp_path,
        {"mix": "path: mix.csv, date: day, derive: {big: 'cost > 100'}, filter: 'NOT big'"},
        "  named: {source: mix, formula: COUNT(*), date: named}\n"
        "  zoned: {source: mix, formula: COUNT(*), date: zoned}\n"
        "settings: {timezone: Europe/Paris}",
    )
    cases = [(load_config(config), "mix")]
    (tmp_path / "derived").mkdir()
    cases.append((load_config(derive_config(tmp_path / "derived")), "d"))
    shipped = load_config(ROOT / "kpi_config.yaml")
    cases += [(shipped, name) for name in shipped.sources]
    for cfg, name in cases:
        sf = scan_source(cfg, name)
        sql = source_sql(sf, cfg)
        got = run_spark(spark, sql)
        want = sf.frame.collect()
        if name == "mix":
            assert want.schema["named"] == want.schema["zoned"] == pl.Date
            assert want.height == 2  # the Total row dropped, the big cost filtered out
        # a column without a value: Polars types the rows Spark gives as Null
        got = got.with_columns(
            pl.col(c).cast(want.schema[c]) for c in got.columns if got.schema[c] == pl.Null
        )
        assert_same_rows(got, want)
