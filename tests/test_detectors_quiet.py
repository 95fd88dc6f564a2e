"""Invariant 5: bad data never crashes a detector and never alarms by itself."""

from __future__ import annotations

import numpy as np
import pytest

from detector.evaluate import evaluate
from detector.finding import Kind
from detector.series import Series
from detector.testing import daily_pattern, make_rule, make_series

DAY = 86400
STEP = 300
PER_DAY = DAY // STEP
ALL_KINDS = [k.value for k in Kind]
SHAPE_RULE = make_rule(detect=["level_shift", "trend", "variance"])


def all_kinds_rule(**fields: object) -> object:
    return make_rule(detect=ALL_KINDS, limit=1e9, **fields)


def quiet_series(n: int = 10 * PER_DAY, seed: int = 11) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100 + daily_pattern(n, STEP, 20) + rng.normal(0, 2, n)


CASES = {
    "empty": np.array([], dtype=float),
    "one sample": np.array([42.0]),
    "shorter than the window needs": quiet_series(60),
    "all NaN": np.full(10 * PER_DAY, np.nan),
    "constant": np.full(10 * PER_DAY, 7.0),
    "constant zero": np.zeros(10 * PER_DAY),
    "mostly NaN": np.where(np.arange(10 * PER_DAY) % 5 == 0, 100.0, np.nan),
    "infinite values": np.where(np.arange(10 * PER_DAY) % 97 == 0, np.inf, 100.0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_degenerate_series_gives_no_finding_and_no_error(name: str) -> None:
    values = CASES[name]
    series = make_series(values)
    now = series.end if len(series) else 1_700_000_000

    assert evaluate(all_kinds_rule(), series, now) == []


def test_one_off_spikes_are_not_gray_signals() -> None:
    values = quiet_series()
    for position in (3 * PER_DAY, 7 * PER_DAY, len(values) - 30, len(values) - 3):
        values[position] = 10_000
    series = make_series(values)

    assert (
        evaluate(make_rule(detect=["level_shift", "trend", "variance"]), series, series.end) == []
    )


def test_a_gap_of_missing_samples_is_not_a_change() -> None:
    values = quiet_series()
    values[int(9.2 * PER_DAY) : int(9.6 * PER_DAY)] = np.nan
    series = make_series(values)

    assert (
        evaluate(make_rule(detect=["level_shift", "trend", "variance"]), series, series.end) == []
    )


def test_counter_resets_do_not_alarm() -> None:
    rng = np.random.default_rng(4)
    increments = rng.poisson(50, 10 * PER_DAY).astype(float)
    counter = np.cumsum(increments)
    for restart in (int(4.5 * PER_DAY), int(9.7 * PER_DAY)):
        counter[restart:] -= counter[restart - 1]  # process restarted: counter back near zero
    series = make_series(counter, labels={"__name__": "http_requests_total"})

    assert (
        evaluate(make_rule(detect=["level_shift", "trend", "variance"]), series, series.end) == []
    )


def test_counter_rate_still_shows_a_real_change() -> None:
    rng = np.random.default_rng(4)
    rate = np.where(np.arange(10 * PER_DAY) >= int(9.5 * PER_DAY), 80, 50)
    counter = np.cumsum(rng.poisson(rate).astype(float))
    series = make_series(counter, labels={"__name__": "http_requests_total"})

    (finding,) = evaluate(make_rule(detect=["level_shift"]), series, series.end)

    assert finding.after * STEP == pytest.approx(80, rel=0.1)


def test_stale_series_gives_no_finding() -> None:
    values = quiet_series()
    values[int(9.5 * PER_DAY) :] += 50
    series = make_series(values)

    assert evaluate(make_rule(), series, series.end + 3 * DAY) == []


def test_pure_noise_stays_quiet_across_many_seeds() -> None:
    rule = make_rule(detect=["level_shift", "trend", "variance"])
    alarms = 0
    for seed in range(12):
        series = make_series(quiet_series(seed=seed))
        for now in series.timestamps[-PER_DAY::12]:
            alarms += len(evaluate(rule, series, int(now)))

    assert alarms == 0


def test_series_values_are_not_mutated() -> None:
    values = quiet_series()
    values[100] = np.nan
    series = make_series(values)
    before = series.values.copy()

    evaluate(all_kinds_rule(), series, series.end)

    np.testing.assert_array_equal(series.values, before)


def test_irregular_timestamps_are_rejected_by_the_series_type() -> None:
    with pytest.raises(ValueError, match="one step apart"):
        Series({"a": "b"}, np.array([0, 300, 900]), np.array([1.0, 2.0, 3.0]), 300)
