"""``graysignal check --config``: the daemon's settings file, checked like a rule file.

Like ``promtool check config``: every problem as ``file:line: message``, exit 1 for a
file that is wrong, 2 for one that cannot be read, and a pointer to ``--config`` when a
settings file is given where a rule file is expected.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from adapters.cli import app

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def check(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["check", *map(str, args)])


@pytest.mark.parametrize(
    "settings",
    [DEPLOY / "graysignal.yaml.example", DEPLOY / "playground" / "compose" / "graysignal.yaml"],
    ids=["example", "compose"],
)
def test_the_shipped_settings_files_pass(settings: Path) -> None:
    result = check("--config", settings)

    assert result.exit_code == 0, result.output
    assert result.stdout == f"{settings}: settings OK\n"


def test_every_problem_of_a_settings_file_is_reported_at_its_line(tmp_path: Path) -> None:
    settings = tmp_path / "graysignal.yaml"
    settings.write_text(
        "rules: [rules]\n"
        "ledgr: graysignal.db\n"
        "resend_interval: 5x\n"
        "alertmanager_urls: [ftp://am:9093]\n"
        "digest:\n"
        "  schedul: '0 9 * * MON'\n",
        encoding="utf-8",
    )

    result = check("--config", settings)

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{settings}:2: unknown field 'ledgr' (did you mean 'ledger'?)",
        f"{settings}:3: resend_interval: invalid duration '5x': use a number with a unit, "
        "e.g. 30s, 5m, 1h30m, 7d, 2w",
        f"{settings}:4: alertmanager_urls: URL 1: must look like http(s)://host[:port]/...",
        f"{settings}:6: digest: unknown field 'schedul' (did you mean 'schedule'?)",
    ]


def test_settings_and_rules_are_checked_together(tmp_path: Path) -> None:
    settings = tmp_path / "graysignal.yaml"
    settings.write_text("rules: [rules]\n", encoding="utf-8")
    examples = Path(__file__).resolve().parents[1] / "rules" / "examples"

    result = check("--config", settings, examples)

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"{settings}: settings OK"
    assert len(result.stdout.splitlines()) == 4  # and the three rule files


def test_a_settings_file_given_as_a_rule_file_points_to_config(tmp_path: Path) -> None:
    settings = tmp_path / "graysignal.yaml"
    settings.write_text("rules: [rules]\nledger: graysignal.db\n", encoding="utf-8")

    result = check(settings)

    assert result.exit_code == 1
    assert result.stderr == (
        f"{settings}: a daemon settings file, not a rule file: check it with "
        f"`graysignal check --config {settings}`\n"
    )


def test_a_settings_file_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    result = check("--config", tmp_path / "nope.yaml")

    assert result.exit_code == 2
    assert result.stderr == f"{tmp_path / 'nope.yaml'}: no such file\n"


def test_run_names_the_line_of_a_bad_setting(tmp_path: Path) -> None:
    settings = tmp_path / "graysignal.yaml"
    settings.write_text("rules: [rules]\nflush_timeout: soon\n", encoding="utf-8")

    result = CliRunner().invoke(app, ["run", "--once", "--config", str(settings)])

    assert result.exit_code == 2
    assert f"{settings}:2: flush_timeout: invalid duration 'soon'" in result.stderr
