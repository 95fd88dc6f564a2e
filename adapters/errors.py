"""Errors that carry their location, raised once at the edge and rendered by the CLI.

Every problem with user input names where it is (``file:line``) so the user can go
straight there; the CLI prints ``str(error)`` and never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem in one input, e.g. ``rules.yaml:12: unknown detector 'foo'``."""

    source: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.message}"


class InputError(Exception):
    """Bad user input (a file, a flag, a rule); holds every problem found in one pass."""

    def __init__(self, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("InputError needs at least one problem")
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    @classmethod
    def at(cls, source: str, message: str, line: int | None = None) -> InputError:
        return cls([Problem(source, message, line)])


class SourceUnavailable(Exception):
    """A data source could not be reached or answered with an error for one rule."""
