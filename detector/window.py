"""Where an evaluation looks: the window, its baseline and its recent span.

An evaluation at ``now`` reads samples with ``now - window < ts <= now``. The last
``recent`` seconds of that window are compared with everything before them (the
baseline). ``recent`` is a 28th of the window (6 h for the default 7 d): long enough that
a median over it ignores one-off spikes, short enough to notice a change within hours.

``level_stats`` computes the baseline/recent statistics for one evaluation exactly;
``rolling_level_stats`` computes the same numbers for every position at once, which the
replay uses to skip evaluations that cannot report anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from detector.series import FloatArray, IntArray

RECENT_FRACTION = 28
MIN_RECENT_STEPS = 6
# Fractions of samples that must be present for a verdict (NaN gaps are allowed).
MIN_RECENT_COVERAGE = 0.5
MIN_BASELINE_COVERAGE = 0.5
MIN_BASELINE_SAMPLES = 12
IQR_TO_SIGMA = 1.349


def recent_steps(window_steps: int) -> int:
    return max(MIN_RECENT_STEPS, window_steps // RECENT_FRACTION)


@dataclass(frozen=True)
class Window:
    """Index ranges of one evaluation: ``[start, split)`` baseline, ``[split, end)`` recent."""

    start: int
    split: int
    end: int
    now: int

    @classmethod
    def at(cls, timestamps: IntArray, now: int, window_steps: int, step: int) -> Window:
        end = int(np.searchsorted(timestamps, now, side="right"))
        start = int(np.searchsorted(timestamps, now - window_steps * step, side="right"))
        recent = recent_steps(window_steps)
        split = int(np.searchsorted(timestamps, now - recent * step, side="right"))
        return cls(start=start, split=max(start, split), end=end, now=now)


@dataclass(frozen=True)
class LevelStats:
    """Robust baseline-vs-recent comparison of one series inside one window."""

    baseline: float
    recent: float
    sigma: float
    baseline_count: int
    recent_count: int

    @property
    def change(self) -> float:
        return self.recent - self.baseline


def enough_data(baseline_count: int, recent_count: int, baseline_len: int, recent_len: int) -> bool:
    return recent_count >= max(3, MIN_RECENT_COVERAGE * recent_len) and baseline_count >= max(
        MIN_BASELINE_SAMPLES, MIN_BASELINE_COVERAGE * baseline_len
    )


def level_stats(values: FloatArray, window: Window, recent_len: int) -> LevelStats | None:
    """Median of the baseline and of the recent span, and the baseline's robust spread."""
    base = values[window.start : window.split]
    recent = values[window.split : window.end]
    base_count = int(np.count_nonzero(~np.isnan(base)))
    recent_count = int(np.count_nonzero(~np.isnan(recent)))
    baseline_len = max(1, recent_len * (RECENT_FRACTION - 1))
    if not enough_data(base_count, recent_count, baseline_len, recent_len):
        return None
    q25, med, q75 = np.nanquantile(base, [0.25, 0.5, 0.75])
    return LevelStats(
        baseline=float(med),
        recent=float(np.nanmedian(recent)),
        sigma=float(q75 - q25) / IQR_TO_SIGMA,
        baseline_count=base_count,
        recent_count=recent_count,
    )


@dataclass(frozen=True)
class RollingLevelStats:
    """``LevelStats`` for a window ending at every position (NaN where data is short)."""

    baseline: FloatArray
    recent: FloatArray
    sigma: FloatArray


def rolling_level_stats(
    values: FloatArray, window_steps: int, recent_len: int
) -> RollingLevelStats:
    """Vectorised twin of :func:`level_stats` for windows aligned to the sample grid."""
    series = pd.Series(values)
    base_len = max(1, window_steps - recent_len)
    base_roll = series.rolling(base_len, min_periods=MIN_BASELINE_SAMPLES)
    q25 = base_roll.quantile(0.25).shift(recent_len).to_numpy(dtype=np.float64)
    med = base_roll.median().shift(recent_len).to_numpy(dtype=np.float64)
    q75 = base_roll.quantile(0.75).shift(recent_len).to_numpy(dtype=np.float64)
    recent = series.rolling(recent_len, min_periods=3).median().to_numpy(dtype=np.float64)
    return RollingLevelStats(baseline=med, recent=recent, sigma=(q75 - q25) / IQR_TO_SIGMA)
