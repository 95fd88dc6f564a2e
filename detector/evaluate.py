"""``evaluate(rule, series, now)``: the one definition of detection that everything uses.

The daemon calls it on a real clock, replay on a simulated one (through
:class:`PreparedSeries`, which computes the per-sample features once and skips, with a
vectorised screen, the steps that cannot produce a finding), the digest over a week.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from detector.features import (
    DAY,
    compute_features,
    context_seconds,
    counter_rate,
    usable_seasonalities,
)
from detector.finding import Finding
from detector.kinds import DETECTORS
from detector.kinds.base import BoolArray, Context
from detector.rule import CounterMode, Rule, Seasonality
from detector.series import FloatArray, Series
from detector.window import Window

COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")
# 'auto' picks a seasonality only when removing it shrinks the typical wobble this much.
DAILY_GAIN = 0.6
WEEKLY_GAIN = 0.8


def allowed_seasonalities(rule: Rule, step: int) -> list[str]:
    """Which de-seasonalised views a rule may use at this step."""
    usable = usable_seasonalities(step)
    if rule.seasonality is Seasonality.AUTO:
        return ["none", *usable]
    if rule.seasonality is Seasonality.NONE:
        return ["none"]
    return [rule.seasonality.value] if rule.seasonality.value in usable else ["none"]


def required_history(rule: Rule, step: int) -> int:
    """Seconds of data before ``now`` that one evaluation reads (window plus context)."""
    allowed = allowed_seasonalities(rule, step)
    context = max(context_seconds(s) for s in allowed)
    return rule.window + context + (DAY if len(allowed) > 1 else 0) + step


def is_counter(rule: Rule, series: Series) -> bool:
    """Counters by declaration, or by Prometheus naming convention when ``counter: auto``."""
    if rule.counter is CounterMode.AUTO:
        return series.labels.get("__name__", "").endswith(COUNTER_SUFFIXES)
    return rule.counter is CounterMode.TRUE


@dataclass(frozen=True)
class PreparedSeries:
    """A rule bound to one series, with per-sample features computed once."""

    context: Context
    seasonalities: list[str]

    @classmethod
    def prepare(cls, rule: Rule, series: Series) -> PreparedSeries:
        values = series.values.astype(np.float64, copy=True)
        if is_counter(rule, series):
            values = counter_rate(values, series.step)
        values[~np.isfinite(values)] = np.nan
        allowed = allowed_seasonalities(rule, series.step)
        features = compute_features(values, series.step, allowed)
        ctx = Context(
            rule=rule,
            labels=series.labels,
            timestamps=series.timestamps,
            step=series.step,
            features=features,
        )
        return cls(context=ctx, seasonalities=allowed)

    def choose_seasonality(self, window: Window) -> str:
        """For ``auto``: a period whose repetition explains the data clearly better.

        Means, not medians: a square wave is flat most of the day, so its median
        deviation is zero while its mean deviation is not.
        """
        if len(self.seasonalities) == 1:
            return self.seasonalities[0]
        features = self.context.features

        def typical(values: FloatArray) -> float | None:
            part = values[window.start : window.end]
            if np.count_nonzero(~np.isnan(part)) < max(12, part.size // 4):
                return None
            return float(np.nanmean(part))

        chosen, reference = "none", typical(features.wobble)
        if reference is None:
            return chosen
        daily = typical(features.lag_gap["daily"]) if "daily" in features.lag_gap else None
        if daily is not None and daily < DAILY_GAIN * reference:
            chosen, reference = "daily", daily
        weekly = typical(features.lag_gap["weekly"]) if "weekly" in features.lag_gap else None
        if weekly is not None and weekly < WEEKLY_GAIN * reference:
            chosen = "weekly"
        return chosen

    def evaluate_at(self, now: int) -> list[Finding]:
        """Every finding of the rule's detectors for the window ending at ``now``."""
        ctx = self.context
        window = Window.at(ctx.timestamps, now, ctx.window_steps, ctx.step)
        if window.end - window.start < 2 * ctx.recent_len:
            return []
        seasonality = self.choose_seasonality(window)
        findings: list[Finding] = []
        for kind in ctx.rule.detect:
            detector = DETECTORS[kind]
            if detector.screen(ctx, window, seasonality):
                finding = detector.confirm(ctx, window, seasonality)
                if finding is not None:
                    findings.append(finding)
        return findings

    def candidate_mask(self) -> BoolArray:
        """Positions whose window (ending there) might hold a finding: a superset."""
        mask = np.zeros(self.context.timestamps.size, dtype=bool)
        for name, possible in self.possible_seasonalities().items():
            if not np.any(possible):
                continue
            for kind in self.context.rule.detect:
                mask |= possible & DETECTORS[kind].candidates(self.context, name)
        return mask

    def possible_seasonalities(self) -> dict[str, BoolArray]:
        """For each position, the seasonalities :meth:`choose_seasonality` might pick.

        The vectorised twin of that method: rolling means stand in for ``nanmean``, and
        where a comparison is within ``CHOICE_TOLERANCE`` of its threshold both outcomes
        are kept, so floating-point differences can only widen the set.
        """
        n = self.context.timestamps.size
        if len(self.seasonalities) == 1:
            return {self.seasonalities[0]: np.ones(n, dtype=bool)}
        features = self.context.features
        span = self.context.window_steps
        ref = _rolling_typical(features.wobble, span)
        nothing = np.full(n, np.nan)
        daily = (
            _rolling_typical(features.lag_gap["daily"], span)
            if "daily" in features.lag_gap
            else nothing
        )
        weekly = (
            _rolling_typical(features.lag_gap["weekly"], span)
            if "weekly" in features.lag_gap
            else nothing
        )
        with np.errstate(invalid="ignore"):
            ref_ok = ~np.isnan(ref)
            daily_yes = ref_ok & _maybe_below(daily, DAILY_GAIN * ref)
            daily_no = ~ref_ok | np.isnan(daily) | _maybe_at_least(daily, DAILY_GAIN * ref)
            weekly_ok = ~np.isnan(weekly)
            weekly_after_daily = weekly_ok & _maybe_below(weekly, WEEKLY_GAIN * daily)
            weekly_after_none = weekly_ok & _maybe_below(weekly, WEEKLY_GAIN * ref)
            keep_daily = ~weekly_ok | _maybe_at_least(weekly, WEEKLY_GAIN * daily)
            keep_none = ~weekly_ok | _maybe_at_least(weekly, WEEKLY_GAIN * ref)
        possible = {
            "none": ~ref_ok | (daily_no & keep_none),
            "daily": daily_yes & keep_daily,
            "weekly": ref_ok & ((daily_yes & weekly_after_daily) | (daily_no & weekly_after_none)),
        }
        return {name: possible[name] for name in self.seasonalities}


