"""Hostile inputs to the engine: dates at the ends of the calendar, targets asked of rows
they were not set for, groups without rows, names that clash with kpi's own.

Each class of input either gives the right answer (checked by hand or against DuckDB) or
a clear error with SPEC.md's exit code: never a traceback, never exit 70.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kpicli.cli import app, option_word
from kpicli.errors import UsageError
from kpicli.spec.periods import (
    GRAINS,
    KEYWORDS,
    DateRange,
    bucket,
    buckets,
    comparison_range,
    counterpart,
    explicit_period,
    parse_period,
    prorated_target,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "kpi_config.yaml"
runner = CliRunner()


def kpi(*args: str):
    """`kpi ARGS` through the front door (stdout and stderr apart)."""
    return runner.invoke(app, list(args))


# --------------------------------------------------------------------------- the calendar's ends

#: Days near the two ends of the calendar, and anywhere.
edge_days = st.one_of(
    st.dates(max_value=date(3, 12, 31)),
    st.dates(min_value=date(9997, 1, 1)),
    st.dates(),
)
edge_years = st.sampled_from(["0001", "0002", "9998", "9999"])
edge_periods = st.one_of(
    st.sampled_from(KEYWORDS),
    st.from_regex(r"\Alast-\d{1,7}-days\Z"),
    edge_years,
    st.builds("{}-{:02d}".format, edge_years, st.integers(1, 12)),
    st.builds("{}-Q{}".format, edge_years, st.integers(1, 4)),
    st.builds("{}-W{:02d}".format, edge_years, st.integers(1, 53)),
    st.builds(lambda d: d.isoformat(), edge_days),
    st.builds(
        lambda a, b: f"{min(a, b)}..{max(a, b)}",
        st.dates(max_value=date(2, 12, 31)),
        st.dates(max_value=date(2, 12, 31)),
    ),
    st.builds(
        lambda a, b: f"{min(a, b)}..{max(a, b)}",
        st.dates(min_value=date(9998, 1, 1)),
        st.dates(min_value=date(9998, 1, 1)),
    ),
)


def _edges(rng: DateRange) -> list[DateRange]:
    """The first and last 70 days of a range (all of a short one): where buckets are cut."""
    if rng.days <= 140:
        return [rng]
    span = timedelta(days=69)
    return [DateRange(rng.start, rng.start + span), DateRange(rng.end - span, rng.end)]


def lay_out(
    text: str,
    as_of: date,
    week_start: str,
    mode: str,
    grain: str | None,
    date_from: date | None,
    date_to: date | None,
) -> None:
    """Every date computation a report makes of these options (as kpicli.plan.build and
    kpicli.execute.engine make them), with the invariants each result must hold."""
    period = parse_period(text, as_of, week_start)
    if date_from or date_to:
        period = explicit_period(date_from, date_to, as_of, period)
    comparison = comparison_range(period, mode, as_of, week_start)
    if period.range is None:
        return
    if comparison is not None:
        assert comparison.start < period.range.start
    for part in _edges(period.range):
        for b in buckets(part, grain, week_start) if grain else [part]:
            assert period.range.start <= b.start <= b.end <= period.range.end
            if grain:
                assert b.clip(bucket(b.start, grain, week_start)) == b
            if mode != "none":
                c = counterpart(b, mode, grain, as_of=as_of)
                assert c.end < b.start if mode == "previous" else c.start < b.start
            for per in GRAINS:
                whole = prorated_target(1.0, per, b, week_start)
                assert 0 < whole <= b.days
                if b.start <= as_of < b.end:
                    elapsed = prorated_target(1.0, per, DateRange(b.start, as_of), week_start)
                    assert 0 < elapsed <= whole


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edge_periods,
    edge_days,
    st.sampled_from(["monday", "sunday"]),
    st.sampled_from(["none", "previous", "year"]),
    st.sampled_from([None, *GRAINS]),
    st.one_of(st.none(), edge_days),
    st.one_of(st.none(), edge_days),
)
def test_any_period_as_of_comparison_and_grain_are_dates_or_a_usage_error(
    text: str,
    as_of: date,
    week_start: str,
    mode: str,
    grain: str | None,
    date_from: date | None,
    date_to: date | None,
) -> None:
    """Whatever the options, at either end of the calendar: a usage error or ranges that
    hold (buckets inside the period, comparisons before it, targets prorated by days)."""
    try:
        lay_out(text, as_of, week_start, mode, grain, date_from, date_to)
    except UsageError as err:
        assert "--" in err.worded(option_word)[0]  # names the option
        assert "Error" not in err.message


@pytest.fixture(scope="module")
def edge_configs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Rows on the first and last days of the calendar; a weekly goal by channel; Monday
    and Sunday weeks."""
    d = tmp_path_factory.mktemp("edges")
    days = ["0001-01-01", "0001-01-02", "0001-03-01", "9999-12-25", "9999-12-30", "9999-12-31"]
    lines = ["day,channel,n"] + [f"{day},{c},{i}" for i, day in enumerate(days) for c in "ab"]
    (d / "e.csv").write_text("\n".join(lines) + "\n")
    out = {}
    for week_start in ("monday", "sunday"):
        out[week_start] = d / f"{week_start}.yaml"
        out[week_start].write_text(
            f"version: 1\nsettings: {{week_start: {week_start}}}\n"
            "sources:\n  e: {path: e.csv, date: day}\nkpis:\n"
            "  n: {source: e, formula: SUM(n),"
            " target: {value: 7, per: week, by: channel, total: 14}}\n"
            "  rows: {source: e, formula: COUNT(*), target: {value: 30, per: month}}\n"
            "  per_row: {formula: n / rows, target: 2}\n"
        )
    return out


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edge_periods,
    edge_days,
    st.sampled_from(["monday", "sunday"]),
    st.sampled_from(["none", "previous", "year"]),
    st.sampled_from([None, *GRAINS]),
    st.booleans(),
)
@example(  # Sunday weeks of all dates: the first week starts on 0000-12-31
    text="all", as_of=date(3, 1, 1), week_start="sunday", mode="none", grain="week", by=True
)
def test_reports_at_the_ends_of_the_calendar_run_or_are_usage_errors(
    edge_configs: dict[str, Path],
    text: str,
    as_of: date,
    week_start: str,
    mode: str,
    grain: str | None,
    by: bool,
) -> None:
    """The whole report (plan, engine, targets, every renderer) at the calendar's ends."""
    from kpicli import Request, load_config, run_report
    from kpicli.render import FORMATS, render

    cfg = load_config(edge_configs[week_start])
    try:
        period = parse_period(text, as_of, week_start)
    except UsageError:
        return
    if grain and period.range and period.range.days > 400 * {"day": 1}.get(grain, 7):
        return  # thousands of buckets: slow, not an edge
    request = Request(period=text, as_of=as_of, compare=mode, grain=grain,
                      by=("channel",) if by else ())  # fmt: skip
    try:
        result = run_report(cfg, request)
    except UsageError:
        return
    for fmt in FORMATS:
        assert render(result, fmt, width=100)


