"""The monitor over a whole recording at once: what replay and ``evaluate`` run.

A daemon meets its samples one cycle at a time and keeps rings (:mod:`detector.monitor`).
Replay has the whole recording, so every block summary, seasonal profile and window
reference can be computed for all blocks at once, with windows taken by sliding over
time instead of out of rings. The functions that turn a window into numbers are the very
same (:mod:`detector.blocks`, :mod:`detector.seasonal`, :mod:`detector.evidence`), fed the
very same windows, so the evidence at every sample equals the daemon's
(``tests/test_monitor_fidelity.py`` holds them to it, bit for bit).

Everything is computed in chunks of :data:`BLOCK_CHUNK` blocks, so memory stays bounded
however long the recording.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from detector.blocks import block_spread
from detector.evidence import Evidence, build_reference, score_samples
from detector.finding import Kind
from detector.monitor import (
    JITTER_TO_SIGMA,
    RuleMonitor,
    Trace,
    blank_trace,
    block_sums,
    channel_mean,
    partial_counts,
    store_evidence,
    store_pattern,
)
from detector.robust import nanmean
from detector.seasonal import (
    CODES,
    MAX_LAGS,
    choice_need,
    choose,
    period_median,
    profile_from,
    select,
)
from detector.sensitivity import threshold
from detector.series import FloatArray, IntArray

BLOCK_CHUNK = 32
"""Blocks whose windows are materialised together (at most; see :func:`score_chunk`)."""
SCORE_CELLS = 1 << 20
"""Scoring makes (series x samples x candidate onsets) temporaries; a chunk of blocks
holds at most about this many cells. Replaying 32 series of 14 days at 1 minute peaked
at 1,474 MB with 32-block chunks and at 407 MB with 4-block ones, at the same CPU time;
one series keeps 32-block chunks, where per-chunk overhead would dominate."""


def score_chunk(rows: int, grid_per_block: int, window_blocks: int) -> int:
    """Blocks scored together for ``rows`` series: bounded memory, few Python calls."""
    per_block = rows * grid_per_block * (window_blocks + 1)
    return max(1, min(BLOCK_CHUNK, SCORE_CELLS // max(1, per_block)))


def _pad_left(values: FloatArray, width: int) -> FloatArray:
    pad = np.full((*values.shape[:-1], width), np.nan)
    return np.concatenate([pad, values], axis=-1)


def _windows(values: FloatArray, width: int, first: int, last: int) -> FloatArray:
    """``(n, last - first, width)``: for each block ``j`` in ``[first, last)`` the ``width``
    blocks ending at ``j`` (NaN before the recording)."""
    padded = _pad_left(values, width - 1)
    view = sliding_window_view(padded, width, axis=-1)
    return np.asarray(view[:, first:last, :])


def batch_trace(
    monitor: RuleMonitor,
    rows: IntArray,
    timestamps: IntArray,
    values: FloatArray,
    *,
    score_from: int | None = None,
) -> Trace:
    """Evidence at every sample of ``values`` ``(n, T)`` on the grid ``timestamps``
    (consecutive steps), for a monitor that has seen nothing before them.

    Samples before ``score_from`` only warm the state up; their evidence is left at 0
    (``evaluate`` wants the last sample only, replay the samples of its window).
    """
    grid = monitor.grid
    b = grid.per_block
    timestamps = np.asarray(timestamps, dtype=np.int64)
    n, total = rows.size, timestamps.size
    trace = blank_trace(monitor, rows, timestamps)
    if total == 0 or n == 0:
        return trace
    raw = np.array(values, dtype=np.float64, copy=True).reshape(n, total)
    raw[~np.isfinite(raw)] = np.nan
    samples = _rates(monitor, rows, raw)
    previous = np.full(samples.shape, np.nan)
    previous[:, 1:] = samples[:, :-1]
    jitter = np.abs(samples - previous) * JITTER_TO_SIGMA
    trace.valid[:] = ~np.isnan(samples)
    block_ids = grid.block_of(timestamps)
    first_block = int(block_ids[0])
    blocks = int(block_ids[-1]) - first_block + 1
    slots = block_ids - first_block
    positions = grid.position_of(timestamps)
    laid = np.full((n, blocks, b), np.nan)
    laid[:, slots, positions] = samples
    laid_jitter = np.full((n, blocks, b), np.nan)
    laid_jitter[:, slots, positions] = jitter
    counts = np.sum(~np.isnan(laid), axis=2).astype(np.float64)
    column_of = np.full((blocks, b), -1, dtype=np.int64)
    column_of[slots, positions] = np.arange(total)
    if monitor.watch_patterns:
        _score_patterns(
            monitor,
            trace,
            laid=laid,
            counts=counts,
            first_block=first_block,
            column_of=column_of,
            score_from=score_from,
        )
    for name, channel in monitor.channels.items():
        spec = channel.spec
        material = laid_jitter if spec.uses_jitter else laid
        block_values, _ = channel_mean(spec, material)
        spreads = (
            block_spread(spec.transform(laid))
            if not spec.uses_jitter
            else np.full((n, blocks), np.nan)
        )
        seasonal = _seasonal(monitor, block_values)
        begin = 0
        if score_from is not None:
            begin = max(0, int(grid.block_of(np.array([score_from]))[0]) - first_block - 1)
        chunk = score_chunk(n, b, grid.window_blocks)
        for start in range(begin, blocks - 1, chunk):
            stop = min(blocks - 1, start + chunk)
            _score_chunk(
                monitor,
                trace,
                _Blocks(name, first_block, block_values, counts, spreads, seasonal, material),
                (start, stop),
                column_of,
            )
    return trace


def _score_patterns(
    monitor: RuleMonitor,
    trace: Trace,
    *,
    laid: FloatArray,
    counts: FloatArray,
    first_block: int,
    column_of: IntArray,
    score_from: int | None,
) -> None:
    """New-pattern evidence at every sample, from windows of block counts."""
    grid = monitor.grid
    window, b = grid.window_blocks, grid.per_block
    n, blocks, _ = laid.shape
    sums = block_sums(laid)
    begin = 0
    if score_from is not None:
        begin = max(0, int(grid.block_of(np.array([score_from]))[0]) - first_block - 1)
    for start in range(begin, blocks - 1, BLOCK_CHUNK):
        stop = min(blocks - 1, start + BLOCK_CHUNK)
        chunk = stop - start
        shape = (n * chunk, window)
        following = laid[:, start + 1 : stop + 1, :].reshape(n * chunk, b)
        prefixes = np.where(
            np.tril(np.ones((b, b), dtype=bool))[None], following[:, None, :], np.nan
        )
        lines, present = partial_counts(prefixes)
        columns = column_of[start + 1 : stop + 1]
        flat_columns = np.broadcast_to(columns[None], (n, chunk, b)).reshape(n * chunk, b)
        keep = flat_columns >= 0
        times = np.where(keep, trace.timestamps[np.maximum(flat_columns, 0)], 0)
        ids = first_block + np.arange(start, stop) - window + 1
        found = monitor.assess_patterns(
            _windows(sums, window, start, stop).reshape(shape),
            _windows(counts, window, start, stop).reshape(shape),
            np.broadcast_to(ids[None, :], (n, chunk)).reshape(-1),
            partial=(lines, present),
            now=times,
        )
        store_pattern(trace, np.repeat(np.arange(n), chunk), flat_columns, found, keep)


def _rates(monitor: RuleMonitor, rows: IntArray, raw: FloatArray) -> FloatArray:
    """Counters become per-second rates, exactly as :meth:`RuleMonitor.ingest` does."""
    counter = np.asarray([monitor.counter[r] for r in rows], dtype=bool)
    if not np.any(counter):
        return raw.copy()
    previous = np.full(raw.shape, np.nan)
    previous[:, 1:] = raw[:, :-1]
    increase = np.where(raw >= previous, raw - previous, raw)
    rates = np.where(np.isnan(previous), np.nan, increase / monitor.step)
    return np.asarray(np.where(counter[:, None], rates, raw), dtype=np.float64)


class _Seasonal:
    """Profiles (for each block, indices ``0 .. blocks``) and the choice after each block."""

    def __init__(self, profiles: dict[str, FloatArray], choice: IntArray) -> None:
        self.profiles = profiles
        self.choice = choice


def _seasonal(monitor: RuleMonitor, values: FloatArray) -> _Seasonal:
    n, blocks = values.shape
    periods = monitor.periods
    window = monitor.grid.window_blocks
    auto = monitor.auto_seasonality
    profiles: dict[str, FloatArray] = {}
    lags: dict[str, FloatArray] = {}
    wobble = np.full((n, blocks), np.nan)
    for name, period in periods.items():
        medians = np.full((n, blocks), np.nan)
        for start in range(0, blocks, BLOCK_CHUNK * 4):
            stop = min(blocks, start + BLOCK_CHUNK * 4)
            medians[:, start:stop] = period_median(_windows(values, period, start, stop))
        shift = period // 2
        deviations = np.full((n, blocks), np.nan)
        if blocks > shift:
            deviations[:, : blocks - shift] = values[:, : blocks - shift] - medians[:, shift:]
        if name == "daily":
            wobble = np.abs(values - medians)
        earlier = _pad_left(values, period)[:, :blocks]
        lags[name] = np.abs(values - earlier)
        lag_count = MAX_LAGS[name]
        padded = _pad_left(deviations, lag_count * period)
        lags_back = period * np.arange(1, lag_count + 1)
        index = np.arange(blocks + 1)[:, None] - lags_back[None, :] + lag_count * period
        taken = padded[:, index]  # profile of block j from its phase in earlier periods
        profiles[name] = profile_from(taken)
    default = monitor.default_choice
    choice = np.full((n, blocks), default, dtype=np.int64)
    if auto and periods:
        need = choice_need(window)
        for start in range(0, blocks, BLOCK_CHUNK):
            stop = min(blocks, start + BLOCK_CHUNK)
            rows_shape = (n * (stop - start), window)
            choice[:, start:stop] = choose(
                _windows(wobble, window, start, stop).reshape(rows_shape),
                {
                    k: _windows(lag, window, start, stop).reshape(rows_shape)
                    for k, lag in lags.items()
                },
                need,
                _windows(values, window, start, stop).reshape(rows_shape),
                {
                    k: _windows(p[:, :-1], window, start, stop).reshape(rows_shape)
                    for k, p in profiles.items()
                },
            ).reshape(n, stop - start)
    return _Seasonal(profiles, choice)


@dataclass(frozen=True)
class _Blocks:
    """One channel's block summaries over a whole recording, ``(n, blocks)``."""

    name: str
    first_block: int
    values: FloatArray
    counts: FloatArray
    spreads: FloatArray
    seasonal: _Seasonal
    material: FloatArray  # (n, blocks, per_block) raw samples (or movements)


