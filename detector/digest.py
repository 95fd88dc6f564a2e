"""The weekly drift digest: what drifted, what is still drifting, what recovered.

Gray signals are rarely worth paging anyone for; they are worth a calm weekly read. This
module turns what the engine saw (a :class:`~detector.replay.ReplayResult` over the
period and the weeks before it, plus firings a daemon recorded) into a ranked,
sectioned :class:`Digest`. It is pure: no clock, no files, no network; renderers and
delivery live in ``adapters/digest/``. The rules are documented in docs/digest.md:

- an *item* is one alert (rule x series x kind);
- **new this week**: firing at the end of the period, not at the end of the one before;
- **still drifting**: firing at the end of both; ``weeks`` counts the consecutive
  periods that ended with it firing (from the previous digest's stored summary when
  there is one, else from the evaluation of the preceding weeks);
- **recovered**: firing at some time in the period, or at the end of the one before,
  and no longer firing at its end;
- **acknowledged / expected**: firing at the end, but a suppression covers its latest
  finding (:func:`detector.suppressions.split_suppressed`);
- **blind spots**: rules that returned no data, failed, or whose data could not speak
  (:func:`detector.replay.data_quality_note`).

Items are ranked by *impact*: the size of the change (capped at :data:`CHANGE_CAP`)
times its certainty (the score, capped at :data:`SCORE_CAP`); then grouped by the
configured labels (``team``, ``service``), groups ordered by their highest-ranked item.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final
from urllib.parse import quote

import numpy as np

from detector.durations import format_duration
from detector.finding import Finding, Kind
from detector.periods import Period
from detector.replay import ReplayResult, Signal
from detector.series import Series, fingerprint
from detector.sparkline import sparkline
from detector.suppressions import Suppression, split_suppressed

__all__ = [
    "CHANGE_CAP",
    "DEFAULT_GROUP_LABELS",
    "DIGEST_VERSION",
    "LINK_PLACEHOLDERS",
    "SCORE_CAP",
    "BlindSpot",
    "Digest",
    "DigestItem",
    "Interval",
    "RecordedFiring",
    "Section",
    "build_digest",
    "check_link_template",
    "format_link",
]

DIGEST_VERSION: Final = 1
DEFAULT_GROUP_LABELS: Final = ("team", "service")
CHANGE_CAP: Final = 10.0  # a 1,000% change is as large as changes get for ranking
SCORE_CAP: Final = 20.0  # beyond z = 20 certainty does not grow in any way that matters
RECOVERY_SPAN: Final = 86400  # a day of data decides whether a level came back
LEVEL_KINDS: Final = frozenset({Kind.LEVEL_SHIFT, Kind.TREND, Kind.VOLUME})
SPARKLINE_WIDTH: Final = 28  # four characters a day over a week; fits a phone's width
LINK_PLACEHOLDERS: Final = (
    "query",
    "rule",
    "series",
    "start",
    "end",
    "start_ms",
    "end_ms",
    "start_rfc3339",
    "end_rfc3339",
    "range",
)
_HIDDEN_LABELS = frozenset({"alertname", "graysignal_kind", "severity", "__name__"})


class Section(StrEnum):
    """The digest's sections, in reading order."""

    NEW = "new"
    STILL = "still_drifting"
    RECOVERED = "recovered"
    ACKNOWLEDGED = "acknowledged"

    @property
    def heading(self) -> str:
        return _TITLES[self]


_TITLES: Final = {
    Section.NEW: "New this week",
    Section.STILL: "Still drifting",
    Section.RECOVERED: "Recovered",
    Section.ACKNOWLEDGED: "Acknowledged / expected",
}


@dataclass(frozen=True)
class Interval:
    """One firing: from ``start`` to ``end`` (``None``: still firing when the data ended)."""

    start: int
    end: int | None
    first: Finding
    latest: Finding
    peak_score: float

    def overlaps(self, period: Period) -> bool:
        return self.start <= period.end and (self.end is None or self.end > period.start)

    def firing_at(self, moment: int) -> bool:
        return self.start <= moment and (self.end is None or self.end > moment)


@dataclass(frozen=True)
class RecordedFiring:
    """A firing a daemon recorded in its ledger (for alerts the evaluation did not see)."""

    rule: str
    group: str
    alert_labels: Mapping[str, str]
    kind: Kind
    interval: Interval
    told: bool = True


