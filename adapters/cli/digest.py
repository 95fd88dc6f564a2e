"""``graysignal digest``: the week's drift, ranked and sectioned, for people and for Slack.

Without a daemon: every rule is evaluated over the period (and the weeks before it) with
the replay engine; a daemon's ledger (``--ledger``) adds what it recorded and makes
``--post`` happen once per period and destination. Exit codes (``exitcodes.py``): 0 done
(or already posted); 1 a post that Slack refused or that failed and waits in the outbox;
2 bad input or settings; 3 no rule could read any data.

Without ``--period`` or ``--since`` the digest is the last complete ISO week. When that
week was quiet but a rule has fired since it ended, the command says so on stderr and
suggests ``--since 7d``: "quiet" must not hide the drift of the days already gone by.
"""

from __future__ import annotations

import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from adapters.cli.demo import DEMO_INCIDENT, DEMO_RULES
from adapters.cli.exitcodes import ExitCode
from adapters.cli.fleet import SchedulerOption, WorkersOption, fleet_replayer
from adapters.cli.options import (
    LogFormat,
    LogFormatOption,
    LogLevel,
    LogLevelOption,
    duration_option,
    input_failure,
    start_logging,
    time_option,
)
from adapters.cli.progress import progress_bar, rule_counter
from adapters.errors import InputError
from adapters.timeparse import format_rfc3339, parse_timestamp
from detector.periods import WEEK, Period

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from adapters.digest.settings import DigestSettings
    from adapters.digest.slack_poster import SlackDigestPoster
    from adapters.ledger import Ledger
    from adapters.replaying import ScheduledRule
    from adapters.sources.base import Source
    from detector.digest import Digest
    from detector.replay import RuleOutcome

DEFAULT_RULES = Path("rules")
DEFAULT_LEDGER = Path("graysignal.db")


class DigestFormat(StrEnum):
    MD = "md"
    JSON = "json"
    SLACK = "slack"


def _settings(config: Path | None, overrides: dict[str, Any]) -> DigestSettings:
    """Digest settings: flags, then ``GRAYSIGNAL_DIGEST_*``, then ``--config``'s section."""
    from adapters.digest.settings import DigestSettings  # noqa: PLC0415

    flags = {k: v for k, v in overrides.items() if v is not None}
    if config is None:
        return DigestSettings(**flags)
    from adapters.daemon.settings import load_settings  # noqa: PLC0415 - only with --config

    base = load_settings(config).digest
    return DigestSettings.model_validate({**dict(base), **flags})


def _period(period: str | None, since: str | None, until: str | None, demo: bool) -> Period:
    if period is not None and since is not None:
        raise typer.BadParameter("give --period or --since, not both", param_hint="--period")
    if period is not None and until is not None:
        raise typer.BadParameter(
            "--until ends a --since period; a --period week has its own end",
            param_hint="--until",
        )
    if period is not None:
        try:
            return Period.iso_week(period)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--period") from None
    end = time_option(until, "--until")
    if end is None:
        end = parse_timestamp(DEMO_INCIDENT) if demo else int(time.time())
    if since is not None or demo:
        seconds = duration_option(since, "--since") or WEEK
        return Period.since(seconds, end)
    return Period.week_ending_before(end)


def _render(digest: Digest, fmt: DigestFormat) -> str:
    if fmt is DigestFormat.JSON:
        from adapters.digest.json_report import render_json  # noqa: PLC0415

        return render_json(digest)
    if fmt is DigestFormat.SLACK:
        from adapters.digest.slack_blocks import slack_messages  # noqa: PLC0415

        text = json.dumps(slack_messages(digest), indent=2, ensure_ascii=False)
        return text + "\n"
    from adapters.digest.markdown import render_markdown  # noqa: PLC0415

    return render_markdown(digest)


