"""level_shift: a persistent step in the mean.

The level channel's evidence (a window-limited likelihood ratio over onsets, see
:mod:`detector.evidence`) reaches the threshold, and the change is a step: a straight
line since the change began does not explain it clearly better than a step does (that
would be a creep, reported by ``trend``). The onset is the evidence's own change-point
estimate, to the block.

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
from detector.rule import Rule


def is_creep(evidence: EvidenceArrays) -> BoolArray:
    """Where the change keeps going after its onset (a creep rather than a step)."""
    return np.asarray(evidence.creep > 0)


class LevelShiftDetector:
    kind = Kind.LEVEL_SHIFT
    channel = "level"

    def passes(self, rule: Rule, evidence: EvidenceArrays) -> BoolArray:
        return np.asarray(strong(rule, evidence) & ~is_creep(evidence))

    def finding(self, moment: Moment) -> Finding:
        """The finding at a moment where :meth:`passes` holds."""
        ev = moment.evidence[self.channel]
        change = ev.after - ev.before
        relative = relative_change(change, ev.before)
        onset = moment.onset_time(ev.onset)
        young, extra = moment.young_note(ev.baseline_blocks)
        return moment.finding(
            self.kind,
            ev.seasonality,
            onset=onset,
            direction=direction_of(change),
            before=ev.before,
            after=ev.after,
            relative_change=relative,
            score=round(min(abs(ev.z), 1e6), 3),
            extra=extra,
            explanation=explain.level_sentence(
                moment.labels,
                verb_up="rose",
                verb_down="fell",
                before=ev.before,
                after=ev.after,
                relative=relative,
                onset=onset,
                seasonality=ev.seasonality,
                tail=young,
            ),
        )


__all__ = ["LevelShiftDetector", "is_creep"]
