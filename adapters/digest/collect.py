"""Gather a period's digest: evaluate every rule over it (and the weeks before), add what
a daemon recorded, and hand it all to the pure builder (:func:`detector.digest.build_digest`).

The evaluation is the replay engine (:func:`adapters.replaying.replay_rules`), so the
digest works without a running daemon and sees exactly what a daemon would have seen,
causally. One replay covers ``history_weeks`` periods before the digest's period too: that
is how "still drifting for 3 weeks" is known when no earlier digest is in the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from adapters.ledger import Ledger
from adapters.replaying import Replayer, ScheduledRule, replay_rules
from adapters.sources.base import Source
from detector.alerts import AlertState
from detector.digest import DEFAULT_GROUP_LABELS, Digest, Interval, RecordedFiring, build_digest
from detector.periods import Period
from detector.replay import RuleOutcome
from detector.rule import Rule
from detector.series import Series
from detector.suppressions import Suppression

__all__ = ["DigestOptions", "collect_digest", "recorded_firings"]

LEDGER_LOOKBACK_PERIODS = 8  # a firing that began this many periods back still shows


@dataclass(frozen=True)
class DigestOptions:
    """How the digest reads: grouping labels, links, history, suppressions."""

    history_weeks: int = 4
    group_labels: tuple[str, ...] = DEFAULT_GROUP_LABELS
    link_template: str | None = None
    suppressions: Sequence[Suppression] = field(default_factory=tuple)
    scope: str = ""  # named in the title when the rules are a part (a daemon's shard)


def collect_digest(
    plan: Sequence[ScheduledRule],
    sources: Mapping[str, Source],
    period: Period,
    *,
    options: DigestOptions,
    ledger: Ledger | None = None,
    on_rule_done: Callable[[ScheduledRule, RuleOutcome], None] | None = None,
    replay: Replayer = replay_rules,
) -> Digest:
    """Evaluate ``plan`` over ``period`` and its history; read ``ledger`` when given.
    ``on_rule_done`` is passed to ``replay`` (progress); ``replay`` is this process's
    :func:`~adapters.replaying.replay_rules` or a fleet's (:mod:`adapters.fleet`)."""
    length = period.end - period.start
    start = period.start - options.history_weeks * length
    fetched: dict[str, dict[str, Series]] = {}

    def remember(rule: Rule, series: Sequence[Series]) -> None:
        # the digest judges every series' coverage of the period, also those that never fired
        known = fetched.setdefault(rule.signal, {})
        known.update((one.fingerprint, one) for one in series if len(one) > 0)

    result = replay(
        plan,
        sources,
        start=start,
        end=period.end,
        incident=period.end,
        on_rule_done=on_rule_done,
        on_fetched=remember,
    )
    recorded: list[RecordedFiring] = []
    previous = None
    if ledger is not None:
        recorded = recorded_firings(ledger, start, period.end)
        previous = ledger.previous_digest_summary(period.previous().label)
    digest = build_digest(
        result,
        period,
        suppressions=options.suppressions,
        recorded=recorded,
        previous_summary=previous,
        history_weeks=options.history_weeks,
        group_labels=options.group_labels,
        queries={entry.rule.signal: entry.rule.query or entry.rule.path or "" for entry in plan},
        link_template=options.link_template,
        rule_series={rule: list(series.values()) for rule, series in fetched.items()},
    )
    return replace(digest, scope=options.scope)


def recorded_firings(ledger: Ledger, start: int, end: int) -> list[RecordedFiring]:
    """Firing intervals the daemon recorded that touch ``(start, end]``.

    Transitions are read from well before ``start`` so an alert that began firing
    earlier and is still firing is seen with its real start. ``told`` is whether a
    notifier accepted the firing (a failed delivery told nobody).
    """
    lookback = start - LEDGER_LOOKBACK_PERIODS * max(end - start, 1)
    open_firings: dict[str, tuple[int, RecordedFiring]] = {}
    found: list[RecordedFiring] = []
    for record in ledger.transitions_between(lookback, end):
        if record.to is AlertState.FIRING:
            open_firings[record.alert_fingerprint] = (
                record.at,
                RecordedFiring(
                    rule=record.rule,
                    group=record.group,
                    alert_labels=record.labels,
                    kind=record.kind,
                    interval=Interval(
                        start=record.at,
                        end=None,
                        first=record.finding,
                        latest=record.finding,
                        peak_score=record.finding.score,
                    ),
                    told=any(d.ok for d in ledger.deliveries_for(record.id)),
                ),
            )
        elif record.previous is AlertState.FIRING and record.alert_fingerprint in open_firings:
            began, firing = open_firings.pop(record.alert_fingerprint)
            if record.at > start:
                found.append(_closed(firing, began, record.at, record.finding.score))
    found.extend(firing for _, firing in open_firings.values())
    return found


def _closed(firing: RecordedFiring, began: int, at: int, score: float) -> RecordedFiring:
    interval = firing.interval
    return RecordedFiring(
        rule=firing.rule,
        group=firing.group,
        alert_labels=firing.alert_labels,
        kind=firing.kind,
        interval=Interval(
            start=began,
            end=at,
            first=interval.first,
            latest=interval.latest,
            peak_score=max(interval.peak_score, score),
        ),
        told=firing.told,
    )
