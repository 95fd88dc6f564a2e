"""Fleet runs: replays, backtests and digests fanned out to Dask workers.

A fleet-wide replay is thousands of independent (rule, series) replays: one process on
one core takes hours where a cluster takes minutes. Rather than a home-made engine this
package hands the work to Dask (DESIGN.md, "Scale"): a scheduler the user already runs
(``--scheduler tcp://host:8786``), or a local cluster of processes (``--workers N``).

- :mod:`adapters.fleet.cluster` connects to (or starts) the cluster and checks that its
  workers can run graysignal at all.
- :mod:`adapters.fleet.tasks` holds the functions the workers run: each task lists or
  fetches its own share of a rule's data from the source and replays it with the one
  replay engine (:func:`detector.replay.replay_rule`).
- :mod:`adapters.fleet.merge` puts the tasks' results back together by key, in the
  order a single process produces them, so the reports are byte for byte the same.
- :mod:`adapters.fleet.runner` is the :class:`~adapters.replaying.Replayer` the
  commands use in place of :func:`~adapters.replaying.replay_rules`.

Only this package imports dask, and only when a command asks for a fleet: every
command starts without it.
"""

from __future__ import annotations

__all__ = ["SCHEDULER_ENV", "FleetUnavailable"]

SCHEDULER_ENV = "GRAYSIGNAL_DASK_SCHEDULER"
"""The scheduler's address when ``--scheduler`` is not given (and ``--workers`` is not)."""


class FleetUnavailable(Exception):
    """The cluster cannot run the work: its scheduler cannot be reached, it has no
    workers, or its workers lack graysignal. The message says which, for a person."""
