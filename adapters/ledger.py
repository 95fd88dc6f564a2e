"""The ledger: every finding, alert transition and notification, in one SQLite file.

Why a ledger at all (DESIGN.md sections 2 and 6):

- **Nothing lost.** A transition users must hear about is written in the *same*
  transaction as one outbox row per notifier, so a crash can never leave a transition
  without its notifications. The dispatcher delivers the outbox and records every attempt;
  an undelivered row survives restarts and is retried with backoff.
- **Resume after a restart.** Each rule's active alerts (pending timers, firing since)
  are stored with the transitions that produced them, so a restarted daemon neither
  re-sends alerts that were already firing nor restarts their ``for`` timers.
- **"We were told" vs "we could have known".** Replay reads back transitions and who
  was told when (:meth:`Ledger.transitions_for`, :meth:`Ledger.deliveries_for`).

Storage choices: SQLite in WAL mode with ``synchronous=NORMAL`` (a committed transaction
survives a crash of the process; a power loss may lose the last few commits, and then
alert state and transitions roll back *together*, so the next evaluation re-derives the
lost transitions) and a ``busy_timeout`` so another process reading the file (``graysignal
replay``) never makes the daemon fail. The schema is versioned: ``schema_version`` holds
one row per applied migration, migrations run in one transaction at open, and a file
written by a newer graysignal is refused instead of being misread.

Threads: one process, several threads (evaluation loops, the delivery thread, /metrics).
The ledger holds **one connection guarded by a lock**; every public method takes it, so
calls are serialised. SQLite serialises writers anyway and each call is short, so this
costs nothing measurable and keeps each transaction on one connection.

Delivery is at-least-once: a crash between a successful delivery and
:meth:`Ledger.mark_delivered` re-sends that one notification after the restart
(Alertmanager de-duplicates by labels; a chat message may appear twice). The schema is
documented in ``docs/ledger.md``.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from detector.alerts import Alert, AlertState, Transition
from detector.finding import Direction, Finding, Kind
from detector.rule import Rule
from detector.series import fingerprint
from detector.suppressions import Suppressed, Suppression

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "DeliveryRecord",
    "DigestRecord",
    "KnownAlert",
    "Ledger",
    "LedgerError",
    "OutboxItem",
    "SilenceRecord",
    "SuppressedRecord",
    "TransitionRecord",
    "notifies",
]

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # 1: the initial schema (docs/ledger.md explains every column).
    (
        """
        CREATE TABLE findings (
            id INTEGER PRIMARY KEY,
            rule_group TEXT NOT NULL,
            rule TEXT NOT NULL,
            series_fingerprint TEXT NOT NULL,
            labels TEXT NOT NULL,
            kind TEXT NOT NULL,
            detected_at INTEGER NOT NULL,
            onset INTEGER NOT NULL,
            score REAL,
            finding TEXT NOT NULL
        )
        """,
        "CREATE INDEX findings_by_rule ON findings (rule_group, rule, detected_at)",
        "CREATE INDEX findings_by_series ON findings (series_fingerprint, detected_at)",
        """
        CREATE TABLE transitions (
            id INTEGER PRIMARY KEY,
            rule_group TEXT NOT NULL,
            rule TEXT NOT NULL,
            alert_fingerprint TEXT NOT NULL,
            labels TEXT NOT NULL,
            kind TEXT NOT NULL,
            from_state TEXT NOT NULL,
            to_state TEXT NOT NULL,
            at INTEGER NOT NULL,
            finding TEXT NOT NULL
        )
        """,
        "CREATE INDEX transitions_by_alert ON transitions (alert_fingerprint, at)",
        """
        CREATE TABLE alert_state (
            rule_group TEXT NOT NULL,
            rule TEXT NOT NULL,
            alert_fingerprint TEXT NOT NULL,
            alert TEXT NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (rule_group, rule, alert_fingerprint)
        )
        """,
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            notifier TEXT NOT NULL,
            transition_id INTEGER NOT NULL REFERENCES transitions (id),
            alert_fingerprint TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL,
            delivered_at INTEGER,
            abandoned_at INTEGER,
            last_error TEXT,
            UNIQUE (notifier, transition_id)
        )
        """,
        """
        CREATE INDEX outbox_due ON outbox (next_attempt_at, id)
        WHERE delivered_at IS NULL AND abandoned_at IS NULL
        """,
        """
        CREATE INDEX outbox_pending_by_alert ON outbox (notifier, alert_fingerprint, id)
        WHERE delivered_at IS NULL AND abandoned_at IS NULL
        """,
        "CREATE INDEX outbox_by_transition ON outbox (transition_id)",
        """
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            outbox_id INTEGER NOT NULL REFERENCES outbox (id),
            notifier TEXT NOT NULL,
            at INTEGER NOT NULL,
            ok INTEGER NOT NULL,
            error TEXT
        )
        """,
        "CREATE INDEX deliveries_by_outbox ON deliveries (outbox_id, at)",
    ),
    # 2: weekly digests (docs/digest.md). A digest is posted once per period and
    # destination; its delivery goes through the outbox like an alert's, so an outbox row
    # now belongs to a transition OR a digest. SQLite cannot relax NOT NULL in place, so
    # the outbox is rebuilt (SQLite's documented procedure; ids, and so the deliveries
    # that reference them, are kept).
    (
        """
        CREATE TABLE digests (
            id INTEGER PRIMARY KEY,
            period TEXT NOT NULL,
            period_start INTEGER NOT NULL,
            period_end INTEGER NOT NULL,
            destination TEXT NOT NULL,
            revision INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            payload_hash TEXT NOT NULL,
            summary TEXT NOT NULL,
            parts INTEGER NOT NULL,
            parts_posted INTEGER NOT NULL DEFAULT 0,
            message_ts TEXT,
            posted_at INTEGER,
            claimed_until REAL,
            UNIQUE (period, destination, revision)
        )
        """,
        "CREATE INDEX digests_by_end ON digests (period_end, id)",
        """
        CREATE TABLE outbox_v2 (
            id INTEGER PRIMARY KEY,
            notifier TEXT NOT NULL,
            transition_id INTEGER REFERENCES transitions (id),
            alert_fingerprint TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL,
            delivered_at INTEGER,
            abandoned_at INTEGER,
            last_error TEXT,
            digest_id INTEGER REFERENCES digests (id),
            CHECK ((transition_id IS NULL) <> (digest_id IS NULL)),
            UNIQUE (notifier, transition_id),
            UNIQUE (notifier, digest_id)
        )
        """,
        """
        INSERT INTO outbox_v2 (id, notifier, transition_id, alert_fingerprint, payload,
            created_at, attempts, next_attempt_at, delivered_at, abandoned_at, last_error)
        SELECT id, notifier, transition_id, alert_fingerprint, payload, created_at, attempts,
            next_attempt_at, delivered_at, abandoned_at, last_error FROM outbox
        """,
        "DROP TABLE outbox",
        "ALTER TABLE outbox_v2 RENAME TO outbox",
        """
        CREATE INDEX outbox_due ON outbox (next_attempt_at, id)
        WHERE delivered_at IS NULL AND abandoned_at IS NULL
        """,
        """
        CREATE INDEX outbox_pending_by_alert ON outbox (notifier, alert_fingerprint, id)
        WHERE delivered_at IS NULL AND abandoned_at IS NULL
        """,
        "CREATE INDEX outbox_by_transition ON outbox (transition_id)",
    ),
    # 3: feedback (docs/suppressions.md). Which alerts a reviewed suppression covered
    # (one row per continuous episode), and which Alertmanager silences matched which of
    # our firing alerts (one row per Alertmanager, silence and alert).
    (
        """
        CREATE TABLE suppressed (
            id INTEGER PRIMARY KEY,
            rule_group TEXT NOT NULL,
            rule TEXT NOT NULL,
            alert_fingerprint TEXT NOT NULL,
            labels TEXT NOT NULL,
            kind TEXT NOT NULL,
            action TEXT NOT NULL,
            reason TEXT NOT NULL,
            given_by TEXT,
            since INTEGER NOT NULL,
            until INTEGER,
            entry TEXT NOT NULL,
            first_seen INTEGER NOT NULL,
            last_seen INTEGER NOT NULL,
            finding TEXT NOT NULL
        )
        """,
        "CREATE INDEX suppressed_by_alert ON suppressed (alert_fingerprint, last_seen)",
        """
        CREATE TABLE silences (
            id INTEGER PRIMARY KEY,
            alertmanager TEXT NOT NULL,
            silence_id TEXT NOT NULL,
            alert_fingerprint TEXT NOT NULL,
            labels TEXT NOT NULL,
            created_by TEXT NOT NULL,
            comment TEXT NOT NULL,
            starts_at INTEGER NOT NULL,
            ends_at INTEGER NOT NULL,
            first_seen INTEGER NOT NULL,
            last_seen INTEGER NOT NULL,
            UNIQUE (alertmanager, silence_id, alert_fingerprint)
        )
        """,
        "CREATE INDEX silences_by_alert ON silences (alert_fingerprint, first_seen)",
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)
_MEMORY = ":memory:"
_PENDING = "delivered_at IS NULL AND abandoned_at IS NULL"
_DUE = f"""
    SELECT o.* FROM outbox AS o
    JOIN (  -- the oldest pending item of each (notifier, alert): FIFO per alert
        SELECT MIN(id) AS head FROM outbox WHERE {_PENDING} GROUP BY notifier, alert_fingerprint
    ) AS heads ON heads.head = o.id
    WHERE (? OR o.next_attempt_at <= ?)
      AND (? IS NULL OR o.notifier IN (SELECT value FROM json_each(?)))
    ORDER BY o.next_attempt_at, o.id
    LIMIT ?
"""


