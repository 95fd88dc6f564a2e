"""Replay: the daemon's evaluation loop on a simulated clock over a past window.

For every rule the clock steps through ``(start, end]`` at the rule group's interval
(times are multiples of the interval, as the daemon aligns them). At each time ``t`` each
series is evaluated exactly as ``evaluate(rule, series, t)`` would (features are computed
once; a vectorised screen skips the times that cannot produce a finding), and the rule's
:class:`AlertBook` turns findings into pending/firing/resolved transitions. The result
lists every firing interval, the first firing, the estimated onset, and the lead time
before the incident; rules that never fired are *silent*.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from detector.alerts import AlertBook, AlertState, Transition
from detector.batch import batch_trace
from detector.decide import findings_by_time, stale_after
from detector.durations import format_duration
from detector.explain import describe_series
from detector.finding import Finding, Kind
from detector.monitor import RuleMonitor, seasonal_history, shortest_history
from detector.rule import Rule, Seasonality
from detector.seasonal import MIN_LAGS
from detector.series import IntArray, Series, common_grid, fingerprint


def group_offset(group: str, interval: int) -> int:
    """A group's stable phase within its interval, from its name (as Prometheus does).

    Groups with the same interval are spread over it instead of all waking at once, and
    a restart or a replay lands on the very same evaluation times.
    """
    digest = hashlib.sha256(group.encode()).digest()
    return int.from_bytes(digest[:8], "big") % interval


def next_evaluation(now: float, interval: int, offset: int) -> int:
    """The first evaluation time ``k * interval + offset`` strictly after ``now``."""
    return ((int(now) - offset) // interval + 1) * interval + offset


def evaluation_times(start: int, end: int, interval: int, offset: int = 0) -> IntArray:
    """Times ``k * interval + offset`` in ``(start, end]``: when a daemon evaluates."""
    first = ((start - offset) // interval + 1) * interval + offset
    return np.arange(first, end + 1, interval, dtype=np.int64)


@dataclass(frozen=True)
class Firing:
    """One interval during which an alert was firing.

    ``end`` is the evaluation time at which it resolved, or ``None`` if it was still
    firing when the window ended. ``first`` is the finding that made it fire.
    """

    start: int
    end: int | None
    pending_since: int
    first: Finding
    latest: Finding
    peak_score: float

    @property
    def onset(self) -> int:
        return self.first.onset


@dataclass
class Signal:
    """Everything one alert (rule x series x kind) did during the replay."""

    rule: str
    group: str
    labels: Mapping[str, str]
    alert_labels: Mapping[str, str]
    kind: Kind
    series_fingerprint: str
    firings: list[Firing] = field(default_factory=list)

    @property
    def first_firing(self) -> Firing | None:
        return self.firings[0] if self.firings else None

    def lead_time(self, incident: int) -> int | None:
        """Seconds between the first firing and the incident (never negative here)."""
        first = self.first_firing
        return None if first is None else incident - first.start


@dataclass(frozen=True)
class RuleOutcome:
    """What replay did with one rule: how many series, evaluations, and any error."""

    rule: str
    group: str
    kinds: tuple[Kind, ...]
    series_count: int
    evaluations: int
    error: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Notice:
    """Someone was told: a notifier delivered this alert's firing at ``at``."""

    notifier: str
    at: int


