"""Line counts per (level, template) per step, with a cap on templates and bounded memory.

Counting follows ``source: logfile`` (``adapters.sources.logs``): slot ``t`` counts the
lines with ``t - step < ts <= t``, and between the first and the last counted line every
slot exists, a template without lines in it counting 0 (silence is zero volume, and
that is what makes a template *new*).

**Cap.** A rule follows at most ``cap`` templates. A line of a template that is not
followed while ``cap`` others are counts in its level's ``other`` series, unless one of
the followed templates has been silent for longer than ``retention`` (the history one
evaluation reads), which then makes room. Decisions are taken line by line in file
order, so every reader of the same lines takes the same ones.

**Memory.** Counts older than ``retention`` before the newest line are dropped when
``keep_all`` is off (the daemon), and so are templates without lines since then; a line
older than that is counted as ``late`` and dropped in both modes, so that every reader
counts the same lines. With ``keep_all`` (replay, digest, probe) the whole file is kept.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from adapters.limits import Limits, load_limits
from detector.series import IntArray, Series

OTHER = "other"
OTHER_TEMPLATE = "(templates over the cap)"
TEMPLATE_LABEL_CHARS = 120
SAMPLE_LABEL_CHARS = 200


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Row:
    """One counted series: a template at a level, or a level's ``other``."""

    level: str
    pattern: str
    template: str
    sample: str
    last_seen: int

    @property
    def is_other(self) -> bool:
        return self.pattern == OTHER


