"""Blocks: the time-aligned unit in which detection keeps its state.

A rule's window is cut into about :data:`TARGET_BLOCKS` blocks of equal length, aligned
to the epoch (one hour for the default 7-day window). A sample at ``t`` covers
``(t - step, t]`` and belongs to block ``(t - 1) // block`` (end-labelled, like the
sample grid), so every reader of the same samples cuts them into the same blocks: the
daemon one sample at a time, replay a whole series at once.

Each complete block is summarised by a handful of numbers (its robust mean, spread and
number of samples) and only those are kept; the samples of the block in progress are
kept until it completes. That is what bounds the state of a series (DESIGN.md,
invariant 6) and makes a cycle's work proportional to the new samples.

The block summaries are functions of the block's own samples only, never of earlier
blocks, so a state rebuilt from a bounded history equals a state that has run for months.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from detector.robust import nanmean, nanmedian
from detector.series import FloatArray, IntArray

TARGET_BLOCKS = 168
"""Blocks per window: fine enough to date an onset (an hour in a week), coarse enough to
keep a series' state in a few kilobytes."""

NICE_SECONDS = (
    60, 120, 180, 300, 600, 900, 1200, 1800,
    3600, 7200, 10800, 14400, 21600, 43200, 86400,
)  # fmt: skip
"""Block lengths that divide a day, so daily and weekly phases fall on block edges."""

TRIM_FRACTION = 0.1
"""Share of samples dropped at each end of a block before averaging (one-off spikes)."""
HUBER_K = 2.5
"""Samples further than this many block spreads from the block median are pulled in."""
MAD_TO_SIGMA = math.sqrt(math.pi / 2)
"""Mean absolute deviation of normal noise times this is its standard deviation."""


@dataclass(frozen=True)
class BlockGrid:
    """How a rule cuts time: ``block`` seconds per block, ``window_blocks`` per window."""

    step: int
    block: int
    window_blocks: int

    @classmethod
    def for_rule(cls, window: int, step: int) -> BlockGrid:
        """The largest nice block length that is a multiple of ``step`` and at most
        ``window / TARGET_BLOCKS`` (one sample per block for coarse steps)."""
        target = window / TARGET_BLOCKS
        block = step
        for seconds in NICE_SECONDS:
            if seconds <= target and seconds % step == 0:
                block = max(block, seconds)
        return cls(step=step, block=block, window_blocks=max(1, window // block))

    @property
    def per_block(self) -> int:
        """Samples in a complete block."""
        return max(1, self.block // self.step)

    def block_of(self, timestamps: IntArray) -> IntArray:
        return np.asarray((timestamps - 1) // self.block, dtype=np.int64)

    def position_of(self, timestamps: IntArray) -> IntArray:
        """Slot of each sample inside its block, ``0 .. per_block - 1``."""
        offset = (timestamps - 1) - self.block_of(timestamps) * self.block
        return np.asarray(np.clip(offset // self.step, 0, self.per_block - 1), dtype=np.int64)

    def blocks_per(self, seconds: int) -> int | None:
        """Blocks in a period (a day, a week), or ``None`` when the period does not fall
        on block edges or is too short to resolve (fewer than 12 blocks)."""
        if seconds % self.block:
            return None
        count = seconds // self.block
        return count if count >= 12 else None


def block_spread(values: FloatArray) -> FloatArray:
    """Spread of each row (last axis, NaN-aware): mean absolute deviation from the median,
    as a standard deviation. Unlike the median absolute deviation it never collapses to
    zero on discrete or two-valued data (a trickle of 0s and 1s, a bimodal gauge)."""
    median = nanmedian(values)[..., None]
    return np.asarray(nanmean(np.abs(values - median)) * MAD_TO_SIGMA, dtype=np.float64)


def robust_block_mean(
    values: FloatArray, trim: float = TRIM_FRACTION
) -> tuple[FloatArray, IntArray]:
    """Robust mean and count of each row (last axis; NaN means no sample).

    Samples are first pulled to within ``HUBER_K`` spreads of the row's median (Huber),
    then a ``trim`` share of them is dropped at each end (rounded up, at least one each
    side). Rows of fewer than five samples (a block that has just begun) take the median:
    with three samples a spike is already outvoted. Both use only the row itself: a spike
    moves a block's mean by at most a couple of spreads over the block length, and
    two-valued data keep a smooth mean (a plain median would flip between the two values).
    """
    count = np.sum(~np.isnan(values), axis=-1)
    median = nanmedian(values)[..., None]
    scale = nanmean(np.abs(values - median))[..., None] * MAD_TO_SIGMA
    pulled = np.clip(values, median - HUBER_K * scale, median + HUBER_K * scale)
    ordered = np.sort(pulled, axis=-1)  # NaN sort last
    cut = np.where(count >= 5, np.maximum(1, np.ceil(count * trim - 1e-9)), 0).astype(np.int64)
    ranks = np.arange(values.shape[-1])
    keep = (ranks >= cut[..., None]) & (ranks < (count - cut)[..., None])
    kept = np.maximum(count - 2 * cut, 1)
    total = np.sum(np.where(keep, ordered, 0.0), axis=-1)
    mean = np.where(count >= 5, total / kept, median[..., 0])
    return np.asarray(mean, dtype=np.float64), np.asarray(count, dtype=np.int64)
