"""A backtest as Markdown: the library's scorecard, then one section per incident.

Each incident's section has the heading "What did the system know before users did?",
the same question the replay report answers, so it can be pasted into that incident's
post-mortem as it is. The story (timeline, first mover, lead-lag hints, change events)
follows in the same section. GitHub-flavoured Markdown, with the replay report's
escaping (:func:`adapters.reports.markdown_report.code` and ``cell``).
"""

from __future__ import annotations

from collections.abc import Sequence

from adapters.backtest.baseline import BaselineChange
from adapters.backtest.engine import Backtest, IncidentResult, SignalTiming, category_trends
from adapters.backtest.story import Story, StoryEvent
from adapters.backtest.wording import (
    VERDICT_LABELS,
    baseline_text,
    coverage_cell,
    incident_text,
    library_text,
    percent,
)
from adapters.reports import (
    feedback_text,
    human_duration,
    lead_phrase,
    series_name,
    silence_text,
)
from adapters.reports.markdown_report import TITLE, cell, code
from detector.explain import when
from detector.replay import ReplayResult

__all__ = ["render_backtest_markdown", "render_story_markdown"]

HEADING = "# Backtest: would today's rules have caught past incidents?"

_HOW_TO_READ = (
    "Each incident was replayed with today's rules on a simulated clock, every evaluation "
    "seeing only the data up to its own time, exactly as the daemon would have: a row is "
    "an alert that could really have been sent then. Only series of the affected services "
    "count (their labels, or the rule's labels, match the incident's `services`). "
    "*Lead time* is the start of impact minus the first firing; *onset* is the detector's "
    "estimate of when the change began. *Caught early* means a signal fired before users "
    "were affected; a firing after that is reported but is no catch. False alarms are "
    "firings on quiet weeks that overlap no incident."
)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell(c) for c in cells) + " |"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [_row(header), "| " + " | ".join("---" for _ in header) + " |"] + [_row(r) for r in rows]


def _overview(backtest: Backtest) -> list[str]:
    rows = []
    for r in backtest.incidents:
        incident = r.incident
        first = r.earliest or (r.late[0] if r.late else None)
        rows.append(
            [
                code(incident.id),
                incident.category.value,
                when(incident.impact.start),
                f"{incident.detected.how.value.replace('_', ' ')}, "
                f"{_after(incident.time_to_detect)}",
                VERDICT_LABELS[r.verdict],
                code(first.signal.rule) if first is not None else "-",
                lead_phrase(first.lead) if first is not None else "-",
            ]
        )
    header = [
        "Incident",
        "Category",
        "Impact start",
        "Humans found out",
        "Verdict",
        "First signal",
        "Lead time",
    ]
    return _table(header, rows)


def _after(seconds: int) -> str:
    """How long after the start of impact humans found out (``before`` if earlier)."""
    if seconds > 0:
        return f"{human_duration(seconds)} after"
    if seconds < 0:
        return f"{human_duration(-seconds)} before"
    return "at once"


def _trends(backtest: Backtest) -> list[str]:
    trends = category_trends(backtest.incidents)
    header = ["Category", *trends.quarters, "Total", "Coverage"]
    rows = [
        [
            category.value,
            *(coverage_cell(cells.get(q)) for q in trends.quarters),
            coverage_cell(total),
            percent(total.coverage),
        ]
        for category, cells, total in trends.rows
    ]
    rows.append(
        [
            "all",
            *(coverage_cell(trends.per_quarter.get(q)) for q in trends.quarters),
            coverage_cell(trends.total),
            percent(trends.total.coverage),
        ]
    )
    return [
        "## By category and quarter",
        "",
        "Incidents with an early signal / incidents, by root-cause category and the quarter "
        "impact started in.",
        "",
        *_table(header, rows),
        "",
    ]


