"""Parsing of command-line values shared by several commands, with clear errors."""

from __future__ import annotations

import typer

from adapters.timeparse import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, parse_timestamp
from detector.durations import parse_duration
from detector.rule import MAX_DURATION


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
