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


def bucketise(
    timestamps: IntArray,
    values: FloatArray,
    *,
    start: int,
    end: int,
    width: int,
    step: int,
    how: str = "median",
) -> Buckets:
    """Aggregate ``values[start:end]`` into time-aligned buckets; empty buckets are dropped."""
    ts = timestamps[start:end]
    vs = values[start:end]
    if ts.size == 0:
        return Buckets(np.empty(0, np.int64), np.empty(0), width)
    per_bucket = max(1, width // step)
    ids = ts // width
    first = int(ids[0])
    slots = (ids - first).astype(np.int64)
    grid = np.full((int(slots[-1]) + 1, per_bucket), np.nan)
    offsets = np.minimum((ts % width) // step, per_bucket - 1).astype(np.int64)
    grid[slots, offsets] = vs
    valid = np.any(~np.isnan(grid), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        agg = np.nanmedian(grid, axis=1) if how == "median" else np.nanmean(grid, axis=1)
    starts = (np.arange(grid.shape[0], dtype=np.int64) + first) * width
    return Buckets(starts=starts[valid], values=agg[valid], width=width)


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
