"""Hostile SQL in the four places users write it (issue 11).

A source KPI's formula, a derived KPI's formula, a source's `filter`/`derive`, a KPI's
`filter` and `--where` are SQL. None of them may reach outside the rows (a subquery, a
table function, a file), none but a source KPI's formula may aggregate, none may use a
window; each is refused before anything reaches Polars, as a config error located at
``file:line key.path`` (or a usage error for --where), whose text quotes neither the engine's
internals nor a file's content. Arithmetic never wraps around nor turns an overflow into a
null: values are checked against exact integer arithmetic (Python) and DuckDB. A chain of
3,000 derived KPIs is computed.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kpicli.cli import app
from kpicli.errors import engine_detail

runner = CliRunner()
SECRET = "kpi-secret-line-7f3a9c"
DATA = """date,channel,spend,clicks
2026-01-01,a,10,3
2026-01-02,b,20,4
2026-01-03,a,30,5
"""
INTERNALS = ("__POLARS", "POLARS_CSER", "valid columns", "Traceback", "internal error")


@dataclass
class Config:
    """A config written line by line, remembering the line of each key path."""

    folder: Path
    source: dict[str, str] = field(default_factory=dict)  # filter, derive (key → SQL)
    derive: dict[str, str] = field(default_factory=dict)
    kpis: dict[str, dict[str, str]] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)

    def write(self) -> Path:
        out = ["version: 1", "sources:", "  ads:", "    path: data.csv", "    date: date"]
        if "filter" in self.source:
            self.lines["sources.ads.filter"] = len(out) + 1
            out.append(f"    filter: {json.dumps(self.source['filter'])}")
        if self.derive:
            out.append("    derive:")
            for col, text in self.derive.items():
                self.lines[f"sources.ads.derive.{col}"] = len(out) + 1
                out.append(f"      {col}: {json.dumps(text)}")
        out.append("kpis:")
        for name, keys in self.kpis.items():
            out.append(f"  {name}:")
            for key, value in keys.items():
                self.lines[f"kpis.{name}.{key}"] = len(out) + 1
                out.append(f"    {key}: {json.dumps(value)}")
        path = self.folder / "kpi_config.yaml"
        path.write_text("\n".join(out) + "\n")
        return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "data.csv").write_text(DATA)
    (tmp_path / "secret.csv").write_text(f"{SECRET}\n{SECRET}-2\n")
    return tmp_path


def report(cfg: Path, *args: str):
    return runner.invoke(
        app, ["report", "-c", str(cfg), "--as-of", "2026-01-10", "-f", "json", *args]
    )


def clean(result) -> None:
    """No engine internals, no file content, no traceback, in anything printed."""
    text = result.stdout + result.stderr
    assert SECRET not in text, text
    for word in INTERNALS:
        assert word not in text, text


#: Each place a user writes SQL: how a payload (a predicate) is put there, and the key path
#: (None for --where) its error names.
PLACES = {
    "source filter": "sources.ads.filter",
    "derive": "sources.ads.derive.d",
    "KPI filter": "kpis.spend.filter",
    "KPI formula": "kpis.spend.formula",
    "derived KPI formula": "kpis.share.formula",
    "--where": None,
}


def placed(folder: Path, place: str, payload: str) -> tuple[Config, list[str]]:
    """A config (and report arguments) with ``payload`` at ``place``."""
    cfg = Config(folder, kpis={"spend": {"source": "ads", "formula": "SUM(spend)"}})
    args: list[str] = []
    if place == "source filter":
        cfg.source["filter"] = payload
    elif place == "derive":
        cfg.derive["d"] = f"CASE WHEN {payload} THEN 1 ELSE 0 END"
    elif place == "KPI filter":
        cfg.kpis["spend"]["filter"] = payload
    elif place == "KPI formula":
        cfg.kpis["spend"]["formula"] = f"SUM(CASE WHEN {payload} THEN spend END)"
    elif place == "derived KPI formula":
        cfg.kpis["share"] = {"formula": f"CASE WHEN {payload} THEN spend END"}
    else:
        args = ["--where", payload]
    return cfg, args


def assert_refused(folder: Path, place: str, payload: str, message: str, *extra: str):
    cfg, args = placed(folder, place, payload)
    path = cfg.write()
    r = report(path, *args, *extra)
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    first = r.stderr.splitlines()[0]
    key = PLACES[place]
    if key is None:
        assert first.startswith(f"usage error: invalid --where `{payload}`: "), first
    else:
        assert first.startswith(f"config error: {path}:{cfg.lines[key]} {key}: "), first
    assert message in r.stderr, r.stderr
    assert r.stdout == ""
    clean(r)
    return r


# ---------------------------------------------------------------------------- outside the rows


def outside(folder: Path) -> list[tuple[str, str]]:
    """SQL that reads a file, another table or the engine's state: (payload, message)."""
    secret = folder / "secret.csv"
    subquery = "a subquery or table"
    return [
        (f"spend IN (SELECT column0 FROM read_csv('{secret}'))", subquery),
        (f"EXISTS (SELECT * FROM read_csv('{secret}'))", subquery),
        (f"(SELECT COUNT(*) FROM read_csv('{secret}')) > 0", subquery),
        (f"spend = ANY (SELECT column0 FROM read_csv('{secret}'))", subquery),
        ("spend IN (SELECT column0 FROM read_csv('/dev/urandom'))", subquery),
        ("spend IN UNNEST([1, 2])", subquery),
        (f"read_csv('{secret}') IS NULL", "function `READ_CSV` is not allowed here"),
        ("read_csv('/dev/urandom') IS NULL", "function `READ_CSV` is not allowed here"),
        (f"read_parquet('{secret}') IS NULL", "function `READ_PARQUET` is not allowed here"),
        (f"pg_read_file('{secret}') = 'x'", "function `PG_READ_FILE` is not allowed here"),
        ("CURRENT_DATE IS NULL", "function `CURRENT_DATE` is not allowed here"),
        ("ads.spend > 0", "is not a column name"),
        ("CAST(spend AS STRUCT<a INT>) IS NULL", "CAST to `STRUCT<a INT>` is not allowed"),
    ]


