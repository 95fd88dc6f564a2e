"""The weeks before a period, and what the previous digest's stored summary says of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from detector.periods import Period

_READABLE_VERSIONS: Final = frozenset({1, 2})


def _weeks_before(period: Period, count: int) -> list[Period]:
    """The ``count`` periods before ``period``, nearest first."""
    weeks: list[Period] = []
    current = period
    for _ in range(max(0, count)):
        current = current.previous()
        weeks.append(current)
    return weeks


def _previous_weeks(
    summary: Mapping[str, Any] | None, period: Period
) -> dict[str, dict[str, Any]] | None:
    """The previous digest's drifting alerts (``weeks``, ``at_least``, levels), if it is
    the digest of the period right before this one (matched on its label)."""
    if summary is None or summary.get("version") not in _READABLE_VERSIONS:
        return None
    if summary.get("period") != period.previous().label:
        return None  # not the period right before this one: count from the evaluation
    drifting = summary.get("drifting", {})
    entries: dict[str, dict[str, Any]] = {}
    for key, value in drifting.items():
        if isinstance(value, Mapping):
            entries[str(key)] = dict(value)
        else:  # version 1: just the weeks
            entries[str(key)] = {"weeks": int(value), "at_least": False}
    return entries
