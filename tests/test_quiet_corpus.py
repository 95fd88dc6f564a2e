"""Stationary noise that is discrete, clustered or seasonal raises no finding.

Low-traffic trickles and quantised gauges are what make scale estimates from medians
and interquartile ranges collapse (a median absolute deviation of zero, an IQR of one
count). The evidence's noise is measured as the variance of block means at each time
scale (``detector.noise``), which such data do not fool. Each shape below is replayed
over 14 days at 5 minutes, evaluated every 30 minutes from the first day on (so young
baselines are exercised too), for several seeds, with the default sensitivity.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from detector.replay import rule_findings
from detector.testing import EPOCH, make_rule, make_series

STEP = 300
DAY = 86400
PER_DAY = DAY // STEP
DAYS = 14
N = DAYS * PER_DAY
SEEDS = range(4)
PHASE = 2 * np.pi * np.arange(N) / PER_DAY


def _ar1(rng: np.random.Generator, phi: float = 0.8) -> np.ndarray:
    shocks = rng.normal(0, 1, N)
    out = np.empty(N)
    out[0] = shocks[0]
    for i in range(1, N):
        out[i] = phi * out[i - 1] + shocks[i]
    return 50 + out


SHAPES: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "poisson 0.5 per step": lambda rng: rng.poisson(0.5, N).astype(float),
    "poisson with a daily rhythm": lambda rng: rng.poisson(0.5 * (1 + 0.8 * np.sin(PHASE))),
    "rounded integers, sd 0.7": lambda rng: np.round(10 + rng.normal(0, 0.7, N)),
    "bimodal 50 or 150": lambda rng: np.where(rng.random(N) < 0.5, 50.0, 150.0),
    "daily plus weekly seasonality": lambda rng: (
        100 + 20 * np.sin(PHASE) + 10 * np.sin(PHASE / 7) + rng.normal(0, 2, N)
    ),
    "white": lambda rng: 100 + rng.normal(0, 5, N),
    "autocorrelated AR(1)": _ar1,
    "heavy-tailed Student t": lambda rng: 100 + rng.standard_t(3, N),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_stationary_noise_raises_no_finding(shape: str) -> None:
    rule = make_rule(detect=["level_shift", "trend", "variance", "volume"])
    series = [
        make_series(
            SHAPES[shape](np.random.default_rng(seed)).astype(float),
            STEP,
            labels={"seed": str(seed)},
        )
        for seed in SEEDS
    ]
    times = EPOCH + np.arange(DAY // 2, N * STEP, 1800, dtype=np.int64)
    findings = [f for found in rule_findings(rule, series, times).values() for f in found]
    assert findings == [], [f.explanation for f in findings[:3]]


def test_the_same_replay_sees_a_doubled_trickle() -> None:
    """The quiet verdicts above are not blindness: doubling the 0.5 rate for the last
    four days is reported by ``volume``."""
    rule = make_rule(detect=["level_shift", "trend", "variance", "volume"])
    rate = np.where(np.arange(N) >= 10 * PER_DAY, 1.0, 0.5)
    counts = np.random.default_rng(0).poisson(rate).astype(float)
    times = EPOCH + np.arange(DAY // 2, N * STEP, 1800, dtype=np.int64)
    found = rule_findings(rule, [make_series(counts, STEP)], times)
    kinds = {f.kind.value for fs in found.values() for f in fs}
    assert "volume" in kinds
