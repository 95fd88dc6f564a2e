"""How the Prometheus source behaves when its server misbehaves.

A real Prometheus cannot be made to hang, fail once or answer garbage on demand, so
these tests use small loopback stub servers (``tests/servers.py``) that answer in the
Prometheus API's format. Each test checks the documented behaviour (retry or not, the
error the rule fails with) and the log line an operator would read. Backoff waits are
recorded instead of slept, so the suite stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from typing import Any

import certifi
import pytest
from structlog.testing import capture_logs

from adapters.errors import SourceUnavailable
from adapters.settings import PrometheusSettings
from adapters.sources.prometheus import PrometheusSource
from detector.rule import Rule
from tests.servers import (
    Reply,
    Request,
    StubServer,
    TlsFiles,
    free_port,
    json_reply,
    stub_server_factory,  # noqa: F401  (the fixture `stub_server`)
    tls_files_fixture,  # noqa: F401  (the fixture `tls_files`)
)

StubFactory = Callable[..., StubServer]
RULE = Rule.model_validate(
    {"signal": "FaultRule", "source": "prometheus", "query": "up", "step": 60, "window": 3600}
)
START = 28_333_333 * 60  # a multiple of the step
END = START + 600


def ok_matrix(request: Request) -> Reply:
    """A valid answer: one series with a sample at every step of the request."""
    first, last = int(request.params["start"]), int(request.params["end"])
    values = [[t, "1"] for t in range(first, last + 1, 60)]
    return json_reply(
        {
            "status": "success",
            "data": {
                "resultType": "matrix",
                "result": [{"metric": {"job": "x"}, "values": values}],
            },
        }
    )


def make_source(
    url: str, *, sleeps: list[float] | None = None, **settings: Any
) -> PrometheusSource:
    fields: dict[str, Any] = {"url": url, "retries": 2, "backoff_seconds": 0.01, "timeout": 2.0}
    fields.update(settings)
    record = sleeps.append if sleeps is not None else (lambda _: None)
    return PrometheusSource(PrometheusSettings(**fields), sleep=record)


def events(logs: Sequence[MutableMapping[str, Any]], event: str) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == event]


RETRY = "source request failed; retrying"
FAILED = "source request failed"


# --- server down ----------------------------------------------------------------


def test_server_down_fails_the_rule_after_all_retries() -> None:
    source = make_source(f"http://127.0.0.1:{free_port()}")

    with pytest.raises(SourceUnavailable) as caught:
        source.fetch(RULE, START, END)

    message = str(caught.value)
    assert "rule FaultRule: source prometheus" in message
    assert "cannot connect: Connection refused" in message
    assert "gave up after 3 attempts" in message


def test_server_down_logs_each_retry_and_the_failure() -> None:
    source = make_source(f"http://127.0.0.1:{free_port()}")

    with capture_logs() as logs, pytest.raises(SourceUnavailable):
        source.fetch(RULE, START, END)

    assert [e["attempt"] for e in events(logs, RETRY)] == [1, 2]
    (failure,) = events(logs, FAILED)
    assert failure["log_level"] == "error"
    assert (failure["rule"], failure["source"], failure["attempt"]) == (
        "FaultRule",
        "prometheus",
        3,
    )
    assert "Connection refused" in failure["error"]


def test_retry_waits_double_each_time() -> None:
    sleeps: list[float] = []
    source = make_source(
        f"http://127.0.0.1:{free_port()}", sleeps=sleeps, retries=3, backoff_seconds=0.5
    )

    with pytest.raises(SourceUnavailable):
        source.fetch(RULE, START, END)

    assert sleeps == [0.5, 1.0, 2.0]


# --- a server that hangs --------------------------------------------------------


def test_hanging_server_times_out_and_fails_the_rule(stub_server: StubFactory) -> None:
    def hang(request: Request) -> Reply:
        server.released.wait(10)
        return ok_matrix(request)

    server = stub_server(hang)
    source = make_source(server.url, timeout=0.2, retries=1)

    with capture_logs() as logs, pytest.raises(SourceUnavailable) as caught:
        source.fetch(RULE, START, END)

    assert "no answer within 0.2s" in str(caught.value)
    assert "rule FaultRule" in str(caught.value)
    assert len(server.requests) == 2
    assert "no answer within 0.2s" in events(logs, FAILED)[0]["error"]


# --- 5xx, then success ----------------------------------------------------------


def test_server_error_then_success_returns_the_data(stub_server: StubFactory) -> None:
    answers: Iterator[Reply] = iter([json_reply({"status": "error", "error": "overloaded"}, 500)])

    def flaky(request: Request) -> Reply:
        return next(answers, None) or ok_matrix(request)

    server = stub_server(flaky)

    with capture_logs() as logs:
        (series,) = make_source(server.url).fetch(RULE, START, END)

    assert len(series) == 10
    assert len(server.requests) == 2
    (retry,) = events(logs, RETRY)
    assert (retry["rule"], retry["source"], retry["attempt"]) == ("FaultRule", "prometheus", 1)
    assert "HTTP 500" in retry["error"] and "overloaded" in retry["error"]
    assert events(logs, FAILED) == []


def test_too_many_requests_is_retried(stub_server: StubFactory) -> None:
    answers: Iterator[Reply] = iter([(429, {}, b"slow down")])
    server = stub_server(lambda request: next(answers, None) or ok_matrix(request))

    (series,) = make_source(server.url).fetch(RULE, START, END)

    assert len(series) == 10
    assert len(server.requests) == 2


# --- answers that will not get better -------------------------------------------


def test_malformed_json_fails_the_rule_without_retrying(stub_server: StubFactory) -> None:
    server = stub_server(lambda _: (200, {"Content-Type": "text/html"}, b"<html>login</html>"))

    with capture_logs() as logs, pytest.raises(SourceUnavailable) as caught:
        make_source(server.url).fetch(RULE, START, END)

    assert "rule FaultRule" in str(caught.value)
    assert "malformed JSON" in str(caught.value) and "<html>login" in str(caught.value)
    assert len(server.requests) == 1
    (failure,) = events(logs, FAILED)
    assert "malformed JSON" in failure["error"]


def test_query_error_carries_prometheus_text_and_rule_name(stub_server: StubFactory) -> None:
    body = {
        "status": "error",
        "errorType": "bad_data",
        "error": 'invalid parameter "query": 1:9: parse error: unclosed left parenthesis',
    }
    server = stub_server(lambda _: json_reply(body, 400))

    with capture_logs() as logs, pytest.raises(SourceUnavailable) as caught:
        make_source(server.url).fetch(RULE, START, END)

    message = str(caught.value)
    assert message.startswith("rule FaultRule: source prometheus")
    assert "HTTP 400" in message
    assert "bad_data: invalid parameter" in message and "unclosed left parenthesis" in message
    assert len(server.requests) == 1
    (failure,) = events(logs, FAILED)
    assert (failure["rule"], failure["attempt"]) == ("FaultRule", 1)


def test_rejected_credentials_name_the_settings_to_check(stub_server: StubFactory) -> None:
    server = stub_server(lambda _: (401, {}, b"Unauthorized"))

    with pytest.raises(SourceUnavailable) as caught:
        make_source(server.url).fetch(RULE, START, END)

    assert "authentication failed (HTTP 401)" in str(caught.value)
    assert "GRAYSIGNAL_PROMETHEUS_BEARER_TOKEN" in str(caught.value)


def test_non_matrix_answer_fails_the_rule(stub_server: StubFactory) -> None:
    body = {"status": "success", "data": {"resultType": "vector", "result": []}}
    server = stub_server(lambda _: json_reply(body))

    with pytest.raises(SourceUnavailable, match="unexpected result type 'vector'"):
        make_source(server.url).fetch(RULE, START, END)


# --- TLS -----------------------------------------------------------------------


def test_untrusted_certificate_fails_at_once_naming_the_ca_setting(
    stub_server: StubFactory, tls_files: TlsFiles
) -> None:
    server = stub_server(ok_matrix, tls=tls_files)

    with capture_logs() as logs, pytest.raises(SourceUnavailable) as caught:
        make_source(server.url).fetch(RULE, START, END)

    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert "GRAYSIGNAL_PROMETHEUS_CA_FILE" in str(caught.value)
    assert events(logs, RETRY) == []


def test_ca_file_makes_a_private_certificate_trusted(
    stub_server: StubFactory, tls_files: TlsFiles
) -> None:
    server = stub_server(ok_matrix, tls=tls_files)

    (series,) = make_source(server.url, ca_file=tls_files.cert).fetch(RULE, START, END)

    assert len(series) == 10


def test_ca_file_wins_over_requests_ca_bundle_in_the_environment(
    stub_server: StubFactory, tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests would otherwise verify against ``REQUESTS_CA_BUNDLE`` (here the public CAs,
    which never signed this certificate)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    server = stub_server(ok_matrix, tls=tls_files)

    (series,) = make_source(server.url, ca_file=tls_files.cert).fetch(RULE, START, END)

    assert len(series) == 10


# --- what is sent, and what never leaks -----------------------------------------


def test_tenant_header_and_bearer_token_are_sent(stub_server: StubFactory) -> None:
    server = stub_server(ok_matrix)
    source = make_source(server.url, bearer_token="tok-123", headers={"X-Scope-OrgID": "team-a"})

    source.fetch(RULE, START, END)

    (request,) = server.requests
    assert request.headers["Authorization"] == "Bearer tok-123"
    assert request.headers["X-Scope-OrgID"] == "team-a"
    assert request.params == {
        "query": "up",
        "start": str(START + 60),
        "end": str(END),
        "step": "60s",
    }


def test_basic_auth_is_sent(stub_server: StubFactory) -> None:
    server = stub_server(ok_matrix)

    make_source(server.url, username="alice", password="pw").fetch(RULE, START, END)

    assert server.requests[0].headers["Authorization"] == "Basic YWxpY2U6cHc="


@pytest.mark.parametrize(
    "credentials",
    [{"bearer_token": "tok-s3cret"}, {"username": "alice", "password": "pw-s3cret"}],
    ids=["bearer", "basic"],
)
def test_secrets_never_reach_errors_or_logs(
    stub_server: StubFactory, credentials: dict[str, Any]
) -> None:
    def echo_credentials(request: Request) -> Reply:
        """A hostile proxy that quotes the credentials back in its errors."""
        status = 500 if len(server.requests) == 1 else 400
        return status, {}, f"denied for {request.headers['Authorization']}".encode()

    server = stub_server(echo_credentials)
    source = make_source(server.url, **credentials)

    with capture_logs() as logs, pytest.raises(SourceUnavailable) as caught:
        source.fetch(RULE, START, END)

    sent = server.requests[0].headers["Authorization"].split(" ", 1)[1]
    shown = str(caught.value) + json.dumps(logs) + repr(source) + repr(source.settings)
    assert "denied for" in shown  # the error text itself does get through
    for secret in ("tok-s3cret", "pw-s3cret", sent):
        assert secret not in shown
