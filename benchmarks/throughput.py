"""Throughput and memory: how much detection costs, measured the way it is used.

Four measurements, each in a fresh process (``spawn``) so that its peak resident set
size belongs to that measurement alone. Peak RSS is the kernel's high-water mark
``VmHWM`` from ``/proc/self/status`` (all resident memory, numpy buffers included), not
``resource.getrusage``, whose ``ru_maxrss`` survives fork and exec and so would report
the parent's peak in a spawned worker (see :func:`peak_rss_mb`). The process's current
RSS when the work starts (``VmRSS``, after the imports) is reported next to it, so the
difference is what the work added; the import phase itself leaves a high-water mark a
little above its current RSS.

* **Replay of one series**: 14 days at a 1-minute step, evaluated every minute (20,160
  evaluations) by :func:`detector.replay.replay_rule` with the default rule (best of
  three runs; all three are kept), on a
  series with a daily pattern and noise (``clean``) and on the same series with a slow
  creep in its last three days (``creep``, which keeps the detectors' confirmation
  stage busy for days).
* **Cold warm-up**: a :class:`~detector.monitor.RuleMonitor` fed 14 days of 1,000 series
  at 1 minute from nothing (what a daemon does for a rule on its first cycle), fed a day
  at a time as the daemon fetches history: CPU seconds per series, and the state it
  then holds per series.
* **Steady-state daemon cycle**: the warm monitor of 10,000 (and 100,000) series, fed
  one new sample per series and asked for its findings, once a minute for an hour of
  cycles (60, one of which completes a block and rebuilds every window summary). The
  warm state of the larger fleets is the 1,000 warmed-up series' state repeated (a
  cycle's cost depends on how many series there are, not on what they did), so the
  fleet need not be warmed up for hours. CPU and wall time per cycle (median, the
  block-completing one, and the hour's mean), the state's size, and the peak RSS of
  the cycles alone (the high-water mark is reset after the warm-up, ``clear_refs``).
  One process: the monitor is vectorised over series; a second core would take half of
  them.
* **Naive re-segmentation** (what DESIGN.md section 4 rules out): ruptures
  ``Pelt(model="l2")`` with default ``jump=5`` and a BIC-like penalty
  ``2 sigma^2 log n`` (sigma from the median absolute first difference), re-run on the
  trailing 7-day window (10,080 points) at each step. It runs over a short stretch of
  steps at the end of the creeping series only, and the per-step time is extrapolated
  to the 20,160 steps of the replay; both are measured in the same run, so the ratio
  holds on a noisy machine.
"""

from __future__ import annotations

import math
import os
import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import ruptures as rpt

from detector.decide import decide_latest
from detector.monitor import RuleMonitor
from detector.replay import replay_rule
from detector.rule import Rule
from detector.series import FloatArray, Series, fingerprint
from detector.testing import EPOCH, daily_pattern

STEP = 60
DAY = 86400
REPLAY_DAYS = 14
WINDOW = 7 * DAY
CREEP_DAYS = 3
CREEP_PER_DAY = 0.05
"""The creep: +5% of the level per day over the last three days."""
LEVEL = 100.0
AMPLITUDE = 20.0
NOISE = 2.0

T = TypeVar("T")


def default_rule() -> Rule:
    return Rule.model_validate({"signal": "Throughput", "source": "file", "path": "bench.csv"})


def make_series(seed: int, *, days: int = REPLAY_DAYS, creep: bool = False) -> Series:
    """A 1-minute series with a daily pattern and noise; ``creep`` adds the slow creep."""
    n = days * DAY // STEP
    rng = np.random.default_rng(seed)
    level = LEVEL * (0.5 + rng.random())
    values = level + (level / LEVEL) * daily_pattern(n, STEP, AMPLITUDE)
    values = values + rng.normal(0.0, NOISE * level / LEVEL, n)
    if creep:
        start = n - CREEP_DAYS * DAY // STEP
        elapsed_days = np.arange(n - start) * STEP / DAY
        values[start:] += level * CREEP_PER_DAY * elapsed_days
    timestamps = EPOCH + STEP * np.arange(n, dtype=np.int64)
    return Series({"series": str(seed)}, timestamps, values, STEP)


