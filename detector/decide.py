"""From evidence to findings: which kinds speak for a series at an evaluation time.

An evaluation at ``now`` judges each series by the evidence of its latest sample at or
before ``now``; a series whose latest sample is older than :func:`stale_after` says
nothing (an outage is not a finding, and not a recovery either: the alert book decides).
The same vectorised test (each kind's ``passes``) serves one evaluation and a whole
replay, so both decide alike; :class:`~detector.finding.Finding` objects are built only
where a kind passes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from detector.finding import Finding, Kind
from detector.kinds import DETECTORS
from detector.kinds.base import BoolArray, Evidence1, EvidenceArrays, Moment
from detector.monitor import RuleMonitor, Trace
from detector.seasonal import NAMES
from detector.series import IntArray

STALE_STEPS = 3


def stale_after(monitor: RuleMonitor) -> int:
    """Seconds after its last sample during which a series' evidence still speaks."""
    return max(STALE_STEPS * monitor.step, monitor.grid.block)


def last_valid_columns(trace: Trace) -> IntArray:
    """For each row and column, the latest column at or before it with a sample (-1: none)."""
    columns = np.where(trace.valid, np.arange(trace.timestamps.size)[None, :], -1)
    return np.asarray(np.maximum.accumulate(columns, axis=1), dtype=np.int64)


def passing(
    monitor: RuleMonitor, trace: Trace, local: IntArray, columns: IntArray
) -> dict[Kind, BoolArray]:
    """For each (row ``local[i]``, column ``columns[i]``) pair, which kinds pass."""
    out: dict[Kind, BoolArray] = {}
    for kind in monitor.rule.detect:
        detector = DETECTORS[kind]
        evidence = trace.evidence.get(detector.channel)
        nothing = np.zeros(np.broadcast(local, columns).shape)
        arrays = EvidenceArrays(
            z=nothing if evidence is None else evidence.z[local, columns],
            after_blocks=nothing if evidence is None else evidence.after_blocks[local, columns],
            creep=nothing if evidence is None else evidence.creep[local, columns],
            exhaustion={k: v[local, columns] for k, v in trace.exhaustion.items()},
            pattern={k: v[local, columns] for k, v in trace.pattern.items()},
        )
        out[kind] = detector.passes(monitor.rule, arrays)
    return out


def moment(
    monitor: RuleMonitor,
    trace: Trace,
    local: int,
    column: int,
    now: int,
    *,
    channels: frozenset[str] | None = None,
) -> Moment:
    """Everything the kinds need about one row at one column (``channels``: only these)."""
    evidence: dict[str, Evidence1] = {}
    for name, ev in trace.evidence.items():
        if channels is not None and name not in channels:
            continue
        evidence[name] = Evidence1(
            z=float(ev.z[local, column]),
            onset=int(ev.onset[local, column]),
            before=float(ev.before[local, column]),
            after=float(ev.after[local, column]),
            after_blocks=float(ev.after_blocks[local, column]),
            baseline_blocks=float(ev.baseline_blocks[local, column]),
            slope=float(ev.slope[local, column]),
            creep=bool(ev.creep[local, column]),
            creep_onset=int(ev.creep_onset[local, column]),
            line_end=float(ev.line_end[local, column]),
            seasonality=NAMES[int(trace.seasonality[name][local, column])],
        )
    exhaustion: Mapping[str, float] = {}
    if Kind.EXHAUSTION in monitor.rule.detect:
        exhaustion = {k: float(v[local, column]) for k, v in trace.exhaustion.items()}
    pattern: Mapping[str, float] = {}
    if monitor.watch_patterns:
        pattern = {k: float(v[local, column]) for k, v in trace.pattern.items()}
    return Moment(
        rule=monitor.rule,
        labels=monitor.labels[int(trace.rows[local])],
        block=monitor.grid.block,
        step=monitor.step,
        now=now,
        evidence=evidence,
        exhaustion=exhaustion,
        pattern=pattern,
    )


def findings_at(
    monitor: RuleMonitor, trace: Trace, *, local: int, column: int, now: int, kinds: list[Kind]
) -> list[Finding]:
    """The findings of ``kinds`` (which passed) for one row at one column."""
    if not kinds:
        return []
    channels = frozenset(DETECTORS[kind].channel for kind in kinds)
    if Kind.EXHAUSTION in kinds:
        channels |= {"level"}
    at = moment(monitor, trace, local, column, now, channels=channels)
    return [DETECTORS[kind].finding(at) for kind in kinds]


def decide_at(monitor: RuleMonitor, trace: Trace, local: int, now: int) -> list[Finding]:
    """Findings for one row of ``trace`` as seen at ``now``."""
    columns = last_valid_columns(trace)[local]
    upto = int(np.searchsorted(trace.timestamps, now, side="right")) - 1
    if upto < 0 or columns[upto] < 0:
        return []
    column = int(columns[upto])
    if now - int(trace.timestamps[column]) > stale_after(monitor):
        return []
    verdicts = passing(monitor, trace, np.array([local]), np.array([column]))
    kinds = [kind for kind, ok in verdicts.items() if bool(ok[0])]
    return findings_at(monitor, trace, local=local, column=column, now=now, kinds=kinds)


def decide_latest(monitor: RuleMonitor, now: int) -> list[Finding]:
    """Findings of every series a monitor follows, as seen at ``now``: each judged by the
    evidence of its latest sample (kept by :meth:`RuleMonitor.ingest`), unless that
    sample is stale. What a daemon cycle asks after feeding the new samples."""
    latest = monitor.latest
    count = latest.valid.shape[0]
    if count == 0:
        return []
    last = monitor.last_time[:count]
    fresh = latest.valid[:, 0] & (last <= now) & (now - last <= stale_after(monitor))
    rows = np.flatnonzero(fresh)
    if rows.size == 0:
        return []
    verdicts = passing(monitor, latest, rows, np.zeros(rows.size, dtype=np.int64))
    found: list[Finding] = []
    for position, row in enumerate(rows):
        kinds = [kind for kind, ok in verdicts.items() if ok[position]]
        found.extend(findings_at(monitor, latest, local=int(row), column=0, now=now, kinds=kinds))
    return found


def findings_by_time(
    monitor: RuleMonitor, trace: Trace, times: IntArray
) -> dict[int, list[Finding]]:
    """Findings of every row of ``trace`` at each evaluation time (keyed by the index into
    ``times``): each row judged by its latest sample at or before the time, unless stale.
    Replay's core; the daemon uses it on its warm-up to restore pending alerts."""
    by_time: dict[int, list[Finding]] = {}
    grid = trace.timestamps
    upto = np.searchsorted(grid, times, side="right") - 1
    latest = last_valid_columns(trace)
    for local in range(trace.rows.size):
        columns = np.where(upto >= 0, latest[local][np.maximum(upto, 0)], -1)
        seen = columns >= 0
        age = times - grid[np.maximum(columns, 0)]
        fresh = np.flatnonzero(seen & (age <= stale_after(monitor)))
        if fresh.size == 0:
            continue
        verdicts = passing(monitor, trace, np.full(fresh.size, local), columns[fresh])
        any_kind = np.zeros(fresh.size, dtype=bool)
        for ok in verdicts.values():
            any_kind |= ok
        for position in np.flatnonzero(any_kind):
            kinds = [kind for kind, ok in verdicts.items() if ok[position]]
            index = int(fresh[position])
            by_time.setdefault(index, []).extend(
                findings_at(
                    monitor,
                    trace,
                    local=local,
                    column=int(columns[index]),
                    now=int(times[index]),
                    kinds=kinds,
                )
            )
    return by_time
