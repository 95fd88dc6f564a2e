"""``graysignal check``: validate rule files (and incident files) before they are deployed.

Meant for CI and pre-commit: problems go to stderr as ``file:line: message`` (the
format editors and CI annotators already parse) with exit code 1; a clean run prints
one summary line per file to stdout and exits 0. It never prints a traceback for bad
input, since the user's next step is to edit a file, not to debug graysignal.

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
``--strict`` they fail the check as well (docs/suppressions.md).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from adapters.backtest.library import duplicate_ids, is_incident_file, load_incident_file
from adapters.errors import InputError, Problem, SourceUnavailable
from adapters.logging import configure_logging
from adapters.rulefiles import load_rule_file, yaml_files
from adapters.sources import default_sources
from adapters.sources.base import Source
from adapters.sources.http import rule_step
from adapters.suppressions import (
    is_suppressions_file,
    load_entries,
    review_suppressions,
    suppressions_files_near,
)
from detector.durations import format_duration
from detector.incident import Incident
from detector.rule import Rule, RuleFile

FILE_SOURCES = ("file", "logfile")
ALL_TIME = (-(2**62), 2**62)


def check_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Rule or incident files, or directories whose *.yaml/*.yml files are all checked.",
            metavar="FILE_OR_DIR",
            show_default=False,
        ),
    ],
    probe: Annotated[
        bool,
        typer.Option(
            "--probe",
            help="After a clean check, run each rule's query once over its last window "
            "and report series count, step and errors; exit 1 if any probe fails.",
        ),
    ] = False,
    log_level: Annotated[
        str, typer.Option(help="--probe: log level for retries and failures (stderr).")
    ] = "warning",
    suppressions: Annotated[
        Path | None,
        typer.Option(help="Suppressions file to check (default: suppressions.yaml beside rules)."),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Expired or stale suppressions fail the check too."),
    ] = False,
) -> None:
    """Check rule and incident files for errors and report each one as file:line: message."""
    given = [f for f in files if not (f.is_file() and is_suppressions_file(f))]
    named = [f for f in files if f not in given]
    reviewed = [suppressions] if suppressions is not None else suppressions_files_near(files)
    reviewed = list(dict.fromkeys([*reviewed, *named]))
    problems: list[Problem] = []
    loaded: list[tuple[Path, RuleFile]] = []
    incidents: list[tuple[Path, Incident]] = []
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
        raise typer.Exit(1) from None
    for path, rule_file in loaded:
        typer.echo(f"{path}: {_summary(rule_file)} OK")
    for path, incident in incidents:
        typer.echo(f"{path}: incident {incident.id} ({incident.category.value}) OK")
    rules = [r for _, f in loaded for g in f.groups for r in g.rules] if loaded else None
    warnings: list[Problem] = []
    for path, entries in checked:
        warnings += review_suppressions(path, entries, rules, now=int(time.time()))
        typer.echo(f"{path}: {_count(len(entries), 'suppression')} OK")
    for warning in warnings:
        typer.echo(
            str(Problem(warning.source, f"warning: {warning.message}", warning.line)), err=True
        )
    if warnings and strict:
        raise typer.Exit(1)
    if probe:
        configure_logging(log_level)
        results = probe_rules(loaded, default_sources(), now=int(time.time()))
        for result in results:
            typer.echo(result.line(), err=not result.ok)
        if not all(result.ok for result in results):
            raise typer.Exit(1)


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
            problems.extend(error.problems)
    problems += duplicate_ids(incidents)
    if problems:
        raise InputError(_in_file_order(problems, files))
    return rule_files, incidents


def _in_file_order(problems: list[Problem], files: Sequence[Path]) -> list[Problem]:
    order = {str(f): i for i, f in enumerate(files)}
    return sorted(problems, key=lambda p: order.get(p.source, -1))


@dataclass(frozen=True)
class ProbeResult:
    """One rule's probe: how many series its query returned at which step, or why not."""

    path: Path
    rule: Rule
    series: int
    step: int | None
    error: str | None = None
    how: str | None = None
    """``by: pattern`` rules: where the templates come from, and what became of the lines."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self) -> str:
        head = f"{self.path}: probe {self.rule.signal}: source {self.rule.source}"
        if self.error is not None:
            return f"{head}: error: {self.error}"
        step = format_duration(self.step) if self.step is not None else "-"
        text = f"{head}: {_count(self.series, 'series', 'series')} at step {step}"
        if self.how:
            text += f"; {self.how}"
        if self.series == 0:
            what = "the file" if self.rule.source in FILE_SOURCES else "the last window"
            text += f" (warning: the query matched nothing in {what})"
        return text


def probe_rules(
    loaded: Sequence[tuple[Path, RuleFile]], sources: Mapping[str, Source], *, now: int
) -> list[ProbeResult]:
    """Fetch each rule once: server rules over ``(now - window, now]`` at their step,
    file rules over the whole file (an export has no "now")."""
    results: list[ProbeResult] = []
    for path, rule_file in loaded:
        for group in rule_file.groups:
            for rule in group.rules:
                results.append(_probe(path, rule, sources, now))
    return results


def _probe(path: Path, rule: Rule, sources: Mapping[str, Source], now: int) -> ProbeResult:
    source = sources.get(rule.source)
    if source is None:
        return ProbeResult(path, rule, 0, None, f"unknown source '{rule.source}'")
    if rule.source in FILE_SOURCES:
        start, end = ALL_TIME
        expected_step = rule.step
    else:
        start, end = now - rule.window, now
        expected_step = rule_step(rule.step)
    try:
        series = source.fetch(rule, start, end)
        how = _pattern_note(rule, source, now) if rule.by_pattern else None
    except (SourceUnavailable, InputError) as exc:
        return ProbeResult(path, rule, 0, expected_step, str(exc))
    step = series[0].step if series else expected_step
    return ProbeResult(path, rule, len(series), step, how=how)


def _pattern_note(rule: Rule, source: Source, now: int) -> str | None:
    """Which path a ``by: pattern`` rule uses and how its lines were accounted for."""
    pattern_path = getattr(source, "pattern_path", None)
    if callable(pattern_path):
        return f"templates from {pattern_path(rule, now)}"
    line_stats = getattr(source, "line_stats", None)
    stats = line_stats(rule) if callable(line_stats) else None
    if not stats:
        return None
    skipped = {k: v for k, v in sorted(stats.items()) if k != "parsed" and v}
    text = f"templates mined here from {stats.get('parsed', 0):,} lines"
    if skipped:
        text += " (" + ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in skipped.items()) + ")"
    return text


def _summary(rule_file: RuleFile) -> str:
    groups = len(rule_file.groups)
    rules = sum(len(group.rules) for group in rule_file.groups)
    return f"{_count(rules, 'rule')} in {_count(groups, 'group')}"


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"
