"""Per-sample features: the part of detection that depends on a fixed trailing context.

Each feature at position ``i`` reads only samples in ``[i - context, i]``, never later
ones. That property is what makes replay fast *and* exact: replay computes features once
over a whole recorded series, and every evaluation at time ``t`` sees, inside its window,
the very same numbers a stand-alone evaluation of the data up to ``t`` would compute.

Seasonality removal (``deseasonalise``) is a robust seasonal-naive profile: for each
sample, the median over the previous K periods of that phase's deviation from its
period's median. Using *deviations* (not raw values) keeps level shifts and trends in the
adjusted series, so a creep is not "explained away" as the new seasonal normal; using a
median over several periods keeps one anomalous day from echoing into the next.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from detector.series import FloatArray

DAY = 86400
WEEK = 7 * DAY

# How many previous periods form the seasonal profile, and how many must be present.
MAX_LAGS = {"daily": 7, "weekly": 4}
MIN_LAGS = 3
# A period needs this many samples before a profile means anything.
MIN_SAMPLES_PER_PERIOD = 12


def period_seconds(seasonality: str) -> int:
    return {"daily": DAY, "weekly": WEEK}[seasonality]


def usable_seasonalities(step: int) -> list[str]:
    """Seasonalities that the step can resolve (hourly data has a daily shape, daily data none)."""
    return [s for s in ("daily", "weekly") if period_seconds(s) // step >= MIN_SAMPLES_PER_PERIOD]


def context_seconds(seasonality: str) -> int:
    """How much history before a window its seasonal features need."""
    if seasonality == "none":
        return 0
    period = period_seconds(seasonality)
    return MAX_LAGS[seasonality] * period + period // 2


def counter_rate(values: FloatArray, step: int) -> FloatArray:
    """Per-second rate of a monotonic counter, treating any decrease as a reset.

    Like Prometheus's ``rate()``: after a reset the new raw value is the increase since
    the restart. The first sample and any sample after a gap have no rate (NaN).
    """
    out = np.full(values.shape, np.nan)
    if values.size < 2:
        return out
    prev, cur = values[:-1], values[1:]
    increase = np.where(cur >= prev, cur - prev, cur)
    out[1:] = increase / step
    return out


def centred_median(values: FloatArray, span: int) -> FloatArray:
    """Median over ``span`` samples centred on each position (reads the future half)."""
    return (
        pd.Series(values)
        .rolling(span, center=True, min_periods=max(1, span // 2))
        .median()
        .to_numpy(dtype=np.float64)
    )


def trailing_median(values: FloatArray, span: int) -> FloatArray:
    """Median over the last ``span`` samples up to and including each position."""
    return (
        pd.Series(values)
        .rolling(span, min_periods=max(1, span // 2))
        .median()
        .to_numpy(dtype=np.float64)
    )


def deseasonalise(values: FloatArray, period: int, max_lags: int) -> FloatArray:
    """Remove a repeating shape of ``period`` samples, keeping level shifts and trends.

    Causal at evaluation time: the profile for position ``i`` uses positions
    ``i - k * period`` (k >= 1) and their centred medians, which reach at most
    ``i - period / 2``. Positions with fewer than ``MIN_LAGS`` earlier periods are NaN.
    """
    n = values.size
    deviation = values - centred_median(values, period)
    lagged = np.full((max_lags, n), np.nan)
    for k in range(1, max_lags + 1):
        shift = k * period
        if shift < n:
            lagged[k - 1, shift:] = deviation[: n - shift]
    enough = np.sum(~np.isnan(lagged), axis=0) >= MIN_LAGS
    profile = np.full(n, np.nan)
    if np.any(enough):
        profile[enough] = np.nanmedian(lagged[:, enough], axis=0)
    return np.asarray(values - profile, dtype=np.float64)


@dataclass(frozen=True)
class Features:
    """Per-sample inputs of every detector, for each seasonality the rule allows.

    ``adjusted[s]`` is the series with seasonality ``s`` removed (``"none"``: the values
    themselves); ``jitter[s]`` the absolute first difference of ``adjusted[s]`` (spread,
    for variance). ``wobble`` is the absolute deviation from the trailing one-day median
    and ``lag_gap[s]`` the absolute difference from one period ago: when the second is
    clearly smaller, the series repeats with that period (used by ``seasonality: auto``,
    and available after one period, before a full seasonal profile is).
    """

    values: FloatArray
    adjusted: dict[str, FloatArray]
    jitter: dict[str, FloatArray]
    wobble: FloatArray
    lag_gap: dict[str, FloatArray]


def compute_features(values: FloatArray, step: int, seasonalities: list[str]) -> Features:
    """Compute every feature the rule's detectors need, vectorised over all samples."""
    day_span = max(3, min(DAY // step, max(3, values.size)))
    adjusted: dict[str, FloatArray] = {"none": values}
    for name in seasonalities:
        if name == "none":
            continue
        period = period_seconds(name) // step
        adjusted[name] = deseasonalise(values, period, MAX_LAGS[name])
    wobble = np.abs(values - trailing_median(values, day_span))
    lag_gap = {
        name: _abs_lag_difference(values, period_seconds(name) // step)
        for name in seasonalities
        if name != "none"
    }
    jitter = {name: _abs_first_difference(series) for name, series in adjusted.items()}
    return Features(values=values, adjusted=adjusted, jitter=jitter, wobble=wobble, lag_gap=lag_gap)


def _abs_lag_difference(values: FloatArray, lag: int) -> FloatArray:
    out = np.full(values.shape, np.nan)
    if lag < values.size:
        out[lag:] = np.abs(values[lag:] - values[:-lag])
    return out


def _abs_first_difference(values: FloatArray) -> FloatArray:
    """Sample-to-sample movement: a spread measure that level shifts and trends barely touch."""
    out = np.full(values.shape, np.nan)
    out[1:] = np.abs(np.diff(values))
    return out
