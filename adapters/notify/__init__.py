"""Notification delivery: payloads, notifiers and the dispatcher that drains the outbox.

- :mod:`adapters.notify.payload` builds one notification per firing/resolved transition;
- notifiers deliver it: :class:`AlertmanagerNotifier` (API v2, one per Alertmanager),
  :class:`WebhookNotifier`, :class:`SlackNotifier`, :class:`StdoutNotifier`;
- :mod:`adapters.notify.dispatcher` takes due items from the ledger's outbox, delivers
  them, and records every attempt, retrying with backoff.

A notifier raises :class:`DeliveryError` with ``retryable`` set when trying again can
help (5xx, 429, timeouts, connection errors) and unset when it cannot (other 4xx).
"""

from __future__ import annotations

from adapters.notify.alertmanager import AlertmanagerNotifier, alertmanager_notifiers
from adapters.notify.base import DeliveryError, Notifier
from adapters.notify.payload import notification_for
from adapters.notify.slack import SlackNotifier
from adapters.notify.stdout import StdoutNotifier
from adapters.notify.webhook import WebhookNotifier

__all__ = [
    "AlertmanagerNotifier",
    "DeliveryError",
    "Notifier",
    "SlackNotifier",
    "StdoutNotifier",
    "WebhookNotifier",
    "alertmanager_notifiers",
    "notification_for",
]
