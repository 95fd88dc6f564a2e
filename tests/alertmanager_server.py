"""Real servers on loopback for the notification tests.

- :class:`RecordingServer`: a stdlib ``http.server`` thread on 127.0.0.1 that records every
  request and answers from a script (status, body, headers), then from a default
  responder. It is the webhook receiver Alertmanager notifies, and the stand-in for
  webhook and Slack endpoints (the tests give it their documented wire format).
- :class:`AlertmanagerServer`: Debian's ``prometheus-alertmanager`` binary with clustering
  off, routing everything at once (``group_wait: 0s``, ``group_interval: 1s``) to a
  :class:`RecordingServer`. It can be stopped and started again on the same port, to
  play an outage.

Nothing here sleeps for a fixed time: waiting is bounded polling on a condition.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx

BINARY = "prometheus-alertmanager"
POLL_TIMEOUT = 15.0
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], T | None], *, timeout: float = POLL_TIMEOUT) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.05)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = 0.0  # wall-clock time it arrived

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: str = "ok"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0


Responder = Callable[[Request], Reply]


class RecordingServer:
    """Records requests; answers with scripted replies first, then ``responder``."""

    def __init__(self, responder: Responder | None = None) -> None:
        self.requests: list[Request] = []
        self.replies: list[Reply] = []  # what each request was answered, in order
        self._script: deque[Reply] = deque()
        self._responder = responder or (lambda request: Reply())
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                request = Request(
                    "POST",
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                    time.time(),
                )
                reply = server._record(request)
                if reply.delay:
                    time.sleep(reply.delay)
                body = reply.body.encode()
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers:
                        self.send_header(key, value)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing to answer

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _record(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            reply = self._script.popleft() if self._script else self._responder(request)
            self.replies.append(reply)
            return reply

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order."""
        with self._lock:
            self._script.extend(replies)

    def received(self) -> list[Request]:
        with self._lock:
            return list(self.requests)

    def exchanges(self) -> list[tuple[Request, Reply]]:
        """Every request with the reply it was given."""
        with self._lock:
            return list(zip(self.requests, self.replies, strict=True))

    def start(self) -> RecordingServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def recording_server(responder: Responder | None = None) -> Iterator[RecordingServer]:
    server = RecordingServer(responder).start()
    try:
        yield server
    finally:
        server.stop()


CONFIG = """\
route:
  receiver: recorder
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: recorder
    webhook_configs:
      - url: {receiver}
        send_resolved: true
"""


class AlertmanagerServer:
    """One ``prometheus-alertmanager`` process on 127.0.0.1, clustering disabled."""

    def __init__(self, workdir: Path, receiver_url: str) -> None:
        executable = shutil.which(BINARY)
        if executable is None:
            raise RuntimeError(f"{BINARY} is not installed; `make servers` installs it")
        self.executable = executable
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "alertmanager.yml"
        self.config.write_text(CONFIG.format(receiver=receiver_url + "/"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = workdir / "alertmanager.log"

    def start(self) -> AlertmanagerServer:
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    self.executable,
                    f"--config.file={self.config}",
                    f"--storage.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--cluster.listen-address=",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until(self._ready)
        except AssertionError:
            self.stop()
            raise RuntimeError(f"Alertmanager did not become ready:\n{self.log_tail()}") from None
        return self

    def _ready(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(f"Alertmanager exited:\n{self.log_tail()}")
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def log_tail(self, lines: int = 20) -> str:
        text = self._log.read_text(errors="replace") if self._log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the active (not resolved) alerts."""
        response = httpx.get(f"{self.url}/api/v2/alerts", timeout=5.0)
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()
        return alerts

    def wait_for_alerts(
        self, condition: Callable[[list[dict[str, Any]]], bool]
    ) -> list[dict[str, Any]]:
        """Poll until the active alerts satisfy ``condition``; return them."""

        def holds() -> tuple[list[dict[str, Any]]] | None:
            alerts = self.alerts()
            return (alerts,) if condition(alerts) else None  # a tuple: truthy when empty

        return wait_until(holds)[0]


@contextmanager
def running_alertmanager(workdir: Path) -> Iterator[tuple[AlertmanagerServer, RecordingServer]]:
    """An Alertmanager and the webhook receiver it notifies; both stopped afterwards."""
    with recording_server() as receiver:
        server = AlertmanagerServer(workdir, receiver.url)
        try:
            yield server.start(), receiver
        finally:
            server.stop()
