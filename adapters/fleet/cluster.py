"""Connect to a Dask cluster, or start a local one, and check that it can do the work.

A scheduler that cannot be reached must fail in seconds with its address in the message,
not hang for Dask's default 30 s; a worker without graysignal would fail every task with
an unpickling error a person cannot read, so the workers are asked for their graysignal
version before any work is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from adapters.fleet import FleetUnavailable

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["CONNECT_TIMEOUT", "FleetSpec", "open_fleet"]

CONNECT_TIMEOUT = 5.0
"""Seconds to reach the scheduler and see a first worker: a cluster that answers at all
answers within a second; a wrong address should be reported, not waited for."""

SCHEMES = ("tcp://", "tls://", "ws://", "wss://", "inproc://", "ucx://")


@dataclass(frozen=True)
class FleetSpec:
    """Where the work runs: an existing scheduler, or ``workers`` local processes."""

    scheduler: str | None = None
    workers: int | None = None
    connect_timeout: float = CONNECT_TIMEOUT

    def __post_init__(self) -> None:
        if (self.scheduler is None) == (self.workers is None):
            raise ValueError("a fleet needs either a scheduler address or a worker count")
        if self.scheduler is not None and not self.scheduler.startswith(SCHEMES):
            raise ValueError(
                f"{self.scheduler!r} is not a Dask scheduler address; write it as tcp://HOST:8786"
            )
        if self.workers is not None and self.workers < 1:
            raise ValueError("the number of workers must be at least 1")

    @property
    def where(self) -> str:
        """The cluster in words, for messages."""
        if self.scheduler is not None:
            return f"the Dask scheduler at {self.scheduler}"
        return f"a local cluster of {self.workers} worker processes"


@contextmanager
def open_fleet(spec: FleetSpec) -> Iterator[Client]:
    """A client of the cluster ``spec`` names, closed (and a local cluster stopped) on
    exit. Raises :class:`FleetUnavailable` when it cannot run graysignal's tasks."""
    from distributed import Client, LocalCluster  # noqa: PLC0415 - only for a fleet

    with ExitStack() as stack:
        if spec.scheduler is not None:
            try:
                client = Client(spec.scheduler, timeout=spec.connect_timeout, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise FleetUnavailable(
                    f"cannot reach {spec.where} within {spec.connect_timeout:g} s "
                    f"({type(exc).__name__}); is it running, and is the address right?"
                ) from None
        else:
            cluster = LocalCluster(
                n_workers=spec.workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            stack.callback(cluster.close)
            client = Client(cluster, set_as_default=False)
        stack.callback(client.close)
        check_workers(client, spec)
        yield client


def check_workers(client: Client, spec: FleetSpec) -> None:
    """Refuse a cluster without workers or whose workers lack this graysignal."""
    try:
        client.wait_for_workers(1, timeout=spec.connect_timeout)
    except TimeoutError:
        raise FleetUnavailable(
            f"{spec.where} has no workers (none joined within {spec.connect_timeout:g} s)"
        ) from None
    ours = version("graysignal")
    theirs = client.run(version, "graysignal", on_error="return")
    for worker, answer in sorted(theirs.items()):
        if isinstance(answer, PackageNotFoundError | ModuleNotFoundError):
            raise FleetUnavailable(
                f"worker {worker} of {spec.where} has no graysignal installed; run the "
                "workers from the graysignal image (or pip install graysignal there)"
            )
        if isinstance(answer, BaseException):
            raise FleetUnavailable(
                f"worker {worker} of {spec.where} cannot run graysignal: {answer}"
            )
        if answer != ours:
            raise FleetUnavailable(
                f"worker {worker} of {spec.where} runs graysignal {answer}, this is {ours}: "
                "run the same version on both sides"
            )
