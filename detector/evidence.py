"""Sequential evidence for a persistent change: a window-limited likelihood-ratio test.

At every sample, for every candidate onset ``s`` (the start of each block in the window),
the question is: has the mean since ``s`` moved away from the mean before ``s``?

    z(s) = (mean after s - mean before s) / sqrt(V(after) + V(before)) / inflation(s)

(``V(after)`` is taken at the complete blocks after ``s``; the block in progress moves the
mean but is not counted as extra precision, which keeps each new sample's work to a few
arithmetic operations per candidate.)

``V`` is the variance of a mean of that many blocks, measured on the series' own history
(:mod:`detector.noise`), so autocorrelation and wander are in the denominator rather
than in the false alarms. The statistic is the generalised likelihood ratio of a mean
shift with unknown onset and size (Lai's window-limited GLR); its maximum over onsets
accumulates evidence for a small change as it persists, and its argmax is the onset.

Cheap to update: everything about the complete blocks of a window is summarised once per
block (the :class:`Reference`, prefix sums per candidate onset); each new sample only adds
the block in progress. Two guards keep one-off events out:

* **persistence**: the stretch after an onset must hold at least
  :data:`MIN_PERSISTENCE` blocks' worth of samples;
* **young baselines**: a candidate whose baseline holds fewer than
  :data:`MIN_BASELINE_BLOCKS` blocks is not tested, and the evidence of one with ``r``
  baseline blocks is divided by ``1 + YOUNG_BLOCKS / r`` (stricter while the baseline is
  young, never blind for half a window).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from detector.noise import variance_curve, variance_of_mean
from detector.robust import nanmedian
from detector.series import FloatArray, IntArray

MIN_PERSISTENCE = 2.0
"""Blocks' worth of samples after an onset before it can be reported."""
STILL_THERE = 0.5
"""The latest persistence span must still stand this share of the change away from the
window's median level: a burst that has passed stops being evidence when it ends (not
when the mean since it decays), and its end is not a change of its own."""
UNSTRADDLED_STRETCHES = 8
"""The strongest step is first judged against the window's median-based noise measured at
scales with at least this many stretches in the window (see
:func:`_noise_around_the_change`)."""
MIN_BASELINE_BLOCKS = 6
"""Blocks of baseline a candidate onset needs (six hours for a 7-day window)."""
YOUNG_BLOCKS = 6.0
"""Evidence is divided by ``1 + YOUNG_BLOCKS / baseline blocks``."""


@dataclass
class Reference:
    """What a window's complete blocks say, per candidate onset ``s = 0 .. K``.

    Arrays are ``(n, K + 1)``; ``s = K`` is the start of the block in progress. Weights are
    sample counts; block positions ``x`` are block indices within the window (0 oldest).
    """

    first_block: IntArray  # (n,) block id of window position 0
    before: FloatArray
    weight: FloatArray  # 1 / (standard error x young-baseline inflation); 0: untestable
    baseline_blocks: FloatArray
    after_w: FloatArray  # suffix sums over complete blocks [s, K)
    after_wy: FloatArray
    prefix_w: FloatArray  # prefix sums over [0, s), for the shape of a change
    prefix_wc: FloatArray  # values centred on the row's median (second moments stay exact)
    prefix_wx: FloatArray
    prefix_wxx: FloatArray
    prefix_wxc: FloatArray
    prefix_wcc: FloatArray
    curve: FloatArray  # (n, S) log-variance curve
    centre: FloatArray  # (n,) the median the centred sums are taken around
    hinge_up: IntArray  # (n,) onset of the best-fitting rising creep (candidate index)
    hinge_down: IntArray  # (n,) and of the best-fitting falling one

    @classmethod
    def empty(cls, rows: int, window: int, scales: int) -> Reference:
        wide = np.full((rows, window + 1), np.nan)
        special = {
            "first_block": np.zeros(rows, dtype=np.int64),
            "hinge_up": np.zeros(rows, dtype=np.int64),
            "hinge_down": np.zeros(rows, dtype=np.int64),
            "curve": np.full((rows, scales), np.nan),
            "centre": np.full(rows, np.nan),
        }
        return cls(**special, **{f.name: wide.copy() for f in fields(cls) if f.name not in special})

    def grow(self, extra: int) -> None:
        for f in fields(self):
            array = getattr(self, f.name)
            pad_value = 0 if array.dtype == np.int64 else np.nan
            pad = np.full((extra, *array.shape[1:]), pad_value, dtype=array.dtype)
            setattr(self, f.name, np.concatenate([array, pad]))

    def store(self, rows: IntArray, other: Reference) -> None:
        """Replace ``rows`` with the rows of ``other`` (a reference built for them)."""
        for f in fields(self):
            getattr(self, f.name)[rows] = getattr(other, f.name)


