"""structlog set-up: JSON lines for the daemon's log shippers, plain lines for a person.

The daemon logs for machines (journald, Loki): JSON, or structlog's console renderer
when asked. The other commands log for the person who typed them: a source that could
not be read is a line such as ``warning: rule skipped: rule=X error="..."``, not a JSON
object, unless ``--log-format json`` asks for JSON (a CI job that parses its logs).

A line logged with an exception (``log.exception``) carries it as ``error``, one line
(``<type>: <first line of the message>``), scrubbed of secrets; the traceback is added
as ``exception`` only with ``--debug`` or ``GRAYSIGNAL_DEBUG=1``, as the command line
does (adapters/cli/guard.py).
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

from adapters.secrets import environment_secrets, redact

__all__ = ["configure_cli_logging", "configure_logging", "debug_enabled", "human_line"]

DEBUG_ENV = "GRAYSIGNAL_DEBUG"
ERROR_CHARS = 300


def configure_logging(level: str = "warning", json: bool | None = None) -> None:
    """Send structured logs to stderr; stdout stays free for reports and JSON output."""
    as_json = (not sys.stderr.isatty()) if json is None else json
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    _configure(level, [structlog.processors.TimeStamper(fmt="iso", utc=True), renderer])


def configure_cli_logging(level: str = "warning", *, json: bool = False) -> None:
    """Logging for a command a person runs: :func:`human_line` per event, JSON if asked."""
    if json:
        configure_logging(level, json=True)
        return
    _configure(level, [human_line])


def human_line(logger: Any, method: str, event: MutableMapping[str, Any]) -> str:
    """``warning: rule skipped: rule=X error="cannot connect"``: level, event, then the
    context in a stable order, quoting values with spaces."""
    level = str(event.pop("level", method))
    message = str(event.pop("event", ""))
    context = " ".join(f"{key}={_value(value)}" for key, value in sorted(event.items()))
    return f"{level}: {message}" + (f": {context}" if context else "")


def _value(value: object) -> str:
    text = str(value)
    return f'"{text}"' if not text or any(c.isspace() for c in text) else text


def _configure(level: str, tail: list[structlog.typing.Processor]) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            exception_fields,
            *tail,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


def _stderr_logger(*args: object) -> structlog.PrintLogger:
    """A logger on the *current* ``sys.stderr`` (it may be swapped, e.g. under a test runner
    or while a progress bar draws on it)."""
    return structlog.PrintLogger(file=sys.stderr)


def debug_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """``GRAYSIGNAL_DEBUG`` is set to a true value (``--debug`` sets it too)."""
    return environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def exception_fields(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Turn ``exc_info`` into ``error`` (one line) and, when debugging, ``exception``."""
    exc_info = event.pop("exc_info", None)
    if not exc_info:
        return event
    error = sys.exc_info()[1] if exc_info is True else exc_info
    if isinstance(error, tuple):
        error = error[1]
    if not isinstance(error, BaseException):
        return event
    secrets = environment_secrets()
    lines = str(error).strip().splitlines()
    message = redact(lines[0][:ERROR_CHARS] if lines else "", secrets)
    event.setdefault(
        "error", f"{type(error).__name__}: {message}" if message else type(error).__name__
    )
    if debug_enabled():
        event["exception"] = redact("".join(traceback.format_exception(error)), secrets)
    return event
