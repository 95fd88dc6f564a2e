"""The dispatcher: deliver due items, back off on failure, give up only when hopeless."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from adapters.ledger import Ledger
from adapters.notify.base import DeliveryError
from adapters.notify.dispatcher import Dispatcher
from detector.alerts import AlertBook
from tests.notify_builders import alerting_rule, fire, make_finding, record, resolve

T0 = 1_795_168_800


class FakeNotifier:
    """Fails with the scripted errors first, then delivers; remembers every payload."""

    def __init__(self, name: str, *failures: Exception) -> None:
        self.name = name
        self.failures = list(failures)
        self.delivered: list[Mapping[str, Any]] = []
        self.calls = 0

    def deliver(self, payload: Mapping[str, Any]) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        self.delivered.append(payload)


class Unreachable(FakeNotifier):
    """Every attempt fails with a retryable error."""

    def deliver(self, payload: Mapping[str, Any]) -> None:
        self.calls += 1
        raise down()[0]


def down(times: int = 1) -> list[DeliveryError]:
    return [DeliveryError("HTTP 503: unavailable", retryable=True) for _ in range(times)]


class FakeClock:
    def __init__(self, now: float) -> None:
        self.moment = now

    def now(self) -> float:
        return self.moment


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "ledger.db") as opened:
        yield opened


def queue_firing(ledger: Ledger, notifiers: list[str], service: str = "checkout") -> AlertBook:
    book = AlertBook(alerting_rule())
    transitions = fire(book, T0, make_finding(T0, labels={"service": service}))
    record(ledger, book, transitions, now=T0, notifiers=notifiers)
    return book


def test_a_delivered_item_leaves_the_outbox_and_is_on_record(ledger: Ledger) -> None:
    slack = FakeNotifier("slack")
    queue_firing(ledger, ["slack"])
    stats = Dispatcher(ledger, {"slack": slack}).deliver_due(T0)
    assert (stats.attempted, stats.delivered) == (1, 1)
    assert ledger.outbox_depth() == 0
    assert [p["status"] for p in slack.delivered] == ["firing"]


def test_retryable_failures_back_off_exponentially_up_to_the_cap(ledger: Ledger) -> None:
    slack = FakeNotifier("slack", *down(6))
    queue_firing(ledger, ["slack"])
    dispatcher = Dispatcher(ledger, {"slack": slack}, base_backoff=1.0, max_backoff=10.0)
    now, waits = T0, []
    for _ in range(6):
        dispatcher.deliver_due(now)
        (item,) = ledger.due(now, ignore_backoff=True)
        waits.append(item.next_attempt_at - now)
        assert dispatcher.deliver_due(item.next_attempt_at - 1).attempted == 0
        now = item.next_attempt_at
    assert waits == [1, 2, 4, 8, 10, 10]
    assert dispatcher.deliver_due(now).delivered == 1


def test_a_permanent_failure_is_abandoned_logged_and_recorded(ledger: Ledger) -> None:
    slack = FakeNotifier("slack", DeliveryError("HTTP 400: invalid_blocks", retryable=False))
    book = queue_firing(ledger, ["slack"])
    with capture_logs() as logs:
        stats = Dispatcher(ledger, {"slack": slack}).deliver_due(T0)
    assert stats.abandoned == 1
    assert ledger.due(T0 + 10**6, ignore_backoff=True) == []
    (error,) = [e for e in logs if e["log_level"] == "error"]
    assert (error["notifier"], error["alert"], error["attempt"]) == (
        "slack",
        book.rule.signal,
        1,
    )
    assert error["error"] == "HTTP 400: invalid_blocks"


def test_failures_are_logged_with_notifier_alert_attempt_and_error(ledger: Ledger) -> None:
    queue_firing(ledger, ["slack"])
    with capture_logs() as logs:
        Dispatcher(ledger, {"slack": FakeNotifier("slack", *down())}).deliver_due(T0)
    (warning,) = logs
    assert warning["log_level"] == "warning"
    assert {k: warning[k] for k in ("notifier", "alert", "attempt", "error", "retry_in")} == {
        "notifier": "slack",
        "alert": "CheckoutLatencyCreep",
        "attempt": 1,
        "error": "HTTP 503: unavailable",
        "retry_in": 1,
    }


def test_a_notifier_that_crashes_is_retried_and_does_not_stop_the_others(
    ledger: Ledger,
) -> None:
    broken = FakeNotifier("webhook", KeyError("bug"))
    slack = FakeNotifier("slack")
    queue_firing(ledger, ["webhook", "slack"])
    stats = Dispatcher(ledger, {"webhook": broken, "slack": slack}).deliver_due(T0)
    assert (stats.retrying, stats.delivered) == (1, 1)
    (item,) = ledger.due(T0, ignore_backoff=True)
    assert item.last_error == "KeyError: 'bug'"


def test_one_receiver_down_does_not_delay_another(ledger: Ledger) -> None:
    first = FakeNotifier("alertmanager:http://127.0.0.1:1", *down(5))
    second = FakeNotifier("alertmanager:http://127.0.0.1:2")
    queue_firing(ledger, [first.name, second.name])
    Dispatcher(ledger, {n.name: n for n in (first, second)}).deliver_due(T0)
    assert len(second.delivered) == 1
    assert [i.notifier for i in ledger.due(T0, ignore_backoff=True)] == [first.name]


def test_items_for_an_unconfigured_notifier_wait_and_are_logged_once(ledger: Ledger) -> None:
    queue_firing(ledger, ["slack", "removed-webhook"])
    dispatcher = Dispatcher(ledger, {"slack": FakeNotifier("slack")})
    with capture_logs() as logs:
        first = dispatcher.deliver_due(T0)
        dispatcher.deliver_due(T0 + 60)
    assert first.unconfigured == 1
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert [w["notifier"] for w in warnings] == ["removed-webhook"]
    assert ledger.pending_by_notifier() == {"removed-webhook": 1}


def test_the_resolution_is_delivered_after_the_firing_it_ends(ledger: Ledger) -> None:
    slack = FakeNotifier("slack", *down())
    book = queue_firing(ledger, ["slack"])
    record(ledger, book, resolve(book, T0 + 60), now=T0 + 60, notifiers=["slack"])
    dispatcher = Dispatcher(ledger, {"slack": slack})
    dispatcher.deliver_due(T0 + 60)
    assert slack.delivered == []  # the firing failed, so the resolved waits behind it
    dispatcher.deliver_due(T0 + 61)
    assert [p["status"] for p in slack.delivered] == ["firing", "resolved"]


def test_flush_ignores_backoff_and_empties_the_outbox(ledger: Ledger) -> None:
    slack = FakeNotifier("slack", *down(2))
    queue_firing(ledger, ["slack"])
    queue_firing(ledger, ["slack"], service="cart")
    dispatcher = Dispatcher(ledger, {"slack": slack}, base_backoff=300.0, max_backoff=300.0)
    dispatcher.deliver_due(T0)
    assert ledger.due(T0 + 1) == []
    assert dispatcher.flush(5.0, FakeClock(T0 + 1)) is True
    assert ledger.outbox_depth() == 0
    assert len(slack.delivered) == 2


def test_flush_gives_up_at_the_deadline_and_keeps_the_rest(ledger: Ledger) -> None:
    slack = Unreachable("slack")
    queue_firing(ledger, ["slack"])
    assert Dispatcher(ledger, {"slack": slack}).flush(0.3, FakeClock(T0)) is False
    assert slack.calls > 1  # it kept trying, ignoring backoff, until the deadline
    assert ledger.outbox_depth() == 1


def test_a_notifier_registered_under_another_name_is_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="registered as"):
        Dispatcher(ledger, {"slack": FakeNotifier("webhook")})


def test_every_outcome_is_reported_for_the_daemon_metrics(ledger: Ledger) -> None:
    refused = DeliveryError("HTTP 400: invalid_blocks", retryable=False)
    notifiers = {
        "slack": FakeNotifier("slack", *down()),
        "webhook": FakeNotifier("webhook", refused),
    }
    queue_firing(ledger, ["slack", "webhook"])
    heard: list[tuple[str, str]] = []
    dispatcher = Dispatcher(ledger, notifiers, on_outcome=lambda n, o: heard.append((n, o)))

    dispatcher.deliver_due(T0)
    dispatcher.deliver_due(T0 + 60)

    assert sorted(heard) == [
        ("slack", "delivered"),
        ("slack", "retrying"),
        ("webhook", "abandoned"),
    ]


class DiskFullLedger(Ledger):
    """A real ledger file whose delivery records fail while ``full`` is set, as SQLite's
    writes do on a full disk (the fault suite fills a real one: tests/test_faults.py)."""

    full = False

    def mark_delivered(self, item_id: int, *, at: int) -> None:
        if self.full:
            raise sqlite3.OperationalError("database or disk is full")
        super().mark_delivered(item_id, at=at)

    def mark_failed(
        self, item_id: int, *, at: int, error: str, next_attempt_at: int | None
    ) -> None:
        if self.full:
            raise sqlite3.OperationalError("database or disk is full")
        super().mark_failed(item_id, at=at, error=error, next_attempt_at=next_attempt_at)


def test_a_delivery_the_ledger_cannot_record_is_not_sent_again_and_recorded_later(
    tmp_path: Path,
) -> None:
    slack = FakeNotifier("slack")
    with DiskFullLedger.open(tmp_path / "ledger.db") as ledger:
        queue_firing(ledger, ["slack"])
        dispatcher = Dispatcher(ledger, {"slack": slack})
        ledger.full = True

        first = dispatcher.deliver_due(T0)
        second = dispatcher.deliver_due(T0 + 1)
        depth_while_full = ledger.outbox_depth()
        ledger.full = False
        dispatcher.deliver_due(T0 + 2)

        assert (first.delivered, second.attempted) == (1, 0)
        assert depth_while_full == 1
        assert ledger.outbox_depth() == 0
        assert slack.calls == 1


def test_a_failed_attempt_the_ledger_cannot_record_leaves_the_item_due(tmp_path: Path) -> None:
    slack = FakeNotifier("slack", *down(1))
    with DiskFullLedger.open(tmp_path / "ledger.db") as ledger:
        queue_firing(ledger, ["slack"])
        dispatcher = Dispatcher(ledger, {"slack": slack})
        ledger.full = True

        failed = dispatcher.deliver_due(T0)
        ledger.full = False
        delivered = dispatcher.deliver_due(T0)

        assert (failed.retrying, delivered.delivered) == (1, 1)
        assert [p["status"] for p in slack.delivered] == ["firing"]
