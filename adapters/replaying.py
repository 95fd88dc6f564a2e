"""Wire rules, sources and the pure replay engine together (used by replay and demo).

Each rule's data is fetched once for the whole replay window plus the history its first
evaluation needs; the engine then steps the simulated clock. A rule whose source fails
is reported with its error and the others go on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from adapters.errors import InputError, SourceUnavailable
from adapters.ledger import Ledger, SilenceRecord, SuppressedRecord
from adapters.sources.base import Source
from detector.alerts import AlertState
from detector.evaluate import required_history
from detector.replay import (
    Hold,
    Notice,
    Reaction,
    ReactionKind,
    ReplayResult,
    RuleOutcome,
    Signal,
    replay_rule,
)
from detector.rule import DEFAULT_STEP, Rule
from detector.series import Series, fingerprint
from detector.suppressions import Action, Suppression

log = structlog.get_logger("graysignal.replay")


_LEDGER_END = 2**62
"""Reactions are read from the ledger up to here: only their own times decide."""


@dataclass(frozen=True)
class ScheduledRule:
    """A rule with the group it belongs to and the group's evaluation interval."""

    rule: Rule
    group: str
    interval: int
    offset: int = 0


def fetch_history(
    entry: ScheduledRule, sources: Mapping[str, Source], start: int, end: int
) -> list[Series]:
    """The rule's series from ``start - history`` to ``end`` (inclusive)."""
    source = sources.get(entry.rule.source)
    if source is None:
        raise SourceUnavailable(f"unknown source '{entry.rule.source}'")
    step = entry.rule.step or DEFAULT_STEP
    return source.fetch(entry.rule, start - required_history(entry.rule, step), end)


RuleDone = Callable[[ScheduledRule, RuleOutcome], None]
"""Called after each rule with its outcome (a command's progress bar); must not raise."""

Fetched = Callable[[Rule, Sequence[Series]], None]
"""Called with each rule's fetched series (the digest judges their coverage)."""


class Replayer(Protocol):
    """How a command replays a rule set: :func:`replay_rules` in this process, or a
    fleet of Dask workers (:mod:`adapters.fleet`) with the very same result."""

    def __call__(
        self,
        rules: Sequence[ScheduledRule],
        sources: Mapping[str, Source],
        *,
        start: int,
        end: int,
        incident: int,
        on_rule_done: RuleDone | None = None,
        on_fetched: Fetched | None = None,
    ) -> ReplayResult: ...


def replay_rules(
    rules: Sequence[ScheduledRule],
    sources: Mapping[str, Source],
    *,
    start: int,
    end: int,
    incident: int,
    on_rule_done: RuleDone | None = None,
    on_fetched: Fetched | None = None,
) -> ReplayResult:
    """Replay every rule over ``(start, end]`` and collect one :class:`ReplayResult`.

    ``on_rule_done`` is called after each rule with its outcome (a command draws its
    progress bar with it); it must not raise. ``on_fetched`` is called with each rule's
    series once they are read (before the rule is replayed).
    """
    signals: list[Signal] = []
    outcomes: list[RuleOutcome] = []
    series_by_fingerprint: dict[str, Series] = {}
    for entry in rules:
        try:
            series = fetch_history(entry, sources, start, end)
        except (SourceUnavailable, InputError) as exc:
            failed = skipped(entry, str(exc))
            outcomes.append(failed)
            if on_rule_done is not None:
                on_rule_done(entry, failed)
            continue
        if on_fetched is not None:
            on_fetched(entry.rule, series)
        rule_signals, outcome = replay_rule(
            entry.rule,
            group=entry.group,
            interval=entry.interval,
            series=series,
            start=start,
            end=end,
            offset=entry.offset,
        )
        log.info(
            "rule replayed",
            rule=entry.rule.signal,
            series=outcome.series_count,
            evaluations=outcome.evaluations,
            firings=sum(len(s.firings) for s in rule_signals),
        )
        signals.extend(rule_signals)
        outcomes.append(outcome)
        for one in series:
            series_by_fingerprint[one.fingerprint] = one
        if on_rule_done is not None:
            on_rule_done(entry, outcome)
    return ReplayResult(
        start=start,
        end=end,
        incident=incident,
        signals=signals,
        outcomes=outcomes,
        series=series_by_fingerprint,
    )


def skipped(entry: ScheduledRule, error: str) -> RuleOutcome:
    """The outcome of a rule whose data could not be read (logged once, here): the
    other rules go on."""
    log.warning("rule skipped", rule=entry.rule.signal, error=error)
    return RuleOutcome(
        rule=entry.rule.signal,
        group=entry.group,
        kinds=tuple(entry.rule.detect),
        series_count=0,
        evaluations=0,
        error=error,
    )


def read_nothing(outcomes: Sequence[RuleOutcome]) -> bool:
    """Whether no rule read any data: each one's source failed or returned no series.

    A report of silence over no data would read like "nothing was wrong"; the commands
    exit 3 (``UNAVAILABLE``) instead.
    """
    return bool(outcomes) and all(o.error is not None or o.series_count == 0 for o in outcomes)


