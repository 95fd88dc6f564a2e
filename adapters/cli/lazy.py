"""Commands imported only when they run, so every command starts in well under a second.

Importing every command up front made even ``graysignal --help`` take seconds (the
backtest's lead-lag statistics pull in statsmodels, the replay reports the detection
engine). The group below knows each command by name, module and one-line help; the
help page lists them from that table, and a command's module is imported only when the
command itself is invoked (its own ``--help`` included).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

__all__ = ["LazyCommand", "LazyGroup", "lazy_group"]


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives (``module:function``) and what ``--help`` says of it."""

    name: str
    target: str
    help: str

    def load(self) -> Any:
        """The real command (a click command built by typer), importing its module now."""
        module_name, _, function_name = self.target.partition(":")
        function = getattr(importlib.import_module(module_name), function_name)
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(self.name, help=self.help)(function)
        return typer.main.get_command(single)


class _Placeholder(TyperCommand):
    """Stands in for a command until it runs: its name and help for the group's help
    page; parsing its arguments (which is the first thing running it does) loads the
    real command and hands over to it."""

    def __init__(self, spec: LazyCommand) -> None:
        super().__init__(spec.name, help=spec.help, short_help=spec.help)
        self.spec = spec

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Any = None,
        **extra: Any,
    ) -> Any:
        return self.spec.load().make_context(info_name, args, parent=parent, **extra)


class LazyGroup(TyperGroup):
    """A typer group whose commands are :class:`LazyCommand` placeholders (see module doc)."""

    commands_to_load: Sequence[LazyCommand] = ()

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for spec in self.commands_to_load:
            self.add_command(_Placeholder(spec), spec.name)


def lazy_group(commands: Sequence[LazyCommand]) -> type[LazyGroup]:
    """A :class:`LazyGroup` class holding ``commands``, for ``typer.Typer(cls=...)``."""
    return type("GraysignalGroup", (LazyGroup,), {"commands_to_load": tuple(commands)})
