"""Following one alert from week to week: series that go silent, come back, or settle.

Each test writes its own CSV series (100 plus seeded noise every 15 minutes, with the
changes it needs) and replays them with the file source, as ``graysignal digest`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from adapters.cli.replay import rule_files_plan
from adapters.digest.collect import DigestOptions, collect_digest
from adapters.sources import default_sources
from detector.digest import Digest, Section
from detector.periods import Period
from detector.suppressions import Action, Suppression
from tests.digest_fixtures import PERIOD, START, STEP, _at, _rule

W48 = Period.iso_week("2026-W48")
Shape = Callable[[np.ndarray], np.ndarray]


def _write(folder: Path, series: Mapping[str, tuple[Shape, int]]) -> Path:
    """One CSV per ``name: (factor over time, last timestamp)`` and a rule file."""
    lines = ["groups:", "  - name: tracked", "    interval: 15m", "    rules:"]
    for index, (name, (shape, last)) in enumerate(series.items()):
        rng = np.random.default_rng(100 + index)
        times = np.arange(START, last + 1, STEP, dtype=np.int64)
        values = (100.0 + rng.normal(0.0, 1.0, times.size)) * shape(times)
        path = folder / f"{name}.csv"
        rows = [f"{t},{v:.4f}" for t, v in zip(times, values, strict=True)]
        path.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
        lines += _rule(name, str(path), {"team": "t"})
    rules = folder / "rules.yaml"
    rules.write_text("\n".join(lines) + "\n")
    return rules


class _Stored:
    """A ledger that knows only the previous digest's summary (and no firings)."""

    def __init__(self, period: Period, summary: Mapping[str, Any]) -> None:
        self.label = period.previous().label
        self.summary = summary

    def previous_digest_summary(self, label: str) -> Mapping[str, Any] | None:
        return self.summary if label == self.label else None

    def transitions_between(self, start: int, end: int) -> list[Any]:
        return []


def _digest(
    rules: Path,
    period: Period,
    previous: Mapping[str, Any] | None = None,
    weeks: int = 2,
    suppressions: Sequence[Suppression] = (),
) -> Digest:
    ledger = None if previous is None else _Stored(period, previous)
    return collect_digest(
        rule_files_plan([rules]),
        default_sources(),
        period,
        options=DigestOptions(history_weeks=weeks, suppressions=suppressions),
        ledger=ledger,  # type: ignore[arg-type]
    )


def _flat(times: np.ndarray) -> np.ndarray:
    return np.ones(times.size)


def _step(at: int, factor: float, until: int | None = None) -> Shape:
    def shape(times: np.ndarray) -> np.ndarray:
        inside = (times >= at) & ((times < until) if until is not None else True)
        return np.where(inside, factor, 1.0)

    return shape


def _rules_of(digest: Digest, section: Section) -> list[str]:
    return [i.rule for i in digest.section(section)]


def test_a_series_that_stops_reporting_is_a_blind_spot_not_recovered_or_quiet(
    tmp_path: Path,
) -> None:
    stopped = _at("2026-11-19T12:00:00")
    rules = _write(
        tmp_path,
        {
            "Drifted": (_step(_at("2026-11-18T06:00:00"), 1.6), stopped),
            "QuietThenGone": (_flat, _at("2026-11-17T09:00:00")),
            "Fine": (_flat, PERIOD.end),
        },
    )
    digest = _digest(rules, PERIOD)
    assert _rules_of(digest, Section.RECOVERED) == []
    assert [i.rule for i in digest.items] == []
    spots = {s.rule: " ".join(s.reasons) for s in digest.blind_spots}
    assert set(spots) == {"Drifted", "QuietThenGone"}
    assert "went silent at Thu 19 Nov 12:00 UTC" in spots["Drifted"]
    assert "was drifting (+60%)" in spots["Drifted"]
    assert "went silent at Tue 17 Nov 09:00 UTC" in spots["QuietThenGone"]
    assert digest.quiet == ("Fine",)
    # the silent drift is carried to next week with the week it was seen drifting in
    (carried,) = digest.unknown
    assert digest.summary()["drifting"][carried.key]["weeks"] == 1


