"""The ledger's feedback tables: older ledgers migrate, episodes and silences read back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from adapters.ledger import MIGRATIONS, SCHEMA_VERSION, Ledger, SilenceRecord
from detector.finding import Direction, Finding, Kind
from detector.suppressions import Action, Suppressed, Suppression

FINDING = Finding(
    rule="LatencyShift",
    labels={"service": "checkout"},
    kind=Kind.LEVEL_SHIFT,
    onset=1_000,
    detected_at=2_000,
    direction=Direction.UP,
    before=100.0,
    after=115.0,
    relative_change=0.15,
    score=6.0,
    explanation="rose 15%",
)
ACK = Suppression(
    action=Action.ACK,
    rule="LatencyShift",
    matchers={"service": "checkout"},
    reason="known batch job",
    since=1_500,
    until=90_000,
    by="ana",
    kind=Kind.LEVEL_SHIFT,
    change=0.15,
    where="rules/suppressions.yaml:3",
)


@pytest.mark.parametrize("version", [1, 2])
def test_a_ledger_at_an_older_schema_migrates_to_the_feedback_tables(
    tmp_path: Path, version: int
) -> None:
    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER)")
        for number, statements in enumerate(MIGRATIONS[:version], start=1):
            for statement in statements:
                db.execute(statement)
            db.execute("INSERT INTO schema_version VALUES (?, 0)", (number,))
    db.close()

    with Ledger.open(path) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION
        assert ledger.suppressed_for("any", start=0, end=10**9) == []
        assert ledger.silences_for("any", start=0, end=10**9) == []


def test_a_suppression_episode_continues_across_cycles_and_splits_after_a_gap() -> None:
    labels = {"alertname": "LatencyShift", "service": "checkout"}
    covered = [("a1", labels, Suppressed(FINDING, ACK))]
    with Ledger.open(":memory:") as ledger:
        first = ledger.record_suppressed(group="api", rule="LatencyShift", now=2_000,
                                         covered=covered, gap=1_800)  # fmt: skip
        again = ledger.record_suppressed(group="api", rule="LatencyShift", now=2_600,
                                         covered=covered, gap=1_800)  # fmt: skip
        later = ledger.record_suppressed(group="api", rule="LatencyShift", now=9_000,
                                         covered=covered, gap=1_800)  # fmt: skip

        episodes = ledger.suppressed_for("a1", start=0, end=10_000)

    assert [len(first), len(again), len(later)] == [1, 0, 1]
    assert [(e.first_seen, e.last_seen) for e in episodes] == [(2_000, 2_600), (9_000, 9_000)]
    assert episodes[0].by == "ana"
    assert episodes[0].entry == "rules/suppressions.yaml:3"
    assert episodes[0].finding == FINDING


def test_a_silence_is_recorded_once_per_alert_with_first_and_last_sighting() -> None:
    seen = SilenceRecord(
        alertmanager="http://127.0.0.1:9093",
        silence_id="s-1",
        alert_fingerprint="a1",
        labels={"alertname": "LatencyShift"},
        created_by="ana",
        comment="deploy freeze",
        starts_at=1_000,
        ends_at=5_000,
        first_seen=0,
        last_seen=0,
    )
    with Ledger.open(":memory:") as ledger:
        new_first = ledger.record_silences(alertmanager=seen.alertmanager, now=2_000, seen=[seen])
        new_again = ledger.record_silences(alertmanager=seen.alertmanager, now=2_060, seen=[seen])
        (record,) = ledger.silences_for("a1", start=0, end=10_000)

    assert [len(new_first), len(new_again)] == [1, 0]
    assert (record.first_seen, record.last_seen) == (2_000, 2_060)
    assert (record.created_by, record.comment) == ("ana", "deploy freeze")