def _signal_rows(result: ReplayResult, timings: Sequence[SignalTiming]) -> list[str]:
    ledger = result.notices is not None
    header = ["First firing", "Lead time", "Rule", "Series", "Kind", "Onset", "Explanation"]
    if ledger:
        header.append("Delivered at the time?")
    rows = []
    for t in timings:
        row = [
            when(t.firing.start),
            lead_phrase(t.lead),
            code(t.signal.rule),
            code(series_name(t.signal)),
            t.signal.kind.value,
            when(t.firing.onset),
            t.firing.first.explanation,
        ]
        if ledger:
            row.append(feedback_text(result, t.signal, t.firing) or "")
        rows.append(row)
    return _table(header, rows)


def _event_row(event: StoryEvent, reference: int) -> list[str]:
    what = event.text
    if event.told:
        what += f" ({event.told})"
    return [when(event.at), _relative(event.at - reference), event.kind.value, what]


def _relative(offset: int) -> str:
    if offset == 0:
        return "T"
    sign = "+" if offset > 0 else "−"
    return f"T{sign}{human_duration(abs(offset))}"


def render_story_markdown(story: Story, reference: int, level: int = 4) -> list[str]:
    """The story as Markdown lines under a heading of ``level``; times are shown
    relative to ``reference`` (the start of impact) as ``T−3h 10m``."""
    hashes = "#" * level
    lines = [f"{hashes} The story", ""]
    lines += [
        "From the first gray signal to user impact (T is the incident: the start of user "
        "impact; onsets are the detectors' estimates):",
        "",
    ]
    lines += _table(
        ["When", "T", "Event", "What"], [_event_row(e, reference) for e in story.events]
    )
    lines.append("")
    if story.changes_error:
        lines += [f"Change events from the query are missing: {story.changes_error}", ""]
    if story.movers:
        lines += [f"**Moved first:** {story.first_mover_text}", ""]
    if story.hints:
        lines += ["**Lead-lag hints:**", ""]
        lines += [f"- {hint.text}" for hint in story.hints]
        lines += ["", f"*{story.caveat}*", ""]
    return lines


def _incident_section(result: IncidentResult, backtest: Backtest) -> list[str]:
    incident = result.incident
    settings = backtest.settings
    services = ", ".join(code(str(s)) for s in incident.services)
    lines = [
        f"## {code(incident.id)}: {incident.title}",
        "",
        f"*{incident.category.value}* · services {services} · **{VERDICT_LABELS[result.verdict]}**",
        "",
    ]
    if incident.notes:
        lines += ["> " + " ".join(incident.notes.split()), ""]
    lines += [
        TITLE.replace("## ", "### "),
        "",
        incident_text(result, settings.lookback, settings.after, code=code),
        "",
    ]
    if result.early:
        lines += ["**Before impact:**", "", *_signal_rows(result.result, result.early), ""]
    if result.late:
        lines += ["**Only after impact:**", "", *_signal_rows(result.result, result.late), ""]
    if result.silent:
        lines += ["**Silent** (watched the affected services, never fired):", ""]
        lines += [
            f"- {code(o.rule)} (group {code(o.group)}): {silence_text(o)}." for o in result.silent
        ]
        lines.append("")
    if result.errors:
        lines += ["**Could not be replayed:**", ""]
        lines += [f"- {code(o.rule)}: {silence_text(o)}." for o in result.errors]
        lines.append("")
    if result.story is not None and (result.story.movers or result.story.changes):
        lines += render_story_markdown(result.story, incident.impact.start)
    return lines


def render_backtest_markdown(
    backtest: Backtest,
    *,
    by_category: bool = False,
    changes: list[BaselineChange] | None = None,
    baseline_path: str | None = None,
) -> str:
    """The whole backtest; ends with a newline."""
    lines = [HEADING, "", library_text(backtest), ""]
    if changes is not None and baseline_path is not None:
        lines += [baseline_text(changes, baseline_path), ""]
    lines += _overview(backtest)
    lines.append("")
    if by_category:
        lines += _trends(backtest)
    for result in backtest.incidents:
        lines += _incident_section(result, backtest)
    lines += ["## How to read this", "", _HOW_TO_READ, ""]
    return "\n".join(lines)
