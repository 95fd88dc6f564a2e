"""``--scheduler`` and ``--workers``: the same replay, backtest or digest on a Dask cluster.

Without either flag (and without ``GRAYSIGNAL_DASK_SCHEDULER``) a command runs in one
process exactly as before, and nothing of Dask is imported. With one of them the command
gets a :class:`~adapters.fleet.runner.FleetReplayer` in place of
:func:`~adapters.replaying.replay_rules`. A cluster that cannot run the work (its
scheduler unreachable, no workers, workers without graysignal) exits 3
(``UNAVAILABLE``, ``exitcodes.py``): the input was fine, the means to read it were not.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from adapters.cli.exitcodes import ExitCode
from adapters.cli.progress import progress_bar

if TYPE_CHECKING:
    from adapters.fleet.runner import FleetReplayer
    from adapters.fleet.tasks import Keep

__all__ = ["SchedulerOption", "WorkersOption", "fleet_replayer"]

SCHEDULER_ENV = "GRAYSIGNAL_DASK_SCHEDULER"  # adapters.fleet.SCHEDULER_ENV, without importing it

SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Run on this Dask cluster, e.g. tcp://dask-scheduler:8786 "
        f"(default: ${SCHEDULER_ENV}). See docs/dask.md.",
        show_default=False,
    ),
]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="Run on a local Dask cluster of this many worker processes.",
        show_default=False,
    ),
]


@contextmanager
def fleet_replayer(
    scheduler: str | None, workers: int | None, *, keep: Keep | None = None, bar: bool = True
) -> Iterator[FleetReplayer | None]:
    """The fleet the flags ask for, open for the ``with`` block, or ``None`` for none.

    ``keep``: which series the tasks send back (default: all); ``bar``: draw a progress
    bar over each replay's tasks (off for a command that draws its own).
    """
    if scheduler is not None and workers is not None:
        raise typer.BadParameter("give --scheduler or --workers, not both", param_hint="--workers")
    if scheduler is None and workers is None:
        scheduler = os.environ.get(SCHEDULER_ENV) or None
        if scheduler is None:
            yield None
            return
    from adapters.fleet import FleetUnavailable  # noqa: PLC0415 - Dask only for a fleet
    from adapters.fleet.cluster import FleetSpec, open_fleet  # noqa: PLC0415
    from adapters.fleet.runner import FleetReplayer  # noqa: PLC0415
    from adapters.fleet.tasks import Keep  # noqa: PLC0415

    try:
        spec = FleetSpec(scheduler=scheduler, workers=workers)
    except ValueError as exc:
        hint = "--scheduler" if scheduler is not None else "--workers"
        raise typer.BadParameter(str(exc), param_hint=hint) from None
    try:
        with open_fleet(spec) as client:
            yield FleetReplayer(
                client, keep=keep or Keep.ALL, progress=progress_bar if bar else None
            )
    except FleetUnavailable as exc:
        typer.echo(f"fleet: {exc}", err=True)
        raise typer.Exit(ExitCode.UNAVAILABLE) from None
