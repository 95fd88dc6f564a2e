"""``graysignal run`` against a real Prometheus and a real Alertmanager (Debian packages).

The test Prometheus is backfilled (promtool) with a series that shifted 30% over the
last eight hours before "now"; the daemon, evaluating on the real clock, must send the
alert to Alertmanager with its explanation. A Prometheus that is down must not take the
daemon down, must show in ``graysignal_source_up``, and must raise no alert.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.alertmanager_server import running_alertmanager, wait_until
from tests.daemon_helpers import daemon, metric
from tests.servers import (
    RealServer,
    prometheus_server,  # noqa: F401  (the fixture `prometheus`)
)

RULES = """\
groups:
  - name: checkout
    interval: 2s
    rules:
      - signal: CheckoutLatencyShift
        source: prometheus
        query: checkout_p99_ms{env="e2e"}
        step: 5m
        detect: [level_shift]
        direction: up
        for: 0s
        labels: {severity: warning, team: payments}
"""


def test_shift_in_prometheus_reaches_alertmanager(tmp_path: Path, prometheus: RealServer) -> None:
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
        (alert,) = alertmanager.wait_for_alerts(lambda alerts: len(alerts) == 1)
    assert alert["labels"]["alertname"] == "CheckoutLatencyShift"
    assert alert["labels"]["service"] == "checkout"
    assert alert["labels"]["team"] == "payments"
    assert 'service="checkout"' in alert["annotations"]["explanation"]
    # The shift is +30%; the estimate of "after" includes the block the shift began in,
    # so it reads between 27% and 33% depending on where the clock cuts the blocks.
    rose = re.search(r"rose (\d+)%", alert["annotations"]["explanation"])
    assert rose is not None and 27 <= int(rose.group(1)) <= 33


def test_prometheus_down_keeps_the_daemon_up_and_raises_nothing(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    env = {
        "GRAYSIGNAL_PROMETHEUS_URL": "http://127.0.0.1:1",
        "GRAYSIGNAL_PROMETHEUS_RETRIES": "0",
        "GRAYSIGNAL_STDOUT_NOTIFICATIONS": "true",
    }
    with daemon(tmp_path, env=env) as (process, base):
        wait_until(lambda: (metric(base, "graysignal_rule_evaluation_failures_total") or 0) >= 2)
        assert metric(base, "graysignal_source_up") == 0
        assert metric(base, "graysignal_outbox_depth") == 0
        assert metric(base, 'graysignal_alerts{state="firing"}') == 0
        assert process.poll() is None
    assert '"status": "firing"' not in (tmp_path / "daemon.log").read_text()
