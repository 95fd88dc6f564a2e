"""The alerts a digest covers: the evaluation's firings, then a daemon's recorded ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from detector.digest.model import Interval, RecordedFiring
from detector.finding import Finding, Kind
from detector.series import fingerprint

if TYPE_CHECKING:
    from detector.replay import (  # types only: the engine is not imported with the digest
        ReplayResult,
        Signal,
    )


@dataclass
class _Activity:
    rule: str
    group: str
    kind: Kind
    labels: dict[str, str]
    alert_labels: dict[str, str]
    series_fingerprint: str
    intervals: list[Interval] = field(default_factory=list)
    told: bool = False
    evaluated: bool = True


def _activities(result: ReplayResult, recorded: Sequence[RecordedFiring]) -> dict[str, _Activity]:
    """Alerts by fingerprint: the evaluation's, then the ledger's for alerts it lacks."""
    found = {fingerprint(s.alert_labels): _from_signal(s) for s in result.signals}
    for firing in sorted(recorded, key=lambda f: f.interval.start):
        key = fingerprint(firing.alert_labels)
        activity = found.get(key)
        if activity is None:
            labels = dict(firing.interval.latest.labels)
            activity = _Activity(
                rule=firing.rule,
                group=firing.group,
                kind=firing.kind,
                labels=labels,
                alert_labels=dict(firing.alert_labels),
                series_fingerprint=fingerprint(labels),
                evaluated=False,
            )
            found[key] = activity
        activity.told = activity.told or firing.told
        if not activity.evaluated:
            activity.intervals.append(firing.interval)
    return found


def _from_signal(signal: Signal) -> _Activity:
    return _Activity(
        rule=signal.rule,
        group=signal.group,
        kind=signal.kind,
        labels=dict(signal.labels),
        alert_labels=dict(signal.alert_labels),
        series_fingerprint=signal.series_fingerprint,
        intervals=[
            Interval(
                start=f.start, end=f.end, first=f.first, latest=f.latest, peak_score=f.peak_score
            )
            for f in signal.firings
        ],
    )


def _latest_finding(activity: _Activity) -> Finding:
    return max(activity.intervals, key=lambda i: i.start).latest
