"""A rule that never fired says why, when its data could not speak.

"Never fired" after a replay reads as "nothing was wrong"; it is not, when the window
never filled or the seasonal profile had too little history. The history figure is the
engine's own (``detector.evaluate.required_history``), so these tests ask it rather
than repeat it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from rich.console import Console
from typer.testing import CliRunner

from adapters.cli import app
from adapters.reports.terminal_report import print_summary
from detector.durations import format_duration
from detector.monitor import seasonal_history, shortest_history
from detector.replay import data_quality_note
from detector.rule import Rule
from detector.series import Series
from detector.testing import EPOCH

STEP = 300
PER_DAY = 86400 // STEP


def noise(days: float) -> Series:
    values = 100 + np.random.default_rng(2).normal(0, 2, int(days * PER_DAY))
    timestamps = EPOCH + STEP * np.arange(values.size, dtype=np.int64)
    return Series({"series": "latency"}, timestamps, values, STEP)


def rule(**fields: object) -> Rule:
    return Rule.model_validate({"signal": "S", "source": "file", "path": "x.csv", **fields})


def test_too_little_data_for_a_first_verdict_is_the_reason() -> None:
    series = noise(0.25)
    needed = format_duration(shortest_history(rule(window="7d"), STEP))

    note = data_quality_note(rule(window="7d"), series, series.start, series.end)

    assert note == (
        f'{{series="latency"}}: only 5h55m of data, and a first verdict needs at least '
        f"{needed} (a short baseline, then the change lasting)"
    )


def test_too_little_history_for_the_seasonality_is_the_reason() -> None:
    series = noise(2)
    seasonal = rule(window="7d", seasonality="daily")
    needed = format_duration(seasonal_history(seasonal, STEP))

    note = data_quality_note(seasonal, series, series.start, series.end)

    assert note == (
        '{series="latency"}: not enough history for its daily seasonality: 1d23h of '
        f"data, and the seasonal profile needs {needed} (3 earlier periods)"
    )


def test_enough_history_or_no_seasonality_gives_no_reason() -> None:
    long = noise(5)
    short = noise(2)

    assert data_quality_note(rule(seasonality="daily"), long, long.start, long.end) is None
    assert data_quality_note(rule(seasonality="none"), short, short.start, short.end) is None


def test_a_replay_prints_the_reason_beside_the_silent_rule(tmp_path: Path) -> None:
    series = noise(2)
    csv = tmp_path / "latency.csv"
    pairs = zip(series.timestamps.tolist(), series.values.tolist(), strict=True)
    rows = [f"{t},{v!r}" for t, v in pairs]
    csv.write_text("timestamp,value\n" + "\n".join(rows) + "\n")

    result = CliRunner().invoke(
        app, ["replay", str(csv), "--seasonality", "daily", "--window", "7d", "--format", "json"]
    )

    assert result.exit_code == 0, result.output
    (silent,) = json.loads(result.stdout)["silent"]
    assert any("not enough history for its daily seasonality" in n for n in silent["notes"])


def test_the_terminal_says_the_reason_in_full_at_80_columns(tmp_path: Path) -> None:
    from adapters.replaying import ScheduledRule, replay_rules  # noqa: PLC0415

    class Memory:
        def fetch(self, rule: Rule, start: int, end: int) -> list[Series]:
            return [noise(2)]

    seasonal = rule(window="7d", seasonality="daily")
    result = replay_rules(
        [ScheduledRule(seasonal, "g", 3600)],
        {"file": Memory()},
        start=EPOCH + 1 * 86400,
        end=EPOCH + 2 * 86400 - STEP,
        incident=EPOCH + 2 * 86400 - STEP,
    )
    console = Console(width=80, record=True)

    print_summary(result, console)

    text = " ".join(console.export_text().split())
    assert "never fired (" in text
    assert "not enough history for its daily seasonality" in text
