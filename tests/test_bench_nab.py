"""How graysignal's causal alerts become NAB rows: the grid and the row-score mapping.

The rule under test: an alert that starts firing at row ``k`` gives row ``k`` a score
(its finding's score, squashed into [0, 1)) and no other row anything.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.nab.causal import (
    CONFIGURATIONS,
    detect_file,
    firing_slot_scores,
    grid_of,
    row_scores,
    squash,
    to_grid,
)
from benchmarks.nab.corpus import DataFile
from detector.finding import Direction, Finding, Kind
from detector.replay import Firing, Signal, replay_rule

T0 = 1_704_067_200  # 2024-01-01 00:00 UTC, a multiple of 300


def finding(score: float) -> Finding:
    return Finding(
        rule="NAB",
        labels={"nab_file": "x"},
        kind=Kind.LEVEL_SHIFT,
        onset=T0,
        detected_at=T0,
        direction=Direction.UP,
        before=0.0,
        after=1.0,
        relative_change=1.0,
        score=score,
        explanation="",
    )


def signal_firing_at(*starts_scores: tuple[int, float]) -> Signal:
    signal = Signal(
        rule="NAB",
        group="nab",
        labels={},
        alert_labels={},
        kind=Kind.LEVEL_SHIFT,
        series_fingerprint="0",
    )
    for start, score in starts_scores:
        f = finding(score)
        signal.firings.append(
            Firing(start=start, end=None, pending_since=start, first=f, latest=f, peak_score=score)
        )
    return signal


def test_grid_keeps_the_first_of_repeated_rows_and_leaves_gaps() -> None:
    seconds = T0 + np.array([0, 300, 300, 600, 1200], dtype=np.int64)
    values = np.array([1.0, 2.0, 99.0, 3.0, 5.0])

    grid = to_grid("x", seconds, values)

    assert grid.step == 300
    np.testing.assert_array_equal(grid.row_slot, [0, 1, 1, 2, 4])
    np.testing.assert_array_equal(grid.carrier, [True, True, False, True, True])
    np.testing.assert_array_equal(grid.series.values, [1.0, 2.0, 3.0, np.nan, 5.0])
    np.testing.assert_array_equal(grid.series.timestamps, T0 + 300 * np.arange(5))


def test_grid_slots_are_end_labelled() -> None:
    grid = to_grid("x", T0 + np.array([100, 400, 700], dtype=np.int64), np.ones(3))
    # Each row lands in the first slot at or after it: never earlier than it happened.
    np.testing.assert_array_equal(grid.series.timestamps, T0 + np.array([300, 600, 900]))


def test_a_firing_at_row_k_scores_row_k_only() -> None:
    seconds = T0 + 300 * np.arange(10, dtype=np.int64)
    grid = to_grid("x", seconds, np.arange(10.0))

    rows = row_scores(grid, firing_slot_scores([signal_firing_at((int(seconds[6]), 6.0))], grid))

    assert np.flatnonzero(rows).tolist() == [6]
    assert rows[6] == pytest.approx(0.5)


def test_simultaneous_firings_keep_the_strongest_and_gaps_report_at_the_next_row() -> None:
    # Rows at slots 0, 1, 1 (a repeat), 2, 4: slot 3 is a gap.
    seconds = T0 + np.array([0, 300, 300, 600, 1200], dtype=np.int64)
    grid = to_grid("x", seconds, np.arange(5.0))
    signals = [
        signal_firing_at((T0 + 300, 6.0), (T0 + 900, 12.0)),  # slot 1; slot 3 (gap)
        signal_firing_at((T0 + 300, 18.0)),  # same slot 1, stronger
    ]

    rows = row_scores(grid, firing_slot_scores(signals, grid))

    assert rows.tolist() == pytest.approx([0.0, squash(18.0), 0.0, 0.0, squash(12.0)])


def test_squash_is_monotone_into_the_unit_interval() -> None:
    scores = [0.0, 0.5, 4.5, 6.0, 8.0, 30.0, 1e6]
    mapped = [squash(s) for s in scores]
    assert mapped == sorted(mapped) and len(set(mapped)) == len(mapped)
    assert mapped[0] == 0.0 and mapped[3] == 0.5 and all(m < 1.0 for m in mapped)


def test_detect_file_scores_exactly_the_row_where_replay_started_firing() -> None:
    n = 5 * 288  # five days at 5 minutes: a 7-day window needs 3.4 days of baseline
    rng = np.random.default_rng(1)
    values = 10 + rng.normal(0, 1, n)
    values[4 * 288 :] += 5
    stamps = np.datetime64("2024-01-01T00:00:00", "s") + np.arange(n) * np.timedelta64(300, "s")
    data = DataFile.from_row_windows("t/step.csv", stamps, values, [(1100, 1250)])

    scores = detect_file(CONFIGURATIONS[0], data)

    series = grid_of(data).series
    signals, _ = replay_rule(
        CONFIGURATIONS[0].rule(),
        group="nab",
        interval=300,
        series=[series],
        start=series.start - 300,
        end=series.end,
    )
    firings = [f for s in signals for f in s.firings]
    assert len(firings) == 1
    row = (firings[0].start - series.start) // 300
    assert row > 4 * 288
    assert np.flatnonzero(scores).tolist() == [row]
    assert scores[row] == pytest.approx(squash(firings[0].first.score))
