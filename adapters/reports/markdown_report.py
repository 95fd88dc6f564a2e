"""The replay as a Markdown section to paste into a post-mortem.

It answers the post-mortem question directly in its title and first paragraph, then
gives the evidence (a timeline table), the silence (rules that looked and saw nothing,
which matters as much as what fired), and how to read it, so a reader who never ran
graysignal does not mistake the estimated onset for an alert time.

Output is GitHub-flavoured Markdown: identifiers are code spans and table cells have
``|`` escaped, since label values and explanations may contain pipes (``route="/a|/b"``).
"""

from __future__ import annotations

import re

from adapters.reports import (
    fired_signals,
    firing_note,
    firings_of,
    lead_phrase,
    series_name,
    silence_text,
    summary_text,
)
from detector.explain import when
from detector.replay import ReplayResult, RuleOutcome

TITLE = "## What did the system know before users did?"

__all__ = ["TITLE", "render_markdown"]

_COLUMNS = ("First firing", "Lead time", "Rule", "Series", "Kind", "Onset", "Explanation")

_HOW_TO_READ = (
    "Replay is causal: the rules were re-run on a simulated clock over the window, and "
    "each evaluation only saw data up to its own time, exactly as the daemon would have. "
    "So a row here is an alert that could really have been sent then, not hindsight. "
    "*First firing* is when the alert would have fired (after its `for` duration); "
    "*onset* is the detector's estimate of when the change itself started, earlier than "
    "the firing by construction, because a change has to persist before it can be "
    "confirmed. *Lead time* is the incident time minus the first firing."
)


def code(text: str) -> str:
    """A code span that survives backticks in the text (CommonMark's fence rule)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def cell(text: str) -> str:
    """A table cell: one line, pipes escaped (also inside code spans, as GFM requires)."""
    return " ".join(text.split()).replace("|", "\\|")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cell(c) for c in cells) + " |"


def _timeline(result: ReplayResult) -> list[str]:
    signals = fired_signals(result)
    if not signals:
        return ["No rule fired in the replay window."]
    lines = [_row(list(_COLUMNS)), "| " + " | ".join("---" for _ in _COLUMNS) + " |"]
    for signal in signals:
        first = firings_of(signal)[0]
        explanation = first.first.explanation
        note = firing_note(signal, result)
        if note:
            explanation = f"{explanation} *({note[0].upper()}{note[1:]}.)*"
        lines.append(
            _row(
                [
                    when(first.start),
                    lead_phrase(result.incident - first.start),
                    code(signal.rule),
                    code(series_name(signal)),
                    signal.kind.value,
                    when(first.onset),
                    explanation,
                ]
            )
        )
    return lines


def _silent_line(outcome: RuleOutcome) -> str:
    return f"- {code(outcome.rule)} (group {code(outcome.group)}): {silence_text(outcome)}."


def render_markdown(result: ReplayResult) -> str:
    """The post-mortem section: summary, timeline, silence, how to read it.

    Starts with a level-2 heading so it can be appended to an existing document; ends
    with a newline.
    """
    silent = result.silent
    lines = [TITLE, "", summary_text(result, code=code), "", "### Timeline", ""]
    lines += _timeline(result)
    lines += ["", "### Silence", ""]
    if silent:
        lines.append("Rules that were replayed over the window and never fired:")
        lines.append("")
        lines += [_silent_line(o) for o in silent]
    else:
        lines.append("Every replayed rule fired at least once.")
    lines += ["", "### How to read this", "", _HOW_TO_READ, ""]
    return "\n".join(lines)
