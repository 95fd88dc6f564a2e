"""Slack: a Block Kit message through an incoming webhook, written to be read on a phone.

Layout, top to bottom: a header that says firing or resolved and the alert name; one
section with the summary in bold and the finding's explanation (the sentence that
matters); a context line with onset, change, score, severity and the series labels; a
last section with the runbook link and the replay command. The top-level ``text`` is the
push-notification line and the fallback for clients that do not render blocks.

Slack's limits (Block Kit reference): header text 150 characters, section text 3,000,
context at most 10 elements; over-long text is cut with an ellipsis, never sent to be
rejected. ``&``, ``<`` and ``>`` in our text are escaped as Slack's mrkdwn requires.

Incoming webhooks answer ``200 ok``, or an HTTP error with a short reason
(``400 invalid_blocks``, ``404 no_service``, ``429`` with ``Retry-After``, ``500``).
slack-sdk's own retries are off: the outbox retries, with the ledger as its memory.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr
from slack_sdk.webhook import WebhookClient

from adapters.notify.base import (
    ERROR_BODY_CHARS,
    DeliveryError,
    is_retryable_status,
    redact,
    register_secret,
    require_http_url,
    retry_after_seconds,
    url_secrets,
)

__all__ = [
    "HEADER_LIMIT",
    "QUIET_LOGGER",
    "TEXT_LIMIT",
    "SlackNotifier",
    "SlackWebhook",
    "escape_mrkdwn",
    "slack_message",
]

HEADER_LIMIT = 150
TEXT_LIMIT = 3000
CONTEXT_ELEMENTS = 10
SUMMARY_LIMIT = 300  # the bold first line; the explanation gets the rest of the section
_HIDDEN_LABELS = frozenset({"alertname", "graysignal_kind", "severity"})

# slack-sdk logs request URLs (the token) at DEBUG and errors at ERROR; this logger
# swallows both. Our own structured logs say what failed, without the URL.
QUIET_LOGGER = logging.getLogger("graysignal.notify.slack_sdk")
QUIET_LOGGER.propagate = False
QUIET_LOGGER.addHandler(logging.NullHandler())
QUIET_LOGGER.setLevel(logging.CRITICAL + 1)


def escape_mrkdwn(text: str) -> str:
    """``&``, ``<`` and ``>`` as Slack's mrkdwn requires (they would start a link or entity)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _fit(text: str, limit: int) -> str:
    """Cut to ``limit`` characters with an ellipsis, never inside an ``&amp;`` entity."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&", max(0, len(cut) - len("&amp;")))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def slack_message(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The Slack webhook body (``text`` + ``blocks``) for one notification payload."""
    labels: Mapping[str, str] = payload.get("labels", {})
    annotations: Mapping[str, str] = payload.get("annotations", {})
    resolved = payload.get("status") == "resolved"
    alertname = labels.get("alertname", "graysignal")
    severity = labels.get("severity")
    status = "RESOLVED" if resolved else "FIRING"
    icon = "✅" if resolved else ("🔴" if severity in ("critical", "page") else "🟠")
    summary = annotations.get("summary", alertname)
    explanation = annotations.get("explanation", "")

    lead = f"*{_fit(escape_mrkdwn(summary), SUMMARY_LIMIT)}*\n"
    if resolved:
        lead += f"Resolved at {escape_mrkdwn(str(payload.get('endsAt', '')))}. "
    body = lead + escape_mrkdwn(explanation)

    context = [
        f"*Onset* {annotations['onset']}" if "onset" in annotations else None,
        f"*Change* {annotations['relative_change']}" if "relative_change" in annotations else None,
        f"*Score* {annotations['score']}" if "score" in annotations else None,
        f"*Severity* {severity}" if severity else None,
        f"*Kind* {labels['graysignal_kind']}" if "graysignal_kind" in labels else None,
    ]
    shown = {k: v for k, v in labels.items() if k not in _HIDDEN_LABELS}
    if shown:
        context.append("*Labels* " + ", ".join(f"{k}={shown[k]}" for k in sorted(shown)))
    elements = [_mrkdwn(_fit(escape_mrkdwn(text), TEXT_LIMIT)) for text in context if text]

    links = []
    runbook = annotations.get("runbook_url")
    if runbook:
        links.append(f"<{escape_mrkdwn(runbook)}|Runbook>")
    if annotations.get("replay"):
        links.append(f"Replay: `{escape_mrkdwn(annotations['replay'])}`")

    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _fit(f"{icon} {status}: {alertname}", HEADER_LIMIT),
                "emoji": True,
            },
        },
        {"type": "section", "text": _mrkdwn(_fit(body, TEXT_LIMIT))},
    ]
    if elements:
        blocks.append({"type": "context", "elements": elements[:CONTEXT_ELEMENTS]})
    if links:
        blocks.append({"type": "section", "text": _mrkdwn(_fit("  ·  ".join(links), TEXT_LIMIT))})
    text = _fit(f"{status}: {escape_mrkdwn(alertname)}: {escape_mrkdwn(summary)}", TEXT_LIMIT)
    return {"text": text, "blocks": blocks}


class SlackWebhook:
    """One incoming webhook through slack-sdk's ``WebhookClient``: a JSON ``POST``, ``200 ok``
    or an HTTP error with a reason. Alerts and digests both post through it.

    The webhook URL *is* the credential, so it is a ``SecretStr`` and appears nowhere: not
    in reprs, logs or :class:`DeliveryError` messages (``what`` names it instead).
    """

    def __init__(self, url: SecretStr, *, what: str, timeout: float) -> None:
        raw = url.get_secret_value()
        require_http_url(raw, what)
        self.url = url
        self._secrets = url_secrets(raw)
        register_secret(*self._secrets)
        self._client = WebhookClient(
            raw, timeout=max(1, math.ceil(timeout)), logger=QUIET_LOGGER, retry_handlers=[]
        )

    def __repr__(self) -> str:
        return f"SlackWebhook(url={self.url!r})"

    def send(self, message: Mapping[str, Any], *, target: str) -> None:
        """Post ``message``; :class:`DeliveryError` (retryable or not) naming ``target``."""
        try:
            response = self._client.send_dict(dict(message))
        except Exception as exc:  # urllib: URLError, timeouts, resets; all transient here
            error = redact(f"{target}: {type(exc).__name__}: {exc}", self._secrets)
            raise DeliveryError(error, retryable=True) from None
        if 200 <= response.status_code < 300:
            return
        reason = redact(str(response.body)[:ERROR_BODY_CHARS].strip(), self._secrets)
        raise DeliveryError(
            f"{target}: HTTP {response.status_code}: {reason}",
            retryable=is_retryable_status(response.status_code),
            retry_after=retry_after_seconds(response.headers or {}),
        )


class SlackNotifier:
    """Posts :func:`slack_message` to an incoming webhook (:class:`SlackWebhook`)."""

    def __init__(
        self, webhook_url: SecretStr, *, name: str = "slack", timeout: float = 10.0
    ) -> None:
        self.name = name
        self.timeout = timeout
        self._webhook = SlackWebhook(webhook_url, what=f"slack notifier {name!r}", timeout=timeout)

    def __repr__(self) -> str:
        return f"SlackNotifier(name={self.name!r}, webhook_url={self._webhook.url!r})"

    def deliver(self, payload: Mapping[str, Any]) -> None:
        self._webhook.send(slack_message(payload), target=f"slack {self.name}")
