"""``source: prometheus``: range queries against the Prometheus HTTP API.

Any server that speaks ``GET /api/v1/query_range`` works: Prometheus, VictoriaMetrics,
Thanos Query, Mimir and Cortex (set their path prefix in the URL, e.g.
``http://mimir:8080/prometheus``, and the tenant with ``GRAYSIGNAL_PROMETHEUS_TENANT``).

Built on ``prometheus-api-client``: :class:`PrometheusConnect` owns the HTTP session
(auth, TLS, headers, timeout, its retry adapter switched off so that retries happen
once, here, with logging). The range request itself goes through that session rather
than ``custom_query_range``, because ``custom_query_range`` turns every non-200 answer
into an exception holding only the raw bytes: the status code decides whether to
retry, and Prometheus' JSON ``error`` is the message the user needs.

A query is evaluated at the step grid ``k * step`` inside ``(start, end]`` (the slots of
:class:`~detector.series.Series`), in chunks of at most 10,000 points, and every
returned series keeps all its labels, ``__name__`` included. Gaps stay NaN; note that
Prometheus itself carries a sample forward for up to its lookback delta (5m by default),
so only gaps longer than that reach graysignal as NaN.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from adapters.settings import PrometheusSettings, load_settings
from adapters.sources.http import (
    MAX_POINTS_PER_REQUEST,
    Chunk,
    RequestContext,
    RetryPolicy,
    Transient,
    check_status,
    connection_reason,
    decode_json,
    fetch_range,
    tls_hint,
    tls_problem,
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
        options: dict[str, Any] = {}
        auth = self.settings.basic_auth()
        if auth is not None:
            options["auth"] = auth
        self.client = PrometheusConnect(
            url=self.settings.url,
            headers=self.settings.request_headers(),
            # No retries down there (ours log and back off); read=False lets a read
            # timeout surface as requests.ReadTimeout rather than a ConnectionError.
            retry=Retry(total=0, read=False, raise_on_status=False),
            session=self._session,
            timeout=self.settings.timeout,
            **options,
        )
        self.requests_made = 0
        """Number of HTTP requests sent (every attempt counts): for tests and metrics."""

    def __repr__(self) -> str:
        return f"PrometheusSource(url={self.settings.public_url!r})"

    def close(self) -> None:
        self.client.close()

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
        try:
            response = self._session.get(
                self.settings.url + QUERY_RANGE_PATH,
                params=params,
                headers=self.client.headers,
                auth=self.client.auth,
                timeout=self.settings.timeout,
                # Per request: REQUESTS_CA_BUNDLE would otherwise beat the session's CA file.
                verify=self._session.verify,
            )
        except requests.Timeout:
            raise Transient(f"no answer within {self.settings.timeout:g}s") from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            tls = tls_problem(exc)
            if tls is not None:
                raise ctx.error(tls_hint(tls, PrometheusSettings.env_var(""))) from None
            raise Transient(f"cannot connect: {connection_reason(exc)}") from None
        except requests.RequestException as exc:
            raise ctx.error(f"request failed: {type(exc).__name__}") from None
        prefix = PrometheusSettings.env_var("")
        check_status(response.status_code, response.content, ctx, prefix)
        return decode_json(response.content, ctx)
