"""``graysignal run``: the daemon, or one cycle of it (``--once``, for cron).

Exit codes (``exitcodes.py``): 2 for settings or rule files that do not validate (the
settings file's problems as ``file:line: message``); with ``--once`` also 3 when no rule
could read its source, 1 when some rules failed, 0 otherwise. The daemon itself exits 0
after SIGTERM.

``--once`` is meant for cron. Each run restores the alerts' pending state from the data
of the last ``for`` span (:mod:`adapters.daemon.engine`), so a rule with ``for:`` fires
on the run that finds its finding held long enough, and re-sends what is firing. Its
``endsAt`` must outlast the gap to the next run, or Alertmanager resolves the alert in
between: ``--next-run-within`` is that gap (the cron interval), and plays the role of
the daemon's ``resend_interval``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from adapters.cli.exitcodes import ExitCode
from adapters.cli.options import duration_option, input_failure
from adapters.errors import InputError


def run_command(
    config: Annotated[
        Path | None, typer.Option(help="YAML settings file (flags and GRAYSIGNAL_* win).")
    ] = None,
    rules: Annotated[
        list[Path] | None, typer.Option(help="Rule file or directory (repeatable).")
    ] = None,
    ledger: Annotated[Path | None, typer.Option(help="SQLite ledger file.")] = None,
    suppressions: Annotated[
        Path | None,
        typer.Option(help="Reviewed suppressions file (default: suppressions.yaml beside rules)."),
    ] = None,
    listen_address: Annotated[
        str | None, typer.Option(help="host:port for /metrics, /healthz, /readyz.")
    ] = None,
    alertmanager_url: Annotated[
        list[str] | None, typer.Option(help="Alertmanager base URL (repeatable).")
    ] = None,
    shard: Annotated[str | None, typer.Option(help="Evaluate only shard i of N, as i/N.")] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Evaluate every group once, deliver, exit (cron).")
    ] = False,
    next_run_within: Annotated[
        str | None,
        typer.Option(
            help="With --once: the longest time until the next run, i.e. the cron interval "
            "(e.g. 1h). Firing alerts get endsAt 4 times that far ahead, as the daemon's do "
            "with resend_interval, so they stay firing from one run to the next.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the daemon: evaluate rules, send alerts, serve /metrics."""
    gap = duration_option(next_run_within, "--next-run-within")
    if gap is not None and not once:
        raise typer.BadParameter("applies to --once only", param_hint="--next-run-within")
    from pydantic import ValidationError  # noqa: PLC0415

    from adapters.daemon.settings import load_settings  # noqa: PLC0415

    if config is not None and not config.is_file():
        raise input_failure(InputError.at(str(config), "no such settings file"))
    try:
        settings = load_settings(
            config,
            rules=rules,
            ledger=ledger,
            suppressions=suppressions,
            listen_address=listen_address,
            alertmanager_urls=alertmanager_url,
            shard=shard,
            resend_interval=gap,
        )
    except ValidationError as exc:
        _settings_failure(config, exc)
    from adapters.logging import configure_logging  # noqa: PLC0415

    configure_logging(settings.log_level, json=settings.log_format == "json")
    if once and gap is None:
        typer.echo(
            f"warning: --once without --next-run-within: firing alerts end "
            f"{4 * settings.resend_interval}s after this run unless another run re-sends "
            "them by then; give the cron interval, e.g. --next-run-within 1h",
            err=True,
        )
    from adapters.daemon.service import Service  # noqa: PLC0415
    from adapters.ledger import LedgerError  # noqa: PLC0415

    try:
        service = Service(settings)
    except LedgerError as exc:  # e.g. a read-only disk: say so, nothing is lost on it
        typer.echo(f"graysignal run: {exc}", err=True)
        raise typer.Exit(ExitCode.USAGE) from None
    code = service.run_once() if once else service.run_forever()
    raise typer.Exit(code)


def _settings_failure(config: Path | None, error: Exception) -> NoReturn:
    """Say what is wrong with the settings: at its line when it is in the file."""
    from pydantic import ValidationError  # noqa: PLC0415

    from adapters.daemon.settings import check_settings_file  # noqa: PLC0415

    if config is not None:
        try:
            check_settings_file(config)
        except InputError as located:
            raise input_failure(located) from None
    if isinstance(error, ValidationError):
        for detail in error.errors():
            where = ".".join(str(p) for p in detail["loc"])
            typer.echo(f"settings: {where}: {detail['msg']}", err=True)
    raise typer.Exit(ExitCode.USAGE) from None
