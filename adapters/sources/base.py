"""The port every data source implements."""

from __future__ import annotations

from typing import Protocol

from detector.rule import Rule
from detector.series import Series


class Source(Protocol):
    """Returns the rule's series with samples in ``(start, end]`` (a causal window).

    Implementations never return samples after ``end``; gaps stay NaN. Errors in the
    user's input raise :class:`adapters.errors.InputError`; an unreachable server raises
    :class:`adapters.errors.SourceUnavailable`.
    """

    def fetch(self, rule: Rule, start: int, end: int) -> list[Series]: ...
