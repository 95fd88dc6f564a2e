"""What the HTTP sources share: step-aligned chunks, retries, and matrix parsing.

Prometheus (and everything that speaks its API) and Loki answer range queries in the
same *matrix* shape and fail in the same ways, so the parts that decide correctness
live here once:

- **Chunks.** Servers refuse a range query with more than 11,000 points per series.
  :func:`plan_chunks` aligns the evaluation times to the step grid (``k * step``, the
  slots of :class:`~detector.series.Series`) and splits them into requests of at most
  :data:`MAX_POINTS_PER_REQUEST` points that neither overlap nor leave a hole, so
  merging them can neither duplicate nor lose a boundary sample.
- **Retries.** Timeouts, refused connections, 5xx and 429 are worth retrying with
  exponential backoff; any other 4xx (a PromQL/LogQL error) or a malformed answer will
  not get better and fails the rule at once. Either way the error names the rule and
  the source, carries the server's own error text, and is logged without secrets.
- **Series.** :class:`SeriesCollector` merges the chunks per label set, enforces the
  per-rule series limit, and places samples on the grid with ``Series.regular`` so gaps
  stay NaN.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import httpx
import numpy as np
import structlog

from adapters.errors import InputError, SourceUnavailable
from adapters.limits import MAX_ABS_VALUE
from adapters.settings import ServerSettings
from adapters.sources.bounded import Answer, Fault, get_answer, httpx_fault, request_deadline
from adapters.timeparse import LATEST_TIMESTAMP
from detector.rule import DEFAULT_STEP, Rule
from detector.series import FloatArray, IntArray, Series, fingerprint, format_labels

log = structlog.get_logger("graysignal.sources")

"""Seconds between samples when a server rule sets no ``step``."""

MAX_POINTS_PER_REQUEST = 10_000
"""Points per series in one request; servers refuse more than 11,000."""

MAX_BACKOFF_SECONDS = 30.0
"""Cap on one retry delay, so a long outage costs bounded time per rule."""

MASK = "**********"

T = TypeVar("T")


@dataclass(frozen=True)
class Chunk:
    """One request's evaluation times: ``first, first + step, ..., last`` (inclusive)."""

    first: int
    last: int
    step: int

    @property
    def points(self) -> int:
        return (self.last - self.first) // self.step + 1


