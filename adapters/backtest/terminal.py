"""A backtest on the terminal: the scorecard first, then each incident's short story.

As in the replay's terminal report, every piece of user text (ids, titles, rule names,
label values, explanations) is a rich ``Text``, never markup, so ``[prod]`` in a label
prints as written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from adapters.backtest.baseline import BaselineChange
from adapters.backtest.engine import (
    Backtest,
    IncidentResult,
    SignalTiming,
    Verdict,
    category_trends,
)
from adapters.backtest.story import Story
from adapters.backtest.wording import (
    VERDICT_LABELS,
    baseline_text,
    coverage_cell,
    library_text,
    percent,
    verdict_detail,
)
from adapters.reports import (
    human_duration,
    lead_phrase,
    reaction_text,
    series_name,
    silence_text,
)
from detector.replay import ReplayResult

__all__ = ["print_backtest", "print_story"]

_VERDICT_STYLE = {
    Verdict.EARLY: "green",
    Verdict.LATE: "yellow",
    Verdict.MISSED: "red",
    Verdict.ERROR: "red",
    Verdict.UNWATCHED: "magenta",
}


def _short(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _relative(offset: int) -> str:
    if offset == 0:
        return "T"
    return f"T{'+' if offset > 0 else '−'}{human_duration(abs(offset))}"


WIDE = 110
"""From this console width the overview shows category, impact and first signal too."""


def _overview(backtest: Backtest, width: int) -> Table:
    wide = width >= WIDE
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    table.add_column("Incident", no_wrap=True)
    if wide:
        table.add_column("Category", no_wrap=True)
        table.add_column("Impact (UTC)", no_wrap=True)
    table.add_column("Verdict", no_wrap=True)
    if wide:
        table.add_column("First signal", overflow="fold")
    table.add_column("Lead time", no_wrap=True)
    for r in backtest.incidents:
        first = r.earliest or (r.late[0] if r.late else None)
        verdict = Text(VERDICT_LABELS[r.verdict], style=_VERDICT_STYLE[r.verdict])
        lead = lead_phrase(first.lead) if first else "-"
        if wide:
            table.add_row(
                Text(r.incident.id),
                r.incident.category.value,
                _short(r.incident.impact.start),
                verdict,
                Text(first.signal.rule if first else "-"),
                lead,
            )
        else:
            table.add_row(Text(r.incident.id), verdict, lead)
    return table


def _trends(backtest: Backtest) -> Table:
    trends = category_trends(backtest.incidents)
    table = Table(
        title="Early signal / incidents by category and quarter",
        box=box.SIMPLE_HEAD,
        header_style="bold",
        pad_edge=False,
    )
    table.add_column("Category", no_wrap=True)
    for quarter in trends.quarters:
        table.add_column(quarter, justify="right", no_wrap=True)
    table.add_column("Total", justify="right", no_wrap=True)
    table.add_column("%", justify="right", no_wrap=True)
    for category, cells, total in trends.rows:
        table.add_row(
            category.value,
            *(coverage_cell(cells.get(q)) for q in trends.quarters),
            coverage_cell(total),
            percent(total.coverage),
        )
    table.add_row(
        Text("all", style="bold"),
        *(coverage_cell(trends.per_quarter.get(q)) for q in trends.quarters),
        coverage_cell(trends.total),
        percent(trends.total.coverage),
    )
    return table


def _timing_line(result: ReplayResult, timing: SignalTiming) -> Text:
    line = Text("    ")
    line.append(_short(timing.firing.start))
    line.append(f"  {lead_phrase(timing.lead)}  ", style="green" if timing.lead > 0 else "yellow")
    line.append(timing.signal.rule, style="cyan")
    line.append(f" ({timing.signal.kind.value}) on {series_name(timing.signal)}")
    told = result.told(timing.signal, timing.firing)
    if told is not None:
        reaction = reaction_text(result, timing.signal, timing.firing)
        if not told and result.held(timing.signal, timing.firing):
            line.append(f"  {reaction}", style="yellow")  # held back on purpose
            return line
        line.append("  told" if told else "  never delivered", style="green" if told else "red")
        if told and reaction:
            line.append(f" ({reaction})", style="dim")
    return line


def print_story(story: Story, reference: int, console: Console, indent: str = "  ") -> None:
    """The story: timeline relative to ``reference``, first mover, lead-lag hints."""
    console.print(Text(f"{indent}Story (T = start of impact):", style="bold"))
    for event in story.events:
        line = Text(f"{indent}  {_relative(event.at - reference):>12}  ")
        line.append(f"{event.kind.value:<8} ", style="dim")
        line.append(event.text)
        if event.told:
            line.append(f" ({event.told})", style="dim")
        console.print(line)
    if story.changes_error:
        console.print(Text(f"{indent}  change events missing: {story.changes_error}", style="red"))
    if story.movers:
        console.print(Text(f"{indent}{story.first_mover_text}"))
    for hint in story.hints:
        console.print(Text(f"{indent}  • {hint.text}"))
    if story.hints:
        console.print(Text(f"{indent}  {story.caveat}", style="dim italic"))


def _incident(result: IncidentResult, console: Console) -> None:
    head = Text("● ", style=_VERDICT_STYLE[result.verdict])
    head.append(result.incident.id, style="bold")
    head.append(f"  {result.incident.title}: ")
    head.append(verdict_detail(result), style=_VERDICT_STYLE[result.verdict])
    console.print(head)
    if result.early:
        console.print(Text("  before impact:"))
        for timing in result.early:
            console.print(_timing_line(result.result, timing))
    if result.late:
        console.print(Text("  only after impact:"))
        for timing in result.late:
            console.print(_timing_line(result.result, timing))
    for outcome in result.silent:
        line = Text("  silent: ")
        line.append(outcome.rule, style="cyan")
        line.append(f": {silence_text(outcome)}")
        console.print(line)
    for outcome in result.errors:
        line = Text("  not replayed: ")
        line.append(outcome.rule, style="cyan")
        line.append(f": {silence_text(outcome)}", style="red")
        console.print(line)
    if result.story is not None and (result.story.movers or result.story.changes):
        print_story(result.story, result.incident.impact.start, console)


def print_backtest(
    backtest: Backtest,
    console: Console,
    *,
    by_category: bool = False,
    changes: Sequence[BaselineChange] | None = None,
    baseline_path: str | None = None,
) -> None:
    settings = backtest.settings
    console.print(
        Text.assemble(
            ("graysignal backtest", "bold"),
            f": {len(backtest.incidents)} incidents, {backtest.rules} rules; each replayed "
            f"{human_duration(settings.lookback)} before impact to "
            f"{human_duration(settings.after)} after",
        )
    )
    console.print(Text(library_text(backtest)))
    if changes is not None and baseline_path is not None:
        failing = any(c.fails for c in changes)
        console.print(
            Text(baseline_text(list(changes), baseline_path), style="bold red" if failing else "")
        )
    console.print(_overview(backtest, console.width))
    if by_category:
        console.print(_trends(backtest))
    for result in backtest.incidents:
        _incident(result, console)
