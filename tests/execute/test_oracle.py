"""Every KPI checked against DuckDB SQL written by hand (an independent oracle).

The rule: an expected value is never kpi's own output pasted back. It is computed by DuckDB
over the same CSV files, with SQL written here from the KPI's *meaning* (its description in
``kpi_config.yaml`` and SPEC.md), not generated from the config's formula strings.

Semantics the oracle encodes (SPEC.md):

- a KPI counts the rows of its source dated (on the KPI's date column) in the period and not
  after ``as_of``; ``--where`` is a predicate on the rows of every source used;
- SQL aggregate semantics: ``COUNT`` of no rows is 0, ``SUM``/``AVG``/``MEDIAN`` of no rows
  (or of nulls only) is NULL;
- a KPI's ``filter`` applies to that KPI's aggregates only (``FILTER (WHERE …)``), so a group
  of the source without a matching row counts 0 rather than disappearing;
- a derived KPI joins its parts (full outer) on the requested keys: a part missing from one
  side (a channel with ad spend and no leads) is that part's aggregate over no rows (COUNT 0,
  SUM NULL), and the KPI is computed from it;
- with --by, the rows are the groups that have rows in any source of the report: a KPI of
  another source is its aggregate over no rows there (so in a report of several KPIs, a
  group the KPI's own sources lack has the KPI's value over no rows);
- without --by, a report has a row for every bucket of the period up to as_of, each the KPI
  over that bucket's rows (an empty one gets SQL's values over no rows); a running bucket keeps
  its calendar bounds, clipped to the period;
- division by zero is NULL (written ``NULLIF(d, 0)``: DuckDB 2.0's own ``/`` returns ``inf``);
- money is read as ``DECIMAL(18,2)`` so that sums are exact to the cent.

Values match when ``abs(kpi - duckdb) <= 1e-9 * max(1, abs(duckdb))``; nulls match nulls.

Every case runs once per engine of the aggregation step (``--engine``: :data:`ENGINES`,
parametrised by the ``engine`` fixture); the cases of the Parquet cache and of the Polars
queries' shape, which only the Polars engine has, are marked ``engines("polars")``.
"""

from __future__ import annotations

import math
import random
import tempfile
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kpicli import Request, load_config, run_report

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "kpi_config.yaml"
DATA = ROOT / "sample_data"
AS_OF = date(2026, 11, 15)
OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))
YEAR_2026 = (date(2026, 1, 1), date(2026, 12, 31))
ALL = (None, None)

Value = float | None


# --- the oracle's vocabulary ---------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What a report covers, spelled out for SQL: period, as_of, --where, grain and --by."""

    start: date | None = None
    end: date | None = None
    as_of: date = AS_OF
    where: str | None = None
    grain: str | None = None
    dims: tuple[str, ...] = ()
    week_start: str = "monday"

    @property
    def keys(self) -> list[str]:
        return (["period_start", "period_end"] if self.grain else []) + list(self.dims)

    def rows(self, date_col: str) -> str:
        """WHERE clause: rows dated (on ``date_col``) in the period, not after as_of."""
        conds = [f"{date_col} <= DATE '{self.as_of}'"]
        if self.start is not None:
            conds.append(f"{date_col} BETWEEN DATE '{self.start}' AND DATE '{self.end}'")
        if self.where:
            conds.append(f"({self.where})")
        return " AND ".join(conds)

    def _key_exprs(self, date_col: str) -> list[str]:
        out = []
        if self.grain:
            assert self.start is not None, "grain tests use an explicit period"
            bucket = f"date_trunc('{self.grain}', {date_col})::DATE"
            if self.grain == "week" and self.week_start == "sunday":  # DuckDB weeks are ISO
                bucket = f"(date_trunc('week', {date_col} + INTERVAL 1 day) - INTERVAL 1 day)::DATE"
            bucket_end = f"(({bucket}) + INTERVAL 1 {self.grain} - INTERVAL 1 day)::DATE"
            out.append(f"GREATEST({bucket}, DATE '{self.start}') AS period_start")
            # A running bucket keeps its calendar bounds (clipped to the period only).
            out.append(f"LEAST({bucket_end}, DATE '{self.end}') AS period_end")
        out += [f"{d}::VARCHAR AS {d}" for d in self.dims]
        return out

    def agg(self, table: str, date_col: str, expr: str) -> str:
        """``SELECT keys…, expr AS v FROM table WHERE <in scope> GROUP BY keys``."""
        keys = self._key_exprs(date_col)
        sql = f"SELECT {', '.join([*keys, f'({expr}) AS v'])} FROM {table}"
        sql += f" WHERE {self.rows(date_col)}"
        if keys:
            sql += " GROUP BY " + ", ".join(str(i + 1) for i in range(len(keys)))
        return sql

    def join(self, parts: dict[str, tuple[str, str, str]], expr: str) -> str:
        """Full outer join of per-source aggregates on the keys; ``{name}`` in expr is a part.

        Each part is ``(table, date column, aggregate)``; where a group has no row of a part,
        the part is its aggregate over no rows (``SELECT aggregate FROM table WHERE FALSE``).
        """
        sqls = {name: self.agg(*part) for name, part in parts.items()}
        ctes = ", ".join(f"p_{name} AS ({sql})" for name, sql in sqls.items())
        names = [f"p_{name}" for name in parts]
        value = expr.format(
            **{
                name: f"COALESCE(p_{name}.v, (SELECT {agg} FROM {table} WHERE FALSE))"
                for name, (table, _, agg) in parts.items()
            }
        )
        if not self.keys:
            return f"WITH {ctes} SELECT {value} AS v FROM {' CROSS JOIN '.join(names)}"
        key = {k: f"{names[0]}.{k}" for k in self.keys}
        source = names[0]
        for n in names[1:]:
            on = " AND ".join(f"{key[k]} IS NOT DISTINCT FROM {n}.{k}" for k in self.keys)
            source += f" FULL OUTER JOIN {n} ON {on}"
            key = {k: f"COALESCE({key[k]}, {n}.{k})" for k in self.keys}
        select = ", ".join(f"{key[k]} AS {k}" for k in self.keys)
        return f"WITH {ctes} SELECT {select}, {value} AS v FROM {source}"

    def buckets(self, con: duckdb.DuckDBPyConnection) -> list[tuple[date, date]]:
        """Every bucket of the period with a day on or before as_of, clipped to the period."""
        days = (
            f"SELECT d::DATE AS d FROM generate_series(DATE '{self.start}', DATE '{self.end}', "
            f"INTERVAL 1 day) AS t(d)"
        )
        keys = ", ".join(self._key_exprs("d")[:2])
        sql = f"SELECT DISTINCT {keys} FROM ({days}) WHERE d <= DATE '{self.as_of}' ORDER BY 1"
        return [tuple(r) for r in con.sql(sql).fetchall()]


def ratio(num: str, den: str) -> str:
    """num / den as a double, NULL when den is 0 or NULL."""
    return f"({num})::DOUBLE / NULLIF({den}, 0)"


Oracle = Callable[[Scope], str]


# Sample data: tables ads, leads, email, web (see the `db` fixture).
def ads(expr: str) -> Oracle:
    return lambda s: s.agg("ads", "date", expr)


def web(expr: str) -> Oracle:
    return lambda s: s.agg("web", "date", expr)


def email(expr: str) -> Oracle:
    return lambda s: s.agg("email", "date", expr)


def leads_on(date_col: str, expr: str) -> Oracle:
    """Leads dated on ``date_col`` (created_at, mql_at, sql_at, customer_at)."""
    return lambda s: s.agg("leads", date_col, expr)


PAID = "original_source IN ('Paid Search', 'Paid Social')"

