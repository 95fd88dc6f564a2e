"""``graysignal ack`` and ``graysignal expect``: accept a change, in a reviewed file.

Both append one entry per accepted alert or series to the suppressions file
(``rules/suppressions.yaml`` by default) and print what they wrote: the file is meant to
be reviewed and committed like a rule change, and the daemon applies it at its next
reload (SIGHUP). ``ack`` takes the alert's identity and current effect from the
daemon's ledger, so what is accepted is exactly what was seen; ``expect`` needs no
ledger, since it describes a change that may not have happened yet.

``ack`` also works where no ledger is at hand (a laptop, a review): given an alertname
(and ``--matchers`` for the series), it acknowledges the kinds named with ``--kind``,
or every kind the rule detects (read from the rule files beside the suppressions file).
Such an ack knows no effect at acknowledgement, so only its expiry ends it.

Bad input (a flag, a ledger, an alert nobody knows) exits 2 (``exitcodes.py``).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from adapters.cli.options import input_failure, time_option
from adapters.errors import InputError
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
from detector.finding import Kind
from detector.suppressions import Action, Suppression

if TYPE_CHECKING:
    from adapters.ledger import KnownAlert

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
    kind: Annotated[
        list[Kind] | None,
        typer.Option(
            help="Kind to acknowledge (repeatable). Default: the alerts' kinds in the "
            "ledger; without a ledger, every kind the rule detects.",
            show_default=False,
        ),
    ] = None,
    ledger: Annotated[
        Path | None,
        typer.Option(
            help=f"The daemon's ledger, where the alert is looked up (default: "
            f"{DEFAULT_LEDGER} if it exists; without one, by alertname and --matchers).",
            show_default=False,
        ),
    ] = None,
    file: FileOption = DEFAULT_FILE,
) -> None:
    """Acknowledge alerts: silence them until their effect doubles or the ack expires."""
    now = int(time.time())
    kinds = list(kind or [])
    try:
        wanted = _matchers(matchers)
        expiry = time_option(until, "--until") or now + DEFAULT_ACK_DAYS * 86400
        if expiry <= now:
            raise typer.BadParameter("must be in the future", param_hint="--until")
        without_ledger = ledger is None and not DEFAULT_LEDGER.is_file()
        if without_ledger:
            entries = _acks_without_ledger(
                target, wanted, kinds, file, reason=reason, by=by, since=now, until=expiry
            )
        else:
            alerts = _alerts_to_ack(ledger or DEFAULT_LEDGER, target, wanted, kinds)
            entries = [
                _ack_of(alert, reason=reason, by=by, since=now, until=expiry) for alert in alerts
            ]
        written = zip(append_entries(file, entries), entries, strict=True)  # all or none
    except InputError as exc:
        _fail(exc)
    if without_ledger:
        typer.echo(
            f"no ledger ({DEFAULT_LEDGER}): acknowledged by alertname and matchers, without "
            "the effect at acknowledgement, so only its expiry ends it",
            err=True,
        )
    for line, entry in written:
        typer.echo(f"{file}:{line}: {_summary(entry)}")
    typer.echo(REVIEW_HINT.format(file=file))


def _ack_of(
    alert: KnownAlert, *, reason: str, by: str | None, since: int, until: int
) -> Suppression:
    """The ack of one alert the daemon knows, with its effect at acknowledgement."""
    change = alert.finding.relative_change
    left = alert.finding.time_to_limit
    return Suppression(
        action=Action.ACK,
        rule=alert.rule,
        matchers={k: v for k, v in alert.finding.labels.items() if k != "__name__"},
        reason=reason,
        since=since,
        until=until,
        by=by,
        kind=alert.kind,
        change=round(change, 4) if math.isfinite(change) and round(change, 4) else None,
        time_to_limit=left if alert.kind is Kind.EXHAUSTION else None,
    )


def _acks_without_ledger(
    target: str,
    matchers: dict[str, str],
    kinds: list[Kind],
    file: Path,
    *,
    reason: str,
    by: str | None,
    since: int,
    until: int,
) -> list[Suppression]:
    """One ack per kind for the series of ``target`` (an alertname) that ``matchers``
    select; the kinds are ``kinds`` or those the rule detects in the rule files beside
    ``file``. An exhaustion ack needs the forecast at acknowledgement, which only the
    ledger holds."""
    chosen = kinds or _detected_kinds(target, file.parent)
    if not chosen:
        raise InputError.at(
            str(file.parent),
            f"no rule {target!r} in the rule files here and no ledger ({DEFAULT_LEDGER}); "
            "name the kinds to acknowledge with --kind, or give the daemon's --ledger",
        )
    if Kind.EXHAUSTION in chosen:
        if kinds:
            raise InputError.at(
                str(DEFAULT_LEDGER),
                "an exhaustion ack needs the forecast time left, which only the daemon's "
                "ledger holds: give --ledger",
            )
        chosen = [k for k in chosen if k is not Kind.EXHAUSTION]
    return [
        Suppression(
            action=Action.ACK,
            rule=target,
            matchers=matchers,
            reason=reason,
            since=since,
            until=until,
            by=by,
            kind=kind,
        )
        for kind in chosen
    ]


def _detected_kinds(rule: str, folder: Path) -> list[Kind]:
    """The kinds the rule named ``rule`` detects, from the rule files in ``folder``."""
    from adapters.rulefiles import load_rule_file, yaml_files  # noqa: PLC0415

    files, _ = yaml_files([folder]) if folder.is_dir() else ([], [])
    for path in files:
        try:
            rule_file = load_rule_file(path)
        except InputError:
            continue  # `graysignal check` reports it; here it only does not name the rule
        for group in rule_file.groups:
            for candidate in group.rules:
                if candidate.signal == rule:
                    return list(dict.fromkeys(candidate.detect))
    return []


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


def _alerts_to_ack(
    ledger: Path, target: str, wanted: dict[str, str], kinds: list[Kind]
) -> list[KnownAlert]:
    """Alerts named ``target`` (alertname or fingerprint) whose labels include ``wanted``
    (and whose kind is one of ``kinds``, when given).

    Alerts the daemon holds now win over ones that only fired earlier, so acknowledging
    a firing alert does not also acknowledge every series it ever fired on.
    """
    from adapters.ledger import Ledger  # noqa: PLC0415
    from adapters.notify.alertmanager import alertmanager_fingerprint  # noqa: PLC0415
    from detector.alerts import AlertState  # noqa: PLC0415

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
        and (not kinds or a.kind in kinds)
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
    raise input_failure(exc) from None
