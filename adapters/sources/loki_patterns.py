"""``source: loki`` with ``log: {by: pattern}``: per-template line counts from Loki.

Two paths, chosen per rule (``log.patterns_from``; ``check --probe`` says which one):

- **server**: Loki's own pattern detection, ``GET /loki/api/v1/patterns`` with the rule's
  stream selector as ``query``, ``start``/``end`` in Unix nanoseconds and ``step``. Loki
  answers ``{"status": "success", "data": [{"pattern": "<_> ... <_>", "level": "error",
  "samples": [[<unix seconds>, <count>], ...]}]}`` (``level`` since Loki 3.x); a sample
  at ``t`` counts the lines of ``[t, t + step)``, so it lands in graysignal's slot
  ``t + step``. A template's id is a hash of Loki's pattern text. Loki keeps patterns
  only for recent data (the pattern ingesters' window), so slots before Loki's earliest
  sample are left out, never read as silence: a template is never "new" for want of
  history.
- **local**: the rule's log query through ``GET /loki/api/v1/query_range``
  (``direction=forward``, pages of ``GRAYSIGNAL_LOKI_MAX_LINES_PER_REQUEST`` lines, time
  chunks as for metric queries), mined here exactly like a log file
  (:mod:`adapters.logpatterns`). The level comes from the stream's ``level``,
  ``detected_level`` or ``severity`` label, else from the line itself.

``auto`` (the default) asks the patterns endpoint once per rule and uses it when Loki
offers it (HTTP 200); an answer of 404, 405 or 501, or a pattern ingester that is not
running ("empty ring", "not enabled") means **local**.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from adapters.errors import InputError
from adapters.logpatterns.counts import (
    OTHER,
    OTHER_TEMPLATE,
    TEMPLATE_LABEL_CHARS,
    PatternCounts,
    shorten,
)
from adapters.logpatterns.lines import LineParser
from adapters.logpatterns.masking import scrub
from adapters.logpatterns.miner import PatternMiner
from adapters.sources.http import (
    RequestContext,
    error_text,
    log_warnings,
    plan_chunks,
    rule_step,
    with_retries,
)
from adapters.sources.logs import normalise_level
from detector.evaluate import required_history
from detector.rule import LogOptions, Rule
from detector.series import Series

if TYPE_CHECKING:
    from adapters.sources.loki import LokiSource

PATTERNS_PATH = "/loki/api/v1/patterns"
QUERY_RANGE_PATH = "/loki/api/v1/query_range"
NS = 1_000_000_000
SERVER = "server"
LOCAL = "local"
PATH_NAMES = {
    SERVER: "Loki's patterns endpoint (/loki/api/v1/patterns)",
    LOCAL: "log lines from query_range, mined here",
}
LEVEL_LABELS = ("level", "detected_level", "severity", "lvl")
_NOT_OFFERED_TEXT = ("empty ring", "not enabled", "disabled", "not found")


class NotOffered(Exception):
    """The Loki asked has no patterns endpoint (or no pattern ingester running)."""


@dataclass
class _Local:
    """What the local path keeps per rule between fetches: the miner."""

    miner: PatternMiner
    lock: threading.Lock


class LokiPatterns:
    """The ``by: pattern`` half of a :class:`~adapters.sources.loki.LokiSource`."""

    def __init__(self, source: LokiSource) -> None:
        self._source = source
        self._paths: dict[tuple[str, str], str] = {}
        self._local: dict[tuple[str, str], _Local] = {}
        self._history: dict[tuple[str, str], _ServerHistory] = {}
        self._lock = threading.Lock()

    def _ctx(self, rule: Rule) -> RequestContext:
        settings = self._source.settings
        return RequestContext(
            rule=rule.signal, source="loki", url=settings.public_url, secrets=settings.secrets()
        )

    def path(self, rule: Rule, now: int) -> str:
        """``server`` or ``local`` (see the module doc); ``auto`` asks Loki once."""
        options = _options(rule)
        if options.patterns_from != "auto":
            return SERVER if options.patterns_from == "server" else LOCAL
        key = (rule.signal, rule.query or "")
        with self._lock:
            known = self._paths.get(key)
        if known is not None:
            return known
        step = rule_step(rule.step)
        try:
            self._request_patterns(rule, now - step, now, step)
            chosen = SERVER
        except NotOffered:
            chosen = LOCAL
        with self._lock:
            self._paths[key] = chosen
        return chosen

    def fetch(self, rule: Rule, start: int, end: int) -> list[Series]:
        if not rule.query:
            raise InputError.at(rule.signal, "source 'loki' needs 'query'")
        if self.path(rule, end) == SERVER:
            return self._from_server(rule, start, end)
        return self._from_lines(rule, start, end)

    # -- server ---------------------------------------------------------------------

    def _request_patterns(self, rule: Rule, first: int, last: int, step: int) -> list[Any]:
        """Patterns whose samples cover the slots ``first..last`` (one request)."""
        ctx = self._ctx(rule)
        params = {
            "query": rule.query or "",
            "start": str((first - step) * NS),
            "end": str(last * NS),
            "step": f"{step}s",
        }

        def not_offered(status: int, body: bytes) -> None:
            text = error_text(body).lower()
            if status in (404, 405, 501) or (
                status >= 400 and any(word in text for word in _NOT_OFFERED_TEXT)
            ):
                raise NotOffered(f"HTTP {status}")

        attempt = partial(self._source.get_json, PATTERNS_PATH, params, ctx, check=not_offered)
        payload = with_retries(attempt, ctx, self._source.policy)
        log_warnings(payload, ctx)
        if payload.get("status") != "success" or not isinstance(payload.get("data"), list):
            raise ctx.error("unexpected answer from the patterns endpoint: no 'data' list")
        return list(payload["data"])

    def _from_server(self, rule: Rule, start: int, end: int) -> list[Series]:
        """Template series over ``(start, end]`` from the patterns endpoint.

        Samples are kept per rule for its required history (:class:`_ServerHistory`) and
        Loki is asked only for the steps after those already read (with one step of
        overlap, for late lines), so the daemon's cycles cost a step each, and a template
        first seen in a new step still has the silence before it on record.
        """
        step = rule_step(rule.step)
        source = self._source
        span = int(source.settings.max_query_days * 86400)
        key = (rule.signal, rule.query or "")
        with self._lock:
            history = self._history.setdefault(
                key, _ServerHistory(step, required_history(rule, step))
            )
        with history.lock:
            ask_from = start
            if history.asked is not None and history.asked[0] <= start <= history.asked[1]:
                ask_from = max(start, history.asked[1] - step)  # one step of overlap
            chunks = plan_chunks(ask_from, end, step, max_points=source.max_points, max_span=span)
            for chunk in chunks:
                answered = self._request_patterns(rule, chunk.first, chunk.last, step)
                history.replace(chunk.first, chunk.last, answered)
            if history.asked is None or ask_from == start:
                history.asked = (start, end)
            else:
                history.asked = (history.asked[0], max(end, history.asked[1]))
            return history.series(start, end, cap=_options(rule).max_patterns)

    # -- local ----------------------------------------------------------------------

    def _from_lines(self, rule: Rule, start: int, end: int) -> list[Series]:
        step = rule_step(rule.step)
        options = _options(rule)
        key = (rule.signal, rule.query or "")
        with self._lock:
            local = self._local.setdefault(key, _Local(PatternMiner(), threading.Lock()))
        counts = PatternCounts(
            step=step,
            cap=options.max_patterns,
            retention=required_history(rule, step),
            keep_all=True,
        )
        parser = LineParser(options)
        first_slot = (start // step + 1) * step
        slots: list[int] = []
        rows: list[int] = []
        with local.lock:
            for ns, stream, line in self._lines(rule, first_slot - step, (end // step) * step):
                parsed = parser.parse(line)
                level = _stream_level(stream)
                if parsed is not None:
                    level = level or parsed[1]
                    message = parsed[2]
                else:
                    message = line.strip()
                level = level or "UNKNOWN"
                slot = -(-(ns // NS) // step) * step  # whole seconds, end-labelled, as files
                cid = local.miner.assign(message)
                pid = local.miner.pattern_id(cid)
                row = counts.find(level, pid)
                if row is None:
                    template = local.miner.template(cid) or ""
                    row = counts.row_for(level, pid, template, scrub(line.strip()), slot)
                counts.touch(row, slot)
                slots.append(slot)
                rows.append(row)
            counts.add(np.asarray(slots, dtype=np.int64), np.asarray(rows, dtype=np.int64))
            return counts.series(start, end, labels={}, templates=local.miner.templates())

    def _lines(self, rule: Rule, low: int, high: int) -> list[tuple[int, dict[str, str], str]]:
        """Every line with a timestamp in ``(low, high]`` seconds, oldest first."""
        source = self._source
        ctx = self._ctx(rule)
        limit = source.settings.max_lines_per_request
        span = int(source.settings.max_query_days * 86400)
        out: list[tuple[int, dict[str, str], str]] = []
        begin, stop = low * NS + 1, high * NS + 1  # Loki: start inclusive, end exclusive
        chunk_ns = span * NS
        at = begin
        while at < stop:
            chunk_end = min(stop, at + chunk_ns)
            page_start = at
            seen_at_start: set[tuple[int, str, str]] = set()
            while True:
                params = {
                    "query": rule.query or "",
                    "start": str(page_start),
                    "end": str(chunk_end),
                    "limit": str(limit),
                    "direction": "forward",
                }
                payload = with_retries(
                    partial(source.get_json, QUERY_RANGE_PATH, params, ctx), ctx, source.policy
                )
                log_warnings(payload, ctx)
                entries = _stream_entries(payload, ctx)
                fresh = [e for e in entries if (e[0], _key(e[1]), e[2]) not in seen_at_start]
                out.extend(fresh)
                if len(entries) < limit or not entries:
                    break
                last_ns = entries[-1][0]
                if last_ns == page_start and not fresh:
                    raise ctx.error(
                        f"more than {limit} lines share one timestamp; raise "
                        "GRAYSIGNAL_LOKI_MAX_LINES_PER_REQUEST"
                    )
                page_start = last_ns
                seen_at_start = {(e[0], _key(e[1]), e[2]) for e in entries if e[0] == last_ns}
            at = chunk_end
        out.sort(key=lambda e: e[0])
        return out


class _ServerHistory:
    """One rule's pattern samples from Loki, by slot, for its required history."""

    def __init__(self, step: int, retention: int) -> None:
        self.step = step
        self.retention = retention
        self.lock = threading.Lock()
        self.samples: dict[tuple[str, str], dict[int, float]] = {}
        self.texts: dict[str, str] = {}
        self.first_seen: dict[tuple[str, str], int] = {}
        self.earliest: int | None = None  # the earliest slot Loki answered for
        self.asked: tuple[int, int] | None = None  # the range (start, end] read so far

    def replace(self, first: int, last: int, answered: list[Any]) -> None:
        """Slots ``first..last`` as Loki answers them now (a re-read replaces)."""
        step = self.step
        for slots in self.samples.values():
            for slot in [s for s in slots if first <= s <= last]:
                del slots[slot]
        for item in answered:
            if not isinstance(item, dict) or not isinstance(item.get("pattern"), str):
                continue
            text = item["pattern"]
            level = item.get("level")
            level = normalise_level(level) if isinstance(level, str) and level else ""
            pid = hashlib.sha256(text.encode()).hexdigest()[:8]
            self.texts[pid] = text
            slots = self.samples.setdefault((level, pid), {})
            for sample in item.get("samples") or []:
                try:
                    slot = int(sample[0]) + step
                    value = float(sample[1])
                except (TypeError, ValueError, IndexError):
                    continue
                if first <= slot <= last and value > 0:
                    slots[slot] = slots.get(slot, 0.0) + value
                    self.earliest = slot if self.earliest is None else min(self.earliest, slot)
                    seen = self.first_seen.get((level, pid))
                    self.first_seen[(level, pid)] = slot if seen is None else min(seen, slot)
        newest = max((max(s) for s in self.samples.values() if s), default=last)
        horizon = newest - self.retention - step
        for key in list(self.samples):
            slots = self.samples[key]
            for slot in [s for s in slots if s <= horizon]:
                del slots[slot]
            if not slots:
                del self.samples[key]
                self.first_seen.pop(key, None)
        if self.earliest is not None:
            self.earliest = max(self.earliest, horizon + step)

    def series(self, start: int, end: int, *, cap: int) -> list[Series]:
        """Every template over ``(start, end]`` from the earliest answered slot, zeros
        where it had no line; templates beyond ``cap`` (by first sighting) as ``other``."""
        if self.earliest is None:
            return []
        step = self.step
        low = max(self.earliest, (start // step + 1) * step)
        high = (end // step) * step
        if high < low:
            return []
        grid = np.arange(low, high + step, step, dtype=np.int64)
        followed = set(sorted(self.first_seen, key=lambda k: (self.first_seen[k], k[1]))[:cap])
        rows: dict[tuple[str, str], np.ndarray[Any, Any]] = {}
        for key, slots in self.samples.items():
            target = key if key in followed else (key[0], OTHER)
            values = rows.setdefault(target, np.zeros(grid.size))
            for slot, value in slots.items():
                if low <= slot <= high:
                    values[(slot - low) // step] += value
        out = []
        for (level, pid), values in sorted(rows.items()):
            if not values.any():
                continue
            text = OTHER_TEMPLATE if pid == OTHER else self.texts.get(pid, "")
            labels = {"pattern": pid, "template": shorten(text, TEMPLATE_LABEL_CHARS)}
            if level:
                labels["level"] = level
            out.append(Series(labels, grid, values, step))
        return out


def _options(rule: Rule) -> LogOptions:
    return rule.log if rule.log is not None else LogOptions(by="pattern")


def _key(stream: Mapping[str, str]) -> str:
    return "\x1f".join(f"{k}={stream[k]}" for k in sorted(stream))


def _stream_level(stream: Mapping[str, str]) -> str:
    for name in LEVEL_LABELS:
        value = stream.get(name)
        if value:
            return normalise_level(value)
    return ""


def _stream_entries(
    payload: Mapping[str, Any], ctx: RequestContext
) -> list[tuple[int, dict[str, str], str]]:
    """``(ns, stream labels, line)`` of a ``streams`` answer, oldest first."""
    if payload.get("status") != "success":
        raise ctx.error(f"the query failed: {payload.get('error') or payload.get('status')}")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise ctx.error("unexpected answer: no 'data' object")
    if data.get("resultType") != "streams":
        raise ctx.error(
            f'by: pattern needs a log query (a stream selector such as {{app="x"}}), '
            f"but the answer was {data.get('resultType')!r}"
        )
    entries: list[tuple[int, dict[str, str], str]] = []
    for stream in data.get("result") or []:
        if not isinstance(stream, dict):
            continue
        raw = stream.get("stream") or {}
        labels = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        for value in stream.get("values") or []:
            try:
                entries.append((int(value[0]), labels, str(value[1])))
            except (TypeError, ValueError, IndexError):
                continue
    entries.sort(key=lambda e: (e[0], _key(e[1]), e[2]))
    return entries
