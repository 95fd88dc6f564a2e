"""Progress and log lines of the long commands, as a person at a terminal sees them.

The terminal tests run the real command in a fresh process whose stdout and stderr are a
pseudo-terminal (``pty``), the way a shell runs it; the pipe tests run it with pipes, the
way cron, CI or ``| less`` do. The engines' progress hooks are plain callables, tested
directly.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from adapters.backtest.engine import BacktestSettings, run_backtest
from adapters.backtest.library import load_incidents
from adapters.cli import app
from adapters.cli.replay import rule_files_plan
from adapters.replaying import ScheduledRule, replay_rules
from adapters.sources import default_sources
from detector.replay import RuleOutcome
from detector.testing import EPOCH
from tests.alertmanager_server import free_port
from tests.backtest_fixtures import write_mini_incident, write_mini_rules

REPO = Path(__file__).resolve().parents[1]
ENTRY = "from adapters.cli import main; main()"
STEP = 300
PER_DAY = 86400 // STEP
END_OF_DATA = ("--at", str(EPOCH + 10 * 86400 - STEP), "--lookback", "3d")


def write_rules(folder: Path, extra: str = "") -> Path:
    """Two file rules on a 10-day series that shifts up 30% for its last 14 hours."""
    values = 100 + np.random.default_rng(5).normal(0, 2, 10 * PER_DAY)
    values[-14 * 12 :] += 30
    lines = ["timestamp,value"] + [f"{EPOCH + i * STEP},{float(v)!r}" for i, v in enumerate(values)]
    (folder / "latency.csv").write_text("\n".join(lines) + "\n")
    rules = folder / "rules.yaml"
    rules.write_text(
        "groups:\n  - name: api\n    interval: 1h\n    rules:\n"
        "      - signal: LatencyShift\n        source: file\n        path: latency.csv\n"
        "        detect: [level_shift]\n        window: 2d\n        seasonality: none\n"
        "      - signal: LatencyJitter\n        source: file\n        path: latency.csv\n"
        "        detect: [variance]\n        window: 2d\n        seasonality: none\n" + extra
    )
    return rules


def run_on_terminal(*args: str) -> str:
    """Run ``graysignal ARGS`` with stdout and stderr on a pseudo-terminal; its output."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", ENTRY, *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "100", "TERM": "xterm"},
    )
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the follower side closed: the process is gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(60)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_replay_draws_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    output = run_on_terminal("replay", str(write_rules(tmp_path)), "--lookback", "3d")

    assert "replaying rules" in output
    assert "2/2" in output  # both rules counted
    assert "LatencyShift" in output  # and the report followed


def test_replay_in_a_pipe_draws_no_progress_bar(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, "replay", str(write_rules(tmp_path)), "--lookback", "3d"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert "replaying rules" not in done.stderr + done.stdout
    assert "\x1b[" not in done.stderr  # no cursor movement or colour in a pipe


BROKEN_SOURCE = (
    "      - signal: FromNowhere\n        source: prometheus\n        query: up\n"
    "        step: 5m\n        window: 2d\n"
)
"""A third rule, on a Prometheus nobody listens to (its warning is what is checked)."""


def test_source_warnings_of_a_command_are_plain_lines(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, extra=BROKEN_SOURCE)
    env = {
        "GRAYSIGNAL_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",
        "GRAYSIGNAL_PROMETHEUS_RETRIES": "0",
    }

    result = CliRunner().invoke(app, ["replay", str(rules), *END_OF_DATA], env=env)

    assert result.exit_code == 0, result.output
    (warning,) = [line for line in result.stderr.splitlines() if "rule skipped" in line]
    assert warning.startswith("warning: rule skipped: ")
    assert "rule=FromNowhere" in warning
    assert not warning.lstrip().startswith("{")


def test_log_format_json_gives_one_json_object_per_line(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, extra=BROKEN_SOURCE)
    env = {
        "GRAYSIGNAL_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",
        "GRAYSIGNAL_PROMETHEUS_RETRIES": "0",
    }

    result = CliRunner().invoke(
        app, ["replay", str(rules), *END_OF_DATA, "--log-format", "json"], env=env
    )

    (line,) = [line for line in result.stderr.splitlines() if "rule skipped" in line]
    event = json.loads(line)
    assert (event["event"], event["rule"], event["level"]) == (
        "rule skipped",
        "FromNowhere",
        "warning",
    )


def test_replay_rules_reports_each_rule_with_its_outcome(tmp_path: Path) -> None:
    plan = rule_files_plan([write_rules(tmp_path)])
    seen: list[tuple[str, RuleOutcome]] = []

    def done(entry: ScheduledRule, outcome: RuleOutcome) -> None:
        seen.append((entry.rule.signal, outcome))

    result = replay_rules(
        plan,
        default_sources(),
        start=EPOCH + 7 * 86400,
        end=EPOCH + 10 * 86400 - STEP,
        incident=EPOCH + 10 * 86400 - STEP,
        on_rule_done=done,
    )

    assert [name for name, _ in seen] == ["LatencyShift", "LatencyJitter"]
    assert [outcome for _, outcome in seen] == result.outcomes


def test_a_backtest_reports_each_incident_it_replays(tmp_path: Path) -> None:
    write_mini_incident(tmp_path / "incidents", "checkout-slow")
    write_mini_incident(tmp_path / "incidents", "cart-down", service="cart")
    library = load_incidents([tmp_path / "incidents"])
    plan = rule_files_plan([write_mini_rules(tmp_path)])
    replayed: list[str] = []

    run_backtest(
        library,
        plan,
        default_sources(),
        BacktestSettings(lookback=3 * 86400, quiet_weeks=0),
        on_replayed=replayed.append,
    )

    assert sorted(replayed) == ["incident cart-down", "incident checkout-slow"]
