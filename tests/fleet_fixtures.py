"""A small generated fleet for the Dask tests: hosts exported one CSV each, a rule over
all of them (a glob), a rule over one file, and an incident library on their services.

Real Dask processes on loopback (:func:`dask_cluster`): a scheduler and two workers of
one thread each, started from this interpreter's environment on free ports and stopped
(their whole process groups) in teardown.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from adapters.timeparse import format_rfc3339
from tests.backtest_fixtures import MINI_INCIDENT, write_mini_csv
from tests.servers import free_port

STEP = 300
DAYS = 10
START = 1_794_816_000  # 2026-11-16T08:00:00Z
SHIFT = START + 8 * 86400
SERVICES = ("checkout", "cart", "search")

RULES = """\
groups:
  - name: fleet
    interval: 5m
    rules:
      - signal: FleetLatencyShift
        source: file
        path: {glob}
        detect: [level_shift]
        window: 2d
        seasonality: none
        direction: up
        for: 15m
        labels: {{team: web}}
  - name: checkout
    interval: 5m
    rules:
      - signal: CheckoutLatencyShift
        source: file
        path: {csv}
        detect: [level_shift]
        window: 2d
        seasonality: none
        direction: up
        for: 15m
"""


def write_fleet(directory: Path, hosts: int = 12) -> Path:
    """``hosts`` CSVs under ``directory/fleet`` (every third host's latency rises 30% at
    :data:`SHIFT`), the rules file, and two incidents; returns the rules file."""
    fleet = directory / "fleet"
    fleet.mkdir(parents=True, exist_ok=True)
    n = DAYS * 86400 // STEP
    timestamps = START + STEP * np.arange(n, dtype=np.int64)
    for host in range(hosts):
        values = 100 + np.random.default_rng(host).normal(0, 2, n)
        if host % 3 == 0:
            values[timestamps >= SHIFT + host * 600] += 30
        service = SERVICES[host % len(SERVICES)]
        lines = ["timestamp,value,__name__,service,host"]
        lines += [
            f"{t},{v:.4f},latency,{service},host-{host:03d}"
            for t, v in zip(timestamps.tolist(), values.tolist(), strict=True)
        ]
        (fleet / f"host-{host:03d}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    csv = write_mini_csv(directory / "checkout.csv")
    rules = directory / "rules.yaml"
    rules.write_text(RULES.format(glob=fleet / "*.csv", csv=csv), encoding="utf-8")
    incidents = directory / "incidents"
    incidents.mkdir(exist_ok=True)
    for name, service, at in (
        ("checkout-slow", "checkout", SHIFT + 3 * 3600),
        ("cart-slow", "cart", SHIFT + 5 * 3600),
    ):
        (incidents / f"{name}.yaml").write_text(
            MINI_INCIDENT.format(
                incident_id=name,
                start=format_rfc3339(at),
                end=format_rfc3339(at + 3600),
                service=service,
                category="code",
            ),
            encoding="utf-8",
        )
    return rules


@dataclass
class DaskCluster:
    """A scheduler's address and its worker processes by name."""

    address: str
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def kill(self, name: str) -> None:
        """Kill a worker and its nanny at once, as a lost node would go."""
        os.killpg(self.workers[name].pid, signal.SIGKILL)
        self.workers[name].wait(timeout=30)


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: teardown stops the nanny's child too
        cwd=Path(__file__).resolve().parents[1],
    )


def dask_cluster(workers: int = 2) -> Iterator[DaskCluster]:
    """A real ``dask scheduler`` and ``workers`` ``dask worker`` processes on 127.0.0.1."""
    from distributed import Client  # noqa: PLC0415 - only the Dask tests need it

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = _spawn(
        "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
        "--no-dashboard",
    )  # fmt: skip
    cluster = DaskCluster(address)
    processes = [scheduler]
    try:
        for i in range(workers):
            name = f"w{i}"
            cluster.workers[name] = _spawn(
                "distributed.cli.dask_worker", address, "--host", "127.0.0.1",
                "--nworkers", "1", "--nthreads", "1", "--name", name, "--no-dashboard",
            )  # fmt: skip
            processes.append(cluster.workers[name])
        with Client(address, timeout=30) as client:
            client.wait_for_workers(workers, timeout=60)
        yield cluster
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)
