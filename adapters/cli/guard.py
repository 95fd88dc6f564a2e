"""The last line of defence: no traceback reaches a user unless they ask for one.

Every command turns the errors it expects (bad input, a source that is down) into
``file:line: message`` and an exit code of the convention (:mod:`adapters.cli.exitcodes`).
What it did not expect is a bug, and a bug should still end in one line a user can
paste into a report, with exit code 70 (software error), rather than forty lines of
Python they did not ask for. ``--debug`` (anywhere on the command line, or
``GRAYSIGNAL_DEBUG=1``) prints the traceback as well.

Messages and tracebacks are scrubbed of the values of secret ``GRAYSIGNAL_*`` variables
(tokens, passwords, webhook URLs): an exception may quote a URL or a header, and a bug
report must not carry a credential.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from adapters.cli.exitcodes import ExitCode
from adapters.logging import DEBUG_ENV, debug_enabled
from adapters.secrets import environment_secrets, redact

__all__ = ["DEBUG_ENV", "DEBUG_FLAG", "debug_requested", "internal_error_line", "run_guarded"]

DEBUG_FLAG = "--debug"
HINT = f"(run with {DEBUG_FLAG} for the traceback)"
MESSAGE_CHARS = 300


def debug_requested(
    argv: Sequence[str], environ: Mapping[str, str] = os.environ
) -> tuple[bool, list[str]]:
    """Whether the traceback is wanted, and the arguments without ``--debug``.

    The flag is taken anywhere before a ``--`` separator, so a user retrying a failed
    command line can simply append it; no command has an option of that name.
    """
    args = list(argv)
    end = args.index("--") if "--" in args else len(args)
    flagged = DEBUG_FLAG in args[:end]
    kept = [arg for i, arg in enumerate(args) if i >= end or arg != DEBUG_FLAG]
    return flagged or debug_enabled(environ), kept


def run_guarded(app: Callable[..., Any], argv: Sequence[str] | None = None) -> NoReturn:
    """Run the typer ``app`` on ``argv`` (default: the process's arguments); an
    unexpected exception becomes :func:`internal_error_line` and exit code 70."""
    debug, args = debug_requested(sys.argv[1:] if argv is None else argv)
    if debug:  # the daemon's log lines then carry tracebacks too (adapters/logging.py)
        os.environ[DEBUG_ENV] = "1"
    try:
        app(args=args, prog_name="graysignal")
    except SystemExit:
        raise
    except Exception as exc:
        secrets = environment_secrets()
        if debug:
            text = "".join(traceback.format_exception(exc))
            sys.stderr.write(redact(text, secrets))
        sys.stderr.write(internal_error_line(exc, secrets, hint=not debug) + "\n")
        sys.stderr.flush()
        raise SystemExit(ExitCode.SOFTWARE) from None
    raise SystemExit(ExitCode.OK)  # typer's standalone mode exits itself; this is a guard


def internal_error_line(
    exc: BaseException, secrets: Sequence[str] = (), *, hint: bool = True
) -> str:
    """``graysignal: internal error: <type>: <first line of the message> (hint)``."""
    lines = str(exc).strip().splitlines()
    message = redact(lines[0] if lines else "", secrets)
    if len(message) > MESSAGE_CHARS:
        message = message[: MESSAGE_CHARS - 3] + "..."
    what = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return f"graysignal: internal error: {what}" + (f" {HINT}" if hint else "")
