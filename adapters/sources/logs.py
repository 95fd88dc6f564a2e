"""Log files as per-level volume series: how many lines of each level per step.

A slow rise in WARN or ERROR lines is one of the grayest signals there is, and many
teams have the log file long before they have a metric. Counting is causal and
end-labelled like every source here (slot ``t`` counts lines with
``t - step < ts <= t``, as Loki's ``count_over_time`` does), so the slot still being
written at "now" has a timestamp after now and is never read half-full. Timestamps are
whole seconds (floored, like every ``Series``), so ``10:01:00.250`` counts in slot 10:01.

In logs, silence is zero volume: between the first and the last parsed line every slot
exists and a slot without lines of a level is 0, not NaN.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from adapters.errors import InputError
from adapters.limits import load_limits, over_limit
from adapters.sources.files import MAX_PROBLEMS, FileCache, ProblemList, window
from adapters.timeparse import TimestampError, parse_timestamps
from detector.rule import DEFAULT_STEP, LogOptions, Rule
from detector.series import Series

if TYPE_CHECKING:
    from adapters.logpatterns.files import LogPatternFiles

"""Seconds per slot when a ``logfile`` rule sets no ``step``."""

LEVEL_ALIASES = {"WARNING": "WARN", "ERR": "ERROR"}
"""Spellings folded together; FATAL and CRITICAL stay distinct on purpose."""

_LEVEL_WORDS = (
    "TRACE|DEBUG|INFO|NOTICE|WARNING|WARN|ERROR|ERR|CRITICAL|CRIT|FATAL|ALERT|EMERG|PANIC"
)
DEFAULT_PATTERN = (
    r"^\[?(?P<timestamp>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?|\d{9,10}(?:\.\d+)?)\]?"
    r"\s+(?:\S+\s+){0,3}?"
    r"(?:(?:level|lvl|severity)=)?[\"\[(<]?(?P<level>" + _LEVEL_WORDS + r")\b"
)
"""Matches a timestamp at the start of the line (RFC 3339, ``2026-11-20 10:00:00,123``
or Unix seconds, optionally in brackets) followed, within three tokens (logger, thread,
``-``), by a level word, bare, in brackets or as ``level=``; case-insensitive. Covers
``2026-11-20T10:00:00Z ERROR msg``, ``2026-11-20 10:00:00,123 [WARN] msg``,
``2026-11-20T10:00:00.123+01:00 level=error msg`` and Python's
``%(asctime)s - %(name)s - %(levelname)s - %(message)s``."""

DEFAULT_REGEX = re.compile(DEFAULT_PATTERN, re.IGNORECASE)


@dataclass(frozen=True)
class LogVolume:
    """What :func:`read_log_volume` found.

    ``skipped_lines`` counts non-empty lines that did not parse (stack-trace
    continuations, other formats) so a caller can warn when a pattern misses most of a
    file; blank lines are not counted.
    """

    series: list[Series]
    parsed_lines: int
    skipped_lines: int


def normalise_level(level: str) -> str:
    """Upper-case a level and fold aliases (``warning`` -> ``WARN``, ``err`` -> ``ERROR``)."""
    upper = level.strip().upper()
    return LEVEL_ALIASES.get(upper, upper)


@contextmanager
def reading(source: str) -> Iterator[None]:
    """A log file that cannot be read is the user's input error, said plainly."""
    try:
        yield
    except FileNotFoundError:
        raise InputError.at(source, "file not found") from None
    except IsADirectoryError:
        raise InputError.at(source, "is a directory, not a file") from None
    except OSError as exc:
        raise InputError.at(source, f"cannot read file: {exc}") from None


def _lines(path: Path, source: str) -> Iterator[tuple[int, str]]:
    """Numbered lines; undecodable bytes are replaced, since logs often mix encodings."""
    with reading(source), path.open(encoding="utf-8", errors="replace") as handle:
        yield from enumerate(handle, start=1)


def field_at(obj: Mapping[str, object], name: str) -> object:
    """``obj[name]``, else a dotted path into nested objects (``log.level``)."""
    if name in obj:
        return obj[name]
    current: object = obj
    for part in name.split("."):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def _match_json(text: str, options: LogOptions) -> tuple[str, str] | None:
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError):  # not a log record we can read
        return None
    if not isinstance(obj, dict):
        return None
    ts, level = field_at(obj, options.timestamp_field), field_at(obj, options.level_field)
    if isinstance(ts, bool) or not isinstance(ts, str | int | float):
        return None
    if not isinstance(level, str) or not level.strip():
        return None
    return str(ts), level