#: One hand-written oracle per KPI of kpi_config.yaml (visible and hidden).
ORACLES: dict[str, Oracle] = {
    # performance
    "conversion_rate": ads(ratio("SUM(conversions)", "SUM(clicks)")),
    "cpa": ads(ratio("SUM(spend)", "SUM(conversions)")),
    "roi": ads(ratio("SUM(revenue) - SUM(spend)", "SUM(spend)")),
    "ctr": ads(ratio("SUM(clicks)", "SUM(impressions)")),
    "avg_session_duration": web(ratio("SUM(session_duration)", "SUM(sessions)")),
    "impressions": ads("SUM(impressions)"),
    "engagement_rate": web(ratio("SUM(engaged_sessions)", "SUM(sessions)")),
    "spend": ads("SUM(spend)"),
    "revenue": ads("SUM(revenue)"),
    "clicks": ads("SUM(clicks)"),
    "conversions": ads("SUM(conversions)"),
    # acquisition
    "leads": leads_on("created_at", "COUNT(*)"),
    "sessions": web("SUM(sessions)"),
    "visitor_to_lead_rate": lambda s: s.join(
        {
            "leads": ("leads", "created_at", "COUNT(*)"),
            "sessions": ("web", "date", "SUM(sessions)"),
        },
        ratio("{leads}", "{sessions}"),
    ),
    "cpl": lambda s: s.join(
        {
            "spend": ("ads", "date", "SUM(spend)"),
            "leads": ("leads", "created_at", "COUNT(*)"),
        },
        ratio("{spend}", "{leads}"),
    ),
    # engagement & conversion
    "lead_to_customer_rate": leads_on(
        "created_at", ratio("COUNT(*) FILTER (WHERE customer_at IS NOT NULL)", "COUNT(*)")
    ),
    "paid_lead_share": leads_on(
        "created_at", ratio(f"SUM(CASE WHEN {PAID} THEN 1 ELSE 0 END)", "COUNT(*)")
    ),
    # content & campaigns
    "cta_click_rate": web(ratio("SUM(cta_clicks)", "SUM(cta_views)")),
    # email
    "open_rate": email(ratio("SUM(opens)", "SUM(delivered)")),
    "click_rate": email(ratio("SUM(clicks)", "SUM(delivered)")),
    "deliverability_rate": email(ratio("SUM(delivered)", "SUM(sent)")),
    "unsubscribe_rate": email(ratio("SUM(unsubscribes)", "SUM(delivered)")),
    # lead qualification
    "mqls": leads_on("mql_at", "COUNT(*)"),
    "mql_share": lambda s: s.join(
        {
            "mqls": ("leads", "mql_at", "COUNT(*)"),
            "leads": ("leads", "created_at", "COUNT(*)"),
        },
        ratio("{mqls}", "{leads}"),
    ),
    "lead_to_mql_rate": leads_on(
        "created_at", ratio("COUNT(*) FILTER (WHERE mql_at IS NOT NULL)", "COUNT(*)")
    ),
    "mql_to_sql_rate": leads_on(
        "mql_at", ratio("COUNT(*) FILTER (WHERE sql_at IS NOT NULL)", "COUNT(*)")
    ),
    "sql_to_customer_rate": leads_on(
        "sql_at", ratio("COUNT(*) FILTER (WHERE customer_at IS NOT NULL)", "COUNT(*)")
    ),
    "customers": leads_on("customer_at", "COUNT(*)"),
    # building blocks (hidden)
    "paid_leads": leads_on("created_at", f"COUNT(*) FILTER (WHERE {PAID})"),
    "leads_with_mql": leads_on("created_at", "COUNT(*) FILTER (WHERE mql_at IS NOT NULL)"),
    "leads_with_customer": leads_on(
        "created_at", "COUNT(*) FILTER (WHERE customer_at IS NOT NULL)"
    ),
    "mqls_with_sql": leads_on("mql_at", "COUNT(*) FILTER (WHERE sql_at IS NOT NULL)"),
    "sqls": leads_on("sql_at", "COUNT(*)"),
    "sqls_with_customer": leads_on("sql_at", "COUNT(*) FILTER (WHERE customer_at IS NOT NULL)"),
    "email_sent": email("SUM(sent)"),
    "email_delivered": email("SUM(delivered)"),
    "email_opens": email("SUM(opens)"),
    "email_clicks": email("SUM(clicks)"),
    "unsubscribes": email("SUM(unsubscribes)"),
    "engaged_sessions": web("SUM(engaged_sessions)"),
    "session_duration": web("SUM(session_duration)"),
    "cta_views": web("SUM(cta_views)"),
    "cta_clicks": web("SUM(cta_clicks)"),
}
KPI_NAMES = sorted(ORACLES)


def summed_cpl(scope: Scope) -> str:
    """CPL's total of ``total: sum`` under --by (``scope.dims``): the spend of the groups
    that have a CPL (spend, and leads) over their leads, per bucket."""
    spend = scope.agg("ads", "date", "SUM(spend)")
    leads = scope.agg("leads", "created_at", "COUNT(*)")
    on = " AND ".join(f"s.{k} = l.{k}" for k in scope.keys)
    keys = [f"s.{k}" for k in ("period_start", "period_end") if k in scope.keys]
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    return (
        f"WITH s AS ({spend}), l AS ({leads}) SELECT {''.join(k + ', ' for k in keys)}"
        f"{ratio('SUM(s.v)', 'SUM(l.v)')} AS v FROM s JOIN l ON {on} "
        f"WHERE s.v IS NOT NULL AND l.v > 0{group}"
    )


#: The oracles of the totals of the KPIs of ``total: sum`` (made from the rows).
SUMMED: dict[str, Oracle] = {"cpl": summed_cpl}


# --- comparing ---------------------------------------------------------------------------


def close(got: Any, want: Any) -> bool:
    """The tolerance of the brief; nulls match nulls only; NaN and inf never match."""
    if got is None or want is None:
        return got is None and want is None
    got, want = float(got), float(want)
    if not math.isfinite(got):
        return False
    return abs(got - want) <= 1e-9 * max(1.0, abs(want))


def as_float(v: Any) -> Value:
    return None if v is None else float(v)


def oracle(con: duckdb.DuckDBPyConnection, sql: str, scope: Scope) -> dict[tuple, Value]:
    """DuckDB rows keyed by the scope's keys (period_start, period_end, dimensions…)."""
    n = len(scope.keys)
    out: dict[tuple, Value] = {}
    for row in con.sql(sql).fetchall():
        key = tuple(row[:n])
        assert key not in out, f"oracle returned {key} twice: {sql}"
        out[key] = as_float(row[n])
    return out


def kpi_values(frame: pl.DataFrame, name: str, keys: list[str]) -> dict[tuple, Value]:
    """kpi's rows for one KPI, keyed like :func:`oracle`."""
    out: dict[tuple, Value] = {}
    for row in frame.filter(pl.col("kpi") == name).select(*keys, "value").iter_rows():
        key = tuple(row[:-1])
        assert key not in out, f"kpi returned {name} {key} twice"
        out[key] = row[-1]
    return out


def assert_matches(
    got: dict[tuple, Value],
    want: dict[tuple, Value],
    label: str,
    *,
    exact_keys: bool = True,
    empty: Value = None,
) -> None:
    """Same keys (or, in a multi-KPI report, extra keys with ``empty``: the KPI's value over
    no rows), same values."""
    if exact_keys:
        assert set(got) == set(want), f"{label}: kpi keys {sorted(got, key=str)} != " + str(
            sorted(want, key=str)
        )
    else:
        assert set(want) <= set(got), f"{label}: missing keys {set(want) - set(got)}"
        extra = {k: v for k, v in got.items() if k not in want and not close(v, empty)}
        assert not extra, f"{label}: not {empty} (over no rows) for groups without rows: {extra}"
    bad = {k: (got[k], want[k]) for k in want if not close(got[k], want[k])}
    assert not bad, f"{label}: (kpi, duckdb) differ at {bad}"


def check(
    con: duckdb.DuckDBPyConnection,
    result: Any,
    name: str,
    sql_of: Oracle,
    scope: Scope,
    *,
    exact_keys: bool = True,
) -> None:
    """Compare one KPI's rows (and totals, when there are dimensions) with the oracle.

    ``exact_keys=False``: the report has other KPIs, whose sources may have groups this
    KPI's lack; there the KPI is its value over no rows (DuckDB's, under ``WHERE FALSE``).
    """
    got = kpi_values(result.rows, name, scope.keys)
    empty = None if exact_keys else over_no_rows(con, sql_of)
    assert_matches(got, expected(con, sql_of, scope), name, exact_keys=exact_keys, empty=empty)
    if scope.dims:
        total = replace(scope, dims=())
        got = kpi_values(result.totals, name, total.keys)
        if result.kpis[name].total == "sum":
            want = oracle(con, SUMMED[name](scope), total)
        else:
            want = expected(con, sql_of, total)
        assert_matches(got, want, f"{name} (total)")


def over_no_rows(con: duckdb.DuckDBPyConnection, sql_of: Oracle) -> Value:
    """The KPI's value over no rows: COUNT 0, SUM NULL, and what formulas make of them."""
    return oracle(con, sql_of(Scope(where="FALSE")), Scope())[()]


def expected(con: duckdb.DuckDBPyConnection, sql_of: Oracle, scope: Scope) -> dict[tuple, Value]:
    """The oracle's rows. Without dimensions a report has a row for every bucket of the
    period (up to as_of), with or without data: each is the KPI over that bucket's days alone,
    so that an empty bucket gets SQL's value over no rows (COUNT 0, SUM NULL)."""
    if scope.grain and not scope.dims:
        out = {}
        for start, end in scope.buckets(con):
            one = replace(scope, start=start, end=end, grain=None)
            out[(start, end)] = oracle(con, sql_of(one), one)[()]
        return out
    return oracle(con, sql_of(scope), scope)


def assert_no_non_finite(result: Any) -> None:
    for frame in (result.rows, result.totals):
        if frame is None:
            continue
        values = frame["value"].drop_nulls()
        assert values.is_finite().all(), f"non-finite values: {frame.filter(~values.is_finite())}"


