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
    Context,
    LevelScreen,
    direction_of,
    noise_floor,
    relative_change,
    watched,
)
from detector.stats import hinge_fit, segment_z, step_fit_sse
from detector.window import Window

# Standard error of a median relative to a mean, for normal noise.
MEDIAN_SE_FACTOR = math.sqrt(math.pi / 2)
# A line must explain this much less residual than a step before we call it a creep.
CREEP_SSE_RATIO = 0.8


class LevelShiftDetector(LevelScreen):
    kind = Kind.LEVEL_SHIFT

    def confirm(self, ctx: Context, window: Window, seasonality: str) -> Finding | None:
        buckets = ctx.buckets("adjusted", seasonality, window.start, window.end)
        y = buckets.values
        if y.size < 8:
            return None
        floor = noise_floor(float(np.median(y)))
        onset_index = ctx.recent_change_index(buckets, window, y, floor=floor)
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
        score = segment_z(
            before_seg, after_seg, floor=noise_floor(before), se_factor=MEDIAN_SE_FACTOR
        )
        if score < ctx.score_threshold:
            return None
        onset = int(buckets.starts[onset_index])
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
