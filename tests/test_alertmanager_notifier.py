"""Delivery to a real Alertmanager (Debian's 0.25 binary) on loopback.

Alertmanager is the source of truth for "did it arrive": the tests read its
``GET /api/v2/alerts`` and what it forwards to its webhook receiver, never our own
bookkeeping alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from adapters.ledger import Ledger
from adapters.notify.alertmanager import AlertmanagerNotifier, postable_alert
from adapters.notify.base import DeliveryError
from adapters.notify.dispatcher import Dispatcher
from adapters.timeparse import format_rfc3339
from detector.alerts import AlertBook
from tests.alertmanager_server import (
    AlertmanagerServer,
    RecordingServer,
    running_alertmanager,
    wait_until,
)
from tests.notify_builders import alerting_rule, fire, make_finding, payload_for, record, resolve

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[AlertmanagerServer, RecordingServer]]:
    with running_alertmanager(tmp_path / "alertmanager") as pair:
        yield pair


class Spy:
    """Passes deliveries through to a real notifier and remembers what it delivered."""

    def __init__(self, inner: AlertmanagerNotifier) -> None:
        self.inner = inner
        self.name = inner.name
        self.delivered: list[Mapping[str, Any]] = []

    def deliver(self, payload: Mapping[str, Any]) -> None:
        self.inner.deliver(payload)
        self.delivered.append(payload)


def firing_payload(now: int, service: str = "checkout") -> dict[str, Any]:
    """A payload for an alert that started firing five minutes before ``now``."""
    book = AlertBook(alerting_rule())
    started = now - 300
    transition = fire(book, started, make_finding(started, labels={"service": service}))[-1]
    return payload_for(transition, book.rule, now=now)


def services(alerts: list[dict[str, Any]]) -> set[str]:
    return {a["labels"]["service"] for a in alerts}


# -- without a server --------------------------------------------------------------------


def test_postable_alert_keeps_only_the_api_v2_fields() -> None:
    now = 1_795_168_800
    alert = postable_alert(firing_payload(now), now=now)
    assert set(alert) == {"labels", "annotations", "startsAt", "endsAt"}


def test_a_firing_alert_that_waited_past_its_end_is_sent_without_endsat() -> None:
    now = 1_795_168_800
    payload = firing_payload(now)
    assert "endsAt" not in postable_alert(payload, now=now + 3600)


def test_the_name_shows_the_url_but_never_its_credentials() -> None:
    notifier = AlertmanagerNotifier("http://graysignal:s3cret-pass@127.0.0.1:9093/")
    assert notifier.name == "alertmanager:http://127.0.0.1:9093"
    assert "s3cret" not in repr(notifier)


# -- against Alertmanager ----------------------------------------------------------------


def test_a_firing_alert_shows_up_with_its_labels_and_explanation(
    alertmanager: tuple[AlertmanagerServer, RecordingServer],
) -> None:
    server, _ = alertmanager
    payload = firing_payload(int(time.time()))
    AlertmanagerNotifier(server.url, timeout=5).deliver(payload)
    (alert,) = server.wait_for_alerts(lambda alerts: len(alerts) == 1)
    assert alert["labels"] == payload["labels"]
    assert alert["annotations"]["explanation"] == payload["annotations"]["explanation"]
    assert alert["annotations"]["replay"] == payload["annotations"]["replay"]
    assert alert["status"]["state"] == "active"


def test_a_resolved_payload_ends_the_alert_and_alertmanager_says_so(
    alertmanager: tuple[AlertmanagerServer, RecordingServer],
) -> None:
    server, receiver = alertmanager
    now = int(time.time())
    book = AlertBook(alerting_rule())
    notifier = AlertmanagerNotifier(server.url, timeout=5)
    notifier.deliver(payload_for(fire(book, now - 300)[-1], book.rule, now=now))
    server.wait_for_alerts(lambda alerts: len(alerts) == 1)
    (resolved,) = resolve(book, now - 1)
    notifier.deliver(payload_for(resolved, book.rule, now=now))
    server.wait_for_alerts(lambda alerts: alerts == [])
    statuses = wait_until(
        lambda: {r.json()["status"] for r in receiver.received()} >= {"firing", "resolved"}
    )
    assert statuses


def test_every_alertmanager_of_an_ha_pair_receives_every_alert(tmp_path: Path) -> None:
    now = int(time.time())
    with (
        running_alertmanager(tmp_path / "a") as (first, _),
        running_alertmanager(tmp_path / "b") as (second, _),
        Ledger.open(tmp_path / "ledger.db") as ledger,
    ):
        notifiers = {n.name: n for n in (AlertmanagerNotifier(s.url) for s in (first, second))}
        book = AlertBook(alerting_rule())
        (transition_id, firing_id) = record(
            ledger, book, fire(book, now - 300), now=now, notifiers=list(notifiers)
        )
        stats = Dispatcher(ledger, notifiers).deliver_due(now)
        assert stats.delivered == 2
        for server in (first, second):
            server.wait_for_alerts(lambda alerts: services(alerts) == {"checkout"})
        told = {d.notifier for d in ledger.deliveries_for(firing_id) if d.ok}
        assert told == set(notifiers)
        assert transition_id < firing_id


def test_alertmanager_down_then_back_loses_nothing(
    alertmanager: tuple[AlertmanagerServer, RecordingServer], tmp_path: Path
) -> None:
    server, _ = alertmanager
    now = int(time.time())
    notifier = AlertmanagerNotifier(server.url, timeout=5)
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        dispatcher = Dispatcher(ledger, {notifier.name: notifier}, base_backoff=2.0)
        book = AlertBook(alerting_rule())
        record(ledger, book, fire(book, now - 300), now=now, notifiers=[notifier.name])
        server.stop()
        assert dispatcher.deliver_due(now).retrying == 1
        assert ledger.outbox_depth() == 1
        assert ledger.due(now + 1) == []  # backing off
        server.start()
        assert dispatcher.deliver_due(now + 2).delivered == 1
        assert ledger.outbox_depth() == 0
    server.wait_for_alerts(lambda alerts: services(alerts) == {"checkout"})


def test_an_alert_alertmanager_rejects_is_not_retried(
    alertmanager: tuple[AlertmanagerServer, RecordingServer],
) -> None:
    server, _ = alertmanager
    payload = firing_payload(int(time.time()))
    payload["labels"]["not-a-label-name"] = "x"
    with pytest.raises(DeliveryError) as caught:
        AlertmanagerNotifier(server.url, timeout=5).deliver(payload)
    assert caught.value.retryable is False
    assert "HTTP 400" in str(caught.value)


def test_resend_refreshes_every_firing_alert_in_one_request(
    alertmanager: tuple[AlertmanagerServer, RecordingServer],
) -> None:
    server, _ = alertmanager
    now = int(time.time())
    payloads = [firing_payload(now, "checkout"), firing_payload(now, "cart")]
    AlertmanagerNotifier(server.url, timeout=5).resend(payloads)
    alerts = server.wait_for_alerts(lambda alerts: services(alerts) == {"checkout", "cart"})
    assert {a["endsAt"][:19] for a in alerts} == {format_rfc3339(now + 240)[:19]}


# -- kill -9 -----------------------------------------------------------------------------


def die_mid_delivery(ledger_path: str, url: str, now: int) -> None:
    """Child process: queue two alerts, deliver one, then SIGKILL itself mid-delivery."""
    ledger = Ledger.open(ledger_path)
    real = AlertmanagerNotifier(url, timeout=5)

    class DiesOnSecondDelivery:
        name = real.name
        calls = 0

        def deliver(self, payload: Mapping[str, Any]) -> None:
            self.calls += 1
            if self.calls == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            real.deliver(payload)

    book = AlertBook(alerting_rule())
    started = now - 300
    findings = [make_finding(started), make_finding(started, labels={"service": "cart"})]
    record(ledger, book, fire(book, started, *findings), now=now, notifiers=[real.name])
    Dispatcher(ledger, {real.name: DiesOnSecondDelivery()}).deliver_due(now)


def test_kill_9_mid_delivery_neither_loses_nor_duplicates(
    alertmanager: tuple[AlertmanagerServer, RecordingServer], tmp_path: Path
) -> None:
    server, _ = alertmanager
    now = int(time.time())
    path = tmp_path / "ledger.db"
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tests.test_alertmanager_notifier import die_mid_delivery; "
            f"die_mid_delivery({str(path)!r}, {server.url!r}, {now})",
        ],
        cwd=REPO,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    (delivered_by_child,) = server.wait_for_alerts(lambda alerts: len(alerts) == 1)
    with Ledger.open(path) as ledger:
        (left,) = ledger.due(now)
        spy = Spy(AlertmanagerNotifier(server.url, timeout=5))
        dispatcher = Dispatcher(ledger, {spy.name: spy})
        dispatcher.deliver_due(now)
        dispatcher.deliver_due(now + 3600)
        assert ledger.outbox_depth() == 0
    assert spy.delivered == [left.payload]
    assert left.payload["labels"]["service"] != delivered_by_child["labels"]["service"]
    server.wait_for_alerts(lambda alerts: services(alerts) == {"checkout", "cart"})
