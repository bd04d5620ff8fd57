"""Trends over a period's buckets: a robust slope and whether it is significant.

The contract (what :mod:`kpicli.execute` gives and reads back):

``trends(frame) -> pl.DataFrame`` where ``frame`` has one row per series × bucket, sorted
by ``series`` then ``index``: ``series`` (Int64), ``index`` (Int64: the bucket's number in
the period, 0, 1, 2…; gaps allowed), ``value`` (Float64, nulls skipped).

It returns one row per series (in order of first appearance): ``series``, ``slope``
(Float64: the Theil–Sen slope per bucket, relative to the series' level: the median of the
values, null when that is 0 or fewer than 3 values), ``p_value`` (Float64: Mann–Kendall's
two-sided test, ties corrected, the normal approximation), ``significant`` (Boolean:
``p_value < 0.05``), ``buckets`` (Int64: values used).

Vectorised with numpy (imported inside): 300 series of 730 buckets take well under a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

LEVEL = 0.05


def trends(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per series: slope, p_value, significant, buckets (see the module)."""
    raise NotImplementedError
