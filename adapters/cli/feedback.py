"""``graysignal ack`` and ``graysignal expect``: accept a change, in a reviewed file.

Both append one entry per accepted alert or series to the suppressions file
(``rules/suppressions.yaml`` by default) and print what they wrote: the file is meant to
be reviewed and committed like a rule change, and the daemon applies it at its next
reload (SIGHUP). ``ack`` takes the alert's identity and current effect from the
daemon's ledger, so what is accepted is exactly what was seen; ``expect`` needs no
ledger, since it describes a change that may not have happened yet.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from adapters.cli.options import time_option
from adapters.errors import InputError
from adapters.ledger import KnownAlert, Ledger
from adapters.notify.alertmanager import alertmanager_fingerprint
from adapters.suppressions import (
    DEFAULT_ACK_DAYS,
    append_entries,
    append_entry,
    format_change,
    format_matchers,
    parse_change,
    parse_matchers,
)
from adapters.timeparse import format_rfc3339
from detector.alerts import AlertState
from detector.finding import Kind
from detector.suppressions import Action, Suppression

DEFAULT_FILE = Path("rules/suppressions.yaml")
DEFAULT_LEDGER = Path("graysignal.db")
REVIEW_HINT = "Review and commit {file}; a running daemon applies it after a reload (SIGHUP)."

FileOption = Annotated[
    Path, typer.Option("--file", help="Suppressions file to append to (created if missing).")
]
ReasonOption = Annotated[
    str, typer.Option(help="Why this is accepted; shown wherever the alert is listed.")
]
ByOption = Annotated[str | None, typer.Option(help="Who accepts it (name or handle).")]
MatchersOption = Annotated[
    str | None,
    typer.Option(help='Series labels that must match, e.g. \'service="checkout",region="eu"\'.'),
]


def ack_command(
    target: Annotated[
        str,
        typer.Argument(
            help="An alertname, or an alert's fingerprint as Alertmanager shows it or as"
            " graysignal's webhook payload carries it.",
            show_default=False,
        ),
    ],
    reason: ReasonOption,
    until: Annotated[
        str | None,
        typer.Option(help=f"Expiry (date or RFC 3339); default {DEFAULT_ACK_DAYS} days from now."),
    ] = None,
    by: ByOption = None,
    matchers: MatchersOption = None,
    ledger: Annotated[
        Path, typer.Option(help="The daemon's ledger, where the alert is looked up.")
    ] = DEFAULT_LEDGER,
    file: FileOption = DEFAULT_FILE,
) -> None:
    """Acknowledge alerts: silence them until their effect doubles or the ack expires."""
    now = int(time.time())
    try:
        wanted = _matchers(matchers)
        expiry = time_option(until, "--until") or now + DEFAULT_ACK_DAYS * 86400
        if expiry <= now:
            raise typer.BadParameter("must be in the future", param_hint="--until")
        alerts = _alerts_to_ack(ledger, target, wanted)
        entries = []
        for alert in alerts:
            change = alert.finding.relative_change
            left = alert.finding.time_to_limit
            entry = Suppression(
                action=Action.ACK,
                rule=alert.rule,
                matchers={k: v for k, v in alert.finding.labels.items() if k != "__name__"},
                reason=reason,
                since=now,
                until=expiry,
                by=by,
                kind=alert.kind,
                change=round(change, 4) if math.isfinite(change) and round(change, 4) else None,
                time_to_limit=left if alert.kind is Kind.EXHAUSTION else None,
            )
            entries.append(entry)
        written = zip(append_entries(file, entries), entries, strict=True)  # all or none
    except InputError as exc:
        _fail(exc)
    for line, entry in written:
        typer.echo(f"{file}:{line}: {_summary(entry)}")
    typer.echo(REVIEW_HINT.format(file=file))


def expect_command(
    rule: Annotated[str, typer.Argument(help="The rule's signal name.", show_default=False)],
    change: Annotated[str, typer.Option(help="The expected relative change, e.g. +20% or -5%.")],
    reason: ReasonOption,
    matchers: MatchersOption = None,
    since: Annotated[
        str | None, typer.Option(help="When the new baseline starts (date or RFC 3339); now.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Expiry (date or RFC 3339); default: none.")
    ] = None,
    by: ByOption = None,
    file: FileOption = DEFAULT_FILE,
) -> None:
    """Declare an expected change: from its date it is the series' new baseline."""
    try:
        expected = parse_change(change)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--change") from exc
    if expected == 0:
        raise typer.BadParameter("the expected change must not be zero", param_hint="--change")
    try:
        entry = Suppression(
            action=Action.EXPECT,
            rule=rule,
            matchers=_matchers(matchers),
            reason=reason,
            since=time_option(since, "--since") or int(time.time()),
            until=time_option(until, "--until"),
            by=by,
            change=expected,
        )
        line = append_entry(file, entry)
    except InputError as exc:
        _fail(exc)
    typer.echo(f"{file}:{line}: {_summary(entry)}")
    typer.echo(REVIEW_HINT.format(file=file))


def _matchers(text: str | None) -> dict[str, str]:
    if text is None:
        return {}
    try:
        return parse_matchers(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--matchers") from exc


def _alerts_to_ack(ledger: Path, target: str, wanted: dict[str, str]) -> list[KnownAlert]:
    """Alerts named ``target`` (alertname or fingerprint) whose labels include ``wanted``.

    Alerts the daemon holds now win over ones that only fired earlier, so acknowledging
    a firing alert does not also acknowledge every series it ever fired on.
    """
    if not ledger.is_file():
        raise InputError.at(str(ledger), "no such ledger file; give the daemon's with --ledger")
    with Ledger.open(ledger) as opened:
        known = opened.known_alerts()
    found = [
        a
        for a in known
        if target
        in (a.alert_fingerprint, alertmanager_fingerprint(a.labels), a.labels.get("alertname"))
        and all(a.labels.get(k) == v for k, v in wanted.items())
    ]
    held = [a for a in found if a.state is not AlertState.INACTIVE]
    if held or found:
        return held or found
    names = sorted({str(a.labels.get("alertname")) for a in known})
    hint = f"; known alerts: {', '.join(names)}" if names else "; the ledger holds no alert yet"
    where = f" with {format_matchers(wanted)}" if wanted else ""
    raise InputError.at(str(ledger), f"no alert {target!r}{where} in the ledger{hint}")


def _summary(entry: Suppression) -> str:
    series = format_matchers(entry.matchers) or "every series"
    what = entry.kind.value if entry.kind is not None else "level changes"
    noun = "effect" if entry.action is Action.ACK else "change"
    change = f", {noun} {format_change(entry.change)}" if entry.change is not None else ""
    until = f" until {format_rfc3339(entry.until)}" if entry.until is not None else ""
    verb = "acknowledged" if entry.action is Action.ACK else "expected"
    return f"{verb} {entry.rule} {what} on {series}{change}{until} ({entry.reason})"


def _fail(exc: InputError) -> NoReturn:
    for problem in exc.problems:
        typer.echo(str(problem), err=True)
    raise typer.Exit(1) from None
