"""Errors that carry their location, raised once at the edge and rendered by the CLI.

Every problem with user input names where it is (``file:line``) so the user can go
straight there; the CLI prints ``str(error)`` and never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem in one input, e.g. ``rules.yaml:12: unknown detector 'foo'``.

    ``unreadable`` marks an input that could not be read at all, or was refused before
    it was read because it is over a stated limit (adapters/limits.py): there is
    nothing to judge in it, so even ``check``, whose verdict on a wrong file is exit
    code 1, exits 2 (usage) for it.
    """

    source: str
    message: str
    line: int | None = None
    unreadable: bool = False

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
    def at(
        cls, source: str, message: str, line: int | None = None, *, unreadable: bool = False
    ) -> InputError:
        return cls([Problem(source, message, line, unreadable)])

    @property
    def unreadable(self) -> bool:
        """Whether any input could not be read at all or was over a limit (exit code 2)."""
        return any(problem.unreadable for problem in self.problems)


class SourceUnavailable(Exception):
    """A data source could not be reached or answered with an error for one rule."""
