"""The daemon's engine on a fake clock, with a real SQLite ledger and the file source.

Covers DESIGN.md invariant 2 (replay fidelity), restart without a re-alert storm, a
source that fails, and a reload with a broken rule file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from structlog.testing import capture_logs
from typer.testing import CliRunner

from adapters.cli import app
from adapters.daemon.engine import Engine
from adapters.daemon.metrics import DaemonMetrics
from adapters.daemon.service import Service
from adapters.daemon.settings import DaemonSettings
from adapters.errors import SourceUnavailable
from adapters.ledger import Ledger
from adapters.rulefiles import load_rule_files
from adapters.sources import FileSource
from adapters.sources.base import Source
from detector.alerts import AlertState
from detector.replay import evaluation_times, group_offset, replay_rule
from detector.rule import Rule
from detector.series import Series
from detector.testing import EPOCH

STEP = 300
PER_DAY = 86400 // STEP
GROUP = "api"
INTERVAL = 600


def write_series(path: Path) -> Path:
    rng = np.random.default_rng(9)
    values = 100 + rng.normal(0, 2, 10 * PER_DAY)
    values[int(8.5 * PER_DAY) : int(9.3 * PER_DAY)] += 30  # shifts, then recovers
    lines = ["timestamp,value"] + [f"{EPOCH + i * STEP},{float(v)!r}" for i, v in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_rules(directory: Path, extra: str = "", pending_for: str = "20m") -> Path:
    write_series(directory / "latency.csv")
    rules = directory / "rules.yaml"
    rules.write_text(
        f"groups:\n  - name: {GROUP}\n    interval: 10m\n    rules:\n"
        "      - signal: LatencyShift\n        source: file\n        path: latency.csv\n"
        f"        detect: [level_shift]\n        for: {pending_for}\n"
        "        keep_firing_for: 10m\n" + extra
    )
    return rules


def make_engine(ledger: Ledger, sources: Mapping[str, Source] | None = None) -> Engine:
    return Engine(
        sources=sources or {"file": FileSource()},
        ledger=ledger,
        notifier_names=["recorder"],
        resend_interval=60,
        replay_hint=lambda at: f"graysignal replay rules.yaml --at {at}",
        metrics=DaemonMetrics(),
    )


def drive(engine: Engine, start: int, end: int) -> list[tuple[int, str]]:
    """Run the group at every evaluation time in (start, end]; return FIRING/resolve times."""
    events = []
    for now in evaluation_times(start, end, INTERVAL, group_offset(GROUP, INTERVAL)):
        report = engine.run_group(GROUP, int(now))
        for t in report.transitions:
            if t.to is AlertState.FIRING:
                events.append((t.at, "firing"))
            elif t.previous is AlertState.FIRING:
                events.append((t.at, "resolved"))
    return events


def window() -> tuple[int, int]:
    return EPOCH + 7 * 86400, EPOCH + 10 * 86400 - STEP


def test_daemon_on_a_fake_clock_fires_exactly_when_replay_does(tmp_path: Path) -> None:
    rules = write_rules(tmp_path)
    ((_, rule_file),) = load_rule_files([rules])
    rule = rule_file.groups[0].rules[0]
    start, end = window()
    engine = make_engine(Ledger.open(tmp_path / "ledger.db"))
    engine.load([(rules, rule_file)])

    daemon_events = drive(engine, start, end)

    (series,) = FileSource().fetch(rule, 0, end)
    signals, _ = replay_rule(
        rule,
        group=GROUP,
        interval=INTERVAL,
        series=[series],
        start=start,
        end=end,
        offset=group_offset(GROUP, INTERVAL),
    )
    replay_events = sorted(
        [(f.start, "firing") for s in signals for f in s.firings]
        + [(f.end, "resolved") for s in signals for f in s.firings if f.end is not None]
    )
    assert replay_events, "the planted shift must fire or the comparison proves nothing"
    assert daemon_events == replay_events


def test_restart_resumes_alerts_without_sending_them_again(tmp_path: Path) -> None:
    rules = write_rules(tmp_path)
    files = load_rule_files([rules])
    start, end = window()
    middle = EPOCH + (9 * 86400)
    first = make_engine(Ledger.open(tmp_path / "ledger.db"))
    first.load(files)
    before = drive(first, start, middle)
    first.ledger.close()

    second = make_engine(Ledger.open(tmp_path / "ledger.db"))
    second.load(files)
    after = drive(second, middle, end)

    assert [kind for _, kind in before] == ["firing"], "firing before the restart"
    assert [kind for _, kind in after] == ["resolved"], "no second firing after the restart"
    assert second.ledger.outbox_depth() == 2  # one firing, one resolved: nothing twice


class DownSource:
    def fetch(self, rule: Rule, start: int, end: int) -> list[Series]:
        raise SourceUnavailable("connection refused by 127.0.0.1:1")


def test_a_failing_source_fails_only_its_rule_and_keeps_alert_state(tmp_path: Path) -> None:
    rules = write_rules(
        tmp_path,
        extra="      - signal: FromDownServer\n        source: prometheus\n        query: up\n",
    )
    engine = make_engine(
        Ledger.open(tmp_path / "ledger.db"), {"file": FileSource(), "prometheus": DownSource()}
    )
    engine.load(load_rule_files([rules]))
    start, end = window()

    events = drive(engine, start, end)
    report = engine.run_group(GROUP, end + INTERVAL)

    assert events, "the file-backed rule still evaluated and fired"
    assert report.failed == ("FromDownServer",)
    assert engine.metrics is not None
    up = engine.metrics.source_up.labels(group=GROUP, rule="FromDownServer", source="prometheus")
    assert up._value.get() == 0


class Frozen:
    """A clock stopped at one moment (``run_once`` reads the time once)."""

    def __init__(self, moment: int) -> None:
        self.moment = moment

    def now(self) -> float:
        return float(self.moment)

    def sleep_until(self, moment: float, stop: Any) -> bool:
        return True


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.payloads: list[Mapping[str, Any]] = []

    def deliver(self, payload: Mapping[str, Any]) -> None:
        self.payloads.append(payload)


def service(tmp_path: Path, rules: Path, recorder: Recorder) -> Service:
    settings = DaemonSettings(rules=[rules], ledger=tmp_path / "ledger.db")
    return Service(settings, sources={"file": FileSource()}, notifiers={"recorder": recorder})


def test_reload_with_a_broken_file_keeps_the_last_good_rules(tmp_path: Path) -> None:
    rules = write_rules(tmp_path)
    daemon = service(tmp_path, rules, Recorder())
    assert daemon.reload()
    rules.write_text(
        "groups:\n  - name: api\n    rules:\n      - signal: X\n        source: nope\n"
    )

    with capture_logs() as logs:
        assert daemon.reload() is False

    assert [g.name for g in daemon.engine.groups()] == [GROUP]
    assert daemon.metrics.reload_success._value.get() == 0
    assert any("rules.yaml:5" in str(entry.get("problem")) for entry in logs)


def test_run_once_evaluates_and_delivers(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, pending_for="0s")
    recorder = Recorder()
    daemon = service(tmp_path, rules, recorder)

    daemon.clock = Frozen(EPOCH + int(8.9 * 86400))

    assert daemon.run_once() == 0
    (payload,) = recorder.payloads
    assert payload["status"] == "firing"
    assert payload["labels"]["alertname"] == "LatencyShift"
    assert "rose" in payload["annotations"]["explanation"]


def replay_told(rules: Path, ledger: Path) -> list[dict[str, str]]:
    result = CliRunner().invoke(
        app,
        [
            "replay",
            str(rules),
            "--at",
            str(EPOCH + int(9.2 * 86400)),
            "--lookback",
            "2d",
            "--ledger",
            str(ledger),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    told: list[dict[str, str]] = json.loads(result.output)["signals"][0]["firings"][0]["told"]
    return told


def test_replay_with_the_ledger_tells_told_from_could_have_known(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, pending_for="0s")
    daemon = service(tmp_path, rules, Recorder())
    daemon.clock = Frozen(EPOCH + int(8.9 * 86400))
    assert daemon.run_once() == 0
    Ledger.open(tmp_path / "never-ran.db").close()

    told = replay_told(rules, tmp_path / "ledger.db")
    never = replay_told(rules, tmp_path / "never-ran.db")

    assert [notice["notifier"] for notice in told] == ["recorder"]
    assert never == []
