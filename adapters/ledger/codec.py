"""JSON as stored in the ledger: strict JSON, and findings and alerts that round-trip."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from detector.alerts import Alert, AlertState
from detector.finding import Direction, Finding, Kind

# -- JSON ----------------------------------------------------------------------------------


def _json_default(value: object) -> Any:
    """numpy scalars (``np.int64`` timestamps) become plain Python numbers."""
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _dumps(value: Any) -> str:
    """Strict JSON (no NaN/Infinity), so any SQLite JSON function or tool can read it."""
    return json.dumps(value, allow_nan=False, separators=(",", ":"), default=_json_default)


def _text_for_non_finite(value: Any) -> Any:
    """Non-finite floats as the text ``float()`` reads back (``"inf"``), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: _text_for_non_finite(v) for k, v in value.items()}
    return value


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def finding_to_json(finding: Finding) -> dict[str, Any]:
    """``Finding.to_dict`` with non-finite floats as text, so it round-trips exactly."""
    return dict(_text_for_non_finite(finding.to_dict()))


def finding_from_json(data: Mapping[str, Any]) -> Finding:
    """The inverse of :func:`finding_to_json`."""
    return Finding(
        rule=str(data["rule"]),
        labels={str(k): str(v) for k, v in data["labels"].items()},
        kind=Kind(data["kind"]),
        onset=int(data["onset"]),
        detected_at=int(data["detected_at"]),
        direction=Direction(data["direction"]),
        before=float(data["before"]),
        after=float(data["after"]),
        relative_change=float(data["relative_change"]),
        score=float(data["score"]),
        explanation=str(data["explanation"]),
        slope_per_day=_optional_float(data.get("slope_per_day")),
        time_to_limit=_optional_float(data.get("time_to_limit")),
        seasonality=str(data.get("seasonality", "none")),
        extra={str(k): float(v) for k, v in data.get("extra", {}).items()},
    )


def _alert_to_json(alert: Alert) -> dict[str, Any]:
    return {
        "labels": dict(alert.labels),
        "kind": alert.kind.value,
        "series_fingerprint": alert.series_fingerprint,
        "state": alert.state.value,
        "active_since": int(alert.active_since),
        "last_seen": int(alert.last_seen),
        "finding": finding_to_json(alert.finding),
        "first_finding": finding_to_json(alert.first_finding),
        "fired_at": alert.fired_at,
        "keep_firing_since": alert.keep_firing_since,
    }


def _alert_from_json(data: Mapping[str, Any]) -> Alert:
    return Alert(
        labels={str(k): str(v) for k, v in data["labels"].items()},
        kind=Kind(data["kind"]),
        series_fingerprint=str(data["series_fingerprint"]),
        state=AlertState(data["state"]),
        active_since=int(data["active_since"]),
        last_seen=int(data["last_seen"]),
        finding=finding_from_json(data["finding"]),
        first_finding=finding_from_json(data["first_finding"]),
        fired_at=None if data["fired_at"] is None else int(data["fired_at"]),
        keep_firing_since=(
            None if data["keep_firing_since"] is None else int(data["keep_firing_since"])
        ),
    )