def plan_chunks(
    start: int,
    end: int,
    step: int,
    *,
    max_points: int = MAX_POINTS_PER_REQUEST,
    max_span: int | None = None,
) -> list[Chunk]:
    """The grid times in ``(start, end]``, split into requests of at most ``max_points``.

    Evaluation times are the multiples of ``step``, the same slots ``Series.regular``
    uses, so a server's answer at ``t`` lands in slot ``t`` unchanged. Consecutive
    chunks are one step apart (no overlap, no hole). ``max_span`` additionally bounds
    ``last - first`` in seconds (Loki's ``max_query_length``).
    """
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    per_request = max_points
    if max_span is not None:
        per_request = max(1, min(per_request, max_span // step + 1))
    first = (start // step + 1) * step
    last = (end // step) * step
    chunks: list[Chunk] = []
    at = first
    while at <= last:
        stop = min(last, at + (per_request - 1) * step)
        chunks.append(Chunk(at, stop, step))
        at = stop + step
    return chunks


def rule_step(step: int | None) -> int:
    """The step a server rule is queried at: its own, else :data:`DEFAULT_STEP`."""
    return step if step is not None else DEFAULT_STEP


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` more attempts after the first, waiting ``backoff * 2**(n-1)`` before
    the n-th retry (capped at :data:`MAX_BACKOFF_SECONDS`)."""

    retries: int
    backoff_seconds: float
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def delay(self, retry: int) -> float:
        return float(min(MAX_BACKOFF_SECONDS, self.backoff_seconds * 2 ** (retry - 1)))


class Transient(Exception):
    """A failure the next attempt may not see: timeout, connection error, 5xx, 429."""


@dataclass(frozen=True)
class RequestContext:
    """Who is asking whom, so every error and log line names the rule and the source."""

    rule: str
    source: str
    url: str
    secrets: tuple[str, ...] = ()

    def scrub(self, text: str) -> str:
        """``text`` with every secret replaced by a mask (defence in depth: a server
        may echo a header back in its error text)."""
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, MASK)
        return text

    def error(self, message: str) -> SourceUnavailable:
        return SourceUnavailable(
            self.scrub(f"rule {self.rule}: source {self.source} ({self.url}): {message}")
        )


def with_retries(attempt: Callable[[], T], ctx: RequestContext, policy: RetryPolicy) -> T:
    """Run ``attempt``; retry it on :class:`Transient` with backoff, then give up.

    Every retry and the final failure are logged on ``graysignal.sources`` with the
    fields ``rule``, ``source``, ``attempt`` and ``error``. A :class:`SourceUnavailable`
    raised by ``attempt`` (the server said no) is logged and re-raised at once.
    """
    attempts = policy.retries + 1
    for number in range(1, attempts + 1):
        try:
            return attempt()
        except Transient as exc:
            message = ctx.scrub(str(exc))
            if number == attempts:
                log.error(
                    "source request failed",
                    rule=ctx.rule,
                    source=ctx.source,
                    attempt=number,
                    error=message,
                )
                tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
                raise ctx.error(f"{message} (gave up after {tries})") from None
            delay = policy.delay(number)
            log.warning(
                "source request failed; retrying",
                rule=ctx.rule,
                source=ctx.source,
                attempt=number,
                error=message,
                retry_in=delay,
            )
            policy.sleep(delay)
        except SourceUnavailable as exc:
            log.error(
                "source request failed",
                rule=ctx.rule,
                source=ctx.source,
                attempt=number,
                error=str(exc),
            )
            raise
    raise AssertionError("unreachable: the last attempt returns or raises")


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\"()\]]+)")


def connection_reason(exc: BaseException) -> str:
    """A short, human cause for a failed connection (``Connection refused``)."""
    text = str(exc)
    match = _ERRNO.search(text)
    if match:
        return match.group(1).strip().rstrip(".")
    cause = exc.__cause__ or exc.__context__
    if cause is not None and cause is not exc and str(cause):
        return connection_reason(cause)
    return type(exc).__name__


_TLS = re.compile(r"\[SSL: [A-Z_]+\][^'\"()]*")


def tls_problem(exc: BaseException) -> str | None:
    """The TLS failure behind a connection error (``[SSL: CERTIFICATE_VERIFY_FAILED]
    certificate verify failed: ...``), or ``None`` if it was not one. A certificate
    problem does not go away on retry, so it fails the rule at once."""
    seen: BaseException | None = exc
    while seen is not None:
        match = _TLS.search(str(seen))
        if match:
            return match.group(0).strip()
        seen = seen.__cause__ or seen.__context__
    return None


def tls_hint(problem: str, env_prefix: str) -> str:
    return (
        f"TLS failed: {problem}; set {env_prefix}CA_FILE to the CA bundle that signed the "
        f"server's certificate ({env_prefix}VERIFY_TLS=false only for tests)"
    )


def error_text(body: bytes, limit: int = 500) -> str:
    """The server's own explanation from an error body: Prometheus' ``error`` (with its
    ``errorType``), a ``message`` field, or else the plain text (Loki answers 4xx in
    plain text)."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        for key in ("error", "message"):
            if isinstance(payload.get(key), str) and payload[key]:
                kind = payload.get("errorType")
                prefix = f"{kind}: " if isinstance(kind, str) and kind else ""
                return _shorten(prefix + payload[key], limit)
    return _shorten(" ".join(text.split()) or "(empty body)", limit)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_status(status: int, body: bytes, ctx: RequestContext, env_prefix: str) -> None:
    """Raise for a non-2xx answer: :class:`Transient` for 5xx/429, else the rule fails."""
    if 200 <= status < 300:
        return
    text = error_text(body)
    if status >= 500 or status == 429:
        raise Transient(f"HTTP {status}: {text}")
    if status in (401, 403):
        raise ctx.error(
            f"authentication failed (HTTP {status}): {text}; check {env_prefix}BEARER_TOKEN "
            f"or {env_prefix}USERNAME/{env_prefix}PASSWORD"
        )
    if status == 404:
        raise ctx.error(
            f"not found (HTTP 404): {text}; {env_prefix}URL must be the server's base URL "
            "(without /api/v1)"
        )
    raise ctx.error(f"the server rejected the query (HTTP {status}): {text}")


def query_once(
    client: httpx.Client,
    path: str,
    params: Mapping[str, str],
    ctx: RequestContext,
    settings: ServerSettings,
    *,
    check: Callable[[int, bytes], None] | None = None,
) -> Mapping[str, Any]:
    """One attempt at one GET through an httpx client (:func:`attempt_bounded`)."""
    read = partial(get_answer, client, path, params, max_bytes=settings.max_response_bytes)
    return attempt_bounded(read, httpx_fault, ctx, settings, check=check)


def attempt_bounded(
    read: Callable[[], Answer],
    classify: Callable[[Exception], Fault | None],
    ctx: RequestContext,
    settings: ServerSettings,
    *,
    check: Callable[[int, bytes], None] | None = None,
) -> Mapping[str, Any]:
    """One attempt at one request, within the answer-size cap and the request deadline
    (:mod:`adapters.sources.bounded`): the decoded answer, or :class:`Transient` for
    what may pass (timeouts, refused connections, 5xx, 429), or the rule's error.

    ``read`` sends the request with one HTTP client and reads its answer within the
    cap; ``classify`` sorts that client's exceptions into :class:`Fault` kinds, so
    every client's failures read the same. ``check`` sees the status and body first and
    may raise its own error (e.g. Loki's patterns endpoint saying it is not offered
    here)."""
    started = time.monotonic()
    try:
        with request_deadline(settings.max_request_seconds):
            answer = read()
    except Exception as exc:
        fault = classify(exc)
        if fault is None:
            raise
        raise _fault_error(fault, exc, time.monotonic() - started, ctx, settings) from None
    return _payload(answer, ctx, settings, check)


def _fault_error(
    fault: Fault,
    exc: Exception,
    elapsed: float,
    ctx: RequestContext,
    settings: ServerSettings,
) -> Exception:
    """What the user reads for a failed request: :class:`Transient` or the rule's error."""
    env = type(settings).env_var
    if fault is Fault.TIMEOUT:
        if elapsed >= settings.max_request_seconds:
            return Transient(
                f"the answer took longer than {settings.max_request_seconds:g}s "
                f"({env('max_request_seconds')}); is the server dripping it?"
            )
        return Transient(f"no answer within {settings.timeout:g}s")
    if fault is Fault.CONNECT:
        tls = tls_problem(exc)
        if tls is not None:
            return ctx.error(tls_hint(tls, env("")))
        return Transient(f"cannot connect: {connection_reason(exc)}")
    if fault is Fault.BROKEN:
        return Transient(f"connection failed: {connection_reason(exc)}")
    return ctx.error(f"request failed: {type(exc).__name__}")


def _payload(
    answer: Answer,
    ctx: RequestContext,
    settings: ServerSettings,
    check: Callable[[int, bytes], None] | None,
) -> Mapping[str, Any]:
    """The decoded answer, or the rule's error for one over the cap, a redirect, an
    error status (:func:`check_status`) or a body that is not a JSON object."""
    env = type(settings).env_var
    if answer.too_large:
        size = settings.max_response_bytes.human_readable(separator=" ")
        limit = f"{env('max_response_bytes')}={size}"
        what = (
            f"the answer is {answer.announced:,} bytes, more than {limit}; it was not read"
            if answer.announced is not None
            else f"the answer is larger than {limit}; reading stopped there"
        )
        raise ctx.error(
            f"{what}. Narrow the query (a label filter, sum by (...)), use a coarser step, "
            "or raise the limit"
        )
    if answer.redirect_to is not None:
        raise ctx.error(
            f"the server redirected to {answer.redirect_to} (HTTP {answer.status}); "
            f"redirects are not followed, so credentials never leave {ctx.url}: set "
            f"{env('url')} to the address that answers"
        )
    if check is not None:
        check(answer.status, answer.body)
    check_status(answer.status, answer.body, ctx, env(""))
    return decode_json(answer.body, ctx)


def decode_json(body: bytes, ctx: RequestContext) -> Mapping[str, Any]:
    """The answer as a JSON object, or a clear error when it is not one."""
    try:
        payload = json.loads(body)
    except ValueError:
        snippet = _shorten(" ".join(body.decode("utf-8", errors="replace").split()), 80)
        raise ctx.error(
            f"malformed JSON in the answer ({len(body)} bytes, starting {snippet!r}); "
            "is the URL the query API of the right kind of server?"
        ) from None
    if not isinstance(payload, dict):
        raise ctx.error(f"unexpected answer: a JSON {type(payload).__name__}, not an object")
    return payload


def matrix_result(
    payload: Mapping[str, Any], ctx: RequestContext, *, streams_hint: str | None = None
) -> list[Any]:
    """``data.result`` of a successful matrix answer; every other shape is an error."""
    if payload.get("status") != "success":
        detail = payload.get("error") or payload.get("message") or payload.get("status")
        raise ctx.error(f"the query failed: {detail}")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise ctx.error("unexpected answer: no 'data' object")
    result_type = data.get("resultType")
    if result_type == "streams" and streams_hint is not None:
        raise ctx.error(streams_hint)
    if result_type != "matrix":
        raise ctx.error(f"unexpected result type {result_type!r}; a range query returns 'matrix'")
    result = data.get("result")
    if not isinstance(result, list):
        raise ctx.error("unexpected answer: 'data.result' is not a list")
    return result


def log_warnings(payload: Mapping[str, Any], ctx: RequestContext) -> None:
    """Servers attach non-fatal warnings (partial data, dropped series); keep them."""
    warnings = payload.get("warnings")
    if isinstance(warnings, list):
        for warning in warnings:
            log.warning(
                "source warning", rule=ctx.rule, source=ctx.source, warning=ctx.scrub(str(warning))
            )


@dataclass
class _Parts:
    labels: dict[str, str]
    timestamps: list[IntArray] = field(default_factory=list)
    values: list[FloatArray] = field(default_factory=list)


class SeriesCollector:
    """Merges the chunks of one range query into one :class:`Series` per label set.

    Samples outside ``(start, end]`` are dropped (a server may round its range), and so
    are NaN values (a gap either way). A timestamp between grid points goes to the next
    slot, as ``Series.regular`` does, so nothing from after a slot is ever read into it.
    """

    def __init__(
        self,
        ctx: RequestContext,
        *,
        step: int,
        start: int,
        end: int,
        max_series: int,
        limit_setting: str,
    ) -> None:
        self._ctx = ctx
        self._step = step
        self._start = start
        self._end = end
        self._max_series = max_series
        self._limit_setting = limit_setting
        self._parts: dict[str, _Parts] = {}

    def add(self, result: Sequence[Any]) -> None:
        """Add one chunk's ``data.result`` (``[{"metric": {...}, "values": [...]}]``)."""
        new = {fingerprint(self._labels(item)) for item in result} - self._parts.keys()
        total = len(self._parts) + len(new)
        if total > self._max_series:
            raise self._ctx.error(
                f"the query matched {total} series, more than {self._limit_setting}="
                f"{self._max_series}; narrow it (a label filter, sum by (...), topk) "
                "or raise the limit"
            )
        for item in result:
            labels = self._labels(item)
            parts = self._parts.setdefault(fingerprint(labels), _Parts(labels))
            stamps, values = self._samples(item, labels)
            parts.timestamps.append(stamps)
            parts.values.append(values)

    def series(self) -> list[Series]:
        out: list[Series] = []
        for parts in self._parts.values():
            stamps = np.concatenate(parts.timestamps) if parts.timestamps else np.empty(0, np.int64)
            values = np.concatenate(parts.values) if parts.values else np.empty(0)
            # A NaN value (0/0 in a ratio) is a gap like a missing sample; dropping it
            # here makes every answer start and end with a real sample, whatever range
            # was asked (what IncrementalFetcher relies on to splice answers exactly).
            # So are +Inf (histogram_quantile over an +Inf bucket) and magnitudes no
            # detector can sum: gaps, counted in one warning.
            usable = np.abs(values) <= MAX_ABS_VALUE  # false for NaN
            keep = (stamps > self._start) & (stamps <= self._end) & usable
            unusable = int((~usable & ~np.isnan(values)).sum())
            if unusable:
                log.warning(
                    "values that are infinite or beyond ±1e100 were read as gaps",
                    rule=self._ctx.rule,
                    source=self._ctx.source,
                    series=format_labels(parts.labels),
                    samples=unusable,
                )
            if not keep.any():
                continue
            out.append(Series.regular(parts.labels, stamps[keep], values[keep], self._step))
        return out

    def _labels(self, item: Any) -> dict[str, str]:
        metric = item.get("metric") if isinstance(item, dict) else None
        if not isinstance(metric, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metric.items()
        ):
            raise self._ctx.error("unexpected answer: a series without a 'metric' label object")
        return dict(metric)

    def _samples(
        self, item: Mapping[str, Any], labels: Mapping[str, str]
    ) -> tuple[IntArray, FloatArray]:
        raw = item.get("values")
        if not isinstance(raw, list):
            raise self._ctx.error(f"unexpected answer: series {labels} has no 'values' list")
        try:
            seconds = np.array([float(pair[0]) for pair in raw], dtype=np.float64)
            values = np.array([float(pair[1]) for pair in raw], dtype=np.float64)
        except (TypeError, ValueError, IndexError, KeyError, OverflowError):
            seconds = np.array([np.nan])
        if not (np.abs(seconds) <= LATEST_TIMESTAMP).all():  # false for NaN too
            raise self._ctx.error(
                f"unexpected answer: series {labels} has a sample that is not "
                '[<unix seconds>, "<value>"]'
            ) from None
        return np.ceil(seconds).astype(np.int64), values


QueryRange = Callable[[str, Chunk, RequestContext], Mapping[str, Any]]


def fetch_range(
    rule: Rule,
    start: int,
    end: int,
    *,
    source: str,
    settings: ServerSettings,
    query_range: QueryRange,
    policy: RetryPolicy,
    max_points: int,
    max_span: int | None = None,
    streams_hint: str | None = None,
) -> list[Series]:
    """A range query split into chunks, each retried, gathered into series.

    The one fetch loop of every server speaking the Prometheus ``query_range`` answer
    format (Prometheus and its compatibles, Loki): ``query_range`` sends one attempt for
    one chunk; everything else (limits, retries, parsing, the series cap) is shared.
    """
    ctx = RequestContext(
        rule=rule.signal, source=source, url=settings.public_url, secrets=settings.secrets()
    )
    if not rule.query:
        raise InputError.at(rule.signal, f"source '{source}' needs 'query'")
    step = rule_step(rule.step)
    collector = SeriesCollector(
        ctx,
        step=step,
        start=start,
        end=end,
        max_series=settings.max_series_per_rule,
        limit_setting=type(settings).env_var("max_series_per_rule"),
    )
    for chunk in plan_chunks(start, end, step, max_points=max_points, max_span=max_span):
        payload = with_retries(partial(query_range, rule.query, chunk, ctx), ctx, policy)
        log_warnings(payload, ctx)
        collector.add(matrix_result(payload, ctx, streams_hint=streams_hint))
    return collector.series()
