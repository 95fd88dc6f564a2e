"""What every backtest report says, worded once.

The terminal, Markdown and JSON renderings of a backtest must never disagree about a
verdict or a lead time, so the sentences and the small facts behind them live here,
as the replay reports share :mod:`adapters.reports`. ``code`` formats identifiers and
``plain`` everything else, so Markdown can put names in code spans from the same text.
"""

from __future__ import annotations

from collections.abc import Callable

from adapters.backtest.baseline import BaselineChange
from adapters.backtest.engine import Backtest, IncidentResult, QuietPeriods, TrendCell, Verdict
from adapters.reports import human_duration, lead_phrase, series_name
from detector.explain import when

__all__ = [
    "VERDICT_LABELS",
    "baseline_text",
    "coverage_cell",
    "incident_text",
    "library_text",
    "percent",
    "quiet_text",
    "verdict_detail",
]

VERDICT_LABELS = {
    Verdict.EARLY: "caught early",
    Verdict.LATE: "only after impact",
    Verdict.MISSED: "missed",
    Verdict.ERROR: "unknown (rules failed)",
    Verdict.UNWATCHED: "unwatched",
}


def _identity(text: str) -> str:
    return text


def _plural(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{fraction * 100:.0f}%"


def verdict_detail(result: IncidentResult) -> str:
    """The verdict with its one number: how early, how late, or how many rules looked."""
    verdict = result.verdict
    if verdict is Verdict.EARLY and result.earliest_lead is not None:
        return f"caught early, {lead_phrase(result.earliest_lead)} impact"
    if verdict is Verdict.LATE:
        return f"caught only after impact, {lead_phrase(result.late[0].lead)} it started"
    if verdict is Verdict.MISSED:
        rules = len(result.silent)
        watched = _plural(rules, "rule")
        return f"missed: {watched} watched the affected services and never fired"
    if verdict is Verdict.ERROR:
        return f"unknown: {_plural(len(result.errors), 'rule')} could not be replayed"
    return "unwatched: no rule has a series of the affected services"


def incident_text(
    result: IncidentResult,
    lookback: int,
    after: int,
    code: Callable[[str], str] = _identity,
    plain: Callable[[str], str] = _identity,
) -> str:
    """The answer for one incident, in two or three sentences."""
    incident = result.incident
    detected = incident.detected
    parts = [
        plain(
            f"Users were affected from {when(incident.impact.start)} to "
            f"{when(incident.impact.end)}; humans found out "
            f"{_found_out(incident.time_to_detect)} ({detected.how.value.replace('_', ' ')}). "
            f"Replaying today's rules over the {human_duration(lookback)} before impact and "
            f"{human_duration(after)} after, on the affected services "
        ),
        ", ".join(code(str(s)) for s in incident.services),
        plain(": "),
    ]
    earliest = result.earliest
    if earliest is not None:
        signal = earliest.signal
        more = len(result.early) - 1
        parts += [
            plain("the earliest warning was "),
            code(signal.rule),
            plain(" on "),
            code(series_name(signal)),
            plain(
                f" ({signal.kind.value}) at {when(earliest.firing.start)}, "
                f"{lead_phrase(earliest.lead)} impact"
            ),
        ]
        ahead = result.ahead_of_humans
        if ahead is not None:
            parts.append(plain(f" and {lead_phrase(ahead)} humans found out"))
        parts.append(
            plain(f"; {_plural(more, 'more signal')} fired before impact." if more else ".")
        )
    elif result.late:
        first = result.late[0]
        parts += [
            plain("nothing fired before impact; the first firing was "),
            code(first.signal.rule),
            plain(f" at {when(first.firing.start)}, {lead_phrase(first.lead)} impact started."),
        ]
    elif result.silent:
        names = [code(o.rule) for o in result.silent]
        parts += [
            plain("nothing fired. "),
            plain(f"{_plural(len(names), 'rule')} watched them and stayed silent: "),
            ", ".join(names),
            plain("."),
        ]
    elif result.errors:
        parts.append(
            plain(
                f"nothing fired, and {_plural(len(result.errors), 'rule')} could not be "
                "replayed, so whether they would have caught it is unknown."
            )
        )
    else:
        parts.append(plain("no rule has a series of these services: nothing could have fired."))
    return "".join(parts)


def _found_out(seconds: int) -> str:
    if seconds > 0:
        return f"{human_duration(seconds)} after it started"
    if seconds < 0:
        return f"{human_duration(-seconds)} before it started"
    return "as it started"


def quiet_text(quiet: QuietPeriods) -> str:
    """False alarms on quiet weeks, with what they were measured on."""
    if quiet.requested == 0:
        return "False alarms were not measured (--quiet-weeks 0)."
    if not quiet.weeks:
        return (
            f"False alarms could not be measured: none of {quiet.candidates} candidate quiet "
            "weeks had data for any rule."
        )
    weeks = len(quiet.weeks)
    rate = quiet.per_week or 0.0
    text = (
        f"{rate:.2g} false alarms per week: {_plural(quiet.firings, 'firing')} over "
        f"{_plural(weeks, 'quiet week')} with data"
    )
    if weeks < quiet.requested:
        text += f" (asked for {quiet.requested}; only {weeks} of the candidates had data)"
    noisy = quiet.by_rule()
    if noisy:
        text += "; by rule: " + ", ".join(f"{rule} {count}" for rule, count in noisy)
    return text + "."


def library_text(backtest: Backtest) -> str:
    """The library in one paragraph: coverage, lead time, false alarms."""
    n = len(backtest.incidents)
    early = backtest.count(Verdict.EARLY)
    text = (
        f"{early} of {_plural(n, 'incident')} ({percent(backtest.early_share)}) had an early signal"
    )
    median = backtest.median_lead
    if median is not None:
        text += f"; median lead time {human_duration(median)} before impact"
    ahead = backtest.median_ahead_of_humans
    if ahead is not None:
        text += f" and {lead_phrase(ahead)} humans found out"
    others = [
        f"{backtest.count(v)} {VERDICT_LABELS[v]}"
        for v in (Verdict.LATE, Verdict.MISSED, Verdict.ERROR, Verdict.UNWATCHED)
        if backtest.count(v)
    ]
    if others:
        text += ". Of the rest: " + ", ".join(others)
    return text + ". " + quiet_text(backtest.quiet)


def baseline_text(changes: list[BaselineChange], path: str) -> str:
    """One line on the comparison with the baseline."""
    failing = [c for c in changes if c.fails]
    if failing:
        return (
            f"Baseline {path}: {_plural(len(failing), 'regression')}: "
            + "; ".join(f"{c.incident} {c.text}" for c in failing)
            + "."
        )
    if not changes:
        return f"Baseline {path}: no changes."
    return (
        f"Baseline {path}: no regressions; "
        + "; ".join(f"{c.incident} {c.text}" for c in changes)
        + "."
    )


def coverage_cell(cell: TrendCell | None) -> str:
    """``early/incidents`` for a category-by-quarter table; empty when none."""
    if cell is None or cell.incidents == 0:
        return ""
    return f"{cell.early}/{cell.incidents}"
