"""Put a fleet's task results back together as one :class:`ReplayResult`.

Results are merged by their key (rule, share), never in the order they completed, so a
fleet run reports exactly what a single process does: each rule's signals in the
engine's order (rule, kind, series), outcomes in plan order, series in reading order.
A task Dask re-ran after losing its worker has the same key, so it replaces and never
adds to what is merged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import structlog

from adapters.fleet.tasks import BatchResult
from adapters.replaying import Fetched, RuleDone, ScheduledRule, skipped
from detector.replay import ReplayResult, RuleOutcome, Signal
from detector.series import Series

__all__ = ["merge_replay", "merge_rule"]

log = structlog.get_logger("graysignal.fleet")


def merge_rule(
    entry: ScheduledRule, parts: Sequence[BatchResult]
) -> tuple[list[Signal], RuleOutcome, list[Series]]:
    """One rule's signals, outcome and series from its shares (in share order).

    As in a single process, a share whose data could not be read fails the whole rule
    (with the first such error, in reading order): a rule judged on part of its series
    would be reported as if it had seen them all.
    """
    ordered = sorted(parts, key=lambda p: p.index)
    errors = [p.error for p in ordered if p.error is not None]
    if errors:
        return [], skipped(entry, errors[0]), []
    outcomes = [p.outcome for p in ordered if p.outcome is not None]
    signals = sorted(
        (s for p in ordered for s in p.signals),
        key=lambda s: (s.rule, s.kind, s.series_fingerprint),
    )
    outcome = RuleOutcome(
        rule=entry.rule.signal,
        group=entry.group,
        kinds=tuple(entry.rule.detect),
        series_count=sum(o.series_count for o in outcomes),
        evaluations=max((o.evaluations for o in outcomes), default=0),
        notes=tuple(note for o in outcomes for note in o.notes),
    )
    log.info(
        "rule replayed",
        rule=entry.rule.signal,
        series=outcome.series_count,
        evaluations=outcome.evaluations,
        firings=sum(len(s.firings) for s in signals),
        tasks=len(ordered),
    )
    return signals, outcome, [s for p in ordered for s in p.series]


def merge_replay(
    plan: Sequence[ScheduledRule],
    results: Mapping[tuple[int, int], BatchResult],
    *,
    start: int,
    end: int,
    incident: int,
    failed: Mapping[int, str] | None = None,
    on_rule_done: RuleDone | None = None,
    on_fetched: Fetched | None = None,
) -> ReplayResult:
    """The replay of ``plan`` from the results of its tasks, keyed by (rule, share);
    ``failed`` holds the rules whose files could not even be listed."""
    by_rule: dict[int, list[BatchResult]] = {}
    for (rule, _), part in sorted(results.items()):
        by_rule.setdefault(rule, []).append(part)
    signals: list[Signal] = []
    outcomes: list[RuleOutcome] = []
    series_by_fingerprint: dict[str, Series] = {}
    for index, entry in enumerate(plan):
        if failed is not None and index in failed:
            outcome = skipped(entry, failed[index])
            rule_series: list[Series] = []
        else:
            rule_signals, outcome, rule_series = merge_rule(entry, by_rule.get(index, []))
            signals.extend(rule_signals)
            if outcome.error is None and on_fetched is not None:
                on_fetched(entry.rule, rule_series)
        outcomes.append(outcome)
        for one in rule_series:
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
