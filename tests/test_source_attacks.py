"""The Prometheus and Loki sources against a hostile server: every answer is bounded.

The server (tests/hostile_server.py) is a loopback stand-in that writes raw HTTP in the
Prometheus/Loki matrix format, because no real server can be made to send a gigabyte,
drip its headers or redirect on demand. Each test checks that the source stops early,
fails the rule with a message saying why, and never lets a credential out.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from adapters.errors import SourceUnavailable
from adapters.settings import LokiSettings, PrometheusSettings
from adapters.sources.loki import LokiSource
from adapters.sources.prometheus import PrometheusSource
from detector.rule import Rule
from tests.hostile_server import GIGABYTE, HostileServer, gzip_bomb
from tests.servers import TlsFiles, tls_files_fixture  # noqa: F401  (the fixture `tls_files`)

TOKEN = "tok-8d1e0c44a9"
PASSWORD = "pw-51f0b2d7c3"
PROM_RULE = Rule.model_validate(
    {"signal": "Attacked", "source": "prometheus", "query": "up", "step": 60, "window": 3600}
)
LOKI_RULE = Rule.model_validate(
    {"signal": "AttackedLogs", "source": "loki", "query": 'sum(rate({a="b"}[1m]))', "step": 60}
)
START = 28_333_333 * 60
END = START + 600


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = HostileServer().start()
    yield server
    server.stop()


def prometheus(server: HostileServer, **settings: Any) -> PrometheusSource:
    fields: dict[str, Any] = {
        "url": server.url,
        "bearer_token": TOKEN,
        "retries": 0,
        "timeout": 2.0,
        "max_request_seconds": 1.5,
        **settings,
    }
    return PrometheusSource(PrometheusSettings(**fields), sleep=lambda _: None)


def loki(server: HostileServer, **settings: Any) -> LokiSource:
    fields: dict[str, Any] = {
        "url": server.url,
        "username": "tenant",
        "password": PASSWORD,
        "retries": 0,
        "timeout": 2.0,
        "max_request_seconds": 1.5,
        **settings,
    }
    return LokiSource(LokiSettings(**fields), sleep=lambda _: None)


def failure(source: PrometheusSource | LokiSource, rule: Rule = PROM_RULE) -> str:
    with capture_logs() as logs, pytest.raises(SourceUnavailable) as caught:
        source.fetch(rule, START, END)
    message = str(caught.value)
    shown = message + json.dumps(logs, default=str) + repr(source) + repr(source.settings)
    basic = base64.b64encode(f"tenant:{PASSWORD}".encode()).decode()
    for secret in (TOKEN, PASSWORD, basic):
        assert secret not in shown
    return message


def test_a_gigabyte_answer_stops_at_the_size_cap(hostile: HostileServer) -> None:
    hostile.mode = "huge"

    message = failure(prometheus(hostile))

    assert "larger than GRAYSIGNAL_PROMETHEUS_MAX_RESPONSE_BYTES=64.0 MiB" in message
    assert "reading stopped there" in message
    assert hostile.sent < GIGABYTE // 8  # the server was cut off long before the end


def test_an_answer_announcing_a_gigabyte_is_refused_before_its_body(
    hostile: HostileServer,
) -> None:
    hostile.mode = "huge-announced"

    message = failure(prometheus(hostile, max_response_bytes="1MiB"))

    assert "the answer is 1,073,741,824 bytes, more than" in message
    assert "it was not read" in message
    assert hostile.sent < GIGABYTE // 8


def test_a_gzip_bomb_is_stopped_on_its_decompressed_size(hostile: HostileServer) -> None:
    hostile.mode = "gzip-bomb"
    gzip_bomb()  # made once, before the clock of the request starts

    message = failure(loki(hostile, max_response_bytes="1MiB"), LOKI_RULE)

    assert "larger than GRAYSIGNAL_LOKI_MAX_RESPONSE_BYTES=1.0 MiB" in message


def test_a_gzip_bomb_to_prometheus_is_stopped_on_its_decompressed_size(
    hostile: HostileServer,
) -> None:
    hostile.mode = "gzip-bomb"
    gzip_bomb()

    message = failure(prometheus(hostile, max_response_bytes="1MiB"))

    assert "larger than GRAYSIGNAL_PROMETHEUS_MAX_RESPONSE_BYTES=1.0 MiB" in message
    assert "reading stopped there" in message


@pytest.mark.parametrize("mode", ["slow-body", "slow-headers"])
def test_a_dripped_answer_ends_at_the_request_deadline(hostile: HostileServer, mode: str) -> None:
    hostile.mode = mode

    message = failure(prometheus(hostile))

    assert "the answer took longer than 1.5s (GRAYSIGNAL_PROMETHEUS_MAX_REQUEST_SECONDS)" in message


def test_a_dripped_answer_over_tls_ends_at_the_request_deadline(tls_files: TlsFiles) -> None:
    server = HostileServer(mode="slow-body", tls=tls_files).start()
    try:
        message = failure(prometheus(server, ca_file=tls_files.cert))
    finally:
        server.stop()

    assert server.url.startswith("https://")
    assert "the answer took longer than 1.5s (GRAYSIGNAL_PROMETHEUS_MAX_REQUEST_SECONDS)" in message


def test_a_dripped_answer_through_an_http_proxy_ends_at_the_request_deadline(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hostile server is the proxy (``HTTP_PROXY``); the Prometheus URL is reached
    only through it."""
    for variable in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HTTP_PROXY", hostile.url)
    hostile.mode = "slow-body"

    message = failure(prometheus(hostile, url="http://prometheus.invalid:9090"))

    assert "the answer took longer than 1.5s (GRAYSIGNAL_PROMETHEUS_MAX_REQUEST_SECONDS)" in message
    (request,) = hostile.requests
    assert request.path == "/api/v1/query_range"
    assert "prometheus.invalid:9090" in request.headers["Host"]


