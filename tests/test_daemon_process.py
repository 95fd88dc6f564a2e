"""``graysignal run`` as a real process: signals, restarts, delivery, probes.

The daemon reads a CSV whose timestamps end at "now" (the file source), so no metric
server is needed; alerts go to a real Alertmanager (Debian's prometheus-alertmanager)
or to a loopback webhook receiver standing in for a generic JSON webhook endpoint.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np

from tests.alertmanager_server import (
    Reply,
    recording_server,
    running_alertmanager,
    wait_until,
)
from tests.daemon_helpers import daemon, metric, status_of

STEP = 300


def write_live_series(path: Path, *, shifted: bool) -> None:
    """Ten days of 5-minute samples ending now; optionally 30% higher for the last 8 h."""
    now = int(time.time()) // STEP * STEP
    n = 10 * 86400 // STEP
    values = 100 + np.random.default_rng(1).normal(0, 2, n)
    if shifted:
        values[-(8 * 3600 // STEP) :] += 30
    start = now - (n - 1) * STEP
    rows = [f"{start + i * STEP},{float(v)!r}" for i, v in enumerate(values)]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    tmp.replace(path)  # atomic: the daemon never reads half a file


def write_rules(directory: Path) -> Path:
    write_live_series(directory / "latency.csv", shifted=True)
    rules = directory / "rules.yaml"
    rules.write_text(
        "groups:\n  - name: api\n    interval: 2s\n    rules:\n"
        "      - signal: LatencyShift\n        source: file\n        path: latency.csv\n"
        "        detect: [level_shift]\n        for: 0s\n        keep_firing_for: 0s\n"
        "        labels: {severity: warning}\n"
    )
    return rules


def test_slow_shift_reaches_alertmanager_and_resolves_when_data_recovers(tmp_path: Path) -> None:
    write_rules(tmp_path)
    with (
        running_alertmanager(tmp_path) as (alertmanager, _),
        daemon(tmp_path, "--alertmanager-url", alertmanager.url),
    ):
        (alert,) = alertmanager.wait_for_alerts(lambda alerts: len(alerts) == 1)
        assert alert["labels"]["alertname"] == "LatencyShift"
        assert alert["labels"]["graysignal_kind"] == "level_shift"
        assert alert["labels"]["severity"] == "warning"
        assert "rose" in alert["annotations"]["explanation"]
        assert "graysignal replay" in alert["annotations"]["replay"]

        write_live_series(tmp_path / "latency.csv", shifted=False)

        alertmanager.wait_for_alerts(lambda alerts: alerts == [])


def test_sigterm_finishes_flushes_and_exits_zero(tmp_path: Path) -> None:
    write_rules(tmp_path)
    with daemon(tmp_path) as (process, base):
        wait_until(lambda: (metric(base, "graysignal_rule_evaluations_total") or 0) >= 1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    assert "stopped" in (tmp_path / "daemon.log").read_text()


def test_sighup_with_a_broken_file_keeps_the_last_good_rules(tmp_path: Path) -> None:
    rules = write_rules(tmp_path)
    with daemon(tmp_path) as (process, base):
        good = rules.read_text()
        rules.write_text(good.replace("detect: [level_shift]", "detect: [spikes]"))
        process.send_signal(signal.SIGHUP)
        wait_until(lambda: metric(base, "graysignal_config_last_reload_successful") == 0)
        evaluated = metric(base, "graysignal_rule_evaluations_total") or 0
        wait_until(lambda: (metric(base, "graysignal_rule_evaluations_total") or 0) > evaluated)
        assert status_of(f"{base}/healthz") == 200
    log = (tmp_path / "daemon.log").read_text()
    assert "rules.yaml:8" in log and "keeping the last good rules" in log


def test_kill_minus_nine_and_restart_neither_loses_nor_repeats_a_notification(
    tmp_path: Path,
) -> None:
    write_rules(tmp_path)
    with recording_server() as receiver:
        env = {"GRAYSIGNAL_WEBHOOK_URL": receiver.url}
        with daemon(tmp_path, env=env) as (process, base):
            wait_until(lambda: len(receiver.received()) >= 1)
            # Delivery is at-least-once: a kill between the receiver's 200 and the ledger's
            # commit repeats that one notification. Once recorded, it is never repeated.
            wait_until(lambda: metric(base, "graysignal_outbox_depth") == 0)
            process.kill()
            process.wait(10)
        with daemon(tmp_path, env=env) as (process, base):
            evaluated = metric(base, "graysignal_rule_evaluations_total") or 0
            wait_until(
                lambda: (metric(base, "graysignal_rule_evaluations_total") or 0) >= evaluated + 2
            )
        statuses = [request.json()["status"] for request in receiver.received()]
    assert statuses == ["firing"]


def test_webhook_down_then_back_delivers_what_was_queued(tmp_path: Path) -> None:
    write_rules(tmp_path)
    with recording_server() as receiver:
        receiver.script(Reply(503), Reply(503))
        with daemon(tmp_path, env={"GRAYSIGNAL_WEBHOOK_URL": receiver.url}) as (_, base):
            wait_until(lambda: len(receiver.received()) >= 3, timeout=30)
            wait_until(lambda: metric(base, "graysignal_outbox_depth") == 0)
        firing = [r for r in receiver.received() if r.json()["status"] == "firing"]
    assert len(firing) == 3  # two refused attempts, then the delivery: nothing lost
