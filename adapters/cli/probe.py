"""``graysignal check --probe``: run each rule's query once and say what came back.

A valid file can still point at a server that is down, a tenant without data or a query
that Prometheus rejects, and it is better to learn that before the daemon runs it. The
probe reads as much history as one evaluation does, so it can also say when the data
is younger than that: such a rule is not broken, but until it has that history its
window or its seasonal profile is partly empty and it stays quiet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adapters.cli.options import count_noun
from adapters.errors import InputError, SourceUnavailable
from adapters.sources.base import Source
from adapters.sources.http import rule_step
from detector.durations import format_duration
from detector.rule import Rule, RuleFile, Seasonality
from detector.series import Series

__all__ = ["ProbeResult", "needed_history", "probe_rules"]

FILE_SOURCES = ("file", "logfile")
ALL_TIME = (-(2**62), 2**62)


def needed_history(rule: Rule, step: int) -> int:
    """Seconds of data one evaluation of ``rule`` reads at ``step``.

    The figure is the engine's own (:func:`detector.evaluate.required_history`), imported
    here rather than at the top: the engine pulls in the statistics libraries, which a
    plain ``check`` never needs.
    """
    from detector.evaluate import required_history  # noqa: PLC0415

    return required_history(rule, step)


@dataclass(frozen=True)
class ProbeResult:
    """One rule's probe: how many series its query returned at which step, how much
    history the best-covered one has against what an evaluation reads, or why not."""

    path: Path
    rule: Rule
    series: int
    step: int | None
    error: str | None = None
    history: int | None = None
    needed: int | None = None
    how: str | None = None
    """``by: pattern`` rules: where the templates come from, and what became of the lines."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self) -> str:
        head = f"{self.path}: probe {self.rule.signal}: source {self.rule.source}"
        if self.error is not None:
            return f"{head}: error: {self.error}"
        step = format_duration(self.step) if self.step is not None else "-"
        text = f"{head}: {count_noun(self.series, 'series', 'series')} at step {step}"
        if self.how:
            text += f"; {self.how}"
        if self.series == 0:
            what = "the file" if self.rule.source in FILE_SOURCES else "the last window"
            text += f" (warning: the query matched nothing in {what})"
        elif self.short_of_history:
            text += f" (warning: {self.history_text()})"
        return text

    @property
    def short_of_history(self) -> bool:
        return self.history is not None and self.needed is not None and self.history < self.needed

    def history_text(self) -> str:
        """``only 2d of history; an evaluation reads 8d 12h (the 7d window and ...)``."""
        needs = f"the {format_duration(self.rule.window)} window"
        if self.rule.seasonality is not Seasonality.NONE:
            needs += f" and the context of its {self.rule.seasonality.value} seasonality"
        return (
            f"only {format_duration(self.history or 0)} of history; an evaluation reads "
            f"{format_duration(self.needed or 0)} ({needs}), so the rule cannot judge "
            "fully until it has that much"
        )


def probe_rules(
    loaded: Sequence[tuple[Path, RuleFile]], sources: Mapping[str, Source], *, now: int
) -> list[ProbeResult]:
    """Fetch each rule once: server rules over the history one evaluation at ``now``
    reads, at their step; file rules over the whole file (an export has no "now")."""
    results: list[ProbeResult] = []
    for path, rule_file in loaded:
        for group in rule_file.groups:
            for rule in group.rules:
                results.append(_probe(path, rule, sources, now))
    return results


def _probe(path: Path, rule: Rule, sources: Mapping[str, Source], now: int) -> ProbeResult:
    source = sources.get(rule.source)
    if source is None:
        return ProbeResult(path, rule, 0, None, f"unknown source '{rule.source}'")
    if rule.source in FILE_SOURCES:
        start, end = ALL_TIME
        expected_step = rule.step
        until = None  # an export ends where its data ends
    else:
        expected_step = rule_step(rule.step)
        start, end = now - needed_history(rule, expected_step), now
        until = now
    try:
        series = source.fetch(rule, start, end)
        how = _pattern_note(rule, source, now) if rule.by_pattern else None
    except (SourceUnavailable, InputError) as exc:
        return ProbeResult(path, rule, 0, expected_step, str(exc))
    if not series:
        return ProbeResult(path, rule, 0, expected_step, how=how)
    step = series[0].step
    return ProbeResult(
        path,
        rule,
        len(series),
        step,
        history=_longest_history(series, until),
        needed=needed_history(rule, step),
        how=how,
    )


def _pattern_note(rule: Rule, source: Source, now: int) -> str | None:
    """Which path a ``by: pattern`` rule uses and how its lines were accounted for."""
    pattern_path = getattr(source, "pattern_path", None)
    if callable(pattern_path):
        return f"templates from {pattern_path(rule, now)}"
    line_stats = getattr(source, "line_stats", None)
    stats = line_stats(rule) if callable(line_stats) else None
    if not stats:
        return None
    skipped = {k: v for k, v in sorted(stats.items()) if k != "parsed" and v}
    text = f"templates mined here from {stats.get('parsed', 0):,} lines"
    if skipped:
        text += " (" + ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in skipped.items()) + ")"
    return text


def _longest_history(series: Sequence[Series], until: int | None) -> int:
    """How far back the best-covered series reaches from ``until`` (a server's "now"; a
    file's last sample when ``None``), counting the step its first sample stands for."""
    spans = []
    for one in series:
        times = one.timestamps[np.isfinite(one.values)]
        if times.size:
            last = int(times[-1]) if until is None else until
            spans.append(last - int(times[0]) + one.step)
    return max(spans, default=0)
