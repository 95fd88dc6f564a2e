"""One exit-code convention for every command (``adapters/cli/exitcodes.py``, README).

0 done, 1 a negative verdict, 2 bad usage or input (nothing evaluated), 3 the data could
not be read. Servers "down" here are a free port on 127.0.0.1 that nothing listens on,
with retries switched off.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from adapters.cli import app
from adapters.cli.exitcodes import ExitCode
from tests.alertmanager_server import free_port
from tests.backtest_fixtures import write_mini_incident

REPO = Path(__file__).resolve().parents[1]
UNREACHABLE_RULES = """\
groups:
  - name: api
    interval: 1h
    rules:
      - signal: FromNowhere
        source: prometheus
        query: up
        step: 5m
        window: 1d
        labels: {service: checkout}
"""


def invoke(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


@pytest.fixture
def prometheus_down() -> dict[str, str]:
    return {
        "GRAYSIGNAL_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",
        "GRAYSIGNAL_PROMETHEUS_RETRIES": "0",
    }


@pytest.fixture
def unreachable_rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(UNREACHABLE_RULES, encoding="utf-8")
    return path


def test_the_readme_table_lists_every_exit_code() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")

    listed = {int(code) for code in re.findall(r"^\| +(\d+) \|", readme, flags=re.MULTILINE)}

    assert listed == {int(code) for code in ExitCode}


def test_replay_in_which_no_rule_could_read_its_source_exits_3(
    unreachable_rules: Path, prometheus_down: dict[str, str]
) -> None:
    result = invoke("replay", unreachable_rules, "--lookback", "1d", env=prometheus_down)

    assert result.exit_code == ExitCode.UNAVAILABLE
    assert "could not be replayed" in result.stdout  # the report still says why
    assert "no rule could read any data" in result.stderr


def test_digest_in_which_no_rule_could_read_its_source_exits_3(
    unreachable_rules: Path, prometheus_down: dict[str, str]
) -> None:
    result = invoke(
        "digest", "--rules", unreachable_rules, "--period", "2026-W47", env=prometheus_down
    )

    assert result.exit_code == ExitCode.UNAVAILABLE, result.output
    assert "Blind spots" in result.stdout


def test_backtest_in_which_no_rule_could_read_its_source_exits_3(
    tmp_path: Path, unreachable_rules: Path, prometheus_down: dict[str, str]
) -> None:
    write_mini_incident(tmp_path / "incidents")

    result = invoke(
        "backtest",
        tmp_path / "incidents",
        "--rules",
        unreachable_rules,
        "--quiet-weeks",
        "0",
        env=prometheus_down,
    )

    assert result.exit_code == ExitCode.UNAVAILABLE, result.output


def test_run_once_in_which_no_rule_could_read_its_source_exits_3(
    tmp_path: Path, unreachable_rules: Path, prometheus_down: dict[str, str]
) -> None:
    result = invoke(
        "run", "--once", "--rules", unreachable_rules, "--ledger", tmp_path / "l.db",
        "--next-run-within", "1h", env=prometheus_down,
    )  # fmt: skip

    assert result.exit_code == ExitCode.UNAVAILABLE, result.output


def test_run_once_with_a_broken_rule_file_exits_2(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("groups:\n  - name: api\n    rules:\n      - signal: X\n        source: x\n")

    result = invoke("run", "--once", "--rules", rules, "--ledger", tmp_path / "l.db")

    assert result.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    "args",
    [
        ["check", "{missing}"],
        ["check", "--config", "{missing}"],
        ["replay", "{missing}"],
        ["replay", "{rules}", "--ledger", "{missing}"],
        ["backtest", "{missing}", "--rules", "{rules}"],
        ["digest", "--rules", "{missing}", "--period", "2026-W47"],
        ["digest", "--config", "{missing}", "--period", "2026-W47"],
        ["run", "--once", "--config", "{missing}"],
        ["ack", "SomeAlert", "--reason", "x", "--ledger", "{missing}", "--file", "{out}"],
    ],
    ids=lambda args: " ".join(a for a in args if not a.startswith("{")),
)
def test_a_path_that_does_not_exist_exits_2_for_every_command(
    tmp_path: Path, unreachable_rules: Path, args: list[str]
) -> None:
    missing = tmp_path / "missing.yaml"
    filled = [
        a.format(missing=missing, rules=unreachable_rules, out=tmp_path / "s.yaml") for a in args
    ]

    result = invoke(*filled)

    assert result.exit_code == ExitCode.USAGE, result.output
    assert "missing.yaml" in result.output
    assert "Traceback" not in result.output
