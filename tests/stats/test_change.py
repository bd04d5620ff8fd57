"""significance(): is a change real? Checked against scipy and textbook cases.

The oracles: scipy.stats.chi2_contingency(correction=False) for the pooled two-proportion
z-test (the same p-value: chi² of the 2 × 2 table is z²), scipy.stats.binomtest for the
conditional binomial test of two Poisson rates, and a hand-worked textbook case.
"""

from __future__ import annotations

import math
import random
import subprocess
import sys

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from kpicli.stats.change import EXACT_MAX, significance

REL = 1e-9


def frame(*rows: tuple) -> pl.DataFrame:
    """A significance input from (kind, num, den, prev_num, prev_den) rows."""
    return pl.DataFrame(
        [list(r) for r in rows],
        schema={
            "kind": pl.Utf8,
            "num": pl.Float64,
            "den": pl.Float64,
            "prev_num": pl.Float64,
            "prev_den": pl.Float64,
        },
        orient="row",
    )


def p_of(*row: object) -> float | None:
    return significance(frame(tuple(row))).item(0, "p_value")


def chi2_p(x1: int, n1: int, x2: int, n2: int) -> float:
    table = [[x1, n1 - x1], [x2, n2 - x2]]
    return stats.chi2_contingency(table, correction=False).pvalue


def binom_p(x1: int, t1: float, x2: int, t2: float) -> float:
    return stats.binomtest(x1, x1 + x2, t1 / (t1 + t2)).pvalue


# -- proportions ----------------------------------------------------------------------------


def test_textbook_two_proportions() -> None:
    # 200 of 10,000 vs 260 of 10,000: pooled p = 0.023, se = sqrt(.023 · .977 · 2/10000)
    # = 0.0021199, z = -0.006 / se = -2.8303, two-sided p = 0.00465 (tables: 0.0047).
    out = significance(frame(("ratio", 200, 10_000, 260, 10_000)))
    p = out.item(0, "p_value")
    assert p == pytest.approx(0.004650, abs=2e-6)
    assert p == pytest.approx(chi2_p(200, 10_000, 260, 10_000), rel=REL)
    assert out.item(0, "change_significant") is True


def test_small_proportion_change_is_not_significant() -> None:
    # A CTR of 2.8 % on 40 clicks' worth of impressions vs 2.5 %: noise.
    p = p_of("ratio", 40, 1430, 36, 1440)
    assert p == pytest.approx(chi2_p(40, 1430, 36, 1440), rel=REL)
    assert p > 0.5


@settings(max_examples=200, deadline=None)
@given(
    n1=st.integers(1, 100_000),
    n2=st.integers(1, 100_000),
    f1=st.floats(0, 1),
    f2=st.floats(0, 1),
)
def test_proportions_match_chi2_contingency(n1: int, n2: int, f1: float, f2: float) -> None:
    x1, x2 = round(f1 * n1), round(f2 * n2)
    p = p_of("ratio", x1, n1, x2, n2)
    if x1 + x2 == 0 or (x1 == n1 and x2 == n2):
        assert p is None  # no variation: chi² is undefined (a zero expected frequency)
        return
    assert p == pytest.approx(chi2_p(x1, n1, x2, n2), rel=1e-7, abs=1e-300)


# -- Poisson rates --------------------------------------------------------------------------


def test_count_exact_matches_binomtest() -> None:
    # 14 leads in 30 days vs 30 in 31 days.
    p = p_of("count", 14, 30, 30, 31)
    assert p == pytest.approx(binom_p(14, 30, 30, 31), rel=REL)
    assert p < 0.05


def test_count_same_rate_is_one() -> None:
    assert p_of("count", 30, 30, 30, 30) == 1.0


def test_ratio_above_one_is_a_poisson_rate() -> None:
    # Pageviews per session: num > den, so not a proportion; sessions are the exposure.
    p = p_of("ratio", 130, 50, 90, 60)
    assert p == pytest.approx(binom_p(130, 50, 90, 60), rel=REL)
    # One side above 1 is enough to leave the proportion test.
    p = p_of("ratio", 30, 50, 70, 60)
    assert p == pytest.approx(binom_p(30, 50, 70, 60), rel=REL)


def test_fractional_exposure_days_are_allowed_for_counts() -> None:
    p = p_of("count", 10, 2.5, 40, 7)
    assert p == pytest.approx(binom_p(10, 2.5, 40, 7), rel=REL)


@settings(max_examples=300, deadline=None)
@given(
    x1=st.integers(0, 600),
    x2=st.integers(0, 400),
    t1=st.integers(1, 400),
    t2=st.integers(1, 400),
)
def test_exact_poisson_matches_binomtest(x1: int, x2: int, t1: int, t2: int) -> None:
    p = p_of("count", x1, t1, x2, t2)
    if x1 + x2 == 0:
        assert p is None
        return
    expected = binom_p(x1, t1, x2, t2)
    if expected < 1e-200:  # far past any level: both are "zero" (sums of terms near the
        assert p < 1e-190  # subnormal floor agree in magnitude, not to 9 digits)
    else:
        assert p == pytest.approx(expected, rel=1e-9)


