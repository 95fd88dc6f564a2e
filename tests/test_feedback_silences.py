"""Alertmanager silences, with a real Alertmanager and ``graysignal run`` as a process.

A human who silences an alert has reacted to it; a retrospective must be able to say so.
The daemon sends an alert, someone silences it through Alertmanager's own API, the
daemon records the silence in its ledger, and the replay of a later incident says
"sent and silenced in Alertmanager by ...".
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from adapters.cli import app
from adapters.daemon.metrics import DaemonMetrics
from adapters.ledger import Ledger
from adapters.notify.alertmanager import alertmanager_fingerprint
from adapters.notify.silences import SilenceMatcher, SilenceWatcher, silence_readers
from adapters.suppressions import load_suppressions
from adapters.timeparse import format_rfc3339
from tests.alertmanager_server import free_port, running_alertmanager, wait_until
from tests.daemon_helpers import daemon
from tests.test_daemon_process import write_rules

REPLAY_RULES = """\
groups:
  - name: api
    interval: 5m
    rules:
      - signal: LatencyShift
        source: file
        path: ../latency.csv
        detect: [level_shift]
        for: 0s
        keep_firing_for: 0s
        labels: {severity: warning}
"""


def silence(url: str, *, created_by: str, comment: str) -> str:
    """Create a silence on ``alertname="LatencyShift"`` through Alertmanager's API v2."""
    now = int(time.time())
    response = httpx.post(
        f"{url}/api/v2/silences",
        json={
            "matchers": [
                {"name": "alertname", "value": "LatencyShift", "isRegex": False, "isEqual": True},
                {"name": "severity", "value": "warn.*", "isRegex": True, "isEqual": True},
            ],
            "startsAt": format_rfc3339(now - 60),
            "endsAt": format_rfc3339(now + 3600),
            "createdBy": created_by,
            "comment": comment,
        },
        timeout=5,
    )
    response.raise_for_status()
    return str(response.json()["silenceID"])


def recorded_silences(ledger: Path) -> list[sqlite3.Row]:
    with sqlite3.connect(ledger) as db:
        db.row_factory = sqlite3.Row
        try:
            return db.execute("SELECT * FROM silences").fetchall()
        except sqlite3.OperationalError:  # not migrated yet
            return []


def test_a_silence_made_in_alertmanager_reaches_the_ledger_and_the_replay(tmp_path: Path) -> None:
    write_rules(tmp_path)
    ledger = tmp_path / "ledger.db"
    with (
        running_alertmanager(tmp_path / "am") as (alertmanager, _),
        daemon(tmp_path, "--alertmanager-url", alertmanager.url),
    ):
        alertmanager.wait_for_alerts(lambda alerts: len(alerts) == 1)
        silence_id = silence(alertmanager.url, created_by="ana", comment="deploy freeze, known")

        (row,) = wait_until(lambda: recorded_silences(ledger) or None)

    assert row["silence_id"] == silence_id
    assert row["created_by"] == "ana"
    assert row["comment"] == "deploy freeze, known"
    assert row["alertmanager"] == alertmanager.url
    assert json.loads(row["labels"])["alertname"] == "LatencyShift"

    replay_dir = tmp_path / "replay"
    replay_dir.mkdir()
    (replay_dir / "rules.yaml").write_text(REPLAY_RULES)
    at = format_rfc3339(int(time.time()) + 60)
    result = CliRunner().invoke(
        app,
        [
            "replay", str(replay_dir / "rules.yaml"), "--at", at, "--lookback", "1d",
            "--ledger", str(ledger), "--format", "json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    (signal,) = json.loads(result.stdout)["signals"]
    reaction = signal["firings"][-1]["reaction"]
    assert reaction["status"] == "silenced"
    assert reaction["text"] == "sent and silenced in Alertmanager by ana (deploy freeze, known)"
    assert reaction["reactions"][0]["where"] == alertmanager.url

    markdown = CliRunner().invoke(
        app,
        [
            "replay", str(replay_dir / "rules.yaml"), "--at", at, "--lookback", "1d",
            "--ledger", str(ledger), "--format", "md",
        ],
    )  # fmt: skip
    assert "sent and silenced in Alertmanager by ana" in markdown.stdout


def test_an_alertmanager_that_is_down_is_counted_and_never_raises(tmp_path: Path) -> None:
    metrics = DaemonMetrics()
    url = f"http://user:s3cret-pass@127.0.0.1:{free_port()}"
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        watcher = SilenceWatcher(silence_readers([url], timeout=2), ledger, metrics)

        assert watcher.poll(0, [{"alertname": "LatencyShift"}]) == 0

    down = f"http://127.0.0.1:{url.rsplit(':', 1)[1]}"
    counted = metrics.silence_polls.labels(alertmanager=down, outcome="error")._value.get()
    assert counted == 1
    assert "s3cret" not in repr(watcher.readers[0])


def test_silence_matchers_follow_alertmanager_semantics() -> None:
    labels = {"alertname": "LatencyShift", "service": "checkout"}

    assert SilenceMatcher("service", "check.*", is_regex=True).matches(labels)
    assert not SilenceMatcher("service", "check", is_regex=True).matches(labels)  # anchored
    assert SilenceMatcher("service", "search", is_regex=False, is_equal=False).matches(labels)
    assert not SilenceMatcher("service", "check.*", is_regex=True, is_equal=False).matches(labels)
    assert SilenceMatcher("region", "", is_regex=False).matches(labels)  # missing is ""


def test_ack_accepts_the_fingerprint_alertmanager_shows(tmp_path: Path) -> None:
    """An on-call engineer copies the fingerprint from Alertmanager's UI or API, which
    hashes labels differently from graysignal's ledger; ``ack`` must find the alert."""
    write_rules(tmp_path)
    ledger = tmp_path / "ledger.db"
    suppressions = tmp_path / "suppressions.yaml"
    with (
        running_alertmanager(tmp_path / "am") as (alertmanager, _),
        daemon(tmp_path, "--alertmanager-url", alertmanager.url),
    ):
        (shown,) = alertmanager.wait_for_alerts(lambda alerts: len(alerts) == 1)
        result = CliRunner().invoke(
            app,
            [
                "ack", shown["fingerprint"], "--reason", "known", "--by", "ana",
                "--ledger", str(ledger), "--file", str(suppressions),
            ],
        )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert alertmanager_fingerprint(shown["labels"]) == shown["fingerprint"]
    (entry,) = load_suppressions(suppressions)
    assert entry.rule == shown["labels"]["alertname"] == "LatencyShift"
    assert entry.kind is not None and entry.kind.value == shown["labels"]["graysignal_kind"]
