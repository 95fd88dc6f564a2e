"""``evaluate(rule, series, now)``: the one definition of detection that everything uses.

It builds a fresh :class:`~detector.monitor.RuleMonitor`, feeds it the bounded history
before ``now`` (:func:`required_history`) and asks which kinds speak at ``now``. The daemon
keeps its monitors between cycles and feeds only new samples; replay feeds a whole
recorded series once; both reach the very state this function builds, because the state
at ``t`` depends only on the samples of that bounded span (DESIGN.md, invariant 6).
"""

from __future__ import annotations

from detector.batch import batch_trace
from detector.decide import decide_at
from detector.finding import Finding
from detector.monitor import RuleMonitor
from detector.rule import Rule
from detector.series import Series


def required_history(rule: Rule, step: int) -> int:
    """Seconds of data before ``now`` that one evaluation reads."""
    return RuleMonitor(rule, step).history_seconds()


def evaluate(rule: Rule, series: Series, now: int) -> list[Finding]:
    """Findings for ``rule`` on ``series`` as seen at ``now``; reads only samples ``<= now``."""
    monitor = RuleMonitor(rule, series.step)
    visible = series.between(now - monitor.history_seconds(), now)
    if len(visible) == 0:
        return []
    rows = monitor.rows_for([visible.fingerprint], [visible.labels])
    trace = batch_trace(
        monitor, rows, visible.timestamps, visible.values[None, :], score_from=visible.end
    )
    return decide_at(monitor, trace, 0, now)


__all__ = ["evaluate", "required_history"]
