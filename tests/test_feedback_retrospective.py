"""Replay with a daemon's ledger says how each early signal was received.

"Sent and acknowledged by X on DATE (reason)", "sent, no reaction", "not sent:
acknowledged ..." or "never sent": the difference between a warning ignored, a warning
held back on purpose and a warning never given. The daemon's engine runs
on a fake clock with a real ledger; the replay is the real command line.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from adapters.cli import app
from adapters.ledger import Ledger
from adapters.timeparse import format_rfc3339
from detector.finding import Kind
from detector.suppressions import Action, Suppression
from detector.testing import EPOCH
from tests.test_feedback_engine import DAY, RULE, drive, make_engine, write_series

AT = format_rfc3339(int(EPOCH + 8.4 * DAY))


def deliver_everything(ledger: Ledger, at: int) -> None:
    for item in ledger.due(at, limit=1000):
        ledger.mark_delivered(item.id, at=at)


def replay(directory: Path, ledger: Path, output_format: str = "json") -> str:
    result = CliRunner().invoke(
        app,
        [
            "replay", str(directory / "rules.yaml"), "--at", AT, "--lookback", "2d",
            "--ledger", str(ledger), "--format", output_format,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return result.stdout


def first_firing(output: str) -> dict[str, object]:
    signal = next(s for s in json.loads(output)["signals"] if s["kind"] == "level_shift")
    firing: dict[str, object] = signal["firings"][0]
    return firing


def test_an_alert_acknowledged_after_it_was_sent_says_by_whom_when_and_why(
    tmp_path: Path,
) -> None:
    write_series(tmp_path / "latency.csv", step=15)
    engine = make_engine(tmp_path, [])
    assert [kind for _, kind in drive(engine, 7.4, 7.9)] == [Kind.LEVEL_SHIFT]
    deliver_everything(engine.ledger, int(EPOCH + 7.9 * DAY))
    unanswered = replay(tmp_path, tmp_path / "ledger.db")

    engine.set_suppressions(
        [
            Suppression(
                action=Action.ACK,
                rule=RULE,
                matchers={},
                reason="known batch job",
                since=int(EPOCH + 7.9 * DAY),
                until=int(EPOCH + 30 * DAY),
                by="ana",
                kind=Kind.LEVEL_SHIFT,
                change=0.15,
                where="rules/suppressions.yaml:3",
            )
        ]
    )
    drive(engine, 7.9, 8.2)
    engine.ledger.close()
    answered = replay(tmp_path, tmp_path / "ledger.db")

    assert first_firing(unanswered)["reaction"] == {
        "status": "no_reaction",
        "text": "sent, no reaction",
        "reactions": [],
        "suppressions": [],
    }
    reaction = first_firing(answered)["reaction"]
    assert isinstance(reaction, dict)
    assert reaction["status"] == "acknowledged"
    day = format_rfc3339(int(EPOCH + 7.9 * DAY))[:10]
    assert reaction["text"].startswith("sent and acknowledged by ana on ")
    assert reaction["text"].endswith(f"{day} (known batch job)")
    assert reaction["reactions"][0]["where"] == "rules/suppressions.yaml:3"
    terminal = replay(tmp_path, tmp_path / "ledger.db", "terminal")
    assert "sent and acknowledged by ana" in " ".join(terminal.split())


def test_a_firing_the_daemon_never_delivered_is_never_sent(tmp_path: Path) -> None:
    write_series(tmp_path / "latency.csv", step=15)
    engine = make_engine(tmp_path, [])
    drive(engine, 7.4, 7.9)
    engine.ledger.close()

    firing = first_firing(replay(tmp_path, tmp_path / "ledger.db"))

    assert firing["reaction"] == {
        "status": "never_sent",
        "text": "never sent",
        "reactions": [],
        "suppressions": [],
    }
    assert firing["told"] == []


def test_an_ack_in_the_reviewed_file_beside_the_rules_counts_as_a_reaction(
    tmp_path: Path,
) -> None:
    write_series(tmp_path / "latency.csv", step=15)
    engine = make_engine(tmp_path, [])
    drive(engine, 7.4, 7.9)
    deliver_everything(engine.ledger, int(EPOCH + 7.9 * DAY))
    engine.ledger.close()
    since = format_rfc3339(int(EPOCH + 7.95 * DAY))
    (tmp_path / "suppressions.yaml").write_text(
        "# accepted changes\nsuppressions:\n"
        f"  - action: ack\n    rule: {RULE}\n    kind: level_shift\n    reason: migration\n"
        f"    by: bo\n    since: {since}\n    until: 2999-01-01\n"
    )

    reaction = first_firing(replay(tmp_path, tmp_path / "ledger.db"))["reaction"]

    assert isinstance(reaction, dict)
    assert reaction["status"] == "acknowledged"
    assert reaction["text"].startswith("sent and acknowledged by bo on ")
    assert reaction["reactions"][0]["where"] == f"{tmp_path / 'suppressions.yaml'}:3"
