"""How much an item matters: the size of its change times its certainty, both capped."""

from __future__ import annotations

import math
from typing import Final

CHANGE_CAP: Final = 10.0  # a 1,000% rise (or a fall to 1/11th) is as large as it gets
FIRING_SCORE: Final = 5.0  # about the strength at which a detector reports (z-like)
SCORE_CAP: Final = 1000.0  # beyond this certainty no longer grows

_SIZE_CAP: Final = math.log1p(CHANGE_CAP)


def _magnitude(change: float) -> float:
    """``|ln(after / before)|`` from the relative change, capped (see the package docstring)."""
    if math.isnan(change):
        return 0.0
    if change <= -1.0 or math.isinf(change):
        return _SIZE_CAP
    return min(abs(math.log1p(change)), _SIZE_CAP)


def _certainty(score: float) -> float:
    if math.isnan(score) or score <= 0:
        return 0.0
    return math.log1p(min(score, SCORE_CAP) / FIRING_SCORE)
