"""level_shift: a persistent step in the mean.

The screen compares the median of the recent span with the baseline median. The confirm
step locates the most recent change in the window's bucket medians with ruptures
(``KernelCPD``, linear kernel, i.e. the L2 cost of Killick et al.'s penalised
segmentation) and tests the difference of segment medians against a noise estimate whose
sample count is discounted for lag-1 autocorrelation, so smooth, wandering metrics do not
look more certain than they are. A creep that a straight line explains better than a
step is left to the ``trend`` detector.

Example::

    >>> import numpy as np
    >>> from detector.testing import make_rule, make_series
    >>> from detector.evaluate import evaluate
    >>> values = np.r_[np.full(2000, 100.0), np.full(400, 130.0)]
    >>> series = make_series(values + np.random.default_rng(1).normal(0, 2, values.size))
    >>> [f.kind.value for f in evaluate(make_rule(detect=["level_shift"]), series, series.end)]
    ['level_shift']
"""

from __future__ import annotations

import math

import numpy as np

from detector import explain
from detector.finding import Finding, Kind
from detector.kinds.base import (
    BoolArray,
    Context,
    direction_of,
    level_candidates,
    level_screen,
    noise_floor,
    relative_change,
    watched,
)
from detector.stats import (
    effective_count,
    hinge_fit,
    lag1_autocorrelation,
    last_change_point,
    robust_sigma,
    step_fit_sse,
)
from detector.window import Window

# Penalty per change point, in units of bucket noise variance times log(n) (BIC-like,
# doubled for the autocorrelation a bucketed metric keeps).
PENALTY_FACTOR = 4.0
# Standard error of a median relative to a mean, for normal noise.
MEDIAN_SE_FACTOR = math.sqrt(math.pi / 2)
# A line must explain this much less residual than a step before we call it a creep.
CREEP_SSE_RATIO = 0.8


class LevelShiftDetector:
    kind = Kind.LEVEL_SHIFT

    def screen(self, ctx: Context, window: Window, seasonality: str) -> bool:
        return level_screen(ctx, window, seasonality)

    def candidates(self, ctx: Context, seasonality: str) -> BoolArray:
        return level_candidates(ctx, seasonality)

    def confirm(self, ctx: Context, window: Window, seasonality: str) -> Finding | None:
        buckets = ctx.buckets("adjusted", seasonality, window.start, window.end)
        y = buckets.values
        if y.size < 8:
            return None
        noise = max(robust_sigma(np.diff(y)) / math.sqrt(2), noise_floor(float(np.median(y))))
        penalty = PENALTY_FACTOR * noise**2 * math.log(y.size)
        recent_start = int(np.searchsorted(buckets.starts, ctx.timestamps[window.split]))
        onset_index = last_change_point(y, penalty)
        if onset_index is None or onset_index > recent_start:
            onset_index = min(recent_start, y.size - 2)
        before_seg, after_seg = y[:onset_index], y[onset_index:]
        if before_seg.size < 3 or after_seg.size < 2:
            return None
        before, after = float(np.median(before_seg)), float(np.median(after_seg))
        change = after - before
        if not watched(ctx.rule, change):
            return None
        relative = relative_change(change, before)
        if abs(relative) < ctx.rule.min_change:
            return None
        positions = np.arange(y.size, dtype=np.float64)
        creep = hinge_fit(positions, y, min_tail=max(3, after_seg.size // 2))
        if creep is not None and creep.sse < CREEP_SSE_RATIO * step_fit_sse(y, onset_index):
            return None
        residuals = np.r_[before_seg - before, after_seg - after]
        sigma = max(robust_sigma(residuals), noise_floor(before))
        rho = lag1_autocorrelation(residuals)
        spread = (
            sigma
            * MEDIAN_SE_FACTOR
            * math.sqrt(
                1 / effective_count(before_seg.size, rho) + 1 / effective_count(after_seg.size, rho)
            )
        )
        score = min(abs(change) / spread, 1e6)
        if score < ctx.score_threshold:
            return None
        onset = int(buckets.starts[onset_index])
        return Finding(
            rule=ctx.rule.signal,
            labels=ctx.labels,
            kind=self.kind,
            onset=onset,
            detected_at=window.now,
            direction=direction_of(change),
            before=before,
            after=after,
            relative_change=relative,
            score=round(score, 3),
            seasonality=seasonality,
            explanation=explain.level_sentence(
                ctx.labels,
                verb_up="rose",
                verb_down="fell",
                before=before,
                after=after,
                relative=relative,
                onset=onset,
                seasonality=seasonality,
            ),
        )
