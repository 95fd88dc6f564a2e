"""Alertmanager: ``POST {url}/api/v2/alerts`` with API v2 ``postableAlert`` objects.

High availability works the Prometheus way: every alert goes to *every* configured
Alertmanager, and the Alertmanager cluster de-duplicates. Each URL is therefore its own
notifier (``alertmanager:<url>``) with its own outbox rows, so one Alertmanager being
down delays nothing for the others and is retried on its own.

While an alert fires, the daemon also re-sends it periodically (:meth:`resend`, best
effort, not through the outbox) with a fresh ``endsAt``; Alertmanager resolves an alert
whose ``endsAt`` passes without a re-send, which is what we want if the daemon dies.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import httpx

from adapters.notify.base import HttpNotifier, post_json, register_secret, require_http_url
from adapters.timeparse import parse_timestamp

__all__ = [
    "AlertmanagerNotifier",
    "alertmanager_fingerprint",
    "alertmanager_notifiers",
    "postable_alert",
]

POSTABLE_FIELDS = ("labels", "annotations", "startsAt", "endsAt", "generatorURL")


def postable_alert(payload: Mapping[str, Any], *, now: float) -> dict[str, Any]:
    """The API v2 ``postableAlert`` in a notification payload (the other keys are ours).

    A *firing* payload whose ``endsAt`` already passed (it waited in the outbox while
    Alertmanager was down) is sent without ``endsAt``: Alertmanager would otherwise take
    it as resolved and the next re-send would fire it again. Without ``endsAt``
    Alertmanager applies its own ``resolve_timeout`` until that re-send.
    """
    alert = {key: payload[key] for key in POSTABLE_FIELDS if payload.get(key) is not None}
    ends_at = alert.get("endsAt")
    if payload.get("status") == "firing" and ends_at and parse_timestamp(ends_at) <= now:
        del alert["endsAt"]
    return alert


_FNV64_OFFSET = 0xCBF29CE484222325
_FNV64_PRIME = 0x100000001B3
_LABEL_SEPARATOR = 0xFF


def alertmanager_fingerprint(labels: Mapping[str, str]) -> str:
    """The fingerprint Alertmanager shows for an alert with these labels.

    Alertmanager identifies alerts by a 64-bit FNV-1a hash of the sorted label names
    and values, each followed by the byte 0xff (Prometheus's ``LabelSet.Fingerprint``),
    printed as 16 hex digits. graysignal's own fingerprint (in the ledger and webhook
    payloads) is a different hash, so ``graysignal ack`` accepts both.
    """
    digest = _FNV64_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in (*part.encode("utf-8"), _LABEL_SEPARATOR):
                digest = ((digest ^ byte) * _FNV64_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{digest:016x}"


def _display_url(url: str) -> str:
    """The URL without user:password, for names and messages."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(username=None, password=None)).rstrip("/")


class AlertmanagerNotifier(HttpNotifier):
    """One Alertmanager. Build one per URL (:func:`alertmanager_notifiers`).

    ``url`` is the Alertmanager's base URL (with any path prefix, e.g.
    ``http://am:9093/alertmanager``); basic-auth credentials in it are used but never
    shown. ``client`` lets tests or the daemon share an ``httpx.Client``.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        parsed = require_http_url(url, f"Alertmanager {_display_url(url)!r}")
        super().__init__(timeout=timeout, client=client)
        if parsed.password:
            register_secret(parsed.password)
        self._endpoint = url.rstrip("/") + "/api/v2/alerts"
        self._password = [parsed.password] if parsed.password else []
        self.url = _display_url(url)
        self.name = f"alertmanager:{self.url}"
        self._clock = clock

    def __repr__(self) -> str:
        return f"AlertmanagerNotifier({self.url!r}, timeout={self.timeout})"

    def deliver(self, payload: Mapping[str, Any]) -> None:
        """Post one alert; raise ``DeliveryError`` (4xx except 429: not retryable)."""
        self._post([postable_alert(payload, now=self._clock())])

    def resend(self, payloads: Iterable[Mapping[str, Any]]) -> None:
        """Re-send every firing alert in one request (keeps them alive in Alertmanager).

        Raises ``DeliveryError`` on failure; callers log it and carry on, as the next
        re-send comes soon and transitions themselves travel through the outbox.
        """
        now = self._clock()
        alerts = [postable_alert(p, now=now) for p in payloads if p.get("status") == "firing"]
        if alerts:
            self._post(alerts)

    def _post(self, alerts: list[dict[str, Any]]) -> None:
        post_json(self._client, self._endpoint, alerts, target=self.name, secrets=self._password)


def alertmanager_notifiers(
    urls: Sequence[str], *, timeout: float = 10.0
) -> dict[str, AlertmanagerNotifier]:
    """One notifier per Alertmanager, keyed by name; the same URL twice is an error."""
    notifiers: dict[str, AlertmanagerNotifier] = {}
    for url in urls:
        notifier = AlertmanagerNotifier(url, timeout=timeout)
        if notifier.name in notifiers:
            raise ValueError(f"Alertmanager {notifier.url} is configured twice")
        notifiers[notifier.name] = notifier
    return notifiers