def _status_mb(field: str) -> float | None:
    """A ``kB`` field of ``/proc/self/status`` in MiB, or ``None`` where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    except (OSError, IndexError, ValueError):
        pass
    return None


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB.

    ``VmHWM``, the kernel's high-water mark of this process's resident memory. Not
    ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries that one over fork and exec, so
    a ``spawn`` worker would report the parent's peak (the whole NAB run) as its own.
    ``ru_maxrss`` is the fallback where ``/proc`` is missing.
    """
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Resident set size right now, in MiB (``VmRSS``; NaN where there is none)."""
    now = _status_mb("VmRSS")
    return math.nan if now is None else now


def _isolated(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run ``fn(*args)`` in a fresh spawned process; add its RSS at start and at peak."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_measured, fn, *args).result()


def _measured(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    before = current_rss_mb()
    out = fn(*args)
    out["rss_start_mb"] = before
    out["rss_peak_mb"] = peak_rss_mb()
    return out


# --------------------------------------------------------------------------- stages


def replay_stage(creep: bool, repeats: int = 3) -> dict[str, Any]:
    """Causal replay of one 14-day series at every minute: the best of ``repeats`` runs.

    The best of a few runs is the usual estimate of what the code costs on a machine that
    other work shares; every run's time is kept in ``all_seconds``.
    """
    series = make_series(7, creep=creep)
    rule = default_rule()
    runs: list[tuple[float, float]] = []
    for _ in range(repeats):
        started = time.perf_counter()
        started_cpu = time.process_time()
        signals, outcome = replay_rule(
            rule,
            group="bench",
            interval=STEP,
            series=[series],
            start=series.start - STEP,
            end=series.end,
        )
        runs.append((time.perf_counter() - started, time.process_time() - started_cpu))
    seconds, cpu = min(runs)
    firings = [
        {"kind": s.kind.value, "start_day": (f.start - series.start) / DAY}
        for s in signals
        for f in s.firings
    ]
    return {
        "series": "creep" if creep else "clean",
        "samples": len(series),
        "evaluations": outcome.evaluations,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "all_seconds": [r[0] for r in runs],
        "samples_per_second": len(series) / seconds,
        "firings": firings,
    }


def warm_up(n_series: int) -> tuple[RuleMonitor, FloatArray, Series, float]:
    """A default-rule monitor fed 14 days of ``n_series`` series (seeded, one in ten
    creeping) up to an hour before their end; also returns the series' last hour (what
    the cycles feed), one series (the time grid) and the CPU seconds the warm-up took."""
    rule = default_rule()
    monitor = RuleMonitor(rule, STEP)
    series = [make_series(seed, creep=seed % 10 == 0) for seed in range(n_series)]
    grid = series[0].timestamps
    cut = grid.size - CYCLES
    rows = monitor.rows_for([s.fingerprint for s in series], [s.labels for s in series])
    matrix = np.stack([s.values[:cut] for s in series])
    started = time.process_time()
    for first in range(0, cut, WARM_UP_STEPS):  # day by day, as the daemon fetches history
        last = min(cut, first + WARM_UP_STEPS)
        monitor.ingest(rows, grid[first:last], matrix[:, first:last], score_from=int(grid[cut - 1]))
    tail = np.stack([s.values[cut:] for s in series])
    return monitor, tail, series[0], time.process_time() - started


WARM_UP_STEPS = DAY // STEP
"""Samples per warm-up call: a day, like the daemon's chunked history fetches."""
CYCLES = 60
"""Steady-state cycles timed: an hour at one cycle a minute (one completes a block)."""
WARMED = 1_000
"""Series warmed up from nothing; larger fleets repeat their state."""


def warm_up_stage(n_series: int = WARMED) -> dict[str, Any]:
    """Cold warm-up of ``n_series`` series: CPU per series and state per series."""
    monitor, _, _, cpu = warm_up(n_series)
    return {
        "series": n_series,
        "days": REPLAY_DAYS,
        "cpu_seconds": cpu,
        "ms_per_series": 1000.0 * cpu / n_series,
        "state_bytes_per_series": monitor.state_bytes() / n_series,
    }