# --- the sample data ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def cfg():
    return load_config(CONFIG)


@pytest.fixture(scope="module")
def db():
    """DuckDB tables over sample_data/, read independently (money as exact decimals)."""
    con = duckdb.connect()
    money = "DECIMAL(18,2)"
    reads = {
        "ads": ("ads_*.csv", {"date": "DATE", "spend": money, "revenue": money}),
        "leads": (
            "crm_leads.csv",
            {
                "created_at": "DATE",
                "mql_at": "DATE",
                "sql_at": "DATE",
                "customer_at": "DATE",
                "deal_amount": money,
            },
        ),
        "email": ("email_campaigns.csv", {"date": "DATE"}),
        "web": ("web_analytics.csv", {"date": "DATE", "keyword": "VARCHAR"}),
    }
    for table, (pattern, types) in reads.items():
        con.execute(
            f"CREATE TABLE {table} AS SELECT * FROM read_csv('{DATA / pattern}', header = true, "
            f"types = {types!r})"
        )
    # as of AS_OF, a stage reached later has not happened yet
    for col in ("mql_at", "sql_at", "customer_at"):
        con.execute(f"UPDATE leads SET {col} = NULL WHERE {col} > DATE '{AS_OF}'")
    yield con
    con.close()


#: The engines every case runs on, each a parametrised run (``engine`` fixture).
ENGINES = ("polars", "duckdb", "spark")
#: The engine the case running asks :func:`report` for.
_ENGINE: ContextVar[str] = ContextVar("oracle_engine", default="polars")
pytestmark = pytest.mark.usefixtures("engine")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each case once per engine (``@pytest.mark.engines(...)``: those engines only)."""
    if "engine" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("engines")
        engines = marker.args if marker is not None else ENGINES
        metafunc.parametrize("engine", engines, indirect=True)


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    token = _ENGINE.set(request.param)
    yield request.param
    _ENGINE.reset(token)


def report(cfg, **request) -> Any:
    request.setdefault("as_of", AS_OF)
    request.setdefault("engine", _ENGINE.get())
    return run_report(cfg, Request(**request))


def test_every_declared_kpi_has_an_oracle(cfg) -> None:
    assert set(cfg.kpis) == set(ORACLES)


def test_oracle_tables_look_like_the_sample_data(db) -> None:
    """Guard against a silently empty oracle (a wrong glob would make every SUM NULL)."""
    counts = dict(
        db.sql(
            "SELECT 'ads', COUNT(*) FROM ads UNION ALL SELECT 'leads', COUNT(*) FROM leads "
            "UNION ALL SELECT 'email', COUNT(*) FROM email UNION ALL SELECT 'web', COUNT(*) "
            "FROM web"
        ).fetchall()
    )
    assert all(n > 100 for n in counts.values()), counts
    channels = db.sql("SELECT DISTINCT channel FROM ads ORDER BY 1").fetchall()
    assert channels == [("google_ads",), ("linkedin_ads",), ("meta_ads",)]


@pytest.mark.parametrize("name", KPI_NAMES)
@pytest.mark.parametrize(
    ("period", "bounds"), [("2026-10", OCTOBER), ("all", ALL)], ids=["2026-10", "all"]
)
def test_kpi_over_a_period(cfg, db, name: str, period: str, bounds: tuple) -> None:
    result = report(cfg, period=period, kpis=(name,))
    scope = Scope(*bounds)
    assert result.rows.height == 1
    check(db, result, name, ORACLES[name], scope)
    start, end = result.rows.select("period_start", "period_end").row(0)
    if bounds != ALL:
        assert (start, end) == bounds
    else:
        assert start <= end <= AS_OF


def test_all_kpis_in_one_report(cfg, db) -> None:
    """Every KPI at once (shared scans and joins) gives the same values as alone."""
    result = report(cfg, period="2026-10", kpis=tuple(cfg.kpis))
    for name in KPI_NAMES:
        check(db, result, name, ORACLES[name], Scope(*OCTOBER))


@pytest.mark.parametrize(("period", "bounds"), [("2026-10", OCTOBER), ("all", ALL)])
def test_all_kpis_by_channel(cfg, db, period: str, bounds: tuple) -> None:
    """Every source has a channel column: rows per channel (union of all sources' channels:
    a KPI of a source without that channel is null) and totals recomputed from totals."""
    result = report(cfg, period=period, kpis=tuple(cfg.kpis), by=("channel",))
    scope = Scope(*bounds, dims=("channel",))
    for name in KPI_NAMES:
        check(db, result, name, ORACLES[name], scope, exact_keys=False)
    assert_no_non_finite(result)


# --- across sources, by channel ----------------------------------------------------------


def blended(cfg, name: str):
    """The config with KPI ``name``'s total blended (the KPI over all rows)."""
    kpi = cfg.kpis[name].model_copy(update={"total": "blended"})
    return cfg.changed(kpis={**cfg.kpis, name: kpi})


def test_cpl_by_channel_full_outer_join(cfg, db) -> None:
    result = report(blended(cfg, "cpl"), period="2026-10", kpis=("cpl",), by=("channel",))
    scope = Scope(*OCTOBER, dims=("channel",))
    check(db, result, "cpl", ORACLES["cpl"], scope)
    got = kpi_values(result.rows, "cpl", ["channel"])
    # Channels with leads but no ad spend are in the rows, with a null cost per lead.
    for channel in ("organic_search", "email", "direct", "referral"):
        assert got[(channel,)] is None
    # The total is total spend / total leads, not an average of the channels' ratios.
    total = kpi_values(result.totals, "cpl", [])[()]
    spend, leads = db.sql(
        f"SELECT (SELECT SUM(spend) FROM ads WHERE {scope.rows('date')}), "
        f"(SELECT COUNT(*) FROM leads WHERE {scope.rows('created_at')})"
    ).fetchall()[0]
    assert close(total, float(spend) / leads)
    paid = [v for v in got.values() if v is not None]
    assert not close(total, sum(paid) / len(paid))
    # organic has leads and no spend: the total counts rows CPL has no value for
    assert result.blended == {"cpl"}
    assert result.kpis["cpl"].total == "blended"


def test_spend_leads_and_cpl_by_channel_together(cfg, db) -> None:
    result = report(cfg, period="2026-10", kpis=("spend", "leads", "cpl"), by=("channel",))
    scope = Scope(*OCTOBER, dims=("channel",))
    for name in ("spend", "leads", "cpl"):
        check(db, result, name, ORACLES[name], scope, exact_keys=False)
    # spend of a channel without ads rows is NULL (no rows), not 0.
    assert kpi_values(result.rows, "spend", ["channel"])[("organic_search",)] is None


@pytest.mark.parametrize("name", ["conversion_rate", "mqls", "mql_share", "visitor_to_lead_rate"])
def test_by_channel(cfg, db, name: str) -> None:
    result = report(cfg, period="2026-10", kpis=(name,), by=("channel",))
    check(db, result, name, ORACLES[name], Scope(*OCTOBER, dims=("channel",)))


# --- groups without rows in one span or one source ----------------------------------------


def compared(
    con: duckdb.DuckDBPyConnection, sql_of: Oracle, cur: Scope, prev: Scope
) -> dict[tuple, tuple[Value, Value]]:
    """(value, previous) per group: the groups with rows in either span, each side the KPI
    over that span's rows (over no rows when the group has none there)."""
    now, before = expected(con, sql_of, cur), expected(con, sql_of, prev)
    empty = over_no_rows(con, sql_of)
    return {k: (now.get(k, empty), before.get(k, empty)) for k in set(now) | set(before)}


def assert_compared(result: Any, name: str, want: dict[tuple, tuple[Value, Value]], keys) -> None:
    rows = result.rows.filter(pl.col("kpi") == name)
    got = {
        tuple(r[k] for k in keys): (r["value"], r["previous"], r["change"], r["change_pct"])
        for r in rows.iter_rows(named=True)
    }
    assert set(got) == set(want), (
        f"{name}: groups {sorted(got, key=str)} != {sorted(want, key=str)}"
    )
    for key, (value, previous) in want.items():
        g = got[key]
        assert close(g[0], value) and close(g[1], previous), (
            f"{name} {key}: {g} != {value, previous}"
        )
        change = None if value is None or previous is None else value - previous
        assert close(g[2], change), f"{name} {key}: change {g[2]} != {change}"
        pct = None if change is None or previous == 0 else change / abs(previous)
        assert close(g[3], pct), f"{name} {key}: change_pct {g[3]} != {pct}"


