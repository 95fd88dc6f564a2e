"""``source: prometheus`` against a real VictoriaMetrics, which speaks the Prometheus
query API: loaded through ``/api/v1/import/prometheus`` (``tests/servers.py``), read
back through the unchanged Prometheus source.

VictoriaMetrics runs with ``-search.maxStalenessInterval=1s`` so that it returns the
imported samples exactly (by default it carries a sample forward over a short gap, as
Prometheus does within its lookback delta).
"""

from __future__ import annotations

import numpy as np
import pytest

from adapters.errors import SourceUnavailable
from adapters.settings import PrometheusSettings
from adapters.sources.prometheus import PrometheusSource
from detector.rule import Rule
from tests.servers import (
    GENERATED_POINTS,
    RealServer,
    victoria_metrics_server,  # noqa: F401  (the fixture `victoria_metrics`)
)


def vm_rule(query: str, step: int = 300) -> Rule:
    return Rule.model_validate(
        {"signal": "VmTest", "source": "prometheus", "query": query, "step": step}
    )


def source_for(server: RealServer, **settings: object) -> PrometheusSource:
    return PrometheusSource(PrometheusSettings(url=server.url, retries=0, **settings))  # type: ignore[arg-type]


def test_fourteen_days_at_one_minute_come_back_exactly_in_three_requests(
    victoria_metrics: RealServer,
) -> None:
    data = victoria_metrics.data.checkout
    source = source_for(victoria_metrics)

    (got,) = source.fetch(
        vm_rule(data.selector(), step=60), data.series.start - 60, data.series.end
    )

    assert source.requests_made == 3
    assert len(got) == GENERATED_POINTS
    np.testing.assert_array_equal(got.timestamps, data.series.timestamps)
    np.testing.assert_allclose(got.values, data.series.values, rtol=1e-12)


def test_gaps_stay_nan(victoria_metrics: RealServer) -> None:
    data = victoria_metrics.data.ec2_latency

    (got,) = source_for(victoria_metrics).fetch(
        vm_rule(data.selector()), data.series.start - 300, data.series.end
    )

    np.testing.assert_array_equal(got.timestamps, data.series.timestamps)
    np.testing.assert_array_equal(np.isnan(got.values), np.isnan(data.series.values))


def test_labels_including_name_are_kept(victoria_metrics: RealServer) -> None:
    data = victoria_metrics.data.ec2_latency

    (got,) = source_for(victoria_metrics).fetch(
        vm_rule(data.selector()), data.series.start, data.series.start + 3600
    )

    assert got.labels == data.labels


def test_query_error_fails_the_rule_with_the_servers_text(victoria_metrics: RealServer) -> None:
    with pytest.raises(SourceUnavailable) as caught:
        source_for(victoria_metrics).fetch(vm_rule("sum(fleet_up"), 1_709_510_400, 1_709_596_800)

    message = str(caught.value)
    assert message.startswith("rule VmTest: source prometheus")
    assert "HTTP 422" in message and "sum(fleet_up" in message


def test_series_limit_applies(victoria_metrics: RealServer) -> None:
    with pytest.raises(SourceUnavailable, match="matched 12 series"):
        source_for(victoria_metrics, max_series_per_rule=5).fetch(
            vm_rule("fleet_up"), 1_709_510_400, 1_709_596_800
        )
