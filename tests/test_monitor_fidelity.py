"""The daemon's incremental monitor and replay's batch pass give the same evidence.

DESIGN.md invariant 6 says replay must see exactly what the daemon saw. The daemon feeds
a :class:`~detector.monitor.RuleMonitor` a few samples per cycle; replay runs
:func:`~detector.batch.batch_trace` over the whole recording. Both must produce the same
numbers at every sample, bit for bit, whatever the cycle sizes, and a monitor warmed up
from a bounded history must agree with one that has run from the start.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

import detector.batch as batch_module
import detector.monitor as monitor_module
from detector.batch import batch_trace
from detector.monitor import RuleMonitor, Trace
from detector.rule import Rule
from detector.testing import EPOCH, daily_pattern, make_rule

STEP = 300
DAY = 86400
PER_DAY = DAY // STEP
DAYS = 14


def recording(seed: int) -> np.ndarray:
    """Six series of 14 days: seasonal creep, step, growing jitter, gaps, a counter with a
    reset, and low counts; each on the same 5-minute grid."""
    rng = np.random.default_rng(seed)
    n = DAYS * PER_DAY
    t = np.arange(n)
    late = t > 8 * PER_DAY
    creep = 100 + daily_pattern(n, STEP, 15) + rng.normal(0, 2, n) + late * (t - 8 * PER_DAY) / 90
    step = 50 + rng.normal(0, 1, n) + np.where(t > 9 * PER_DAY, 3.0, 0.0)
    jitter = 10 + rng.normal(0, 1, n) * np.where(late, 3.0, 1.0)
    gappy = 100 + rng.normal(0, 2, n)
    gappy[3 * PER_DAY : 3 * PER_DAY + 200] = np.nan
    gappy[rng.random(n) < 0.05] = np.nan
    counter = np.cumsum(rng.poisson(20, n)).astype(float)
    counter[7 * PER_DAY :] -= counter[7 * PER_DAY]  # a restart: the counter resets
    counts = rng.poisson(np.where(late, 1.5, 0.5)).astype(float)
    return np.vstack([creep, step, jitter, gappy, counter, counts])


def rule(seasonality: str = "auto", window: str = "3d") -> Rule:
    return make_rule(
        detect=["level_shift", "trend", "variance", "volume", "exhaustion"],
        limit=400,
        horizon="3d",
        window=window,
        seasonality=seasonality,
    )


def fresh_monitor(seasonality: str = "auto", window: str = "3d") -> tuple[RuleMonitor, np.ndarray]:
    monitor = RuleMonitor(rule(seasonality, window), STEP)
    keys = [f"s{i}" for i in range(6)]
    rows = monitor.rows_for(keys, [{"series": key} for key in keys])
    return monitor, rows


def incremental(values: np.ndarray, sizes: np.ndarray, window: str) -> Trace:
    """Feed ``values`` in chunks of the given sizes; return one merged trace."""
    monitor, rows = fresh_monitor("auto", window)
    timestamps = EPOCH + STEP * np.arange(values.shape[1], dtype=np.int64)
    parts: list[Trace] = []
    at, i = 0, 0
    while at < values.shape[1]:
        size = int(sizes[i % sizes.size])
        parts.append(monitor.ingest(rows, timestamps[at : at + size], values[:, at : at + size]))
        at, i = at + size, i + 1
    return concatenate(parts)


def concatenate(parts: list[Trace]) -> Trace:
    first = parts[0]
    join = np.concatenate
    return Trace(
        rows=first.rows,
        timestamps=join([p.timestamps for p in parts]),
        valid=join([p.valid for p in parts], axis=1),
        evidence={
            name: type(ev)(
                **{
                    f.name: join([getattr(p.evidence[name], f.name) for p in parts], axis=1)
                    for f in fields(ev)
                }
            )
            for name, ev in first.evidence.items()
        },
        seasonality={
            name: join([p.seasonality[name] for p in parts], axis=1) for name in first.seasonality
        },
        exhaustion={
            key: join([p.exhaustion[key] for p in parts], axis=1) for key in first.exhaustion
        },
    )


def assert_same(a: Trace, b: Trace, columns: slice) -> None:
    """Equal evidence at the samples both know (bit for bit; NaN equals NaN).

    Where ``z`` is 0 nothing was tested and the other fields mean nothing (a path may
    leave them blank), so they are compared only where there is evidence.
    """
    valid = a.valid[:, columns]
    assert np.array_equal(valid, b.valid[:, columns])
    for name, ev in a.evidence.items():
        assert np.array_equal(
            np.where(valid, ev.z[:, columns], 0), np.where(valid, b.evidence[name].z[:, columns], 0)
        ), f"{name}.z"
        tested = valid & (ev.z[:, columns] != 0)
        for f in fields(ev):
            left = np.where(tested, getattr(ev, f.name)[:, columns], 0)
            right = np.where(tested, getattr(b.evidence[name], f.name)[:, columns], 0)
            assert np.array_equal(left, right, equal_nan=True), f"{name}.{f.name}"
        left_choice = np.where(valid, a.seasonality[name][:, columns], 0)
        assert np.array_equal(left_choice, np.where(valid, b.seasonality[name][:, columns], 0))
    for key, values in a.exhaustion.items():
        left = np.where(valid, values[:, columns], 0)
        right = np.where(valid, b.exhaustion[key][:, columns], 0)
        assert np.array_equal(left, right, equal_nan=True), f"exhaustion.{key}"


def test_cycles_of_any_size_give_the_batch_evidence(monkeypatch: pytest.MonkeyPatch) -> None:
    seed = 1
    values = recording(seed)
    monitor, rows = fresh_monitor("auto", "7d")  # the default window: hour-long blocks
    timestamps = EPOCH + STEP * np.arange(values.shape[1], dtype=np.int64)
    batch = batch_trace(monitor, rows, timestamps, values)
    # single samples, a few, and cycles longer than a block (a slow or paused daemon)
    sizes = np.r_[1, 1, 2, 3, np.random.default_rng(seed).integers(20, 400, size=64)]
    fed = incremental(values, sizes, "7d")
    assert np.any(batch.evidence["level"].z != 0)  # the comparison is not between blanks
    assert_same(batch, fed, slice(None))
    monkeypatch.setattr(batch_module, "SCORE_CELLS", 1)  # one block per scoring chunk
    again, rows = fresh_monitor("auto", "7d")
    assert_same(batch_trace(again, rows, timestamps, values), fed, slice(None))


@pytest.mark.parametrize("score_cells", [monitor_module.SCORE_CELLS, 1])
def test_a_monitor_warmed_up_from_bounded_history_agrees_with_one_that_ran_all_along(
    score_cells: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the daemon warms up: the bounded history in one call, then hourly cycles; also
    with scoring split into one-series batches (how a large group bounds its memory)."""
    monkeypatch.setattr(monitor_module, "SCORE_CELLS", score_cells)
    values = recording(3)
    monitor, rows = fresh_monitor("daily")
    timestamps = EPOCH + STEP * np.arange(values.shape[1], dtype=np.int64)
    all_along = batch_trace(monitor, rows, timestamps, values)
    warmed, rows = fresh_monitor("daily")
    scored_from = values.shape[1] - PER_DAY
    start = scored_from - warmed.history_seconds() // STEP
    assert start > 0, "the recording must be longer than the history the state needs"
    warmed.ingest(
        rows,
        timestamps[start:scored_from],
        values[:, start:scored_from],
        score_from=int(timestamps[scored_from]),
    )
    parts = [
        warmed.ingest(rows, timestamps[at : at + 12], values[:, at : at + 12])
        for at in range(scored_from, values.shape[1], 12)
    ]
    last_day = slice(scored_from, None)
    assert np.any(all_along.evidence["level"].z[:, last_day] != 0)
    assert_same(slice_trace(all_along, last_day), concatenate(parts), slice(None))


def slice_trace(trace: Trace, columns: slice) -> Trace:
    return Trace(
        rows=trace.rows,
        timestamps=trace.timestamps[columns],
        valid=trace.valid[:, columns],
        evidence={
            name: type(ev)(**{f.name: getattr(ev, f.name)[:, columns] for f in fields(ev)})
            for name, ev in trace.evidence.items()
        },
        seasonality={name: c[:, columns] for name, c in trace.seasonality.items()},
        exhaustion={key: v[:, columns] for key, v in trace.exhaustion.items()},
    )
