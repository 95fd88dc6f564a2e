"""``graysignal replay``: what did the system know before users did?"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from adapters.backtest.json_report import story_to_dict
from adapters.backtest.markdown import render_story_markdown
from adapters.backtest.story import Story, build_story
from adapters.backtest.terminal import print_story
from adapters.cli.options import duration_option, time_option
from adapters.errors import InputError, SourceUnavailable
from adapters.ledger import Ledger
from adapters.logging import configure_logging
from adapters.logpatterns.state import state_dir_for_ledger
from adapters.replaying import ScheduledRule, attach_notices, fetch_history, replay_rules
from adapters.reports.json_report import render_json
from adapters.reports.markdown_report import render_markdown
from adapters.reports.terminal_report import print_summary
from adapters.rulefiles import load_rule_files
from adapters.sources import default_sources
from adapters.sources.base import Source
from adapters.sources.files import CSV_SUFFIXES, JSONL_SUFFIXES, read_series_file
from adapters.suppressions import load_suppressions, suppressions_files_near
from detector.finding import Kind
from detector.replay import ReplayResult, group_offset
from detector.rule import Rule, Seasonality
from detector.suppressions import Suppression

DEFAULT_LOOKBACK = 14 * 86400
SERIES_FILE_KINDS = [Kind.LEVEL_SHIFT, Kind.TREND, Kind.VARIANCE]


class OutputFormat(StrEnum):
    TERMINAL = "terminal"
    JSON = "json"
    MD = "md"
    HTML = "html"


def is_series_file(path: Path) -> bool:
    return path.suffix.lower() in (*CSV_SUFFIXES, *JSONL_SUFFIXES)


def signal_name_for(path: Path) -> str:
    """A valid alert name from a file name: ``ec2-latency.csv`` -> ``ec2_latency``."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", path.stem)
    return name if re.match(r"[A-Za-z_]", name) else f"series_{name}"


def series_file_plan(
    path: Path,
    kinds: list[Kind],
    seasonality: Seasonality,
    window: int | None,
) -> tuple[list[ScheduledRule], int, int]:
    """One default rule for a lone series file; returns it with the data's first/last time."""
    series = read_series_file(path)
    step = series[0].step
    fields: dict[str, object] = {
        "signal": signal_name_for(path),
        "source": "file",
        "path": str(path.resolve()),
        "detect": kinds,
        "seasonality": seasonality,
        "step": step,
    }
    if window is not None:
        fields["window"] = window
    rule = Rule.model_validate(fields)
    first = min(s.start for s in series)
    last = max(s.end for s in series)
    return [ScheduledRule(rule=rule, group=path.stem, interval=step)], first, last


def reviewed_suppressions(paths: list[Path]) -> list[Suppression]:
    """The suppressions file beside the rules, for "acknowledged by X on DATE" verdicts."""
    return [s for path in suppressions_files_near(paths) for s in load_suppressions(path)]


def rule_files_plan(paths: list[Path]) -> list[ScheduledRule]:
    return [
        ScheduledRule(
            rule=rule,
            group=group.name,
            interval=group.interval,
            offset=group_offset(group.name, group.interval),
        )
        for _, rule_file in load_rule_files(paths)
        for group in rule_file.groups
        for rule in group.rules
    ]


def latest_sample(plan: list[ScheduledRule], sources: Mapping[str, Source]) -> int:
    """End of the data for file-backed rules; the current time when a server is involved."""
    latest = 0
    for entry in plan:
        if entry.rule.source not in ("file", "logfile"):
            return int(time.time())
        try:
            found = fetch_history(entry, sources, 0, 2**62)
        except SourceUnavailable:
            continue
        latest = max([latest, *(s.end for s in found if len(s))])
    return latest or int(time.time())


