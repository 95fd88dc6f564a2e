"""A rig for the fault-injection suite: the daemon as a real process, a real Alertmanager,
a loopback webhook receiver, series files that fire and resolve on demand, and the check
that compares what the receivers got with what the ledger says was sent.

- **Data.** One CSV with a series per host (``host=a``, ``b``, ...): ten days of 5-minute
  samples ending now, and for a *shifted* host the last eight hours 30% higher. That is
  a change any sound detector fires on (``level_shift``, ``for: 0s``), and the same data
  without the step is one none fires on, so each rewrite of the file makes alerts fire
  or resolve on the next evaluation, whatever the detector's fine print.
- **Daemon.** ``graysignal run`` with Alertmanager and a webhook (which carries each
  notification's ``notification_id``) as notifiers. Its output goes through a pipe to a
  log file the test owns, so a file-size limit put on the daemon (a full disk) cannot
  silence its log. Each kill is timed, to tell a duplicate from the documented crash
  window apart from one that is not.
- **Check** (:meth:`FaultRig.check`). After the daemon has settled (every alert's state
  in the ledger matches the data, the outbox is empty, Alertmanager shows the same
  alerts): every notification the ledger queued for the webhook was accepted by it at
  least once (none lost), nothing else was accepted, and every repeated
  ``notification_id`` is explained by a kill between the two receipts or by an answer
  that came after the notifier's timeout. Alertmanager's API v2 shows exactly the
  alerts the ledger has firing, each with the ledger's start time.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np

from tests.alertmanager_server import (
    AlertmanagerServer,
    RecordingServer,
    Reply,
    Request,
    free_port,
    wait_until,
)

GRAYSIGNAL = str(Path(sys.executable).with_name("graysignal"))
STEP = 300
HOOK_PATH = "/hook"
NOTIFY_TIMEOUT = 2.5
"""The daemon's notifier timeout with GRAYSIGNAL_FLUSH_TIMEOUT=5s (half of it)."""
SETTLE_TIMEOUT = 90.0

RULES = """\
groups:
  - name: fleet
    interval: 1s
    rules:
      - signal: FleetLatencyShift
        source: file
        path: latency.csv
        detect: [level_shift]
        for: 0s
        keep_firing_for: 0s
        labels: {severity: warning}
"""


@dataclass
class Outage:
    """The webhook receiver's switch: while ``on`` it answers 503 to everything; else
    it accepts after ``delay`` seconds (the time it spends acting on a notification)."""

    on: bool = False
    delay: float = 0.0

    def responder(self, request: Request) -> Reply:
        return Reply(503, "down for maintenance") if self.on else Reply(delay=self.delay)


@dataclass
class Tally:
    """What one scenario did, for docs/ledger.md."""

    restarts: int = 0
    transitions: int = 0  # firing and resolved transitions the ledger recorded
    sent: int = 0  # notifications queued for the webhook (one per transition)
    received: int = 0  # distinct notification ids the webhook accepted
    lost: int = 0
    duplicated: int = 0  # accepted again after a kill or a late answer (same id)
    alertmanager_checks: int = 0

    def line(self, name: str) -> str:
        return (
            f"{name}: restarts={self.restarts} transitions={self.transitions} "
            f"sent={self.sent} received={self.received} lost={self.lost} "
            f"duplicated={self.duplicated} alertmanager_state_matched={self.alertmanager_checks}"
        )


