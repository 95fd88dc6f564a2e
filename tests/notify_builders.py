"""Builders for the ledger and notification tests: a rule, findings, real transitions.

Transitions come from a real :class:`AlertBook` (``for: 0``, ``keep_firing_for: 0``),
so the tests exercise exactly the objects the daemon hands to the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters.ledger import Ledger
from adapters.notify.payload import notification_for
from detector.alerts import AlertBook, Transition
from detector.finding import Direction, Finding, Kind
from detector.rule import Rule
from detector.testing import make_rule

GROUP = "checkout"
SERIES = {"__name__": "latency_p99", "service": "checkout"}
REPLAY_HINT = "graysignal replay rules/ --at 2026-11-20T09:30:00Z --lookback 14d"
RESEND_INTERVAL = 60


def alerting_rule(**fields: Any) -> Rule:
    """``CheckoutLatencyCreep`` with labels and a runbook, firing on the first finding."""
    data: dict[str, Any] = {
        "signal": "CheckoutLatencyCreep",
        "for_": 0,
        "keep_firing_for": 0,
        "labels": {"severity": "warning", "team": "payments"},
        "annotations": {"runbook_url": "https://runbooks.example/checkout-latency"},
    }
    data.update(fields)
    return make_rule(**data)


def make_finding(
    at: int,
    *,
    labels: Mapping[str, str] = SERIES,
    kind: Kind = Kind.TREND,
    relative_change: float = 0.18,
    score: float = 7.25,
    explanation: str = (
        'latency_p99{service="checkout"} rose 18% (210 -> 248) since Fri 2026-11-20 '
        "03:10 UTC, still rising 2.1%/day; daily seasonality removed."
    ),
) -> Finding:
    return Finding(
        rule="CheckoutLatencyCreep",
        labels=dict(labels),
        kind=kind,
        onset=at - 6 * 3600,
        detected_at=at,
        direction=Direction.UP if relative_change >= 0 else Direction.DOWN,
        before=210.0,
        after=248.0,
        relative_change=relative_change,
        score=score,
        explanation=explanation,
        slope_per_day=0.021,
        seasonality="daily",
    )


def fire(book: AlertBook, at: int, *findings: Finding) -> list[Transition]:
    """Evaluate ``findings`` at ``at`` (default: one checkout finding); returns transitions."""
    return book.update(list(findings) or [make_finding(at)], at)


def resolve(book: AlertBook, at: int) -> list[Transition]:
    """An evaluation without findings: firing alerts resolve (``keep_firing_for: 0``)."""
    return book.update([], at)


def payload_for(transition: Transition, rule: Rule, *, now: int) -> dict[str, Any]:
    return notification_for(
        transition, rule, now=now, resend_interval=RESEND_INTERVAL, replay_hint=REPLAY_HINT
    )


def record(
    ledger: Ledger,
    book: AlertBook,
    transitions: Sequence[Transition],
    *,
    now: int,
    notifiers: Sequence[str],
    findings: Sequence[Finding] = (),
) -> list[int]:
    """``record_evaluation`` as the daemon calls it, with real payloads."""
    return ledger.record_evaluation(
        group=GROUP,
        rule=book.rule,
        now=now,
        findings=findings,
        transitions=transitions,
        alerts=book.alerts,
        notifiers=notifiers,
        payloads=lambda t: payload_for(t, book.rule, now=now),
    )
