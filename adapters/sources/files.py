"""Series from files: CSV and JSON lines, the way benchmarks (NAB) and exports ship them.

Files are user input, so every fault is reported as ``file:line: message`` and as many
faults as practical (up to :data:`MAX_PROBLEMS`) are collected in one pass: fixing a
file one error per run is miserable.

Samples are placed on the step grid *end-labelled*: slot ``t`` holds the samples with
``t - step < ts <= t``. That keeps the sources causal (a slot never contains a sample
from after its timestamp, so an evaluation at ``t`` never sees the future) and matches
what a Prometheus range query or a Loki ``count_over_time`` returns at ``t``. Samples
already on the grid are unchanged.
"""

from __future__ import annotations

import csv
import json
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from adapters.errors import InputError, Problem
from adapters.timeparse import TimestampError, parse_timestamps
from detector.rule import Rule
from detector.series import FloatArray, IntArray, Series

MAX_PROBLEMS = 20
"""Problems collected before a read gives up and reports them."""

MAX_SLOTS = 10_000_000
"""Grid slots per series (80 MB of float64); more means a wrong timestamp or step."""

CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")


class ProblemList:
    """Problems of one file, capped at :data:`MAX_PROBLEMS`, raised together."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    @property
    def full(self) -> bool:
        return len(self.problems) >= MAX_PROBLEMS

    def add(self, message: str, line: int | None = None) -> None:
        if not self.full:
            self.problems.append(Problem(self.source, message, line))

    def raise_if_any(self) -> None:
        if self.problems:
            ordered = sorted(self.problems, key=lambda p: (p.line is not None, p.line or 0))
            raise InputError(ordered)


@dataclass
class _Rows:
    """Parsed rows of one file before they become series (all lists aligned)."""

    lines: list[int] = field(default_factory=list)
    timestamps: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    labels: list[tuple[tuple[str, str], ...]] = field(default_factory=list)

    def add(self, line: int, ts: str, value: float, labels: Mapping[str, str]) -> None:
        self.lines.append(line)
        self.timestamps.append(ts)
        self.values.append(value)
        self.labels.append(tuple(sorted(labels.items())))


def parse_value(raw: object) -> float:
    """A sample value: a number, or empty/``NaN``/null for a missing sample."""
    if raw is None:
        return math.nan
    if isinstance(raw, bool):
        raise ValueError(f"value {raw!r} is not a number")
    if isinstance(raw, int | float):
        number = float(raw)
    elif isinstance(raw, str):
        text = raw.strip()
        if text == "" or text.lower() == "nan":
            return math.nan
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"value {raw!r} is not a number") from None
    else:
        raise ValueError(f"value {raw!r} is not a number")
    if math.isinf(number):
        raise ValueError(f"value {raw!r} is not a finite number")
    return number


def _open_lines(path: Path, problems: ProblemList) -> Iterator[str]:
    """Yield the file's lines; a missing or unreadable file becomes an InputError."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            yield from handle
    except FileNotFoundError:
        raise InputError.at(problems.source, "file not found") from None
    except IsADirectoryError:
        raise InputError.at(problems.source, "is a directory, not a file") from None
    except (PermissionError, UnicodeDecodeError, OSError) as exc:
        raise InputError.at(problems.source, f"cannot read file: {exc}") from None


def _read_csv(path: Path, problems: ProblemList, default_labels: Mapping[str, str]) -> _Rows:
    rows = _Rows()
    reader = csv.reader(_open_lines(path, problems))
    header: list[str] | None = None
    ts_col = value_col = -1
    label_cols: list[tuple[int, str]] = []
    previous_end = 0
    try:
        for record in reader:
            line, previous_end = previous_end + 1, reader.line_num
            if not record or all(cell.strip() == "" for cell in record):
                continue
            if header is None:
                header = [name.strip() for name in record]
                lowered = [name.lower() for name in header]
                missing = [name for name in ("timestamp", "value") if name not in lowered]
                if missing:
                    raise InputError.at(
                        problems.source,
                        f"header must name columns 'timestamp' and 'value' "
                        f"(missing: {', '.join(missing)}); found: {', '.join(header)}",
                        line,
                    )
                if len(set(lowered)) != len(lowered):
                    raise InputError.at(problems.source, "header repeats a column name", line)
                ts_col, value_col = lowered.index("timestamp"), lowered.index("value")
                label_cols = [(i, n) for i, n in enumerate(header) if i not in (ts_col, value_col)]
                continue
            if len(record) != len(header):
                problems.add(f"expected {len(header)} fields, found {len(record)}", line)
                continue
            try:
                value = parse_value(record[value_col])
            except ValueError as exc:
                problems.add(str(exc), line)
                continue
            labels = {name: record[i].strip() for i, name in label_cols if record[i].strip()}
            rows.add(line, record[ts_col], value, labels or default_labels)
    except csv.Error as exc:
        raise InputError.at(problems.source, f"malformed CSV: {exc}", reader.line_num) from None
    return rows


def _json_labels(obj: Mapping[str, object]) -> dict[str, str]:
    """Labels of a JSON line: its ``labels`` object, else every other key."""
    raw = obj.get("labels", obj)
    if not isinstance(raw, dict):
        raise ValueError("'labels' must be an object of strings")
    labels: dict[str, str] = {}
    for key, item in raw.items():
        if raw is obj and key in ("timestamp", "value"):
            continue
        if item is None:
            continue
        if isinstance(item, dict | list):
            raise ValueError(f"label {key!r} must be a string, not {type(item).__name__}")
        labels[str(key)] = item if isinstance(item, str) else json.dumps(item)
    return labels


