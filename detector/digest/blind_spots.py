"""Blind spots: rules whose silence means nothing, and series that went silent in a period."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

import numpy as np

from detector.digest.model import BlindSpot, DigestItem
from detector.explain import describe_series
from detector.periods import Period
from detector.series import Series

if TYPE_CHECKING:
    from detector.replay import (
        ReplayResult,  # types only: the engine is not imported with the digest
    )

COVERAGE_MIN: Final = 0.5  # samples over less than half the period: a blind spot
SILENCE_STEPS: Final = 4  # no sample in the last 4 steps of the period: went silent
SILENCE_MIN: Final = 3600  # ... and at least an hour, whatever the step
MAX_SILENT_SHOWN: Final = 5  # silent series named per rule; the rest are counted


def _blind_spots(
    result: ReplayResult,
    period: Period,
    rule_series: Mapping[str, Sequence[Series]] | None,
    unknown: Sequence[DigestItem],
) -> list[BlindSpot]:
    if rule_series is None:  # only the series of alerts are known per rule
        by_rule: dict[str, list[Series]] = {}
        for signal in result.signals:
            one = result.series.get(signal.series_fingerprint)
            if one is not None and all(s is not one for s in by_rule.get(signal.rule, [])):
                by_rule.setdefault(signal.rule, []).append(one)
        rule_series = by_rule
    spots: list[BlindSpot] = []
    for outcome in result.outcomes:
        reasons: list[str] = []
        if outcome.error is not None:
            reasons.append(f"could not be evaluated: {outcome.error}")
        elif outcome.series_count == 0:
            reasons.append("returned no data")
        reasons.extend(outcome.notes)
        silent = [
            note
            for one in rule_series.get(outcome.rule, ())
            if (note := _silence(one, period)) is not None
        ]
        reasons.extend(silent[:MAX_SILENT_SHOWN])
        if len(silent) > MAX_SILENT_SHOWN:
            reasons.append(f"and {len(silent) - MAX_SILENT_SHOWN} more series like these")
        for item in unknown:
            if item.rule == outcome.rule:
                change = f" ({item.change:+.0%})" if math.isfinite(item.change) else ""
                reasons.append(
                    f"{describe_series(item.labels)} was drifting{change} when its data "
                    "stopped: whether it recovered is unknown"
                )
        if reasons:
            spots.append(BlindSpot(rule=outcome.rule, group=outcome.group, reasons=tuple(reasons)))
    return sorted(spots, key=lambda s: (s.group, s.rule))


def _silence(series: Series, period: Period) -> str | None:
    """Why the series cannot speak for ``period``, in words, or ``None`` (see
    :data:`COVERAGE_MIN`, :data:`SILENCE_STEPS`, :data:`SILENCE_MIN`)."""
    name = describe_series(series.labels)
    times = series.timestamps[np.isfinite(series.values)]
    times = times[times <= period.end]
    inside = times[times > period.start]
    if inside.size == 0:
        if times.size == 0:
            return f"{name}: no samples in the period"
        return f"{name}: no samples in the period; went silent at {_when(int(times[-1]))}"
    last = int(inside[-1])
    if period.end - last > max(SILENCE_STEPS * series.step, SILENCE_MIN):
        return f"{name}: went silent at {_when(last)}"
    coverage = inside.size * series.step / (period.end - period.start)
    if coverage < COVERAGE_MIN:
        return f"{name}: samples cover only {coverage:.0%} of the period"
    return None


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%a %d %b %H:%M UTC")
