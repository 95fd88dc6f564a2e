"""The notifier port and what every HTTP notifier shares: errors, retry rules, redaction.

The engine never knows where alerts go (STYLE.md: "the notifier is injected"). A
notifier has a stable ``name`` (it keys outbox rows in the ledger, so it must survive
restarts and must never contain a secret) and one method, ``deliver``, which either
returns (delivered) or raises :class:`DeliveryError` saying whether trying again can help.
Retrying, backoff and bookkeeping belong to the dispatcher, not to notifiers.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

import httpx

from adapters.secrets import MASK, redact

__all__ = [
    "ERROR_BODY_CHARS",
    "REDACTED",
    "DeliveryError",
    "HttpNotifier",
    "Notifier",
    "is_retryable_status",
    "post_json",
    "redact",
    "register_secret",
    "require_http_url",
    "retry_after_seconds",
    "url_secrets",
]

REDACTED = MASK  # what pydantic's SecretStr prints
ERROR_BODY_CHARS = 200  # how much of a receiver's error answer goes into messages


class DeliveryError(Exception):
    """A notification was not delivered; ``retryable`` says whether to try again later.

    Not retryable means trying the same payload again cannot succeed (HTTP 400, 404: a
    malformed payload or a revoked webhook): the dispatcher gives up on that item and
    logs it. ``retry_after`` is the server's ``Retry-After`` in seconds, when it sent one
    (Slack does on 429); the dispatcher waits at least that long. Messages never contain
    secrets (URLs with tokens are redacted).
    """

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"DeliveryError({self.message!r}, retryable={self.retryable})"


@runtime_checkable
class Notifier(Protocol):
    """Delivers one notification payload (see :mod:`adapters.notify.payload`)."""

    @property
    def name(self) -> str:
        """Stable identity, e.g. ``alertmanager:http://am:9093`` or ``slack``; no secrets."""
        ...

    def deliver(self, payload: Mapping[str, Any]) -> None:
        """Deliver or raise :class:`DeliveryError`."""
        ...


class HttpNotifier:
    """Base of the notifiers that POST with httpx: owns (or borrows) the client.

    ``client`` lets the daemon share one ``httpx.Client`` (connection pool) or tests
    inject one; a borrowed client is not closed by :meth:`close`.
    """

    def __init__(self, *, timeout: float, client: httpx.Client | None) -> None:
        self.timeout = timeout
        self._client = client or httpx.Client(timeout=timeout)
        self._owns_client = client is None

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def require_http_url(url: str, what: str) -> httpx.URL:
    """Parse ``url``; ``ValueError`` naming ``what`` (never the URL) unless http(s)://host."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:  # e.g. an unclosed IPv6 bracket; its message quotes the URL
        raise ValueError(f"{what}: the URL must look like http(s)://host[:port]/...") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"{what}: the URL must look like http(s)://host[:port]/...")
    return parsed


def is_retryable_status(status: int) -> bool:
    """5xx, 429 (rate limited) and 408 (request timeout) may pass later; other 4xx never."""
    return status >= 500 or status in (408, 429)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` as seconds when it is a plain number (the form Slack sends)."""
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                seconds = float(value)
            except ValueError:
                return None
            return seconds if seconds >= 0 else None
    return None


def url_secrets(url: str) -> list[str]:
    """The parts of a URL that may carry a token: the whole URL, path, query, password.

    Slack and most webhook services put the token in the path
    (``/services/T000/B000/XXXX``), others in the query (``?token=...``) or userinfo.
    """
    parsed = httpx.URL(url)
    parts = [url, str(parsed), parsed.raw_path.decode("ascii", "replace")]
    if parsed.query:
        parts.append(parsed.query.decode("ascii", "replace"))
    if parsed.password:
        parts.append(parsed.password)
    return [p for p in parts if len(p) > 1]


class _SecretFilter(logging.Filter):
    """Redacts registered secrets from the records of httpx's logger.

    httpx logs every request URL at INFO (``HTTP Request: POST https://hooks...``); a
    daemon that turns stdlib logging up would print the webhook token. The filter sits
    on that logger, so it applies wherever its records end up. (httpcore logs only host
    and port; slack-sdk is given a silent logger in :mod:`adapters.notify.slack`.)
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self._secrets.update(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            secrets = list(self._secrets)
        message = record.getMessage()
        cleaned = redact(message, secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


_FILTER = _SecretFilter()
logging.getLogger("httpx").addFilter(_FILTER)


def register_secret(*secrets: str) -> None:
    """Keep these strings out of httpx's log records from now on."""
    _FILTER.add(secrets)


def post_json(
    client: httpx.Client,
    url: str,
    body: Any,
    *,
    target: str,
    secrets: Iterable[str] = (),
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """POST ``body`` as strict JSON; 2xx returns, anything else raises :class:`DeliveryError`.

    ``target`` names the receiver in messages (never the secret URL); ``secrets`` are
    redacted from any text that comes back from the library or the server. The original
    exception is not chained (``from None``): its text or its request may hold the URL.
    """
    hidden = list(secrets)
    try:
        content = json.dumps(body, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise DeliveryError(
            f"{target}: payload is not valid JSON: {exc}", retryable=False
        ) from None
    try:
        response = client.post(
            url,
            content=content.encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
        )
    except httpx.TimeoutException as exc:
        message = f"{target}: timed out ({type(exc).__name__})"
        raise DeliveryError(message, retryable=True) from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        message = redact(f"{target}: invalid URL ({type(exc).__name__}: {exc})", hidden)
        raise DeliveryError(message, retryable=False) from None
    except httpx.TransportError as exc:
        message = redact(f"{target}: {type(exc).__name__}: {exc}", hidden)
        raise DeliveryError(message, retryable=True) from None
    if response.is_success:
        return response
    text = response.text[:ERROR_BODY_CHARS].strip()
    message = redact(f"{target}: HTTP {response.status_code}: {text}", hidden)
    raise DeliveryError(
        message,
        retryable=is_retryable_status(response.status_code),
        retry_after=retry_after_seconds(response.headers),
    )
