"""Detection without options: encodings, dialects, headers, numbers, dates; bad values located.

Files are written by the tests (spreadsheet exports in their various shapes) and read through
the public API; expected values are computed here from the data written, never by kpi.
"""

from __future__ import annotations

import codecs
import re
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpicli import DataError, load_config
from kpicli.commands.sources import describe_sources
from kpicli.ingest import values as V
from kpicli.ingest.detect import SAMPLE_BYTES, sniff
from kpicli.ingest.scan import locate_bad_value, scan_source

from conftest import config, values

AS_OF = date(2026, 12, 31)


def write(path: Path, text: str, encoding: str = "utf-8", newline: str = "\n") -> Path:
    data = text.replace("\n", newline)
    if encoding == "utf-16-le-bom":
        raw = codecs.BOM_UTF16_LE + data.encode("utf-16-le")
    elif encoding == "utf-16-be-bom":
        raw = codecs.BOM_UTF16_BE + data.encode("utf-16-be")
    else:
        raw = data.encode(encoding)
    path.write_bytes(raw)
    return path


def polars_error(cfg_path: Path, name: str, *columns: str) -> tuple[object, Exception]:
    """The source frame and the error Polars raises when the engine reads those columns."""
    sf = scan_source(load_config(cfg_path), name)
    with pytest.raises(pl.exceptions.PolarsError) as info:
        sf.frame.select(*(pl.col(c) for c in columns)).collect()
    return sf, info.value


# ---------------------------------------------------------------------------- French export

FRENCH_ROWS = [
    # day, campaign, cost, clicks, rate
    ("01/03/2026", "Été promo", "1\u00a0234,50 €", "1 200", "3,45 %"),
    ("15/03/2026", "Noël", "987,25 €", "12", "0,5 %"),
    ("31/03/2026", "Marque «top»", "2 000,00 €", "3", "n/a"),
    ("02/04/2026", "Printemps", "-12,75 €", "-", "1,25 %"),
]


def french_export(tmp_path: Path, rows=FRENCH_ROWS) -> Path:
    lines = [
        "Export des dépenses publicitaires",
        "Période : 01/03/2026 - 30/04/2026",
        "",
        "Jour;Campagne;Coût;Clics;Taux de clic",
        *(";".join(r) for r in rows),
    ]
    return write(tmp_path / "depenses.csv", "\n".join(lines) + "\n", "cp1252", "\r\n")


FRENCH_KPIS = (
    '  cout: {source: fr, formula: SUM("Coût")}\n'
    "  clics: {source: fr, formula: SUM(Clics)}\n"
    '  taux: {source: fr, formula: SUM("Taux de clic")}\n'
    "  ete: {source: fr, formula: COUNT(*) FILTER (WHERE Campagne = 'Été promo')}"
)


def test_french_spreadsheet_export_needs_no_option(tmp_path: Path) -> None:
    french_export(tmp_path)
    p = config(tmp_path, "  fr: {path: depenses.csv, date: Jour}", FRENCH_KPIS)
    assert values(p, period="2026-03") == {
        "cout": pytest.approx(1234.50 + 987.25 + 2000.00, abs=1e-9),
        "clics": 1200 + 12 + 3,
        "taux": pytest.approx(0.0345 + 0.005, abs=1e-12),
        "ete": 1,
    }
    assert values(p, period="2026-04") == {
        "cout": pytest.approx(-12.75),
        "clics": None,
        "taux": pytest.approx(0.0125),
        "ete": 0,
    }
    (report,) = describe_sources(load_config(p))
    f = report.files[0]
    assert (f.encoding, f.delimiter, f.decimal, f.header_line) == ("cp1252", ";", ",", 4)
    assert f.period == {
        "text": "01/03/2026 - 30/04/2026",
        "start": "2026-03-01",
        "end": "2026-04-30",
    }
    assert report.date_format == "%d/%m/%Y"
    assert report.date_range == (date(2026, 3, 1), date(2026, 4, 2))


