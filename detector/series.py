"""The time series every detector reads: a frozen label set plus regular samples.

Samples live on a regular step; a missing sample is NaN, never invented. Timestamps
are integer seconds so that window arithmetic is exact and causality (``ts <= now``)
can be checked without floating-point doubt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable 16-hex-digit identity for a label set, independent of key order."""
    return _fingerprint(tuple(sorted(labels.items())))


@lru_cache(maxsize=65536)
def _fingerprint(items: tuple[tuple[str, str], ...]) -> str:
    canonical = "\x1f".join(f"{k}\x1e{v}" for k, v in items)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def format_labels(labels: Mapping[str, str]) -> str:
    """Render labels the way Prometheus users read them: ``{job="api", le="0.5"}``."""
    inner = ", ".join(f'{k}="{labels[k]}"' for k in sorted(labels))
    return "{" + inner + "}"


@dataclass(frozen=True)
class Series:
    """One labelled series on a regular step.

    ``timestamps`` are strictly increasing multiples of ``step`` apart (gaps are NaN
    samples, not missing timestamps), so position arithmetic equals time arithmetic.
    """

    labels: Mapping[str, str]
    timestamps: IntArray
    values: FloatArray
    step: int
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        if self.step <= 0:
            raise ValueError(f"step must be a positive number of seconds, got {self.step}")
        if self.timestamps.shape != self.values.shape or self.timestamps.ndim != 1:
            raise ValueError("timestamps and values must be one-dimensional and of equal length")
        if self.timestamps.size > 1:
            deltas = np.diff(self.timestamps)
            if np.any(deltas != self.step):
                raise ValueError("timestamps must be exactly one step apart; use Series.regular()")
        object.__setattr__(self, "labels", dict(self.labels))
        object.__setattr__(self, "fingerprint", fingerprint(self.labels))

    @classmethod
    def regular(
        cls,
        labels: Mapping[str, str],
        timestamps: npt.ArrayLike,
        values: npt.ArrayLike,
        step: int,
    ) -> Series:
        """Place samples on the step grid ``k * step``; empty grid slots become NaN.

        A sample at ``ts`` lands in the first slot at or after it, so slot ``t`` holds
        what was known by ``t`` (samples in ``(t - step, t]``), as a Prometheus range
        query returns the latest sample at or before each step. Never rounding down
        keeps sources causal. When two samples share a slot the later one wins.
        """
        ts = np.asarray(timestamps, dtype=np.int64)
        vs = np.asarray(values, dtype=np.float64)
        if ts.size == 0:
            return cls(labels, np.empty(0, np.int64), np.empty(0, np.float64), step)
        slots = -(-ts // step) * step
        start, end = int(slots.min()), int(slots.max())
        grid = np.arange(start, end + step, step, dtype=np.int64)
        out = np.full(grid.size, np.nan)
        out[(slots - start) // step] = vs
        return cls(labels, grid, out, step)

    def __len__(self) -> int:
        return int(self.timestamps.size)

    @property
    def start(self) -> int:
        return int(self.timestamps[0])

    @property
    def end(self) -> int:
        return int(self.timestamps[-1])

    def index_at(self, ts: int) -> int:
        """Number of samples with timestamp <= ts (so ``values[:index_at(t)]`` is causal)."""
        return int(np.searchsorted(self.timestamps, ts, side="right"))

    def between(self, start_exclusive: int, end_inclusive: int) -> Series:
        """Samples with ``start_exclusive < ts <= end_inclusive``: a causal window."""
        lo = int(np.searchsorted(self.timestamps, start_exclusive, side="right"))
        hi = self.index_at(end_inclusive)
        return Series(self.labels, self.timestamps[lo:hi], self.values[lo:hi], self.step)


def common_grid(series: Sequence[Series], step: int) -> tuple[IntArray, FloatArray]:
    """The series (non-empty, on ``step``) laid on one grid from the earliest sample to
    the latest, one row each in order, NaN where a series has no sample: how replay and
    the daemon hand many series to the vectorised monitor at once."""
    first = min(one.start for one in series)
    last = max(one.end for one in series)
    grid = np.arange(first, last + step, step, dtype=np.int64)
    matrix = np.full((len(series), grid.size), np.nan)
    for i, one in enumerate(series):
        offset = (one.start - first) // step
        matrix[i, offset : offset + len(one)] = one.values
    return grid, matrix
