"""The ledger on a real SQLite file: schema, durability, atomicity, the outbox, history."""

from __future__ import annotations

import dataclasses
import math
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.ledger import SCHEMA_VERSION, Ledger, LedgerError
from detector.alerts import Alert, AlertBook, AlertState
from detector.finding import Kind
from tests.notify_builders import (
    GROUP,
    alerting_rule,
    fire,
    make_finding,
    payload_for,
    record,
    resolve,
)

T0 = 1_795_168_800  # 2026-11-20T10:00:00Z
NOTIFIERS = ["alertmanager:http://127.0.0.1:9093", "slack"]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "ledger.db"


@pytest.fixture
def ledger(path: Path) -> Iterator[Ledger]:
    with Ledger.open(path) as opened:
        yield opened


def count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def fired(ledger: Ledger, at: int = T0, *, notifiers: list[str] = NOTIFIERS) -> AlertBook:
    """A book whose checkout alert fired at ``at``, recorded with its outbox rows."""
    book = AlertBook(alerting_rule())
    record(ledger, book, fire(book, at), now=at, notifiers=notifiers)
    return book


# -- schema ------------------------------------------------------------------------------


def test_open_creates_every_table_and_records_the_schema_version(path: Path) -> None:
    Ledger.open(path).close()
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        versions = [r[0] for r in db.execute("SELECT version FROM schema_version ORDER BY 1")]
    assert {"findings", "transitions", "alert_state", "outbox", "deliveries"} <= tables
    assert versions == list(range(1, SCHEMA_VERSION + 1))


def test_ledger_runs_in_wal_mode(ledger: Ledger, path: Path) -> None:
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_keeps_transitions_outbox_and_alerts(path: Path) -> None:
    with Ledger.open(path) as ledger:
        book = fired(ledger)
    with Ledger.open(path) as reopened:
        assert reopened.schema_version == SCHEMA_VERSION
        assert reopened.outbox_depth() == len(NOTIFIERS)
        assert reopened.load_alerts(group=GROUP, rule=book.rule) == book.alerts
        (alert_key,) = book.alerts
        assert [t.to for t in reopened.transitions_for(alert_key, start=T0 - 1, end=T0)] == [
            AlertState.PENDING,
            AlertState.FIRING,
        ]


def test_a_ledger_from_a_newer_graysignal_is_refused_and_left_untouched(path: Path) -> None:
    Ledger.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_version VALUES (?, 0)", (SCHEMA_VERSION + 1,))
    before = path.read_bytes()
    with pytest.raises(LedgerError, match=f"schema version {SCHEMA_VERSION + 1}.*newer graysignal"):
        Ledger.open(path)
    assert path.read_bytes() == before