def test_a_period_without_any_samples_makes_every_rule_a_blind_spot(tmp_path: Path) -> None:
    rules = _write(
        tmp_path,
        {
            "Drifted": (_step(_at("2026-11-18T06:00:00"), 1.6), PERIOD.end),
            "Quiet": (_flat, PERIOD.end),
        },
    )
    digest = _digest(rules, W48)  # the data ends where W48 begins
    assert digest.items == ()
    assert digest.quiet == ()
    spots = {s.rule: " ".join(s.reasons) for s in digest.blind_spots}
    assert set(spots) == {"Drifted", "Quiet"}
    assert all("no samples in the period" in reasons for reasons in spots.values())


def test_a_series_coming_back_is_recovered_when_the_level_came_back(tmp_path: Path) -> None:
    back = _at("2026-11-25T12:00:00")
    rules = _write(tmp_path, {"Queue": (_step(_at("2026-11-13T12:00:00"), 1.4, back), W48.end)})
    before = _digest(rules, PERIOD)
    assert _rules_of(before, Section.STILL) == ["Queue"]
    digest = _digest(rules, W48, previous=before.summary())
    assert _rules_of(digest, Section.STILL) == []
    (item,) = digest.section(Section.RECOVERED)
    assert item.change > 0  # the drift that recovered, not the way back
    assert item.resolved_at is not None
    assert abs(item.resolved_at - back) <= 12 * 3600
    assert digest.summary()["drifting"] == {}
    # without the previous summary the evaluation tells the way back from the drift too
    alone = _digest(rules, W48)
    assert _rules_of(alone, Section.RECOVERED) == ["Queue"]


def test_a_drift_that_settles_stays_still_drifting_and_recovers_when_it_comes_back(
    tmp_path: Path,
) -> None:
    onset = _at("2026-11-13T12:00:00")
    w52 = Period.iso_week("2026-W52")
    back = w52.start + 2 * 86400
    rules = _write(tmp_path, {"Queue": (_step(onset, 1.4, back), w52.end)})
    summary: Mapping[str, Any] | None = None
    seen: list[tuple[str, str, int]] = []
    period = PERIOD
    while period.start < w52.end:
        digest = _digest(rules, period, previous=summary, weeks=1)
        seen += [(period.label, i.section.value, i.weeks) for i in digest.items]
        summary = digest.summary()
        period = Period.iso_week(_next_label(period))
    assert seen[:5] == [
        ("2026-W47", "still_drifting", 2),
        ("2026-W48", "still_drifting", 3),
        ("2026-W49", "still_drifting", 4),
        ("2026-W50", "still_drifting", 5),
        ("2026-W51", "still_drifting", 6),
    ]
    assert seen[5][:2] == ("2026-W52", "recovered")
    assert seen[5:] == [seen[5]]


def _next_label(period: Period) -> str:
    year, week, _ = datetime.fromtimestamp(period.end, tz=UTC).isocalendar()
    return f"{year}-W{week:02d}"


def test_a_settled_drift_carried_from_last_week_can_be_acknowledged(tmp_path: Path) -> None:
    """Carried items have no firing in this week's evaluation; suppressions still apply."""
    onset = _at("2026-11-13T12:00:00")
    rules = _write(tmp_path, {"Queue": (_step(onset, 1.4), W48.end + 6 * 7 * 86400)})
    summary: Mapping[str, Any] | None = None
    period = PERIOD
    while period.label != "2026-W50":
        summary = _digest(rules, period, previous=summary, weeks=1).summary()
        period = Period.iso_week(_next_label(period))
    expected = Suppression(Action.EXPECT, "Queue", {}, "new tenant", onset, None, change=0.4)
    unrelated = Suppression(Action.EXPECT, "Other", {}, "elsewhere", onset, None, change=0.4)

    plain = _digest(rules, period, previous=summary, weeks=1, suppressions=[unrelated])
    accepted = _digest(rules, period, previous=summary, weeks=1, suppressions=[expected])

    assert _rules_of(plain, Section.STILL) == ["Queue"]
    assert _rules_of(accepted, Section.ACKNOWLEDGED) == ["Queue"]
    (item,) = accepted.section(Section.ACKNOWLEDGED)
    assert item.suppression is not None and "new tenant" in item.suppression
