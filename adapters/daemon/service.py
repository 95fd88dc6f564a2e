"""The running daemon: one thread per rule group, delivery, probes, signals.

Modelled on Prometheus's rule manager: each group has its own loop at its interval with
a stable phase (no drift, no thundering herd), a group never overlaps itself, and a slow
or failing group cannot stall the others. SIGHUP reloads rules (a bad file is rejected
with its location and the last good rules keep running); SIGTERM lets in-flight cycles
finish, flushes the outbox and exits 0.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import FrameType

import structlog

from adapters.cli.exitcodes import ExitCode
from adapters.daemon.engine import Engine
from adapters.daemon.http import OpsServer
from adapters.daemon.metrics import DaemonMetrics
from adapters.daemon.settings import DaemonSettings
from adapters.digest.scheduler import scheduler_from_settings
from adapters.errors import InputError
from adapters.ledger import Ledger
from adapters.logpatterns.state import state_dir_for_ledger
from adapters.notify import (
    AlertmanagerNotifier,
    Notifier,
    SlackNotifier,
    StdoutNotifier,
    WebhookNotifier,
    alertmanager_notifiers,
)
from adapters.notify.dispatcher import Dispatcher
from adapters.notify.links import generator_url, replay_command, server_urls
from adapters.notify.silences import SilenceWatcher, silence_readers
from adapters.rulefiles import load_rule_files
from adapters.sources import default_sources, following_logs
from adapters.sources.base import Source
from adapters.suppressions import load_suppressions, suppressions_files_near
from adapters.timeparse import format_rfc3339
from detector.replay import next_evaluation
from detector.suppressions import Suppression

log = structlog.get_logger("graysignal.daemon")

DELIVERY_TICK = 1.0
PRUNE_INTERVAL = 3600
"""Seconds between ledger retention passes (the first runs at start)."""
NOTIFY_TIMEOUT = 5.0
REPLAY_LOOKBACK = "14d"


class WallClock:
    """Real time; tests substitute their own clock with the same two methods."""

    def now(self) -> float:
        return time.time()

    def sleep_until(self, moment: float, stop: threading.Event) -> bool:
        """Sleep until ``moment``; False if ``stop`` was set first."""
        return not stop.wait(max(0.0, moment - self.now()))


def build_notifiers(settings: DaemonSettings) -> dict[str, Notifier]:
    """Notifiers by name; each call is bounded well inside the shutdown flush deadline."""
    timeout = min(NOTIFY_TIMEOUT, settings.flush_timeout / 2)
    notifiers: dict[str, Notifier] = dict(
        alertmanager_notifiers(settings.alertmanager_urls, timeout=timeout)
    )
    if settings.webhook_url is not None:
        webhook = WebhookNotifier(settings.webhook_url, timeout=timeout)
        notifiers[webhook.name] = webhook
    if settings.slack_webhook_url is not None:
        slack = SlackNotifier(settings.slack_webhook_url, timeout=timeout)
        notifiers[slack.name] = slack
    if settings.stdout_notifications:
        stdout = StdoutNotifier()
        notifiers[stdout.name] = stdout
    return notifiers


@dataclass
class _Generation:
    """The group threads started by one (re)load; stopped together at the next."""

    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)


class Service:
    """Composition root of the daemon: wires settings to sources, ledger and notifiers."""

    def __init__(
        self,
        settings: DaemonSettings,
        *,
        sources: Mapping[str, Source] | None = None,
        notifiers: Mapping[str, Notifier] | None = None,
        clock: WallClock | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or WallClock()
        self.metrics = DaemonMetrics()
        self.ledger = Ledger.open(settings.ledger, for_writing=True)
        self.notifiers = dict(build_notifiers(settings) if notifiers is None else notifiers)
        base_sources = default_sources() if sources is None else sources
        servers = server_urls(base_sources)
        if sources is None:
            pattern_state = state_dir_for_ledger(settings.ledger)
            engine_sources = following_logs(base_sources, pattern_state)
        else:
            engine_sources = dict(sources)
        self.engine = Engine(
            sources=engine_sources,
            ledger=self.ledger,
            notifier_names=list(self.notifiers),
            resend_interval=settings.resend_interval,
            replay_hint=lambda at: replay_command(
                settings.rules,
                format_rfc3339(at),
                lookback=REPLAY_LOOKBACK,
                sources_used=self._sources_used(),
                servers=servers,
            ),
            metrics=self.metrics,
            shard=settings.shard_index,
            generator_url=lambda rule, at: generator_url(
                rule, at, templates=settings.generator_urls, servers=servers
            ),
        )
        # The digest reads the rules and suppressions the engine holds (the last good ones
        # of the last reload), not whatever is on disk at the scheduled time.
        self.digest = scheduler_from_settings(
            settings.digest,
            self.ledger,
            sources=base_sources,
            plan=lambda: [rule.entry for group in self.engine.groups() for rule in group.rules],
            suppressions=self.engine.suppressions,
            clock=self.clock,
            shard=settings.shard_index,
        )
        digest_poster = {} if self.digest is None else {self.digest.poster.name: self.digest.poster}
        # the digest poster delivers digests only: alerts are queued for self.notifiers
        self.dispatcher = Dispatcher(
            self.ledger,
            {**self.notifiers, **digest_poster},
            on_outcome=lambda notifier, outcome: self.metrics.notifications.labels(
                notifier=notifier, outcome=outcome
            ).inc(),
        )
        for notifier in self.dispatcher.notifiers:  # at zero, so the first refusal is an
            for outcome in ("delivered", "retrying", "abandoned"):  # increase() can see
                self.metrics.notifications.labels(notifier=notifier, outcome=outcome)
        self.silences = SilenceWatcher(
            silence_readers(
                settings.alertmanager_urls, timeout=min(NOTIFY_TIMEOUT, settings.flush_timeout / 2)
            ),
            self.ledger,
            self.metrics,
        )
        self.loaded = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._reload_requested = False
        self._generation = _Generation()
        self._delivery: threading.Thread | None = None
        self._digest_thread: threading.Thread | None = None

    # -- rules -------------------------------------------------------------------------

    def reload(self) -> bool:
        """Load rule files and suppressions; on any problem keep the current ones and say where.

        Both are checked before either is installed, so rules and the suppressions that
        refer to them always change together.
        """
        try:
            files = load_rule_files(self.settings.rules)
        except InputError as exc:
            for problem in exc.problems:
                log.error("rule file rejected; keeping the last good rules", problem=str(problem))
            self.metrics.reload_success.set(0)
            return False
        try:
            suppressions = self._load_suppressions()
        except InputError as exc:
            for problem in exc.problems:
                log.error(
                    "suppressions file rejected; keeping the last good rules and suppressions",
                    problem=str(problem),
                )
            self.metrics.reload_success.set(0)
            return False
        self.engine.load(files)
        self.engine.set_suppressions(suppressions)
        self.loaded = True
        self.metrics.reload_success.set(1)
        self.metrics.reload_time.set(time.time())
        groups = self.engine.groups()
        log.info(
            "rules loaded",
            groups=len(groups),
            rules=sum(len(g.rules) for g in groups),
            notifiers=sorted(self.notifiers),
            suppressions=len(suppressions),
        )
        return True

    def _load_suppressions(self) -> list[Suppression]:
        """The configured suppressions file, else ``suppressions.yaml`` beside the rules."""
        if self.settings.suppressions is not None:
            paths = [self.settings.suppressions]
            if not self.settings.suppressions.exists():  # allowed (no acks yet), but said
                log.warning(
                    "configured suppressions file does not exist; no suppressions",
                    path=str(self.settings.suppressions),
                )
        else:
            paths = suppressions_files_near(self.settings.rules)
        return [s for path in paths for s in load_suppressions(path)]

    def _sources_used(self) -> set[str]:
        return {r.entry.rule.source for g in self.engine.groups() for r in g.rules}

    # -- one-shot ----------------------------------------------------------------------

    def run_once(self) -> int:
        """Evaluate every group once at the current time, deliver, re-send what is
        firing, exit (cron, tests). The exit code (``exitcodes.py``): 2 rules or
        suppressions rejected, 3 no rule could read its source, 1 some rules failed."""
        if not self.reload():
            return ExitCode.USAGE
        now = int(self.clock.now())
        rules = failed = unavailable = 0
        for group in self.engine.groups():
            report = self.engine.run_group(group.name, now)
            rules += report.evaluated
            failed += len(report.failed)
            unavailable += len(report.unavailable)
        self.dispatcher.flush(float(self.settings.flush_timeout), self.clock)
        # Cron runs are the re-sends: each refreshes endsAt of what is still firing.
        self._resend(now)
        self._poll_silences(now)
        self.metrics.outbox_depth.set(self.ledger.outbox_depth())
        self.silences.close()
        self.ledger.close()
        if rules and unavailable == rules:
            return ExitCode.UNAVAILABLE
        return ExitCode.PROBLEMS if failed else ExitCode.OK

    # -- long-running ------------------------------------------------------------------

    def run_forever(self) -> int:
        """Run until SIGTERM/SIGINT; reload on SIGHUP. Returns the process exit code."""
        if not self.reload():
            return ExitCode.USAGE
        ops = OpsServer(
            self.settings.listen_address,
            self.metrics.registry,
            healthy=self._healthy,
            ready=lambda: self.loaded and not self._stop.is_set(),
        )
        ops.start()
        log.info("listening", address=f"{self.settings.listen_address}", port=ops.port)
        self._install_signal_handlers()
        self._start_groups()
        self._delivery = threading.Thread(target=self._delivery_loop, name="delivery", daemon=True)
        self._delivery.start()
        if self.digest is not None:
            self._digest_thread = threading.Thread(
                target=self.digest.loop, args=(self._stop,), name="digest", daemon=True
            )
            self._digest_thread.start()
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            if self._reload_requested:
                self._reload_requested = False
                self._restart_groups()
        log.info("shutting down: finishing in-flight cycles")
        self._stop_groups()
        if self._delivery is not None:
            self._delivery.join()
        if self._digest_thread is not None:
            self._digest_thread.join()
        delivered = self.dispatcher.flush(float(self.settings.flush_timeout), self.clock)
        self.metrics.outbox_depth.set(self.ledger.outbox_depth())
        log.info("stopped", outbox_flushed=delivered, outbox_depth=self.ledger.outbox_depth())
        ops.stop()
        self.silences.close()
        self.ledger.close()
        return 0

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def request_reload(self) -> None:
        self._reload_requested = True
        self._wake.set()

    def _install_signal_handlers(self) -> None:
        def on_term(signum: int, frame: FrameType | None) -> None:
            self.request_stop()

        def on_hup(signum: int, frame: FrameType | None) -> None:
            self.request_reload()

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        signal.signal(signal.SIGHUP, on_hup)

    def _healthy(self) -> bool:
        threads = [*self._generation.threads, *([self._delivery] if self._delivery else [])]
        return all(t.is_alive() for t in threads) or self._stop.is_set()

    def _start_groups(self) -> None:
        generation = _Generation()
        for group in self.engine.groups():
            thread = threading.Thread(
                target=self._group_loop,
                args=(group.name, generation.stop),
                name=f"group:{group.name}",
                daemon=True,
            )
            generation.threads.append(thread)
        self._generation = generation
        for thread in generation.threads:
            thread.start()

    def _stop_groups(self) -> None:
        self._generation.stop.set()
        for thread in self._generation.threads:
            thread.join()

    def _restart_groups(self) -> None:
        """SIGHUP: groups finish their cycle, rules reload (or stay), groups restart."""
        self._stop_groups()
        self.reload()
        self._start_groups()

    def _group_loop(self, name: str, stop: threading.Event) -> None:
        while not stop.is_set() and not self._stop.is_set():
            group = self.engine.group(name)
            if group is None:
                return
            due = next_evaluation(self.clock.now(), group.interval, group.offset)
            if not self.clock.sleep_until(due, stop) or self._stop.is_set():
                return
            self.engine.run_group(name, due)
            overrun = self.clock.now() - due
            if overrun > group.interval:
                missed = int(overrun // group.interval)
                self.metrics.missed.labels(group=name).inc(missed)
                log.warning("group overran its interval", group=name, missed=missed)

    def _delivery_loop(self) -> None:
        next_resend = next_prune = self.clock.now()
        while not self._stop.wait(DELIVERY_TICK):
            now = self.clock.now()
            try:
                self.dispatcher.deliver_due(int(now))
                self.metrics.outbox_depth.set(self.ledger.outbox_depth())
            except Exception:  # e.g. a full disk: keep trying, the outbox keeps the work
                log.exception("delivery round failed")
            if now >= next_resend:
                self._resend(int(now))
                self._poll_silences(int(now))
                next_resend = now + self.settings.resend_interval
            if now >= next_prune:
                self.prune_ledger(int(now))
                next_prune = now + PRUNE_INTERVAL

    def prune_ledger(self, now: int) -> None:
        """Keep the ledger bounded: findings are one row per finding per evaluation.

        Transitions, the outbox, deliveries, digests and silences stay: replay, the
        digest and retrospectives read them, and they grow with alerts, not evaluations.
        """
        try:
            deleted = self.ledger.prune_findings(before=now - self.settings.finding_retention)
        except Exception:  # e.g. a locked ledger: the next pass prunes the same rows
            log.exception("pruning old findings failed")
            return
        self.metrics.pruned_findings.inc(deleted)
        if deleted:
            log.info("pruned old findings", deleted=deleted)

    def _poll_silences(self, now: int) -> None:
        """Which firing alerts humans silenced in Alertmanager (best effort, logged)."""
        try:
            self.silences.poll(now, self.engine.firing_alerts())
        except Exception:  # e.g. a locked ledger: the next tick reads the silences again
            log.exception("recording Alertmanager silences failed")

    def _resend(self, now: int) -> None:
        payloads = self.engine.firing_payloads(now)
        if not payloads:
            return
        for notifier in self.notifiers.values():
            if isinstance(notifier, AlertmanagerNotifier):
                try:
                    notifier.resend(payloads)
                except Exception as exc:  # best effort: the outbox carries the transitions
                    log.warning("re-send failed", notifier=notifier.name, error=str(exc))
