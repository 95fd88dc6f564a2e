"""A tiny "checkout" service for the playground, degrading slowly on an accelerated clock.

Nothing here breaks suddenly, which is the point: after a healthy simulated day
its p99 latency creeps up 30% per simulated day (a cache that slowly stops
fitting in memory) and its error log grows 50% busier per simulated day (a dependency
starting to rot), for ten simulated days; then both level off at their new normal.

Time runs ``--speed`` times faster than real time; the default, 1440, makes one
simulated day pass per real minute, so a week-long story plays in minutes.

Prometheus only knows real time, so graysignal's explanations speak in real time too:
a creep of 30% per *simulated* day reads as about 40,000% per (real) day in an alert.

Exported on ``/metrics`` (any path answers, as with every prometheus-client server):

- ``demo_checkout_latency_p99_seconds``: the p99 latency the service reports itself
  (a gauge, sampled afresh at every scrape, with a little noise);
- ``demo_http_request_duration_seconds``: a histogram of every simulated request, for
  ``histogram_quantile`` in the Prometheus UI;
- ``demo_http_requests_total``: requests served;
- ``demo_log_lines_total{level}``: log lines written, per level;
- ``demo_simulated_days``: how many simulated days have passed.

Standard library plus ``prometheus-client`` only, so it runs in any Python 3.11 image.
"""

from __future__ import annotations

import argparse
import math
import random
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

DAY = 86400.0
# z-score of the 99th percentile of a normal distribution: turns a p99 into a lognormal
# median for the simulated requests.
Z99 = 2.326
TICK = 0.1  # seconds of real time between two batches of simulated traffic


@dataclass(frozen=True)
class Story:
    """How the service degrades, in simulated days (see the module docstring)."""

    p99_seconds: float = 0.210
    latency_noise: float = 0.03
    healthy_days: float = 1.0
    """Long enough for a flat baseline: a creep that starts with the data has nothing
    to stand out against (it reads like a level that wanders)."""
    latency_creep_per_day: float = 0.30
    creep_days: float = 10.0
    requests_per_second: float = 50.0
    info_lines_per_second: float = 20.0
    warn_lines_per_second: float = 2.0
    error_lines_per_second: float = 5.0
    error_creep_per_day: float = 0.5

    def creep_days_at(self, day: float) -> float:
        """Simulated days of degradation so far: none while healthy, capped at the end."""
        return min(max(0.0, day - self.healthy_days), self.creep_days)

    def p99_at(self, day: float) -> float:
        return self.p99_seconds * (1.0 + self.latency_creep_per_day * self.creep_days_at(day))

    def error_rate_at(self, day: float) -> float:
        return self.error_lines_per_second * (
            1.0 + self.error_creep_per_day * self.creep_days_at(day)
        )


class SimulatedClock:
    """Simulated days since start: real elapsed time times ``speed``."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._start = time.monotonic()

    def days(self) -> float:
        return (time.monotonic() - self._start) * self.speed / DAY


class LatencyCollector(Collector):
    """The self-reported p99, computed at scrape time so every scrape sees fresh noise."""

    def __init__(self, story: Story, clock: SimulatedClock, rng: random.Random) -> None:
        self.story = story
        self.clock = clock
        self.rng = rng
        self._lock = threading.Lock()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        day = self.clock.days()
        with self._lock:
            noise = self.rng.gauss(1.0, self.story.latency_noise)
        latency = GaugeMetricFamily(
            "demo_checkout_latency_p99_seconds",
            "p99 latency of the checkout endpoint, as the service measures it.",
        )
        latency.add_metric([], max(0.0, self.story.p99_at(day) * noise))
        yield latency
        days = GaugeMetricFamily("demo_simulated_days", "Simulated days since the service started.")
        days.add_metric([], day)
        yield days


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; the means here are small)."""
    if mean <= 0:
        return 0
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


class Traffic:
    """Simulated requests and log lines, generated in small batches by one thread."""

    def __init__(
        self, story: Story, clock: SimulatedClock, rng: random.Random, registry: CollectorRegistry
    ) -> None:
        self.story = story
        self.clock = clock
        self.rng = rng
        self.duration = Histogram(
            "demo_http_request_duration_seconds",
            "Latency of checkout requests.",
            buckets=(0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5),
            registry=registry,
        )
        self.requests = Counter(
            "demo_http_requests", "Checkout requests served.", registry=registry
        )
        self.log_lines = Counter(
            "demo_log_lines", "Log lines written, by level.", ["level"], registry=registry
        )

    def tick(self, seconds: float) -> None:
        """Traffic for ``seconds`` of real time at the current simulated day."""
        day = self.clock.days()
        sigma = 0.35
        median = self.story.p99_at(day) / math.exp(Z99 * sigma)
        for _ in range(poisson(self.rng, self.story.requests_per_second * seconds)):
            self.duration.observe(self.rng.lognormvariate(math.log(median), sigma))
            self.requests.inc()
        rates = {
            "info": self.story.info_lines_per_second,
            "warn": self.story.warn_lines_per_second,
            "error": self.story.error_rate_at(day),
        }
        for level, rate in rates.items():
            lines = poisson(self.rng, rate * seconds)
            if lines:
                self.log_lines.labels(level=level).inc(lines)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(TICK):
            self.tick(TICK)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--listen-address", default="127.0.0.1:19100", help="host:port")
    parser.add_argument(
        "--speed",
        type=float,
        default=1440.0,
        help="simulated seconds per real second (1440: one simulated day per real minute)",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    args = parser.parse_args(argv)
    host, _, port = args.listen_address.rpartition(":")

    story = Story()
    clock = SimulatedClock(args.speed)
    rng = random.Random(args.seed)
    registry = CollectorRegistry()
    registry.register(LatencyCollector(story, clock, random.Random(rng.random())))
    traffic = Traffic(story, clock, rng, registry)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    start_http_server(int(port), addr=host or "0.0.0.0", registry=registry)
    print(
        f"demo service on http://{host or '0.0.0.0'}:{port}/metrics, "
        f"{args.speed:g}x real time ({args.speed * 60 / DAY:g} simulated days per real minute)",
        flush=True,
    )
    traffic.run(stop)
    print("demo service stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
