"""Reading a growing log file safely: complete lines only, bounded, and nothing crashes.

A log file is written while it is read, rotated (renamed and replaced), truncated in place
(``copytruncate``) and sometimes holds garbage. :class:`FileTail` remembers where it
stopped (device, inode, byte offset) and reads only what was appended since:

- a last line without its newline is still being written: it is read next time;
- a line longer than :data:`MAX_LINE_BYTES` is cut there (the rest is skipped) and
  counted as ``oversized``, so a 1 MB line costs no more than a normal one;
- bytes that are not UTF-8 are replaced and the line counted as ``undecodable``;
- a new inode at the path (rotation) or a file shorter than the offset (truncation) is
  counted and read from its start; the template ids and counts carry on.

:class:`LineParser` takes a line apart into timestamp text, level and message with the
rule's ``log`` options (the same default pattern as ``by: level``); a line that does not
parse is counted, never fatal.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from adapters.sources.logs import DEFAULT_REGEX, field_at, normalise_level
from detector.rule import LogOptions

MAX_LINE_BYTES = 64 * 1024
CHUNK_LINES = 20_000


@dataclass(frozen=True)
class Position:
    """Where a :class:`FileTail` stopped: which file (device, inode) and how far."""

    device: int
    inode: int
    offset: int


class FileTail:
    """Reads the complete lines appended to ``path`` since ``position``.

    ``stats`` counts ``rotated``, ``truncated``, ``oversized`` and ``undecodable``.
    """

    def __init__(self, path: Path, position: Position | None, stats: Counter[str]) -> None:
        self.path = path
        self.position = position
        self.stats = stats

    def chunks(self, size: int = CHUNK_LINES) -> Iterator[list[str]]:
        """Lists of at most ``size`` new lines (newline stripped), in file order.

        The position advances as each chunk is handed out; raises ``OSError`` when the
        file cannot be opened.
        """
        with self.path.open("rb") as handle:
            stat = os.fstat(handle.fileno())
            offset = 0
            if self.position is not None:
                same = (stat.st_dev, stat.st_ino) == (self.position.device, self.position.inode)
                if not same:
                    self.stats["rotated"] += 1
                elif stat.st_size < self.position.offset:
                    self.stats["truncated"] += 1
                else:
                    offset = self.position.offset
            handle.seek(offset)
            chunk: list[str] = []
            readline = handle.readline
            while True:
                raw = readline(MAX_LINE_BYTES + 1)
                if not raw:
                    break
                if raw[-1:] == b"\n":
                    offset += len(raw)
                else:
                    if len(raw) <= MAX_LINE_BYTES:
                        break  # the writer is still writing this line
                    raw = raw[:MAX_LINE_BYTES]
                    if not self._skip_rest(handle):
                        break  # the end of this long line is not written yet
                    self.stats["oversized"] += 1
                    offset = handle.tell()
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text = raw.decode("utf-8", "replace")
                    self.stats["undecodable"] += 1
                chunk.append(text.rstrip("\r\n"))
                if len(chunk) >= size:
                    self.position = Position(stat.st_dev, stat.st_ino, offset)
                    yield chunk
                    chunk = []
            self.position = Position(stat.st_dev, stat.st_ino, offset)
            if chunk:
                yield chunk

    @staticmethod
    def _skip_rest(handle: BinaryIO) -> bool:
        """Skip to the end of an overlong line; False if its newline is not there yet."""
        while True:
            piece = handle.readline(MAX_LINE_BYTES)
            if not piece:
                return False
            if piece.endswith(b"\n"):
                return True


ParsedLine = tuple[str, str, str]
"""Timestamp text, level (normalised: upper case, aliases folded) and message."""


class LineParser:
    """Timestamp, level and message of one line by the rule's ``log`` options.

    Text logs: ``options.pattern`` (named groups ``timestamp``, ``level`` and optionally
    ``message``) or the default pattern; without a ``message`` group the message is the
    rest of the line after the match. JSON logs: ``timestamp_field``, ``level_field``
    and ``message_field`` (dotted paths reach into nested objects).
    """

    def __init__(self, options: LogOptions) -> None:
        self.options = options
        self._regex = re.compile(options.pattern) if options.pattern else DEFAULT_REGEX
        self._has_message = "message" in self._regex.groupindex
        self._levels: dict[str, str] = {}

    def _level(self, text: str) -> str:
        level = self._levels.get(text)
        if level is None:
            level = normalise_level(text)
            if len(self._levels) < 1000:
                self._levels[text] = level
        return level

    def parse(self, text: str) -> ParsedLine | None:
        if self.options.format == "json":
            return self._json(text)
        match = self._regex.search(text)
        if match is None or not match["timestamp"] or not match["level"]:
            return None
        message = match["message"] if self._has_message else text[match.end() :]
        return match["timestamp"], self._level(match["level"]), (message or "").strip()

    def _json(self, text: str) -> ParsedLine | None:
        try:
            obj = json.loads(text)
        except ValueError:  # truncated or not JSON at all (JSONDecodeError is a ValueError)
            return None
        if not isinstance(obj, dict):
            return None
        options = self.options
        ts, level = field_at(obj, options.timestamp_field), field_at(obj, options.level_field)
        message = field_at(obj, options.message_field)
        if isinstance(ts, bool) or not isinstance(ts, str | int | float):
            return None
        if not isinstance(level, str) or not level.strip():
            return None
        if message is None:
            return None
        words = message if isinstance(message, str) else json.dumps(message, sort_keys=True)
        return str(ts), self._level(level), words.strip()
