"""The evaluation engine: one cycle of one rule group at a given time.

The service calls :meth:`Engine.run_group` from a real clock; tests call it from a fake
one. Either way a cycle fetches each rule's series (causally, up to ``now``), calls the
same ``evaluate(rule, series, now)`` replay uses, advances the rule's ``AlertBook``, and
records findings, transitions, alert state and the outbox in the ledger in one
transaction. A failing rule is counted and logged; it never stops the group, and its
alerts keep their state (a source outage is not a recovery).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from adapters.daemon.metrics import DaemonMetrics
from adapters.errors import InputError, SourceUnavailable
from adapters.ledger import Ledger
from adapters.notify.payload import notification_for
from adapters.replaying import ScheduledRule, fetch_history
from adapters.sources.base import Source
from adapters.timeparse import format_rfc3339
from detector.alerts import AlertBook, AlertState, Transition
from detector.evaluate import evaluate
from detector.finding import Kind
from detector.replay import group_offset
from detector.rule import RuleFile

log = structlog.get_logger("graysignal.daemon")


@dataclass
class RuleRuntime:
    """A scheduled rule with its alert book and what its last evaluation found."""

    entry: ScheduledRule
    book: AlertBook
    last_findings: Counter[Kind] = field(default_factory=Counter)


@dataclass
class GroupRuntime:
    name: str
    interval: int
    offset: int
    rules: list[RuleRuntime]


@dataclass(frozen=True)
class CycleReport:
    group: str
    now: int
    evaluated: int
    failed: tuple[str, ...]
    transitions: tuple[Transition, ...]
    duration: float


def in_shard(group: str, shard: tuple[int, int] | None) -> bool:
    """Whether this replica evaluates ``group`` (stable hash of the name, like the offset)."""
    if shard is None:
        return True
    index, count = shard
    return group_offset(group, count) == index


class Engine:
    """Holds the loaded groups and evaluates them; knows nothing of threads or signals."""

    def __init__(
        self,
        *,
        sources: Mapping[str, Source],
        ledger: Ledger,
        notifier_names: Sequence[str],
        resend_interval: int,
        replay_hint: Callable[[int], str],
        metrics: DaemonMetrics | None = None,
        shard: tuple[int, int] | None = None,
    ) -> None:
        self.sources = sources
        self.ledger = ledger
        self.notifier_names = list(notifier_names)
        self.resend_interval = resend_interval
        self.replay_hint = replay_hint
        self.metrics = metrics
        self.shard = shard
        self._groups: dict[str, GroupRuntime] = {}
        self._lock = threading.Lock()

    def load(self, rule_files: Sequence[tuple[Path, RuleFile]]) -> None:
        """Install rule files; alert state carries over to rules with the same identity.

        Identity is (group name, signal), as in Prometheus. A rule seen for the first time
        in this process resumes its alerts from the ledger, so a restart does not re-send
        alerts that were already firing.
        """
        with self._lock:
            previous = {
                (g.name, r.entry.rule.signal): r for g in self._groups.values() for r in g.rules
            }
            groups: dict[str, GroupRuntime] = {}
            for _, rule_file in rule_files:
                for group in rule_file.groups:
                    if not in_shard(group.name, self.shard):
                        continue
                    offset = group_offset(group.name, group.interval)
                    runtimes = []
                    for rule in group.rules:
                        entry = ScheduledRule(rule, group.name, group.interval, offset)
                        book = AlertBook(rule)
                        old = previous.get((group.name, rule.signal))
                        if old is not None:
                            book.alerts = old.book.alerts
                        else:
                            book.alerts = self.ledger.load_alerts(group=group.name, rule=rule)
                        runtimes.append(RuleRuntime(entry=entry, book=book))
                    groups[group.name] = GroupRuntime(group.name, group.interval, offset, runtimes)
            self._groups = groups
        self._update_alert_gauges()

    def groups(self) -> list[GroupRuntime]:
        with self._lock:
            return list(self._groups.values())

    def group(self, name: str) -> GroupRuntime | None:
        with self._lock:
            return self._groups.get(name)

    def run_group(self, name: str, now: int) -> CycleReport:
        """Evaluate every rule of one group at ``now``."""
        group = self.group(name)
        if group is None:
            return CycleReport(name, now, 0, (), (), 0.0)
        started = time.perf_counter()
        failed: list[str] = []
        transitions: list[Transition] = []
        for runtime in group.rules:
            outcome = self._run_rule(group, runtime, now)
            if outcome is None:
                failed.append(runtime.entry.rule.signal)
            else:
                transitions.extend(outcome)
        duration = time.perf_counter() - started
        if self.metrics is not None:
            self.metrics.duration.labels(group=name).observe(duration)
            if not failed:
                self.metrics.last_success.labels(group=name).set(time.time())
        self._update_alert_gauges()
        log.info(
            "group evaluated",
            group=name,
            now=format_rfc3339(now),
            rules=len(group.rules),
            failed=len(failed),
            transitions=len(transitions),
            duration=round(duration, 3),
        )
        return CycleReport(name, now, len(group.rules), tuple(failed), tuple(transitions), duration)

    def _run_rule(
        self, group: GroupRuntime, runtime: RuleRuntime, now: int
    ) -> list[Transition] | None:
        rule = runtime.entry.rule
        bound = log.bind(group=group.name, rule=rule.signal, source=rule.source)
        if self.metrics is not None:
            self.metrics.evaluations.labels(group=group.name, rule=rule.signal).inc()
        try:
            series = fetch_history(runtime.entry, self.sources, now, now)
        except (SourceUnavailable, InputError) as exc:
            self._failed(group, runtime, source_down=True)
            bound.warning("rule evaluation failed: source", error=str(exc))
            return None
        self._source_up(group, runtime, up=True)
        try:
            findings = [f for one in series for f in evaluate(rule, one, now)]
            transitions = runtime.book.update(findings, now)
            self.ledger.record_evaluation(
                group=group.name,
                rule=rule,
                now=now,
                findings=findings,
                transitions=transitions,
                alerts=runtime.book.alerts,
                notifiers=self.notifier_names,
                payloads=lambda t: notification_for(
                    t,
                    rule,
                    now=now,
                    resend_interval=self.resend_interval,
                    replay_hint=self.replay_hint(t.at),
                ),
            )
        except Exception:  # the loop must survive any one rule; the traceback is logged
            self._failed(group, runtime, source_down=False)
            bound.exception("rule evaluation failed")
            # The book may have moved on while the ledger rolled back: restore the recorded
            # state so the next cycle produces (and notifies) those transitions again.
            runtime.book.alerts = self.ledger.load_alerts(group=group.name, rule=rule)
            return None
        runtime.last_findings = Counter(f.kind for f in findings)
        for transition in transitions:
            bound.info(
                "alert transition",
                alert=transition.alert.labels.get("alertname"),
                kind=transition.alert.kind.value,
                state=transition.to.value,
                previous=transition.previous.value,
            )
        return transitions

    def _failed(self, group: GroupRuntime, runtime: RuleRuntime, *, source_down: bool) -> None:
        if self.metrics is not None:
            self.metrics.failures.labels(group=group.name, rule=runtime.entry.rule.signal).inc()
        if source_down:
            self._source_up(group, runtime, up=False)

    def _source_up(self, group: GroupRuntime, runtime: RuleRuntime, *, up: bool) -> None:
        if self.metrics is not None:
            rule = runtime.entry.rule
            self.metrics.source_up.labels(
                group=group.name, rule=rule.signal, source=rule.source
            ).set(1 if up else 0)

    def firing_payloads(self, now: int) -> list[dict[str, Any]]:
        """Every firing alert as an Alertmanager payload, for the periodic re-send."""
        payloads = []
        for group in self.groups():
            for runtime in group.rules:
                for alert in runtime.book.firing().values():
                    transition = Transition(
                        alert, AlertState.PENDING, AlertState.FIRING, alert.fired_at or now
                    )
                    payloads.append(
                        notification_for(
                            transition,
                            runtime.entry.rule,
                            now=now,
                            resend_interval=self.resend_interval,
                            replay_hint=self.replay_hint(transition.at),
                        )
                    )
        return payloads

    def _update_alert_gauges(self) -> None:
        if self.metrics is None:
            return
        kinds: Counter[Kind] = Counter()
        states: Counter[str] = Counter()
        for group in self.groups():
            for runtime in group.rules:
                kinds.update(runtime.last_findings)
                states.update(a.state.value for a in runtime.book.alerts.values())
        for kind in Kind:
            self.metrics.active_findings.labels(kind=kind.value).set(kinds[kind])
        for state in (AlertState.PENDING, AlertState.FIRING):
            self.metrics.alerts.labels(state=state.value).set(states[state.value])
