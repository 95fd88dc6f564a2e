"""An item's sparkline over the period, and the means of its first and last bucket."""

from __future__ import annotations

import math
from typing import Final

from detector.digest.model import LEVEL_KINDS
from detector.finding import Kind
from detector.periods import Period
from detector.series import Series
from detector.sparkline import bucket_means, sparkline

SPARKLINE_WIDTH: Final = 28  # four characters a day over a week; fits a phone's width


def _sparkline_ends(series: Series | None, period: Period) -> tuple[float, float] | None:
    """The mean of the sparkline's first and last bucket with data (``89→22``)."""
    if series is None:
        return None
    means = bucket_means(
        series.values,
        timestamps=series.timestamps,
        start=period.start,
        end=period.end,
        width=SPARKLINE_WIDTH,
    )
    finite = [m for m in means if math.isfinite(m)]
    return (finite[0], finite[-1]) if finite else None


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
