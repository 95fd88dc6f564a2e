"""The digest inside the daemon: at each scheduled time, queue last week's digest once.

The scheduler only *queues* (builds the digest and writes it to the ledger's outbox);
the daemon's delivery loop posts it with the same dispatcher that delivers alerts, so a
failed post is retried with backoff and survives restarts. What has been done is the
ledger's to say: a period already posted or queued for this destination is skipped,
so a restart, a second replica sharing the file, or a catch-up never posts twice.

Catch-up: a daemon that was down at the scheduled time queues the missed period when
it starts, if the missed run is less than a week old.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

import structlog

from adapters.digest.collect import DigestOptions, collect_digest
from adapters.digest.publish import poster_from_settings, queue_digest
from adapters.digest.schedule import Schedule
from adapters.digest.settings import DigestSettings
from adapters.digest.slack_poster import SlackDigestPoster
from adapters.errors import InputError
from adapters.ledger import DigestRecord, Ledger
from adapters.replaying import ScheduledRule
from adapters.sources.base import Source
from detector.periods import WEEK, Period
from detector.suppressions import Suppression

__all__ = ["DigestScheduler", "SchedulerClock", "scheduler_from_settings"]

log = structlog.get_logger("graysignal.digest")


class SchedulerClock(Protocol):
    """The daemon's clock (``WallClock`` or a test's fake)."""

    def now(self) -> float: ...

    def sleep_until(self, moment: float, stop: threading.Event) -> bool: ...


class DigestScheduler:
    """Queues the digest of the week that ended before each scheduled time."""

    def __init__(
        self,
        *,
        schedule: Schedule,
        ledger: Ledger,
        poster: SlackDigestPoster,
        sources: Mapping[str, Source],
        plan: Callable[[], Sequence[ScheduledRule]],
        suppressions: Callable[[], Sequence[Suppression]],
        options: DigestOptions,
        clock: SchedulerClock,
    ) -> None:
        self.schedule = schedule
        self.ledger = ledger
        self.poster = poster
        self.sources = sources
        self.plan = plan
        self.suppressions = suppressions
        self.options = options
        self.clock = clock

    def run_for(self, scheduled: float) -> DigestRecord | None:
        """Queue the digest due at ``scheduled``; ``None`` when the ledger already has it."""
        period = Period.week_ending_before(int(scheduled))
        bound = log.bind(period=period.label, destination=self.poster.destination)
        done = [
            r
            for r in self.ledger.digests_for(period.label, self.poster.destination)
            if self.ledger.blocks_requeue(r)
        ]
        if done:
            if done[-1].status == "abandoned":
                bound.error(
                    f"digest {period.label} was refused after {done[-1].parts_posted} of "
                    f"{done[-1].parts} parts were posted; not posting it again (would repeat "
                    "those parts); `graysignal digest --period "
                    f"{period.label} --post --force` posts it again",
                    error=done[-1].last_error,
                )
            else:
                bound.info(
                    "digest already in the ledger; not posting again", status=done[-1].status
                )
            return None
        options = replace(self.options, suppressions=self._suppressions())
        digest = collect_digest(
            self.plan(), self.sources, period, options=options, ledger=self.ledger
        )
        record = queue_digest(self.ledger, digest, self.poster, now=int(self.clock.now()))
        if record is not None:
            bound.info("digest queued", parts=record.parts, counts=digest.counts())
        return record

    def catch_up(self, now: float) -> DigestRecord | None:
        """Queue a run missed while the daemon was down, if it is less than a week old."""
        missed = self.schedule.latest_at_or_before(now)
        if now - missed >= WEEK:
            return None
        return self.run_for(missed)

    def loop(self, stop: threading.Event) -> None:
        """The scheduler thread: catch up, then sleep until each scheduled time."""
        log.info("digest scheduled", schedule=str(self.schedule), to=self.poster.destination)
        self._safely(self.catch_up, self.clock.now())
        while not stop.is_set():
            due = self.schedule.next_after(self.clock.now())
            if not self.clock.sleep_until(due, stop):
                return
            self._safely(self.run_for, due)

    def _suppressions(self) -> tuple[Suppression, ...]:
        try:
            return tuple(self.suppressions())
        except InputError as exc:  # the digest still goes out, without that section
            for problem in exc.problems:
                log.warning("suppressions file rejected; digest without it", problem=str(problem))
            return ()

    def _safely(self, action: Callable[[float], object], moment: float) -> None:
        try:
            action(moment)
        except Exception:  # a bad week must not kill the thread; the next run tries again
            log.exception("digest run failed")


def scheduler_from_settings(
    settings: DigestSettings,
    ledger: Ledger,
    *,
    sources: Mapping[str, Source],
    plan: Callable[[], Sequence[ScheduledRule]],
    suppressions: Callable[[], Sequence[Suppression]],
    clock: SchedulerClock,
    shard: tuple[int, int] | None = None,
) -> DigestScheduler | None:
    """The daemon's scheduler when ``digest.schedule`` and a destination are set.

    A sharded replica evaluates only its groups, so its digest says which shard it is:
    N replicas post N digests, each titled with its part.
    """
    schedule = settings.parsed_schedule
    poster = poster_from_settings(settings, ledger)
    if schedule is None or poster is None:
        return None
    late = schedule.late_runs(clock.now())
    if late:
        first = datetime.fromtimestamp(late[0], tz=UTC).strftime("%a %H:%M UTC")
        log.warning(
            f"digest.schedule {schedule} fires at {first}, before the ISO week (UTC) it "
            "should post has ended: each run posts the week before; schedule it on Monday "
            "at or after 00:00 UTC",
            schedule=str(schedule),
        )
    return DigestScheduler(
        schedule=schedule,
        ledger=ledger,
        poster=poster,
        sources=sources,
        plan=plan,
        suppressions=suppressions,
        options=DigestOptions(
            history_weeks=settings.history_weeks,
            group_labels=tuple(settings.group_labels),
            link_template=settings.link_template,
            scope="" if shard is None else f"shard {shard[0] + 1} of {shard[1]}",
        ),
        clock=clock,
    )
