"""The evaluation engine: one cycle of one rule group at a given time.

The service calls :meth:`Engine.run_group` from a real clock; tests call it from a fake
one. Either way a cycle feeds each rule's detection state the samples that arrived since
the last cycle (:mod:`adapters.daemon.feed`: the same monitor replay runs, warmed up
from a bounded history on the rule's first cycle), judges every series at ``now``,
advances the rule's ``AlertBook``, and records findings, transitions, alert state and
the outbox in the ledger in one transaction. Findings that a reviewed suppression covers
(rules/suppressions.yaml) are kept out of the ``AlertBook`` but never silently: each
covered alert is logged when the suppression starts and stops covering it, counted in
``graysignal_suppressed_alerts`` and recorded in the ledger. A failing rule is counted and
logged; it never stops the group, and its alerts keep their state (a source outage is not
a recovery).

**Pending state is restored from the data**, as Prometheus restores ``for`` state: the
first time a rule is evaluated in this process (a start, a ``run --once`` from cron, a
rule added by a reload), the evaluations of the last ``for`` span before ``now`` are
judged on the warm-up's evidence and run through the replay's alert book
(:func:`detector.replay.alert_history`). A finding
held at every one of them is pending since the first, so a rule with ``for: 30m`` fires
at the first evaluation that finds it held for 30 minutes, whether or not the process
was running then. Firing alerts come from the ledger, so a restart does not re-send
them.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from adapters.daemon.feed import RuleFeed
from adapters.daemon.metrics import LOG_SKIP_REASONS, DaemonMetrics
from adapters.errors import InputError, SourceUnavailable
from adapters.ledger import Ledger
from adapters.logpatterns.counts import OTHER
from adapters.notify.payload import notification_for
from adapters.replaying import ScheduledRule
from adapters.sources.base import Source
from adapters.timeparse import format_rfc3339
from detector.alerts import Alert, AlertBook, AlertState, Transition, alert_labels
from detector.decide import findings_by_time
from detector.finding import Kind
from detector.monitor import RuleMonitor, Trace
from detector.replay import alert_history, evaluation_times, group_offset
from detector.rule import Rule, RuleFile
from detector.series import Series, fingerprint
from detector.suppressions import Action, Suppressed, Suppression, split_suppressed

log = structlog.get_logger("graysignal.daemon")


@dataclass
class RuleRuntime:
    """A scheduled rule with its alert book and what its last evaluation found."""

    entry: ScheduledRule
    book: AlertBook
    last_findings: Counter[Kind] = field(default_factory=Counter)
    suppressed: dict[str, Suppression] = field(default_factory=dict)
    restored: bool = False
    """Whether the pending state has been restored (or carried over) in this process."""
    feed: RuleFeed | None = None
    """The rule's detection state (see :mod:`adapters.daemon.feed`)."""
    source_failed: bool = False
    """Whether the last evaluation failed because the source could not be read."""


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
    unavailable: tuple[str, ...] = ()
    """The failed rules whose source could not be read (the others raised)."""