def test_dates_every_day_twelve_or_less_need_the_option(tmp_path: Path) -> None:
    rows = [("01/03/2026", "a", "1,00", "1", "1 %"), ("02/03/2026", "b", "2,00", "2", "2 %")]
    french_export(tmp_path, rows)
    p = config(tmp_path, "  fr: {path: depenses.csv, date: Jour}", FRENCH_KPIS)
    with pytest.raises(DataError) as info:
        values(p)
    err = info.value
    assert err.exit_code == 3
    assert "day/month or month/day" in err.message and "`Jour`" in err.message
    assert 'date_format: "%d/%m/%Y"' in err.hint and 'date_format: "%m/%d/%Y"' in err.hint
    assert err.location.endswith("depenses.csv")
    # the option decides, and wins over detection
    p = config(
        tmp_path, "  fr: {path: depenses.csv, date: Jour, date_format: '%d/%m/%Y'}", FRENCH_KPIS
    )
    assert values(p, period="2026-03")["cout"] == pytest.approx(3.0)
    p = config(
        tmp_path, "  fr: {path: depenses.csv, date: Jour, date_format: '%m/%d/%Y'}", FRENCH_KPIS
    )
    assert values(p, period="2026-01")["cout"] == pytest.approx(1.0)
    assert values(p, period="2026-02")["cout"] == pytest.approx(2.0)


# ---------------------------------------------------------------------------- encodings, dialects


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "utf-16-le-bom", "utf-16-be-bom", "cp1252"]
)
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_encodings_and_line_endings(tmp_path: Path, encoding: str, newline: str) -> None:
    text = "day,campaign,spend\n2026-01-01,Été,1.5\n2026-01-02,Noël,2.25\n"
    write(tmp_path / "a.csv", text, encoding, newline)
    p = config(
        tmp_path,
        "  a: {path: a.csv, date: day}",
        "  spend: {source: a, formula: SUM(spend)}\n"
        "  ete: {source: a, formula: COUNT(*) FILTER (WHERE campaign = 'Été')}",
    )
    assert values(p) == {"spend": 3.75, "ete": 1}
    (report,) = describe_sources(load_config(p))
    expected = {"utf-8-sig": "utf-8", "utf-16-le-bom": "utf-16-le", "utf-16-be-bom": "utf-16-be"}
    assert report.files[0].encoding == expected.get(encoding, encoding)
    assert report.files[0].bom == (encoding not in ("utf-8", "cp1252"))


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters(tmp_path: Path, delimiter: str) -> None:
    rows = [
        ["day", "campaign, name", "spend"],
        ["2026-01-01", "a", "1.5"],
        ["2026-01-02", "b", "2"],
    ]

    def quote(c: str) -> str:
        return f'"{c}"' if "," in c and delimiter == "," else c

    text = "\n".join(delimiter.join(quote(c) for c in r) for r in rows) + "\n"
    write(tmp_path / "a.csv", text)
    p = config(
        tmp_path,
        "  a: {path: a.csv, date: day}",
        "  spend: {source: a, formula: SUM(spend)}\n"
        "  n: {source: a, formula: 'COUNT(\"campaign, name\")'}",
    )
    assert values(p) == {"spend": 3.5, "n": 2}


def test_header_under_preamble_comments_and_blank_lines(tmp_path: Path) -> None:
    text = (
        "# Exported by a tool\n# Account: Demo, Inc.\n\nCampaign report\nAll time\n\n"
        "day,campaign,spend\n2026-01-01,a,1\n\n2026-01-02,b,2\n"
    )
    write(tmp_path / "a.csv", text)
    p = config(
        tmp_path,
        "  a: {path: a.csv, date: day}",
        "  spend: {source: a, formula: SUM(spend)}\n  n: {source: a, formula: COUNT(*)}",
    )
    assert values(p) == {"spend": 3, "n": 2}
    (report,) = describe_sources(load_config(p))
    assert report.files[0].header_line == 7
    assert report.files[0].rows_dropped == {"blank line": 1}


