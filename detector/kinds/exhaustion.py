"""exhaustion: a resource heading for a hard limit (disk, memory, connection pool).

The rule names the ``limit`` and a ``horizon``. Confirmation fits a robust line
(Theil-Sen, with its 90% confidence band on the slope) to the bucket medians of the
second half of the window and projects when it reaches the limit. It fires only if even
the *slowest* slope in the band reaches the limit within the horizon, so a noisy flat
series never produces a confident deadline. (Holt/ETS forecasts fit the same purpose but
cost tens of milliseconds per fit; Theil-Sen's interval is cheap enough to run at every
step of a replay and is robust to spikes.)
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as scipy_stats

from detector import explain
from detector.finding import Direction, Finding, Kind
from detector.kinds.base import SCREEN_MARGIN, BoolArray, Context, relative_change
from detector.window import Window, level_stats, rolling_level_stats

DAY = 86400.0
CONFIDENCE = 0.90
# The screen lets through anything projected to reach the limit within this many horizons.
SCREEN_HORIZONS = 2.0


def _limit(ctx: Context) -> float:
    if ctx.rule.limit is None:
        raise ValueError(f"rule {ctx.rule.signal}: exhaustion needs a limit")
    return ctx.rule.limit


def _screen_eta_days(limit: float, baseline: float, recent: float, window_days: float) -> float:
    """Days until ``limit`` on the straight line through baseline and recent medians."""
    if (limit - recent) * (limit - baseline) <= 0:
        return 0.0  # at or past the limit
    per_day = (recent - baseline) / (window_days / 2)
    if per_day == 0 or (limit - recent) / per_day < 0:
        return math.inf
    return (limit - recent) / per_day


class ExhaustionDetector:
    kind = Kind.EXHAUSTION

    def screen(self, ctx: Context, window: Window, seasonality: str) -> bool:
        stats = level_stats(ctx.features.adjusted[seasonality], window, ctx.recent_len)
        if stats is None:
            return False
        eta = _screen_eta_days(_limit(ctx), stats.baseline, stats.recent, ctx.rule.window / DAY)
        return eta <= SCREEN_HORIZONS * ctx.rule.horizon / DAY

    def candidates(self, ctx: Context, seasonality: str) -> BoolArray:
        stats = rolling_level_stats(
            ctx.features.adjusted[seasonality], ctx.window_steps, ctx.recent_len
        )
        limit = _limit(ctx)
        window_days = ctx.rule.window / DAY
        with np.errstate(divide="ignore", invalid="ignore"):
            per_day = (stats.recent - stats.baseline) / (window_days / 2)
            eta = (limit - stats.recent) / per_day
        crossed = (limit - stats.recent) * (limit - stats.baseline) <= 0
        eta = np.where(crossed, 0.0, np.where(eta >= 0, eta, np.inf))
        eta = np.nan_to_num(eta, nan=np.inf)
        horizon_days = SCREEN_HORIZONS * ctx.rule.horizon / DAY
        return np.asarray(eta <= horizon_days / SCREEN_MARGIN)

    def confirm(self, ctx: Context, window: Window, seasonality: str) -> Finding | None:
        limit = _limit(ctx)
        half = window.start + (window.end - window.start) // 2
        buckets = ctx.buckets("adjusted", seasonality, half, window.end)
        y = buckets.values
        if y.size < 8:
            return None
        days = (buckets.starts - buckets.starts[-1]).astype(np.float64) / DAY
        slope, intercept, low, high = scipy_stats.theilslopes(y, days, alpha=CONFIDENCE)
        level_now = float(intercept)
        rising = limit > level_now
        slow_slope = float(low if rising else high)
        toward = slow_slope > 0 if rising else slow_slope < 0
        at_limit = (limit - level_now) * (limit - float(np.median(y[: max(1, y.size // 4)]))) <= 0
        if not toward and not at_limit:
            return None
        eta_days = 0.0 if at_limit else (limit - level_now) / float(slope)
        slow_eta_days = 0.0 if at_limit else (limit - level_now) / slow_slope
        if slow_eta_days > ctx.rule.horizon / DAY:
            return None
        half_width = (high - low) / 2 / 1.645
        score = abs(float(slope)) / half_width if half_width > 0 else 1e6
        if not at_limit and score < ctx.score_threshold:
            return None
        before = float(np.median(y[: max(3, y.size // 4)]))
        onset = int(buckets.starts[0])
        seconds_left = max(0.0, eta_days * DAY)
        relative = relative_change(level_now - before, before)
        return ctx.finding(
            self.kind,
            window,
            seasonality,
            onset=onset,
            direction=Direction.UP if rising else Direction.DOWN,
            before=before,
            after=level_now,
            relative_change=relative,
            slope_per_day=float(slope),
            time_to_limit=seconds_left,
            score=round(min(score, 1e6), 3),
            extra={"limit": limit},
            explanation=(
                f"{explain.describe_series(ctx.labels)} is heading for its limit of "
                f"{explain.number(limit)}: now {explain.number(level_now)}, "
                f"{'+' if slope >= 0 else ''}{explain.number(float(slope))}/day, reaching it "
                f"{explain.time_to_limit_phrase(seconds_left)}"
                f"{explain.seasonality_note(seasonality)}."
            ),
        )
