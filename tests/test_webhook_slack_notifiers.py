"""Webhook, Slack and stdout notifiers against loopback servers.

No Slack server can run here, so the Slack endpoint is a loopback server that checks
what Slack's incoming-webhook documentation says it checks: a JSON body with ``text`` or
``blocks``; known block types; header ``plain_text`` up to 150 characters; section text
up to 3,000; context with 1 to 10 elements of up to 3,000. It answers ``200 ok``, or
``400 invalid_payload`` / ``400 invalid_blocks`` as Slack does, unless a test scripts
another reply (``500``, ``429`` with ``Retry-After``).
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from adapters.ledger import Ledger
from adapters.notify.base import DeliveryError
from adapters.notify.dispatcher import Dispatcher
from adapters.notify.slack import HEADER_LIMIT, TEXT_LIMIT, SlackNotifier, slack_message
from adapters.notify.stdout import StdoutNotifier
from adapters.notify.webhook import WebhookNotifier
from detector.alerts import AlertBook
from tests.alertmanager_server import Reply, Request, free_port, recording_server
from tests.notify_builders import alerting_rule, fire, make_finding, payload_for, record, resolve

T0 = 1_795_168_800
SLACK_PATH = "/services/T0SECRET/B0SECRET/XoXoSlackHookToken"
WEBHOOK_PATH = "/hooks/wh-path-token-123"
WEBHOOK_QUERY_TOKEN = "q-token-456"
BEARER = "bearer-token-789"
SECRETS = ("T0SECRET", "XoXoSlackHookToken", "wh-path-token-123", WEBHOOK_QUERY_TOKEN, BEARER)


def block_problems(blocks: list[dict[str, Any]]) -> Iterator[str]:
    """Slack's documented Block Kit limits for the blocks we use."""
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            text = block["text"]
            if text["type"] != "plain_text" or not 0 < len(text["text"]) <= 150:
                yield "header text must be plain_text of 1 to 150 characters"
        elif kind == "section":
            text = block.get("text", {})
            if text.get("type") not in ("plain_text", "mrkdwn") or len(text["text"]) > 3000:
                yield "section text must be a text object of at most 3000 characters"
        elif kind == "context":
            elements = block.get("elements", [])
            if not 0 < len(elements) <= 10:
                yield "context needs 1 to 10 elements"
            if any(len(e["text"]) > 3000 for e in elements):
                yield "context element text over 3000 characters"
        elif kind != "divider":
            yield f"unknown block type {kind!r}"


def slack_wire_format(request: Request) -> Reply:
    if request.headers.get("content-type", "").split(";")[0] != "application/json":
        return Reply(400, "invalid_payload")
    try:
        body = request.json()
    except ValueError:
        return Reply(400, "invalid_payload")
    if not body.get("text") and not body.get("blocks"):
        return Reply(400, "no_text")
    if list(block_problems(body.get("blocks", []))):
        return Reply(400, "invalid_blocks")
    return Reply(200, "ok")


def echo_secrets(request: Request) -> Reply:
    """A hostile server: its error body repeats the URL and the Authorization header."""
    return Reply(500, f"failed {request.path} {request.headers.get('authorization')}")


@pytest.fixture
def slack() -> Iterator[tuple[SlackNotifier, Any]]:
    with recording_server(slack_wire_format) as server:
        yield SlackNotifier(SecretStr(server.url + SLACK_PATH)), server


def firing_payload(**finding: Any) -> dict[str, Any]:
    book = AlertBook(alerting_rule())
    return payload_for(fire(book, T0, make_finding(T0, **finding))[-1], book.rule, now=T0)


def resolved_payload() -> dict[str, Any]:
    book = AlertBook(alerting_rule())
    fire(book, T0)
    return payload_for(resolve(book, T0 + 600)[0], book.rule, now=T0 + 600)


def queued(ledger: Ledger, name: str) -> None:
    """One firing alert queued for the notifier ``name``."""
    book = AlertBook(alerting_rule())
    record(ledger, book, fire(book, T0), now=T0, notifiers=[name])


@pytest.fixture
def ledger(tmp_path: Any) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "ledger.db") as opened:
        yield opened


