"""trend: a slow monotone creep (latency +2%/day, memory after each deploy).

The same evidence as ``level_shift`` (the mean since the onset has left the baseline),
with the shape of the change deciding the kind: since the best-fitting creep onset (flat,
then a straight line), a line explains the block means clearly better than a step does,
and rises the way the change goes (:func:`is_creep`). The onset is that creep onset, the
slope the line's, and "before" and "after" are where the line starts and stands now.
"""

from __future__ import annotations

import math

import numpy as np

from detector import explain
from detector.finding import Finding, Kind
from detector.kinds.base import (
    BoolArray,
    EvidenceArrays,
    Moment,
    direction_of,
    relative_change,
    strong,
)
from detector.kinds.level_shift import is_creep
from detector.rule import Rule

DAY = 86400.0


class TrendDetector:
    kind = Kind.TREND
    channel = "level"

    def passes(self, rule: Rule, evidence: EvidenceArrays) -> BoolArray:
        return np.asarray(strong(rule, evidence) & is_creep(evidence))

    def finding(self, moment: Moment) -> Finding:
        """The finding at a moment where :meth:`passes` holds."""
        ev = moment.evidence[self.channel]
        per_day = ev.slope * DAY / moment.block
        after = ev.line_end
        span = ev.onset - ev.creep_onset + ev.after_blocks
        before = after - ev.slope * max(span, 0.0)
        change = after - before
        relative = relative_change(change, before)
        onset = moment.onset_time(ev.creep_onset)
        daily = relative_change(per_day, before)
        tail = ""
        if math.isfinite(daily):
            tail = f", still {'rising' if per_day > 0 else 'falling'} {abs(daily) * 100:.1f}%/day"
        young, extra = moment.young_note(ev.baseline_blocks)
        return moment.finding(
            self.kind,
            ev.seasonality,
            onset=onset,
            direction=direction_of(change),
            before=before,
            after=after,
            relative_change=relative,
            slope_per_day=per_day,
            score=round(min(abs(ev.z), 1e6), 3),
            extra=extra,
            explanation=explain.level_sentence(
                moment.labels,
                verb_up="crept up",
                verb_down="crept down",
                before=before,
                after=after,
                relative=relative,
                onset=onset,
                seasonality=ev.seasonality,
                tail=tail + young,
            ),
        )


__all__ = ["EvidenceArrays", "TrendDetector"]
