"""What a digest is made of: its sections, firings, items, blind spots and the digest itself,
with the constants the other modules share."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from detector.digest.impact import _certainty, _magnitude
from detector.finding import Finding, Kind
from detector.periods import Period

DIGEST_VERSION: Final = 2
DEFAULT_GROUP_LABELS: Final = ("team", "service")
LEVEL_KINDS: Final = frozenset({Kind.LEVEL_SHIFT, Kind.TREND, Kind.VOLUME})
ROLLUP_ABOVE: Final = 5
"""More items than this of one rule in one group of a section are rolled up into one
entry (:class:`RollUp`): sixty drifting pods of one rule are one finding to read."""
ROLLUP_SHOWN: Final = 3
"""Items a roll-up lists in full (the highest-ranked); the rest are counted."""


class Section(StrEnum):
    """The digest's sections, in reading order."""

    NEW = "new"
    STILL = "still_drifting"
    RECOVERED = "recovered"
    ACKNOWLEDGED = "acknowledged"

    @property
    def heading(self) -> str:
        return _TITLES[self]


_TITLES: Final = {
    Section.NEW: "New this week",
    Section.STILL: "Still drifting",
    Section.RECOVERED: "Recovered",
    Section.ACKNOWLEDGED: "Acknowledged / expected",
}


@dataclass(frozen=True)
class Interval:
    """One firing: from ``start`` to ``end`` (``None``: still firing when the data ended)."""

    start: int
    end: int | None
    first: Finding
    latest: Finding
    peak_score: float

    def overlaps(self, period: Period) -> bool:
        return self.start <= period.end and (self.end is None or self.end > period.start)

    def firing_at(self, moment: int) -> bool:
        return self.start <= moment and (self.end is None or self.end > moment)


@dataclass(frozen=True)
class RecordedFiring:
    """A firing a daemon recorded in its ledger (for alerts the evaluation did not see)."""

    rule: str
    group: str
    alert_labels: Mapping[str, str]
    kind: Kind
    interval: Interval
    told: bool = True


@dataclass(frozen=True)
class DigestItem:
    """One alert in the digest, with everything a reader needs to judge it."""

    key: str
    section: Section
    rule: str
    group: str
    kind: Kind
    labels: Mapping[str, str]
    alert_labels: Mapping[str, str]
    team: tuple[tuple[str, str], ...]
    title: str
    explanation: str
    onset: int
    first_firing: int
    change: float
    score: float
    weeks: int
    weeks_at_least: bool
    resolved_at: int | None
    sparkline: str
    link: str | None
    suppression: str | None = None
    told: bool = False
    baseline: float = math.nan  # the level before the drift began
    level: float = math.nan  # the drifted level
    series_fingerprint: str = ""
    sparkline_ends: tuple[float, float] | None = None  # the first and last bucket's mean

    @property
    def impact(self) -> float:
        """Size of the change times its certainty, both capped (see the package docstring)."""
        return _magnitude(self.change) * _certainty(self.score)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "rule": self.rule,
            "group": self.group,
            "kind": self.kind.value,
            "series": dict(self.labels),
            "labels": dict(self.alert_labels),
            "team": dict(self.team),
            "title": self.title,
            "explanation": self.explanation,
            "onset": self.onset,
            "first_firing": self.first_firing,
            "change": _finite_or_none(self.change),
            "score": _finite_or_none(self.score),
            "impact": round(self.impact, 6),
            "weeks": self.weeks,
            "weeks_at_least": self.weeks_at_least,
            "resolved_at": self.resolved_at,
            "sparkline": self.sparkline,
            "sparkline_ends": None
            if self.sparkline_ends is None
            else [_finite_or_none(v) for v in self.sparkline_ends],
            "link": self.link,
            "suppression": self.suppression,
            "told": self.told,
        }