@pytest.mark.parametrize("place", list(PLACES))
def test_nothing_reaches_outside_the_rows(folder: Path, place: str) -> None:
    for payload, message in outside(folder):
        assert_refused(folder, place, payload, message)


def test_a_function_not_on_the_list_is_named_and_the_allowed_ones_listed(folder: Path) -> None:
    r = assert_refused(
        folder, "source filter", f"read_csv('{folder / 'secret.csv'}') IS NULL", "READ_CSV"
    )
    assert "config error:" in r.stderr
    assert "function `READ_CSV` is not allowed here" in r.stderr
    hint = r.stderr.splitlines()[1]
    assert hint.startswith("  hint: allowed: functions ABS, ")
    assert "COALESCE" in hint and "SUM, COUNT, AVG" in hint


def test_a_comment_cannot_smuggle_sql_past_the_check(folder: Path) -> None:
    """Comments never reach Polars: what follows `--` is gone, whatever it says."""
    cfg, args = placed(folder, "--where", "spend > 0 -- */ OR 1 IN (SELECT 1)")
    r = report(cfg.write(), *args)
    assert r.exit_code == 0, r.stderr
    assert sum(row["value"] for row in json.loads(r.stdout)["rows"]) == 60


# ---------------------------------------------------------------------------- aggregates, windows


@pytest.mark.parametrize("place", ["source filter", "derive", "KPI filter", "--where"])
@pytest.mark.parametrize("cache", [False, True])
def test_a_row_expression_cannot_aggregate(folder: Path, place: str, cache: bool) -> None:
    extra = ["--cache", str(folder / "cache")] if cache else []
    for payload in ("spend > AVG(spend)", "spend > (SELECT AVG(spend))", "COUNT(*) > 1"):
        message = "subquery" if "SELECT" in payload else "is an aggregate, but this expression"
        assert_refused(folder, place, payload, message, *extra)


@pytest.mark.parametrize("place", list(PLACES))
def test_no_window_anywhere(folder: Path, place: str) -> None:
    assert_refused(folder, place, "SUM(spend) OVER () > 1", "a window function")
    assert_refused(folder, place, "ROW_NUMBER() OVER (ORDER BY spend) = 1", "a window function")


