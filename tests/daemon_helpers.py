"""Run ``graysignal run`` as a real process in tests, and read its /metrics."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.alertmanager_server import free_port, wait_until

GRAYSIGNAL = str(Path(sys.executable).with_name("graysignal"))


@contextmanager
def daemon(
    directory: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start ``graysignal run``; yield the process and its base URL; always stop it."""
    port = free_port()
    log = (directory / "daemon.log").open("a")
    process = subprocess.Popen(
        [
            GRAYSIGNAL,
            "run",
            "--rules",
            str(directory / "rules.yaml"),
            "--ledger",
            str(directory / "ledger.db"),
            "--listen-address",
            f"127.0.0.1:{port}",
            *args,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env={
            **os.environ,
            "GRAYSIGNAL_RESEND_INTERVAL": "2s",
            "GRAYSIGNAL_FLUSH_TIMEOUT": "5s",
            **(env or {}),
        },
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: status_of(f"{base}/readyz") == 200, timeout=30)
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log.close()


def status_of(url: str) -> int | None:
    """HTTP status of a GET, or None when nothing answers."""
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return None


def metric(base: str, name: str) -> float | None:
    for line in httpx.get(f"{base}/metrics", timeout=5).text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            return float(line.rsplit(" ", 1)[1])
    return None
