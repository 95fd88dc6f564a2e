"""``graysignal run``: the daemon."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from adapters.cli.exitcodes import ExitCode
from adapters.daemon.settings import load_settings
from adapters.logging import configure_logging


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
        bool, typer.Option("--once", help="Evaluate every group once, deliver, exit.")
    ] = False,
) -> None:
    try:
        settings = load_settings(
            config,
            rules=rules,
            ledger=ledger,
            suppressions=suppressions,
            listen_address=listen_address,
            alertmanager_urls=alertmanager_url,
            shard=shard,
        )
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            typer.echo(f"settings: {where}: {error['msg']}", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level, json=settings.log_format == "json")
    from adapters.daemon.service import Service  # noqa: PLC0415 - keeps `graysignal check` light
    from adapters.ledger import LedgerError  # noqa: PLC0415

    try:
        service = Service(settings)
    except LedgerError as exc:  # e.g. a read-only disk: say so, nothing is lost on it
        typer.echo(f"graysignal run: {exc}", err=True)
        raise typer.Exit(ExitCode.USAGE) from None
    code = service.run_once() if once else service.run_forever()
    raise typer.Exit(code)
