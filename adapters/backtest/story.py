"""The story of one incident: from the first gray signal to user impact.

A table of firings answers "did we know?"; a post-mortem also wants "what happened,
in what order?". The story puts the signals of one incident on one timeline ordered by
time (each signal's estimated onset and its first firing), with the change events
(deploys, config pushes) and the moments users were hit and humans noticed. It says
which series moved first, gives lead-lag hints between the series that moved
(:mod:`adapters.backtest.leadlag`, printed with their caveat), and, when a daemon's
ledger was read, whether each firing was actually delivered at the time.

Change events come from the incident file's ``changes`` and, optionally, from a
Prometheus query such as ``changes(kube_deployment_status_observed_generation[5m])``
evaluated through the prometheus source: each run of non-zero samples of a returned
series is one change, at the run's first sample.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from adapters.backtest.leadlag import CAVEAT, LeadLag, lead_lag
from adapters.reports import feedback_text, human_duration, series_name
from adapters.sources.base import Source
from detector.explain import describe_series, number
from detector.incident import Incident
from detector.replay import Firing, ReplayResult, Signal
from detector.rule import Rule

__all__ = [
    "CAVEAT",
    "ChangeMark",
    "EventKind",
    "Hint",
    "Mover",
    "Story",
    "StoryEvent",
    "build_story",
    "changes_from_query",
]

MAX_SERIES = 6
"""Series compared pairwise at most (15 pairs): the earliest movers matter most."""

MAX_LAG = 24 * 3600
"""Longest lead looked for: beyond a day, "A moved first" stops being a useful hint."""

CHANGES_STEP = 60

ONSET_TIE = 6 * 3600
"""Onsets closer than this are not ordered by themselves: an onset is an estimate, and a
trend's can be hours off. The lead-lag hints may still tell such movers apart."""


class EventKind(StrEnum):
    CHANGE = "change"
    ONSET = "onset"
    FIRING = "firing"
    IMPACT = "impact"
    DETECTED = "detected"


_KIND_ORDER = {kind: i for i, kind in enumerate(EventKind)}


@dataclass(frozen=True)
class StoryEvent:
    """One moment of the story; ``told`` is set for firings when a ledger was read."""

    at: int
    kind: EventKind
    text: str
    rule: str | None = None
    series: str | None = None
    told: str | None = None


@dataclass(frozen=True)
class Mover:
    """A series that moved, with its earliest estimated onset and first firing."""

    series: str
    fingerprint: str
    rule: str
    kind: str
    onset: int
    first_firing: int


@dataclass(frozen=True)
class Hint:
    """A lead-lag hint between two movers; ``leader`` is ``None`` when there is no
    clear leader (too little data, no strong correlation, or moving together)."""

    a: str
    b: str
    text: str
    leader: str | None = None
    follower: str | None = None
    result: LeadLag | None = None


@dataclass(frozen=True)
class ChangeMark:
    """A change event and where it came from (``incident file`` or ``query``)."""

    at: int
    what: str
    origin: str


@dataclass(frozen=True)
class Story:
    """``first_mover`` is ``None`` when nothing moved or when the earliest movers cannot
    be ordered; ``first_mover_text`` says which, in words."""

    events: tuple[StoryEvent, ...]
    movers: tuple[Mover, ...]
    hints: tuple[Hint, ...]
    changes: tuple[ChangeMark, ...]
    first_mover: Mover | None = None
    first_mover_text: str = ""
    changes_error: str | None = None
    caveat: str = CAVEAT


def _first_firing(signal: Signal) -> Firing:
    return min(signal.firings, key=lambda f: (f.start, f.onset))


def build_story(
    result: ReplayResult,
    incident: Incident | None = None,
    *,
    changes: Sequence[ChangeMark] = (),
    changes_error: str | None = None,
) -> Story:
    """The story of ``result``: of the incident's signals when ``incident`` is given
    (and its impact, detection and ``changes``), of every signal otherwise.

    Lead-lag hints use the data before the incident (``(result.start, incident]``): the
    question is what moved first on the way to it, not how things fell over after.
    """
    signals = [
        s
        for s in result.signals
        if s.firings and (incident is None or incident.affects(s.labels, s.alert_labels))
    ]
    marks = list(changes)
    if incident is not None:
        marks += [ChangeMark(c.at, c.what, "incident file") for c in incident.changes]
    marks.sort(key=lambda m: (m.at, m.what))
    events = [StoryEvent(m.at, EventKind.CHANGE, f"{m.what} ({m.origin})") for m in marks]
    for signal in signals:
        first = _first_firing(signal)
        name = series_name(signal)
        events.append(
            StoryEvent(
                first.onset,
                EventKind.ONSET,
                f"{name} began to change ({signal.kind.value}, onset estimated by {signal.rule})",
                rule=signal.rule,
                series=name,
            )
        )
        events.append(
            StoryEvent(
                first.start,
                EventKind.FIRING,
                f"{signal.rule} fired: {first.first.explanation}",
                rule=signal.rule,
                series=name,
                told=feedback_text(result, signal, first),
            )
        )
    if incident is not None:
        events.append(
            StoryEvent(incident.impact.start, EventKind.IMPACT, f"users affected: {incident.title}")
        )
        detected = incident.detected
        events.append(
            StoryEvent(
                detected.at,
                EventKind.DETECTED,
                f"humans detected it ({detected.how.value.replace('_', ' ')}), "
                f"{_relative(detected.at - incident.impact.start)} impact started",
            )
        )
    else:
        events.append(StoryEvent(result.incident, EventKind.IMPACT, "the incident"))
    events.sort(key=lambda e: (e.at, _KIND_ORDER[e.kind], e.rule or "", e.series or ""))
    movers = _movers(signals)
    end = incident.impact.start if incident is not None else result.incident
    hints = _hints(result, movers, result.start, end)
    leader, text = first_mover(movers, hints)
    return Story(
        events=tuple(events),
        movers=movers,
        hints=hints,
        changes=tuple(marks),
        first_mover=leader,
        first_mover_text=text,
        changes_error=changes_error,
    )


