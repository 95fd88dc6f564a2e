"""New log patterns: a message template that was silent and now appears at a sustained rate.

The grayest log signal is rarely "more ERROR lines in total": it is a message nobody has
seen before (``connection pool exhausted for <*>``) that now shows up a few times an
hour. This module judges one template's line counts per step, as seen at ``now``:

* **absent from the baseline**: no line in the part of the rule's window before the first
  sighting, and that silence was *observed* (samples present, not gaps) for at least
  :data:`MIN_SILENCE` of the window, so a log that only just began is never "all new";
* **new**: the first sighting lies in the most recent half of the window; after that the
  template is part of the furniture and growth is the ``volume`` kind's business;
* **sustained, not one stray line**: at least ``min_lines`` lines, spread over at least
  ``min_active_hours`` distinct hours since the first sighting, and present in at least
  ``min_active_share`` of the hours of the last day (so a template that came and went
  stops being reported);
* **score**: how unlikely that many lines are if the template still had the highest
  rate its silent baseline allows (one line per observed silence), as a one-sided normal
  z; it must reach the rule's sensitivity threshold like every kind's score.

Plain functions over numpy arrays (timestamps end-labelled on the step grid, counts with
NaN for unknown slots); no clock, no I/O. ``detector.kinds.new_pattern`` adapts them to
the detector interface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from detector.rule import Sensitivity
from detector.series import FloatArray, IntArray

HOUR = 3600
MIN_SILENCE = 0.5
"""Fraction of the rule's window that must have been observed silent before the first
sighting (with the default 7d window: three and a half days of known silence)."""
NEW_SPAN = 0.5
"""A template is "new" while its first sighting lies in this most recent fraction of the
window (3.5 days of a 7d window)."""
SHARE_SPAN = 24 * HOUR
"""The presence share is judged over at most this many seconds before ``now``."""
RATE_SPAN = 6 * HOUR
"""The reported rate counts lines over at most this many seconds before ``now``."""
MAX_SCORE = 1e6

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class NewPatternThresholds:
    """What "sustained, not one stray line" means; defaults by sensitivity below."""

    min_lines: int
    min_active_hours: int
    min_active_share: float


THRESHOLDS = {
    Sensitivity.LOW: NewPatternThresholds(min_lines=12, min_active_hours=4, min_active_share=0.6),
    Sensitivity.MEDIUM: NewPatternThresholds(min_lines=6, min_active_hours=3, min_active_share=0.5),
    Sensitivity.HIGH: NewPatternThresholds(min_lines=3, min_active_hours=2, min_active_share=0.4),
}
"""Medium: six lines over three different hours, present in half the hours of the last
day. "A few times an hour" passes within about three hours; one line, one burst, or a
line a day never does."""


@dataclass(frozen=True)
class NewPattern:
    """A template judged new and sustained at ``now`` (see the module doc)."""

    first_seen: int
    """Slot of the first sighting: the first line fell in ``(first_seen - step, first_seen]``."""
    lines: int
    """Lines from the first sighting to ``now``."""
    active_hours: int
    """Hours (counted back from ``now``) since the first sighting that held a line."""
    hours: int
    """Hours since the first sighting (the last one may be partial)."""
    rate_per_hour: float
    """Lines per hour over the last :data:`RATE_SPAN` (or since the first sighting)."""
    per_step: float
    """The same rate per step, the unit every volume-like level is given in."""
    silence: int
    """Seconds of observed silence before the first sighting, inside the window."""
    score: float


def assess_new_pattern(
    timestamps: IntArray,
    counts: FloatArray,
    *,
    now: int,
    window: int,
    step: int,
    thresholds: NewPatternThresholds,
) -> NewPattern | None:
    """Judge one template at ``now`` from its counts in the window ``(now - window, now]``.

    ``timestamps`` are the slots of ``counts`` (strictly increasing, ``step`` apart);
    samples outside the window, after ``now`` or NaN are ignored (NaN is an unknown
    slot, not a silent one). Returns ``None`` unless every condition of the module doc
    holds.
    """
    lo = int(np.searchsorted(timestamps, now - window, side="right"))
    hi = int(np.searchsorted(timestamps, now, side="right"))
    if hi - lo < 2:
        return None
    ts = timestamps[lo:hi]
    values = counts[lo:hi]
    seen = np.flatnonzero(values > 0)  # NaN compares False
    if seen.size == 0:
        return None
    first = int(seen[0])
    first_seen = int(ts[first])
    if first_seen <= now - NEW_SPAN * window:
        return None
    silence = int(np.count_nonzero(~np.isnan(values[:first]))) * step
    if silence < MIN_SILENCE * window:
        return None
    recent = np.nan_to_num(values[first:], nan=0.0)
    lines = round(float(recent.sum()))
    if lines < thresholds.min_lines:
        return None
    hour_of = (now - ts[first:]) // HOUR  # 0 = the hour ending at now
    hours = int(hour_of[0]) + 1
    active = np.unique(hour_of[recent > 0])
    if active.size < thresholds.min_active_hours:
        return None
    share_hours = min(hours, SHARE_SPAN // HOUR)
    share = np.count_nonzero(active < share_hours) / share_hours
    if share < thresholds.min_active_share:
        return None
    rate_span = min(RATE_SPAN, now - first_seen + step)
    in_rate = ts[first:] > now - rate_span
    rate_lines = float(recent[in_rate].sum())
    rate_per_hour = rate_lines * HOUR / rate_span
    score = _poisson_z(lines, (now - first_seen + step) / silence)
    return NewPattern(
        first_seen=first_seen,
        lines=lines,
        active_hours=int(active.size),
        hours=hours,
        rate_per_hour=rate_per_hour,
        per_step=rate_lines * step / rate_span,
        silence=silence,
        score=score,
    )


def new_pattern_candidates(
    timestamps: IntArray,
    counts: FloatArray,
    *,
    window: int,
    step: int,
    thresholds: NewPatternThresholds,
) -> BoolArray:
    """For every position ``i``, whether :func:`assess_new_pattern` at ``timestamps[i]``
    might report: a superset (it only asks for ``min_lines`` lines in the recent half
    of the window, which every report has), so replay can skip the other positions."""
    filled = np.nan_to_num(np.asarray(counts, dtype=np.float64), nan=0.0)
    total = np.concatenate([[0.0], np.cumsum(filled)])
    span = math.ceil(NEW_SPAN * window / step) + 1
    ends = np.arange(1, filled.size + 1)
    starts = np.maximum(ends - span, 0)
    recent = total[ends] - total[starts]
    return np.asarray(recent >= thresholds.min_lines - 0.5)


def _poisson_z(lines: int, expected: float) -> float:
    """One-sided z of seeing ``lines`` or more where ``expected`` were expected."""
    if expected <= 0:
        return MAX_SCORE
    log_tail = _log_poisson_tail(lines, expected)
    if log_tail >= 0:
        return 0.0
    if log_tail < math.log(1e-300):
        # beyond double precision: the normal tail's leading term, solved for z
        z = math.sqrt(-2.0 * log_tail)
        for _ in range(3):
            z = math.sqrt(max(-2.0 * log_tail - 2.0 * math.log(z * math.sqrt(2 * math.pi)), 1.0))
        return min(z, MAX_SCORE)
    return min(-NormalDist().inv_cdf(math.exp(log_tail)), MAX_SCORE)


def _log_poisson_tail(lines: int, expected: float) -> float:
    """``log P(N >= lines)`` for ``N ~ Poisson(expected)``, stable for tiny tails."""
    if lines <= 0:
        return 0.0
    if expected >= lines:
        below = sum(
            math.exp(-expected + k * math.log(expected) - math.lgamma(k + 1)) for k in range(lines)
        )
        return math.log(max(1.0 - below, 1e-300))
    terms = [
        -expected + k * math.log(expected) - math.lgamma(k + 1) for k in range(lines, lines + 200)
    ]
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms))
