"""``graysignal backtest``: would today's rules have caught past incidents, and how early?

Thin wiring: load the incident library and the rules, run
:func:`adapters.backtest.engine.run_backtest` (which replays through the ordinary replay
engine), compare with a baseline, render. Exit codes, for CI (``exitcodes.py``):

- ``0``: done, and no incident caught in the baseline has been lost;
- ``1``: a regression: an incident the baseline caught early is no longer caught;
- ``2``: bad input (an incident or rule file, a flag, the baseline file, the ledger),
  printed as ``file:line: message`` without a traceback;
- ``3``: no rule could read its data in any replay (every source failed), so the
  verdicts mean nothing.

The engine and the reports pull in the statistics libraries (the story's lead-lag
hints use statsmodels): they are imported when the command runs, not with its module.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from contextlib import nullcontext
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from adapters.backtest import DEFAULT_QUIET_WEEKS
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
)
from adapters.cli.progress import progress_bar
from adapters.errors import InputError, SourceUnavailable

if TYPE_CHECKING:
    from adapters.backtest.baseline import BaselineChange
    from adapters.backtest.engine import Backtest, BacktestSettings
    from adapters.backtest.story import Story
    from adapters.sources.base import Source
    from detector.incident import Incident
    from detector.replay import ReplayResult

__all__ = ["BacktestFormat", "GroupBy", "backtest_command", "make_story_builder"]

DEFAULT_INCIDENTS = Path("incidents")

StoryFn = Callable[["Incident", "ReplayResult"], "Story"]


class BacktestFormat(StrEnum):
    TERMINAL = "terminal"
    MD = "md"
    JSON = "json"


class GroupBy(StrEnum):
    CATEGORY = "category"


def make_story_builder(
    prometheus: Source, changes_query: str | None, settings: BacktestSettings
) -> StoryFn:
    """Build each incident's story; with ``changes_query``, its change events also come
    from Prometheus over the incident's replay window. A failing query does not stop the
    backtest: the story says that the events are missing, and why."""

    from adapters.backtest.story import ChangeMark, build_story, changes_from_query  # noqa: PLC0415

    def build(incident: Incident, result: ReplayResult) -> Story:
        marks: list[ChangeMark] = []
        error = None
        if changes_query is not None:
            start, end = settings.window(incident)
            try:
                marks = changes_from_query(prometheus, changes_query, start, end)
            except (SourceUnavailable, InputError) as exc:
                error = " ".join(str(exc).split())
        return build_story(result, incident, changes=marks, changes_error=error)

    return build


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError.at(str(output), f"cannot write: {exc.strerror or exc}") from None
    typer.echo(f"wrote {output}", err=True)


def _render(
    backtest: Backtest,
    fmt: BacktestFormat,
    output: Path | None,
    *,
    by_category: bool,
    changes: list[BaselineChange] | None,
    baseline_path: str | None,
) -> None:
    if fmt is BacktestFormat.JSON:
        from adapters.backtest.json_report import render_backtest_json  # noqa: PLC0415

        text = render_backtest_json(
            backtest, by_category=by_category, changes=changes, baseline_path=baseline_path
        )
    elif fmt is BacktestFormat.MD:
        from adapters.backtest.markdown import render_backtest_markdown  # noqa: PLC0415

        text = render_backtest_markdown(
            backtest, by_category=by_category, changes=changes, baseline_path=baseline_path
        )
    else:
        from rich.console import Console  # noqa: PLC0415

        from adapters.backtest.terminal import print_backtest  # noqa: PLC0415

        console = (
            Console() if output is None else Console(file=io.StringIO(), record=True, width=120)
        )
        print_backtest(
            backtest, console, by_category=by_category, changes=changes, baseline_path=baseline_path
        )
        if output is None:
            return
        text = console.export_text()
    _write(text, output)


def backtest_command(
    incidents: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Incident files or directories (default: incidents/).",
            metavar="INCIDENTS",
            show_default=False,
        ),
    ] = None,
    rules: Annotated[
        list[Path] | None,
        typer.Option(
            "--rules",
            help="Rule files or directories to backtest (repeatable).",
            show_default=False,
        ),
    ] = None,
    lookback: Annotated[str, typer.Option(help="How far before each impact to replay.")] = "14d",
    after: Annotated[str, typer.Option(help="How far after the start of impact to replay.")] = "6h",
    quiet_weeks: Annotated[
        int,
        typer.Option(min=0, help="Quiet weeks to replay for the false-alarm rate (0: skip)."),
    ] = DEFAULT_QUIET_WEEKS,
    by: Annotated[
        GroupBy | None,
        typer.Option(
            help="Add a table of incidents and early-signal coverage by root-cause category "
            "and quarter."
        ),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(help="Compare with this baseline; exit 1 if a caught incident is lost."),
    ] = None,
    update_baseline: Annotated[
        bool, typer.Option("--update-baseline", help="Write the results to --baseline.")
    ] = False,
    output_format: Annotated[
        BacktestFormat, typer.Option("--format", help="terminal, md or json.")
    ] = BacktestFormat.TERMINAL,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here.")
    ] = None,
    ledger: Annotated[
        Path | None,
        typer.Option(help="A daemon's ledger: say whether each early signal was delivered."),
    ] = None,
    changes_query: Annotated[
        str | None,
        typer.Option(
            help="PromQL whose non-zero samples are change events, e.g. "
            "'changes(kube_deployment_status_observed_generation[5m])'."
        ),
    ] = None,
    log_level: LogLevelOption = LogLevel.WARNING,
    log_format: LogFormatOption = LogFormat.CONSOLE,
    scheduler: SchedulerOption = None,
    workers: WorkersOption = None,
) -> None:
    """Replay every incident of the library with the current rules and report what
    they would have caught, how early, and how often they cry wolf."""
    start_logging(log_level, log_format)
    if not rules:
        raise typer.BadParameter("give the rules to backtest", param_hint="--rules")
    if update_baseline and baseline is None:
        raise typer.BadParameter(
            "needs --baseline FILE to write to", param_hint="--update-baseline"
        )
    from adapters.backtest.baseline import compare, read_baseline, write_baseline  # noqa: PLC0415
    from adapters.backtest.engine import BacktestSettings, run_backtest  # noqa: PLC0415
    from adapters.backtest.library import load_incidents  # noqa: PLC0415
    from adapters.cli.replay import reviewed_suppressions, rule_files_plan  # noqa: PLC0415
    from adapters.ledger import Ledger, LedgerError  # noqa: PLC0415
    from adapters.replaying import replay_rules  # noqa: PLC0415
    from adapters.sources import default_sources  # noqa: PLC0415

    settings = BacktestSettings(
        lookback=duration_option(lookback, "--lookback") or 0,
        after=duration_option(after, "--after") or 0,
        quiet_weeks=quiet_weeks,
    )
    if settings.lookback <= 0:
        raise typer.BadParameter("must be longer than 0s", param_hint="--lookback")
    try:
        if not incidents and not DEFAULT_INCIDENTS.is_dir():
            raise InputError.at(
                str(DEFAULT_INCIDENTS),
                "no incident library here; pass incident files or directories",
            )
        library = load_incidents(incidents or [DEFAULT_INCIDENTS])
        plan = rule_files_plan(rules)
        previous = None
        if baseline is not None and not (update_baseline and not baseline.exists()):
            previous = read_baseline(baseline)
        if ledger is not None and not ledger.is_file():
            raise InputError.at(str(ledger), "no such ledger file")
        sources = default_sources()
        story = make_story_builder(sources["prometheus"], changes_query, settings)
        replays = len(library) + settings.quiet_weeks
        with (
            fleet_replayer(scheduler, workers, bar=False) as fleet,
            Ledger.open(ledger) if ledger is not None else nullcontext() as opened,
            progress_bar("replaying incidents", replays) as step,
        ):
            backtest = run_backtest(
                library,
                plan,
                sources,
                settings,
                ledger=opened,
                story=story,
                suppressions=reviewed_suppressions(rules),
                on_replayed=step,
                replay=replay_rules if fleet is None else fleet,
            )
        changes = None if previous is None else compare(previous, backtest)
        _render(
            backtest,
            output_format,
            output,
            by_category=by is GroupBy.CATEGORY,
            changes=changes,
            baseline_path=None if baseline is None else str(baseline),
        )
        if update_baseline and baseline is not None:
            write_baseline(baseline, backtest)
            typer.echo(f"wrote baseline {baseline}", err=True)
    except InputError as exc:
        raise input_failure(exc) from None
    except LedgerError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(ExitCode.USAGE) from None
    if _no_source_answered(backtest):
        typer.echo(
            "no rule could read its data in any replay (see the errors): the verdicts "
            "say nothing about the rules",
            err=True,
        )
        raise typer.Exit(ExitCode.UNAVAILABLE)
    if not update_baseline and changes is not None and any(c.fails for c in changes):
        raise typer.Exit(ExitCode.PROBLEMS)


def _no_source_answered(backtest: Backtest) -> bool:
    """Every rule failed to read its source in every incident's replay. (A rule that
    answers with no series for an incident only does not watch its services.)"""
    outcomes = [o for r in backtest.incidents for o in r.result.outcomes]
    return bool(outcomes) and all(o.error is not None for o in outcomes)
