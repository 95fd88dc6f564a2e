"""Each alert's item and section: new, still drifting, recovered, or unknown."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from detector.digest.activities import _Activity
from detector.digest.model import DigestItem, Section
from detector.digest.sparklines import _sparkline, _sparkline_ends
from detector.digest.tracking import _Drift, _drifting, _recent_level, _track
from detector.finding import Kind
from detector.periods import Period
from detector.series import Series

if TYPE_CHECKING:
    from detector.replay import (
        ReplayResult,  # types only: the engine is not imported with the digest
    )


def _classify(
    key: str,
    activity: _Activity,
    period: Period,
    *,
    weeks_before: Sequence[Period],
    previous_drifting: Mapping[str, Mapping[str, Any]] | None,
    series: Series | None,
    group_labels: tuple[str, ...],
    link: str | None,
) -> tuple[DigestItem, bool] | None:
    """The alert's item and whether its state is unknown (its series went silent)."""
    intervals = sorted(activity.intervals, key=lambda i: i.start)
    if not intervals:
        return None
    stored = (previous_drifting or {}).get(key, {})
    known = (_float(stored.get("baseline")), _float(stored.get("level")))
    track = _track(intervals, activity.kind, known if all(map(math.isfinite, known)) else None)
    drifting: list[bool] = []
    for week in reversed(weeks_before):  # oldest first: each week needs the one before
        before = bool(drifting) and drifting[-1]
        state = _drifting(track, week, series, activity.kind, was_drifting=before)
        drifting.append(before if state is None else state)
    if previous_drifting is not None:
        entry = previous_drifting.get(key, {})
        weeks_prior, at_least = int(entry.get("weeks", 0)), bool(entry.get("at_least", False))
    else:
        weeks_prior = len(drifting) - _last_false(drifting)
        at_least = weeks_prior > 0 and weeks_prior == len(drifting)
    active = _drifting(track, period, series, activity.kind, was_drifting=weeks_prior > 0)
    in_period = [i for i in intervals if i.overlaps(period)]
    unknown = active is None
    if active is None:  # counted for a period in which it was seen drifting, no more
        section = Section.STILL if weeks_prior > 0 else Section.NEW
        weeks, weeks_at_least = weeks_prior + (1 if in_period else 0), at_least
    elif active:
        section = Section.STILL if weeks_prior > 0 else Section.NEW
        weeks, weeks_at_least = weeks_prior + 1, at_least
    elif in_period or weeks_prior > 0:
        section, weeks, weeks_at_least = Section.RECOVERED, 0, False
    else:
        return None
    drift = track.last_drift(period.end)
    back = track.last_return(period.end)
    if drift is None:
        if back is None or section is not Section.RECOVERED:
            return None
        # the drift began before the evaluated weeks; only its way back is in them
        drift = _Drift(back[1], *(known if all(map(math.isfinite, known)) else (math.nan,) * 2))
    shown = drift.interval
    latest = shown.latest
    resolved_at: int | None = None
    if section is Section.RECOVERED:
        if back is not None and back[1].start >= shown.start:
            resolved_at = back[0]
        else:
            ended = [d.interval.end for d in track.drifts if d.interval.end is not None]
            ended = [e for e in ended if e <= period.end]
            resolved_at = max(ended) if ended else None
    item = DigestItem(
        key=key,
        section=section,
        rule=activity.rule,
        group=activity.group,
        kind=activity.kind,
        labels=dict(activity.labels),
        alert_labels=dict(activity.alert_labels),
        team=_team(activity.alert_labels, group_labels),
        title=activity.rule,
        explanation=latest.explanation,
        onset=latest.onset,
        first_firing=shown.start,
        change=latest.relative_change,
        score=max(shown.peak_score, latest.score)
        if math.isfinite(shown.peak_score)
        else latest.score,
        weeks=weeks,
        weeks_at_least=weeks_at_least,
        resolved_at=resolved_at,
        sparkline=_sparkline(series, period, latest.before, latest.kind),
        sparkline_ends=_sparkline_ends(series, period),
        link=link,
        told=activity.told,
        baseline=drift.baseline,
        level=drift.level,
        series_fingerprint=activity.series_fingerprint,
    )
    return item, unknown


def _team(labels: Mapping[str, str], group_labels: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((name, labels[name]) for name in group_labels if name in labels)


def _from_summary(
    key: str,
    entry: Mapping[str, Any],
    period: Period,
    result: ReplayResult,
    group_labels: tuple[str, ...],
) -> tuple[DigestItem, bool] | None:
    """An alert the previous digest called drifting that the evaluation no longer flags
    (its new level has become the window's normal): still drifting while the series is
    nearer the stored drifted level, recovered once it is nearer the level before;
    unknown without recent samples; dropped when the stored entry lacks the levels or
    the series is gone."""
    baseline, level = _float(entry.get("baseline")), _float(entry.get("level"))
    series = result.series.get(str(entry.get("series_fingerprint", "")))
    if series is None or not (math.isfinite(baseline) and math.isfinite(level)):
        return None
    try:
        kind = Kind(str(entry["kind"]))
        weeks, at_least = int(entry["weeks"]), bool(entry.get("at_least", False))
        alert_labels = {str(k): str(v) for k, v in dict(entry["labels"]).items()}
        labels = {str(k): str(v) for k, v in dict(entry["series"]).items()}
        onset, first_firing = int(entry["onset"]), int(entry["first_firing"])
    except (KeyError, TypeError, ValueError):
        return None
    now = _recent_level(series, period.end)
    unknown = now is None
    if now is None or abs(now - level) < abs(now - baseline):
        section, weeks = Section.STILL, weeks + (0 if unknown else 1)
    else:
        section, weeks, at_least = Section.RECOVERED, 0, False
    item = DigestItem(
        key=key,
        section=section,
        rule=str(entry["rule"]),
        group=str(entry.get("group", "")),
        kind=kind,
        labels=labels,
        alert_labels=alert_labels,
        team=_team(alert_labels, group_labels),
        title=str(entry["rule"]),
        explanation=str(entry.get("explanation", "")),
        onset=onset,
        first_firing=first_firing,
        change=_float(entry.get("change")),
        score=_float(entry.get("score")),
        weeks=weeks,
        weeks_at_least=at_least,
        resolved_at=None,
        sparkline=_sparkline(series, period, baseline, kind),
        sparkline_ends=_sparkline_ends(series, period),
        link=None,
        baseline=baseline,
        level=level,
        series_fingerprint=series.fingerprint,
    )
    return item, unknown


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _last_false(flags: Sequence[bool]) -> int:
    """Index just after the last ``False`` (0 when all are ``True``)."""
    for index in range(len(flags) - 1, -1, -1):
        if not flags[index]:
            return index + 1
    return 0
