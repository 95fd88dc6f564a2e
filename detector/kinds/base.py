"""What every detector shares: the evaluation context, thresholds and the Detector port.

A detector answers two questions about a window:

* ``screen``: could there be a finding here? Cheap, exact, and a *necessary* condition.
* ``candidates``: the same question for every position at once, vectorised and a little
  looser (``SCREEN_MARGIN``), so it never rejects a position ``screen`` would accept.
* ``confirm``: segmentation and a statistical test, run only where the screen passed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from detector.features import Features
from detector.finding import Direction, Finding, Kind
from detector.rule import Rule, Sensitivity, Watch
from detector.series import FloatArray, IntArray
from detector.stats import Buckets, BucketTable, bucket_width, last_change_point, robust_sigma
from detector.window import Window, level_stats, recent_steps, rolling_level_stats

BoolArray = npt.NDArray[np.bool_]

# Score (z-like) a confirmed change needs, by rule sensitivity. Chosen on NAB's
# artificialNoAnomaly files and seasonal noise (tests/test_detectors_quiet.py).
SCORE_THRESHOLD = {Sensitivity.LOW: 8.0, Sensitivity.MEDIUM: 6.0, Sensitivity.HIGH: 4.5}
# The screen asks for a recent median at least this many baseline sigmas away.
SCREEN_EFFECT = {Sensitivity.LOW: 0.75, Sensitivity.MEDIUM: 0.5, Sensitivity.HIGH: 0.35}
# The vectorised screen is this much looser than the exact one (floating-point safety).
SCREEN_MARGIN = 0.98
# Penalty per change point, in units of bucket noise variance times log(n) (BIC-like,
# doubled for the autocorrelation a bucketed metric keeps).
PENALTY_FACTOR = 4.0


@dataclass(frozen=True)
class Context:
    """Everything a detector needs about one rule applied to one series."""

    rule: Rule
    labels: Mapping[str, str]
    timestamps: IntArray
    step: int
    features: Features
    bucket_tables: dict[tuple[str, str, str], BucketTable] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def window_steps(self) -> int:
        return max(1, self.rule.window // self.step)

    @property
    def recent_len(self) -> int:
        return recent_steps(self.window_steps)

    @property
    def bucket_width(self) -> int:
        return bucket_width(self.window_steps, self.step)

    def buckets(
        self, feature: str, seasonality: str, start: int, end: int, how: str = "median"
    ) -> Buckets:
        """A feature's ``[start:end]`` in this rule's time-aligned buckets (tables cached)."""
        key = (feature, seasonality, how)
        table = self.bucket_tables.get(key)
        if table is None:
            values = getattr(self.features, feature)[seasonality]
            table = BucketTable.build(self.timestamps, values, self.bucket_width, self.step, how)
            self.bucket_tables[key] = table
        return table.window(start, end)

    def finding(self, kind: Kind, window: Window, seasonality: str, **fields: Any) -> Finding:
        """A finding of this rule and series at this evaluation; ``fields`` say the rest."""
        return Finding(
            rule=self.rule.signal,
            labels=self.labels,
            kind=kind,
            detected_at=window.now,
            seasonality=seasonality,
            **fields,
        )

    def recent_change_index(
        self, buckets: Buckets, window: Window, values: FloatArray, *, floor: float
    ) -> int:
        """Bucket index where the most recent change starts, no later than the recent span.

        ruptures finds the last change worth a BIC-like penalty (``PENALTY_FACTOR`` times
        the bucket noise variance times log n); when it finds none, or one inside the
        recent span, the recent span itself is taken as the changed segment.
        """
        noise = max(robust_sigma(np.diff(values)) / math.sqrt(2), floor)
        penalty = PENALTY_FACTOR * noise**2 * math.log(values.size)
        recent_start = int(np.searchsorted(buckets.starts, self.timestamps[window.split]))
        onset_index = last_change_point(values, penalty)
        if onset_index is None or onset_index > recent_start:
            onset_index = min(recent_start, values.size - 2)
        return onset_index

    @property
    def score_threshold(self) -> float:
        return SCORE_THRESHOLD[self.rule.sensitivity]

    @property
    def screen_effect(self) -> float:
        return SCREEN_EFFECT[self.rule.sensitivity]


class Detector(Protocol):
    kind: Kind

    def screen(self, ctx: Context, window: Window, seasonality: str) -> bool: ...

    def candidates(self, ctx: Context, seasonality: str) -> BoolArray: ...

    def confirm(self, ctx: Context, window: Window, seasonality: str) -> Finding | None: ...


def relative_change(change: float, baseline: float) -> float:
    """Change as a fraction of the baseline; infinite when the baseline is zero."""
    if abs(baseline) > 1e-12:
        return change / abs(baseline)
    return 0.0 if change == 0 else math.copysign(math.inf, change)


def direction_of(change: float) -> Direction:
    return Direction.UP if change >= 0 else Direction.DOWN


def watched(rule: Rule, change: float) -> bool:
    """Whether a change in this direction matters to the rule (``direction:``)."""
    if rule.direction is Watch.BOTH:
        return change != 0
    return change > 0 if rule.direction is Watch.UP else change < 0


def watched_array(rule: Rule, change: npt.NDArray[np.float64]) -> BoolArray:
    if rule.direction is Watch.BOTH:
        return np.asarray(change != 0)
    return np.asarray(change > 0) if rule.direction is Watch.UP else np.asarray(change < 0)


def noise_floor(level: float) -> float:
    """Smallest spread we believe in: constant series have zero spread, not infinite z."""
    return 1e-9 * max(1.0, abs(level))


def level_screen(ctx: Context, window: Window, seasonality: str) -> bool:
    """Recent median far enough from the baseline median, in sigmas and in percent."""
    stats = level_stats(ctx.features.adjusted[seasonality], window, ctx.recent_len)
    if stats is None or not watched(ctx.rule, stats.change):
        return False
    sigma = max(stats.sigma, noise_floor(stats.baseline))
    effect = abs(stats.change) / sigma
    relative = abs(relative_change(stats.change, stats.baseline))
    return effect >= ctx.screen_effect and relative >= ctx.rule.min_change


def level_candidates(ctx: Context, seasonality: str) -> BoolArray:
    """Vectorised, slightly looser :func:`level_screen` for every window end position."""
    stats = rolling_level_stats(
        ctx.features.adjusted[seasonality], ctx.window_steps, ctx.recent_len
    )
    change = stats.recent - stats.baseline
    floor = 1e-9 * np.maximum(1.0, np.abs(stats.baseline))
    sigma = np.maximum(np.nan_to_num(stats.sigma, nan=0.0), floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        effect = np.abs(change) / sigma
        base = np.abs(stats.baseline)
        relative = np.where(
            base > 1e-12, np.abs(change) / np.where(base > 1e-12, base, 1.0), np.inf
        )
    passed = (
        (effect >= ctx.screen_effect * SCREEN_MARGIN)
        & (relative >= ctx.rule.min_change * SCREEN_MARGIN)
        & watched_array(ctx.rule, change)
    )
    return np.asarray(np.nan_to_num(passed, nan=0.0).astype(bool))


class LevelScreen:
    """The screen of kinds that look at the level (``level_shift``, ``trend``)."""

    def screen(self, ctx: Context, window: Window, seasonality: str) -> bool:
        return level_screen(ctx, window, seasonality)

    def candidates(self, ctx: Context, seasonality: str) -> BoolArray:
        return level_candidates(ctx, seasonality)
