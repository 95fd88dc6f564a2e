"""Posting digests to Slack through the ledger's outbox, against loopback stand-ins.

No Slack server can run here, so both Slack endpoints are loopback HTTP servers on
127.0.0.1 that speak Slack's documented wire format:

- the **incoming webhook** takes a JSON ``POST`` and answers ``200 ok``, or a text
  reason (``400 invalid_blocks``, ``500``, ``429`` with ``Retry-After``);
- the **Web API** ``chat.postMessage`` takes a JSON ``POST`` with ``Authorization:
  Bearer <token>`` and answers ``{"ok": true, "ts": ..., "channel": ...}``, or
  ``{"ok": false, "error": ...}`` (``channel_not_found``, ``invalid_blocks``), or HTTP
  429 with ``Retry-After``.

Both check the Block Kit limits the digest must respect: at most 50 blocks per message,
header text up to 150 characters, section and context text up to 3,000.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from adapters.digest.publish import queue_digest
from adapters.digest.slack_blocks import (
    MAX_BLOCKS,
    MESSAGE_CHARS,
    TITLE_CHARS,
    slack_messages,
    split_text,
)
from adapters.digest.slack_poster import (
    THREAD_TS_PLACEHOLDER,
    SlackDigestPoster,
    WebApiTransport,
    WebhookTransport,
    request_bodies,
)
from adapters.digest.wording import BLIND_SPOT_ICON, SECTION_ICONS
from adapters.ledger import Ledger
from adapters.notify.base import DeliveryError
from adapters.notify.dispatcher import Dispatcher
from detector.digest import Digest, Section
from tests.alertmanager_server import (
    RecordingServer,
    Reply,
    Request,
    free_port,
    recording_server,
)
from tests.digest_fixtures import PERIOD, big_digest, make_item
from tests.test_webhook_slack_notifiers import block_problems

T0 = PERIOD.end + 9 * 3600
HOOK_PATH = "/services/T0DIGEST/B0DIGEST/DigestHookSecretToken"
BOT_TOKEN = "xoxb-digest-bot-secret-token-123"
SECRETS = ("T0DIGEST", "DigestHookSecretToken", BOT_TOKEN)
HEADINGS = tuple(f"*{icon} " for icon in [*SECTION_ICONS.values(), BLIND_SPOT_ICON])


def message_problems(body: dict[str, Any]) -> list[str]:
    blocks = body.get("blocks", [])
    problems = list(block_problems(blocks))
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"{len(blocks)} blocks, at most {MAX_BLOCKS}")
    chars = sum(text_chars(b) for b in blocks)
    if chars > MESSAGE_CHARS:
        problems.append(f"msg_blocks_too_long: {chars} characters, at most {MESSAGE_CHARS}")
    if not body.get("text") and not blocks:
        problems.append("no_text")
    return problems


def webhook_wire_format(request: Request) -> Reply:
    """Slack's incoming webhook: ``200 ok`` or ``400 invalid_blocks``."""
    if request.headers.get("content-type", "").split(";")[0] != "application/json":
        return Reply(400, "invalid_payload")
    return Reply(400, "invalid_blocks") if message_problems(request.json()) else Reply(200, "ok")


class WebApi:
    """Slack's ``chat.postMessage``: answers JSON with a fresh ``ts`` per accepted message."""

    def __init__(self) -> None:
        self._ts = itertools.count(100)
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        if request.path != "/api/chat.postMessage":
            return Reply(404, json.dumps({"ok": False, "error": "unknown_method"}))
        if request.headers.get("authorization") != f"Bearer {BOT_TOKEN}":
            return Reply(200, json.dumps({"ok": False, "error": "invalid_auth"}))
        body = request.json()
        if body.get("channel") != "#drift":
            return Reply(200, json.dumps({"ok": False, "error": "channel_not_found"}))
        if message_problems(body):
            return Reply(200, json.dumps({"ok": False, "error": "invalid_blocks"}))
        with self._lock:
            ts = f"1795424400.{next(self._ts):06d}"
        return Reply(200, json.dumps({"ok": True, "channel": "C0DRIFT", "ts": ts}))


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "ledger.db") as opened:
        yield opened


@pytest.fixture
def webhook() -> Iterator[RecordingServer]:
    with recording_server(webhook_wire_format) as server:
        yield server


@pytest.fixture
def web_api() -> Iterator[RecordingServer]:
    with recording_server(WebApi()) as server:
        yield server


