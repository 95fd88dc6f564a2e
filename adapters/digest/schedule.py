"""When the daemon posts the digest: a cron expression in a named time zone.

``0 9 * * MON Europe/Berlin`` means Mondays at 09:00 wall-clock time in Berlin, summer
and winter alike: croniter computes the next time on a time-zone-aware datetime, so a
daylight-saving change moves the UTC instant, not the local hour. Five fields (minute,
hour, day of month, month, day of week), then an optional IANA zone (default ``UTC``).

Each run posts the ISO week (UTC) that ended most recently before it. A schedule that
fires before Monday 00:00 UTC (Monday 08:00 in Tokyo is Sunday 23:00 UTC) therefore
posts the week before last: :meth:`Schedule.late_runs` finds such runs and the daemon
warns about them when it loads the schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from detector.periods import WEEK, Period

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

    def late_runs(self, moment: float, *, weeks: int = 4) -> list[int]:
        """Runs in the ``weeks`` after ``moment`` that are the first after an ISO week
        (UTC) ended but come six days or more after it: each posts a week that ended
        long ago (a Monday-morning schedule east of UTC fires on Sunday, UTC)."""
        late: list[int] = []
        run = self.next_after(moment)
        while run <= moment + weeks * WEEK:
            ended = Period.week_ending_before(run)
            first = self.latest_at_or_before(run - 1) <= ended.end
            if first and run - ended.end >= 6 * 86400:
                late.append(run)
            run = self.next_after(run)
        return late
