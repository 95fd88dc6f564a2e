"""Which findings an ack or an expectation covers (detector/suppressions.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from detector.finding import Finding, Kind
from detector.suppressions import (
    EXPECT_ONSET_GRACE,
    Action,
    Suppression,
    split_suppressed,
)
from tests.notify_builders import SERIES, make_finding

DAY = 86_400
NOW = 1_795_000_000


def ack(**fields: object) -> Suppression:
    data: dict[str, object] = {
        "action": Action.ACK,
        "rule": "CheckoutLatencyCreep",
        "matchers": {"service": "checkout"},
        "reason": "known batch job",
        "since": NOW - DAY,
        "until": NOW + 30 * DAY,
        "by": "ana",
        "kind": Kind.TREND,
        "change": 0.18,
    }
    data.update(fields)
    return Suppression(**data)  # type: ignore[arg-type]


def expect(**fields: object) -> Suppression:
    data: dict[str, object] = {
        "action": Action.EXPECT,
        "rule": "CheckoutLatencyCreep",
        "matchers": {"service": "checkout"},
        "reason": "new feature launched",
        "since": NOW - 2 * DAY,
        "until": None,
        "change": 0.20,
    }
    data.update(fields)
    return Suppression(**data)  # type: ignore[arg-type]


def finding(change: float, kind: Kind = Kind.TREND, onset: int = NOW - DAY) -> Finding:
    return replace(make_finding(NOW, kind=kind, relative_change=change), onset=onset)


def test_ack_covers_its_alert_until_the_effect_doubles() -> None:
    entry = ack()
    assert entry.covers(finding(0.18), NOW)
    assert entry.covers(finding(0.35), NOW)  # grown, but not yet twice the acked 18%
    assert not entry.covers(finding(0.36), NOW)  # doubled: news again
    assert not entry.covers(finding(-0.18), NOW)  # turned around: news again


def test_ack_never_hides_a_new_kind_on_the_same_series() -> None:
    entry = ack(kind=Kind.LEVEL_SHIFT)
    assert entry.covers(finding(0.18, Kind.LEVEL_SHIFT), NOW)
    for other in (Kind.TREND, Kind.VARIANCE, Kind.EXHAUSTION):
        assert not entry.covers(finding(0.18, other), NOW)


def test_ack_holds_only_between_its_date_and_expiry() -> None:
    entry = ack(since=NOW, until=NOW + DAY)
    assert not entry.covers(finding(0.18), NOW - 1)
    assert entry.covers(finding(0.18), NOW + DAY - 1)
    assert not entry.covers(finding(0.18), NOW + DAY)
    assert entry.expired(NOW + DAY) and not entry.expired(NOW)


def test_ack_without_a_known_effect_ends_only_at_expiry() -> None:
    assert ack(change=None).covers(finding(5.0), NOW)


def test_matchers_select_series_by_exact_label_values() -> None:
    other = replace(finding(0.18), labels={**SERIES, "service": "search"})
    assert not ack().covers(other, NOW)
    assert ack(matchers={}).covers(other, NOW)  # no matchers: every series of the rule
    assert not ack(rule="SomethingElse").covers(finding(0.18), NOW)


def test_expected_change_explains_up_to_one_and_a_half_times_its_size() -> None:
    entry = expect()
    assert entry.covers(finding(0.20, Kind.LEVEL_SHIFT), NOW)
    assert entry.covers(finding(0.30, Kind.TREND), NOW)
    assert not entry.covers(finding(0.60, Kind.LEVEL_SHIFT), NOW)  # beyond the launch
    assert not entry.covers(finding(-0.20, Kind.LEVEL_SHIFT), NOW)  # the other way


def test_expected_change_never_explains_variance_or_exhaustion() -> None:
    entry = expect()
    assert not entry.covers(finding(0.20, Kind.VARIANCE), NOW)
    assert not entry.covers(finding(0.20, Kind.EXHAUSTION), NOW)
    assert entry.covers(finding(0.20, Kind.VOLUME), NOW)


def test_expected_change_does_not_explain_an_older_change() -> None:
    entry = expect(since=NOW - 2 * DAY)
    assert entry.covers(finding(0.2, onset=NOW - 2 * DAY - EXPECT_ONSET_GRACE), NOW)
    assert not entry.covers(finding(0.2, onset=NOW - 2 * DAY - EXPECT_ONSET_GRACE - 1), NOW)


def test_expected_change_does_not_explain_a_later_change_of_the_same_size() -> None:
    entry = expect(since=NOW - 90 * DAY)
    assert entry.covers(finding(0.2, onset=NOW - 90 * DAY + EXPECT_ONSET_GRACE), NOW)
    assert not entry.covers(finding(0.2, onset=NOW - 90 * DAY + EXPECT_ONSET_GRACE + 1), NOW)
    assert not entry.covers(finding(0.25, Kind.LEVEL_SHIFT, onset=NOW - DAY), NOW)


def exhaustion(time_to_limit: float | None) -> Finding:
    return replace(finding(0.05, Kind.EXHAUSTION), time_to_limit=time_to_limit)


def test_an_exhaustion_ack_holds_until_the_time_left_halves() -> None:
    entry = ack(kind=Kind.EXHAUSTION, change=0.058, time_to_limit=26 * DAY)
    assert entry.covers(exhaustion(14 * DAY), NOW)  # a steady fill, as acknowledged
    assert not entry.covers(exhaustion(13 * DAY), NOW)  # half the time left: news again
    # The level relative to the window stays flat while a disk fills at a steady rate,
    # so a relative change must never be what keeps an exhaustion ack alive.
    assert not ack(kind=Kind.EXHAUSTION, change=0.058).covers(exhaustion(2 * DAY), NOW)
    assert not entry.covers(exhaustion(None), NOW)


def test_infinite_change_from_zero_is_never_covered() -> None:
    assert not ack(change=0.5).covers(finding(float("inf")), NOW)
    assert not expect().covers(finding(float("inf"), Kind.LEVEL_SHIFT), NOW)


def test_split_keeps_every_finding_and_names_the_first_covering_entry() -> None:
    first, second = ack(reason="first"), ack(reason="second")
    new_kind = finding(0.18, Kind.VARIANCE)
    kept, covered = split_suppressed([finding(0.18), new_kind], [first, second], now=NOW)
    assert kept == [new_kind]
    assert [c.suppression.reason for c in covered] == ["first"]


@pytest.mark.parametrize(
    ("entry", "text"),
    [
        (ack(until=NOW), "acknowledged by ana until 2026-11-18 (known batch job)"),
        (expect(by=None), "expected +20% from 2026-11-16 (new feature launched)"),
    ],
)
def test_describe_reads_as_a_phrase(entry: Suppression, text: str) -> None:
    assert entry.describe() == text