def _post(digest: Digest, poster: SlackDigestPoster, ledger: Ledger, *, force: bool) -> int:
    """Queue once per period (the ledger decides), then try to deliver what is due now."""
    from rich.console import Console  # noqa: PLC0415

    from adapters.digest.publish import queue_digest  # noqa: PLC0415
    from adapters.ledger import LedgerError  # noqa: PLC0415
    from adapters.notify.dispatcher import Dispatcher  # noqa: PLC0415

    err = Console(stderr=True)
    now = int(time.time())
    queued = queue_digest(ledger, digest, poster, now=now, force=force)
    if queued is None:
        earlier = ledger.digests_for(digest.period.label, poster.destination)[-1]
        if earlier.status == "abandoned":
            err.print(
                f"digest {digest.period.label} was refused by Slack after "
                f"{earlier.parts_posted} of {earlier.parts} parts were posted "
                f"({earlier.last_error}); not posting it again, which would repeat those "
                "parts; --force posts it again"
            )
            return 1
        if earlier.status == "posted":
            err.print(
                f"digest {digest.period.label} was already posted to {poster.destination}; "
                "--force posts it again"
            )
            return 0
        err.print(f"digest {digest.period.label} is already queued; trying it now")
    try:
        stats = Dispatcher(ledger, {poster.name: poster}).deliver_due(now)
    except LedgerError as exc:  # e.g. another process finished the post meanwhile
        latest = ledger.digests_for(digest.period.label, poster.destination)[-1]
        err.print(
            f"digest {digest.period.label}: the ledger changed while posting ({exc}); "
            f"it now says {latest.status}, {latest.parts_posted} of {latest.parts} parts posted"
        )
        return 1
    latest = ledger.digests_for(digest.period.label, poster.destination)[-1]
    if latest.status == "posted":
        err.print(
            f"posted digest {digest.period.label} to {poster.destination} "
            f"({latest.parts} message{'s' if latest.parts != 1 else ''})"
        )
        return 0
    if stats.abandoned:
        err.print(f"Slack refused the digest: {latest.last_error}")
        return 1
    err.print(
        f"posting failed ({latest.last_error}); {latest.parts_posted} of {latest.parts} "
        "parts posted, the rest waits in the ledger's outbox and is retried by the daemon "
        "or the next `graysignal digest --post`"
    )
    return 1


