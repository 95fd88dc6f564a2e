"""The one detection engine: compact state per (rule, series), updated with new samples.

:class:`RuleMonitor` holds, for every series of one rule, the summaries of the complete
blocks of its window, the samples of the block in progress, and the per-candidate-onset
summary of the window (:class:`~detector.evidence.Reference`, rebuilt once per block).
:meth:`RuleMonitor.ingest` takes new samples for many series at once (a matrix on a
common time grid) and returns, for each sample, the evidence of each *channel*:

* ``level``: robust block means of the values (``level_shift``, ``trend``, ``exhaustion``);
* ``volume``: the same on square-root-transformed counts (Anscombe: Poisson noise becomes
  roughly constant), for ``volume``;
* ``spread``: the log of the typical sample-to-sample movement, for ``variance``.

The daemon feeds a few new samples per cycle; replay and ``evaluate`` run the same window
functions over a whole recording at once (:mod:`detector.batch`). The state at ``t``
depends only on the samples of a bounded span before ``t`` (:meth:`history_seconds`),
so a monitor rebuilt from that span equals one that has run for months. No clock, no
I/O: state goes in and comes out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detector.blocks import TRIM_FRACTION, BlockGrid, block_spread, robust_block_mean
from detector.evidence import (
    MIN_BASELINE_BLOCKS,
    MIN_PERSISTENCE,
    Evidence,
    Reference,
    build_reference,
    empty_evidence,
    score_samples,
)
from detector.finding import Kind
from detector.noise import SCALES
from detector.patterns import THRESHOLDS, NewPatternEvidence, assess_blocks
from detector.projection import project
from detector.robust import nanmean
from detector.rule import CounterMode, Rule, Seasonality, Watch
from detector.seasonal import CODES, MIN_LAGS, NONE, PERIOD_SECONDS, SeasonalRings, ring_take
from detector.sensitivity import threshold
from detector.series import FloatArray, IntArray

COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")
MIN_EFFECT = 0.5
"""Default floor: a change smaller than this many sample sigmas is never reported,
however long it lasts (a statistically certain 0.1-sigma wobble is not worth a page)."""
MIN_SPREAD_RATIO = 0.5
"""``variance`` never reports a spread change under 50% (jitter wanders)."""
SEASONAL_MAX_BLOCK = 7200
"""With daily seasonality allowed, blocks are at most 2 h so a day has 12 of them."""
ROW_BATCH = 2048
"""Series scored together at once: bounds the temporary arrays of a large group."""
SCORE_CELLS = 1 << 20
"""Scoring makes (series x samples x candidate onsets) temporaries; a batch holds at most
this many cells (8 MB per array), so a warm-up that scores an hour of samples for
thousands of series stays within a few hundred MB instead of gigabytes."""
JITTER_TO_SIGMA = math.sqrt(math.pi) / 2
"""Mean absolute difference of successive white-noise samples times this is sigma."""
NEVER = np.iinfo(np.int64).min // 2
TINY = 1e-12
EXHAUSTION_FIELDS = ("slope", "level", "before", "onset", "eta", "slow_eta", "score", "at_limit")


def is_counter(rule: Rule, labels: Mapping[str, str]) -> bool:
    """Counters by declaration, or by Prometheus naming convention when ``counter: auto``."""
    if rule.counter is CounterMode.AUTO:
        return labels.get("__name__", "").endswith(COUNTER_SUFFIXES)
    return rule.counter is CounterMode.TRUE


def anscombe(values: FloatArray) -> FloatArray:
    """``2 sqrt(x + 3/8)``: Poisson counts become roughly unit-variance normal."""
    return np.asarray(2.0 * np.sqrt(np.maximum(values, 0.0) + 0.375), dtype=np.float64)


def inverse_anscombe(values: FloatArray) -> FloatArray:
    return np.asarray(np.maximum((values / 2.0) ** 2 - 0.375, 0.0), dtype=np.float64)


def identity(values: FloatArray) -> FloatArray:
    return values


def exponential(values: FloatArray) -> FloatArray:
    return np.asarray(np.exp(values), dtype=np.float64)


@dataclass(frozen=True)
class ChannelSpec:
    """How one channel turns a block's raw material into one number."""

    name: str
    transform: Callable[[FloatArray], FloatArray]
    inverse: Callable[[FloatArray], FloatArray]
    uses_jitter: bool
    min_partial: Callable[[int], int]
    trim: float = TRIM_FRACTION


