"""``graysignal run`` as a real process while its Prometheus and Loki are hostile.

Both server sources point at a loopback server (tests/hostile_server.py) that answers
each request with the next attack in turn: malformed JSON, a gigabyte body, a gzip
bomb, a dripped body, dripped headers, a redirect to another host, absurd timestamps.
A third rule reads a file with a clear level shift. The daemon must keep the attacked
rules at ``graysignal_source_up`` 0, keep evaluating and alerting on the file rule, stay
healthy, and never write a credential (bearer token, basic-auth password, webhook URL)
to its log, its metrics or a notification.
"""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path

import httpx
import numpy as np

from tests.alertmanager_server import recording_server, wait_until
from tests.daemon_helpers import daemon, status_of
from tests.hostile_server import HostileServer, gzip_bomb

TOKEN = "tok-c0ffee51de"
PASSWORD = "pw-7ea5e1c0de"
HOOK_SECRET = "B0000/XXsecretXXhookXX"
ATTACKS = (
    "malformed",
    "huge",
    "gzip-bomb",
    "slow-body",
    "slow-headers",
    "redirect",
    "absurd-timestamps",
)
STEP = 300

RULES = """\
groups:
  - name: metrics
    interval: 2s
    rules:
      - signal: AttackedMetrics
        source: prometheus
        query: up
        step: 1m
        window: 1h
  - name: logs
    interval: 2s
    rules:
      - signal: AttackedLogs
        source: loki
        query: sum(count_over_time({app="x"}[1m]))
        step: 1m
        window: 1h
  - name: files
    interval: 2s
    rules:
      - signal: FileShift
        source: file
        path: latency.csv
        detect: [level_shift]
        for: 0s
"""


def write_shifted_series(path: Path) -> None:
    """Ten days of 5-minute samples ending now, 30% higher for the last 8 hours."""
    now = int(time.time()) // STEP * STEP
    n = 10 * 86400 // STEP
    values = 100 + np.random.default_rng(5).normal(0, 2, n)
    values[-(8 * 3600 // STEP) :] += 30
    start = now - (n - 1) * STEP
    rows = [f"{start + i * STEP},{float(v)!r}" for i, v in enumerate(values)]
    path.write_text("timestamp,value\n" + "\n".join(rows) + "\n")


def samples(text: str, name: str, **labels: str) -> list[float]:
    """Values of the metric lines of ``name`` carrying all of ``labels``."""
    found = []
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            found.append(float(line.rsplit(" ", 1)[1]))
    return found


def test_hostile_sources_fail_only_their_rules_and_leak_no_secret(tmp_path: Path) -> None:
    gzip_bomb()  # made once, before any request's deadline starts
    write_shifted_series(tmp_path / "latency.csv")
    (tmp_path / "rules.yaml").write_text(RULES)
    hostile = HostileServer(mode="cycle", cycle=ATTACKS).start()
    elsewhere = HostileServer(host="127.0.0.2").start()
    hostile.redirect_to = f"{elsewhere.url}/steal?token={TOKEN}"
    limits = {"RETRIES": "0", "MAX_REQUEST_SECONDS": "1", "MAX_RESPONSE_BYTES": "1MiB"}
    try:
        with recording_server() as receiver:
            hook = f"{receiver.url}/services/T0000/{HOOK_SECRET}"
            env = {
                "GRAYSIGNAL_PROMETHEUS_URL": hostile.url,
                "GRAYSIGNAL_PROMETHEUS_BEARER_TOKEN": TOKEN,
                "GRAYSIGNAL_LOKI_URL": hostile.url,
                "GRAYSIGNAL_LOKI_USERNAME": "tenant",
                "GRAYSIGNAL_LOKI_PASSWORD": PASSWORD,
                "GRAYSIGNAL_WEBHOOK_URL": hook,
                **{f"GRAYSIGNAL_PROMETHEUS_{k}": v for k, v in limits.items()},
                **{f"GRAYSIGNAL_LOKI_{k}": v for k, v in limits.items()},
            }
            with daemon(tmp_path, env=env) as (_, base):
                wait_until(lambda: all(hostile.answered.get(a) for a in ATTACKS), timeout=90)
                metrics = httpx.get(f"{base}/metrics", timeout=5).text
                evaluated = samples(metrics, "graysignal_rule_evaluations_total", rule="FileShift")
                wait_until(lambda: len(receiver.received()) >= 1, timeout=60)
                wait_until(
                    lambda: (
                        samples(
                            httpx.get(f"{base}/metrics", timeout=5).text,
                            "graysignal_rule_evaluations_total",
                            rule="FileShift",
                        )[0]
                        > evaluated[0]
                    )
                )
                metrics = httpx.get(f"{base}/metrics", timeout=5).text
                healthy = status_of(f"{base}/healthz")
            notifications = [request.body.decode() for request in receiver.received()]
    finally:
        hostile.stop()
        elsewhere.stop()

    assert samples(metrics, "graysignal_source_up", rule="AttackedMetrics") == [0.0]
    assert samples(metrics, "graysignal_source_up", rule="AttackedLogs") == [0.0]
    assert samples(metrics, "graysignal_source_up", rule="FileShift") == [1.0]
    assert healthy == 200
    assert '"alertname":"FileShift"' in notifications[0].replace(" ", "")
    assert elsewhere.requests == []
    assert hostile.sent < 64 * (1 << 20)  # a gigabyte was offered several times

    log = (tmp_path / "daemon.log").read_text()
    for attack_message in (
        "malformed JSON",
        "MAX_RESPONSE_BYTES",
        "MAX_REQUEST_SECONDS",
        "redirected",
    ):
        assert attack_message in log
    assert "Traceback" not in log
    basic = base64.b64encode(f"tenant:{PASSWORD}".encode()).decode()
    everything = log + metrics + "".join(notifications)
    for secret in (TOKEN, PASSWORD, basic, HOOK_SECRET, hook):
        assert secret not in everything, f"{secret!r} leaked"
    assert re.search(r"source (prometheus|loki) \(http://127\.0\.0\.1:\d+\)", log)
