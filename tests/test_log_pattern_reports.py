"""Every report names the template: replay (terminal, Markdown, HTML, JSON), the story,
and the weekly digest, run as a user runs them over a log file by template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from adapters.timeparse import format_rfc3339

runner = CliRunner()
MONDAY = 1_794_700_800 + 86400  # Mon 2026-11-16 00:00 UTC (ISO week 47)
DAYS = 14
TEMPLATE = "connection pool exhausted for <*> after <NUM> ms"


def write_log(path: Path) -> None:
    """Requests all along; from Thursday of the second week, a new ERROR every 10 min."""
    lines = []
    for minute in range(DAYS * 1440):
        ts = format_rfc3339(MONDAY + 60 * minute + 3)
        lines.append(f"{ts} INFO request served path=/cart/{minute % 50} in {minute % 70} ms")
        if minute >= 10 * 1440 and minute % 10 == 0:
            db = ("db-7", "db-9")[minute // 10 % 2]
            lines.append(f"{ts} ERROR connection pool exhausted for {db} after {minute} ms")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("reports")
    write_log(directory / "service.log")
    path = directory / "rules.yaml"
    path.write_text(
        "groups:\n  - name: service-logs\n    interval: 10m\n    rules:\n"
        f"      - signal: NewErrorTemplates\n        source: logfile\n"
        f"        path: {directory / 'service.log'}\n        log: {{by: pattern}}\n"
        "        step: 10m\n        window: 2d\n        seasonality: none\n"
        "        detect: [new_pattern]\n        for: 30m\n        labels: {team: api}\n"
    )
    return path


def replay(rules: Path, *options: str) -> str:
    at = format_rfc3339(MONDAY + DAYS * 86400)
    result = runner.invoke(
        app,
        ["replay", str(rules), "--at", at, "--lookback", "7d", *options],
        env={"COLUMNS": "400"},  # one line per row: the template is not wrapped
    )
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("fmt", ["terminal", "md", "html"])
def test_replay_reports_name_the_template(rules: Path, fmt: str) -> None:
    text = replay(rules, "--format", fmt)

    shown = TEMPLATE.replace("<", "&lt;").replace(">", "&gt;") if fmt == "html" else TEMPLATE
    assert "new ERROR pattern" in text
    assert shown in text


def test_replay_json_carries_the_template_and_a_sample_line(rules: Path) -> None:
    report = json.loads(replay(rules, "--format", "json"))

    (signal,) = report["signals"]
    assert signal["kind"] == "new_pattern"
    assert signal["series"]["template"] == TEMPLATE
    assert "connection pool exhausted for db-7" in signal["series"]["sample"]
    assert TEMPLATE in signal["firings"][0]["explanation"]


def test_the_story_names_the_template(rules: Path) -> None:
    text = replay(rules, "--format", "md", "--story")

    story = text[text.index("tory") :]
    assert TEMPLATE in story


def test_the_digest_names_the_template(rules: Path) -> None:
    result = runner.invoke(
        app, ["digest", "--rules", str(rules), "--period", "2026-W48", "--format", "md"]
    )

    assert result.exit_code == 0, result.output
    assert "new ERROR pattern" in result.stdout
    assert TEMPLATE.replace("*", "\\*") in result.stdout  # Markdown-escaped
