"""``source: prometheus``: range queries against the Prometheus HTTP API.

Any server that speaks ``GET /api/v1/query_range`` works: Prometheus, VictoriaMetrics,
Thanos Query, Mimir and Cortex (set their path prefix in the URL, e.g.
``http://mimir:8080/prometheus``, and the tenant with ``GRAYSIGNAL_PROMETHEUS_TENANT``).

Built on ``prometheus-api-client``: :class:`PrometheusConnect` owns the connection (URL,
headers, credentials, TLS verification and CA bundle, timeout) and its requests
session. Its retry adapter is switched off so that retries happen once, in graysignal,
with logging, and replaced by one that honours the request deadline
(:mod:`adapters.sources.bounded_requests`). The range request itself goes through that
session rather than ``custom_query_range``, which reads any answer whole and turns every
non-200 answer into an exception holding only the raw bytes: here the answer is
streamed within the limits every server source shares (a cap on its size, a deadline on
the whole request, redirects not followed), the status code decides whether to retry,
and Prometheus' JSON ``error`` is the message the user gets.

A query is evaluated at the step grid ``k * step`` inside ``(start, end]`` (the slots of
:class:`~detector.series.Series`), in chunks of at most 10,000 points, and every
returned series keeps all its labels, ``__name__`` included. Gaps stay NaN; note that
Prometheus itself carries a sample forward for up to its lookback delta (5m by default),
so only gaps longer than that reach graysignal as NaN.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect

from adapters.settings import PrometheusSettings, load_settings
from adapters.sources.bounded_requests import (
    NO_RETRIES,
    DeadlineAdapter,
    get_answer,
    requests_fault,
)
from adapters.sources.http import (
    MAX_POINTS_PER_REQUEST,
    Chunk,
    RequestContext,
    RetryPolicy,
    attempt_bounded,
    fetch_range,
)
from detector.rule import Rule
from detector.series import Series

QUERY_RANGE_PATH = "/api/v1/query_range"


class PrometheusSource:
    """Fetches a rule's PromQL ``query`` as range-query series (see the module doc).

    ``settings`` default to the ``GRAYSIGNAL_PROMETHEUS_*`` environment, read here (a
    bad variable raises :class:`InputError` naming it). ``sleep`` is the backoff wait,
    replaceable in tests; ``max_points`` the chunk size.
    """

    name = "prometheus"

    def __init__(
        self,
        settings: PrometheusSettings | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_points: int = MAX_POINTS_PER_REQUEST,
    ) -> None:
        self.settings = settings if settings is not None else load_settings(PrometheusSettings)
        self._policy = RetryPolicy(self.settings.retries, self.settings.backoff_seconds, sleep)
        self._max_points = max_points
        self._session = requests.Session()
        self._session.verify = self.settings.verify()
        self.client = PrometheusConnect(
            url=self.settings.url,
            headers=self.settings.request_headers(),
            auth=self.settings.basic_auth(),
            retry=NO_RETRIES,
            session=self._session,
            timeout=self.settings.timeout,
        )
        # PrometheusConnect mounts a plain adapter for its URL: this one reads within
        # the request deadline (same prefix, so it takes its place).
        self._session.mount(self.client.url, DeadlineAdapter(max_retries=NO_RETRIES))
        self.requests_made = 0
        """Number of HTTP requests sent (every attempt counts): for tests and metrics."""

    def __repr__(self) -> str:
        return f"PrometheusSource(url={self.settings.public_url!r})"

    def close(self) -> None:
        self._session.close()

    def fetch(self, rule: Rule, start: int, end: int) -> list[Series]:
        """The rule's series with samples in ``(start, end]`` at ``rule.step`` (default 1m)."""
        return fetch_range(
            rule,
            start,
            end,
            source=self.name,
            settings=self.settings,
            query_range=self._query_range,
            policy=self._policy,
            max_points=self._max_points,
        )

    def _query_range(self, query: str, chunk: Chunk, ctx: RequestContext) -> Mapping[str, Any]:
        """One attempt at one chunk: the decoded answer, or why not."""
        params = {
            "query": query,
            "start": str(chunk.first),
            "end": str(chunk.last),
            "step": f"{chunk.step}s",
        }
        self.requests_made += 1
        read = partial(
            get_answer,
            self._session,
            self.client.url + QUERY_RANGE_PATH,
            params=params,
            headers=self.client.headers,
            auth=self.client.auth,
            verify=self.settings.verify(),
            timeout=self.settings.timeout,
            max_bytes=self.settings.max_response_bytes,
        )
        return attempt_bounded(read, requests_fault, ctx, self.settings)
