"""new_pattern: a message template absent from the baseline that now appears steadily.

The judgement lives in :mod:`detector.patterns` (block counts in, evidence out, computed
by the monitor like every channel's evidence); this class words the finding. It reads
the raw counts (seasonality does not apply to a template that never occurred). Its
sentence names the template from the labels a ``by: pattern`` source gives every
template (``level``, ``pattern``, ``template``, ``sample``); on any other count series it
says the series became non-zero.
"""

from __future__ import annotations

import math

import numpy as np

from detector import explain
from detector.finding import Direction, Finding, Kind
from detector.kinds.base import BoolArray, EvidenceArrays, Moment
from detector.rule import Rule, Watch
from detector.sensitivity import threshold


class NewPatternDetector:
    kind = Kind.NEW_PATTERN
    channel = "pattern"

    def passes(self, rule: Rule, evidence: EvidenceArrays) -> BoolArray:
        score = evidence.pattern.get("score")
        if score is None or rule.direction is Watch.DOWN:
            return np.zeros(evidence.z.shape, dtype=bool)
        return np.asarray(score >= threshold(rule))

    def finding(self, moment: Moment) -> Finding:
        """The finding at a moment where :meth:`passes` holds."""
        found = moment.pattern
        labels = dict(moment.labels)
        if "template" in labels:
            where = {k: v for k, v in labels.items() if k not in ("template", "level")}
            what = f"new {explain.describe_pattern(labels)} {explain.describe_series(where)}"
        else:  # any other count series: silent in the baseline, now steadily non-zero
            what = f"{explain.describe_series(labels)} newly non-zero,"
        sample = labels.get("sample")
        first_seen = int(found["first_seen"])
        lines, active, hours = int(found["lines"]), int(found["active_hours"]), int(found["hours"])
        rate = explain.number(found["rate_per_hour"])
        return moment.finding(
            self.kind,
            "none",
            onset=first_seen,
            direction=Direction.UP,
            before=0.0,
            after=found["per_step"],
            relative_change=math.inf,
            score=round(min(found["score"], 1e6), 3),
            extra={
                "first_seen": float(first_seen),
                "rate_per_hour": round(found["rate_per_hour"], 3),
                "lines": float(lines),
                "active_hours": float(active),
            },
            explanation=(
                f"{what} first seen {explain.when(first_seen)}, now {rate}/h "
                f"({lines} lines in {active} of {hours} hours)"
                + (f'; e.g. "{sample}"' if sample else "")
                + "."
            ),
        )
