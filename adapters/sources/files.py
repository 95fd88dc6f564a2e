"""Series from files: CSV and JSON lines, the way benchmarks (NAB) and exports ship them.

Files are user input, so every fault is reported as ``file:line: message`` and as many
faults as practical (up to :data:`MAX_PROBLEMS`) are collected in one pass: fixing a
file one error per run is miserable.

Samples are placed on the step grid *end-labelled*: slot ``t`` holds the samples with
``t - step < ts <= t``. That keeps the sources causal (a slot never contains a sample
from after its timestamp, so an evaluation at ``t`` never sees the future) and matches
what a Prometheus range query or a Loki ``count_over_time`` returns at ``t``. Samples
already on the grid are unchanged.

A file is read in bounded memory and refused early when it is over a limit
(:mod:`adapters.limits`): its size before reading, each line's length as it is read,
the labels of each row, the number of series, and the grid each series would need,
computed from its span *before* the grid is allocated. Rows are kept as compact arrays
and their timestamps parsed a chunk at a time, so memory grows by a few dozen bytes per
sample rather than by the Python objects of each row.
"""

from __future__ import annotations

import csv
import json
import math
import os
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from pathlib import Path

import numpy as np
import structlog

from adapters.errors import InputError, Problem
from adapters.limits import MAX_ABS_VALUE, Limits, load_limits, over_limit
from adapters.timeparse import TimestampError, format_rfc3339, parse_timestamps
from detector.durations import format_duration
from detector.rule import MIN_WINDOW_STEPS, Rule
from detector.series import FloatArray, IntArray, Series, format_labels

log = structlog.get_logger("graysignal.sources")

MAX_PROBLEMS = 20
"""Problems collected before a read gives up and reports them."""

CHUNK_ROWS = 65_536
"""Timestamps parsed at a time: large enough for pandas' vectorised parser, small
enough that the text of a chunk is all a read holds besides compact arrays."""

LATEST_TIMESTAMP = 253_402_300_799
"""9999-12-31T23:59:59Z. A numeric timestamp after it is not Unix seconds (it is
usually milliseconds), and saying so beats a grid of a million years."""
EARLIEST_TIMESTAMP = -62_135_596_800
"""0001-01-01T00:00:00Z: earlier times cannot even be printed."""

CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")

LabelKey = tuple[tuple[str, str], ...]


