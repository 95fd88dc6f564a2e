"""The versioned schema: the ordered migrations and how a ledger file is brought up to
date (or refused when a newer graysignal wrote it)."""

from __future__ import annotations

import sqlite3
import time
from typing import Final

from adapters.ledger.errors import LedgerError

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
