"""Renderings of a replay: JSON, Markdown, HTML and the terminal.

Each format lives in its own module (``json_report``, ``markdown_report``,
``html_report``, ``terminal_report``) so that importing one does not pull in the others'
dependencies (matplotlib is only needed for HTML). What they must agree on lives here:
which signals are shown and in what order, how a lead time is said, and the summary
sentence. Keeping it in one place means the post-mortem in Markdown, the HTML page and
the terminal never disagree about "the earliest warning".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from detector.durations import format_duration
from detector.explain import describe_series, when
from detector.replay import Firing, Hold, Reaction, ReactionKind, ReplayResult, RuleOutcome, Signal
from detector.suppressions import Action

__all__ = [
    "Summary",
    "feedback_text",
    "fired_signals",
    "firing_note",
    "firings_of",
    "hold_text",
    "human_duration",
    "later_text",
    "lead_phrase",
    "reaction_of",
    "reaction_text",
    "series_name",
    "signal_explanation",
    "silence_text",
    "summarise",
    "summary_text",
    "told_text",
]

_UNIT_BOUNDARY = re.compile(r"(?<=[a-z])(?=\d)")


def human_duration(seconds: float) -> str:
    """``format_duration`` with a space between units (``3d 4h``): easier to read in prose."""
    return _UNIT_BOUNDARY.sub(" ", format_duration(seconds))


def lead_phrase(seconds: int) -> str:
    """Say how a firing relates to the incident: ``3d 4h before``, ``at the incident``.

    A replay window may extend past the incident, so a firing can come after it; saying
    so plainly is better than printing a negative duration.
    """
    if seconds > 0:
        return f"{human_duration(seconds)} before"
    if seconds < 0:
        return f"{human_duration(-seconds)} after"
    return "at the incident"


def series_name(signal: Signal) -> str:
    """The series as Prometheus users write it, ``metric{label="value"}``."""
    return describe_series(signal.labels)


def signal_explanation(signal: Signal, explanation: str) -> str:
    """The explanation without the series name it starts with, for layouts that show
    the series beside it: a label set printed twice in one row is noise."""
    name = series_name(signal)
    if explanation.startswith(name + " "):
        return explanation[len(name) + 1 :]
    return explanation


def firings_of(signal: Signal) -> list[Firing]:
    """A signal's firings in start order.

    Replay appends them chronologically already; sorting again costs nothing and keeps
    the reports right for hand-built or merged results.
    """
    return sorted(signal.firings, key=lambda f: (f.start, f.onset))


def fired_signals(result: ReplayResult) -> list[Signal]:
    """Signals with at least one firing, ordered by first firing, then rule.

    Ties beyond the rule are broken by kind and series so the order is deterministic
    (same replay, same report).
    """
    fired = [s for s in result.signals if s.firings]
    return sorted(
        fired,
        key=lambda s: (
            firings_of(s)[0].start,
            s.rule,
            s.kind.value,
            series_name(s),
            s.series_fingerprint,
        ),
    )


def firing_note(signal: Signal, result: ReplayResult) -> str:
    """What a one-row-per-signal table would otherwise hide: repeats and open alerts.

    Empty when the signal fired once and resolved inside the window.
    """
    firings = firings_of(signal)
    parts = []
    if len(firings) > 1:
        parts.append(f"fired {len(firings)} times")
    if firings and firings[-1].end is None:
        parts.append("still firing at the end of the window")
    if firings:
        told = feedback_text(result, signal, firings[0])
        if told:
            parts.append(told)
    return "; ".join(parts)


NEVER_SENT = "never_sent"
NO_REACTION = "no_reaction"
SUPPRESSED = "suppressed"


def reaction_of(
    result: ReplayResult, signal: Signal, firing: Firing
) -> tuple[str, Reaction | Hold | None] | None:
    """The retrospective status of a firing and the reaction (or suppression) behind it.

    ``suppressed`` (never sent because the daemon applied an ack or an expectation: the
    earliest one is given), ``never_sent``, ``acknowledged``, ``silenced`` (the earliest
    reaction wins) or ``no_reaction``; ``None`` when no ledger was read, since then
    nobody knows.
    """
    notices = result.told(signal, firing)
    if notices is None:
        return None
    if not notices:
        holds = result.held(signal, firing)
        return (SUPPRESSED, holds[0]) if holds else (NEVER_SENT, None)
    reactions = result.reacted(signal, firing)
    if not reactions:
        return NO_REACTION, None
    return reactions[0].kind.value, reactions[0]


def _day(at: int) -> str:
    return " ".join(when(at).split(" ")[0:2])


def _percent(fraction: float) -> str:
    return f"{fraction * 100:+.0f}%"


def hold_text(hold: Hold) -> str:
    """ "not sent: acknowledged by X on DATE (reason)" or "not sent: expected (+20% from
    DATE, reason)": why the daemon deliberately did not send an alert."""
    if hold.action == Action.ACK.value:
        by = f" by {hold.by}" if hold.by else ""
        why = f" ({hold.reason})" if hold.reason else ""
        return f"not sent: acknowledged{by} on {_day(hold.since)}{why}"
    change = "" if hold.change is None else f"{_percent(hold.change)} "
    why = f", {hold.reason}" if hold.reason else ""
    return f"not sent: expected ({change}from {_day(hold.since)}{why})"


