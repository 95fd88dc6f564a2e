"""Following one alert's drift: its firings split into the drift and the way back, and
whether it is still drifting at the end of a period."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from detector.digest.model import LEVEL_KINDS, Interval
from detector.finding import Kind
from detector.periods import Period
from detector.series import Series

RECOVERY_SPAN: Final = 86400  # a day of data decides whether a level came back


@dataclass(frozen=True)
class _Drift:
    """A firing that is (part of) the drift, with the drift's levels before and after."""

    interval: Interval
    baseline: float
    level: float


@dataclass(frozen=True)
class _Track:
    """An alert's firings split into the drift and the way back (``returns``: when the
    level came back, and the firing that flagged it)."""

    drifts: list[_Drift]
    returns: list[tuple[int, Interval]]

    def last_drift(self, moment: int) -> _Drift | None:
        earlier = [d for d in self.drifts if d.interval.start <= moment]
        return earlier[-1] if earlier else None

    def last_return(self, moment: int) -> tuple[int, Interval] | None:
        earlier = [r for r in self.returns if r[1].start <= moment]
        return earlier[-1] if earlier else None


def _track(
    intervals: Sequence[Interval], kind: Kind, known: tuple[float, float] | None = None
) -> _Track:
    """Tell the drift from the way back: a later firing whose new level is nearer the
    level before the drift began (the first firing's ``before``) than the drifted level
    is the series coming back, at that firing's onset. ``known``: the levels (before,
    drifted) the previous digest stored for a drift that began before these firings."""
    drifts: list[_Drift] = []
    returns: list[tuple[int, Interval]] = []
    baseline, level = known if known is not None else (math.nan, math.nan)
    for interval in intervals:
        after = interval.latest.after
        if (
            kind in LEVEL_KINDS
            and math.isfinite(baseline)
            and math.isfinite(level)
            and math.isfinite(after)
            and abs(after - baseline) < abs(after - level)
        ):
            returns.append((interval.latest.onset, interval))
            baseline = level = math.nan
            continue
        if not math.isfinite(baseline):
            baseline = interval.first.before
        level = after
        drifts.append(_Drift(interval, baseline, level))
    return _Track(drifts, returns)


def _recent_level(series: Series | None, moment: int) -> float | None:
    """Median of the last :data:`RECOVERY_SPAN` seconds before ``moment``; ``None``
    without samples there (unknown, not recovered)."""
    if series is None:
        return None
    inside = (series.timestamps > moment - RECOVERY_SPAN) & (series.timestamps <= moment)
    recent = series.values[inside]
    recent = recent[np.isfinite(recent)]
    if recent.size == 0:
        return None
    return float(np.median(recent))


def _drifting(
    track: _Track,
    period: Period,
    series: Series | None,
    kind: Kind,
    *,
    was_drifting: bool,
) -> bool | None:
    """Whether the alert is still drifting at the end of ``period``; ``None``: unknown.

    It is when a firing of the drift is open then, or when the drift fired during the
    period (or was drifting at the end of the period before) and its level has not come
    back: detectors stop flagging a change once it is the window's new normal, and an
    alert may pause for an evaluation or two; neither is a recovery. It is not when a
    later firing flagged the way back (:func:`_track`). A level-type drift
    (:data:`LEVEL_KINDS`) has come back when the median of the last
    :data:`RECOVERY_SPAN` seconds is closer to the level before the drift than to the
    drifted level; without samples there the answer is unknown. ``was_drifting`` is the
    answer for the period before.
    """
    drift = track.last_drift(period.end)
    if drift is None:
        return False
    back = track.last_return(period.end)
    if back is not None and back[1].start >= drift.interval.start:
        return False  # the latest firing flagged the way back
    if drift.interval.firing_at(period.end):
        return True
    touched = any(d.interval.overlaps(period) for d in track.drifts)
    if not (touched or was_drifting):
        return False
    if kind not in LEVEL_KINDS or series is None:
        return False
    if not (math.isfinite(drift.baseline) and math.isfinite(drift.level)):
        return False
    level = _recent_level(series, period.end)
    if level is None:
        return None
    return abs(level - drift.level) < abs(level - drift.baseline)
