"""variance: growing jitter or dispersion (a flapping dependency, a saturating pool).

The spread channel follows the log of the typical sample-to-sample movement per block
(robust mean of ``|x_t - x_(t-1)|``): level shifts and slow trends barely move it, one-off
spikes are trimmed. The same window-limited likelihood ratio as the level channel tests
whether it has persistently grown (or shrunk). Changes under 50% (or ``min_change``, if
larger) are never reported: jitter wanders.
"""

from __future__ import annotations

import math

import numpy as np

from detector import explain
from detector.finding import Finding, Kind
from detector.kinds.base import BoolArray, EvidenceArrays, Moment, direction_of, strong
from detector.rule import Rule


class VarianceDetector:
    kind = Kind.VARIANCE
    channel = "spread"

    def passes(self, rule: Rule, evidence: EvidenceArrays) -> BoolArray:
        return strong(rule, evidence)

    def finding(self, moment: Moment) -> Finding:
        """The finding at a moment where :meth:`passes` holds."""
        ev = moment.evidence[self.channel]
        log_ratio = ev.after - ev.before
        before, after = math.exp(ev.before), math.exp(ev.after)
        relative = math.expm1(log_ratio)
        onset = moment.onset_time(ev.onset)
        young, extra = moment.young_note(ev.baseline_blocks)
        return moment.finding(
            self.kind,
            ev.seasonality,
            onset=onset,
            direction=direction_of(log_ratio),
            before=before,
            after=after,
            relative_change=relative,
            score=round(min(abs(ev.z), 1e6), 3),
            extra=extra,
            explanation=(
                f"{explain.describe_series(moment.labels)} became "
                f"{'noisier' if log_ratio > 0 else 'steadier'}: typical jitter "
                f"{'grew' if log_ratio > 0 else 'shrank'} {explain.percent(relative)} "
                f"({explain.number(before)} -> {explain.number(after)}) since "
                f"{explain.when(onset)}{young}{explain.seasonality_note(ev.seasonality)}."
            ),
        )


__all__ = ["EvidenceArrays", "VarianceDetector", "np"]