def digest_command(
    rules: Annotated[
        list[Path] | None,
        typer.Option(help="Rule file or directory (repeatable). Default: rules/."),
    ] = None,
    period: Annotated[
        str | None, typer.Option(help="ISO week, e.g. 2026-W47 (UTC). Default: last week.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Instead of a week: this long before --until, e.g. 7d.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="End of a --since period (RFC 3339). Default: now.")
    ] = None,
    output_format: Annotated[
        DigestFormat, typer.Option("--format", help="md, json or slack (Block Kit).")
    ] = DigestFormat.MD,
    post: Annotated[
        bool, typer.Option("--post", help="Post to Slack, once per period and destination.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the exact Slack request bodies; post nothing."),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="With --post: post even if already posted.")
    ] = False,
    ledger: Annotated[
        Path | None,
        typer.Option(help="The daemon's ledger: its firings, earlier digests, posting record."),
    ] = None,
    suppressions: Annotated[
        Path | None,
        typer.Option(help="Reviewed acks/expectations. Default: suppressions.yaml by the rules."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="The daemon's YAML settings (its digest: section).")
    ] = None,
    link_template: Annotated[
        str | None, typer.Option(help="Link per item, e.g. a Grafana Explore URL with {query}.")
    ] = None,
    group_label: Annotated[
        list[str] | None, typer.Option(help="Label that groups items (repeatable).")
    ] = None,
    history_weeks: Annotated[
        int | None, typer.Option(help="Earlier weeks evaluated to count drifting weeks.")
    ] = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo", help="The bundled demo: its rules, the 7 days before the machine failed."
        ),
    ] = False,
    log_level: LogLevelOption = LogLevel.WARNING,
    log_format: LogFormatOption = LogFormat.CONSOLE,
    scheduler: SchedulerOption = None,
    workers: WorkersOption = None,
) -> None:
    """The week's drift: new, still drifting, recovered, blind spots; to Slack."""
    start_logging(log_level, log_format)
    from pydantic import ValidationError  # noqa: PLC0415

    try:
        if config is not None and not config.is_file():
            raise InputError.at(str(config), "no such settings file")
        settings = _settings(
            config,
            {
                "link_template": link_template,
                "group_labels": group_label,
                "history_weeks": history_weeks,
            },
        )
    except InputError as exc:
        raise input_failure(exc) from None
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "digest"
            typer.echo(f"settings: {where}: {error['msg']}", err=True)
        raise typer.Exit(ExitCode.USAGE) from None
    if force and not post:
        typer.echo("--force only applies with --post", err=True)
        raise typer.Exit(ExitCode.USAGE)
    chosen = _period(period, since, until, demo)
    if post and chosen.end > time.time():
        typer.echo(
            f"--post: period {chosen.label} has not ended yet (it ends "
            f"{format_rfc3339(chosen.end)}); only a complete period is posted, once",
            err=True,
        )
        raise typer.Exit(ExitCode.USAGE)
    from adapters.cli.replay import rule_files_plan  # noqa: PLC0415
    from adapters.digest.collect import DigestOptions, collect_digest  # noqa: PLC0415
    from adapters.ledger import Ledger, LedgerError  # noqa: PLC0415
    from adapters.sources import default_sources  # noqa: PLC0415
    from adapters.suppressions import load_suppressions, suppressions_files_near  # noqa: PLC0415

    paths = [DEMO_RULES] if demo else (rules or [DEFAULT_RULES])
    ledger_path = ledger if ledger is not None else (DEFAULT_LEDGER if post else None)
    try:
        plan = rule_files_plan(paths)
        options = DigestOptions(
            history_weeks=settings.history_weeks,
            group_labels=tuple(settings.group_labels),
            link_template=settings.link_template,
            suppressions=[
                s
                for path in ([suppressions] if suppressions else suppressions_files_near(paths))
                for s in load_suppressions(path)
            ],
        )
        if ledger_path is not None and not post and not ledger_path.is_file():
            raise InputError.at(str(ledger_path), "no such ledger file")
        opened = Ledger.open(ledger_path) if ledger_path is not None else None
    except InputError as exc:
        raise input_failure(exc) from None
    except LedgerError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(ExitCode.USAGE) from None
    from adapters.replaying import read_nothing, replay_rules  # noqa: PLC0415

    sources = default_sources()
    outcomes: list[RuleOutcome] = []
    try:
        with fleet_replayer(scheduler, workers) as fleet:
            # a fleet draws its bar over tasks; one process, over rules
            rules_bar = progress_bar("evaluating rules", len(plan) if fleet is None else 0)
            with rules_bar as step:
                count = rule_counter(step)

                def done(entry: ScheduledRule, outcome: RuleOutcome) -> None:
                    outcomes.append(outcome)
                    count(entry, outcome)

                built = collect_digest(
                    plan,
                    sources,
                    chosen,
                    options=options,
                    ledger=opened,
                    on_rule_done=done,
                    replay=replay_rules if fleet is None else fleet,
                )
        if dry_run:
            from adapters.digest.publish import transport_from_settings  # noqa: PLC0415
            from adapters.digest.slack_blocks import slack_messages  # noqa: PLC0415
            from adapters.digest.slack_poster import request_bodies  # noqa: PLC0415

            transport = transport_from_settings(settings)
            messages = slack_messages(built)
            bodies = messages if transport is None else request_bodies(transport, messages)
            sys.stdout.write(json.dumps(bodies, indent=2, ensure_ascii=False) + "\n")
            code = ExitCode.OK
        elif not post:
            sys.stdout.write(_render(built, output_format))
            if period is None and since is None and not demo:
                _say_if_drifting_since(built, plan, sources, now=_now(until))
            code = ExitCode.OK
        else:
            from adapters.digest.publish import poster_from_settings  # noqa: PLC0415

            poster = None if opened is None else poster_from_settings(settings, opened)
            if poster is None or opened is None:
                typer.echo(
                    "settings: digest: --post needs a Slack destination: set "
                    "GRAYSIGNAL_DIGEST_SLACK_WEBHOOK_URL, or GRAYSIGNAL_DIGEST_SLACK_BOT_TOKEN "
                    "and GRAYSIGNAL_DIGEST_SLACK_CHANNEL",
                    err=True,
                )
                raise typer.Exit(ExitCode.USAGE)
            code = ExitCode(_post(built, poster, opened, force=force))
    finally:
        if opened is not None:
            opened.close()
    if code is ExitCode.OK and read_nothing(outcomes):
        typer.echo(
            "no rule could read any data (see the blind spots): the digest says nothing "
            "about drift",
            err=True,
        )
        code = ExitCode.UNAVAILABLE
    raise typer.Exit(code)


def _now(until: str | None) -> int:
    return time_option(until, "--until") or int(time.time())


def _say_if_drifting_since(
    digest: Digest, plan: Sequence[ScheduledRule], sources: Mapping[str, Source], *, now: int
) -> None:
    """A quiet last week may hide a drift that began after it: replay the days since it
    ended and, if a rule fired, say so and suggest ``--since 7d`` (on stderr)."""
    from detector.digest import Section  # noqa: PLC0415

    drifting = digest.section(Section.NEW) + digest.section(Section.STILL)
    end = digest.period.end
    if drifting or now <= end:
        return
    from adapters.replaying import replay_rules  # noqa: PLC0415

    with progress_bar("checking the days since", len(plan)) as step:
        since = replay_rules(
            plan, sources, start=end, end=now, incident=now, on_rule_done=rule_counter(step)
        )
    fired = sorted({s.rule for s in since.signals if s.firings})
    if not fired:
        return
    days = max(1, -(-(now - end) // 86400))
    typer.echo(
        f"note: {digest.period.label} was quiet, but since it ended "
        f"({format_rfc3339(end)}) {len(fired)} rule{'s' if len(fired) != 1 else ''} "
        f"fired: {', '.join(fired)}. `graysignal digest --since {max(days, 7)}d` "
        "covers the days since.",
        err=True,
    )
