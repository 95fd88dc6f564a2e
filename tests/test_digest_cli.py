"""``graysignal digest`` end to end: the demo, the formats, posting once, bad input.

Posting goes to a loopback stand-in for a Slack incoming webhook on 127.0.0.1 (no Slack
server can run here) that answers ``200 ok`` as Slack documents.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from adapters.cli import app
from tests.alertmanager_server import RecordingServer, Reply, recording_server
from tests.digest_fixtures import HISTORY_WEEKS, PERIOD, write_rules


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rules(tmp_path_factory.mktemp("digest-cli"))


@pytest.fixture
def slack() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server


def digest(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["digest", *args], env=env)


def week(rules: Path, *args: str) -> list[str]:
    return [
        "--rules",
        str(rules),
        "--period",
        PERIOD.label,
        "--history-weeks",
        str(HISTORY_WEEKS),
        *args,
    ]


def test_the_demo_dry_run_prints_the_slack_payload_of_the_week_before_the_failure() -> None:
    result = digest("--demo", "--dry-run")
    assert result.exit_code == 0, result.output
    (message,) = json.loads(result.stdout)
    assert message["blocks"][0]["text"]["text"] == "📉 Drift digest Sat 1 – Sat 8 Feb 2014"
    context = message["blocks"][1]["elements"][0]["text"]
    assert context.endswith("· 2 rules · 1 new")  # no zero counts
    items = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    (shift,) = [t for t in items if t.startswith("*MachineTemperatureShift*")]
    assert "crept down" in shift
    assert "onset" not in shift  # the sentence already says since when
    assert "score" not in shift and "evidence" in shift
    assert "→" in shift  # the sparkline's first and last level


def test_markdown_and_json_render_the_same_digest(rules: Path) -> None:
    markdown = digest(*week(rules))
    as_json = digest(*week(rules, "--format", "json"))
    assert markdown.exit_code == 0 and as_json.exit_code == 0, markdown.output
    data = json.loads(as_json.stdout)
    for section in ("new", "still_drifting", "recovered"):
        for item in data["sections"][section]:
            assert item["title"] in markdown.stdout
            assert item["sparkline"] in markdown.stdout
    assert data["blind_spots"][0]["rule"] in markdown.stdout


def test_post_goes_out_once_per_period_and_force_posts_again(
    rules: Path, slack: RecordingServer, tmp_path: Path
) -> None:
    env = {"GRAYSIGNAL_DIGEST_SLACK_WEBHOOK_URL": slack.url + "/services/T0/B0/cli-secret"}
    ledger = str(tmp_path / "ledger.db")
    first = digest(*week(rules, "--post", "--ledger", ledger), env=env)
    assert first.exit_code == 0, first.output
    assert "posted digest 2026-W47 to slack:webhook" in first.output
    again = digest(*week(rules, "--post", "--ledger", ledger), env=env)
    assert again.exit_code == 0 and "already posted" in again.output
    assert len(slack.received()) == 1
    forced = digest(*week(rules, "--post", "--force", "--ledger", ledger), env=env)
    assert forced.exit_code == 0
    assert len(slack.received()) == 2
    assert "cli-secret" not in first.output + again.output + forced.output


def test_post_without_a_destination_is_a_settings_error(rules: Path, tmp_path: Path) -> None:
    result = digest(*week(rules, "--post", "--ledger", str(tmp_path / "l.db")))
    assert result.exit_code == 2
    assert "needs a Slack destination" in result.output


def test_period_and_since_together_are_refused(rules: Path) -> None:
    result = digest("--rules", str(rules), "--period", "2026-W47", "--since", "7d")
    assert result.exit_code == 2


def test_a_bad_link_template_names_the_setting(rules: Path) -> None:
    result = digest(*week(rules, "--link-template", "https://g/{qeury}"))
    assert result.exit_code == 2
    assert "settings: link_template: " in result.output


def test_a_failed_post_exits_1_waits_in_the_outbox_and_hides_the_webhook(
    rules: Path, tmp_path: Path
) -> None:
    with recording_server(lambda request: Reply(500, f"boom {request.path}")) as failing:
        env = {"GRAYSIGNAL_DIGEST_SLACK_WEBHOOK_URL": failing.url + "/services/T0/B0/cli-secret"}
        ledger = str(tmp_path / "ledger.db")
        result = digest(*week(rules, "--post", "--ledger", ledger), env=env)
    assert result.exit_code == 1
    assert "waits in the ledger's outbox" in result.output
    assert "cli-secret" not in result.output


def test_format_slack_prints_the_block_kit_messages(rules: Path) -> None:
    result = digest(*week(rules, "--format", "slack"))
    assert result.exit_code == 0, result.output
    (message,) = json.loads(result.stdout)
    assert message["text"].startswith("Drift digest 2026-W47: 2 new · 1 still drifting")
    assert message["blocks"][0]["type"] == "header"


def test_post_refuses_a_week_that_has_not_ended(rules: Path, tmp_path: Path) -> None:
    env = {"GRAYSIGNAL_DIGEST_SLACK_WEBHOOK_URL": "http://127.0.0.1:9/services/T0/B0/x"}
    ledger = tmp_path / "ledger.db"
    result = digest(
        "--rules", str(rules), "--period", "2099-W01", "--post", "--ledger", str(ledger), env=env
    )
    assert result.exit_code == 2
    assert "period 2099-W01 has not ended yet" in result.output
    assert not ledger.exists()  # nothing queued that would block the real digest


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--force"], "--force only applies with --post"),
        (["--until", "2026-11-20T00:00:00Z"], "--until ends a --since period"),
    ],
)
def test_options_that_would_be_ignored_are_refused(
    rules: Path, extra: list[str], message: str
) -> None:
    result = digest(*week(rules, *extra))
    assert result.exit_code == 2
    assert message in result.output
