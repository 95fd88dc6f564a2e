"""The notification payload: what Alertmanager, webhooks and Slack are told."""

from __future__ import annotations

import json
import math

import pytest

from adapters.notify.payload import notification_for, relative_change_text
from adapters.timeparse import format_rfc3339
from detector.alerts import AlertBook, AlertState, Transition
from tests.notify_builders import (
    REPLAY_HINT,
    RESEND_INTERVAL,
    alerting_rule,
    fire,
    make_finding,
    payload_for,
    resolve,
)

T0 = 1_795_168_800  # 2026-11-20T10:00:00Z


def firing(**rule_fields: object) -> tuple[Transition, AlertBook]:
    book = AlertBook(alerting_rule(**rule_fields))
    transition = fire(book, T0)[-1]
    assert transition.to is AlertState.FIRING
    return transition, book


def test_labels_are_the_alerts_labels_with_name_kind_and_rule_labels() -> None:
    transition, book = firing()
    payload = payload_for(transition, book.rule, now=T0)
    assert payload["labels"] == {
        "alertname": "CheckoutLatencyCreep",
        "graysignal_kind": "trend",
        "service": "checkout",
        "severity": "warning",
        "team": "payments",
    }


def test_annotations_explain_the_finding_and_keep_the_rules_own() -> None:
    transition, book = firing()
    annotations = payload_for(transition, book.rule, now=T0)["annotations"]
    assert annotations == {
        "runbook_url": "https://runbooks.example/checkout-latency",
        "summary": 'CheckoutLatencyCreep: trend on latency_p99{service="checkout"}',
        "explanation": make_finding(T0).explanation,
        "onset": "2026-11-20T04:00:00Z",
        "relative_change": "+18%",
        "score": "7.2",
        "replay": REPLAY_HINT,
    }


def test_the_rules_summary_annotation_wins_over_the_generated_one() -> None:
    transition, book = firing(annotations={"summary": "Checkout is getting slower"})
    annotations = payload_for(transition, book.rule, now=T0)["annotations"]
    assert annotations["summary"] == "Checkout is getting slower"


def test_the_finding_wins_over_a_rule_annotation_with_a_reserved_name() -> None:
    transition, book = firing(annotations={"explanation": "static text"})
    annotations = payload_for(transition, book.rule, now=T0)["annotations"]
    assert annotations["explanation"] == make_finding(T0).explanation


def test_a_firing_alert_ends_four_resend_intervals_from_now() -> None:
    transition, book = firing()
    payload = payload_for(transition, book.rule, now=T0 + 30)
    assert payload["status"] == "firing"
    assert payload["startsAt"] == format_rfc3339(T0)
    assert payload["endsAt"] == format_rfc3339(T0 + 30 + 4 * RESEND_INTERVAL)


def test_a_resolved_alert_keeps_its_start_and_ends_when_it_resolved() -> None:
    _, book = firing()
    (resolved,) = resolve(book, T0 + 600)
    payload = payload_for(resolved, book.rule, now=T0 + 600)
    assert payload["status"] == "resolved"
    assert (payload["startsAt"], payload["endsAt"]) == (
        format_rfc3339(T0),
        format_rfc3339(T0 + 600),
    )


def test_pending_transitions_are_not_notifications() -> None:
    book = AlertBook(alerting_rule(for_="10m"))
    (pending,) = fire(book, T0)
    with pytest.raises(ValueError, match="pending is not notified"):
        payload_for(pending, book.rule, now=T0)


def test_payload_is_strict_json_even_for_a_change_from_zero() -> None:
    book = AlertBook(alerting_rule())
    transition = fire(book, T0, make_finding(T0, relative_change=math.inf))[-1]
    payload = payload_for(transition, book.rule, now=T0)
    decoded = json.loads(json.dumps(payload, allow_nan=False))
    assert decoded["finding"]["relative_change"] is None
    assert decoded["annotations"]["relative_change"] == "up from zero"


def test_payload_carries_the_finding_and_fingerprint_for_webhook_consumers() -> None:
    transition, book = firing()
    payload = payload_for(transition, book.rule, now=T0)
    assert payload["fingerprint"] == transition.alert.fingerprint
    assert payload["finding"]["onset"] == T0 - 6 * 3600
    assert payload["finding"]["labels"] == {"__name__": "latency_p99", "service": "checkout"}


def test_generator_url_is_included_only_when_given() -> None:
    transition, book = firing()
    plain = payload_for(transition, book.rule, now=T0)
    linked = notification_for(
        transition,
        book.rule,
        now=T0,
        resend_interval=RESEND_INTERVAL,
        replay_hint=REPLAY_HINT,
        generator_url="http://graysignal:9786/",
    )
    assert "generatorURL" not in plain
    assert linked["generatorURL"] == "http://graysignal:9786/"


@pytest.mark.parametrize(
    ("fraction", "text"),
    [(0.18, "+18%"), (-0.045, "-4.5%"), (-math.inf, "down from zero"), (math.nan, "unknown")],
)
def test_relative_change_reads_with_its_sign(fraction: float, text: str) -> None:
    assert relative_change_text(fraction) == text
