"""Digest periods: ISO weeks in UTC (``2026-W47``) or the last N seconds before a time.

A week is ``(Monday 00:00 UTC, next Monday 00:00 UTC]``, the same for every reader and
every time zone, so a period's label is a stable key in the ledger ("posted once per
period"). A schedule's own time zone only decides *when* the digest is posted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from detector.durations import format_duration

__all__ = ["WEEK", "Period"]

WEEK = 7 * 86400
_ISO_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def _stamp(moment: datetime) -> int:
    return int(moment.timestamp())


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


@dataclass(frozen=True)
class Period:
    """The window a digest covers: samples and firings with ``start < t <= end``."""

    label: str
    start: int
    end: int

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"period {self.label!r}: end must be after start")

    @property
    def is_iso_week(self) -> bool:
        return _ISO_WEEK.match(self.label) is not None

    @classmethod
    def iso_week(cls, text: str) -> Period:
        """``2026-W47`` -> Monday 2026-11-16 00:00 UTC to Monday 2026-11-23 00:00 UTC."""
        match = _ISO_WEEK.match(text.strip())
        if match is None:
            raise ValueError(f"period {text!r} must look like 2026-W47 (ISO year and week)")
        year, week = int(match[1]), int(match[2])
        try:
            monday = datetime.fromisocalendar(year, week, 1).replace(tzinfo=UTC)
        except ValueError:
            raise ValueError(f"period {text!r}: {year} has no ISO week {week}") from None
        return cls(f"{year}-W{week:02d}", _stamp(monday), _stamp(monday + timedelta(days=7)))

    @classmethod
    def week_ending_before(cls, now: int) -> Period:
        """The last complete ISO week at ``now`` (a Monday 00:00 UTC ends the week before)."""
        moment = _utc(now)
        monday = (moment - timedelta(days=moment.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        year, week, _ = (monday - timedelta(days=7)).isocalendar()
        return cls.iso_week(f"{year}-W{week:02d}")

    @classmethod
    def since(cls, seconds: int, until: int) -> Period:
        """The ``seconds`` before ``until``, labelled e.g. ``7d to 2026-11-23T16:00:00Z``."""
        if seconds <= 0:
            raise ValueError("the period must be longer than zero seconds")
        end = _utc(until).strftime("%Y-%m-%dT%H:%M:%SZ")
        return cls(f"{format_duration(seconds)} to {end}", until - seconds, until)

    def previous(self) -> Period:
        """The period of the same length just before this one (last week, for a week)."""
        if self.is_iso_week:
            year, week, _ = (_utc(self.start) - timedelta(days=7)).isocalendar()
            return Period.iso_week(f"{year}-W{week:02d}")
        return Period.since(self.end - self.start, self.start)

    def describe(self) -> str:
        """``2026-W47 (Mon 16 Nov – Sun 22 Nov 2026, UTC)``, or the span of a ``--since``."""
        first, last = _utc(self.start), _utc(self.end - 1)
        if self.is_iso_week:
            return f"{self.label} ({first:%a %d %b} – {last:%a %d %b %Y}, UTC)"
        length = format_duration(self.end - self.start)
        return f"{first:%a %d %b %H:%M} – {_utc(self.end):%a %d %b %Y %H:%M} UTC ({length})"