def test_explicit_options_win(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", 'day,amount\n2026-01-01,"1,234"\n2026-01-02,"2,500"\n')
    kpis = "  amount: {source: a, formula: SUM(amount)}"
    p = config(tmp_path, "  a: {path: a.csv, date: day}", kpis)
    assert values(p) == {"amount": 3734}
    p = config(tmp_path, "  a: {path: a.csv, date: day, decimal: ','}", kpis)
    assert values(p) == {"amount": pytest.approx(1.234 + 2.5)}
    write(tmp_path / "b.csv", "x|y\nday|amount\n2026-01-01|1,5\n")
    p = config(tmp_path, "  a: {path: b.csv, date: day, delimiter: '|', skip_rows: 1}", kpis)
    assert values(p) == {"amount": 1.5}


# ---------------------------------------------------------------------------- numbers


NUMBER_CELLS = [
    ("1,234.56", ".", 1234.56),
    ("1 234,56", ",", 1234.56),
    ("1.234,56", ",", 1234.56),
    ("1\u00a0234,56", ",", 1234.56),
    ("1\u202f234,56", ",", 1234.56),
    ("1'234.5", ".", 1234.5),
    ("3.45%", ".", 0.0345),
    ("3,45 %", ",", 0.0345),
    ("$0.11 ", ".", 0.11),
    ("€1 234,50", ",", 1234.5),
    ("1 234,50 €", ",", 1234.5),
    ("12 EUR", ".", 12.0),
    ("USD 12.5", ".", 12.5),
    ("-$5.00", ".", -5.0),
    ("$-5.00", ".", -5.0),
    ("(1,234.00)", ".", -1234.0),
    ("−3", ".", -3.0),
    ("< 10%", ".", 0.1),
    ("> 90%", ".", 0.9),
    (".5", ".", 0.5),
    ("7", ",", 7.0),
]
MISSING = [" --", "--", "-", "n/a", "N/A", "", "   ", "—", "null", "#N/A"]
NOT_NUMBERS = ["abc", "1,23", "(12", "12)", "1.2.3", "12-", "$", "1 2"]


@pytest.mark.parametrize(("cell", "decimal", "expected"), NUMBER_CELLS)
def test_number_cells(cell: str, decimal: str, expected: float) -> None:
    assert V.parse_number(cell, decimal) == pytest.approx(expected, abs=1e-12)
    got = pl.DataFrame({"c": [cell]}).select(V.number_expr(pl.col("c"), decimal))
    assert got.item() == pytest.approx(expected, abs=1e-12)


def test_percent_is_an_exact_fraction() -> None:
    got = pl.DataFrame({"c": ["3.45%", "0.07%", "12.5%"]}).select(V.number_expr(pl.col("c")))
    assert got.to_series().to_list() == [0.0345, 0.0007, 0.125]


@pytest.mark.parametrize("cell", MISSING)
def test_missing_markers_are_null(cell: str) -> None:
    assert V.is_missing(cell)
    got = pl.DataFrame({"c": [cell]}, schema={"c": pl.String}).select(V.number_expr(pl.col("c")))
    assert got.item() is None


@pytest.mark.parametrize("cell", NOT_NUMBERS)
def test_not_numbers_fail_naming_the_cell(cell: str) -> None:
    assert V.parse_number(cell, ".") is None
    with pytest.raises(pl.exceptions.PolarsError, match=re.escape(f'"{cell}"')):
        pl.DataFrame({"c": [cell]}).lazy().select(V.number_expr(pl.col("c"))).collect()


def test_export_number_formats_sum(tmp_path: Path) -> None:
    cells = ["3.45%", "$0.11 ", " --", "n/a", "< 10%", "1,234.5"]
    text = "day,v\n" + "".join(f'2026-01-0{i + 1},"{c}"\n' for i, c in enumerate(cells))
    write(tmp_path / "a.csv", text)
    p = config(
        tmp_path,
        "  a: {path: a.csv, date: day}",
        "  summed: {source: a, formula: SUM(v)}\n  counted: {source: a, formula: COUNT(v)}",
    )
    assert values(p) == {"summed": pytest.approx(0.0345 + 0.11 + 0.1 + 1234.5), "counted": 4}


def _format(cents: int, decimal: str, thousands: str, currency: str, percent: bool) -> str:
    negative, cents = cents < 0, abs(cents)
    whole, frac = divmod(cents, 100)
    digits = f"{whole:,}".replace(",", thousands)
    text = f"{digits}{decimal}{frac:02d}"
    if percent:
        text += "%"
    if currency == "$":
        text = "$" + text
    elif currency == "€":
        text = text + " €"
    return f"-{text}" if negative else text


@settings(max_examples=50, deadline=None)
@given(
    cents=st.integers(min_value=-(10**11), max_value=10**11),
    style=st.sampled_from(
        [(".", ","), (".", ""), (".", "'"), (",", "."), (",", " "), (",", "\u00a0"), (",", "")]
    ),
    currency=st.sampled_from(["", "$", "€"]),
    percent=st.booleans(),
)
def test_numbers_round_trip(cents: int, style: tuple[str, str], currency: str, percent: bool):
    decimal, thousands = style
    cell = _format(cents, decimal, thousands, currency, percent)
    expected = cents / 100 / (100 if percent else 1)
    assert V.parse_number(cell, decimal) == pytest.approx(expected, rel=1e-15, abs=1e-15)
    frame = pl.DataFrame({"c": [cell, " --"]})
    got = frame.select(V.number_expr(pl.col("c"), decimal)).to_series().to_list()
    assert got[0] == pytest.approx(expected, rel=1e-15, abs=1e-15) and got[1] is None
    kind = V.classify([cell, " --"], decimal)
    assert kind.name == "number" and kind.percent == percent


@settings(max_examples=50, deadline=None)
@given(
    cells=st.lists(st.integers(min_value=1000, max_value=10**9), min_size=3, max_size=20),
    style=st.sampled_from([(".", ","), (",", "."), (",", " "), (",", "\u00a0")]),
)
def test_separators_detected(cells: list[int], style: tuple[str, str]) -> None:
    decimal, thousands = style
    text = [f"{n:,}".replace(",", thousands) + f"{decimal}{n % 100:02d}" for n in cells]
    assert V.detect_separators(text).decimal == decimal


@pytest.mark.parametrize(
    ("cells", "delimiter", "decimal"),
    [
        (["795,836", "1.16%", "4,838.80"], ",", "."),
        (["1,234"], ",", "."),
        (["1,234"], ";", ","),
        (["1.234", "12.500"], ";", ","),
        (["0.125", "1.500"], ";", "."),
        (["0,125"], ",", ","),
        (["12,5", "1 234"], ";", ","),
        (["1.234.567"], ",", ","),
    ],
)
def test_decimal_separator_votes(cells: list[str], delimiter: str, decimal: str) -> None:
    assert V.detect_separators(cells, delimiter).decimal == decimal


# ---------------------------------------------------------------------------- dates

DATE_CELLS = [
    ("2026-01-28", "2026-01-05", "%Y-%m-%d"),
    ("28/01/2026", "05/01/2026", "%d/%m/%Y"),
    ("01/28/2026", "01/05/2026", "%m/%d/%Y"),
    ("28.01.2026", "05.01.2026", "%d.%m.%Y"),
    ("20260128", "20260105", "%Y%m%d"),
    ("1/28/26 11:29", "1/5/26 9:02", "%m/%d/%y"),
    ("Jan 28, 2026 09:46 pm", "Jan 05, 2026 10:01 am", "%B %d, %Y"),
    ("2026-01-28 12:48", "2026-01-05 08:00", "%Y-%m-%d"),
    ("28 January 2026", "5 January 2026", "%d %B %Y"),
    (
        "2026-01-28T12:48:00Z",
        "2026-01-05T00:00:00Z",
        "%Y-%m-%dT%H:%M:%S%z",
    ),  # zoned: counted in UTC
]


@pytest.mark.parametrize(("late", "early", "fmt"), DATE_CELLS)
def test_date_formats_detected(tmp_path: Path, late: str, early: str, fmt: str) -> None:
    write(tmp_path / "a.csv", f'when,spend\n"{early}",1\n"{late}",2\n')
    p = config(
        tmp_path, "  a: {path: a.csv, date: when}", "  spend: {source: a, formula: SUM(spend)}"
    )
    assert values(p, period="2026-01-28") == {"spend": 2}
    assert values(p, period="2026-01-05") == {"spend": 1}
    (report,) = describe_sources(load_config(p))
    assert report.date_format == fmt


FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%Y%m%d", "%d.%m.%Y", "%m/%d/%y %H:%M", "%d %B %Y"]


@settings(max_examples=50, deadline=None)
@given(
    day=st.dates(min_value=date(1970, 1, 1), max_value=date(2068, 12, 31)),
    fmt=st.sampled_from(FORMATS),
)
def test_dates_round_trip(day: date, fmt: str) -> None:
    witness = date(2026, 1, 13)  # day 13: settles day/month order
    cells = [day.strftime(fmt), witness.strftime(fmt)]
    guess = V.detect_date(cells)
    assert guess is not None and not guess.ambiguous
    got = pl.DataFrame({"c": cells}).select(V.date_expr(pl.col("c"), guess.shape, guess.fmt))
    assert got.to_series().to_list() == [day, witness]


def test_ambiguous_dates_are_ambiguous() -> None:
    guess = V.detect_date(["01/02/2026", "12/11/2025"])
    assert guess is not None and guess.ambiguous
    assert guess.candidates == ("%d/%m/%Y", "%m/%d/%Y")


# ---------------------------------------------------------------------------- bad values


def test_bad_number_beyond_the_sample_names_its_line(tmp_path: Path) -> None:
    rows = [f"2026-01-{i % 28 + 1:02d},{i}.5" for i in range(12_000)]
    assert sum(len(r) + 1 for r in rows) > SAMPLE_BYTES
    text = "day,spend\n" + "\n".join([*rows, "2026-01-03,abc", "2026-01-04,1"]) + "\n"
    write(tmp_path / "a.csv", text)
    p = config(tmp_path, "  a: {path: a.csv, date: day}", "  s: {source: a, formula: SUM(spend)}")
    sf, err = polars_error(p, "a", "spend")
    found = locate_bad_value(sf, err)
    assert found is not None and found.exit_code == 3
    assert found.location == f"{tmp_path / 'a.csv'}:12002"
    assert "column `spend`" in found.message and "`abc`" in found.message
    # also from the config and the source name
    assert locate_bad_value((load_config(p), "a")).location == found.location


def test_bad_cell_in_the_sample_is_found_in_the_text_column(tmp_path: Path) -> None:
    """One cell that is not a number makes its column text; SUM over it fails: which cell?"""
    text = (
        'day,spend,note\n2026-01-01,"1,000.50","a\nquoted newline"\n'
        '2026-01-02,"2,000.25",b\n2026-01-03,"1,00x.00",c\n'
    )
    write(tmp_path / "a.csv", text)
    p = config(tmp_path, "  a: {path: a.csv}", "  s: {source: a, formula: MAX(note)}")
    sf = scan_source(load_config(p), "a")
    assert sf.schema["spend"] == pl.String
    with pytest.raises(pl.exceptions.PolarsError) as info:
        sf.frame.select(pl.sql_expr("SUM(spend)")).collect()
    found = locate_bad_value(sf, info.value, columns=["spend"])
    assert found is not None
    assert found.location.endswith("a.csv:5")  # the quoted newline counts
    assert "`1,00x.00`" in found.message and "`spend`" in found.message


def test_bad_cleaned_number_beyond_the_sample(tmp_path: Path) -> None:
    rows = [f'2026-01-{i % 28 + 1:02d},"{i:,}.50"' for i in range(1000, 13_000)]
    write(tmp_path / "a.csv", "day,spend\n" + "\n".join([*rows, '2026-01-02,"1,00x.00"']) + "\n")
    p = config(tmp_path, "  a: {path: a.csv, date: day}", "  s: {source: a, formula: SUM(spend)}")
    sf, err = polars_error(p, "a", "spend")
    found = locate_bad_value(sf, err)
    assert found is not None and found.location.endswith("a.csv:12002")
    assert "`1,00x.00`" in found.message and "is not a number" in found.message


def test_bad_date_in_sample_is_reported_at_scan(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "day,spend\n2026-01-01,1\n2026-02-30,2\n2026-01-03,3\n")
    p = config(tmp_path, "  a: {path: a.csv, date: day}", "  s: {source: a, formula: SUM(spend)}")
    with pytest.raises(DataError) as info:
        values(p)
    assert info.value.location.endswith("a.csv:3")
    assert "`2026-02-30`" in info.value.message and "`day`" in info.value.message


def test_ragged_row_is_located(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a file past the whole-file check's bound (smaller ones go to the tolerant reader)
    from kpicli.ingest import scan as read

    monkeypatch.setattr(read, "WHOLE_CHECK_BYTES", 0)
    rows = [f"2026-01-{i % 28 + 1:02d},{i}" for i in range(20_000)]
    write(tmp_path / "a.csv", "day,spend\n" + "\n".join([*rows, "2026-01-01,1,2"]) + "\n")
    p = config(tmp_path, "  a: {path: a.csv, date: day}", "  s: {source: a, formula: SUM(spend)}")
    sf, err = polars_error(p, "a", "day", "spend")
    found = locate_bad_value(sf, err)
    assert found is not None and found.location.endswith("a.csv:20002")
    assert "3 cells but the header (line 1) has 2" in found.message


def test_not_utf8_beyond_the_sample_says_which_option(tmp_path: Path) -> None:
    # `encoding: utf-8` set: a cp1252 line is an error (detected, it is read line by line:
    # tests/hostile/test_encodings.py)
    rows = [f"2026-01-{i % 28 + 1:02d},campaign {i},{i}" for i in range(12_000)]
    raw = ("day,campaign,spend\n" + "\n".join(rows) + "\n").encode() + "2026-01-01,Été,1\n".encode(
        "cp1252"
    )
    (tmp_path / "a.csv").write_bytes(raw)
    p = config(
        tmp_path,
        "  a: {path: a.csv, date: day, encoding: utf-8}",
        "  s: {source: a, formula: SUM(spend)}",
    )
    sf = scan_source(load_config(p), "a")
    with pytest.raises(pl.exceptions.PolarsError) as info:
        sf.frame.select(pl.col("campaign")).collect()
    found = locate_bad_value(sf, info.value)
    assert found is not None and found.location.endswith("a.csv:12002")
    assert "encoding: cp1252" in found.hint


def test_truncated_last_line(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "day,campaign,spend\n2026-01-01,a,1\n2026-01-02,b")
    p = config(
        tmp_path,
        "  a: {path: a.csv, date: day}",
        "  s: {source: a, formula: SUM(spend)}\n  n: {source: a, formula: COUNT(*)}",
    )
    assert values(p) == {"s": 1, "n": 2}
    (report,) = describe_sources(load_config(p))
    (problem,) = report.problems
    assert problem.code == "warning" and "looks truncated: line 3 has 2 cells" in problem.message
    # cut inside a quoted cell: the read fails and the cause is named
    write(tmp_path / "a.csv", 'day,campaign,spend\n2026-01-01,a,1\n2026-01-02,"b')
    sf, err = polars_error(p, "a", "campaign")
    found = locate_bad_value(sf, err)
    assert found is not None and "ends inside a quoted cell" in found.message
    (report,) = describe_sources(load_config(p))
    assert any("ends inside a quoted cell" in i.message for i in report.problems)


# ---------------------------------------------------------------------------- shapes


def test_duplicate_empty_headers_and_short_rows(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "day,spend,spend,\n2026-01-01,1,10,x\n2026-01-02,2\n")
    p = config(
        tmp_path,
        "  a: {path: a.csv, date: day}",
        "  a: {source: a, formula: SUM(spend)}\n  b: {source: a, formula: SUM(spend_2)}\n"
        "  c: {source: a, formula: COUNT(column_4)}\n  n: {source: a, formula: COUNT(*)}",
    )
    assert values(p) == {"a": 3, "b": 10, "c": 1, "n": 2}


def test_trailing_delimiters_and_a_single_column(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "day,spend\n2026-01-01,1,\n2026-01-02,2,\n")
    write(tmp_path / "b.csv", "email\na@b.c\nd@e.f\na@b.c\n")
    write(tmp_path / "c.csv", "day\tspend\n2026-01-01\t1.5\n", "utf-16-le")  # no BOM
    p = config(
        tmp_path,
        "  a: {path: a.csv, date: day}\n  b: {path: b.csv}\n  c: {path: c.csv, date: day}",
        "  spend: {source: a, formula: SUM(spend)}\n"
        "  emails: {source: b, formula: COUNT(DISTINCT email)}\n"
        "  c: {source: c, formula: SUM(spend)}",
    )
    assert values(p) == {"spend": 3, "emails": 2, "c": 1.5}


def test_headers_kept_verbatim_without_preset(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "Day, Campaign Name ,Impr.\n2026-01-01,x,5\n")
    sf = scan_source(
        load_config(
            config(
                tmp_path,
                "  a: {path: a.csv, date: Day}",
                '  s: {source: a, formula: SUM("Impr.")}',
            )
        ),
        "a",
    )
    assert list(sf.schema) == ["Day", "Campaign Name", "Impr."]


def test_empty_exports(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "day,spend\n")
    write(tmp_path / "b.csv", "day,spend\n2026-01-01,4\n")
    p = config(
        tmp_path,
        "  a: {path: a.csv, date: day}\n  b: {path: b.csv, date: day}",
        "  s: {source: a, formula: SUM(spend)}\n  n: {source: a, formula: COUNT(*)}\n"
        "  t: {source: b, formula: SUM(spend)}",
    )
    assert values(p) == {"s": None, "n": 0, "t": 4}
    (tmp_path / "a.csv").write_bytes(b"")
    with pytest.raises(DataError) as info:
        values(p)
    assert info.value.exit_code == 3 and "a.csv" in info.value.message
    assert "empty" in info.value.message
    report, _ = describe_sources(load_config(p))
    assert report.problems and "empty" in report.problems[0].message


def test_big_file_is_sampled_and_its_footer_found_from_its_end(tmp_path: Path) -> None:
    rows = [
        f'"{date(2025, 1, 1) + timedelta(days=i % 365)}","c{i % 7}","1,{i % 1000:03d}.25"'
        for i in range(30_000)
    ]
    text = (
        '"Report Name: Campaign performance"\n"Rows: 30000"\n\n'
        '"Gregorian date","Campaign","Spend"\n'
        + "\n".join(rows)
        + '\n\n"©2026 Microsoft Corporation. All rights reserved. "\n'
    )
    write(tmp_path / "big.csv", text)
    layout = sniff(tmp_path / "big.csv")
    assert not layout.complete and len(layout.records) < 30_000
    assert layout.footer == ("©2026 Microsoft Corporation. All rights reserved.",)
    p = config(
        tmp_path,
        "  ms: {path: big.csv, preset: microsoft_ads, date: date}",
        "  spend: {source: ms, formula: SUM(spend)}\n  n: {source: ms, formula: COUNT(*)}",
    )
    expected = sum(1000 + (i % 1000) + 0.25 for i in range(30_000))
    assert values(p) == {"spend": pytest.approx(expected, abs=1e-6), "n": 30_000}
    (report,) = describe_sources(load_config(p))
    f = report.files[0]
    assert f.rows_read == 30_000 and f.stated_rows == 30_000 and report.problems == []
    assert sum(f.rows_dropped.values()) == 2  # the blank line and the copyright line


def test_one_lazy_scan_per_file_set(tmp_path: Path) -> None:
    for i in range(3):
        write(tmp_path / f"ads_{i}.csv", f"day,spend\n2026-01-0{i + 1},{i}\n")
    p = config(
        tmp_path, "  a: {path: 'ads_*.csv', date: day}", "  s: {source: a, formula: SUM(spend)}"
    )
    sf = scan_source(load_config(p), "a")
    plan = sf.frame.explain()
    assert plan.count("Csv SCAN") == 1 and "ads_0.csv" in plan
    assert isinstance(sf.frame, pl.LazyFrame)


# ---------------------------------------------------------------------------- one reader


def test_a_memo_passed_in_keeps_layouts_and_nothing_is_kept_without_one(tmp_path: Path) -> None:
    """Layouts are remembered by the caller's ReadMemo, not by the module (issue 12)."""
    from kpicli.ingest.memo import ReadMemo

    f = write(tmp_path / "a.csv", "day,clicks\n2026-01-01,1\n")
    memo = ReadMemo()
    first = sniff(f, memo=memo)
    assert sniff(f, memo=memo) is first
    assert sniff(f) is not first and sniff(f) is not sniff(f)
    assert sniff(f, memo=ReadMemo()) is not first


def test_a_file_marked_mixed_in_a_memo_is_sniffed_again_line_by_line(tmp_path: Path) -> None:
    from kpicli.ingest.detect import MIXED, TAIL_BYTES, mark_mixed
    from kpicli.ingest.memo import ReadMemo

    head = "".join(f"2026-01-01,caf\u00e9 {i},{i}\n" for i in range(SAMPLE_BYTES // 20))
    tail = "".join(f"2026-01-03,caf\u00e9 {i},{i}\n" for i in range(TAIL_BYTES // 10))
    f = tmp_path / "a.csv"
    odd = b"2026-01-02,caf\xe9,2\n"  # past the sample, before the tail: not UTF-8
    f.write_bytes(("day,name,clicks\n" + head).encode() + odd + tail.encode())
    memo = ReadMemo()
    layout = sniff(f, memo=memo)
    assert layout.encoding == "utf-8"  # the sample is UTF-8, the end is read by the scan
    assert mark_mixed(layout, memo) is True
    assert mark_mixed(layout, memo) is False  # known already
    assert sniff(f, memo=memo).encoding == MIXED
    assert sniff(f, memo=ReadMemo()).encoding == "utf-8"  # another memo knows nothing


def test_the_tolerant_reader_returns_its_warnings_instead_of_giving_them(tmp_path: Path) -> None:
    """repair.tolerant_csv says nothing through notices: the caller gives its notes."""
    import dataclasses
    import importlib.util

    from kpicli.ingest.memo import ReadMemo
    from kpicli.ingest.repair import tolerant_csv

    f = write(tmp_path / "a.csv", "day,name,clicks\n2026-01-01,a,1\n2026-01-02,b,2,extra\n")
    layout = dataclasses.replace(sniff(f), tolerant="line 3 has 4 cells")
    memo = ReadMemo()
    assert importlib.util.find_spec("kpicli.ingest.notices") is None  # nowhere else to say
    first = tolerant_csv(layout, memo)
    again = tolerant_csv(layout, memo)
    assert first.fresh and not again.fresh and again.data == first.data
    assert first.notes == (
        f"{f}: line 3 has 4 cells; read with the tolerant reader instead: line 3: 4 cells "
        "where the header has 3: the cell past the header's left out ('extra')",
    )
    assert first.data == b"day,name,clicks\n2026-01-01,a,1\n2026-01-02,b,2\n"


def test_each_record_rule_is_written_once() -> None:
    """The summary-row and comment rules live in ingest/rules.py and every reader uses that
    one; no module of kpicli imports another's private (underscore) names."""
    import ast

    import kpicli
    from kpicli.ingest import detect, diagnose, repair, rules, scan

    for module in (detect, repair, scan, diagnose):
        for name in ("is_summary_row", "is_comment", "summary_of", "header_like"):
            if hasattr(module, name):
                assert getattr(module, name) is getattr(rules, name), (module.__name__, name)
    root = Path(kpicli.__file__).parent
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kpicli"):
                private = [
                    a.name for a in node.names if a.name.startswith("_") and a.name[1] != "_"
                ]
                assert not private, (str(path), node.module, private)
