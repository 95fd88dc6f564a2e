"""The dispatcher drains the ledger's outbox: deliver, record, back off, never drop.

Each call of :meth:`Dispatcher.deliver_due` attempts every due outbox item once. The
outcome is written to the ledger before the next item is tried, so a crash loses at most
the knowledge that one item was delivered (it is then sent again: at-least-once).

- success: the item leaves the outbox (``mark_delivered``);
- a retryable failure (5xx, 429, timeout, connection refused): it stays, due again after
  ``min(base_backoff * 2**attempts, max_backoff)`` seconds (``attempts`` counts the
  earlier attempts, so the first retry waits ``base_backoff``), or after the server's
  ``Retry-After`` if that is longer;
- a permanent failure (other 4xx): it is abandoned, kept in the table with its error and
  logged as an error, since sending the same payload again cannot succeed;
- an item whose notifier is not configured any more waits in the outbox (logged once per
  notifier) until a configuration names it again: it is never dropped silently;
- a delivery the ledger cannot record (its disk is full or read-only) is remembered in
  memory, never sent again by this process, and recorded as soon as the ledger can
  write; only if the process stops first is it sent again after the restart.

There is no jitter, on purpose: the daemon is deterministic, and one process retrying a
handful of receivers does not stampede.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from adapters.ledger import Ledger, OutboxItem
from adapters.notify.base import DeliveryError, Notifier

__all__ = ["Clock", "DispatchStats", "Dispatcher"]

log = structlog.get_logger("graysignal.notify")

_MAX_EXPONENT = 62  # 2**62 seconds is forever; larger exponents would overflow a float


class Clock(Protocol):
    """Wall-clock seconds (the daemon's clock object, or a fake one in tests)."""

    def now(self) -> float: ...


class _SystemClock:
    def now(self) -> float:
        return time.time()


@dataclass
class DispatchStats:
    """What one :meth:`Dispatcher.deliver_due` or :meth:`Dispatcher.flush` did."""

    attempted: int = 0
    delivered: int = 0
    retrying: int = 0
    abandoned: int = 0
    unconfigured: int = 0  # items waiting for a notifier that is not configured


class Dispatcher:
    """Delivers outbox items with the configured notifiers (keyed by notifier name)."""

    def __init__(
        self,
        ledger: Ledger,
        notifiers: Mapping[str, Notifier],
        *,
        base_backoff: float = 1.0,
        max_backoff: float = 300.0,
        batch_size: int = 100,
        on_outcome: Callable[[str, str], None] | None = None,
    ) -> None:
        """``on_outcome(notifier, outcome)`` hears every attempt's outcome (``delivered``,
        ``retrying``, ``abandoned``): the daemon counts them in its metrics, because an
        abandoned notification leaves the outbox and would otherwise be seen only in logs.
        """
        if base_backoff <= 0:
            raise ValueError(f"base_backoff must be positive, got {base_backoff}")
        if max_backoff < base_backoff:
            raise ValueError(
                f"max_backoff ({max_backoff}) must be >= base_backoff ({base_backoff})"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        for name, notifier in notifiers.items():
            if notifier.name != name:
                raise ValueError(f"notifier {notifier.name!r} is registered as {name!r}")
        self.ledger = ledger
        self.notifiers = dict(notifiers)
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.batch_size = batch_size
        self._warned_unconfigured: set[str] = set()
        self._on_outcome = on_outcome or (lambda notifier, outcome: None)
        self._unrecorded: dict[int, int] = {}  # delivered, not yet in the ledger: id -> at

    def backoff(self, attempts: int) -> int:
        """Whole seconds to wait after a failure, given the attempts made *before* it."""
        delay = min(self.base_backoff * 2.0 ** min(attempts, _MAX_EXPONENT), self.max_backoff)
        return max(1, math.ceil(delay))

    def deliver_due(self, now: int) -> DispatchStats:
        """Attempt every item due at ``now`` once; return what happened."""
        self._record_unrecorded()
        stats = DispatchStats(unconfigured=self._check_unconfigured())
        seen: set[int] = set(self._unrecorded)
        while True:
            items = [
                item
                for item in self.ledger.due(now, limit=self.batch_size, notifiers=self.notifiers)
                if item.id not in seen
            ]
            if not items:
                return stats
            for item in items:
                seen.add(item.id)
                self._attempt(item, now, stats)

    def flush(self, deadline_seconds: float, clock: Clock | None = None) -> bool:
        """At shutdown: deliver everything deliverable, ignoring backoff, within a deadline.

        Digest items (``digest_id`` set) keep their backoff: a weekly digest loses
        nothing by waiting for the next start, and retrying it early would ignore a
        ``Retry-After`` Slack sent with a 429.

        Rounds repeat until nothing deliverable is left (``True``) or ``deadline_seconds``
        of real time have passed (``False``; what is left stays in the outbox for the next
        start). ``clock`` stamps the ledger records (default: the system clock); the
        deadline is measured on the monotonic clock because a grace period is real time.
        A round that delivers nothing pauses briefly instead of hammering a receiver
        that is down. Keep notifier timeouts shorter than the deadline.
        """
        wall = clock or _SystemClock()
        deadline = time.monotonic() + deadline_seconds
        self._record_unrecorded()
        stats = DispatchStats(unconfigured=self._check_unconfigured())
        while True:
            now = int(wall.now())
            items = [
                item
                for item in self.ledger.due(
                    now, limit=self.batch_size, notifiers=self.notifiers, ignore_backoff=True
                )
                if (item.digest_id is None or item.next_attempt_at <= now)
                and item.id not in self._unrecorded
            ]
            if not items:
                log.info("outbox flushed", delivered=stats.delivered, left=0)
                return True
            delivered_before = stats.delivered
            for item in items:
                if time.monotonic() >= deadline:
                    return self._flush_timed_out(stats)
                self._attempt(item, int(wall.now()), stats)
            if stats.delivered == delivered_before:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return self._flush_timed_out(stats)
                time.sleep(min(0.2, remaining))

    def _flush_timed_out(self, stats: DispatchStats) -> bool:
        log.warning(
            "outbox flush deadline passed; the rest is delivered after the next start",
            delivered=stats.delivered,
            left=self.ledger.outbox_depth(),
        )
        return False

    def _attempt(self, item: OutboxItem, now: int, stats: DispatchStats) -> None:
        """One delivery attempt, recorded in the ledger whatever happens."""
        stats.attempted += 1
        bound = log.bind(
            notifier=item.notifier,
            alert=item.payload.get("labels", {}).get("alertname"),
            fingerprint=item.alert_fingerprint,
            status=item.payload.get("status"),
            outbox_id=item.id,
            attempt=item.attempts + 1,
        )
        retry_after: float | None = None
        try:
            self.notifiers[item.notifier].deliver(item.payload)
        except DeliveryError as exc:
            error, retryable, retry_after = exc.message, exc.retryable, exc.retry_after
        except Exception as exc:  # a notifier's bug must not stop the other deliveries
            error, retryable = f"{type(exc).__name__}: {exc}", True
        else:
            stats.delivered += 1
            self._on_outcome(item.notifier, "delivered")
            try:
                self.ledger.mark_delivered(item.id, at=now)
            except Exception as exc:  # e.g. a full disk: remember it, never send it again
                self._unrecorded[item.id] = now
                bound.warning(
                    "notification delivered but the ledger cannot record it yet; "
                    "it will not be sent again",
                    error=f"{type(exc).__name__}: {exc}",
                )
                return
            bound.info("notification delivered")
            return
        if not retryable:
            self._record_failure(item, now, error, None, bound)
            stats.abandoned += 1
            self._on_outcome(item.notifier, "abandoned")
            bound.error("notification refused; giving up on this item", error=error)
            return
        delay = self.backoff(item.attempts)
        if retry_after is not None:
            delay = max(delay, math.ceil(retry_after))
        self._record_failure(item, now, error, now + delay, bound)
        stats.retrying += 1
        self._on_outcome(item.notifier, "retrying")
        bound.warning("notification failed; will retry", error=error, retry_in=delay)

    def _record_failure(
        self, item: OutboxItem, now: int, error: str, next_attempt_at: int | None, bound: Any
    ) -> None:
        """Record a failed attempt; if the ledger cannot, the item simply stays due."""
        try:
            self.ledger.mark_failed(item.id, at=now, error=error, next_attempt_at=next_attempt_at)
        except Exception as exc:
            bound.warning(
                "the ledger cannot record a failed attempt; the item stays due",
                error=f"{type(exc).__name__}: {exc}",
            )

    def _record_unrecorded(self) -> None:
        """Record the deliveries the ledger could not take before; stop at the first it
        still refuses (they are tried again at the next round)."""
        for item_id, at in list(self._unrecorded.items()):
            try:
                self.ledger.mark_delivered(item_id, at=at)
            except Exception:
                return
            del self._unrecorded[item_id]
            log.info("delivery recorded in the ledger", outbox_id=item_id)

    def _check_unconfigured(self) -> int:
        """Count items for notifiers not configured now; log each such notifier once."""
        waiting = {
            name: count
            for name, count in self.ledger.pending_by_notifier().items()
            if name not in self.notifiers
        }
        for name in sorted(waiting.keys() - self._warned_unconfigured):
            log.warning(
                "outbox holds notifications for a notifier that is not configured; "
                "they wait until it is configured again",
                notifier=name,
                pending=waiting[name],
            )
        self._warned_unconfigured |= waiting.keys()
        return sum(waiting.values())
