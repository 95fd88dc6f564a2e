"""Posting a queued digest to Slack, part by part, remembering each part in the ledger.

The poster is an ordinary notifier (:class:`~adapters.notify.base.Notifier`): the
dispatcher hands it the digest's outbox payload and records success, retries with
backoff (5xx, 429 with ``Retry-After``, network errors) or gives up (other refusals),
exactly as for alerts. What is special is that a digest may be several messages: after
each accepted part the poster writes ``parts_posted`` (and the first message's ``ts``) to
the ledger, so an attempt after a failure or a restart posts only the parts still
missing. Two processes sharing a ledger take turns through :meth:`Ledger.claim_digest`:
the claim is a lease of :data:`CLAIM_LEASE` seconds, renewed (compare-and-set on its
token) before each further part; a poster that cannot renew it stops, and the process
that took over posts the rest.

Transports, both slack-sdk with its own retries off (the outbox retries):

- **bot token** (``chat.postMessage``): follow-up parts are threaded under the first
  message (``thread_ts``), so the channel shows one digest;
- **incoming webhook**: a webhook's answer is just ``ok``, without the message's ``ts``,
  so follow-ups cannot be threaded; they are posted right after it, each headed
  "part i of n".

The webhook URL and the token never appear in names, reprs, logs or errors.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from adapters.ledger import Ledger
from adapters.notify.base import (
    ERROR_BODY_CHARS,
    DeliveryError,
    is_retryable_status,
    redact,
    register_secret,
    require_http_url,
    retry_after_seconds,
)
from adapters.notify.slack import QUIET_LOGGER, SlackWebhook

__all__ = [
    "CLAIM_LEASE",
    "THREAD_TS_PLACEHOLDER",
    "SlackDigestPoster",
    "Transport",
    "request_bodies",
]

CLAIM_LEASE = 120.0  # seconds another process waits before taking over a stuck post
THREAD_TS_PLACEHOLDER = "<ts of part 1>"
# Web API errors that may pass on a later attempt; every other error is a refusal.
_RETRYABLE_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


class Transport(Protocol):
    """Posts one message; returns its ``ts`` when the API says it (the Web API does)."""

    destination: str
    threads: bool

    def post(self, message: Mapping[str, Any], thread_ts: str | None) -> str | None: ...

    def body(self, message: Mapping[str, Any], thread_ts: str | None) -> dict[str, Any]: ...


class WebhookTransport:
    """An incoming webhook: ``POST`` JSON, ``200 ok`` or an HTTP error with a reason."""

    destination = "slack:webhook"
    threads = False

    def __init__(self, url: SecretStr, *, timeout: float) -> None:
        self._webhook = SlackWebhook(url, what="digest slack_webhook_url", timeout=timeout)

    def __repr__(self) -> str:
        return f"WebhookTransport(url={self._webhook.url!r})"

    def body(self, message: Mapping[str, Any], thread_ts: str | None) -> dict[str, Any]:
        return dict(message)

    def post(self, message: Mapping[str, Any], thread_ts: str | None) -> str | None:
        self._webhook.send(self.body(message, thread_ts), target="slack webhook (digest)")
        return None


class WebApiTransport:
    """``chat.postMessage`` with a bot token: JSON ``{"ok": true, "ts": ...}`` or an error."""

    threads = True

    def __init__(self, token: SecretStr, *, channel: str, base_url: str, timeout: float) -> None:
        require_http_url(base_url, "digest slack_api_url")
        self.destination = f"slack:{channel}"
        self.channel = channel
        self._token = token
        self._secrets = [token.get_secret_value()]
        register_secret(*self._secrets)
        self._client = WebClient(
            token=token.get_secret_value(),
            base_url=base_url,
            timeout=max(1, math.ceil(timeout)),
            logger=QUIET_LOGGER,
            retry_handlers=[],
        )

    def __repr__(self) -> str:
        return f"WebApiTransport(channel={self.channel!r}, token={self._token!r})"

    def body(self, message: Mapping[str, Any], thread_ts: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"channel": self.channel, **message, "unfurl_links": False}
        if thread_ts is not None:
            body["thread_ts"] = thread_ts
        return body

    def post(self, message: Mapping[str, Any], thread_ts: str | None) -> str | None:
        target = f"slack {self.channel} (digest)"
        try:
            response = self._client.api_call("chat.postMessage", json=self.body(message, thread_ts))
        except SlackApiError as exc:
            status = int(exc.response.status_code)
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            error = str(data.get("error") or exc.response.data)[:ERROR_BODY_CHARS]
            text = redact(f"{target}: HTTP {status}: {error}", self._secrets)
            raise DeliveryError(
                text,
                retryable=is_retryable_status(status) or error in _RETRYABLE_ERRORS,
                retry_after=retry_after_seconds(dict(exc.response.headers or {})),
            ) from None
        except Exception as exc:  # urllib errors, an answer that is not JSON (a proxy's 502)
            text = redact(f"{target}: {type(exc).__name__}: {exc}", self._secrets)
            raise DeliveryError(text, retryable=True) from None
        ts = response.get("ts")
        return None if ts is None else str(ts)


def request_bodies(
    transport: Transport, messages: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """What each part's request will carry (``--dry-run``); a thread is a placeholder."""
    thread = THREAD_TS_PLACEHOLDER if transport.threads else None
    return [
        transport.body(message, None if index == 0 else thread)
        for index, message in enumerate(messages)
    ]


class SlackDigestPoster:
    """The notifier for digests to one Slack destination (name ``digest:<destination>``)."""

    def __init__(
        self,
        transport: Transport,
        ledger: Ledger,
        *,
        clock: Callable[[], float] = time.time,
        lease: float = CLAIM_LEASE,
    ) -> None:
        self.transport = transport
        self.ledger = ledger
        self.name = f"digest:{transport.destination}"
        self.destination = transport.destination
        self._clock = clock
        self._lease = lease

    def __repr__(self) -> str:
        return f"SlackDigestPoster({self.transport!r})"

    def deliver(self, payload: Mapping[str, Any]) -> None:
        """Post the parts not posted yet; raise :class:`DeliveryError` at the first failure."""
        digest_id = int(payload["digest_id"])
        messages: list[Mapping[str, Any]] = list(payload["messages"])
        busy = DeliveryError(
            f"{self.name}: digest {payload.get('period')} is being posted by another "
            "process sharing this ledger",
            retryable=True,
            retry_after=self._lease,
        )
        token = self.ledger.claim_digest(digest_id, now=self._clock(), lease=self._lease)
        if token is None:
            raise busy
        try:
            record = self.ledger.digest(digest_id)
            thread_ts = record.message_ts
            for index in range(record.parts_posted, len(messages)):
                if index > record.parts_posted:  # a slow part must not let the lease lapse
                    token = self.ledger.renew_digest_claim(
                        digest_id, token, now=self._clock(), lease=self._lease
                    )
                    if token is None:  # another process took over: it posts the rest
                        raise busy
                threaded = thread_ts if (index > 0 and self.transport.threads) else None
                ts = self.transport.post(messages[index], threaded)
                if index == 0 and ts is not None:
                    thread_ts = ts
                self.ledger.record_digest_part(
                    digest_id, parts_posted=index + 1, message_ts=ts if index == 0 else None
                )
        except BaseException:
            if token is not None:
                self.ledger.release_digest(digest_id, token)
            raise
