"""Is a change real? The significance of ``value`` against ``previous`` (``--compare``).

The contract (what :mod:`kpicli.execute` gives and reads back):

``significance(frame) -> pl.DataFrame`` where ``frame`` has one row per report row:

- ``kind`` (Utf8): ``"ratio"`` (a ratio of counts), ``"count"``, or anything else (no test);
- ``num``, ``den`` (Float64): the current span's numerator and denominator (ratio), or
  ``num`` the count and ``den`` the span's days counted (count: a Poisson rate over days);
- ``prev_num``, ``prev_den`` (Float64): the same for the comparison span.

It returns two columns, in the frame's row order: ``p_value`` (Float64, two-sided) and
``change_significant`` (Boolean: ``p_value < 0.05``), null where no test applies (another
kind, a component missing or not a whole non-negative count, a zero denominator).

The tests are textbook ones, documented in the README: a ratio of counts whose numerators
never exceed their denominators is a proportion, compared by the pooled two-proportion
z-test; another ratio of counts (clicks per session) and a count compare two Poisson rates
by the conditional binomial test (exact for small counts, its normal approximation with
continuity correction for large ones).

The details, as implemented:

- **Proportion** (``kind == "ratio"``, ``num <= den`` and ``prev_num <= prev_den``): the
  pooled z-test, ``z = (p1 - p2) / sqrt(p (1 - p) (1/den + 1/prev_den))`` with
  ``p = (num + prev_num) / (den + prev_den)``, ``p_value = erfc(|z| / sqrt 2)``; the same
  p-value as the chi-square test of the 2 × 2 table without Yates' correction.
- **Poisson rates** (another ``ratio``, or a ``count``): given ``n = num + prev_num``,
  ``num`` is binomial with ``n`` trials and probability ``t = den / (den + prev_den)`` (the
  share of the exposure) when the two rates are equal. For ``n <= EXACT_MAX`` (1000) the
  exact two-sided p-value, defined as ``scipy.stats.binomtest``'s: the probabilities of the
  outcomes no more likely than the observed one (within a relative 1e-7), summed; above it
  the normal approximation with continuity correction,
  ``z = (|num - n t| - 1/2) / sqrt(n t (1 - t))`` (at ``n > 1000`` the two differ by far
  less than any threshold a reader uses).
- **Null** (no test applies): another kind; a component null, NaN or infinite; a numerator
  (or a ratio's denominator) negative or not whole; a denominator zero or negative; nothing
  on either side (0 vs 0); and a proportion of 100 % on both sides (no variation to test).
  A count's ``den`` is an exposure in days and may be fractional.

No numpy and no scipy: a report with ``--compare`` must start as fast as one without
(math over the report's rows, which are few: 10,000 rows take 0.04 s, 0.2 s when every
one needs the exact test at its largest).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    import polars as pl

LEVEL = 0.05
#: The largest total count ``num + prev_num`` tested exactly (above: normal approximation).
EXACT_MAX = 1000
#: scipy.stats.binomtest's relative tolerance for "no more likely than the observed".
_RERR = 1 + 1e-7
_SQRT2 = math.sqrt(2.0)


def significance(frame: pl.DataFrame) -> pl.DataFrame:
    """``p_value`` and ``change_significant`` of each row of ``frame`` (see the module)."""
    import polars as pl

    columns = ("kind", "num", "den", "prev_num", "prev_den")
    p_values = [_p_value(*row) for row in frame.select(columns).iter_rows()]
    p_value = pl.Series("p_value", p_values, dtype=pl.Float64)
    return pl.DataFrame([p_value, (p_value < LEVEL).alias("change_significant")])


def _p_value(
    kind: str | None,
    num: float | None,
    den: float | None,
    prev: float | None,
    prev_den: float | None,
) -> float | None:
    """The row's two-sided p-value, or None when no test applies."""
    if kind not in ("ratio", "count"):
        return None
    if not (_whole(num) and _whole(prev) and _positive(den) and _positive(prev_den)):
        return None
    if num == 0 and prev == 0:
        return None
    if kind == "ratio":
        if not (_whole(den) and _whole(prev_den)):
            return None
        if num <= den and prev <= prev_den:
            return _two_proportions(num, den, prev, prev_den)
    total = int(num + prev)
    share = den / (den + prev_den)
    if total <= EXACT_MAX:
        return _binomial_exact(int(num), total, share)
    return _binomial_normal(num, total, share)