def test_a_derived_kpi_still_refuses_aggregates(folder: Path) -> None:
    cfg = Config(
        folder,
        kpis={
            "spend": {"source": "ads", "formula": "SUM(spend)"},
            "twice": {"formula": "SUM(spend) * 2"},
        },
    )
    r = report(cfg.write())
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == (
        f"config error: {folder / 'kpi_config.yaml'}:{cfg.lines['kpis.twice.formula']} "
        "kpis.twice.formula: formula `SUM(spend) * 2` aggregates but the KPI has no `source`"
    )


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("SUM(spend) + clicks", "column `clicks` is used outside an aggregate"),
        ("SUM(SUM(spend))", "`SUM(spend)` is an aggregate inside another aggregate"),
        ("COUNT(*) FILTER (WHERE spend > AVG(spend))", "`AVG(spend)` is an aggregate inside"),
        ("spend", "has no aggregate"),
        ("LOG(SUM(spend))", "LOG needs a base"),
        ("COUNT(DISTINCT spend, clicks)", "DISTINCT is only allowed as COUNT(DISTINCT column)"),
        ("SUM(DISTINCT spend)", "DISTINCT is only allowed as COUNT(DISTINCT column)"),
        ("SUM(spend) * 1e400", "the number `1e400` cannot be represented"),
        ("SUM(" * 30 + "spend" + ")" * 30, "nests more than 24 levels"),
        ("SUM(spend) * " + "ABS(" * 23 + "-(1)" + ")" * 23, "more than 24 levels"),
        ("LN(" * 20 + "SUM(spend)" + ")" * 20, "once its arithmetic is made safe"),
        (" + ".join(["COUNT(*)"] * 700), "more than 2,000 terms"),
        (" + ".join(["SUM(spend)"] * 1000), "longer than 10,000 characters"),
    ],
)
def test_a_source_kpi_formula_aggregates_rows(folder: Path, formula: str, message: str) -> None:
    cfg = Config(folder, kpis={"spend": {"source": "ads", "formula": formula}})
    path = cfg.write()
    r = report(path)
    assert r.exit_code == 2, (r.exit_code, r.stderr)
    line = cfg.lines["kpis.spend.formula"]
    assert r.stderr.startswith(f"config error: {path}:{line} kpis.spend.formula: "), r.stderr
    assert message in r.stderr
    clean(r)
    v = runner.invoke(app, ["validate", "-c", str(path)])
    assert v.exit_code == 2 and message in v.stdout + v.stderr


# ---------------------------------------------------------------------------- types


@pytest.mark.parametrize("place", ["source filter", "KPI filter", "--where"])
def test_a_condition_is_true_or_false(folder: Path, place: str) -> None:
    for payload, gives in (
        ("channel", "text"),
        ("spend * 2", "a number"),
        ("date", "a date"),
        ("NULL", "NULL (no row would be kept)"),  # was exit 3 with Polars' words
    ):
        cfg, args = placed(folder, place, payload)
        path = cfg.write()
        r = report(path, *args)
        assert r.exit_code == 2, (payload, r.stderr)
        key = PLACES[place]
        head = (
            f"usage error: --where `{payload}`"
            if key is None
            else f"config error: {path}:{cfg.lines[key]} {key}: filter `{payload}`"
        )
        assert r.stderr.startswith(f"{head} is not a condition: it gives {gives}\n"), r.stderr


@pytest.mark.parametrize(
    ("formula", "gives"),
    [
        ("CASE WHEN spend > 0 THEN 'x' END", "gives text, not a number"),
        ("'abc'", "gives text, not a number"),
        ("DATE '2026-01-01'", "gives a date, not a number"),
        ("spend / DATE '2026-01-01'", "invalid formula"),
    ],
)
def test_a_derived_kpi_is_a_number(folder: Path, formula: str, gives: str) -> None:
    """These ended in exit 70 (a failed cast, or a division by a date, at collect time)."""
    cfg = Config(
        folder,
        kpis={"spend": {"source": "ads", "formula": "SUM(spend)"}, "d": {"formula": formula}},
    )
    path = cfg.write()
    r = report(path)
    assert r.exit_code == 2, r.stderr
    assert r.stderr.startswith(
        f"config error: {path}:{cfg.lines['kpis.d.formula']} kpis.d.formula: "
    )
    assert gives in r.stderr
    clean(r)


def test_a_source_kpi_is_a_number(folder: Path) -> None:
    cfg = Config(folder, kpis={"first": {"source": "ads", "formula": "MIN(date)"}})
    path = cfg.write()
    r = report(path)
    assert r.exit_code == 2
    assert r.stderr.startswith(
        f"config error: {path}:{cfg.lines['kpis.first.formula']} kpis.first.formula: "
        "formula `MIN(date)` gives a date, not a number"
    )


