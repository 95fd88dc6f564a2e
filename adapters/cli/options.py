"""Parsing of command-line values shared by several commands, with clear errors."""

from __future__ import annotations

import typer

from adapters.timeparse import parse_timestamp
from detector.durations import parse_duration


def duration_option(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=name) from exc


def time_option(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=name) from exc