def reaction_text(result: ReplayResult, signal: Signal, firing: Firing) -> str | None:
    """ "sent and acknowledged by X on DATE (reason)", "sent and silenced in Alertmanager
    by X (comment)", "sent, no reaction", "not sent: acknowledged by X on DATE
    (reason)", "not sent: expected (+20% from DATE, reason)" or "never sent"; None
    without a ledger."""
    status = reaction_of(result, signal, firing)
    if status is None:
        return None
    name, reaction = status
    if reaction is None:
        return "never sent" if name == NEVER_SENT else "sent, no reaction"
    if isinstance(reaction, Hold):
        return hold_text(reaction)
    by = reaction.by or "someone"
    why = f" ({reaction.reason})" if reaction.reason else ""
    if reaction.kind is ReactionKind.ACKNOWLEDGED:
        return f"sent and acknowledged by {by} on {_day(reaction.at)}{why}"
    return f"sent and silenced in Alertmanager by {by}{why}"


def feedback_text(result: ReplayResult, signal: Signal, firing: Firing) -> str | None:
    """Who was told and how they reacted, in one phrase; None without a ledger.

    A firing the daemon held back on purpose says only why ("not sent: ..."): it was
    neither missed nor ignored.
    """
    told = told_text(result, signal, firing)
    reaction = reaction_text(result, signal, firing)
    if told is None or reaction is None:
        return told
    if told == reaction:
        return told
    return f"never sent; {told}" if reaction == "never sent" else f"{told}; {reaction}"


def told_text(result: ReplayResult, signal: Signal, firing: Firing) -> str | None:
    """ "we were told (by whom, when)", "we could have known", or why the daemon held
    it back ("not sent: ..."); None without a ledger."""
    notices = result.told(signal, firing)
    if notices is None:
        return None
    if not notices:
        holds = result.held(signal, firing)
        if holds:
            return hold_text(holds[0])
        return "we could have known: the daemon never delivered it"
    first: dict[str, int] = {}
    for notice in notices:
        first.setdefault(notice.notifier, notice.at)
    who = ", ".join(f"{name} at {when(at)}" for name, at in sorted(first.items()))
    return f"we were told: {who}"


@dataclass(frozen=True)
class Summary:
    """The facts every format's summary states, computed once."""

    incident: int
    start: int
    end: int
    rules_total: int
    rules_fired_before: int
    rules_fired_after_only: int
    earliest: tuple[Signal, Firing] | None
    rules_fired_at: int = 0
    """Rules whose first firing is at the incident itself (neither before nor after)."""

    @property
    def earliest_lead(self) -> int | None:
        return None if self.earliest is None else self.incident - self.earliest[1].start