@dataclass(frozen=True)
class DigestItem:
    """One alert in the digest, with everything a reader needs to judge it."""

    key: str
    section: Section
    rule: str
    group: str
    kind: Kind
    labels: Mapping[str, str]
    alert_labels: Mapping[str, str]
    team: tuple[tuple[str, str], ...]
    title: str
    explanation: str
    onset: int
    first_firing: int
    change: float
    score: float
    weeks: int
    weeks_at_least: bool
    resolved_at: int | None
    sparkline: str
    link: str | None
    suppression: str | None = None
    told: bool = False

    @property
    def impact(self) -> float:
        """Size of the change times its certainty, both capped (see module docstring)."""
        return _magnitude(self.change) * _certainty(self.score)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "rule": self.rule,
            "group": self.group,
            "kind": self.kind.value,
            "series": dict(self.labels),
            "labels": dict(self.alert_labels),
            "team": dict(self.team),
            "title": self.title,
            "explanation": self.explanation,
            "onset": self.onset,
            "first_firing": self.first_firing,
            "change": _finite_or_none(self.change),
            "score": _finite_or_none(self.score),
            "impact": round(self.impact, 6),
            "weeks": self.weeks,
            "weeks_at_least": self.weeks_at_least,
            "resolved_at": self.resolved_at,
            "sparkline": self.sparkline,
            "link": self.link,
            "suppression": self.suppression,
            "told": self.told,
        }


@dataclass(frozen=True)
class BlindSpot:
    """A rule whose silence means nothing: it saw no data, failed, or too little data."""

    rule: str
    group: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Digest:
    """The digest of one period: ranked items by section, and the blind spots."""

    period: Period
    items: tuple[DigestItem, ...]
    blind_spots: tuple[BlindSpot, ...]
    group_labels: tuple[str, ...]
    history_weeks: int
    rules: int
    quiet: tuple[str, ...] = ()

    def section(self, section: Section) -> list[DigestItem]:
        """The section's items, in rank order."""
        return [item for item in self.items if item.section is section]

    def grouped(
        self, section: Section
    ) -> list[tuple[tuple[tuple[str, str], ...], list[DigestItem]]]:
        """The section's items grouped by team labels; groups ordered by their best item."""
        groups: dict[tuple[tuple[str, str], ...], list[DigestItem]] = {}
        for item in self.section(section):
            groups.setdefault(item.team, []).append(item)
        return list(groups.items())

    def counts(self) -> dict[str, int]:
        counts = {section.value: len(self.section(section)) for section in Section}
        counts["blind_spots"] = len(self.blind_spots)
        return counts

    def summary(self) -> dict[str, Any]:
        """What the next period's digest reads: the alerts drifting at its end, with weeks."""
        drifting = {
            item.key: item.weeks for item in self.items if item.section is not Section.RECOVERED
        }
        return {
            "version": DIGEST_VERSION,
            "period": self.period.label,
            "end": self.period.end,
            "drifting": dict(sorted(drifting.items())),
        }


def build_digest(
    result: ReplayResult,
    period: Period,
    *,
    suppressions: Sequence[Suppression] = (),
    recorded: Sequence[RecordedFiring] = (),
    previous_summary: Mapping[str, Any] | None = None,
    history_weeks: int = 4,
    group_labels: Sequence[str] = DEFAULT_GROUP_LABELS,
    queries: Mapping[str, str] | None = None,
    link_template: str | None = None,
) -> Digest:
    """The digest of ``period`` from an evaluation that covers it and the weeks before.

    ``result`` should span ``history_weeks`` periods before ``period``: consecutive weeks
    are counted that far back, and "at least" when every one of them was drifting.
    ``recorded`` adds firings from a daemon's ledger for alerts the evaluation did not
    produce (rules since removed, data no longer retained); an alert both saw is taken
    from the evaluation, marked as told.
    ``previous_summary`` is :meth:`Digest.summary` of the period before, when stored.
    ``queries`` maps a rule to the query (or file) its link shows.
    """
    if link_template is not None:
        check_link_template(link_template)
    activities = _activities(result, recorded)
    weeks_before = _weeks_before(period, history_weeks)
    previous_drifting = _previous_weeks(previous_summary, period)
    items: list[DigestItem] = []
    for key, activity in activities.items():
        item = _classify(
            key,
            activity,
            period,
            weeks_before=weeks_before,
            previous_drifting=previous_drifting,
            series=result.series.get(activity.series_fingerprint),
            group_labels=tuple(group_labels),
            link=_link_for(activity, period, queries or {}, link_template),
        )
        if item is not None:
            items.append(item)
    items = _apply_suppressions(items, activities, suppressions, period)
    items = _with_titles(items, tuple(group_labels))
    spots = _blind_spots(result)
    noisy = {i.rule for i in items} | {s.rule for s in spots}
    return Digest(
        period=period,
        items=tuple(_ranked(items)),
        blind_spots=tuple(spots),
        group_labels=tuple(group_labels),
        history_weeks=history_weeks,
        rules=len(result.outcomes),
        quiet=tuple(sorted({o.rule for o in result.outcomes} - noisy)),
    )


# -- links -------------------------------------------------------------------------------