@pytest.mark.parametrize(
    "names",
    [("customers",), ("customers", "leads", "lead_to_customer_rate"), ("cpl",), ("mql_share",)],
    ids=",".join,
)
def test_by_channel_with_compare_fills_groups_without_rows(cfg, db, names) -> None:
    """12 November 2026 against the 11th: google_ads has a customer on the 11th and none on
    the 12th. It is a row of the report: customers 0 (COUNT over no rows), previous 1, change
    −1, −100 %; not a null value, nor a missing row."""
    result = report(cfg, period="2026-11-12", compare="previous", kpis=names, by=("channel",))
    cur = Scope(date(2026, 11, 12), date(2026, 11, 12), dims=("channel",))
    prev = replace(cur, start=date(2026, 11, 11), end=date(2026, 11, 11))
    for name in names:
        want = compared(db, ORACLES[name], cur, prev)
        if len(names) > 1:  # the other KPIs' groups: this KPI over no rows on both sides
            empty = over_no_rows(db, ORACLES[name])
            for (channel,) in kpi_values(result.rows, name, ["channel"]):
                want.setdefault((channel,), (empty, empty))
        assert_compared(result, name, want, ["channel"])
    if names == ("customers",):
        row = result.rows.filter(pl.col("channel") == "google_ads").row(0, named=True)
        assert (row["value"], row["previous"], row["change_pct"]) == (0, 1, -1.0)


@pytest.mark.parametrize(
    ("name", "dim"),
    [("customers", "offer"), ("mqls", "offer"), ("cpl", "channel"), ("spend", "channel")],
)
def test_weeks_by_a_dimension_with_compare_fill_groups_without_rows(
    cfg, db, name: str, dim: str
) -> None:
    """Each week of October 2026 by a dimension against the days just before it (as many as
    it has: the first week, cut by the period, is 4 days): every group with rows in either."""
    result = report(
        cfg, period="2026-10", grain="week", compare="previous", kpis=(name,), by=(dim,)
    )
    scope = Scope(*OCTOBER, grain="week")
    for start, end in scope.buckets(db):
        days = (end - start).days + 1
        cur = Scope(start, end, dims=(dim,))
        prev = replace(cur, start=start - timedelta(days=days), end=start - timedelta(days=1))
        one = replace(result, rows=result.rows.filter(pl.col("period_start") == start))
        assert_compared(one, name, compared(db, ORACLES[name], cur, prev), [dim])


# --- grains ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["leads", "mqls", "ctr", "cpl", "mql_share"])
def test_grain_month_over_2026(cfg, db, name: str) -> None:
    """One row per month (mqls bucketed on mql_at); the running month keeps its bounds."""
    result = report(cfg, period="2026", kpis=(name,), grain="month")
    scope = Scope(*YEAR_2026, grain="month")
    check(db, result, name, ORACLES[name], scope)
    got = kpi_values(result.rows, name, scope.keys)
    assert min(got) == (date(2026, 1, 1), date(2026, 1, 31))
    assert max(got) == (date(2026, 11, 1), date(2026, 11, 30))
    assert len(got) == 11


def test_grain_week_over_october(cfg, db) -> None:
    """Weeks start on Monday; the first and last weeks are clipped to the month."""
    result = report(cfg, period="2026-10", kpis=("leads",), grain="week")
    scope = Scope(*OCTOBER, grain="week")
    check(db, result, "leads", ORACLES["leads"], scope)
    bounds = [
        (date(2026, 10, 1), date(2026, 10, 4)),
        (date(2026, 10, 5), date(2026, 10, 11)),
        (date(2026, 10, 12), date(2026, 10, 18)),
        (date(2026, 10, 19), date(2026, 10, 25)),
        (date(2026, 10, 26), date(2026, 10, 31)),
    ]
    rows = result.rows.select("period_start", "period_end").rows()
    assert rows == bounds


def test_grain_week_by_channel_across_sources(cfg, db) -> None:
    result = report(cfg, period="2026-10", kpis=("cpl",), grain="week", by=("channel",))
    check(db, result, "cpl", ORACLES["cpl"], Scope(*OCTOBER, grain="week", dims=("channel",)))


@pytest.mark.parametrize("name", ["leads", "cpl", "customers"])
def test_grain_quarter_over_a_range(cfg, db, name: str) -> None:
    """An explicit range that starts and ends inside quarters: the buckets are clipped."""
    result = report(cfg, period="2025-02-15..2026-10-20", kpis=(name,), grain="quarter")
    scope = Scope(date(2025, 2, 15), date(2026, 10, 20), grain="quarter")
    check(db, result, name, ORACLES[name], scope)
    got = sorted(kpi_values(result.rows, name, scope.keys))
    assert got[0] == (date(2025, 2, 15), date(2025, 3, 31))
    assert got[-1] == (date(2026, 10, 1), date(2026, 10, 20))


def test_grain_week_with_sunday_weeks(tmp_path: Path, db) -> None:
    """settings.week_start: sunday — a week runs from Sunday to Saturday."""
    (tmp_path / "kpi_config.yaml").write_text(
        "version: 1\nsettings: {week_start: sunday}\nsources:\n"
        f"  leads: {{path: '{DATA / 'crm_leads.csv'}', date: created_at}}\n"
        "kpis:\n  leads: {source: leads, formula: COUNT(*)}\n"
        "  mqls: {source: leads, formula: COUNT(*), date: mql_at, filter: mql_at IS NOT NULL}\n",
        encoding="utf-8",
    )
    cfg = load_config(tmp_path / "kpi_config.yaml")
    result = report(cfg, period="2026-10", kpis=("leads", "mqls"), grain="week", by=("channel",))
    scope = Scope(*OCTOBER, grain="week", week_start="sunday", dims=("channel",))
    for name in ("leads", "mqls"):
        check(db, result, name, ORACLES[name], scope)
    starts = sorted(
        {s for s, _ in kpi_values(result.totals, "leads", ["period_start", "period_end"])}
    )
    assert starts == [date(2026, 10, d) for d in (1, 4, 11, 18, 25)]


# --- other dimensions, sort and limit ------------------------------------------------------


def test_lead_to_mql_rate_by_offer(cfg, db) -> None:
    result = report(cfg, period="2026-Q3", kpis=("lead_to_mql_rate",), by=("offer",))
    scope = Scope(date(2026, 7, 1), date(2026, 9, 30), dims=("offer",))
    check(db, result, "lead_to_mql_rate", ORACLES["lead_to_mql_rate"], scope)
    assert len(kpi_values(result.rows, "lead_to_mql_rate", ["offer"])) == 5


def test_leads_by_landing_page(cfg, db) -> None:
    result = report(cfg, period="2026-10", kpis=("leads",), by=("landing_page",))
    check(db, result, "leads", ORACLES["leads"], Scope(*OCTOBER, dims=("landing_page",)))


def test_top_keywords_by_sessions(cfg, db) -> None:
    """--by keyword --sort sessions --limit 10: the null keyword is a group like the others."""
    result = report(
        cfg, period="2026-10", kpis=("sessions",), by=("keyword",), sort="sessions", limit=10
    )
    scope = Scope(*OCTOBER)
    want = db.sql(
        f"SELECT keyword, SUM(sessions) AS s FROM web WHERE {scope.rows('date')} "
        "GROUP BY keyword ORDER BY s DESC NULLS LAST LIMIT 10"
    ).fetchall()
    got = result.rows.filter(pl.col("kpi") == "sessions").select("keyword", "value").rows()
    assert [k for k, _ in got] == [k for k, _ in want]
    assert all(close(g, w) for (_, g), (_, w) in zip(got, want, strict=True))
    assert None in [k for k, _ in got]
    # The total is over every keyword, not only the ten shown.
    total = db.sql(f"SELECT SUM(sessions) FROM web WHERE {scope.rows('date')}").fetchall()[0][0]
    assert close(kpi_values(result.totals, "sessions", [])[()], total)


def test_sort_ascending_with_limit(cfg, db) -> None:
    result = report(cfg, period="2026-10", kpis=("cpl",), by=("channel",), sort="cpl:asc", limit=2)
    scope = Scope(*OCTOBER, dims=("channel",))
    want = db.sql(
        f"SELECT channel, v FROM ({ORACLES['cpl'](scope)}) ORDER BY v ASC NULLS LAST LIMIT 2"
    ).fetchall()
    got = result.rows.select("channel", "value").rows()
    assert [k for k, _ in got] == [k for k, _ in want]
    assert all(close(g, w) for (_, g), (_, w) in zip(got, want, strict=True))


def test_top_keywords_per_month(cfg, db) -> None:
    """--limit keeps the top N of each time bucket."""
    result = report(
        cfg,
        period="2026-Q3",
        kpis=("sessions",),
        by=("keyword",),
        grain="month",
        sort="sessions",
        limit=3,
    )
    scope = Scope(date(2026, 7, 1), date(2026, 9, 30))
    want = db.sql(
        "SELECT date_trunc('month', date)::DATE AS m, keyword, SUM(sessions) AS s FROM web "
        f"WHERE {scope.rows('date')} GROUP BY 1, 2 "
        "QUALIFY row_number() OVER (PARTITION BY m ORDER BY s DESC NULLS LAST) <= 3 "
        "ORDER BY m, s DESC"
    ).fetchall()
    got = result.rows.select("period_start", "keyword", "value").rows()
    assert [(m, k) for m, k, _ in got] == [(m, k) for m, k, _ in want]
    assert all(close(g[2], w[2]) for g, w in zip(got, want, strict=True))


