"""An item's sparkline over the period, and the means of its first and last bucket.

A series with a daily wave is drawn without it: the sparkline of raw values shows the
wave, and its two ends (the first and the last bucket, at different hours of the day)
can contradict the change the detector measured on the de-seasonalised view
(``0.206→0.205 · +5.5%``). When removing a daily profile clearly shrinks the day-to-day
wobble, the sparkline and its ends are drawn on the series minus that profile, so the
ends move the way the change does. Other series are drawn as they are.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from detector.digest.model import LEVEL_KINDS
from detector.finding import Kind
from detector.periods import Period
from detector.series import FloatArray, IntArray, Series
from detector.sparkline import bucket_means, sparkline

SPARKLINE_WIDTH: Final = 28  # four characters a day over a week; fits a phone's width
DAY: Final = 86400
HOUR: Final = 3600
WAVE_GAIN: Final = 0.6
"""A daily profile is removed when it leaves at most this share of the wobble around each
day's median (the same bar the engine's ``seasonality: auto`` sets for a daily period)."""
MIN_DAYS: Final = 3
"""Days of samples a daily profile needs before it is trusted."""


def daily_profile(timestamps: IntArray, values: FloatArray) -> FloatArray | None:
    """Each hour of the day's typical deviation from its day's median (24 values), when
    such a profile explains the data clearly (:data:`WAVE_GAIN`); else ``None``.

    Deviations from each day's own median keep a level shift or a creep out of the
    profile; medians over the days keep one odd day from shaping it.
    """
    finite = np.isfinite(values)
    times, data = timestamps[finite], values[finite]
    days = times // DAY
    if np.unique(days).size < MIN_DAYS:
        return None
    hours = (times % DAY) // HOUR
    if np.unique(hours).size < 24:
        return None  # fewer than one sample an hour: no daily shape to draw out
    medians = {day: float(np.median(data[days == day])) for day in np.unique(days)}
    deviation = data - np.array([medians[d] for d in days])
    profile = np.array([np.median(deviation[hours == h]) for h in range(24)])
    before = float(np.median(np.abs(deviation)))
    after = float(np.median(np.abs(deviation - profile[hours])))
    if before <= 0 or after >= WAVE_GAIN * before:
        return None
    return profile


def sparkline_view(series: Series, period: Period) -> Series:
    """The series the sparkline draws: without its daily wave when it has a clear one
    (profile from the samples up to the period's end), else the series itself."""
    inside = series.timestamps <= period.end
    profile = daily_profile(series.timestamps[inside], series.values[inside])
    if profile is None:
        return series
    hours = (series.timestamps % DAY) // HOUR
    return Series(series.labels, series.timestamps, series.values - profile[hours], series.step)


def _sparkline_ends(series: Series | None, period: Period) -> tuple[float, float] | None:
    """The mean of the sparkline's first and last bucket with data (``89→22``)."""
    if series is None:
        return None
    view = sparkline_view(series, period)
    means = bucket_means(
        view.values,
        timestamps=view.timestamps,
        start=period.start,
        end=period.end,
        width=SPARKLINE_WIDTH,
    )
    finite = [m for m in means if math.isfinite(m)]
    return (finite[0], finite[-1]) if finite else None


def _sparkline(series: Series | None, period: Period, reference: float, kind: Kind) -> str:
    if series is None:
        return ""
    view = sparkline_view(series, period)
    return sparkline(
        view.values,
        timestamps=view.timestamps,
        start=period.start,
        end=period.end,
        width=SPARKLINE_WIDTH,
        reference=reference if kind in LEVEL_KINDS and math.isfinite(reference) else None,
    )
