"""A realistic generated service log for the log-pattern tests.

Three weeks of a web service's log: several message templates at Poisson rates with a
daily rhythm (busy afternoons, quiet nights), values in every line (paths, durations,
users, IPs, hex ids) and the background of rare errors every service has. Two changes
can be switched on, each clear enough for any sound detector:

- ``warn_growth``: the WARN template ``slow query on table <*> took <NUM> ms`` grows
  slowly over the last five days to three times its usual rate;
- ``new_error``: a template never seen before, ``connection pool exhausted for <*> after
  <NUM> ms``, starts two days before the incident at about four lines an hour.

With both off the same seed gives the same log without either change (the control).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from adapters.timeparse import format_rfc3339

INCIDENT = 1_795_167_000  # Fri 2026-11-20 09:30 UTC
DAY = 86400
DAYS = 21
WARN_TEMPLATE = "slow query on table"
NEW_ERROR_TEMPLATE = "connection pool exhausted for"

# (level, template, lines per minute at the daily mean, follows the daily rhythm)
TEMPLATES = (
    (
        "INFO",
        "request completed method=GET path=/api/orders/{n} status=200 duration_ms={ms}",
        2.0,
        True,
    ),
    ("INFO", "user {user} logged in from {ip}", 0.5, True),
    ("DEBUG", "cache hit key=session:{hex}", 0.8, True),
    ("INFO", "scheduled job {job} finished in {ms} ms", 0.05, False),
    ("WARN", "slow query on table {table} took {ms} ms", 0.2, True),
    ("WARN", "retrying request to {svc} attempt {n}", 0.1, True),
    ("ERROR", "upstream {svc} returned status 503 after {ms} ms", 0.03, True),
)
NEW_ERROR = ("ERROR", "connection pool exhausted for {db} after {ms} ms")
NEW_ERROR_PER_MINUTE = 4 / 60


def rhythm(ts: np.ndarray) -> np.ndarray:
    """Traffic shape over a day: a minimum at 03:00 UTC, a maximum at 15:00 (0.3 to 1.7)."""
    hours = (ts % DAY) / 3600.0
    return 1.0 - 0.7 * np.cos(2 * math.pi * (hours - 3.0) / 24.0)


def write_service_log(
    path: Path,
    *,
    warn_growth: bool,
    new_error: bool,
    seed: int = 7,
    incident: int = INCIDENT,
    days: int = DAYS,
) -> Path:
    """Write the log (see the module doc) ending at ``incident``; returns ``path``."""
    minutes = np.arange(incident - days * DAY, incident, 60, dtype=np.int64)
    shape = rhythm(minutes)
    events: list[tuple[int, str, str]] = []
    for number, (level, template, rate, follows) in enumerate(TEMPLATES):
        lam = rate * (shape if follows else np.ones_like(shape))
        if warn_growth and template.startswith(WARN_TEMPLATE):
            ramp = np.clip((minutes - (incident - 5 * DAY)) / (5 * DAY), 0.0, 1.0)
            lam = lam * (1.0 + 2.0 * ramp)
        # each template draws from its own stream: a change to one leaves the others as
        # they are, so the control log differs only by the changes
        rng = np.random.default_rng([seed, number])
        _draw(rng, minutes, lam, (level, template), events)
    if new_error:
        lam = np.where(minutes >= incident - 2 * DAY, NEW_ERROR_PER_MINUTE * shape, 0.0)
        rng = np.random.default_rng([seed, len(TEMPLATES)])
        _draw(rng, minutes, lam, NEW_ERROR, events)
    events.sort(key=lambda e: e[0])
    with path.open("w", encoding="utf-8") as handle:
        for ts, level, message in events:
            handle.write(f"{format_rfc3339(ts)} {level} [api] {message}\n")
    return path


def _draw(
    rng: np.random.Generator,
    minutes: np.ndarray,
    lam: np.ndarray,
    line: tuple[str, str],
    events: list[tuple[int, str, str]],
) -> None:
    """Poisson lines per minute, each at a random second of its minute."""
    level, template = line
    counts = rng.poisson(lam)
    stamps = np.repeat(minutes, counts) + rng.integers(0, 60, size=int(counts.sum()))
    size = stamps.size
    numbers, durations = rng.integers(1, 5000, size), rng.integers(1, 30000, size)
    octets, hexes = rng.integers(0, 256, (size, 2)), rng.integers(0, 2**40, size)
    picks = rng.integers(0, 12, (size, 6))
    users, tables = ("alice", "bob", "carol", "dave"), ("orders", "users", "payments")
    services, jobs, dbs = ("billing", "search", "auth"), ("cleanup", "report"), ("db-7", "db-9")
    for i in range(size):
        pick = picks[i]
        message = template.format(
            n=numbers[i],
            ms=durations[i],
            user=users[pick[0] % 4],
            ip=f"10.0.{octets[i, 0]}.{octets[i, 1]}",
            hex=f"{hexes[i]:x}",
            job=jobs[pick[1] % 2],
            table=tables[pick[2] % 3],
            svc=services[pick[3] % 3],
            db=dbs[pick[4] % 2],
        )
        events.append((int(stamps[i]), level, message))
