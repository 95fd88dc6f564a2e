"""From a built digest to Slack: the poster for the configured destination, and queueing
the digest in the ledger exactly once per period and destination (docs/digest.md)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from adapters.digest.settings import DigestSettings
from adapters.digest.slack_blocks import slack_messages
from adapters.digest.slack_poster import (
    SlackDigestPoster,
    Transport,
    WebApiTransport,
    WebhookTransport,
)
from adapters.ledger import DigestRecord, Ledger
from detector.digest import Digest

__all__ = ["payload_hash", "poster_from_settings", "queue_digest", "transport_from_settings"]


def transport_from_settings(settings: DigestSettings) -> Transport | None:
    """The configured Slack transport (bot token or webhook), or ``None`` when none is set."""
    if settings.slack_bot_token is not None and settings.slack_channel:
        return WebApiTransport(
            settings.slack_bot_token,
            channel=settings.slack_channel,
            base_url=settings.slack_api_url,
            timeout=float(settings.timeout),
        )
    if settings.slack_webhook_url is not None:
        return WebhookTransport(settings.slack_webhook_url, timeout=float(settings.timeout))
    return None


def poster_from_settings(settings: DigestSettings, ledger: Ledger) -> SlackDigestPoster | None:
    """The poster for the configured Slack destination, or ``None`` when none is set."""
    transport = transport_from_settings(settings)
    return None if transport is None else SlackDigestPoster(transport, ledger)


def payload_hash(messages: list[dict[str, Any]]) -> str:
    """Identity of what was queued (shown by ``--force`` decisions and in the ledger)."""
    text = json.dumps(messages, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def queue_digest(
    ledger: Ledger,
    digest: Digest,
    poster: SlackDigestPoster,
    *,
    now: int,
    force: bool = False,
) -> DigestRecord | None:
    """Queue the digest's messages for ``poster``; ``None`` when this period already has one."""
    messages = slack_messages(digest)
    return ledger.queue_digest(
        period=digest.period.label,
        period_start=digest.period.start,
        period_end=digest.period.end,
        destination=poster.destination,
        notifier=poster.name,
        messages=messages,
        summary=digest.summary(),
        payload_hash=payload_hash(messages),
        now=now,
        force=force,
    )
