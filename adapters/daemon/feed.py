"""The daemon's detection state for one rule: a monitor fed what arrived since last cycle.

Replay and ``evaluate`` rebuild detection state from a recording; the daemon keeps it.
A :class:`RuleFeed` holds one :class:`~detector.monitor.RuleMonitor` per rule. Its first
cycle (a start, a rule added or changed by a reload) warms the monitor up from the
bounded history its state depends on (:meth:`RuleMonitor.history_seconds`), fetched in
time chunks so that memory stays bounded; every later cycle fetches only the steps since
the previous one (plus one step of overlap: a counter's rate and a sample-to-sample
movement need the sample before) and feeds them. Because the state at ``t`` depends only
on a bounded span before ``t``, the warmed-up state equals what a daemon that had run
all along would hold, and a cycle's findings equal replay's at that time.

A file source is read whole at every cycle, and a file can be replaced by one with a
different past (a re-export, a corrected recording). When the sample a file series
ended on last cycle comes back with another value, or a series appears that the file did
not hold before (with its history), the feed starts over from a warm-up,
so the daemon judges the file as it now reads. Server sources are not checked that way:
the newest point of a range query legitimately changes when a scrape lands late, and a
backfill into Prometheus is picked up on the next restart or reload, as recording
rules do.

A source outage is simply no new samples: the monitor keeps its state, and once the
latest sample of a series is stale it says nothing about it (the alert book decides
what that means for its alerts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from adapters.sources.base import Source
from detector.decide import decide_latest, stale_after
from detector.finding import Finding
from detector.monitor import RuleMonitor, Trace
from detector.rule import DEFAULT_STEP, Rule
from detector.series import Series, common_grid

WARM_UP_CHUNK = 86400
"""Seconds of history fetched at once while warming up a server rule."""
CHUNKED_SOURCES = frozenset({"prometheus", "loki"})
"""Sources whose history is fetched in chunks (file sources read a file once anyway)."""


@dataclass
class Advance:
    """What one cycle of a rule's feed produced."""

    findings: list[Finding]
    series: list[Series]
    warm_up: Trace | None = None
    """On a warm-up: the evidence of the span kept for restoring pending alerts."""
    monitor: RuleMonitor | None = None


@dataclass
class RuleFeed:
    """One rule's monitor and how far its source has been read."""

    rule: Rule
    monitor: RuleMonitor | None = None
    read_until: int | None = None
    last_fed: dict[str, tuple[int, float]] = field(default_factory=dict)
    """File sources: each series' last sample fed, to notice a replaced file."""

    def advance(self, source: Source, now: int, *, keep_from: int | None = None) -> Advance:
        """Feed the samples up to ``now`` and judge every series at ``now``.

        ``keep_from``: on a warm-up, the evidence from that time on is returned
        (``Advance.warm_up``), so the caller can rebuild pending alerts from it.
        """
        if self.monitor is None or self.read_until is None:
            return self._warm_up(source, now, keep_from)
        step = self.monitor.step
        fresh = source.fetch(self.rule, self.read_until - step, now)
        if any(one.step != step for one in fresh) or self._past_rewritten(fresh):
            self.monitor = None  # another step or another past: start over
            return self._warm_up(source, now, keep_from)
        _feed(self.monitor, fresh)
        self._remember(fresh)
        self.read_until = max(self.read_until, now)
        return Advance(decide_latest(self.monitor, now), fresh, monitor=self.monitor)

    def _remember(self, fed: Sequence[Series]) -> None:
        if self.rule.source in CHUNKED_SOURCES:
            return
        for one in fed:
            if len(one) > 0:
                self.last_fed[one.fingerprint] = (one.end, float(one.values[-1]))

    def _past_rewritten(self, fresh: Sequence[Series]) -> bool:
        """Whether a file series' last fed sample now reads differently, or a file now
        holds a series it did not (a re-export with more series brings their history)."""
        for one in fresh:
            seen = self.last_fed.get(one.fingerprint)
            if seen is None and self.rule.source == "file" and self.last_fed and len(one):
                return True
            if seen is None or len(one) == 0 or not one.start <= seen[0] <= one.end:
                continue
            now_reads = float(one.values[(seen[0] - one.start) // one.step])
            if now_reads != seen[1] and not (np.isnan(now_reads) and np.isnan(seen[1])):
                return True
        return False

    def _warm_up(self, source: Source, now: int, keep_from: int | None) -> Advance:
        guess = self.rule.step or DEFAULT_STEP
        start = now - RuleMonitor(self.rule, guess).history_seconds()
        scored_from = min(now, keep_from if keep_from is not None else now)
        monitor: RuleMonitor | None = None
        last: list[Series] = []
        trace: Trace | None = None
        for first, final in _spans(self.rule, start, now, scored_from):
            fetched = source.fetch(self.rule, first, final)
            if not fetched:
                continue
            if monitor is None or any(one.step != monitor.step for one in fetched):
                monitor = RuleMonitor(self.rule, fetched[0].step)
            scoring = final >= now
            trace = _feed(
                monitor,
                fetched,
                score_from=scored_from - stale_after(monitor) if scoring else now + 1,
            )
            last = fetched
        self.monitor = monitor
        self.read_until = now
        self.last_fed = {}
        self._remember(last)
        if monitor is None:
            return Advance([], [])
        return Advance(decide_latest(monitor, now), last, trace, monitor)


def _spans(rule: Rule, start: int, now: int, scored_from: int) -> list[tuple[int, int]]:
    """The fetches of a warm-up: history in day-sized chunks for server sources, then
    the span whose evidence is kept, in one piece."""
    keep = max(start, scored_from - 2 * WARM_UP_CHUNK)
    spans: list[tuple[int, int]] = []
    if rule.source in CHUNKED_SOURCES:
        edge = start
        while edge < keep:
            spans.append((edge, min(keep, edge + WARM_UP_CHUNK)))
            edge += WARM_UP_CHUNK
        spans.append((keep, now))
    else:
        spans.append((start, now))
    return spans


def _feed(monitor: RuleMonitor, fetched: Sequence[Series], score_from: int | None = None) -> Trace:
    """Lay the fetched series on one time grid and ingest them in one call."""
    step = monitor.step
    series = [one for one in fetched if len(one) > 0]
    if not series:
        return monitor.ingest(np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, 0)))
    grid, matrix = common_grid(series, step)
    rows = monitor.rows_for([one.fingerprint for one in series], [one.labels for one in series])
    return monitor.ingest(rows, grid, matrix, score_from=score_from)
