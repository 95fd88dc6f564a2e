"""An item's sparkline over the period, and the means of its first and last bucket."""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from detector.digest.model import LEVEL_KINDS
from detector.finding import Kind
from detector.periods import Period
from detector.series import Series
from detector.sparkline import sparkline

SPARKLINE_WIDTH: Final = 28  # four characters a day over a week; fits a phone's width


def _sparkline_ends(series: Series | None, period: Period) -> tuple[float, float] | None:
    """The mean of the sparkline's first and last bucket with data (``89→22``)."""
    if series is None:
        return None
    inside = (series.timestamps > period.start) & (series.timestamps <= period.end)
    finite = inside & np.isfinite(series.values)
    if not finite.any():
        return None
    times, values = series.timestamps[finite], series.values[finite]
    width = (period.end - period.start) / SPARKLINE_WIDTH
    buckets = np.minimum(
        ((times - period.start - 1) // width).astype(np.int64), SPARKLINE_WIDTH - 1
    )
    first, last = buckets[0], buckets[-1]
    return float(values[buckets == first].mean()), float(values[buckets == last].mean())


def _sparkline(series: Series | None, period: Period, reference: float, kind: Kind) -> str:
    if series is None:
        return ""
    return sparkline(
        series.values,
        timestamps=series.timestamps,
        start=period.start,
        end=period.end,
        width=SPARKLINE_WIDTH,
        reference=reference if kind in LEVEL_KINDS and math.isfinite(reference) else None,
    )
