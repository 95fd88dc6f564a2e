"""Backtests: would today's rules have caught yesterday's incidents, and how early?

Each incident is replayed with the current rules over ``(impact.start - lookback,
impact.start + after]`` through the ordinary replay engine
(:func:`adapters.replaying.replay_rules`), so a backtest says exactly what a daemon
running these rules would have done then. Only the series of the affected services
take part: each source is wrapped in an :class:`IncidentScope` that keeps the series
whose own labels, or whose alert labels (series labels plus the rule's ``labels``),
match the incident's ``services``. Series are evaluated independently, so dropping the
others changes nothing for the ones kept, and a rule over a thousand instances costs
one instance's worth of replay.

Per incident the verdict is, in this order of precedence:

- ``early``: a signal on an affected service fired before impact started;
- ``late``: signals fired, but only at or after the start of impact;
- ``missed``: rules watched the affected services (returned their series) and stayed silent;
- ``error``: no rule could be seen watching, and some rules failed to replay (a source
  was down): it is unknown whether they would have caught it;
- ``unwatched``: no rule has a series of the affected services at all.

False alarms are measured on quiet weeks: week-long windows (Monday 00:00 UTC to Monday)
from a quarter before the library's first replay window to a quarter after its last
that overlap no incident's ``(impact.start - lookback, impact.end + after]``, taken in a
fixed pseudo-random order (a hash of the week's start, so adding an incident elsewhere
does not reshuffle the rest), skipping weeks where no rule has data. Every firing of
every rule on every series in them counts: nothing was wrong, so each one was an alarm
that someone would have had to look at.
"""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
import structlog

from adapters.backtest import DEFAULT_QUIET_WEEKS
from adapters.backtest.story import Story
from adapters.ledger import Ledger
from adapters.replaying import Replayer, ScheduledRule, attach_notices, replay_rules
from adapters.sources.base import Source
from adapters.timeparse import format_rfc3339
from detector.incident import Incident, IncidentCategory
from detector.replay import Firing, ReplayResult, RuleOutcome, Signal
from detector.rule import Rule
from detector.series import Series
from detector.suppressions import Suppression

__all__ = [
    "DEFAULT_AFTER",
    "DEFAULT_LOOKBACK",
    "DEFAULT_QUIET_WEEKS",
    "WEEK",
    "Backtest",
    "BacktestSettings",
    "CategoryTrends",
    "IncidentResult",
    "IncidentScope",
    "QuietPeriods",
    "QuietWeek",
    "SignalTiming",
    "TrendCell",
    "Verdict",
    "category_trends",
    "classify",
    "measure_quiet_weeks",
    "quiet_week_candidates",
    "replay_incident",
    "run_backtest",
    "series_alert_labels",
]

log = structlog.get_logger("graysignal.backtest")

DAY = 86400
WEEK = 7 * DAY
DEFAULT_LOOKBACK = 14 * DAY
DEFAULT_AFTER = 6 * 3600
QUIET_MARGIN = 13 * WEEK
"""Quiet weeks are drawn from a quarter before the library's first window to a quarter
after its last: near enough for the same systems to be monitored the same way."""
_MONDAY = 4 * DAY  # the Unix epoch was a Thursday; weeks start on Monday 00:00 UTC


class Verdict(StrEnum):
    EARLY = "early"
    LATE = "late"
    MISSED = "missed"
    ERROR = "error"
    UNWATCHED = "unwatched"


def series_alert_labels(rule: Rule, labels: Mapping[str, str]) -> dict[str, str]:
    """The labels an alert on this series would carry, as :func:`detector.alerts.alert_labels`
    builds them (series labels without ``__name__``, then the rule's labels and
    ``alertname``), minus ``graysignal_kind``, which depends on the finding."""
    out = {k: v for k, v in labels.items() if k != "__name__"}
    out.update(rule.labels)
    out["alertname"] = rule.signal
    return out


class IncidentScope:
    """A source that returns only the series an incident affects (see the module doc)."""

    def __init__(self, inner: Source, incident: Incident) -> None:
        self.inner = inner
        self.incident = incident

    def fetch(self, rule: Rule, start: int, end: int) -> list[Series]:
        return [
            s
            for s in self.inner.fetch(rule, start, end)
            if self.incident.affects(s.labels, series_alert_labels(rule, s.labels))
        ]


