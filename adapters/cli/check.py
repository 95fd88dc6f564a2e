"""``graysignal check``: validate rule files (and incident files) before they are deployed.

Meant for CI and pre-commit: problems go to stderr as ``file:line: message`` (the
format editors and CI annotators already parse) with exit code 1; a clean run prints
one summary line per file to stdout and exits 0. A file or directory that does not
exist or cannot be read is not a verdict on its content: exit 2 (``exitcodes.py``). It
never prints a traceback for bad input, since the user's next step is to edit a file,
not to debug graysignal.

``--config FILE`` checks the daemon's settings file the same way (``promtool check
config``): unknown keys, malformed durations and URLs, each at its line.

``--probe`` goes one step further, for a deploy pipeline that can reach the servers:
a valid file can still point at a server that is down, a tenant without data or a query
that Prometheus rejects, and it is better to learn that before the daemon runs it.

Incident files (``incidents/*.yaml``, see :mod:`adapters.backtest.library` for how a file
is recognised as one) are checked against the incident schema in the same pass, so one
``graysignal check rules/ incidents/`` in CI covers everything a backtest reads.

The suppressions file (``suppressions.yaml`` in a given directory or beside a given rule
file, a file given explicitly, or ``--suppressions``) is checked too: schema errors are
errors (exit 1); entries that have *expired* or gone *stale* (their rule is gone, or an
expected change is older than the rule's window) are warnings, printed as
``file:line: warning: ...`` on stderr, because the daemon safely ignores them; with
``--strict`` they fail the check as well (docs/suppressions.md). Two acks that cover
the same series at the same time are flagged as well: only the first one ever applies.

Only what a plain check needs is imported at the top: the probe's HTTP clients and the
detection engine (for the history a rule needs) are imported when ``--probe`` asks.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from adapters.backtest.library import duplicate_ids, is_incident_file, load_incident_file
from adapters.cli.exitcodes import ExitCode
from adapters.cli.options import (
    LogFormat,
    LogFormatOption,
    LogLevel,
    LogLevelOption,
    count_noun,
    start_logging,
)
from adapters.errors import InputError, Problem
from adapters.rulefiles import load_rule_file, top_level_keys, yaml_files
from adapters.suppressions import (
    is_suppressions_file,
    load_entries,
    review_suppressions,
    suppressions_files_near,
)
from detector.incident import Incident
from detector.rule import RuleFile

SETTINGS_KEYS = frozenset({"rules", "ledger", "listen_address", "alertmanager_urls"})
"""Top-level keys that tell a daemon settings file given as a rule file."""


def check_command(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Rule or incident files, or directories whose *.yaml/*.yml files are all checked.",
            metavar="FILE_OR_DIR",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A daemon settings file (graysignal.yaml) to check: unknown keys, bad "
            "values, each as file:line: message.",
        ),
    ] = None,
    probe: Annotated[
        bool,
        typer.Option(
            "--probe",
            help="After a clean check, run each rule's query once over the history an "
            "evaluation reads; report series count, step, too little history and errors; "
            "exit 1 if any probe fails.",
        ),
    ] = False,
    log_level: LogLevelOption = LogLevel.WARNING,
    log_format: LogFormatOption = LogFormat.CONSOLE,
    suppressions: Annotated[
        Path | None,
        typer.Option(help="Suppressions file to check (default: suppressions.yaml beside rules)."),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Expired, stale or overlapping suppressions fail the check too."
        ),
    ] = False,
) -> None:
    """Check rule, incident, suppressions and settings files; report each problem as
    file:line: message."""
    files = list(files or [])
    if not files and config is None:
        raise typer.BadParameter("give files or directories to check, or --config FILE")
    given = [f for f in files if not (f.is_file() and is_suppressions_file(f))]
    named = [f for f in files if f not in given]
    reviewed = [suppressions] if suppressions is not None else suppressions_files_near(files)
    reviewed = list(dict.fromkeys([*reviewed, *named]))
    problems: list[Problem] = []
    loaded: list[tuple[Path, RuleFile]] = []
    incidents: list[tuple[Path, Incident]] = []
    if config is not None:
        problems += _settings_problems(config)
    if given:
        try:
            loaded, incidents = load_checked_files(given)
        except InputError as error:
            problems.extend(error.problems)
    checked = []
    for path in reviewed:
        try:
            checked.append((path, load_entries(path)))
        except InputError as error:
            problems.extend(error.problems)
    if problems:
        for problem in problems:
            typer.echo(str(problem), err=True)
        unreadable = _unreadable([*files, *filter(None, (config, suppressions))])
        refused = unreadable or any(p.unreadable for p in problems)
        raise typer.Exit(ExitCode.USAGE if refused else ExitCode.PROBLEMS) from None
    if config is not None:
        typer.echo(f"{config}: settings OK")
    for path, rule_file in loaded:
        typer.echo(f"{path}: {_summary(rule_file)} OK")
    for path, incident in incidents:
        typer.echo(f"{path}: incident {incident.id} ({incident.category.value}) OK")
    rules = [r for _, f in loaded for g in f.groups for r in g.rules] if loaded else None
    warnings: list[Problem] = []
    for path, entries in checked:
        warnings += review_suppressions(path, entries, rules, now=int(time.time()))
        typer.echo(f"{path}: {count_noun(len(entries), 'suppression')} OK")
    for warning in warnings:
        typer.echo(
            str(Problem(warning.source, f"warning: {warning.message}", warning.line)), err=True
        )
    if warnings and strict:
        raise typer.Exit(ExitCode.PROBLEMS)
    if probe:
        start_logging(log_level, log_format)
        # Sources (HTTP clients) are imported only to probe: a plain check reads files.
        from adapters.cli.probe import probe_rules  # noqa: PLC0415
        from adapters.sources import default_sources  # noqa: PLC0415

        results = probe_rules(loaded, default_sources(), now=int(time.time()))
        for result in results:
            typer.echo(result.line(), err=not result.ok)
        if not all(result.ok for result in results):
            raise typer.Exit(ExitCode.PROBLEMS)


def _settings_problems(config: Path) -> list[Problem]:
    """Problems of a daemon settings file (pydantic-settings is imported only for it)."""
    from adapters.daemon.settings import check_settings_file  # noqa: PLC0415

    try:
        check_settings_file(config)
    except InputError as error:
        return list(error.problems)
    return []


def _unreadable(paths: Sequence[Path]) -> list[Path]:
    """Given paths that do not exist or cannot be read (listed, for a directory)."""
    return [p for p in paths if not os.access(p, os.R_OK | (os.X_OK if p.is_dir() else 0))]


def load_checked_files(
    paths: Sequence[Path],
) -> tuple[list[tuple[Path, RuleFile]], list[tuple[Path, Incident]]]:
    """Load each file as a rule file or an incident file (in the given order); raise one
    :class:`InputError` with every problem of every file, duplicate incident ids included."""
    files, problems = yaml_files(paths, what="rule or incident files")
    rule_files: list[tuple[Path, RuleFile]] = []
    incidents: list[tuple[Path, Incident]] = []
    for file in files:
        try:
            if is_incident_file(file):
                incidents.append((file, load_incident_file(file)))
            else:
                rule_files.append((file, load_rule_file(file)))
        except InputError as error:
            if _is_settings_file(file):
                problems.append(
                    Problem(
                        str(file),
                        "a daemon settings file, not a rule file: check it with "
                        f"`graysignal check --config {file}`",
                    )
                )
            else:
                problems.extend(error.problems)
    problems += duplicate_ids(incidents)
    if problems:
        raise InputError(_in_file_order(problems, files))
    return rule_files, incidents


def _is_settings_file(path: Path) -> bool:
    keys = top_level_keys(path)
    return "groups" not in keys and bool(keys & SETTINGS_KEYS)


def _in_file_order(problems: list[Problem], files: Sequence[Path]) -> list[Problem]:
    order = {str(f): i for i, f in enumerate(files)}
    return sorted(problems, key=lambda p: order.get(p.source, -1))


def _summary(rule_file: RuleFile) -> str:
    groups = len(rule_file.groups)
    rules = sum(len(group.rules) for group in rule_file.groups)
    return f"{count_noun(rules, 'rule')} in {count_noun(groups, 'group')}"
