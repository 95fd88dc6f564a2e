"""One notification, as Alertmanager understands it, plus the finding for other consumers.

The payload is built once per transition, stored in the ledger's outbox, and handed to
every notifier: Alertmanager takes the API v2 ``postableAlert`` fields (``labels``,
``annotations``, ``startsAt``, ``endsAt``, ``generatorURL``); the webhook posts the whole
dict; Slack renders it. Everything in it is strict JSON (non-finite floats are ``null``).

``endsAt`` of a firing alert is ``now + 4 * resend_interval``, as Prometheus does: the
daemon re-sends firing alerts every ``resend_interval``, so if it dies, Alertmanager
resolves its alerts on its own a few intervals later instead of showing them forever.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

from adapters.ledger import notifies
from adapters.timeparse import format_rfc3339
from detector.alerts import AlertState, Transition
from detector.explain import describe_series, percent
from detector.rule import Rule

__all__ = ["ENDS_AT_RESENDS", "GENERATED_ANNOTATIONS", "notification_for", "relative_change_text"]

ENDS_AT_RESENDS = 4
GENERATED_ANNOTATIONS = ("explanation", "onset", "relative_change", "score", "replay")


def relative_change_text(fraction: float) -> str:
    """``+18%``, ``-4.5%``; a change from a zero baseline reads ``up from zero``."""
    if math.isnan(fraction):
        return "unknown"
    if math.isinf(fraction):
        return f"{'up' if fraction > 0 else 'down'} from zero"
    return f"{'-' if fraction < 0 else '+'}{percent(fraction)}"


def _score_text(score: float) -> str:
    return f"{score:.1f}" if math.isfinite(score) else "n/a"


def _json_safe(value: Any) -> Any:
    """Non-finite floats become ``None``: JSON has no Infinity/NaN (docs/replay-json.md)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    return _json_safe(item()) if callable(item) else value


def notification_for(
    transition: Transition,
    rule: Rule,
    *,
    now: int,
    resend_interval: int,
    replay_hint: str,
    generator_url: str | None = None,
) -> dict[str, Any]:
    """The notification for a firing or resolved transition (``ValueError`` otherwise).

    ``labels`` are the alert's (alertname, series labels, rule labels such as
    ``severity``, ``graysignal_kind``); ``annotations`` are the rule's, with ``summary``
    generated unless the rule sets one, and the reserved :data:`GENERATED_ANNOTATIONS`
    taken from the finding (they win over rule annotations of the same name). ``replay``
    is the command that replays the moment, passed in by the caller.
    """
    if not notifies(transition):
        raise ValueError(
            f"{transition.previous.value} -> {transition.to.value} is not notified; "
            "only firing and resolved transitions are"
        )
    alert = transition.alert
    finding = alert.finding
    resolved = transition.to is AlertState.INACTIVE
    starts_at = alert.fired_at if alert.fired_at is not None else transition.at
    ends_at = max(transition.at, starts_at) if resolved else now + ENDS_AT_RESENDS * resend_interval
    annotations = dict(rule.annotations)
    annotations.setdefault(
        "summary", f"{rule.signal}: {alert.kind.value} on {describe_series(finding.labels)}"
    )
    annotations.update(
        explanation=finding.explanation,
        onset=format_rfc3339(finding.onset),
        relative_change=relative_change_text(finding.relative_change),
        score=_score_text(finding.score),
        replay=replay_hint,
    )
    payload: dict[str, Any] = {
        "status": "resolved" if resolved else "firing",
        "labels": dict(alert.labels),
        "annotations": annotations,
        "startsAt": format_rfc3339(starts_at),
        "endsAt": format_rfc3339(ends_at),
    }
    if generator_url is not None:
        payload["generatorURL"] = generator_url
    payload["fingerprint"] = alert.fingerprint
    payload["notification_id"] = notification_id(
        alert.fingerprint, payload["status"], transition.at
    )
    payload["finding"] = _json_safe(finding.to_dict())
    return payload


def notification_id(alert_fingerprint: str, status: str, at: int) -> str:
    """Stable identity of one notification, the same on every retry.

    Delivery is at-least-once: a crash between a receiver's 200 and the ledger recording
    it repeats that one notification after restart. Receivers that must not act twice
    deduplicate on this id (Alertmanager already deduplicates by labels).
    """
    return hashlib.sha256(f"{alert_fingerprint}/{status}/{at}".encode()).hexdigest()[:24]
