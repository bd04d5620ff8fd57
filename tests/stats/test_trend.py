"""trends(): Theil–Sen slope and Mann–Kendall test, checked against scipy and by hand.

The oracles: scipy.stats.theilslopes (the slope), scipy.stats.kendalltau against the bucket
index (Mann–Kendall's S without ties), a Mann–Kendall written out pair by pair here (ties),
and series built with a known slope.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from kpicli.stats.trend import trends


def frame(series: dict[int, list[float | None]], index: dict[int, list[int]] | None = None):
    """A trends input: one row per series × bucket (index 0, 1, 2… unless given)."""
    rows = []
    for sid, values in series.items():
        xs = index[sid] if index else range(len(values))
        rows += [(sid, x, v) for x, v in zip(xs, values, strict=True)]
    return pl.DataFrame(
        rows, schema={"series": pl.Int64, "index": pl.Int64, "value": pl.Float64}, orient="row"
    )


def hand_mann_kendall(values: list[float]) -> float:
    """Mann–Kendall's two-sided p-value, pair by pair (ties corrected, continuity corrected)."""
    n = len(values)
    s = 0
    for i in range(n):
        for j in range(i + 1, n):
            s += (values[j] > values[i]) - (values[j] < values[i])
    groups: dict[float, int] = {}
    for v in values:
        groups[v] = groups.get(v, 0) + 1
    var = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in groups.values())) / 18
    if s == 0:
        return 1.0
    z = (s - 1) / math.sqrt(var) if s > 0 else (s + 1) / math.sqrt(var)
    return 2 * stats.norm.sf(abs(z))


def one(values: list[float | None], index: list[int] | None = None) -> dict:
    out = trends(frame({1: values}, {1: index} if index else None))
    assert out.height == 1
    return out.row(0, named=True)


def test_textbook_five_rising_values() -> None:
    # S = 10, Var S = 5·4·15/18 = 16.667, z = 9/4.0825 = 2.2045, p = 0.02749.
    row = one([1, 2, 3, 4, 5])
    assert row["p_value"] == pytest.approx(0.02749, abs=1e-5)
    assert row["significant"] is True
    assert row["slope"] == pytest.approx(1 / 3)  # 1 per bucket over a median of 3
    assert row["buckets"] == 5


def test_known_slope_with_noise() -> None:
    rng = np.random.default_rng(7)
    x = np.arange(60)
    y = 200 + 1.5 * x + rng.normal(0, 4, 60)
    row = one(y.tolist())
    ts = stats.theilslopes(y, x)
    assert row["slope"] == pytest.approx(ts.slope / np.median(y), rel=1e-12)
    assert row["slope"] * np.median(y) == pytest.approx(1.5, abs=0.15)
    assert row["significant"] is True
    assert row["p_value"] < 1e-10


def test_falling_and_flat_series() -> None:
    rng = np.random.default_rng(8)
    falling = (1000 - 5 * np.arange(40) + rng.normal(0, 10, 40)).tolist()
    flat = (500 + rng.normal(0, 10, 40)).tolist()
    out = trends(frame({1: falling, 2: flat}))
    assert out.item(0, "slope") < 0 and out.item(0, "significant") is True
    for row, ys in zip(out.iter_rows(named=True), (falling, flat), strict=True):
        assert row["p_value"] == pytest.approx(hand_mann_kendall(ys), rel=1e-9)


def test_mann_kendall_matches_kendalltau_without_ties() -> None:
    rng = np.random.default_rng(9)
    y = rng.normal(0, 1, 50) + 0.02 * np.arange(50)
    row = one(y.tolist())
    tau = stats.kendalltau(np.arange(50), y)
    s = round(tau.statistic * 50 * 49 / 2)
    var = 50 * 49 * 105 / 18
    z = (abs(s) - 1) / math.sqrt(var)
    assert row["p_value"] == pytest.approx(2 * stats.norm.sf(z), rel=1e-9)


def test_ties_correct_the_variance() -> None:
    y = [3, 3, 4, 4, 4, 5, 3, 6, 6, 7, 7, 7, 7, 8, 5]
    row = one(y)
    assert row["p_value"] == pytest.approx(hand_mann_kendall(y), rel=1e-12)
    # Without the tie correction the p-value would differ noticeably.
    n = len(y)
    s = sum((y[j] > y[i]) - (y[j] < y[i]) for i in range(n) for j in range(i + 1, n))
    uncorrected = 2 * stats.norm.sf((s - 1) / math.sqrt(n * (n - 1) * (2 * n + 5) / 18))
    assert abs(row["p_value"] - uncorrected) > 1e-4


def test_gaps_in_the_index_and_nulls_are_skipped() -> None:
    index = [0, 1, 2, 5, 6, 9, 10, 11]
    values = [10.0, 12.0, None, 15.0, 13.0, float("nan"), 20.0, 21.0]
    row = one(values, index)
    kept = [(x, v) for x, v in zip(index, values, strict=True) if v is not None and v == v]
    xs, ys = np.array([k[0] for k in kept]), np.array([k[1] for k in kept])
    assert row["buckets"] == 6
    assert row["slope"] == pytest.approx(stats.theilslopes(ys, xs).slope / np.median(ys))
    assert row["p_value"] == pytest.approx(hand_mann_kendall(ys.tolist()), rel=1e-12)


