"""Links from an item to where its data can be seen: the template, its placeholders, filling it."""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote

from detector.digest.activities import _Activity
from detector.durations import format_duration
from detector.periods import Period

LINK_PLACEHOLDERS: Final = (
    "query",
    "rule",
    "series",
    "start",
    "end",
    "start_ms",
    "end_ms",
    "start_rfc3339",
    "end_rfc3339",
    "range",
)


def check_link_template(template: str) -> None:
    """``ValueError`` naming any placeholder that :func:`format_link` does not fill."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ValueError(f"link template: {exc}") from None
    unknown = sorted({n for n in names if n not in LINK_PLACEHOLDERS})
    if unknown or any(n == "" for n in names):
        shown = ", ".join(unknown) or "{}"
        allowed = ", ".join("{" + p + "}" for p in LINK_PLACEHOLDERS)
        raise ValueError(f"link template: unknown placeholder {shown}; use {allowed}")


def format_link(template: str, *, query: str, rule: str, series: str, period: Period) -> str:
    """Fill the template; every value is URL-encoded (a PromQL query is full of ``{"}``)."""
    values = {
        "query": query,
        "rule": rule,
        "series": series,
        "start": str(period.start),
        "end": str(period.end),
        "start_ms": str(period.start * 1000),
        "end_ms": str(period.end * 1000),
        "start_rfc3339": _rfc3339(period.start),
        "end_rfc3339": _rfc3339(period.end),
        "range": format_duration(period.end - period.start),
    }
    return template.format_map({k: quote(v, safe="") for k, v in values.items()})


def _link_for(
    activity: _Activity, period: Period, queries: Mapping[str, str], template: str | None
) -> str | None:
    if template is None:
        return None
    return format_link(
        template,
        query=queries.get(activity.rule, ""),
        rule=activity.rule,
        series=_series_text(activity.labels),
        period=period,
    )


def _series_text(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={labels[k]}" for k in sorted(labels))


def _rfc3339(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
