"""When the daemon posts the digest: a cron expression in a named time zone.

``0 9 * * MON Europe/Berlin`` means Mondays at 09:00 wall-clock time in Berlin, summer
and winter alike: croniter computes the next time on a time-zone-aware datetime, so a
daylight-saving change moves the UTC instant, not the local hour. Five fields (minute,
hour, day of month, month, day of week), then an optional IANA zone (default ``UTC``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

__all__ = ["Schedule"]

_FIELDS = 5


@dataclass(frozen=True)
class Schedule:
    """A parsed ``digest.schedule``; :meth:`parse` explains every mistake."""

    expression: str
    zone: str

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """``"0 9 * * MON Europe/Berlin"`` -> ``Schedule("0 9 * * MON", "Europe/Berlin")``."""
        parts = text.split()
        if len(parts) == _FIELDS:
            expression, zone = " ".join(parts), "UTC"
        elif len(parts) == _FIELDS + 1:
            expression, zone = " ".join(parts[:_FIELDS]), parts[_FIELDS]
        else:
            raise ValueError(
                f"{text!r} must be five cron fields (minute hour day-of-month month "
                "day-of-week) and an optional IANA time zone, e.g. '0 9 * * MON Europe/Berlin'"
            )
        if not croniter.is_valid(expression):
            raise ValueError(f"{expression!r} is not a valid cron expression")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {zone!r}; use an IANA name such as Europe/Berlin"
            ) from None
        return cls(expression, zone)

    def __str__(self) -> str:
        return f"{self.expression} {self.zone}"

    def next_after(self, moment: float) -> int:
        """The first scheduled time strictly after ``moment`` (Unix seconds)."""
        start = datetime.fromtimestamp(moment, tz=UTC).astimezone(ZoneInfo(self.zone))
        return int(croniter(self.expression, start).get_next(datetime).timestamp())

    def latest_at_or_before(self, moment: float) -> int:
        """The last scheduled time at or before ``moment`` (a missed run to catch up on)."""
        start = datetime.fromtimestamp(moment + 1, tz=UTC).astimezone(ZoneInfo(self.zone))
        return int(croniter(self.expression, start).get_prev(datetime).timestamp())
