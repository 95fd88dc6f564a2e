"""The ``graysignal`` command line: thin commands wiring adapters to the pure core.

Each command's module is imported only when that command runs (:mod:`adapters.cli.lazy`),
so ``--help``, ``--version`` and ``check`` never pay for the detection libraries.
"""

from __future__ import annotations

from typing import Annotated

import typer

from adapters.cli.lazy import LazyCommand, lazy_group

COMMANDS = (
    LazyCommand(
        "check",
        "adapters.cli.check:check_command",
        "Validate rule, incident, suppressions or settings files; print file:line: message.",
    ),
    LazyCommand(
        "replay",
        "adapters.cli.replay:replay_command",
        "Re-run rules over the window before an incident, causally.",
    ),
    LazyCommand(
        "backtest",
        "adapters.cli.backtest:backtest_command",
        "Replay past incidents with today's rules: caught, how early, false alarms.",
    ),
    LazyCommand(
        "run",
        "adapters.cli.run:run_command",
        "Run the daemon: evaluate rules, send alerts, serve /metrics.",
    ),
    LazyCommand(
        "ack",
        "adapters.cli.feedback:ack_command",
        "Acknowledge alerts in the reviewed suppressions file.",
    ),
    LazyCommand(
        "expect",
        "adapters.cli.feedback:expect_command",
        "Declare an expected change (a new baseline) for a rule's series.",
    ),
    LazyCommand(
        "digest",
        "adapters.cli.digest:digest_command",
        "The week's drift: new, still drifting, recovered, blind spots; to Slack.",
    ),
    LazyCommand(
        "demo",
        "adapters.cli.demo:demo_command",
        "Replay a bundled real incident and write an HTML report.",
    ),
)

app = typer.Typer(
    name="graysignal",
    cls=lazy_group(COMMANDS),
    help="Early warning for slow degradations: gray signals in metrics and logs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from adapters.cli.version import version_text  # noqa: PLC0415 - only when asked

        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version, Python's and the key libraries', and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Early warning for slow degradations: gray signals in metrics and logs."""


def main() -> None:
    from adapters.cli.guard import run_guarded  # noqa: PLC0415 - one line, no traceback

    run_guarded(app)
