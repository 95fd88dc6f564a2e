"""What a detector reports: one gray signal, explained."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """The kinds of slow degradation graysignal looks for (DESIGN.md section 4)."""

    LEVEL_SHIFT = "level_shift"
    TREND = "trend"
    VARIANCE = "variance"
    VOLUME = "volume"
    EXHAUSTION = "exhaustion"
    NEW_PATTERN = "new_pattern"


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class Finding:
    """One detected change: what changed, since when, by how much, and how sure.

    ``onset`` is the estimated start of the change, ``detected_at`` the evaluation time
    that saw it (always ``>= onset``). ``before``/``after`` are levels in the series'
    own units (for ``variance`` they are robust spreads, for ``volume`` rates per step).
    ``score`` is a strength on a z-like scale: 5 means "about as unlikely as a 5-sigma
    excursion under the no-change model, after allowing for autocorrelation".
    """

    rule: str
    labels: Mapping[str, str]
    kind: Kind
    onset: int
    detected_at: int
    direction: Direction
    before: float
    after: float
    relative_change: float
    score: float
    explanation: str
    slope_per_day: float | None = None
    time_to_limit: float | None = None
    seasonality: str = "none"
    extra: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["kind"] = self.kind.value
        out["direction"] = self.direction.value
        out["labels"] = dict(self.labels)
        out["extra"] = dict(self.extra)
        return out
