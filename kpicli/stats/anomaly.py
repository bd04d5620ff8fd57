"""Anomalies: is a bucket's value outside what the buckets before it predict?

The contract (what :mod:`kpicli.execute` gives and reads back):

``detect(frame, *, grain, sensitivity, window=None) -> pl.DataFrame``

``frame`` has one row per series × bucket, sorted by ``series`` then ``start``:

- ``series`` (Int64): which series (a KPI × dimension values, or a KPI's total);
- ``kind`` (Utf8, the same on every row of a series): what the KPI is made of:
  ``"ratio"`` (a ratio of counts: ``num / den``, ctr = clicks / impressions),
  ``"count"`` (a count or a sum of whole numbers: leads, clicks),
  ``"sum"`` (an amount that is not a count: money, durations; modelled on a log scale),
  ``"level"`` (anything else: averages, cost per, ROI);
- ``start`` (Date): the bucket's first day (weekday seasonality at day grain);
- ``value`` (Float64, null when the KPI has no value in the bucket);
- ``num``, ``den`` (Float64): for ``ratio``, the numerator's and denominator's values
  (null otherwise);
- ``exposure`` (Float64): the share of the bucket's days counted, in (0, 1]: 1 for a whole
  bucket, less for the first or last bucket of a period cut by it (a week of which 3 days
  are counted: 3/7); amounts scale with it, levels do not;
- ``evaluate`` (Boolean): whether to give this bucket a baseline (the period's buckets; the
  history before it is only learned from).

It returns ``frame`` with five more columns, null where ``evaluate`` is false or the history
before the bucket is too short for a prediction (never a guess):

- ``baseline`` (Float64): the value the history predicts for the bucket;
- ``lower``, ``upper`` (Float64): the prediction interval at ``sensitivity``;
- ``anomaly`` (Utf8): ``"high"`` above ``upper``, ``"low"`` below ``lower``, else null;
- ``anomaly_score`` (Float64): how far out, signed, in standard deviations of the
  prediction (the normal quantile of the value's tail probability under the model):
  ``|score|`` beyond :data:`Z[sensitivity]` is flagged.

A bucket's prediction is learned only from the buckets before it (at most ``window`` of
them, :data:`WINDOW[grain]` by default): changing a later bucket changes no earlier output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

#: Buckets of history read before the period and learned from, by grain.
WINDOW = {"day": 84, "week": 26, "month": 24, "quarter": 12, "year": 6}
#: The fewest buckets of history that give a prediction, by grain.
MIN_HISTORY = {"day": 28, "week": 8, "month": 6, "quarter": 4, "year": 3}
#: The width of the interval: the |score| beyond which a bucket is flagged.
Z = {"low": 3.5, "medium": 3.0, "high": 2.5}
KINDS = ("ratio", "count", "sum", "level")
OUTPUT_COLUMNS = ("baseline", "lower", "upper", "anomaly", "anomaly_score")


def detect(
    frame: pl.DataFrame, *, grain: str, sensitivity: str = "medium", window: int | None = None
) -> pl.DataFrame:
    """``frame`` with baseline, lower, upper, anomaly and anomaly_score (see the module)."""
    raise NotImplementedError