def test_weeks_at_the_ends_of_the_calendar_are_cut_there() -> None:
    last = date(9999, 12, 31)  # a Friday
    assert bucket(last, "week") == DateRange(date(9999, 12, 27), last)
    assert bucket(date(1, 1, 1), "week", "sunday") == DateRange(date(1, 1, 1), date(1, 1, 6))
    # a weekly goal over the 5 days that exist of the last week: 5/7 of it
    assert prorated_target(70.0, "week", DateRange(date(9999, 12, 27), last)) == 50.0
    with pytest.raises(UsageError, match="falls outside supported dates"):
        parse_period("this-week", last)
    with pytest.raises(UsageError, match="falls outside supported dates"):
        parse_period("9999-W52", last)


EDGE_RUNS = [
    ("-p", "9999"),
    ("--as-of", "9999-12-31", "-p", "this-year"),
    ("-p", "9999", "--compare", "year"),
    ("-p", "9999-12", "--compare", "previous", "-g", "week"),
    ("-p", "9999", "-g", "week", "--compare", "previous"),
    ("--as-of", "9999-12-31", "-p", "last-30-days", "--compare", "previous", "-g", "day"),
    ("-p", "9999-12-31", "-g", "week", "--compare", "previous"),
    ("--from", "0001-01-01", "--to", "0001-03-01", "-g", "week"),
    ("-p", "0001-W01", "--by", "channel"),
]
EDGE_ERRORS = [
    ("-p", "0001", "--compare", "previous"),
    ("-p", "0001", "--compare", "year"),
    ("--from", "0001-01-01", "--compare", "previous"),
    ("-p", "last-year", "--as-of", "0001-06-01"),
    ("-p", "9999-W52"),
    ("--as-of", "9999-12-31", "-p", "this-week"),
    ("-p", "0001-02", "-g", "month", "--compare", "year"),
]