class PatternCounts:
    """See the module doc. ``step`` and ``retention`` are seconds."""

    def __init__(self, *, step: int, cap: int, retention: int, keep_all: bool) -> None:
        self.step = step
        self.cap = cap
        self.retention = retention
        self.keep_all = keep_all
        self.rows: list[Row] = []
        self._index: dict[tuple[str, str], int] = {}
        self._data = np.zeros((8, 0), dtype=np.int32)
        self._origin: int | None = None  # slot of column 0
        self._first: int | None = None  # first and last counted slot
        self._last: int | None = None
        self._newest: int | None = None  # newest slot of a line given a row so far
        self._added: int | None = None  # newest slot given to add() so far
        self._full_until: int | None = None  # below this horizon the cap is surely full
        self.late = 0
        self.capped = 0
        """Lines counted in an ``other`` series because the cap was reached."""

    def followed(self, horizon: int) -> int:
        """Templates followed (not ``other``) with a line after ``horizon``."""
        return sum(1 for r in self.rows if not r.is_other and r.last_seen > horizon)

    def find(self, level: str, pattern: str) -> int | None:
        """The row this template's lines count in now, if it has one."""
        return self._index.get((level, pattern))

    def row_for(self, level: str, pattern: str, template: str, sample: str, slot: int) -> int:
        """The row a line of this template and level in ``slot`` counts in (see *Cap*);
        call :meth:`touch` with the answer. Lines must come in file order."""
        index = self._index.get((level, pattern))
        if index is not None:
            return index
        horizon = max(slot, self._newest if self._newest is not None else slot) - self.retention
        if self._full_until is not None and horizon < self._full_until:
            self.capped += 1  # still full: no followed template can be stale yet
            return self._row(level, OTHER, OTHER_TEMPLATE, "")
        if self.followed(horizon) >= self.cap:
            stale = [
                i for i, r in enumerate(self.rows) if not r.is_other and r.last_seen <= horizon
            ]
            if not stale:
                self.capped += 1
                # followed templates only get newer lines: none is stale before this
                self._full_until = min(
                    r.last_seen for r in self.rows if not r.is_other and r.last_seen > horizon
                )
                return self._row(level, OTHER, OTHER_TEMPLATE, "")
            self._index.pop((self.rows[stale[0]].level, self.rows[stale[0]].pattern))
            self.rows[stale[0]].last_seen = -(2**62)  # retired: kept for its history only
        return self._row(level, pattern, template, sample)

    def _row(self, level: str, pattern: str, template: str, sample: str) -> int:
        key = (level, pattern)
        index = self._index.get(key)
        if index is None:
            retired = next(
                (i for i, r in enumerate(self.rows) if (r.level, r.pattern) == key), None
            )
            if retired is not None:
                index = retired
            else:
                index = len(self.rows)
                self.rows.append(Row(level, pattern, template, sample, -(2**62)))
                if index >= self._data.shape[0]:
                    grown = np.zeros((2 * self._data.shape[0], self._data.shape[1]), np.int32)
                    grown[: self._data.shape[0]] = self._data
                    self._data = grown
            self._index[key] = index
        return index

    def touch(self, row: int, slot: int) -> None:
        """Note a line of ``row`` in ``slot`` (what the cap's silence rule reads)."""
        found = self.rows[row]
        found.last_seen = max(found.last_seen, slot)
        if self._newest is None or slot > self._newest:
            self._newest = slot

    def add(self, slots: IntArray, rows: IntArray) -> None:
        """Count one line per (slot, row) pair; slots too old for the retention are late."""
        if slots.size == 0:
            return
        before = self._added if self._added is not None else int(slots[0])
        newest = np.maximum.accumulate(np.concatenate([[before], slots]))[1:]
        self._added = int(newest[-1])
        keep = slots > newest - self.retention - self.step  # judged line by line, in order
        self.late += int(slots.size - np.count_nonzero(keep))
        slots, rows = slots[keep], rows[keep]
        if slots.size == 0:
            return
        low, high = int(slots.min()), int(slots.max())
        self._extend(low, high)
        assert self._origin is not None
        cols = (slots - self._origin) // self.step
        flat = rows.astype(np.int64) * self._data.shape[1] + cols
        counts = np.bincount(flat, minlength=self._data.size)
        self._data += counts.reshape(self._data.shape).astype(np.int32)
        self._first = low if self._first is None else min(self._first, low)
        self._last = high if self._last is None else max(self._last, high)
        if not self.keep_all:
            self._trim()

    def _extend(self, low: int, high: int) -> None:
        if self._origin is None:
            self._origin = low
        start = min(self._origin, low)
        width = (
            max(high, self._origin + (self._data.shape[1] - 1) * self.step) - start
        ) // self.step + 1
        most = load_limits().series_steps
        if width > most:
            raise ValueError(
                f"lines span {width} steps of {self.step}s (limit {most}; "
                f"{Limits.env_var('series_steps')} raises it); "
                "check for a wrong timestamp or a too small step"
            )
        if start == self._origin and width <= self._data.shape[1]:
            return
        spare = 0 if self.keep_all else max(64, width // 4)
        grown = np.zeros((self._data.shape[0], width + spare), np.int32)
        shift = (self._origin - start) // self.step
        grown[:, shift : shift + self._data.shape[1]] = self._data
        self._data = grown
        self._origin = start

    def _trim(self) -> None:
        """Drop columns and templates older than the retention (``keep_all`` off)."""
        assert self._origin is not None and self._last is not None
        oldest = self._last - self.retention - self.step
        drop = (oldest - self._origin) // self.step
        if drop > max(64, self._data.shape[1] // 4):
            self._data = self._data[:, drop:].copy()
            self._origin += drop * self.step
            assert self._first is not None
            self._first = max(self._first, self._origin)
            keep = [
                i
                for i, r in enumerate(self.rows)
                if self._index.get((r.level, r.pattern)) == i or self._data[i].any()
            ]
            if len(keep) < len(self.rows):
                self.rows = [self.rows[i] for i in keep]
                self._data = self._data[keep]
                self._index = {
                    (r.level, r.pattern): i
                    for i, r in enumerate(self.rows)
                    if r.last_seen > -(2**62)
                }

    def series(
        self,
        start: int,
        end: int,
        *,
        labels: Mapping[str, str],
        templates: Mapping[str, str],
    ) -> list[Series]:
        """Counts in ``(start, end]`` of every row with a line in that range.

        Labels: ``labels``, then ``level``, ``pattern``, ``template`` (``templates`` has
        the current text of templates the miner still knows) and ``sample``.
        """
        if self._origin is None or self._first is None or self._last is None:
            return []
        lo = max(
            self._first, -(-(start + 1 - self._origin) // self.step) * self.step + self._origin
        )
        hi = min(self._last, self._origin + ((end - self._origin) // self.step) * self.step)
        if hi < lo:
            return []
        a, b = (lo - self._origin) // self.step, (hi - self._origin) // self.step + 1
        grid = np.arange(lo, hi + self.step, self.step, dtype=np.int64)
        out: list[Series] = []
        for i, row in enumerate(self.rows):
            values = self._data[i, a:b]
            if not values.any():
                continue
            template = (
                templates.get(row.pattern, row.template) if not row.is_other else row.template
            )
            found = {
                **labels,
                "level": row.level,
                "pattern": row.pattern,
                "template": shorten(template, TEMPLATE_LABEL_CHARS),
            }
            if row.sample:
                found["sample"] = shorten(row.sample, SAMPLE_LABEL_CHARS)
            out.append(Series(found, grid, values.astype(np.float64), self.step))
        return sorted(out, key=lambda s: (s.labels["level"], s.labels["pattern"]))

    def to_state(self) -> dict[str, Any]:
        raw = np.ascontiguousarray(self._data[: len(self.rows)], dtype="<i4").tobytes()
        return {
            "step": self.step,
            "cap": self.cap,
            "retention": self.retention,
            "rows": [[r.level, r.pattern, r.template, r.sample, r.last_seen] for r in self.rows],
            "followed": [list(k) for k in self._index],
            "origin": self._origin,
            "first": self._first,
            "last": self._last,
            "newest": self._newest,
            "added": self._added,
            "columns": int(self._data.shape[1]),
            "data": base64.b64encode(zlib.compress(raw)).decode("ascii"),
            "late": self.late,
            "capped": self.capped,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], *, keep_all: bool) -> PatternCounts:
        try:
            table = cls(
                step=int(state["step"]),
                cap=int(state["cap"]),
                retention=int(state["retention"]),
                keep_all=keep_all,
            )
            table.rows = [
                Row(str(a), str(b), str(c), str(d), int(e)) for a, b, c, d, e in state["rows"]
            ]
            positions = {(r.level, r.pattern): i for i, r in enumerate(table.rows)}
            table._index = {
                (str(a), str(b)): positions[(str(a), str(b))] for a, b in state["followed"]
            }
            columns = int(state["columns"])
            raw = zlib.decompress(base64.b64decode(state["data"]))
            data = np.frombuffer(raw, dtype="<i4").reshape(len(table.rows), columns)
            table._data = np.zeros((max(8, len(table.rows)), columns), np.int32)
            table._data[: len(table.rows)] = data
            table._origin, table._first, table._last, table._newest, table._added = (
                None if state[k] is None else int(state[k])
                for k in ("origin", "first", "last", "newest", "added")
            )
            table.late, table.capped = int(state["late"]), int(state["capped"])
        except (KeyError, TypeError, ValueError, zlib.error) as exc:
            raise ValueError(f"damaged counts state: {exc!r}") from None
        return table
