"""graysignal on NAB: one causal pass per file, alerts turned into NAB anomaly scores.

How a file is run
-----------------
NAB rows are placed on a regular grid the way a graysignal source would place them
(:func:`to_grid`): the step is the file's most common positive timestamp difference,
a row at ``ts`` lands in the first grid slot at or after ``ts`` (end-labelled, so a slot
never holds a sample from after its own time), and when several rows share a slot the
*first* row in file order keeps it. Two NAB files need that rule:
``machine_temperature_system_failure`` repeats one hour of timestamps and
``ec2_request_latency_system_failure`` has rows with a repeated timestamp. Slots no row
reaches stay NaN (gaps), never invented.

The grid series is then replayed with :func:`detector.replay.replay_rule`, the very
code path of ``graysignal replay``: the clock steps through every slot, each evaluation
reads only samples at or before it, and the rule's alert state machine (``for``,
``keep_firing_for``) decides when an alert *starts firing*. Nothing is tuned per file.

From alerts to NAB anomaly scores
---------------------------------
NAB counts every detected row outside a labelled window as a false positive, so a
detector that flagged every row while a finding persists would be punished for the
very persistence that makes a gray signal worth an alert. An alert notifies once, when
it starts firing, so that is the one row that gets a score (:func:`firing_slot_scores`):
the row of the evaluation at which the alert started firing. The score is the strength
of the finding that made it fire (z-like, see ``docs/detectors.md``) squashed
monotonically into ``[0, 1)`` by ``score / (score + 6)`` (:func:`squash`; 6 is the
default confirmation threshold, which maps to 0.5). Monotone, so NAB's threshold sweep
keeps its meaning: raising NAB's threshold drops the weakest firings first, exactly as
a stricter sensitivity would. Every other row scores 0.

Slot scores go back to rows (:func:`row_scores`): a slot's score is given to the row that
filled the slot; a firing at a slot no row filled (a gap) is reported at the next row
that arrives, the earliest moment a streaming consumer of the file could have shown it.
Rows that lost their slot to an earlier duplicate score 0. So a firing at row ``k``
scores row ``k`` and nothing else.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks.nab.corpus import Corpus, DataFile
from benchmarks.nab.scoring import ProfileScore, score_all_profiles, write_results_dir
from detector.replay import Signal, replay_rule
from detector.rule import Rule
from detector.series import FloatArray, IntArray, Series

BoolArray = npt.NDArray[np.bool_]

SCORE_SCALE = 6.0
"""Finding score that maps to an anomaly score of 0.5 (the default confirmation threshold)."""

QUICK_FILES: tuple[str, ...] = (
    "artificialNoAnomaly/art_daily_small_noise.csv",
    "artificialWithAnomaly/art_daily_jumpsup.csv",
    "artificialWithAnomaly/art_daily_flatmiddle.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv",
    "realAWSCloudwatch/rds_cpu_utilization_e47b3b.csv",
    "realAWSCloudwatch/ec2_network_in_257a54.csv",
    "realAdExchange/exchange-2_cpc_results.csv",
    "realKnownCause/nyc_taxi.csv",
    "realKnownCause/ec2_request_latency_system_failure.csv",
    "realTraffic/occupancy_6005.csv",
    "realTraffic/speed_t4013.csv",
    "realTweets/Twitter_volume_IBM.csv",
)
"""The ``--quick`` subset: every NAB category, 12 files, about a fifth of the rows."""


@dataclass(frozen=True)
class Configuration:
    """One whole-corpus rule configuration (NAB allows no per-file tuning).

    ``name`` is the NAB detector name (results directory); ``fields`` are rule fields
    on top of the defaults, exactly as they would appear in a rule file.
    """

    name: str
    label: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    default: bool = False

    def rule(self) -> Rule:
        data: dict[str, Any] = {"signal": "NAB", "source": "file", "path": "nab.csv"}
        data.update(self.fields)
        return Rule.model_validate(data)


CONFIGURATIONS: tuple[Configuration, ...] = (
    Configuration(
        "graysignal", "default rule (level_shift+trend, medium, 7d, for 15m)", default=True
    ),
    Configuration("graysignal_high", "sensitivity: high", {"sensitivity": "high"}),
    Configuration(
        "graysignal_variance",
        "detect: level_shift, trend, variance",
        {"detect": ["level_shift", "trend", "variance"]},
    ),
    Configuration("graysignal_window2d", "window: 2d", {"window": "2d"}),
)
"""Configurations compared on the whole corpus; the first is graysignal's default rule."""


# --------------------------------------------------------------------------- grid


@dataclass(frozen=True, eq=False)
class GridMap:
    """A NAB file on a regular grid, and how its rows relate to the grid's slots.

    ``row_slot[r]`` is the slot row ``r`` falls into; ``carrier[r]`` is True when row
    ``r`` is the first row of its slot (the one whose value the slot holds).
    """

    series: Series
    row_slot: IntArray
    carrier: BoolArray

    @property
    def step(self) -> int:
        return self.series.step


def infer_step(seconds: IntArray) -> int:
    """The most common positive difference between timestamps (ties: the smaller)."""
    diffs = np.diff(np.asarray(seconds, dtype=np.int64))
    positive = diffs[diffs > 0]
    if positive.size == 0:
        raise ValueError("cannot infer a step: fewer than two distinct timestamps")
    steps, counts = np.unique(positive, return_counts=True)
    return int(steps[int(np.argmax(counts))])


