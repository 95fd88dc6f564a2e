"""The links an alert carries work as they are: ``generatorURL`` and the replay hint.

The end-to-end test runs ``graysignal run`` against the real test Prometheus and a real
Alertmanager (Debian's packages), opens the alert's ``generatorURL`` on that Prometheus
and pastes its replay hint into a fresh process that knows nothing else.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from adapters.daemon.settings import DaemonSettings
from adapters.notify.links import generator_url, replay_command, server_urls
from adapters.settings import PrometheusSettings
from adapters.sources import PrometheusSource
from detector.rule import Rule
from tests.alertmanager_server import running_alertmanager, wait_until
from tests.daemon_helpers import GRAYSIGNAL, daemon
from tests.servers import (
    RealServer,
    prometheus_server,  # noqa: F401  (the fixture `prometheus`)
)

QUERY = 'checkout_p99_ms{env="e2e"}'
RULES = f"""\
groups:
  - name: checkout
    interval: 15s  # a replay of 14 days at this interval stays quick
    rules:
      - signal: CheckoutLatencyShift
        source: prometheus
        query: {QUERY}
        step: 5m
        detect: [level_shift]
        direction: up
        for: 0s
"""


def prometheus_rule(**fields: object) -> Rule:
    return Rule.model_validate({"signal": "S", "source": "prometheus", "query": QUERY, **fields})


def test_a_prometheus_alert_links_to_the_graph_of_its_query_over_its_window() -> None:
    rule = prometheus_rule(window="3d")

    url = generator_url(rule, 1_800_000_000, templates={}, servers={"prometheus": "http://p:9090"})

    assert url is not None
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://p:9090/graph"
    assert parse_qs(parts.query) == {"g0.expr": [QUERY], "g0.tab": ["0"], "g0.range_input": ["3d"]}


def test_a_template_for_the_source_replaces_the_default_link() -> None:
    template = "https://grafana.example/explore?expr={query}&from={start_ms}&to={end_ms}"

    url = generator_url(
        prometheus_rule(window="1d"),
        1_800_000_000,
        templates={"prometheus": template},
        servers={"prometheus": "http://p:9090"},
    )

    assert url == (
        "https://grafana.example/explore?expr=checkout_p99_ms%7Benv%3D%22e2e%22%7D"
        "&from=1799913600000&to=1800000000000"
    )


def test_a_file_rule_links_to_its_file(tmp_path: Path) -> None:
    rule = Rule.model_validate({"signal": "S", "source": "file", "path": str(tmp_path / "a.csv")})

    assert generator_url(rule, 0, templates={}, servers={}) == (tmp_path / "a.csv").as_uri()


def test_server_urls_never_carry_credentials() -> None:
    source = PrometheusSource(PrometheusSettings(url="https://user:secret@prom.example:9090"))

    assert server_urls({"prometheus": source, "file": object()}) == {
        "prometheus": "https://prom.example:9090"
    }


def test_the_replay_hint_names_absolute_rules_and_the_servers_its_rules_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    hint = replay_command(
        [Path("rules dir")],
        "2026-11-20T10:00:00Z",
        lookback="14d",
        sources_used={"prometheus", "file"},
        servers={"prometheus": "http://prom:9090", "loki": "http://loki:3100"},
    )

    assert shlex.split(hint) == [
        "GRAYSIGNAL_PROMETHEUS_URL=http://prom:9090",
        "graysignal",
        "replay",
        str(tmp_path / "rules dir"),
        "--at",
        "2026-11-20T10:00:00Z",
        "--lookback",
        "14d",
    ]


@pytest.mark.parametrize(
    ("templates", "message"),
    [
        ({"graphite": "https://g/{query}"}, "unknown source 'graphite'"),
        ({"loki": "https://g/{qeury}"}, "loki: link template: unknown placeholder qeury"),
    ],
)
def test_a_bad_link_template_setting_is_refused(templates: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DaemonSettings(generator_urls=templates)


def test_an_alert_opens_its_prometheus_graph_and_its_replay_hint_replays_it(
    tmp_path: Path, prometheus: RealServer
) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    with (
        running_alertmanager(tmp_path) as (alertmanager, _),
        daemon(
            tmp_path,
            "--alertmanager-url",
            alertmanager.url,
            env={"GRAYSIGNAL_PROMETHEUS_URL": prometheus.url},
        ),
    ):
        (alert,) = wait_until(lambda: alertmanager.alerts() or None, timeout=60)

    link = urlsplit(alert["generatorURL"])
    assert f"{link.scheme}://{link.netloc}{link.path}" == f"{prometheus.url}/graph"
    assert parse_qs(link.query)["g0.expr"] == [QUERY]
    page = httpx.get(alert["generatorURL"], timeout=10, follow_redirects=True)
    assert page.status_code == 200
    assert "<title>Prometheus" in page.text
    assert parse_qs(page.url.query.decode())["g0.expr"] == [QUERY]  # kept through redirects
    now = int(time.time()) // 300 * 300  # on the samples' grid: exact answers here
    answer = httpx.get(
        f"{prometheus.url}/api/v1/query_range",
        params={"query": QUERY, "start": now - 86400, "end": now, "step": "5m"},
        timeout=10,
    )
    assert answer.json()["data"]["result"], answer.text

    words = shlex.split(alert["annotations"]["replay"])
    env = dict(word.split("=", 1) for word in words if "=" in word and not word.startswith("-"))
    command = words[len(env) :]
    assert command[:2] == ["graysignal", "replay"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GRAYSIGNAL_")}
    pasted = subprocess.run(
        [GRAYSIGNAL, *command[1:]],
        env={**clean, **env, "COLUMNS": "200"},
        cwd=Path("/"),  # the hint must not depend on the daemon's working directory
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert pasted.returncode == 0, pasted.stdout + pasted.stderr
    assert "CheckoutLatencyShift" in pasted.stdout
    assert "No rule fired" not in pasted.stdout
