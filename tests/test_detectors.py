"""Each kind finds what it is for, says what changed, since when and by how much."""

from __future__ import annotations

import numpy as np
import pytest

from detector.evaluate import evaluate
from detector.finding import Direction, Kind
from detector.testing import daily_pattern, make_rule, make_series

DAY = 86400
STEP = 300
PER_DAY = DAY // STEP


def noisy(n: int, level: float = 100.0, sigma: float = 2.0, seed: int = 1) -> np.ndarray:
    return level + np.random.default_rng(seed).normal(0, sigma, n)


def test_level_shift_reports_levels_onset_and_direction() -> None:
    values = noisy(10 * PER_DAY)
    change_at = int(9.5 * PER_DAY)
    values[change_at:] += 25
    series = make_series(values)

    (finding,) = evaluate(make_rule(detect=["level_shift"]), series, series.end)

    assert finding.kind is Kind.LEVEL_SHIFT
    assert finding.direction is Direction.UP
    assert finding.before == pytest.approx(100, abs=1)
    assert finding.after == pytest.approx(125, abs=1.5)
    assert finding.relative_change == pytest.approx(0.25, abs=0.02)
    assert abs(finding.onset - int(series.timestamps[change_at])) <= 3600
    assert finding.detected_at == series.end
    assert "rose 25%" in finding.explanation


def test_slow_creep_is_a_trend_with_slope_per_day() -> None:
    n = 10 * PER_DAY
    values = noisy(n, sigma=1.0)
    creep_from = 6 * PER_DAY
    values[creep_from:] += np.arange(n - creep_from) * (5.0 / PER_DAY)  # +5 per day
    series = make_series(values)

    findings = evaluate(make_rule(detect=["level_shift", "trend"]), series, series.end)

    (trend,) = [f for f in findings if f.kind is Kind.TREND]
    assert trend.slope_per_day == pytest.approx(5.0, rel=0.2)
    assert abs(trend.onset - int(series.timestamps[creep_from])) <= DAY / 2
    assert "still rising" in trend.explanation
    assert Kind.LEVEL_SHIFT not in {f.kind for f in findings}, "a creep is not reported as a step"


def test_growing_jitter_is_a_variance_finding() -> None:
    rng = np.random.default_rng(5)
    n = 10 * PER_DAY
    sigma = np.where(np.arange(n) >= int(9 * PER_DAY), 6.0, 1.0)
    series = make_series(100 + rng.normal(0, 1, n) * sigma)

    (finding,) = evaluate(make_rule(detect=["variance"]), series, series.end)

    assert finding.kind is Kind.VARIANCE
    assert finding.after / finding.before == pytest.approx(6.0, rel=0.35)
    assert "noisier" in finding.explanation


def test_rising_error_counts_are_a_volume_finding() -> None:
    rng = np.random.default_rng(2)
    n = 10 * PER_DAY
    rate = np.where(np.arange(n) >= int(9.3 * PER_DAY), 6.0, 2.0)
    series = make_series(rng.poisson(rate).astype(float), labels={"level": "ERROR"})

    (finding,) = evaluate(make_rule(detect=["volume"], seasonality="none"), series, series.end)

    assert finding.kind is Kind.VOLUME
    assert finding.after / finding.before == pytest.approx(3.0, rel=0.3)
    assert 'level="ERROR"' in finding.explanation


def test_filling_disk_reports_time_to_limit() -> None:
    n = 10 * PER_DAY
    used = 50 + np.arange(n) * (4.0 / PER_DAY) + noisy(n, level=0, sigma=0.3)  # +4 %/day
    series = make_series(used, labels={"mount": "/var"})

    (finding,) = evaluate(
        make_rule(detect=["exhaustion"], limit=100, horizon="7d"), series, series.end
    )

    expected_days = (100 - used[-1]) / 4.0
    assert finding.kind is Kind.EXHAUSTION
    assert finding.time_to_limit is not None
    assert finding.time_to_limit / DAY == pytest.approx(expected_days, rel=0.15)
    assert "heading for its limit of 100" in finding.explanation


def test_daily_seasonality_is_not_a_finding_but_a_shift_on_top_of_it_is() -> None:
    n = 12 * PER_DAY
    base = 100 + daily_pattern(n, STEP, amplitude=40) + noisy(n, level=0, sigma=1.5)
    rule = make_rule(detect=["level_shift", "trend", "variance"])
    quiet = make_series(base)
    shifted_values = base.copy()
    shifted_values[int(11.6 * PER_DAY) :] += 15
    shifted = make_series(shifted_values)

    assert evaluate(rule, quiet, quiet.end) == []
    findings = evaluate(rule, shifted, shifted.end)
    assert [f.kind for f in findings] == [Kind.LEVEL_SHIFT]
    assert findings[0].seasonality == "daily"
    assert "daily seasonality removed" in findings[0].explanation


def test_direction_up_ignores_a_drop() -> None:
    values = noisy(10 * PER_DAY)
    values[int(9.5 * PER_DAY) :] -= 30
    series = make_series(values)

    assert evaluate(make_rule(direction="up"), series, series.end) == []
    assert evaluate(make_rule(direction="down"), series, series.end) != []


def test_change_below_min_change_is_not_reported() -> None:
    values = noisy(10 * PER_DAY, sigma=0.2)
    values[int(9.5 * PER_DAY) :] += 5  # clear in sigma, but only 5%
    series = make_series(values)

    assert evaluate(make_rule(min_change="10%"), series, series.end) == []
    assert evaluate(make_rule(min_change="3%"), series, series.end) != []


def test_same_data_gives_the_same_findings() -> None:
    values = noisy(10 * PER_DAY)
    values[int(9.4 * PER_DAY) :] += 20
    series = make_series(values)
    rule = make_rule(detect=["level_shift", "trend", "variance"])

    assert evaluate(rule, series, series.end) == evaluate(rule, series, series.end)