class ReactionKind(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    SILENCED = "silenced"


@dataclass(frozen=True)
class Reaction:
    """Someone reacted to a sent alert: acknowledged it (the reviewed suppressions file)
    or silenced it in Alertmanager. ``at`` is when (the ack's date, or when the daemon
    first saw the silence); ``where`` is the file:line or the Alertmanager."""

    kind: ReactionKind
    by: str | None
    at: int
    reason: str
    until: int | None = None
    where: str = ""


@dataclass(frozen=True)
class Hold:
    """The daemon held an alert back on purpose: a reviewed suppression (``action`` is
    ``ack`` or ``expect``) covered it from ``start`` to ``end`` (the ledger's episode).

    ``since`` is when the ack was given or the date the expected change starts;
    ``change`` is the expected change (or the acknowledged effect) when the reviewed
    file still holds the entry, else ``None``; ``where`` is the entry's file:line.
    """

    action: str
    by: str | None
    since: int
    reason: str
    start: int
    end: int
    until: int | None = None
    change: float | None = None
    where: str = ""


@dataclass
class ReplayResult:
    """What replay saw. ``notices`` is filled only when a daemon's ledger was consulted:
    then a firing with no notice is one "we could have known" but were not told of.
    """

    start: int
    end: int
    incident: int
    signals: list[Signal]
    outcomes: list[RuleOutcome]
    series: dict[str, Series] = field(default_factory=dict)
    notices: dict[tuple[str, int], list[Notice]] | None = None
    reactions: dict[tuple[str, int], list[Reaction]] = field(default_factory=dict)
    holds: dict[tuple[str, int], list[Hold]] = field(default_factory=dict)

    def told(self, signal: Signal, firing: Firing) -> list[Notice] | None:
        """Deliveries of this firing at the time, or ``None`` when no ledger was read."""
        if self.notices is None:
            return None
        return self.notices.get((fingerprint(signal.alert_labels), firing.start), [])

    def reacted(self, signal: Signal, firing: Firing) -> list[Reaction]:
        """Reactions to this firing, earliest first (empty without a ledger)."""
        return self.reactions.get((fingerprint(signal.alert_labels), firing.start), [])

    def held(self, signal: Signal, firing: Firing) -> list[Hold]:
        """Suppressions the daemon applied to this alert while it fired here, earliest
        first (empty without a ledger). Replay itself applies none."""
        return self.holds.get((fingerprint(signal.alert_labels), firing.start), [])

    def cutoff(self, firing: Firing) -> int:
        """The last moment a reaction to ``firing`` may come: the incident for a firing
        that started before it (what people did once users were affected says nothing
        about how the early warning was received), else the end of the window."""
        if firing.start < self.incident:
            return min(self.end, self.incident)
        return self.end

    @property
    def silent(self) -> list[RuleOutcome]:
        """Rules that never fired on any series in the window."""
        fired = {s.rule for s in self.signals if s.firings}
        return [o for o in self.outcomes if o.rule not in fired]

    def timeline(self) -> list[tuple[Signal, Firing]]:
        """Every firing, ordered by the time it started."""
        pairs = [(s, f) for s in self.signals for f in s.firings]
        return sorted(pairs, key=lambda p: (p[1].start, p[1].onset, p[0].rule))


def data_quality_note(rule: Rule, series: Series, start: int, end: int) -> str | None:
    """Why a series could not have produced a finding, in words, or ``None``.

    Silence means little when the data could not speak: an all-NaN series, a constant
    one, one shorter than the engine's first verdict needs
    (:func:`~detector.monitor.shortest_history`), or one with less history than its fixed
    seasonality's profile needs (:func:`~detector.monitor.seasonal_history`).
    """
    name = describe_series(series.labels)
    finite = np.isfinite(series.values)
    usable = series.values[finite]
    if usable.size == 0:
        return f"{name}: no usable samples (all missing or NaN)"
    if np.all(usable == usable[0]):
        return f"{name}: constant at {usable[0]:g}, nothing to detect"
    finite_times = series.timestamps[finite]
    span = max(int(min(end, finite_times[-1]) - finite_times[0]), 0)
    needed = shortest_history(rule, series.step)
    if span < needed:
        return (
            f"{name}: only {format_duration(span)} of data, and a first verdict needs at "
            f"least {format_duration(needed)} (a short baseline, then the change lasting)"
        )
    seasonal = rule.seasonality in (Seasonality.DAILY, Seasonality.WEEKLY)
    profile = seasonal_history(rule, series.step)
    if seasonal and span < profile:
        return (
            f"{name}: not enough history for its {rule.seasonality.value} seasonality: "
            f"{format_duration(span)} of data, and the seasonal profile needs "
            f"{format_duration(profile)} ({MIN_LAGS} earlier periods)"
        )
    return None


@dataclass
class _OpenFiring:
    start: int
    pending_since: int
    first: Finding
    latest: Finding
    peak_score: float

    def close(self, end: int | None) -> Firing:
        return Firing(
            start=self.start,
            end=end,
            pending_since=self.pending_since,
            first=self.first,
            latest=self.latest,
            peak_score=self.peak_score,
        )


def replay_rule(
    rule: Rule,
    *,
    group: str,
    interval: int,
    series: Sequence[Series],
    start: int,
    end: int,
    offset: int = 0,
) -> tuple[list[Signal], RuleOutcome]:
    """Replay one rule over ``(start, end]``; ``series`` must hold the history it needs.

    ``offset`` is the group's phase (:func:`group_offset`) so replay evaluates at the
    times the daemon did.
    """
    present = [s for s in series if len(s) > 0]
    times = evaluation_times(start, end, interval, offset)
    signals = alert_history(rule, group, times, rule_findings(rule, present, times))
    outcome = RuleOutcome(
        rule=rule.signal,
        group=group,
        kinds=tuple(rule.detect),
        series_count=len(present),
        evaluations=int(times.size),
        notes=tuple(note for s in series if (note := data_quality_note(rule, s, start, end))),
    )
    return signals, outcome


def alert_history(
    rule: Rule, group: str, times: IntArray, by_time: Mapping[int, Sequence[Finding]]
) -> list[Signal]:
    """Every alert's firing intervals when the rule's alert book meets ``by_time[i]``
    (the findings at ``times[i]``) at each evaluation time in turn."""
    book = AlertBook(rule)
    signals: dict[str, Signal] = {}
    open_firings: dict[str, _OpenFiring] = {}
    for index, raw_now in enumerate(times):
        found = by_time.get(index, ())
        if not found and not book.alerts:
            continue  # nothing to find and nothing to resolve: the book would not change
        now = int(raw_now)
        for transition in book.update(found, now):
            _record(transition, group, signals, open_firings)
        for key, alert in book.firing().items():
            current = open_firings[key]
            current.latest = alert.finding
            current.peak_score = max(current.peak_score, alert.finding.score)
    for key, still_open in open_firings.items():
        signals[key].firings.append(still_open.close(end=None))
    return sorted(signals.values(), key=lambda s: (s.rule, s.kind, s.series_fingerprint))


SERIES_BATCH = 64
"""Series replayed together: the monitor is vectorised over them, memory stays bounded."""


def rule_findings(
    rule: Rule, series: Sequence[Series], times: IntArray
) -> dict[int, list[Finding]]:
    """Findings of every series at each evaluation time (by index into ``times``).

    Series are fed to one :class:`RuleMonitor` per step, in batches on a common time grid;
    each evaluation judges each series by its latest sample at or before it, exactly as
    :func:`detector.evaluate.evaluate` does.
    """
    by_time: dict[int, list[Finding]] = {}
    by_step: dict[int, list[Series]] = {}
    for one in series:
        by_step.setdefault(one.step, []).append(one)
    for step, group in sorted(by_step.items()):
        monitor = RuleMonitor(rule, step)
        for first in range(0, len(group), SERIES_BATCH):
            batch = group[first : first + SERIES_BATCH]
            _batch_findings(monitor, batch, times, by_time)
    for found in by_time.values():
        found.sort(key=lambda f: (f.kind.value, fingerprint(f.labels)))
    return by_time


def _batch_findings(
    monitor: RuleMonitor,
    batch: Sequence[Series],
    times: IntArray,
    by_time: dict[int, list[Finding]],
) -> None:
    grid, matrix = common_grid(batch, monitor.step)
    rows = monitor.rows_for([s.fingerprint for s in batch], [s.labels for s in batch])
    score_from = int(times[0]) - stale_after(monitor) if times.size else None
    trace = batch_trace(monitor, rows, grid, matrix, score_from=score_from)
    for index, found in findings_by_time(monitor, trace, times).items():
        by_time.setdefault(index, []).extend(found)


def _record(
    transition: Transition,
    group: str,
    signals: dict[str, Signal],
    open_firings: dict[str, _OpenFiring],
) -> None:
    alert = transition.alert
    key = alert.fingerprint
    if key not in signals:
        signals[key] = Signal(
            rule=alert.labels["alertname"],
            group=group,
            labels=dict(alert.finding.labels),
            alert_labels=dict(alert.labels),
            kind=alert.kind,
            series_fingerprint=alert.series_fingerprint,
        )
    if transition.to is AlertState.FIRING:
        open_firings[key] = _OpenFiring(
            start=transition.at,
            pending_since=alert.active_since,
            first=alert.finding,
            latest=alert.finding,
            peak_score=alert.finding.score,
        )
    elif transition.previous is AlertState.FIRING and key in open_firings:
        signals[key].firings.append(open_firings.pop(key).close(end=transition.at))
