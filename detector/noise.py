"""How precise is the mean of ``m`` blocks? The series' own answer, at every time scale.

Metric noise is neither white nor stationary: residuals are autocorrelated, and levels
wander by an amount that stops shrinking as one averages longer (a "flicker floor": the
mean of a week is not 168 times more precise than the mean of an hour). A test that
assumes white noise alarms on every wander. So the variance of a mean is measured, not
assumed, the way oscillator stability is: for each scale ``k`` (1, 2, 4, ... blocks),
half the mean square difference between the means of two adjacent ``k``-block stretches
(an Allan variance) over the window's own history. That is exactly the question the
evidence asks (is the mean after an onset different from the mean before it?) asked of
every past moment, so autocorrelation, flicker and random-walk wander are all priced in.
(A second difference, the Hadamard variance, ignores a steady creep but under-prices a
random walk by half; a creep is instead removed before measuring, see
:func:`detector.evidence.build_reference`.) Between measured scales the curve
is interpolated on log-log axes; below one block it falls as ``1 / m`` (white noise);
beyond the longest measured scale it stays flat (or keeps growing, for a level that
wanders like a random walk), and averaging is never assumed to help more than it does
for white noise.

Each scale's estimate is a trimmed mean of squared differences (each capped at nine
times their median), so a single burst in the history does not blind the test for a
week, while a series that is bursty all the time is judged by its bursts.
"""

from __future__ import annotations

import numpy as np

from detector.robust import nanmean, nanmedian
from detector.series import FloatArray

SCALES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
"""Block counts at which the variance of a mean is measured (as far as the window allows)
or extrapolated (beyond it)."""
MIN_DIFFERENCES = 3
"""A scale needs at least this many differences to count."""
MIN_STRETCHES = 5
"""A scale ``k`` is measured only when the window holds this many ``k``-block stretches
(four independent differences); longer scales are extrapolated."""
MAX_GROWTH = float(np.log(2.0))
"""Beyond the data the variance grows at most as a random walk's (twice per doubling):
faster growth at the last measured scales is a change in the window, not noise."""
CAP = 9.0
"""Squared differences above this many times their median count as this much."""
TINY = 1e-300
MEDIAN_CHI2 = 0.45493642311957283
"""Median of a chi-squared variable with one degree of freedom."""
FLOOR_LOG = np.log(1e-200)
"""Log variances below this are a constant series' zero, not a measured scale."""
UNCAPPED_BELOW = 8
"""Scales shorter than this many blocks keep every difference: the bursts a series has
had are what its short stretches are judged against."""


def variance_curve(
    values: FloatArray, *, robust: bool = False, min_stretches: int = MIN_STRETCHES
) -> FloatArray:
    """``log`` of the variance of a ``k``-block mean for each ``k`` in :data:`SCALES`.

    ``values`` is ``(n, K)``: block means, oldest first, NaN where a block is missing.
    Returns ``(n, len(SCALES))``; a row is all NaN when not even one-block differences
    can be measured. Scales beyond the window are extrapolated (see :func:`_envelope`).

    ``robust`` takes the median squared difference instead of the (burst-aware) mean: a
    single change inside the window then barely moves any scale the window can measure
    well, which is what the question "is there one clear change here?" needs. Only
    scales with at least ``min_stretches`` stretches in the window are measured.
    """
    n = values.shape[0]
    sums, counts = _cumulative(values)
    out = np.full((n, len(SCALES)), np.nan)
    for index, k in enumerate(SCALES):
        estimate = _allan(sums, counts, k, robust=robust, min_stretches=min_stretches)
        if estimate is None:
            break
        out[:, index] = np.log(np.maximum(estimate, TINY))
    return _envelope(out)


def variance_at(values: FloatArray, k: int) -> FloatArray:
    """The (uncurved) variance of a ``k``-block mean of each row, NaN where unmeasurable."""
    sums, counts = _cumulative(values)
    estimate = _allan(sums, counts, k)
    return np.full(values.shape[0], np.nan) if estimate is None else estimate


