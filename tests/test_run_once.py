"""``run --once`` from cron, and a daemon's start: ``for`` state comes from the data.

A cron job runs a fresh process each time, so a rule with ``for:`` would only ever go
pending. Like Prometheus restoring its ``for`` state, the first evaluation of a rule in a
process replays the last ``for`` span first. The times asserted are not the detector's:
they come from replaying the same data with ``for: 0`` (when the finding is present), so
the tests hold for any sound detector. Alerts go to a recording notifier, or to a real
Alertmanager (Debian's) for the re-send between runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from typer.testing import CliRunner

from adapters.cli import app
from adapters.daemon.engine import Engine
from adapters.daemon.metrics import DaemonMetrics
from adapters.daemon.service import Service
from adapters.daemon.settings import DaemonSettings
from adapters.ledger import Ledger
from adapters.notify import alertmanager_notifiers
from adapters.rulefiles import load_rule_files
from adapters.sources import FileSource
from adapters.sources.base import Source
from detector.alerts import AlertState
from detector.replay import Firing, group_offset, replay_rule
from detector.testing import EPOCH
from tests.alertmanager_server import running_alertmanager
from tests.test_daemon_engine import Frozen, Recorder

STEP = 300
PER_DAY = 86400 // STEP
GROUP = "api"
INTERVAL = 600
PENDING_FOR = 2 * 3600


def write_series(path: Path, start: int, days: float, shift_from: float) -> Path:
    """``days`` of 5-minute samples from ``start``, 30% higher from day ``shift_from`` on."""
    rng = np.random.default_rng(11)
    values = 100 + rng.normal(0, 2, int(days * PER_DAY))
    values[int(shift_from * PER_DAY) :] += 30
    lines = ["timestamp,value"] + [f"{start + i * STEP},{float(v)!r}" for i, v in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_rules(directory: Path, start: int = EPOCH, days: float = 10) -> Path:
    write_series(directory / "latency.csv", start, days, shift_from=days - 1)
    rules = directory / "rules.yaml"
    rules.write_text(
        f"groups:\n  - name: {GROUP}\n    interval: 10m\n    rules:\n"
        "      - signal: LatencyShift\n        source: file\n        path: latency.csv\n"
        "        detect: [level_shift]\n        window: 3d\n        seasonality: none\n"
        "        for: 2h\n        keep_firing_for: 0s\n"
    )
    return rules


def held_finding(rules: Path, end: int) -> Firing:
    """The longest stretch in which the rule's finding is present at every evaluation
    (a replay with ``for: 0``): what ``for`` counts."""
    ((_, rule_file),) = load_rule_files([rules])
    rule = rule_file.groups[0].rules[0].model_copy(update={"for_": 0})
    (series,) = FileSource().fetch(rule, 0, end)
    signals, _ = replay_rule(
        rule,
        group=GROUP,
        interval=INTERVAL,
        series=[series],
        start=end - 3 * 86400,
        end=end,
        offset=group_offset(GROUP, INTERVAL),
    )
    firings = [f for s in signals for f in s.firings]
    assert firings, "the planted shift must be found or the test proves nothing"
    return max(firings, key=lambda f: (f.end or end) - f.start)


def once(
    tmp_path: Path, rules: Path, now: int, recorder: Recorder, **settings: Any
) -> tuple[int, Service]:
    """One ``run --once`` at ``now`` with a ledger of its own, as a fresh cron run."""
    service = Service(
        DaemonSettings(rules=[rules], ledger=tmp_path / f"ledger-{now}.db", **settings),
        sources={"file": FileSource()},
        notifiers={"recorder": recorder},
        clock=Frozen(now),
    )
    return service.run_once(), service


def test_once_fires_a_rule_whose_finding_has_held_for_its_for_span(tmp_path: Path) -> None:
    rules = write_rules(tmp_path)
    held = held_finding(rules, EPOCH + 10 * 86400 - STEP)
    now = held.start + PENDING_FOR + INTERVAL
    assert held.end is None or held.end > now, "the finding must still hold at `now`"
    recorder = Recorder()

    code, _ = once(tmp_path, rules, now, recorder)

    assert code == 0
    (payload,) = recorder.payloads
    assert payload["status"] == "firing"
    assert payload["labels"]["alertname"] == "LatencyShift"


def test_once_keeps_a_younger_finding_pending_since_it_first_held(tmp_path: Path) -> None:
    rules = write_rules(tmp_path)
    held = held_finding(rules, EPOCH + 10 * 86400 - STEP)
    now = held.start + 3 * INTERVAL  # held for 30 minutes of its 2 hours
    recorder = Recorder()

    _, service = once(tmp_path, rules, now, recorder)

    assert recorder.payloads == []
    ((alert),) = service.engine.groups()[0].rules[0].book.alerts.values()
    assert alert.state is AlertState.PENDING
    assert alert.active_since == held.start


def make_engine(ledger: Ledger, sources: Mapping[str, Source]) -> Engine:
    return Engine(
        sources=sources,
        ledger=ledger,
        notifier_names=["recorder"],
        resend_interval=60,
        replay_hint=lambda at: f"graysignal replay rules.yaml --at {at}",
        metrics=DaemonMetrics(),
    )


def test_a_daemon_started_while_a_finding_holds_fires_at_its_first_evaluation(
    tmp_path: Path,
) -> None:
    rules = write_rules(tmp_path)
    held = held_finding(rules, EPOCH + 10 * 86400 - STEP)
    engine = make_engine(Ledger.open(tmp_path / "ledger.db"), {"file": FileSource()})
    engine.load(load_rule_files([rules]))

    report = engine.run_group(GROUP, held.start + PENDING_FOR + INTERVAL)

    assert [t.to for t in report.transitions] == [AlertState.FIRING]


def test_once_with_next_run_within_sends_ends_at_that_covers_the_next_run(
    tmp_path: Path,
) -> None:
    rules = write_rules(tmp_path)
    held = held_finding(rules, EPOCH + 10 * 86400 - STEP)
    now = held.start + PENDING_FOR + INTERVAL
    recorder = Recorder()

    once(tmp_path, rules, now, recorder, resend_interval=3600)

    (payload,) = recorder.payloads
    ends = datetime.fromisoformat(payload["endsAt"].replace("Z", "+00:00")).timestamp()
    assert ends == now + 4 * 3600


def test_the_command_line_flag_sets_the_gap_to_the_next_run(tmp_path: Path) -> None:
    """The whole path a cron job takes: recent data, a fresh ledger, stdout notifications."""
    end = int(time.time()) // STEP * STEP
    rules = write_rules(tmp_path, start=end - 10 * 86400 + STEP)
    result = CliRunner().invoke(
        app,
        ["run", "--once", "--rules", str(rules), "--ledger", str(tmp_path / "cron.db"),
         "--next-run-within", "1h"],
        env={"GRAYSIGNAL_STDOUT_NOTIFICATIONS": "true", "GRAYSIGNAL_LOG_LEVEL": "error"},
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    (payload,) = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert payload["status"] == "firing"  # a day into the shift: held far longer than 2h
    starts = datetime.fromisoformat(payload["startsAt"].replace("Z", "+00:00")).timestamp()
    ends = datetime.fromisoformat(payload["endsAt"].replace("Z", "+00:00")).timestamp()
    assert ends - starts >= 4 * 3600


def test_next_run_within_without_once_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--next-run-within", "1h"])

    assert result.exit_code == 2
    assert "--once" in result.output


def test_each_cron_run_re_sends_what_is_still_firing_to_alertmanager(tmp_path: Path) -> None:
    end = int(time.time()) // STEP * STEP
    # The data runs an hour past the first run, as a live source's would: each run reads
    # only the samples up to its own time, and a series silent for longer than a block
    # would go stale instead of staying firing.
    rules = write_rules(tmp_path, start=end - 10 * 86400 + STEP, days=10 + 1 / 24)
    with running_alertmanager(tmp_path / "am") as (alertmanager, _):
        ledger = tmp_path / "cron.db"

        def cron_run(at: int) -> int:
            service = Service(
                DaemonSettings(rules=[rules], ledger=ledger, resend_interval=3600),
                sources={"file": FileSource()},
                notifiers=dict(alertmanager_notifiers([alertmanager.url], timeout=5.0)),
                clock=Frozen(at),
            )
            return service.run_once()

        assert cron_run(end) == 0
        (first,) = alertmanager.wait_for_alerts(lambda alerts: len(alerts) == 1)
        assert cron_run(end + 3600) == 0  # an hour later: no transition, still firing

        def refreshed(alerts: list[dict[str, Any]]) -> bool:
            return len(alerts) == 1 and alerts[0]["endsAt"] > first["endsAt"]

        (second,) = alertmanager.wait_for_alerts(refreshed)
    assert second["labels"]["alertname"] == "LatencyShift"