LEVEL = ChannelSpec("level", identity, identity, False, lambda b: min(3, b))
VOLUME = ChannelSpec("volume", anscombe, inverse_anscombe, False, lambda b: min(3, b))
"""The block in progress counts once it holds three samples (its median outvotes a spike)."""
SPREAD = ChannelSpec("spread", identity, exponential, True, lambda b: max(3, b // 2), 0.25)
"""A spike moves two successive differences, so the spread channel trims a quarter. A
block where most samples repeat the previous one (a trickle of counts, a gauge that
rarely moves) has no spread to speak of: it is left out rather than read as zero."""
SPREAD_SAMPLE_VARIANCE = 0.5
"""Sampling variance of the log of one movement (half-normal: CV^2 = pi/2 - 1 ~ 0.57)."""
CHANNEL_OF = {
    Kind.LEVEL_SHIFT: LEVEL,
    Kind.TREND: LEVEL,
    Kind.EXHAUSTION: LEVEL,
    Kind.VOLUME: VOLUME,
    Kind.VARIANCE: SPREAD,
}


def channel_mean(spec: ChannelSpec, material: FloatArray) -> tuple[FloatArray, IntArray]:
    """The channel's statistic of each row (last axis) of raw material: samples, or
    sample-to-sample movements for the spread channel."""
    mean, count = robust_block_mean(spec.transform(material), spec.trim)
    if spec.name == "spread":
        moving = np.sum(material > 0, axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = np.log(np.maximum(mean, TINY))
        return np.asarray(np.where(2 * moving > count, spread, np.nan)), count
    return mean, count


def allowed_periods(rule: Rule, grid: BlockGrid) -> dict[str, int]:
    """Seasonalities the rule may remove, with their length in blocks."""
    names: list[str]
    if rule.seasonality is Seasonality.AUTO:
        names = ["daily", "weekly"]
    elif rule.seasonality is Seasonality.NONE:
        names = []
    else:
        names = [rule.seasonality.value]
    periods = {}
    for name in names:
        blocks = grid.blocks_per(PERIOD_SECONDS[name])
        if blocks is not None:
            periods[name] = blocks
    return periods


def grid_for(rule: Rule, step: int) -> BlockGrid:
    grid = BlockGrid.for_rule(rule.window, step)
    if rule.seasonality is not Seasonality.NONE and grid.block > SEASONAL_MAX_BLOCK:
        capped = max(step, SEASONAL_MAX_BLOCK - SEASONAL_MAX_BLOCK % step)
        grid = BlockGrid(step=step, block=capped, window_blocks=max(1, rule.window // capped))
    return grid


def shortest_history(rule: Rule, step: int) -> int:
    """Seconds of data before the first finding is possible: a young baseline and one
    block of persistence (seasonal series also need their profile, docs/detectors.md)."""
    grid = grid_for(rule, step)
    return int((MIN_BASELINE_BLOCKS + math.ceil(MIN_PERSISTENCE)) * grid.block)


def seasonal_history(rule: Rule, step: int) -> int:
    """Seconds of data before a fixed ``daily`` or ``weekly`` seasonality has a profile
    (:data:`~detector.seasonal.MIN_LAGS` earlier periods and half of one) and the rule
    can judge its series; ``auto`` judges without a profile meanwhile."""
    longest = max(allowed_periods(rule, grid_for(rule, step)).values(), default=0)
    return int((MIN_LAGS * longest + longest // 2) * grid_for(rule, step).block)


@dataclass
class ChannelState:
    """Rings, seasonal bookkeeping and the window reference of one channel."""

    spec: ChannelSpec
    values: FloatArray
    spreads: FloatArray
    seasonal: SeasonalRings
    reference: Reference
    scale: FloatArray  # (n,) mean sample spread in channel units (floors); a mean, so
    # that sparse counts (mostly zeros) keep a spread
    profile_next: FloatArray  # (n,) seasonal profile of the block in progress

    def grow(self, extra: int) -> None:
        self.values = _more_rows(self.values, extra)
        self.spreads = _more_rows(self.spreads, extra)
        self.seasonal.grow(extra)
        self.reference.grow(extra)
        self.scale = _more_rows(self.scale, extra)
        self.profile_next = _more_rows(self.profile_next, extra)


def _more_rows(array: NDArray[Any], extra: int, fill: float = np.nan) -> NDArray[Any]:
    pad = np.full((extra, *array.shape[1:]), fill, dtype=array.dtype)
    return np.concatenate([array, pad])


@dataclass
class Trace:
    """Per-sample evidence, ``(m, T)`` arrays for rows ``rows`` at ``timestamps``.

    ``valid`` marks the samples that exist; elsewhere the other arrays mean nothing.
    ``seasonality`` holds, per channel, the code (:data:`detector.seasonal.CODES`) of the
    seasonality removed at that sample; ``exhaustion`` the projection in force then.
    """

    rows: IntArray
    timestamps: IntArray
    valid: np.ndarray
    evidence: dict[str, Evidence]
    seasonality: dict[str, IntArray]
    exhaustion: dict[str, FloatArray] = field(default_factory=dict)
    pattern: dict[str, NDArray[Any]] = field(default_factory=dict)


def blank_trace(monitor: RuleMonitor, rows: IntArray, timestamps: IntArray) -> Trace:
    shape = (rows.size, timestamps.size)
    return Trace(
        rows=rows,
        timestamps=timestamps,
        valid=np.zeros(shape, dtype=bool),
        evidence={name: empty_evidence(shape) for name in monitor.channels},
        seasonality={
            name: np.full(shape, monitor.default_choice, dtype=np.int64)
            for name in monitor.channels
        },
        exhaustion={key: np.full(shape, np.nan) for key in EXHAUSTION_FIELDS},
        pattern={
            f.name: np.zeros(
                shape, dtype=np.asarray(0).dtype if f.name == "first_seen" else np.float64
            )
            for f in fields(NewPatternEvidence)
        },
    )


def store_pattern(
    trace: Trace, rows: IntArray, columns: IntArray, found: NewPatternEvidence, keep: np.ndarray
) -> None:
    """Copy new-pattern evidence ``(m, c)`` into ``trace`` at ``(rows[i], columns[i, k])``."""
    row_index = np.broadcast_to(rows[:, None], columns.shape)[keep]
    for f in fields(NewPatternEvidence):
        trace.pattern[f.name][row_index, columns[keep]] = getattr(found, f.name)[keep]


def _copy_trace(
    source: Trace, target: Trace, from_rows: IntArray, to_rows: IntArray, columns: IntArray
) -> None:
    """``target[to_rows[i], 0] = source[from_rows[i], columns[i]]`` for every array."""
    target.valid[to_rows, 0] = source.valid[from_rows, columns]
    for name, evidence in source.evidence.items():
        for f in fields(Evidence):
            getattr(target.evidence[name], f.name)[to_rows, 0] = getattr(evidence, f.name)[
                from_rows, columns
            ]
    for group in ("seasonality", "exhaustion", "pattern"):
        source_arrays, target_arrays = getattr(source, group), getattr(target, group)
        for key, array in source_arrays.items():
            target_arrays[key][to_rows, 0] = array[from_rows, columns]


def partial_counts(prefixes: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Lines and samples present in each prefix of the block in progress ``(m, c, b)``."""
    present = ~np.isnan(prefixes)
    return np.sum(np.where(present, prefixes, 0.0), axis=-1), np.sum(present, axis=-1)


def block_sums(samples: FloatArray) -> FloatArray:
    """Raw sum of each block's samples (last axis); NaN for a block without samples."""
    present = ~np.isnan(samples)
    total = np.sum(np.where(present, samples, 0.0), axis=-1)
    return np.asarray(np.where(np.any(present, axis=-1), total, np.nan), dtype=np.float64)


def store_evidence(
    target: Evidence, rows: IntArray, columns: IntArray, source: Evidence, keep: np.ndarray
) -> None:
    """Copy ``source`` (``(m, c)``) into ``target`` at ``(rows[i], columns[i, k])`` where
    ``keep[i, k]``."""
    row_index = np.broadcast_to(rows[:, None], columns.shape)[keep]
    column_index = columns[keep]
    for f in fields(Evidence):
        getattr(target, f.name)[row_index, column_index] = getattr(source, f.name)[keep]


class RuleMonitor:
    """All the state one rule carries for its series (rows), and the way to update it."""

    def __init__(self, rule: Rule, step: int) -> None:
        self.rule = rule
        self.step = step
        self.grid = grid_for(rule, step)
        self.periods = allowed_periods(rule, self.grid)
        self.auto_seasonality = rule.seasonality is Seasonality.AUTO
        self.keys: list[str] = []
        self.labels: list[Mapping[str, str]] = []
        self.index: dict[str, int] = {}
        self.counter: list[bool] = []
        self.direction = {Watch.UP: 1, Watch.DOWN: -1, Watch.BOTH: 0}[rule.direction]
        wanted = {CHANNEL_OF[k].name: CHANNEL_OF[k] for k in rule.detect if k in CHANNEL_OF}
        specs = [wanted[name] for name in ("level", "volume", "spread") if name in wanted]
        window = self.grid.window_blocks
        probe = SeasonalRings(self.periods, self.auto_seasonality, window, 0)
        self.default_choice = probe.default_choice
        self._value_width = max(window, probe.longest_period) + 2
        self._history_blocks = max(probe.history_blocks(), window + 2)
        self.channels: dict[str, ChannelState] = {
            spec.name: ChannelState(
                spec=spec,
                values=np.empty((0, self._value_width)),
                spreads=np.empty((0, window + 1)),
                seasonal=SeasonalRings(self.periods, self.auto_seasonality, window, 0),
                reference=Reference.empty(0, window, len(SCALES)),
                scale=np.empty(0),
                profile_next=np.empty(0),
            )
            for spec in specs
        }
        self.counts = np.empty((0, window + 1))
        self.watch_patterns = Kind.NEW_PATTERN in rule.detect
        self.sums = np.empty((0, window + 1 if self.watch_patterns else 0))
        self.partial_block = np.empty(0, dtype=np.int64)
        self.unsummarised = np.empty(0, dtype=bool)
        self.partial = np.empty((0, self.grid.per_block))
        self.partial_jitter = np.empty((0, self.grid.per_block))
        self.last_time = np.empty(0, dtype=np.int64)  # last usable sample
        self.last_value = np.empty(0)
        self.last_seen = np.empty(0, dtype=np.int64)  # last raw sample (counters)
        self.last_raw = np.empty(0)
        self.exhaustion: dict[str, FloatArray] = {}
        self.latest = blank_trace(self, np.empty(0, np.int64), np.zeros(1, dtype=np.int64))

    # ------------------------------------------------------------------ bookkeeping

    def history_seconds(self) -> int:
        """How far back the state at ``t`` reaches: a fresh monitor fed the samples in
        ``(t - history_seconds(), t]`` holds exactly the state of one that ran for ever."""
        return (self._history_blocks + 2) * self.grid.block + self.step

    def rows_for(self, keys: Sequence[str], labels: Sequence[Mapping[str, str]]) -> IntArray:
        """Row of each series, adding rows for series seen for the first time."""
        new = [(k, lab) for k, lab in zip(keys, labels, strict=True) if k not in self.index]
        if new:
            self._grow(new)
        return np.asarray([self.index[k] for k in keys], dtype=np.int64)

    def _grow(self, new: Sequence[tuple[str, Mapping[str, str]]]) -> None:
        extra = len(new)
        for key, labels in new:
            self.index[key] = len(self.keys)
            self.keys.append(key)
            self.labels.append(dict(labels))
            self.counter.append(is_counter(self.rule, labels))
        self.counts = _more_rows(self.counts, extra)
        self.sums = _more_rows(self.sums, extra)
        self.partial_block = _more_rows(self.partial_block, extra, -1)
        self.unsummarised = _more_rows(self.unsummarised, extra, False)
        self.partial = _more_rows(self.partial, extra)
        self.partial_jitter = _more_rows(self.partial_jitter, extra)
        self.last_time = _more_rows(self.last_time, extra, NEVER)
        self.last_value = _more_rows(self.last_value, extra)
        self.last_seen = _more_rows(self.last_seen, extra, NEVER)
        self.last_raw = _more_rows(self.last_raw, extra)
        for channel in self.channels.values():
            channel.grow(extra)
        for name, array in self.exhaustion.items():
            self.exhaustion[name] = _more_rows(array, extra)

    def state_bytes(self) -> int:
        """Memory held for the series (arrays only), for capacity planning."""
        total = 0
        for value in vars(self).values():
            if isinstance(value, np.ndarray):
                total += value.nbytes
        for channel in self.channels.values():
            total += channel.values.nbytes + channel.spreads.nbytes + channel.scale.nbytes
            total += sum(getattr(channel.reference, f.name).nbytes for f in fields(Reference))
            seasonal = channel.seasonal
            for ring in (
                *seasonal.dev.values(),
                *seasonal.profile.values(),
                *seasonal.lag.values(),
            ):
                total += ring.nbytes
            total += seasonal.wobble.nbytes
        return total

    # ------------------------------------------------------------------ floors

    def floor_values(self, channel: ChannelState, scale: FloatArray) -> FloatArray:
        """The smallest change a channel reports, in its units, for rows of ``scale``."""
        if channel.spec.name == "spread":
            ratio = max(self.rule.min_change_relative or 0.0, MIN_SPREAD_RATIO)
            return np.full(scale.shape, math.log1p(ratio))
        if self.rule.min_change is not None:
            return np.zeros(scale.shape)  # the rule's own floor replaces the default one
        return np.asarray(MIN_EFFECT * np.nan_to_num(scale, nan=0.0), dtype=np.float64)

    def sample_variance(self, channel: ChannelState, scale: FloatArray) -> FloatArray:
        """Variance of one sample in channel units: a mean of ``m`` samples is never
        taken to be more precise than ``sample_variance / m`` (white noise), however
        smooth the block means were; discrete and mostly-constant series keep an honest
        noise floor (for counts, the Poisson one)."""
        if channel.spec.name == "spread":
            return np.full(scale.shape, SPREAD_SAMPLE_VARIANCE)
        return np.asarray(np.nan_to_num(scale, nan=0.0) ** 2, dtype=np.float64)

    def relative_floor(self, channel: ChannelState) -> tuple[float, float]:
        """The rule's ``min_change`` in the series' units: (fraction of level, amount)."""
        if channel.spec.name == "spread":
            return (0.0, 0.0)
        return (self.rule.min_change_relative or 0.0, self.rule.min_change_absolute or 0.0)

    def assess_patterns(
        self,
        sums: FloatArray,
        observed: FloatArray,
        first_block: IntArray,
        *,
        partial: tuple[FloatArray, FloatArray],
        now: NDArray[Any],
    ) -> NewPatternEvidence:
        """New-pattern evidence from a window of block counts and the block in progress
        (``partial``: its lines and samples present at each sample of the chunk)."""
        lines, present = partial
        return assess_blocks(
            sums,
            np.nan_to_num(observed),
            first_block,
            lines,
            present,
            now=np.asarray(now, dtype=np.int64),
            block=self.grid.block,
            step=self.step,
            window=self.rule.window,
            thresholds=THRESHOLDS[self.rule.sensitivity],
        )

    def project(self, adjusted: FloatArray, blocks: IntArray) -> dict[str, FloatArray]:
        """The exhaustion projection of windows ``(m, K)`` of de-seasonalised levels."""
        return project(adjusted, blocks, self.grid, self.rule)

    # ------------------------------------------------------------------ ingest

    def ingest(
        self,
        rows: IntArray,
        timestamps: IntArray,
        values: FloatArray,
        *,
        score_from: int | None = None,
    ) -> Trace:
        """Feed samples ``values[i, k]`` of row ``rows[i]`` at ``timestamps[k]``.

        ``timestamps`` are increasing multiples of the step; NaN means no sample. A sample
        at or before a row's last ingested one is ignored (history is not rewritten), but
        still serves as the previous sample of a counter or of the spread channel.

        Blocks that end before ``score_from`` only build the state up (a warm-up from
        history): their samples get no evidence and the window summaries are rebuilt once,
        when scoring starts, instead of after every block. The state is the same.
        """
        timestamps = np.asarray(timestamps, dtype=np.int64)
        trace = blank_trace(self, rows, timestamps)
        raw = np.array(values, dtype=np.float64, copy=True).reshape(rows.size, timestamps.size)
        raw[~np.isfinite(raw)] = np.nan
        fresh = timestamps[None, :] > self.last_seen[rows][:, None]
        samples = self._rates(rows, timestamps, raw)
        jitter = self._jitter(rows, timestamps, samples, fresh)
        samples[~fresh] = np.nan
        jitter[~fresh] = np.nan
        self._remember_raw(rows, timestamps, raw, fresh)
        valid = ~np.isnan(samples)
        trace.valid[:] = valid
        blocks = self.grid.block_of(timestamps)
        positions = self.grid.position_of(timestamps)
        boundaries = np.flatnonzero(np.diff(blocks)) + 1
        for columns in np.split(np.arange(timestamps.size), boundaries):
            if columns.size == 0:
                continue
            chunk = samples[:, columns]
            present = np.flatnonzero(np.any(~np.isnan(chunk), axis=1))
            block = int(blocks[columns[0]])
            scoring = score_from is None or (block + 1) * self.grid.block > score_from
            cells = columns.size * (self.grid.window_blocks + 1)
            batch = max(1, min(ROW_BATCH, SCORE_CELLS // cells)) if scoring else ROW_BATCH
            for start in range(0, present.size, batch):
                local = present[start : start + batch]
                self._ingest_block(
                    rows[local],
                    local,
                    block=block,
                    columns=columns,
                    positions=positions[columns],
                    chunk=chunk[local],
                    jitter=jitter[local][:, columns],
                    trace=trace,
                    scoring=scoring,
                )
        has = np.any(valid, axis=1)
        last_index = timestamps.size - 1 - np.argmax(valid[:, ::-1], axis=1)
        picked = samples[np.arange(rows.size), last_index]
        self.last_value[rows] = np.where(has, picked, self.last_value[rows])
        self.last_time[rows] = np.where(has, timestamps[last_index], self.last_time[rows])
        self._remember_latest(trace, rows[has], np.flatnonzero(has), last_index[has])
        return trace

    def _remember_latest(
        self, trace: Trace, rows: IntArray, local: IntArray, columns: IntArray
    ) -> None:
        """Keep each row's evidence at its latest sample: what the daemon judges it by at
        a cycle that brought it no new sample (``latest`` has one column)."""
        if self.latest.valid.shape[0] < len(self.keys):
            grown = blank_trace(self, np.arange(len(self.keys)), np.zeros(1, dtype=np.int64))
            old = self.latest.valid.shape[0]
            _copy_trace(self.latest, grown, np.arange(old), np.arange(old), np.zeros(old, int))
            self.latest = grown
        _copy_trace(trace, self.latest, local, rows, columns)

    def _remember_raw(
        self, rows: IntArray, timestamps: IntArray, raw: FloatArray, fresh: np.ndarray
    ) -> None:
        usable = fresh & ~np.isnan(raw)
        has = np.any(usable, axis=1)
        last_index = timestamps.size - 1 - np.argmax(usable[:, ::-1], axis=1)
        picked = raw[np.arange(rows.size), last_index]
        self.last_raw[rows] = np.where(has, picked, self.last_raw[rows])
        self.last_seen[rows] = np.where(has, timestamps[last_index], self.last_seen[rows])

    def _rates(self, rows: IntArray, timestamps: IntArray, raw: FloatArray) -> FloatArray:
        """Counters become per-second rates (any decrease is a reset, as ``rate()``); the
        first sample and any sample after a gap have no rate."""
        counter = np.asarray([self.counter[r] for r in rows], dtype=bool)
        if not np.any(counter):
            return raw.copy()
        previous = np.full(raw.shape, np.nan)
        previous[:, 1:] = raw[:, :-1]
        carried = self.last_seen[rows] == timestamps[0] - self.step
        previous[:, 0] = np.where(carried, self.last_raw[rows], np.nan)
        increase = np.where(raw >= previous, raw - previous, raw)
        rates = np.where(np.isnan(previous), np.nan, increase / self.step)
        return np.asarray(np.where(counter[:, None], rates, raw), dtype=np.float64)

    def _jitter(
        self, rows: IntArray, timestamps: IntArray, samples: FloatArray, fresh: np.ndarray
    ) -> FloatArray:
        """``|x_t - x_(t - step)|`` (a sigma for white noise): the spread channel's raw
        material. The previous sample may be one ingested before (its value is kept)."""
        if "spread" not in self.channels:
            return np.full(samples.shape, np.nan)
        known = self.last_value[rows][:, None]
        previous = np.full(samples.shape, np.nan)
        earlier_known = timestamps[None, :-1] == self.last_time[rows][:, None]
        previous[:, 1:] = np.where(
            fresh[:, :-1], samples[:, :-1], np.where(earlier_known, known, np.nan)
        )
        carried = self.last_time[rows] == timestamps[0] - self.step
        previous[:, 0] = np.where(carried, self.last_value[rows], np.nan)
        return np.asarray(np.abs(samples - previous) * JITTER_TO_SIGMA, dtype=np.float64)

    def _ingest_block(
        self,
        rows: IntArray,
        local: IntArray,
        *,
        block: int,
        columns: IntArray,
        positions: IntArray,
        chunk: FloatArray,
        jitter: FloatArray,
        trace: Trace,
        scoring: bool,
    ) -> None:
        closing = rows[(self.partial_block[rows] >= 0) & (self.partial_block[rows] < block)]
        if closing.size:
            self._close(closing, block, summarise=scoring)
        starting = rows[self.partial_block[rows] < block]
        self.partial_block[starting] = block
        self.partial[starting] = np.nan
        self.partial_jitter[starting] = np.nan
        prefix = _prefixes(self.partial[rows], chunk, positions)
        prefix_jitter = _prefixes(self.partial_jitter[rows], jitter, positions)
        write = ~np.isnan(chunk)
        for k, position in enumerate(positions):
            self.partial[rows, position] = np.where(
                write[:, k], chunk[:, k], self.partial[rows, position]
            )
            self.partial_jitter[rows, position] = np.where(
                write[:, k], jitter[:, k], self.partial_jitter[rows, position]
            )
        if not scoring:
            return
        behind = rows[self.unsummarised[rows] & (self.partial_block[rows] == block)]
        if behind.size:
            self._summarise(behind, block - 1)
        targets = np.broadcast_to(columns[None, :], chunk.shape)
        keep = np.ones(chunk.shape, dtype=bool)
        b = self.grid.per_block
        for name, channel in self.channels.items():
            spec = channel.spec
            mean, count = channel_mean(spec, prefix_jitter if spec.uses_jitter else prefix)
            count = np.where(count >= spec.min_partial(b), count, 0)
            partial = mean - channel.profile_next[rows][:, None]
            count = np.where(np.isnan(partial), 0, count)
            evidence = score_samples(
                channel.reference,
                rows,
                partial,
                count.astype(np.float64),
                b,
                direction=self.direction,
                floor=self.floor_values(channel, channel.scale[rows]),
                threshold=threshold(self.rule),
                relative=self.relative_floor(channel),
                inverse=spec.inverse,
            )
            store_evidence(trace.evidence[name], local, targets, evidence, keep)
            trace.seasonality[name][local[:, None], columns[None, :]] = channel.seasonal.choice[
                rows
            ][:, None]
        for key, array in self.exhaustion.items():
            trace.exhaustion[key][local[:, None], columns[None, :]] = array[rows][:, None]
        if self.watch_patterns:
            window = self.grid.window_blocks
            blocks = (
                np.full(rows.size, block - 1, dtype=np.int64)[:, None] - np.arange(window)[::-1]
            )
            lines, observed = partial_counts(prefix)
            found = self.assess_patterns(
                ring_take(self.sums, rows, blocks),
                ring_take(self.counts, rows, blocks),
                blocks[:, 0],
                partial=(lines, observed),
                now=np.broadcast_to(trace.timestamps[columns][None, :], chunk.shape),
            )
            store_pattern(trace, local, targets, found, keep)

    # ------------------------------------------------------------------ blocks

    def _close(self, rows: IntArray, upto: int, *, summarise: bool = True) -> None:
        """Complete every row's block in progress, and any empty blocks after it, up to
        (not including) ``upto``; then summarise each row's window anew (or mark it to be,
        during a warm-up)."""
        widest = max(self._value_width, self._history_blocks)
        lagging = rows[upto - self.partial_block[rows] > widest + 1]
        if lagging.size:  # a gap longer than any ring: start clean, as a new series would
            self._forget(lagging)
            self.partial_block[lagging] = upto - widest - 1
        while True:
            pending = rows[self.partial_block[rows] < upto]
            if pending.size == 0:
                break
            self._complete(pending, self.partial_block[pending])
            self.partial[pending] = np.nan
            self.partial_jitter[pending] = np.nan
            self.partial_block[pending] += 1
        if summarise:
            self._summarise(rows, upto - 1)
        else:
            self.unsummarised[rows] = True

    def _forget(self, rows: IntArray) -> None:
        self.counts[rows] = np.nan
        self.sums[rows] = np.nan
        self.partial[rows] = np.nan
        self.partial_jitter[rows] = np.nan
        for channel in self.channels.values():
            channel.values[rows] = np.nan
            channel.spreads[rows] = np.nan
            channel.seasonal.forget(rows)

    def _complete(self, rows: IntArray, block: IntArray) -> None:
        samples = self.partial[rows]
        jitter = self.partial_jitter[rows]
        count = np.sum(~np.isnan(samples), axis=1).astype(np.float64)
        self.counts[rows, block % self.counts.shape[1]] = count
        if self.watch_patterns:
            self.sums[rows, block % self.sums.shape[1]] = block_sums(samples)
        for channel in self.channels.values():
            spec = channel.spec
            mean, _ = channel_mean(spec, (jitter if spec.uses_jitter else samples)[:, None, :])
            channel.values[rows, block % channel.values.shape[1]] = mean[:, 0]
            if not spec.uses_jitter:
                spread = block_spread(spec.transform(samples)[:, None, :])[:, 0]
                channel.spreads[rows, block % channel.spreads.shape[1]] = spread
            channel.seasonal.record(channel.values, rows, block)

    def _summarise(self, rows: IntArray, last: int) -> None:
        """Rebuild each row's window reference after block ``last`` completed."""
        self.unsummarised[rows] = False
        window = self.grid.window_blocks
        blocks = np.full(rows.size, last, dtype=np.int64)[:, None] - np.arange(window)[::-1]
        weights = ring_take(self.counts, rows, blocks)
        for channel in self.channels.values():
            values = ring_take(channel.values, rows, blocks)
            adjusted = values - channel.seasonal.adjustment(rows, blocks)
            channel.scale[rows] = nanmean(ring_take(channel.spreads, rows, blocks))
            reference = build_reference(
                adjusted,
                np.nan_to_num(weights),
                blocks[:, 0],
                self.grid.per_block,
                self.sample_variance(channel, channel.scale[rows]),
            )
            channel.reference.store(rows, reference)
            channel.profile_next[rows] = channel.seasonal.adjustment(
                rows, np.full((rows.size, 1), last + 1)
            )[:, 0]
            if channel.spec.name == "level" and Kind.EXHAUSTION in self.rule.detect:
                for key, array in self.project(adjusted, blocks).items():
                    if key not in self.exhaustion:
                        self.exhaustion[key] = np.full(len(self.keys), np.nan)
                    self.exhaustion[key][rows] = array


def _prefixes(buffer: FloatArray, chunk: FloatArray, positions: IntArray) -> FloatArray:
    """``(m, c, b)``: the block in progress as it stood after each sample of the chunk."""
    c = chunk.shape[1]
    out = np.repeat(buffer[:, None, :], c, axis=1)
    lower = np.tril(np.ones((c, c), dtype=bool))
    updates = np.where(lower[None, :, :] & ~np.isnan(chunk)[:, None, :], chunk[:, None, :], np.nan)
    current = out[:, :, positions]
    out[:, :, positions] = np.where(np.isnan(updates), current, updates)
    return out


__all__ = ["CODES", "NONE", "RuleMonitor", "Trace"]
