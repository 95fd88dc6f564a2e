"""``source: logfile`` with ``log: {by: pattern}``: one count series per message template.

Two ways to hold a file, one way to mine it:

- **follow** (the daemon): one :class:`~adapters.logpatterns.index.LogPatternIndex` per
  source stays in memory and mines only what was appended since the last cycle; it
  keeps the rule's required history and no more, and it is saved to and resumed from a
  :class:`~adapters.logpatterns.state.PatternStateStore` beside the ledger.
- **whole file** (replay, digest, ``check --probe``): the file is mined from its first
  byte once per change (size, mtime) and every count is kept. Given the daemon's state
  directory (``replay --ledger``), the miner starts from the daemon's one when the daemon
  saw the file rotated or truncated (so templates it met in lines that are gone keep
  their ids); otherwise mining the same file from its start already gives the daemon's
  ids, and the state is not needed.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog

from adapters.errors import InputError
from adapters.logpatterns.index import LogPatternIndex
from adapters.logpatterns.miner import PatternMiner, StateMismatch
from adapters.logpatterns.state import PatternStateStore, state_key
from adapters.sources.logs import reading
from detector.evaluate import required_history
from detector.rule import DEFAULT_STEP, LogOptions, Rule
from detector.series import Series

log = structlog.get_logger("graysignal.sources")

SKIP_REASONS = ("unparsed", "bad_timestamp", "late", "oversized", "undecodable")


class LogPatternFiles:
    """Per-template series of log files; ``follow`` selects the daemon's way (module doc)."""

    def __init__(self, store: PatternStateStore | None = None, *, follow: bool = False) -> None:
        self.store = store
        self.follow = follow
        self._indexes: dict[str, tuple[Any, LogPatternIndex]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._reported: dict[str, Counter[str]] = {}

    def fetch(self, rule: Rule, start: int, end: int) -> list[Series]:
        """The rule's template series with samples in ``(start, end]``."""
        index = self.index(rule)
        return index.counts.series(
            start, end, labels=index.series_labels(), templates=index.miner.templates()
        )

    def line_stats(self, rule: Rule) -> Mapping[str, int]:
        """How the rule's lines were accounted for so far (see ``LogPatternIndex``)."""
        return dict(self.index(rule, refresh=False).stats)

    def index(self, rule: Rule, *, refresh: bool = True) -> LogPatternIndex:
        """The rule's index, brought up to date with the file unless ``refresh`` is off."""
        if not rule.path:
            raise InputError.at(rule.signal, "source 'logfile' needs 'path'")
        path = Path(rule.path)
        options = rule.log if rule.log is not None else LogOptions(by="pattern")
        step = rule.step if rule.step is not None else DEFAULT_STEP
        retention = required_history(rule, step)
        key = state_key(
            {
                "path": os.path.abspath(path),
                "options": options.model_dump(mode="json"),
                "step": step,
                "retention": retention,
            }
        )
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            held = self._indexes.get(key)
            if not refresh and held is not None:
                return held[1]
            identity = _identity(path)
            if self.follow:
                index = (
                    held[1]
                    if held is not None
                    else self._resume(key, path, options, step, retention)
                )
            elif held is not None and held[0] == identity:
                return held[1]
            else:
                index = self._fresh(key, path, options, step, retention)
            self._update(rule, index)
            self._indexes[key] = (identity, index)
            if self.follow and self.store is not None and self.store.due(key):
                self.store.save(key, index.to_state())
            return index

    def _resume(
        self, key: str, path: Path, options: LogOptions, step: int, retention: int
    ) -> LogPatternIndex:
        state = self.store.load(key) if self.store is not None else None
        if state is not None:
            try:
                return LogPatternIndex.from_state(
                    state, path, options, step=step, retention=retention, keep_all=False
                )
            except ValueError as exc:
                log.warning(
                    "log pattern state not reusable; mining afresh", path=str(path), error=str(exc)
                )
        return LogPatternIndex(path, options, step=step, retention=retention, keep_all=False)

    def _fresh(
        self, key: str, path: Path, options: LogOptions, step: int, retention: int
    ) -> LogPatternIndex:
        miner = None
        state = self.store.load(key) if self.store is not None else None
        if state is not None and not _same_lineage(state, path):
            try:
                miner = PatternMiner.from_state(state["miner"])
            except (StateMismatch, ValueError, KeyError, TypeError) as exc:
                log.warning("log pattern state not reusable", path=str(path), error=str(exc))
        return LogPatternIndex(
            path, options, step=step, retention=retention, keep_all=True, miner=miner
        )

    def _update(self, rule: Rule, index: LogPatternIndex) -> None:
        source = str(index.path)
        capped_before = index.stats["capped"]
        try:
            with reading(source):
                index.update()
        except ValueError as exc:  # lines spanning more steps than a series may hold
            raise InputError.at(source, str(exc)) from None
        stats = index.stats
        if stats["parsed"] == 0:
            if stats["unparsed"] == 0:
                raise InputError.at(source, "no log lines: the file is empty")
            options = index.options
            how = (
                f"JSON objects with fields {options.timestamp_field!r}, {options.level_field!r} "
                f"and {options.message_field!r}"
                if options.format == "json"
                else f"pattern {options.pattern or 'DEFAULT_PATTERN'!r}"
            )
            raise InputError.at(source, f"no line matches {how}")
        if stats["capped"] > 0 and capped_before == 0:
            log.warning(
                "log pattern cap reached: further templates count as 'other'",
                rule=rule.signal,
                path=source,
                max_patterns=index.options.max_patterns,
            )
        reported = self._reported.setdefault(source, Counter())
        new = {r: stats[r] - reported[r] for r in SKIP_REASONS if stats[r] > reported[r]}
        if new:
            log.warning("log lines skipped", rule=rule.signal, path=source, **new)
            reported.update(new)


def _identity(path: Path) -> tuple[int, int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _same_lineage(state: Mapping[str, Any], path: Path) -> bool:
    """Whether mining ``path`` from its start repeats what the daemon mined: it never saw
    a rotation or truncation, and the file is still the one it read, not shorter."""
    position = state.get("position")
    if not state.get("lineage_intact") or not isinstance(position, list) or len(position) != 3:
        return False
    try:
        stat = path.stat()
    except OSError:
        return False
    device, inode, offset = position
    return (stat.st_dev, stat.st_ino) == (device, inode) and stat.st_size >= offset
