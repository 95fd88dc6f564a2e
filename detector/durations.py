"""Prometheus-style durations (``90s``, ``5m``, ``1h30m``, ``7d``, ``2w``) as whole seconds.

Sub-second units are not accepted: graysignal works on steps of a second or more.
"""

from __future__ import annotations

import re

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"^(?:\d+(?:s|m|h|d|w|y))+$")
_PART = re.compile(r"(\d+)(s|m|h|d|w|y)")


def parse_duration(text: str) -> int:
    """Parse a duration into whole seconds; raise ``ValueError`` with the accepted forms."""
    cleaned = text.strip()
    if not _DURATION.match(cleaned):
        raise ValueError(
            f"invalid duration {text!r}: use a number with a unit, e.g. 30s, 5m, 1h30m, 7d, 2w"
        )
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(cleaned))
    return int(seconds)


def format_duration(seconds: float) -> str:
    """Render seconds compactly for humans: ``3d4h``, ``45m``, ``0s``."""
    remaining = round(abs(seconds))
    if remaining == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
        if len(parts) == 2:
            break
    return ("-" if seconds < 0 else "") + "".join(parts)