def cycle_stage(n_series: int) -> dict[str, Any]:
    """Steady-state cycles of a warm monitor of ``n_series`` series (see the module doc)."""
    warmed = min(WARMED, n_series)
    monitor, tail, template, _ = warm_up(warmed)
    repeat(monitor, n_series)
    fleet_tail = np.concatenate([tail] * -(-n_series // warmed))[:n_series]
    grid = template.timestamps
    rows = np.arange(n_series)
    cpu: list[float] = []
    wall: list[float] = []
    findings = 0
    peak_reset = reset_peak_rss()
    rss_before = current_rss_mb()
    for j, k in enumerate(range(grid.size - CYCLES, grid.size)):
        values = fleet_tail[:, j : j + 1]
        started, started_cpu = time.perf_counter(), time.process_time()
        monitor.ingest(rows, grid[k : k + 1], values)
        findings = len(decide_latest(monitor, int(grid[k])))
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    return {
        "series": n_series,
        "warmed_up": warmed,
        "cycles": CYCLES,
        "cpu_median_s": float(np.median(cpu)),
        "cpu_max_s": float(np.max(cpu)),
        "cpu_mean_s": float(np.mean(cpu)),
        "wall_median_s": float(np.median(wall)),
        "wall_max_s": float(np.max(wall)),
        "state_mb": monitor.state_bytes() / 2**20,
        "findings_last_cycle": findings,
        "rss_before_cycles_mb": rss_before,
        "rss_peak_cycles_mb": peak_rss_mb() if peak_reset else None,
    }


def reset_peak_rss() -> bool:
    """Reset the kernel's peak RSS of this process (``clear_refs`` 5, Linux 4.0+), so the
    cycles' own peak is measured apart from the warm-up's; False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def repeat(monitor: RuleMonitor, n_series: int) -> None:
    """Grow ``monitor`` to ``n_series`` rows by repeating the state of its rows (new
    identities, same numbers): a benchmark's fleet, not a way to follow series."""
    have = len(monitor.keys)
    if n_series <= have:
        return
    times = -(-n_series // have)
    _tile(monitor, have, times, n_series)
    labels = [{**monitor.labels[i % have], "copy": str(i // have)} for i in range(n_series)]
    monitor.labels = labels
    monitor.keys = [fingerprint(one) for one in labels]
    monitor.index = {key: i for i, key in enumerate(monitor.keys)}
    monitor.counter = [monitor.counter[i % have] for i in range(n_series)]


SKIPPED = frozenset({"rule", "grid", "spec", "periods", "labels", "keys", "index", "counter"})


def _tile(target: Any, have: int, times: int, n_series: int) -> None:
    """Repeat every array attribute of ``target`` (recursively) whose first axis is the
    row axis."""
    items = list(target.items()) if isinstance(target, dict) else list(vars(target).items())
    for name, value in items:
        if name in SKIPPED:
            continue
        if isinstance(value, np.ndarray):
            if value.ndim and value.shape[0] == have:
                grown = np.concatenate([value] * times)[:n_series]
                if isinstance(target, dict):
                    target[name] = grown
                else:  # frozen dataclasses too: this is the benchmark's own copy
                    object.__setattr__(target, name, grown)
        elif isinstance(value, dict) or hasattr(value, "__dict__"):
            _tile(value, have, times, n_series)
        if name == "rows" and isinstance(value, int):
            object.__setattr__(target, name, n_series)


def bic_penalty(values: FloatArray) -> float:
    """``2 sigma^2 log n`` with sigma from the median absolute first difference."""
    sigma = 1.4826 * float(np.median(np.abs(np.diff(values)))) / math.sqrt(2.0)
    return 2.0 * max(sigma, 1e-9) ** 2 * math.log(values.size)


def pelt_stage(steps: int) -> dict[str, Any]:
    """Naive Pelt(l2) on the trailing 7-day window at each of the last ``steps`` steps."""
    series = make_series(7, creep=True)
    window = WINDOW // STEP
    per_step = []
    last: list[int] = []
    for k in range(steps):
        end = len(series) - steps + k + 1
        part = series.values[end - window : end]
        started = time.perf_counter()
        last = rpt.Pelt(model="l2").fit(part).predict(pen=bic_penalty(part))
        per_step.append(time.perf_counter() - started)
    mean = float(np.mean(per_step))
    evaluations = len(series)
    return {
        "steps_run": steps,
        "window_samples": window,
        "seconds_per_step": mean,
        "extrapolated_seconds": mean * evaluations,
        "evaluations": evaluations,
        "breakpoints_last_step": len(last) - 1,
    }


# --------------------------------------------------------------------------- all


@dataclass(frozen=True)
class ThroughputPlan:
    """What to measure: the cycle sizes and how many naive Pelt steps to time."""

    cycle_sizes: tuple[int, ...] = (10_000, 100_000)
    pelt_steps: int = 60
    processes: int = 2

    @classmethod
    def quick(cls, processes: int) -> ThroughputPlan:
        return cls(cycle_sizes=(1_000,), pelt_steps=10, processes=processes)


def run(plan: ThroughputPlan, log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Every measurement of the plan; a JSON-ready dictionary."""
    single_threaded_children()
    out: dict[str, Any] = {
        "plan": asdict(plan),
        "rss_method": "VmHWM (peak) and VmRSS (at start) from /proc/self/status",
    }
    out["replay"] = []
    for creep in (False, True):
        log(f"replay, {'creep' if creep else 'clean'} series")
        out["replay"].append(_isolated(replay_stage, creep))
    warmed = min(WARMED, max(plan.cycle_sizes))
    log(f"cold warm-up, {warmed:,} series")
    out["warm_up"] = _isolated(warm_up_stage, warmed)
    out["cycle"] = []
    for size in plan.cycle_sizes:
        log(f"steady-state daemon cycle, {size:,} series")
        out["cycle"].append(_isolated(cycle_stage, size))
    log(f"naive Pelt, {plan.pelt_steps} steps")
    pelt = _isolated(pelt_stage, plan.pelt_steps)
    creep_replay = next(r for r in out["replay"] if r["series"] == "creep")
    pelt["speedup_vs_replay"] = pelt["extrapolated_seconds"] / creep_replay["seconds"]
    out["pelt"] = pelt
    return out


def single_threaded_children() -> None:
    """Processes started from now on keep numerical libraries to one thread each.

    Cores are counted explicitly (one worker process per core), so a BLAS thread pool
    must not quietly use the other core and inflate the per-core rates.
    """
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