@pytest.mark.parametrize(
    ("name", "dims"),
    [
        ("leads", ("channel", "offer")),
        ("lead_to_mql_rate", ("offer", "channel")),
        ("visitor_to_lead_rate", ("channel", "landing_page")),
        ("sessions", ("landing_page", "keyword")),
    ],
)
def test_two_dimensions(cfg, db, name: str, dims: tuple[str, ...]) -> None:
    result = report(cfg, period="2026-10", kpis=(name,), by=dims)
    check(db, result, name, ORACLES[name], Scope(*OCTOBER, dims=dims))


# --- --where -----------------------------------------------------------------------------

GOOGLE = "channel = 'google_ads'"


def test_where_applies_to_every_source(cfg, db) -> None:
    """Email rows are all channel 'email': its sums are NULL, its rates null."""
    result = report(cfg, period="2026-10", kpis=tuple(cfg.kpis), where=GOOGLE)
    scope = Scope(*OCTOBER, where=GOOGLE)
    for name in KPI_NAMES:
        check(db, result, name, ORACLES[name], scope)
    assert kpi_values(result.rows, "email_sent", [])[()] is None


@pytest.mark.parametrize("name", ["cpl", "leads", "mql_share", "visitor_to_lead_rate"])
def test_where_by_channel(cfg, db, name: str) -> None:
    result = report(cfg, period="all", kpis=(name,), by=("channel",), where=GOOGLE)
    scope = Scope(where=GOOGLE, dims=("channel",))
    check(db, result, name, ORACLES[name], scope)
    assert set(kpi_values(result.rows, name, ["channel"])) == {("google_ads",)}


def test_where_with_grain(cfg, db) -> None:
    where = "channel IN ('meta_ads', 'linkedin_ads')"
    result = report(cfg, period="2026", kpis=("ctr", "mqls"), grain="month", where=where)
    scope = Scope(*YEAR_2026, where=where, grain="month")
    for name in ("ctr", "mqls"):
        check(db, result, name, ORACLES[name], scope)


# --- edge cases in small generated files ---------------------------------------------------

EVENTS = """\
day,channel,visitor,amount,qty,score,flag,closed_at
2026-09-30,a,v1,5.00,1,1.5,yes,2026-10-02
2026-10-01,a,v1,0.10,2,2.0,yes,
2026-10-01,a,v2,0.20,0,,no,2026-10-05
2026-10-02,a,,19.99,,4.0,yes,2026-11-20
2026-10-02,b,v3,,3,8.0,no,
2026-10-03,b,v3,0.70,0,3.0,,2026-10-03
2026-10-03,,v4,10.00,1,5.0,yes,
2026-10-04,c,v5,,0,,no,
2026-10-05,a,v2,12.34,5,7.5,yes,2026-10-06
2026-10-09,c,v6,,0,,no,2026-10-09
2026-10-12,a,v7,0.01,1,2.5,no,
2026-11-20,a,v9,100.00,9,9.0,yes,
"""
COSTS = """\
day,channel,cost
2026-09-29,a,9.99
2026-10-01,a,1.10
2026-10-02,a,2.20
2026-10-02,b,0.00
2026-10-03,d,3.30
2026-10-10,c,0.00
2026-11-20,a,50.00
"""
EDGE_CONFIG = """\
version: 1
sources:
  ev: {path: events.csv, date: day}
  cost: {path: costs.csv, date: day}
kpis:
  rows: {source: ev, formula: COUNT(*)}
  amount: {source: ev, formula: SUM(amount)}
  qty: {source: ev, formula: SUM(qty)}
  qty_n: {source: ev, formula: COUNT(qty)}
  visitors: {source: ev, formula: COUNT(DISTINCT visitor)}
  avg_score: {source: ev, formula: AVG(score)}
  median_score: {source: ev, formula: MEDIAN(score)}
  min_amount: {source: ev, formula: MIN(amount)}
  max_amount: {source: ev, formula: MAX(amount)}
  big_amount: {source: ev, formula: SUM(amount) FILTER (WHERE amount >= 10)}
  yes_qty: {source: ev, formula: "SUM(CASE WHEN flag = 'yes' THEN qty ELSE 0 END)"}
  yes_amount: {source: ev, formula: "SUM(CASE WHEN flag = 'yes' THEN amount END)"}
  a_rows: {source: ev, formula: COUNT(*), filter: "channel = 'a'"}
  a_big: {source: ev, formula: SUM(amount) FILTER (WHERE amount >= 10), filter: "channel = 'a'"}
  yes_qty_per_amount: {source: ev, formula: SUM(qty) / SUM(amount), filter: "flag = 'yes'"}
  closed: {source: ev, formula: COUNT(*), date: closed_at, filter: closed_at IS NOT NULL}
  closed_amount: {source: ev, formula: SUM(amount), date: closed_at}
  cost: {source: cost, formula: SUM(cost)}
  amount_per_qty: {formula: amount / qty}
  amount_per_row: {formula: amount / rows}
  cost_per_row: {formula: cost / rows}
  roas: {formula: amount / cost}
  margin: {formula: amount - cost}
  margin_rate: {formula: margin / amount}
  scaled: {formula: amount_per_qty * 2 + 1}
  closed_share: {formula: closed / rows}
"""


def ev(expr: str) -> Oracle:
    return lambda s: s.agg("ev", "day", expr)


def ev_closed(expr: str) -> Oracle:
    return lambda s: s.agg("ev", "closed_at", expr)


def cost_and_ev(ev_expr: str, value: str) -> Oracle:
    return lambda s: s.join(
        {"ev": ("ev", "day", ev_expr), "cost": ("cost", "day", "SUM(cost)")}, value
    )


EDGE_ORACLES: dict[str, Oracle] = {
    "rows": ev("COUNT(*)"),
    "amount": ev("SUM(amount)"),
    "qty": ev("SUM(qty)"),
    "qty_n": ev("COUNT(*) FILTER (WHERE qty IS NOT NULL)"),
    "visitors": ev("COUNT(DISTINCT visitor)"),
    "avg_score": ev("SUM(score) / COUNT(score)"),
    "median_score": ev("quantile_cont(score, 0.5)"),
    "min_amount": ev("MIN(amount)"),
    "max_amount": ev("MAX(amount)"),
    "big_amount": ev("SUM(CASE WHEN amount >= 10 THEN amount END)"),
    "yes_qty": ev("SUM(CASE WHEN flag = 'yes' THEN qty ELSE 0 END)"),
    "yes_amount": ev("SUM(amount) FILTER (WHERE flag = 'yes')"),
    "a_rows": ev("COUNT(*) FILTER (WHERE channel = 'a')"),
    "a_big": ev("SUM(amount) FILTER (WHERE channel = 'a' AND amount >= 10)"),
    "yes_qty_per_amount": ev(
        ratio("SUM(qty) FILTER (WHERE flag = 'yes')", "SUM(amount) FILTER (WHERE flag = 'yes')")
    ),
    "closed": ev_closed("COUNT(*)"),
    "closed_amount": ev_closed("SUM(amount)"),
    "cost": lambda s: s.agg("cost", "day", "SUM(cost)"),
    "amount_per_qty": ev(ratio("SUM(amount)", "SUM(qty)")),
    "amount_per_row": ev(ratio("SUM(amount)", "COUNT(*)")),
    "cost_per_row": cost_and_ev("COUNT(*)", ratio("{cost}", "{ev}")),
    "roas": cost_and_ev("SUM(amount)", ratio("{ev}", "{cost}")),
    "margin": cost_and_ev("SUM(amount)", "{ev} - {cost}"),
    "margin_rate": cost_and_ev("SUM(amount)", ratio("{ev} - {cost}", "{ev}")),
    "scaled": ev(f"{ratio('SUM(amount)', 'SUM(qty)')} * 2 + 1"),
    "closed_share": lambda s: s.join(
        {
            "closed": ("ev", "closed_at", "COUNT(*)"),
            "rows": ("ev", "day", "COUNT(*)"),
        },
        ratio("{closed}", "{rows}"),
    ),
}


