"""Where a level is heading: the robust line behind the ``exhaustion`` kind.

Once per block, a Theil-Sen line (the median of pairwise slopes, with Sen's 90%
confidence band) is fitted to the block means of the second half of a rule's window,
vectorised over every series of the rule, and projected to the rule's ``limit``: when it
would be reached at the fitted slope, and at the slowest slope in the band.
"""

from __future__ import annotations

import math

import numpy as np

from detector.blocks import BlockGrid
from detector.robust import nanmedian
from detector.rule import Rule
from detector.series import FloatArray, IntArray

DAY = 86400.0
Z_90 = 1.6448536269514722
"""Two-sided 90% normal quantile: the slope band of Sen's method."""
MIN_POINTS = 8


def project(
    values: FloatArray, blocks: IntArray, grid: BlockGrid, rule: Rule
) -> dict[str, FloatArray]:
    """Theil-Sen projection of each row's second half-window of block means ``(m, K)``."""
    limit = float(rule.limit) if rule.limit is not None else math.nan
    half = values[:, values.shape[1] // 2 :]
    ids = blocks[:, values.shape[1] // 2 :]
    m, h = half.shape
    days = (np.arange(h, dtype=np.float64) - (h - 1)) * grid.block / DAY
    left, right = np.triu_indices(h, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        slopes = (half[:, right] - half[:, left]) / (days[right] - days[left])
    slopes = np.sort(slopes, axis=1)  # NaN last
    pairs = np.sum(~np.isnan(slopes), axis=1)
    points = np.sum(~np.isnan(half), axis=1)
    rows = np.arange(m)
    middle = np.clip(pairs // 2, 0, max(0, slopes.shape[1] - 1))
    lower_mid = np.clip((pairs - 1) // 2, 0, max(0, slopes.shape[1] - 1))
    slope = (slopes[rows, middle] + slopes[rows, lower_mid]) / 2.0
    spread = Z_90 * np.sqrt(points * (points - 1) * (2 * points + 5) / 18.0)
    low_index = np.clip(
        np.floor((pairs - spread) / 2.0).astype(np.int64), 0, np.maximum(pairs - 1, 0)
    )
    high_index = np.clip(
        np.ceil((pairs + spread) / 2.0).astype(np.int64), 0, np.maximum(pairs - 1, 0)
    )
    low, high = slopes[rows, low_index], slopes[rows, high_index]
    level = nanmedian(half - slope[:, None] * days[None, :])
    before = nanmedian(half[:, : max(3, h // 4)])
    with np.errstate(invalid="ignore", divide="ignore"):
        rising = limit > level
        slow = np.where(rising, low, high)
        toward = np.where(rising, slow > 0, slow < 0)
        at_limit = (limit - level) * (limit - before) <= 0
        eta = np.where(at_limit, 0.0, (limit - level) / slope)
        slow_eta = np.where(at_limit, 0.0, np.where(toward, (limit - level) / slow, np.inf))
        half_width = (high - low) / 2.0 / Z_90
        score = np.where(half_width > 0, np.abs(slope) / half_width, 1e6)
    enough = points >= MIN_POINTS
    return {
        "slope": np.where(enough, slope, np.nan),
        "level": np.where(enough, level, np.nan),
        "before": np.where(enough, before, np.nan),
        "onset": ids[:, 0].astype(np.float64),
        "eta": np.where(enough, eta, np.nan),
        "slow_eta": np.where(enough, slow_eta, np.nan),
        "score": np.where(enough, score, np.nan),
        "at_limit": np.where(enough, at_limit, False).astype(np.float64),
    }