# ---------------------------------------------------------------------------- engine messages


def test_engine_detail_keeps_neither_internal_names_nor_schemas() -> None:
    try:
        pl.DataFrame({"root:x:0:0:root:/root:/bin/bash": [1]}).lazy().select(
            pl.col("column0")
        ).collect()
    except pl.exceptions.PolarsError as err:
        detail = engine_detail(err)
    assert detail == 'unable to find column "column0"'
    assert engine_detail('__POLARS_CSER_0x1f2e3d not found; schema: [a, "b"]') == (
        "(internal) not found"
    )
    assert len(engine_detail("x" * 5000)) == 200
    # names of Polars' temporary columns, and its advice to Python programmers
    assert engine_detail(
        "conversion from `str` to `f64` failed in column '_POLARS_TMP_PHYS_11' for 1 values"
    ) == ("conversion from `str` to `f64` failed in column '(internal)' for 1 values")
    assert engine_detail(
        "cannot compare 'date/datetime/time' to a string value (create native python "
        "{ 'date', 'datetime', 'time' } or compare to a temporal column)"
    ) == ("cannot compare 'date/datetime/time' to a string value")


def test_polars_errors_are_located_and_one_line(folder: Path) -> None:
    """What Polars still refuses (types) is said in one line, without its expression dump."""
    cfg = Config(folder, kpis={"spend": {"source": "ads", "formula": "SUM(spend)"}})
    cfg.derive["d"] = "spend + 'x'"
    path = cfg.write()
    r = report(path)
    assert r.exit_code == 2
    assert r.stderr == (
        f"config error: {path}:{cfg.lines['sources.ads.derive.d']} sources.ads.derive.d: "
        "invalid SQL `spend + 'x'`: arithmetic on dtypes i64 and str is not allowed "
        "(lhs: column 'spend', rhs: expression `\"x\"`); try an explicit cast first\n"
    )
    cfg.derive["d"] = "LOWER(spend)"  # refused by Polars only when it runs
    cfg.kpis["kinds"] = {"source": "ads", "formula": "COUNT(DISTINCT d)"}
    r = report(cfg.write())
    assert r.exit_code == 3
    assert r.stderr.startswith("data error: ") and "cannot compute" in r.stderr
    assert "This error occurred" not in r.stderr and len(r.stderr.splitlines()) == 2
    clean(r)


# ---------------------------------------------------------------------------- overflow

BIG = 10**18 - 1  # the largest integer a CSV column is read as Int64 with (18 digits)
WIDE = 2**63 - 1  # 19 digits: read as Float64


@pytest.fixture
def big(tmp_path: Path) -> Path:
    rows = [
        ("2026-01-01", "a", BIG, 3, WIDE),
        ("2026-01-02", "b", BIG, 4, WIDE),
        ("2026-01-03", "a", -BIG, 5, 2**62),
        ("2026-01-03", "a", BIG, 5, 2**62),
    ]
    text = "date,channel,n,clicks,w\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    (tmp_path / "data.csv").write_text(text)
    return tmp_path


def duck(folder: Path, select: str, group: str | None = None) -> list[float | None]:
    """DuckDB over the same file (HUGEINT/DOUBLE, never wrapping): one value per group."""
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE t AS SELECT * FROM read_csv('{folder / 'data.csv'}', "
        "columns={'date': 'DATE', 'channel': 'VARCHAR', 'n': 'HUGEINT', 'clicks': 'HUGEINT', "
        "'w': 'DOUBLE'})"
    )
    if group is None:
        return [con.execute(f"SELECT {select} FROM t").fetchone()[0]]
    sql = f"SELECT {select} FROM t GROUP BY {group} ORDER BY {group}"
    return [row[0] for row in con.execute(sql).fetchall()]


def values(r, by: bool = False) -> dict[str, list[float | None]]:
    assert r.exit_code == 0, r.stderr
    out: dict[str, list[float | None]] = {}
    for row in json.loads(r.stdout)["rows"]:
        out.setdefault(row["kpi"], []).append(row["value"])
    return out


def close(a: float | None, b: float | None, rel: float = 1e-12) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, float(b), rel_tol=rel, abs_tol=1e-9)


