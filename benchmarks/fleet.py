"""Fleet replay: one process against a local Dask cluster of two workers.

A fleet of ``series`` hosts, each 14 days at a 1-minute step (a daily pattern, noise,
and a level shift on every tenth host), is written as CSV files in a temporary
directory, ``series_per_file`` hosts a file, under one rule whose ``path`` is a glob:
the workers list the files and each task reads its own (:mod:`adapters.fleet`). The
replay evaluates every minute of the 14 days (20,160 evaluations per series).

* **One process**: :func:`adapters.replaying.replay_rules` in a fresh spawned process:
  wall time, CPU time and peak RSS (``VmHWM``).
* **Cluster**: :class:`adapters.fleet.runner.FleetReplayer` on a ``LocalCluster`` of
  ``workers`` one-thread processes started for the run: wall time of the replay, CPU
  time and peak RSS of each worker process (asked of the workers before and after).

Scaling is the one-process wall time over the cluster's; both runs must report the same
firings. Writing the files is not timed. ``cost per series`` is CPU seconds (all
workers) per series, from which the report extrapolates a 100,000-series fleet.
"""

from __future__ import annotations

import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.throughput import _isolated, peak_rss_mb, single_threaded_children

DAY = 86400
STEP = 60
EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z, a Thursday

RULES = """\
groups:
  - name: fleet
    interval: 1m
    rules:
      - signal: FleetLatencyShift
        source: file
        path: {glob}
        detect: [level_shift]
        window: 7d
        seasonality: daily
        for: 15m
"""


@dataclass(frozen=True)
class FleetPlan:
    series: int = 200
    days: int = 14
    series_per_file: int = 25
    workers: int = 2
    files_per_task: int = 1

    @classmethod
    def quick(cls) -> FleetPlan:
        return cls(series=50)


def write_fleet(directory: Path, plan: FleetPlan) -> Path:
    """The fleet's CSV files and rule file (see the module doc); returns the rule file."""
    n = plan.days * DAY // STEP
    timestamps = EPOCH + STEP * np.arange(1, n + 1, dtype=np.int64)
    daily = 20 * np.sin(2 * np.pi * (timestamps % DAY) / DAY)
    stamps = timestamps.astype(str)
    for first in range(0, plan.series, plan.series_per_file):
        rows = []
        for host in range(first, min(first + plan.series_per_file, plan.series)):
            rng = np.random.default_rng(host)
            values = 100 + daily + rng.normal(0, 3, n)
            if host % 10 == 0:
                values[n - 2 * DAY // STEP :] += 25
            text = np.char.mod("%.3f", values)
            rows.append(
                np.char.add(np.char.add(stamps, ","), np.char.add(text, f",latency,h{host:06d}"))
            )
        lines = "\n".join(np.concatenate(rows).tolist())
        path = directory / f"hosts-{first:06d}.csv"
        path.write_text("timestamp,value,__name__,host\n" + lines + "\n", encoding="utf-8")
    rules = directory / "rules.yaml"
    rules.write_text(RULES.format(glob=directory / "hosts-*.csv"), encoding="utf-8")
    return rules


def window(plan: FleetPlan) -> tuple[int, int]:
    """The replay window ``(start, end]``: all of the data."""
    return EPOCH, EPOCH + plan.days * DAY


def _firings(result: Any) -> int:
    return sum(len(s.firings) for s in result.signals)


def one_process(rules: str, plan: FleetPlan) -> dict[str, Any]:
    """The replay in this (fresh) process."""
    from adapters.cli.replay import rule_files_plan  # noqa: PLC0415
    from adapters.replaying import replay_rules  # noqa: PLC0415
    from adapters.sources import default_sources  # noqa: PLC0415

    start, end = window(plan)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = replay_rules(
        rule_files_plan([Path(rules)]), default_sources(), start=start, end=end, incident=end
    )
    return {
        "seconds": time.perf_counter() - wall0,
        "cpu_seconds": time.process_time() - cpu0,
        "series": sum(o.series_count for o in result.outcomes),
        "firings": _firings(result),
    }


def worker_usage() -> dict[str, float]:
    """A worker process's CPU seconds so far and its peak RSS (run on each worker)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu_seconds": usage.ru_utime + usage.ru_stime, "rss_peak_mb": peak_rss_mb()}


def on_cluster(rules: Path, plan: FleetPlan) -> dict[str, Any]:
    """The replay on a local cluster of ``plan.workers`` processes."""
    from adapters.cli.replay import rule_files_plan  # noqa: PLC0415
    from adapters.fleet.cluster import FleetSpec, open_fleet  # noqa: PLC0415
    from adapters.fleet.runner import FleetReplayer  # noqa: PLC0415
    from adapters.fleet.tasks import Keep  # noqa: PLC0415
    from adapters.sources import default_sources  # noqa: PLC0415

    start, end = window(plan)
    started = time.perf_counter()
    with open_fleet(FleetSpec(workers=plan.workers)) as client:
        ready = time.perf_counter() - started
        before = client.run(worker_usage)
        replayer = FleetReplayer(client, files_per_task=plan.files_per_task, keep=Keep.SIGNALS)
        wall0 = time.perf_counter()
        result = replayer(
            rule_files_plan([rules]), default_sources(), start=start, end=end, incident=end
        )
        seconds = time.perf_counter() - wall0
        after = client.run(worker_usage)
    workers = [
        {
            "cpu_seconds": after[w]["cpu_seconds"] - before[w]["cpu_seconds"],
            "rss_peak_mb": after[w]["rss_peak_mb"],
        }
        for w in sorted(after)
    ]
    return {
        "seconds": seconds,
        "startup_seconds": ready,
        "workers": workers,
        "cpu_seconds": sum(w["cpu_seconds"] for w in workers),
        "series": sum(o.series_count for o in result.outcomes),
        "firings": _firings(result),
    }


def run(plan: FleetPlan, log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    single_threaded_children()
    with tempfile.TemporaryDirectory(prefix="graysignal-fleet-") as tmp:
        t0 = time.perf_counter()
        rules = write_fleet(Path(tmp), plan)
        log(f"wrote {plan.series:,} series x {plan.days} d in {time.perf_counter() - t0:.0f} s")
        alone = _isolated(one_process, str(rules), plan)
        log(f"one process: {alone['seconds']:.1f} s")
        cluster = on_cluster(rules, plan)
        log(f"{plan.workers} workers: {cluster['seconds']:.1f} s")
    per_series = cluster["cpu_seconds"] / max(plan.series, 1)
    return {
        "series": plan.series,
        "days": plan.days,
        "step_seconds": STEP,
        "workers": plan.workers,
        "one_process": alone,
        "cluster": cluster,
        "scaling": alone["seconds"] / cluster["seconds"],
        "same_firings": alone["firings"] == cluster["firings"],
        "cpu_seconds_per_series": per_series,
        "one_process_cpu_seconds_per_series": alone["cpu_seconds"] / max(plan.series, 1),
        "cpu_hours_for_100k_series": per_series * 100_000 / 3600,
    }
