"""A progress bar for the long commands (replay, digest, backtest), on a terminal only.

A replay of a rule set takes seconds, a digest or a backtest tens of seconds; without a
sign of life a person presses Ctrl-C. The engines know nothing of terminals: they call a
plain callback when a unit of work is done (``on_rule_done`` of
:func:`adapters.replaying.replay_rules`, ``on_replayed`` of the backtest), and this
module turns those calls into a rich progress bar on stderr.

The bar is drawn only when both stdout and stderr are terminals: in a pipe, a file, a
cron job or CI nothing is drawn, so reports and logs stay byte-for-byte what they were.
It is transient (erased when done) so the report that follows starts on a clean screen,
and log lines printed meanwhile appear above it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.replaying import ScheduledRule
    from detector.replay import RuleOutcome

__all__ = ["Step", "interactive", "progress_bar", "rule_counter"]

Step = Callable[[str], None]
"""Advance the bar by one unit; the text says what was just done."""


def interactive() -> bool:
    """Whether a person is watching: stdout and stderr are both terminals."""
    return sys.stdout.isatty() and sys.stderr.isatty()


@contextmanager
def progress_bar(what: str, total: int, *, enabled: bool | None = None) -> Iterator[Step]:
    """A bar over ``total`` units described as ``what`` (``replaying rules``); yields the
    :data:`Step` to call after each unit. Draws nothing unless :func:`interactive` (or
    ``enabled``), and then imports rich only now."""
    if not (interactive() if enabled is None else enabled) or total <= 0:
        yield _nothing
        return
    from rich.console import Console  # noqa: PLC0415 - only on a terminal
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[detail]}", style="dim"),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=total, detail="")

        def step(detail: str) -> None:
            bar.update(task, advance=1, detail=detail)

        yield step


def rule_counter(step: Step) -> Callable[[ScheduledRule, RuleOutcome], None]:
    """The ``on_rule_done`` callback of a replay: one step per rule, with the rule just
    replayed and the number of series seen so far."""
    seen = 0

    def done(entry: ScheduledRule, outcome: RuleOutcome) -> None:
        nonlocal seen
        seen += outcome.series_count
        series = "1 series" if seen == 1 else f"{seen} series"
        step(f"{series} · {entry.rule.signal}")

    return done


def _nothing(detail: str) -> None:
    """The step when no bar is drawn."""
