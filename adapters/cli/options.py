"""Parsing of command-line values shared by several commands, with clear errors."""

from __future__ import annotations

import typer

from adapters.timeparse import parse_timestamp
from detector.durations import parse_duration
from detector.rule import MAX_DURATION

LATEST = 253_402_300_799  # 9999-12-31T23:59:59Z
EARLIEST = -62_135_596_800  # 0001-01-01T00:00:00Z


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
    if not EARLIEST <= moment <= LATEST:
        raise typer.BadParameter("must be between the years 1 and 9999", param_hint=name)
    return moment
