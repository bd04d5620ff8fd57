"""Dates as vendors write them today, the presets' date columns, US files read as US.

Property tests round-trip generated dates through every supported shape and language
(detection in Python, conversion in Polars); the fixtures of ``tests/data/exports14/dates``
(written by its ``make_fixtures.py``, committed byte for byte) are read end to end with
``kpi report``, their values checked against Python's csv module.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kpicli.cli import app
from kpicli.ingest import values as V

DATA = Path(__file__).parent.parent / "data"
HERE = DATA / "exports14" / "dates"
REAL = DATA / "exports" / "real"
HUBSPOT = "hubspot_contacts_2024.csv"
MAILCHIMP = "mailchimp_campaigns_2023.csv"
GSC_EN = "gsc_dates_en.csv"
GSC_FR = "gsc_dates_fr.csv"
SHA256 = {
    HUBSPOT: "331647c6a3fa50aac1af8760ee7fc75d05d9170fe28cb56ee91458101de57cfc",
    MAILCHIMP: "2036651a77df99088142bc91cf539ae69c32a2f6fbac182f78408a1992fe3d86",
    GSC_EN: "2dd4634a01ffa89fdf439962ca722628ba76ee9bbadf5a8cfb1d0aa80100228a",
    GSC_FR: "9d51b39be390a56f20e3ba618445ab0759b206036b65d486f58ed742c915d178",
}
runner = CliRunner()


def kpi(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.output


def parse_all(cells: list[str], guess: V.DateGuess, tz: str | None = None) -> list[date | None]:
    """The cells as Polars converts them with the guessed shape and format."""
    assert guess.fmt is not None
    expr = V.date_expr(pl.col("a"), guess.shape.in_zone(tz), guess.fmt).alias("a")
    return pl.DataFrame({"a": cells}, schema={"a": pl.String}).select(expr)["a"].to_list()


# ---------------------------------------------------------------------------- languages

#: month names as each language writes them in full, then abbreviated (as vendors do)
NAMES = {
    "en": (
        [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ],
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    ),
    "fr": (
        [
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ],
        [
            "janv.",
            "févr.",
            "mars",
            "avr.",
            "mai",
            "juin",
            "juil.",
            "août",
            "sept.",
            "oct.",
            "nov.",
            "déc.",
        ],
    ),
    "de": (
        [
            "Januar",
            "Februar",
            "März",
            "April",
            "Mai",
            "Juni",
            "Juli",
            "August",
            "September",
            "Oktober",
            "November",
            "Dezember",
        ],
        [
            "Jan.",
            "Feb.",
            "März",
            "Apr.",
            "Mai",
            "Juni",
            "Juli",
            "Aug.",
            "Sept.",
            "Okt.",
            "Nov.",
            "Dez.",
        ],
    ),
    "es": (
        [
            "enero",
            "febrero",
            "marzo",
            "abril",
            "mayo",
            "junio",
            "julio",
            "agosto",
            "septiembre",
            "octubre",
            "noviembre",
            "diciembre",
        ],
        [
            "ene.",
            "feb.",
            "mar.",
            "abr.",
            "may.",
            "jun.",
            "jul.",
            "ago.",
            "sept.",
            "oct.",
            "nov.",
            "dic.",
        ],
    ),
    "it": (
        [
            "gennaio",
            "febbraio",
            "marzo",
            "aprile",
            "maggio",
            "giugno",
            "luglio",
            "agosto",
            "settembre",
            "ottobre",
            "novembre",
            "dicembre",
        ],
        ["gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic"],
    ),
    "pt": (
        [
            "janeiro",
            "fevereiro",
            "março",
            "abril",
            "maio",
            "junho",
            "julho",
            "agosto",
            "setembro",
            "outubro",
            "novembro",
            "dezembro",
        ],
        [
            "jan.",
            "fev.",
            "mar.",
            "abr.",
            "mai.",
            "jun.",
            "jul.",
            "ago.",
            "set.",
            "out.",
            "nov.",
            "dez.",
        ],
    ),
}


def written(d: date, lang: str, short: bool, hour: int, minute: int) -> str:
    """``d`` as a user interface in ``lang`` writes it (a time after it in some)."""
    month = NAMES[lang][1 if short else 0][d.month - 1]
    twelve = f"{hour % 12 or 12:02d}:{minute:02d} {'am' if hour < 12 else 'pm'}"
    if lang == "en":
        return f"{month} {d.day:02d}, {d.year} {twelve}" if short else f"{d.day} {month} {d.year}"
    if lang == "fr":
        return f"{'1er' if d.day == 1 and not short else d.day} {month} {d.year}"
    if lang == "de":
        return f"{d.day}. {month} {d.year}" + (f" {hour:02d}:{minute:02d}" if short else "")
    if lang in ("es", "pt"):
        return f"{d.day} de {month} de {d.year}"
    return f"{d.day} {month} {d.year}"


days = st.dates(min_value=date(1970, 1, 1), max_value=date(2068, 12, 31))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dates=st.lists(days, min_size=1, max_size=8),
    lang=st.sampled_from(sorted(NAMES)),
    short=st.booleans(),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
)
def test_month_names_round_trip(
    dates: list[date], lang: str, short: bool, hour: int, minute: int
) -> None:
    cells = [written(d, lang, short, hour, minute) for d in dates]
    guess = V.detect_date(cells)
    assert guess is not None and not guess.ambiguous, cells
    for cell, d in zip(cells, dates, strict=True):
        m = V.re.match(guess.shape.regex, cell)
        assert m is not None and guess.shape.parse(m.group(1), guess.fmt or "") == d, cell
    assert parse_all(cells, guess) == dates
    assert V.classify(cells).name == "date"


@pytest.mark.parametrize(
    ("cell", "day"),
    [
        ("1 janv. 2026", date(2026, 1, 1)),
        ("12 déc. 2025", date(2025, 12, 12)),
        ("3. März 2026", date(2026, 3, 3)),
        ("15 de marzo de 2026", date(2026, 3, 15)),
        ("15 de março de 2026", date(2026, 3, 15)),
        ("7 agosto 2026", date(2026, 8, 7)),
        ("1er avril 2026", date(2026, 4, 1)),
        ("Jun 01, 2023 09:46 pm", date(2023, 6, 1)),
        ("27-Jan-26", date(2026, 1, 27)),
        ("2/5/24 1:51", None),  # one cell: day and month cannot be told apart
    ],
)
def test_the_cells_of_the_issue(cell: str, day: date | None) -> None:
    guess = V.detect_date([cell])
    assert guess is not None
    if day is None:
        assert guess.ambiguous and guess.candidates == ("%d/%m/%y", "%m/%d/%y")
        return
    assert parse_all([cell], guess) == [day]
    assert V.parse_date_text(cell) == day


def test_a_bad_month_or_day_is_no_date() -> None:
    assert V.detect_date(["31 févr. 2026"]) is None
    assert V.detect_date(["3 Brumaire 2026"]) is None
    assert V.detect_date(["3 de Lune de 2026"]) is None


def test_a_bad_cell_past_the_sample_fails_with_its_text() -> None:
    guess = V.detect_date(["1 janv. 2026"])
    assert guess is not None
    with pytest.raises(pl.exceptions.InvalidOperationError, match="3 Brumaire 2026"):
        parse_all(["1 janv. 2026", "3 Brumaire 2026"], guess)


# ---------------------------------------------------------------------------- numeric shapes

NUMERIC = {
    "%Y-%m-%d": lambda d, t: d.isoformat(),
    "%Y-%m-%d %H:%M": lambda d, t: f"{d.isoformat()} {t:%H:%M}",
    "%m/%d/%Y": lambda d, t: f"{d.month}/{d.day}/{d.year}",
    "%d/%m/%Y": lambda d, t: f"{d.day:02d}/{d.month:02d}/{d.year}",
    "%m/%d/%y": lambda d, t: f"{d.month}/{d.day}/{d:%y} {t.hour}:{t:%M}",  # HubSpot 2024
    "%d.%m.%Y": lambda d, t: f"{d:%d.%m.%Y}",
    "%Y%m%d": lambda d, t: f"{d:%Y%m%d}",
}
DAY_FIRST = {"%d/%m/%Y": "%m/%d/%Y", "%d.%m.%Y": "%m.%d.%Y"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dates=st.lists(days, min_size=1, max_size=10),
    fmt=st.sampled_from(sorted(NUMERIC)),
    clock=st.times(),
    anchor=st.integers(13, 28),
)
def test_numeric_dates_round_trip(dates: list[date], fmt: str, clock: object, anchor: int) -> None:
    # one date whose day is over 12 tells day/month from month/day, as in any real export
    dates = [*dates, date(2026, 1, anchor)]
    cells = [NUMERIC[fmt](d, clock) for d in dates]
    guess = V.detect_date(cells)
    assert guess is not None and guess.fmt is not None
    if fmt == "%Y-%m-%d %H:%M":
        assert guess.fmt == "%Y-%m-%d"
    elif fmt in ("%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%m/%d/%y", "%Y%m%d", "%Y-%m-%d"):
        assert guess.fmt == fmt
    assert parse_all(cells, guess) == dates


@settings(max_examples=40, deadline=None)
@given(dates=st.lists(st.dates(date(2000, 1, 1), date(2040, 12, 31)), min_size=1, max_size=8))
def test_day_month_ambiguous_when_every_day_is_12_or_less(dates: list[date]) -> None:
    dates = [d.replace(day=min(d.day, 12)) for d in dates]
    cells = [f"{d:%d/%m/%Y}" for d in dates]
    guess = V.detect_date(cells)
    assert guess is not None
    if all(d.day == d.month for d in dates):  # reads the same both ways
        assert guess.ambiguous or guess.fmt in ("%d/%m/%Y", "%m/%d/%Y")
    else:
        assert guess.ambiguous and guess.candidates == ("%d/%m/%Y", "%m/%d/%Y")


ZONES = ["Z", "+00:00", "+01:00", "-05:00", "+0530", "+09", "-03:30"]


@settings(max_examples=60, deadline=None)
@given(
    stamps=st.lists(st.datetimes(datetime(1990, 1, 1), datetime(2060, 12, 31)), min_size=1),
    zone=st.sampled_from(ZONES),
    tz=st.sampled_from([None, "UTC", "Europe/Paris", "America/Los_Angeles", "Asia/Tokyo"]),
    seconds=st.booleans(),
)
def test_zoned_date_times_count_by_their_date_in_the_time_zone(
    stamps: list[datetime], zone: str, tz: str | None, seconds: bool
) -> None:
    sep = "T" if seconds else " "
    clock = "%H:%M:%S" if seconds else "%H:%M"
    cells = [f"{s.strftime('%Y-%m-%d')}{sep}{s.strftime(clock)}{zone}" for s in stamps]
    guess = V.detect_date(cells)
    assert guess is not None and guess.shape.zoned
    offset = zone if zone != "Z" else "+00:00"
    if len(offset) == 3:
        offset += ":00"
    elif ":" not in offset:
        offset = offset[:3] + ":" + offset[3:]
    want = [
        datetime.fromisoformat(c[:10] + "T" + c[11 : 11 + len(s.strftime(clock))] + offset)
        .astimezone(ZoneInfo(tz or "UTC"))
        .date()
        for c, s in zip(cells, stamps, strict=True)
    ]
    assert parse_all(cells, guess, tz) == want


def test_a_zone_moves_the_day() -> None:
    guess = V.detect_date(["2026-03-01T00:30:00+01:00", "2026-03-01T14:05:00Z"])
    assert guess is not None
    cells = ["2026-03-01T00:30:00+01:00", "2026-03-01T14:05:00Z", "n/a"]
    assert parse_all(cells, guess) == [date(2026, 2, 28), date(2026, 3, 1), None]
    assert parse_all(cells, guess, "Asia/Tokyo") == [date(2026, 3, 1), date(2026, 3, 1), None]


# ---------------------------------------------------------------------------- durations


@settings(max_examples=80, deadline=None)
@given(seconds=st.lists(st.integers(0, 99 * 3600), min_size=1, max_size=10), long=st.booleans())
def test_durations_round_trip(seconds: list[int], long: bool) -> None:
    def text(n: int) -> str:
        h, rest = divmod(n, 3600)
        m, s = divmod(rest, 60)
        return f"{h:02d}:{m:02d}:{s:02d}" if long or h else f"{m}:{s:02d}"

    cells = [text(n) for n in seconds]
    assert all(V.parse_duration(c) == n for c, n in zip(cells, seconds, strict=True))
    kind = V.typed(V.classify(cells), "duration", cells)
    assert kind.name == "duration"
    got = pl.DataFrame({"a": cells}).select(V.duration_expr(pl.col("a")).alias("a"))["a"].to_list()
    assert got == [float(n) for n in seconds]


def test_durations_only_where_the_preset_says() -> None:
    cells = ["1:40", "00:01:40", "1:02:03", "n/a"]
    assert V.classify(cells).name == "text"
    assert V.typed(V.classify(cells), None, cells).name == "text"
    assert [V.parse_duration(c) for c in cells] == [100, 100, 3723, None]
    assert V.typed(V.classify(["12.5", "3"]), "duration", ["12.5", "3"]).name == "float"


def test_plain_percents_read_as_fractions_where_the_preset_says() -> None:
    cells = ["30.65", "7.19", "0"]
    kind = V.typed(V.classify(cells), "percent_points", cells)
    assert kind.scale == 0.01 and kind.dtype == pl.Float64()
    expr = V.convert_expr(pl.col("a"), kind, ".")
    assert expr is not None
    got = pl.DataFrame({"a": cells}).select(expr.alias("a"))["a"].to_list()
    assert got == pytest.approx([0.3065, 0.0719, 0.0])
    with_sign = ["3.5%", "12%"]  # already percents: as they are
    assert V.typed(V.classify(with_sign), "percent_points", with_sign).scale == 1


# ---------------------------------------------------------------------------- separators


def test_phone_numbers_zip_codes_and_dates_do_not_vote_on_the_decimal_separator() -> None:
    rows = [
        ["(407) 261-8908", "32801", "2/5/24 1:51", "+1 415.555.0199", "1,250.00", "12.03.2024"],
        ["(212) 555-0134", "02139", "2/13/24 14:20", "+1 212.555.0101", "980.50", "13.03.2024"],
        ["415.555.0199", "32801-1234", "3/1/24 9:00", "+44 20 7946 0958", "12,000.00", "x"],
    ]
    cells = V.numeric_cells(rows)
    assert cells == ["1,250.00", "980.50", "12,000.00"]
    assert V.detect_separators(cells) == V.Separators(".", ",")
    # a European column still decides when it is a column of numbers
    rows = [["1.234,50", "(407) 261-8908"], ["12,5", "(212) 555-0134"]]
    assert V.detect_separators(V.numeric_cells(rows)).decimal == ","


# ---------------------------------------------------------------------------- fixtures


def raw(file: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO((HERE / file).read_bytes().decode("utf-8"), newline="")))
    return rows[0], rows[1:]


@pytest.mark.parametrize("file", sorted(SHA256))
def test_fixtures_are_byte_for_byte(file: str) -> None:
    data = (HERE / file).read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHA256[file]
    if file == HUBSPOT:
        assert data.startswith(b'"Record ID","First Name"') and b"\r\n" not in data
        assert b'"(' in data and b'"+1 ' in data and b"-" in data
    if file == MAILCHIMP:
        assert b"\r\n" in data and b", 2023 " in data and (b" pm" in data or b" am" in data)
    if file.startswith("gsc"):
        assert not data.endswith(b"\n")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding the fixtures, as downloaded, and a config with presets, no `date:`."""
    for f in SHA256:
        (tmp_path / f).write_bytes((HERE / f).read_bytes())
    (tmp_path / "kpi_config.yaml").write_text(
        "version: 1\n"
        "sources:\n"
        f"  contacts: {{path: {HUBSPOT}, preset: hubspot_contacts}}\n"
        f"  mc: {{path: {MAILCHIMP}, preset: mailchimp}}\n"
        f"  gsc_en: {{path: {GSC_EN}, preset: search_console}}\n"
        f"  gsc_fr: {{path: {GSC_FR}, preset: search_console}}\n"
        "kpis:\n"
        "  leads: {source: contacts, formula: COUNT(*)}\n"
        "  deal_amount: {source: contacts, formula: SUM(amount_of_last_deal)}\n"
        "  recipients: {source: mc, formula: SUM(recipients)}\n"
        "  opens: {source: mc, formula: SUM(opens)}\n"
        "  open_rate_sum: {source: mc, formula: SUM(open_rate)}\n"
        "  clicks_en: {source: gsc_en, formula: SUM(clicks)}\n"
        "  clicks_fr: {source: gsc_fr, formula: SUM(clicks)}\n"
        "  impressions_fr: {source: gsc_fr, formula: SUM(impressions)}\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def report(*args: str) -> dict[tuple[str, str], float | None]:
    code, out = kpi("report", "--as-of", "2026-12-31", "-f", "json", *args)
    assert code == 0, out
    rows = json.loads(out)["rows"]
    return {(r["kpi"], r.get("period_start") or ""): r["value"] for r in rows}


def money(cell: str) -> float:
    return float(cell.replace(",", "")) if cell else 0.0


def hubspot_day(cell: str) -> date:
    """``2/5/24 1:51`` the plain way: month, day, two-digit year."""
    m, d, y = cell.split()[0].split("/")
    return date(2000 + int(y), int(m), int(d))


def test_hubspot_contacts_2024_by_month(folder: Path) -> None:
    header, rows = raw(HUBSPOT)
    col = {h: i for i, h in enumerate(header)}
    by_month: dict[str, list[list[str]]] = defaultdict(list)
    for r in rows:
        by_month[hubspot_day(r[col["Create Date"]]).strftime("%Y-%m-01")].append(r)
    got = report("--period", "2024", "--grain", "month", "-k", "leads,deal_amount")
    for month in ("2024-01-01", "2024-02-01", "2024-03-01"):
        assert got[("leads", month)] == len(by_month[month])
        want = sum(money(r[col["Amount of last deal"]]) for r in by_month[month])
        assert got[("deal_amount", month)] == pytest.approx(want), month
    assert sum(len(v) for v in by_month.values()) == len(rows) == 48


def test_hubspot_contacts_2024_by_week(folder: Path) -> None:
    header, rows = raw(HUBSPOT)
    col = {h: i for i, h in enumerate(header)}
    got = report("--period", "2024-02", "--grain", "week", "-k", "leads")
    assert len(got) == 5  # Feb 2024: the weeks of Jan 29, Feb 5, 12, 19 and 26
    assert sum(v or 0 for v in got.values()) == sum(
        1 for r in rows if hubspot_day(r[col["Create Date"]]).month == 2
    )
    weeks: dict[str, int] = defaultdict(int)
    for r in rows:
        d = hubspot_day(r[col["Create Date"]])
        if d.year == 2024 and d.month == 2:
            weeks[(d - timedelta(days=d.weekday())).isoformat()] += 1
    for (name, start), value in got.items():
        first = max(date.fromisoformat(start), date(2024, 2, 1)).isoformat()
        monday = date.fromisoformat(first) - timedelta(days=date.fromisoformat(first).weekday())
        assert name == "leads" and value == weeks.get(monday.isoformat(), 0), start


def mailchimp_day(cell: str) -> date:
    return datetime.strptime(cell[:12], "%b %d, %Y").date()


def test_mailchimp_2023_by_month_with_rates_as_fractions(folder: Path) -> None:
    header, rows = raw(MAILCHIMP)
    col = {h: i for i, h in enumerate(header)}
    got = report("--period", "2023", "--grain", "month", "-k", "recipients,opens,open_rate_sum")
    months: dict[str, list[list[str]]] = defaultdict(list)
    for r in rows:
        months[mailchimp_day(r[col["Send Date"]]).strftime("%Y-%m-01")].append(r)
    assert set(months) == {"2023-05-01", "2023-06-01", "2023-07-01", "2023-08-01"}
    for month, rs in months.items():
        assert got[("recipients", month)] == sum(int(r[col["Total Recipients"]]) for r in rs)
        assert got[("opens", month)] == sum(int(r[col["Unique Opens"]]) for r in rs)
        rates = sum(float(r[col["Open Rate"]]) / 100 for r in rs)
        assert got[("open_rate_sum", month)] == pytest.approx(rates), month
        assert 0 < got[("open_rate_sum", month)] < len(rs)  # fractions, not 30.65


@pytest.mark.parametrize(("file", "kpi_name"), [(GSC_EN, "clicks_en"), (GSC_FR, "clicks_fr")])
def test_search_console_dates_by_week(folder: Path, file: str, kpi_name: str) -> None:
    header, rows = raw(file)
    assert header[0] == "Date"
    got = report("--from", "2026-02-02", "--to", "2026-03-01", "--grain", "week", "-k", kpi_name)
    weeks: dict[str, int] = defaultdict(int)
    for r in rows:
        d = date.fromisoformat(r[0])
        if date(2026, 2, 2) <= d <= date(2026, 3, 1):
            weeks[(d - timedelta(days=d.weekday())).isoformat()] += int(r[1])
    assert {start: v for (_, start), v in got.items()} == weeks
    assert len(weeks) == 4


def test_kpi_sources_shows_the_date_columns_and_formats(folder: Path) -> None:
    code, out = kpi("sources", "-f", "json")
    assert code == 0, out
    found = {s["name"]: s for s in json.loads(out)["sources"]}
    dates = {
        n: (s["date"]["column"], s["date"]["format"], s["date"]["from_preset"])
        for n, s in found.items()
    }
    assert dates == {
        "contacts": ("created_at", "%m/%d/%y", True),
        "mc": ("date", "%B %d, %Y", True),
        "gsc_en": ("date", "%Y-%m-%d", True),
        "gsc_fr": ("date", "%Y-%m-%d", True),
    }
    assert found["contacts"]["date"]["first"] == min(
        hubspot_day(r[12]).isoformat() for r in raw(HUBSPOT)[1]
    )
    contacts = found["contacts"]["files"][0]
    assert (contacts["decimal"], contacts["thousands"]) == (".", ",")
    kinds = {c["name"]: c["kind"] for c in found["mc"]["columns"]}
    assert kinds["open_rate"] == kinds["click_rate"] == "percent (written 23.5 for 23.5 %)"
    code, out = kpi("sources", "contacts")
    assert code == 0 and "dates written %m/%d/%y; date column from the preset" in out
    assert "decimal dot" in out


def test_an_explicit_date_wins_and_a_file_without_the_column_stays_undated(
    folder: Path,
) -> None:
    (folder / "Queries.csv").write_bytes(
        (REAL / "gsc_queries__DanielTheC_internal-lnking-tool.csv").read_bytes()
    )
    (folder / "kpi_config.yaml").write_text(
        "version: 1\n"
        "sources:\n"
        f"  contacts: {{path: {HUBSPOT}, preset: hubspot_contacts, date: last_activity_date}}\n"
        "  queries: {path: Queries.csv, preset: search_console}\n"
        "kpis:\n"
        "  leads: {source: contacts, formula: COUNT(*)}\n"
        "  clicks: {source: queries, formula: SUM(clicks)}\n",
        encoding="utf-8",
    )
    code, out = kpi("sources", "-f", "json")
    found = {s["name"]: s["date"] for s in json.loads(out)["sources"]}
    assert found["contacts"]["column"] == "last_activity_date"
    assert found["contacts"]["from_preset"] is False
    assert found["queries"]["column"] is None
    code, out = kpi("report", "--period", "2026-01", "--as-of", "2026-12-31", "-k", "clicks")
    assert code == 2 and "has no date column" in out


def test_ambiguous_day_month_is_reported_with_the_option_to_set(folder: Path) -> None:
    (folder / "eu.csv").write_bytes(b"Day,Cost\r\n01/02/2026,1.5\r\n03/02/2026,2\r\n")
    (folder / "kpi_config.yaml").write_text(
        "version: 1\nsources:\n  ads: {path: eu.csv, preset: google_ads}\n"
        "kpis:\n  spend: {source: ads, formula: SUM(spend)}\n",
        encoding="utf-8",
    )
    code, out = kpi("report", "--period", "2026-02", "--as-of", "2026-12-31")
    assert code == 3
    assert "day/month or month/day" in out and 'date_format: "%d/%m/%Y"' in out
    (folder / "eu.csv").write_bytes(b"Day,Cost\r\n01/02/2026,1.5\r\n13/02/2026,2\r\n")
    code, out = kpi("report", "--period", "2026-02", "--as-of", "2026-12-31", "-f", "json")
    assert code == 0 and json.loads(out)["rows"][0]["value"] == 3.5


def test_settings_timezone_moves_zoned_rows_to_their_local_day(folder: Path) -> None:
    (folder / "events.csv").write_bytes(
        b"when,n\n2026-03-01T02:00:00Z,1\n2026-03-01T14:05:00+00:00,10\n2026-02-28T23:30:00-05:00,100\n"
    )
    base = (
        "sources:\n  ev: {path: events.csv, date: when}\n"
        "kpis:\n  n: {source: ev, formula: SUM(n)}\n"
    )
    for tz, march in [(None, 111), ("America/New_York", 10), ("Asia/Tokyo", 111)]:
        zone = f"settings: {{timezone: {tz}}}\n" if tz else ""
        (folder / "kpi_config.yaml").write_text(f"version: 1\n{zone}{base}", encoding="utf-8")
        for cache in ([], ["--cache", "cache"], ["--cache", "cache"]):  # filled, then hit
            code, out = kpi(
                "report", "--period", "2026-03-01", "--as-of", "2026-12-31", "-f", "json", *cache
            )
            assert code == 0, out
            assert json.loads(out)["rows"][0]["value"] == march, (tz, cache)
    (folder / "kpi_config.yaml").write_text(
        f"version: 1\nsettings: {{timezone: Mars/Olympus}}\n{base}", encoding="utf-8"
    )
    code, out = kpi("report", "--period", "all")
    assert code == 2 and "unknown time zone `Mars/Olympus`" in out


def test_real_mailchimp_durations_and_rates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "mailchimp_campaigns.csv"
    file.write_bytes(
        (REAL / "mailchimp_campaigns__jamestthompson3_mailchimp_data.csv").read_bytes()
    )
    (tmp_path / "kpi_config.yaml").write_text(
        "version: 1\nsources:\n"
        "  mc: {path: mailchimp_campaigns.csv, preset: mailchimp}\n"
        "kpis:\n"
        "  time: {source: mc, formula: SUM(time_on_site)}\n"
        "  timed: {source: mc, formula: COUNT(time_on_site)}\n"
        "  open_rate: {source: mc, formula: AVG(open_rate)}\n"
        "  bounce_rate: {source: mc, formula: AVG(bounce_rate)}\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    rows = list(csv.reader(io.StringIO(file.read_text(encoding="utf-8"), newline="")))
    col = {h: i for i, h in enumerate(rows[0])}
    times = [r[col["Time_on_Site"]] for r in rows[1:] if r[col["Time_on_Site"]] != "n/a"]
    seconds = sum(int(t.split(":")[0]) * 60 + int(t.split(":")[1]) for t in times)
    opens = [float(r[col["Open_Rate"]]) / 100 for r in rows[1:]]
    bounces = [
        float(r[col["Bounce_Rate"]]) / 100 for r in rows[1:] if r[col["Bounce_Rate"]] != "n/a"
    ]
    got = {name: v for (name, _), v in report("--period", "all").items()}
    assert got["time"] == seconds == 146
    assert got["timed"] == len(times) == 5
    assert got["open_rate"] == pytest.approx(sum(opens) / len(opens))
    assert got["bounce_rate"] == pytest.approx(sum(bounces) / len(bounces))
    # the real export is dated by its preset too
    code, out = kpi("report", "--period", "2017-03", "--as-of", "2026-12-31", "-k", "timed")
    assert code == 0, out


def test_ga4_durations_as_seconds_and_a_bad_one_located(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = ["Date,Sessions,Average engagement time per session"]
    lines += [f"2026-01-{d % 28 + 1:02d},{d},{d % 3}:{d % 60:02d}" for d in range(5990)]
    lines += ["2026-01-02,7,00:01:40", "2026-01-03,8,1:02:03", "2026-01-04,9,n/a"]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    (tmp_path / "ga4.csv").write_bytes(data)
    (tmp_path / "kpi_config.yaml").write_text(
        "version: 1\nsources:\n  ga: {path: ga4.csv, preset: ga4}\n"
        "kpis:\n  t: {source: ga, formula: SUM(engagement_time)}\n"
        "  timed: {source: ga, formula: COUNT(engagement_time)}\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))[1:]
    seconds = 0
    for r in rows:
        if r[2] != "n/a":
            *h, m, s = (int(x) for x in r[2].split(":"))
            seconds += (h[0] if h else 0) * 3600 + m * 60 + s
    got = {name: v for (name, _), v in report("--period", "2026-01").items()}
    assert got == {"t": seconds, "timed": len(rows) - 1}
    (tmp_path / "ga4.csv").write_bytes(data + b"2026-01-05,1,soon\n")
    code, out = kpi("report", "--period", "2026-01", "--as-of", "2026-12-31")
    assert code == 3
    assert "ga4.csv:5995" in out and "`soon` is not a duration" in out
