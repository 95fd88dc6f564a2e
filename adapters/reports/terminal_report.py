"""The replay on a terminal: the answer at a glance, right after ``graysignal replay``.

Short on purpose (a title line, one table row per signal, the silent rules); the JSON,
Markdown and HTML reports carry every firing. All user-supplied text (rule names,
label values, explanations, errors) is rendered as rich ``Text``, never as markup, so
a label value like ``[prod]`` is printed as written instead of being taken for a style.

Each series is printed once (the explanation loses its leading label set where the
series stands beside it), and on a narrow terminal each firing is a short block rather
than a table row: a table leaves its text column so narrow there that label sets break
in the middle of a word.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from adapters.reports import (
    fired_signals,
    firing_note,
    firings_of,
    human_duration,
    later_text,
    lead_phrase,
    series_name,
    signal_explanation,
    silence_text,
    summarise,
)
from detector.explain import when
from detector.replay import ReplayResult, RuleOutcome, Signal

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
    later = later_text(s)
    if later:
        text.append(f" {later}.")
    return text


WIDE = 110
"""Console width from which the firings may be a table with a column per field (when
the longest series name fits its column whole); below it each firing is a block (time,
lead time, rule and kind on one line, then the series and the explanation, indented),
because six columns on an 80-column terminal leave the explanation a few characters
wide."""
EXPLANATION_MIN = 32
"""The narrowest explanation column the table accepts."""


def _table_fits(result: ReplayResult, width: int) -> bool:
    """Whether every column, the series whole, fits in ``width`` (the table's fixed
    columns, rule, series, kind, an explanation of :data:`EXPLANATION_MIN`, padding)."""
    signals = fired_signals(result)
    if width < WIDE or not signals:
        return False
    rule = max(len(s.rule) for s in signals)
    series = max(len(series_name(s)) for s in signals)
    kind = max(len(s.kind.value) for s in signals)
    fixed = len("2014-02-07 23:50") + max(len(lead_phrase(-(10**9))), len("Lead time"))
    return fixed + rule + series + kind + EXPLANATION_MIN + 2 * 5 <= width


def _explanation(signal: Signal, result: ReplayResult) -> Text:
    first = firings_of(signal)[0]
    explanation = Text(signal_explanation(signal, first.first.explanation))
    note = firing_note(signal, result)
    if note:
        explanation.append(f" ({note})", style="dim")
    return explanation


def _lead(result: ReplayResult, signal: Signal) -> Text:
    lead = result.incident - firings_of(signal)[0].start
    return Text(lead_phrase(lead), style="green" if lead > 0 else "yellow")


def _table(result: ReplayResult) -> Table:
    # No vertical rules and a blank line between rows: wrapped explanations stay
    # readable; the text columns share whatever width the fixed ones leave.
    table = Table(box=box.SIMPLE_HEAD, leading=1, header_style="bold", expand=True, pad_edge=False)
    table.add_column("First firing", no_wrap=True)
    table.add_column("Lead time", no_wrap=True)
    table.add_column("Rule", no_wrap=True, style="cyan")
    table.add_column("Series", no_wrap=True)
    table.add_column("Kind", no_wrap=True)
    table.add_column("Explanation", ratio=1, min_width=EXPLANATION_MIN, overflow="fold")
    for signal in fired_signals(result):
        table.add_row(
            _short_time(firings_of(signal)[0].start),
            _lead(result, signal),
            Text(signal.rule),
            Text(series_name(signal)),
            signal.kind.value,
            _explanation(signal, result),
        )
    return table


BLOCK_INDENT = 4


def _series_text(name: str, width: int) -> Text:
    """The series, breaking after its ``{`` when it is longer than the line: a label set
    then wraps between labels, never inside one (unless one label alone is too long)."""
    brace = name.find("{")
    if len(name) <= width or brace <= 0:
        return Text(name, style="dim")
    return Text(f"{name[: brace + 1]}\n  {name[brace + 1 :]}", style="dim")


def _blocks(result: ReplayResult, width: int) -> RenderableType:
    """One block per signal: ``time · lead · Rule (kind)``, then the series and the
    explanation indented under it, wrapped at word boundaries."""
    parts: list[RenderableType] = []
    for signal in fired_signals(result):
        head = Text(_short_time(firings_of(signal)[0].start) + " · ")
        head.append_text(_lead(result, signal))
        head.append(" · ")
        head.append(signal.rule, style="cyan")
        head.append(f" ({signal.kind.value})")
        parts.append(Padding(head, (1, 0, 0, 1)))
        series = _series_text(series_name(signal), width - BLOCK_INDENT)
        parts.append(Padding(series, (0, 0, 0, BLOCK_INDENT)))
        parts.append(Padding(_explanation(signal, result), (0, 0, 0, BLOCK_INDENT)))
    return Group(*parts)


def _silent_line(outcome: RuleOutcome) -> Table:
    """``  • Rule (group g): why``, wrapped lines aligned after the bullet."""
    line = Text(outcome.rule, style="cyan")
    line.append(f" (group {outcome.group}): ")
    line.append(silence_text(outcome), style="red" if outcome.error else "")
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    grid.add_row(Text("  •"), line)
    return grid


def print_summary(result: ReplayResult, console: Console) -> None:
    """Print the replay to ``console``: title, headline, firings table, silent rules.

    The caller owns the console (width, colour, recording), so tests and the CLI can
    render the same output. Below :data:`WIDE` columns, or when the longest series would
    not fit its column whole, each firing is a block instead of a table row.
    """
    console.print(_title(result))
    console.print(_headline(result))
    if fired_signals(result):
        table = _table_fits(result, console.width)
        console.print(_table(result) if table else _blocks(result, console.width))
    else:
        console.print(Text("No rule fired in the replay window.", style="yellow"))
    silent = result.silent
    if silent:
        console.print(Text("Silent (replayed, never fired):", style="bold"))
        for outcome in silent:
            console.print(_silent_line(outcome))