def webhook_poster(server: RecordingServer, ledger: Ledger) -> SlackDigestPoster:
    return SlackDigestPoster(WebhookTransport(SecretStr(server.url + HOOK_PATH), timeout=5), ledger)


def bot_poster(server: RecordingServer, ledger: Ledger) -> SlackDigestPoster:
    transport = WebApiTransport(
        SecretStr(BOT_TOKEN), channel="#drift", base_url=server.url + "/api/", timeout=5
    )
    return SlackDigestPoster(transport, ledger)


def post(ledger: Ledger, poster: SlackDigestPoster, digest: Digest, *, now: int = T0) -> Any:
    """Queue (once per period) and run one delivery round at ``now``."""
    queue_digest(ledger, digest, poster, now=T0)
    Dispatcher(ledger, {poster.name: poster}).deliver_due(now)
    return ledger.digests_for(digest.period.label, poster.destination)[-1]


def text_chars(block: dict[str, Any]) -> int:
    if "text" in block:
        return len(block["text"]["text"])
    return sum(len(e["text"]) for e in block.get("elements", []))


def texts(requests: list[Request]) -> str:
    return "\n".join(json.dumps(r.json(), ensure_ascii=False) for r in requests)


def small_digest() -> Digest:
    return big_digest(6)


# -- payload and limits --------------------------------------------------------------------


def test_a_digest_is_one_block_kit_message_with_header_counts_and_items(
    ledger: Ledger, webhook: RecordingServer
) -> None:
    record = post(ledger, webhook_poster(webhook, ledger), small_digest())
    assert record.status == "posted"
    (request,) = webhook.received()
    assert request.path == HOOK_PATH
    body = request.json()
    header, context = body["blocks"][:2]
    assert header["type"] == "header"
    assert header["text"]["text"] == "📉 Drift digest 2026-W47"
    assert "2 new · 2 still drifting · 1 recovered" in context["elements"][0]["text"]
    assert body["text"].startswith("Drift digest 2026-W47: 2 new")
    sections = [b["text"]["text"] for b in body["blocks"] if b["type"] == "section"]
    assert any(s.startswith("*🆕 New this week (2)*") for s in sections)
    assert any("`▁▂▃▄▅▆▇█" in s and "&lt;b&gt;|graph>" in s for s in sections)


@pytest.mark.parametrize(("items", "chars"), [(200, 20), (120, 400)])  # blocks, characters
def test_a_long_digest_is_split_within_slacks_limits_and_loses_no_item(
    ledger: Ledger, webhook: RecordingServer, items: int, chars: int
) -> None:
    digest = big_digest(items, explanation_chars=chars)
    record = post(ledger, webhook_poster(webhook, ledger), digest)
    requests = webhook.received()
    assert record.status == "posted"
    assert record.parts == len(requests) > 1
    for index, request in enumerate(requests, start=1):
        body = request.json()
        assert message_problems(body) == []
        assert len(body["blocks"]) <= MAX_BLOCKS
        assert sum(text_chars(b) for b in body["blocks"]) <= MESSAGE_CHARS
        last = body["blocks"][-1]
        assert last["type"] == "section"  # never a team line or a section heading
        assert not last["text"]["text"].startswith(HEADINGS)
        if index > 1:  # webhooks cannot thread: each follow-up says which part it is
            assert f"part {index} of {len(requests)}" in body["blocks"][0]["elements"][0]["text"]
            second = body["blocks"][1]  # and where it continues: a heading, or "continued"
            assert second["type"] in ("divider", "context")
    everything = texts(requests)
    for item in digest.items:
        assert everything.count(f"*{item.title}*") == 1, item.title
    assert "LostExporter" in everything and "Empty" in everything


def test_a_text_longer_than_a_block_is_split_over_blocks_not_cut(ledger: Ledger) -> None:
    long_item = make_item(1, Section.NEW, explanation_chars=7000)
    digest = Digest(PERIOD, (long_item,), (), ("team",), 4, 1)
    (message,) = slack_messages(digest)
    sections = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    assert all(len(s) <= 3000 for s in sections)
    joined = "".join(s for s in sections if not s.startswith("*🆕"))
    assert long_item.explanation.replace(" ", "") in joined.replace("\n", "").replace(" ", "")


# -- threading with the bot token ----------------------------------------------------------


