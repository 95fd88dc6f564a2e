"""The limits of :mod:`adapters.sources.bounded` for a requests session.

The Prometheus source is built on prometheus-api-client, whose ``PrometheusConnect``
owns a requests session. requests reads through urllib3 and http.client, which bound
each socket operation (``timeout``), not the exchange; so the session gets:

- **Deadline.** :class:`DeadlineAdapter`, requests' own adapter whose connections
  read their answers (status line, headers and body) through a socket reader that
  shortens each read's timeout to the time left of
  :func:`~adapters.sources.bounded.request_deadline`. It goes in through http.client's
  ``response_class`` and urllib3's pool classes, both documented hooks, so requests and
  urllib3 keep doing everything else (pooling, TLS, decoding, errors). Connecting and
  the TLS handshake wait at most the time left when the request starts, per read (as
  with httpx).
- **Size cap.** :func:`get_answer` streams the answer (``stream=True``) and reads it
  decompressed in small pieces with :func:`~adapters.sources.bounded.read_within`; urllib3
  decompresses no more than each piece asks for (since 2.6), so a gzip bomb costs
  memory in proportion to the cap, not to what it would expand to.
- **No redirects.** ``allow_redirects=False``; the answer names where it pointed.

:func:`requests_fault` sorts requests' exceptions into the
:class:`~adapters.sources.bounded.Fault` kinds that every server source reports in the
same words.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError, MaxRetryError, ProtocolError, ReadTimeoutError
from urllib3.util.retry import Retry

from adapters.sources.bounded import Answer, Fault, read_within, redirect_host, time_left

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["NO_RETRIES", "DeadlineAdapter", "get_answer", "requests_fault"]

NO_RETRIES = Retry(total=0, read=False, redirect=False, raise_on_status=False)
"""No retries below graysignal's own, which log and back off
(:func:`~adapters.sources.http.with_retries`); ``read=False`` lets a read timeout
surface as itself rather than as a retry error."""

READ_BYTES = 64 * 1024
"""Decompressed bytes asked for at a time while reading an answer."""


class _DeadlineReader(io.RawIOBase):
    """A socket's reading end whose every read ends by the current deadline.

    ``raw`` is the reader http.client made for the socket; ``timeout`` the read timeout
    urllib3 set on it, restored after each read so a pooled connection keeps it.
    """

    def __init__(self, raw: io.RawIOBase, sock: socket.socket, timeout: float | None) -> None:
        super().__init__()
        self._raw = raw
        self._sock = sock
        self._timeout = timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int | None:
        self._sock.settimeout(time_left(self._timeout, TimeoutError))
        try:
            return self._raw.readinto(buffer)
        finally:
            with contextlib.suppress(OSError):  # closed meanwhile: nothing to restore
                self._sock.settimeout(self._timeout)

    def fileno(self) -> int:
        return self._raw.fileno()

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    """http.client's response, reading through :class:`_DeadlineReader`."""

    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        raw = self.fp.detach()  # nothing is read yet, so no buffered byte is lost
        self.fp = io.BufferedReader(_DeadlineReader(raw, sock, sock.gettimeout()))


class _DeadlineHTTPConnection(HTTPConnection):
    response_class = _DeadlineResponse


class _DeadlineHTTPSConnection(HTTPSConnection):
    response_class = _DeadlineResponse


class _DeadlineHTTPPool(HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


_POOLS: dict[str, type[HTTPConnectionPool]] = {
    "http": _DeadlineHTTPPool,
    "https": _DeadlineHTTPSPool,
}


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connections (direct or through an HTTP proxy) honour
    :func:`~adapters.sources.bounded.request_deadline`."""

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS brings its own pools
            manager.pool_classes_by_scheme = _POOLS
        return manager


def get_answer(
    session: requests.Session,
    url: str,
    *,
    params: Mapping[str, str],
    headers: Mapping[str, str] | None,
    auth: tuple[str, str] | None,
    verify: bool | str,
    timeout: float,
    max_bytes: int,
) -> Answer:
    """GET ``url`` streamed, redirects not followed; read at most ``max_bytes`` of a 2xx
    body (a little of any other).

    Call it inside :func:`~adapters.sources.bounded.request_deadline`, with a
    :class:`DeadlineAdapter` mounted for ``url``. ``verify`` is passed per request so
    that ``REQUESTS_CA_BUNDLE`` cannot override the configured CA file. requests'
    errors propagate for the caller to classify (:func:`requests_fault`).
    """
    connect = time_left(timeout, requests.ConnectTimeout)
    with session.get(
        url,
        params=params,
        headers=headers,
        auth=auth,
        verify=verify,
        timeout=(connect, timeout),
        stream=True,
        allow_redirects=False,
    ) as response:
        status = response.status_code
        redirect = (
            redirect_host(response.url, response.headers.get("location", ""))
            if 300 <= status < 400
            else None
        )
        return read_within(
            status,
            response.headers.get("content-length"),
            response.iter_content(READ_BYTES),
            max_bytes=max_bytes,
            redirect_to=redirect,
        )


def requests_fault(exc: Exception) -> Fault | None:
    """The kind of a requests (or urllib3) failure; ``None`` for anything else.

    requests reports a read that timed out while the body streams as a
    ``ConnectionError`` around urllib3's ``ReadTimeoutError``, and a refused connection
    as a ``ConnectionError`` around a ``MaxRetryError`` (no retries are left down there).
    """
    inner = exc.args[0] if exc.args else None
    if isinstance(exc, requests.Timeout | TimeoutError) or isinstance(inner, ReadTimeoutError):
        return Fault.TIMEOUT
    if isinstance(exc, requests.exceptions.SSLError) or (
        isinstance(exc, requests.ConnectionError) and isinstance(inner, MaxRetryError)
    ):
        return Fault.CONNECT
    if isinstance(
        exc,
        requests.ConnectionError | requests.exceptions.ChunkedEncodingError | ProtocolError,
    ):
        return Fault.BROKEN
    if isinstance(exc, requests.RequestException | HTTPError):
        return Fault.OTHER
    return None
