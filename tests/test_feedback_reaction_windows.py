"""Which acks, silences and suppressions count for a replayed firing, and until when.

An early warning is judged by what people did with it before users were affected: an ack
written in the post-mortem or a silence set during the outage says nothing about it. A
reaction is given from the firing's start on (an ack from before belongs to an earlier
firing), except a silence that was still active when the alert fired again. And a firing
the daemon held back on purpose (an ack or an expectation covered it) was neither missed
nor ignored: it reads "not sent: acknowledged ..." or "not sent: expected ...".
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from adapters.cli import app
from adapters.ledger import Ledger, SilenceRecord
from adapters.replaying import attach_notices
from adapters.reports import feedback_text, reaction_of, reaction_text
from adapters.timeparse import format_rfc3339, parse_timestamp
from detector.alerts import AlertBook, alert_labels
from detector.finding import Kind
from detector.replay import Firing, ReactionKind, ReplayResult, Signal
from detector.series import fingerprint
from detector.suppressions import Action, Suppressed, Suppression
from detector.testing import EPOCH, make_rule
from tests.backtest_fixtures import (
    HOUR,
    T0,
    mini_rule_and_shift,
    record_delivered_shift,
    write_mini_incident,
    write_mini_rules,
)
from tests.notify_builders import make_finding
from tests.test_feedback_engine import DAY, RULE, ack, drive, expect, make_engine, write_series
from tests.test_feedback_retrospective import AT, deliver_everything, first_firing, replay

AM = "http://am:9093"

# --- replay results built by hand: the ledger decides ------------------------------------

HAND_RULE = make_rule(signal="CheckoutLatencyCreep", detect=["level_shift"], for_=0)
HAND_START = 1_795_000_000
HAND_FINDING = make_finding(HAND_START, kind=Kind.LEVEL_SHIFT, relative_change=0.12)
HAND_LABELS = alert_labels(HAND_RULE, HAND_FINDING)
HAND_ALERT = fingerprint(HAND_LABELS)


def hand_ledger(tmp: Path, *sent_at: int) -> Ledger:
    """A ledger in which the daemon fired the alert at each ``sent_at`` and delivered it."""
    ledger = Ledger.open(tmp / "ledger.db")
    for at in sent_at:
        book = AlertBook(HAND_RULE)
        ledger.record_evaluation(
            group="g",
            rule=HAND_RULE,
            now=at,
            findings=[HAND_FINDING],
            transitions=book.update([replace(HAND_FINDING, detected_at=at)], at),
            alerts=book.alerts,
            notifiers=["am"],
            payloads=lambda transition: {"status": "firing"},
        )
        for item in ledger.due(at, limit=10):
            ledger.mark_delivered(item.id, at=at + 30)
    return ledger


def hand_result(*starts: int, incident: int, end: int) -> tuple[ReplayResult, Signal]:
    signal = Signal(
        rule=HAND_RULE.signal,
        group="g",
        labels=HAND_FINDING.labels,
        alert_labels=HAND_LABELS,
        kind=Kind.LEVEL_SHIFT,
        series_fingerprint=fingerprint(HAND_FINDING.labels),
        firings=[
            Firing(
                start=start,
                end=None,
                pending_since=start,
                first=HAND_FINDING,
                latest=HAND_FINDING,
                peak_score=7.0,
            )
            for start in starts
        ],
    )
    result = ReplayResult(
        start=starts[0] - 2 * DAY, end=end, incident=incident, signals=[signal], outcomes=[]
    )
    return result, signal


def file_ack(since: int, reason: str) -> Suppression:
    return Suppression(
        action=Action.ACK,
        rule=HAND_RULE.signal,
        matchers={},
        reason=reason,
        by="ana",
        since=since,
        until=since + 30 * DAY,
        kind=Kind.LEVEL_SHIFT,
        change=0.12,
        where="rules/suppressions.yaml:3",
    )


def seen_silence(ledger: Ledger, *, silence_id: str, starts_at: int, seen: list[int]) -> None:
    """The daemon saw the silence on the alert at each time of ``seen``."""
    record = SilenceRecord(
        alertmanager=AM,
        silence_id=silence_id,
        alert_fingerprint=HAND_ALERT,
        labels=dict(HAND_LABELS),
        created_by="oncall",
        comment=f"silence {silence_id}",
        starts_at=starts_at,
        ends_at=starts_at + 10 * DAY,
        first_seen=0,
        last_seen=0,
    )
    for now in seen:
        ledger.record_silences(alertmanager=AM, now=now, seen=[record])


def test_what_people_did_after_the_incident_is_no_reaction_to_the_early_warning() -> None:
    incident = HAND_START + 10 * HOUR
    late = incident + 2 * HOUR  # a firing that starts after the incident
    ledger = hand_ledger(Path(tempfile.mkdtemp()), HAND_START)
    seen_silence(ledger, silence_id="outage", starts_at=incident + HOUR, seen=[incident + HOUR])
    seen_silence(
        ledger,
        silence_id="lagged",
        starts_at=incident - HOUR,  # set before the incident, polled only after it
        seen=[incident + 3 * HOUR, incident + 4 * HOUR],
    )
    result, signal = hand_result(HAND_START, late, incident=incident, end=incident + 6 * HOUR)
    post_mortem = file_ack(incident + 3 * HOUR, "post-mortem: known now")

    attach_notices(result, ledger, tolerance=600, suppressions=[post_mortem])

    early, after = signal.firings
    assert [r.reason for r in result.reacted(signal, early)] == ["silence lagged"]
    assert reaction_text(result, signal, early) == (
        "sent and silenced in Alertmanager by oncall (silence lagged)"
    )
    # a firing after the incident has until the end of the window
    assert sorted(r.reason for r in result.reacted(signal, after)) == [
        "post-mortem: known now",
        "silence lagged",
    ]


def test_only_a_reaction_given_before_the_incident_counts_for_an_early_warning() -> None:
    incident = HAND_START + 10 * HOUR
    ledger = hand_ledger(Path(tempfile.mkdtemp()), HAND_START)
    result, signal = hand_result(HAND_START, incident=incident, end=incident + 6 * HOUR)
    entries = [file_ack(incident + 3 * HOUR, "post-mortem"), file_ack(incident - HOUR, "seen")]

    attach_notices(result, ledger, tolerance=600, suppressions=entries)

    (firing,) = signal.firings
    assert [r.reason for r in result.reacted(signal, firing)] == ["seen"]
    assert reaction_text(result, signal, firing) is not None
    assert reaction_text(result, signal, firing).endswith("(seen)")  # type: ignore[union-attr]


def test_an_ack_that_stopped_covering_before_a_firing_is_no_reaction_to_it() -> None:
    """The ack accepted an earlier firing; the alert fired anew (the effect doubled) and
    was sent. A silence that was still active when it fired again does count: Alertmanager
    kept that firing quiet."""
    ledger = hand_ledger(Path(tempfile.mkdtemp()), HAND_START)
    old = file_ack(HAND_START - 5 * DAY, "old: +12% accepted")
    for now in (HAND_START - 4 * DAY, HAND_START - 300):  # one episode, ending before
        ledger.record_suppressed(
            group="g",
            rule=HAND_RULE.signal,
            now=now,
            covered=[(HAND_ALERT, HAND_LABELS, Suppressed(HAND_FINDING, old))],
            gap=10 * DAY,
        )
    seen_silence(
        ledger, silence_id="expired", starts_at=HAND_START - 3 * DAY, seen=[HAND_START - 3 * DAY]
    )
    result, signal = hand_result(
        HAND_START, incident=HAND_START + 2 * DAY, end=HAND_START + 2 * DAY
    )

    attach_notices(result, ledger, tolerance=600, suppressions=[old])

    (firing,) = signal.firings
    assert result.reacted(signal, firing) == []
    assert reaction_text(result, signal, firing) == "sent, no reaction"

    seen_silence(
        ledger,
        silence_id="standing",
        starts_at=HAND_START - 2 * DAY,
        seen=[HAND_START - 2 * DAY, HAND_START + HOUR],  # seen again on the new firing
    )
    attach_notices(result, ledger, tolerance=600, suppressions=[old])

    assert [(r.kind, r.reason) for r in result.reacted(signal, firing)] == [
        (ReactionKind.SILENCED, "silence standing")
    ]
    assert reaction_text(result, signal, firing) == (
        "sent and silenced in Alertmanager by oncall (silence standing)"
    )


# --- the daemon held it back: replay from the command line --------------------------------


def test_a_firing_the_daemon_held_back_for_an_ack_is_not_sent_rather_than_missed(
    tmp_path: Path,
) -> None:
    write_series(tmp_path / "latency.csv", step=15)
    engine = make_engine(tmp_path, [ack(change=None)])
    assert drive(engine, 7.4, 7.9) == []  # covered all along: never fired, never sent
    engine.ledger.close()

    firing = first_firing(replay(tmp_path, tmp_path / "ledger.db"))

    assert firing["told"] == []
    reaction = firing["reaction"]
    assert isinstance(reaction, dict)
    assert reaction["status"] == "suppressed"
    day = format_rfc3339(EPOCH)[:10]
    assert reaction["text"].startswith("not sent: acknowledged by ana on ")
    assert reaction["text"].endswith(f"{day} (known batch job)")
    assert reaction["reactions"] == []
    (held,) = reaction["suppressions"]
    assert held["action"] == "ack"
    assert held["where"] == "rules/suppressions.yaml:3"
    assert held["since"] == format_rfc3339(EPOCH)
    for output_format in ("md", "terminal", "html"):
        text = " ".join(replay(tmp_path, tmp_path / "ledger.db", output_format).split())
        assert "not sent: acknowledged by ana" in text, output_format
        assert "could have known" not in text, output_format


def test_a_firing_held_back_as_expected_gives_the_expected_change(tmp_path: Path) -> None:
    write_series(tmp_path / "latency.csv", step=20)
    engine = make_engine(tmp_path, [expect(0.20)])
    assert drive(engine, 7.4, 7.9) == []
    engine.ledger.close()
    since = format_rfc3339(int(EPOCH + 7.5 * DAY))
    (tmp_path / "suppressions.yaml").write_text(
        "suppressions:\n"
        f"  - action: expect\n    rule: {RULE}\n    change: +20%\n"
        f"    reason: new feature launched\n    since: {since}\n"
    )

    reaction = first_firing(replay(tmp_path, tmp_path / "ledger.db"))["reaction"]

    assert isinstance(reaction, dict)
    assert reaction["status"] == "suppressed"
    assert reaction["text"].startswith("not sent: expected (+20% from ")
    assert reaction["text"].endswith(f"{since[:10]}, new feature launched)")
    assert reaction["suppressions"][0]["change"] == 0.2


def test_replay_at_the_incident_counts_a_silence_set_before_it_even_if_polled_after(
    tmp_path: Path,
) -> None:
    """The daemon reads silences only every re-send interval: one set half an hour before
    ``--at`` may be first seen after it. Its start decides; one set after ``--at`` is out."""
    write_series(tmp_path / "latency.csv", step=15)
    engine = make_engine(tmp_path, [])
    assert [kind for _, kind in drive(engine, 7.4, 7.9)] == [Kind.LEVEL_SHIFT]
    deliver_everything(engine.ledger, int(EPOCH + 7.9 * DAY))
    (alert,) = [a for a in engine.ledger.known_alerts() if a.kind is Kind.LEVEL_SHIFT]
    at = parse_timestamp(AT)
    for name, starts_at in (("before", at - 1800), ("after", at + 1800)):
        record = SilenceRecord(
            alertmanager=AM,
            silence_id=name,
            alert_fingerprint=alert.alert_fingerprint,
            labels=dict(alert.labels),
            created_by="oncall",
            comment=f"set {name} the incident",
            starts_at=starts_at,
            ends_at=starts_at + DAY,
            first_seen=0,
            last_seen=0,
        )
        engine.ledger.record_silences(alertmanager=AM, now=at + 3 * HOUR, seen=[record])
    engine.ledger.close()

    reaction = first_firing(replay(tmp_path, tmp_path / "ledger.db"))["reaction"]

    assert isinstance(reaction, dict)
    assert (
        reaction["text"] == "sent and silenced in Alertmanager by oncall (set before the incident)"
    )
    assert [r["reason"] for r in reaction["reactions"]] == ["set before the incident"]


def test_a_firing_with_neither_delivery_nor_suppression_stays_never_sent() -> None:
    ledger = Ledger.open(Path(tempfile.mkdtemp()) / "ledger.db")
    result, signal = hand_result(HAND_START, incident=HAND_START + DAY, end=HAND_START + DAY)
    attach_notices(result, ledger, tolerance=600)
    (firing,) = signal.firings

    assert reaction_of(result, signal, firing) == ("never_sent", None)
    assert feedback_text(result, signal, firing) == (
        "never sent; we could have known: the daemon never delivered it"
    )


# --- backtest: the window runs past the incident --------------------------------------------


def run_backtest(tmp_path: Path, *extra: str, output_format: str = "json") -> str:
    result = CliRunner().invoke(
        app,
        [
            "backtest", str(tmp_path / "incidents"), "--rules", str(tmp_path / "rules.yaml"),
            "--lookback", "3d", "--quiet-weeks", "0", "--format", output_format, *extra,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.stdout


def early_of(output: str) -> dict[str, Any]:
    (incident,) = json.loads(output)["incidents"]
    early: dict[str, Any] = incident["early"][0]
    return early


def silence_backtest_alert(ledger: Ledger, rules: Path, *, starts_at: int, seen: int) -> None:
    rule, finding = mini_rule_and_shift(rules, seen)
    labels = alert_labels(rule, finding)
    record = SilenceRecord(
        alertmanager=AM,
        silence_id=f"s{starts_at}",
        alert_fingerprint=fingerprint(labels),
        labels=dict(labels),
        created_by="oncall",
        comment="noisy during the outage",
        starts_at=starts_at,
        ends_at=starts_at + 5 * HOUR,
        first_seen=0,
        last_seen=0,
    )
    ledger.record_silences(alertmanager=AM, now=seen, seen=[record])


def test_backtest_ignores_acks_and_silences_given_after_impact_for_an_early_signal(
    tmp_path: Path,
) -> None:
    write_mini_incident(tmp_path / "incidents")
    rules = write_mini_rules(tmp_path)
    fired_at = parse_timestamp(early_of(run_backtest(tmp_path))["first_firing"])
    assert fired_at < T0
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        record_delivered_shift(ledger, rules, fired_at)
        silence_backtest_alert(ledger, rules, starts_at=T0 + HOUR, seen=T0 + HOUR)
    (tmp_path / "suppressions.yaml").write_text(
        "suppressions:\n"
        "  - action: ack\n    rule: CheckoutLatencyShift\n    kind: level_shift\n"
        f"    reason: post-mortem\n    by: ana\n    since: {format_rfc3339(T0 + 2 * HOUR)}\n"
        "    until: 2999-01-01\n"
    )

    early = early_of(run_backtest(tmp_path, "--ledger", str(tmp_path / "ledger.db")))

    assert early["reaction"]["status"] == "no_reaction"
    assert early["reaction"]["reactions"] == []

    with Ledger.open(tmp_path / "ledger.db") as ledger:  # the same silence, set before impact
        silence_backtest_alert(ledger, rules, starts_at=T0 - HOUR, seen=T0 - HOUR)

    early = early_of(run_backtest(tmp_path, "--ledger", str(tmp_path / "ledger.db")))

    assert early["reaction"]["status"] == "silenced"
    assert [r["at"] for r in early["reaction"]["reactions"]] == [format_rfc3339(T0 - HOUR)]


def test_backtest_says_an_early_signal_the_daemon_held_back_was_not_sent(tmp_path: Path) -> None:
    write_mini_incident(tmp_path / "incidents")
    rules = write_mini_rules(tmp_path)
    fired_at = parse_timestamp(early_of(run_backtest(tmp_path))["first_firing"])
    rule, finding = mini_rule_and_shift(rules, fired_at)
    labels = alert_labels(rule, finding)
    accepted = Suppression(
        action=Action.ACK,
        rule=rule.signal,
        matchers={},
        reason="known batch job",
        by="ana",
        since=fired_at - DAY,
        until=fired_at + 30 * DAY,
        kind=Kind.LEVEL_SHIFT,
        where="rules/suppressions.yaml:3",
    )
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        for now in (fired_at - HOUR, T0 + HOUR):
            ledger.record_suppressed(
                group="checkout",
                rule=rule.signal,
                now=now,
                covered=[(fingerprint(labels), labels, Suppressed(finding, accepted))],
                gap=DAY,
            )
    ledger_flag = ("--ledger", str(tmp_path / "ledger.db"))

    early = early_of(run_backtest(tmp_path, *ledger_flag))

    assert early["told"] == []
    assert early["reaction"]["status"] == "suppressed"
    assert early["reaction"]["text"].startswith("not sent: acknowledged by ana on ")
    assert early["told_text"] == early["reaction"]["text"]
    for output_format in ("md", "terminal"):
        text = " ".join(run_backtest(tmp_path, *ledger_flag, output_format=output_format).split())
        assert "not sent: acknowledged by ana" in text, output_format
        assert "could have known" not in text and "never delivered" not in text, output_format
