"""Feedback: suppressed alerts, Alertmanager silences, and the alerts to acknowledge."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from adapters.ledger.base import LedgerBase
from adapters.ledger.codec import _alert_from_json, _dumps, finding_from_json, finding_to_json
from adapters.ledger.records import KnownAlert, SilenceRecord, SuppressedRecord
from detector.alerts import AlertState
from detector.finding import Kind
from detector.suppressions import Suppressed, Suppression


class LedgerFeedback(LedgerBase):
    """The ledger's feedback methods: silences and suppressions."""

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
