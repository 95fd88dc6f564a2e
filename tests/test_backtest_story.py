"""The story of one incident: timeline, change events overlay, and who was told."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from adapters.backtest.story import EventKind, build_story, changes_from_query
from adapters.cli import app
from adapters.ledger import Ledger
from adapters.timeparse import parse_timestamp
from detector.rule import Rule
from detector.series import Series
from tests.backtest_fixtures import (
    HOUR,
    T0,
    hand_incident,
    hand_outcome,
    hand_result,
    hand_signal,
    record_delivered_shift,
    write_mini_incident,
    write_mini_rules,
)

CHECKOUT = {"__name__": "latency", "service": "checkout"}


def test_the_timeline_runs_from_the_first_signal_to_impact_with_change_events() -> None:
    deploy = T0 - 30 * HOUR
    incident = hand_incident(changes=((deploy, "deploy checkout v2.14.0"),))
    signal = hand_signal("Creep", CHECKOUT, (T0 - 20 * HOUR, None), onset_before=8 * HOUR)

    story = build_story(hand_result([signal], [hand_outcome("Creep")]), incident)

    assert [(e.at - T0, e.kind) for e in story.events] == [
        (-30 * HOUR, EventKind.CHANGE),
        (-28 * HOUR, EventKind.ONSET),
        (-20 * HOUR, EventKind.FIRING),
        (0, EventKind.IMPACT),
        (1200, EventKind.DETECTED),
    ]
    assert story.events[0].text == "deploy checkout v2.14.0 (incident file)"


def test_signals_on_other_services_stay_out_of_the_story() -> None:
    other = hand_signal("Creep", {"service": "cart"}, (T0 - HOUR, None))

    story = build_story(hand_result([other], [hand_outcome("Creep")]), hand_incident())

    assert [e.kind for e in story.events] == [EventKind.IMPACT, EventKind.DETECTED]
    assert story.first_mover is None


class ChangesSource:
    """A Prometheus stand-in answering the changes query with fixed samples."""

    def __init__(self, values: list[float]) -> None:
        self.values = values
        self.rules: list[Rule] = []

    def fetch(self, rule: Rule, start: int, end: int) -> list[Series]:
        self.rules.append(rule)
        timestamps = T0 + 60 * np.arange(len(self.values), dtype=np.int64)
        labels = {"deployment": "checkout"}
        return [Series(labels, timestamps, np.asarray(self.values, dtype=np.float64), 60)]


def test_each_run_of_non_zero_samples_is_one_change_event() -> None:
    source = ChangesSource([0, 0, 1, 1, 1, 0, float("nan"), 2, 0])

    marks = changes_from_query(source, "changes(x[5m])", T0 - HOUR, T0 + HOUR)

    assert [(m.at - T0, m.what, m.origin) for m in marks] == [
        (120, 'change in {deployment="checkout"}', "query"),
        (420, 'change in {deployment="checkout"}', "query"),
    ]
    assert source.rules[0].query == "changes(x[5m])"


def test_query_changes_are_overlaid_with_the_incident_file_ones() -> None:
    marks = changes_from_query(ChangesSource([0, 1, 0]), "q", T0 - HOUR, T0 + HOUR)
    incident = hand_incident(changes=((T0 - HOUR, "config push"),))

    story = build_story(hand_result([], []), incident, changes=marks)

    assert [(c.at - T0, c.origin) for c in story.changes] == [
        (-HOUR, "incident file"),
        (60, "query"),
    ]


def run_backtest(tmp_path: Path, *extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(
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
            "--format",
            "json",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_changes_query_against_an_unreachable_prometheus_does_not_stop_the_backtest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAYSIGNAL_PROMETHEUS_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("GRAYSIGNAL_PROMETHEUS_RETRIES", "0")
    write_mini_incident(tmp_path / "incidents")
    write_mini_rules(tmp_path)

    data = run_backtest(tmp_path, "--changes-query", "changes(x[5m])")

    (incident,) = data["incidents"]
    assert incident["verdict"] == "early"
    assert "cannot connect" in incident["story"]["changes_error"]


def deliver(ledger_path: Path, rules: Path, at: int) -> None:
    """Record in a ledger that the daemon fired this alert at ``at`` and Slack got it."""
    with Ledger.open(ledger_path) as ledger:
        record_delivered_shift(ledger, rules, at)


def test_with_a_ledger_each_early_signal_says_whether_it_was_delivered(tmp_path: Path) -> None:
    write_mini_incident(tmp_path / "incidents")
    rules = write_mini_rules(tmp_path)
    (first,) = run_backtest(tmp_path)["incidents"]
    fired_at = parse_timestamp(first["early"][0]["first_firing"])
    deliver(tmp_path / "told.db", rules, fired_at)
    Ledger.open(tmp_path / "silent.db").close()

    (told,) = run_backtest(tmp_path, "--ledger", str(tmp_path / "told.db"))["incidents"]
    (untold,) = run_backtest(tmp_path, "--ledger", str(tmp_path / "silent.db"))["incidents"]

    assert [n["notifier"] for n in told["early"][0]["told"]] == ["slack"]
    assert told["early"][0]["told_text"].startswith("we were told: slack at")
    firing = [e for e in told["story"]["events"] if e["kind"] == "firing"]
    assert firing[0]["told"].startswith("we were told")
    assert untold["early"][0]["told_text"] == "we could have known: the daemon never delivered it"


def test_without_a_ledger_nothing_is_said_about_delivery(tmp_path: Path) -> None:
    write_mini_incident(tmp_path / "incidents")
    write_mini_rules(tmp_path)

    (incident,) = run_backtest(tmp_path)["incidents"]

    assert incident["early"][0]["told"] is None