@pytest.fixture
def edge(tmp_path: Path):
    (tmp_path / "events.csv").write_text(EVENTS, encoding="utf-8")
    (tmp_path / "costs.csv").write_text(COSTS, encoding="utf-8")
    (tmp_path / "kpi_config.yaml").write_text(EDGE_CONFIG, encoding="utf-8")
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE ev AS SELECT * FROM read_csv('{tmp_path / 'events.csv'}', header = true, "
        "types = {'day': 'DATE', 'channel': 'VARCHAR', 'visitor': 'VARCHAR', "
        "'amount': 'DECIMAL(18,2)', 'qty': 'BIGINT', 'score': 'DOUBLE', 'flag': 'VARCHAR', "
        "'closed_at': 'DATE'})"
    )
    con.execute(
        f"CREATE TABLE cost AS SELECT * FROM read_csv('{tmp_path / 'costs.csv'}', header = true, "
        "types = {'day': 'DATE', 'channel': 'VARCHAR', 'cost': 'DECIMAL(18,2)'})"
    )
    yield load_config(tmp_path / "kpi_config.yaml"), con
    con.close()


def test_edge_config_covers_every_kpi(edge) -> None:
    cfg, _ = edge
    assert set(cfg.kpis) == set(EDGE_ORACLES)


AUGUST = (date(2026, 8, 1), date(2026, 8, 31))
#: case → (period, bounds, grain, by)
EDGE_CASES = {
    "october": ("2026-10", OCTOBER, None, ()),
    "october-by-channel": ("2026-10", OCTOBER, None, ("channel",)),
    "all-by-channel": ("all", ALL, None, ("channel",)),
    "empty-period": ("2026-08", AUGUST, None, ()),
    "empty-period-by-channel": ("2026-08", AUGUST, None, ("channel",)),
    "week-by-channel": ("2026-10", OCTOBER, "week", ("channel",)),  # weeks 4-5: no rows
    "day": ("2026-10", OCTOBER, "day", ()),
}


def edge_report(edge, case: str) -> tuple[Any, Any, Scope]:
    cfg, con = edge
    period, bounds, grain, dims = EDGE_CASES[case]
    result = report(cfg, period=period, kpis=tuple(cfg.kpis), grain=grain, by=dims)
    return result, con, Scope(*bounds, grain=grain, dims=dims)


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_edge_cases_all_kpis(edge, case: str) -> None:
    """Zero denominators, nulls, empty periods, filters, COUNT DISTINCT, AVG, MEDIAN, FILTER,
    CASE WHEN, derived of derived, and a join where channels exist in one source only.

    In a period or bucket without rows, COUNT is 0 and SUM null (so ``closed / rows`` is 0 in
    a bucket with rows but none closed, and null in one without rows).
    """
    result, con, scope = edge_report(edge, case)
    for name in EDGE_ORACLES:
        check(con, result, name, EDGE_ORACLES[name], scope, exact_keys=False)
    assert_no_non_finite(result)


@pytest.mark.engines("polars")  # the Parquet cache is the Polars engine's
@pytest.mark.slow
@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_edge_cases_from_the_cache(edge, case: str, tmp_path: Path) -> None:
    """The edge cases (empty periods and buckets, nulls, COUNT DISTINCT, MEDIAN, AVG, a date
    column of stage dates…) from a filled and a hit cache: the oracle's values again."""
    cfg, con = edge
    period, bounds, grain, dims = EDGE_CASES[case]
    scope = Scope(*bounds, grain=grain, dims=dims)
    for _ in ("fill", "hit"):
        result = report(
            cfg, period=period, kpis=tuple(cfg.kpis), grain=grain, by=dims, cache=str(tmp_path)
        )
        for name in EDGE_ORACLES:
            check(con, result, name, EDGE_ORACLES[name], scope, exact_keys=False)
    assert any(p.name.startswith("kpi-daily-") for p in tmp_path.iterdir())


def test_sample_kpis_of_a_period_without_data(cfg, db) -> None:
    """June 2024 is before the sample data: COUNT is 0, SUM and ratios are null."""
    names = ("leads", "mqls", "spend", "cpl", "mql_share", "open_rate")
    result = report(cfg, period="2024-06", kpis=names)
    scope = Scope(date(2024, 6, 1), date(2024, 6, 30))
    assert db.sql(ORACLES["leads"](scope)).fetchall() == [(0,)]
    for name in names:
        check(db, result, name, ORACLES[name], scope)


def test_a_column_named_user(tmp_path: Path) -> None:
    (tmp_path / "u.csv").write_text("day,user\n2026-10-01,a\n2026-10-02,b\n2026-10-02,a\n")
    (tmp_path / "kpi_config.yaml").write_text(
        "version: 1\nsources:\n  u: {path: u.csv, date: day}\n"
        "kpis:\n  users: {source: u, formula: COUNT(DISTINCT user)}\n",
        encoding="utf-8",
    )
    sql = f"SELECT COUNT(DISTINCT user) FROM read_csv('{tmp_path / 'u.csv'}')"
    assert duckdb.sql(sql).fetchall() == [(2,)]
    result = report(load_config(tmp_path / "kpi_config.yaml"), kpis=("users",))
    assert kpi_values(result.rows, "users", []) == {(): 2}


@pytest.mark.parametrize("name", sorted(EDGE_ORACLES))
def test_edge_kpi_alone_by_channel(edge, name: str) -> None:
    """Alone, a KPI's rows are exactly the groups of the sources it uses."""
    cfg, con = edge
    result = report(cfg, period="2026-10", kpis=(name,), by=("channel",))
    check(con, result, name, EDGE_ORACLES[name], Scope(*OCTOBER, dims=("channel",)))


def test_edge_spot_values(edge) -> None:
    """A few values worked out by hand, so that the oracle itself is checked."""
    cfg, _ = edge
    result = report(cfg, period="2026-10", kpis=tuple(cfg.kpis), by=("channel",))
    rows = {(k, c): v for k, c, v in result.rows.select("kpi", "channel", "value").iter_rows()}
    totals = dict(result.totals.select("kpi", "value").iter_rows())
    assert rows[("amount", "c")] is None  # SUM over nulls only
    assert rows[("amount_per_qty", "c")] is None  # NULL / 0
    assert rows[("roas", "b")] is None  # 0.70 / 0.00
    assert rows[("rows", "d")] == 0  # cost only: COUNT over no ev rows
    assert rows[("cost_per_row", "d")] is None
    assert rows[("cost_per_row", None)] is None  # ev only: no cost group
    assert rows[("a_rows", "b")] == 0  # the KPI filter leaves the group with 0 rows
    assert rows[("visitors", "a")] == 3  # v1, v2, v7; the null visitor is not counted
    assert totals["rows"] == 10
    assert totals["closed"] == 5  # 10-02, 10-05, 10-03, 10-06, 10-09 (not 11-20 > as_of)
    assert close(totals["median_score"], 4.0)  # 2.0 4.0 8.0 3.0 5.0 7.5 2.5 -> 4.0
    assert close(totals["amount"], 43.34)


def test_edge_empty_period_sql_semantics(edge) -> None:
    """SUM of no rows is NULL, COUNT of no rows is 0, a ratio over them is null."""
    cfg, _ = edge
    result = report(cfg, period="2026-08", kpis=("rows", "amount", "visitors", "amount_per_row"))
    values = dict(result.rows.select("kpi", "value").iter_rows())
    assert values == {"rows": 0, "amount": None, "visitors": 0, "amount_per_row": None}


def test_edge_as_of_cuts_every_date_column(edge) -> None:
    """Rows dated after as_of are not counted, on the KPI's own date column too."""
    cfg, con = edge
    as_of = date(2026, 10, 2)
    result = report(cfg, period="all", as_of=as_of, kpis=("rows", "closed", "cost", "roas"))
    scope = Scope(as_of=as_of)
    for name in ("rows", "closed", "cost", "roas"):
        check(con, result, name, EDGE_ORACLES[name], scope)


# --- distinct counts: two group_bys (kpicli.spec.formula.split_distinct) -------------------

#: Every KPI of source ev here decomposes but for its distinct counts (no MEDIAN), so the
#: engine counts distinct visitors by grouping the rows by the keys and the visitor first.
DISTINCT_CONFIG = """\
version: 1
sources:
  ev: {path: events.csv, date: day}
  cost: {path: costs.csv, date: day}
kpis:
  visitors: {source: ev, formula: COUNT(DISTINCT visitor)}
  yes_visitors: {source: ev, formula: "COUNT(DISTINCT visitor) FILTER (WHERE flag = 'yes')"}
  a_visitors: {source: ev, formula: COUNT(DISTINCT visitor), filter: "channel = 'a'"}
  amount_per_visitor: {source: ev, formula: SUM(amount) / COUNT(DISTINCT visitor)}
  qty_per_yes_visitor:
    source: ev
    formula: "SUM(qty) / COUNT(DISTINCT visitor) FILTER (WHERE flag = 'yes')"
  avg_score: {source: ev, formula: AVG(score)}
  rows: {source: ev, formula: COUNT(*)}
  amount: {source: ev, formula: SUM(amount)}
  max_amount: {source: ev, formula: MAX(amount)}
  cost: {source: cost, formula: SUM(cost)}
  cost_per_visitor: {formula: cost / visitors}
"""