class LedgerError(Exception):
    """The ledger cannot be used as asked: a newer schema, not a database, closed."""


def notifies(transition: Transition) -> bool:
    """Whether users are told about this transition: it fired, or a firing alert resolved.

    Pending is not news (most pending alerts never fire), and an alert dropped while
    pending was never announced, so there is nothing to resolve.
    """
    if transition.to is AlertState.FIRING:
        return True
    return transition.previous is AlertState.FIRING and transition.to is AlertState.INACTIVE


@dataclass(frozen=True)
class OutboxItem:
    """One notification waiting for one notifier: a transition's, or a digest's."""

    id: int
    notifier: str
    transition_id: int | None
    alert_fingerprint: str
    payload: dict[str, Any]
    created_at: int
    attempts: int
    next_attempt_at: int
    last_error: str | None
    digest_id: int | None = None


@dataclass(frozen=True)
class TransitionRecord:
    """A recorded alert transition with the finding behind it (for replay)."""

    id: int
    group: str
    rule: str
    alert_fingerprint: str
    labels: dict[str, str]
    kind: Kind
    previous: AlertState
    to: AlertState
    at: int
    finding: Finding


@dataclass(frozen=True)
class DigestRecord:
    """One queued digest (a period, a destination, a revision) and how far its post got.

    ``status`` is ``posted``, ``pending`` (waiting in the outbox, maybe after failed
    attempts: ``last_error``) or ``abandoned`` (refused, e.g. ``channel_not_found``, or
    superseded by a ``--force`` revision). ``summary`` is what the next period's digest
    reads to count consecutive weeks.
    """

    id: int
    period: str
    period_start: int
    period_end: int
    destination: str
    revision: int
    created_at: int
    payload_hash: str
    summary: dict[str, Any]
    parts: int
    parts_posted: int
    message_ts: str | None
    posted_at: int | None
    status: str
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class DeliveryRecord:
    """One delivery attempt: who was (or was not) told, when, and why not."""

    outbox_id: int
    notifier: str
    at: int
    ok: bool
    error: str | None


# -- feedback records ----------------------------------------------------------------------


