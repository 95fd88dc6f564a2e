"""``graysignal demo``: replay a real, bundled incident; no server needed.

The data is NAB's ``machine_temperature_system_failure`` (MIT licence, see
``adapters/demo/NOTICE``): an industrial machine's temperature sensor in the weeks before
a catastrophic failure. The demo asks the question graysignal exists for: what could we
have known before the failure?
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adapters.cli.options import LogFormat, LogFormatOption, LogLevel, LogLevelOption, start_logging
from adapters.timeparse import format_rfc3339, parse_timestamp

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"
DEMO_RULES = DEMO_DIR / "rules.yaml"
# NAB's label for the catastrophic failure, and how far back the post-mortem looks.
DEMO_INCIDENT = "2014-02-08T14:30:00Z"
DEMO_LOOKBACK = 14 * 86400


def demo_command(
    report: Annotated[Path, typer.Option(help="Where to write the HTML report.")] = Path(
        "graysignal-demo.html"
    ),
    log_level: LogLevelOption = LogLevel.WARNING,
    log_format: LogFormatOption = LogFormat.CONSOLE,
) -> None:
    """Replay a bundled real incident and write an HTML report."""
    start_logging(log_level, log_format)
    from rich.console import Console  # noqa: PLC0415 - the replay is what takes time

    from adapters.cli.progress import progress_bar, rule_counter  # noqa: PLC0415
    from adapters.cli.replay import OutputFormat, rule_files_plan, write_output  # noqa: PLC0415
    from adapters.replaying import replay_rules  # noqa: PLC0415
    from adapters.sources import default_sources  # noqa: PLC0415

    console = Console()
    incident = parse_timestamp(DEMO_INCIDENT)
    console.print(
        "[bold]graysignal demo[/]: an industrial machine failed at "
        f"{format_rfc3339(incident)}. Replaying its temperature sensor over the "
        f"{DEMO_LOOKBACK // 86400} days before, exactly as the daemon would have seen it...\n"
    )
    plan = rule_files_plan([DEMO_RULES])
    with progress_bar("replaying rules", len(plan)) as step:
        result = replay_rules(
            plan,
            default_sources(),
            start=incident - DEMO_LOOKBACK,
            end=incident,
            incident=incident,
            on_rule_done=rule_counter(step),
        )
    write_output(result, OutputFormat.TERMINAL, None, "graysignal demo")
    write_output(result, OutputFormat.HTML, report, "graysignal demo: machine temperature failure")
