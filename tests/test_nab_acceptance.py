"""Acceptance on NAB's artificial files with default settings (issue: the spine).

No finding at all on the five ``artificialNoAnomaly`` files; on the four files whose daily
pattern changes for a day (visible only against the seasonality) a firing after the
labelled anomaly start and within six hours of it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from detector.finding import Kind
from detector.replay import replay_rule
from detector.testing import make_rule
from tests.conftest import load_nab

QUIET = [
    "artificialNoAnomaly/art_daily_no_noise.csv",
    "artificialNoAnomaly/art_daily_perfect_square_wave.csv",
    "artificialNoAnomaly/art_daily_small_noise.csv",
    "artificialNoAnomaly/art_flatline.csv",
    "artificialNoAnomaly/art_noisy.csv",
]
SEASONAL_ANOMALIES = [
    "artificialWithAnomaly/art_daily_jumpsup.csv",
    "artificialWithAnomaly/art_daily_jumpsdown.csv",
    "artificialWithAnomaly/art_daily_nojump.csv",
    "artificialWithAnomaly/art_daily_flatmiddle.csv",
]
SIX_HOURS = 6 * 3600


def labelled_start(nab_root: Path, name: str) -> int:
    labels = json.loads((nab_root / "labels" / "combined_labels.json").read_text())
    moment = datetime.strptime(labels[name][0], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    return int(moment.timestamp())


def first_firings(name: str, detect: list[Kind] | None = None) -> list[int]:
    series = load_nab(name)
    rule = make_rule() if detect is None else make_rule(detect=detect)
    signals, _ = replay_rule(
        rule, group="nab", interval=series.step, series=[series], start=series.start, end=series.end
    )
    return sorted(f.start for s in signals for f in s.firings)


@pytest.mark.parametrize("name", QUIET)
def test_default_rule_finds_nothing_on_anomaly_free_file(name: str) -> None:
    assert first_firings(name) == []


@pytest.mark.parametrize("name", QUIET)
@pytest.mark.parametrize("kind", [Kind.VARIANCE, Kind.VOLUME])
def test_other_kinds_stay_quiet_on_anomaly_free_file(name: str, kind: Kind) -> None:
    assert first_firings(name, [kind]) == []


@pytest.mark.parametrize("name", SEASONAL_ANOMALIES)
def test_changed_day_fires_within_six_hours_of_labelled_start(nab_root: Path, name: str) -> None:
    start = labelled_start(nab_root, name)

    firings = first_firings(name)

    assert firings, f"{name}: nothing fired"
    assert start < firings[0] <= start + SIX_HOURS, (
        f"{name}: first firing {firings[0] - start:+d}s from the labelled start"
    )
