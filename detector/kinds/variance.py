"""variance: growing jitter or dispersion (a flapping dependency, a saturating pool).

Spread is measured as the median absolute sample-to-sample difference of the
de-seasonalised series: level shifts and slow trends barely move it, one-off spikes are
ignored by the median. The confirm step segments the log of bucket spreads with ruptures
and tests the log-ratio of the segments, discounting autocorrelation.
Spread changes smaller than ``MIN_RATIO_CHANGE`` are never reported: jitter wanders.
"""

from __future__ import annotations

import math

import numpy as np

from detector import explain
from detector.finding import Finding, Kind
from detector.kinds.base import (
    SCREEN_MARGIN,
    BoolArray,
    Context,
    direction_of,
    watched,
    watched_array,
)
from detector.stats import segment_z
from detector.window import Window, level_stats, rolling_level_stats

MIN_RATIO_CHANGE = 0.5
# median(|x_t - x_{t-1}|) of white noise is 0.954 sigma.
JITTER_TO_SIGMA = 1.0 / 0.954


def _threshold(ctx: Context) -> float:
    return math.log1p(max(ctx.rule.min_change, MIN_RATIO_CHANGE))


def _log_ratio(recent: float, baseline: float) -> float:
    tiny = 1e-12
    return math.log(max(recent, tiny)) - math.log(max(baseline, tiny))


class VarianceDetector:
    kind = Kind.VARIANCE

    def screen(self, ctx: Context, window: Window, seasonality: str) -> bool:
        stats = level_stats(ctx.features.jitter[seasonality], window, ctx.recent_len)
        if stats is None:
            return False
        log_ratio = _log_ratio(stats.recent, stats.baseline)
        return watched(ctx.rule, log_ratio) and abs(log_ratio) >= _threshold(ctx)

    def candidates(self, ctx: Context, seasonality: str) -> BoolArray:
        stats = rolling_level_stats(
            ctx.features.jitter[seasonality], ctx.window_steps, ctx.recent_len
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ratio = np.log(np.maximum(stats.recent, 1e-12)) - np.log(
                np.maximum(stats.baseline, 1e-12)
            )
        log_ratio = np.nan_to_num(log_ratio, nan=0.0)
        return np.asarray(
            (np.abs(log_ratio) >= _threshold(ctx) * SCREEN_MARGIN)
            & watched_array(ctx.rule, log_ratio)
        )

    def confirm(self, ctx: Context, window: Window, seasonality: str) -> Finding | None:
        buckets = ctx.buckets("jitter", seasonality, window.start, window.end)
        if buckets.values.size < 8:
            return None
        scale = float(np.median(buckets.values))
        tiny = max(1e-12, 1e-3 * scale)
        y = np.log(buckets.values + tiny)
        onset_index = ctx.recent_change_index(buckets, window, y, floor=1e-6)
        before_seg, after_seg = y[:onset_index], y[onset_index:]
        if before_seg.size < 3 or after_seg.size < 2:
            return None
        log_ratio = float(np.median(after_seg) - np.median(before_seg))
        if not watched(ctx.rule, log_ratio) or abs(log_ratio) < _threshold(ctx):
            return None
        score = segment_z(before_seg, after_seg, floor=1e-6)
        if score < ctx.score_threshold:
            return None
        before = float(np.exp(np.median(before_seg)) - tiny) * JITTER_TO_SIGMA
        after = float(np.exp(np.median(after_seg)) - tiny) * JITTER_TO_SIGMA
        relative = math.expm1(log_ratio)
        onset = int(buckets.starts[onset_index])
        return ctx.finding(
            self.kind,
            window,
            seasonality,
            onset=onset,
            direction=direction_of(log_ratio),
            before=before,
            after=after,
            relative_change=relative,
            score=round(score, 3),
            explanation=(
                f"{explain.describe_series(ctx.labels)} became "
                f"{'noisier' if log_ratio > 0 else 'steadier'}: typical jitter "
                f"{'grew' if log_ratio > 0 else 'shrank'} {explain.percent(relative)} "
                f"({explain.number(before)} -> {explain.number(after)}) since "
                f"{explain.when(onset)}{explain.seasonality_note(seasonality)}."
            ),
        )
