"""Lead-lag hints between two series of one incident: which one moved first?

A post-mortem wants to know whether the memory grew before the latency did, or the
other way round. Two cheap, classical tools answer "which one tends to move first"
on the incident's own data:

- **cross-correlation of the differenced series** on a common grid: differencing removes
  the slow trends that make any two rising series look correlated at every lag; the
  lag with the strongest correlation says by how much one series' moves precede the
  other's;
- a **Granger test** (statsmodels) in both directions at that lag: do past values of A
  improve a prediction of B beyond B's own past, and vice versa? For a lead of more
  than :data:`MAX_GRANGER_LAG` steps the series are first averaged over blocks of steps,
  which keeps the regressions small (and fast even on a busy two-core machine).

Both are correlation on one incident, never causation: a shared cause that reaches one
series before the other produces the same picture. Reports print that caveat with the
hints. The computation is pure (arrays in, numbers out); it lives with the backtest
because the story of an incident is its only user.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from statsmodels.tsa.stattools import grangercausalitytests

from detector.series import Series

__all__ = ["CAVEAT", "LeadLag", "common_grid", "cross_correlation", "lead_lag"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

CAVEAT = (
    "Lead-lag hints are correlations on one incident, not causation: a common cause that "
    "reaches one series first looks the same. Use them to decide where to look first."
)

MAX_POINTS = 4000
"""Grid points at most: beyond that the grid is coarsened (correlations need hundreds of
points, not tens of thousands, and Granger's regressions grow with them)."""

MIN_POINTS = 48
"""Fewer common points than this give no hint at all: too little to correlate."""

MIN_CORRELATION = 0.2
"""A weaker peak is not worth a reader's attention, however many points there are."""

MAX_GRANGER_LAG = 8
"""Granger lags (in grid steps) at most: for a longer lead the series are averaged over
blocks of steps first, so that the regressions stay small (a 2 h lead at 5 min would
otherwise need 24 lags of each series) and the test stays cheap."""

_CLIP_MADS = 5.0


@dataclass(frozen=True)
class LeadLag:
    """The strongest lagged correlation between the moves of series A and series B.

    ``lag`` is in seconds: positive means A's moves come first and B's follow ``lag``
    later; negative the reverse; zero that they move together at this resolution.
    ``granger_a_to_b`` is the p-value of "A's past helps predict B" (small: it does).
    """

    lag: int
    correlation: float
    threshold: float
    points: int
    step: int
    granger_a_to_b: float | None = None
    granger_b_to_a: float | None = None

    @property
    def significant(self) -> bool:
        return abs(self.correlation) >= self.threshold


def common_grid(
    a: Series, b: Series, start: int, end: int, max_points: int = MAX_POINTS
) -> tuple[IntArray, FloatArray, FloatArray, int]:
    """Both series on one end-labelled grid over ``(start, end]``.

    The grid step is the coarser of the two steps, coarsened further so that there are
    at most ``max_points`` slots; each slot holds the mean of the finite samples in
    ``(t - step, t]`` (NaN if none), as the sources place samples.
    """
    step = max(a.step, b.step)
    slots = max(1, (end - start) // step)
    if slots > max_points:
        step *= math.ceil(slots / max_points)
    first = (start // step + 1) * step
    grid = np.arange(first, end + 1, step, dtype=np.int64)
    return grid, _resample(a, grid, step), _resample(b, grid, step), step


def _resample(series: Series, grid: IntArray, step: int) -> FloatArray:
    out = np.full(grid.size, np.nan)
    if grid.size == 0 or len(series) == 0:
        return out
    finite = np.isfinite(series.values)
    ts = series.timestamps[finite]
    vs = series.values[finite]
    slot = -(-ts // step) * step
    keep = (slot >= grid[0]) & (slot <= grid[-1])
    index = ((slot[keep] - grid[0]) // step).astype(np.intp)
    sums = np.bincount(index, weights=vs[keep], minlength=grid.size)
    counts = np.bincount(index, minlength=grid.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    return np.where(counts > 0, means, np.nan)


def _clipped_diff(values: FloatArray) -> FloatArray:
    """First differences with outliers clipped at 5 MADs: one spike must not decide."""
    diff = np.diff(values)
    finite = diff[np.isfinite(diff)]
    if finite.size == 0:
        return diff
    centre = float(np.median(finite))
    mad = float(np.median(np.abs(finite - centre))) * 1.4826
    if mad > 0:
        diff = np.clip(diff, centre - _CLIP_MADS * mad, centre + _CLIP_MADS * mad)
    return diff


def cross_correlation(
    da: FloatArray, db: FloatArray, max_lag: int
) -> tuple[IntArray, FloatArray, IntArray]:
    """Pearson correlation of ``da[t]`` with ``db[t + k]`` for ``k`` in ``-max_lag..max_lag``,
    over the pairs where both are finite. Returns lags, correlations (NaN where fewer
    than three pairs or no variance) and pair counts."""
    lags = np.arange(-max_lag, max_lag + 1, dtype=np.int64)
    corr = np.full(lags.size, np.nan)
    counts = np.zeros(lags.size, dtype=np.int64)
    n = da.size
    for i, k in enumerate(lags.tolist()):
        if k >= 0:
            x, y = da[: n - k], db[k:]
        else:
            x, y = da[-k:], db[: n + k]
        both = np.isfinite(x) & np.isfinite(y)
        counts[i] = int(both.sum())
        if counts[i] < 3:
            continue
        xs, ys = x[both], y[both]
        sx, sy = float(np.std(xs)), float(np.std(ys))
        if sx == 0 or sy == 0:
            continue
        corr[i] = float(np.mean((xs - xs.mean()) * (ys - ys.mean())) / (sx * sy))
    return lags, corr, counts


def lead_lag(a: Series, b: Series, start: int, end: int, max_lag: int) -> LeadLag | None:
    """Which of ``a`` and ``b`` moved first over ``(start, end]``, looking up to
    ``max_lag`` seconds either way; ``None`` when there is too little common data.

    The threshold for a meaningful peak is the larger of :data:`MIN_CORRELATION` and
    ``4 / sqrt(n)`` (about four standard errors of a correlation of unrelated white
    noise, leaving room for testing many lags at once).
    """
    _, va, vb, step = common_grid(a, b, start, end)
    da, db = _clipped_diff(va), _clipped_diff(vb)
    points = int((np.isfinite(da) & np.isfinite(db)).sum())
    if points < MIN_POINTS:
        return None
    max_steps = max(0, min(max_lag // step, points // 4))
    lags, corr, counts = cross_correlation(da, db, max_steps)
    if not np.isfinite(corr).any():
        return None
    best = int(np.nanargmax(np.abs(corr)))
    n = int(counts[best])
    lag_steps = int(lags[best])
    result = LeadLag(
        lag=lag_steps * step,
        correlation=float(corr[best]),
        threshold=max(MIN_CORRELATION, 4.0 / math.sqrt(n)),
        points=n,
        step=step,
    )
    if not result.significant or lag_steps == 0:
        return result
    block = math.ceil(abs(lag_steps) / MAX_GRANGER_LAG)
    ga, gb = _clipped_diff(_blocks(va, block)), _clipped_diff(_blocks(vb, block))
    granger_lag = max(1, round(abs(lag_steps) / block))
    return LeadLag(
        lag=result.lag,
        correlation=result.correlation,
        threshold=result.threshold,
        points=result.points,
        step=step,
        granger_a_to_b=_granger(ga, gb, granger_lag),
        granger_b_to_a=_granger(gb, ga, granger_lag),
    )


def _blocks(values: FloatArray, size: int) -> FloatArray:
    """Means over consecutive blocks of ``size`` slots (NaN-aware; a partial tail is dropped)."""
    if size <= 1:
        return values
    usable = values[: values.size - values.size % size].reshape(-1, size)
    finite = np.isfinite(usable)
    counts = finite.sum(axis=1)
    sums = np.where(finite, usable, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def _granger(cause: FloatArray, effect: FloatArray, lag: int) -> float | None:
    """p-value of statsmodels' SSR F-test that ``cause``'s past helps predict ``effect``.

    Gaps are filled with zero moves (a differenced series at rest); ``None`` when the
    test cannot run (too few points, a singular regression).
    """
    x = np.nan_to_num(effect, nan=0.0)
    y = np.nan_to_num(cause, nan=0.0)
    if x.size <= 3 * lag + 10 or np.std(x) == 0 or np.std(y) == 0:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tests = grangercausalitytests(np.column_stack([x, y]), maxlag=[lag])
        p_value = float(tests[lag][0]["ssr_ftest"][1])
    except (ValueError, np.linalg.LinAlgError):
        return None
    return p_value if math.isfinite(p_value) else None