def check_link_template(template: str) -> None:
    """``ValueError`` naming any placeholder that :func:`format_link` does not fill."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ValueError(f"link template: {exc}") from None
    unknown = sorted({n for n in names if n not in LINK_PLACEHOLDERS})
    if unknown or any(n == "" for n in names):
        shown = ", ".join(unknown) or "{}"
        allowed = ", ".join("{" + p + "}" for p in LINK_PLACEHOLDERS)
        raise ValueError(f"link template: unknown placeholder {shown}; use {allowed}")


def format_link(template: str, *, query: str, rule: str, series: str, period: Period) -> str:
    """Fill the template; every value is URL-encoded (a PromQL query is full of ``{"}``)."""
    values = {
        "query": query,
        "rule": rule,
        "series": series,
        "start": str(period.start),
        "end": str(period.end),
        "start_ms": str(period.start * 1000),
        "end_ms": str(period.end * 1000),
        "start_rfc3339": _rfc3339(period.start),
        "end_rfc3339": _rfc3339(period.end),
        "range": format_duration(period.end - period.start),
    }
    return template.format_map({k: quote(v, safe="") for k, v in values.items()})


# -- internals ---------------------------------------------------------------------------


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


def _weeks_before(period: Period, count: int) -> list[Period]:
    """The ``count`` periods before ``period``, nearest first."""
    weeks: list[Period] = []
    current = period
    for _ in range(max(0, count)):
        current = current.previous()
        weeks.append(current)
    return weeks


def _previous_weeks(summary: Mapping[str, Any] | None, period: Period) -> dict[str, int] | None:
    """Consecutive weeks per alert from the previous digest's summary, if it applies."""
    if summary is None or summary.get("version") != DIGEST_VERSION:
        return None
    if summary.get("end") != period.start:
        return None  # not the period right before this one: count from the evaluation
    drifting = summary.get("drifting", {})
    return {str(k): int(v) for k, v in drifting.items()}


def _classify(
    key: str,
    activity: _Activity,
    period: Period,
    *,
    weeks_before: Sequence[Period],
    previous_drifting: Mapping[str, int] | None,
    series: Series | None,
    group_labels: tuple[str, ...],
    link: str | None,
) -> DigestItem | None:
    intervals = sorted(activity.intervals, key=lambda i: i.start)
    if not intervals:
        return None
    drifting: list[bool] = []
    for week in reversed(weeks_before):  # oldest first: each week needs the one before
        before = bool(drifting) and drifting[-1]
        drifting.append(_drifting(intervals, week, series, activity.kind, was_drifting=before))
    if previous_drifting is not None:
        weeks_prior, at_least = previous_drifting.get(key, 0), False
    else:
        weeks_prior = len(drifting) - _last_false(drifting)
        at_least = weeks_prior > 0 and weeks_prior == len(drifting)
    active = _drifting(intervals, period, series, activity.kind, was_drifting=weeks_prior > 0)
    in_period = [i for i in intervals if i.overlaps(period)]
    if active:
        section = Section.STILL if weeks_prior > 0 else Section.NEW
        weeks, weeks_at_least = weeks_prior + 1, at_least
    elif in_period or weeks_prior > 0:
        section, weeks, weeks_at_least = Section.RECOVERED, 0, False
    else:
        return None
    started = [i for i in intervals if i.start <= period.end]
    if not started:
        return None
    shown = started[-1]
    latest = shown.latest
    ended = [i.end for i in intervals if i.end is not None and i.end <= period.end]
    return DigestItem(
        key=key,
        section=section,
        rule=activity.rule,
        group=activity.group,
        kind=activity.kind,
        labels=dict(activity.labels),
        alert_labels=dict(activity.alert_labels),
        team=tuple(
            (name, activity.alert_labels[name])
            for name in group_labels
            if name in activity.alert_labels
        ),
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
        resolved_at=None if active or not ended else max(ended),
        sparkline=_sparkline(series, period, latest),
        link=link,
        told=activity.told,
    )


def _drifting(
    intervals: Sequence[Interval],
    period: Period,
    series: Series | None,
    kind: Kind,
    *,
    was_drifting: bool,
) -> bool:
    """Whether the alert is still drifting at the end of ``period``.

    It is when it is firing then, or when it fired during the period (or was drifting at
    the end of the period before) and its level has not come back: detectors stop
    flagging a change once it is the window's new normal, and an alert may pause for an
    evaluation or two; neither is a recovery. A level-type drift (:data:`LEVEL_KINDS`)
    has come back when the median of the last :data:`RECOVERY_SPAN` seconds is closer
    to the level before the change than to the level after it. ``was_drifting`` is the
    answer for the period before.
    """
    if any(i.firing_at(period.end) for i in intervals):
        return True
    touched = any(i.overlaps(period) for i in intervals)
    if not (touched or was_drifting):
        return False
    earlier = [i for i in intervals if i.start <= period.end]
    if not earlier or kind not in LEVEL_KINDS or series is None:
        return False
    finding = earlier[-1].latest
    moment = period.end
    inside = (series.timestamps > moment - RECOVERY_SPAN) & (series.timestamps <= moment)
    recent = series.values[inside]
    recent = recent[np.isfinite(recent)]
    if recent.size == 0 or not (math.isfinite(finding.before) and math.isfinite(finding.after)):
        return False
    level = float(np.median(recent))
    return abs(level - finding.after) < abs(level - finding.before)


def _last_false(flags: Sequence[bool]) -> int:
    """Index just after the last ``False`` (0 when all are ``True``)."""
    for index in range(len(flags) - 1, -1, -1):
        if not flags[index]:
            return index + 1
    return 0


def _sparkline(series: Series | None, period: Period, finding: Finding) -> str:
    if series is None:
        return ""
    return sparkline(
        series.values,
        timestamps=series.timestamps,
        start=period.start,
        end=period.end,
        width=SPARKLINE_WIDTH,
        reference=finding.before if finding.kind in LEVEL_KINDS else None,
    )


def _link_for(
    activity: _Activity, period: Period, queries: Mapping[str, str], template: str | None
) -> str | None:
    if template is None:
        return None
    return format_link(
        template,
        query=queries.get(activity.rule, ""),
        rule=activity.rule,
        series=_series_text(activity.labels),
        period=period,
    )


def _apply_suppressions(
    items: list[DigestItem],
    activities: Mapping[str, _Activity],
    suppressions: Sequence[Suppression],
    period: Period,
) -> list[DigestItem]:
    if not suppressions:
        return items
    out: list[DigestItem] = []
    for item in items:
        if item.section not in (Section.NEW, Section.STILL):
            out.append(item)
            continue
        latest = _latest_finding(activities[item.key])
        _, covered = split_suppressed([latest], suppressions, now=period.end)
        if covered:
            out.append(
                replace(
                    item,
                    section=Section.ACKNOWLEDGED,
                    suppression=covered[0].suppression.describe(),
                )
            )
        else:
            out.append(item)
    return out


def _latest_finding(activity: _Activity) -> Finding:
    return max(activity.intervals, key=lambda i: i.start).latest


def _with_titles(items: list[DigestItem], group_labels: tuple[str, ...]) -> list[DigestItem]:
    """Rule name plus the labels that tell its series apart (``rule · pod=a``)."""
    by_rule: dict[str, list[DigestItem]] = {}
    for item in items:
        by_rule.setdefault(item.rule, []).append(item)
    titled: list[DigestItem] = []
    for rule, members in by_rule.items():
        keys = sorted({k for m in members for k in m.labels} - _HIDDEN_LABELS - set(group_labels))
        varying = [k for k in keys if len({m.labels.get(k) for m in members}) > 1]
        for member in members:
            parts = [f"{k}={member.labels[k]}" for k in varying if k in member.labels]
            kinds = {m.kind for m in members if m.labels == member.labels}
            suffix = f" ({member.kind.value})" if len(kinds) > 1 else ""
            title = rule + (" · " + ", ".join(parts) if parts else "") + suffix
            titled.append(replace(member, title=title))
    return titled


def _ranked(items: list[DigestItem]) -> list[DigestItem]:
    """Highest impact first within each section; groups follow their best item."""
    ordered = sorted(items, key=lambda i: (-i.impact, -_magnitude(i.change), i.title, i.key))
    best_group_rank: dict[tuple[Section, tuple[tuple[str, str], ...]], int] = {}
    for rank, item in enumerate(ordered):
        best_group_rank.setdefault((item.section, item.team), rank)
    section_order = list(Section)
    return sorted(
        ordered,
        key=lambda i: (
            section_order.index(i.section),
            best_group_rank[(i.section, i.team)],
            ordered.index(i),
        ),
    )


def _blind_spots(result: ReplayResult) -> list[BlindSpot]:
    spots: list[BlindSpot] = []
    for outcome in result.outcomes:
        reasons: list[str] = []
        if outcome.error is not None:
            reasons.append(f"could not be evaluated: {outcome.error}")
        elif outcome.series_count == 0:
            reasons.append("returned no data")
        reasons.extend(outcome.notes)
        if reasons:
            spots.append(BlindSpot(rule=outcome.rule, group=outcome.group, reasons=tuple(reasons)))
    return sorted(spots, key=lambda s: (s.group, s.rule))


def _magnitude(change: float) -> float:
    if math.isnan(change):
        return 0.0
    return min(abs(change), CHANGE_CAP)


def _certainty(score: float) -> float:
    return min(score, SCORE_CAP) if math.isfinite(score) and score > 0 else 0.0


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _series_text(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={labels[k]}" for k in sorted(labels))


def _rfc3339(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
