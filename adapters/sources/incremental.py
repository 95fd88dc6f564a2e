"""Incremental fetching for the daemon: the whole history once, then only the new tail.

The daemon evaluates each rule every interval over ``(now - history, now]``; history
is days, the interval a minute. Re-reading days of data every minute would make each
cycle O(window) per series in network, server load and parsing, where the design asks
for O(new samples) (DESIGN.md §9). :class:`IncrementalFetcher` wraps any
:class:`~adapters.sources.base.Source` and keeps, per rule, a bounded buffer of the
series it has seen:

- the first call for a rule (or one reaching further back than the buffer, or back in
  time) fetches the full range from the source;
- later calls fetch only ``(last_end - step, end]``: the new tail plus one step of
  overlap, so a sample that arrived late in the last step (scrape or ingestion delay,
  VictoriaMetrics' ``-search.latencyOffset``) replaces what was read before;
- buffers keep the rule's required history (:func:`detector.evaluate.required_history`
  at the data's step), or the span of the last request if that is longer; a series
  that vanished from the source is dropped once its last sample has aged out of it.

Every call returns the samples a full fetch of ``(start, end]`` returns, as full
:class:`~detector.series.Series` trimmed to their first and last non-NaN sample (the
form :func:`trimmed` gives). The server sources answer in exactly that form (a NaN
value is a gap there, like a missing sample), so for them the result is identical,
array for array, to a full fetch; tests prove it, step by step. That holds while the
data behind the one-step overlap does not change; a sample arriving later than that is
seen after the next full fetch (a restart, or an edited rule).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from adapters.sources.base import Source
from detector.rule import DEFAULT_STEP, Rule
from detector.series import Series


@dataclass
class _RuleBuffer:
    """What is known about one rule: every sample the source has in
    ``(covered_from, last_end]``, per series (by fingerprint), on one step."""

    step: int
    covered_from: int
    last_end: int
    series: dict[str, Series] = field(default_factory=dict)


class IncrementalFetcher:
    """A :class:`Source` that remembers: wrap the daemon's sources in one of these.

    ``history(rule, step)`` is how many seconds before ``end`` a rule's buffer keeps at
    least (default :func:`~detector.evaluate.required_history`); ``default_step`` is the
    step assumed for a rule whose first fetch returned no series and that sets none.
    Thread-safe: rules may be fetched concurrently (one rule at a time per rule).
    """

    def __init__(
        self,
        source: Source,
        *,
        history: Callable[[Rule, int], int] | None = None,
        default_step: int = DEFAULT_STEP,
    ) -> None:
        if history is None:
            # The detection engine is imported with the first wrapped source, not with
            # adapters.sources: commands that only validate files never need it.
            from detector.evaluate import required_history  # noqa: PLC0415

            history = required_history
        self.source = source
        self._history = history
        self._default_step = default_step
        self._buffers: dict[str, _RuleBuffer] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.full_fetches = 0
        self.tail_fetches = 0

    def fetch(self, rule: Rule, start: int, end: int) -> list[Series]:
        """The rule's series in ``(start, end]``, fetching from the source only what is new.

        ``by: pattern`` rules pass straight through: their source keeps each template's
        history itself, so that a template first seen in a new step still has the
        silence before it (a buffer here only knows the series it has seen).
        """
        if rule.by_pattern:
            return self.source.fetch(rule, start, end)
        key = _rule_key(rule)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            buffer = self._buffers.get(key)
            if buffer is None or start < buffer.covered_from or end < buffer.last_end:
                buffer = self._full(rule, start, end)
            else:
                buffer = self._tail(rule, buffer, end) or self._full(rule, start, end)
            result = _window(buffer.series.values(), start, end)
            self._trim(rule, buffer, start, end)
            self._buffers[key] = buffer
            return result

    def buffered(self, rule: Rule) -> list[Series]:
        """Everything held for ``rule`` (for tests and memory accounting)."""
        buffer = self._buffers.get(_rule_key(rule))
        return list(buffer.series.values()) if buffer is not None else []

    def forget(self, rule: Rule) -> None:
        """Drop a rule's buffer (a rule removed from the rule files)."""
        with self._guard:
            self._buffers.pop(_rule_key(rule), None)

    def _full(self, rule: Rule, start: int, end: int) -> _RuleBuffer:
        fetched = self.source.fetch(rule, start, end)
        self.full_fetches += 1
        step = fetched[0].step if fetched else (rule.step or self._default_step)
        return _RuleBuffer(
            step=step,
            covered_from=start,
            last_end=end,
            series={s.fingerprint: s for s in trimmed(fetched)},
        )

    def _tail(self, rule: Rule, buffer: _RuleBuffer, end: int) -> _RuleBuffer | None:
        """Fetch ``(last_end - step, end]`` and splice it on; ``None`` if the source
        changed its step (then only a full fetch gives a consistent answer)."""
        since = max(buffer.covered_from, buffer.last_end - buffer.step)
        fresh = self.source.fetch(rule, since, end)
        self.tail_fetches += 1
        if any(s.step != buffer.step for s in fresh):
            return None
        merged: dict[str, Series] = {}
        for fp, old in buffer.series.items():
            kept = old.between(old.start - 1, since) if len(old) else old
            if len(kept):
                merged[fp] = kept
        for new in trimmed(fresh):
            old_part = merged.get(new.fingerprint)
            merged[new.fingerprint] = new if old_part is None else _splice(old_part, new)
        return _RuleBuffer(
            step=buffer.step, covered_from=buffer.covered_from, last_end=end, series=merged
        )

    def _trim(self, rule: Rule, buffer: _RuleBuffer, start: int, end: int) -> None:
        """Keep the rule's required history (or the span just asked for, if longer:
        a caller that computes the history at another step must not cause a full
        fetch every time); drop series with nothing left."""
        keep = max(self._history(rule, buffer.step), end - start)
        floor = max(buffer.covered_from, end - keep)
        if floor == buffer.covered_from:
            return
        kept = trimmed(s.between(floor, end) for s in buffer.series.values())
        buffer.series = {s.fingerprint: s for s in kept}
        buffer.covered_from = floor


def _rule_key(rule: Rule) -> str:
    """A rule's identity: any edit (query, step, window) starts a fresh buffer."""
    return json.dumps(rule.model_dump(mode="json", by_alias=True), sort_keys=True)


def _splice(old: Series, new: Series) -> Series:
    """``old`` followed by ``new`` (which starts later), NaN in any slots between."""
    step = old.step
    gap = np.arange(old.end + step, new.start, step, dtype=np.int64)
    timestamps = np.concatenate([old.timestamps, gap, new.timestamps])
    values = np.concatenate([old.values, np.full(gap.size, np.nan), new.values])
    return Series(old.labels, timestamps, values, step)


def _window(series: Iterable[Series], start: int, end: int) -> list[Series]:
    return trimmed(one.between(start, end) for one in series)


def trimmed(series: Iterable[Series]) -> list[Series]:
    """Each series cut to its first and last non-NaN sample; all-NaN series dropped.

    Leading and trailing NaN slots carry no data; which of them a source includes
    depends on where a range happened to start, so they are left out to make the answer
    depend only on the samples.
    """
    out: list[Series] = []
    for one in series:
        present = np.flatnonzero(~np.isnan(one.values))
        if present.size:
            lo, hi = int(present[0]), int(present[-1]) + 1
            part = one if (lo, hi) == (0, len(one)) else _slice(one, lo, hi)
            out.append(part)
    return out


def _slice(series: Series, lo: int, hi: int) -> Series:
    return Series(series.labels, series.timestamps[lo:hi], series.values[lo:hi], series.step)
