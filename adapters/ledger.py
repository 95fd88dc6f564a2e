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

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "DeliveryRecord",
    "Ledger",
    "LedgerError",
    "OutboxItem",
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
    """One notification waiting for one notifier."""

    id: int
    notifier: str
    transition_id: int
    alert_fingerprint: str
    payload: dict[str, Any]
    created_at: int
    attempts: int
    next_attempt_at: int
    last_error: str | None


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
class DeliveryRecord:
    """One delivery attempt: who was (or was not) told, when, and why not."""

    outbox_id: int
    notifier: str
    at: int
    ok: bool
    error: str | None


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
    """Apply the missing migrations in order, all in one transaction."""
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
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


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
        transition_id=int(row["transition_id"]),
        alert_fingerprint=str(row["alert_fingerprint"]),
        payload=dict(json.loads(row["payload"])),
        created_at=int(row["created_at"]),
        attempts=int(row["attempts"]),
        next_attempt_at=int(row["next_attempt_at"]),
        last_error=row["last_error"],
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