def test_a_file_that_is_not_a_database_is_refused_with_its_path(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text("not sqlite at all, just text that is long enough " * 40)
    with pytest.raises(LedgerError, match=str(path)):
        Ledger.open(path)


def test_a_closed_ledger_says_so(path: Path) -> None:
    ledger = Ledger.open(path)
    ledger.close()
    with pytest.raises(LedgerError, match="closed"):
        ledger.outbox_depth()


# -- record_evaluation -------------------------------------------------------------------


def test_record_evaluation_writes_findings_transitions_and_alert_state(
    ledger: Ledger, path: Path
) -> None:
    book = AlertBook(alerting_rule())
    finding = make_finding(T0)
    transitions = fire(book, T0, finding)
    ids = record(ledger, book, transitions, now=T0, notifiers=NOTIFIERS, findings=[finding])
    assert len(ids) == 2  # inactive -> pending -> firing in one evaluation (for: 0)
    assert (count(path, "findings"), count(path, "transitions")) == (1, 2)
    assert count(path, "alert_state") == 1


def test_only_firing_and_resolved_transitions_are_queued_once_per_notifier(
    ledger: Ledger,
) -> None:
    book = AlertBook(alerting_rule(for_="10m"))
    record(ledger, book, fire(book, T0), now=T0, notifiers=NOTIFIERS)
    assert ledger.outbox_depth() == 0  # pending is not news
    record(ledger, book, fire(book, T0 + 600), now=T0 + 600, notifiers=NOTIFIERS)
    record(ledger, book, resolve(book, T0 + 900), now=T0 + 900, notifiers=NOTIFIERS)
    statuses = sorted((i.notifier, i.payload["status"]) for i in ledger.due(T0 + 900))
    assert ledger.outbox_depth() == 4
    assert statuses == [(NOTIFIERS[0], "firing"), (NOTIFIERS[1], "firing")]  # resolved waits


def test_a_failing_payload_leaves_nothing_written(ledger: Ledger, path: Path) -> None:
    book = AlertBook(alerting_rule())
    transitions = fire(book, T0, make_finding(T0), make_finding(T0, labels={"service": "cart"}))
    calls: list[int] = []

    def payloads(transition: object) -> dict[str, object]:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom while building the second payload")
        return payload_for(transitions[1], book.rule, now=T0)

    with pytest.raises(RuntimeError, match="boom"):
        ledger.record_evaluation(
            group=GROUP,
            rule=book.rule,
            now=T0,
            findings=[make_finding(T0)],
            transitions=transitions,
            alerts=book.alerts,
            notifiers=NOTIFIERS,
            payloads=payloads,
        )
    tables = ("findings", "transitions", "alert_state", "outbox", "deliveries")
    assert {t: count(path, t) for t in tables} == dict.fromkeys(tables, 0)


def test_the_rules_alert_state_is_replaced_not_accumulated(ledger: Ledger) -> None:
    book = fired(ledger)
    record(ledger, book, resolve(book, T0 + 60), now=T0 + 60, notifiers=NOTIFIERS)
    assert ledger.load_alerts(group=GROUP, rule=book.rule) == {}


def test_alerts_round_trip_exactly_including_non_finite_values(ledger: Ledger) -> None:
    rule = alerting_rule(for_="5m", keep_firing_for="10m")
    book = AlertBook(rule)
    checkout = make_finding(T0)
    from_zero = make_finding(T0, labels={"service": "cart"}, relative_change=math.inf)
    exhaustion = dataclasses.replace(
        make_finding(T0, kind=Kind.EXHAUSTION, score=-math.inf),
        time_to_limit=3600.5,
        slope_per_day=None,
        extra={"limit": 100.0, "headroom": -math.inf},
    )
    book.update([checkout, from_zero, exhaustion], T0)
    book.update([checkout, from_zero, exhaustion], T0 + 300)  # all three fire
    newcomer = make_finding(T0 + 360, labels={"service": "search"})
    book.update([checkout, exhaustion, newcomer], T0 + 360)  # cart keeps firing, search pends
    assert {a.state for a in book.alerts.values()} == {AlertState.FIRING, AlertState.PENDING}
    assert any(a.keep_firing_since is not None for a in book.alerts.values())
    record(ledger, book, [], now=T0 + 360, notifiers=NOTIFIERS)
    loaded = ledger.load_alerts(group=GROUP, rule=rule)
    assert loaded == book.alerts
    assert all(isinstance(a, Alert) for a in loaded.values())


def test_alerts_of_another_rule_or_group_are_not_loaded(ledger: Ledger) -> None:
    book = fired(ledger)
    assert ledger.load_alerts(group="other-group", rule=book.rule) == {}
    assert ledger.load_alerts(group=GROUP, rule=alerting_rule(signal="Other")) == {}


# -- outbox ------------------------------------------------------------------------------


def test_a_transition_is_never_queued_twice_for_one_notifier(ledger: Ledger) -> None:
    fired(ledger)
    item = ledger.due(T0)[0]
    again = ledger.enqueue(
        transition_id=item.transition_id, notifier=item.notifier, payload={}, now=T0
    )
    added = ledger.enqueue(transition_id=item.transition_id, notifier="webhook", payload={}, now=T0)
    assert (again, added) == (False, True)
    assert ledger.outbox_depth() == len(NOTIFIERS) + 1


def test_the_outbox_unique_constraint_holds_in_sql_too(ledger: Ledger, path: Path) -> None:
    fired(ledger)
    item = ledger.due(T0)[0]
    with sqlite3.connect(path) as db, pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        db.execute(
            "INSERT INTO outbox (notifier, transition_id, alert_fingerprint, payload,"
            " created_at, next_attempt_at) VALUES (?, ?, 'x', '{}', 0, 0)",
            (item.notifier, item.transition_id),
        )


def test_failed_items_come_back_after_their_backoff_and_count_attempts(ledger: Ledger) -> None:
    fired(ledger)
    first, second = ledger.due(T0)
    ledger.mark_failed(first.id, at=T0, error="HTTP 503", next_attempt_at=T0 + 4)
    assert [i.id for i in ledger.due(T0 + 3)] == [second.id]
    ledger.mark_failed(second.id, at=T0 + 3, error="HTTP 503", next_attempt_at=T0 + 5)
    again = ledger.due(T0 + 5)
    assert [i.id for i in again] == [first.id, second.id]  # earliest next attempt first
    assert [(i.attempts, i.last_error) for i in again] == [(1, "HTTP 503"), (1, "HTTP 503")]


def test_delivered_items_leave_the_outbox_and_the_attempts_are_logged(ledger: Ledger) -> None:
    fired(ledger)
    first, second = ledger.due(T0)
    ledger.mark_failed(first.id, at=T0, error="timed out", next_attempt_at=T0 + 1)
    ledger.mark_delivered(first.id, at=T0 + 1)
    ledger.mark_delivered(second.id, at=T0 + 2)
    assert ledger.outbox_depth() == 0
    assert ledger.due(T0 + 10**6) == []
    told = ledger.deliveries_for(first.transition_id)
    assert [(d.notifier, d.at, d.ok, d.error) for d in told] == [
        (first.notifier, T0, False, "timed out"),
        (first.notifier, T0 + 1, True, None),
        (second.notifier, T0 + 2, True, None),
    ]


def test_an_abandoned_item_is_never_due_again_but_stays_on_record(ledger: Ledger) -> None:
    fired(ledger, notifiers=["slack"])
    (item,) = ledger.due(T0)
    ledger.mark_failed(item.id, at=T0, error="HTTP 400: invalid_blocks", next_attempt_at=None)
    assert ledger.due(T0 + 10**6, ignore_backoff=True) == []
    assert ledger.outbox_depth() == 0
    assert [d.error for d in ledger.deliveries_for(item.transition_id)] == [
        "HTTP 400: invalid_blocks"
    ]


def test_marking_an_item_that_is_not_pending_is_an_error(ledger: Ledger) -> None:
    fired(ledger, notifiers=["slack"])
    (item,) = ledger.due(T0)
    ledger.mark_delivered(item.id, at=T0)
    with pytest.raises(LedgerError, match="no longer pending"):
        ledger.mark_delivered(item.id, at=T0)


def test_resolved_never_overtakes_the_firing_it_ends(ledger: Ledger) -> None:
    book = fired(ledger, notifiers=["slack"])
    record(ledger, book, resolve(book, T0 + 60), now=T0 + 60, notifiers=["slack"])
    (firing,) = ledger.due(T0 + 60)
    ledger.mark_failed(firing.id, at=T0 + 60, error="HTTP 500", next_attempt_at=T0 + 120)
    assert ledger.due(T0 + 61) == []  # the resolved is blocked behind its firing
    ledger.mark_delivered(firing.id, at=T0 + 120)
    assert [i.payload["status"] for i in ledger.due(T0 + 120)] == ["resolved"]


def test_due_can_be_restricted_to_configured_notifiers(ledger: Ledger) -> None:
    fired(ledger)
    assert [i.notifier for i in ledger.due(T0, notifiers={"slack"})] == ["slack"]
    assert ledger.pending_by_notifier() == dict.fromkeys(NOTIFIERS, 1)


def test_oldest_pending_age_measures_the_wait(ledger: Ledger) -> None:
    assert ledger.oldest_pending_age(T0) is None
    fired(ledger)
    assert ledger.oldest_pending_age(T0 + 90) == 90.0


# -- history -----------------------------------------------------------------------------


def test_transitions_for_uses_the_replay_window_start_exclusive_end_inclusive(
    ledger: Ledger,
) -> None:
    book = fired(ledger)
    (key,) = book.alerts
    record(ledger, book, resolve(book, T0 + 600), now=T0 + 600, notifiers=NOTIFIERS)
    records = ledger.transitions_for(key, start=T0, end=T0 + 600)
    assert [(r.previous, r.to, r.at) for r in records] == [
        (AlertState.FIRING, AlertState.INACTIVE, T0 + 600)
    ]
    assert records[0].finding == make_finding(T0)
    assert records[0].labels["alertname"] == "CheckoutLatencyCreep"


def test_prune_findings_deletes_only_older_findings(ledger: Ledger, path: Path) -> None:
    book = AlertBook(alerting_rule())
    for at in (T0, T0 + 60, T0 + 120):
        finding = make_finding(at)
        record(ledger, book, fire(book, at, finding), now=at, notifiers=[], findings=[finding])
    assert ledger.prune_findings(before=T0 + 120) == 2
    assert count(path, "findings") == 1


# -- threads -----------------------------------------------------------------------------


def test_threads_can_record_and_read_at_the_same_time(ledger: Ledger) -> None:
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            book = AlertBook(alerting_rule(signal=f"Rule{index}"))
            for step in range(20):
                at = T0 + 60 * step
                transitions = fire(book, at) if step % 2 == 0 else resolve(book, at)
                record(ledger, book, transitions, now=at, notifiers=["slack"])
                ledger.outbox_depth()
                ledger.due(at)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert ledger.outbox_depth() == 4 * 20  # 10 firings and 10 resolutions per thread
