"""Invariant 1 (causality) and the replay equivalence it promises.

Replay computes features once and skips steps with a vectorised screen; these tests hold
it to exactly what a stand-alone ``evaluate`` on the data up to each step returns.
"""

from __future__ import annotations

import numpy as np

from detector.alerts import AlertBook, AlertState
from detector.evaluate import evaluate
from detector.replay import evaluation_times, replay_rule
from detector.rule import Rule
from detector.series import Series
from detector.testing import daily_pattern, make_rule, make_series

STEP = 600


def stepwise_firings(
    rule: Rule, series: Series, start: int, end: int
) -> list[tuple[int, int | None]]:
    """The slow reference: evaluate each step on the data up to it, no shared state."""
    book = AlertBook(rule)
    opened: dict[str, int] = {}
    firings: list[tuple[int, int | None]] = []
    for now in evaluation_times(start, end, STEP):
        visible = series.between(series.start - 1, int(now))
        for transition in book.update(evaluate(rule, visible, int(now)), int(now)):
            key = transition.alert.fingerprint
            if transition.to is AlertState.FIRING:
                opened[key] = transition.at
            elif transition.previous is AlertState.FIRING:
                firings.append((opened.pop(key), transition.at))
    firings.extend((started, None) for started in opened.values())
    return sorted(firings)


def replay_firings(
    rule: Rule, series: Series, start: int, end: int
) -> list[tuple[int, int | None]]:
    signals, _ = replay_rule(rule, group="g", interval=STEP, series=[series], start=start, end=end)
    return sorted((f.start, f.end) for s in signals for f in s.firings)


def shifted_seasonal_series() -> Series:
    rng = np.random.default_rng(7)
    n = 7 * 144
    values = 100 + daily_pattern(n, STEP) + rng.normal(0, 2, n)
    values[int(5.5 * 144) : int(6.2 * 144)] += 30  # a shift that later recovers
    values[6 * 144 + 10] = 500  # a one-off spike
    values[300:310] = np.nan  # a gap
    return make_series(values, step=STEP)


def test_replay_matches_stepwise_evaluation_with_seasonality() -> None:
    series = shifted_seasonal_series()
    rule = make_rule(window="2d", detect=["level_shift", "trend", "variance"], for_="30m")
    start, end = series.start + 5 * 86400, series.end  # the day before the shift, and on

    expected = stepwise_firings(rule, series, start, end)

    assert expected, "the planted shift must fire, or this test proves nothing"
    assert replay_firings(rule, series, start, end) == expected


def test_replay_matches_stepwise_evaluation_without_seasonality() -> None:
    rng = np.random.default_rng(3)
    values = np.r_[rng.normal(50, 1, 300), np.linspace(50, 65, 200) + rng.normal(0, 1, 200)]
    series = make_series(values, step=STEP)
    rule = make_rule(window="1d", seasonality="none", detect=["level_shift", "trend"], for_="0s")
    start, end = series.start + 2 * 86400, series.end

    expected = stepwise_firings(rule, series, start, end)

    assert expected
    assert replay_firings(rule, series, start, end) == expected


def test_evaluation_never_reads_samples_after_now() -> None:
    series = shifted_seasonal_series()
    rule = make_rule(window="2d", detect=["level_shift"])
    now = series.start + int(5.9 * 86400)
    future_changed = series.values.copy()
    future_changed[series.index_at(now) :] = 1e9
    altered = Series(series.labels, series.timestamps, future_changed, series.step)

    assert evaluate(rule, series, now) == evaluate(rule, altered, now)
    assert evaluate(rule, series, now), "the shift is visible at this time"