def test_a_dripped_loki_answer_ends_at_the_request_deadline(hostile: HostileServer) -> None:
    hostile.mode = "slow-body"

    message = failure(loki(hostile), LOKI_RULE)

    assert "took longer than 1.5s (GRAYSIGNAL_LOKI_MAX_REQUEST_SECONDS)" in message


def test_a_redirect_to_another_host_is_not_followed(hostile: HostileServer) -> None:
    elsewhere = HostileServer(host="127.0.0.2").start()
    try:
        hostile.mode = "redirect"
        hostile.redirect_to = f"{elsewhere.url}/api/v1/query_range?token=stolen-{TOKEN}"

        message = failure(prometheus(hostile))

        assert f"the server redirected to {elsewhere.url} (HTTP 302)" in message
        assert "set GRAYSIGNAL_PROMETHEUS_URL to the address that answers" in message
        assert "stolen" not in message
        assert elsewhere.requests == []
    finally:
        elsewhere.stop()


def test_malformed_json_fails_the_rule_naming_it(hostile: HostileServer) -> None:
    hostile.mode = "malformed"

    message = failure(loki(hostile), LOKI_RULE)

    assert message.startswith("rule AttackedLogs: source loki")
    assert "malformed JSON in the answer" in message


def test_timestamps_that_are_no_time_fail_the_rule_instead_of_overflowing(
    hostile: HostileServer,
) -> None:
    hostile.mode = "absurd-timestamps"

    message = failure(prometheus(hostile))

    assert 'has a sample that is not [<unix seconds>, "<value>"]' in message


def test_infinite_and_huge_values_are_read_as_gaps_with_a_warning(hostile: HostileServer) -> None:
    hostile.mode = "infinite-values"

    with capture_logs() as logs:
        (series,) = prometheus(hostile).fetch(PROM_RULE, START, END)

    assert series.values.tolist() == [1.0] * 4  # 6 of the 10 steps were +Inf or 1e308
    (warning,) = [entry for entry in logs if entry["log_level"] == "warning"]
    assert warning["event"] == "values that are infinite or beyond ±1e100 were read as gaps"
    assert (warning["rule"], warning["samples"]) == ("Attacked", 6)
