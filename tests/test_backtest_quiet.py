"""False alarms on quiet weeks: which weeks, and the arithmetic."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.backtest.engine import (
    WEEK,
    BacktestSettings,
    QuietPeriods,
    QuietWeek,
    measure_quiet_weeks,
    quiet_week_candidates,
)
from adapters.backtest.wording import quiet_text
from adapters.cli.replay import rule_files_plan
from adapters.sources import default_sources
from detector.incident import Incident
from tests.backtest_fixtures import HOUR, MINI_SHIFT, T0, hand_incident, write_mini_rules

SETTINGS = BacktestSettings(lookback=14 * 86400, after=6 * HOUR, quiet_weeks=4)
MONDAY_EPOCH_OFFSET = 4 * 86400


def busy(incident: Incident, settings: BacktestSettings = SETTINGS) -> tuple[int, int]:
    return (
        incident.impact.start - settings.lookback,
        incident.impact.end + settings.after,
    )


def test_quiet_weeks_overlap_no_incident_window_and_start_on_monday() -> None:
    incidents = [hand_incident(), hand_incident(start=T0 + 40 * 86400, incident_id="later")]

    starts = quiet_week_candidates(incidents, SETTINGS)

    assert starts
    for start in starts:
        assert (start - MONDAY_EPOCH_OFFSET) % WEEK == 0
        for incident in incidents:
            low, high = busy(incident)
            assert start + WEEK <= low or start >= high


def test_the_order_of_quiet_weeks_is_fixed_and_survives_new_incidents() -> None:
    """Adding an incident removes the weeks it overlaps; the others keep their order,
    so the measured weeks change no more than they must."""
    first = quiet_week_candidates([hand_incident()], SETTINGS)
    again = quiet_week_candidates([hand_incident()], SETTINGS)
    extra = hand_incident(start=T0 + 6 * WEEK, incident_id="extra")
    both = quiet_week_candidates([hand_incident(), extra], SETTINGS)

    assert first == again
    assert first != sorted(first)  # pseudo-random, not chronological
    assert [s for s in first if s in set(both)] == [s for s in both if s in set(first)]


def test_false_alarms_per_week_is_firings_over_measured_weeks() -> None:
    weeks = (
        QuietWeek(0, WEEK, 0, 2),
        QuietWeek(WEEK, 2 * WEEK, 3, 2, (("A", 2), ("B", 1))),
        QuietWeek(2 * WEEK, 3 * WEEK, 1, 1, (("B", 1),)),
    )
    quiet = QuietPeriods(requested=4, weeks=weeks, candidates=9)

    assert quiet.firings == 4
    assert quiet.per_week == pytest.approx(4 / 3)
    assert quiet.by_rule() == [("A", 2), ("B", 2)]
    assert quiet_text(quiet) == (
        "1.3 false alarms per week: 4 firings over 3 quiet weeks with data (asked for 4; "
        "only 3 of the candidates had data); by rule: A 2, B 2."
    )


def test_no_weeks_measured_means_no_rate() -> None:
    assert QuietPeriods(requested=4).per_week is None


def test_a_firing_in_a_quiet_week_counts_and_weeks_without_data_are_skipped(
    tmp_path: Path,
) -> None:
    """The data (ten days) holds one shift; the incident is a month later, so the weeks
    with data are quiet: one of them holds the shift's firing, the other none."""
    plan = rule_files_plan([write_mini_rules(tmp_path)])
    incident = hand_incident(start=T0 + 40 * 86400)
    settings = BacktestSettings(lookback=3 * 86400, after=6 * HOUR, quiet_weeks=3)

    quiet = measure_quiet_weeks([incident], plan, default_sources(), settings)

    assert len(quiet.weeks) == 2
    (noisy,) = [w for w in quiet.weeks if w.firings]
    assert noisy.start < MINI_SHIFT <= noisy.end
    assert noisy.by_rule == (("CheckoutLatencyShift", 1),)
    assert quiet.per_week == pytest.approx(0.5)