@dataclass(frozen=True)
class SuppressedRecord:
    """An episode during which a reviewed suppression kept an alert from firing."""

    group: str
    rule: str
    alert_fingerprint: str
    labels: dict[str, str]
    kind: Kind
    action: str
    reason: str
    by: str | None
    since: int
    until: int | None
    entry: str
    first_seen: int
    last_seen: int
    finding: Finding


@dataclass(frozen=True)
class SilenceRecord:
    """An Alertmanager silence seen matching one of our firing alerts."""

    alertmanager: str
    silence_id: str
    alert_fingerprint: str
    labels: dict[str, str]
    created_by: str
    comment: str
    starts_at: int
    ends_at: int
    first_seen: int
    last_seen: int


@dataclass(frozen=True)
class KnownAlert:
    """An alert the daemon knows: one it holds now, or one that last fired earlier."""

    group: str
    rule: str
    alert_fingerprint: str
    labels: dict[str, str]
    kind: Kind
    state: AlertState
    finding: Finding
    at: int


class Ledger:
    """The daemon's memory in one SQLite file. Open with :meth:`Ledger.open`."""

    def __init__(self, connection: sqlite3.Connection, path: str) -> None:
        """Use :meth:`open`; this only wraps a connection that is already migrated."""
        self._connection: sqlite3.Connection | None = connection
        self._lock = threading.RLock()
        self.path = path

    # -- lifecycle ---------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str, *, busy_timeout: float = 5.0) -> Ledger:
        """Open (creating if needed) the ledger at ``path`` and bring its schema up to date.

        ``busy_timeout`` is how long a write waits for another process's lock before
        failing. ``":memory:"`` gives a throw-away ledger (no WAL) for tests.
        """
        location = str(path)
        if location != _MEMORY:
            Path(location).parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            location, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        connection.row_factory = sqlite3.Row
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            _refuse_newer(connection, location)
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if location != _MEMORY and str(mode).lower() != "wal":
                raise LedgerError(
                    f"ledger {location}: SQLite could not switch to WAL mode (got {mode!r}); "
                    "use a file on a local filesystem"
                )
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA foreign_keys = ON")
            _migrate(connection, location)
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise LedgerError(f"ledger {location} cannot be opened: {exc}") from exc
        except BaseException:
            connection.close()
            raise
        return cls(connection, location)

    def close(self) -> None:
        """Close the connection; further calls raise :class:`LedgerError`."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({self.path!r})"

    @property
    def schema_version(self) -> int:
        with self._lock:
            return _current_version(self._db())

    # -- evaluation --------------------------------------------------------------------

    def record_evaluation(
        self,
        *,
        group: str,
        rule: Rule,
        now: int,
        findings: Sequence[Finding],
        transitions: Sequence[Transition],
        alerts: Mapping[str, Alert],
        notifiers: Sequence[str],
        payloads: Callable[[Transition], Mapping[str, Any]],
    ) -> list[int]:
        """Record one evaluation of one rule in ONE transaction; return the transition ids.

        Writes the findings and transitions, replaces the rule's stored alerts with
        ``alerts`` (the book's alerts after the update), and queues one outbox row per
        notifier for each transition users are told about (:func:`notifies`), with the
        payload ``payloads(transition)`` (computed once, shared by the notifiers). If
        anything fails, a payload included, nothing is written. Call it right after
        ``AlertBook.update``: transitions hold the book's live ``Alert`` objects.
        """
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO findings (rule_group, rule, series_fingerprint, labels, kind,"
                " detected_at, onset, score, finding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_finding_row(group, rule.signal, f) for f in findings],
            )
            ids: list[int] = []
            for transition in transitions:
                alert = transition.alert
                cursor = db.execute(
                    "INSERT INTO transitions (rule_group, rule, alert_fingerprint, labels, kind,"
                    " from_state, to_state, at, finding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        group,
                        rule.signal,
                        alert.fingerprint,
                        _dumps(alert.labels),
                        alert.kind.value,
                        transition.previous.value,
                        transition.to.value,
                        int(transition.at),
                        _dumps(finding_to_json(alert.finding)),
                    ),
                )
                transition_id = _row_id(cursor)
                ids.append(transition_id)
                if notifiers and notifies(transition):
                    payload = _dumps(payloads(transition))
                    for notifier in notifiers:
                        _enqueue(db, transition_id, notifier, payload, now)
            db.execute(
                "DELETE FROM alert_state WHERE rule_group = ? AND rule = ?", (group, rule.signal)
            )
            db.executemany(
                "INSERT INTO alert_state (rule_group, rule, alert_fingerprint, alert, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (group, rule.signal, key, _dumps(_alert_to_json(alert)), now)
                    for key, alert in alerts.items()
                ],
            )
        return ids

    def load_alerts(self, *, group: str, rule: Rule) -> dict[str, Alert]:
        """The rule's alerts as last recorded, keyed by alert fingerprint (``AlertBook.alerts``)."""
        with self._lock:
            rows = self._db().execute(
                "SELECT alert_fingerprint, alert FROM alert_state"
                " WHERE rule_group = ? AND rule = ? ORDER BY alert_fingerprint",
                (group, rule.signal),
            )
            return {
                row["alert_fingerprint"]: _alert_from_json(json.loads(row["alert"])) for row in rows
            }

    def enqueue(
        self, *, transition_id: int, notifier: str, payload: Mapping[str, Any], now: int
    ) -> bool:
        """Queue a recorded transition for one more notifier (an operator's re-drive).

        Idempotent: returns ``False`` when this notifier already has that transition,
        delivered or not, because a transition is never queued twice per notifier.
        """
        with self._transaction() as db:
            if (
                db.execute("SELECT 1 FROM transitions WHERE id = ?", (transition_id,)).fetchone()
                is None
            ):
                raise LedgerError(f"no transition with id {transition_id}")
            return _enqueue(db, transition_id, notifier, _dumps(payload), now)

    def prune_findings(self, *, before: int) -> int:
        """Delete findings detected before ``before``; return how many (retention).

        Findings are the bulk of the file (one row per finding per evaluation);
        transitions, the outbox and deliveries are kept, as replay needs them.
        """
        with self._transaction() as db:
            return db.execute("DELETE FROM findings WHERE detected_at < ?", (before,)).rowcount

    # -- outbox ------------------------------------------------------------------------

    def due(
        self,
        now: int,
        *,
        limit: int = 100,
        notifiers: Collection[str] | None = None,
        ignore_backoff: bool = False,
    ) -> list[OutboxItem]:
        """Outbox items to attempt at ``now``, oldest schedule first.

        Per notifier and alert, only the oldest undelivered item is due, so a "resolved"
        can never overtake the "firing" it ends. ``notifiers`` restricts the answer to
        the configured ones (items for others wait, they are never dropped);
        ``ignore_backoff`` returns items whose next attempt is still in the future (the
        shutdown flush).
        """
        names = None if notifiers is None else json.dumps(sorted(notifiers))
        with self._lock:
            rows = self._db().execute(_DUE, (ignore_backoff, now, names, names, limit))
            return [_outbox_item(row) for row in rows]

    def mark_delivered(self, item_id: int, *, at: int) -> None:
        """The notifier accepted the item: it leaves the outbox; the attempt is logged."""
        with self._transaction() as db:
            notifier = _pending_notifier(db, item_id)
            db.execute(
                "UPDATE outbox SET delivered_at = ?, attempts = attempts + 1, last_error = NULL"
                " WHERE id = ?",
                (at, item_id),
            )
            db.execute(  # a digest is posted when its outbox item is delivered
                "UPDATE digests SET posted_at = ?, claimed_until = NULL"
                " WHERE id = (SELECT digest_id FROM outbox WHERE id = ?)",
                (at, item_id),
            )
            _log_attempt(db, item_id, notifier, at=at, error=None)

    def mark_failed(
        self, item_id: int, *, at: int, error: str, next_attempt_at: int | None
    ) -> None:
        """An attempt failed: retry at ``next_attempt_at``, or never when it is ``None``.

        A never-retried item (``abandoned_at`` set, e.g. an HTTP 400) stays in the table
        with its error, so the ledger shows that delivery was tried and refused.
        """
        with self._transaction() as db:
            notifier = _pending_notifier(db, item_id)
            if next_attempt_at is None:
                db.execute(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = ?, abandoned_at = ?"
                    " WHERE id = ?",
                    (error, at, item_id),
                )
            else:
                db.execute(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?"
                    " WHERE id = ?",
                    (error, next_attempt_at, item_id),
                )
            _log_attempt(db, item_id, notifier, at=at, error=error)

    def outbox_depth(self) -> int:
        """How many notifications still wait for delivery (neither delivered nor abandoned)."""
        with self._lock:
            row = self._db().execute(f"SELECT COUNT(*) FROM outbox WHERE {_PENDING}").fetchone()
            return int(row[0])

    def pending_by_notifier(self) -> dict[str, int]:
        """Waiting notifications per notifier name (finds items for removed notifiers)."""
        with self._lock:
            rows = self._db().execute(
                f"SELECT notifier, COUNT(*) FROM outbox WHERE {_PENDING} GROUP BY notifier"
            )
            return {str(row[0]): int(row[1]) for row in rows}

    def oldest_pending_age(self, now: int) -> float | None:
        """Seconds the oldest waiting notification has waited, or ``None`` when none waits."""
        with self._lock:
            row = (
                self._db()
                .execute(f"SELECT MIN(created_at) FROM outbox WHERE {_PENDING}")
                .fetchone()
            )
        return None if row[0] is None else float(now - row[0])

    # -- history (replay) --------------------------------------------------------------

    def transitions_for(
        self, alert_fingerprint: str, *, start: int, end: int
    ) -> list[TransitionRecord]:
        """The alert's transitions with ``start < at <= end`` (replay's window), in order."""
        with self._lock:
            rows = (
                self._db()
                .execute(
                    "SELECT * FROM transitions WHERE alert_fingerprint = ? AND at > ? AND at <= ?"
                    " ORDER BY at, id",
                    (alert_fingerprint, start, end),
                )
                .fetchall()
            )
        return [
            TransitionRecord(
                id=int(row["id"]),
                group=str(row["rule_group"]),
                rule=str(row["rule"]),
                alert_fingerprint=str(row["alert_fingerprint"]),
                labels=dict(json.loads(row["labels"])),
                kind=Kind(row["kind"]),
                previous=AlertState(row["from_state"]),
                to=AlertState(row["to_state"]),
                at=int(row["at"]),
                finding=finding_from_json(json.loads(row["finding"])),
            )
            for row in rows
        ]

    def deliveries_for(self, transition_id: int) -> list[DeliveryRecord]:
        """Every delivery attempt for the transition, all notifiers, in time order."""
        with self._lock:
            rows = (
                self._db()
                .execute(
                    "SELECT d.outbox_id, d.notifier, d.at, d.ok, d.error FROM deliveries AS d"
                    " JOIN outbox AS o ON o.id = d.outbox_id WHERE o.transition_id = ?"
                    " ORDER BY d.at, d.id",
                    (transition_id,),
                )
                .fetchall()
            )
        return [
            DeliveryRecord(
                outbox_id=int(row["outbox_id"]),
                notifier=str(row["notifier"]),
                at=int(row["at"]),
                ok=bool(row["ok"]),
                error=row["error"],
            )
            for row in rows
        ]

    # -- digests -----------------------------------------------------------------------

    def queue_digest(
        self,
        *,
        period: str,
        period_start: int,
        period_end: int,
        destination: str,
        notifier: str,
        messages: Sequence[Mapping[str, Any]],
        summary: Mapping[str, Any],
        payload_hash: str,
        now: int,
        force: bool = False,
    ) -> DigestRecord | None:
        """Queue a digest for posting, once per period and destination; ``None`` if done.

        A digest already posted or waiting for this period and destination wins and
        nothing is queued, unless ``force``: then a waiting one is superseded (abandoned,
        its parts already posted stay posted) and a new revision is queued. An abandoned
        digest (Slack refused it) blocks a new one too when some of its parts were posted
        (a new revision would post them again), unless ``force``; one refused before any
        part was posted does not. The digest and its outbox row (``notifier``, one payload
        holding every message) are written in one transaction.
        """
        with self._transaction() as db:
            live = [r for r in _digest_rows(db, period, destination) if self.blocks_requeue(r)]
            if live and not force:
                return None
            for record in live:
                if record.status == "pending":
                    db.execute(
                        "UPDATE outbox SET abandoned_at = ?, last_error = ?"
                        f" WHERE digest_id = ? AND {_PENDING}",
                        (now, "superseded by a forced revision", record.id),
                    )
            row = db.execute(
                "SELECT COALESCE(MAX(revision), 0) FROM digests"
                " WHERE period = ? AND destination = ?",
                (period, destination),
            ).fetchone()
            cursor = db.execute(
                "INSERT INTO digests (period, period_start, period_end, destination, revision,"
                " created_at, payload_hash, summary, parts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    period,
                    period_start,
                    period_end,
                    destination,
                    int(row[0]) + 1,
                    now,
                    payload_hash,
                    _dumps(dict(summary)),
                    len(messages),
                ),
            )
            digest_id = _row_id(cursor)
            payload = {
                "status": "digest",
                "digest_id": digest_id,
                "period": period,
                "destination": destination,
                "messages": [dict(m) for m in messages],
            }
            db.execute(
                "INSERT INTO outbox (notifier, digest_id, alert_fingerprint, payload, created_at,"
                " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)",
                (notifier, digest_id, f"digest:{destination}", _dumps(payload), now, now),
            )
            return _digest_by_id(db, digest_id)

    @staticmethod
    def blocks_requeue(record: DigestRecord) -> bool:
        """Whether ``record`` keeps a new revision of its period from being queued:
        posted, waiting, or abandoned after some of its parts were posted."""
        return record.status != "abandoned" or record.parts_posted > 0

    def digest(self, digest_id: int) -> DigestRecord:
        """One digest by id (``LedgerError`` if there is none)."""
        with self._lock:
            return _digest_by_id(self._db(), digest_id)

    def digests_for(self, period: str, destination: str | None = None) -> list[DigestRecord]:
        """Every revision queued for ``period`` (and ``destination``), oldest first."""
        with self._lock:
            return _digest_rows(self._db(), period, destination)

    def claim_digest(self, digest_id: int, *, now: float, lease: float) -> float | None:
        """Take the right to post ``digest_id`` for ``lease`` seconds: the claim's token,
        or ``None`` when another process holds it.

        Two processes sharing the ledger (the daemon and ``graysignal digest --post``)
        must not post the same parts: whoever claims first posts, the other retries later.
        The token is the lease's end plus a few milliseconds that tell two claims apart;
        :meth:`renew_digest_claim` and :meth:`release_digest` act only with it.
        """
        token = now + lease + self._claim_jitter()
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE digests SET claimed_until = ? WHERE id = ?"
                " AND (claimed_until IS NULL OR claimed_until <= ?) AND posted_at IS NULL",
                (token, digest_id, now),
            )
            return token if cursor.rowcount == 1 else None

    @staticmethod
    def _claim_jitter() -> float:
        """Under 10 ms that tells two claims made at the same moment apart."""
        return (time.perf_counter_ns() % 10_000_000) * 1e-9

    def renew_digest_claim(
        self, digest_id: int, token: float, *, now: float, lease: float
    ) -> float | None:
        """Extend a claim still held with ``token`` (compare-and-set): the new token, or
        ``None`` when the claim was lost (another process took over after it expired)."""
        renewed = now + lease + self._claim_jitter()
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE digests SET claimed_until = ? WHERE id = ? AND claimed_until = ?"
                " AND posted_at IS NULL",
                (renewed, digest_id, token),
            )
            return renewed if cursor.rowcount == 1 else None

    def release_digest(self, digest_id: int, token: float | None = None) -> None:
        """Give up a claim (a failed attempt), so the next attempt need not wait the lease;
        with ``token``, only while that claim is still the one held."""
        with self._transaction() as db:
            db.execute(
                "UPDATE digests SET claimed_until = NULL WHERE id = ?"
                " AND (? IS NULL OR claimed_until = ?)",
                (digest_id, token, token),
            )

    def record_digest_part(
        self, digest_id: int, *, parts_posted: int, message_ts: str | None = None
    ) -> None:
        """Slack accepted part ``parts_posted`` (1-based): a restart posts only the rest.

        ``message_ts`` (the first message's, from the Web API) is kept so follow-ups
        posted after a restart still go into its thread.
        """
        with self._transaction() as db:
            db.execute(
                "UPDATE digests SET parts_posted = MAX(parts_posted, ?),"
                " message_ts = COALESCE(message_ts, ?) WHERE id = ?",
                (parts_posted, message_ts, digest_id),
            )

    def previous_digest_summary(self, period: str) -> dict[str, Any] | None:
        """The stored summary of the latest digest of ``period`` (the label of the period
        before the one being built, e.g. ``2026-W46``).

        Any destination will do (the summary depends on the data, not on where it went);
        abandoned revisions are skipped.
        """
        with self._lock:
            rows = self._db().execute(
                f"{_DIGEST_SELECT} WHERE d.period = ? ORDER BY d.created_at DESC, d.id DESC",
                (period,),
            )
            for row in rows:
                record = _digest_record(row)
                if record.status != "abandoned":
                    return record.summary
        return None

    def transitions_between(self, start: int, end: int) -> list[TransitionRecord]:
        """Every recorded transition with ``start < at <= end``, in order (the digest)."""
        with self._lock:
            rows = (
                self._db()
                .execute(
                    "SELECT * FROM transitions WHERE at > ? AND at <= ? ORDER BY at, id",
                    (start, end),
                )
                .fetchall()
            )
        return [_transition_record(row) for row in rows]

    # -- feedback: silences and suppressions --------------------------------------------

    def record_suppressed(
        self,
        *,
        group: str,
        rule: str,
        now: int,
        covered: Sequence[tuple[str, Mapping[str, str], Suppressed]],
        gap: int,
    ) -> list[tuple[str, Suppression]]:
        """Record suppressed alerts ``(alert fingerprint, alert labels, suppressed)`` at
        ``now``; return the ones whose episode starts now (for the "started" log line).

        An episode continues when the same alert was covered by the same entry (action
        and ``since``) within ``gap`` seconds, so a restart does not split one.
        """
        started: list[tuple[str, Suppression]] = []
        with self._transaction() as db:
            for alert_fingerprint, labels, item in covered:
                entry = item.suppression
                updated = db.execute(
                    "UPDATE suppressed SET last_seen = ?, finding = ?, until = ?, reason = ?,"
                    " given_by = ?, entry = ? WHERE id = (SELECT id FROM suppressed"
                    " WHERE alert_fingerprint = ? AND action = ? AND since = ? AND last_seen >= ?"
                    " ORDER BY last_seen DESC LIMIT 1)",
                    (
                        now,
                        _dumps(finding_to_json(item.finding)),
                        entry.until,
                        entry.reason,
                        entry.by,
                        entry.where,
                        alert_fingerprint,
                        entry.action.value,
                        entry.since,
                        now - gap,
                    ),
                ).rowcount
                if updated:
                    continue
                db.execute(
                    "INSERT INTO suppressed (rule_group, rule, alert_fingerprint, labels, kind,"
                    " action, reason, given_by, since, until, entry, first_seen, last_seen,"
                    " finding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        group,
                        rule,
                        alert_fingerprint,
                        _dumps(dict(labels)),
                        item.finding.kind.value,
                        entry.action.value,
                        entry.reason,
                        entry.by,
                        entry.since,
                        entry.until,
                        entry.where,
                        now,
                        now,
                        _dumps(finding_to_json(item.finding)),
                    ),
                )
                started.append((alert_fingerprint, entry))
        return started

    def suppressed_for(
        self, alert_fingerprint: str, *, start: int, end: int
    ) -> list[SuppressedRecord]:
        """Suppression episodes of the alert overlapping ``[start, end]``, oldest first."""
        with self._lock:
            rows = (
                self._db()
                .execute(
                    "SELECT * FROM suppressed WHERE alert_fingerprint = ? AND first_seen <= ?"
                    " AND last_seen >= ? ORDER BY first_seen, id",
                    (alert_fingerprint, end, start),
                )
                .fetchall()
            )
        return [
            SuppressedRecord(
                group=str(row["rule_group"]),
                rule=str(row["rule"]),
                alert_fingerprint=str(row["alert_fingerprint"]),
                labels=dict(json.loads(row["labels"])),
                kind=Kind(row["kind"]),
                action=str(row["action"]),
                reason=str(row["reason"]),
                by=row["given_by"],
                since=int(row["since"]),
                until=None if row["until"] is None else int(row["until"]),
                entry=str(row["entry"]),
                first_seen=int(row["first_seen"]),
                last_seen=int(row["last_seen"]),
                finding=finding_from_json(json.loads(row["finding"])),
            )
            for row in rows
        ]

    def suppressed_between(self, *, start: int, end: int) -> list[SuppressedRecord]:
        """Every suppression episode overlapping ``[start, end]`` (a digest's period)."""
        with self._lock:
            rows = (
                self._db()
                .execute(
                    "SELECT alert_fingerprint FROM suppressed WHERE first_seen <= ?"
                    " AND last_seen >= ? GROUP BY alert_fingerprint ORDER BY MIN(first_seen)",
                    (end, start),
                )
                .fetchall()
            )
        return [
            record
            for row in rows
            for record in self.suppressed_for(str(row[0]), start=start, end=end)
        ]

    def record_silences(
        self, *, alertmanager: str, now: int, seen: Sequence[SilenceRecord]
    ) -> list[SilenceRecord]:
        """Record silences of one Alertmanager matching our alerts at ``now``; return the
        (silence, alert) pairs seen for the first time. ``first_seen``/``last_seen`` of
        ``seen`` are ignored: the ledger keeps the first sighting and moves the last to
        ``now``.
        """
        new: list[SilenceRecord] = []
        with self._transaction() as db:
            for record in seen:
                key = (alertmanager, record.silence_id, record.alert_fingerprint)
                exists = db.execute(
                    "SELECT 1 FROM silences WHERE alertmanager = ? AND silence_id = ?"
                    " AND alert_fingerprint = ?",
                    key,
                ).fetchone()
                if exists is None:
                    new.append(record)
                db.execute(
                    "INSERT INTO silences (alertmanager, silence_id, alert_fingerprint, labels,"
                    " created_by, comment, starts_at, ends_at, first_seen, last_seen)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (alertmanager, silence_id, alert_fingerprint) DO UPDATE SET"
                    " last_seen = excluded.last_seen, created_by = excluded.created_by,"
                    " comment = excluded.comment, starts_at = excluded.starts_at,"
                    " ends_at = excluded.ends_at",
                    (
                        *key,
                        _dumps(record.labels),
                        record.created_by,
                        record.comment,
                        record.starts_at,
                        record.ends_at,
                        now,
                        now,
                    ),
                )
        return new

    def silences_for(self, alert_fingerprint: str, *, start: int, end: int) -> list[SilenceRecord]:
        """Silences seen on the alert overlapping ``[start, end]``, first seen first."""
        with self._lock:
            rows = (
                self._db()
                .execute(
                    "SELECT * FROM silences WHERE alert_fingerprint = ? AND first_seen <= ?"
                    " AND last_seen >= ? ORDER BY first_seen, id",
                    (alert_fingerprint, end, start),
                )
                .fetchall()
            )
        return [
            SilenceRecord(
                alertmanager=str(row["alertmanager"]),
                silence_id=str(row["silence_id"]),
                alert_fingerprint=str(row["alert_fingerprint"]),
                labels=dict(json.loads(row["labels"])),
                created_by=str(row["created_by"]),
                comment=str(row["comment"]),
                starts_at=int(row["starts_at"]),
                ends_at=int(row["ends_at"]),
                first_seen=int(row["first_seen"]),
                last_seen=int(row["last_seen"]),
            )
            for row in rows
        ]

    def known_alerts(self) -> list[KnownAlert]:
        """Alerts held now (pending or firing), then every other alert as it last fired;
        what ``graysignal ack`` chooses from."""
        with self._lock:
            db = self._db()
            held = db.execute(
                "SELECT rule_group, rule, alert_fingerprint, alert, updated_at FROM alert_state"
                " ORDER BY rule_group, rule, alert_fingerprint"
            ).fetchall()
            fired = db.execute(
                "SELECT t.* FROM transitions AS t JOIN (SELECT MAX(id) AS last FROM transitions"
                " WHERE to_state = 'firing' GROUP BY alert_fingerprint) AS l ON l.last = t.id"
                " ORDER BY t.at DESC, t.id DESC"
            ).fetchall()
        known: list[KnownAlert] = []
        for row in held:
            alert = _alert_from_json(json.loads(row["alert"]))
            known.append(
                KnownAlert(
                    group=str(row["rule_group"]),
                    rule=str(row["rule"]),
                    alert_fingerprint=str(row["alert_fingerprint"]),
                    labels=alert.labels,
                    kind=alert.kind,
                    state=alert.state,
                    finding=alert.finding,
                    at=int(row["updated_at"]),
                )
            )
        current = {k.alert_fingerprint for k in known}
        for row in fired:
            if row["alert_fingerprint"] in current:
                continue
            known.append(
                KnownAlert(
                    group=str(row["rule_group"]),
                    rule=str(row["rule"]),
                    alert_fingerprint=str(row["alert_fingerprint"]),
                    labels=dict(json.loads(row["labels"])),
                    kind=Kind(row["kind"]),
                    state=AlertState.INACTIVE,
                    finding=finding_from_json(json.loads(row["finding"])),
                    at=int(row["at"]),
                )
            )
        return known

    # -- internals ---------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            raise LedgerError(f"ledger {self.path} is closed")
        return self._connection

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on any exception."""
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise


# -- schema --------------------------------------------------------------------------------


def _current_version(db: sqlite3.Connection) -> int:
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if exists is None:
        return 0
    row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def _refuse_newer(db: sqlite3.Connection, location: str) -> None:
    found = _current_version(db)
    if found > SCHEMA_VERSION:
        raise LedgerError(
            f"ledger {location} has schema version {found}, but this graysignal only "
            f"knows versions up to {SCHEMA_VERSION}: it was written by a newer graysignal. "
            "Upgrade graysignal, or use another ledger file; the file was left untouched."
        )


def _migrate(db: sqlite3.Connection, location: str) -> None:
    """Apply the missing migrations in order, all in one transaction.

    Foreign keys are off while migrating (a migration may rebuild a referenced table,
    SQLite's documented procedure) and checked before the commit instead.
    """
    db.execute("PRAGMA foreign_keys = OFF")  # only takes effect outside a transaction
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_version"
            " (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)"
        )
        _refuse_newer(db, location)  # again, inside the lock: another process may have won
        for version in range(_current_version(db) + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version - 1]:
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                (version, int(time.time())),
            )
        broken = db.execute("PRAGMA foreign_key_check").fetchone()
        if broken is not None:
            raise LedgerError(f"ledger {location}: migration broke a reference: {tuple(broken)}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    finally:
        db.execute("PRAGMA foreign_keys = ON")


# -- rows ----------------------------------------------------------------------------------


def _row_id(cursor: sqlite3.Cursor) -> int:
    if cursor.lastrowid is None:  # pragma: no cover - sqlite3 always sets it after INSERT
        raise LedgerError("INSERT returned no row id")
    return int(cursor.lastrowid)


def _enqueue(
    db: sqlite3.Connection, transition_id: int, notifier: str, payload: str, now: int
) -> bool:
    cursor = db.execute(
        "INSERT INTO outbox (notifier, transition_id, alert_fingerprint, payload, created_at,"
        " next_attempt_at) SELECT ?, id, alert_fingerprint, ?, ?, ? FROM transitions"
        " WHERE id = ? ON CONFLICT (notifier, transition_id) DO NOTHING",
        (notifier, payload, now, now, transition_id),
    )
    return cursor.rowcount == 1


def _pending_notifier(db: sqlite3.Connection, item_id: int) -> str:
    row = db.execute(
        f"SELECT notifier FROM outbox WHERE id = ? AND {_PENDING}", (item_id,)
    ).fetchone()
    if row is None:
        raise LedgerError(f"outbox item {item_id} does not exist or is no longer pending")
    return str(row[0])


def _log_attempt(
    db: sqlite3.Connection, item_id: int, notifier: str, *, at: int, error: str | None
) -> None:
    """Append to ``deliveries``: the attempt succeeded exactly when there is no error."""
    db.execute(
        "INSERT INTO deliveries (outbox_id, notifier, at, ok, error) VALUES (?, ?, ?, ?, ?)",
        (item_id, notifier, at, error is None, error),
    )


def _outbox_item(row: sqlite3.Row) -> OutboxItem:
    return OutboxItem(
        id=int(row["id"]),
        notifier=str(row["notifier"]),
        transition_id=None if row["transition_id"] is None else int(row["transition_id"]),
        alert_fingerprint=str(row["alert_fingerprint"]),
        payload=dict(json.loads(row["payload"])),
        created_at=int(row["created_at"]),
        attempts=int(row["attempts"]),
        next_attempt_at=int(row["next_attempt_at"]),
        last_error=row["last_error"],
        digest_id=None if row["digest_id"] is None else int(row["digest_id"]),
    )


def _finding_row(group: str, rule: str, finding: Finding) -> tuple[Any, ...]:
    score = float(finding.score)
    return (
        group,
        rule,
        fingerprint(finding.labels),
        _dumps(dict(finding.labels)),
        finding.kind.value,
        int(finding.detected_at),
        int(finding.onset),
        score if math.isfinite(score) else None,
        _dumps(finding_to_json(finding)),
    )


# -- JSON ----------------------------------------------------------------------------------


def _json_default(value: object) -> Any:
    """numpy scalars (``np.int64`` timestamps) become plain Python numbers."""
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _dumps(value: Any) -> str:
    """Strict JSON (no NaN/Infinity), so any SQLite JSON function or tool can read it."""
    return json.dumps(value, allow_nan=False, separators=(",", ":"), default=_json_default)


def _text_for_non_finite(value: Any) -> Any:
    """Non-finite floats as the text ``float()`` reads back (``"inf"``), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: _text_for_non_finite(v) for k, v in value.items()}
    return value


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def finding_to_json(finding: Finding) -> dict[str, Any]:
    """``Finding.to_dict`` with non-finite floats as text, so it round-trips exactly."""
    return dict(_text_for_non_finite(finding.to_dict()))


