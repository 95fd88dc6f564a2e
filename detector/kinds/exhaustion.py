"""exhaustion: a resource heading for a hard limit (disk, memory, connection pool).

The rule names the ``limit`` and a ``horizon``. Once per block, a robust line (Theil-Sen,
with its 90% confidence band on the slope) is fitted to the block means of the second half
of the window, and projected to the limit. It fires only if even the *slowest* slope in the
band reaches the limit within the horizon, so a noisy flat series never produces a
confident deadline. (Holt/ETS forecasts fit the same purpose but cost tens of milliseconds
per fit; Theil-Sen over a window's blocks is a few thousand pairwise slopes, vectorised over
every series of a rule, and robust to spikes.)
"""

from __future__ import annotations

import math

import numpy as np

from detector import explain
from detector.finding import Direction, Finding, Kind
from detector.kinds.base import BoolArray, EvidenceArrays, Moment, relative_change
from detector.rule import Rule
from detector.sensitivity import threshold

DAY = 86400.0


class ExhaustionDetector:
    kind = Kind.EXHAUSTION
    channel = "level"

    def passes(self, rule: Rule, evidence: EvidenceArrays) -> BoolArray:
        found = evidence.exhaustion
        horizon = rule.horizon / DAY
        with np.errstate(invalid="ignore"):
            near = found["slow_eta"] <= horizon
            sure = (found["score"] >= threshold(rule)) | (found["at_limit"] > 0)
        return np.asarray(near & sure)

    def finding(self, moment: Moment) -> Finding:
        """The finding at a moment where :meth:`passes` holds."""
        found = moment.exhaustion
        limit = float(moment.rule.limit) if moment.rule.limit is not None else math.nan
        level, slope, before = found["level"], found["slope"], found["before"]
        seconds_left = max(0.0, found["eta"] * DAY) if math.isfinite(found["eta"]) else 0.0
        onset = moment.onset_time(int(found["onset"]))
        seasonality = moment.evidence["level"].seasonality
        return moment.finding(
            self.kind,
            seasonality,
            onset=onset,
            direction=Direction.UP if limit > level else Direction.DOWN,
            before=before,
            after=level,
            relative_change=relative_change(level - before, before),
            slope_per_day=slope,
            time_to_limit=seconds_left,
            score=round(min(float(found["score"]), 1e6), 3),
            extra={"limit": limit},
            explanation=(
                f"{explain.describe_series(moment.labels)} is heading for its limit of "
                f"{explain.number(limit)}: now {explain.number(level)}, "
                f"{'+' if slope >= 0 else ''}{explain.number(slope)}/day, reaching it "
                f"{explain.time_to_limit_phrase(seconds_left)}"
                f"{explain.seasonality_note(seasonality)}."
            ),
        )