def write_output(
    result: ReplayResult,
    fmt: OutputFormat,
    output: Path | None,
    title: str,
    story: Story | None = None,
) -> None:
    """Render the replay; ``story`` (``--story``) is appended to the terminal and
    Markdown reports and added to the JSON as ``story``."""
    if fmt is OutputFormat.TERMINAL:
        console = Console()
        print_summary(result, console)
        if story is not None:
            print_story(story, result.incident, console, indent="")
        return
    if fmt is OutputFormat.JSON:
        text = render_json(result)
        if story is not None:
            data = json.loads(text)
            data["story"] = story_to_dict(story)
            text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    elif fmt is OutputFormat.MD:
        text = render_markdown(result)
        if story is not None:
            text += "\n" + "\n".join(render_story_markdown(story, result.incident, level=3))
    else:
        # matplotlib is imported only for HTML: the daemon and the other commands share
        # this module and should not pay for it in start-up time and memory.
        from adapters.reports.html_report import render_html  # noqa: PLC0415

        text = render_html(result, title=title)
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        output.write_text(text, encoding="utf-8")
        Console(stderr=True).print(f"wrote {output}")


def replay_command(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Rule files or directories, or one CSV/JSONL series file."),
    ],
    at: Annotated[
        str | None,
        typer.Option(help="Incident time (RFC 3339 or Unix seconds). Default: end of the data."),
    ] = None,
    lookback: Annotated[
        str | None,
        typer.Option(
            help="How far before --at to replay, e.g. 14d. Default: 14d for rule "
            "files, the whole file for a series file."
        ),
    ] = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="terminal, json, md or html.")
    ] = OutputFormat.TERMINAL,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here.")
    ] = None,
    detect: Annotated[
        list[Kind] | None,
        typer.Option(help="Series-file mode: detectors to run (repeatable)."),
    ] = None,
    seasonality: Annotated[
        Seasonality, typer.Option(help="Series-file mode: seasonality handling.")
    ] = Seasonality.AUTO,
    window: Annotated[
        str | None, typer.Option(help="Series-file mode: analysis window, e.g. 7d.")
    ] = None,
    ledger: Annotated[
        Path | None,
        typer.Option(help="A daemon's ledger: say which firings were actually delivered."),
    ] = None,
    story: Annotated[
        bool,
        typer.Option(
            "--story",
            help="Add the story: signals by onset, which series moved first, lead-lag "
            "hints (terminal, md and json).",
        ),
    ] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "warning",
) -> None:
    configure_logging(log_level)
    # with a daemon's ledger, templates are named as that daemon named them
    sources = default_sources(state_dir_for_ledger(ledger) if ledger is not None else None)
    try:
        incident = time_option(at, "--at")
        lookback_seconds = duration_option(lookback, "--lookback")
        if len(paths) == 1 and is_series_file(paths[0]):
            plan, first, last = series_file_plan(
                paths[0],
                list(detect or SERIES_FILE_KINDS),
                seasonality,
                duration_option(window, "--window"),
            )
            incident = last if incident is None else incident
            start = first if lookback_seconds is None else incident - lookback_seconds
        else:
            if any(is_series_file(p) for p in paths):
                raise InputError.at(
                    str(paths[0]), "give either rule files or a single series file, not both"
                )
            plan = rule_files_plan(paths)
            incident = latest_sample(plan, sources) if incident is None else incident
            start = incident - (lookback_seconds or DEFAULT_LOOKBACK)
        result = replay_rules(plan, sources, start=start, end=incident, incident=incident)
        if ledger is not None:
            if not ledger.is_file():
                raise InputError.at(str(ledger), "no such ledger file")
            with Ledger.open(ledger) as opened:
                attach_notices(
                    result,
                    opened,
                    tolerance=max(e.interval for e in plan),
                    suppressions=reviewed_suppressions(paths),
                )
    except InputError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from None
    title = "graysignal replay: " + ", ".join(p.name for p in paths)
    write_output(result, output_format, output, title, build_story(result) if story else None)