@dataclass(frozen=True)
class RollUp:
    """Many items of one rule in one group of a section: the top few in full, the rest
    counted with the range of their changes."""

    rule: str
    shown: tuple[DigestItem, ...]
    hidden: tuple[DigestItem, ...]

    @property
    def count(self) -> int:
        return len(self.shown) + len(self.hidden)

    def change_range(self) -> tuple[float, float] | None:
        """The smallest and largest change among the items not shown, if any is known."""
        changes = [i.change for i in self.hidden if math.isfinite(i.change)]
        return (min(changes), max(changes)) if changes else None


def roll_up(items: list[DigestItem]) -> list[DigestItem | RollUp]:
    """``items`` (in rank order) with each rule that has more than :data:`ROLLUP_ABOVE` of
    them replaced by one :class:`RollUp`, where its best item stood."""
    by_rule: dict[str, list[DigestItem]] = {}
    for item in items:
        by_rule.setdefault(item.rule, []).append(item)
    entries: list[DigestItem | RollUp] = []
    for item in items:
        members = by_rule[item.rule]
        if len(members) <= ROLLUP_ABOVE:
            entries.append(item)
        elif item is members[0]:
            entries.append(
                RollUp(item.rule, tuple(members[:ROLLUP_SHOWN]), tuple(members[ROLLUP_SHOWN:]))
            )
    return entries


@dataclass(frozen=True)
class BlindSpot:
    """A rule whose silence means nothing: it saw no data, failed, or too little data."""

    rule: str
    group: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Digest:
    """The digest of one period: ranked items by section, and the blind spots."""

    period: Period
    items: tuple[DigestItem, ...]
    blind_spots: tuple[BlindSpot, ...]
    group_labels: tuple[str, ...]
    history_weeks: int
    rules: int
    quiet: tuple[str, ...] = ()
    unknown: tuple[DigestItem, ...] = ()  # drifting, then its series went silent
    scope: str = ""  # e.g. "shard 1 of 2": what part of the rules this digest covers

    def section(self, section: Section) -> list[DigestItem]:
        """The section's items, in rank order."""
        return [item for item in self.items if item.section is section]

    def grouped(
        self, section: Section
    ) -> list[tuple[tuple[tuple[str, str], ...], list[DigestItem]]]:
        """The section's items grouped by team labels; groups ordered by their best item."""
        groups: dict[tuple[tuple[str, str], ...], list[DigestItem]] = {}
        for item in self.section(section):
            groups.setdefault(item.team, []).append(item)
        return list(groups.items())

    def rolled_up(
        self, section: Section
    ) -> list[tuple[tuple[tuple[str, str], ...], list[DigestItem | RollUp]]]:
        """:meth:`grouped`, with the many items of one rule in a group rolled up
        (:func:`roll_up`): what a person reads; the JSON keeps every item."""
        return [(team, roll_up(items)) for team, items in self.grouped(section)]

    def counts(self) -> dict[str, int]:
        counts = {section.value: len(self.section(section)) for section in Section}
        counts["blind_spots"] = len(self.blind_spots)
        return counts

    def summary(self) -> dict[str, Any]:
        """What the next period's digest reads: the alerts drifting at its end (or unknown
        because their series went silent), with weeks and the levels before and after."""
        drifting = {
            item.key: _summary_entry(item)
            for item in (*self.items, *self.unknown)
            if item.section is not Section.RECOVERED
        }
        return {
            "version": DIGEST_VERSION,
            "period": self.period.label,
            "end": self.period.end,
            "drifting": dict(sorted(drifting.items())),
        }


def _summary_entry(item: DigestItem) -> dict[str, Any]:
    """What the next digest needs to follow the alert when the detector has gone quiet."""
    return {
        "weeks": item.weeks,
        "at_least": item.weeks_at_least,
        "rule": item.rule,
        "group": item.group,
        "kind": item.kind.value,
        "series": dict(item.labels),
        "labels": dict(item.alert_labels),
        "series_fingerprint": item.series_fingerprint,
        "baseline": _finite_or_none(item.baseline),
        "level": _finite_or_none(item.level),
        "explanation": item.explanation,
        "onset": item.onset,
        "first_firing": item.first_firing,
        "change": _finite_or_none(item.change),
        "score": _finite_or_none(item.score),
    }


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
