"""Grammar-aware SQL fuzzing of the four places users write SQL, through `kpi report`.

Hypothesis builds SQL expressions from a grammar — the columns of a small table, literals
(0 among them), arithmetic, comparisons, AND/OR/NOT, IN, BETWEEN, LIKE, IS NULL, CASE,
COALESCE/NULLIF/GREATEST/LEAST/ABS, aggregates with FILTER — and, mixed in, what must be
refused: functions off the allow-list, subqueries and table functions reading a file,
windows, aggregates where a row expression belongs, columns outside an aggregate — or
what is ill-typed (text in arithmetic, a number as a condition, a KPI giving dates). Each
expression goes into one place (a source KPI's formula, a derived KPI's formula, a source's
derive or filter, a KPI's filter, --where) and `kpi report` runs on it. Every run ends either
in exit 0 with values equal to DuckDB's over the same file (null equals null, relative
tolerance 1e-9), or — exactly when something to refuse was mixed in — in exit 2 with a
message located at ``file:line key.path`` (--where: a usage error); an ill-typed case ends
in exit 0, 2 or 3, its error located; never exit 70, never a traceback, never the
engine's internals or the file's content.

Each DuckDB expression is written from the same grammar node with SPEC.md's semantics
spelled out: integer columns read as DOUBLE (kpi's arithmetic never wraps), division and
modulo by zero null (``NULLIF(d, 0)``).

Each place runs on both engines of the aggregation step (``--engine polars`` and
``duckdb``, whose SQL is the Polars formulas transpiled: kpicli/execute/sqlplan.py).
CI runs 40 derandomized examples per place and engine (400 reports, a few seconds). To fuzz longer:
``KPI_FUZZ_EXAMPLES=2000 pytest tests/execute/test_fuzz_sql.py`` (random seeds then).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kpicli.cli import app

runner = CliRunner()
EXAMPLES = int(os.environ.get("KPI_FUZZ_EXAMPLES", "40"))
#: The engines each place is fuzzed on (``--engine``).
ENGINES = ("polars", "duckdb", "spark")
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="KPI_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

DATA = """date,channel,n,m,x,flag
2026-01-01,a,1,0,1.5,true
2026-01-01,b,,2,2.25,false
2026-01-02,a,3,-1,,true
2026-01-02,c,0,4,-0.5,false
2026-01-03,b,5,0,10,true
2026-01-03,a,-2,7,0.75,true
2026-01-04,c,4,-3,3.5,false
"""
SECRET = "fuzz-secret-first-line-5e1d"
INTERNALS = ("__POLARS", "POLARS_CSER", "valid columns", "Traceback", "internal error")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzz_sql")
    (path / "data.csv").write_text(DATA)
    (path / "secret.csv").write_text(f"{SECRET}\n{SECRET}\n")
    return path


@pytest.fixture(scope="module")
def duck(folder: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE t AS SELECT * FROM read_csv('{folder / 'data.csv'}', header=true, "
        "columns={'date': 'DATE', 'channel': 'VARCHAR', 'n': 'DOUBLE', 'm': 'DOUBLE', "
        "'x': 'DOUBLE', 'flag': 'BOOLEAN'})"
    )
    return con


# ---------------------------------------------------------------------------- the grammar


@dataclass(frozen=True)
class E:
    """An expression as the user writes it, as DuckDB computes it, and, when it holds
    something to refuse, what the error may say (any of them: the first found is named)."""

    ours: str
    duck: str
    refused: tuple[str, ...] = ()
    odd: bool = False  # ill-typed (text in arithmetic, a number as a condition…)


def lit(text: str) -> E:
    return E(text, text)


def join(template: str, *parts: E, duck: str | None = None) -> E:
    """``template`` with ``{0}``, ``{1}``… filled from ``parts`` (``duck``: DuckDB's own)."""
    refused = tuple(f for p in parts for f in p.refused)
    ours = template.format(*(p.ours for p in parts))
    theirs = (duck or template).format(*(p.duck for p in parts))
    return E(ours, theirs, refused, any(p.odd for p in parts))


def odd(text: str) -> E:
    return E(text, "", odd=True)


#: What a case mixes in: nothing, something to refuse, or something ill-typed.
MODES = ["clean", "hostile", "odd"]


SUBQUERY = "a subquery or table"
FUNCTION = "is not allowed here"
WINDOW = "a window function"


def outside(secret: str) -> list[E]:
    """Numbers that reach outside the rows: each must be refused wherever it is."""
    return [
        E(f"(SELECT COUNT(*) FROM read_csv('{secret}'))", "", (SUBQUERY,)),
        E(f"(SELECT MAX(LENGTH(column0)) FROM read_csv('{secret}'))", "", (SUBQUERY,)),
        E(f"LENGTH(pg_read_file('{secret}'))", "", (FUNCTION,)),
        E(f"COALESCE(read_csv('{secret}'), 0)", "", (FUNCTION,)),
        E("RANDOM()", "", (FUNCTION,)),
        E("EXTRACT(YEAR FROM CURRENT_DATE)", "", (FUNCTION,)),
        E("SUM(n) OVER ()", "", (WINDOW,)),
    ]


def numbers(columns: list[str], extra: list[E]) -> st.SearchStrategy[E]:
    """Numeric expressions over ``columns`` (``extra``: leaves to refuse, mixed in)."""
    leaves = [
        st.sampled_from(columns).map(lit),
        st.integers(0, 5).map(lambda v: lit(str(v))),
        st.sampled_from(["1.5", "0.25", "-2"]).map(lit),
    ]
    if extra:
        leaves.append(st.sampled_from(extra))

    def extend(inner: st.SearchStrategy[E]) -> st.SearchStrategy[E]:
        pair = st.tuples(inner, inner)
        return st.one_of(
            *(pair.map(lambda p, o=o: join(f"({{0}} {o} {{1}})", *p)) for o in "+-*"),
            pair.map(lambda p: join("({0} / {1})", *p, duck="({0} / NULLIF({1}, 0))")),
            pair.map(lambda p: join("({0} % {1})", *p, duck="({0} % NULLIF({1}, 0))")),
            inner.map(lambda a: join("ABS({0})", a)),
            inner.map(lambda a: join("-({0})", a)),
            pair.map(lambda p: join("COALESCE({0}, {1})", *p)),
            pair.map(lambda p: join("NULLIF({0}, {1})", *p)),
            pair.map(lambda p: join("GREATEST({0}, {1})", *p)),
            pair.map(lambda p: join("LEAST({0}, {1})", *p)),
            st.tuples(inner, inner, inner, inner).map(
                lambda q: join("CASE WHEN {0} > {1} THEN {2} ELSE {3} END", *q)
            ),
        )

    return st.recursive(st.one_of(*leaves), extend, max_leaves=6)


def predicates(nums: st.SearchStrategy[E], row: bool, mode: str = "clean") -> st.SearchStrategy[E]:
    """Conditions over numbers (and, on rows, the text and boolean columns)."""
    compare = st.tuples(nums, st.sampled_from(["=", "<>", "<", "<=", ">", ">="]), nums).map(
        lambda t: join(f"{{0}} {t[1]} {{1}}", t[0], t[2])
    )
    base = [
        compare,
        nums.map(lambda a: join("{0} IS NULL", a)),
        nums.map(lambda a: join("{0} IS NOT NULL", a)),
        nums.map(lambda a: join("{0} BETWEEN -1 AND 3.5", a)),
        nums.map(lambda a: join("{0} IN (0, 1, 4)", a)),
    ]
    if mode == "odd":  # a number or text where a condition belongs
        base.append(st.sampled_from([odd("n + 1"), odd("channel"), odd("x"), odd("'yes'")]))
    if row:
        base.append(
            st.sampled_from(
                [
                    "channel = 'a'",
                    "channel IN ('b', 'c')",
                    "channel LIKE 'b%'",
                    "flag",
                    "NOT flag",
                    "date >= DATE '2026-01-02'",
                ]
            ).map(lit)
        )

    def extend(inner: st.SearchStrategy[E]) -> st.SearchStrategy[E]:
        pair = st.tuples(inner, inner)
        return st.one_of(
            pair.map(lambda p: join("({0} AND {1})", *p)),
            pair.map(lambda p: join("({0} OR {1})", *p)),
            inner.map(lambda a: join("NOT ({0})", a)),
        )

    return st.recursive(st.one_of(*base), extend, max_leaves=3)


COLUMNS = ["n", "m", "x"]


def row_numbers(secret: str, mode: str) -> st.SearchStrategy[E]:
    extra = []
    if mode == "hostile":
        aggregate = "is an aggregate, but this expression is computed on each row"
        extra = [*outside(secret), E("AVG(n)", "", (aggregate,)), E("COUNT(*)", "", (aggregate,))]
    if mode == "odd":
        extra = [odd("channel"), odd("flag"), odd("date"), odd("'x'"), odd("n > 1")]
    return numbers(COLUMNS, extra)


def aggregates(secret: str, mode: str) -> st.SearchStrategy[E]:
    """A source KPI's formula: aggregates of row expressions, and arithmetic between them."""
    nums = numbers(COLUMNS, [])
    preds = predicates(nums, row=True)
    one = st.one_of(
        nums.map(lambda a: join("SUM({0})", a)),
        nums.map(lambda a: join("AVG({0})", a)),
        nums.map(lambda a: join("MIN({0})", a)),
        nums.map(lambda a: join("MAX({0})", a)),
        nums.map(lambda a: join("COUNT({0})", a)),
        st.just(lit("COUNT(*)")),
        st.just(lit("COUNT(DISTINCT channel)")),
    )
    filtered = st.tuples(one, preds).map(lambda t: join("{0} FILTER (WHERE {1})", *t))
    leaves = [one, filtered]
    if mode == "odd":
        leaves.append(
            st.sampled_from(
                [
                    odd("SUM(channel)"),
                    odd("MAX(channel)"),
                    odd("MIN(date)"),
                    odd("AVG(flag)"),
                    odd("COUNT(*) FILTER (WHERE n + 1)"),
                    odd("SUM(n + 'x')"),
                ]
            )
        )
    if mode == "hostile":
        inner_agg = "is an aggregate inside another aggregate"
        leaves.append(
            st.sampled_from(
                [
                    *(join("SUM({0})", e) for e in outside(secret)),
                    E("SUM(AVG(n))", "", (inner_agg,)),
                    E("COUNT(*) FILTER (WHERE n > AVG(n))", "", (inner_agg,)),
                    E("(SUM(n) + m)", "", ("is used outside an aggregate",)),
                    E("SUM(n) OVER ()", "", (WINDOW,)),
                ]
            )
        )

    def extend(inner: st.SearchStrategy[E]) -> st.SearchStrategy[E]:
        pair = st.tuples(inner, inner)
        return st.one_of(
            *(pair.map(lambda p, o=o: join(f"({{0}} {o} {{1}})", *p)) for o in "+-*"),
            pair.map(lambda p: join("({0} / {1})", *p, duck="({0} / NULLIF({1}, 0))")),
            inner.map(lambda a: join("COALESCE({0}, 0)", a)),
        )

    return st.recursive(st.one_of(*leaves), extend, max_leaves=4)


# ---------------------------------------------------------------------------- running a case

SOURCE_KPIS = {"s_n": "SUM(n)", "c": "COUNT(*)", "s_x": "SUM(x)", "mx": "MAX(m)"}


def write(folder: Path, source: list[str], kpis: dict[str, dict[str, str]]) -> tuple[Path, dict]:
    """The config, and the line of each key path in it."""
    lines = ["version: 1", "sources:", "  ads:", "    path: data.csv", "    date: date"]
    at: dict[str, int] = {}
    for entry in source:  # "filter: …" or "derive: d: …"
        key, _, text = entry.partition(": ")
        if key == "derive":
            col, _, text = text.partition(": ")
            lines.append("    derive:")
            at[f"sources.ads.derive.{col}"] = len(lines) + 1
            lines.append(f"      {col}: {json.dumps(text)}")
        else:
            at[f"sources.ads.{key}"] = len(lines) + 1
            lines.append(f"    {key}: {json.dumps(text)}")
    lines.append("kpis:")
    for name, keys in kpis.items():
        lines.append(f"  {name}:")
        for key, value in keys.items():
            at[f"kpis.{name}.{key}"] = len(lines) + 1
            lines.append(f"    {key}: {json.dumps(value)}")
    path = folder / "kpi_config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path, at


def run(
    folder: Path,
    e: E,
    source: list[str],
    kpis: dict[str, dict[str, str]],
    key: str | None,
    expected: dict[str, object],
    args: tuple[str, ...] = (),
    engine: str = "polars",
) -> None:
    """`kpi report` on the case: DuckDB's values, or (when ``e`` holds something to refuse)
    exit 2 at ``key`` (None: --where)."""
    path, at = write(folder, source, kpis)
    command = ["report", "-c", str(path), "--as-of", "2026-01-10", "-f", "json"]
    r = runner.invoke(app, [*command, "--engine", engine, *args])
    text = r.stdout + r.stderr
    assert SECRET not in text, text
    assert not any(word in text for word in INTERNALS), text
    if r.exit_code == 2 and re.search(r"nests (more than \d+ levels|too deeply)", r.stderr):
        where = "usage error: " if key is None else f"config error: {path}:{at[key]} {key}: "
        assert r.stderr.startswith(where), r.stderr  # a documented limit, located
        return
    if e.odd and not e.refused:  # refused, or failing on the data, or computed: never 70
        assert r.exit_code in (0, 2, 3), (e.ours, r.exit_code, r.stderr)
        if r.exit_code:
            first = r.stderr.splitlines()[0]
            assert first.startswith(
                (f"config error: {path}:", "usage error: ", f"data error: {folder}")
            ), first
            assert r.stdout == ""
        return
    if e.refused:
        assert r.exit_code == 2, (e.ours, r.exit_code, r.stderr)
        first = r.stderr.splitlines()[0]
        if key is None:
            assert first.startswith(f"usage error: invalid --where `{e.ours}`: "), first
        else:
            assert first.startswith(f"config error: {path}:{at[key]} {key}: "), first
        assert any(f in r.stderr for f in e.refused), (e.refused, r.stderr)
        assert r.stdout == ""
        return
    assert r.exit_code == 0, (e.ours, r.exit_code, r.stderr)
    got = {row["kpi"]: row["value"] for row in json.loads(r.stdout)["rows"]}
    for name, want in expected.items():
        assert same(got[name], want), (e.ours, e.duck, name, got[name], want)


def same(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def duck_row(con: duckdb.DuckDBPyConnection, e: E, sql: str) -> tuple:
    """DuckDB's answer; empty when the case is to be refused or ill-typed (not asked)."""
    if e.refused or e.odd:
        return ()
    return con.execute(sql).fetchone()


def secret_of(folder: Path) -> str:
    return str(folder / "secret.csv")


# ---------------------------------------------------------------------------- the places


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_fuzz_source_kpi_formula(folder: Path, duck, data: st.DataObject, engine: str) -> None:
    e = data.draw(aggregates(secret_of(folder), data.draw(st.sampled_from(MODES))))
    kpis = {"k": {"source": "ads", "formula": e.ours}}
    row = duck_row(duck, e, f"SELECT {e.duck} FROM t")
    run(folder, e, [], kpis, "kpis.k.formula", {"k": row[0]} if row else {}, engine=engine)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_fuzz_derived_kpi_formula(folder: Path, duck, data: st.DataObject, engine: str) -> None:
    mode = data.draw(st.sampled_from(MODES))
    extra = []
    if mode == "hostile":
        no_source = "aggregates but the KPI has no `source`"
        extra = [*outside(secret_of(folder)), E("SUM(c)", "", (no_source,))]
    if mode == "odd":
        extra = [odd("'x'"), odd("c > 1"), odd("DATE '2026-01-01'")]
    e = data.draw(numbers(list(SOURCE_KPIS), extra))
    kpis = {n: {"source": "ads", "formula": f} for n, f in SOURCE_KPIS.items()}
    kpis["d"] = {"formula": e.ours}
    parts = ", ".join(f"{f} AS {n}" for n, f in SOURCE_KPIS.items())
    row = duck_row(duck, e, f"WITH k AS (SELECT {parts} FROM t) SELECT {e.duck} FROM k")
    run(folder, e, [], kpis, "kpis.d.formula", {"d": row[0]} if row else {}, engine=engine)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_fuzz_derive(folder: Path, duck, data: st.DataObject, engine: str) -> None:
    e = data.draw(row_numbers(secret_of(folder), data.draw(st.sampled_from(MODES))))
    kpis = {
        "sd": {"source": "ads", "formula": "SUM(d)"},
        "cd": {"source": "ads", "formula": "COUNT(d)"},
    }
    row = duck_row(duck, e, f"SELECT SUM({e.duck}), COUNT({e.duck}) FROM t")
    expected = {"sd": row[0], "cd": row[1]} if row else {}
    run(folder, e, [f"derive: d: {e.ours}"], kpis, "sources.ads.derive.d", expected, engine=engine)


def row_predicates(folder: Path, mode: str) -> st.SearchStrategy[E]:
    return predicates(row_numbers(secret_of(folder), mode), row=True, mode=mode)


COUNTED = {"rows": "COUNT(*)", "sx": "SUM(x)", "an": "AVG(n)"}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.slow
@FUZZ
@given(data=st.data(), place=st.sampled_from(["source filter", "--where"]))
def test_fuzz_source_filter_and_where(
    folder: Path, duck, data: st.DataObject, place: str, engine: str
) -> None:
    e = data.draw(row_predicates(folder, data.draw(st.sampled_from(MODES))))
    kpis = {n: {"source": "ads", "formula": f} for n, f in COUNTED.items()}
    row = duck_row(duck, e, f"SELECT {', '.join(COUNTED.values())} FROM t WHERE {e.duck}")
    expected = dict(zip(COUNTED, row, strict=True)) if row else {}
    if place == "--where":
        run(folder, e, [], kpis, None, expected, ("--where", e.ours), engine)
    else:
        run(folder, e, [f"filter: {e.ours}"], kpis, "sources.ads.filter", expected, engine=engine)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_fuzz_kpi_filter(folder: Path, duck, data: st.DataObject, engine: str) -> None:
    e = data.draw(row_predicates(folder, data.draw(st.sampled_from(MODES))))
    kpis = {n: {"source": "ads", "formula": f, "filter": e.ours} for n, f in COUNTED.items()}
    kpis["all_rows"] = {"source": "ads", "formula": "COUNT(*)"}  # unfiltered, same scan
    sql = f"SELECT {', '.join(f'{f} FILTER (WHERE {e.duck})' for f in COUNTED.values())}, "
    row = duck_row(duck, e, sql + "COUNT(*) FROM t")
    expected = dict(zip([*COUNTED, "all_rows"], row, strict=True)) if row else {}
    run(folder, e, [], kpis, "kpis.rows.filter", expected, engine=engine)


def test_the_grammar_reaches_every_kind_of_refusal(folder: Path) -> None:
    """The hostile leaves are real: each, alone in a filter, is refused as the fuzzers
    expect (a grammar whose 'hostile' members were accepted would test nothing)."""
    for e in outside(secret_of(folder)):
        pred = join("{0} > 0", e)
        kpis = {"rows": {"source": "ads", "formula": "COUNT(*)"}}
        run(folder, pred, [f"filter: {pred.ours}"], kpis, "sources.ads.filter", {})
    assert re.search(r"\bSELECT\b", outside(secret_of(folder))[0].ours)