def summarise(result: ReplayResult) -> Summary:
    """Count rules that fired before (and only after) the incident; find the earliest.

    Rules are identified by ``(group, rule)``. "Before" means the firing started strictly
    before the incident: a warning at the incident time told nobody anything early. A
    rule whose first firing is at the incident is counted as such, not as "after": the
    table says "at the incident" for it, and the sentence must agree.
    """
    signals = fired_signals(result)
    rules = {(o.group, o.rule) for o in result.outcomes}
    rules |= {(s.group, s.rule) for s in signals}
    before: set[tuple[str, str]] = set()
    at_incident: set[tuple[str, str]] = set()
    fired: set[tuple[str, str]] = set()
    earliest: tuple[Signal, Firing] | None = None
    for signal in signals:
        key = (signal.group, signal.rule)
        fired.add(key)
        first = firings_of(signal)[0]
        if first.start < result.incident:
            before.add(key)
        elif first.start == result.incident:
            at_incident.add(key)
        if earliest is None:  # signals are already in first-firing order
            earliest = (signal, first)
    at_incident -= before
    return Summary(
        incident=result.incident,
        start=result.start,
        end=result.end,
        rules_total=len(rules),
        rules_fired_before=len(before),
        rules_fired_after_only=len(fired - before - at_incident),
        earliest=earliest,
        rules_fired_at=len(at_incident),
    )


def later_text(s: Summary) -> str:
    """The rules that fired, but not before the incident, in the words of the table's
    lead times: ``1 more fired at the incident and 2 only after it`` (or ``""``)."""
    more = "more " if s.rules_fired_before else ""
    at, after = s.rules_fired_at, s.rules_fired_after_only
    if at and after:
        return f"{at} {more}fired at the incident and {after} only after it"
    if at:
        return f"{at} {more}fired at the incident"
    if after:
        return f"{after} {more}fired only after it"
    return ""


def _identity(text: str) -> str:
    return text


def _rules(n: int) -> str:
    return f"{n} rule" if n == 1 else f"{n} rules"


def summary_text(
    result: ReplayResult,
    code: Callable[[str], str] = _identity,
    plain: Callable[[str], str] = _identity,
) -> str:
    """The one-paragraph answer to "what did the system know before users did?".

    ``code`` formats identifiers (rule and series names), ``plain`` everything else, so
    Markdown can use code spans and HTML can escape, from the same wording.
    """
    s = summarise(result)
    parts = [
        plain(
            f"The incident was at {when(s.incident)}. Replay re-ran {_rules(s.rules_total)} "
            f"over {when(s.start)} to {when(s.end)} ({human_duration(s.end - s.start)}), "
            "evaluating each exactly as the daemon would have. "
        )
    ]
    if s.rules_fired_before == 0:
        parts.append(plain(f"None of the {_rules(s.rules_total)} fired before the incident"))
    else:
        verb = "rule" if s.rules_total == 1 else "rules"
        parts.append(
            plain(f"{s.rules_fired_before} of {s.rules_total} {verb} fired before the incident")
        )
    later = later_text(s)
    if later:
        parts.append(plain(f"; {later}"))
    parts.append(plain(". "))
    if s.earliest is not None and s.earliest_lead is not None:
        signal, firing = s.earliest
        adjective = "earliest warning" if s.earliest_lead > 0 else "first firing"
        parts += [
            plain(f"The {adjective} was "),
            code(signal.rule),
            plain(" on "),
            code(series_name(signal)),
            plain(
                f" ({signal.kind.value}) at {when(firing.start)}, "
                f"{lead_phrase(s.earliest_lead)}; the change itself began around "
                f"{when(firing.onset)}."
            ),
        ]
    return "".join(parts).rstrip()


def silence_text(outcome: RuleOutcome) -> str:
    """Why a rule was silent, after its name: an error, or what it looked at (and notes)."""
    if outcome.error:
        return "could not be replayed: " + " ".join(outcome.error.split())
    kinds = ", ".join(kind.value for kind in outcome.kinds) or "no detectors"
    series = "1 series" if outcome.series_count == 1 else f"{outcome.series_count} series"
    text = f"looked for {kinds} on {series} over {outcome.evaluations} evaluations, never fired"
    if outcome.series_count == 0:
        text = "the source returned no series in the window"
    if outcome.notes:
        text += " (" + "; ".join(outcome.notes) + ")"
    return text
