"""A loopback server speaking the Prometheus (and Loki) query API the way an attacker
or a broken proxy would: malformed JSON, a gigabyte body, a body or headers dripped a
byte at a time (slowloris), a redirect to another host, infinite values.

No real server misbehaves on demand, so this one writes raw HTTP/1.1 by hand on
127.0.0.1 (over TLS with ``tls``). Large bodies are generated lazily, chunk by chunk,
and writing stops as soon as the client goes away; :attr:`HostileServer.sent` counts
the body bytes that left, so a test can tell "stopped reading early" from "read it
all". Drips end after :data:`DRIP_FOR` seconds at most, so a client without a deadline
would fail a test rather than hang it.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.servers import TlsFiles

GIGABYTE = 1 << 30
CHUNK = 64 * 1024
DRIP_EVERY = 0.2
DRIP_FOR = 60.0

MATRIX_HEAD = (
    b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"x"},"values":['
)


def matrix(first: int, last: int, step: int, value: str = "1") -> bytes:
    values = [[t, value] for t in range(first, last + 1, step)]
    body = {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"metric": {"job": "x"}, "values": values}]},
    }
    return json.dumps(body).encode()


@functools.cache
def gzip_bomb() -> bytes:
    """About 32 KB that decompress to 32 MiB of JSON whitespace."""
    return gzip.compress(MATRIX_HEAD + b" " * (32 << 20), compresslevel=9)


@dataclass
class Seen:
    """One request as received."""

    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class HostileServer:
    """Answers every request according to ``mode`` (changeable while it runs)."""

    mode: str = "ok"
    host: str = "127.0.0.1"
    redirect_to: str = ""
    cycle: tuple[str, ...] = ()
    """With ``mode="cycle"``: the modes answered in turn, one per request."""
    tls: TlsFiles | None = None
    """Answer over TLS with this certificate (the URL is then ``https://``)."""
    requests: list[Seen] = field(default_factory=list)
    answered: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopped: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host!s}:{port}"

    def start(self) -> HostileServer:
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parsed = urlsplit(self.path)
                seen = Seen(parsed.path, dict(parse_qsl(parsed.query)), dict(self.headers.items()))
                with hostile._lock:
                    hostile.requests.append(seen)
                    mode = hostile.mode
                    if mode == "cycle":
                        mode = hostile.cycle[(len(hostile.requests) - 1) % len(hostile.cycle)]
                    hostile.answered[mode] = hostile.answered.get(mode, 0) + 1
                # OSError: the client gave up, which is what a bounded client should do
                with contextlib.suppress(OSError):
                    hostile._answer(self, seen, mode)
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                """Keep test output clean."""

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.tls.cert, self.tls.key)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _count(self, size: int) -> None:
        with self._lock:
            self.sent += size

    def _answer(self, handler: BaseHTTPRequestHandler, seen: Seen, mode: str) -> None:
        answers: dict[str, Callable[[BaseHTTPRequestHandler, Seen], None]] = {
            "ok": self._ok,
            "malformed": self._malformed,
            "huge": self._huge,
            "huge-announced": self._huge_announced,
            "gzip-bomb": self._gzip_bomb,
            "slow-body": self._slow_body,
            "slow-headers": self._slow_headers,
            "redirect": self._redirect,
            "infinite-values": self._infinite_values,
            "absurd-timestamps": self._absurd_timestamps,
        }
        answers[mode](handler, seen)

    def _send(self, handler: BaseHTTPRequestHandler, body: bytes, status: int = 200) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        self._count(len(body))

    def _range(self, seen: Seen) -> tuple[int, int, int]:
        def seconds(text: str) -> int:
            value = int(float(text))
            return value // 10**9 if value > 10**12 else value  # Loki sends nanoseconds

        step = int(seen.params.get("step", "60s").rstrip("s"))
        return seconds(seen.params["start"]), seconds(seen.params["end"]), step

    def _ok(self, handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        self._send(handler, matrix(*self._range(seen)))

    def _malformed(self, handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        self._send(handler, matrix(*self._range(seen))[:-40])

    def _infinite_values(self, handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        first, last, step = self._range(seen)
        body = matrix(first, last, step).replace(b'"1"]', b'"+Inf"]', 3)
        self._send(handler, body.replace(b'"1"]', b'"1e308"]', 3))

    def _absurd_timestamps(self, handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        body = {
            "status": "success",
            "data": {
                "resultType": "matrix",
                "result": [{"metric": {"job": "x"}, "values": [[1e300, "1"], ["NaN", "2"]]}],
            },
        }
        self._send(handler, json.dumps(body).encode())

    def _stream(self, handler: BaseHTTPRequestHandler, chunks: Iterator[bytes]) -> None:
        for chunk in chunks:
            if self._stopped.is_set():
                return
            handler.wfile.write(chunk)
            handler.wfile.flush()
            self._count(len(chunk))

    def _gigabyte(self) -> Iterator[bytes]:
        """A valid-looking matrix that goes on for a gigabyte, made as it is sent."""
        yield MATRIX_HEAD
        row = b'[1700000000,"1"],' * (CHUNK // 17)
        for _ in range(GIGABYTE // len(row)):
            yield row

    def _huge(self, handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Connection", "close")  # no length: the body ends when we stop
        handler.end_headers()
        self._stream(handler, self._gigabyte())

    def _huge_announced(self, handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(GIGABYTE))
        handler.end_headers()
        self._stream(handler, self._gigabyte())

    def _gzip_bomb(self, handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        compressed = gzip_bomb()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", str(len(compressed)))
        handler.end_headers()
        handler.wfile.write(compressed)
        self._count(len(compressed))

    def _drip(self, handler: BaseHTTPRequestHandler, data: bytes) -> None:
        deadline = time.monotonic() + DRIP_FOR
        for byte in data:
            if self._stopped.wait(DRIP_EVERY) or time.monotonic() > deadline:
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            self._count(1)

    def _slow_body(self, handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        body = matrix(*self._range(seen))
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        self._drip(handler, body)

    def _slow_headers(self, handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        self._drip(handler, b"X-Padding: " + b"a" * 1000 + b"\r\n")

    def _redirect(self, handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        handler.send_response(302)
        handler.send_header("Location", self.redirect_to)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