def read_log_volume(path: str | Path, options: LogOptions, step: int) -> LogVolume:
    """Count log lines per level per ``step`` seconds; see :class:`LogVolume`.

    Text logs use ``options.pattern`` (a regex searched in each line, with named groups
    ``timestamp`` and ``level``) or :data:`DEFAULT_PATTERN`; JSON logs read
    ``options.timestamp_field`` and ``options.level_field`` (dotted paths reach into
    nested objects). ``options.timestamp_format`` (strftime) replaces the default
    timestamp forms. Levels are upper-cased with aliases folded (:data:`LEVEL_ALIASES`).
    With ``options.levels`` only those levels are returned, each one even if it never
    occurs, so "no errors" is a real all-zero series rather than a missing one.

    Series carry labels ``{"level": ..., "log": <file stem>}`` and float counts.
    Lines that do not match are skipped and counted. Raises :class:`InputError` for a
    missing file, a file where no line parses (naming the first non-empty line and the
    pattern), and timestamps that match the pattern but do not parse (naming the line).
    """
    path = Path(path)
    source = str(path)
    if step <= 0:
        raise InputError.at(source, f"step must be a positive number of seconds, got {step}")
    regex = re.compile(options.pattern) if options.pattern else DEFAULT_REGEX
    matched_lines: list[int] = []
    stamps_text: list[str] = []
    levels_seen: list[str] = []
    skipped = 0
    first_nonempty: int | None = None
    for number, text in _lines(path, source):
        if not text.strip():
            continue
        if first_nonempty is None:
            first_nonempty = number
        found: tuple[str, str] | None
        if options.format == "json":
            found = _match_json(text, options)
        else:
            match = regex.search(text)
            found = (match["timestamp"], match["level"]) if match else None
        if found is None or not found[0] or not found[1]:
            skipped += 1
            continue
        matched_lines.append(number)
        stamps_text.append(found[0])
        levels_seen.append(normalise_level(found[1]))

    if first_nonempty is None:
        raise InputError.at(source, "no log lines: the file is empty")
    if not matched_lines:
        how = (
            f"JSON objects with fields {options.timestamp_field!r} and {options.level_field!r}"
            if options.format == "json"
            else f"pattern {regex.pattern!r}"
        )
        raise InputError.at(source, f"no line matches {how}", first_nonempty)

    problems = ProblemList(source)
    try:
        stamps = parse_timestamps(stamps_text, options.timestamp_format, MAX_PROBLEMS)
    except TimestampError as exc:
        for bad in exc.errors:
            problems.add(bad.message, matched_lines[bad.index])
        problems.raise_if_any()
        raise  # unreachable: a TimestampError always holds at least one error

    slots = -(-stamps // step) * step
    start, end = int(slots.min()), int(slots.max())
    size = (end - start) // step + 1
    limits = load_limits()
    if size > limits.series_steps:
        message = f"lines span {size:,} steps of {step}s; a wrong timestamp or a too small step?"
        raise InputError([over_limit(source, message, "series_steps", limits.series_steps)])
    grid = np.arange(start, end + step, step, dtype=np.int64)
    grid.flags.writeable = False  # shared by the level series and cached
    positions = (slots - start) // step
    level_array = np.asarray(levels_seen, dtype=object)
    wanted = (
        sorted({normalise_level(level) for level in options.levels})
        if options.levels is not None
        else sorted(set(levels_seen))
    )
    series: list[Series] = []
    for level in wanted:
        counts = np.bincount(positions[level_array == level], minlength=size).astype(np.float64)
        counts.flags.writeable = False
        series.append(Series({"level": level, "log": path.stem}, grid, counts, step))
    return LogVolume(series=series, parsed_lines=len(matched_lines), skipped_lines=skipped)


class LogFileSource:
    """``source: logfile``: per-level line volume of a log file, or per message template
    with ``log: {by: pattern}`` (:mod:`adapters.logpatterns`).

    ``rule.log`` defaults to ``LogOptions()`` and ``rule.step`` to :data:`DEFAULT_STEP`.
    A per-level file is re-read only when its size or mtime changes. ``patterns`` mines
    ``by: pattern`` rules (whole files, no saved state, when not given).
    """

    def __init__(
        self, cache: FileCache | None = None, *, patterns: LogPatternFiles | None = None
    ) -> None:
        self._cache = cache if cache is not None else FileCache()
        self._patterns = patterns

    @property
    def patterns(self) -> LogPatternFiles:
        if self._patterns is None:
            from adapters.logpatterns.files import LogPatternFiles  # noqa: PLC0415

            self._patterns = LogPatternFiles()
        return self._patterns

    def fetch(self, rule: Rule, start: int, end: int) -> list[Series]:
        if not rule.path:
            raise InputError.at(rule.signal, "source 'logfile' needs 'path'")
        if rule.by_pattern:
            return self.patterns.fetch(rule, start, end)
        path = Path(rule.path)
        options = rule.log if rule.log is not None else LogOptions()
        step = rule.step if rule.step is not None else DEFAULT_STEP
        key = ("logfile", step, options.model_dump_json())
        parsed = self._cache.get(path, key, lambda: read_log_volume(path, options, step).series)
        return window(parsed, start, end)

    def line_stats(self, rule: Rule) -> Mapping[str, int] | None:
        """How a ``by: pattern`` rule's lines were accounted for (parsed, skipped and why);
        ``None`` for per-level rules."""
        return self.patterns.line_stats(rule) if rule.by_pattern else None