def finding_from_json(data: Mapping[str, Any]) -> Finding:
    """The inverse of :func:`finding_to_json`."""
    return Finding(
        rule=str(data["rule"]),
        labels={str(k): str(v) for k, v in data["labels"].items()},
        kind=Kind(data["kind"]),
        onset=int(data["onset"]),
        detected_at=int(data["detected_at"]),
        direction=Direction(data["direction"]),
        before=float(data["before"]),
        after=float(data["after"]),
        relative_change=float(data["relative_change"]),
        score=float(data["score"]),
        explanation=str(data["explanation"]),
        slope_per_day=_optional_float(data.get("slope_per_day")),
        time_to_limit=_optional_float(data.get("time_to_limit")),
        seasonality=str(data.get("seasonality", "none")),
        extra={str(k): float(v) for k, v in data.get("extra", {}).items()},
    )


def _alert_to_json(alert: Alert) -> dict[str, Any]:
    return {
        "labels": dict(alert.labels),
        "kind": alert.kind.value,
        "series_fingerprint": alert.series_fingerprint,
        "state": alert.state.value,
        "active_since": int(alert.active_since),
        "last_seen": int(alert.last_seen),
        "finding": finding_to_json(alert.finding),
        "first_finding": finding_to_json(alert.first_finding),
        "fired_at": alert.fired_at,
        "keep_firing_since": alert.keep_firing_since,
    }


