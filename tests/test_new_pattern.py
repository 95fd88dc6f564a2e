"""The new_pattern kind: silent in the baseline, now steady; never one stray line.

Table-like cases over one template's counts per 10 minutes, judged at ``NOW`` with the
default 7d window through ``evaluate``, as the daemon and replay call it (the judgement
is on the monitor's hourly block counts, ``detector.patterns.assess_blocks``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from detector.evaluate import evaluate
from detector.finding import Finding, Kind
from detector.replay import replay_rule
from detector.rule import Rule
from detector.series import Series

STEP = 600
HOUR, DAY = 3600, 86400
WINDOW = 7 * DAY
NOW = 1_795_000_000 - 1_795_000_000 % DAY + 12 * HOUR
TIMES = np.arange(NOW - 14 * DAY + STEP, NOW + STEP, STEP, dtype=np.int64)
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


def judge(values: np.ndarray, times: np.ndarray = TIMES) -> Finding | None:
    found = evaluate(rule(), Series(LABELS, times, values, STEP), NOW)
    assert len(found) <= 1
    return found[0] if found else None


def test_a_template_appearing_a_few_times_an_hour_is_new() -> None:
    found = judge(counts(*every(20 * 60, since=5 * HOUR)))

    assert found is not None
    # Block resolution: the first line (the 10 minutes ending 5 h ago) fell in the hour
    # that started 6 h ago, and first_seen is the start of that hour.
    assert NOW - 6 * HOUR <= found.extra["first_seen"] <= NOW - 5 * HOUR
    assert found.extra["lines"] == 16
    assert found.extra["rate_per_hour"] == pytest.approx(3.0, rel=0.1)
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


def test_replay_finds_it_when_evaluate_at_each_step_does() -> None:
    values = counts(*every(20 * 60, since=10 * HOUR))
    series = Series(LABELS, TIMES, values, STEP)
    start = NOW - 12 * HOUR

    signals, _ = replay_rule(
        rule(for_=0), group="g", interval=STEP, series=[series], start=start, end=NOW
    )

    stepwise = [
        int(t)
        for t in TIMES[start < TIMES]
        if evaluate(rule(), series.between(series.start - 1, int(t)), int(t))
    ]
    assert stepwise, "the new template must be found, or this proves nothing"
    assert [f.start for s in signals for f in s.firings] == [stepwise[0]]


def rule(**fields: object) -> Rule:
    if "for_" in fields:
        fields["for"] = fields.pop("for_")
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
    assert NOW - 6 * HOUR <= finding.onset <= NOW - 5 * HOUR  # the first sighting's hour
    assert math.isinf(finding.relative_change)
    assert finding.extra["rate_per_hour"] == pytest.approx(3.0, rel=0.1)
    assert finding.extra["first_seen"] == finding.onset
    text = finding.explanation
    assert text.startswith(
        'new ERROR pattern "connection pool exhausted for <*> after <NUM> ms" '
        '{log="service", pattern="9b784a48"} first seen'
    )
    assert "now 3/h (16 lines in 6 of 6 hours)" in text
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
