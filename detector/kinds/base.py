"""What every kind shares: the moment it judges, its thresholds, and the Detector port.

The monitor (:mod:`detector.monitor`) accumulates the evidence; a kind only decides, from
the evidence of its channel at one sample, whether that is a finding of its kind, and
says what changed. Each kind answers twice, with the same rule:

* ``passes``: for many (series, time) pairs at once, vectorised (replay's fast path);
* ``finding``: for one pair, the :class:`~detector.finding.Finding` with its explanation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from detector.finding import Direction, Finding, Kind
from detector.rule import Rule
from detector.sensitivity import threshold
from detector.series import FloatArray

BoolArray = npt.NDArray[np.bool_]

YOUNG_BASELINE_DAYS = 1.0
"""A finding made on less baseline than this says so."""


@dataclass(frozen=True)
class Evidence1:
    """One channel's evidence at one sample (scalars of :class:`detector.evidence.Evidence`)."""

    z: float
    onset: int  # block id
    before: float
    after: float
    after_blocks: float
    baseline_blocks: float
    slope: float  # per block, of the creep since ``creep_onset``
    creep: bool
    creep_onset: int  # block id
    line_end: float
    seasonality: str


@dataclass(frozen=True)
class Moment:
    """What the monitor knew about one series at one sample, and when it was asked."""

    rule: Rule
    labels: Mapping[str, str]
    block: int  # seconds per block
    step: int
    now: int
    evidence: Mapping[str, Evidence1]
    exhaustion: Mapping[str, float]
    pattern: Mapping[str, float] = field(default_factory=dict)

    def finding(self, kind: Kind, seasonality: str, **fields: Any) -> Finding:
        return Finding(
            rule=self.rule.signal,
            labels=self.labels,
            kind=kind,
            detected_at=self.now,
            seasonality=seasonality,
            **fields,
        )

    def onset_time(self, block: int) -> int:
        return int(block) * self.block

    def young_note(self, baseline_blocks: float) -> tuple[str, dict[str, float]]:
        """An explanation suffix and ``extra`` entry when the baseline was young."""
        hours = baseline_blocks * self.block / 3600.0
        if hours >= 24.0 * YOUNG_BASELINE_DAYS:
            return "", {}
        return f"; judged on a young baseline of {hours:.0f}h", {"baseline_hours": round(hours, 1)}


@dataclass(frozen=True)
class EvidenceArrays:
    """A channel's evidence at many (series, time) pairs: arrays of equal shape, and the
    exhaustion projection at the same pairs (empty unless the rule has ``exhaustion``)."""

    z: FloatArray
    after_blocks: FloatArray
    creep: FloatArray
    exhaustion: Mapping[str, FloatArray] = field(default_factory=dict)
    pattern: Mapping[str, FloatArray] = field(default_factory=dict)


class Detector(Protocol):
    kind: Kind
    channel: str

    def passes(self, rule: Rule, evidence: EvidenceArrays) -> BoolArray: ...

    def finding(self, moment: Moment) -> Finding: ...


def strong(rule: Rule, evidence: EvidenceArrays) -> BoolArray:
    return np.asarray(np.abs(evidence.z) >= threshold(rule))


def relative_change(change: float, baseline: float) -> float:
    """Change as a fraction of the baseline; infinite when the baseline is zero."""
    if abs(baseline) > 1e-12:
        return change / abs(baseline)
    return 0.0 if change == 0 else float(np.copysign(np.inf, change))


def direction_of(change: float) -> Direction:
    return Direction.UP if change >= 0 else Direction.DOWN
