"""The daemon's own metrics, so it can be watched like any other service."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from detector.suppressions import Action

LOG_SKIP_REASONS = ("unparsed", "bad_timestamp", "late", "oversized", "undecodable")


class DaemonMetrics:
    """Every metric in one private registry (tests create as many daemons as they like)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.evaluations = Counter(
            "graysignal_rule_evaluations", "Rule evaluations.", ["group", "rule"], registry=r
        )
        self.failures = Counter(
            "graysignal_rule_evaluation_failures",
            "Rule evaluations that failed (source down, query error).",
            ["group", "rule"],
            registry=r,
        )
        self.duration = Histogram(
            "graysignal_group_evaluation_duration_seconds",
            "Time to evaluate one group once.",
            ["group"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=r,
        )
        self.missed = Counter(
            "graysignal_group_missed_iterations",
            "Evaluations skipped because the previous one overran the interval.",
            ["group"],
            registry=r,
        )
        self.last_success = Gauge(
            "graysignal_group_last_success_timestamp_seconds",
            "When the group last completed a cycle with no failed rule.",
            ["group"],
            registry=r,
        )
        self.active_findings = Gauge(
            "graysignal_active_findings",
            "Findings in the latest evaluations.",
            ["kind"],
            registry=r,
        )
        self.alerts = Gauge("graysignal_alerts", "Alerts by state.", ["state"], registry=r)
        self.source_up = Gauge(
            "graysignal_source_up",
            "1 if the rule's source answered at its last evaluation, else 0.",
            ["group", "rule", "source"],
            registry=r,
        )
        self.outbox_depth = Gauge(
            "graysignal_outbox_depth", "Notifications waiting for delivery.", registry=r
        )
        self.reload_success = Gauge(
            "graysignal_config_last_reload_successful",
            "1 if the last rule reload succeeded.",
            registry=r,
        )
        self.suppressed = Gauge(
            "graysignal_suppressed_alerts",
            "Alerts a reviewed suppression keeps from firing, by rule and action (ack, expect).",
            ["group", "rule", "action"],
            registry=r,
        )
        self.silence_polls = Counter(
            "graysignal_alertmanager_silence_polls",
            "Reads of an Alertmanager's silences, by outcome (ok, error).",
            ["alertmanager", "outcome"],
            registry=r,
        )
        self.silenced_alerts = Gauge(
            "graysignal_silenced_alerts",
            "Firing alerts an active Alertmanager silence matched at the last read.",
            ["alertmanager"],
            registry=r,
        )
        self.reload_time = Gauge(
            "graysignal_config_last_reload_success_timestamp_seconds",
            "When rules were last loaded successfully.",
            registry=r,
        )
        self.notifications = Counter(
            "graysignal_notifications",
            "Delivery attempts by notifier and outcome (delivered, retrying, abandoned).",
            ["notifier", "outcome"],
            registry=r,
        )
        self.log_patterns = Gauge(
            "graysignal_log_patterns",
            "Message templates a by: pattern rule follows as series (at its last evaluation).",
            ["group", "rule"],
            registry=r,
        )
        self.log_pattern_cap = Gauge(
            "graysignal_log_pattern_cap_reached",
            "1 if a by: pattern rule counted lines as 'other' because it follows "
            "max_patterns templates already (in the history its last evaluation read).",
            ["group", "rule"],
            registry=r,
        )
        self.log_lines_skipped = Gauge(
            "graysignal_log_lines_skipped",
            "Lines of a by: pattern log file not counted since its miner started, by reason "
            "(unparsed, bad_timestamp, late, oversized, undecodable).",
            ["group", "rule", "reason"],
            registry=r,
        )
        self.pruned_findings = Counter(
            "graysignal_ledger_pruned_findings",
            "Findings deleted from the ledger because they were older than the retention.",
            registry=r,
        )

    def forget_rule(self, group: str, rule: str, source: str) -> None:
        """Drop the series of a rule a reload removed.

        Left alone, a removed rule's ``graysignal_source_up`` would keep its last value
        for the life of the process, and an alert on it would fire (or stay quiet) about
        a rule that no longer exists.
        """
        _remove(self.evaluations, group, rule)
        _remove(self.failures, group, rule)
        _remove(self.source_up, group, rule, source)
        for action in Action:
            _remove(self.suppressed, group, rule, action.value)
        _remove(self.log_patterns, group, rule)
        _remove(self.log_pattern_cap, group, rule)
        for reason in LOG_SKIP_REASONS:
            _remove(self.log_lines_skipped, group, rule, reason)

    def forget_group(self, group: str) -> None:
        """Drop the series of a group a reload removed (see :meth:`forget_rule`)."""
        _remove(self.duration, group)
        _remove(self.missed, group)
        _remove(self.last_success, group)


def _remove(metric: Counter | Gauge | Histogram, *labels: str) -> None:
    """Remove one labelled child; a child never created is fine (older clients raise)."""
    with contextlib.suppress(KeyError):
        metric.remove(*labels)
