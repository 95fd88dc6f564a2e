"""The replay on a terminal: the answer at a glance, right after ``graysignal replay``.

Short on purpose (a title line, one table row per signal, the silent rules); the JSON,
Markdown and HTML reports carry every firing. All user-supplied text (rule names,
label values, explanations, errors) is rendered as rich ``Text``, never as markup, so
a label value like ``[prod]`` is printed as written instead of being taken for a style.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from adapters.reports import (
    fired_signals,
    firing_note,
    firings_of,
    human_duration,
    lead_phrase,
    series_name,
    silence_text,
    summarise,
)
from detector.explain import when
from detector.replay import ReplayResult, RuleOutcome

__all__ = ["WIDE", "print_summary"]


def _short_time(ts: int) -> str:
    """Times without weekday or zone (the title says UTC): saves table width."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _title(result: ReplayResult) -> Text:
    return Text.assemble(
        ("graysignal replay", "bold"),
        ": incident at ",
        (when(result.incident), "bold red"),
        f"; window {_short_time(result.start)} → {_short_time(result.end)} UTC "
        f"({human_duration(result.end - result.start)})",
    )


def _headline(result: ReplayResult) -> Text:
    s = summarise(result)
    if s.rules_fired_before == 0:
        text = Text(f"None of {s.rules_total} rules fired before the incident.", style="yellow")
    else:
        text = Text(f"{s.rules_fired_before} of {s.rules_total} rules fired before the incident")
        if s.earliest is not None and s.earliest_lead is not None and s.earliest_lead > 0:
            text.append("; earliest warning ")
            text.append(lead_phrase(s.earliest_lead), style="bold green")
            text.append(f" ({s.earliest[0].rule})")
        text.append(".")
    if s.rules_fired_after_only:
        text.append(f" {s.rules_fired_after_only} more fired only after it.")
    return text


WIDE = 110
"""Console width from which each field gets its own column; below it rule, series, kind
and explanation share one column, because six columns on an 80-column terminal leave
the explanation a few characters wide."""


def _table(result: ReplayResult, width: int) -> Table:
    # No vertical rules and a blank line between rows: wrapped explanations stay
    # readable; the text columns share whatever width the fixed ones leave.
    table = Table(box=box.SIMPLE_HEAD, leading=1, header_style="bold", expand=True, pad_edge=False)
    table.add_column("First firing", no_wrap=True)
    table.add_column("Lead time", no_wrap=True)
    wide = width >= WIDE
    if wide:
        table.add_column("Rule", no_wrap=True, style="cyan")
        table.add_column("Series", ratio=2, min_width=12, overflow="fold")
        table.add_column("Kind", no_wrap=True)
        table.add_column("Explanation", ratio=3, min_width=24, overflow="fold")
    else:
        table.add_column("Signal", ratio=1, overflow="fold")
    for signal in fired_signals(result):
        first = firings_of(signal)[0]
        lead = result.incident - first.start
        explanation = Text(first.first.explanation)
        note = firing_note(signal, result)
        if note:
            explanation.append(f" ({note})", style="dim")
        fixed = (
            _short_time(first.start),
            Text(lead_phrase(lead), style="green" if lead > 0 else "yellow"),
        )
        if wide:
            table.add_row(
                *fixed,
                Text(signal.rule),
                Text(series_name(signal)),
                signal.kind.value,
                explanation,
            )
        else:
            cell = Text(signal.rule, style="cyan")
            cell.append(f" ({signal.kind.value})\n")
            cell.append(series_name(signal), style="dim")
            cell.append("\n")
            cell.append_text(explanation)
            table.add_row(*fixed, cell)
    return table


def _silent_line(outcome: RuleOutcome) -> Text:
    line = Text("  • ")
    line.append(outcome.rule, style="cyan")
    line.append(f" (group {outcome.group}): ")
    line.append(silence_text(outcome), style="red" if outcome.error else "")
    return line


def print_summary(result: ReplayResult, console: Console) -> None:
    """Print the replay to ``console``: title, headline, firings table, silent rules.

    The caller owns the console (width, colour, recording), so tests and the CLI can
    render the same output. Below :data:`WIDE` columns the table folds rule, series,
    kind and explanation into one column.
    """
    console.print(_title(result))
    console.print(_headline(result))
    if fired_signals(result):
        console.print(_table(result, console.width))
    else:
        console.print(Text("No rule fired in the replay window.", style="yellow"))
    silent = result.silent
    if silent:
        console.print(Text("Silent (replayed, never fired):", style="bold"))
        for outcome in silent:
            console.print(_silent_line(outcome))
