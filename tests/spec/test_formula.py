"""Formula rewriting: per-KPI filters, exact sums and the decomposition behind totals."""

from __future__ import annotations

import polars as pl
import pytest

from kpicli.spec.formula import (
    AGGREGATE,
    compile_sql,
    decompose,
    exact_sums,
    is_amount,
    kinds_of,
    rollup_kind,
    widened_columns,
    with_filter,
)

FRAME = pl.DataFrame(
    {
        "g": ["a", "a", "b", "b", "b", "c"],
        "x": [1.5, None, 2.25, 4.0, -1.0, None],
        "n": [1, 2, 3, 4, 5, 6],
        "flag": [True, False, True, True, False, False],
    }
)


def direct(text: str) -> pl.DataFrame:
    """The formula over each group, and over all rows (the total)."""
    rows = FRAME.group_by("g").agg(pl.sql_expr(text).cast(pl.Float64).alias("v")).sort("g")
    total = FRAME.select(pl.sql_expr(text).cast(pl.Float64).alias("v"))
    return pl.concat([rows["v"], total["v"]])


def rolled(text: str) -> pl.DataFrame:
    """The same, through partial aggregates per group rolled up into the total."""
    partials: dict[str, str] = {}
    scalar = decompose(text, partials)
    assert scalar is not None
    parts = [pl.sql_expr(sql).alias(name) for sql, name in partials.items()]
    grouped = FRAME.group_by("g").agg(parts).sort("g")
    again = [pl.sql_expr(f'{rollup_kind(s)}("{n}")').alias(n) for s, n in partials.items()]
    total = grouped.select(again)
    value = pl.sql_expr(scalar).cast(pl.Float64).alias("v")
    return pl.concat([grouped.select(value)["v"], total.select(value)["v"]])


@pytest.mark.parametrize(
    "text",
    [
        "SUM(x)",
        "COUNT(*)",
        "COUNT(x)",
        "SUM(x) / COUNT(*)",
        "AVG(x)",
        "AVG(n) FILTER (WHERE flag)",
        "SUM(n) FILTER (WHERE flag) / NULLIF(COUNT(*), 0)",
        "MAX(x) - MIN(x)",
        "SUM(CASE WHEN flag THEN n ELSE 0 END)",
        "COUNT(*) FILTER (WHERE x IS NULL)",
        "SUM(x) FILTER (WHERE x > 100)",  # no row matches: null, also in the total
    ],
)
def test_rolled_up_totals_equal_direct_ones(text: str) -> None:
    for formula in (text, exact_sums(with_filter(text, "n > 1"), {"x"})):
        assert rolled(formula).to_list() == pytest.approx(direct(formula).to_list(), nan_ok=True)


@pytest.mark.parametrize(
    "text", ["COUNT(DISTINCT g)", "MEDIAN(x)", "STDDEV(n)", "SUM(x) + MEDIAN(n)"]
)
def test_what_does_not_decompose(text: str) -> None:
    assert decompose(text, {}) is None


def test_partials_are_shared_between_formulas() -> None:
    partials: dict[str, str] = {}
    a = decompose("SUM(x) / COUNT(*)", partials)
    b = decompose("SUM(x)", partials)
    assert len(partials) == 2 and b == '"__p0"' and a == '"__p0" / "__p1"'


def test_with_filter_wraps_every_aggregate() -> None:
    text = with_filter("SUM(n) / COUNT(*)", "flag")
    assert text.count("FILTER") == 2
    assert FRAME.select(pl.sql_expr(text)).item() == pytest.approx((1 + 3 + 4) / 3)


@pytest.mark.parametrize(
    ("text", "amounts", "amount"),
    [
        ("COUNT(*)", (), True),
        ("COUNT(DISTINCT visitor)", (), True),
        ("SUM(spend) FILTER (WHERE channel = 'a')", (), True),
        ("SUM(revenue) - SUM(spend)", (), True),
        ("-SUM(x) * 0.2", (), True),
        ("CAST(SUM(x) AS DOUBLE) / 100", (), True),
        ("revenue - spend", ("revenue", "spend"), True),
        ("2 * (leads + mqls)", ("leads", "mqls"), True),
        ("SUM(clicks) / SUM(impressions)", (), False),
        ("AVG(x)", (), False),
        ("MEDIAN(x)", (), False),
        ("MAX(x)", (), False),
        ("SUM(x) + 5", (), False),
        ("SUM(x) * SUM(y)", (), False),
        ("CASE WHEN SUM(x) > 0 THEN SUM(x) END", (), False),
        ("spend / leads", ("spend", "leads"), False),
        ("revenue - spend", ("revenue",), False),  # spend named but not an amount
    ],
)
def test_is_amount(text: str, amounts: tuple[str, ...], amount: bool) -> None:
    """Amounts grow with the rows they cover (a slice has part of the whole's); levels
    (ratios, averages, extremes) do not."""
    assert is_amount(text, frozenset(amounts)) is amount