OVERFLOWING = {
    # name: (kpi formula, DuckDB expression)
    "power": ("POWER(10, 19) * SUM(clicks)", "POWER(10::DOUBLE, 19) * SUM(clicks)"),
    "counts": (
        "COUNT(*) * COUNT(*) * COUNT(*) * 1000000000000000000",
        "COUNT(*)::HUGEINT * COUNT(*) * COUNT(*) * 1000000000000000000",
    ),
    "sum": ("SUM(n)", "SUM(n)"),
    "wide_sum": ("SUM(w)", "SUM(w)"),
    "products": ("SUM(n * clicks)", "SUM(n * clicks)"),
    "squares": ("SUM(n * n)", "SUM(n * n)"),
    "cube": ("MAX(n) * MAX(n) * MAX(n)", "MAX(n)::DOUBLE * MAX(n) * MAX(n)"),
    "int_cast": ("SUM(CAST(clicks AS INT)) * 2147483647", "SUM(clicks) * 2147483647"),
    "negated": ("-SUM(n) * 4", "-SUM(n) * 4"),
    "ratio": ("SUM(n) / COUNT(*)", "SUM(n) / COUNT(*)"),
}


@pytest.mark.parametrize("by", [False, True])
@pytest.mark.parametrize("cache", [False, True])
def test_arithmetic_on_aggregates_never_wraps(big: Path, by: bool, cache: bool) -> None:
    cfg = Config(
        big, kpis={k: {"source": "ads", "formula": f} for k, (f, _) in OVERFLOWING.items()}
    )
    cfg.kpis["product"] = {"formula": "sum * sum * counts"}  # derived: over Float64 values
    cfg.derive["nc"] = "n * clicks * clicks"  # row arithmetic over Int64 columns
    cfg.kpis["derived_col"] = {"source": "ads", "formula": "SUM(nc)"}
    extra = (["--by", "channel"] if by else []) + (["--cache", str(big / "c")] if cache else [])
    got = values(report(cfg.write(), *extra))
    group = "channel" if by else None
    for name, (_, sql) in OVERFLOWING.items():
        expected = duck(big, sql, group)
        assert all(close(a, b) for a, b in zip(got[name], expected, strict=True)), name
    sums, counts = duck(big, "SUM(n)", group), duck(big, "COUNT(*)::DOUBLE ** 3 * 1e18", group)
    assert all(
        close(a, float(s) * float(s) * c)
        for a, s, c in zip(got["product"], sums, counts, strict=True)
    )
    expected = duck(big, "SUM(n * clicks * clicks)", group)
    assert all(close(a, b) for a, b in zip(got["derived_col"], expected, strict=True))


def test_a_value_too_large_to_represent_is_an_error_naming_the_kpi(big: Path) -> None:
    for formula in ("POWER(SUM(n), 20)", "EXP(SUM(clicks) * 100)", "SUM(w) * 1e300"):
        cfg = Config(big, kpis={"huge": {"source": "ads", "formula": formula}})
        path = cfg.write()
        r = report(path)
        assert r.exit_code == 3, (formula, r.stderr)
        assert r.stderr.startswith(
            f"data error: {path}:{cfg.lines['kpis.huge.formula']} kpis.huge.formula: "
            "KPI `huge`: the value is too large to represent"
        )
    cfg = Config(
        big,
        kpis={
            "n": {"source": "ads", "formula": "SUM(n)"},
            "cancel": {"formula": "POWER(n, 40) - POWER(n, 40)"},  # inf - inf: not a null
        },
    )
    r = report(cfg.write())
    assert r.exit_code == 3 and "KPI `cancel`: the value is too large" in r.stderr


