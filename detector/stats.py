"""Small robust-statistics helpers shared by the detectors."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import ruptures as rpt

from detector.series import FloatArray, IntArray

MAD_TO_SIGMA = 1.4826
MAX_BUCKETS = 256


def robust_sigma(values: FloatArray) -> float:
    """Standard deviation estimated from the median absolute deviation (spike-proof)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0
    return float(MAD_TO_SIGMA * np.median(np.abs(finite - np.median(finite))))


def lag1_autocorrelation(residuals: FloatArray) -> float:
    """Lag-1 autocorrelation, clipped to [0, 0.95]: negative values give no extra credit."""
    if residuals.size < 4:
        return 0.0
    centred = residuals - residuals.mean()
    denom = float(np.dot(centred, centred))
    if denom <= 0.0:
        return 0.0
    rho = float(np.dot(centred[:-1], centred[1:])) / denom
    return min(max(rho, 0.0), 0.95)


def effective_count(count: int, rho: float) -> float:
    """Samples' worth of independent information under AR(1) correlation ``rho``."""
    return max(1.0, count * (1.0 - rho) / (1.0 + rho))


@dataclass(frozen=True)
class Buckets:
    """A window summarised into at most ``MAX_BUCKETS`` time-aligned buckets.

    Bucket edges are multiples of ``width`` seconds since the epoch, so two evaluations
    that share data share bucket boundaries too (deterministic, cache-friendly).
    """

    starts: IntArray
    values: FloatArray
    width: int


def bucket_width(window_steps: int, step: int) -> int:
    return step * max(1, math.ceil(window_steps / MAX_BUCKETS))


def _aggregate_rows(grid: FloatArray, how: str) -> FloatArray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if how == "median":
            return np.asarray(np.nanmedian(grid, axis=1), dtype=np.float64)
        return np.asarray(np.nanmean(grid, axis=1), dtype=np.float64)


@dataclass(frozen=True)
class BucketTable:
    """Aggregates of every time-aligned bucket of a whole series, computed once.

    A bucket that lies wholly inside an evaluation window holds the same samples in
    every window (and in every truncated copy of the series), so its aggregate can be
    looked up instead of recomputed. Buckets cut by a window's edges are recomputed from
    the window's own samples. This is the "incremental state that provably equals the
    stateless result" of DESIGN.md section 4: the stateless path uses the same table.
    """

    timestamps: IntArray
    values: FloatArray
    width: int
    step: int
    how: str
    first_id: int
    aggregates: FloatArray

    @classmethod
    def build(
        cls, timestamps: IntArray, values: FloatArray, width: int, step: int, how: str
    ) -> BucketTable:
        per_bucket = max(1, width // step)
        if timestamps.size == 0:
            return cls(timestamps, values, width, step, how, 0, np.empty(0))
        first_id = int(timestamps[0] // width)
        lead = int((timestamps[0] - first_id * width) // step)
        total = lead + values.size
        rows = -(-total // per_bucket)
        padded = np.full(rows * per_bucket, np.nan)
        padded[lead : lead + values.size] = values
        aggregates = _aggregate_rows(padded.reshape(rows, per_bucket), how)
        return cls(timestamps, values, width, step, how, first_id, aggregates)

    def window(self, start: int, end: int) -> Buckets:
        """Buckets of ``values[start:end]``; empty buckets are dropped."""
        if end <= start:
            return Buckets(np.empty(0, np.int64), np.empty(0), self.width)
        t_first, t_last = int(self.timestamps[start]), int(self.timestamps[end - 1])
        ids = np.arange(t_first // self.width, t_last // self.width + 1, dtype=np.int64)
        out = self.aggregates[ids - self.first_id].copy()
        for position in {0, ids.size - 1}:
            bucket_start = int(ids[position]) * self.width
            bucket_last = bucket_start + self.width - self.step
            if t_first <= bucket_start and bucket_last <= t_last:
                continue  # wholly inside the window: the table's value is exact
            lo = start + (max(t_first, bucket_start) - t_first) // self.step
            hi = start + (min(t_last, bucket_last) - t_first) // self.step + 1
            out[position] = self._fresh(lo, hi)
        valid = ~np.isnan(out)
        return Buckets(starts=ids[valid] * self.width, values=out[valid], width=self.width)

    def _fresh(self, start: int, end: int) -> float:
        part = self.values[start:end]
        part = part[~np.isnan(part)]
        if part.size == 0:
            return float("nan")
        return float(np.median(part) if self.how == "median" else np.mean(part))


def last_change_point(values: FloatArray, penalty: float, min_size: int = 2) -> int | None:
    """Index where the most recent mean change begins (ruptures, linear kernel = L2 cost).

    Returns ``None`` when segmentation finds no change worth ``penalty``.
    """
    if values.size < 2 * min_size + 1:
        return None
    algo = rpt.KernelCPD(kernel="linear", min_size=min_size, jump=1).fit(values)
    breaks = algo.predict(pen=penalty)
    inner = [b for b in breaks if b < values.size]
    return inner[-1] if inner else None


def segment_z(
    before: FloatArray, after: FloatArray, *, floor: float, se_factor: float = 1.0
) -> float:
    """Difference of segment medians over its standard error (a z score).

    The noise is the robust spread of both segments around their medians; the sample
    counts are discounted for lag-1 autocorrelation. ``se_factor`` is the standard
    error of the statistic per unit noise (sqrt(pi/2) for a median of normal noise).
    """
    before_mid, after_mid = float(np.median(before)), float(np.median(after))
    residuals = np.r_[before - before_mid, after - after_mid]
    sigma = max(robust_sigma(residuals), floor)
    rho = lag1_autocorrelation(residuals)
    spread = (
        sigma
        * se_factor
        * math.sqrt(1 / effective_count(before.size, rho) + 1 / effective_count(after.size, rho))
    )
    return min(abs(after_mid - before_mid) / spread, 1e6)


def step_fit_sse(values: FloatArray, split: int) -> float:
    """Residual sum of squares of a two-level step model split at ``split``."""
    left, right = values[:split], values[split:]
    return float(np.sum((left - left.mean()) ** 2) + np.sum((right - right.mean()) ** 2))


@dataclass(frozen=True)
class HingeFit:
    """Flat until ``onset_index``, then a straight line: how a creep starts."""

    onset_index: int
    level: float
    slope: float
    sse: float


def hinge_fit(positions: FloatArray, values: FloatArray, min_tail: int) -> HingeFit | None:
    """Least-squares fit of ``level + slope * max(0, x - x[k])`` over every onset ``k``."""
    n = values.size
    candidates = np.arange(0, n - min_tail + 1)
    if candidates.size == 0:
        return None
    hinge = np.maximum(0.0, positions[None, :] - positions[candidates][:, None])
    h_mean = hinge.mean(axis=1, keepdims=True)
    y_mean = values.mean()
    h_c = hinge - h_mean
    y_c = values - y_mean
    var_h = np.sum(h_c * h_c, axis=1)
    cov = h_c @ y_c
    ok = var_h > 0
    if not np.any(ok):
        return None
    slope = np.where(ok, cov / np.where(ok, var_h, 1.0), 0.0)
    sse = np.sum(y_c * y_c) - np.where(ok, cov * cov / np.where(ok, var_h, 1.0), 0.0)
    sse = np.where(ok, sse, np.inf)
    best = int(np.argmin(sse))
    level = float(y_mean - slope[best] * h_mean[best, 0])
    return HingeFit(
        onset_index=int(candidates[best]),
        level=level,
        slope=float(slope[best]),
        sse=float(sse[best]),
    )
