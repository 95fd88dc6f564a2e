"""One sentence a human reads in an alert: what changed, since when, by how much.

Example: ``latency_p99{service="checkout"} rose 18% (210 -> 248) since Tue 2026-11-17
03:10 UTC, still rising 2.1%/day; daily seasonality removed.``
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache

from detector.durations import format_duration

HIDDEN_LABELS = frozenset({"__name__", "sample"})
"""Not shown in a series' name: the metric name is shown before the braces, and a log
template's ``sample`` line is shown where a sentence quotes it, not in every name."""


def describe_series(labels: Mapping[str, str]) -> str:
    """Name a series the way Prometheus users write it: ``metric{a="b"}``."""
    return _describe(tuple(labels.items()))


@lru_cache(maxsize=4096)
def _describe(items: tuple[tuple[str, str], ...]) -> str:
    labels = dict(items)
    name = labels.get("__name__", "")
    rest = {k: v for k, v in labels.items() if k not in HIDDEN_LABELS}
    if not rest:
        return name or "the series"
    inner = ", ".join(f'{k}="{rest[k]}"' for k in sorted(rest))
    return f"{name}{{{inner}}}"


def describe_pattern(labels: Mapping[str, str]) -> str:
    """A log template as sentences name it: ``ERROR pattern "pool exhausted for <*>"``."""
    level = labels.get("level", "")
    template = labels.get("template", labels.get("pattern", "?"))
    return f'{level + " " if level else ""}pattern "{template}"'


def number(value: float) -> str:
    """Three significant digits, no scientific notation for everyday magnitudes."""
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 1e6 or (0 < magnitude < 1e-3):
        return f"{value:.3g}"
    if magnitude >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def percent(fraction: float) -> str:
    if not math.isfinite(fraction):
        return "from zero"
    return (
        f"{abs(fraction) * 100:.0f}%" if abs(fraction) >= 0.095 else f"{abs(fraction) * 100:.1f}%"
    )


@lru_cache(maxsize=4096)
def when(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%a %Y-%m-%d %H:%M UTC")


def seasonality_note(seasonality: str) -> str:
    return "" if seasonality == "none" else f"; {seasonality} seasonality removed"


def level_sentence(
    labels: Mapping[str, str],
    *,
    verb_up: str,
    verb_down: str,
    before: float,
    after: float,
    relative: float,
    onset: int,
    seasonality: str,
    tail: str = "",
) -> str:
    verb = verb_up if after >= before else verb_down
    return (
        f"{describe_series(labels)} {verb} {percent(relative)} ({number(before)} -> "
        f"{number(after)}) since {when(onset)}{tail}{seasonality_note(seasonality)}."
    )


def time_to_limit_phrase(seconds: float) -> str:
    return "now" if seconds <= 0 else f"in about {format_duration(seconds)}"


def format_step(step: int) -> str:
    return format_duration(step)