def _read_jsonl(path: Path, problems: ProblemList, default_labels: Mapping[str, str]) -> _Rows:
    rows = _Rows()
    for line, text in enumerate(_open_lines(path, problems), start=1):
        if problems.full:
            break
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.add(f"malformed JSON: {exc.msg} (column {exc.colno})", line)
            continue
        if not isinstance(obj, dict):
            problems.add("each line must be a JSON object", line)
            continue
        missing = [key for key in ("timestamp", "value") if key not in obj]
        if missing:
            problems.add(f"missing field {', '.join(repr(k) for k in missing)}", line)
            continue
        ts = obj["timestamp"]
        if isinstance(ts, bool) or not isinstance(ts, str | int | float):
            problems.add(f"timestamp {ts!r} must be a string or Unix seconds", line)
            continue
        try:
            value = parse_value(obj["value"])
            labels = _json_labels(obj)
        except ValueError as exc:
            problems.add(str(exc), line)
            continue
        rows.add(line, str(ts), value, labels or default_labels)
    return rows


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


def _build_series(rows: _Rows, step: int | None, problems: ProblemList) -> list[Series]:
    if not rows.lines:
        if not problems.problems:
            problems.add("no samples")
        problems.raise_if_any()
    try:
        stamps = parse_timestamps(rows.timestamps, max_errors=MAX_PROBLEMS)
    except TimestampError as exc:
        for bad in exc.errors:
            problems.add(bad.message, rows.lines[bad.index])
        problems.raise_if_any()
        raise  # unreachable: a TimestampError always holds at least one error
    problems.raise_if_any()

    order: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for i, key in enumerate(rows.labels):
        order.setdefault(key, []).append(i)
    groups = {key: np.asarray(idx, dtype=np.intp) for key, idx in order.items()}

    for idx in groups.values():
        ts = stamps[idx]
        for j in np.flatnonzero(np.diff(ts) < 0) + 1:
            here, before = int(idx[j]), int(idx[j - 1])
            problems.add(
                f"timestamp {rows.timestamps[here].strip()} is earlier than "
                f"{rows.timestamps[before].strip()} on line {rows.lines[before]}; "
                "the samples of a series must be in time order",
                rows.lines[here],
            )
    problems.raise_if_any()

    if step is None:
        step = infer_step([stamps[idx] for idx in groups.values()])
        if step is None:
            raise InputError.at(
                problems.source,
                "cannot infer the step: no series has two distinct timestamps; set 'step'",
            )
    values = np.asarray(rows.values, dtype=np.float64)
    out: list[Series] = []
    for key, idx in groups.items():
        ts = stamps[idx]
        slots = (int(ts.max()) - int(ts.min())) // step + 1
        if slots > MAX_SLOTS:
            raise InputError.at(
                problems.source,
                f"series {dict(key)} spans {slots} steps of {step}s (limit {MAX_SLOTS}); "
                "check for a wrong timestamp or a too small step",
            )
        out.append(to_grid(dict(key), ts, values[idx], step))
    return out


def read_series_file(path: str | Path, step: int | None = None) -> list[Series]:
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

    Timestamps within a series must not go backwards (equal ones are allowed and
    averaged: NAB files repeat a timestamp around DST changes). Raises
    :class:`InputError` listing up to :data:`MAX_PROBLEMS` problems as ``file:line``.
    """
    path = Path(path)
    problems = ProblemList(str(path))
    if step is not None and step <= 0:
        raise InputError.at(str(path), f"step must be a positive number of seconds, got {step}")
    suffix = path.suffix.lower()
    default_labels = {"series": path.stem}
    if suffix in CSV_SUFFIXES:
        rows = _read_csv(path, problems, default_labels)
    elif suffix in JSONL_SUFFIXES:
        rows = _read_jsonl(path, problems, default_labels)
    else:
        raise InputError.at(
            str(path), f"unsupported file type {suffix!r}: use .csv, .jsonl or .ndjson"
        )
    return _build_series(rows, step, problems)


class FileCache:
    """Parsed files keyed by (path, mtime, size, options), so that replay, which fetches
    the same file at every simulated step, parses it once; a changed file is re-read.
    """

    def __init__(self, max_entries: int = 64) -> None:
        self._entries: OrderedDict[Hashable, list[Series]] = OrderedDict()
        self._max_entries = max_entries
        self._lock = threading.Lock()

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


def window(series: list[Series], start: int, end: int) -> list[Series]:
    """The causal window ``(start, end]`` of each series, without empty ones."""
    return [part for part in (s.between(start, end) for s in series) if len(part) > 0]


class FileSource:
    """``source: file``: a CSV or JSON-lines file (see :func:`read_series_file`)."""

    def __init__(self, cache: FileCache | None = None) -> None:
        self._cache = cache if cache is not None else FileCache()

    def fetch(self, rule: Rule, start: int, end: int) -> list[Series]:
        if not rule.path:
            raise InputError.at(rule.signal, "source 'file' needs 'path'")
        path = Path(rule.path)
        step = rule.step
        parsed = self._cache.get(path, ("file", step), lambda: read_series_file(path, step))
        return window(parsed, start, end)