# ---------------------------------------------------------------------------- integer widening

BIG_ROWS = pl.DataFrame(
    {
        "n": [2**62, 2**62, 2**62],  # Int64: any two of them sum past 2**63
        "i": [2**31 - 1] * 3,  # Int32 sums wrap at 2**31
        "f": [9e18, 9e18, 9e18],
        "s": ["a", "bb", "ccc"],
    },
    schema={"n": pl.Int64, "i": pl.Int32, "f": pl.Float64, "s": pl.String},
)


def aggregated(text: str, frame: pl.DataFrame = BIG_ROWS) -> float:
    """``text`` as the engine aggregates it: compiled over the frame's kinds, the columns
    :func:`widened_columns` names cast to Int128 first."""
    kinds = kinds_of(frame.schema)
    widened = widened_columns([text], kinds)
    sql = compile_sql(text, AGGREGATE, kinds)
    lf = frame.lazy().with_columns(pl.col(list(widened)).cast(pl.Int128))
    return lf.select(pl.sql_expr(sql).cast(pl.Float64)).collect().item()


def test_widened_columns_are_the_integer_columns_summed_in_column_order() -> None:
    """Integer columns inside a SUM or AVG, in the source's order; not a float column,
    nor one only counted, compared or taken the MAX of."""
    kinds = kinds_of(BIG_ROWS.schema)
    formulas = ["AVG(i) + SUM(f)", "SUM(n * 2) FILTER (WHERE s = 'a')", "MAX(s) + COUNT(i)"]
    assert widened_columns(formulas, kinds) == ("n", "i")
    assert widened_columns(["MAX(n)", "COUNT(DISTINCT i)", "SUM(f)"], kinds) == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SUM(n)", 3 * 2**62),  # the column, widened before the aggregate
        ("SUM(i)", 3 * (2**31 - 1)),  # Int32 too
        ("SUM(CAST(f AS BIGINT))", 2.7e19),  # an integer computed inside the SUM
        ("SUM(CASE WHEN n > 0 THEN n ELSE 0 END)", 3 * 2**62),
    ],
)
def test_integer_sums_never_wrap_around(text: str, expected: float) -> None:
    """A SUM of integers is exact, whether they are a column (widened in the frame) or
    computed inside the aggregate (widened by compile_sql): never a wrapped-around value."""
    assert aggregated(text) == pytest.approx(expected, rel=1e-12)


def test_an_integer_computed_inside_a_sum_is_summed_as_int128() -> None:
    """No column's type reaches ``CAST(f AS BIGINT)``: compile_sql casts it to INT128
    (a bare integer column is left as written: the frame widens it)."""
    kinds = kinds_of(BIG_ROWS.schema)
    assert compile_sql("SUM(CAST(f AS BIGINT))", AGGREGATE, kinds) == (
        'SUM(CAST(CAST("f" AS BIGINT) AS INT128))'
    )
    assert compile_sql("SUM(n)", AGGREGATE, kinds) == 'SUM("n")'


def test_an_average_decomposed_into_a_sum_is_widened_in_the_frame() -> None:
    """AVG(n) becomes SUM(n) / COUNT(n) for totals (decompose): the column, widened in the
    frame, keeps that SUM exact."""
    kinds = kinds_of(BIG_ROWS.schema)
    assert widened_columns(["AVG(n)"], kinds) == ("n",)
    partials: dict[str, str] = {}
    scalar = decompose(compile_sql("AVG(n)", AGGREGATE, kinds), partials)
    assert scalar is not None
    lf = BIG_ROWS.lazy().with_columns(pl.col("n").cast(pl.Int128))
    row = lf.select(pl.sql_expr(sql).alias(name) for sql, name in partials.items()).collect()
    value = row.select(pl.sql_expr(scalar).cast(pl.Float64)).item()
    assert value == pytest.approx(2**62, rel=1e-12)
