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

No numpy and no scipy: a report with ``--compare`` must start as fast as one without
(math over the report's rows, which are few).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

LEVEL = 0.05


def significance(frame: pl.DataFrame) -> pl.DataFrame:
    """``p_value`` and ``change_significant`` of each row of ``frame`` (see the module)."""
    raise NotImplementedError
