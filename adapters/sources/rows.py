"""The rows of a series file: CSV or JSON lines read within limits into compact arrays.

A file is user input, so each fault is collected as ``file:line: message`` (up to
:data:`MAX_PROBLEMS`, so a file is fixed in one pass), and a file is read in bounded
memory and refused early when it is over a limit (:mod:`adapters.limits`): its size
before reading, each line's length as it is read, the labels of each row and the number
of series. Rows are kept as compact arrays with their timestamps parsed a chunk at a
time, so memory grows by a few dozen bytes per sample rather than by the Python objects
of each row. :mod:`adapters.sources.files` turns the rows into series.
"""

from __future__ import annotations

import csv
import json
import math
from array import array
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from adapters.errors import InputError, Problem
from adapters.limits import MAX_ABS_VALUE, Limits, over_limit
from adapters.timeparse import (
    EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
    TimestampError,
    parse_timestamps,
)
from detector.series import FloatArray, IntArray

MAX_PROBLEMS = 20
"""Problems collected before a read gives up and reports them."""

CHUNK_ROWS = 65_536
"""Timestamps parsed at a time: large enough for pandas' vectorised parser, small
enough that the text of a chunk is all a read holds besides compact arrays."""


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


class Rows:
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


def read_csv_rows(
    path: Path, problems: ProblemList, default_labels: Mapping[str, str], limits: Limits
) -> Rows:
    rows = Rows(problems, limits)
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


def read_jsonl_rows(
    path: Path, problems: ProblemList, default_labels: Mapping[str, str], limits: Limits
) -> Rows:
    rows = Rows(problems, limits)
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
