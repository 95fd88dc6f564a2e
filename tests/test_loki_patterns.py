"""``source: loki`` by message template, against a loopback stand-in for Loki.

Loki cannot be installed on this machine, so a stdlib ``http.server`` on 127.0.0.1
(``tests/servers.py``) speaks the two endpoints as Loki's HTTP API reference documents
them:

- ``GET /loki/api/v1/patterns`` (``query``, ``start``/``end`` in Unix nanoseconds,
  ``step``): ``{"status": "success", "data": [{"pattern": ..., "level": ...,
  "samples": [[<unix seconds>, <count>], ...]}]}``, a sample counting the lines of
  ``[t, t + step)``; a Loki without it answers 404 (``404 page not found``);
- ``GET /loki/api/v1/query_range`` with a log query: a ``streams`` result of
  ``[<ns>, <line>]`` values, oldest first with ``direction=forward``, at most ``limit``
  lines, ``start`` inclusive and ``end`` exclusive.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from adapters.cli.probe import probe_rules
from adapters.rulefiles import load_rule_files
from adapters.settings import LokiSettings
from adapters.sources.loki import LokiSource
from detector.rule import Rule
from tests.servers import (
    Reply,
    Request,
    StubServer,
    json_reply,
    stub_server_factory,  # noqa: F401  (the fixture `stub_server`)
)

StubFactory = Callable[..., StubServer]
NS = 1_000_000_000
STEP = 60
START = 1_709_510_400  # 2024-03-04T00:00:00Z
SELECTOR = '{app="checkout"}'
POOL = '<_> level=error msg="connection pool exhausted" db=<_>'
SERVED = '<_> level=info msg="request served" path=<_> duration=<_>'


def lines() -> list[tuple[int, dict[str, str], str]]:
    """Two hours of a checkout service's lines: requests every 30 s, errors from 01:00."""
    out = []
    for second in range(0, 7200, 30):
        ns = (START + second + 1) * NS + 250_000_000
        out.append(
            (
                ns,
                {"app": "checkout", "level": "info"},
                f"request served path=/cart/{second} duration={second % 97}ms",
            )
        )
        if second >= 3600 and second % 300 == 0:
            out.append(
                (
                    ns + 1,
                    {"app": "checkout", "level": "error"},
                    f"connection pool exhausted for db-{second // 300 % 3} after {second} ms",
                )
            )
    return out


