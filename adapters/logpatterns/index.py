"""One log file turned into per-template count series, incrementally.

:class:`LogPatternIndex` ties the pieces together for one (file, ``log`` options, step,
retention): :class:`~adapters.logpatterns.lines.FileTail` reads what was appended,
:class:`~adapters.logpatterns.lines.LineParser` takes lines apart,
:class:`~adapters.logpatterns.miner.PatternMiner` names their templates and
:class:`~adapters.logpatterns.counts.PatternCounts` counts them per step. Each
:meth:`LogPatternIndex.update` mines only the new lines; :meth:`to_state` and
:meth:`from_state` carry all of it across a restart (docs/sources.md, "Log patterns").

Every line is accounted for in :attr:`LogPatternIndex.stats`: ``parsed``, ``unparsed``
(no timestamp and level found, not a JSON object, a truncated JSON line, binary garbage),
``bad_timestamp``, ``late``, ``capped``, ``oversized``, ``undecodable``, ``rotated`` and
``truncated``.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from adapters.logpatterns.counts import PatternCounts
from adapters.logpatterns.lines import FileTail, LineParser, ParsedLine, Position
from adapters.logpatterns.masking import scrub
from adapters.logpatterns.miner import MINER_CONFIG, MinerConfig, PatternMiner
from adapters.timeparse import TimestampError, parse_timestamp, parse_timestamps
from detector.rule import LogOptions

FUTURE_SLACK = 86400
"""A line stamped more than this after the file's last modification is a bad timestamp
(a clock or a parser gone wrong must not push every later line out of the retention)."""

STATE_VERSION = 1


class LogPatternIndex:
    """Per-template line counts of one log file (see the module doc)."""

    def __init__(
        self,
        path: Path,
        options: LogOptions,
        *,
        step: int,
        retention: int,
        keep_all: bool,
        miner: PatternMiner | None = None,
        config: MinerConfig = MINER_CONFIG,
    ) -> None:
        self.path = path
        self.options = options
        self.step = step
        self.miner = miner if miner is not None else PatternMiner(config)
        self.counts = PatternCounts(
            step=step, cap=options.max_patterns, retention=retention, keep_all=keep_all
        )
        self.stats: Counter[str] = Counter()
        self.position: Position | None = None
        self.lineage_intact = True
        """No rotation or truncation seen since the first line was read."""
        self._parser = LineParser(options)

    def update(self) -> int:
        """Mine the lines appended since the last call; returns how many were read.

        Raises ``OSError`` when the file cannot be read, ``ValueError`` when its lines
        span more steps than a series may hold.
        """
        mtime = int(self.path.stat().st_mtime)
        tail = FileTail(self.path, self.position, self.stats)
        before = self.stats["rotated"] + self.stats["truncated"]
        read = 0
        for chunk in tail.chunks():
            read += len(chunk)
            self._mine(chunk, mtime + FUTURE_SLACK)
            self.position = tail.position
        self.position = tail.position
        if self.stats["rotated"] + self.stats["truncated"] > before:
            self.lineage_intact = False
        self.stats["late"] = self.counts.late
        self.stats["capped"] = self.counts.capped
        return read

    def _mine(self, chunk: list[str], latest: int) -> None:
        parsed: list[ParsedLine] = []
        raw: list[str] = []
        for text in chunk:
            if not text.strip():
                continue
            found = self._parser.parse(text)
            if found is None:
                self.stats["unparsed"] += 1
                continue
            parsed.append(found)
            raw.append(text)
        if not parsed:
            return
        stamps, good = self._timestamps([p[0] for p in parsed])
        good &= stamps <= latest
        self.stats["bad_timestamp"] += int(good.size - np.count_nonzero(good))
        slots = -(-stamps // self.step) * self.step
        rows = np.zeros(len(parsed), dtype=np.int64)
        counts, miner = self.counts, self.miner
        slot_list = slots.tolist()
        assign, pattern_id, find, touch = miner.assign, miner.pattern_id, counts.find, counts.touch
        for i in np.flatnonzero(good).tolist():
            _, level, message = parsed[i]
            cid = assign(message)
            pid = pattern_id(cid)
            slot = slot_list[i]
            row = find(level, pid)
            if row is None:  # the template's first line at this level is its sample
                template = miner.template(cid) or ""
                row = counts.row_for(level, pid, template, scrub(raw[i].strip()), slot)
            touch(row, slot)
            rows[i] = row
        self.stats["parsed"] += int(np.count_nonzero(good))
        counts.add(slots[good], rows[good])

    def _timestamps(self, texts: list[str]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Unix seconds of each text and which ones parsed (bad ones are 0, False)."""
        fmt = self.options.timestamp_format
        try:
            return parse_timestamps(texts, fmt), np.ones(len(texts), dtype=bool)
        except TimestampError:
            pass
        stamps = np.zeros(len(texts), dtype=np.int64)
        good = np.ones(len(texts), dtype=bool)
        for i, text in enumerate(texts):
            try:
                stamps[i] = parse_timestamp(text, fmt)
            except (ValueError, OverflowError):
                good[i] = False
        return stamps, good

    def series_labels(self) -> dict[str, str]:
        return {"log": self.path.stem}

    def to_state(self) -> dict[str, Any]:
        position = self.position
        return {
            "version": STATE_VERSION,
            "path": os.path.abspath(self.path),
            "options": self.options.model_dump(mode="json"),
            "position": None
            if position is None
            else [position.device, position.inode, position.offset],
            "lineage_intact": self.lineage_intact,
            "miner": self.miner.to_state(),
            "counts": self.counts.to_state(),
            "stats": dict(self.stats),
        }

    @classmethod
    def from_state(
        cls,
        state: dict[str, Any],
        path: Path,
        options: LogOptions,
        *,
        step: int,
        retention: int,
        keep_all: bool,
        config: MinerConfig = MINER_CONFIG,
    ) -> LogPatternIndex:
        """The index a saved state describes. Raises ``ValueError`` (or its subclass
        :class:`~adapters.logpatterns.miner.StateMismatch`) when the state is damaged or
        belongs to other options."""
        if state.get("version") != STATE_VERSION:
            raise ValueError("unknown state version")
        if state.get("options") != options.model_dump(mode="json"):
            raise ValueError("state of other log options")
        miner = PatternMiner.from_state(state["miner"], config)
        index = cls(path, options, step=step, retention=retention, keep_all=keep_all, miner=miner)
        counts = PatternCounts.from_state(state["counts"], keep_all=keep_all)
        if (counts.step, counts.retention, counts.cap) != (step, retention, options.max_patterns):
            raise ValueError("state of another step, retention or cap")
        index.counts = counts
        try:
            raw_position = state["position"]
            if raw_position is not None:
                device, inode, offset = (int(x) for x in raw_position)
                index.position = Position(device, inode, offset)
            index.lineage_intact = bool(state["lineage_intact"])
            index.stats = Counter({str(k): int(v) for k, v in state["stats"].items()})
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"damaged state: {exc!r}") from None
        return index
