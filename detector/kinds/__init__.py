"""The five kinds of gray signal, one small module each (DESIGN.md section 4)."""

from __future__ import annotations

from detector.finding import Kind
from detector.kinds.base import Detector
from detector.kinds.exhaustion import ExhaustionDetector
from detector.kinds.level_shift import LevelShiftDetector
from detector.kinds.new_pattern import NewPatternDetector
from detector.kinds.trend import TrendDetector
from detector.kinds.variance import VarianceDetector
from detector.kinds.volume import VolumeDetector

DETECTORS: dict[Kind, Detector] = {
    Kind.LEVEL_SHIFT: LevelShiftDetector(),
    Kind.TREND: TrendDetector(),
    Kind.VARIANCE: VarianceDetector(),
    Kind.VOLUME: VolumeDetector(),
    Kind.EXHAUSTION: ExhaustionDetector(),
    Kind.NEW_PATTERN: NewPatternDetector(),
}

__all__ = ["DETECTORS", "Detector"]