def to_grid(name: str, seconds: IntArray, values: FloatArray, step: int | None = None) -> GridMap:
    """Place rows on end-labelled slots of ``step`` seconds; the first row of a slot wins."""
    ts = np.asarray(seconds, dtype=np.int64)
    step = infer_step(ts) if step is None else step
    slots = -(-ts // step) * step
    origin = int(slots.min())
    row_slot = ((slots - origin) // step).astype(np.int64)
    _, first_rows = np.unique(row_slot, return_index=True)
    carrier = np.zeros(ts.size, dtype=bool)
    carrier[first_rows] = True
    n_slots = int(row_slot.max()) + 1
    grid_values = np.full(n_slots, np.nan)
    grid_values[row_slot[carrier]] = np.asarray(values, dtype=np.float64)[carrier]
    grid_times = origin + step * np.arange(n_slots, dtype=np.int64)
    series = Series({"nab_file": name}, grid_times, grid_values, step)
    return GridMap(series=series, row_slot=row_slot, carrier=carrier)


def grid_of(data: DataFile) -> GridMap:
    """:func:`to_grid` for a NAB data file (timestamps are UTC seconds)."""
    seconds = data.timestamps.astype("datetime64[s]").astype(np.int64)
    return to_grid(data.name, seconds, data.values)


# --------------------------------------------------------------------------- scores


def squash(score: float) -> float:
    """Map a finding score (>= 0, z-like) monotonically into ``[0, 1)``."""
    return max(score, 0.0) / (max(score, 0.0) + SCORE_SCALE)


def firing_slot_scores(signals: Sequence[Signal], grid: GridMap) -> FloatArray:
    """Per slot: the squashed score of every alert that started firing there (max), else 0."""
    out = np.zeros(len(grid.series))
    origin = grid.series.start
    for signal in signals:
        for firing in signal.firings:
            slot = (firing.start - origin) // grid.step
            if 0 <= slot < out.size:
                out[slot] = max(out[slot], squash(firing.first.score))
    return out


def row_scores(grid: GridMap, slot_scores: FloatArray) -> FloatArray:
    """Give each slot's score to the row that filled it, or to the next row after a gap."""
    rows = np.zeros(grid.row_slot.size)
    carrier_rows = np.flatnonzero(grid.carrier)
    order = np.argsort(grid.row_slot[carrier_rows], kind="stable")
    sorted_slots = grid.row_slot[carrier_rows][order]
    sorted_rows = carrier_rows[order]
    for slot in np.flatnonzero(slot_scores > 0):
        j = int(np.searchsorted(sorted_slots, slot, side="left"))
        if j < sorted_rows.size:
            row = int(sorted_rows[j])
            rows[row] = max(rows[row], float(slot_scores[slot]))
    return rows


def detect_file(configuration: Configuration, data: DataFile) -> FloatArray:
    """NAB anomaly scores of one file: one causal replay of the configuration's rule."""
    grid = grid_of(data)
    series = grid.series
    signals, _ = replay_rule(
        configuration.rule(),
        group="nab",
        interval=grid.step,
        series=[series],
        start=series.start - grid.step,
        end=series.end,
    )
    return row_scores(grid, firing_slot_scores(signals, grid))


# --------------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class ConfigurationResult:
    """NAB scores of one configuration, and what it cost (CPU seconds over all files)."""

    configuration: Configuration
    scores: dict[str, ProfileScore]
    cpu_seconds: float
    results_dir: Path | None


def _task(args: tuple[Configuration, DataFile]) -> tuple[str, str, FloatArray, float]:
    configuration, data = args
    started = time.process_time()
    scores = detect_file(configuration, data)
    return configuration.name, data.name, scores, time.process_time() - started


def run_configurations(
    corpus: Corpus,
    configurations: Sequence[Configuration] = CONFIGURATIONS,
    processes: int | None = None,
    results_dir: Path | None = None,
) -> list[ConfigurationResult]:
    """Replay every configuration over every file (files in parallel), score and write.

    Files are independent, so they are spread over ``processes`` worker processes
    (default: all cores); the biggest files go first to balance the load.
    """
    processes = processes or os.cpu_count() or 1
    by_size = sorted(corpus.names, key=lambda n: -corpus.files[n].n_rows)
    tasks = [(c, corpus.files[n]) for c in configurations for n in by_size]
    found: dict[str, dict[str, FloatArray]] = {c.name: {} for c in configurations}
    cpu: dict[str, float] = dict.fromkeys(found, 0.0)
    if processes > 1:
        with get_context("fork").Pool(processes) as pool:
            outputs = list(pool.imap_unordered(_task, tasks))
    else:
        outputs = [_task(t) for t in tasks]
    for config_name, file_name, scores, seconds in outputs:
        found[config_name][file_name] = scores
        cpu[config_name] += seconds
    results: list[ConfigurationResult] = []
    for configuration in configurations:
        per_file = found[configuration.name]
        if results_dir is not None:
            write_results_dir(results_dir, configuration.name, per_file, corpus)
        results.append(
            ConfigurationResult(
                configuration=configuration,
                scores=score_all_profiles(per_file, corpus),
                cpu_seconds=cpu[configuration.name],
                results_dir=results_dir,
            )
        )
    return results


def category_breakdown(score: ProfileScore) -> dict[str, dict[str, int]]:
    """Windows hit and missed, and false-positive rows, per NAB category at the threshold."""
    out: dict[str, dict[str, int]] = {}
    for f in score.files:
        category = f.name.split("/", 1)[0]
        entry = out.setdefault(category, {"windows_detected": 0, "windows_missed": 0, "fp": 0})
        entry["windows_detected"] += f.windows_detected
        entry["windows_missed"] += f.windows_missed
        entry["fp"] += f.fp
    return out