CHOICE_TOLERANCE = 1e-6


def _rolling_typical(values: FloatArray, span: int) -> FloatArray:
    """Rolling ``nanmean`` over ``span`` positions, NaN where fewer than a quarter are valid."""
    frame = pd.Series(values)
    total = frame.rolling(span, min_periods=1).mean().to_numpy(dtype=np.float64)
    valid = frame.notna().astype(np.float64).rolling(span, min_periods=1).sum().to_numpy()
    size = np.minimum(np.arange(1, values.size + 1), span)
    enough = valid >= np.maximum(12, size // 4)
    return np.where(enough, total, np.nan)


def _maybe_below(value: FloatArray, threshold: FloatArray) -> BoolArray:
    return np.asarray(value < threshold * (1 + CHOICE_TOLERANCE) + 1e-300)


def _maybe_at_least(value: FloatArray, threshold: FloatArray) -> BoolArray:
    return np.asarray(value >= threshold * (1 - CHOICE_TOLERANCE) - 1e-300)


def evaluate(rule: Rule, series: Series, now: int) -> list[Finding]:
    """Findings for ``rule`` on ``series`` as seen at ``now``; reads only samples ``<= now``."""
    visible = series.between(now - required_history(rule, series.step), now)
    if len(visible) == 0:
        return []
    return PreparedSeries.prepare(rule, visible).evaluate_at(now)
