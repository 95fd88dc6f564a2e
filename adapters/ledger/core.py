"""The :class:`Ledger`: opening and closing, evaluations and alert state, the outbox,
and history for replay; digests and feedback come from their mixins."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from adapters.ledger.codec import (
    _alert_from_json,
    _alert_to_json,
    _dumps,
    finding_to_json,
)
from adapters.ledger.digests import LedgerDigests
from adapters.ledger.errors import LedgerError
from adapters.ledger.feedback import LedgerFeedback
from adapters.ledger.records import (
    DeliveryRecord,
    OutboxItem,
    TransitionRecord,
    _outbox_item,
    _transition_record,
)
from adapters.ledger.rows import (
    _PENDING,
    _enqueue,
    _finding_row,
    _log_attempt,
    _pending_notifier,
    _row_id,
)
from adapters.ledger.schema import _current_version, _migrate, _refuse_newer
from detector.alerts import Alert, AlertState, Transition
from detector.finding import Finding
from detector.rule import Rule

_MEMORY = ":memory:"
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


def _try_a_write(connection: sqlite3.Connection) -> None:
    """Write a row back unchanged and roll back: raises if the file cannot be written."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute("UPDATE schema_version SET version = version")
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")


def notifies(transition: Transition) -> bool:
    """Whether users are told about this transition: it fired, or a firing alert resolved.

    Pending is not news (most pending alerts never fire), and an alert dropped while
    pending was never announced, so there is nothing to resolve.
    """
    if transition.to is AlertState.FIRING:
        return True
    return transition.previous is AlertState.FIRING and transition.to is AlertState.INACTIVE


class Ledger(LedgerDigests, LedgerFeedback):
    """The daemon's memory in one SQLite file. Open with :meth:`Ledger.open`."""

    # -- lifecycle ---------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: Path | str, *, busy_timeout: float = 5.0, for_writing: bool = False
    ) -> Ledger:
        """Open (creating if needed) the ledger at ``path`` and bring its schema up to date.

        ``busy_timeout`` is how long a write waits for another process's lock before
        failing. ``":memory:"`` gives a throw-away ledger (no WAL) for tests.
        ``for_writing`` (the daemon) tries a write and refuses a ledger that cannot take
        one: SQLite opens a read-only file, and one left by a crash even in WAL mode,
        and only the first write would fail, every cycle, with nothing delivered.
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
            if for_writing:
                _try_a_write(connection)
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
        return [_transition_record(row) for row in rows]

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
