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

The model (the same for every kind, on a scale that suits the kind):

- *Prediction.* On a working scale (log of the amount per whole bucket for counts and sums,
  log or raw for levels, the arcsine-square-root of the rate for ratios), the prediction is
  a robust level (the trimmed mean of the last 14 days, seasonally adjusted) plus a damped
  robust slope (the median of the week-on-week differences of the last 4 weeks: an adaptive
  trend) plus, at day grain, the weekday's offset (the trimmed mean of that weekday's
  deviations from a centred weekly median over the 6 weeks before). Trimmed means and
  medians keep a past spike or outage from moving the prediction much.
- *Noise.* The variance of the prediction error is the sampling variance the KPI's make-up
  implies plus an extra variance learned from the series' own past one-step prediction
  errors (those of the buckets of the window not needed for their own predictions),
  robustly (a mean of the squared errors that leaves out those beyond 4.5 robust standard
  deviations, so a spike does not widen the band). Counts are tested on Anscombe's
  square-root scale (variance 1 under Poisson, ``1 + tau²·mu`` with a negative binomial's
  over-dispersion ``tau²``, learned; right for small counts where a normal approximation of
  the count is not); ratios on the arcsine-square-root scale (binomial variance
  ``1 / (4·den + 2)`` plus ``tau²``, learned: small denominators give wide bands, huge ones
  narrow but never narrower than the day-to-day variation learned); sums and levels on
  their working scale (variance learned).
- *Score.* The variance is learned from a few dozen errors, so the prediction's error is a
  Student t (degrees of freedom from the errors kept), and ``anomaly_score`` is the normal
  quantile of its tail probability: on clean data ``|score| > z`` about as often as a
  normal's (:data:`Z`: 4.5 / 4 / 3.5 for low / medium / high, chosen on the benchmark's
  tuning seeds; see bench/RESULTS.md for the false-alarm rates).
