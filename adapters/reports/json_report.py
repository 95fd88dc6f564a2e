"""The replay as JSON: a stable, versioned schema for scripts, dashboards and tickets.

The schema is documented field by field in ``docs/replay-json.md``. Within
``schema_version`` 1 fields are only ever added; a removal, rename or change of meaning
bumps the version, so consumers can check one integer instead of guessing.

Choices that keep it easy to consume:

- every time is an RFC 3339 UTC string (``2026-11-20T10:00:00Z``), every duration a
  number of seconds, so nobody parses ``3d4h``;
- non-finite floats (a relative change "from zero" is ``inf``) become ``null``, because
  JSON has no ``Infinity``/``NaN`` and most parsers reject them;
- keys keep the documented order (no sorting), so the output reads top-down like the
  Markdown report.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from adapters.reports import fired_signals, firings_of, reaction_of, reaction_text
from adapters.timeparse import format_rfc3339
from detector.replay import Firing, Notice, ReplayResult, RuleOutcome, Signal

SCHEMA_VERSION = 1

__all__ = ["SCHEMA_VERSION", "render_json", "replay_to_dict"]


def _time(ts: int | None) -> str | None:
    return None if ts is None else format_rfc3339(int(ts))


def _finite(value: float | None) -> float | None:
    """``None`` for missing or non-finite values; a plain ``float`` otherwise."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _labels(labels: Mapping[str, str]) -> dict[str, str]:
    return {str(k): str(v) for k, v in labels.items()}


def _firing(firing: Firing, signal: Signal, result: ReplayResult) -> dict[str, Any]:
    """One firing, described by the finding that made the alert fire.

    ``peak_score`` is the only field taken from later in the firing: the strongest
    evidence seen while it lasted.
    """
    finding = firing.first
    return {
        "start": _time(firing.start),
        "end": _time(firing.end),
        "pending_since": _time(firing.pending_since),
        "onset": _time(firing.onset),
        "explanation": finding.explanation,
        "score": _finite(finding.score),
        "peak_score": _finite(firing.peak_score),
        "before": _finite(finding.before),
        "after": _finite(finding.after),
        "relative_change": _finite(finding.relative_change),
        "slope_per_day": _finite(finding.slope_per_day),
        "time_to_limit_seconds": _finite(finding.time_to_limit),
        "seasonality": finding.seasonality,
        "lead_time_seconds": int(result.incident) - int(firing.start),
        "told": _told(result.told(signal, firing)),
        "reaction": reaction_json(result, signal, firing),
    }


def reaction_json(result: ReplayResult, signal: Signal, firing: Firing) -> dict[str, Any] | None:
    """The retrospective status of a firing (docs/replay-json.md); null without a ledger."""
    status = reaction_of(result, signal, firing)
    if status is None:
        return None
    return {
        "status": status[0],
        "text": reaction_text(result, signal, firing),
        "reactions": [
            {
                "kind": r.kind.value,
                "by": r.by,
                "at": _time(r.at),
                "reason": r.reason,
                "until": _time(r.until),
                "where": r.where,
            }
            for r in result.reacted(signal, firing)
        ],
        "suppressions": [
            {
                "action": h.action,
                "by": h.by,
                "since": _time(h.since),
                "until": _time(h.until),
                "reason": h.reason,
                "change": _finite(h.change),
                "where": h.where,
                "from": _time(h.start),
                "to": _time(h.end),
            }
            for h in result.held(signal, firing)
        ],
    }


def _told(notices: list[Notice] | None) -> list[dict[str, str]] | None:
    """Deliveries at the time (from the daemon's ledger); null when none was consulted."""
    if notices is None:
        return None
    return [{"notifier": n.notifier, "at": str(_time(n.at))} for n in notices]


def _signal(signal: Signal, result: ReplayResult) -> dict[str, Any]:
    incident = result.incident
    firings = firings_of(signal)
    first = firings[0] if firings else None
    return {
        "rule": signal.rule,
        "group": signal.group,
        "series": _labels(signal.labels),
        "alert_labels": _labels(signal.alert_labels),
        "kind": signal.kind.value,
        "firings": [_firing(f, signal, result) for f in firings],
        "first_firing": None if first is None else _time(first.start),
        "onset": None if first is None else _time(first.onset),
        "lead_time_seconds": None if first is None else int(incident) - int(first.start),
    }


def _outcome(outcome: RuleOutcome) -> dict[str, Any]:
    return {
        "rule": outcome.rule,
        "group": outcome.group,
        "kinds": [kind.value for kind in outcome.kinds],
        "series_count": int(outcome.series_count),
        "evaluations": int(outcome.evaluations),
        "error": outcome.error,
        "notes": list(outcome.notes),
    }


def replay_to_dict(result: ReplayResult) -> dict[str, Any]:
    """The replay as plain JSON-ready data (schema version 1, see docs/replay-json.md).

    Only signals that fired are listed, ordered by first firing then rule; ``silent``
    holds the rules that never fired and ``rules`` every rule, so a consumer can tell
    "no rule looked at this" from "rules looked and saw nothing".
    """
    return {
        "schema_version": SCHEMA_VERSION,
        "window": {
            "from": _time(result.start),
            "to": _time(result.end),
            "incident": _time(result.incident),
        },
        "signals": [_signal(s, result) for s in fired_signals(result)],
        "silent": [_outcome(o) for o in result.silent],
        "rules": [_outcome(o) for o in result.outcomes],
    }


def render_json(result: ReplayResult) -> str:
    """The replay as indented JSON text ending in a newline, keys in documented order.

    ``allow_nan=False`` makes a non-finite float that slipped past :func:`replay_to_dict`
    an error here rather than invalid JSON in someone's pipeline.
    """
    return json.dumps(replay_to_dict(result), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