def _alert_from_json(data: Mapping[str, Any]) -> Alert:
    return Alert(
        labels={str(k): str(v) for k, v in data["labels"].items()},
        kind=Kind(data["kind"]),
        series_fingerprint=str(data["series_fingerprint"]),
        state=AlertState(data["state"]),
        active_since=int(data["active_since"]),
        last_seen=int(data["last_seen"]),
        finding=finding_from_json(data["finding"]),
        first_finding=finding_from_json(data["first_finding"]),
        fired_at=None if data["fired_at"] is None else int(data["fired_at"]),
        keep_firing_since=(
            None if data["keep_firing_since"] is None else int(data["keep_firing_since"])
        ),
    )


# -- digest rows ---------------------------------------------------------------------------

_DIGEST_SELECT = """
    SELECT d.*, o.delivered_at, o.abandoned_at, o.attempts, o.last_error FROM digests AS d
    LEFT JOIN outbox AS o ON o.digest_id = d.id
"""


def _digest_status(row: sqlite3.Row) -> str:
    if row["posted_at"] is not None or row["delivered_at"] is not None:
        return "posted"
    if row["abandoned_at"] is not None:
        return "abandoned"
    return "pending"


def _digest_record(row: sqlite3.Row) -> DigestRecord:
    return DigestRecord(
        id=int(row["id"]),
        period=str(row["period"]),
        period_start=int(row["period_start"]),
        period_end=int(row["period_end"]),
        destination=str(row["destination"]),
        revision=int(row["revision"]),
        created_at=int(row["created_at"]),
        payload_hash=str(row["payload_hash"]),
        summary=dict(json.loads(row["summary"])),
        parts=int(row["parts"]),
        parts_posted=int(row["parts_posted"]),
        message_ts=row["message_ts"],
        posted_at=None if row["posted_at"] is None else int(row["posted_at"]),
        status=_digest_status(row),
        attempts=int(row["attempts"] or 0),
        last_error=row["last_error"],
    )


def _digest_by_id(db: sqlite3.Connection, digest_id: int) -> DigestRecord:
    row = db.execute(f"{_DIGEST_SELECT} WHERE d.id = ?", (digest_id,)).fetchone()
    if row is None:
        raise LedgerError(f"no digest with id {digest_id}")
    return _digest_record(row)


def _digest_rows(
    db: sqlite3.Connection, period: str, destination: str | None
) -> list[DigestRecord]:
    rows = db.execute(
        f"{_DIGEST_SELECT} WHERE d.period = ? AND (? IS NULL OR d.destination = ?)"
        " ORDER BY d.revision, d.id",
        (period, destination, destination),
    )
    return [_digest_record(row) for row in rows]


def _transition_record(row: sqlite3.Row) -> TransitionRecord:
    return TransitionRecord(
        id=int(row["id"]),
        group=str(row["rule_group"]),
        rule=str(row["rule"]),
        alert_fingerprint=str(row["alert_fingerprint"]),
        labels=dict(json.loads(row["labels"])),
        kind=Kind(row["kind"]),
        previous=AlertState(row["from_state"]),
        to=AlertState(row["to_state"]),
        at=int(row["at"]),
        finding=finding_from_json(json.loads(row["finding"])),
    )
