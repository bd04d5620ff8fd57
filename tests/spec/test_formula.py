"""Formula rewriting: per-KPI filters, exact sums and the decomposition behind totals."""

from __future__ import annotations

import polars as pl
import pytest

from kpicli.spec.formula import decompose, exact_sums, is_amount, rollup_kind, with_filter

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