def test_with_a_bot_token_follow_ups_are_threaded_under_the_first_message(
    ledger: Ledger, web_api: RecordingServer
) -> None:
    record = post(ledger, bot_poster(web_api, ledger), big_digest(120))
    bodies = [r.json() for r in web_api.received()]
    assert record.status == "posted" and len(bodies) == record.parts > 1
    assert "thread_ts" not in bodies[0]
    assert record.message_ts == "1795424400.000100"
    assert {b["thread_ts"] for b in bodies[1:]} == {"1795424400.000100"}
    assert {b["channel"] for b in bodies} == {"#drift"}


# -- retries -------------------------------------------------------------------------------


def test_a_500_is_retried_from_the_outbox_after_backoff(
    ledger: Ledger, webhook: RecordingServer
) -> None:
    poster = webhook_poster(webhook, ledger)
    webhook.script(Reply(500, "internal_error"))
    first = post(ledger, poster, small_digest())
    assert (first.status, first.attempts, first.last_error) == (
        "pending",
        1,
        "slack webhook (digest): HTTP 500: internal_error",
    )
    (item,) = ledger.due(T0 + 10)
    assert item.next_attempt_at == T0 + 1
    Dispatcher(ledger, {poster.name: poster}).deliver_due(T0 + 1)
    assert ledger.digest(first.id).status == "posted"
    assert len(webhook.received()) == 2


def test_a_429_waits_at_least_its_retry_after(ledger: Ledger, web_api: RecordingServer) -> None:
    poster = bot_poster(web_api, ledger)
    web_api.script(
        Reply(429, json.dumps({"ok": False, "error": "ratelimited"}), (("Retry-After", "30"),))
    )
    first = post(ledger, poster, small_digest())
    assert first.status == "pending" and "ratelimited" in (first.last_error or "")
    dispatcher = Dispatcher(ledger, {poster.name: poster})
    dispatcher.deliver_due(T0 + 29)
    assert len(web_api.received()) == 1  # not before Retry-After
    dispatcher.deliver_due(T0 + 30)
    assert ledger.digest(first.id).status == "posted"
    assert len(web_api.received()) == 2


def test_a_refusal_is_not_retried(ledger: Ledger, web_api: RecordingServer) -> None:
    transport = WebApiTransport(
        SecretStr(BOT_TOKEN), channel="#nowhere", base_url=web_api.url + "/api/", timeout=5
    )
    record = post(ledger, SlackDigestPoster(transport, ledger), small_digest())
    assert record.status == "abandoned"
    assert "channel_not_found" in (record.last_error or "")
    assert ledger.due(T0 + 10**6) == []


# -- exactly once across restarts ----------------------------------------------------------


def test_a_restart_after_a_partial_post_posts_only_the_missing_parts_in_the_thread(
    tmp_path: Path, web_api: RecordingServer
) -> None:
    digest = big_digest(120)
    path = tmp_path / "ledger.db"
    with Ledger.open(path) as ledger:
        web_api.script(
            Reply(200, json.dumps({"ok": True, "channel": "C0DRIFT", "ts": "1795424400.000001"})),
            Reply(500, "upstream connect error"),
        )
        record = post(ledger, bot_poster(web_api, ledger), digest)
        assert (record.status, record.parts_posted) == ("pending", 1)
    with Ledger.open(path) as restarted:  # a new process on the same file
        poster = bot_poster(web_api, restarted)
        assert queue_digest(restarted, digest, poster, now=T0 + 60) is None
        Dispatcher(restarted, {poster.name: poster}).deliver_due(T0 + 60)
        done = restarted.digests_for(PERIOD.label, poster.destination)[-1]
    bodies = [r.json() for r in web_api.received()]
    assert done.status == "posted"
    assert len(bodies) == 1 + 1 + (done.parts - 1)  # part 1, the failed part 2, parts 2..n
    assert sum("thread_ts" not in b for b in bodies) == 1  # the first part, once
    assert {b["thread_ts"] for b in bodies[1:]} == {"1795424400.000001"}


def test_the_same_period_is_not_posted_twice_across_a_restart_unless_forced(
    tmp_path: Path, webhook: RecordingServer
) -> None:
    path = tmp_path / "ledger.db"
    with Ledger.open(path) as ledger:
        assert post(ledger, webhook_poster(webhook, ledger), small_digest()).status == "posted"
    with Ledger.open(path) as restarted:
        poster = webhook_poster(webhook, restarted)
        assert queue_digest(restarted, small_digest(), poster, now=T0 + 3600) is None
        Dispatcher(restarted, {poster.name: poster}).deliver_due(T0 + 3600)
        assert len(webhook.received()) == 1
        forced = queue_digest(restarted, small_digest(), poster, now=T0 + 7200, force=True)
        assert forced is not None and forced.revision == 2
        Dispatcher(restarted, {poster.name: poster}).deliver_due(T0 + 7200)
    assert len(webhook.received()) == 2


