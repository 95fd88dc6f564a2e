"""The alert state machine as a table, like promtool's rule unit tests.

Each row: the evaluation times at which the rule's finding is present, and the
transitions expected, for ``for: 10m`` and ``keep_firing_for: 5m`` at a 1-minute interval.
"""

from __future__ import annotations

import pytest

from detector.alerts import AlertBook, AlertState
from detector.finding import Direction, Finding, Kind
from detector.testing import make_rule

MIN = 60


def finding(now: int, kind: Kind = Kind.TREND) -> Finding:
    return Finding(
        rule="TestSignal",
        labels={"service": "checkout"},
        kind=kind,
        onset=now - 3600,
        detected_at=now,
        direction=Direction.UP,
        before=1.0,
        after=1.2,
        relative_change=0.2,
        score=7.0,
        explanation="x",
    )


def run(present_at: set[int], minutes: int) -> list[tuple[int, str]]:
    book = AlertBook(make_rule(for_="10m", keep_firing_for="5m"))
    out: list[tuple[int, str]] = []
    for minute in range(minutes):
        now = minute * MIN
        findings = [finding(now)] if minute in present_at else []
        out += [(minute, t.to.value) for t in book.update(findings, now)]
    return out


TABLE = [
    ("short blip never fires", set(range(3, 8)), [(3, "pending"), (8, "inactive")]),
    (
        "fires after for, resolves after keep_firing_for",
        set(range(0, 15)),
        [(0, "pending"), (10, "firing"), (20, "inactive")],
    ),
    (
        "flapping near the threshold keeps firing",
        set(range(0, 12)) | {14, 17, 19},
        [(0, "pending"), (10, "firing"), (25, "inactive")],
    ),
]


@pytest.mark.parametrize(("name", "present", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_alert_transitions(name: str, present: set[int], expected: list[tuple[int, str]]) -> None:
    assert run(present, 40) == expected


def test_alert_labels_carry_rule_labels_alertname_and_kind() -> None:
    rule = make_rule(for_="0s", labels={"severity": "warning", "team": "payments"})
    book = AlertBook(rule)

    (_pending, firing) = book.update([finding(0)], 0)

    assert firing.to is AlertState.FIRING
    assert firing.alert.labels == {
        "service": "checkout",
        "severity": "warning",
        "team": "payments",
        "alertname": "TestSignal",
        "graysignal_kind": "trend",
    }


def test_each_kind_on_one_series_is_its_own_alert() -> None:
    book = AlertBook(make_rule(for_="0s"))

    book.update([finding(0, Kind.TREND), finding(0, Kind.LEVEL_SHIFT)], 0)

    assert len(book.firing()) == 2
