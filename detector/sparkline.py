"""A week at a glance in one line of text: ``▁▂▃▅▇█``, safe with gaps and flat lines.

A digest is read on a phone, where a chart is a link away; eight block heights are
enough to see a step, a creep or a recovery. Samples are averaged into equal time
buckets (so a gap stays where it happened), a bucket with no finite sample prints
:data:`GAP`, and a series that never moves prints a flat middle line instead of
dividing by zero.

>>> sparkline([1.0, 2.0, 3.0, 4.0], timestamps=[0, 1, 2, 3], start=-1, end=3, width=4)
'▁▃▆█'
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["BLOCKS", "GAP", "bucket_means", "sparkline"]

BLOCKS = "▁▂▃▄▅▆▇█"
GAP = "·"
_FLAT = BLOCKS[3]
_RELATIVE_FLATNESS = 1e-9


def bucket_means(
    values: Sequence[float] | npt.NDArray[np.float64],
    *,
    timestamps: Sequence[int] | npt.NDArray[np.int64],
    start: int,
    end: int,
    width: int = 28,
) -> list[float]:
    """The mean of the finite samples in each of ``width`` equal buckets of
    ``(start, end]``; ``nan`` for a bucket without one."""
    if width < 1:
        raise ValueError(f"width must be at least 1, got {width}")
    if end <= start:
        raise ValueError(f"end ({end}) must be after start ({start})")
    times = np.asarray(timestamps, dtype=np.int64)
    data = np.asarray(values, dtype=np.float64)
    if times.shape != data.shape:
        raise ValueError("timestamps and values must have the same length")
    inside = (times > start) & (times <= end) & np.isfinite(data)
    times, data = times[inside], data[inside]
    # bucket of each sample: (start, end] split into `width` equal parts
    position = (times - start - 1).astype(np.float64) / float(end - start)
    buckets = np.minimum((position * width).astype(np.int64), width - 1)
    sums = np.bincount(buckets, weights=data, minlength=width)
    counts = np.bincount(buckets, minlength=width)
    return [float(s / c) if c else math.nan for s, c in zip(sums, counts, strict=True)]


def sparkline(
    values: Sequence[float] | npt.NDArray[np.float64],
    *,
    timestamps: Sequence[int] | npt.NDArray[np.int64],
    start: int,
    end: int,
    width: int = 28,
    reference: float | None = None,
) -> str:
    """``width`` characters for the samples with ``start < timestamp <= end``.

    Bucket ``i`` covers an equal share of ``(start, end]``; its character is the mean of
    its finite samples (:func:`bucket_means`) scaled between the window's minimum and
    maximum. A finite ``reference`` (the level before a drift) widens that range, so a
    week spent entirely above its old level reads high instead of as noise around its
    own mean.
    """
    means = bucket_means(values, timestamps=timestamps, start=start, end=end, width=width)
    finite = [m for m in means if math.isfinite(m)]
    if not finite:
        return GAP * width
    if reference is not None and math.isfinite(reference):
        finite.append(reference)
    low, high = min(finite), max(finite)
    if high - low <= _RELATIVE_FLATNESS * max(1.0, abs(high), abs(low)):
        return "".join(_FLAT if math.isfinite(m) else GAP for m in means)
    top = len(BLOCKS) - 1
    return "".join(
        BLOCKS[round((m - low) / (high - low) * top)] if math.isfinite(m) else GAP for m in means
    )