@dataclass(frozen=True)
class BacktestSettings:
    lookback: int = DEFAULT_LOOKBACK
    after: int = DEFAULT_AFTER
    quiet_weeks: int = DEFAULT_QUIET_WEEKS

    def window(self, incident: Incident) -> tuple[int, int]:
        """The replay window ``(start, end]`` of one incident."""
        return incident.impact.start - self.lookback, incident.impact.start + self.after


@dataclass(frozen=True)
class SignalTiming:
    """A signal and the firing that decides its timing: the first one before impact for
    an early signal, the first one at all for a late one. ``lead`` is impact start minus
    the firing's start (positive: before impact)."""

    signal: Signal
    firing: Firing
    lead: int


@dataclass
class IncidentResult:
    """What the current rules did around one incident."""

    incident: Incident
    result: ReplayResult
    early: list[SignalTiming]
    late: list[SignalTiming]
    silent: list[RuleOutcome]
    errors: list[RuleOutcome]
    unwatched: list[RuleOutcome]
    path: Path | None = None
    story: Story | None = None

    @property
    def verdict(self) -> Verdict:
        if self.early:
            return Verdict.EARLY
        if self.late:
            return Verdict.LATE
        if self.silent:
            return Verdict.MISSED
        if self.errors:
            return Verdict.ERROR
        return Verdict.UNWATCHED

    @property
    def caught(self) -> bool:
        """Caught means an early signal: a warning after users noticed is no catch."""
        return bool(self.early)

    @property
    def earliest(self) -> SignalTiming | None:
        return self.early[0] if self.early else None

    @property
    def earliest_lead(self) -> int | None:
        return None if not self.early else self.early[0].lead

    @property
    def ahead_of_humans(self) -> int | None:
        """Seconds between the earliest warning and human detection (positive: earlier)."""
        if not self.early:
            return None
        return self.incident.detected.at - self.early[0].firing.start


def classify(
    incident: Incident, result: ReplayResult
) -> tuple[
    list[SignalTiming], list[SignalTiming], list[RuleOutcome], list[RuleOutcome], list[RuleOutcome]
]:
    """Split a replay around an incident into early and late signals, and silent,
    failed and unwatching rules, in the order of :class:`IncidentResult`'s fields (so
    ``IncidentResult(incident, result, *classify(incident, result))`` works).

    ``result`` is expected to be scoped to the incident (:class:`IncidentScope`): a rule
    with series in it watched the affected services. Signals are checked against the
    incident's matchers again, so an unscoped result cannot smuggle in a firing on an
    unrelated series. Early and late signals are ordered by the deciding firing.
    """
    impact = incident.impact.start
    early: list[SignalTiming] = []
    late: list[SignalTiming] = []
    fired: set[tuple[str, str]] = set()
    for signal in result.signals:
        if not signal.firings or not incident.affects(signal.labels, signal.alert_labels):
            continue
        fired.add((signal.group, signal.rule))
        firings = sorted(signal.firings, key=lambda f: f.start)
        before = [f for f in firings if f.start < impact]
        if before:
            early.append(SignalTiming(signal, before[0], impact - before[0].start))
        else:
            late.append(SignalTiming(signal, firings[0], impact - firings[0].start))
    silent, errors, unwatched = [], [], []
    for outcome in result.outcomes:
        if outcome.error is not None:
            errors.append(outcome)
        elif (outcome.group, outcome.rule) in fired:
            continue
        elif outcome.series_count > 0:
            silent.append(outcome)
        else:
            unwatched.append(outcome)
    return (
        sorted(early, key=_timing_order),
        sorted(late, key=_timing_order),
        silent,
        errors,
        unwatched,
    )


def _timing_order(timing: SignalTiming) -> tuple[int, str, str, str]:
    s = timing.signal
    return timing.firing.start, s.rule, s.kind.value, s.series_fingerprint


def replay_incident(
    incident: Incident,
    plan: Sequence[ScheduledRule],
    sources: Mapping[str, Source],
    settings: BacktestSettings,
    replay: Replayer = replay_rules,
) -> ReplayResult:
    """The rules replayed over the incident's window on its affected series only
    (``replay``: in this process, or on a fleet, :mod:`adapters.fleet`)."""
    start, end = settings.window(incident)
    scoped: dict[str, Source] = {
        name: IncidentScope(source, incident) for name, source in sources.items()
    }
    return replay(plan, scoped, start=start, end=end, incident=incident.impact.start)


