"""The daemon's engine honours reviewed suppressions, on a fake clock with real detectors.

Each test writes a 10-day CSV with a planted change, drives the engine through the days
around it exactly as the daemon's group loop would, and looks at which alerts fired and
what the ledger, the metrics and the log say about the ones that did not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from structlog.testing import capture_logs

from adapters.daemon.engine import Engine
from adapters.daemon.metrics import DaemonMetrics
from adapters.daemon.service import Service
from adapters.daemon.settings import DaemonSettings
from adapters.ledger import Ledger
from adapters.rulefiles import load_rule_files
from adapters.sources import FileSource
from adapters.suppressions import load_suppressions
from detector.alerts import AlertState
from detector.finding import Kind
from detector.replay import evaluation_times, group_offset
from detector.suppressions import Action, Suppression
from detector.testing import EPOCH

STEP = 300
PER_DAY = 86400 // STEP
DAY = 86400
GROUP = "api"
INTERVAL = 600
RULE = "LatencyShift"


def write_series(
    path: Path,
    *,
    step: float,
    variance_from: float | None = None,
    later: tuple[float, float] | None = None,
) -> None:
    """Ten days around 100; ``+step`` from day 7.5 on; much noisier from ``variance_from``;
    ``later=(day, step)``: the step grows to ``step`` from that day on."""
    rng = np.random.default_rng(9)
    values = 100 + rng.normal(0, 2, 10 * PER_DAY)
    values[int(7.5 * PER_DAY) :] += step
    if later is not None:
        values[int(later[0] * PER_DAY) :] += later[1] - step
    if variance_from is not None:
        start = int(variance_from * PER_DAY)
        values[start:] += rng.normal(0, 12, len(values) - start)
    rows = [f"{EPOCH + i * STEP},{float(v)!r}" for i, v in enumerate(values)]
    path.write_text("timestamp,value\n" + "\n".join(rows) + "\n")


def write_rules(directory: Path) -> Path:
    rules = directory / "rules.yaml"
    rules.write_text(
        f"groups:\n  - name: {GROUP}\n    interval: 10m\n    rules:\n"
        f"      - signal: {RULE}\n        source: file\n        path: latency.csv\n"
        "        detect: [level_shift, variance]\n        for: 20m\n"
    )
    return rules


def make_engine(directory: Path, suppressions: list[Suppression]) -> Engine:
    engine = Engine(
        sources={"file": FileSource()},
        ledger=Ledger.open(directory / "ledger.db"),
        notifier_names=["recorder"],
        resend_interval=60,
        replay_hint=lambda at: "graysignal replay",
        metrics=DaemonMetrics(),
    )
    engine.load(load_rule_files([write_rules(directory)]))
    engine.set_suppressions(suppressions)
    return engine


def drive(engine: Engine, start_day: float, end_day: float) -> list[tuple[int, Kind]]:
    """Run the group at each evaluation time; return (time, kind) of every firing."""
    fired = []
    start, end = int(EPOCH + start_day * DAY), int(EPOCH + end_day * DAY)
    for now in evaluation_times(start, end, INTERVAL, group_offset(GROUP, INTERVAL)):
        for transition in engine.run_group(GROUP, int(now)).transitions:
            if transition.to is AlertState.FIRING:
                fired.append((transition.at, transition.alert.kind))
    return fired


def ack(*, change: float | None, until_day: float = 30.0) -> Suppression:
    return Suppression(
        action=Action.ACK,
        rule=RULE,
        matchers={},
        reason="known batch job",
        since=EPOCH,
        until=int(EPOCH + until_day * DAY),
        by="ana",
        kind=Kind.LEVEL_SHIFT,
        change=change,
        where="rules/suppressions.yaml:3",
    )


def expect(change: float) -> Suppression:
    return Suppression(
        action=Action.EXPECT,
        rule=RULE,
        matchers={},
        reason="new feature launched",
        since=int(EPOCH + 7.5 * DAY),
        until=None,
        change=change,
    )


def test_an_unsuppressed_step_fires_so_the_other_tests_prove_something(tmp_path: Path) -> None:
    write_series(tmp_path / "latency.csv", step=15)
    engine = make_engine(tmp_path, [])

    assert [kind for _, kind in drive(engine, 7.4, 8.2)] == [Kind.LEVEL_SHIFT]


def test_an_ack_never_hides_a_new_kind_of_finding_on_the_same_series(tmp_path: Path) -> None:
    write_series(tmp_path / "latency.csv", step=15, variance_from=8.5)
    engine = make_engine(tmp_path, [ack(change=0.15)])

    fired = drive(engine, 7.4, 9.2)

    assert [kind for _, kind in fired] == [Kind.VARIANCE]
    rows = engine.ledger._db().execute("SELECT kind FROM suppressed").fetchall()
    assert [row["kind"] for row in rows] == ["level_shift"]


def test_suppressed_alerts_are_logged_counted_and_recorded_never_silent(tmp_path: Path) -> None:
    write_series(tmp_path / "latency.csv", step=15)
    engine = make_engine(tmp_path, [ack(change=0.15)])

    with capture_logs() as logs:
        fired = drive(engine, 7.4, 8.2)

    assert fired == []
    started = [e for e in logs if e["event"] == "suppression covers alert"]
    assert len(started) == 1
    assert started[0]["kind"] == "level_shift"
    assert started[0]["entry"] == "rules/suppressions.yaml:3"
    assert "acknowledged by ana" in started[0]["suppression"]
    assert engine.metrics is not None
    gauge = engine.metrics.suppressed.labels(group=GROUP, rule=RULE, action="ack")._value.get()
    assert gauge == 1
    rows = engine.ledger._db().execute("SELECT * FROM suppressed").fetchall()
    assert len(rows) == 1
    assert rows[0]["action"] == "ack"
    assert rows[0]["given_by"] == "ana"
    assert rows[0]["first_seen"] < rows[0]["last_seen"]


@pytest.mark.parametrize(("grown", "fires"), [(25, False), (40, True)])
def test_an_ack_holds_until_the_effect_doubles_then_the_alert_fires_again(
    tmp_path: Path, grown: float, fires: bool
) -> None:
    # +15% (the effect at acknowledgement) from day 7.5, then ``grown`` % from day 8.1:
    # +25% has grown but is not twice the acknowledged effect, +40% is news again. The
    # daemon keeps its state between cycles, so the growth is in the file from the start
    # and each cycle reads only samples up to its own time.
    write_series(tmp_path / "latency.csv", step=15, later=(8.1, grown))
    engine = make_engine(tmp_path, [ack(change=0.15)])
    assert drive(engine, 7.4, 8.1) == []

    fired = drive(engine, 8.1, 8.5)

    assert [kind for _, kind in fired] == ([Kind.LEVEL_SHIFT] if fires else [])
    assert all(at >= EPOCH + 8.1 * DAY for at, _ in fired)


def test_an_expired_ack_lets_the_alert_fire(tmp_path: Path) -> None:
    write_series(tmp_path / "latency.csv", step=15)
    until = 7.9
    engine = make_engine(tmp_path, [ack(change=0.15, until_day=until)])

    with capture_logs() as logs:
        fired = drive(engine, 7.4, 8.3)

    assert [kind for _, kind in fired] == [Kind.LEVEL_SHIFT]
    assert fired[0][0] >= EPOCH + until * DAY
    (stopped,) = [e for e in logs if e["event"] == "suppression no longer covers alert"]
    assert stopped["expired"] is True


@pytest.mark.parametrize(("step", "fires"), [(20, False), (60, True)])
def test_an_expected_change_of_20_percent_hides_a_20_not_a_60_percent_step(
    tmp_path: Path, step: float, fires: bool
) -> None:
    write_series(tmp_path / "latency.csv", step=step)
    engine = make_engine(tmp_path, [expect(0.20)])

    fired = drive(engine, 7.4, 8.2)

    assert [kind for _, kind in fired] == ([Kind.LEVEL_SHIFT] if fires else [])


def test_a_malformed_suppressions_file_on_reload_keeps_the_last_good_set(tmp_path: Path) -> None:
    write_series(tmp_path / "latency.csv", step=15)
    rules = write_rules(tmp_path)
    good = (
        "# accepted changes\nsuppressions:\n"
        f"  - action: ack\n    rule: {RULE}\n    kind: level_shift\n    change: +15%\n"
        "    reason: known batch job\n    since: 2000-01-01\n    until: 2100-01-01\n"
    )
    suppressions = tmp_path / "suppressions.yaml"
    suppressions.write_text(good)
    service = Service(DaemonSettings(rules=[rules], ledger=tmp_path / "ledger.db"), notifiers={})
    assert service.reload()
    assert service.engine.suppressions() == load_suppressions(suppressions)

    suppressions.write_text(good.replace("kind: level_shift", "kind: level-shift"))
    with capture_logs() as logs:
        assert not service.reload()

    assert service.engine.suppressions() == load_suppressions_from_text(tmp_path, good)
    (rejected,) = [e for e in logs if e["event"].startswith("suppressions file rejected")]
    assert f"{suppressions}:5:" in rejected["problem"]
    assert service.metrics.reload_success._value.get() == 0
    service.ledger.close()


def load_suppressions_from_text(directory: Path, text: str) -> list[Suppression]:
    copy = directory / "good" / "suppressions.yaml"
    copy.parent.mkdir(exist_ok=True)
    copy.write_text(text)
    return load_suppressions(copy)
