"""volume: rising (or falling) counts, such as ERROR lines per minute.

Counts are compared as rates: the recent rate against the baseline rate, with a
negative-binomial allowance for overdispersion (log volume is burstier than Poisson;
the dispersion is estimated from the baseline's bucket totals). Seasonality, when on,
is removed first, so the daily rise of traffic-driven logs is not a finding.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from detector import explain
from detector.finding import Finding, Kind
from detector.kinds.base import (
    SCREEN_MARGIN,
    BoolArray,
    Context,
    direction_of,
    relative_change,
    watched,
    watched_array,
)
from detector.series import FloatArray
from detector.window import Window, enough_data

# The screen wants at least this rough Poisson z before the full test runs.
SCREEN_Z = 2.0


def _rates(
    ctx: Context, values: FloatArray, window: Window
) -> tuple[float, float, int, int] | None:
    """Baseline and recent mean counts, if the window holds enough data to judge."""
    base = values[window.start : window.split]
    recent = values[window.split : window.end]
    n_base = int(np.count_nonzero(~np.isnan(base)))
    n_recent = int(np.count_nonzero(~np.isnan(recent)))
    nominal_base = ctx.window_steps - ctx.recent_len
    if not enough_data(n_base, n_recent, nominal_base, ctx.recent_len):
        return None
    return float(np.nanmean(base)), float(np.nanmean(recent)), n_base, n_recent


def _poisson_z(base_rate: float, recent_rate: float, n_base: int, n_recent: int) -> float:
    expected = max(base_rate, 0.5 / max(1, n_base)) * n_recent
    return (recent_rate * n_recent - expected) / math.sqrt(
        expected * (1 + n_recent / max(1, n_base))
    )


class VolumeDetector:
    kind = Kind.VOLUME

    def screen(self, ctx: Context, window: Window, seasonality: str) -> bool:
        rates = _rates(ctx, ctx.features.adjusted[seasonality], window)
        if rates is None:
            return False
        base_rate, recent_rate, n_base, n_recent = rates
        change = recent_rate - base_rate
        return (
            watched(ctx.rule, change)
            and abs(relative_change(change, base_rate)) >= ctx.rule.min_change
            and abs(_poisson_z(base_rate, recent_rate, n_base, n_recent)) >= SCREEN_Z
        )

    def candidates(self, ctx: Context, seasonality: str) -> BoolArray:
        series = pd.Series(ctx.features.adjusted[seasonality])
        base_len = max(1, ctx.window_steps - ctx.recent_len)
        base = series.rolling(base_len, min_periods=1).mean().shift(ctx.recent_len).to_numpy()
        n_base = series.notna().astype(float).rolling(base_len, min_periods=1).sum()
        n_base_arr = n_base.shift(ctx.recent_len).to_numpy()
        recent = series.rolling(ctx.recent_len, min_periods=1).mean().to_numpy()
        n_recent = (
            series.notna().astype(float).rolling(ctx.recent_len, min_periods=1).sum().to_numpy()
        )
        change = recent - base
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(np.abs(base) > 1e-12, np.abs(change) / np.abs(base), np.inf)
            expected = np.maximum(base, 0.5 / np.maximum(1, n_base_arr)) * n_recent
            z = (recent * n_recent - expected) / np.sqrt(
                expected * (1 + n_recent / np.maximum(1, n_base_arr))
            )
        z = np.nan_to_num(z, nan=0.0)
        passed = (
            (rel >= ctx.rule.min_change * SCREEN_MARGIN)
            & (np.abs(z) >= SCREEN_Z * SCREEN_MARGIN)
            & watched_array(ctx.rule, change)
        )
        return np.asarray(np.nan_to_num(passed, nan=0.0).astype(bool))

    def confirm(self, ctx: Context, window: Window, seasonality: str) -> Finding | None:
        values = ctx.features.adjusted[seasonality]
        buckets = ctx.buckets("adjusted", seasonality, window.start, window.end, how="mean")
        y = buckets.values
        if y.size < 8:
            return None
        floor = 1e-9 * max(1.0, float(np.mean(y)))
        onset_index = ctx.recent_change_index(buckets, window, y, floor=floor)
        onset = int(buckets.starts[onset_index])
        ts = ctx.timestamps[window.start : window.end]
        window_values = values[window.start : window.end]
        before_values = window_values[ts < onset]
        after_values = window_values[ts >= onset]
        before_values = before_values[~np.isnan(before_values)]
        after_values = after_values[~np.isnan(after_values)]
        if before_values.size < 12 or after_values.size < 3:
            return None
        before, after = float(before_values.mean()), float(after_values.mean())
        change = after - before
        relative = relative_change(change, before)
        if not watched(ctx.rule, change) or abs(relative) < ctx.rule.min_change:
            return None
        before_buckets = y[:onset_index]
        per_bucket = max(1, ctx.bucket_width // ctx.step)
        totals = before_buckets * per_bucket
        mean_total = float(np.mean(totals)) if totals.size else 0.0
        dispersion = max(1.0, float(np.var(totals)) / mean_total) if mean_total > 0 else 1.0
        z = _poisson_z(before, after, before_values.size, after_values.size) / math.sqrt(dispersion)
        score = min(abs(z), 1e6)
        if score < ctx.score_threshold:
            return None
        per_step = f" per {explain.format_step(ctx.step)}"
        return ctx.finding(
            self.kind,
            window,
            seasonality,
            onset=onset,
            direction=direction_of(change),
            before=before,
            after=after,
            relative_change=relative,
            score=round(score, 3),
            explanation=(
                f"{explain.describe_series(ctx.labels)} volume "
                f"{'rose' if change > 0 else 'fell'} {explain.percent(relative)} "
                f"({explain.number(before)} -> {explain.number(after)}{per_step}) since "
                f"{explain.when(onset)}{explain.seasonality_note(seasonality)}."
            ),
        )