- *Zeros and nulls.* A count or sum that is null counts as 0 (its rows are missing), in
  the history as in the bucket judged. A sum that is 0 (or negative) after a window
  with fewer than ``_ZERO_COUNT`` zeros (one was a past outage) is a tracking outage:
  flagged ``low``, score ``-_CAP``; where the window had more, the zero's probability is
  their share (Jeffreys: (zeros + ½) / (buckets + 1)), the positive values' tails scaled by
  the rest, so a sum often 0 (a small channel's revenue) is not flagged for it. A ratio
  without a denominator, or a level that is null, gets a baseline and no score.
- *Exposure.* Counts and sums are modelled per whole bucket and scaled back by the
  bucket's exposure (baseline and bounds); ratios and levels are not scaled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

#: Buckets of history read before the period and learned from, by grain (at day grain: a
#: prediction reads 52 days back, and the noise is learned from the 60 days of errors
#: before the bucket).
WINDOW = {"day": 112, "week": 30, "month": 24, "quarter": 12, "year": 6}
#: The fewest buckets of history that give a prediction, by grain.
MIN_HISTORY = {"day": 28, "week": 10, "month": 8, "quarter": 5, "year": 4}
#: The width of the interval: the |score| beyond which a bucket is flagged.
Z = {"low": 4.5, "medium": 4.0, "high": 3.5}
KINDS = ("ratio", "count", "sum", "level")
OUTPUT_COLUMNS = ("baseline", "lower", "upper", "anomaly", "anomaly_score")

#: Per grain: (season length, past seasons for the offsets, level buckets, slope lag,
#: slope span in buckets).
_SHAPE = {
    "day": (7, 6, 14, 7, 28),
    "week": (1, 0, 8, 4, 12),
    "month": (1, 0, 6, 3, 9),
    "quarter": (1, 0, 4, 2, 6),
    "year": (1, 0, 3, 1, 3),
}
_TRIM = 0.25  # share trimmed at each end of the level's and offsets' windows
_DAMP = 0.5  # the slope's weight (a damped trend: a noisy slope costs variance)
_CUT, _DROP = 3.0, 4.5  # past errors' weights fall from 1 to 0 between these robust sds
_LEFT = 0.9941091842906532  # what those weights leave of a normal's variance (quadrature)
_CHI2_MEDIAN = 0.454936423119572  # chi²₁'s median: a normal error's median square / variance
_CAP = 10.0  # |score| at most (a zero amount on a positive history: -_CAP)
#: Zeros of an amount on at least this many buckets of the history are usual (a small
#: channel's days without revenue); a single one was a past outage, an anomaly of its own.
_ZERO_COUNT = 2
_DF_SHARE = 0.8  # degrees of freedom per past error kept (the robust estimator's efficiency)
_FLOOR_SD = 1e-4  # the smallest standard deviation on the working scale


#: Cells (series × buckets × window) of one batch of series computed together.
_BATCH_CELLS = 4_000_000


def detect(
    frame: pl.DataFrame, *, grain: str, sensitivity: str = "medium", window: int | None = None
) -> pl.DataFrame:
    """``frame`` with baseline, lower, upper, anomaly and anomaly_score (see the module)."""
    import numpy as np
    import polars as pl

    z = Z[sensitivity]
    window = WINDOW[grain] if window is None else int(window)
    n = frame.height
    out = {c: np.full(n, np.nan) for c in ("baseline", "lower", "upper", "anomaly_score")}
    if n:
        cols = {
            c: frame.get_column(c).cast(pl.Float64).to_numpy().astype(float)
            for c in ("value", "num", "den", "exposure")
        }
        evaluate = frame.get_column("evaluate").fill_null(False).to_numpy().astype(bool)
        grid = _grid(frame.get_column("start"), grain)
        series = frame.get_column("series").to_numpy()
        kinds = frame.get_column("kind").to_list()
        cuts = np.flatnonzero(np.diff(series) != 0) + 1
        spans = [(int(a), int(b)) for a, b in zip(np.r_[0, cuts], np.r_[cuts, n], strict=True)]
        spans = [(a, b) for a, b in spans if evaluate[a:b].any()]
        for kind in dict.fromkeys(kinds[a] for a, _ in spans):
            same = [(a, b) for a, b in spans if kinds[a] == kind]
            for batch in _batches(same, grid):
                _run(kind, batch, cols, grid, grain, window, z, out)
        for c in out:
            out[c] = np.where(evaluate, out[c], np.nan)
    score = pl.Series("anomaly_score", out["anomaly_score"], dtype=pl.Float64, nan_to_null=True)
    flag = pl.when(score > z).then(pl.lit("high")).when(score < -z).then(pl.lit("low"))
    return frame.with_columns(
        *(pl.Series(c, out[c], dtype=pl.Float64, nan_to_null=True) for c in OUTPUT_COLUMNS[:3]),
        flag.otherwise(pl.lit(None, pl.Utf8)).alias("anomaly"),
        score,
    ).select(*frame.columns, *OUTPUT_COLUMNS)


def _grid(start: pl.Series, grain: str) -> np.ndarray:
    """Each bucket's index on a gapless grid of the grain (lags then count buckets, and a lag
    of 7 days is the same weekday even where a series skips days)."""
    import numpy as np
    import polars as pl

    days = start.cast(pl.Date).to_physical().to_numpy().astype(np.int64)  # since 1970-01-01
    if grain == "day":
        return days
    if grain == "week":
        return (days + 3) // 7  # weeks starting on Monday
    years = start.dt.year().to_numpy().astype(np.int64)
    months = start.dt.month().to_numpy().astype(np.int64) - 1
    return {"month": years * 12 + months, "quarter": years * 4 + months // 3}.get(grain, years)


def _batches(spans: list[tuple[int, int]], grid: np.ndarray):
    """Groups of series computed together (a few million cells each)."""
    batch: list[tuple[int, int]] = []
    longest = 0
    for a, b in spans:
        length = int(grid[b - 1] - grid[a]) + 1
        if batch and (len(batch) + 1) * max(longest, length) * 80 > _BATCH_CELLS:
            yield batch
            batch, longest = [], 0
        batch.append((a, b))
        longest = max(longest, length)
    if batch:
        yield batch


def _run(kind, batch, cols, grid, grain, window, z, out) -> None:
    """Lay a batch of series of one kind on a (series × bucket) grid, run the kind's model,
    and write its outputs back into ``out`` (rows of the frame)."""
    import numpy as np

    rows = np.concatenate([np.arange(a, b) for a, b in batch])
    which = np.concatenate([np.full(b - a, i) for i, (a, b) in enumerate(batch)])
    pos = np.concatenate([grid[a:b] - grid[a] for a, b in batch])
    shape = (len(batch), int(pos.max()) + 1)
    arrays = {}
    for k, v in cols.items():
        g = np.full(shape, np.nan)
        g[which, pos] = v[rows]
        arrays[k] = g
    arrays["exposure"] = np.where(np.isnan(arrays["exposure"]), 1.0, arrays["exposure"])
    present = np.zeros(shape, dtype=bool)
    present[which, pos] = True
    model = {"count": _count, "ratio": _ratio, "sum": _sum}.get(kind, _level)
    res = model(arrays, present, grain, window, z)
    res["anomaly_score"] = np.clip(res["anomaly_score"], -_CAP, _CAP)
    for k, v in res.items():
        out[k][rows] = v[which, pos]


# --- statistics along the last axis ----------------------------------------------------------


def _lagged(a: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """``out[..., t, j] = a[..., t - lags[j]]`` (nan outside): each bucket's past (or, for a
    negative lag, future: the centred seasonal median of a bucket already past)."""
    import numpy as np

    top, bottom = max(int(lags.max()), 0), max(-int(lags.min()), 0)
    fill = np.full((*a.shape[:-1], top), np.nan), np.full((*a.shape[:-1], bottom), np.nan)
    pad = np.concatenate([fill[0], a, fill[1]], axis=-1)
    return pad[..., np.arange(a.shape[-1])[:, None] + top - lags[None, :]]


def _sort(m: np.ndarray, min_count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows sorted (nan last), their counts of values, and where they have too few."""
    import numpy as np

    s = np.sort(m, axis=-1)
    c = m.shape[-1] - np.isnan(s).sum(axis=-1)
    return s, c, c < max(min_count, 1)


def _at(s: np.ndarray, i: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.take_along_axis(s, i[..., None], axis=-1)[..., 0]


def _median(m: np.ndarray, min_count: int) -> np.ndarray:
    """Each row's median (nan below ``min_count`` values)."""
    import numpy as np

    s, c, bad = _sort(m, min_count)
    hi = np.minimum(c // 2, s.shape[-1] - 1)
    med = 0.5 * (_at(s, np.maximum(c - 1, 0) // 2) + _at(s, hi))
    return np.where(bad, np.nan, med)


def _trimmed_mean(m: np.ndarray, trim: float, min_count: int) -> np.ndarray:
    """Each row's mean without its ``trim`` share of lowest and of highest values."""
    import numpy as np

    s, c, bad = _sort(m, min_count)
    k = np.floor(c * trim).astype(np.int64)
    i = np.arange(s.shape[-1])
    keep = (i >= k[..., None]) & (i < (c - k)[..., None])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(keep, s, 0).sum(axis=-1) / (c - 2 * k)
    return np.where(bad, np.nan, mean)


def _robust_variance(
    resid: np.ndarray, width: int, min_count: int
) -> tuple[np.ndarray, np.ndarray]:
    """The variance of the errors ``resid[t - width : t]`` for each t, robustly: a weighted
    mean of their squares, an error's weight 1 up to :data:`_CUT` robust standard deviations
    (from the median square: chi²₁'s median for normal errors), falling to 0 at
    :data:`_DROP` (so a spike is left out, and the weights move smoothly with the median),
    scaled back to a normal's variance; and the degrees of freedom of the Student t
    predictive (the uncertainty of that variance)."""
    import numpy as np

    s, c, bad = _sort(_lagged(resid.astype(np.float32) ** 2, np.arange(1, width + 1)), min_count)
    hi = np.minimum(c // 2, width - 1)
    scale = 0.5 * (_at(s, np.maximum(c - 1, 0) // 2) + _at(s, hi)) / _CHI2_MEDIAN
    with np.errstate(invalid="ignore", divide="ignore"):
        u = np.sqrt(s / scale[..., None].astype(np.float32))
        w = np.clip((_DROP - u) / np.float32(_DROP - _CUT), 0.0, 1.0)
        w[np.isnan(s)] = 0.0
        s[np.isnan(s)] = 0.0
        mean = (w * s).sum(axis=-1, dtype=np.float64) / w.sum(axis=-1, dtype=np.float64)
    df = np.maximum(np.round(_DF_SHARE * w.sum(axis=-1, dtype=np.float64) * 4) / 4, 1.0)
    return np.where(bad, np.nan, mean / _LEFT), df


def _past_count(ok: np.ndarray, width: int) -> np.ndarray:
    """How many of the ``width`` buckets before each t are ``ok``."""
    import numpy as np

    cs = np.concatenate([np.zeros((*ok.shape[:-1], 1)), np.cumsum(ok, axis=-1)], axis=-1)
    t = np.arange(ok.shape[-1])
    return cs[..., t] - cs[..., np.maximum(t - width, 0)]


# --- the prediction ----------------------------------------------------------------------


def _shape(grain: str, window: int) -> tuple[int, int, int, int, int]:
    """:data:`_SHAPE` of the grain, shrunk where ``window`` is too short for it: at most
    half the window goes to a prediction's look-back, the rest to learning its errors."""
    season, seasons, level, lag, span = _SHAPE[grain]
    budget = max(window // 2, 2)
    if season > 1:
        seasons = max(1, min(seasons, (budget - season - season // 2) // season))
    span = max(2, min(span, budget))
    return season, seasons, min(level, span), max(1, min(lag, span // 2)), span


def _lookback(grain: str, window: int) -> int:
    """How far back a one-step prediction reads (buckets)."""
    season, seasons, _, _, span = _shape(grain, window)
    return max(season * seasons + season + season // 2 if season > 1 else 0, span)


def _predict(x: np.ndarray, grain: str, window: int) -> np.ndarray:
    """One-step predictions on the working scale: ``pred[..., t]`` from ``x[..., t -
    _lookback : t]`` only (seasonal offset + trimmed-mean level + damped median slope)."""
    import numpy as np

    season, seasons, level, lag, span = _shape(grain, window)
    lags = np.arange(1, span + 1)
    past = _lagged(x, lags)
    own = 0.0
    if season > 1:
        offsets = _offsets(x, season, seasons)  # each bucket's, from the seasons before it
        past = past - _lagged(offsets, lags % season)  # the latest estimate of each
        own = offsets
    centre = _trimmed_mean(past[..., :level], _TRIM, max(2, level // 2))
    slope = _median(past[..., : span - lag] - past[..., lag:span], 3)
    slope = np.where(np.isnan(slope), 0.0, slope) / lag
    return centre + _DAMP * slope * (level + 1) / 2 + own


def _offsets(x: np.ndarray, season: int, seasons: int) -> np.ndarray:
    """``offsets[..., t]``: the seasonal offset of bucket t, the trimmed mean of the same
    season's deviations from their centred seasonal median over the past ``seasons`` seasons
    (the deviation of bucket j reads x[j - 3 .. j + 3] at day grain, j ≤ t - 7)."""
    import numpy as np

    half = season // 2
    # a median of the window, not a mean (a spike does not move its neighbours' deviations),
    # and not from cumulative sums (no rounding carried from far buckets)
    dev = x - _median(_lagged(x, np.arange(-half, half + 1)), season - 2)
    return _trimmed_mean(_lagged(dev, season * np.arange(1, seasons + 1)), _TRIM, 1)


# --- the models of each kind -----------------------------------------------------------------


def _noise(resid: np.ndarray, grain: str, window: int, *extra: np.ndarray) -> list[np.ndarray]:
    """The learned variance of the past one-step errors ``resid`` and its degrees of freedom
    (:func:`_robust_variance`), and the means of ``extra`` over the same buckets; nan where
    too few errors. Reads ``window - _lookback`` buckets back, so an output reads at most
    ``window`` buckets."""
    import numpy as np

    width = max(window - _lookback(grain, window), 3)
    need = max(3, min(MIN_HISTORY[grain] // 2, width // 2))
    out = list(_robust_variance(resid, width, need))
    lags = np.arange(1, width + 1)
    for e in extra:
        past = _lagged(np.where(np.isnan(resid), np.nan, e), lags)
        n = (~np.isnan(past)).sum(axis=-1)
        out.append(np.nansum(past, axis=-1) / np.maximum(n, 1))
    return out


def _ready(observed: np.ndarray, pred: np.ndarray, var: np.ndarray, grain: str, window: int):
    """Where a prediction is given: enough history, a prediction and a learned noise."""
    import numpy as np

    enough = _past_count(observed, window) >= min(MIN_HISTORY[grain], window)
    return enough & np.isfinite(pred) & np.isfinite(var)


def _score(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """The normal quantile of a Student t's tail probability (the score's unit): the
    prediction's variance is learned, so its error is t-distributed, not normal."""
    import numpy as np
    from scipy.special import ndtri, stdtr

    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sign(t) * -ndtri(stdtr(df, -np.abs(t)))


def _quantile(z: float, df: np.ndarray) -> np.ndarray:
    """The Student t quantile with the tail probability of a normal's ``z`` (computed once
    per distinct ``df``: they are in quarter steps)."""
    import numpy as np
    from scipy.special import ndtr, stdtrit

    out = np.full(df.shape, np.nan)
    ok = np.isfinite(df)
    distinct, where = np.unique(df[ok], return_inverse=True)
    out[ok] = stdtrit(distinct, ndtr(z))[where]
    return out


def _masked(ready: np.ndarray, **cols: np.ndarray) -> dict[str, np.ndarray]:
    import numpy as np

    return {k: np.where(ready, v, np.nan) for k, v in cols.items()}


def _count(g, present, grain, window, z):
    """Counts: level on log(count per whole bucket + 0.5), tested on Anscombe's square root
    scale (2·sqrt(y + 3/8): variance 1 under Poisson, 1 + tau²·mu under a negative
    binomial's over-dispersion tau², learned)."""
    import numpy as np

    y, e = g["value"], g["exposure"]
    y = np.where(present & np.isnan(y), 0.0, y)  # a null count is 0 (no rows)
    y = np.where(y >= 0, y, np.nan)
    pred = _predict(np.log(y / e + 0.5), grain, window)
    m0 = np.maximum(np.exp(pred) - 0.5, 0.0)
    m = np.maximum(np.exp(pred + 0.5 * m0 / (m0 + 0.5) ** 2) - 0.5, 1e-3)  # log's bias undone
    mu = m * e
    expect = 2 * np.sqrt(mu + 0.125)  # E[2·sqrt(Y + 3/8)] for Poisson mu ≳ 1
    var, df, mu_mean = _noise(2 * np.sqrt(y + 0.375) - expect, grain, window, mu)
    tau2 = np.maximum(var - 1.0, 0.0) / mu_mean
    sd = np.sqrt(1.0 + tau2 * mu)
    ready = _ready(~np.isnan(y), pred, var, grain, window)
    q = _quantile(z, df)
    lo, hi = expect - q * sd, expect + q * sd
    return _masked(
        ready,
        baseline=mu,
        lower=np.where(lo > 0, np.maximum((lo / 2) ** 2 - 0.375, 0.0), 0.0),
        upper=(hi / 2) ** 2 - 0.375,
        anomaly_score=_score((2 * np.sqrt(y + 0.375) - expect) / sd, df),
    )


def _ratio(g, present, grain, window, z):
    """Ratios of counts on the arcsine-square-root scale (Anscombe's: binomial variance
    1 / (4·den + 2)) plus an extra-binomial variance tau², learned."""
    import numpy as np

    num, den = g["num"], g["den"]
    ok = (den > 0) & (num >= 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        shrunk = np.clip((num + 0.375) / (den + 0.75), 0.0, 1.0)
        a = np.where(ok, np.arcsin(np.sqrt(shrunk)), np.nan)
        binom = np.where(ok, 1.0 / (4 * den + 2), np.nan)
    pred = _predict(a, grain, window)
    var, df, binom_mean = _noise(a - pred, grain, window, binom)
    q = _quantile(z, df)
    tau2 = np.maximum(var - binom_mean, 0.0)
    sd = np.maximum(np.sqrt(binom + tau2), _FLOOR_SD)

    def rate(angle: np.ndarray) -> np.ndarray:
        s2 = np.sin(np.clip(angle, 0.0, np.pi / 2)) ** 2
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(ok, np.clip((s2 * (den + 0.75) - 0.375) / den, 0.0, 1.0), s2)

    return _masked(
        _ready(ok, pred, var, grain, window),
        baseline=rate(pred),
        lower=np.where(ok, rate(pred - q * sd), np.nan),
        upper=np.where(ok, rate(pred + q * sd), np.nan),
        anomaly_score=_score((a - pred) / sd, df),
    )


def _sum(g, present, grain, window, z):
    """Amounts on a log scale (the amount per whole bucket). A zero (or null) is a tracking
    outage (score -_CAP) unless the history has at least _ZERO_COUNT zeros; then the zeros'
    share is the lower tail's mass at 0."""
    import numpy as np
    from scipy.special import ndtr, ndtri, stdtr, stdtrit

    y, e = g["value"], g["exposure"]
    y = np.where(present & np.isnan(y), 0.0, y)  # a null amount is 0
    positive, zero = y > 0, y <= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.where(positive, np.log(y / e), np.nan)
        pred = _predict(x, grain, window)
        var, df = _noise(x - pred, grain, window)
        sd = np.maximum(np.sqrt(var), _FLOOR_SD)
        zeros = _past_count(zero, window)
        seen = _past_count(positive | zero, window)
        share = (zeros + 0.5) / (seen + 1)  # Jeffreys'
        # a single zero was a past outage, not the series' way: one outage must not make
        # the next one look normal for the whole window
        usual = zeros >= _ZERO_COUNT
        share = np.where(usual, np.minimum(share, 0.5), 0.0)
        zs = (x - pred) / sd
        high = np.maximum(-ndtri((1 - share) * stdtr(df, -zs)), 0.0)
        low = np.minimum(ndtri(share + (1 - share) * stdtr(df, zs)), 0.0)
        zero_score = np.where(share > 0, np.minimum(ndtri(share), 0.0), -_CAP)
        score = np.where(zero, zero_score, np.where(zs >= 0, high, low))
        up = -stdtrit(df, np.minimum(ndtr(-z) / (1 - share), 1.0))
        lower = np.where(share >= ndtr(-z), 0.0, np.exp(pred - _quantile(z, df) * sd) * e)
    return _masked(
        _ready(positive, pred, var, grain, window),
        baseline=np.exp(pred) * e,
        lower=lower,
        upper=np.exp(pred + up * sd) * e,
        anomaly_score=score,
    )


def _level(g, present, grain, window, z):
    """Levels (averages, cost per, ROI): robust on a log scale while the history (and the
    value) are positive, else on the raw scale; the variance is learned."""
    import numpy as np

    y = g["value"]
    nonpos = y <= 0
    use_log = (_past_count(nonpos, window) == 0) & ~nonpos
    out: dict[str, np.ndarray] = {}
    for log in [True] if not nonpos.any() else [True, False]:
        with np.errstate(invalid="ignore", divide="ignore"):
            x = np.where(y > 0, np.log(y), np.nan) if log else y
            pred = _predict(x, grain, window)
            var, df = _noise(x - pred, grain, window)
        floor = _FLOOR_SD if log else _FLOOR_SD * np.abs(pred) + 1e-12
        sd = np.maximum(np.sqrt(var), floor)
        back = np.exp if log else (lambda v: v)
        q = _quantile(z, df)
        res = _masked(
            _ready(~np.isnan(y), pred, var, grain, window),
            baseline=back(pred),
            lower=back(pred - q * sd),
            upper=back(pred + q * sd),
            anomaly_score=_score((x - pred) / sd, df),
        )
        pick = use_log if log else ~use_log
        for k, v in res.items():
            out[k] = np.where(pick, v, out.get(k, np.nan))
    return out