# -- secrets -------------------------------------------------------------------------------


def echo_secrets(request: Request) -> Reply:
    """A hostile endpoint: its error repeats the request path and Authorization header."""
    return Reply(500, f"failed {request.path} {request.headers.get('authorization')}")


@pytest.mark.parametrize("kind", ["webhook", "bot", "unreachable"])
def test_no_secret_appears_in_logs_errors_or_reprs(
    ledger: Ledger, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # stdlib logging too: httpx, urllib, slack-sdk
    with recording_server(echo_secrets) as server:
        url = server.url if kind != "unreachable" else f"http://127.0.0.1:{free_port()}"
        if kind == "bot":
            transport: Any = WebApiTransport(
                SecretStr(BOT_TOKEN), channel="#drift", base_url=url + "/api/", timeout=5
            )
        else:
            transport = WebhookTransport(SecretStr(url + HOOK_PATH), timeout=5)
        poster = SlackDigestPoster(transport, ledger)
        queue_digest(ledger, small_digest(), poster, now=T0)
        with capture_logs() as logs:
            stats = Dispatcher(ledger, {poster.name: poster}).deliver_due(T0)
        assert stats.retrying == 1
        record = ledger.digests_for(PERIOD.label)[-1]
        with pytest.raises(DeliveryError) as raised:
            transport.post(slack_messages(small_digest())[0], None)
        seen = " ".join(
            [
                json.dumps(logs, default=str),
                caplog.text,
                str(raised.value),
                repr(raised.value),
                str(record),
                repr(poster),
                repr(transport),
                poster.name,
            ]
        )
    assert record.last_error
    for secret in SECRETS:
        assert secret not in seen


def test_dry_run_bodies_name_the_channel_and_thread_follow_ups(ledger: Ledger) -> None:
    transport = WebApiTransport(
        SecretStr(BOT_TOKEN), channel="#drift", base_url="http://127.0.0.1:9/api/", timeout=5
    )
    messages = slack_messages(big_digest(120))
    bodies = request_bodies(transport, messages)
    assert len(bodies) == len(messages) > 1
    assert bodies[0]["channel"] == "#drift" and "thread_ts" not in bodies[0]
    assert {b["thread_ts"] for b in bodies[1:]} == {THREAD_TS_PLACEHOLDER}
    assert BOT_TOKEN not in json.dumps(bodies)


# -- two processes, one slow Slack ---------------------------------------------------------


class _SlowSlack:
    """A Web API stand-in in memory whose every ``chat.postMessage`` takes 50 s."""

    destination = "slack:#drift"
    threads = True

    def __init__(self, clock: list[float], log: list[str], who: str) -> None:
        self.clock, self.log, self.who = clock, log, who
        self.during: list[Any] = []

    def body(self, message: dict[str, Any], thread_ts: str | None) -> dict[str, Any]:
        return dict(message)

    def post(self, message: dict[str, Any], thread_ts: str | None) -> str | None:
        self.clock[0] += 50
        self.log.append(f"{self.who}:{message['text']}")
        for action in self.during:
            action()
        return "1795424400.000100"


def test_a_slow_multi_part_post_keeps_its_claim_and_is_not_duplicated(tmp_path: Path) -> None:
    clock, log = [float(T0)], []
    path = tmp_path / "ledger.db"
    with Ledger.open(path) as first_ledger, Ledger.open(path) as second_ledger:
        first = SlackDigestPoster(
            _SlowSlack(clock, log, "cli"), first_ledger, clock=lambda: clock[0], lease=120
        )
        second = SlackDigestPoster(
            _SlowSlack(clock, log, "daemon"), second_ledger, clock=lambda: clock[0], lease=120
        )
        record = queue_digest(first_ledger, big_digest(120), first, now=T0)
        assert record is not None and record.parts >= 4
        tried: list[int] = []

        def daemon_tries() -> None:  # 150 s in: past the first lease
            if len(log) == 3 and not tried:
                tried.append(1)
                Dispatcher(second_ledger, {second.name: second}).deliver_due(int(clock[0]))

        first.transport.during.append(daemon_tries)  # type: ignore[attr-defined]
        Dispatcher(first_ledger, {first.name: first}).deliver_due(int(clock[0]))
        assert tried
        done = first_ledger.digest(record.id)
    assert done.status == "posted"
    assert len(log) == record.parts
    assert all(entry.startswith("cli:") for entry in log)


def test_a_poster_that_lost_its_claim_stops_before_the_next_part(tmp_path: Path) -> None:
    clock, log = [float(T0)], []
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        poster = SlackDigestPoster(
            _SlowSlack(clock, log, "cli"), ledger, clock=lambda: clock[0], lease=120
        )
        record = queue_digest(ledger, big_digest(120), poster, now=T0)
        assert record is not None

        def taken_over() -> None:  # another process claims it after a lapse
            if len(log) == 1:
                clock[0] += 200
                assert ledger.claim_digest(record.id, now=clock[0], lease=120) is not None

        poster.transport.during.append(taken_over)  # type: ignore[attr-defined]
        with pytest.raises(DeliveryError, match="being posted by another process"):
            poster.deliver(
                {
                    "digest_id": record.id,
                    "period": PERIOD.label,
                    "messages": slack_messages(big_digest(120)),
                }
            )
        assert len(log) == 1
        assert ledger.digest(record.id).parts_posted == 1


def test_the_shutdown_flush_keeps_a_digests_retry_after(tmp_path: Path) -> None:
    calls: list[int] = []

    class RateLimited:
        destination = "slack:#drift"
        threads = True

        def body(self, message: dict[str, Any], thread_ts: str | None) -> dict[str, Any]:
            return dict(message)

        def post(self, message: dict[str, Any], thread_ts: str | None) -> str | None:
            calls.append(1)
            raise DeliveryError("slack: HTTP 429", retryable=True, retry_after=30)

    with Ledger.open(tmp_path / "ledger.db") as ledger:
        poster = SlackDigestPoster(RateLimited(), ledger)
        queue_digest(ledger, big_digest(6), poster, now=T0)
        dispatcher = Dispatcher(ledger, {poster.name: poster})
        dispatcher.deliver_due(T0)
        assert calls == [1]
        assert dispatcher.flush(0.5, clock=_Fixed(T0 + 1))
        assert calls == [1]  # not retried before its Retry-After
        assert ledger.outbox_depth() == 1  # still waiting for the next start


class _Fixed:
    def __init__(self, now: int) -> None:
        self.moment = now

    def now(self) -> float:
        return self.moment


# -- oversized texts -----------------------------------------------------------------------


def test_an_item_with_a_huge_label_value_fits_every_message_with_a_visible_ellipsis() -> None:
    item = make_item(2, Section.NEW, explanation_chars=2900)
    item = replace(item, title="Rule2 · query=" + "q" * 20000)
    messages = slack_messages(Digest(PERIOD, (item,), (), ("team",), 4, 1))
    for message in messages:
        assert message_problems(message) == []
    texts = [b["text"]["text"] for m in messages for b in m["blocks"] if b["type"] == "section"]
    (title,) = [t for t in texts if "Rule2 · query=" in t]
    assert title.startswith("*Rule2 · query=q") and "q…*" in title
    assert len(title.split("\n")[0]) <= TITLE_CHARS + 2


def test_a_long_group_line_is_shortened_visibly_not_cut() -> None:
    team = "payments-" + "x" * 3500 + "-END"
    item = make_item(1, Section.NEW)
    item = replace(item, team=(("team", team),), alert_labels={**item.alert_labels, "team": team})
    (message,) = slack_messages(Digest(PERIOD, (item,), (), ("team",), 4, 1))
    assert message_problems(message) == []
    groups = [e["text"] for b in message["blocks"] if b["type"] == "context" for e in b["elements"]]
    assert any(text.startswith("team=payments-xxx") and text.endswith("…") for text in groups)


def test_split_text_never_cuts_an_entity_and_keeps_bold_balanced() -> None:
    text = "*" + "a&amp;b" * 1000 + "*"
    pieces = split_text(text, limit=100)
    assert all(len(p) <= 100 for p in pieces)
    for piece in pieces:
        assert piece.count("*") % 2 == 0  # each piece opens and closes its bold
        last = piece.rfind("&")
        assert last == -1 or piece.startswith("amp;", last + 1)
    assert "".join(p.strip("*") for p in pieces) == text.strip("*")