def first_mover(movers: Sequence[Mover], hints: Sequence[Hint]) -> tuple[Mover | None, str]:
    """Which series moved first, and the sentence that says so.

    By estimated onset, unless other movers began within :data:`ONSET_TIE` of the
    earliest: then a significant lead-lag hint that puts one of them ahead of all the
    others decides, and without one the story says they are too close to order.
    """
    if not movers:
        return None, "No series of the affected services moved."
    earliest = movers[0]
    if len(movers) == 1:
        return earliest, f"{earliest.series} moved first (the only affected series that moved)."
    close = [m for m in movers if m.onset - earliest.onset < ONSET_TIE]
    later = movers[len(close) :]
    then = ""
    if later:
        then = "; then " + ", ".join(
            f"{m.series} ({human_duration(m.onset - earliest.onset)} later)" for m in later
        )
    if len(close) == 1:
        return earliest, f"{earliest.series} moved first{then}."
    names = {m.series for m in close}
    among = [h for h in hints if h.leader is not None and h.a in names and h.b in names]
    leading = {h.leader for h in among}
    following = {h.follower for h in among}
    spread = human_duration(close[-1].onset - earliest.onset)
    leaders = [m for m in close if m.series in leading and m.series not in following]
    if len(leaders) == 1:
        leader = leaders[0]
        return leader, (
            f"{leader.series} moved first by the lead-lag hint: the onsets of "
            f"{', '.join(m.series for m in close)} are within {spread} of each other, too "
            f"close for onset estimates to order{then}."
        )
    return None, (
        f"{', '.join(m.series for m in close)} began to change within {spread} of each "
        f"other: too close for onset estimates to say which moved first{then}."
    )


def _relative(seconds: int) -> str:
    if seconds > 0:
        return f"{human_duration(seconds)} after"
    if seconds < 0:
        return f"{human_duration(-seconds)} before"
    return "as"


def _movers(signals: Sequence[Signal]) -> tuple[Mover, ...]:
    """One mover per series (its earliest onset over all its signals), by onset."""
    best: dict[str, Mover] = {}
    for signal in signals:
        first = _first_firing(signal)
        mover = Mover(
            series=series_name(signal),
            fingerprint=signal.series_fingerprint,
            rule=signal.rule,
            kind=signal.kind.value,
            onset=first.onset,
            first_firing=first.start,
        )
        current = best.get(signal.series_fingerprint)
        if current is None or (mover.onset, mover.first_firing) < (
            current.onset,
            current.first_firing,
        ):
            best[signal.series_fingerprint] = mover
    return tuple(sorted(best.values(), key=lambda m: (m.onset, m.first_firing, m.series)))


def _hints(result: ReplayResult, movers: Sequence[Mover], start: int, end: int) -> tuple[Hint, ...]:
    compared = [m for m in movers if m.fingerprint in result.series][:MAX_SERIES]
    max_lag = min(MAX_LAG, max(0, (end - start) // 4))
    hints = []
    for first, second in itertools.combinations(compared, 2):
        found = lead_lag(
            result.series[first.fingerprint], result.series[second.fingerprint], start, end, max_lag
        )
        hints.append(_hint(first.series, second.series, found))
    return tuple(hints)


def _hint(a: str, b: str, found: LeadLag | None) -> Hint:
    if found is None:
        return Hint(a, b, f"{a} and {b}: too little common data before the incident to compare")
    r = f"correlation {found.correlation:.2f}"
    if not found.significant:
        return Hint(
            a,
            b,
            f"{a} and {b}: no clear lead-lag (strongest {r} of their moves, below "
            f"{found.threshold:.2f})",
            result=found,
        )
    if found.lag == 0:
        return Hint(
            a,
            b,
            f"{a} and {b} moved together ({r} at the same {human_duration(found.step)} step)",
            result=found,
        )
    leader, follower = (a, b) if found.lag > 0 else (b, a)
    forward, backward = (
        (found.granger_a_to_b, found.granger_b_to_a)
        if found.lag > 0
        else (found.granger_b_to_a, found.granger_a_to_b)
    )
    granger = ""
    if forward is not None and backward is not None:
        granger = f"; Granger p {_p(forward)} for {leader} → {follower}, p {_p(backward)} reverse"
    text = (
        f"{leader} moved first: its moves were followed by those of {follower} about "
        f"{human_duration(abs(found.lag))} later ({r}{granger})"
    )
    return Hint(a, b, text, leader=leader, follower=follower, result=found)


def _p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"= {number(value)}"


def changes_from_query(
    source: Source, query: str, start: int, end: int, step: int = CHANGES_STEP
) -> list[ChangeMark]:
    """Change events from a PromQL query: each run of non-zero samples of a returned
    series is one change at the run's first sample (``changes(x[5m])`` stays non-zero for
    five minutes after each change). Raises what the source raises."""
    rule = Rule.model_validate(
        {"signal": "ChangeEvents", "source": "prometheus", "query": query, "step": step}
    )
    marks = []
    for series in source.fetch(rule, start, end):
        values = series.values
        active = np.isfinite(values) & (values != 0)
        starts = np.flatnonzero(active & ~np.concatenate([[False], active[:-1]]))
        name = describe_series(series.labels)
        marks += [
            ChangeMark(int(series.timestamps[i]), f"change in {name}", "query")
            for i in starts.tolist()
        ]
    return sorted(marks, key=lambda m: (m.at, m.what))
