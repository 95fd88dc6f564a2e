"""Seasonality at block level: a daily or weekly shape is the normal, not a gray signal.

For each block ``j`` the profile is the median, over the previous ``L`` periods (7 days,
or 4 weeks), of that phase's deviation from its period's centred median. Using
*deviations* keeps level shifts and trends in the adjusted series instead of absorbing
them as "the new normal"; the median over several periods keeps one odd day from
echoing into the next. A profile needs :data:`MIN_LAGS` earlier periods.

``auto`` picks, per series and per block, the seasonality whose repetition explains the
recent window clearly better than its level does: daily when the typical difference from
the same block a day earlier is below :data:`DAILY_GAIN` times the typical deviation
from the trailing one-day median, weekly when the week-ago difference is below
:data:`WEEKLY_GAIN` times the chosen one. Means, not medians: a square wave is flat most
of the day and its median deviation is zero while its mean deviation is not. The choice
is known after one period, before a full profile is, so a seasonal series is never
judged as non-seasonal while its profile is still being learned.

The functions below take *windows* as rows: the daemon gathers them from each series'
rings (:class:`SeasonalRings`), replay from sliding windows over a whole recording
(:mod:`detector.batch`). Same functions, same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from detector.noise import variance_at
from detector.robust import nanmean, nanmedian
from detector.series import FloatArray, IntArray

DAY = 86400
WEEK = 7 * DAY
PERIOD_SECONDS = {"daily": DAY, "weekly": WEEK}
MAX_LAGS = {"daily": 7, "weekly": 4}
MIN_LAGS = 3
DAILY_GAIN = 0.6
WEEKLY_GAIN = 0.8
PROFILE_SCALE = 4
"""Blocks per mean at which removing a profile must pay off (four hours for 7-day rules)."""
PROFILE_GAIN = 0.7
"""Removing a profile must leave at most this share of the variance of such means."""
LEARNING, NONE, DAILY, WEEKLY = -1, 0, 1, 2
CODES = {"learning": LEARNING, "none": NONE, "daily": DAILY, "weekly": WEEKLY}
NAMES = {code: name for name, code in CODES.items()}


# ---------------------------------------------------------------- pure, rows = windows


def period_median(span: FloatArray) -> FloatArray:
    """Median of a period of blocks ``(r, P)``; NaN unless half of them are there."""
    enough = np.sum(~np.isnan(span), axis=-1) >= span.shape[-1] // 2
    return np.asarray(np.where(enough, nanmedian(span), np.nan), dtype=np.float64)


def profile_from(deviations: FloatArray) -> FloatArray:
    """The profile of a block from its phase's deviations ``(r, L)`` in earlier periods."""
    enough = np.sum(~np.isnan(deviations), axis=-1) >= MIN_LAGS
    return np.asarray(np.where(enough, nanmedian(deviations), np.nan), dtype=np.float64)


def choose(
    wobble: FloatArray,
    lags: dict[str, FloatArray],
    need: int,
    values: FloatArray | None = None,
    profiles: dict[str, FloatArray] | None = None,
) -> IntArray:
    """``auto``'s choice from windows ``(r, K)`` of wobble and of each period's lag gap,
    and, once profiles exist, of the block values and each period's profile.

    Lag gaps decide early (after one period) and on clean repetitions; on noisy, bursty
    series (log volume) the hour-to-hour noise hides the repetition from them, so a
    period is also chosen when removing its profile shrinks the variance of multi-hour
    means (:data:`PROFILE_GAIN`), which is what the evidence is judged against.
    """

    def typical(part: FloatArray) -> FloatArray:
        mean = nanmean(part)
        return np.asarray(np.where(np.sum(~np.isnan(part), axis=-1) >= need, mean, np.nan))

    reference = typical(wobble)
    choice = np.full(reference.shape, NONE, dtype=np.int64)
    best = reference.copy()
    with np.errstate(invalid="ignore"):
        if "daily" in lags:
            daily = typical(lags["daily"])
            take = daily < DAILY_GAIN * reference
            choice = np.where(take, DAILY, choice)
            best = np.where(take, daily, best)
            unknown = np.isnan(daily) | np.isnan(reference)
            choice = np.where(unknown, LEARNING, choice)
        if "weekly" in lags:
            take = typical(lags["weekly"]) < WEEKLY_GAIN * best
            choice = np.where(take, WEEKLY, choice)
        if values is not None and profiles:
            plain = variance_at(values, PROFILE_SCALE)
            best_variance = np.where(choice == NONE, plain, np.inf)
            for name in ("daily", "weekly"):
                if name not in profiles:
                    continue
                adjusted = variance_at(values - profiles[name], PROFILE_SCALE)
                take = (choice == NONE) & (adjusted < PROFILE_GAIN * best_variance)
                choice = np.where(take, CODES[name], choice)
                best_variance = np.where(take, adjusted, best_variance)
    return choice


def select(choice: IntArray, profiles: dict[str, FloatArray]) -> FloatArray:
    """Per row, the profile values of the chosen seasonality (0 for ``none``, NaN while
    still learning)."""
    shape = next(iter(profiles.values())).shape if profiles else choice.shape
    out = np.zeros(shape)
    for name, values in profiles.items():
        chosen = (choice == CODES[name]).reshape(choice.shape + (1,) * (values.ndim - choice.ndim))
        out = np.where(chosen, values, out)
    learning = (choice == LEARNING).reshape(choice.shape + (1,) * (len(shape) - choice.ndim))
    return np.asarray(np.where(learning, np.nan, out), dtype=np.float64)


