"""``graysignal check``: validate rule files before they are deployed.

Meant for CI and pre-commit: problems go to stderr as ``file:line: message`` (the
format editors and CI annotators already parse) with exit code 1; a clean run prints
one summary line per file to stdout and exits 0. It never prints a traceback for bad
input, since the user's next step is to edit a file, not to debug graysignal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adapters.errors import InputError
from adapters.rulefiles import load_rule_files
from detector.rule import RuleFile


def check_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Rule files, or directories whose *.yaml/*.yml files are all checked.",
            metavar="FILE_OR_DIR",
            show_default=False,
        ),
    ],
) -> None:
    """Check rule files for errors and report each one as file:line: message."""
    try:
        loaded = load_rule_files(files)
    except InputError as error:
        for problem in error.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from None
    # Hook for a later `--probe` option: here every file is valid, so that step would
    # fetch a short window for each rule from its source and report unreachable servers
    # or empty queries in the same `file:line: message` form.
    for path, rule_file in loaded:
        typer.echo(f"{path}: {_summary(rule_file)} OK")


def _summary(rule_file: RuleFile) -> str:
    groups = len(rule_file.groups)
    rules = sum(len(group.rules) for group in rule_file.groups)
    return f"{_count(rules, 'rule')} in {_count(groups, 'group')}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