# -- Slack: the message ------------------------------------------------------------------


def test_slack_gets_a_header_the_explanation_and_a_context_line(
    slack: tuple[SlackNotifier, Any],
) -> None:
    notifier, server = slack
    notifier.deliver(firing_payload())
    (request,) = server.received()
    assert request.path == SLACK_PATH
    header, section, context, links = request.json()["blocks"]
    assert header["text"]["text"] == "🟠 FIRING: CheckoutLatencyCreep"
    assert section["text"]["text"].startswith(
        '*CheckoutLatencyCreep: trend on latency_p99{service="checkout"}*\n'
        'latency_p99{service="checkout"} rose 18% (210 -&gt; 248)'
    )
    assert [e["text"] for e in context["elements"]] == [
        "*Onset* 2026-11-20T04:00:00Z",
        "*Change* +18%",
        "*Score* 7.2",
        "*Severity* warning",
        "*Kind* trend",
        "*Labels* service=checkout, team=payments",
    ]
    assert links["text"]["text"].startswith("<https://runbooks.example/checkout-latency|Runbook>")


def test_slack_push_text_names_the_state_and_the_alert(slack: tuple[SlackNotifier, Any]) -> None:
    notifier, server = slack
    notifier.deliver(firing_payload())
    assert server.received()[0].json()["text"].startswith("FIRING: CheckoutLatencyCreep: ")


def test_a_resolved_slack_message_is_marked_resolved() -> None:
    message = slack_message(resolved_payload())
    header, section = message["blocks"][:2]
    assert header["text"]["text"] == "✅ RESOLVED: CheckoutLatencyCreep"
    assert "Resolved at 2026-11-20T10:10:00Z." in section["text"]["text"]
    assert message["text"].startswith("RESOLVED: ")


def test_overlong_slack_text_is_cut_to_slacks_limits_and_accepted(
    slack: tuple[SlackNotifier, Any],
) -> None:
    notifier, server = slack
    payload = firing_payload(explanation="p99 & friends -> " * 1000)
    payload["labels"]["alertname"] = "A" * 400
    payload["labels"]["path"] = "/x" * 2000
    notifier.deliver(payload)  # the server answers 400 invalid_blocks if a limit is broken
    blocks = server.received()[0].json()["blocks"]
    assert len(blocks[0]["text"]["text"]) == HEADER_LIMIT
    assert len(blocks[1]["text"]["text"]) <= TEXT_LIMIT
    assert blocks[1]["text"]["text"].endswith("…")
    assert "&amp" not in blocks[1]["text"]["text"][-6:]  # never cut inside an entity


# -- Slack: delivery outcomes ------------------------------------------------------------


def test_slack_500_then_200_is_retried_and_delivered(
    slack: tuple[SlackNotifier, Any], ledger: Ledger
) -> None:
    notifier, server = slack
    server.script(Reply(500, "rollup_error"))
    queued(ledger, notifier.name)
    dispatcher = Dispatcher(ledger, {notifier.name: notifier})
    assert dispatcher.deliver_due(T0).retrying == 1
    assert dispatcher.deliver_due(T0 + 1).delivered == 1
    assert len(server.received()) == 2


def test_slack_429_is_retried_no_sooner_than_retry_after(
    slack: tuple[SlackNotifier, Any], ledger: Ledger
) -> None:
    notifier, server = slack
    server.script(Reply(429, "rate_limited", headers=(("Retry-After", "30"),)))
    queued(ledger, notifier.name)
    Dispatcher(ledger, {notifier.name: notifier}).deliver_due(T0)
    (item,) = ledger.due(T0, ignore_backoff=True)
    assert item.next_attempt_at == T0 + 30
    assert item.last_error == "slack slack: HTTP 429: rate_limited"


def test_slack_400_is_not_retried(slack: tuple[SlackNotifier, Any]) -> None:
    notifier, server = slack
    server.script(Reply(400, "invalid_payload"))
    with pytest.raises(DeliveryError) as caught:
        notifier.deliver(firing_payload())
    assert caught.value.retryable is False
    assert "invalid_payload" in str(caught.value)