def write_fleet(path: Path, shifted: Mapping[str, bool], seed: int = 3) -> None:
    """Ten days of 5-minute samples per host ending now; a shifted host is 30% higher
    for the last eight hours. Written to a temporary file and renamed: atomic."""
    now = int(time.time()) // STEP * STEP
    n = 10 * 86400 // STEP
    start = now - (n - 1) * STEP
    rows = []
    for index, (host, shift) in enumerate(sorted(shifted.items())):
        values = 100 + np.random.default_rng(seed + index).normal(0, 2, n)
        if shift:
            values[-(8 * 3600 // STEP) :] += 30
        rows += [f"{start + i * STEP},{float(v)!r},{host}" for i, v in enumerate(values)]
    temporary = path.with_suffix(".tmp")
    temporary.write_text("timestamp,value,host\n" + "\n".join(rows) + "\n")
    temporary.replace(path)


def seconds_of(rfc3339: str) -> int:
    return int(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp())


@dataclass
class FaultRig:
    directory: Path
    alertmanager: AlertmanagerServer
    receiver: RecordingServer
    outage: Outage = field(default_factory=Outage)
    hosts: tuple[str, ...] = ("a", "b", "c")
    shifted: dict[str, bool] = field(default_factory=dict)
    kills: list[float] = field(default_factory=list)
    starts: int = 0
    alertmanager_checks: int = 0
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    _pump: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.rules = self.directory / "rules.yaml"
        self.data = self.directory / "latency.csv"
        self.ledger = self.directory / "ledger.db"
        self.log = self.directory / "daemon.log"
        self.rules.write_text(RULES)
        self.set_data({host: False for host in self.hosts})

    # -- data --------------------------------------------------------------------------

    def set_data(self, shifted: Mapping[str, bool]) -> None:
        self.shifted = {**self.shifted, **shifted}
        write_fleet(self.data, self.shifted)

    # -- the daemon --------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(
        self, *, prefix: Sequence[str] = (), wait: bool = True, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``graysignal run`` (after ``prefix``, e.g. a privilege drop)."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        self.port = free_port()
        process = subprocess.Popen(
            [
                *prefix,
                GRAYSIGNAL,
                "run",
                "--rules",
                str(self.rules),
                "--ledger",
                str(self.ledger),
                "--listen-address",
                f"127.0.0.1:{self.port}",
                "--alertmanager-url",
                self.alertmanager.url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "GRAYSIGNAL_WEBHOOK_URL": self.receiver.url + HOOK_PATH,
                "GRAYSIGNAL_RESEND_INTERVAL": "10m",
                "GRAYSIGNAL_FLUSH_TIMEOUT": "5s",
                "GRAYSIGNAL_LOG_FORMAT": "json",
                "GRAYSIGNAL_LOG_LEVEL": "info",
                "OPENBLAS_NUM_THREADS": "1",
                **(env or {}),
            },
        )
        self.process = process
        self._pump = threading.Thread(target=self._copy_log, args=(process,), daemon=True)
        self._pump.start()
        if wait:
            wait_until(lambda: self._ready(process), timeout=60)
        return process

    def _copy_log(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        with self.log.open("ab") as log:
            for line in process.stdout:
                log.write(line)
                log.flush()

    def _ready(self, process: subprocess.Popen[bytes]) -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the daemon exited with {process.returncode}:\n{self.tail()}")
        try:
            return httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """kill -9, timed; then wait for the process and its log."""
        assert self.process is not None
        self.kills.append(time.time())
        self.process.kill()
        self.wait()

    def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.wait()

    def wait(self) -> int:
        assert self.process is not None
        code = self.process.wait(60)
        if self._pump is not None:
            self._pump.join(10)
        return code

    def hup(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)

    def metric(self, name: str) -> float | None:
        for line in httpx.get(f"{self.base}/metrics", timeout=5).text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                return float(line.rsplit(" ", 1)[1])
        return None

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.wait()

    # -- the ledger, read as another process would -------------------------------------

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(f"file:{self.ledger}?mode=ro", uri=True, timeout=10)
        connection.row_factory = sqlite3.Row
        try:
            yield connection
        finally:
            connection.close()

    def outbox(self) -> list[sqlite3.Row]:
        with self._read() as db:
            return list(db.execute("SELECT * FROM outbox WHERE transition_id IS NOT NULL"))

    def pending(self) -> int:
        return sum(1 for row in self.outbox() if row["delivered_at"] is None)

    def firing_in_ledger(self) -> dict[str, int]:
        """Host -> fired_at of every alert the ledger holds as firing."""
        with self._read() as db:
            alerts = [
                json.loads(row["alert"]) for row in db.execute("SELECT alert FROM alert_state")
            ]
        return {a["labels"]["host"]: a["fired_at"] for a in alerts if a["state"] == "firing"}

    def transitions(self) -> int:
        with self._read() as db:
            return int(
                db.execute(
                    "SELECT COUNT(*) FROM transitions WHERE to_state = 'firing'"
                    " OR (from_state = 'firing' AND to_state = 'inactive')"
                ).fetchone()[0]
            )

    # -- settling and checking ---------------------------------------------------------

    def firing_in_alertmanager(self) -> dict[str, int]:
        return {
            a["labels"]["host"]: seconds_of(a["startsAt"])
            for a in self.alertmanager.alerts()
            if a["labels"].get("alertname") == "FleetLatencyShift"
        }

    def expected_firing(self) -> set[str]:
        return {host for host, shift in self.shifted.items() if shift}

    def settle(self) -> None:
        """Wait until the ledger's alerts match the data, the outbox is empty and
        Alertmanager shows the ledger's firing alerts; then check they agree."""

        def settled() -> bool:
            try:
                ledger = self.firing_in_ledger()
                if set(ledger) != self.expected_firing() or self.pending():
                    return False
                return self.firing_in_alertmanager() == ledger
            except (sqlite3.Error, httpx.HTTPError):
                return False

        try:
            wait_until(settled, timeout=SETTLE_TIMEOUT)
        except AssertionError:
            raise AssertionError(
                f"not settled: data {sorted(self.expected_firing())}, ledger "
                f"{self.firing_in_ledger()}, pending {self.pending()}, alertmanager "
                f"{self.firing_in_alertmanager()}\n{self.tail()}"
            ) from None
        self.alertmanager_checks += 1

    def check(self) -> Tally:
        """Compare the webhook's receipts with the ledger (see the module doc)."""
        rows = self.outbox()
        assert all(row["abandoned_at"] is None for row in rows), "a notification was abandoned"
        assert all(row["delivered_at"] is not None for row in rows), "a notification waits"
        queued = {
            json.loads(row["payload"])["notification_id"]
            for row in rows
            if row["notifier"] == "webhook"
        }
        receipts: dict[str, list[tuple[float, float]]] = {}
        for request, reply in self.receiver.exchanges():
            if request.path == HOOK_PATH and 200 <= reply.status < 300:
                identity = request.json()["notification_id"]
                receipts.setdefault(identity, []).append((request.at, reply.delay))
        lost = queued - receipts.keys()
        invented = receipts.keys() - queued
        assert not lost, f"lost: {sorted(lost)}"
        assert not invented, f"received but never queued: {sorted(invented)}"
        duplicated = 0
        for identity, seen in receipts.items():
            for (first, delay), (again, _) in itertools.pairwise(seen):
                killed = any(first < kill < again for kill in self.kills)
                late = delay >= NOTIFY_TIMEOUT
                assert killed or late, (
                    f"{identity} was accepted at {first:.3f} and again at {again:.3f} with "
                    "neither a kill between nor a late answer"
                )
                duplicated += 1
        return Tally(
            restarts=max(0, self.starts - 1),
            transitions=self.transitions(),
            sent=len(queued),
            received=len(receipts),
            lost=len(lost),
            duplicated=duplicated,
            alertmanager_checks=self.alertmanager_checks,
        )


def report(name: str, tally: Tally, directory: Path) -> None:
    """Print the tally (``pytest -s``) and append it to ``$GRAYSIGNAL_FAULT_REPORT`` if
    set: the figures docs/ledger.md quotes come from there."""
    line = tally.line(name)
    print(line)
    target = os.environ.get("GRAYSIGNAL_FAULT_REPORT")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(line + "\n")
    (directory / "tally.txt").write_text(line + "\n")
