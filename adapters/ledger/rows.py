"""Writes shared by the ledger's methods: row ids, outbox rows, delivery attempts, findings."""

from __future__ import annotations

import math
import sqlite3
from typing import Any

from adapters.ledger.codec import _dumps, finding_to_json
from adapters.ledger.errors import LedgerError
from detector.finding import Finding
from detector.series import fingerprint

_PENDING = "delivered_at IS NULL AND abandoned_at IS NULL"


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
