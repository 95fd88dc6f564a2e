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
  there is one, else from the evaluation of the preceding weeks). A drift the detector
  has stopped flagging (its new level is the window's normal) stays here as long as the
  series is nearer the drifted level than the level before it (the summary keeps both);
- **recovered**: firing at some time in the period, or at the end of the one before,
  and no longer firing at its end, with data showing it; a firing whose level is nearer
  the level before the drift began (the detector flagging the way back) is the recovery,
  not more of the drift;
- **unknown**: an alert whose series has no samples at the end of the period is neither
  recovered nor still drifting; it is carried in the summary and its rule is a blind
  spot;
- **acknowledged / expected**: firing at the end, but a suppression covers its latest
  finding (:func:`detector.suppressions.split_suppressed`);
- **blind spots**: rules that returned no data, failed, or whose data could not speak
  (:func:`detector.replay.data_quality_note`), and rules with a series that went silent
  in the period: no samples in it, samples ending more than :data:`SILENCE_STEPS` steps
  (at least :data:`SILENCE_MIN` seconds) before its end, or samples covering less than
  :data:`COVERAGE_MIN` of it. A rule is "watched and quiet" only with data in the period.

Items are ranked by *impact*: the size of the change times its certainty, then grouped
by the configured labels (``team``, ``service``), groups ordered by their highest-ranked
item. The size is ``|ln(after / before)|`` (``ln(1 + change)``), so halving counts as
much as doubling and a fall to zero is as large as it gets (capped at a factor of
``1 + CHANGE_CAP``); the certainty is ``ln(1 + score / FIRING_SCORE)`` (score capped at
:data:`SCORE_CAP`): a change twice as strong as what fires counts more than one that
barely fires, and a score in the hundreds does not drown the size.
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
from detector.explain import describe_series
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

DIGEST_VERSION: Final = 2
_READABLE_VERSIONS: Final = frozenset({1, 2})
DEFAULT_GROUP_LABELS: Final = ("team", "service")
CHANGE_CAP: Final = 10.0  # a 1,000% rise (or a fall to 1/11th) is as large as it gets
FIRING_SCORE: Final = 5.0  # about the strength at which a detector reports (z-like)
SCORE_CAP: Final = 1000.0  # beyond this certainty no longer grows
RECOVERY_SPAN: Final = 86400  # a day of data decides whether a level came back
COVERAGE_MIN: Final = 0.5  # samples over less than half the period: a blind spot
SILENCE_STEPS: Final = 4  # no sample in the last 4 steps of the period: went silent
SILENCE_MIN: Final = 3600  # ... and at least an hour, whatever the step
MAX_SILENT_SHOWN: Final = 5  # silent series named per rule; the rest are counted
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
    baseline: float = math.nan  # the level before the drift began
    level: float = math.nan  # the drifted level
    series_fingerprint: str = ""
    sparkline_ends: tuple[float, float] | None = None  # the first and last bucket's mean

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
            "sparkline_ends": None
            if self.sparkline_ends is None
            else [_finite_or_none(v) for v in self.sparkline_ends],
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
    unknown: tuple[DigestItem, ...] = ()  # drifting, then its series went silent
    scope: str = ""  # e.g. "shard 1 of 2": what part of the rules this digest covers

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
        """What the next period's digest reads: the alerts drifting at its end (or unknown
        because their series went silent), with weeks and the levels before and after."""
        drifting = {
            item.key: _summary_entry(item)
            for item in (*self.items, *self.unknown)
            if item.section is not Section.RECOVERED
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
    rule_series: Mapping[str, Sequence[Series]] | None = None,
) -> Digest:
    """The digest of ``period`` from an evaluation that covers it and the weeks before.

    ``result`` should span ``history_weeks`` periods before ``period``: consecutive weeks
    are counted that far back, and "at least" when every one of them was drifting.
    ``recorded`` adds firings from a daemon's ledger for alerts the evaluation did not
    produce (rules since removed, data no longer retained); an alert both saw is taken
    from the evaluation, marked as told.
    ``previous_summary`` is :meth:`Digest.summary` of the period before, when stored.
    ``queries`` maps a rule to the query (or file) its link shows.
    ``rule_series`` maps a rule to every series it fetched, so a series that went
    silent is a blind spot even when it never fired; without it only the series of
    alerts are checked.
    """
    if link_template is not None:
        check_link_template(link_template)
    activities = _activities(result, recorded)
    weeks_before = _weeks_before(period, history_weeks)
    previous_drifting = _previous_weeks(previous_summary, period)
    items: list[DigestItem] = []
    unknown: list[DigestItem] = []
    for key, activity in activities.items():
        classified = _classify(
            key,
            activity,
            period,
            weeks_before=weeks_before,
            previous_drifting=previous_drifting,
            series=result.series.get(activity.series_fingerprint),
            group_labels=tuple(group_labels),
            link=_link_for(activity, period, queries or {}, link_template),
        )
        if classified is not None:
            (unknown if classified[1] else items).append(classified[0])
    known_rules = {o.rule for o in result.outcomes}
    for key, entry in (previous_drifting or {}).items():
        if key in activities or entry.get("rule") not in known_rules:
            continue
        carried = _from_summary(key, entry, period, result, tuple(group_labels))
        if carried is not None:
            (unknown if carried[1] else items).append(carried[0])
    items = _apply_suppressions(items, activities, suppressions, period)
    items = _with_titles(items, tuple(group_labels))
    spots = _blind_spots(result, period, rule_series, unknown)
    noisy = {i.rule for i in items} | {s.rule for s in spots}
    return Digest(
        period=period,
        items=tuple(_ranked(items)),
        blind_spots=tuple(spots),
        group_labels=tuple(group_labels),
        history_weeks=history_weeks,
        rules=len(result.outcomes),
        quiet=tuple(sorted(known_rules - noisy)),
        unknown=tuple(unknown),
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


def _previous_weeks(
    summary: Mapping[str, Any] | None, period: Period
) -> dict[str, dict[str, Any]] | None:
    """The previous digest's drifting alerts (``weeks``, ``at_least``, levels), if it is
    the digest of the period right before this one (matched on its label)."""
    if summary is None or summary.get("version") not in _READABLE_VERSIONS:
        return None
    if summary.get("period") != period.previous().label:
        return None  # not the period right before this one: count from the evaluation
    drifting = summary.get("drifting", {})
    entries: dict[str, dict[str, Any]] = {}
    for key, value in drifting.items():
        if isinstance(value, Mapping):
            entries[str(key)] = dict(value)
        else:  # version 1: just the weeks
            entries[str(key)] = {"weeks": int(value), "at_least": False}
    return entries


def _summary_entry(item: DigestItem) -> dict[str, Any]:
    """What the next digest needs to follow the alert when the detector has gone quiet."""
    return {
        "weeks": item.weeks,
        "at_least": item.weeks_at_least,
        "rule": item.rule,
        "group": item.group,
        "kind": item.kind.value,
        "series": dict(item.labels),
        "labels": dict(item.alert_labels),
        "series_fingerprint": item.series_fingerprint,
        "baseline": _finite_or_none(item.baseline),
        "level": _finite_or_none(item.level),
        "explanation": item.explanation,
        "onset": item.onset,
        "first_firing": item.first_firing,
        "change": _finite_or_none(item.change),
        "score": _finite_or_none(item.score),
    }


@dataclass(frozen=True)
class _Drift:
    """A firing that is (part of) the drift, with the drift's levels before and after."""

    interval: Interval
    baseline: float
    level: float


@dataclass(frozen=True)
class _Track:
    """An alert's firings split into the drift and the way back (``returns``: when the
    level came back, and the firing that flagged it)."""

    drifts: list[_Drift]
    returns: list[tuple[int, Interval]]

    def last_drift(self, moment: int) -> _Drift | None:
        earlier = [d for d in self.drifts if d.interval.start <= moment]
        return earlier[-1] if earlier else None

    def last_return(self, moment: int) -> tuple[int, Interval] | None:
        earlier = [r for r in self.returns if r[1].start <= moment]
        return earlier[-1] if earlier else None


def _track(
    intervals: Sequence[Interval], kind: Kind, known: tuple[float, float] | None = None
) -> _Track:
    """Tell the drift from the way back: a later firing whose new level is nearer the
    level before the drift began (the first firing's ``before``) than the drifted level
    is the series coming back, at that firing's onset. ``known``: the levels (before,
    drifted) the previous digest stored for a drift that began before these firings."""
    drifts: list[_Drift] = []
    returns: list[tuple[int, Interval]] = []
    baseline, level = known if known is not None else (math.nan, math.nan)
    for interval in intervals:
        after = interval.latest.after
        if (
            kind in LEVEL_KINDS
            and math.isfinite(baseline)
            and math.isfinite(level)
            and math.isfinite(after)
            and abs(after - baseline) < abs(after - level)
        ):
            returns.append((interval.latest.onset, interval))
            baseline = level = math.nan
            continue
        if not math.isfinite(baseline):
            baseline = interval.first.before
        level = after
        drifts.append(_Drift(interval, baseline, level))
    return _Track(drifts, returns)


def _recent_level(series: Series | None, moment: int) -> float | None:
    """Median of the last :data:`RECOVERY_SPAN` seconds before ``moment``; ``None``
    without samples there (unknown, not recovered)."""
    if series is None:
        return None
    inside = (series.timestamps > moment - RECOVERY_SPAN) & (series.timestamps <= moment)
    recent = series.values[inside]
    recent = recent[np.isfinite(recent)]
    if recent.size == 0:
        return None
    return float(np.median(recent))


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


def _drifting(
    track: _Track,
    period: Period,
    series: Series | None,
    kind: Kind,
    *,
    was_drifting: bool,
) -> bool | None:
    """Whether the alert is still drifting at the end of ``period``; ``None``: unknown.

    It is when a firing of the drift is open then, or when the drift fired during the
    period (or was drifting at the end of the period before) and its level has not come
    back: detectors stop flagging a change once it is the window's new normal, and an
    alert may pause for an evaluation or two; neither is a recovery. It is not when a
    later firing flagged the way back (:func:`_track`). A level-type drift
    (:data:`LEVEL_KINDS`) has come back when the median of the last
    :data:`RECOVERY_SPAN` seconds is closer to the level before the drift than to the
    drifted level; without samples there the answer is unknown. ``was_drifting`` is the
    answer for the period before.
    """
    drift = track.last_drift(period.end)
    if drift is None:
        return False
    back = track.last_return(period.end)
    if back is not None and back[1].start >= drift.interval.start:
        return False  # the latest firing flagged the way back
    if drift.interval.firing_at(period.end):
        return True
    touched = any(d.interval.overlaps(period) for d in track.drifts)
    if not (touched or was_drifting):
        return False
    if kind not in LEVEL_KINDS or series is None:
        return False
    if not (math.isfinite(drift.baseline) and math.isfinite(drift.level)):
        return False
    level = _recent_level(series, period.end)
    if level is None:
        return None
    return abs(level - drift.level) < abs(level - drift.baseline)


def _last_false(flags: Sequence[bool]) -> int:
    """Index just after the last ``False`` (0 when all are ``True``)."""
    for index in range(len(flags) - 1, -1, -1):
        if not flags[index]:
            return index + 1
    return 0


def _sparkline_ends(series: Series | None, period: Period) -> tuple[float, float] | None:
    """The mean of the sparkline's first and last bucket with data (``89→22``)."""
    if series is None:
        return None
    inside = (series.timestamps > period.start) & (series.timestamps <= period.end)
    finite = inside & np.isfinite(series.values)
    if not finite.any():
        return None
    times, values = series.timestamps[finite], series.values[finite]
    width = (period.end - period.start) / SPARKLINE_WIDTH
    buckets = np.minimum(
        ((times - period.start - 1) // width).astype(np.int64), SPARKLINE_WIDTH - 1
    )
    first, last = buckets[0], buckets[-1]
    return float(values[buckets == first].mean()), float(values[buckets == last].mean())


def _sparkline(series: Series | None, period: Period, reference: float, kind: Kind) -> str:
    if series is None:
        return ""
    return sparkline(
        series.values,
        timestamps=series.timestamps,
        start=period.start,
        end=period.end,
        width=SPARKLINE_WIDTH,
        reference=reference if kind in LEVEL_KINDS and math.isfinite(reference) else None,
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
    section_order = {section: index for index, section in enumerate(Section)}
    ranked = sorted(
        enumerate(ordered),
        key=lambda pair: (
            section_order[pair[1].section],
            best_group_rank[(pair[1].section, pair[1].team)],
            pair[0],
        ),
    )
    return [item for _, item in ranked]


def _blind_spots(
    result: ReplayResult,
    period: Period,
    rule_series: Mapping[str, Sequence[Series]] | None,
    unknown: Sequence[DigestItem],
) -> list[BlindSpot]:
    if rule_series is None:  # only the series of alerts are known per rule
        by_rule: dict[str, list[Series]] = {}
        for signal in result.signals:
            one = result.series.get(signal.series_fingerprint)
            if one is not None and all(s is not one for s in by_rule.get(signal.rule, [])):
                by_rule.setdefault(signal.rule, []).append(one)
        rule_series = by_rule
    spots: list[BlindSpot] = []
    for outcome in result.outcomes:
        reasons: list[str] = []
        if outcome.error is not None:
            reasons.append(f"could not be evaluated: {outcome.error}")
        elif outcome.series_count == 0:
            reasons.append("returned no data")
        reasons.extend(outcome.notes)
        silent = [
            note
            for one in rule_series.get(outcome.rule, ())
            if (note := _silence(one, period)) is not None
        ]
        reasons.extend(silent[:MAX_SILENT_SHOWN])
        if len(silent) > MAX_SILENT_SHOWN:
            reasons.append(f"and {len(silent) - MAX_SILENT_SHOWN} more series like these")
        for item in unknown:
            if item.rule == outcome.rule:
                change = f" ({item.change:+.0%})" if math.isfinite(item.change) else ""
                reasons.append(
                    f"{describe_series(item.labels)} was drifting{change} when its data "
                    "stopped: whether it recovered is unknown"
                )
        if reasons:
            spots.append(BlindSpot(rule=outcome.rule, group=outcome.group, reasons=tuple(reasons)))
    return sorted(spots, key=lambda s: (s.group, s.rule))


def _silence(series: Series, period: Period) -> str | None:
    """Why the series cannot speak for ``period``, in words, or ``None`` (see
    :data:`COVERAGE_MIN`, :data:`SILENCE_STEPS`, :data:`SILENCE_MIN`)."""
    name = describe_series(series.labels)
    times = series.timestamps[np.isfinite(series.values)]
    times = times[times <= period.end]
    inside = times[times > period.start]
    if inside.size == 0:
        if times.size == 0:
            return f"{name}: no samples in the period"
        return f"{name}: no samples in the period; went silent at {_when(int(times[-1]))}"
    last = int(inside[-1])
    if period.end - last > max(SILENCE_STEPS * series.step, SILENCE_MIN):
        return f"{name}: went silent at {_when(last)}"
    coverage = inside.size * series.step / (period.end - period.start)
    if coverage < COVERAGE_MIN:
        return f"{name}: samples cover only {coverage:.0%} of the period"
    return None


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%a %d %b %H:%M UTC")


_SIZE_CAP: Final = math.log1p(CHANGE_CAP)


def _magnitude(change: float) -> float:
    """``|ln(after / before)|`` from the relative change, capped (see module docstring)."""
    if math.isnan(change):
        return 0.0
    if change <= -1.0 or math.isinf(change):
        return _SIZE_CAP
    return min(abs(math.log1p(change)), _SIZE_CAP)


def _certainty(score: float) -> float:
    if math.isnan(score) or score <= 0:
        return 0.0
    return math.log1p(min(score, SCORE_CAP) / FIRING_SCORE)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _series_text(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={labels[k]}" for k in sorted(labels))


def _rfc3339(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