# --- quiet weeks -----------------------------------------------------------------------


@dataclass(frozen=True)
class QuietWeek:
    """One quiet week replayed: how many firings, from which rules."""

    start: int
    end: int
    firings: int
    rules_with_data: int
    by_rule: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class QuietPeriods:
    """The false-alarm measurement: ``weeks`` replayed out of ``requested``."""

    requested: int
    weeks: tuple[QuietWeek, ...] = ()
    candidates: int = 0

    @property
    def firings(self) -> int:
        return sum(w.firings for w in self.weeks)

    @property
    def per_week(self) -> float | None:
        return None if not self.weeks else self.firings / len(self.weeks)

    def by_rule(self) -> list[tuple[str, int]]:
        """Firings per rule over all quiet weeks, noisiest first."""
        totals: dict[str, int] = {}
        for week in self.weeks:
            for rule, count in week.by_rule:
                totals[rule] = totals.get(rule, 0) + count
        return sorted(totals.items(), key=lambda item: (-item[1], item[0]))


def quiet_week_candidates(incidents: Sequence[Incident], settings: BacktestSettings) -> list[int]:
    """Starts of the eligible quiet weeks, in their fixed pseudo-random order."""
    if not incidents:
        return []
    busy = [
        (i.impact.start - settings.lookback, max(i.impact.end, i.impact.start) + settings.after)
        for i in incidents
    ]
    low = min(b[0] for b in busy) - QUIET_MARGIN
    high = max(b[1] for b in busy) + QUIET_MARGIN
    first = -(-(low - _MONDAY) // WEEK) * WEEK + _MONDAY
    starts = [
        s
        for s in range(first, high - WEEK + 1, WEEK)
        if all(s + WEEK <= lo or s >= hi for lo, hi in busy)
    ]
    return sorted(starts, key=lambda s: hashlib.sha256(str(s).encode()).digest())


def measure_quiet_weeks(
    incidents: Sequence[Incident],
    plan: Sequence[ScheduledRule],
    sources: Mapping[str, Source],
    settings: BacktestSettings,
    *,
    on_replayed: Callable[[str], None] | None = None,
    replay: Replayer = replay_rules,
) -> QuietPeriods:
    """Replay every rule over up to ``settings.quiet_weeks`` quiet weeks with data
    (``on_replayed`` and ``replay`` as in :func:`run_backtest`, after each week that
    counts)."""
    candidates = quiet_week_candidates(incidents, settings)
    weeks: list[QuietWeek] = []
    for start in candidates:
        if len(weeks) >= settings.quiet_weeks:
            break
        end = start + WEEK
        result = replay(plan, sources, start=start, end=end, incident=end)
        if not _has_data(result, start, end):
            continue
        by_rule: dict[str, int] = {}
        for signal in result.signals:
            if signal.firings:
                by_rule[signal.rule] = by_rule.get(signal.rule, 0) + len(signal.firings)
        weeks.append(
            QuietWeek(
                start=start,
                end=end,
                firings=sum(by_rule.values()),
                rules_with_data=sum(1 for o in result.outcomes if o.series_count > 0),
                by_rule=tuple(sorted(by_rule.items())),
            )
        )
        if on_replayed is not None:
            on_replayed(f"quiet week of {format_rfc3339(start)[:10]}")
    return QuietPeriods(
        requested=settings.quiet_weeks, weeks=tuple(weeks), candidates=len(candidates)
    )


def _has_data(result: ReplayResult, start: int, end: int) -> bool:
    """Whether any series has a real sample inside the week (not just in its history)."""
    for series in result.series.values():
        inside = series.between(start, end)
        if len(inside) and bool(np.isfinite(inside.values).any()):
            return True
    return False


# --- the whole library -----------------------------------------------------------------


@dataclass(frozen=True)
class TrendCell:
    incidents: int = 0
    early: int = 0

    def plus(self, caught: bool) -> TrendCell:
        return TrendCell(self.incidents + 1, self.early + int(caught))

    @property
    def coverage(self) -> float | None:
        return None if self.incidents == 0 else self.early / self.incidents


@dataclass(frozen=True)
class CategoryTrends:
    """Incidents and early-signal coverage per root-cause category and calendar quarter."""

    quarters: tuple[str, ...]
    rows: tuple[tuple[IncidentCategory, Mapping[str, TrendCell], TrendCell], ...]
    per_quarter: Mapping[str, TrendCell]
    total: TrendCell


def category_trends(results: Sequence[IncidentResult]) -> CategoryTrends:
    """Count incidents and early signals by category (in the schema's order) and quarter."""
    quarters = sorted({r.incident.quarter for r in results})
    cells: dict[IncidentCategory, dict[str, TrendCell]] = {}
    per_quarter: dict[str, TrendCell] = {}
    total = TrendCell()
    for r in results:
        row = cells.setdefault(r.incident.category, {})
        quarter = r.incident.quarter
        row[quarter] = row.get(quarter, TrendCell()).plus(r.caught)
        per_quarter[quarter] = per_quarter.get(quarter, TrendCell()).plus(r.caught)
        total = total.plus(r.caught)
    rows = []
    for category in IncidentCategory:
        if category in cells:
            row_total = TrendCell(
                sum(c.incidents for c in cells[category].values()),
                sum(c.early for c in cells[category].values()),
            )
            rows.append((category, cells[category], row_total))
    return CategoryTrends(tuple(quarters), tuple(rows), per_quarter, total)


@dataclass
class Backtest:
    """A backtest of the whole library."""

    settings: BacktestSettings
    rules: int
    incidents: list[IncidentResult]
    quiet: QuietPeriods = field(default_factory=lambda: QuietPeriods(requested=0))

    def count(self, verdict: Verdict) -> int:
        return sum(1 for r in self.incidents if r.verdict is verdict)

    @property
    def early_share(self) -> float | None:
        return None if not self.incidents else self.count(Verdict.EARLY) / len(self.incidents)

    @property
    def median_lead(self) -> int | None:
        leads = [r.earliest_lead for r in self.incidents if r.earliest_lead is not None]
        return None if not leads else int(statistics.median(leads))

    @property
    def median_ahead_of_humans(self) -> int | None:
        ahead = [r.ahead_of_humans for r in self.incidents if r.ahead_of_humans is not None]
        return None if not ahead else int(statistics.median(ahead))


StoryBuilder = Callable[[Incident, ReplayResult], Story]


def run_backtest(
    incidents: Sequence[tuple[Path | None, Incident]],
    plan: Sequence[ScheduledRule],
    sources: Mapping[str, Source],
    settings: BacktestSettings,
    *,
    ledger: Ledger | None = None,
    story: StoryBuilder | None = None,
    suppressions: Sequence[Suppression] = (),
    on_replayed: Callable[[str], None] | None = None,
    replay: Replayer = replay_rules,
) -> Backtest:
    """Backtest every incident, then measure the quiet weeks.

    ``ledger``: say for each firing whether the daemon delivered it at the time, and
    how people reacted (with the acks of ``suppressions``, the reviewed file).
    ``story``: builds each incident's story (see :mod:`adapters.backtest.story`).
    ``on_replayed`` is called after each replay (an incident, a quiet week) with what
    was replayed, e.g. ``incident 2014-02-plant`` (a command's progress bar).
    ``replay`` replays each window: in this process, or on a fleet (:mod:`adapters.fleet`).
    """
    results: list[IncidentResult] = []
    tolerance = max((e.interval for e in plan), default=60)
    for path, incident in incidents:
        replayed = replay_incident(incident, plan, sources, settings, replay)
        if ledger is not None:
            attach_notices(replayed, ledger, tolerance=tolerance, suppressions=suppressions)
        early, late, silent, errors, unwatched = classify(incident, replayed)
        outcome = IncidentResult(
            incident=incident,
            result=replayed,
            early=early,
            late=late,
            silent=silent,
            errors=errors,
            unwatched=unwatched,
            path=path,
        )
        if story is not None:
            outcome.story = story(incident, replayed)
        log.info("incident backtested", incident=incident.id, verdict=outcome.verdict.value)
        results.append(outcome)
        if on_replayed is not None:
            on_replayed(f"incident {incident.id}")
    quiet = (
        measure_quiet_weeks(
            [i for _, i in incidents],
            plan,
            sources,
            settings,
            on_replayed=on_replayed,
            replay=replay,
        )
        if settings.quiet_weeks > 0
        else QuietPeriods(requested=0)
    )
    return Backtest(settings=settings, rules=len(plan), incidents=results, quiet=quiet)