def test_slack_connection_refused_is_retryable() -> None:
    url = f"http://127.0.0.1:{free_port()}{SLACK_PATH}"
    with pytest.raises(DeliveryError) as caught:
        SlackNotifier(SecretStr(url)).deliver(firing_payload())
    assert caught.value.retryable is True
    assert not any(secret in str(caught.value) for secret in SECRETS)


def test_the_slack_webhook_url_never_appears_in_logs_errors_or_repr(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with recording_server(echo_secrets) as server:
        notifier = SlackNotifier(SecretStr(server.url + SLACK_PATH))
        with pytest.raises(DeliveryError) as caught:
            notifier.deliver(firing_payload())
        queued(ledger, notifier.name)
        with capture_logs() as logs:
            Dispatcher(ledger, {notifier.name: notifier}).deliver_due(T0)
    (item,) = ledger.due(T0, ignore_backoff=True)
    seen = [str(caught.value), repr(caught.value), repr(notifier), json.dumps(logs), caplog.text]
    seen.append(str(item.last_error))
    assert logs, "the failed delivery is logged"
    assert not [s for s in SECRETS for text in seen if s in text]


# -- webhook -----------------------------------------------------------------------------


def webhook_url(server: Any) -> SecretStr:
    return SecretStr(f"{server.url}{WEBHOOK_PATH}?token={WEBHOOK_QUERY_TOKEN}")


def test_the_webhook_receives_the_whole_payload_with_its_bearer_token() -> None:
    payload = firing_payload()
    with recording_server() as server:
        WebhookNotifier(webhook_url(server), bearer_token=SecretStr(BEARER)).deliver(payload)
    (request,) = server.received()
    assert request.json() == payload
    assert request.headers["authorization"] == f"Bearer {BEARER}"
    assert request.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (503, True), (429, True), (400, False), (404, False)]
)
def test_webhook_http_errors_are_retryable_only_when_trying_again_can_help(
    status: int, retryable: bool
) -> None:
    with (
        recording_server(lambda request: Reply(status, "no")) as server,
        pytest.raises(DeliveryError) as caught,
    ):
        WebhookNotifier(webhook_url(server)).deliver(firing_payload())
    assert caught.value.retryable is retryable
    assert f"HTTP {status}" in str(caught.value)


def test_a_webhook_timeout_is_retryable() -> None:
    with (
        recording_server(lambda request: Reply(delay=1.0)) as server,
        pytest.raises(DeliveryError, match="timed out") as caught,
    ):
        WebhookNotifier(webhook_url(server), timeout=0.2).deliver(firing_payload())
    assert caught.value.retryable is True


def test_a_webhook_connection_refused_is_retryable() -> None:
    url = SecretStr(f"http://127.0.0.1:{free_port()}{WEBHOOK_PATH}")
    with pytest.raises(DeliveryError) as caught:
        WebhookNotifier(url).deliver(firing_payload())
    assert caught.value.retryable is True


def test_webhook_url_and_token_never_appear_in_logs_errors_or_repr(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with recording_server(echo_secrets) as server:
        notifier = WebhookNotifier(webhook_url(server), bearer_token=SecretStr(BEARER))
        with pytest.raises(DeliveryError) as caught:
            notifier.deliver(firing_payload())
        queued(ledger, notifier.name)
        with capture_logs() as logs:
            Dispatcher(ledger, {notifier.name: notifier}).deliver_due(T0)
    assert "HTTP Request: POST" in caplog.text, "httpx logged the request (redacted)"
    assert "failed" in str(caught.value), "the server's answer is kept, minus secrets"
    (item,) = ledger.due(T0, ignore_backoff=True)
    seen = [str(caught.value), repr(caught.value), repr(notifier), json.dumps(logs), caplog.text]
    seen.append(str(item.last_error))
    assert not [s for s in SECRETS for text in seen if s in text]


# -- stdout ------------------------------------------------------------------------------


def test_stdout_prints_each_notification_as_one_json_line() -> None:
    stream = io.StringIO()
    notifier = StdoutNotifier(stream=stream)
    notifier.deliver(firing_payload())
    notifier.deliver(resolved_payload())
    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["status"] for line in lines] == ["firing", "resolved"]