class ProblemList:
    """Problems of one file, capped at :data:`MAX_PROBLEMS`, raised together."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    @property
    def full(self) -> bool:
        return len(self.problems) >= MAX_PROBLEMS

    @property
    def room(self) -> int:
        return MAX_PROBLEMS - len(self.problems)

    def add(self, message: str, line: int | None = None) -> None:
        if not self.full:
            self.problems.append(Problem(self.source, message, line))

    def raise_if_any(self) -> None:
        if self.problems:
            ordered = sorted(self.problems, key=lambda p: (p.line is not None, p.line or 0))
            raise InputError(ordered)


class _Rows:
    """The samples of one file as compact arrays, aligned by row.

    Label sets are interned (one small integer per row); timestamp texts wait in a
    chunk of at most :data:`CHUNK_ROWS` and are then parsed into int64. A new label set
    beyond the series limit, or one over the label limits, stops the read at its line.
    """

    def __init__(self, problems: ProblemList, limits: Limits) -> None:
        self.problems = problems
        self.limits = limits
        self.lines = array("q")
        self.values = array("d")
        self.keys = array("q")
        self.label_sets: dict[LabelKey, int] = {}
        self._texts: list[str] = []
        self._stamps: list[IntArray] = []
        self._outside_reported = False

    def __len__(self) -> int:
        return len(self.lines)

    def add(self, line: int, ts: str, value: float, labels: Mapping[str, str]) -> None:
        key = tuple(sorted(labels.items()))
        index = self.label_sets.get(key)
        if index is None:
            index = self._new_series(key, line)
        self.lines.append(line)
        self.values.append(value)
        self.keys.append(index)
        self._texts.append(ts)
        if len(self._texts) >= CHUNK_ROWS:
            self._parse_chunk()

    def _new_series(self, key: LabelKey, line: int) -> int:
        source, limits = self.problems.source, self.limits
        if len(self.label_sets) >= limits.series_per_file:
            message = f"more than {limits.series_per_file:,} series (label combinations)"
            raise InputError(
                [over_limit(source, message, "series_per_file", limits.series_per_file, line)]
            )
        for name, value in key:
            if len(value) > limits.label_value_chars:
                message = f"label {name!r} has a value of {len(value):,} characters"
                raise InputError(
                    [
                        over_limit(
                            source, message, "label_value_chars", limits.label_value_chars, line
                        )
                    ]
                )
        self.label_sets[key] = len(self.label_sets)
        return self.label_sets[key]

    def _parse_chunk(self) -> None:
        texts, self._texts = self._texts, []
        first = len(self.lines) - len(texts)
        try:
            stamps = parse_timestamps(texts, max_errors=max(1, self.problems.room))
        except TimestampError as exc:
            for bad in exc.errors:
                self.problems.add(bad.message, self.lines[first + bad.index])
            stamps = np.zeros(len(texts), np.int64)
        outside = np.flatnonzero((stamps > LATEST_TIMESTAMP) | (stamps < EARLIEST_TIMESTAMP))
        if outside.size and not self._outside_reported:  # once: every row is likely so
            self._outside_reported = True
            at = int(outside[0])
            why = (
                "is after the year 9999: Unix milliseconds? graysignal reads Unix seconds "
                "or RFC 3339"
                if stamps[at] > LATEST_TIMESTAMP
                else "is before the year 1"
            )
            self.problems.add(f"timestamp {texts[at].strip()} {why}", self.lines[first + at])
        self._stamps.append(stamps)

    def arrays(self) -> tuple[IntArray, FloatArray, IntArray, IntArray]:
        """Timestamps, values, line numbers and label-set indices of every row."""
        if self._texts:
            self._parse_chunk()
        stamps = np.concatenate(self._stamps) if self._stamps else np.empty(0, np.int64)
        return (
            stamps,
            np.frombuffer(self.values, dtype=np.float64),
            np.frombuffer(self.lines, dtype=np.int64),
            np.frombuffer(self.keys, dtype=np.int64),
        )


def parse_value(raw: object) -> float:
    """A sample value: a number, or empty/``NaN``/null for a missing sample.

    Infinite values and magnitudes beyond :data:`~adapters.limits.MAX_ABS_VALUE` are
    refused: no metric reaches them, and they would overflow the detectors' sums.
    """
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
            raise ValueError(f"value {_short(raw)!r} is not a number") from None
    else:
        raise ValueError(f"value {_short(raw)!r} is not a number")
    if math.isinf(number):
        raise ValueError(f"value {_short(raw)!r} is not a finite number")
    if abs(number) > MAX_ABS_VALUE:
        raise ValueError(
            f"value {_short(raw)!r} is too large: graysignal reads values up to "
            f"±{MAX_ABS_VALUE:g} (a unit mix-up or a corrupt export?)"
        )
    return number


def _short(raw: object, limit: int = 40) -> object:
    """What a message quotes of a value: enough to find it, not the whole cell."""
    if isinstance(raw, str) and len(raw) > limit:
        return raw[: limit - 3] + "..."
    return raw


def _open_lines(path: Path, problems: ProblemList, limits: Limits) -> Iterator[str]:
    """Yield the file's lines, none longer than the line limit and no more of them than
    the size limit allows (checked on the file's size first, then while reading, for a
    pipe or a device); a missing or unreadable file becomes an InputError."""
    source = problems.source
    try:
        size = path.stat().st_size if path.is_file() else 0
    except OSError:
        size = 0  # open() below says why
    cap = int(limits.series_file_bytes)
    if size > cap:
        message = f"file is {size:,} bytes"
        raise InputError(
            [over_limit(source, message, "series_file_bytes", limits.series_file_bytes)]
        )
    number = read = 0
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            while line := handle.readline(limits.line_chars + 2):
                number += 1
                read += len(line)
                if len(line.rstrip("\r\n")) > limits.line_chars:
                    message = f"line is longer than {limits.line_chars:,} characters"
                    raise InputError(
                        [over_limit(source, message, "line_chars", limits.line_chars, number)]
                    )
                if read > cap:
                    message = "file is larger than the limit"
                    raise InputError([over_limit(source, message, "series_file_bytes", cap)])
                yield line
    except FileNotFoundError:
        raise InputError.at(source, "file not found") from None
    except IsADirectoryError:
        raise InputError.at(source, "is a directory, not a file") from None
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start] if exc.start < len(exc.object) else 0
        bad_line = _undecodable_line(path, number + 1, limits)
        raise InputError.at(source, f"not UTF-8 text (byte 0x{byte:02x})", bad_line) from None
    except OSError as exc:
        raise InputError.at(source, f"cannot read file: {exc.strerror or exc}") from None


def _undecodable_line(path: Path, after: int, limits: Limits) -> int:
    """The first line, from ``after`` on, that is not UTF-8. The text reader decodes
    ahead of the line it returns, so its error does not say which line it was."""
    with path.open("rb") as handle:
        for number, raw in enumerate(
            iter(lambda: handle.readline(4 * limits.line_chars + 8), b""), 1
        ):
            if number < after:
                continue
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return after


def _read_csv(
    path: Path, problems: ProblemList, default_labels: Mapping[str, str], limits: Limits
) -> _Rows:
    rows = _Rows(problems, limits)
    reader = csv.reader(_open_lines(path, problems, limits))
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
                label_cols = _header(header, problems.source, line, limits)
                lowered = [name.lower() for name in header]
                ts_col, value_col = lowered.index("timestamp"), lowered.index("value")
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


def _header(header: list[str], source: str, line: int, limits: Limits) -> list[tuple[int, str]]:
    """The label columns of a CSV header, which must name ``timestamp`` and ``value``."""
    lowered = [name.lower() for name in header]
    missing = [name for name in ("timestamp", "value") if name not in lowered]
    if missing:
        raise InputError.at(
            source,
            f"header must name columns 'timestamp' and 'value' "
            f"(missing: {', '.join(missing)}); found: {_short(', '.join(header), 200)}",
            line,
        )
    if len(set(lowered)) != len(lowered):
        raise InputError.at(source, "header repeats a column name", line)
    if len(header) - 2 > limits.labels:
        message = f"the header has {len(header) - 2:,} label columns"
        raise InputError([over_limit(source, message, "labels", limits.labels, line)])
    ts_col, value_col = lowered.index("timestamp"), lowered.index("value")
    return [(i, n) for i, n in enumerate(header) if i not in (ts_col, value_col)]


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
            raise ValueError(f"label {_short(key)!r} must be a string, not {type(item).__name__}")
        labels[str(key)] = item if isinstance(item, str) else json.dumps(item)
    return labels


def _read_jsonl(
    path: Path, problems: ProblemList, default_labels: Mapping[str, str], limits: Limits
) -> _Rows:
    rows = _Rows(problems, limits)
    for line, text in enumerate(_open_lines(path, problems, limits), start=1):
        if problems.full:
            break
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.add(f"malformed JSON: {exc.msg} (column {exc.colno})", line)
            continue
        except RecursionError:
            problems.add("malformed JSON: nested too deeply for a sample", line)
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
            problems.add(f"timestamp {_short(ts)!r} must be a string or Unix seconds", line)
            continue
        try:
            value = parse_value(obj["value"])
            labels = _json_labels(obj)
        except ValueError as exc:
            problems.add(str(exc), line)
            continue
        if len(labels) > limits.labels:
            message = f"{len(labels):,} labels"
            raise InputError([over_limit(problems.source, message, "labels", limits.labels, line)])
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
    rows: _Rows, step: int | None, problems: ProblemList, *, strict_order: bool, limits: Limits
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
        rows = _read_csv(path, problems, default_labels, limits)
    elif suffix in JSONL_SUFFIXES:
        rows = _read_jsonl(path, problems, default_labels, limits)
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
    """``source: file``: a CSV or JSON-lines file (see :func:`read_series_file`).

    ``strict_order`` refuses files whose samples are out of time order instead of
    sorting them (``graysignal replay --strict-order``).
    """

    def __init__(self, cache: FileCache | None = None, *, strict_order: bool = False) -> None:
        self._cache = cache if cache is not None else FileCache()
        self._strict_order = strict_order

    def fetch(self, rule: Rule, start: int, end: int) -> list[Series]:
        if not rule.path:
            raise InputError.at(rule.signal, "source 'file' needs 'path'")
        path = Path(rule.path)
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