def restore_start(pending_for: int, interval: int, now: int) -> int:
    """Start of the span replayed to restore pending state: ``for`` plus one interval
    before ``now``, so its first evaluation is at least ``for`` before ``now``."""
    return now - pending_for - interval


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
        generator_url: Callable[[Rule, int], str | None] | None = None,
    ) -> None:
        self.sources = sources
        self.ledger = ledger
        self.notifier_names = list(notifier_names)
        self.resend_interval = resend_interval
        self.replay_hint = replay_hint
        self.metrics = metrics
        self.shard = shard
        self.generator_url = generator_url or (lambda rule, now: None)
        self._groups: dict[str, GroupRuntime] = {}
        self._suppressions: list[Suppression] = []
        self._lock = threading.Lock()

    def set_suppressions(self, suppressions: Sequence[Suppression]) -> None:
        """Install the reviewed suppressions; the next evaluation of each rule applies them."""
        with self._lock:
            self._suppressions = list(suppressions)

    def suppressions(self) -> list[Suppression]:
        with self._lock:
            return list(self._suppressions)

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
                        runtime = RuleRuntime(entry=entry, book=book)
                        if old is not None:
                            book.alerts = old.book.alerts
                            runtime.suppressed = old.suppressed
                            runtime.restored = True
                            if old.entry.rule == rule:  # unchanged: keep its state
                                runtime.feed = old.feed
                        else:
                            book.alerts = self.ledger.load_alerts(group=group.name, rule=rule)
                        runtimes.append(runtime)
                    groups[group.name] = GroupRuntime(group.name, group.interval, offset, runtimes)
            self._groups = groups
            dropped = previous.keys() - {
                (g.name, r.entry.rule.signal) for g in groups.values() for r in g.rules
            }
        self._forget_metrics(previous, dropped, groups)
        self._update_alert_gauges()

    def _forget_metrics(
        self,
        previous: Mapping[tuple[str, str], RuleRuntime],
        dropped: Set[tuple[str, str]],
        groups: Mapping[str, GroupRuntime],
    ) -> None:
        """Remove the metric series of rules and groups the reload dropped."""
        if self.metrics is None:
            return
        for group_name, signal in sorted(dropped):
            self.metrics.forget_rule(
                group_name, signal, previous[group_name, signal].entry.rule.source
            )
        for group_name in {g for g, _ in previous} - groups.keys():
            self.metrics.forget_group(group_name)

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
        unavailable: list[str] = []
        transitions: list[Transition] = []
        suppressions = self.suppressions()  # one consistent set for the whole cycle
        for runtime in group.rules:
            outcome = self._run_rule(group, runtime, now, suppressions)
            if outcome is None:
                failed.append(runtime.entry.rule.signal)
                if runtime.source_failed:
                    unavailable.append(runtime.entry.rule.signal)
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
        return CycleReport(
            name,
            now,
            len(group.rules),
            tuple(failed),
            tuple(transitions),
            duration,
            tuple(unavailable),
        )

    def _run_rule(
        self,
        group: GroupRuntime,
        runtime: RuleRuntime,
        now: int,
        suppressions: Sequence[Suppression],
    ) -> list[Transition] | None:
        rule = runtime.entry.rule
        bound = log.bind(group=group.name, rule=rule.signal, source=rule.source)
        if self.metrics is not None:
            self.metrics.evaluations.labels(group=group.name, rule=rule.signal).inc()
        restoring = not runtime.restored and rule.for_seconds > 0
        keep_from = restore_start(rule.for_seconds, group.interval, now) if restoring else None
        runtime.source_failed = False
        source = self.sources.get(rule.source)
        if runtime.feed is None:
            runtime.feed = RuleFeed(rule)
        try:
            if source is None:
                raise SourceUnavailable(f"unknown source '{rule.source}'")
            advanced = runtime.feed.advance(source, now, keep_from=keep_from)
        except (SourceUnavailable, InputError) as exc:
            runtime.source_failed = True
            self._failed(group, runtime, source_down=True)
            bound.warning("rule evaluation failed: source", error=str(exc))
            return None
        except Exception:  # a source's bug or an answer nobody foresaw: this rule only
            self._failed(group, runtime, source_down=True)
            bound.exception("rule evaluation failed: source")
            return None
        self._source_up(group, runtime, up=True)
        if restoring and advanced.warm_up is not None and advanced.monitor is not None:
            self._restore_pending(
                group,
                runtime,
                advanced.monitor,
                advanced.warm_up,
                now,
                suppressions=suppressions,
                bound=bound,
            )
        runtime.restored = True
        if rule.by_pattern:
            self._note_patterns(group, runtime, advanced.series, bound)
        try:
            findings = advanced.findings
            alerting, covered = split_suppressed(findings, suppressions, now=now)
            transitions = runtime.book.update(alerting, now)
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
                    generator_url=self.generator_url(rule, t.at),
                ),
            )
        except Exception:  # the loop must survive any one rule; the traceback is logged
            self._failed(group, runtime, source_down=False)
            bound.exception("rule evaluation failed")
            # The book may have moved on while the ledger rolled back: restore the recorded
            # state so the next cycle produces (and notifies) those transitions again.
            runtime.book.alerts = self.ledger.load_alerts(group=group.name, rule=rule)
            return None
        self._note_suppressed(group, runtime, covered, now, bound)
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

    def _restore_pending(
        self,
        group: GroupRuntime,
        runtime: RuleRuntime,
        monitor: RuleMonitor,
        warm_up: Trace,
        now: int,
        *,
        suppressions: Sequence[Suppression],
        bound: Any,
    ) -> None:
        """Rebuild the rule's pending alerts from the evaluations of the last ``for``
        span before ``now`` (see the module doc), judged on the warm-up's evidence.

        The span is replayed with ``for`` and ``keep_firing_for`` at zero: an alert
        "firing" at its end then is a finding present at every evaluation since that
        firing's start, which is what pending since then means. Firing alerts stay as the
        ledger recorded them; pending ones are replaced by what the data says. A failure
        is logged and leaves the state as loaded.
        """
        rule = runtime.entry.rule
        start = restore_start(rule.for_seconds, group.interval, now)
        held = rule.model_copy(update={"for_": 0, "keep_firing_for": 0})
        try:
            times = evaluation_times(start, now - 1, group.interval, group.offset)
            by_time = findings_by_time(monitor, warm_up, times)
            signals = alert_history(held, group.name, times, by_time)
        except Exception:  # the evaluation itself still runs; the state is as loaded
            bound.exception("restoring pending state failed")
            return
        restored: dict[str, Alert] = {}
        for signal in signals:
            if not signal.firings or signal.firings[-1].end is not None:
                continue  # not held up to the end of the span
            held_since = signal.firings[-1]
            restored[fingerprint(signal.alert_labels)] = Alert(
                labels=dict(signal.alert_labels),
                kind=signal.kind,
                series_fingerprint=signal.series_fingerprint,
                state=AlertState.PENDING,
                active_since=held_since.start,
                last_seen=held_since.latest.detected_at,
                finding=held_since.latest,
                first_finding=held_since.first,
            )
        # Findings a reviewed suppression covers never enter the book (see _run_rule).
        _, covered = split_suppressed(
            [alert.finding for alert in restored.values()], suppressions, now=now
        )
        for item in covered:
            restored.pop(fingerprint(alert_labels(rule, item.finding)), None)
        alerts = runtime.book.alerts
        for key in [k for k, a in alerts.items() if a.state is AlertState.PENDING]:
            del alerts[key]
        for key, alert in restored.items():
            alerts.setdefault(key, alert)  # a firing alert from the ledger stays firing
        bound.info(
            "pending state restored",
            since=format_rfc3339(start),
            pending=sum(1 for a in alerts.values() if a.state is AlertState.PENDING),
        )

    def _note_patterns(
        self, group: GroupRuntime, runtime: RuleRuntime, series: Sequence[Series], bound: Any
    ) -> None:
        """Templates followed, whether the cap sent lines to 'other', lines skipped."""
        if self.metrics is None:
            return
        rule = runtime.entry.rule
        other = [s for s in series if s.labels.get("pattern") == OTHER]
        self.metrics.log_patterns.labels(group=group.name, rule=rule.signal).set(
            len(series) - len(other)
        )
        capped = any(float(np.nansum(s.values)) > 0 for s in other)
        self.metrics.log_pattern_cap.labels(group=group.name, rule=rule.signal).set(
            1 if capped else 0
        )
        line_stats = getattr(self.sources.get(rule.source), "line_stats", None)
        try:
            stats = line_stats(rule) if callable(line_stats) else None
        except (SourceUnavailable, InputError) as exc:
            bound.warning("log line counts unavailable", error=str(exc))
            stats = None
        for reason in LOG_SKIP_REASONS:
            self.metrics.log_lines_skipped.labels(
                group=group.name, rule=rule.signal, reason=reason
            ).set(stats.get(reason, 0) if stats else 0)

    def _note_suppressed(
        self,
        group: GroupRuntime,
        runtime: RuleRuntime,
        covered: Sequence[Suppressed],
        now: int,
        bound: Any,
    ) -> None:
        """Suppressed is not silent: log start and stop, count, and record in the ledger.

        A failure here is logged and does not fail the rule: the evaluation itself was
        recorded, and the next cycle records the suppression again.
        """
        rule = runtime.entry.rule
        current: dict[str, tuple[dict[str, str], Suppressed]] = {}
        for item in covered:
            labels = alert_labels(rule, item.finding)
            current.setdefault(fingerprint(labels), (labels, item))
        for key, (labels, item) in current.items():
            if key not in runtime.suppressed:
                bound.info(
                    "suppression covers alert",
                    alert=labels.get("alertname"),
                    kind=item.finding.kind.value,
                    alert_fingerprint=key,
                    action=item.suppression.action.value,
                    suppression=item.suppression.describe(),
                    entry=item.suppression.where,
                )
        for key, entry in runtime.suppressed.items():
            if key not in current:
                bound.info(
                    "suppression no longer covers alert",
                    alert=rule.signal,
                    alert_fingerprint=key,
                    action=entry.action.value,
                    entry=entry.where,
                    expired=entry.expired(now),
                )
        runtime.suppressed = {key: item.suppression for key, (_, item) in current.items()}
        if self.metrics is not None:
            for action in Action:
                count = sum(1 for e in runtime.suppressed.values() if e.action is action)
                self.metrics.suppressed.labels(
                    group=group.name, rule=rule.signal, action=action.value
                ).set(count)
        if not current:
            return
        try:
            self.ledger.record_suppressed(
                group=group.name,
                rule=rule.signal,
                now=now,
                covered=[(key, labels, item) for key, (labels, item) in current.items()],
                gap=3 * group.interval,
            )
        except Exception:  # the loop must survive; the next cycle records it again
            bound.exception("recording suppressed alerts failed")

    def firing_alerts(self) -> list[dict[str, str]]:
        """Label sets of every firing alert (what Alertmanager silences are matched on)."""
        return [
            dict(alert.labels)
            for group in self.groups()
            for runtime in group.rules
            for alert in runtime.book.firing().values()
        ]

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
                            generator_url=self.generator_url(runtime.entry.rule, now),
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
