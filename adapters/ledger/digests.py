"""Digests: queueing, claiming and posting progress, and what a digest reads."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import Any

from adapters.ledger.base import LedgerBase
from adapters.ledger.codec import _dumps
from adapters.ledger.errors import LedgerError
from adapters.ledger.records import (
    DigestRecord,
    TransitionRecord,
    _digest_record,
    _transition_record,
)
from adapters.ledger.rows import _PENDING, _row_id

# -- digest rows ---------------------------------------------------------------------------

_DIGEST_SELECT = """
    SELECT d.*, o.delivered_at, o.abandoned_at, o.attempts, o.last_error FROM digests AS d
    LEFT JOIN outbox AS o ON o.digest_id = d.id
"""


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


class LedgerDigests(LedgerBase):
    """The ledger's digest methods."""

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