DISTINCT_ORACLES: dict[str, Oracle] = {
    "visitors": ev("COUNT(DISTINCT visitor)"),
    "yes_visitors": ev("COUNT(DISTINCT CASE WHEN flag = 'yes' THEN visitor END)"),
    "a_visitors": ev("COUNT(DISTINCT visitor) FILTER (WHERE channel = 'a')"),
    "amount_per_visitor": ev(ratio("SUM(amount)", "COUNT(DISTINCT visitor)")),
    "qty_per_yes_visitor": ev(
        ratio("SUM(qty)", "COUNT(DISTINCT CASE WHEN flag = 'yes' THEN visitor END)")
    ),
    "avg_score": ev("AVG(score)"),
    "rows": ev("COUNT(*)"),
    "amount": ev("SUM(amount)"),
    "max_amount": ev("MAX(amount)"),
    "cost": lambda s: s.agg("cost", "day", "SUM(cost)"),
    "cost_per_visitor": cost_and_ev("COUNT(DISTINCT visitor)", ratio("{cost}", "{ev}")),
}


#: Visitors seen on several channels (v1 on a and b, v3 on b and c, v5 twice on c), so that
#: a total counting each channel's visitors again would be wrong.
MORE_EVENTS = """\
2026-10-04,b,v1,1.00,1,1.0,yes,
2026-10-06,c,v3,2.00,2,2.0,yes,
2026-10-06,c,v5,3.00,0,6.0,yes,
2026-10-13,b,v1,,4,,no,
"""


@pytest.fixture
def distinct(tmp_path: Path):
    (tmp_path / "events.csv").write_text(EVENTS + MORE_EVENTS, encoding="utf-8")
    (tmp_path / "costs.csv").write_text(COSTS, encoding="utf-8")
    (tmp_path / "kpi_config.yaml").write_text(DISTINCT_CONFIG, encoding="utf-8")
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE ev AS SELECT * FROM read_csv('{tmp_path / 'events.csv'}', header = true, "
        "types = {'day': 'DATE', 'channel': 'VARCHAR', 'visitor': 'VARCHAR', "
        "'amount': 'DECIMAL(18,2)', 'qty': 'BIGINT', 'score': 'DOUBLE', 'flag': 'VARCHAR', "
        "'closed_at': 'DATE'})"
    )
    con.execute(
        f"CREATE TABLE cost AS SELECT * FROM read_csv('{tmp_path / 'costs.csv'}', header = true, "
        "types = {'day': 'DATE', 'channel': 'VARCHAR', 'cost': 'DECIMAL(18,2)'})"
    )
    yield load_config(tmp_path / "kpi_config.yaml"), con
    con.close()


def test_distinct_config_is_split_in_two_group_bys(distinct) -> None:
    """The ev KPIs take the two-group_by route (else the tests below test the old one)."""
    from kpicli.spec.formula import split_distinct

    cfg, _ = distinct
    ev_kpis = {n: k.formula for n, k in cfg.kpis.items() if k.source == "ev"}
    split = split_distinct(ev_kpis)
    assert split is not None and split.key == '"visitor"'
    assert len(split.counts) == 2  # unfiltered, and FILTER (WHERE flag = 'yes')
    assert split_distinct({**ev_kpis, "m": "MEDIAN(score)"}) is None
    assert split_distinct({**ev_kpis, "q": "COUNT(DISTINCT qty)"}) is None
    assert split_distinct({"amount": "SUM(amount)"}) is None


@pytest.mark.engines("polars")  # the Polars queries' plan
def test_distinct_counts_scan_the_rows_once(distinct) -> None:
    """The rows and the totals share the first group_by's small result, never the scanned
    rows (two consumers of a scan made Polars keep every row in memory: 1.9 GB at 40 M rows
    in bench/, against 0.43 GB now)."""
    from kpicli.execute.engine import prepare_report
    from kpicli.execute.queries import queries

    cfg, _ = distinct
    names = tuple(n for n, k in cfg.kpis.items() if k.source == "ev")
    request = Request(period="2026-10", kpis=names, by=("channel",), as_of=AS_OF)
    prepared = prepare_report(cfg, request)
    (q,) = queries(prepared.plan, prepared.sources)
    plan = pl.explain_all([q.rows, q.totals])
    assert plan.count("Csv SCAN") == 1
    assert '"__distinct"' in plan and 'col("visitor").n_unique()' not in plan
    # the shared node (CACHE) holds the first group_by's result: an AGGREGATE under it
    below_cache = plan.split("CACHE[", 1)[1].splitlines()[1].strip()
    assert below_cache.startswith("AGGREGATE"), plan


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_distinct_counts_in_two_group_bys(distinct, case: str) -> None:
    """Distinct counts with and without FILTER, beside sums, AVG, MAX, with --by (totals
    count each visitor once over every channel), grains and empty buckets: DuckDB's."""
    cfg, con = distinct
    period, bounds, grain, dims = EDGE_CASES[case]
    result = report(cfg, period=period, kpis=tuple(cfg.kpis), grain=grain, by=dims)
    scope = Scope(*bounds, grain=grain, dims=dims)
    for name, sql_of in DISTINCT_ORACLES.items():
        check(con, result, name, sql_of, scope, exact_keys=False)
    assert_no_non_finite(result)


def test_distinct_totals_count_a_visitor_once(distinct) -> None:
    """In October, by channel: a has v1, v2, v7; b v3, v1; c v5, v6, v3; the blank channel
    v4: 3 + 2 + 3 + 1 = 9 by channel, 7 visitors in total. With FILTER (WHERE flag = 'yes'):
    a v1, v2; b v1; c v3, v5; blank v4: 6 by channel, 5 in total."""
    cfg, con = distinct
    result = report(cfg, period="2026-10", kpis=("visitors", "yes_visitors"), by=("channel",))
    rows = {(k, c): v for k, c, v in result.rows.select("kpi", "channel", "value").iter_rows()}
    totals = dict(result.totals.select("kpi", "value").iter_rows())
    sql = "SELECT COUNT(DISTINCT visitor) FROM ev WHERE day BETWEEN '2026-10-01' AND '2026-10-31'"
    assert totals["visitors"] == con.sql(sql).fetchall()[0][0] == 7
    by_channel = {c: v for (k, c), v in rows.items() if k == "visitors"}
    assert by_channel == {"a": 3, "b": 2, "c": 3, None: 1}
    assert totals["yes_visitors"] == 5
    assert sum(v for (k, _), v in rows.items() if k == "yes_visitors") == 6


@pytest.mark.engines("polars")  # the Parquet cache is the Polars engine's
@pytest.mark.slow
@pytest.mark.parametrize("case", ["october-by-channel", "week-by-channel", "day"])
def test_distinct_counts_from_the_cache(distinct, case: str, tmp_path: Path) -> None:
    cfg, con = distinct
    period, bounds, grain, dims = EDGE_CASES[case]
    scope = Scope(*bounds, grain=grain, dims=dims)
    cache = tmp_path / "cache"
    for _ in ("fill", "hit"):
        result = report(
            cfg, period=period, kpis=tuple(cfg.kpis), grain=grain, by=dims, cache=str(cache)
        )
        for name, sql_of in DISTINCT_ORACLES.items():
            check(con, result, name, sql_of, scope, exact_keys=False)


# --- exact cents -------------------------------------------------------------------------

MONEY_CONFIG = """\
version: 1
sources:
  m: {path: money.csv, date: day}
kpis:
  spend: {source: m, formula: SUM(spend)}
  revenue: {source: m, formula: SUM(revenue)}
  profit: {formula: revenue - spend}
  roi: {formula: (revenue - spend) / spend}
  spend_per_profit: {formula: spend / (revenue - spend)}
"""