def _score_chunk(
    monitor: RuleMonitor,
    trace: Trace,
    blocks: _Blocks,
    span: tuple[int, int],
    column_of: IntArray,
) -> None:
    """Score the samples of blocks ``j + 1`` with the reference after block ``j``, for each
    ``j`` in ``span``."""
    name, first_block, values = blocks.name, blocks.first_block, blocks.values
    counts, spreads, seasonal, material = (
        blocks.counts, blocks.spreads, blocks.seasonal, blocks.material,
    )  # fmt: skip
    start, stop = span
    channel = monitor.channels[name]
    spec = channel.spec
    grid = monitor.grid
    window = grid.window_blocks
    b = grid.per_block
    n = values.shape[0]
    chunk = stop - start
    choice = seasonal.choice[:, start:stop]
    window_values = _windows(values, window, start, stop)
    profile_windows = {
        key: _windows(profile[:, :-1], window, start, stop)
        for key, profile in seasonal.profiles.items()
    }
    adjusted = window_values - (
        select(choice, profile_windows) if profile_windows else np.zeros(window_values.shape)
    )
    weights = np.nan_to_num(_windows(counts, window, start, stop))
    ids = first_block + np.arange(start, stop) - window + 1
    first_ids = np.broadcast_to(ids[None, :], (n, chunk)).reshape(-1)
    scale = np.asarray(nanmean(_windows(spreads, window, start, stop).reshape(n * chunk, window)))
    reference = build_reference(
        adjusted.reshape(n * chunk, window),
        weights.reshape(n * chunk, window),
        first_ids,
        b,
        monitor.sample_variance(channel, scale),
    )
    profile_next = (
        select(choice, {k: p[:, start + 1 : stop + 1] for k, p in seasonal.profiles.items()})
        if seasonal.profiles
        else np.zeros((n, chunk))
    ).reshape(-1)
    following = material[:, start + 1 : stop + 1, :].reshape(n * chunk, b)
    prefixes = np.where(
        np.tril(np.ones((b, b), dtype=bool))[None, :, :], following[:, None, :], np.nan
    )
    mean, count = channel_mean(spec, prefixes)
    count = np.where(count >= spec.min_partial(b), count, 0)
    partial = mean - profile_next[:, None]
    count = np.where(np.isnan(partial), 0, count)
    all_rows = np.arange(n * chunk)
    floor = monitor.floor_values(channel, scale)
    evidence = score_samples(
        reference,
        all_rows,
        partial,
        count.astype(np.float64),
        b,
        direction=monitor.direction,
        floor=floor,
        threshold=threshold(monitor.rule),
        relative=monitor.relative_floor(channel),
        inverse=spec.inverse,
    )
    columns = column_of[start + 1 : stop + 1]  # (chunk, b)
    target_rows = np.repeat(np.arange(n), chunk)
    flat_columns = np.broadcast_to(columns[None, :, :], (n, chunk, b)).reshape(n * chunk, b)
    keep = flat_columns >= 0
    store_evidence(trace.evidence[name], target_rows, flat_columns, evidence, keep)
    codes = np.broadcast_to(choice.reshape(-1)[:, None], (n * chunk, b))
    trace.seasonality[name][target_rows[:, None].repeat(b, 1)[keep], flat_columns[keep]] = codes[
        keep
    ]
    if name == "level" and Kind.EXHAUSTION in monitor.rule.detect:
        projected = monitor.project(
            adjusted.reshape(n * chunk, window), ids_matrix(first_ids, window)
        )
        for key, array in projected.items():
            spread_out = np.broadcast_to(array[:, None], (n * chunk, b))
            trace.exhaustion[key][target_rows[:, None].repeat(b, 1)[keep], flat_columns[keep]] = (
                spread_out[keep]
            )


def ids_matrix(first_ids: IntArray, window: int) -> IntArray:
    return np.asarray(first_ids[:, None] + np.arange(window)[None, :], dtype=np.int64)


__all__ = ["BLOCK_CHUNK", "CODES", "Evidence", "batch_trace"]
