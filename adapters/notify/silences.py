"""Alertmanager silences: which of our alerts a human silenced, by whom, and why.

A silence is a reaction: someone saw the alert and decided not to hear it. A retrospective
that ignores it would call a dismissed warning "no reaction". So the daemon reads each
Alertmanager's silences (``GET {url}/api/v2/silences``) on its re-send tick, matches the
*active* ones against the label sets of its own firing alerts with Alertmanager's
semantics (``=``, ``!=``, ``=~``, ``!~``; regexes anchored at both ends; a missing label
is the empty string), and records every match in the ledger (first and last seen).

An Alertmanager that is down or answers nonsense is logged and counted
(``graysignal_alertmanager_silence_polls_total{outcome="error"}``); it never stops the
loop. URLs may carry credentials: only the display URL (without user:password) is ever
logged, and any text coming back is redacted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from adapters.daemon.metrics import DaemonMetrics
from adapters.ledger import Ledger, SilenceRecord
from adapters.notify.base import redact, register_secret, require_http_url, url_secrets
from adapters.timeparse import parse_timestamp
from detector.series import fingerprint

__all__ = ["Silence", "SilenceMatcher", "SilenceReader", "SilenceWatcher", "silence_readers"]

log = structlog.get_logger("graysignal.silences")
ERROR_BODY_CHARS = 200


class SilenceReadError(Exception):
    """An Alertmanager's silences could not be read; the message is safe to log."""


@dataclass(frozen=True)
class SilenceMatcher:
    """One matcher of a silence, as Alertmanager evaluates it."""

    name: str
    value: str
    is_regex: bool
    is_equal: bool = True

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.name, "")
        if self.is_regex:
            try:
                hit = re.fullmatch(self.value, value) is not None
            except re.error:
                return False  # Alertmanager would have refused it; never match
        else:
            hit = value == self.value
        return hit if self.is_equal else not hit


@dataclass(frozen=True)
class Silence:
    """An active silence: every matcher must match an alert's labels to silence it."""

    id: str
    matchers: tuple[SilenceMatcher, ...]
    starts_at: int
    ends_at: int
    created_by: str
    comment: str
    state: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        return bool(self.matchers) and all(m.matches(labels) for m in self.matchers)


def parse_silence(data: Mapping[str, Any]) -> Silence:
    """One ``gettableSilence``; ``KeyError``/``ValueError``/``TypeError`` when malformed."""
    return Silence(
        id=str(data["id"]),
        matchers=tuple(
            SilenceMatcher(
                name=str(m["name"]),
                value=str(m["value"]),
                is_regex=bool(m.get("isRegex", False)),
                is_equal=bool(m.get("isEqual", True)),
            )
            for m in data["matchers"]
        ),
        starts_at=parse_timestamp(str(data["startsAt"])),
        ends_at=parse_timestamp(str(data["endsAt"])),
        created_by=str(data.get("createdBy", "")),
        comment=str(data.get("comment", "")),
        state=str((data.get("status") or {}).get("state", "")),
    )


class SilenceReader:
    """Reads one Alertmanager's silences. ``url`` is its base URL, credentials allowed."""

    def __init__(self, url: str, *, timeout: float = 5.0, client: httpx.Client | None = None):
        parsed = require_http_url(url, "Alertmanager")
        self.url = str(parsed.copy_with(username=None, password=None)).rstrip("/")
        self.name = f"alertmanager:{self.url}"
        self._secrets = url_secrets(url) if parsed.password else []
        if parsed.password:
            register_secret(parsed.password)
        self._endpoint = url.rstrip("/") + "/api/v2/silences"
        self._client = client or httpx.Client(timeout=timeout)

    def __repr__(self) -> str:
        return f"SilenceReader({self.url!r})"

    def active(self) -> list[Silence]:
        """The silences in state ``active``; :class:`SilenceReadError` on any failure."""
        try:
            response = self._client.get(self._endpoint)
        except httpx.HTTPError as exc:
            message = redact(f"{self.name}: {type(exc).__name__}: {exc}", self._secrets)
            raise SilenceReadError(message) from None
        if not response.is_success:
            text = redact(response.text[:ERROR_BODY_CHARS].strip(), self._secrets)
            raise SilenceReadError(f"{self.name}: HTTP {response.status_code}: {text}")
        try:
            silences = [parse_silence(item) for item in response.json()]
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise SilenceReadError(f"{self.name}: unexpected answer ({exc!r})") from None
        return [s for s in silences if s.state == "active"]

    def close(self) -> None:
        self._client.close()


def silence_readers(urls: Sequence[str], *, timeout: float = 5.0) -> list[SilenceReader]:
    return [SilenceReader(url, timeout=timeout) for url in urls]


class SilenceWatcher:
    """Each poll: every Alertmanager's active silences against our firing alerts, into
    the ledger. Never raises for an Alertmanager that is down."""

    def __init__(
        self,
        readers: Iterable[SilenceReader],
        ledger: Ledger,
        metrics: DaemonMetrics | None = None,
    ) -> None:
        self.readers = list(readers)
        self.ledger = ledger
        self.metrics = metrics

    def poll(self, now: int, alerts: Sequence[Mapping[str, str]]) -> int:
        """Record matches at ``now``; return how many (silence, alert) pairs are new."""
        new = 0
        for reader in self.readers:
            try:
                silences = reader.active()
            except SilenceReadError as exc:
                log.warning("reading silences failed", alertmanager=reader.url, error=str(exc))
                self._count(reader, "error")
                continue
            self._count(reader, "ok")
            seen = [
                SilenceRecord(
                    alertmanager=reader.url,
                    silence_id=silence.id,
                    alert_fingerprint=fingerprint(labels),
                    labels=dict(labels),
                    created_by=silence.created_by,
                    comment=silence.comment,
                    starts_at=silence.starts_at,
                    ends_at=silence.ends_at,
                    first_seen=now,
                    last_seen=now,
                )
                for silence in silences
                for labels in alerts
                if silence.matches(labels)
            ]
            if self.metrics is not None:
                silenced = len({r.alert_fingerprint for r in seen})
                self.metrics.silenced_alerts.labels(alertmanager=reader.url).set(silenced)
            if not seen:
                continue
            added = self.ledger.record_silences(alertmanager=reader.url, now=now, seen=seen)
            for record in added:
                log.info(
                    "alert silenced in Alertmanager",
                    alertmanager=reader.url,
                    alert=record.labels.get("alertname"),
                    alert_fingerprint=record.alert_fingerprint,
                    silence=record.silence_id,
                    created_by=record.created_by,
                    comment=record.comment,
                )
            new += len(added)
        return new

    def _count(self, reader: SilenceReader, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.silence_polls.labels(alertmanager=reader.url, outcome=outcome).inc()

    def close(self) -> None:
        for reader in self.readers:
            reader.close()