@pytest.mark.parametrize("args", EDGE_RUNS, ids=" ".join)
def test_reports_at_the_ends_of_the_calendar_run(args: tuple[str, ...]) -> None:
    r = kpi(
        "report",
        "-p",
        "all",
        "-c",
        str(CONFIG),
        "-k",
        "leads,spend",
        "--as-of",
        "2026-11-30",
        *args,
    )
    assert r.exit_code == 0, r.stderr


@pytest.mark.parametrize("args", EDGE_ERRORS, ids=" ".join)
def test_reports_past_the_ends_of_the_calendar_are_usage_errors(args: tuple[str, ...]) -> None:
    r = kpi("report", "-p", "all", "-c", str(CONFIG), "-k", "leads", "--as-of", "2026-11-30", *args)
    assert r.exit_code == 2, r.stderr
    assert "falls outside supported dates" in r.stderr or "fall outside" in r.stderr
    assert "hint: kpi counts days from 0001-01-01 to 9999-12-31" in r.stderr


def test_the_last_week_of_the_calendar_gets_its_days_share_of_a_weekly_goal() -> None:
    r = kpi(
        "report", "-c", str(CONFIG), "-k", "leads", "-p", "9999", "-g", "week", "-f", "json",
        "--as-of", "9999-12-30",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    last = json.loads(r.stdout)["rows"][-1]
    assert (last["period_start"], last["period_end"]) == ("9999-12-27", "9999-12-31")
    # the shipped leads goal: 240 a week for the company; 5 of the week's 7 days exist,
    # 4 of them have passed on 30 December
    assert last["target"] == pytest.approx(240 * 5 / 7)
    assert last["expected"] == pytest.approx(240 * 4 / 7)


# --------------------------------------------------------------------------- targets' rows


def report_json(*args: str) -> dict:
    r = kpi("report", "-p", "all", "-c", str(CONFIG), "--as-of", "2026-11-30", "-f", "json", *args)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize(
    "args",
    [
        ("--by", "offer"),
        ("--by", "channel,offer"),
        ("--by", "offer", "-g", "week"),
        ("--by", "landing_page", "--compare", "previous"),
    ],
    ids=" ".join,
)
def test_a_channel_goal_is_no_goal_of_an_offer(args: tuple[str, ...]) -> None:
    """The shipped weekly leads goal is set by channel, with a company total (240 a week):
    split another way, no row is compared with the company's goal, nor a channel × offer
    row with its channel's whole goal; the totals still are."""
    data = report_json("-k", "leads", "-p", "this-month", *args)
    assert data["rows"] and all(r["target"] is None and r["status"] is None for r in data["rows"])
    for total in data["totals"]:
        days = date.fromisoformat(total["period_end"]) - date.fromisoformat(total["period_start"])
        assert total["target"] == pytest.approx(240 * (days.days + 1) / 7)
        assert total["status"] is not None


def test_a_filtered_total_is_not_compared_with_the_company_goal() -> None:
    (row,) = report_json("-k", "leads", "-p", "this-month", "--where", "channel = 'google_ads'")[
        "rows"
    ]
    assert (row["target"], row["status"]) == (None, None)
    # the google_ads row of --by channel is the whole channel: its own goal, 60 a week
    data = report_json(
        "-k", "leads", "-p", "this-month", "--by", "channel", "--where", "channel = 'google_ads'"
    )
    (row,) = data["rows"]
    assert row["target"] == pytest.approx(60 * 30 / 7)
    assert [t["target"] for t in data["totals"]] == [None]


def test_no_false_alarm_from_a_goal_applied_to_the_wrong_rows() -> None:
    """--fail-on bad failed on every offer compared with the company goal."""
    r = kpi(
        "report", "-c", str(CONFIG), "--as-of", "2026-11-30", "-k", "leads", "-p", "this-month",
        "--by", "offer", "--fail-on", "bad", "-f", "csv",
    )  # fmt: skip
    assert r.exit_code == 0, r.stdout + r.stderr


def test_a_rate_target_holds_for_every_slice() -> None:
    """ctr's plain target (a level, 1.4 %) applies to every row, split or filtered."""
    data = report_json("-k", "ctr", "-p", "this-month", "--by", "channel,campaign")
    assert all(r["target"] == 0.014 and r["status"] for r in data["rows"] + data["totals"])
    (row,) = report_json("-k", "ctr", "-p", "this-month", "--where", "channel = 'meta_ads'")["rows"]
    assert row["target"] == 0.014


# --------------------------------------------------------------------------- names that clash

#: A CRM-like export whose columns are named like the fields of kpi's rows.
FIELD_COLUMNS = (
    "status", "value", "target", "kpi", "period_start", "period_end", "change", "total",
    "previous", "pace", "anomaly",
)  # fmt: skip


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 leads over October 2026; each field-named column holds two text values."""
    d = tmp_path_factory.mktemp("crm")
    lines = ["day,n," + ",".join(FIELD_COLUMNS)]
    for i in range(40):
        cells = [f"{c}_{'ab'[i // (j + 1) % 2]}" for j, c in enumerate(FIELD_COLUMNS)]
        lines.append(f"2026-10-{i % 28 + 1:02d},{i % 5}," + ",".join(cells))
    (d / "crm.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (d / "kpi_config.yaml").write_text(
        "version: 1\nsources:\n  crm: {path: crm.csv, date: day}\nkpis:\n"
        "  leads: {source: crm, formula: COUNT(*)}\n"
        "  avg_n: {source: crm, formula: AVG(n), target: 2}\n",
        encoding="utf-8",
    )
    return d


def crm_report(crm: Path, *args: str):
    return kpi("report", "-p", "all", "-c", str(crm / "kpi_config.yaml"), "--as-of", "2026-11-30",
               "-p", "2026-10", *args)  # fmt: skip


def duckdb_counts(crm: Path, column: str) -> dict[str, float]:
    import duckdb

    sql = f'SELECT "{column}", COUNT(*), AVG(n) FROM read_csv(?, all_varchar = true) GROUP BY 1'
    rows = duckdb.execute(
        sql.replace("AVG(n)", "AVG(CAST(n AS DOUBLE))"), [str(crm / "crm.csv")]
    ).fetchall()
    return {k: (c, a) for k, c, a in rows}


@pytest.mark.parametrize("column", FIELD_COLUMNS)
def test_a_dimension_named_like_an_output_field_is_keyed_by_it(crm: Path, column: str) -> None:
    """--by status (a CRM's lead status): the rows carry it as `by_status` beside the KPI's
    own `status`, in JSON and its `dimensions`; the counts are DuckDB's."""
    r = crm_report(crm, "--by", column, "-f", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    key = f"by_{column}"
    assert data["dimensions"] == [key]
    want = duckdb_counts(crm, column)
    assert len(want) == 2
    leads = {row[key]: row["value"] for row in data["rows"] if row["kpi"] == "leads"}
    assert leads == {k: c for k, (c, _) in want.items()}
    for row in data["rows"]:
        assert set(row) == {"kpi", "period_start", "period_end", key, "value", "previous",
                            "change", "change_pct", "target", "expected", "pace", "projected",
                            "status"}  # fmt: skip
        if row["kpi"] == "avg_n":  # the KPI's own fields are the KPI's
            avg = want[row[key]][1]
            assert row["value"] == pytest.approx(avg)
            assert row["target"] == 2 and row["status"] == (
                "ok" if avg >= 2 else "warn" if avg >= 1.8 else "bad"
            )
    assert [t["value"] for t in data["totals"] if t["kpi"] == "leads"] == [40]


def test_a_dimension_named_status_in_every_format(crm: Path, tmp_path: Path) -> None:
    """Machine outputs key it `by_status` (jsonl, csv, parquet, xlsx, --wide); the table,
    markdown and html show the name --by gave, `status`."""
    import openpyxl
    import polars as pl

    def run(*args: str) -> str:
        r = crm_report(crm, "--by", "status", "-k", "leads,avg_n", *args)
        assert r.exit_code == 0, r.stderr
        return r.stdout

    lines = [json.loads(x) for x in run("-f", "jsonl").splitlines()]
    assert {x["by_status"] for x in lines} == {"status_a", "status_b", None}
    assert {x["status"] for x in lines if x["kpi"] == "leads"} == {None}
    assert run("-f", "csv").splitlines()[0].split(",")[:5] == [
        "kpi", "period_start", "period_end", "by_status", "value",
    ]  # fmt: skip
    assert run("-f", "csv", "--wide").splitlines()[0] == (
        "period_start,period_end,by_status,leads,avg_n,avg_n_target,avg_n_status,total"
    )
    for wide in ((), ("--wide",)):
        run("-o", str(tmp_path / "r.parquet"), *wide)
        frame = pl.read_parquet(tmp_path / "r.parquet")
        assert "by_status" in frame.columns and frame.columns.count("status") <= 1
        run("-o", str(tmp_path / "r.xlsx"), *wide)
        header = [c.value for c in openpyxl.load_workbook(tmp_path / "r.xlsx").worksheets[0][1]]
        assert "by_status" in header and header.count("status") <= 1
    table = run("--no-color")
    header = next(line for line in table.splitlines() if line.startswith("KPI"))
    assert header.split()[:3] == ["KPI", "status", "Value"]
    assert "| KPI  " in run("-f", "markdown") and "| status " in run("-f", "markdown")
    assert '<th scope="col">status</th>' in run("-f", "html")


def test_two_dimensions_named_status_and_by_status(crm: Path) -> None:
    (crm / "crm2.csv").write_text(
        "day,status,by_status\n2026-10-01,won,x\n2026-10-02,lost,x\n2026-10-02,won,y\n"
    )
    cfg = crm / "two.yaml"
    cfg.write_text(
        "version: 1\nsources:\n  s: {path: crm2.csv, date: day}\n"
        "kpis:\n  leads: {source: s, formula: COUNT(*)}\n"
    )
    r = kpi("report", "-p", "all", "-c", str(cfg), "--as-of", "2026-11-30", "-p", "2026-10",
            "--by", "status,by_status", "-f", "json")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["dimensions"] == ["by_by_status", "by_status"]
    got = {(x["by_by_status"], x["by_status"]): x["value"] for x in data["rows"]}
    assert got == {("lost", "x"): 1, ("won", "x"): 1, ("won", "y"): 1}


@pytest.mark.parametrize("kpi_name", ["channel", "offer"])
def test_a_kpi_named_like_the_dimension_is_refused(tmp_path: Path, kpi_name: str) -> None:
    """Its numbers would stand in the dimension's column; --wide would write it twice."""
    (tmp_path / "kpi_config.yaml").write_text(
        "version: 1\nsources:\n"
        f"  leads: {{path: {ROOT / 'sample_data' / 'crm_leads.csv'}, date: created_at}}\n"
        "kpis:\n  leads: {source: leads, formula: COUNT(*)}\n"
        f"  {kpi_name}: {{source: leads, formula: COUNT(DISTINCT {kpi_name}), hidden: true}}\n"
        f"  per_{kpi_name}: {{formula: leads / {kpi_name}}}\n",
        encoding="utf-8",
    )
    for kpis in (kpi_name, f"per_{kpi_name}"):  # asked for, or needed by one asked for
        for wide in ((), ("-f", "csv", "--wide")):
            r = kpi("report", "-p", "all", "-c", str(tmp_path / "kpi_config.yaml"), "-k", kpis,
                    "--by", f"{kpi_name},landing_page", *wide)  # fmt: skip
            assert r.exit_code == 2, r.stdout + r.stderr
            assert f"--by {kpi_name}: KPI `{kpi_name}` has the same name" in r.stderr
            assert f"kpis.{kpi_name}" in r.stderr and "hint: rename KPI" in r.stderr
            assert r.stdout == ""


def test_the_date_column_and_kpi_own_names_are_no_dimensions(tmp_path: Path) -> None:
    r = kpi("report", "-p", "all", "-c", str(CONFIG), "-k", "leads,mqls", "--by", "mql_at")
    assert r.exit_code == 2
    assert "--by mql_at: `mql_at` is the date of the rows of source `leads`" in r.stderr
    assert "hint: for one row per day, use --grain day" in r.stderr
    (tmp_path / "u.csv").write_text("day,__range\n2026-10-01,a\n")
    (tmp_path / "kpi_config.yaml").write_text(
        "version: 1\nsources:\n  u: {path: u.csv, date: day}\n"
        "kpis:\n  rows: {source: u, formula: COUNT(*)}\n"
    )
    r = kpi("report", "-p", "all", "-c", str(tmp_path / "kpi_config.yaml"), "--by", "__range")
    assert r.exit_code == 2 and "names starting with `__` are kpi's own" in r.stderr


# --------------------------------------------------------------------------- one rule for names


@pytest.mark.parametrize(
    ("option", "shown", "hint"),
    [
        (("--by", "chanel"), "--by chanel", "did you mean `channel`?"),
        (("--where", "chanel = 'x'"), "--where `chanel = 'x'`", "did you mean `channel`?"),
        (("--by", "zzz"), "--by zzz", "add `zzz` to `leads` with `rename` or `derive`"),
        (("--where", "zzz > 1"), "--where `zzz > 1`", "add `zzz` to `leads` with `rename`"),
        (("--by", "offer", "-k", "cpl"), "--by offer", "its columns are: date, channel,"),
        (("--where", "offer = 'x'", "-k", "cpl"), "--where `offer = 'x'`", "its columns are"),
    ],
)
def test_a_column_the_data_lacks_is_a_data_error_wherever_it_is_named(
    option: tuple[str, ...], shown: str, hint: str
) -> None:
    """SPEC.md's exit 3, "column missing", for --by and --where alike: one message shape
    (the option, the source, the column, the KPIs) and a hint."""
    r = kpi("report", "-p", "all", "-c", str(CONFIG), "-k", "leads", *option)
    assert r.exit_code == 3, r.stderr
    source = "ads" if "cpl" in option else "leads"
    column = shown.split()[1].strip("`") if shown.startswith("--by") else None
    assert r.stderr.startswith(f"data error: {shown}: source `{source}` has no column `")
    if column:
        assert f"has no column `{column}` (used by KPI" in r.stderr
    assert hint in r.stderr
    assert len(r.stderr.strip().splitlines()) == 2


@pytest.mark.parametrize("cache", [False, True])
@pytest.mark.parametrize("dim", ["spend", "n"])
def test_a_column_can_be_grouped_by_and_aggregated(tmp_path: Path, dim: str, cache: bool) -> None:
    """`--by spend` with `SUM(spend)`: SQL's GROUP BY spend, SUM(spend) (the dimension was
    cast to text before the aggregation, which then failed with exit 3)."""
    import duckdb

    data = tmp_path / "d.csv"
    data.write_text(
        "date,ch,spend,n\n2026-11-01,a,10,1\n2026-11-02,a,20,1\n"
        "2026-11-03,b,30,2\n2026-11-04,b,30.5,2\n2026-11-05,b,30.5,3\n"
    )
    cfg = tmp_path / "k.yaml"
    cfg.write_text(
        "version: 1\nsources:\n  s: {path: d.csv, date: date}\nkpis:\n"
        "  spent: {source: s, formula: SUM(spend)}\n  sum_n: {source: s, formula: SUM(n)}\n"
        "  avg_n: {source: s, formula: AVG(n)}\n"
    )
    args = ["report", "-p", "all", "-c", str(cfg), "--as-of", "2026-11-30", "-p", "this-month"]
    args += ["-f", "json", "--by", dim] + (["--cache", str(tmp_path / "c")] if cache else [])
    r = kpi(*args)
    assert r.exit_code == 0, r.stderr
    got = {(row["kpi"], float(row[dim])): row["value"] for row in json.loads(r.stdout)["rows"]}
    want = duckdb.sql(
        f"SELECT {dim}, SUM(spend), SUM(n), AVG(n) FROM read_csv('{data}') GROUP BY {dim}"
    ).fetchall()
    assert len(got) == 3 * len(want)
    for key, total, sum_n, avg_n in want:
        assert got[("spent", float(key))] == pytest.approx(float(total))
        assert got[("sum_n", float(key))] == pytest.approx(float(sum_n))
        assert got[("avg_n", float(key))] == pytest.approx(float(avg_n))
