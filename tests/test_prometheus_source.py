"""The Prometheus source against a real Prometheus (Debian's), backfilled with
``promtool`` from NAB series and a generated 14-day 1-minute series; and its settings.

The server runs with a 59 s lookback delta so that it answers exactly the stored
samples (see ``tests/servers.py``); chunking is observed through the source's request
counter and by comparing chunked with unchunked answers.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from prometheus_api_client import PrometheusConnect

from adapters.errors import InputError, SourceUnavailable
from adapters.settings import PrometheusSettings, load_settings
from adapters.sources import NotConfigured, default_sources
from adapters.sources.http import plan_chunks
from adapters.sources.prometheus import PrometheusSource
from detector.rule import Rule
from detector.series import Series
from tests.servers import (
    GENERATED_POINTS,
    GENERATED_START,
    Dataset,
    RealServer,
    prometheus_server,  # noqa: F401  (the fixture `prometheus`)
)


def prom_rule(query: str, step: int | None = 300, window: int = 7 * 86400) -> Rule:
    fields: dict[str, object] = {
        "signal": "PromTest",
        "source": "prometheus",
        "query": query,
        "window": window,
    }
    if step is not None:
        fields["step"] = step
    return Rule.model_validate(fields)


def source_for(server: RealServer, **overrides: object) -> PrometheusSource:
    settings = PrometheusSettings(url=server.url, retries=0, **overrides)  # type: ignore[arg-type]
    return PrometheusSource(settings)


def whole(data: Dataset) -> tuple[int, int]:
    """A range ``(start, end]`` holding every sample of ``data``."""
    return data.series.start - data.series.step, data.series.end


def assert_same_series(got: Series, expected: Series) -> None:
    np.testing.assert_array_equal(got.timestamps, expected.timestamps)
    np.testing.assert_array_equal(got.values, expected.values)  # NaN equals NaN here
    assert got.step == expected.step


# --- fetching -------------------------------------------------------------------


def test_fetch_returns_every_stored_sample_with_gaps_as_nan(prometheus: RealServer) -> None:
    data = prometheus.data.ec2_latency
    assert np.isnan(data.series.values).any(), "the test needs a series with gaps"

    (got,) = source_for(prometheus).fetch(prom_rule(data.selector()), *whole(data))

    assert_same_series(got, data.series)


def test_series_keep_all_labels_including_name(prometheus: RealServer) -> None:
    data = prometheus.data.ec2_latency

    (got,) = source_for(prometheus).fetch(prom_rule(data.selector()), *whole(data))

    assert got.labels == {"__name__": "nab_request_latency", "instance": "ec2"}


def test_every_series_a_query_matches_is_returned(prometheus: RealServer) -> None:
    fleet = prometheus.data.fleet
    start, end = whole(fleet[0])

    got = source_for(prometheus).fetch(prom_rule("fleet_up"), start, end)

    assert sorted(s.labels["instance"] for s in got) == sorted(d.labels["instance"] for d in fleet)


def test_range_is_half_open_start_excluded_end_included(prometheus: RealServer) -> None:
    data = prometheus.data.checkout
    start = GENERATED_START + 600  # a sample time: excluded
    end = GENERATED_START + 1200  # a sample time: included

    (got,) = source_for(prometheus).fetch(prom_rule(data.selector(), step=60), start, end)

    assert got.timestamps.tolist() == list(range(start + 60, end + 1, 60))


def test_unaligned_range_is_read_on_the_step_grid(prometheus: RealServer) -> None:
    data = prometheus.data.checkout
    start, end = GENERATED_START + 605, GENERATED_START + 1199

    (got,) = source_for(prometheus).fetch(prom_rule(data.selector(), step=60), start, end)

    assert got.timestamps.tolist() == list(range(GENERATED_START + 660, GENERATED_START + 1141, 60))
    expected = data.series.between(start, end).values
    np.testing.assert_array_equal(got.values, expected)


def test_rule_without_step_is_read_at_one_minute(prometheus: RealServer) -> None:
    data = prometheus.data.checkout
    start, end = GENERATED_START, GENERATED_START + 3600

    (got,) = source_for(prometheus).fetch(prom_rule(data.selector(), step=None), start, end)

    assert got.step == 60


def test_query_matching_nothing_returns_no_series(prometheus: RealServer) -> None:
    start, end = whole(prometheus.data.checkout)

    assert source_for(prometheus).fetch(prom_rule("no_such_metric"), start, end) == []


def test_promql_expressions_are_evaluated_by_the_server(prometheus: RealServer) -> None:
    data = prometheus.data.fleet
    start, end = whole(data[0])

    (got,) = source_for(prometheus).fetch(prom_rule("sum(fleet_up)"), start, end)

    assert got.labels == {}
    assert np.all(got.values == sum(range(len(data))))


def test_nan_values_are_gaps_and_all_nan_series_are_dropped(prometheus: RealServer) -> None:
    fleet = prometheus.data.fleet  # instance i-000 is 0 throughout: 0/0 is NaN
    start, end = whole(fleet[0])

    got = source_for(prometheus).fetch(prom_rule("fleet_up / fleet_up"), start, end)

    assert len(got) == len(fleet) - 1
    assert "i-000" not in {s.labels["instance"] for s in got}
    assert all(np.all(s.values == 1.0) for s in got)


def test_the_connection_is_a_prometheus_api_client_for_the_configured_server(
    prometheus: RealServer,
) -> None:
    source = source_for(prometheus)

    assert isinstance(source.client, PrometheusConnect)
    assert source.client.url == prometheus.url
    assert source.client.check_prometheus_connection()


# --- chunking -------------------------------------------------------------------


def test_fourteen_days_at_one_minute_come_back_whole_in_three_requests(
    prometheus: RealServer,
) -> None:
    data = prometheus.data.checkout
    source = source_for(prometheus)

    (got,) = source.fetch(prom_rule(data.selector(), step=60), *whole(data))

    assert source.requests_made == 3  # 10,000 + 10,000 + 160 points
    assert len(got) == GENERATED_POINTS == 20_160
    assert_same_series(got, data.series)


def test_small_chunks_neither_duplicate_nor_drop_boundary_samples(prometheus: RealServer) -> None:
    data = prometheus.data.ec2_latency
    rule = prom_rule(data.selector())
    start, end = data.series.start + 7 * 300, data.series.start + 500 * 300
    chunked = PrometheusSource(PrometheusSettings(url=prometheus.url, retries=0), max_points=7)

    (small,) = chunked.fetch(rule, start, end)
    (large,) = source_for(prometheus).fetch(rule, start, end)

    assert chunked.requests_made == len(plan_chunks(start, end, 300, max_points=7)) > 60
    assert_same_series(small, large)


def test_chunks_are_aligned_contiguous_and_within_the_point_limit() -> None:
    chunks = plan_chunks(1_000_030, 1_000_030 + 25_000 * 60, 60, max_points=10_000)

    assert [c.points for c in chunks] == [10_000, 10_000, 5_000]
    assert all(c.first % 60 == 0 for c in chunks)
    assert all(b.first == a.last + 60 for a, b in itertools.pairwise(chunks))


# --- errors from a real server --------------------------------------------------


def test_bad_promql_fails_the_rule_with_prometheus_error_text(prometheus: RealServer) -> None:
    start, end = whole(prometheus.data.checkout)

    with pytest.raises(SourceUnavailable) as caught:
        source_for(prometheus).fetch(prom_rule("sum(rate(x[5m])"), start, end)

    message = str(caught.value)
    assert "rule PromTest" in message
    assert "source prometheus" in message
    assert "bad_data" in message and "parse error" in message


def test_too_many_series_fails_naming_rule_count_and_setting(prometheus: RealServer) -> None:
    start, end = whole(prometheus.data.fleet[0])
    source = source_for(prometheus, max_series_per_rule=10)

    with pytest.raises(SourceUnavailable) as caught:
        source.fetch(prom_rule("fleet_up"), start, end)

    message = str(caught.value)
    assert "rule PromTest" in message
    assert "12 series" in message
    assert "GRAYSIGNAL_PROMETHEUS_MAX_SERIES_PER_RULE=10" in message


# --- settings -------------------------------------------------------------------


def test_settings_are_read_from_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAYSIGNAL_PROMETHEUS_URL", "http://127.0.0.1:9999/")
    monkeypatch.setenv("GRAYSIGNAL_PROMETHEUS_TIMEOUT", "2.5")
    monkeypatch.setenv("GRAYSIGNAL_PROMETHEUS_HEADERS", '{"X-Scope-OrgID": "team-a"}')

    settings = load_settings(PrometheusSettings)

    assert settings.url == "http://127.0.0.1:9999"
    assert settings.timeout == 2.5
    assert settings.request_headers()["X-Scope-OrgID"] == "team-a"


def test_defaults_point_at_local_prometheus(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("URL", "RETRIES", "MAX_SERIES_PER_RULE"):
        monkeypatch.delenv(f"GRAYSIGNAL_PROMETHEUS_{var}", raising=False)

    settings = load_settings(PrometheusSettings)

    assert (settings.url, settings.retries, settings.max_series_per_rule) == (
        "http://127.0.0.1:9090",
        3,
        1000,
    )


def test_bad_variable_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAYSIGNAL_PROMETHEUS_TIMEOUT", "soon")

    with pytest.raises(InputError) as caught:
        load_settings(PrometheusSettings)

    assert str(caught.value).startswith("GRAYSIGNAL_PROMETHEUS_TIMEOUT: ")


def test_headers_that_are_not_json_are_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAYSIGNAL_PROMETHEUS_HEADERS", "X-Scope-OrgID: tenant")

    with pytest.raises(InputError) as caught:
        load_settings(PrometheusSettings)

    assert "GRAYSIGNAL_PROMETHEUS_HEADERS: must be a JSON object" in str(caught.value)


def test_invalid_secret_is_reported_without_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAYSIGNAL_PROMETHEUS_BEARER_TOKEN", "tok-s3cret")
    monkeypatch.setenv("GRAYSIGNAL_PROMETHEUS_USERNAME", "alice")

    with pytest.raises(InputError) as caught:
        load_settings(PrometheusSettings)

    assert "GRAYSIGNAL_PROMETHEUS_BEARER_TOKEN" in str(caught.value)
    assert "tok-s3cret" not in str(caught.value)


def test_repr_of_settings_and_source_hides_secrets() -> None:
    settings = PrometheusSettings(
        url="http://bob:url-s3cret@127.0.0.1:9090",
        username="alice",
        password="pw-s3cret",
        headers={"Authorization": "Basic hdr-s3cret", "X-Scope-OrgID": "team-a"},
    )

    shown = repr(settings) + repr(PrometheusSource(settings)) + str(settings)

    for secret in ("url-s3cret", "pw-s3cret", "hdr-s3cret"):
        assert secret not in shown
    assert "team-a" in shown


def test_bearer_token_and_basic_auth_exclude_each_other() -> None:
    with pytest.raises(InputError) as caught:
        load_settings(PrometheusSettings, bearer_token="t", username="u")

    assert "either GRAYSIGNAL_PROMETHEUS_BEARER_TOKEN or GRAYSIGNAL_PROMETHEUS_USERNAME" in str(
        caught.value
    )


def test_default_sources_build_a_real_prometheus_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAYSIGNAL_PROMETHEUS_URL", "http://127.0.0.1:9999")

    source = default_sources()["prometheus"]

    assert isinstance(source, PrometheusSource)
    assert source.settings.url == "http://127.0.0.1:9999"


def test_bad_settings_fail_only_the_rules_of_that_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAYSIGNAL_PROMETHEUS_RETRIES", "-1")

    sources = default_sources()

    assert isinstance(sources["prometheus"], NotConfigured)
    with pytest.raises(SourceUnavailable, match="GRAYSIGNAL_PROMETHEUS_RETRIES"):
        sources["prometheus"].fetch(prom_rule("up"), 0, 3600)
    assert not isinstance(sources["loki"], NotConfigured)