def build_reference(
    values: FloatArray,
    weights: FloatArray,
    first_block: IntArray,
    per_block: int,
    sample_variance: FloatArray,
) -> Reference:
    """Summarise a window: ``values`` and ``weights`` are ``(m, K)``, oldest block first;
    ``sample_variance`` ``(m,)`` is one sample's variance, the white-noise floor of every
    mean (see :meth:`detector.monitor.RuleMonitor.sample_variance`)."""
    m, width = values.shape
    valid = ~np.isnan(values) & (weights > 0)
    w = np.where(valid, weights, 0.0)
    y = np.where(valid, values, 0.0)
    centre = np.nan_to_num(nanmedian(np.where(valid, values, np.nan)), nan=0.0)
    c = np.where(valid, values - centre[:, None], 0.0)
    x = np.arange(width, dtype=np.float64) + 0.5
    zero = np.zeros((m, 1))

    def prefix(a: FloatArray) -> FloatArray:
        return np.concatenate([zero, np.cumsum(a, axis=1)], axis=1)

    pw, pwy = prefix(w), prefix(w * y)
    pwc, pwx, pwxx = prefix(w * c), prefix(w * x), prefix(w * x * x)
    pwxc, pwcc = prefix(w * x * c), prefix(w * c * c)
    blocks = prefix(valid.astype(np.float64))
    present = np.where(valid, values, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        before = pwy / pw
    sums = _Sums(pw, pwc, pwx, pwxx, pwxc, pwcc)
    hinge_up, hinge_down, hinge = _hinges(sums, blocks, before - centre[:, None])
    curve = _noise_around_the_change(
        present,
        pw=pw,
        pwy=pwy,
        blocks=blocks,
        per_block=per_block,
        sums=sums,
        hinge=hinge,
        centre=centre,
    )
    after_w = pw[:, -1:] - pw
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = variance_of_mean(curve, pw / per_block) + variance_of_mean(
            curve, after_w / per_block
        )
        white = sample_variance[:, None] * (1.0 / pw + 1.0 / after_w)
        variance = np.fmax(variance, white)
        inflation = 1.0 + YOUNG_BLOCKS / np.maximum(blocks, 1)
        weight = 1.0 / (np.sqrt(variance) * inflation)
    testable = (blocks >= MIN_BASELINE_BLOCKS) & (after_w > 0) & np.isfinite(weight)
    weight = np.where(testable, weight, 0.0)

    def suffix(p: FloatArray) -> FloatArray:
        return p[:, -1:] - p

    return Reference(
        first_block=first_block.copy(),
        before=before,
        weight=weight,
        baseline_blocks=blocks,
        after_w=suffix(pw),
        after_wy=suffix(pwy),
        prefix_w=pw,
        prefix_wc=pwc,
        prefix_wx=pwx,
        prefix_wxx=pwxx,
        prefix_wxc=pwxc,
        prefix_wcc=pwcc,
        curve=curve,
        centre=centre,
        hinge_up=hinge_up,
        hinge_down=hinge_down,
    )


@dataclass(frozen=True)
class _Sums:
    """Prefix sums (over candidate positions) of weights, centred values and positions."""

    w: FloatArray
    c: FloatArray
    x: FloatArray
    xx: FloatArray
    xc: FloatArray
    cc: FloatArray

    def between(self, start: IntArray, stop: IntArray) -> _Sums:
        """Sums over ``[start, stop)`` for each row (index arrays of equal shape)."""

        def part(p: FloatArray) -> FloatArray:
            return np.asarray(
                np.take_along_axis(p, stop, axis=-1) - np.take_along_axis(p, start, axis=-1)
            )

        return _Sums(
            part(self.w), part(self.c), part(self.x), part(self.xx), part(self.xc), part(self.cc)
        )


def _hinges(
    sums: _Sums, blocks: FloatArray, before: FloatArray
) -> tuple[IntArray, IntArray, IntArray]:
    """For each row, the onset of the creep (flat, then a straight line) that best explains
    the window: the candidate whose ramp ``x - s`` correlates most with the excess over
    the mean before it, with at least :data:`MIN_TREND_BLOCKS` complete blocks after.
    Returns the best rising onset, the best falling one, and the stronger of the two."""
    width = sums.w.shape[1] - 1
    s = np.arange(width + 1, dtype=np.float64)[None, :]
    last = np.full(sums.w.shape, width, dtype=np.int64)
    start = np.broadcast_to(np.arange(width + 1)[None, :], sums.w.shape)
    tail = sums.between(np.asarray(start), last)
    with np.errstate(invalid="ignore", divide="ignore"):
        numerator = tail.xc - s * tail.c - before * (tail.x - s * tail.w)
        spread = tail.xx - 2 * s * tail.x + s * s * tail.w
        score = numerator / np.sqrt(spread)
    enough = (blocks >= MIN_BASELINE_BLOCKS) & ((blocks[:, -1:] - blocks) >= MIN_TREND_BLOCKS)
    score = np.where(enough & np.isfinite(score), score, np.nan)
    up = np.argmax(np.nan_to_num(score, nan=-np.inf), axis=1)
    down = np.argmin(np.nan_to_num(score, nan=np.inf), axis=1)
    rows = np.arange(score.shape[0])
    rising = np.nan_to_num(score[rows, up], nan=0.0)
    falling = -np.nan_to_num(score[rows, down], nan=0.0)
    stronger = np.where(rising >= falling, up, down)
    return up.astype(np.int64), down.astype(np.int64), stronger.astype(np.int64)


SPLIT_Z = 5.0
"""A change is measured around (see :func:`_noise_around_the_change`) when it is this many
standard errors against the noise of the stretch before it."""


def _noise_around_the_change(
    values: FloatArray,
    *,
    pw: FloatArray,
    pwy: FloatArray,
    blocks: FloatArray,
    per_block: int,
    sums: _Sums,
    hinge: IntArray,
    centre: FloatArray,
) -> FloatArray:
    """The variance curve of a window (median-based, see :func:`variance_curve`), measured
    around its one clear change, if it has one.

    The median of squared differences shrugs off a step, but not a change that lasts: a
    creep makes most long-scale differences large, and its evidence would wash out within
    a couple of days. So the window's strongest step (the best split) and its best creep
    (flat, then a line from the best creep onset) are each tested against the noise of
    the stretch *before* them, at their own time scale: a step of the size of its
    segments' standard errors, a creep's rise over its span against what the series did
    over spans that long before it. When one stands out by :data:`SPLIT_Z`, it is removed
    (each side of the step minus its mean, or the creep minus its line; the better fit
    when both do) before measuring. This is the noise under the alternative, as a
    likelihood ratio asks for it. A level that wanders like a random walk, or a weekly
    wave the window cannot yet recognise as seasonal, moved as much before its largest
    move as at it, and keeps its wander as noise.
    """
    curve = variance_curve(values, robust=True)
    # The gate measures only scales at which fewer than a quarter of the differences
    # straddle any one change: at longer scales most pairs of stretches hold the change,
    # the median stops shrugging it off, and a clean step would price itself as noise.
    gate = variance_curve(values, robust=True, min_stretches=UNSTRADDLED_STRETCHES)
    width = values.shape[1]
    positions = np.arange(width)[None, :]
    total_w, total_wy = pw[:, -1:], pwy[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        before = pwy / pw
        after = (total_wy - pwy) / (total_w - pw)
        spread = np.sqrt(
            variance_of_mean(gate, pw / per_block)
            + variance_of_mean(gate, (total_w - pw) / per_block)
        )
        z = np.abs(after - before) / spread
    inside = blocks[:, -1:] - blocks
    z = np.where((blocks >= MIN_BASELINE_BLOCKS) & (inside >= 1) & np.isfinite(z), z, 0.0)
    cut = np.argmax(z, axis=1)[:, None]
    step_ok = np.take_along_axis(z, cut, axis=1)[:, 0] >= SPLIT_Z
    step_ok &= (
        _step_z(values, positions < cut, pw=pw, pwy=pwy, cut=cut, per_block=per_block) >= SPLIT_Z
    )
    stepped = values - np.where(
        positions < cut,
        np.take_along_axis(before, cut, axis=1),
        np.take_along_axis(after, cut, axis=1),
    )
    onset = hinge[:, None]
    end = np.full(onset.shape, width, dtype=np.int64)
    head, tail = sums.between(np.zeros_like(onset), onset), sums.between(onset, end)
    with np.errstate(invalid="ignore", divide="ignore"):
        flat = centre[:, None] + head.c / head.w
        slope = (tail.xc - tail.x * tail.c / tail.w) / (tail.xx - tail.x * tail.x / tail.w)
        line = centre[:, None] + tail.c / tail.w + slope * (positions + 0.5 - tail.x / tail.w)
        span = (width - onset[:, 0]).astype(np.float64)
        earlier = variance_curve(np.where(positions < onset, values, np.nan), robust=True)
        creep_z = np.abs(slope[:, 0]) * span / np.sqrt(2.0 * variance_of_mean(earlier, span))
    creep_ok = (
        (np.nan_to_num(creep_z) >= SPLIT_Z)
        & (np.take_along_axis(blocks, onset, axis=1)[:, 0] >= 2 * MIN_BASELINE_BLOCKS)
        & np.all(np.isfinite(flat) & np.isfinite(line), axis=1)
    )
    crept = values - np.where(positions < onset, flat, line)
    creep_sse = np.where(
        creep_ok, np.nansum(np.where(creep_ok[:, None], crept, 0.0) ** 2, 1), np.inf
    )
    step_sse = np.where(step_ok, np.nansum(stepped * stepped, axis=1), np.inf)
    take_creep = creep_sse < step_sse
    remove = take_creep | step_ok
    if np.any(remove):
        residual = np.where(take_creep[:, None], crept, stepped)[remove]
        curve[remove] = variance_curve(residual, robust=True)
    return curve


def _step_z(
    values: FloatArray,
    earlier: np.ndarray,
    *,
    pw: FloatArray,
    pwy: FloatArray,
    cut: IntArray,
    per_block: int,
) -> FloatArray:
    """The step at ``cut`` in standard errors, its noise measured on the blocks before it."""
    quiet = variance_curve(np.where(earlier, values, np.nan), robust=True)
    total_w, total_wy = pw[:, -1:], pwy[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        before = np.take_along_axis(pwy / pw, cut, axis=1)[:, 0]
        after = np.take_along_axis((total_wy - pwy) / (total_w - pw), cut, axis=1)[:, 0]
        n_before = np.take_along_axis(pw, cut, axis=1)[:, 0] / per_block
        n_after = total_w[:, 0] / per_block - n_before
        spread = np.sqrt(variance_of_mean(quiet, n_before) + variance_of_mean(quiet, n_after))
        z = np.abs(after - before) / spread
    return np.asarray(np.nan_to_num(z), dtype=np.float64)


@dataclass(frozen=True)
class Evidence:
    """The strongest candidate onset of each sample, ``(m, c)`` arrays.

    ``z`` is signed (positive: the level rose) and already divided by the young-baseline
    inflation; it is 0 where nothing could be tested. ``onset`` is a block id.
    """

    z: FloatArray
    onset: IntArray
    before: FloatArray
    after: FloatArray
    after_blocks: FloatArray
    baseline_blocks: FloatArray
    slope: FloatArray  # per block, least squares over the creep since its onset
    creep: FloatArray  # 1.0 where a line since ``creep_onset`` beats a step clearly
    creep_onset: IntArray  # block id where the creep starts
    line_end: FloatArray  # where that line stands at the end of the last complete block


def score_samples(
    ref: Reference,
    rows: IntArray,
    partial_mean: FloatArray,
    partial_count: FloatArray,
    per_block: int,
    *,
    direction: int,
    floor: FloatArray,
    threshold: float,
    relative: tuple[float, float] = (0.0, 0.0),
    inverse: Callable[[FloatArray], FloatArray] | None = None,
) -> Evidence:
    """Evidence at each sample of a chunk: the block in progress holds ``partial_count``
    samples with mean ``partial_mean`` (``(m, c)``; count 0 where it adds nothing).

    ``direction`` is +1 (only rises count), -1 (only falls) or 0 (both). ``floor`` (``(m,)``)
    is the smallest change worth reporting in the channel's units; ``relative`` is the
    rule's ``min_change`` as (fraction of the level, amount), both in the series' units,
    which ``inverse`` converts the channel's levels back to.

    Evidence below ``threshold`` is reported as 0: it cannot make a finding, and rows
    whose every sample is provably below it (the mean after an onset lies between the
    complete blocks' mean and the block in progress's) are not scored at all.
    """
    out = empty_evidence(partial_mean.shape)
    has = partial_count > 0
    yp_all = np.where(has, partial_mean, np.nan)
    weight, before = ref.weight[rows], ref.before[rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        complete = ref.after_wy[rows] / ref.after_w[rows]
        high = np.max(np.where(has, partial_mean, -np.inf), axis=1, keepdims=True)
        low = np.min(np.where(has, partial_mean, np.inf), axis=1, keepdims=True)
        reach = np.fmax(
            np.abs(complete - before), np.abs(np.where(np.isfinite(high), high, complete) - before)
        )
        reach = np.fmax(reach, np.abs(np.where(np.isfinite(low), low, complete) - before))
    bound = np.max(np.where(weight > 0, np.nan_to_num(reach) * weight, 0.0), axis=1)
    need = np.flatnonzero(bound >= threshold)
    if need.size == 0:
        return out
    found = _score(
        ref,
        rows[need],
        yp_all[need],
        np.where(has, partial_count, 0.0)[need],
        per_block,
        direction=direction,
        floor=np.broadcast_to(np.asarray(floor, dtype=np.float64), rows.shape)[need],
        relative=relative,
        inverse=inverse,
    )
    strong = np.abs(found.z) >= threshold
    for f in fields(Evidence):
        target = getattr(out, f.name)
        values = getattr(found, f.name)
        if f.name == "z":
            values = np.where(strong, values, 0.0)
        target[need] = values
    return out


def empty_evidence(shape: tuple[int, ...]) -> Evidence:
    """Evidence where nothing was tested: ``z`` 0, levels NaN."""
    return Evidence(
        z=np.zeros(shape),
        onset=np.zeros(shape, dtype=np.int64),
        before=np.full(shape, np.nan),
        after=np.full(shape, np.nan),
        after_blocks=np.zeros(shape),
        baseline_blocks=np.zeros(shape),
        slope=np.zeros(shape),
        creep=np.zeros(shape),
        creep_onset=np.zeros(shape, dtype=np.int64),
        line_end=np.full(shape, np.nan),
    )


def _score(
    ref: Reference,
    rows: IntArray,
    partial_mean: FloatArray,
    partial_count: FloatArray,
    per_block: int,
    *,
    direction: int,
    floor: FloatArray,
    relative: tuple[float, float],
    inverse: Callable[[FloatArray], FloatArray] | None,
) -> Evidence:
    width = ref.before.shape[1] - 1
    p = partial_count[..., None]
    yp = np.nan_to_num(partial_mean)[..., None]

    def take(a: FloatArray) -> FloatArray:
        return a[rows][:, None, :]

    n_after = take(ref.after_w) + p
    before = take(ref.before)
    latest_blocks = max(0, width - math.ceil(MIN_PERSISTENCE))
    recent_w = ref.after_w[rows, latest_blocks][:, None, None] + p
    with np.errstate(invalid="ignore", divide="ignore"):
        after = (take(ref.after_wy) + p * yp) / n_after
        recent = (ref.after_wy[rows, latest_blocks][:, None, None] + p * yp) / recent_w
        change = after - before
        z = change * take(ref.weight)
        still = (recent - ref.centre[rows][:, None, None]) / change
    tiny = 1e-9 * np.maximum(1.0, np.abs(before))
    floor_array = np.maximum(floor[:, None, None], tiny)
    usable = (
        (n_after >= MIN_PERSISTENCE * per_block)
        & (take(ref.weight) > 0)
        & np.isfinite(z)
        & (np.abs(change) >= floor_array)
        & (np.nan_to_num(still) >= STILL_THERE)
    )
    fraction, amount = relative
    if fraction > 0 or amount > 0:
        convert = inverse if inverse is not None else (lambda a: a)
        with np.errstate(invalid="ignore"):
            level_before = convert(np.broadcast_to(before, z.shape))
            moved = np.abs(convert(after) - level_before)
            usable &= moved >= np.maximum(amount, fraction * np.abs(level_before))
    if direction > 0:
        usable &= change > 0
    elif direction < 0:
        usable &= change < 0
    strength = np.where(usable, np.abs(z), -1.0)
    best = np.argmax(strength, axis=-1)
    found = np.take_along_axis(strength, best[..., None], axis=-1)[..., 0] >= 0

    def pick(a: FloatArray) -> FloatArray:
        return np.asarray(np.take_along_axis(a, best[..., None], axis=-1)[..., 0])

    n_best = pick(np.broadcast_to(n_after, z.shape))
    z_best = np.where(found, pick(z), 0.0)
    shape = _shape(ref, rows, best, z_best, width)
    return Evidence(
        z=z_best,
        onset=ref.first_block[rows][:, None] + best,
        before=pick(np.broadcast_to(before, z.shape)),
        after=pick(after),
        after_blocks=n_best / per_block,
        baseline_blocks=pick(np.broadcast_to(take(ref.baseline_blocks), z.shape)),
        slope=shape[0],
        creep=shape[1],
        creep_onset=ref.first_block[rows][:, None] + shape[2],
        line_end=shape[3],
    )


MIN_TREND_BLOCKS = 6
"""A stretch shorter than this cannot tell a creep from a step."""
CREEP_SSE_RATIO = 0.8
"""A line since the creep's onset must leave at most this share of the residual a step
(at the evidence's own onset) leaves, over the same stretch, to call it a creep."""


def _best_step_sse(sums: _Sums, start: IntArray, width: int) -> FloatArray:
    """Residual of the best two-level step over ``[start, width)`` for each sample ``(m, c)``
    (every split from ``start + 1`` on; the whole stretch as one level when none fits)."""
    m, c = start.shape
    splits = np.broadcast_to(np.arange(width + 1)[None, None, :], (m, c, width + 1))
    first = np.broadcast_to(start[..., None], splits.shape)
    last = np.full(splits.shape, width, dtype=np.int64)

    def part(p: FloatArray, lo: IntArray, hi: IntArray) -> FloatArray:
        flat = p[:, None, :]
        take_hi = np.take_along_axis(np.broadcast_to(flat, (m, c, flat.shape[-1])), hi, axis=-1)
        take_lo = np.take_along_axis(np.broadcast_to(flat, (m, c, flat.shape[-1])), lo, axis=-1)
        return np.asarray(take_hi - take_lo)

    def sse(lo: IntArray, hi: IntArray) -> FloatArray:
        w, y, yy = part(sums.w, lo, hi), part(sums.c, lo, hi), part(sums.cc, lo, hi)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(np.where(w > 0, yy - y * y / w, 0.0))

    total = sse(first, last)
    valid = (splits > first) & (splits < width)
    split_sse = np.where(valid, sse(first, splits) + sse(splits, last), np.inf)
    return np.asarray(np.minimum(np.min(split_sse, axis=-1), total[..., 0]))


def _shape(
    ref: Reference, rows: IntArray, step_onset: IntArray, z: FloatArray, width: int
) -> tuple[FloatArray, FloatArray, IntArray, FloatArray]:
    """Slope, creep verdict, creep onset and line end for each sample (complete blocks).

    Over the stretch since the best creep onset (:func:`_hinges`, in the direction of the
    evidence), a straight line is compared with the best step anywhere in that stretch: a
    creep is a line that fits clearly better than any step and goes the way the change
    goes. (A step right after the creep onset fits a step perfectly, however the
    evidence's own onset fell, so a clean step is never called a creep.)
    """
    sums = _Sums(
        ref.prefix_w[rows], ref.prefix_wc[rows], ref.prefix_wx[rows],
        ref.prefix_wxx[rows], ref.prefix_wxc[rows], ref.prefix_wcc[rows],
    )  # fmt: skip
    hinge = np.where(z >= 0, ref.hinge_up[rows][:, None], ref.hinge_down[rows][:, None])
    hinge = np.broadcast_to(hinge, step_onset.shape)
    end = np.full(step_onset.shape, width, dtype=np.int64)
    whole = sums.between(hinge, end)
    step_sse = _best_step_sse(sums, hinge, width)
    with np.errstate(invalid="ignore", divide="ignore"):
        sxx = whole.xx - whole.x * whole.x / whole.w
        sxc = whole.xc - whole.x * whole.c / whole.w
        scc = whole.cc - whole.c * whole.c / whole.w
        slope = sxc / sxx
        line_sse = scc - sxc * slope
        line_end = (
            ref.centre[rows][:, None] + whole.c / whole.w + slope * (width - whole.x / whole.w)
        )
    blocks_after = ref.baseline_blocks[rows][:, -1:] - np.take_along_axis(
        ref.baseline_blocks[rows], hinge, axis=1
    )
    creep = (
        (blocks_after >= MIN_TREND_BLOCKS)
        & (line_sse <= CREEP_SSE_RATIO * step_sse)
        & (np.sign(slope) == np.sign(z))
        & (z != 0)
    )
    return (
        np.nan_to_num(slope),
        creep.astype(np.float64),
        hinge,
        np.where(np.isfinite(line_end), line_end, np.nan),
    )
