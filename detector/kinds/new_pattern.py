"""new_pattern: a message template absent from the baseline that now appears steadily.

The judgement lives in :mod:`detector.patterns` (plain functions over counts); this
class only adapts it to the :class:`~detector.kinds.base.Detector` interface and words
the finding. It reads the raw counts (seasonality does not apply to a template that
never occurred). Its sentence names the template from the labels a ``by: pattern``
source gives every template (``level``, ``pattern``, ``template``, ``sample``); on any
other count series it says the series became non-zero.
"""

from __future__ import annotations

import math

from detector import explain
from detector.finding import Direction, Finding, Kind
from detector.kinds.base import BoolArray, Context, watched
from detector.patterns import (
    THRESHOLDS,
    NewPattern,
    assess_new_pattern,
    new_pattern_candidates,
)
from detector.window import Window


def _assess(ctx: Context, window: Window) -> NewPattern | None:
    return assess_new_pattern(
        ctx.timestamps[window.start : window.end],
        ctx.features.values[window.start : window.end],
        now=window.now,
        window=ctx.rule.window,
        step=ctx.step,
        thresholds=THRESHOLDS[ctx.rule.sensitivity],
    )


class NewPatternDetector:
    kind = Kind.NEW_PATTERN

    def screen(self, ctx: Context, window: Window, seasonality: str) -> bool:
        return watched(ctx.rule, 1.0) and _assess(ctx, window) is not None

    def candidates(self, ctx: Context, seasonality: str) -> BoolArray:
        return new_pattern_candidates(
            ctx.timestamps,
            ctx.features.values,
            window=ctx.rule.window,
            step=ctx.step,
            thresholds=THRESHOLDS[ctx.rule.sensitivity],
        )

    def confirm(self, ctx: Context, window: Window, seasonality: str) -> Finding | None:
        found = _assess(ctx, window)
        if found is None or found.score < ctx.score_threshold or not watched(ctx.rule, 1.0):
            return None
        labels = dict(ctx.labels)
        if "template" in labels:
            where = {k: v for k, v in labels.items() if k not in ("template", "level")}
            what = f"new {explain.describe_pattern(labels)} {explain.describe_series(where)}"
        else:  # any other count series: silent in the baseline, now steadily non-zero
            what = f"{explain.describe_series(labels)} newly non-zero,"
        sample = labels.get("sample")
        rate = explain.number(found.rate_per_hour)
        return ctx.finding(
            self.kind,
            window,
            "none",
            onset=found.first_seen,
            direction=Direction.UP,
            before=0.0,
            after=found.per_step,
            relative_change=math.inf,
            score=round(found.score, 3),
            extra={
                "first_seen": float(found.first_seen),
                "rate_per_hour": round(found.rate_per_hour, 3),
                "lines": float(found.lines),
                "active_hours": float(found.active_hours),
            },
            explanation=(
                f"{what} first seen {explain.when(found.first_seen)}, now {rate}/h "
                f"({found.lines} lines in {found.active_hours} of {found.hours} hours)"
                + (f'; e.g. "{sample}"' if sample else "")
                + "."
            ),
        )
