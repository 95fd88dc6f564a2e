"""A backtest as JSON (``schema_version`` 1, documented in ``docs/backtest.md``).

The same conventions as the replay's JSON: RFC 3339 UTC times, durations in seconds,
non-finite numbers as ``null``, keys in documented order; within a schema version
fields are only ever added.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from adapters.backtest.baseline import BaselineChange
from adapters.backtest.engine import (
    Backtest,
    IncidentResult,
    QuietPeriods,
    SignalTiming,
    TrendCell,
    Verdict,
    category_trends,
)
from adapters.backtest.story import Story
from adapters.backtest.wording import verdict_detail
from adapters.reports import series_name, told_text
from adapters.reports.json_report import reaction_json
from adapters.timeparse import format_rfc3339
from detector.replay import ReplayResult, RuleOutcome

__all__ = ["SCHEMA_VERSION", "backtest_to_dict", "render_backtest_json", "story_to_dict"]

SCHEMA_VERSION = 1


def _time(ts: int | None) -> str | None:
    return None if ts is None else format_rfc3339(int(ts))


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _labels(labels: Mapping[str, str]) -> dict[str, str]:
    return {str(k): str(v) for k, v in labels.items()}


def _timing(timing: SignalTiming, result: ReplayResult) -> dict[str, Any]:
    signal, firing = timing.signal, timing.firing
    notices = result.told(signal, firing)
    return {
        "rule": signal.rule,
        "group": signal.group,
        "series": _labels(signal.labels),
        "series_name": series_name(signal),
        "alert_labels": _labels(signal.alert_labels),
        "kind": signal.kind.value,
        "first_firing": _time(firing.start),
        "onset": _time(firing.onset),
        "lead_time_seconds": int(timing.lead),
        "explanation": firing.first.explanation,
        "score": _finite(firing.first.score),
        "firings": len(signal.firings),
        "told": None
        if notices is None
        else [{"notifier": n.notifier, "at": _time(n.at)} for n in notices],
        "told_text": told_text(result, signal, firing),
        "reaction": reaction_json(result, signal, firing),
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


def story_to_dict(story: Story) -> dict[str, Any]:
    return {
        "events": [
            {
                "at": _time(e.at),
                "kind": e.kind.value,
                "text": e.text,
                "rule": e.rule,
                "series": e.series,
                "told": e.told,
            }
            for e in story.events
        ],
        "movers": [
            {
                "series": m.series,
                "rule": m.rule,
                "kind": m.kind,
                "onset": _time(m.onset),
                "first_firing": _time(m.first_firing),
            }
            for m in story.movers
        ],
        "first_mover": None if story.first_mover is None else story.first_mover.series,
        "first_mover_text": story.first_mover_text,
        "hints": [
            {
                "a": h.a,
                "b": h.b,
                "leader": h.leader,
                "follower": h.follower,
                "lag_seconds": None if h.result is None else int(h.result.lag),
                "correlation": None if h.result is None else _finite(h.result.correlation),
                "threshold": None if h.result is None else _finite(h.result.threshold),
                "points": None if h.result is None else int(h.result.points),
                "step_seconds": None if h.result is None else int(h.result.step),
                "granger_p_a_to_b": None if h.result is None else _finite(h.result.granger_a_to_b),
                "granger_p_b_to_a": None if h.result is None else _finite(h.result.granger_b_to_a),
                "text": h.text,
            }
            for h in story.hints
        ],
        "changes": [{"at": _time(c.at), "what": c.what, "origin": c.origin} for c in story.changes],
        "changes_error": story.changes_error,
        "caveat": story.caveat,
    }


def _incident(result: IncidentResult, backtest: Backtest) -> dict[str, Any]:
    incident = result.incident
    start, end = backtest.settings.window(incident)
    return {
        "id": incident.id,
        "title": incident.title,
        "category": incident.category.value,
        "quarter": incident.quarter,
        "file": None if result.path is None else str(result.path),
        "services": [str(s) for s in incident.services],
        "impact": {"start": _time(incident.impact.start), "end": _time(incident.impact.end)},
        "detected": {"at": _time(incident.detected.at), "how": incident.detected.how.value},
        "window": {"from": _time(start), "to": _time(end)},
        "verdict": result.verdict.value,
        "verdict_text": verdict_detail(result),
        "caught": result.caught,
        "earliest_lead_seconds": result.earliest_lead,
        "ahead_of_humans_seconds": result.ahead_of_humans,
        "early": [_timing(t, result.result) for t in result.early],
        "late": [_timing(t, result.result) for t in result.late],
        "silent": [_outcome(o) for o in result.silent],
        "errors": [_outcome(o) for o in result.errors],
        "unwatched_rules": [o.rule for o in result.unwatched],
        "story": None if result.story is None else story_to_dict(result.story),
    }


def _quiet(quiet: QuietPeriods) -> dict[str, Any]:
    return {
        "requested": quiet.requested,
        "candidates": quiet.candidates,
        "weeks": [
            {
                "from": _time(w.start),
                "to": _time(w.end),
                "firings": w.firings,
                "rules_with_data": w.rules_with_data,
                "by_rule": dict(w.by_rule),
            }
            for w in quiet.weeks
        ],
        "firings": quiet.firings,
        "false_alarms_per_week": _finite(quiet.per_week),
    }


def _cell(cell: TrendCell) -> dict[str, Any]:
    return {"incidents": cell.incidents, "early": cell.early, "coverage": _finite(cell.coverage)}


def _trends(backtest: Backtest) -> dict[str, Any]:
    trends = category_trends(backtest.incidents)
    return {
        "quarters": list(trends.quarters),
        "rows": [
            {
                "category": category.value,
                "by_quarter": {q: _cell(c) for q, c in sorted(cells.items())},
                **_cell(total),
            }
            for category, cells, total in trends.rows
        ],
        "by_quarter": {q: _cell(c) for q, c in sorted(trends.per_quarter.items())},
        "total": _cell(trends.total),
    }


def backtest_to_dict(
    backtest: Backtest,
    *,
    by_category: bool = False,
    changes: Sequence[BaselineChange] | None = None,
    baseline_path: str | None = None,
) -> dict[str, Any]:
    settings = backtest.settings
    return {
        "schema_version": SCHEMA_VERSION,
        "settings": {
            "lookback_seconds": settings.lookback,
            "after_seconds": settings.after,
            "quiet_weeks": settings.quiet_weeks,
            "rules": backtest.rules,
        },
        "summary": {
            "incidents": len(backtest.incidents),
            **{verdict.value: backtest.count(verdict) for verdict in Verdict},
            "early_share": _finite(backtest.early_share),
            "median_lead_seconds": backtest.median_lead,
            "median_ahead_of_humans_seconds": backtest.median_ahead_of_humans,
            "false_alarms_per_week": _finite(backtest.quiet.per_week),
        },
        "quiet": _quiet(backtest.quiet),
        "baseline": None
        if changes is None
        else {
            "path": baseline_path,
            "regressions": sum(1 for c in changes if c.fails),
            "changes": [
                {"incident": c.incident, "kind": c.kind.value, "fails": c.fails, "text": c.text}
                for c in changes
            ],
        },
        "by_category": _trends(backtest) if by_category else None,
        "incidents": [_incident(r, backtest) for r in backtest.incidents],
    }


def render_backtest_json(
    backtest: Backtest,
    *,
    by_category: bool = False,
    changes: Sequence[BaselineChange] | None = None,
    baseline_path: str | None = None,
) -> str:
    data = backtest_to_dict(
        backtest, by_category=by_category, changes=changes, baseline_path=baseline_path
    )
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
