"""The ``graysignal`` command line: thin commands wiring adapters to the pure core."""

from __future__ import annotations

import typer

from adapters.cli.backtest import backtest_command
from adapters.cli.check import check_command
from adapters.cli.demo import demo_command
from adapters.cli.digest import digest_command
from adapters.cli.feedback import ack_command, expect_command
from adapters.cli.replay import replay_command
from adapters.cli.run import run_command

app = typer.Typer(
    name="graysignal",
    help="Early warning for slow degradations: gray signals in metrics and logs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("check", help="Validate rule files; print file:line: message per problem.")(
    check_command
)
app.command("replay", help="Re-run rules over the window before an incident, causally.")(
    replay_command
)
app.command(
    "backtest", help="Replay past incidents with today's rules: caught, how early, false alarms."
)(backtest_command)
app.command("run", help="Run the daemon: evaluate rules, send alerts, serve /metrics.")(run_command)
app.command("ack", help="Acknowledge alerts in the reviewed suppressions file.")(ack_command)
app.command("expect", help="Declare an expected change (a new baseline) for a rule's series.")(
    expect_command
)
app.command(
    "digest", help="The week's drift: new, still drifting, recovered, blind spots; to Slack."
)(digest_command)
app.command("demo", help="Replay a bundled real incident and write an HTML report.")(demo_command)


def main() -> None:
    from adapters.cli.guard import run_guarded  # noqa: PLC0415 - one line, no traceback

    run_guarded(app)
