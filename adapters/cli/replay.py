"""``graysignal replay``: what did the system know before users did?

Exit codes (``exitcodes.py``): 0 when the replay ran, whatever it found; 2 for input that
cannot be used (a file, a flag, a ledger); 3 when no rule could read any data (every
source failed or returned no series), because a report of silence over no data would
read like "nothing was wrong".

The replay engine, the reports and the story pull in the statistics libraries; they
are imported inside the functions that run them, so ``replay --help`` and the commands
that share :func:`rule_files_plan` start without them.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from adapters.cli.exitcodes import ExitCode
from adapters.cli.fleet import SchedulerOption, WorkersOption, fleet_replayer
from adapters.cli.options import (
    LogFormat,
    LogFormatOption,
    LogLevel,
    LogLevelOption,
    duration_option,
    input_failure,
    start_logging,
    time_option,
)
from adapters.cli.progress import progress_bar, rule_counter
from adapters.errors import InputError
from detector.finding import Kind
from detector.rule import Rule, Seasonality

if TYPE_CHECKING:
    from adapters.backtest.story import Story
    from adapters.replaying import ScheduledRule
    from adapters.sources.base import Source
    from detector.replay import ReplayResult
    from detector.suppressions import Suppression

DEFAULT_LOOKBACK = 14 * 86400
SERIES_FILE_KINDS = [Kind.LEVEL_SHIFT, Kind.TREND, Kind.VARIANCE]


class OutputFormat(StrEnum):
    TERMINAL = "terminal"
    JSON = "json"
    MD = "md"
    HTML = "html"


def is_series_file(path: Path) -> bool:
    from adapters.sources.files import CSV_SUFFIXES, JSONL_SUFFIXES  # noqa: PLC0415

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
    strict_order: bool = False,
) -> tuple[list[ScheduledRule], int, int]:
    """One default rule for a lone series file; returns it with the data's first/last time."""
    from adapters.replaying import ScheduledRule  # noqa: PLC0415
    from adapters.sources.files import read_series_file, window_holds_step  # noqa: PLC0415

    series = read_series_file(path, strict_order=strict_order)
    step = series[0].step
    default_window: int = Rule.model_fields["window"].default
    window_holds_step(str(path), window or default_window, step, setting="--window")
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
    from adapters.suppressions import load_suppressions, suppressions_files_near  # noqa: PLC0415

    return [s for path in suppressions_files_near(paths) for s in load_suppressions(path)]


def rule_files_plan(paths: Sequence[Path]) -> list[ScheduledRule]:
    """Every rule of the files, with its group's interval and phase, as the daemon runs it."""
    from adapters.replaying import ScheduledRule  # noqa: PLC0415
    from adapters.rulefiles import load_rule_files  # noqa: PLC0415
    from detector.replay import group_offset  # noqa: PLC0415

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
    from adapters.errors import SourceUnavailable  # noqa: PLC0415
    from adapters.replaying import fetch_history  # noqa: PLC0415

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
    # Each renderer is imported only for its format: matplotlib (HTML) and the story's
    # statistics cost more than the replay of a small rule set.
    if fmt is OutputFormat.TERMINAL:
        from rich.console import Console  # noqa: PLC0415

        from adapters.reports.terminal_report import print_summary  # noqa: PLC0415

        console = Console()
        print_summary(result, console)
        if story is not None:
            from adapters.backtest.terminal import print_story  # noqa: PLC0415

            print_story(story, result.incident, console, indent="")
        return
    if fmt is OutputFormat.JSON:
        text = _json_report(result, story)
    elif fmt is OutputFormat.MD:
        from adapters.reports.markdown_report import render_markdown  # noqa: PLC0415

        text = render_markdown(result)
        if story is not None:
            from adapters.backtest.markdown import render_story_markdown  # noqa: PLC0415

            text += "\n" + "\n".join(render_story_markdown(story, result.incident, level=3))
    else:
        from adapters.reports.html_report import render_html  # noqa: PLC0415

        text = render_html(result, title=title)
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


def _json_report(result: ReplayResult, story: Story | None) -> str:
    import json  # noqa: PLC0415

    from adapters.reports.json_report import render_json  # noqa: PLC0415

    text = render_json(result)
    if story is None:
        return text
    from adapters.backtest.json_report import story_to_dict  # noqa: PLC0415

    data = json.loads(text)
    data["story"] = story_to_dict(story)
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


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
    log_level: LogLevelOption = LogLevel.WARNING,
    log_format: LogFormatOption = LogFormat.CONSOLE,
    strict_order: Annotated[
        bool,
        typer.Option(
            "--strict-order",
            help="Refuse series files whose samples are out of time order, instead of "
            "sorting them into place with a warning.",
        ),
    ] = False,
    scheduler: SchedulerOption = None,
    workers: WorkersOption = None,
) -> None:
    """Re-run rules over the window before an incident, exactly as the daemon would have."""
    start_logging(log_level, log_format)
    from adapters.ledger import Ledger  # noqa: PLC0415
    from adapters.logpatterns.state import state_dir_for_ledger  # noqa: PLC0415
    from adapters.replaying import attach_notices, read_nothing  # noqa: PLC0415
    from adapters.sources import default_sources  # noqa: PLC0415

    # with a daemon's ledger, templates are named as that daemon named them
    sources = default_sources(
        state_dir_for_ledger(ledger) if ledger is not None else None, strict_order=strict_order
    )
    try:
        incident = time_option(at, "--at")
        lookback_seconds = duration_option(lookback, "--lookback")
        if len(paths) == 1 and is_series_file(paths[0]):
            plan, first, last = series_file_plan(
                paths[0],
                list(detect or SERIES_FILE_KINDS),
                seasonality,
                duration_option(window, "--window"),
                strict_order,
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
        if ledger is not None and not ledger.is_file():
            raise InputError.at(str(ledger), "no such ledger file")
        result = _replay(plan, sources, start, incident, scheduler, workers)
        if ledger is not None:
            with Ledger.open(ledger) as opened:
                attach_notices(
                    result,
                    opened,
                    tolerance=max(e.interval for e in plan),
                    suppressions=reviewed_suppressions(paths),
                )
    except InputError as exc:
        raise input_failure(exc) from None
    title = "graysignal replay: " + ", ".join(p.name for p in paths)
    built = None
    if story:
        from adapters.backtest.story import build_story  # noqa: PLC0415

        built = build_story(result)
    write_output(result, output_format, output, title, built)
    if read_nothing(result.outcomes):
        typer.echo(
            "no rule could read any data (see the errors above): the replay says nothing "
            "about the incident",
            err=True,
        )
        raise typer.Exit(ExitCode.UNAVAILABLE)


def _replay(
    plan: list[ScheduledRule],
    sources: Mapping[str, Source],
    start: int,
    end: int,
    scheduler: str | None,
    workers: int | None,
) -> ReplayResult:
    """The replay in this process (a bar over rules), or on a fleet (a bar over tasks;
    only the alerts' series come back, all a replay report shows)."""
    from adapters.fleet.tasks import Keep  # noqa: PLC0415 - no Dask in it
    from adapters.replaying import replay_rules  # noqa: PLC0415

    with fleet_replayer(scheduler, workers, keep=Keep.SIGNALS) as fleet:
        if fleet is not None:
            return fleet(plan, sources, start=start, end=end, incident=end)
        with progress_bar("replaying rules", len(plan)) as step:
            return replay_rules(
                plan, sources, start=start, end=end, incident=end, on_rule_done=rule_counter(step)
            )
