"""One HTTP GET that cannot run away: a cap on the answer's size, a deadline on the whole.

A metrics server is a remote party, and a misconfigured proxy, a wrong URL or an
attacker can answer anything: a gigabyte body, a body dripped one byte at a time
(slowloris), a redirect to another host. HTTP clients bound each read (``timeout``),
not the exchange: a server that sends a byte every few seconds never trips a read
timeout. So:

- **Deadline.** :func:`request_deadline` sets a deadline for everything done inside it
  (connecting, TLS, sending, reading headers and body). The network streams below the
  client shorten each operation's timeout to the time left (:func:`time_left`), so the
  exchange ends at the deadline whatever the server does. It is per thread (a context
  variable), so rule groups evaluated in parallel each keep their own.
- **Size cap.** :func:`read_within` refuses an answer whose ``Content-Length`` is over
  the cap before reading it, and stops reading a streamed one as soon as it passes the
  cap (counted after decompression, so a gzip bomb is stopped too).
- **No redirects.** Credentials belong to the configured host; a redirect is reported
  with the host it points to (never its path or query, which may hold a token).

This module holds what every client shares and the httpx side (Loki);
:mod:`adapters.sources.bounded_requests` holds the requests side (Prometheus, whose
client, prometheus-api-client, is built on requests). Each side also sorts its client's
exceptions into :class:`Fault` kinds, so both report failures in the same words
(:func:`adapters.sources.http.attempt_bounded`).
"""

from __future__ import annotations

import contextlib
import enum
import ssl
import time
import typing
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from adapters.settings import ServerSettings

__all__ = [
    "Answer",
    "DeadlineTransport",
    "Fault",
    "deadline_passed",
    "get_answer",
    "httpx_fault",
    "read_within",
    "redirect_host",
    "request_deadline",
    "server_client",
    "time_left",
]

ERROR_BODY_BYTES = 64 * 1024
"""What is read of a non-2xx answer: enough for any server's error text."""

_DEADLINE: ContextVar[float | None] = ContextVar("graysignal_request_deadline", default=None)


@contextlib.contextmanager
def request_deadline(seconds: float) -> Iterator[None]:
    """Everything this thread does over the network inside ends within ``seconds``."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def deadline_passed() -> bool:
    deadline = _DEADLINE.get()
    return deadline is not None and time.monotonic() >= deadline


def time_left(timeout: float | None, error: type[Exception]) -> float | None:
    """The timeout for one network operation: ``timeout``, shortened to the time left
    before the current deadline; ``error`` is raised when none is left."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every operation ends by the current deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own socket backend, with :class:`_DeadlineStream` around its streams."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        left = time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._backend.connect_tcp(host, port, left, local_address, socket_options)
        )

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        left = time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, left, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport (request mapping, errors, pooling) over a connection pool
    whose network backend honours :func:`request_deadline`.

    httpx does not take a network backend, so the pool it built is replaced by one
    built the same way with ours; a test sends a dripped answer through it.
    """

    def __init__(self, *, verify: ssl.SSLContext | bool) -> None:
        super().__init__(verify=verify)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            network_backend=_DeadlineBackend(),
        )


def tls_verify(settings: ServerSettings) -> ssl.SSLContext | bool:
    """httpx wants an SSL context for a custom CA bundle (a path string is deprecated)."""
    if not settings.verify_tls:
        return False
    if settings.ca_file is not None:
        return ssl.create_default_context(cafile=str(settings.ca_file))
    return True


def server_client(
    settings: ServerSettings, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """An httpx client for one server: its URL, headers, credentials, TLS and timeout,
    redirects not followed, and the deadline-aware transport unless one is given."""
    auth = settings.basic_auth()
    verify = tls_verify(settings)
    return httpx.Client(
        base_url=settings.url,
        headers=settings.request_headers(),
        auth=httpx.BasicAuth(*auth) if auth is not None else None,
        verify=verify,
        timeout=httpx.Timeout(settings.timeout),
        follow_redirects=False,
        transport=transport if transport is not None else DeadlineTransport(verify=verify),
    )


@dataclass(frozen=True)
class Answer:
    """A server's answer, read within the limits: status, body, and where a redirect
    pointed (scheme, host and port only). ``too_large`` is set when the body passed the
    cap (``body`` is then what was read before stopping)."""

    status: int
    body: bytes
    too_large: bool = False
    announced: int | None = None
    redirect_to: str | None = None


def read_within(
    status: int,
    content_length: str | None,
    chunks: Iterable[bytes],
    *,
    max_bytes: int,
    redirect_to: str | None = None,
) -> Answer:
    """Read an answer's body from ``chunks`` (decompressed), at most ``max_bytes`` of a
    2xx body and a little of any other; a 2xx body announced larger is not read at all."""
    ok = 200 <= status < 300
    cap = max_bytes if ok else ERROR_BODY_BYTES
    announced = _int_or_none(content_length)
    if announced is not None and announced > cap and ok:
        return Answer(status, b"", too_large=True, announced=announced)
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > cap:
            return Answer(status, bytes(body[:cap]), too_large=ok, redirect_to=redirect_to)
    return Answer(status, bytes(body), announced=announced, redirect_to=redirect_to)


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def redirect_host(url: str, location: str) -> str:
    """Where a redirect from ``url`` to ``location`` points: scheme, host and port only
    (credentials, path and query may hold a token)."""
    try:
        target = urlsplit(urljoin(url, location))
        port = target.port
    except ValueError:
        return "an invalid address"
    host = target.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{target.scheme}://{host}" + (f":{port}" if port else "")


class Fault(enum.Enum):
    """How a request failed below HTTP, whatever the client: each kind is reported in
    the same words (:func:`adapters.sources.http.attempt_bounded`)."""

    TIMEOUT = "timeout"
    """A connection or a read timed out, or the request's deadline passed."""
    CONNECT = "connect"
    """No connection (refused, DNS, TLS)."""
    BROKEN = "broken"
    """The connection failed while the answer was under way."""
    OTHER = "other"
    """Anything else the client raised; not worth a retry."""


def get_answer(
    client: httpx.Client, path: str, params: Mapping[str, str], *, max_bytes: int
) -> Answer:
    """GET ``path``; read at most ``max_bytes`` of a 2xx body (a little of any other).

    Call it inside :func:`request_deadline`. httpx's errors (timeouts, refused
    connections) propagate for the caller to classify (:func:`httpx_fault`).
    """
    with client.stream("GET", path, params=params) as response:
        status = response.status_code
        redirect = (
            redirect_host(str(response.url), response.headers.get("location", ""))
            if 300 <= status < 400
            else None
        )
        return read_within(
            status,
            response.headers.get("content-length"),
            response.iter_bytes(),
            max_bytes=max_bytes,
            redirect_to=redirect,
        )


def httpx_fault(exc: Exception) -> Fault | None:
    """The kind of an httpx failure; ``None`` for what httpx did not raise."""
    if isinstance(exc, httpx.TimeoutException):
        return Fault.TIMEOUT
    if isinstance(exc, httpx.ConnectError):
        return Fault.CONNECT
    if isinstance(exc, httpx.TransportError):
        return Fault.BROKEN
    if isinstance(exc, httpx.HTTPError):
        return Fault.OTHER
    return None
