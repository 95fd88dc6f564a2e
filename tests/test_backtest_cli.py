"""``graysignal backtest`` and ``replay --story`` through the real CLI: reports and bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from adapters.cli import app
from tests.backtest_fixtures import write_mini_incident, write_mini_rules

PROBLEM_LINE = re.compile(r"^.+:\d+: \S.*$")


def backtest(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(
        app,
        [
            "backtest",
            str(tmp_path / "incidents"),
            "--rules",
            str(tmp_path / "rules.yaml"),
            "--lookback",
            "3d",
            "--quiet-weeks",
            "0",
            *args,
        ],
    )


@pytest.fixture(name="library")
def library_fixture(tmp_path: Path) -> Path:
    """One incident the rule catches early and one on a service it does not watch."""
    write_mini_incident(tmp_path / "incidents", "checkout-slow")
    write_mini_incident(tmp_path / "incidents", "cart-down", service="cart")
    write_mini_rules(tmp_path)
    return tmp_path


def test_markdown_has_a_post_mortem_section_per_incident(library: Path) -> None:
    result = backtest(library, "--format", "md")

    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("# Backtest: would today's rules have caught past incidents?\n")
    assert text.count("### What did the system know before users did?") == 2
    section = text.split("## `checkout-slow`", 1)[1].split("\n## ", 1)[0]
    assert "**caught early**" in section
    assert "| Wed 2026-11-25 19:01 UTC | 13h 58m before | `CheckoutLatencyShift` |" in section
    assert "#### The story" in section
    assert text.endswith("\n")


def test_markdown_says_which_incident_nothing_watched(library: Path) -> None:
    text = backtest(library, "--format", "md").stdout

    section = text.split("## `cart-down`", 1)[1].split("\n## ", 1)[0]
    assert "**unwatched**" in section
    assert "no rule has a series of these services" in section


def test_terminal_report_shows_the_verdicts(library: Path) -> None:
    result = backtest(library)

    assert result.exit_code == 0, result.output
    assert "1 of 2 incidents (50%) had an early signal" in " ".join(result.stdout.split())
    assert "caught early" in result.stdout
    assert "unwatched" in result.stdout


def test_output_file_gets_the_report(library: Path) -> None:
    output = library / "report.md"

    result = backtest(library, "--format", "md", "--output", str(output))

    assert result.exit_code == 0
    assert output.read_text(encoding="utf-8").count("What did the system know") == 2


def test_a_bad_incident_file_is_file_line_message_and_exit_2(library: Path) -> None:
    bad = library / "incidents" / "checkout-slow.yaml"
    bad.write_text(bad.read_text().replace("category: code", "category: typo"))

    result = backtest(library)

    assert result.exit_code == 2
    assert [PROBLEM_LINE.match(line) is not None for line in result.stderr.splitlines()] == [True]
    assert f"{bad}:11: category: unknown category 'typo'" in result.stderr
    assert "Traceback" not in result.output


def test_a_rule_file_given_as_an_incident_is_refused(library: Path) -> None:
    result = CliRunner().invoke(
        app, ["backtest", str(library / "rules.yaml"), "--rules", str(library / "rules.yaml")]
    )

    assert result.exit_code == 2
    assert "this is a rule file ('groups:'); pass it with --rules" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--update-baseline"], "needs --baseline FILE"),
        (["--lookback", "fortnight"], "invalid duration"),
    ],
)
def test_bad_flags_exit_2_without_a_traceback(library: Path, args: list[str], message: str) -> None:
    result = backtest(library, *args)

    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_replay_story_adds_the_story_to_the_markdown_report(library: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "replay",
            str(library / "rules.yaml"),
            "--at",
            "2026-11-26T09:00:00Z",
            "--lookback",
            "3d",
            "--story",
            "--format",
            "md",
        ],
    )

    assert result.exit_code == 0, result.output
    story = result.stdout.split("### The story", 1)[1]
    assert 'latency{service="checkout"} began to change' in story
    assert "| T | impact | the incident |" in story