def _whole(x: float | None) -> bool:
    """A non-negative whole finite number."""
    return x is not None and math.isfinite(x) and x >= 0 and x == math.floor(x)


def _positive(x: float | None) -> bool:
    """A positive finite number."""
    return x is not None and math.isfinite(x) and x > 0


def _two_proportions(x1: float, n1: float, x2: float, n2: float) -> float | None:
    """The pooled two-proportion z-test's two-sided p-value (None at 100 % on both sides)."""
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return None
    z = (x1 / n1 - x2 / n2) / math.sqrt(variance)
    return math.erfc(abs(z) / _SQRT2)


def _binomial_normal(k: float, n: int, p: float) -> float:
    """The normal approximation (continuity corrected) of the binomial test's p-value."""
    z = (abs(k - n * p) - 0.5) / math.sqrt(n * p * (1 - p))
    return min(1.0, math.erfc(max(z, 0.0) / _SQRT2))


def _binomial_exact(k: int, n: int, p: float) -> float:
    """The exact two-sided binomial test's p-value, defined as scipy.stats.binomtest's."""
    mean = n * p
    if k == mean:
        return 1.0
    log_p, log_q, log_n = math.log(p), math.log1p(-p), math.lgamma(n + 1)

    def pmf(i: int) -> float:
        return math.exp(
            log_n - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        )

    bound = pmf(k) * _RERR
    odds = p / (1 - p)
    if k < mean:
        # The observed tail k, k-1, …, 0, and the other side from the first outcome above
        # the mean that is no more likely than k's, to n (the pmf decreases beyond the mode).
        first = _first_at_most(pmf, bound, math.ceil(mean), n, decreasing=True)
        own = _tail(pmf(k), k, n, odds, step=-1)
        other = _tail(pmf(first), first, n, odds, step=1) if first is not None else 0.0
    else:
        last = _first_at_most(pmf, bound, 0, math.floor(mean), decreasing=False)
        own = _tail(pmf(k), k, n, odds, step=1)
        other = _tail(pmf(last), last, n, odds, step=-1) if last is not None else 0.0
    return min(1.0, own + other)


def _first_at_most(
    pmf: Callable[[int], float], bound: float, lo: int, hi: int, *, decreasing: bool
) -> int | None:
    """The outcome nearest the mode in [lo, hi] whose probability is at most ``bound``.

    On [lo, hi] the pmf is monotone (decreasing above the mean, increasing below it): a
    binary search. None when no outcome there qualifies.
    """
    if decreasing:  # the smallest i with pmf(i) <= bound
        if pmf(hi) > bound:
            return None
        while lo < hi:
            mid = (lo + hi) // 2
            if pmf(mid) <= bound:
                hi = mid
            else:
                lo = mid + 1
        return lo
    if pmf(lo) > bound:  # the largest i with pmf(i) <= bound
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if pmf(mid) <= bound:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _tail(start: float, i: int, n: int, odds: float, *, step: int) -> float:
    """The sum of the pmf from outcome ``i`` (probability ``start``) away from the mode.

    Terms by the pmf's recurrence; the sum stops once they no longer change it.
    """
    total, term = 0.0, start
    while term > 0:
        total += term
        if step > 0:
            if i == n:
                break
            term *= (n - i) / (i + 1) * odds
        else:
            if i == 0:
                break
            term *= i / (n - i + 1) / odds
        i += step
        if term < total * 1e-17:
            break
    return total