def test_an_infinite_value_in_the_data_is_an_overflow(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("date,x\n2026-01-01,1e400\n2026-01-02,1\n")
    cfg = Config(tmp_path, kpis={"x": {"source": "ads", "formula": "SUM(x)"}})
    r = report(cfg.write())
    assert r.exit_code == 3 and "KPI `x`: the value is too large" in r.stderr


def test_division_by_zero_and_domain_errors_stay_null(folder: Path) -> None:
    """SPEC.md: division by zero and non-finite results are null (not an overflow)."""
    cfg = Config(
        folder,
        kpis={
            "spend": {"source": "ads", "formula": "SUM(spend)"},
            "zero": {"source": "ads", "formula": "SUM(spend) / (COUNT(*) - COUNT(*))"},
            "modulo": {"source": "ads", "formula": "SUM(spend) % (COUNT(*) - COUNT(*))"},
            "by_zero": {"formula": "spend / 0"},
            "log": {"formula": "LN(spend - spend)"},
            "log_base": {"formula": "LOG(1, spend)"},
            "root": {"formula": "SQRT(0 - spend)"},
            "inverse": {"formula": "POWER(spend - spend, -1)"},
            "real": {"formula": "POWER(0 - spend, 0.5)"},
            "fine": {"formula": "SQRT(spend) + LN(spend) + POWER(spend, -1)"},
        },
    )
    got = values(report(cfg.write()))
    for name in ("zero", "modulo", "by_zero", "log", "log_base", "root", "inverse", "real"):
        assert got[name] == [None], name
    assert close(got["fine"][0], math.sqrt(60) + math.log(60) + 1 / 60)


def test_logarithms_to_a_base_are_sqls(folder: Path) -> None:
    """LOG(base, x) is the logarithm of x to the base (SQL's order; Polars' own SQL reads
    the arguments the other way round: LOG10(100) was 0.5), in formulas, derived KPIs and
    a source's derive."""
    cfg = Config(
        folder,
        kpis={
            "spend": {"source": "ads", "formula": "SUM(spend)"},
            "log10": {"source": "ads", "formula": "LOG10(SUM(spend))"},
            "log2": {"source": "ads", "formula": "LOG2(SUM(spend))"},
            "log3": {"formula": "LOG(3, spend)"},
            "derived": {"source": "ads", "formula": "SUM(magnitude)"},
        },
        derive={"magnitude": "LOG10(spend * 10)"},
    )
    got = values(report(cfg.write(), "-p", "all"))
    spends = [10, 20, 30]  # DATA's
    assert close(got["spend"][0], sum(spends))
    assert close(got["log10"][0], math.log10(60))
    assert close(got["log2"][0], math.log2(60))
    assert close(got["log3"][0], math.log(60, 3))
    assert close(got["derived"][0], sum(math.log10(s * 10) for s in spends))


# A random integer column near the Int64 limits, and random arithmetic over its aggregates,
# against Python's exact integers: the value is within floating point's error of the exact
# one (measured against the same expression over absolute values), or the run is an
# overflow error when that bound passes the largest float. Never a wrapped number or null.

LIMITS = [2**63 - 1, -(2**63), 2**62, -(2**62), BIG, -BIG, 2**53 + 1, 1, 0, -1]
ints = st.one_of(
    st.sampled_from(LIMITS),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=-1000, max_value=1000),
)


@dataclass(frozen=True)
class Term:
    sql: str
    exact: int  # exact value
    bound: int  # the same over absolute values: a bound of every intermediate magnitude
    ops: int
    aggregates: bool = True


def leaves(a: list[int], b: list[int]) -> st.SearchStrategy[Term]:
    n = len(a)
    options = [
        Term("SUM(a)", sum(a), sum(map(abs, a)), n),
        Term("SUM(b)", sum(b), sum(map(abs, b)), n),
        Term("COUNT(*)", n, n, 0),
        Term("MAX(a)", max(a), max(map(abs, a)), 0),
        Term("MIN(b)", min(b), max(map(abs, b)), 0),
        Term(
            "SUM(a * b)",
            sum(x * y for x, y in zip(a, b, strict=True)),
            sum(abs(x * y) for x, y in zip(a, b, strict=True)),
            2 * n,
        ),
    ]
    literals = st.sampled_from([2, 3, 10**18, 2**63 - 1, 7]).map(
        lambda v: Term(str(v), v, v, 0, aggregates=False)
    )
    return st.one_of(st.sampled_from(options), literals)


def combine(terms: st.SearchStrategy[Term]) -> st.SearchStrategy[Term]:
    def op(pair: tuple[Term, Term], symbol: str) -> Term:
        x, y = pair
        ops, agg = x.ops + y.ops + 1, x.aggregates or y.aggregates
        if symbol == "+":
            return Term(f"({x.sql} + {y.sql})", x.exact + y.exact, x.bound + y.bound, ops, agg)
        if symbol == "-":
            return Term(f"({x.sql} - {y.sql})", x.exact - y.exact, x.bound + y.bound, ops, agg)
        return Term(f"({x.sql} * {y.sql})", x.exact * y.exact, x.bound * y.bound, ops, agg)

    def power(x: Term, k: int) -> Term:
        return Term(f"POWER({x.sql}, {k})", x.exact**k, x.bound**k, x.ops + k, x.aggregates)

    pairs = st.tuples(terms, terms)
    return st.one_of(
        *(pairs.map(lambda p, s=s: op(p, s)) for s in "+-*"),
        st.tuples(terms, st.integers(1, 12)).map(lambda t: power(*t)),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[int], list[int], Term]:
    n = draw(st.integers(1, 4))
    a = draw(st.lists(ints, min_size=n, max_size=n))
    b = draw(st.lists(ints, min_size=n, max_size=n))
    term = draw(st.recursive(leaves(a, b), combine, max_leaves=6).filter(lambda t: t.aggregates))
    return a, b, term