class FakeLoki:
    """Loki's patterns and log query_range endpoints (see the module doc)."""

    def __init__(self, *, patterns: bool) -> None:
        self.patterns = patterns
        self.requests: list[Request] = []

    def __call__(self, request: Request) -> Reply:
        self.requests.append(request)
        start, end = int(request.params["start"]), int(request.params["end"])
        if request.path == "/loki/api/v1/patterns":
            if not self.patterns:
                return 404, {}, b"404 page not found\n"
            step = int(request.params["step"].removesuffix("s"))
            return json_reply({"status": "success", "data": self._patterns(start, end, step)})
        if request.path == "/loki/api/v1/query_range":
            limit = int(request.params["limit"])
            chosen = [e for e in lines() if start <= e[0] < end][:limit]
            streams: dict[str, dict[str, Any]] = {}
            for ns, labels, line in chosen:
                stream = streams.setdefault(labels["level"], {"stream": labels, "values": []})
                stream["values"].append([str(ns), line])
            data = {"resultType": "streams", "result": list(streams.values())}
            return json_reply({"status": "success", "data": data})
        return 404, {}, b"404 page not found\n"

    def _patterns(self, start: int, end: int, step: int) -> list[dict[str, Any]]:
        found: dict[tuple[str, str], dict[int, int]] = {}
        for ns, labels, _ in lines():
            if start <= ns < end:
                key = (POOL, "error") if labels["level"] == "error" else (SERVED, "info")
                bucket = (ns // NS) // step * step
                samples = found.setdefault(key, {})
                samples[bucket] = samples.get(bucket, 0) + 1
        return [
            {"pattern": text, "level": level, "samples": sorted(samples.items())}
            for (text, level), samples in found.items()
        ]


def source(url: str, **settings: Any) -> LokiSource:
    fields: dict[str, Any] = {"url": url, "retries": 0, "backoff_seconds": 0.0, "timeout": 2.0}
    return LokiSource(LokiSettings(**{**fields, **settings}), sleep=lambda _: None)


def rule(**log: Any) -> Rule:
    return Rule.model_validate(
        {
            "signal": "CheckoutPatterns",
            "source": "loki",
            "query": SELECTOR,
            "step": STEP,
            "window": 86400,
            "log": {"by": "pattern", **log},
            "detect": ["new_pattern"],
        }
    )


WINDOW = (START, START + 7200)


def test_the_patterns_endpoint_gives_one_series_per_template(stub_server: StubFactory) -> None:
    server = stub_server(FakeLoki(patterns=True))

    series = {s.labels["pattern"]: s for s in source(server.url).fetch(rule(), *WINDOW)}

    pool = series[hashlib.sha256(POOL.encode()).hexdigest()[:8]]
    assert pool.labels == {
        "pattern": hashlib.sha256(POOL.encode()).hexdigest()[:8],
        "template": POOL,
        "level": "ERROR",
    }
    # a sample at t counts [t, t + step): the error at 01:00:01.25 is in slot 01:01
    assert pool.values[pool.index_at(START + 3660) - 1] == 1
    assert float(np.nansum(pool.values)) == 12
    served = series[hashlib.sha256(SERVED.encode()).hexdigest()[:8]]
    assert float(np.nansum(served.values)) == 240


def test_without_a_patterns_endpoint_lines_are_mined_here_in_pages(
    stub_server: StubFactory,
) -> None:
    fake = FakeLoki(patterns=False)
    server = stub_server(fake)

    series = source(server.url, max_lines_per_request=50).fetch(rule(), *WINDOW)

    by_level = {s.labels["level"]: s for s in series}
    assert float(np.nansum(by_level["INFO"].values)) == 240
    assert float(np.nansum(by_level["ERROR"].values)) == 12
    assert (
        by_level["ERROR"].labels["template"] == "connection pool exhausted for <*> after <NUM> ms"
    )
    assert by_level["INFO"].labels["template"] == "request served path=/cart/<NUM> duration=<NUM>ms"
    pages = [r for r in fake.requests if r.path == "/loki/api/v1/query_range"]
    assert len(pages) >= 6  # 252 lines, 50 a page
    assert all(r.params["direction"] == "forward" for r in pages)


def test_local_mining_can_be_chosen_even_where_loki_offers_patterns(
    stub_server: StubFactory,
) -> None:
    fake = FakeLoki(patterns=True)
    server = stub_server(fake)

    series = source(server.url).fetch(rule(patterns_from="local"), *WINDOW)

    assert {s.labels["level"] for s in series} == {"INFO", "ERROR"}
    assert not [r for r in fake.requests if r.path == "/loki/api/v1/patterns"]


def test_check_probe_says_which_path_a_rule_uses(stub_server: StubFactory, tmp_path: Path) -> None:
    offered = stub_server(FakeLoki(patterns=True))
    missing = stub_server(FakeLoki(patterns=False))
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "groups:\n  - name: logs\n    rules:\n      - signal: CheckoutPatterns\n"
        f"        source: loki\n        query: '{SELECTOR}'\n        step: 1m\n"
        "        window: 1d\n        log: {by: pattern}\n        detect: [new_pattern]\n"
    )
    loaded = load_rule_files([rules])

    (with_endpoint,) = probe_rules(loaded, {"loki": source(offered.url)}, now=START + 7200)
    (without,) = probe_rules(loaded, {"loki": source(missing.url)}, now=START + 7200)

    assert "templates from Loki's patterns endpoint (/loki/api/v1/patterns)" in with_endpoint.line()
    assert "templates from log lines from query_range, mined here" in without.line()


def test_the_daemon_reads_only_new_steps_and_a_new_template_keeps_its_silence(
    stub_server: StubFactory,
) -> None:
    fake = FakeLoki(patterns=True)
    loki = source(stub_server(fake).url)
    loki.fetch(rule(), START, START + 3600)  # the first cycle: no error yet
    asked = len(fake.requests)

    later = loki.fetch(rule(), START, START + 7200)  # the daemon asks for its whole history

    (tail,) = fake.requests[asked:]
    # the last step read before is read again (late lines); its bucket starts a step earlier
    assert int(tail.params["start"]) == (START + 3600 - STEP) * NS
    pool = next(s for s in later if s.labels.get("level") == "ERROR")
    assert pool.start == START + STEP  # zeros back to the earliest slot Loki answered
    assert float(np.nansum(pool.values[: pool.index_at(START + 3600)])) == 0
    assert float(np.nansum(pool.values)) == 12
