"""Accepted changes: which findings a reviewed acknowledgement or expectation covers.

Users stop reading a detector that keeps alerting on a change everybody already knows
about. A *suppression* is the way to say so, kept in a reviewed file next to the rules
(``rules/suppressions.yaml``, see docs/suppressions.md) so that accepting a change is
code-reviewed and versioned like a rule. Two actions exist:

``ack``
    "We have seen this alert and accept it for now." It covers exactly one
    (rule, series, kind) -- an alert's identity -- until it expires or the change grows
    *materially*: once the effect reaches :data:`MATERIAL_FACTOR` times the effect at
    acknowledgement (or turns around), the finding is news again and alerts. For
    ``exhaustion`` the effect is the time left: the ack holds until the forecast time
    to the limit falls to 1/:data:`MATERIAL_FACTOR` of the acknowledged one (a level
    relative to a moving window would hide a disk filling at a steady rate).
``expect``
    "This rule's series will (or did) change by about this much on this date": a
    launch, a migration, a new customer. The expected change is the new baseline: a
    level-type finding that starts within :data:`EXPECT_ONSET_GRACE` of the date, goes
    the expected way and is no bigger than :data:`EXPECT_TOLERANCE` times the expected
    change is explained by it. Anything beyond that alerts, and so do every other kind
    and every change that starts later: an expectation explains one change, not every
    change of that size from then on.

A suppression never hides a *new* kind of finding on the same series: an ack names its
kind, and an expectation only explains the kinds that measure a change of level
(:data:`EXPECTABLE_KINDS`); a growing variance or an approaching limit always alerts.
Covered findings are not dropped: callers list them separately (daemon metrics and
logs, the digest's "acknowledged / expected" section, the retrospective statuses).

This module is pure: it matches findings against suppressions that the adapters have
loaded and validated (adapters/suppressions.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from detector.finding import Finding, Kind

__all__ = [
    "EXPECTABLE_KINDS",
    "EXPECT_ONSET_GRACE",
    "EXPECT_TOLERANCE",
    "MATERIAL_FACTOR",
    "Action",
    "Suppressed",
    "Suppression",
    "split_suppressed",
]

MATERIAL_FACTOR: Final = 2.0
"""An ack holds until the finding's effect reaches this multiple of the acknowledged one."""

EXPECT_TOLERANCE: Final = 1.5
"""An expected change explains findings up to this multiple of its stated size."""

EXPECT_ONSET_GRACE: Final = 86_400
"""Seconds either side of an expectation's date that an estimated onset may lie.

Onset estimates of slow changes can be hours off, and launches roll out a little
before or after the announced date; a day covers both without reaching far enough to
explain an older or a later, unrelated change.
"""

EXPECTABLE_KINDS: Final = frozenset({Kind.LEVEL_SHIFT, Kind.TREND, Kind.VOLUME})
"""Kinds that measure a change of level, the only thing an expected change can explain."""


class Action(StrEnum):
    ACK = "ack"
    EXPECT = "expect"


@dataclass(frozen=True)
class Suppression:
    """One reviewed entry of the suppressions file.

    ``since`` is when an ack was given, or the date an expected change starts (the new
    baseline); ``until`` is exclusive, ``None`` meaning no expiry. ``change`` is a signed
    relative change (0.12 = +12%): for an ack the effect at acknowledgement (``None`` when
    it was not known, so only expiry ends the ack), for an expectation the expected
    change. ``time_to_limit`` is an ``exhaustion`` ack's forecast time left (seconds)
    when it was given. ``where`` locates the entry (``rules/suppressions.yaml:12``).
    """

    action: Action
    rule: str
    matchers: Mapping[str, str]
    reason: str
    since: int
    until: int | None
    by: str | None = None
    kind: Kind | None = None
    change: float | None = None
    time_to_limit: float | None = None
    where: str = field(default="", compare=False)

    def active(self, now: int) -> bool:
        """Whether the entry is in force at ``now``.

        An ack starts when it was given; an expectation may start up to
        :data:`EXPECT_ONSET_GRACE` early (an early rollout is still the expected change).
        """
        start = self.since if self.action is Action.ACK else self.since - EXPECT_ONSET_GRACE
        return start <= now and (self.until is None or now < self.until)

    def expired(self, now: int) -> bool:
        return self.until is not None and now >= self.until

    def matches_series(self, rule: str, labels: Mapping[str, str]) -> bool:
        """Same rule, and every matcher's label present with that exact value."""
        return rule == self.rule and all(labels.get(k) == v for k, v in self.matchers.items())

    def covers(self, finding: Finding, now: int) -> bool:
        """Whether this entry explains ``finding`` as seen at ``now``."""
        if not self.active(now) or not self.matches_series(finding.rule, finding.labels):
            return False
        if self.action is Action.ACK:
            return self._ack_covers(finding)
        return self._expect_covers(finding)

    def describe(self) -> str:
        """One phrase for reports: ``acknowledged by ana until 2026-12-31 (known job)``."""
        by = f" by {self.by}" if self.by else ""
        until = f" until {_day(self.until)}" if self.until is not None else ""
        if self.action is Action.ACK:
            return f"acknowledged{by}{until} ({self.reason})"
        change = "" if self.change is None else f" {_signed_percent(self.change)}"
        return f"expected{change} from {_day(self.since)}{by}{until} ({self.reason})"

    def _ack_covers(self, finding: Finding) -> bool:
        if finding.kind is not self.kind:
            return False  # a new kind on the same series is news
        if finding.kind is Kind.EXHAUSTION:
            return _limit_not_much_closer(finding.time_to_limit, self.time_to_limit)
        if self.change is None:
            return True
        return _same_sign(finding.relative_change, self.change) and abs(
            finding.relative_change
        ) < MATERIAL_FACTOR * abs(self.change)

    def _expect_covers(self, finding: Finding) -> bool:
        if finding.kind not in EXPECTABLE_KINDS or self.change is None:
            return False
        if abs(finding.onset - self.since) > EXPECT_ONSET_GRACE:
            return False  # began well before or after the expected change: another one
        return _same_sign(finding.relative_change, self.change) and abs(
            finding.relative_change
        ) <= EXPECT_TOLERANCE * abs(self.change)


@dataclass(frozen=True)
class Suppressed:
    """A finding that a suppression covers, kept so that it can be listed, not hidden."""

    finding: Finding
    suppression: Suppression


def split_suppressed(
    findings: Iterable[Finding], suppressions: Sequence[Suppression], *, now: int
) -> tuple[list[Finding], list[Suppressed]]:
    """Separate the findings that alert from those an active suppression covers.

    The first covering entry in file order wins, so the reason shown is the one a
    reviewer reads first.
    """
    kept: list[Finding] = []
    covered: list[Suppressed] = []
    for finding in findings:
        entry = next((s for s in suppressions if s.covers(finding, now)), None)
        if entry is None:
            kept.append(finding)
        else:
            covered.append(Suppressed(finding, entry))
    return kept, covered


def _limit_not_much_closer(now_left: float | None, acked_left: float | None) -> bool:
    """An exhaustion ack holds while the time left stays above 1/MATERIAL_FACTOR of the
    acknowledged time left; without both forecasts nothing is covered."""
    if now_left is None or acked_left is None or math.isnan(now_left):
        return False
    return now_left * MATERIAL_FACTOR > acked_left


def _same_sign(value: float, reference: float) -> bool:
    return reference != 0 and not math.isnan(value) and (value > 0) == (reference > 0)


def _signed_percent(fraction: float) -> str:
    return f"{fraction * 100:+.0f}%"


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")
