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

Plain functions over numpy arrays of block counts (the monitor's bounded state, see
:mod:`detector.monitor`); no clock, no I/O. ``detector.kinds.new_pattern`` words the
finding.
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
class NewPatternEvidence:
    """The new-pattern judgement at each sample of a chunk, ``(m, c)`` arrays.

    ``score`` is 0 where the template is not new and sustained; elsewhere the one-sided
    z of seeing that many lines at the highest rate the silent baseline allows.
    ``first_seen`` is the start of the block (the hour, for a 7-day window) in which the
    first line fell.
    """

    score: FloatArray
    first_seen: IntArray
    lines: FloatArray
    active_hours: FloatArray
    hours: FloatArray
    rate_per_hour: FloatArray
    per_step: FloatArray


def assess_blocks(
    sums: FloatArray,
    observed: FloatArray,
    first_block: IntArray,
    partial_sum: FloatArray,
    partial_observed: FloatArray,
    *,
    now: IntArray,
    block: int,
    step: int,
    window: int,
    thresholds: NewPatternThresholds,
) -> NewPatternEvidence:
    """Judge templates from block counts: ``sums`` and ``observed`` (samples present) are
    ``(m, K)`` over the window's complete blocks, oldest first, the first being block id
    ``first_block``; the block in progress holds ``partial_sum`` lines in
    ``partial_observed`` samples at each sample of the chunk (``(m, c)``), whose times are
    ``now`` (``(m, c)``). Hours are counted in blocks (an hour for a 7-day window).

    The same conditions as the module doc, at block resolution: absent before the first
    sighting with that silence observed for :data:`MIN_SILENCE` of the window, first seen
    in the recent :data:`NEW_SPAN` of it, and sustained.
    """
    m, width = sums.shape
    c = partial_sum.shape[1]
    lines_by_block = np.where(np.isnan(sums), 0.0, sums)
    seen = lines_by_block > 0
    has_complete = np.any(seen, axis=1)
    first = np.where(has_complete, np.argmax(seen, axis=1), width)  # width: none complete
    positions = np.arange(width)[None, :]
    silent_samples = np.sum(np.where(positions < first[:, None], observed, 0.0), axis=1)
    after = positions >= first[:, None]
    lines_complete = np.sum(np.where(after, lines_by_block, 0.0), axis=1)
    active_complete = np.sum(after & seen, axis=1)
    partial_lines = np.nan_to_num(partial_sum)
    partial_active = partial_lines > 0
    first_id = np.where(
        has_complete[:, None], (first_block + first)[:, None], np.where(partial_active, -1, -2)
    )
    current = first_block[:, None] + width  # the block in progress
    first_id = np.where(first_id == -1, current, first_id)
    first_seen = first_id * block  # the start of the block of the first sighting
    lines = lines_complete[:, None] + partial_lines
    active = active_complete[:, None] + partial_active
    hours = (current - first_id + 1).astype(np.float64)
    day = max(1, SHARE_SPAN // block)
    recent_from = np.maximum(width - (day - 1), 0)
    recent_mask = (positions >= recent_from) & after
    recent_active = np.sum(recent_mask & seen, axis=1)[:, None] + partial_active
    share_hours = np.minimum(hours, float(day))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = recent_active / share_hours
    # The rate counts from the end of the first sighting's block when a later block has
    # completed: the first block holds an unknown stretch of silence before its first line,
    # which would dilute the rate. Until then it counts from the block's start.
    rate_blocks = max(1, RATE_SPAN // block)
    recent = positions >= width - (rate_blocks - 1)  # with the block in progress
    later = positions > first[:, None]
    has_later = (current - first_id) >= 2
    from_first = np.sum(np.where(recent & after, lines_by_block, 0.0), axis=1)[:, None]
    from_later = np.sum(np.where(recent & later, lines_by_block, 0.0), axis=1)[:, None]
    rate_lines = np.where(has_later, from_later, from_first) + partial_lines
    rate_start = np.where(has_later, first_seen + block, first_seen)
    elapsed = (now - rate_start).astype(np.float64)
    rate_span = np.minimum(float(RATE_SPAN), np.maximum(elapsed, float(step)))
    silence = silent_samples[:, None] * step
    passes = (
        (first_id >= 0)
        & (first_seen > now - NEW_SPAN * window)
        & (silence >= MIN_SILENCE * window)
        & (lines >= thresholds.min_lines)
        & (active >= thresholds.min_active_hours)
        & (share >= thresholds.min_active_share)
    )
    score = np.zeros((m, c))
    for i, k in zip(*np.nonzero(passes), strict=True):
        since_first = float(now[i, k] - first_seen[i, k])
        score[i, k] = _poisson_z(round(float(lines[i, k])), since_first / float(silence[i, 0]))
    with np.errstate(invalid="ignore", divide="ignore"):
        per_hour = rate_lines * HOUR / rate_span
    return NewPatternEvidence(
        score=score,
        first_seen=np.asarray(first_seen, dtype=np.int64),
        lines=lines.astype(np.float64),
        active_hours=active.astype(np.float64),
        hours=hours,
        rate_per_hour=np.nan_to_num(per_hour),
        per_step=np.nan_to_num(per_hour * step / HOUR),
    )


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