FLOAT_MAX = 1.7976931348623157e308


@pytest.mark.slow
@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
def test_integer_arithmetic_is_exact_or_an_overflow_error(tmp_path: Path, case) -> None:
    a, b, term = case
    rows = "".join(f"2026-01-0{i + 1},{x},{y}\n" for i, (x, y) in enumerate(zip(a, b, strict=True)))
    (tmp_path / "data.csv").write_text("date,a,b\n" + rows)
    cfg = Config(tmp_path, kpis={"k": {"source": "ads", "formula": term.sql}})
    r = report(cfg.write())
    clean(r)
    if term.bound > FLOAT_MAX / 4 and r.exit_code == 3:  # an intermediate may pass it
        assert "KPI `k`: the value is too large to represent" in r.stderr
        return
    assert r.exit_code == 0, (term.sql, r.stderr)
    (value,) = values(r)["k"]
    assert value is not None, term.sql
    tolerance = 1e-14 * (term.ops + 4) * term.bound + 1e-9
    assert abs(value - term.exact) <= tolerance, (term.sql, value, term.exact)


# ---------------------------------------------------------------------------- deep definitions

CHAIN = 3000


def chain(tmp_path: Path, length: int = CHAIN, cycle: bool = False) -> Path:
    """k0 = SUM(spend) (or, for a cycle, the last k + 1), k1 = k0 + 1, …, top = k_last * 2."""
    lines = ["version: 1", "sources:", "  ads: {path: data.csv, date: date}", "kpis:"]
    first = f"k{length - 1} + 1" if cycle else "SUM(spend)"
    lines.append(f"  k0: {{{'' if cycle else 'source: ads, '}formula: {first}, hidden: true}}")
    lines += [f"  k{i}: {{formula: k{i - 1} + 1, hidden: true}}" for i in range(1, length)]
    lines.append(f"  top: {{formula: k{length - 1} * 2}}")
    (tmp_path / "data.csv").write_text(DATA)
    path = tmp_path / "kpi_config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_a_chain_of_3000_derived_kpis_is_computed(tmp_path: Path) -> None:
    path = chain(tmp_path)
    (spend,) = (
        duckdb.connect().execute(f"SELECT SUM(spend) FROM '{tmp_path / 'data.csv'}'").fetchone()
    )
    assert values(report(path)) == {"top": [(spend + CHAIN - 1) * 2]}
    v = runner.invoke(app, ["validate", "-c", str(path)])
    assert v.exit_code == 0, v.stdout + v.stderr
    e = runner.invoke(app, ["explain", "-c", str(path), "top", "-f", "json"])
    assert e.exit_code == 0, e.stderr
    explained = json.loads(e.stdout)
    assert len(explained["dependencies"]) == CHAIN  # k0 … k2999
    node, depth = explained["tree"], 1
    while node.get("children"):
        node, depth = node["children"][0], depth + 1
    assert depth == 40 and node == {**node, "name": f"k{CHAIN - 39}", "cut": True}


def test_explain_says_where_a_cut_tree_goes_on(tmp_path: Path) -> None:
    path = chain(tmp_path, length=45)
    e = runner.invoke(app, ["explain", "-c", str(path), "top", "--as-of", "2026-01-10"])
    assert e.exit_code == 0, e.stderr
    assert "(deeper levels: kpi explain k6)" in re.sub(r"\s+", " ", e.stdout)


@pytest.mark.slow
def test_a_cycle_through_3000_kpis_is_a_config_error(tmp_path: Path) -> None:
    path = chain(tmp_path, cycle=True)
    r = report(path)
    assert r.exit_code == 2
    assert r.stderr.startswith(f"config error: {path}:5 kpis.k0.formula: reference cycle: k0 → ")
    assert r.stderr.count("→") == CHAIN  # k0 → k2999 → … → k1 → k0