def choice_need(window: int) -> int:
    """Blocks of lag gaps (a day apart) before ``auto`` chooses: half a day at least."""
    return max(12, window // 8)


# ---------------------------------------------------------------- the daemon's rings


def ring_take(ring: FloatArray, rows: IntArray, blocks: IntArray) -> FloatArray:
    """``ring[row, block % width]`` for each row and each of its block ids ``(m, k)``."""
    width = ring.shape[1]
    return np.asarray(ring[rows[:, None], blocks % width], dtype=np.float64)


@dataclass
class SeasonalRings:
    """Per-series seasonal bookkeeping of one channel, updated once per completed block.

    ``periods`` maps each usable seasonality to its length in blocks. Rings are indexed by
    ``block % width``; a slot holds the value of the latest block that mapped to it.
    """

    periods: dict[str, int]
    auto: bool
    window: int
    rows: int
    dev: dict[str, FloatArray] = field(default_factory=dict)
    profile: dict[str, FloatArray] = field(default_factory=dict)
    wobble: FloatArray = field(default_factory=lambda: np.empty((0, 0)))
    lag: dict[str, FloatArray] = field(default_factory=dict)
    choice: IntArray = field(default_factory=lambda: np.empty(0, np.int64))

    def __post_init__(self) -> None:
        for name, period in self.periods.items():
            self.dev[name] = np.full((self.rows, MAX_LAGS[name] * period + period), np.nan)
            self.profile[name] = np.full((self.rows, self.window + 2), np.nan)
            self.lag[name] = np.full((self.rows, self.window + 1), np.nan)
        self.wobble = np.full((self.rows, self.window + 1), np.nan)
        self.choice = np.full(self.rows, self.default_choice, dtype=np.int64)

    @property
    def default_choice(self) -> int:
        if not self.periods:
            return NONE
        if self.auto:
            return LEARNING if "daily" in self.periods else NONE
        return CODES[next(iter(self.periods))]

    @property
    def longest_period(self) -> int:
        return max(self.periods.values(), default=0)

    def history_blocks(self) -> int:
        """Blocks of history the profiles of a full window depend on."""
        deepest = max((MAX_LAGS[n] * p + p // 2 for n, p in self.periods.items()), default=0)
        return self.window + deepest + 2

    def grow(self, extra: int) -> None:
        """Add ``extra`` fresh rows (new series)."""

        def more(array: FloatArray) -> FloatArray:
            return np.concatenate([array, np.full((extra, array.shape[1]), np.nan)])

        for name in self.periods:
            self.dev[name] = more(self.dev[name])
            self.profile[name] = more(self.profile[name])
            self.lag[name] = more(self.lag[name])
        self.wobble = more(self.wobble)
        self.choice = np.concatenate(
            [self.choice, np.full(extra, self.default_choice, dtype=np.int64)]
        )
        self.rows += extra

    def forget(self, rows: IntArray) -> None:
        for name in self.periods:
            self.dev[name][rows] = np.nan
            self.profile[name][rows] = np.nan
            self.lag[name][rows] = np.nan
        self.wobble[rows] = np.nan
        self.choice[rows] = self.default_choice

    def record(self, values: FloatArray, rows: IntArray, block: IntArray) -> None:
        """Block ``block`` of each row was just completed; ``values`` is the channel's value
        ring (already holding it). Update deviations, choice inputs and the next profile."""
        if not self.periods:
            return
        current = ring_take(values, rows, block[:, None])[:, 0]
        for name, period in self.periods.items():
            span = ring_take(values, rows, block[:, None] - np.arange(period)[::-1])
            median = period_median(span)
            centre = block - period // 2
            at_centre = ring_take(values, rows, centre[:, None])[:, 0]
            dev = self.dev[name]
            dev[rows, centre % dev.shape[1]] = at_centre - median
            if name == "daily":
                self.wobble[rows, block % self.wobble.shape[1]] = np.abs(current - median)
            earlier = ring_take(values, rows, (block - period)[:, None])[:, 0]
            lag = self.lag[name]
            lag[rows, block % lag.shape[1]] = np.abs(current - earlier)
            following = block + 1
            lags = following[:, None] - period * np.arange(1, MAX_LAGS[name] + 1)
            ring = self.profile[name]
            ring[rows, following % ring.shape[1]] = profile_from(ring_take(dev, rows, lags))
        if self.auto:
            window = block[:, None] - np.arange(self.window)[::-1]
            lags_now = {n: ring_take(self.lag[n], rows, window) for n in self.periods}
            profiles = {n: ring_take(self.profile[n], rows, window) for n in self.periods}
            self.choice[rows] = choose(
                ring_take(self.wobble, rows, window),
                lags_now,
                choice_need(self.window),
                ring_take(values, rows, window),
                profiles,
            )

    def adjustment(self, rows: IntArray, blocks: IntArray) -> FloatArray:
        """The profile to subtract from each row's blocks ``(m, k)`` under its current
        choice: 0 for ``none``, NaN where the chosen profile is not known yet or the
        choice is still being learned."""
        profiles = {n: ring_take(self.profile[n], rows, blocks) for n in self.periods}
        if not profiles:
            return np.zeros(blocks.shape)
        return select(self.choice[rows], profiles)
