"""Lead time: does graysignal warn earlier than the alert rules teams write today?

Scenarios
---------
Each scenario is a 10-day stretch of a real NAB operations series that lies wholly
outside NAB's labelled anomaly windows (:data:`GAUGE_BASES`: EC2/RDS CPU; and
:data:`COUNT_BASES`: per-5-minute tweet counts, the shape of log volume). The first six
days are history: detectors may read them, nobody is judged on them. Alerts are
counted from day six (``eval_start``). Into the remaining four days a slow degradation
is injected at a random ``onset`` (12 to 24 hours after ``eval_start``):

* ``ramp``: a straight line up;
* ``step_creep``: a step of 40% of the distance to the SLO line, then a creep;
* ``variance``: growing one-sided jitter (``sigma(t) |e|``, half-normal: like queueing
  delay it only ever adds, so its rolling mean rises as it grows);
* ``leak``: exponential growth (``e^(3 t / D) - 1``, slow for a long time, then fast);
* ``counts`` (on count series): extra events, Poisson with a rate proportional to the
  series' own activity and growing linearly, so the daily shape is kept.

Their size is set so that they reach the **SLO line** about ``D`` (12 to 72 hours,
drawn per scenario) after onset. The SLO line is on a 1-hour trailing mean of the
series (the view an SLO is usually written on) and lies 10% of the clean view's
(max - median) above the clean view's maximum over the whole stretch, so the clean data
never reached it. The **incident** is the first time the injected series' 1-hour mean
crosses the SLO line (noise makes it earlier or later than ``D``; a draw whose
incident falls outside the stretch, or within 2 hours of onset, is redrawn).
``control`` scenarios are the same stretches without injection. Everything comes from
one seeded generator per scenario (``numpy.random.default_rng((seed, index))``), so
scenario ``i`` is the same whatever the number of scenarios.

Detectors (all causal, all with the same ``for: 15m`` and ``keep_firing_for: 30m``)
----------------------------------------------------------------------------------
* ``graysignal``: the default rule (``level_shift`` and ``trend``, ``direction: both``),
  replayed with :func:`detector.replay.replay_rule`. Firings of the rule's kinds on one
  series are merged into one alert stream, as Alertmanager groups them by ``alertname``.
* ``static_slo``: ``avg_over_time(x[1h]) > warn`` with ``warn`` 80% of the way from the
  history's highest 1-hour mean to the SLO line: the classic "warn before the SLO" rule,
  on the SLO's own view. This is the static threshold the goal is judged against.
* ``static_p999``: ``x > p99.9`` of the raw samples of the six days of history (a
  threshold picked from what was seen, blind to the SLO); reported for completeness.
* ``predict_linear``: Prometheus's ``predict_linear(x[6h], 24h) > SLO``: least squares
  over the samples of the last 6 hours, extrapolated 24 hours from the evaluation time.
* ``ewma``: ``x > mean + 3 sigma`` of an exponentially weighted mean and standard
  deviation (half-life 1 day) of the samples before the current one.

Metrics
-------
Over injected scenarios: **recall** (an alert started in ``[onset, incident)``), the
**median lead time** (``incident - first such alert``) and the **mean earliness**
(``(incident - first alert) / (incident - onset)``, 0 for a scenario without an alert
before the incident, so a detector cannot look early by missing the hard cases).
**False alarms per 100 series-days**: alerts that started on controls, or before onset
on injected scenarios, per 100 days of such exposure.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from benchmarks.nab.corpus import DataFile, load_corpus
from detector.replay import replay_rule
from detector.rule import Rule
from detector.series import FloatArray, IntArray, Series

BoolArray = npt.NDArray[np.bool_]

HOUR = 3600
DAY = 86400

GAUGE_BASES: tuple[str, ...] = (
    "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_ac20cd.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_c6585a.csv",
    "realAWSCloudwatch/rds_cpu_utilization_cc0c53.csv",
    "realKnownCause/cpu_utilization_asg_misconfiguration.csv",
)
"""Operations gauges with a clean (window-free, regular) stretch of at least 10 days."""

COUNT_BASES: tuple[str, ...] = tuple(
    f"realTweets/Twitter_volume_{t}.csv"
    for t in ("AAPL", "AMZN", "CRM", "CVS", "FB", "GOOG", "IBM", "KO", "PFE", "UPS")
)
"""Count series (events per 5 minutes), the shape of log volume."""

KINDS: tuple[str, ...] = ("ramp", "step_creep", "variance", "leak", "counts")
CYCLE: tuple[str, ...] = (*KINDS, "control", "control")
"""Scenario ``i`` has kind ``CYCLE[i % 7]``: five degradations, then two controls."""

STEP_SHARE = 0.4
"""``step_creep``: the step's share of the distance from the level to the SLO line."""
LEAK_RATE = 3.0
"""``leak``: growth exponent over the nominal time to incident."""
HALF_NORMAL_MEAN = math.sqrt(2.0 / math.pi)


