"""trend: a slow monotone creep (latency +2%/day, memory after each deploy).

Confirmation fits a "hinge" to the window's bucket medians: flat until an onset, then a
straight line, choosing the onset by least squares. The slope's significance comes from
OLS with Newey-West (HAC) standard errors (statsmodels), which stay honest when residuals
are autocorrelated, as metric residuals always are. A step that a two-level model
explains better than the hinge is left to ``level_shift``.
"""

from __future__ import annotations

import math

import numpy as np
import statsmodels.api as sm

from detector import explain
from detector.finding import Finding, Kind
from detector.kinds.base import (
    Context,
    LevelScreen,
    direction_of,
    relative_change,
    watched,
)
from detector.series import FloatArray
from detector.stats import hinge_fit
from detector.window import Window

DAY = 86400.0


def best_step_sse(values: FloatArray) -> float:
    """Smallest residual sum of squares of any two-level step model (cumulative sums)."""
    n = values.size
    csum = np.cumsum(values)
    csq = np.cumsum(values * values)
    k = np.arange(1, n)
    left = csq[k - 1] - csum[k - 1] ** 2 / k
    right = (csq[-1] - csq[k - 1]) - (csum[-1] - csum[k - 1]) ** 2 / (n - k)
    return float(np.min(left + right)) if k.size else math.inf


def hac_slope_t(positions: FloatArray, values: FloatArray, onset: float) -> float:
    """t statistic of the hinge slope with Newey-West standard errors."""
    hinge = np.maximum(0.0, positions - onset)
    design = sm.add_constant(hinge, has_constant="add")
    lags = max(1, int(4 * (values.size / 100.0) ** (2 / 9)))
    fit = sm.OLS(values, design).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    t_value = float(fit.tvalues[1])
    return t_value if math.isfinite(t_value) else 0.0


class TrendDetector(LevelScreen):
    kind = Kind.TREND

    def confirm(self, ctx: Context, window: Window, seasonality: str) -> Finding | None:
        buckets = ctx.buckets("adjusted", seasonality, window.start, window.end)
        y = buckets.values
        if y.size < 12:
            return None
        days = (buckets.starts - buckets.starts[0]).astype(np.float64) / DAY
        recent_buckets = max(3, int(np.sum(buckets.starts >= ctx.timestamps[window.split])))
        fit = hinge_fit(days, y, min_tail=max(6, 2 * recent_buckets))
        if fit is None or fit.slope == 0:
            return None
        if fit.sse >= best_step_sse(y):
            return None
        onset_day = float(days[fit.onset_index])
        total = fit.slope * (days[-1] - onset_day)
        if not watched(ctx.rule, total):
            return None
        before, after = fit.level, fit.level + total
        relative = relative_change(total, before)
        if abs(relative) < ctx.rule.min_change:
            return None
        score = abs(hac_slope_t(days, y, onset_day))
        if score < ctx.score_threshold:
            return None
        onset = int(buckets.starts[fit.onset_index])
        per_day = relative_change(fit.slope, before)
        tail = ""
        if math.isfinite(per_day):
            tail = (
                f", still {'rising' if fit.slope > 0 else 'falling'} {abs(per_day) * 100:.1f}%/day"
            )
        return ctx.finding(
            self.kind,
            window,
            seasonality,
            onset=onset,
            direction=direction_of(total),
            before=before,
            after=after,
            relative_change=relative,
            slope_per_day=fit.slope,
            score=round(min(score, 1e6), 3),
            explanation=explain.level_sentence(
                ctx.labels,
                verb_up="crept up",
                verb_down="crept down",
                before=before,
                after=after,
                relative=relative,
                onset=onset,
                seasonality=seasonality,
                tail=tail,
            ),
        )
