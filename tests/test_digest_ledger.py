"""Digests in the ledger on a real SQLite file: migration, once per period, parts, force."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.digest.collect import recorded_firings
from adapters.ledger import MIGRATIONS, SCHEMA_VERSION, Ledger
from detector.alerts import AlertBook
from detector.digest import Section, build_digest
from detector.periods import Period
from detector.replay import ReplayResult
from tests.digest_fixtures import PERIOD
from tests.notify_builders import alerting_rule, fire, record, resolve

T0 = PERIOD.end + 9 * 3600
MESSAGES = [{"text": "part 1", "blocks": []}, {"text": "part 2", "blocks": []}]
SUMMARY = {"version": 1, "period": PERIOD.label, "end": PERIOD.end, "drifting": {"k": 2}}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def ledger(path: Path) -> Iterator[Ledger]:
    with Ledger.open(path) as opened:
        yield opened


def queue(ledger: Ledger, *, force: bool = False, destination: str = "slack:#drift") -> Any:
    return ledger.queue_digest(
        period=PERIOD.label,
        period_start=PERIOD.start,
        period_end=PERIOD.end,
        destination=destination,
        notifier=f"digest:{destination}",
        messages=MESSAGES,
        summary=SUMMARY,
        payload_hash="abc",
        now=T0,
        force=force,
    )


def deliver(ledger: Ledger, digest_id: int) -> None:
    (item,) = [i for i in ledger.due(T0 + 10**6, ignore_backoff=True) if i.digest_id == digest_id]
    ledger.mark_delivered(item.id, at=T0)


def test_a_schema_1_ledger_migrates_and_keeps_its_outbox_and_deliveries(path: Path) -> None:
    with sqlite3.connect(path) as db:  # a ledger as graysignal 0.1 wrote it
        for statement in MIGRATIONS[0]:
            db.execute(statement)
        db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER)")
        db.execute("INSERT INTO schema_version VALUES (1, 0)")
        db.execute(
            "INSERT INTO transitions VALUES (7, 'g', 'R', 'fp', '{}', 'trend', 'pending',"
            " 'firing', 100, '{}')"
        )
        db.execute(
            "INSERT INTO outbox VALUES (42, 'slack', 7, 'fp', '{\"status\":\"firing\"}', 100, 1,"
            " 200, NULL, NULL, 'HTTP 500')"
        )
        db.execute("INSERT INTO deliveries VALUES (1, 42, 'slack', 100, 0, 'HTTP 500')")
    with Ledger.open(path) as migrated:
        assert migrated.schema_version == SCHEMA_VERSION
        (item,) = migrated.due(200)
        assert (item.id, item.transition_id, item.digest_id) == (42, 7, None)
        assert item.last_error == "HTTP 500"
        assert [d.error for d in migrated.deliveries_for(7)] == ["HTTP 500"]
        assert queue(migrated) is not None  # digests work on the migrated file
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_an_outbox_row_belongs_to_a_transition_or_a_digest_never_both(
    ledger: Ledger, path: Path
) -> None:
    book = AlertBook(alerting_rule())
    transition_id = record(ledger, book, fire(book, T0), now=T0, notifiers=["slack"])[-1]
    digest = queue(ledger)
    with sqlite3.connect(path) as db, pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        db.execute(
            "INSERT INTO outbox (notifier, transition_id, digest_id, alert_fingerprint, payload,"
            " created_at, next_attempt_at) VALUES ('x', ?, ?, 'f', '{}', 0, 0)",
            (transition_id, digest.id),
        )


def test_a_digest_is_queued_once_per_period_and_destination(ledger: Ledger) -> None:
    first = queue(ledger)
    assert first is not None and first.status == "pending" and first.parts == 2
    assert queue(ledger) is None  # waiting: not queued twice
    deliver(ledger, first.id)
    assert queue(ledger) is None  # posted: not queued again
    assert ledger.digest(first.id).status == "posted"
    assert queue(ledger, destination="slack:webhook") is not None  # another destination


def test_force_supersedes_a_waiting_digest_and_queues_a_new_revision(ledger: Ledger) -> None:
    first = queue(ledger)
    second = queue(ledger, force=True)
    assert second is not None and second.revision == 2
    assert ledger.digest(first.id).status == "abandoned"
    assert [i.digest_id for i in ledger.due(T0)] == [second.id]


def test_a_refused_digest_does_not_block_the_next_attempt(ledger: Ledger) -> None:
    first = queue(ledger)
    (item,) = ledger.due(T0)
    ledger.mark_failed(item.id, at=T0, error="channel_not_found", next_attempt_at=None)
    assert ledger.digest(first.id).status == "abandoned"
    assert queue(ledger) is not None


def test_a_digest_refused_after_some_parts_were_posted_is_not_queued_again(
    ledger: Ledger,
) -> None:
    first = queue(ledger)
    ledger.record_digest_part(first.id, parts_posted=1)
    (item,) = ledger.due(T0)
    ledger.mark_failed(item.id, at=T0, error="invalid_blocks", next_attempt_at=None)
    assert ledger.digest(first.id).status == "abandoned"
    assert queue(ledger) is None  # a new revision would post part 1 again
    forced = queue(ledger, force=True)
    assert forced is not None and forced.revision == 2


def test_parts_posted_and_the_thread_survive_a_reopen(path: Path) -> None:
    with Ledger.open(path) as ledger:
        digest = queue(ledger)
        ledger.record_digest_part(digest.id, parts_posted=1, message_ts="1700000000.000100")
    with Ledger.open(path) as reopened:
        again = reopened.digest(digest.id)
        assert (again.parts_posted, again.message_ts, again.status) == (
            1,
            "1700000000.000100",
            "pending",
        )


def test_only_one_process_may_post_a_digest_at_a_time(ledger: Ledger) -> None:
    digest = queue(ledger)
    assert ledger.claim_digest(digest.id, now=T0, lease=60)
    assert not ledger.claim_digest(digest.id, now=T0 + 1, lease=60)
    assert ledger.claim_digest(digest.id, now=T0 + 61, lease=60)  # a stuck claim expires
    ledger.release_digest(digest.id)
    assert ledger.claim_digest(digest.id, now=T0 + 62, lease=60)


def test_a_claim_is_renewed_and_released_only_by_its_holder(ledger: Ledger) -> None:
    digest = queue(ledger)
    token = ledger.claim_digest(digest.id, now=T0, lease=60)
    assert token is not None
    renewed = ledger.renew_digest_claim(digest.id, token, now=T0 + 50, lease=60)
    assert renewed is not None
    assert ledger.claim_digest(digest.id, now=T0 + 70, lease=60) is None  # renewed: held
    assert ledger.renew_digest_claim(digest.id, token, now=T0 + 71, lease=60) is None  # stale
    taken = ledger.claim_digest(digest.id, now=T0 + 200, lease=60)  # lapsed: taken over
    assert taken is not None
    assert ledger.renew_digest_claim(digest.id, renewed, now=T0 + 201, lease=60) is None
    ledger.release_digest(digest.id, renewed)  # the old holder cannot free the new claim
    assert ledger.claim_digest(digest.id, now=T0 + 202, lease=60) is None


def test_the_previous_periods_summary_is_found_by_its_label(ledger: Ledger) -> None:
    queue(ledger)
    assert ledger.previous_digest_summary(PERIOD.label) == SUMMARY
    assert ledger.previous_digest_summary(PERIOD.previous().label) is None


def test_a_rolling_digest_ending_where_a_week_starts_is_not_that_weeks_previous(
    ledger: Ledger,
) -> None:
    following = Period.iso_week("2026-W48")  # starts where PERIOD (W47) ends
    rolling = Period.since(3 * 86400, following.start)
    ledger.queue_digest(
        period=rolling.label,
        period_start=rolling.start,
        period_end=rolling.end,
        destination="slack:webhook",
        notifier="digest:slack:webhook",
        messages=MESSAGES,
        summary={**SUMMARY, "period": rolling.label, "drifting": {"k": 7}},
        payload_hash="h",
        now=T0,
    )
    assert ledger.previous_digest_summary(following.previous().label) is None
    queue(ledger)
    assert ledger.previous_digest_summary(following.previous().label) == SUMMARY


# -- what the daemon recorded joins the digest ---------------------------------------------


def test_firings_the_daemon_recorded_appear_as_items_marked_alerted(ledger: Ledger) -> None:
    book = AlertBook(alerting_rule())
    fired_at = PERIOD.start + 2 * 86400
    record(ledger, book, fire(book, fired_at), now=fired_at, notifiers=["slack"])
    (queued,) = ledger.due(fired_at)
    ledger.mark_delivered(queued.id, at=fired_at)  # Slack took the first firing
    record(ledger, book, resolve(book, fired_at + 3600), now=fired_at + 3600, notifiers=[])
    record(ledger, book, fire(book, PERIOD.end - 3600), now=PERIOD.end - 3600, notifiers=[])
    firings = recorded_firings(ledger, PERIOD.start, PERIOD.end)
    assert [(f.interval.start, f.interval.end, f.told) for f in firings] == [
        (fired_at, fired_at + 3600, True),
        (PERIOD.end - 3600, None, False),  # queued for nobody: nobody was told
    ]
    empty = ReplayResult(
        start=PERIOD.start, end=PERIOD.end, incident=PERIOD.end, signals=[], outcomes=[]
    )
    digest = build_digest(empty, PERIOD, recorded=firings, history_weeks=0)
    (item,) = digest.items
    assert (item.rule, item.section, item.told) == ("CheckoutLatencyCreep", Section.NEW, True)
    assert item.team == (("team", "payments"), ("service", "checkout"))
    assert item.sparkline == ""  # no series was evaluated: no sparkline, no invented data
