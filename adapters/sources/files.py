"""Series from files: CSV and JSON lines, the way benchmarks (NAB) and exports ship them.

The rows are read by :mod:`adapters.sources.rows` (faults as ``file:line: message``,
limits on size, lines, labels and series); here they become one series per label set.

Samples are placed on the step grid *end-labelled*: slot ``t`` holds the samples with
``t - step < ts <= t``. That keeps the sources causal (a slot never contains a sample
from after its timestamp, so an evaluation at ``t`` never sees the future) and matches
what a Prometheus range query or a Loki ``count_over_time`` returns at ``t``. Samples
already on the grid are unchanged. The grid each series needs is computed from its span
and checked against the limit *before* it is allocated.
"""

from __future__ import annotations

import glob
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path

import numpy as np
import structlog

from adapters.errors import InputError
from adapters.limits import Limits, load_limits, over_limit
from adapters.sources.rows import (
    MAX_PROBLEMS,
    LabelKey,
    ProblemList,
    Rows,
    read_csv_rows,
    read_jsonl_rows,
)
from adapters.timeparse import format_rfc3339
from detector.durations import format_duration
from detector.rule import MIN_WINDOW_STEPS, Rule
from detector.series import FloatArray, IntArray, Series, format_labels

__all__ = [
    "CSV_SUFFIXES",
    "JSONL_SUFFIXES",
    "MAX_PROBLEMS",
    "FileCache",
    "FileSource",
    "ProblemList",
    "infer_step",
    "matching_files",
    "names_many_files",
    "read_series_file",
    "to_grid",
    "window",
    "window_holds_step",
]

log = structlog.get_logger("graysignal.sources")

CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")


def infer_step(groups: list[IntArray]) -> int | None:
    """The most common positive difference between consecutive timestamps, pooled
    over the series of one file (ties go to the smaller step); None if there is none.
    """
    diffs = np.concatenate([np.diff(ts) for ts in groups]) if groups else np.empty(0, np.int64)
    positive = diffs[diffs > 0]
    if positive.size == 0:
        return None
    steps, counts = np.unique(positive, return_counts=True)
    return int(steps[int(np.argmax(counts))])


def to_grid(
    labels: Mapping[str, str], timestamps: IntArray, values: FloatArray, step: int
) -> Series:
    """End-labelled slots (``t - step < ts <= t``), averaging the finite samples of a
    slot; a slot without finite samples is NaN. Arrays are made read-only because parsed
    files are cached and shared between evaluations.
    """
    slots = -(-timestamps // step) * step
    unique, inverse = np.unique(slots, return_inverse=True)
    finite = np.isfinite(values)
    sums = np.bincount(inverse, weights=np.where(finite, values, 0.0), minlength=unique.size)
    counts = np.bincount(inverse, weights=finite.astype(np.float64), minlength=unique.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1.0), np.nan)
    series = Series.regular(labels, unique, means, step)
    series.timestamps.flags.writeable = False
    series.values.flags.writeable = False
    return series


def _in_time_order(
    idx: IntArray, stamps: IntArray, lines: IntArray, problems: ProblemList, strict: bool
) -> tuple[IntArray, int, int | None]:
    """The rows of one series sorted by time (stable: equal timestamps keep file order),
    how many of them were earlier than a sample before them, and the line of the first.

    With ``strict`` each backward step is a problem at its line instead.
    """
    ts = stamps[idx]
    backwards = np.flatnonzero(np.diff(ts) < 0) + 1
    if backwards.size == 0:
        return idx, 0, None
    if strict:
        for j in backwards[: problems.room]:
            here, before = int(idx[j]), int(idx[j - 1])
            problems.add(
                f"timestamp {format_rfc3339(int(stamps[here]))} is earlier than "
                f"{format_rfc3339(int(stamps[before]))} on line {int(lines[before])}; "
                "the samples of a series must be in time order (without --strict-order "
                "they are sorted into place)",
                int(lines[here]),
            )
        return idx, 0, None
    late = ts < np.maximum.accumulate(ts)
    return idx[np.argsort(ts, kind="stable")], int(late.sum()), int(lines[idx[backwards[0]]])