def test_symmetric_ties_are_counted_like_binomtest() -> None:
    # At t = 1/2 the outcome k and n - k are equally likely: binomtest's relative tolerance
    # puts both tails in (rounding must not drop the mirrored one).
    for k, n in [(3, 10), (40, 100), (7, 21), (499, 1000)]:
        p = p_of("count", k, 7, n - k, 7)
        assert p == pytest.approx(stats.binomtest(k, n, 0.5).pvalue, rel=REL)


def test_large_counts_use_the_normal_approximation() -> None:
    x1, x2, t1, t2 = 2_540, 2_460, 30, 31
    n, share = x1 + x2, t1 / (t1 + t2)
    z = (abs(x1 - n * share) - 0.5) / math.sqrt(n * share * (1 - share))
    p = p_of("count", x1, t1, x2, t2)
    assert p == pytest.approx(2 * stats.norm.sf(z), rel=1e-9)
    # …which is close to the exact test's.
    assert p == pytest.approx(binom_p(x1, t1, x2, t2), rel=2e-3)


def test_threshold_between_exact_and_approximate_is_seamless() -> None:
    exact = p_of("count", 540, 30, EXACT_MAX - 540, 30)
    approx = p_of("count", 540, 30, EXACT_MAX + 1 - 540, 30)
    assert exact == pytest.approx(binom_p(540, 30, EXACT_MAX - 540, 30), rel=REL)
    assert approx == pytest.approx(binom_p(540, 30, EXACT_MAX + 1 - 540, 30), rel=0.01)


# -- no test ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "row",
    [
        ("sum", 100, 1, 90, 1),  # money: no test
        ("level", 3, 4, 5, 6),
        (None, 3, 4, 5, 6),
        ("ratio", None, 100, 5, 100),  # a component missing
        ("ratio", 5, None, 5, 100),
        ("count", 5, 30, None, 30),
        ("count", 5, 30, 5, None),
        ("ratio", float("nan"), 100, 5, 100),
        ("ratio", 5, float("inf"), 5, 100),
        ("ratio", -1, 100, 5, 100),  # negative
        ("count", 5, 30, -2, 30),
        ("ratio", 2.5, 100, 5, 100),  # not whole
        ("ratio", 5, 100.5, 5, 100),
        ("count", 5.5, 30, 5, 30),
        ("ratio", 0, 0, 5, 100),  # zero denominators
        ("ratio", 5, 100, 0, 0),
        ("count", 5, 0, 5, 30),
        ("count", 5, -3, 5, 30),
        ("ratio", 0, 100, 0, 100),  # 0 vs 0
        ("count", 0, 30, 0, 31),
        ("ratio", 100, 100, 50, 50),  # 100 % vs 100 %: no variation
    ],
)
def test_nulls_where_no_test_applies(row: tuple) -> None:
    out = significance(frame(row))
    assert out.item(0, "p_value") is None
    assert out.item(0, "change_significant") is None


def test_shape_order_and_types() -> None:
    rows = [
        ("ratio", 200, 10_000, 260, 10_000),
        ("sum", 1, 1, 1, 1),
        ("count", 14, 30, 30, 31),
        ("count", 30, 30, 30, 30),
    ]
    out = significance(frame(*rows))
    assert out.columns == ["p_value", "change_significant"]
    assert out.schema == {"p_value": pl.Float64, "change_significant": pl.Boolean}
    assert out.get_column("change_significant").to_list() == [True, None, True, False]
    assert out.item(2, "p_value") == pytest.approx(binom_p(14, 30, 30, 31), rel=REL)
    empty = significance(frame())
    assert empty.height == 0
    assert empty.schema == {"p_value": pl.Float64, "change_significant": pl.Boolean}


def test_imports_neither_numpy_nor_scipy() -> None:
    code = (
        "import sys, polars as pl\n"
        "from kpicli.stats.change import significance\n"
        "f = pl.DataFrame({'kind': ['ratio', 'count'], 'num': [1.0, 900.0],"
        " 'den': [9.0, 3.0], 'prev_num': [2.0, 800.0], 'prev_den': [9.0, 3.0]})\n"
        "significance(f)\n"
        "print(sorted(m for m in ('numpy', 'scipy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_ten_thousand_rows_each_get_a_p_value() -> None:
    """Many rows in one call, counts near the exact test's limit (its slowest case); its
    speed is bench/'s to measure, never a wall clock's in a test."""
    rng = random.Random(13)
    rows = []
    for _ in range(10_000):
        if rng.random() < 0.5:
            den, prev_den = rng.randint(1, 50_000), rng.randint(1, 50_000)
            rows.append(("ratio", rng.randint(0, den), den, rng.randint(0, prev_den), prev_den))
        else:  # counts near the exact test's limit: its slowest case
            rows.append(("count", rng.randint(400, 500), 30, rng.randint(400, 500), 31))
    data = frame(*rows)
    out = significance(data)
    assert out.height == 10_000
    p = out.get_column("p_value")
    assert p.null_count() == 0 and p.min() >= 0 and p.max() <= 1