@dataclass(frozen=True)
class Layout:
    """Time layout of every scenario (seconds); tests use a tiny one."""

    step: int = 300
    stretch: int = 10 * DAY
    history: int = 6 * DAY
    onset_after: tuple[int, int] = (12 * HOUR, 24 * HOUR)
    time_to_incident: tuple[int, int] = (12 * HOUR, 72 * HOUR)
    view: int = HOUR
    min_lead: int = 2 * HOUR
    slo_margin: float = 0.1
    static_quantile: float = 0.999
    static_share: float = 0.8

    @property
    def n(self) -> int:
        return self.stretch // self.step

    @property
    def history_steps(self) -> int:
        return self.history // self.step

    @property
    def view_steps(self) -> int:
        return max(1, self.view // self.step)


@dataclass(frozen=True)
class Timeline:
    """The bookkeeping a scenario is judged on (seconds; ``None`` for controls)."""

    kind: str
    eval_start: int
    end: int
    onset: int | None = None
    incident: int | None = None

    @property
    def injected(self) -> bool:
        return self.onset is not None


@dataclass(frozen=True, eq=False)
class Scenario:
    """One stretch of a real series, its injected degradation and its bookkeeping."""

    index: int
    base: str
    timeline: Timeline
    timestamps: IntArray
    clean: FloatArray
    values: FloatArray
    slo: float
    warn: float
    warn_view: float
    time_to_incident: int | None = None

    @property
    def kind(self) -> str:
        return self.timeline.kind

    def series(self) -> Series:
        return Series(
            {"scenario": str(self.index), "base": self.base},
            self.timestamps,
            self.values,
            int(self.timestamps[1] - self.timestamps[0]),
        )


# --------------------------------------------------------------------------- generator


def trailing_mean(values: FloatArray, span: int) -> FloatArray:
    """Mean of the last ``span`` samples at each position (NaN until ``span`` are there)."""
    return pd.Series(values).rolling(span, min_periods=span).mean().to_numpy(dtype=np.float64)


def slo_line(clean: FloatArray, view_steps: int, margin: float) -> float:
    """A line on the rolling view the clean data never reached: max + margin * (max - median)."""
    view = trailing_mean(clean, view_steps)
    top, middle = float(np.nanmax(view)), float(np.nanmedian(view))
    spread = top - middle
    if spread <= 0:
        spread = max(abs(top), 1.0)
    return top + margin * spread


def incident_time(
    timestamps: IntArray, values: FloatArray, slo: float, onset_index: int, view_steps: int
) -> int | None:
    """First time at or after onset when the rolling view reaches the SLO line."""
    view = trailing_mean(values, view_steps)
    with np.errstate(invalid="ignore"):
        above = np.flatnonzero(view[onset_index:] >= slo)
    return None if above.size == 0 else int(timestamps[onset_index + int(above[0])])


def inject(
    kind: str,
    clean: FloatArray,
    *,
    onset_index: int,
    distance: float,
    level: float,
    duration_steps: int,
    rng: np.random.Generator,
) -> FloatArray:
    """Add the degradation ``kind`` from ``onset_index`` on.

    ``distance`` is how far the level must rise to reach the SLO line and
    ``duration_steps`` the nominal time to get there; the shape decides the path.
    """
    values = clean.copy()
    tau = np.arange(clean.size - onset_index, dtype=np.float64) / max(duration_steps, 1)
    if kind == "ramp":
        delta = distance * tau
    elif kind == "step_creep":
        delta = distance * (STEP_SHARE + (1.0 - STEP_SHARE) * tau)
    elif kind == "variance":
        delta = distance / HALF_NORMAL_MEAN * tau * np.abs(rng.standard_normal(tau.size))
    elif kind == "leak":
        delta = distance * np.expm1(LEAK_RATE * tau) / math.expm1(LEAK_RATE)
    elif kind == "counts":
        activity = np.maximum(np.nan_to_num(clean[onset_index:]), 0.0)
        scale = activity / level if level > 0 else np.ones_like(activity)
        delta = rng.poisson(np.maximum(distance * tau * scale, 0.0)).astype(np.float64)
    else:
        raise ValueError(f"unknown degradation kind {kind!r}")
    values[onset_index:] += delta
    return values


def clean_runs(data: DataFile, step: int, length: int) -> list[tuple[int, int]]:
    """Row ranges ``[a, b)`` of at least ``length`` rows, regular and outside every window."""
    seconds = data.timestamps.astype("datetime64[s]").astype(np.int64)
    usable = np.ones(data.n_rows, dtype=bool)
    for first, last in data.window_bounds:
        usable[first : last + 1] = False
    # A run starts at a usable row whose predecessor is unusable or not one step before.
    fresh = np.ones(data.n_rows, dtype=bool)
    fresh[1:] = ~usable[:-1] | (np.diff(seconds) != step)
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for row in range(data.n_rows + 1):
        ends = row == data.n_rows or not usable[row] or fresh[row]
        if ends and start is not None:
            if row - start >= length:
                runs.append((start, row))
            start = None
        if row < data.n_rows and usable[row] and start is None:
            start = row
    return runs


@dataclass(frozen=True)
class BasePool:
    """Clean runs of the base series, by family (``gauge`` or ``count``)."""

    files: Mapping[str, DataFile]
    runs: Mapping[str, tuple[tuple[str, int, int], ...]]

    @classmethod
    def build(
        cls,
        files: Mapping[str, DataFile],
        layout: Layout,
        gauges: Sequence[str] = GAUGE_BASES,
        counts: Sequence[str] = COUNT_BASES,
    ) -> BasePool:
        runs: dict[str, tuple[tuple[str, int, int], ...]] = {}
        for family, names in (("gauge", gauges), ("count", counts)):
            found = [
                (name, a, b)
                for name in names
                for a, b in clean_runs(files[name], layout.step, layout.n)
            ]
            if not found:
                raise ValueError(f"no clean {family} stretch of {layout.stretch}s in {names}")
            runs[family] = tuple(found)
        return cls(files=files, runs=runs)


def load_pool(layout: Layout | None = None, root: Path | None = None) -> BasePool:
    """The base series from the NAB corpus."""
    layout = layout or Layout()
    corpus = load_corpus(root, names=[*GAUGE_BASES, *COUNT_BASES])
    return BasePool.build(corpus.files, layout)


def _uniform_steps(rng: np.random.Generator, bounds: tuple[int, int], step: int) -> int:
    return int(rng.integers(bounds[0] // step, bounds[1] // step + 1))


def make_scenario(index: int, seed: int, pool: BasePool, layout: Layout | None = None) -> Scenario:
    """Scenario ``index`` of the run seeded ``seed``: deterministic, independent of the rest."""
    layout = layout or Layout()
    rng = np.random.default_rng((seed, index))
    kind = CYCLE[index % len(CYCLE)]
    family = "count" if kind == "counts" or (kind == "control" and index % 2 == 1) else "gauge"
    runs = pool.runs[family]
    name, first, last = runs[int(rng.integers(len(runs)))]
    offset = first + int(rng.integers(last - first - layout.n + 1))
    data = pool.files[name]
    raw_seconds = data.timestamps.astype("datetime64[s]").astype(np.int64)[offset]
    start = -(-int(raw_seconds) // layout.step) * layout.step  # end-labelled grid slot
    timestamps = start + layout.step * np.arange(layout.n, dtype=np.int64)
    clean = data.values[offset : offset + layout.n].astype(np.float64)
    hist = layout.history_steps
    eval_start = int(timestamps[hist - 1])
    end = int(timestamps[-1])
    slo = slo_line(clean, layout.view_steps, layout.slo_margin)
    warn = float(np.nanquantile(clean[:hist], layout.static_quantile))
    history_top = float(np.nanmax(trailing_mean(clean[:hist], layout.view_steps)))
    warn_view = history_top + layout.static_share * (slo - history_top)
    if kind == "control":
        return Scenario(
            index=index,
            base=name,
            timeline=Timeline(kind, eval_start, end),
            timestamps=timestamps,
            clean=clean,
            values=clean.copy(),
            slo=slo,
            warn=warn,
            warn_view=warn_view,
        )
    view = trailing_mean(clean, layout.view_steps)
    for _ in range(100):
        onset_index = hist - 1 + _uniform_steps(rng, layout.onset_after, layout.step)
        duration = _uniform_steps(rng, layout.time_to_incident, layout.step)
        day_before = view[max(0, onset_index - DAY // layout.step) : onset_index]
        level = float(np.nanmedian(day_before))
        values = inject(
            kind,
            clean,
            onset_index=onset_index,
            distance=slo - level,
            level=level,
            duration_steps=duration,
            rng=rng,
        )
        onset = int(timestamps[onset_index])
        incident = incident_time(timestamps, values, slo, onset_index, layout.view_steps)
        if incident is not None and incident - onset >= layout.min_lead:
            return Scenario(
                index=index,
                base=name,
                timeline=Timeline(kind, eval_start, end, onset, incident),
                timestamps=timestamps,
                clean=clean,
                values=values,
                slo=slo,
                warn=warn,
                warn_view=warn_view,
                time_to_incident=duration * layout.step,
            )
    raise RuntimeError(f"scenario {index}: no draw put the incident inside the stretch")


def generate(count: int, seed: int, pool: BasePool, layout: Layout | None = None) -> list[Scenario]:
    """Scenarios ``0 .. count-1``."""
    return [make_scenario(i, seed, pool, layout) for i in range(count)]


# --------------------------------------------------------------------------- baselines


def static_condition(values: FloatArray, warn: float) -> BoolArray:
    """``x > warn``; a missing sample is not above anything."""
    with np.errstate(invalid="ignore"):
        return np.asarray(values > warn)


def predict_linear(values: FloatArray, step: int, range_s: int, ahead_s: int) -> FloatArray:
    """Prometheus ``predict_linear(x[range], ahead)`` at every sample time.

    Least squares over the samples in ``(t - range, t]`` (NaNs skipped; at least two
    needed), evaluated at ``t + ahead``: the intercept is taken at the evaluation time,
    as Prometheus does.
    """
    span = max(2, range_s // step)
    finite = np.isfinite(values)
    x = np.where(finite, values, 0.0)
    w = finite.astype(np.float64)
    k = np.arange(values.size, dtype=np.float64)

    def rolling_sum(a: FloatArray) -> FloatArray:
        return pd.Series(a).rolling(span, min_periods=1).sum().to_numpy(dtype=np.float64)

    # Positions are sample indices (at most a few thousand here), so the sums of k and k^2
    # stay far from float64 rounding trouble.
    s_w = rolling_sum(w)
    s_k = rolling_sum(w * k)
    s_x = rolling_sum(x)
    s_kk = rolling_sum(w * k * k)
    s_kx = rolling_sum(x * k)
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = s_w * s_kk - s_k * s_k
        slope = (s_w * s_kx - s_k * s_x) / denom
        mean_k = s_k / s_w
        mean_x = s_x / s_w
        predicted = mean_x + slope * (k + ahead_s / step - mean_k)
    valid = (s_w >= 2) & (denom > 1e-9 * np.maximum(s_w, 1.0) ** 2)
    return np.where(valid, predicted, np.nan)


def predict_linear_condition(
    values: FloatArray, step: int, limit: float, range_s: int = 6 * HOUR, ahead_s: int = DAY
) -> BoolArray:
    """``predict_linear(x[6h], 24h) > limit``."""
    with np.errstate(invalid="ignore"):
        return np.asarray(predict_linear(values, step, range_s, ahead_s) > limit)


def ewma_condition(
    values: FloatArray, step: int, halflife_s: int = DAY, k: float = 3.0, warmup_s: int = DAY
) -> BoolArray:
    """``x > mean + k sigma`` of the exponentially weighted history before each sample."""
    frame = pd.Series(values)
    span = frame.ewm(halflife=halflife_s / step, ignore_na=True, min_periods=warmup_s // step)
    mean = span.mean().shift(1).to_numpy(dtype=np.float64)
    sigma = span.std().shift(1).to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.asarray(values > mean + k * sigma)


def alert_starts(
    times: IntArray, condition: BoolArray, for_s: int, keep_firing_for_s: int
) -> list[tuple[int, int | None]]:
    """Firing intervals of a condition under Prometheus's alert rules semantics.

    The same state machine as :class:`detector.alerts.AlertBook`: pending while the
    condition holds for less than ``for``, firing after, and kept firing for
    ``keep_firing_for`` (counted from the first evaluation without it) once it stops.
    Returns ``(start, end)`` pairs; ``end`` is ``None`` if still firing at the end.
    """
    intervals: list[tuple[int, int | None]] = []
    active_since: int | None = None
    firing_since: int | None = None
    keep_since: int | None = None
    for raw_now, holds in zip(times.tolist(), condition.tolist(), strict=True):
        now = int(raw_now)
        if holds:
            if active_since is None:
                active_since = now
            keep_since = None
            if firing_since is None and now - active_since >= for_s:
                firing_since = now
            continue
        if firing_since is not None and keep_firing_for_s > 0:
            if keep_since is None:
                keep_since = now
            if now - keep_since < keep_firing_for_s:
                continue
        if firing_since is not None:
            intervals.append((firing_since, now))
        active_since = firing_since = keep_since = None
    if firing_since is not None:
        intervals.append((firing_since, None))
    return intervals


def merged_starts(intervals: Sequence[tuple[int, int | None]]) -> list[int]:
    """Starts of the union of possibly overlapping firing intervals (one alert stream)."""
    starts: list[int] = []
    covered_until: float = -math.inf
    for start, end in sorted(intervals, key=lambda iv: iv[0]):
        if start > covered_until:
            starts.append(start)
            covered_until = start
        covered_until = max(covered_until, math.inf if end is None else end)
    return starts


# --------------------------------------------------------------------------- detectors


@dataclass(frozen=True)
class Alerting:
    """The alerting settings every detector shares (graysignal's defaults)."""

    for_s: int = 15 * 60
    keep_firing_for_s: int = 30 * 60


def graysignal_rule(alerting: Alerting) -> Rule:
    """The default rule, with the shared ``for`` and ``keep_firing_for`` (the defaults)."""
    return Rule.model_validate(
        {
            "signal": "LeadTime",
            "source": "file",
            "path": "scenario.csv",
            "for": alerting.for_s,
            "keep_firing_for": alerting.keep_firing_for_s,
        }
    )


def _graysignal(scenario: Scenario, alerting: Alerting) -> list[int]:
    series = scenario.series()
    signals, _ = replay_rule(
        graysignal_rule(alerting),
        group="leadtime",
        interval=series.step,
        series=[series],
        start=scenario.timeline.eval_start,
        end=scenario.timeline.end,
    )
    return merged_starts([(f.start, f.end) for s in signals for f in s.firings])


def _baseline(
    condition: Callable[[Scenario], BoolArray],
) -> Callable[[Scenario, Alerting], list[int]]:
    def run(scenario: Scenario, alerting: Alerting) -> list[int]:
        held = condition(scenario)
        judged = scenario.timestamps > scenario.timeline.eval_start
        intervals = alert_starts(
            scenario.timestamps[judged], held[judged], alerting.for_s, alerting.keep_firing_for_s
        )
        return [start for start, _ in intervals]

    return run


def _step(s: Scenario) -> int:
    return int(s.timestamps[1] - s.timestamps[0])


def _view(s: Scenario) -> FloatArray:
    return trailing_mean(s.values, max(1, HOUR // _step(s)))


DETECTORS: dict[str, Callable[[Scenario, Alerting], list[int]]] = {
    "graysignal": _graysignal,
    "static_slo": _baseline(lambda s: static_condition(_view(s), s.warn_view)),
    "static_p999": _baseline(lambda s: static_condition(s.values, s.warn)),
    "predict_linear": _baseline(lambda s: predict_linear_condition(s.values, _step(s), s.slo)),
    "ewma": _baseline(lambda s: ewma_condition(s.values, _step(s))),
}
"""Every detector compared, by key; each returns its alert start times on a scenario."""

LABELS: dict[str, str] = {
    "graysignal": "graysignal (default rule)",
    "static_slo": "static: avg_over_time(x[1h]) > 80% to SLO",
    "static_p999": "static: x > p99.9 of history",
    "predict_linear": "predict_linear(x[6h], 24h) > SLO",
    "ewma": "EWMA 3-sigma band (half-life 1d)",
}


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class Summary:
    """One detector over all scenarios (times in seconds)."""

    detector: str
    injected: int
    detected: int
    recall: float
    median_lead_s: float | None
    mean_earliness: float
    false_alarms: int
    exposure_days: float
    false_alarms_per_100_days: float
    recall_by_kind: dict[str, float] = field(default_factory=dict)
    by_base: dict[str, dict[str, float]] = field(default_factory=dict)
    cpu_seconds: float = 0.0


def first_warning(timeline: Timeline, starts: Sequence[int]) -> int | None:
    """The first alert that started in ``[onset, incident)``, or ``None``."""
    if timeline.onset is None or timeline.incident is None:
        return None
    inside = [s for s in starts if timeline.onset <= s < timeline.incident]
    return min(inside) if inside else None


def false_alarms(timeline: Timeline, starts: Sequence[int]) -> tuple[int, float]:
    """Alerts counted as false, and the days of exposure they were counted over."""
    if timeline.onset is None:
        count = sum(1 for s in starts if timeline.eval_start < s <= timeline.end)
        return count, (timeline.end - timeline.eval_start) / DAY
    count = sum(1 for s in starts if timeline.eval_start < s < timeline.onset)
    return count, (timeline.onset - timeline.eval_start) / DAY


def summarize(
    detector: str,
    timelines: Sequence[Timeline],
    starts: Sequence[Sequence[int]],
    bases: Sequence[str] | None = None,
) -> Summary:
    """Recall, median lead, mean earliness and false-alarm rate (see module docstring).

    ``bases`` (the base series of each timeline) adds a per-base breakdown, which is
    what tells a detector's blind spots apart from a hard scenario.
    """
    leads: list[float] = []
    earliness: list[float] = []
    by_kind: dict[str, list[bool]] = {}
    by_base: dict[str, dict[str, float]] = {}
    alarms, exposure = 0, 0.0
    names = bases if bases is not None else [""] * len(timelines)
    for timeline, alerts, base in zip(timelines, starts, names, strict=True):
        count, days = false_alarms(timeline, alerts)
        alarms += count
        exposure += days
        entry = by_base.setdefault(
            base, {"injected": 0, "detected": 0, "false_alarms": 0, "exposure_days": 0.0}
        )
        entry["false_alarms"] += count
        entry["exposure_days"] += days
        if not timeline.injected:
            continue
        assert timeline.onset is not None and timeline.incident is not None
        first = first_warning(timeline, alerts)
        by_kind.setdefault(timeline.kind, []).append(first is not None)
        entry["injected"] += 1
        entry["detected"] += first is not None
        if first is None:
            earliness.append(0.0)
            continue
        leads.append(float(timeline.incident - first))
        earliness.append((timeline.incident - first) / (timeline.incident - timeline.onset))
    injected = len(earliness)
    return Summary(
        detector=detector,
        injected=injected,
        detected=len(leads),
        recall=len(leads) / injected if injected else math.nan,
        median_lead_s=float(np.median(leads)) if leads else None,
        mean_earliness=float(np.mean(earliness)) if earliness else math.nan,
        false_alarms=alarms,
        exposure_days=exposure,
        false_alarms_per_100_days=100.0 * alarms / exposure if exposure > 0 else math.nan,
        recall_by_kind={k: sum(v) / len(v) for k, v in sorted(by_kind.items())},
        by_base=dict(sorted(by_base.items())) if bases is not None else {},
    )


# --------------------------------------------------------------------------- run


def _run_scenario(
    args: tuple[Scenario, Sequence[str], Alerting],
) -> tuple[int, dict[str, list[int]], dict[str, float]]:
    scenario, detectors, alerting = args
    found: dict[str, list[int]] = {}
    cpu: dict[str, float] = {}
    for name in detectors:
        started = time.process_time()
        found[name] = DETECTORS[name](scenario, alerting)
        cpu[name] = time.process_time() - started
    return scenario.index, found, cpu


@dataclass(frozen=True)
class LeadTimeResult:
    scenarios: list[Scenario]
    summaries: list[Summary]
    alerts: dict[str, dict[int, list[int]]]


def run(
    scenarios: Sequence[Scenario],
    detectors: Sequence[str] = tuple(DETECTORS),
    alerting: Alerting | None = None,
    processes: int | None = None,
) -> LeadTimeResult:
    """Every detector on every scenario (scenarios spread over processes)."""
    alerting = alerting or Alerting()
    processes = processes or os.cpu_count() or 1
    tasks = [(s, tuple(detectors), alerting) for s in scenarios]
    if processes > 1:
        with get_context("fork").Pool(processes) as pool:
            outputs = list(pool.imap_unordered(_run_scenario, tasks))
    else:
        outputs = [_run_scenario(t) for t in tasks]
    alerts: dict[str, dict[int, list[int]]] = {d: {} for d in detectors}
    cpu = dict.fromkeys(detectors, 0.0)
    for index, found, seconds in outputs:
        for name in detectors:
            alerts[name][index] = found[name]
            cpu[name] += seconds[name]
    timelines = [s.timeline for s in scenarios]
    summaries = []
    for name in detectors:
        summary = summarize(
            name, timelines, [alerts[name][s.index] for s in scenarios], [s.base for s in scenarios]
        )
        summaries.append(replace(summary, cpu_seconds=cpu[name]))
    return LeadTimeResult(scenarios=list(scenarios), summaries=summaries, alerts=alerts)
