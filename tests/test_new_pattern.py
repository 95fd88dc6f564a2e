"""The new_pattern kind: silent in the baseline, now steady; never one stray line.

Table-like cases over one template's counts per 10 minutes, judged at ``NOW`` with the
default 7d window (``detector.patterns``), then the same through ``evaluate`` as the
daemon and replay call it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from detector.evaluate import evaluate
from detector.finding import Kind
from detector.patterns import THRESHOLDS, assess_new_pattern, new_pattern_candidates
from detector.rule import Rule, Sensitivity
from detector.series import Series

STEP = 600
HOUR, DAY = 3600, 86400
WINDOW = 7 * DAY
NOW = 1_795_000_000 - 1_795_000_000 % DAY + 12 * HOUR
TIMES = np.arange(NOW - 14 * DAY + STEP, NOW + STEP, STEP, dtype=np.int64)
MEDIUM = THRESHOLDS[Sensitivity.MEDIUM]
LABELS = {
    "log": "service",
    "level": "ERROR",
    "pattern": "9b784a48",
    "template": "connection pool exhausted for <*> after <NUM> ms",
    "sample": "2026-11-18T10:07:28Z ERROR connection pool exhausted for db-7 after 7349 ms",
}


def counts(*lines: tuple[int, int]) -> np.ndarray:
    """Zero everywhere, ``n`` lines in the slot ``seconds_before_now`` before ``NOW``."""
    values = np.zeros(TIMES.size)
    for before, n in lines:
        values[int(np.searchsorted(TIMES, NOW - before))] += n
    return values


def every(step: int, since: int, until: int = 0, n: int = 1) -> list[tuple[int, int]]:
    """``n`` lines every ``step`` seconds from ``since`` to ``until`` seconds before now."""
    return [(before, n) for before in range(since, until - 1, -step)]


def judge(values: np.ndarray, times: np.ndarray = TIMES) -> object:
    return assess_new_pattern(times, values, now=NOW, window=WINDOW, step=STEP, thresholds=MEDIUM)


def test_a_template_appearing_a_few_times_an_hour_is_new() -> None:
    found = judge(counts(*every(20 * 60, since=5 * HOUR)))

    assert found is not None
    assert found.first_seen == NOW - 5 * HOUR
    assert found.lines == 16
    assert found.rate_per_hour == pytest.approx(3.0, rel=0.1)
    assert found.score >= 6


def test_one_stray_line_is_not_new() -> None:
    assert judge(counts((3 * HOUR, 1))) is None


def test_one_burst_is_not_new() -> None:
    assert judge(counts((2 * HOUR, 200))) is None


def test_two_hours_of_lines_are_not_yet_sustained() -> None:
    assert judge(counts(*every(10 * 60, since=HOUR + 50 * 60))) is None


def test_a_template_seen_in_the_baseline_is_not_new() -> None:
    assert judge(counts((5 * DAY, 1), *every(20 * 60, since=5 * HOUR))) is None


def test_a_template_that_stopped_a_day_ago_is_no_longer_reported() -> None:
    assert judge(counts(*every(20 * 60, since=2 * DAY, until=DAY + 12 * HOUR))) is None


def test_without_half_a_window_of_observed_silence_nothing_is_new() -> None:
    recent = TIMES > NOW - 3 * DAY  # the log began three days ago
    values = counts(*every(20 * 60, since=5 * HOUR))

    assert judge(values[recent], TIMES[recent]) is None


def test_unknown_slots_are_not_silence() -> None:
    values = counts(*every(20 * 60, since=5 * HOUR))
    values[TIMES < NOW - 3 * DAY] = np.nan  # e.g. Loki no longer holds patterns that old

    assert judge(values) is None


def test_a_template_first_seen_more_than_half_a_window_ago_is_no_longer_new() -> None:
    assert judge(counts(*every(20 * 60, since=4 * DAY))) is None


def test_candidates_never_reject_a_position_the_judgement_accepts() -> None:
    values = counts(*every(20 * 60, since=4 * DAY, until=2 * DAY), *every(15 * 60, since=10 * HOUR))
    mask = new_pattern_candidates(TIMES, values, window=WINDOW, step=STEP, thresholds=MEDIUM)

    accepted = [
        i
        for i in range(TIMES.size)
        if assess_new_pattern(
            TIMES, values, now=int(TIMES[i]), window=WINDOW, step=STEP, thresholds=MEDIUM
        )
    ]

    assert accepted
    assert all(mask[i] for i in accepted)
    assert not mask.all()


def rule(**fields: object) -> Rule:
    return Rule.model_validate(
        {
            "signal": "NewErrors",
            "source": "logfile",
            "path": "service.log",
            "log": {"by": "pattern"},
            "step": STEP,
            "detect": ["new_pattern"],
            **fields,
        }
    )


def test_evaluate_reports_template_first_sighting_rate_and_a_sample() -> None:
    series = Series(LABELS, TIMES, counts(*every(20 * 60, since=5 * HOUR)), STEP)

    (finding,) = evaluate(rule(), series, NOW)

    assert finding.kind is Kind.NEW_PATTERN
    assert finding.onset == NOW - 5 * HOUR
    assert math.isinf(finding.relative_change)
    assert finding.extra["rate_per_hour"] == pytest.approx(3.0, rel=0.1)
    assert finding.extra["first_seen"] == NOW - 5 * HOUR
    text = finding.explanation
    assert text.startswith(
        'new ERROR pattern "connection pool exhausted for <*> after <NUM> ms" '
        '{log="service", pattern="9b784a48"} first seen'
    )
    assert "now 3.1/h (16 lines in 6 of 6 hours)" in text
    assert 'e.g. "2026-11-18T10:07:28Z ERROR connection pool exhausted for db-7' in text


def test_a_rule_watching_only_falls_never_reports_new_templates() -> None:
    series = Series(LABELS, TIMES, counts(*every(20 * 60, since=5 * HOUR)), STEP)

    assert evaluate(rule(direction="down"), series, NOW) == []


def test_on_a_count_series_without_templates_it_says_the_count_became_non_zero() -> None:
    series = Series(
        {"__name__": "payment_refusals"}, TIMES, counts(*every(1200, since=5 * HOUR)), STEP
    )

    (finding,) = evaluate(rule(), series, NOW)

    assert finding.explanation.startswith("payment_refusals newly non-zero, first seen")