def _build_series(
    rows: Rows, step: int | None, problems: ProblemList, *, strict_order: bool, limits: Limits
) -> list[Series]:
    if not len(rows):
        if not problems.problems:
            problems.add("no samples")
        problems.raise_if_any()
    stamps, values, lines, keys = rows.arrays()
    problems.raise_if_any()

    ordered = np.argsort(keys, kind="stable")
    bounds = np.flatnonzero(np.diff(keys[ordered])) + 1
    label_sets = list(rows.label_sets)
    groups: list[tuple[LabelKey, IntArray]] = []
    late = 0
    first_late: int | None = None
    for idx in np.split(ordered, bounds):
        sorted_idx, count, line = _in_time_order(idx, stamps, lines, problems, strict_order)
        groups.append((label_sets[int(keys[idx[0]])], sorted_idx))
        late += count
        if line is not None and (first_late is None or line < first_late):
            first_late = line
    problems.raise_if_any()
    if late:
        log.warning(
            "samples out of time order were sorted into place",
            file=problems.source,
            samples=late,
            first_line=first_late,
            hint="--strict-order refuses such files",
        )

    if step is None:
        step = infer_step([stamps[idx] for _, idx in groups])
        if step is None:
            raise InputError.at(
                problems.source,
                "cannot infer the step: no series has two distinct timestamps; set 'step'",
            )
    out: list[Series] = []
    for key, idx in groups:
        ts = stamps[idx]
        first, last = int(ts[0]), int(ts[-1])
        slots = (-(-last // step) - -(-first // step)) + 1
        if slots > limits.series_steps:
            message = (
                f"series {format_labels(dict(key))} spans {format_duration(last - first)} "
                f"({format_rfc3339(first)} to {format_rfc3339(last)}), {slots:,} steps of "
                f"{format_duration(step)}; a wrong timestamp or a too small step?"
            )
            raise InputError(
                [over_limit(problems.source, message, "series_steps", limits.series_steps)]
            )
        out.append(to_grid(dict(key), ts, values[idx], step))
    return out


def read_series_file(
    path: str | Path,
    step: int | None = None,
    *,
    strict_order: bool = False,
    limits: Limits | None = None,
) -> list[Series]:
    """Read a CSV or JSON-lines file into one :class:`Series` per label combination.

    - CSV (``.csv``): header ``timestamp,value[,label columns...]`` (any column order).
    - JSON lines (``.jsonl``, ``.ndjson``): one object per line with ``timestamp``,
      ``value`` and either a ``labels`` object or other keys taken as labels.

    Empty label values (and JSON nulls) mean "no such label", as in Prometheus. A row
    with no labels at all is labelled ``{"series": <file stem>}`` so reports can name it.
    Values that are empty, ``NaN``/``nan`` or JSON null are NaN.

    ``step=None`` infers the step per file: the most common positive difference between
    consecutive timestamps of a series. Samples are then placed on the end-labelled grid
    (slot ``t`` holds ``t - step < ts <= t``); when several samples fall into one slot
    (a coarser ``step``, repeated timestamps) their finite values are averaged, and
    empty slots are NaN, never invented.

    Samples of a series that are out of time order (an export that repeats an hour,
    NAB's machine temperature file) are sorted into place and counted in one warning;
    equal timestamps are averaged. ``strict_order`` refuses such a file instead, naming
    each line where time goes backwards. Raises :class:`InputError` listing up to
    :data:`MAX_PROBLEMS` problems as ``file:line``, or the one limit the file is over.
    """
    path = Path(path)
    problems = ProblemList(str(path))
    if step is not None and step <= 0:
        raise InputError.at(str(path), f"step must be a positive number of seconds, got {step}")
    limits = limits or load_limits()
    suffix = path.suffix.lower()
    default_labels = {"series": path.stem}
    if suffix in CSV_SUFFIXES:
        rows = read_csv_rows(path, problems, default_labels, limits)
    elif suffix in JSONL_SUFFIXES:
        rows = read_jsonl_rows(path, problems, default_labels, limits)
    else:
        raise InputError.at(
            str(path), f"unsupported file type {suffix!r}: use .csv, .jsonl or .ndjson"
        )
    return _build_series(rows, step, problems, strict_order=strict_order, limits=limits)


def window_holds_step(source: str, window: int, step: int, *, setting: str = "'window'") -> None:
    """Refuse, in words, a step inferred from the data that the rule's window cannot
    hold: a detector needs :data:`~detector.rule.MIN_WINDOW_STEPS` samples in a window,
    and a file of daily samples under a 7-day window would never say anything."""
    if window >= MIN_WINDOW_STEPS * step:
        return
    held = window // step
    raise InputError.at(
        source,
        f"the samples are {format_duration(step)} apart, so the {format_duration(window)} "
        f"window holds {held} of them and a rule needs at least {MIN_WINDOW_STEPS}; "
        f"set {setting} to {format_duration(MIN_WINDOW_STEPS * step)} or more",
        unreadable=True,
    )


class FileCache:
    """Parsed files keyed by (path, mtime, size, options), so that replay, which fetches
    the same file at every simulated step, parses it once; a changed file is re-read.
    """

    def __init__(self, max_entries: int = 64) -> None:
        self._entries: OrderedDict[Hashable, list[Series]] = OrderedDict()
        self._max_entries = max_entries
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, int]:
        """A cache travels empty (to a fleet's worker): parsed series stay where they
        were parsed, and a lock cannot be pickled."""
        return {"max_entries": self._max_entries}

    def __setstate__(self, state: dict[str, int]) -> None:
        self.__init__(state["max_entries"])  # type: ignore[misc]

    def get(self, path: Path, options: Hashable, load: Callable[[], list[Series]]) -> list[Series]:
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise InputError.at(str(path), "file not found") from None
        except OSError as exc:
            raise InputError.at(str(path), f"cannot read file: {exc}") from None
        key = (os.path.abspath(path), stat.st_mtime_ns, stat.st_size, options)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        loaded = load()
        with self._lock:
            self._entries[key] = loaded
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return loaded


GLOB_CHARACTERS = frozenset("*?[")


def names_many_files(path: str) -> bool:
    """Whether a rule's ``path`` names a set of files: a directory or a glob pattern.

    A fleet of series exported one file per host or per batch is one rule; the file
    list is also what a fleet run splits into tasks (:mod:`adapters.fleet`).
    """
    return bool(GLOB_CHARACTERS & set(path)) or Path(path).is_dir()


def matching_files(path: str) -> list[Path]:
    """The series files a multi-file ``path`` names, sorted by path, so every reader
    (one process or a fleet's tasks) sees them, and their series, in the same order.

    A directory names its CSV and JSON-lines files (not those of subdirectories); a
    glob pattern names what it matches (``**`` included).
    """
    suffixes = (*CSV_SUFFIXES, *JSONL_SUFFIXES)
    if Path(path).is_dir():
        found = [p for p in Path(path).iterdir() if p.suffix.lower() in suffixes]
    else:
        found = [Path(p) for p in glob.glob(path, recursive=True)]
    files = sorted(p for p in found if p.is_file() and p.suffix.lower() in suffixes)
    if not files:
        raise InputError.at(path, "no .csv, .jsonl or .ndjson file matches this path")
    return files


def window(series: list[Series], start: int, end: int) -> list[Series]:
    """The causal window ``(start, end]`` of each series, without empty ones."""
    return [part for part in (s.between(start, end) for s in series) if len(part) > 0]


class FileSource:
    """``source: file``: a CSV or JSON-lines file (see :func:`read_series_file`), or a
    directory or glob of them (:func:`matching_files`): their series in file order.

    ``strict_order`` refuses files whose samples are out of time order instead of
    sorting them (``graysignal replay --strict-order``).
    """

    def __init__(self, cache: FileCache | None = None, *, strict_order: bool = False) -> None:
        self._cache = cache if cache is not None else FileCache()
        self._strict_order = strict_order

    def fetch(self, rule: Rule, start: int, end: int) -> list[Series]:
        if not rule.path:
            raise InputError.at(rule.signal, "source 'file' needs 'path'")
        if names_many_files(rule.path):
            return [
                one
                for path in matching_files(rule.path)
                for one in self._fetch_file(rule, path, start, end)
            ]
        return self._fetch_file(rule, Path(rule.path), start, end)

    def _fetch_file(self, rule: Rule, path: Path, start: int, end: int) -> list[Series]:
        step, strict = rule.step, self._strict_order
        parsed = self._cache.get(
            path,
            ("file", step, strict),
            lambda: read_series_file(path, step, strict_order=strict),
        )
        if step is None and parsed:
            setting = f"the 'window' of rule {rule.signal}"
            window_holds_step(str(path), rule.window, parsed[0].step, setting=setting)
        return window(parsed, start, end)
