"""The lead-time benchmark's generator, baselines and arithmetic, on hand-checkable cases.

Everything here is small and synthetic (a few days at a 5-minute step), so the expected
values can be worked out on paper; none of it reads the NAB corpus or times anything.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from benchmarks.leadtime import (
    HOUR,
    BasePool,
    Layout,
    Timeline,
    alert_starts,
    ewma_condition,
    false_alarms,
    first_warning,
    generate,
    incident_time,
    inject,
    make_scenario,
    merged_starts,
    predict_linear,
    predict_linear_condition,
    slo_line,
    static_condition,
    summarize,
    trailing_mean,
)
from benchmarks.nab.corpus import DataFile
from detector.alerts import AlertBook
from detector.finding import Direction, Finding, Kind
from detector.series import FloatArray
from detector.testing import make_rule

STEP = 300
TINY = Layout(
    stretch=2 * 86400,
    history=86400,
    onset_after=(2 * HOUR, 4 * HOUR),
    time_to_incident=(4 * HOUR, 8 * HOUR),
    min_lead=HOUR,
)


def regular_file(name: str, values: FloatArray) -> DataFile:
    start = np.datetime64("2024-01-01T00:00:00", "s")
    stamps = start + np.arange(values.size) * np.timedelta64(STEP, "s")
    return DataFile(name=name, timestamps=stamps, values=values.astype(np.float64))


@pytest.fixture(scope="module")
def tiny_pool() -> BasePool:
    rng = np.random.default_rng(0)
    n = 3 * 288
    gauge = 50 + rng.normal(0, 1, n)
    counts = rng.poisson(20, n).astype(np.float64)
    files = {"g/gauge.csv": regular_file("g/gauge.csv", gauge)}
    files["c/counts.csv"] = regular_file("c/counts.csv", counts)
    return BasePool.build(files, TINY, gauges=["g/gauge.csv"], counts=["c/counts.csv"])


# --------------------------------------------------------------------------- generator


def test_generator_is_deterministic_and_seeded(tiny_pool: BasePool) -> None:
    first = generate(7, 42, tiny_pool, TINY)
    again = generate(7, 42, tiny_pool, TINY)
    other = generate(7, 43, tiny_pool, TINY)

    for a, b in zip(first, again, strict=True):
        assert a.timeline == b.timeline
        assert a.base == b.base
        np.testing.assert_array_equal(a.values, b.values)
    assert any(
        a.timeline != c.timeline or not np.array_equal(a.values, c.values)
        for a, c in zip(first, other, strict=True)
    )
    # Scenario i does not depend on how many scenarios were asked for.
    np.testing.assert_array_equal(generate(3, 42, tiny_pool, TINY)[2].values, first[2].values)
    assert [s.kind for s in first] == [
        "ramp",
        "step_creep",
        "variance",
        "leak",
        "counts",
        "control",
        "control",
    ]


def test_scenario_bookkeeping(tiny_pool: BasePool) -> None:
    for scenario in generate(7, 5, tiny_pool, TINY):
        tl = scenario.timeline
        ts = scenario.timestamps
        assert tl.eval_start == ts[TINY.history_steps - 1]
        assert tl.end == ts[-1]
        view = trailing_mean(scenario.values, TINY.view_steps)
        clean_view = trailing_mean(scenario.clean, TINY.view_steps)
        assert np.nanmax(clean_view) < scenario.slo  # the clean data never reached it
        if not tl.injected:
            np.testing.assert_array_equal(scenario.values, scenario.clean)
            assert tl.incident is None
            continue
        assert tl.onset is not None and tl.incident is not None
        assert TINY.onset_after[0] <= tl.onset - tl.eval_start <= TINY.onset_after[1]
        assert tl.incident - tl.onset >= TINY.min_lead
        before = ts < tl.onset
        np.testing.assert_array_equal(scenario.values[before], scenario.clean[before])
        at = int(np.searchsorted(ts, tl.incident))
        assert view[at] >= scenario.slo
        assert not np.any(view[:at][ts[:at] >= tl.onset] >= scenario.slo)


def test_slo_line_and_incident_on_a_hand_case() -> None:
    # Flat at 10: max == median, so the margin is 10% of |max| and the line is at 11.
    clean = np.full(60, 10.0)
    ts = 1_000_000 + STEP * np.arange(60, dtype=np.int64)
    assert slo_line(clean, 12, 0.1) == pytest.approx(11.0)
    # A ramp of 1/12 per step from row 20: the 12-sample mean at row 20 + j is
    # 10 + (j - 5.5) / 12, which reaches 11 first at j = 18 (j = 17.5 exactly).
    values = inject(
        "ramp",
        clean,
        onset_index=20,
        distance=1.0,
        level=10.0,
        duration_steps=12,
        rng=np.random.default_rng(0),
    )
    np.testing.assert_allclose(values[20:23], [10.0, 10 + 1 / 12, 10 + 2 / 12])
    assert incident_time(ts, values, 11.0, 20, 12) == ts[38]
    assert incident_time(ts, clean, 11.0, 20, 12) is None


def test_step_creep_and_leak_reach_the_distance_at_the_nominal_time() -> None:
    clean = np.zeros(30)
    rng = np.random.default_rng(0)
    step = inject(
        "step_creep", clean, onset_index=10, distance=2.0, level=1.0, duration_steps=10, rng=rng
    )
    leak = inject(
        "leak", clean, onset_index=10, distance=2.0, level=1.0, duration_steps=10, rng=rng
    )
    assert step[9] == 0.0 and step[10] == pytest.approx(0.8) and step[20] == pytest.approx(2.0)
    assert leak[10] == 0.0 and leak[20] == pytest.approx(2.0)
    assert 0 < leak[15] < 1.0  # slow first: well under half the distance at half the time


def test_make_scenario_kinds_and_families(tiny_pool: BasePool) -> None:
    counts = make_scenario(4, 1, tiny_pool, TINY)
    assert counts.kind == "counts" and counts.base == "c/counts.csv"
    extra = counts.values - counts.clean
    assert np.all(extra >= 0) and np.all(extra == np.round(extra))  # whole extra events
    assert make_scenario(0, 1, tiny_pool, TINY).base == "g/gauge.csv"


# --------------------------------------------------------------------------- baselines


def test_alert_starts_needs_for_and_keeps_firing() -> None:
    times = STEP * np.arange(40, dtype=np.int64)
    condition = np.zeros(40, dtype=bool)
    condition[5:7] = True  # a 2-sample blip: shorter than for: 15m, never fires
    condition[10:20] = True  # holds from t=3000: fires at 3000 + 900
    condition[21] = True  # back within keep_firing_for: the same alert

    intervals = alert_starts(times, condition, 900, 1800)

    # Absent from row 22 on: kept firing until 1800 s after that, resolved at row 28.
    assert intervals == [(int(times[13]), int(times[28]))]
    assert alert_starts(times, condition, 0, 0)[0] == (int(times[5]), int(times[7]))


def test_alert_starts_equals_alert_book() -> None:
    rng = np.random.default_rng(3)
    times = STEP * np.arange(1, 301, dtype=np.int64)
    condition = rng.random(300) < 0.6
    rule = make_rule(for_="10m", keep_firing_for="15m")
    finding = Finding(
        rule=rule.signal,
        labels={"series": "x"},
        kind=Kind.LEVEL_SHIFT,
        onset=0,
        detected_at=0,
        direction=Direction.UP,
        before=0.0,
        after=1.0,
        relative_change=1.0,
        score=7.0,
        explanation="",
    )
    book = AlertBook(rule)
    expected: list[int] = []
    for now, holds in zip(times.tolist(), condition.tolist(), strict=True):
        for transition in book.update([replace(finding, detected_at=now)] if holds else [], now):
            if transition.to.value == "firing":
                expected.append(transition.at)

    starts = [start for start, _ in alert_starts(times, condition, 600, 900)]

    assert starts == expected and starts


def test_static_threshold_fires_after_for() -> None:
    values = np.array([1.0] * 10 + [5.0] * 10 + [np.nan] * 2)
    times = STEP * np.arange(values.size, dtype=np.int64)
    condition = static_condition(values, 3.0)
    assert not condition[-1]  # a missing sample is not above the threshold
    assert [s for s, _ in alert_starts(times, condition, 900, 0)] == [int(times[13])]


def test_predict_linear_is_exact_on_a_line_and_matches_least_squares() -> None:
    values = 0.1 * np.arange(400, dtype=np.float64)
    predicted = predict_linear(values, STEP, 6 * HOUR, 24 * HOUR)
    # From two samples on: the line itself, 288 steps (24 h) ahead of the current sample.
    assert math.isnan(predicted[0])
    np.testing.assert_allclose(predicted[1:], values[1:] + 0.1 * 288, rtol=1e-9)

    rng = np.random.default_rng(1)
    noisy = rng.normal(0, 1, 200)
    noisy[50] = np.nan
    got = predict_linear(noisy, STEP, 6 * HOUR, 24 * HOUR)
    for k in (80, 120, 199):
        window = np.arange(k - 71, k + 1)
        keep = np.isfinite(noisy[window])
        slope, intercept = np.polyfit(window[keep], noisy[window][keep], 1)
        assert got[k] == pytest.approx(intercept + slope * (k + 288), rel=1e-9, abs=1e-9)

    # x = 0.1 k predicts 0.1 k + 28.8: above 40 from k = 113 on; fires 15 minutes later.
    condition = predict_linear_condition(values, STEP, 40.0)
    assert np.flatnonzero(condition)[0] == 113
    times = STEP * np.arange(values.size, dtype=np.int64)
    assert alert_starts(times, condition, 900, 1800)[0][0] == times[116]


def test_ewma_band_fires_on_a_jump_and_not_on_its_own_noise() -> None:
    n = 2 * 288
    values = 10.0 + 0.5 * np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    jumped = np.concatenate([values, np.full(6, 15.0)])
    condition = ewma_condition(jumped, STEP)
    assert not condition[:n].any()  # alternating +-0.5 never leaves mean +- 3 sigma
    assert condition[n:].all()  # 15 is ~10 sigma above: every jumped sample is outside
    assert not ewma_condition(np.full(20, 99.0), STEP).any()  # no verdict before 1 day


# --------------------------------------------------------------------------- metrics


def test_summary_arithmetic_on_a_hand_case() -> None:
    h = HOUR
    ramp = Timeline("ramp", eval_start=0, end=40 * h, onset=10 * h, incident=20 * h)
    leak = Timeline("leak", eval_start=0, end=40 * h, onset=4 * h, incident=14 * h)
    control = Timeline("control", eval_start=0, end=48 * h)
    alerts = [[5 * h, 12 * h, 25 * h], [], [1 * h, 30 * h]]

    summary = summarize("x", [ramp, leak, control], alerts)

    # Exposure: 10 h before the ramp's onset + 4 h before the leak's + 48 h of control.
    assert summary.exposure_days == pytest.approx(62 / 24)
    assert summary.false_alarms == 3  # 5 h on the ramp, 1 h and 30 h on the control
    assert summary.false_alarms_per_100_days == pytest.approx(100 * 3 / (62 / 24))
    assert summary.recall == 0.5 and summary.detected == 1 and summary.injected == 2
    assert summary.median_lead_s == 8 * h  # 20 h - 12 h
    assert summary.mean_earliness == pytest.approx((8 / 10 + 0) / 2)
    assert summary.recall_by_kind == {"leak": 0.0, "ramp": 1.0}


def test_warning_window_edges() -> None:
    tl = Timeline("ramp", eval_start=0, end=100, onset=10, incident=20)
    assert first_warning(tl, [10]) == 10  # at onset: counts
    assert first_warning(tl, [20]) is None  # at the incident: too late
    assert first_warning(tl, [25, 15, 12]) == 12
    assert false_alarms(tl, [0, 5, 10]) == (1, 10 / 86400)  # eval_start itself is not judged


def test_merged_starts_is_one_alert_stream() -> None:
    assert merged_starts([(0, 10), (5, 20), (30, None), (40, 50)]) == [0, 30]
    assert merged_starts([(20, 30), (0, 10)]) == [0, 20]
    assert merged_starts([]) == []
