"""The Loki source against a loopback stand-in for Loki.

Loki cannot be installed on this machine, so :class:`FakeLoki` (a stdlib
``http.server`` on 127.0.0.1, see ``tests/servers.py``) answers
``GET /loki/api/v1/query_range`` in the format of Loki's HTTP API reference: a
``matrix`` of ``[<unix seconds>, "<value>"]`` pairs for metric queries, a ``streams``
result for log queries, and Loki's plain-text 400s for a bad query or more than 11,000
points per series. It evaluates at ``start, start + step, ...`` strictly before ``end``
(the reference says results are lower than ``end``), so the source's ``end + 1 ns``
convention is exercised too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from structlog.testing import capture_logs

from adapters.errors import SourceUnavailable
from adapters.settings import LokiSettings, load_settings
from adapters.sources import default_sources
from adapters.sources.loki import LokiSource
from detector.rule import Rule
from detector.series import Series
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
NS = 1_000_000_000
STEP = 60
START = 1_709_510_400  # 2024-03-04T00:00:00Z
DAYS = 14
METRIC_QUERY = 'sum by (level) (count_over_time({app="checkout"} [1m]))'
LOG_QUERY = '{app="checkout"} |= "error"'


def level_volume() -> dict[str, Series]:
    """Fourteen days of per-minute line counts per level, errors creeping up, a gap."""
    rng = np.random.default_rng(7)
    n = DAYS * 1440
    timestamps = START + STEP * np.arange(1, n + 1, dtype=np.int64)
    info = rng.poisson(120, n).astype(np.float64)
    errors = rng.poisson(np.linspace(2, 6, n)).astype(np.float64)
    errors[500:530] = np.nan  # Loki returns no point where a range had no lines
    return {
        "info": Series({"level": "info"}, timestamps, info, STEP),
        "error": Series({"level": "error"}, timestamps, errors, STEP),
    }


class FakeLoki:
    """Answers query_range like Loki over :func:`level_volume` (see the module doc)."""

    def __init__(self) -> None:
        self.volume = level_volume()

    def __call__(self, request: Request) -> Reply:
        if request.path != "/loki/api/v1/query_range":
            return 404, {}, b"404 page not found\n"
        query = request.params["query"]
        start, end = int(request.params["start"]), int(request.params["end"])
        step = int(request.params["step"].removesuffix("s"))
        if end <= start:
            return 400, {}, b"end timestamp must not be before or equal to start time"
        if (end - start) // NS // step > 11_000:
            return (
                400,
                {},
                b"exceeded maximum resolution of 11,000 points per time series. "
                b"Try increasing the value of the step parameter",
            )
        if "!!" in query:
            return 400, {}, b"parse error at line 1, col 20: syntax error: unexpected !"
        if not query.startswith(("sum", "count_over_time", "rate")):
            return json_reply(self._streams())
        times = range(start, end, step * NS)  # results lower than end
        result = []
        for series in self.volume.values():
            values = [
                [t / NS, f"{series.values[i]:g}"]
                for t in times
                if 0 <= (i := (t // NS - series.start) // STEP) < len(series)
                and not np.isnan(series.values[i])
            ]
            if values:
                result.append({"metric": dict(series.labels), "values": values})
        return json_reply(
            {"status": "success", "data": {"resultType": "matrix", "result": result, "stats": {}}}
        )

    @staticmethod
    def _streams() -> dict[str, Any]:
        stream = {
            "stream": {"app": "checkout", "level": "error"},
            "values": [[str(START * NS), "error: payment declined"]],
        }
        return {"status": "success", "data": {"resultType": "streams", "result": [stream]}}


@pytest.fixture
def loki(stub_server: StubFactory) -> Iterator[StubServer]:
    yield stub_server(FakeLoki())


def loki_rule(query: str = METRIC_QUERY, step: int | None = STEP) -> Rule:
    fields: dict[str, Any] = {"signal": "LokiTest", "source": "loki", "query": query}
    fields["window"] = 7 * 86400
    if step is not None:
        fields["step"] = step
    return Rule.model_validate(fields)


def make_source(url: str, **settings: Any) -> LokiSource:
    fields: dict[str, Any] = {"url": url, "retries": 2, "backoff_seconds": 0.0, "timeout": 2.0}
    fields.update(settings)
    return LokiSource(LokiSettings(**fields), sleep=lambda _: None)


ONE_DAY = (START, START + 86400)


def by_level(series: list[Series]) -> dict[str, Series]:
    return {s.labels["level"]: s for s in series}


# --- metric queries -------------------------------------------------------------


def test_metric_query_returns_one_series_per_label_set(loki: StubServer) -> None:
    got = make_source(loki.url).fetch(loki_rule(), *ONE_DAY)

    assert sorted(s.labels["level"] for s in got) == ["error", "info"]


def test_values_match_what_loki_returned_with_gaps_as_nan(loki: StubServer) -> None:
    expected = level_volume()

    got = by_level(make_source(loki.url).fetch(loki_rule(), *ONE_DAY))

    for level in ("info", "error"):
        want = expected[level].between(*ONE_DAY)
        np.testing.assert_array_equal(got[level].timestamps, want.timestamps)
        np.testing.assert_array_equal(got[level].values, want.values)
    assert np.isnan(got["error"].values).sum() == 30


def test_request_uses_nanoseconds_step_limit_and_direction(loki: StubServer) -> None:
    make_source(loki.url).fetch(loki_rule(), START, START + 3600)

    (request,) = loki.requests
    assert request.params == {
        "query": METRIC_QUERY,
        "start": str((START + 60) * NS),
        "end": str((START + 3600) * NS + 1),
        "step": "60s",
        "limit": "1",
        "direction": "forward",
    }


def test_rule_without_step_is_read_at_one_minute(loki: StubServer) -> None:
    got = make_source(loki.url).fetch(loki_rule(step=None), START, START + 3600)

    assert {s.step for s in got} == {60}


def test_fourteen_days_come_back_whole_in_three_requests(loki: StubServer) -> None:
    expected = level_volume()
    source = make_source(loki.url)

    got = by_level(source.fetch(loki_rule(), START, START + DAYS * 86400))

    assert source.requests_made == 3
    assert len(got["info"]) == DAYS * 1440
    np.testing.assert_array_equal(got["info"].values, expected["info"].values)


def test_max_query_days_splits_long_ranges(loki: StubServer) -> None:
    source = make_source(loki.url, max_query_days=1)

    got = by_level(source.fetch(loki_rule(), START, START + 3 * 86400))

    assert source.requests_made == 3
    assert len(got["info"]) == 3 * 1440


# --- errors ---------------------------------------------------------------------


def test_log_query_fails_saying_how_to_wrap_it(loki: StubServer) -> None:
    with pytest.raises(SourceUnavailable) as caught:
        make_source(loki.url).fetch(loki_rule(LOG_QUERY), *ONE_DAY)

    message = str(caught.value)
    assert message.startswith("rule LokiTest: source loki")
    assert "'streams'" in message and "count_over_time" in message and "rate" in message


def test_logql_error_carries_loki_text_without_retrying(loki: StubServer) -> None:
    with capture_logs() as logs, pytest.raises(SourceUnavailable) as caught:
        make_source(loki.url).fetch(loki_rule("sum(count_over_time({a=!!}[1m]))"), *ONE_DAY)

    assert "rule LokiTest" in str(caught.value)
    assert "HTTP 400" in str(caught.value) and "syntax error: unexpected !" in str(caught.value)
    assert len(loki.requests) == 1
    assert [e["attempt"] for e in logs if e["event"] == "source request failed"] == [1]


def test_too_many_series_fails_naming_the_setting(loki: StubServer) -> None:
    with pytest.raises(SourceUnavailable) as caught:
        make_source(loki.url, max_series_per_rule=1).fetch(loki_rule(), *ONE_DAY)

    assert "2 series" in str(caught.value)
    assert "GRAYSIGNAL_LOKI_MAX_SERIES_PER_RULE=1" in str(caught.value)


def test_server_error_is_retried_then_succeeds(stub_server: StubFactory) -> None:
    fake = FakeLoki()
    answers: Iterator[Reply] = iter([(502, {}, b"bad gateway")])
    server = stub_server(lambda request: next(answers, None) or fake(request))

    with capture_logs() as logs:
        got = make_source(server.url).fetch(loki_rule(), START, START + 3600)

    assert len(got) == 2
    (retry,) = [e for e in logs if e["event"] == "source request failed; retrying"]
    assert (retry["rule"], retry["source"], retry["attempt"]) == ("LokiTest", "loki", 1)
    assert "HTTP 502" in retry["error"]


def test_hanging_server_times_out(stub_server: StubFactory) -> None:
    def hang(request: Request) -> Reply:
        server.released.wait(10)
        return 500, {}, b""

    server = stub_server(hang)

    with pytest.raises(SourceUnavailable) as caught:
        make_source(server.url, timeout=0.2, retries=0).fetch(loki_rule(), *ONE_DAY)

    assert "rule LokiTest: source loki" in str(caught.value)
    assert "no answer within 0.2s" in str(caught.value)


def test_server_down_fails_after_retries() -> None:
    source = make_source(f"http://127.0.0.1:{free_port()}")

    with pytest.raises(SourceUnavailable) as caught:
        source.fetch(loki_rule(), *ONE_DAY)

    assert "cannot connect: Connection refused" in str(caught.value)
    assert "gave up after 3 attempts" in str(caught.value)


def test_malformed_json_fails_the_rule(stub_server: StubFactory) -> None:
    server = stub_server(lambda _: (200, {}, b'{"status": "success", "data": '))

    with pytest.raises(SourceUnavailable, match=r"rule LokiTest.*malformed JSON"):
        make_source(server.url).fetch(loki_rule(), *ONE_DAY)


def test_untrusted_certificate_fails_naming_the_ca_setting(
    stub_server: StubFactory, tls_files: TlsFiles
) -> None:
    server = stub_server(FakeLoki(), tls=tls_files)

    with pytest.raises(SourceUnavailable) as caught:
        make_source(server.url).fetch(loki_rule(), *ONE_DAY)

    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert "GRAYSIGNAL_LOKI_CA_FILE" in str(caught.value)
    assert len(server.requests) == 0


def test_ca_file_makes_a_private_certificate_trusted(
    stub_server: StubFactory, tls_files: TlsFiles
) -> None:
    server = stub_server(FakeLoki(), tls=tls_files)

    got = make_source(server.url, ca_file=tls_files.cert).fetch(loki_rule(), *ONE_DAY)

    assert len(got) == 2


# --- headers, auth, settings ----------------------------------------------------


def test_tenant_and_bearer_token_are_sent(loki: StubServer) -> None:
    make_source(loki.url, tenant="team-a", bearer_token="tok-1").fetch(loki_rule(), *ONE_DAY)

    headers = loki.requests[0].headers
    assert headers["X-Scope-OrgID"] == "team-a"
    assert headers["Authorization"] == "Bearer tok-1"


def test_basic_auth_is_sent(loki: StubServer) -> None:
    make_source(loki.url, username="tenant1", password="pw").fetch(loki_rule(), *ONE_DAY)

    assert loki.requests[0].headers["Authorization"] == "Basic dGVuYW50MTpwdw=="


def test_secret_in_an_echoed_error_is_masked(stub_server: StubFactory) -> None:
    server = stub_server(lambda r: (400, {}, f"bad token {r.headers['Authorization']}".encode()))

    with capture_logs() as logs, pytest.raises(SourceUnavailable) as caught:
        make_source(server.url, bearer_token="tok-s3cret").fetch(loki_rule(), *ONE_DAY)

    assert "tok-s3cret" not in str(caught.value) + json.dumps(logs)
    assert "bad token Bearer **********" in str(caught.value)


def test_settings_are_read_from_loki_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAYSIGNAL_LOKI_URL", "https://logs.example.test/")
    monkeypatch.setenv("GRAYSIGNAL_LOKI_TENANT", "team-b")

    settings = load_settings(LokiSettings)

    assert settings.url == "https://logs.example.test"
    assert settings.request_headers()["X-Scope-OrgID"] == "team-b"


def test_default_url_is_local_loki(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRAYSIGNAL_LOKI_URL", raising=False)

    assert load_settings(LokiSettings).url == "http://127.0.0.1:3100"


def test_default_sources_build_a_real_loki_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAYSIGNAL_LOKI_URL", "http://127.0.0.1:3999")

    source = default_sources()["loki"]

    assert isinstance(source, LokiSource)
    assert source.settings.url == "http://127.0.0.1:3999"
