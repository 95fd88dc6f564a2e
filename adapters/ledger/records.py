"""The records the ledger returns, and the converters from rows to records."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from adapters.ledger.codec import finding_from_json
from detector.alerts import AlertState
from detector.finding import Finding, Kind


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


# -- rows -> records ----------------------------------------------------------------------


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
