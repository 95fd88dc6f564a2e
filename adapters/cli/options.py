"""What several commands share: parsing values with clear errors, the logging options, and
turning bad input into ``file:line: message`` lines and an exit code."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from adapters.cli.exitcodes import ExitCode
from adapters.errors import InputError
from adapters.timeparse import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, parse_timestamp
from detector.durations import parse_duration
from detector.rule import MAX_DURATION

__all__ = [
    "LogFormat",
    "LogFormatOption",
    "LogLevel",
    "LogLevelOption",
    "count_noun",
    "duration_option",
    "input_failure",
    "start_logging",
    "time_option",
]


class LogFormat(StrEnum):
    """How a command writes its log lines to stderr."""

    CONSOLE = "console"
    JSON = "json"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


LogLevelOption = Annotated[
    LogLevel, typer.Option(help="Log level of the lines on stderr: debug, info, warning, error.")
]
LogFormatOption = Annotated[
    LogFormat,
    typer.Option(help="Log lines on stderr: console (plain lines) or json (one object each)."),
]


def start_logging(level: LogLevel, log_format: LogFormat) -> None:
    """Configure the command's log lines (structlog is imported here, when needed)."""
    from adapters.logging import configure_cli_logging  # noqa: PLC0415

    configure_cli_logging(level.value, json=log_format is LogFormat.JSON)


def duration_option(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=name) from exc
    if seconds > MAX_DURATION:
        raise typer.BadParameter("longer than 100y, the longest accepted", param_hint=name)
    return seconds


def time_option(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        moment = parse_timestamp(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=name) from exc
    if not EARLIEST_TIMESTAMP <= moment <= LATEST_TIMESTAMP:
        raise typer.BadParameter("must be between the years 1 and 9999", param_hint=name)
    return moment


def count_noun(n: int, noun: str, plural: str | None = None) -> str:
    """``1 rule``, ``2 rules``, ``3 series``."""
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def input_failure(error: InputError, code: ExitCode = ExitCode.USAGE) -> typer.Exit:
    """Print every problem as ``file:line: message`` on stderr; the exit to raise."""
    for problem in error.problems:
        typer.echo(str(problem), err=True)
    return typer.Exit(int(code))