def _cumulative(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    centred = values - _row_median(values)[:, None]
    valid = ~np.isnan(centred)
    filled = np.where(valid, centred, 0.0)
    zero = np.zeros((values.shape[0], 1))
    sums = np.concatenate([zero, np.cumsum(filled, axis=1)], axis=1)
    counts = np.concatenate([zero, np.cumsum(valid, axis=1)], axis=1)
    return sums, counts


def _allan(
    sums: FloatArray,
    counts: FloatArray,
    k: int,
    *,
    robust: bool = False,
    min_stretches: int = MIN_STRETCHES,
) -> FloatArray | None:
    """Half the mean square difference of adjacent ``k``-block means, per row (NaN where
    too few differences); ``None`` when the window is too short for the scale at all."""
    width = sums.shape[1] - 1
    if min_stretches * k > width:
        return None
    total = sums[:, k:] - sums[:, :-k]
    present = counts[:, k:] - counts[:, :-k]
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(present >= max(1, k // 2), total / np.maximum(present, 1), np.nan)
    diffs = means[:, k:] - means[:, :-k]
    squares = diffs * diffs
    enough = np.sum(~np.isnan(squares), axis=1) >= MIN_DIFFERENCES
    if robust:
        estimate = nanmedian(squares) / MEDIAN_CHI2 / 2.0
        return np.asarray(np.where(enough, estimate, np.nan), dtype=np.float64)
    if k >= UNCAPPED_BELOW:
        squares = np.minimum(squares, CAP * nanmedian(squares)[:, None] + TINY)
    estimate = nanmean(squares) / 2.0
    return np.asarray(np.where(enough, estimate, np.nan), dtype=np.float64)


def _row_median(values: FloatArray) -> FloatArray:
    return np.asarray(np.nan_to_num(nanmedian(values), nan=0.0), dtype=np.float64)


def _envelope(curve: FloatArray) -> FloatArray:
    """Fill the scales the window could not measure and smooth the ones it did.

    * Averaging never helps more than for white noise: the variance of a ``k``-block
      *sum* does not fall as ``k`` grows (``V(k) k`` is non-decreasing), which removes
      dips that are only estimation noise.
    * Beyond the longest measured scale the curve stays flat, or keeps growing at the
      rate it grew over the last two measured scales: a level that wanders like a random
      walk keeps wandering.
    """
    out = curve.copy()
    logs = np.log(np.asarray(SCALES, dtype=np.float64))
    growth = np.zeros(out.shape[0])
    for index in range(1, out.shape[1]):
        missing = np.isnan(out[:, index])
        previous = out[:, index - 1]
        measured_pair = ~missing & (out[:, index] > FLOOR_LOG) & (previous > FLOOR_LOG)
        floor = previous - (logs[index] - logs[index - 1])
        out[:, index] = np.where(missing, previous + growth, np.fmax(out[:, index], floor))
        rise = np.clip(out[:, index] - previous, 0.0, MAX_GROWTH)
        growth = np.where(measured_pair, rise, growth)
    return out


def variance_of_mean(curve: FloatArray, blocks: FloatArray) -> FloatArray:
    """Variance of a mean over ``blocks`` blocks (may be fractional) for each row.

    ``curve`` is ``(n, S)`` from :func:`variance_curve`; ``blocks`` broadcasts against
    ``(n, ...)``: its first axis is the row. NaN where the curve is unknown.
    """
    extra = blocks.ndim - 1
    shape = (curve.shape[0],) + (1,) * extra
    unknown = ~np.isfinite(blocks)
    blocks = np.where(unknown, 1.0, blocks)
    position = np.log2(np.maximum(blocks, 1e-12))
    last = len(SCALES) - 1
    lower = np.clip(np.floor(position), 0, last - 1).astype(np.int64)
    fraction = np.clip(position - lower, 0.0, 1.0)
    rows = np.arange(curve.shape[0]).reshape(shape)
    left = curve[rows, lower]
    right = curve[rows, lower + 1]
    log_variance = left + fraction * (right - left)
    inside = np.exp(log_variance)
    one_block = np.exp(curve[:, 0]).reshape(shape)
    below = one_block / np.maximum(blocks, 1e-12)
    return np.asarray(np.where(unknown, np.nan, np.where(blocks < 1.0, below, inside)))