def money_files(tmp_path: Path, rows: list[tuple[str, str, str]]) -> tuple[Any, Any]:
    lines = ["day,spend,revenue", *(",".join(r) for r in rows)]
    (tmp_path / "money.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "kpi_config.yaml").write_text(MONEY_CONFIG, encoding="utf-8")
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE m AS SELECT * FROM read_csv('{tmp_path / 'money.csv'}', header = true, "
        "types = {'day': 'DATE', 'spend': 'DECIMAL(18,2)', 'revenue': 'DECIMAL(18,2)'})"
    )
    return load_config(tmp_path / "kpi_config.yaml"), con


def test_sums_are_exact_to_the_cent(tmp_path: Path) -> None:
    rng = random.Random(20261115)
    rows = [("2026-10-01", "0.10", "0.30"), ("2026-10-01", "0.20", "0.00")]
    for i in range(3000):
        day = date(2026, 10, 1) + timedelta(days=i % 31)
        rows.append(
            (
                day.isoformat(),
                f"{rng.randint(0, 99999) / 100:.2f}",
                rng.choice(["0.1", "0.7", "19.99"]),
            )
        )
    cfg, con = money_files(tmp_path, rows)
    result = report(cfg, period="2026-10", kpis=("spend", "revenue", "profit", "roi"))
    got = dict(result.rows.select("kpi", "value").iter_rows())
    spend, revenue = con.sql("SELECT SUM(spend), SUM(revenue) FROM m").fetchall()[0]
    assert isinstance(spend, Decimal)
    assert round(got["spend"], 2) == float(spend)
    assert round(got["revenue"], 2) == float(revenue)
    assert close(got["spend"], spend) and close(got["revenue"], revenue)
    assert close(got["profit"], revenue - spend)
    assert close(got["roi"], float(revenue - spend) / float(spend))


def test_point_one_plus_point_two(tmp_path: Path) -> None:
    cfg, con = money_files(tmp_path, [("2026-10-01", "0.10", "0.30"), ("2026-10-02", "0.20", "0")])
    result = report(cfg, period="2026-10", kpis=("spend", "revenue", "profit", "roi"))
    got = dict(result.rows.select("kpi", "value").iter_rows())
    assert round(got["spend"], 2) == 0.3
    want = con.sql("SELECT SUM(spend), SUM(revenue), SUM(revenue) - SUM(spend) FROM m").fetchall()
    assert want == [(Decimal("0.30"), Decimal("0.30"), Decimal("0.00"))]
    assert close(got["spend"], want[0][0])
    assert close(got["profit"], 0)
    assert close(got["roi"], 0)


def test_division_by_a_zero_difference_of_cents_is_null(tmp_path: Path) -> None:
    """In binary floating point 0.30 - (0.10 + 0.20) is -5.55e-17, not 0: the division would
    give -5.4e15 instead of null."""
    cfg, con = money_files(tmp_path, [("2026-10-01", "0.10", "0.30"), ("2026-10-02", "0.20", "0")])
    result = report(cfg, period="2026-10", kpis=("spend_per_profit",))
    want = con.sql(f"SELECT {ratio('SUM(spend)', 'SUM(revenue) - SUM(spend)')} FROM m")
    assert want.fetchall() == [(None,)]
    assert kpi_values(result.rows, "spend_per_profit", [])[()] is None


def test_sum_and_avg_of_small_floats(tmp_path: Path) -> None:
    """Floats that are not money (rates, averages exported by a tool) keep their precision."""
    days = [date(2026, 10, 1) + timedelta(days=i % 31) for i in range(1000)]
    rows = [f"{d},{'0.0123456789012' if i % 2 else '0.0000000004'}" for i, d in enumerate(days)]
    (tmp_path / "r.csv").write_text("day,rate\n" + "\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "kpi_config.yaml").write_text(
        "version: 1\nsources:\n  r: {path: r.csv, date: day}\nkpis:\n"
        "  sum_rate: {source: r, formula: SUM(rate)}\n"
        "  avg_rate: {source: r, formula: AVG(rate)}\n"
        "  tiny_rates: {source: r, formula: SUM(rate), filter: rate < 0.001}\n",
        encoding="utf-8",
    )
    want = duckdb.sql(
        "SELECT SUM(rate), SUM(rate) / COUNT(rate), SUM(rate) FILTER (WHERE rate < 0.001) "
        f"FROM read_csv('{tmp_path / 'r.csv'}', types = {{'rate': 'DOUBLE'}})"
    ).fetchall()[0]
    names = ("sum_rate", "avg_rate", "tiny_rates")
    result = report(load_config(tmp_path / "kpi_config.yaml"), kpis=names)
    got = dict(result.rows.select("kpi", "value").iter_rows())
    bad = {n: (got[n], w) for n, w in zip(names, want, strict=True) if not close(got[n], w)}
    assert not bad, f"(kpi, duckdb): {bad}"


def test_sum_of_a_huge_float(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("day,x\n2026-10-01,1e30\n2026-10-02,2.5\n", encoding="utf-8")
    (tmp_path / "kpi_config.yaml").write_text(
        "version: 1\nsources:\n  h: {path: h.csv, date: day}\n"
        "kpis:\n  sum_x: {source: h, formula: SUM(x)}\n",
        encoding="utf-8",
    )
    want = duckdb.sql(f"SELECT SUM(x) FROM read_csv('{tmp_path / 'h.csv'}')").fetchall()[0][0]
    result = report(load_config(tmp_path / "kpi_config.yaml"), kpis=("sum_x",))
    assert close(kpi_values(result.rows, "sum_x", [])[()], want)


# --- property test -----------------------------------------------------------------------

PROPERTY_CONFIG = """\
version: 1
sources:
  t: {path: t.csv, date: day}
kpis:
  n: {source: t, formula: SUM(n)}
  rows: {source: t, formula: COUNT(*)}
  x: {source: t, formula: SUM(x)}
  n_per_x: {formula: n / x}
  x_per_row: {formula: x / rows}
  x_per_n: {source: t, formula: SUM(x) / SUM(n)}
"""
PROPERTY_ORACLES: dict[str, Oracle] = {
    "n": lambda s: s.agg("t", "day", "SUM(n)"),
    "rows": lambda s: s.agg("t", "day", "COUNT(*)"),
    "x": lambda s: s.agg("t", "day", "SUM(x)"),
    "n_per_x": lambda s: s.agg("t", "day", ratio("SUM(n)", "SUM(x)")),
    "x_per_row": lambda s: s.agg("t", "day", ratio("SUM(x)", "COUNT(*)")),
    "x_per_n": lambda s: s.agg("t", "day", ratio("SUM(x)", "SUM(n)")),
}

row_strategy = st.tuples(
    st.integers(0, 9),  # day: 2026-10-01 + offset
    st.sampled_from(["a", "b", "c"]),
    st.one_of(st.none(), st.integers(0, 5)),  # n: int with zeros and nulls
    st.one_of(st.just(0), st.integers(0, 50_000)),  # x: cents, often zero
)


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rows=st.lists(row_strategy, min_size=1, max_size=30))
def test_property_sum_count_ratio_by_channel(rows: list[tuple[int, str, int | None, int]]) -> None:
    assume(any(n is not None for _, _, n, _ in rows))  # an all-empty column is not numeric
    start = date(2026, 10, 1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        lines = ["day,channel,n,x"] + [
            f"{start + timedelta(days=d)},{c},{'' if n is None else n},{x / 100:.2f}"
            for d, c, n, x in rows
        ]
        (folder / "t.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (folder / "kpi_config.yaml").write_text(PROPERTY_CONFIG, encoding="utf-8")
        con = duckdb.connect()
        con.execute(
            f"CREATE TABLE t AS SELECT * FROM read_csv('{folder / 't.csv'}', header = true, "
            "types = {'day': 'DATE', 'channel': 'VARCHAR', 'n': 'BIGINT', "
            "'x': 'DECIMAL(18,2)'})"
        )
        cfg = load_config(folder / "kpi_config.yaml")
        # Days 0-9 of October; the period stops on the 8th and as_of on the 6th.
        result = report(
            cfg,
            period="2026-10-02..2026-10-08",
            as_of=date(2026, 10, 6),
            kpis=tuple(PROPERTY_ORACLES),
            by=("channel",),
        )
        scope = Scope(date(2026, 10, 2), date(2026, 10, 8), as_of=date(2026, 10, 6))
        scope = replace(scope, dims=("channel",))
        for name, sql_of in PROPERTY_ORACLES.items():
            check(con, result, name, sql_of, scope)
        assert_no_non_finite(result)
        con.close()


# --- the same from the Parquet cache (filled, then hit) -------------------------------------

FROM_CACHE = {
    "october-by-channel": (dict(period="2026-10", by=("channel",)), OCTOBER),
    "all-by-channel": (dict(period="all", by=("channel",)), ALL),
    "2026-by-month": (dict(period="2026", grain="month"), YEAR_2026),
    "2026-by-month-where": (dict(period="2026", grain="month", where=GOOGLE), YEAR_2026),
    "october-by-week-and-channel": (
        dict(period="2026-10", grain="week", by=("channel",)),
        OCTOBER,
    ),
}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kpi-cache")


@pytest.mark.engines("polars")  # the Parquet cache is the Polars engine's
@pytest.mark.slow
@pytest.mark.parametrize("case", list(FROM_CACHE))
def test_all_kpis_from_the_cache(cfg, db, cache_dir: Path, case: str) -> None:
    """With --cache, every KPI equals the oracle when the cache is filled and when it is hit
    (the daily partial aggregates re-aggregated into periods, grains and totals)."""
    request, bounds = FROM_CACHE[case]
    scope = Scope(
        *bounds,
        where=request.get("where"),
        grain=request.get("grain"),
        dims=request.get("by", ()),
    )
    for _ in ("fill", "hit"):
        result = report(cfg, kpis=tuple(cfg.kpis), cache=str(cache_dir), **request)
        for name in KPI_NAMES:
            check(db, result, name, ORACLES[name], scope, exact_keys=not scope.dims)