def test_too_few_values_and_zero_level() -> None:
    out = trends(
        frame(
            {
                1: [5.0, 6.0],  # two values: nothing
                2: [None, None, None],  # none
                3: [0.0, 0.0, 1.0, 0.0, 2.0],  # median 0: no relative slope, a p-value
                4: [4.0, 4.0, 4.0, 4.0],  # flat: slope 0, p 1
            }
        )
    )
    rows = {r["series"]: r for r in out.iter_rows(named=True)}
    assert rows[1] == {
        "series": 1,
        "slope": None,
        "p_value": None,
        "significant": None,
        "buckets": 2,
    }
    assert rows[2]["buckets"] == 0 and rows[2]["slope"] is None and rows[2]["p_value"] is None
    assert rows[3]["slope"] is None
    assert rows[3]["p_value"] == pytest.approx(hand_mann_kendall([0, 0, 1, 0, 2]), rel=1e-12)
    assert rows[4]["slope"] == 0.0 and rows[4]["p_value"] == 1.0
    assert rows[4]["significant"] is False


def test_negative_level_keeps_the_direction() -> None:
    row = one([-100.0, -90.0, -80.0, -70.0])  # rising towards 0
    assert row["slope"] == pytest.approx(10 / 85)


def test_shape_order_and_types() -> None:
    data = frame({7: [1.0, 2.0, 4.0], 3: [9.0, 8.0, 7.0, 5.0], 5: [1.0]})
    out = trends(data)
    assert out.columns == ["series", "slope", "p_value", "significant", "buckets"]
    assert out.schema == {
        "series": pl.Int64,
        "slope": pl.Float64,
        "p_value": pl.Float64,
        "significant": pl.Boolean,
        "buckets": pl.Int64,
    }
    assert out.get_column("series").to_list() == [7, 3, 5]  # order of first appearance
    assert out.get_column("buckets").to_list() == [3, 4, 1]
    assert out.item(1, "slope") == pytest.approx(stats.theilslopes([9, 8, 7, 5]).slope / 7.5)
    empty = trends(frame({}))
    assert empty.height == 0 and empty.schema == out.schema


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.lists(st.integers(-20, 40).map(float), min_size=1, max_size=40),
        min_size=1,
        max_size=6,
    )
)
def test_any_series_matches_scipy_and_hand(series: list[list[float]]) -> None:
    """Several series of various lengths at once (grouped by length inside): each as alone."""
    out = trends(frame(dict(enumerate(series))))
    for sid, ys in enumerate(series):
        row = out.row(sid, named=True)
        assert row["series"] == sid and row["buckets"] == len(ys)
        if len(ys) < 3:
            assert row["slope"] is None and row["p_value"] is None
            continue
        assert row["p_value"] == pytest.approx(hand_mann_kendall(ys), rel=1e-9, abs=1e-300)
        level = abs(float(np.median(ys)))
        if level == 0:
            assert row["slope"] is None
        else:
            expected = stats.theilslopes(ys, np.arange(len(ys))).slope / level
            assert row["slope"] == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_long_series_slope_is_close_to_the_full_estimator() -> None:
    # Beyond 300 values only the longest-spanned pairs are used (documented): the slope stays
    # within a fraction of the full Theil–Sen's own standard error; S stays exact.
    rng = np.random.default_rng(11)
    n = 730
    x = np.arange(n)
    data = {sid: (300 + 0.02 * x + rng.normal(0, 5, n)).tolist() for sid in range(20)}
    out = trends(frame(data))
    diffs = []
    for sid, ys in data.items():
        y = np.array(ys)
        full = stats.theilslopes(y, x).slope
        diffs.append(out.item(sid, "slope") * np.median(y) - full)
        s = round(stats.kendalltau(x, y).statistic * n * (n - 1) / 2)
        z = (abs(s) - 1) / math.sqrt(n * (n - 1) * (2 * n + 5) / 18)
        assert out.item(sid, "p_value") == pytest.approx(2 * stats.norm.sf(z), rel=1e-6)
    # The full estimator's standard error here: about 5 · sqrt(12) / n^1.5 ≈ 0.0009.
    assert np.sqrt(np.mean(np.square(diffs))) < 0.5 * 0.0009


def test_three_hundred_series_of_730_buckets_at_once() -> None:
    """Many long series in one call (vectorised: its speed is bench/'s to measure)."""
    rng = np.random.default_rng(12)
    series, n = 300, 730
    data = pl.DataFrame(
        {
            "series": np.repeat(np.arange(series), n),
            "index": np.tile(np.arange(n), series),
            "value": np.tile(100 + 0.05 * np.arange(n), series) + rng.normal(0, 5, series * n),
        }
    )
    out = trends(data)
    assert out.height == series and out.get_column("significant").all()
    one = trends(data.filter(pl.col("series") == 7))  # alone, the same answer
    assert one.row(0, named=True) == out.filter(pl.col("series") == 7).row(0, named=True)
