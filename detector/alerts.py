"""The alert state machine: inactive -> pending (``for``) -> firing -> resolved.

Modelled on Prometheus's alerting rule: alerts are keyed by their label set, a finding
must persist for ``for`` before the alert fires, and a firing alert keeps firing for
``keep_firing_for`` after its finding disappears, so a signal hovering at its threshold
does not flap. The book returns transitions; callers decide where they go (replay turns
them into firing intervals, the daemon into notifications).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from detector.finding import Finding, Kind
from detector.rule import Rule
from detector.series import fingerprint


class AlertState(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


def alert_labels(rule: Rule, finding: Finding) -> dict[str, str]:
    """Series labels, then rule labels, then ``alertname`` and ``graysignal_kind``."""
    labels = {k: v for k, v in finding.labels.items() if k != "__name__"}
    labels.update(rule.labels)
    labels["alertname"] = rule.signal
    labels["graysignal_kind"] = finding.kind.value
    return labels


@dataclass
class Alert:
    """One (rule, series, kind) alert and the evidence behind it."""

    labels: dict[str, str]
    kind: Kind
    series_fingerprint: str
    state: AlertState
    active_since: int
    last_seen: int
    finding: Finding
    first_finding: Finding
    fired_at: int | None = None
    keep_firing_since: int | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)


@dataclass(frozen=True)
class Transition:
    """An alert changed state at ``at`` (``to`` INACTIVE means resolved or dropped)."""

    alert: Alert
    previous: AlertState
    to: AlertState
    at: int


@dataclass
class AlertBook:
    """Active alerts of one rule, keyed by alert fingerprint."""

    rule: Rule
    alerts: dict[str, Alert] = field(default_factory=dict)

    def update(self, findings: Iterable[Finding], now: int) -> list[Transition]:
        """Apply one evaluation's findings (all series of the rule) at time ``now``."""
        transitions: list[Transition] = []
        seen: set[str] = set()
        for finding in findings:
            labels = alert_labels(self.rule, finding)
            key = fingerprint(labels)
            seen.add(key)
            alert = self.alerts.get(key)
            if alert is None:
                alert = Alert(
                    labels=labels,
                    kind=finding.kind,
                    series_fingerprint=fingerprint(finding.labels),
                    state=AlertState.PENDING,
                    active_since=now,
                    last_seen=now,
                    finding=finding,
                    first_finding=finding,
                )
                self.alerts[key] = alert
                transitions.append(Transition(alert, AlertState.INACTIVE, AlertState.PENDING, now))
            alert.finding = finding
            alert.last_seen = now
            alert.keep_firing_since = None
            if (
                alert.state is AlertState.PENDING
                and now - alert.active_since >= self.rule.for_seconds
            ):
                alert.state = AlertState.FIRING
                alert.fired_at = now
                transitions.append(Transition(alert, AlertState.PENDING, AlertState.FIRING, now))
        for key in list(self.alerts):
            if key in seen:
                continue
            alert = self.alerts[key]
            if alert.state is AlertState.FIRING and self.rule.keep_firing_for > 0:
                # As Prometheus: counted from the first evaluation without the finding.
                if alert.keep_firing_since is None:
                    alert.keep_firing_since = now
                if now - alert.keep_firing_since < self.rule.keep_firing_for:
                    continue
            previous = alert.state
            alert.state = AlertState.INACTIVE
            del self.alerts[key]
            transitions.append(Transition(alert, previous, AlertState.INACTIVE, now))
        return transitions

    def firing(self) -> Mapping[str, Alert]:
        return {k: a for k, a in self.alerts.items() if a.state is AlertState.FIRING}
