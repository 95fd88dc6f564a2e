"""``source: loki``: LogQL *metric* queries over Loki's ``GET /loki/api/v1/query_range``.

Log volume per level is one of the grayest signals there is, and teams that ship logs
to Loki already have it without writing a log parser: a rule's query is a metric query
such as ``sum by (level) (count_over_time({app="checkout"} [1m]))``. A plain log
query (``{app="checkout"} |= "error"``) answers with log lines (a ``streams`` result),
not numbers, and fails its rule with a message saying how to wrap it.

Like the Prometheus source it evaluates at the step grid ``k * step`` inside
``(start, end]`` in chunks of at most 10,000 points (Loki refuses more than 11,000 per
series) and at most ``GRAYSIGNAL_LOKI_MAX_QUERY_DAYS`` long (Loki's
``max_query_length``), with the same retries, limits and error reporting. Times are
sent as Unix nanoseconds; ``end`` is the last grid time plus 1 ns, so the last point is
evaluated whether a Loki version treats ``end`` as inclusive or exclusive.

Parameters and answer format follow Loki's HTTP API reference (``query``, ``start``,
``end``, ``step``, ``limit``, ``direction``; ``{"status": "success", "data":
{"resultType": "matrix", "result": [{"metric": {...}, "values": [[<unix seconds>,
"<value>"], ...]}]}}``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from adapters.settings import LokiSettings, load_settings
from adapters.sources.bounded import server_client
from adapters.sources.http import (
    MAX_POINTS_PER_REQUEST,
    Chunk,
    RequestContext,
    RetryPolicy,
    fetch_range,
    query_once,
)
from detector.rule import Rule
from detector.series import Series

if TYPE_CHECKING:
    from adapters.sources.loki_patterns import LokiPatterns

QUERY_RANGE_PATH = "/loki/api/v1/query_range"
NS = 1_000_000_000

LOG_QUERY_LIMIT = 1
"""``limit`` only bounds log-line (``streams``) answers, which are refused anyway: one
line is enough to tell that the query was a log query."""

STREAMS_HINT = (
    "the query returned log lines (a 'streams' result), not numbers; graysignal needs a "
    'LogQL metric query: wrap it, e.g. sum by (level) (count_over_time({app="x"} |= "error" '
    "[1m])) or rate(...[1m]), with the range equal to the rule's step"
)


class LokiSource:
    """Fetches a rule's LogQL metric ``query`` as range-query series (see the module doc).

    ``settings`` default to the ``GRAYSIGNAL_LOKI_*`` environment, read here (a bad
    variable raises :class:`InputError` naming it). ``sleep`` is the backoff wait and
    ``transport`` an httpx transport, both replaceable in tests.
    """

    name = "loki"

    def __init__(
        self,
        settings: LokiSettings | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_points: int = MAX_POINTS_PER_REQUEST,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings if settings is not None else load_settings(LokiSettings)
        self._policy = RetryPolicy(self.settings.retries, self.settings.backoff_seconds, sleep)
        self._max_points = max_points
        self._client = server_client(self.settings, transport)
        self.requests_made = 0
        """Number of HTTP requests sent (every attempt counts): for tests and metrics."""
        self._patterns: LokiPatterns | None = None

    @property
    def patterns(self) -> LokiPatterns:
        """``by: pattern`` rules (created on first use)."""
        if self._patterns is None:
            from adapters.sources.loki_patterns import LokiPatterns  # noqa: PLC0415

            self._patterns = LokiPatterns(self)
        return self._patterns

    def pattern_path(self, rule: Rule, now: int) -> str:
        """How a ``by: pattern`` rule gets its templates here, in words (``check --probe``)."""
        from adapters.sources.loki_patterns import PATH_NAMES  # noqa: PLC0415

        return PATH_NAMES[self.patterns.path(rule, now)]

    @property
    def policy(self) -> RetryPolicy:
        return self._policy

    @property
    def max_points(self) -> int:
        return self._max_points

    def __repr__(self) -> str:
        return f"LokiSource(url={self.settings.public_url!r})"

    def __reduce__(self) -> tuple[type[LokiSource], tuple[LokiSettings]]:
        """Sent to a fleet's worker (:mod:`adapters.fleet`) as its settings: the worker
        opens its own connection (an httpx client cannot travel), with the default
        transport, backoff and request size."""
        return (LokiSource, (self.settings,))

    def close(self) -> None:
        self._client.close()

    def fetch(self, rule: Rule, start: int, end: int) -> list[Series]:
        """The rule's series with samples in ``(start, end]`` at ``rule.step`` (default 1m);
        per message template for ``log: {by: pattern}`` (:mod:`adapters.sources.loki_patterns`)."""
        if rule.by_pattern:
            return self.patterns.fetch(rule, start, end)
        return fetch_range(
            rule,
            start,
            end,
            source=self.name,
            settings=self.settings,
            query_range=self._query_range,
            policy=self._policy,
            max_points=self._max_points,
            max_span=int(self.settings.max_query_days * 86400),
            streams_hint=STREAMS_HINT,
        )

    def _query_range(self, query: str, chunk: Chunk, ctx: RequestContext) -> Mapping[str, Any]:
        """One attempt at one chunk: the decoded answer, or why not."""
        params = {
            "query": query,
            "start": str(chunk.first * NS),
            "end": str(chunk.last * NS + 1),
            "step": f"{chunk.step}s",
            "limit": str(LOG_QUERY_LIMIT),
            "direction": "forward",
        }
        return self.get_json(QUERY_RANGE_PATH, params, ctx)

    def get_json(
        self,
        path: str,
        params: Mapping[str, str],
        ctx: RequestContext,
        *,
        check: Callable[[int, bytes], None] | None = None,
    ) -> Mapping[str, Any]:
        """One attempt at one GET: the decoded answer, or why not (:class:`Transient`
        for what a retry may cure). ``check`` sees the status and body first and may
        raise its own error (the patterns endpoint's "not offered here")."""
        self.requests_made += 1
        return query_once(self._client, path, params, ctx, self.settings, check=check)
