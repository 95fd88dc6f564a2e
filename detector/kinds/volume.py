"""volume: rising (or falling) counts, such as ERROR lines per minute.

Counts are compared on the square-root scale (Anscombe's transform, ``2 sqrt(x + 3/8)``),
where Poisson noise has the same size at every rate, so a trickle of a few errors an hour
and a flood of thousands are judged alike; overdispersion (log volume is burstier than
Poisson) and autocorrelation are measured on the series' own history, like every channel
(:mod:`detector.noise`). Before and after are reported as counts per step.
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
from detector.monitor import inverse_anscombe
from detector.rule import Rule


class VolumeDetector:
    kind = Kind.VOLUME
    channel = "volume"

    def passes(self, rule: Rule, evidence: EvidenceArrays) -> BoolArray:
        return strong(rule, evidence)

    def finding(self, moment: Moment) -> Finding:
        """The finding at a moment where :meth:`passes` holds."""
        ev = moment.evidence[self.channel]
        before = float(inverse_anscombe(np.array(ev.before)))
        after = float(inverse_anscombe(np.array(ev.after)))
        change = after - before
        relative = relative_change(change, before)
        onset = moment.onset_time(ev.onset)
        young, extra = moment.young_note(ev.baseline_blocks)
        per_step = f" per {explain.format_step(moment.step)}"
        return moment.finding(
            self.kind,
            ev.seasonality,
            onset=onset,
            direction=direction_of(change),
            before=before,
            after=after,
            relative_change=relative,
            score=round(min(abs(ev.z), 1e6), 3),
            extra=extra,
            explanation=(
                f"{explain.describe_series(moment.labels)} volume "
                f"{'rose' if change > 0 else 'fell'} {explain.percent(relative)} "
                f"({explain.number(before)} -> {explain.number(after)}{per_step}) since "
                f"{explain.when(onset)}{young}{explain.seasonality_note(ev.seasonality)}."
            ),
        )


__all__ = ["EvidenceArrays", "VolumeDetector"]