def attach_notices(
    result: ReplayResult,
    ledger: Ledger,
    tolerance: int,
    suppressions: Iterable[Suppression] = (),
) -> None:
    """Record, per replayed firing, who the daemon actually told at the time, how people
    reacted (acknowledged it or silenced it in Alertmanager), and which suppressions
    the daemon applied to it (replay applies none, so it replays held-back alerts too).

    A daemon firing counts for a replayed firing when it started within ``tolerance``
    seconds before it or at any time while it lasted (the daemon may have run with
    other data or a different ``for``); ``tolerance`` widens the firing's start the
    same way for reactions and suppressions. Only successful deliveries count: an
    attempt that failed told nobody.

    Reactions come from the ledger (ack episodes and Alertmanager silences seen by the
    daemon) and from the acks of the reviewed ``suppressions`` file, up to
    :meth:`ReplayResult.cutoff` (the incident for a firing before it): an ack counts
    when it was given from the firing's start on; a silence when it started by the
    cut-off and was still on the alert at or after the firing's start, so an alert
    that fires into an active silence is silenced. Suppression episodes (ack or
    expect) count as holds when they overlap the firing before the cut-off.
    """
    entries = list(suppressions)
    acks = [s for s in entries if s.action is Action.ACK]
    notices: dict[tuple[str, int], list[Notice]] = {}
    reactions: dict[tuple[str, int], list[Reaction]] = {}
    holds: dict[tuple[str, int], list[Hold]] = {}
    for signal in result.signals:
        alert = fingerprint(signal.alert_labels)
        if not signal.firings:
            continue
        # The alert's suppression episodes and silences, read once for all its firings.
        earliest = min(firing.start for firing in signal.firings) - tolerance
        episodes = ledger.suppressed_for(alert, start=earliest, end=_LEDGER_END)
        silences = ledger.silences_for(alert, start=earliest, end=_LEDGER_END)
        for firing in signal.firings:
            end = firing.end if firing.end is not None else result.end
            opened = firing.start - tolerance
            cutoff = result.cutoff(firing)
            key = (alert, firing.start)
            reactions[key] = _reactions(
                acks, episodes, silences, signal=signal, start=opened, cutoff=cutoff
            )
            holds[key] = _holds(episodes, entries, start=opened, end=min(end, cutoff))
            told: list[Notice] = []
            for record in ledger.transitions_for(alert, start=opened, end=end):
                if record.to is not AlertState.FIRING:
                    continue
                told.extend(
                    Notice(notifier=d.notifier, at=d.at)
                    for d in ledger.deliveries_for(record.id)
                    if d.ok
                )
            notices[key] = told
    result.notices = notices
    result.reactions = reactions
    result.holds = holds


def _reactions(
    acks: Sequence[Suppression],
    episodes: Sequence[SuppressedRecord],
    silences: Sequence[SilenceRecord],
    *,
    signal: Signal,
    start: int,
    cutoff: int,
) -> list[Reaction]:
    """Acknowledgements and silences of one alert for a firing that started at
    ``start``, up to ``cutoff``, once each (see :func:`attach_notices`). The daemon may
    record a reaction a little after it was given (its next reload or silence poll), so
    the ledger is read past the window (a silence set before replay's ``--at`` may be
    polled only after it): the reaction's own time decides."""
    found: dict[tuple[ReactionKind, str | None, int, str], Reaction] = {}
    for ack in acks:
        if (
            ack.kind is signal.kind
            and ack.matches_series(signal.rule, signal.labels)
            and start <= ack.since <= cutoff
        ):
            reaction = Reaction(
                ReactionKind.ACKNOWLEDGED, ack.by, ack.since, ack.reason, ack.until, ack.where
            )
            found.setdefault((reaction.kind, reaction.by, reaction.at, reaction.reason), reaction)
    for episode in episodes:
        if episode.last_seen < start:
            continue
        if episode.action != Action.ACK.value or not start <= episode.since <= cutoff:
            continue
        reaction = Reaction(
            ReactionKind.ACKNOWLEDGED,
            episode.by,
            episode.since,
            episode.reason,
            episode.until,
            episode.entry,
        )
        found.setdefault((reaction.kind, reaction.by, reaction.at, reaction.reason), reaction)
    for silence in silences:
        if silence.starts_at > cutoff or silence.last_seen < start:
            continue
        reaction = Reaction(
            ReactionKind.SILENCED,
            silence.created_by or None,
            silence.first_seen,
            silence.comment,
            silence.ends_at,
            silence.alertmanager,
        )
        found.setdefault((reaction.kind, reaction.by, reaction.at, reaction.reason), reaction)
    return sorted(found.values(), key=lambda r: (r.at, r.kind.value))


def _holds(
    episodes: Sequence[SuppressedRecord],
    entries: Sequence[Suppression],
    *,
    start: int,
    end: int,
) -> list[Hold]:
    """Suppression episodes of one alert overlapping ``[start, end]``: the daemon held
    the alert back then. The ledger does not keep an entry's ``change``; it is taken
    from the reviewed file when the same entry is still there."""
    if end < start:
        return []
    found: list[Hold] = []
    for episode in episodes:
        if episode.first_seen > end or episode.last_seen < start:  # no overlap
            continue
        entry = next(
            (
                s
                for s in entries
                if s.action.value == episode.action
                and s.rule == episode.rule
                and s.since == episode.since
                and s.reason == episode.reason
            ),
            None,
        )
        found.append(
            Hold(
                action=episode.action,
                by=episode.by,
                since=episode.since,
                reason=episode.reason,
                start=episode.first_seen,
                end=episode.last_seen,
                until=episode.until,
                change=None if entry is None else entry.change,
                where=episode.entry,
            )
        )
    return sorted(found, key=lambda h: (h.start, h.since, h.action))
