"""Classifying a replay around an incident: early, only after, silent, on hand-made cases."""

from __future__ import annotations

from adapters.backtest.engine import IncidentResult, Verdict, classify
from detector.incident import Incident
from detector.replay import ReplayResult
from tests.backtest_fixtures import (
    HOUR,
    T0,
    hand_incident,
    hand_outcome,
    hand_result,
    hand_signal,
)

CHECKOUT = {"__name__": "latency", "service": "checkout"}
CART = {"__name__": "latency", "service": "cart"}


def verdict_of(incident: Incident, result: ReplayResult) -> IncidentResult:
    early, late, silent, errors, unwatched = classify(incident, result)
    return IncidentResult(incident, result, early, late, silent, errors, unwatched)


def test_a_firing_before_impact_is_an_early_signal_with_its_lead_time() -> None:
    signal = hand_signal("Creep", CHECKOUT, (T0 - 5 * HOUR, T0 - 4 * HOUR))

    judged = verdict_of(hand_incident(), hand_result([signal], [hand_outcome("Creep")]))

    assert judged.verdict is Verdict.EARLY
    assert [(t.signal.rule, t.lead) for t in judged.early] == [("Creep", 5 * HOUR)]
    assert judged.ahead_of_humans == 5 * HOUR + 1200


def test_a_firing_only_after_impact_is_late_not_caught() -> None:
    signal = hand_signal("Creep", CHECKOUT, (T0 + HOUR, None))

    judged = verdict_of(hand_incident(), hand_result([signal], [hand_outcome("Creep")]))

    assert judged.verdict is Verdict.LATE
    assert not judged.caught
    assert [t.lead for t in judged.late] == [-HOUR]


def test_a_firing_exactly_at_impact_is_late() -> None:
    signal = hand_signal("Creep", CHECKOUT, (T0, None))

    judged = verdict_of(hand_incident(), hand_result([signal], [hand_outcome("Creep")]))

    assert judged.verdict is Verdict.LATE


def test_the_lead_comes_from_the_first_firing_before_impact() -> None:
    signal = hand_signal("Creep", CHECKOUT, (T0 + HOUR, None), (T0 - 3 * HOUR, T0 - 2 * HOUR))

    (early,) = verdict_of(hand_incident(), hand_result([signal], [hand_outcome("Creep")])).early

    assert early.lead == 3 * HOUR


def test_a_watching_rule_that_never_fired_is_silent_and_the_incident_missed() -> None:
    result = hand_result([], [hand_outcome("Creep", series_count=2)])

    judged = verdict_of(hand_incident(), result)

    assert judged.verdict is Verdict.MISSED
    assert [o.rule for o in judged.silent] == ["Creep"]


def test_a_rule_without_series_of_the_services_does_not_watch_them() -> None:
    judged = verdict_of(hand_incident(), hand_result([], [hand_outcome("Other", series_count=0)]))

    assert judged.verdict is Verdict.UNWATCHED
    assert [o.rule for o in judged.unwatched] == ["Other"]


def test_a_failed_rule_makes_the_verdict_unknown_when_nothing_watched() -> None:
    result = hand_result([], [hand_outcome("Down", series_count=0, error="connection refused")])

    assert verdict_of(hand_incident(), result).verdict is Verdict.ERROR


def test_silence_outranks_a_failed_rule() -> None:
    outcomes = [hand_outcome("Creep"), hand_outcome("Down", series_count=0, error="refused")]

    assert verdict_of(hand_incident(), hand_result([], outcomes)).verdict is Verdict.MISSED


def test_firings_on_series_of_other_services_do_not_count() -> None:
    signal = hand_signal("Creep", CART, (T0 - 5 * HOUR, None))

    judged = verdict_of(hand_incident(), hand_result([signal], [hand_outcome("Creep")]))

    assert judged.early == []
    assert judged.verdict is Verdict.MISSED


def test_rule_labels_put_a_signal_on_the_affected_service() -> None:
    unlabelled = {"series": "machine_temperature"}
    signal = hand_signal(
        "Shift", unlabelled, (T0 - HOUR, None), rule_labels={"service": "checkout"}
    )

    judged = verdict_of(hand_incident(), hand_result([signal], [hand_outcome("Shift")]))

    assert judged.verdict is Verdict.EARLY


def test_early_signals_are_ordered_by_their_firing() -> None:
    later = hand_signal("A", CHECKOUT, (T0 - HOUR, None))
    earlier = hand_signal("B", {**CHECKOUT, "pod": "p1"}, (T0 - 9 * HOUR, None))
    outcomes = [hand_outcome("A"), hand_outcome("B")]

    judged = verdict_of(hand_incident(), hand_result([later, earlier], outcomes))

    assert [t.signal.rule for t in judged.early] == ["B", "A"]
    assert judged.earliest_lead == 9 * HOUR
