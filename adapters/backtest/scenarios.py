"""Generated incident scenarios for the example library and the backtest tests.

Real post-mortems rarely come with their data, and NAB's failures (the rest of the
example library) have one series each, so these scenarios supply what they cannot: an
incident whose two series move one after the other (a memory leak that drives latency
up two hours later, for the lead-lag hint), one that a resource-exhaustion rule sees
days ahead, and a sudden dependency outage with no precursor at all (caught only after
impact). They are deterministic (fixed seeds), so the library's backtest, its baseline
and ``docs/backtest-example.md`` are reproducible.

Regenerate the shipped CSVs with ``python -m adapters.backtest.scenarios incidents/data``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from detector.series import Series

__all__ = ["SCENARIOS", "STEP", "Scenario", "scenario_series", "write_scenario_csvs"]

STEP = 900
"""15 minutes: fine enough for hour-scale lags, coarse enough to keep the CSVs small."""

FloatArray = npt.NDArray[np.float64]


def _ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class Scenario:
    """One generated incident's data: a file name and its labelled series."""

    name: str
    start: int
    end: int

    @property
    def timestamps(self) -> npt.NDArray[np.int64]:
        return np.arange(self.start, self.end + STEP, STEP, dtype=np.int64)


CHECKOUT = Scenario("checkout_memory_leak", _ts("2014-03-24T00:00:00"), _ts("2014-04-16T00:00:00"))
CHECKOUT_DEPLOY = _ts("2014-04-10T12:00:00")
CHECKOUT_ROLLBACK = _ts("2014-04-14T13:00:00")
CHECKOUT_LAG = 2 * 3600

ORDERS_DB = Scenario("orders_db_disk", _ts("2014-04-28T00:00:00"), _ts("2014-05-20T00:00:00"))
ORDERS_DB_CONFIG_PUSH = _ts("2014-05-12T08:30:00")
ORDERS_DB_FULL = _ts("2014-05-17T06:00:00")

PAYMENTS = Scenario("payments_provider", _ts("2014-07-28T00:00:00"), _ts("2014-08-21T00:00:00"))
PAYMENTS_OUTAGE = _ts("2014-08-19T14:20:00")
PAYMENTS_RECOVERY = _ts("2014-08-19T19:50:00")

SCENARIOS = (CHECKOUT, ORDERS_DB, PAYMENTS)


def _ar1(rng: np.random.Generator, n: int, phi: float, sigma: float) -> FloatArray:
    """Autocorrelated wiggles: what real memory and queue series look like between events."""
    noise = rng.normal(0.0, sigma, n)
    out = np.empty(n)
    level = 0.0
    for i in range(n):
        level = phi * level + noise[i]
        out[i] = level
    return out


def _daily(timestamps: npt.NDArray[np.int64], amplitude: float) -> FloatArray:
    """Busy afternoons, quiet nights (peak at 15:00 UTC)."""
    seconds = (timestamps % 86400).astype(np.float64)
    return np.asarray(amplitude * np.cos(2 * np.pi * (seconds - 15 * 3600) / 86400))


Built = list[tuple[str, dict[str, str], FloatArray]]
"""(file stem, labels, values) per series of a scenario."""


def _checkout() -> Built:
    """A deploy leaks memory; p99 latency follows the memory two hours later (GC pressure).

    Memory wanders (AR(1)) around its level at all times, and latency echoes every
    wander with a two-hour delay, which is what lets a cross-correlation of the
    differenced series say which one moved first.
    """
    rng = np.random.default_rng(20140410)
    ts = CHECKOUT.timestamps
    leaking = (ts >= CHECKOUT_DEPLOY) & (ts < CHECKOUT_ROLLBACK)
    leak = np.where(leaking, (ts - CHECKOUT_DEPLOY) / 86400.0 * 420.0, 0.0)
    memory = 1200.0 + _ar1(rng, ts.size, 0.9, 12.0) + leak
    lag = CHECKOUT_LAG // STEP
    lagged = np.concatenate([np.full(lag, memory[0]), memory[:-lag]])
    latency = 0.25 + _daily(ts, 0.02) + 0.0004 * (lagged - 1200.0) + rng.normal(0.0, 0.004, ts.size)
    return [
        (
            "checkout_memory",
            {"__name__": "process_resident_memory_mb", "service": "checkout"},
            memory,
        ),
        (
            "checkout_latency",
            {"__name__": "http_request_duration_p99_seconds", "service": "checkout"},
            latency,
        ),
    ]


def _orders_db() -> Built:
    """The disk fills slowly as usual, until a config push breaks WAL archiving and it
    fills at 9% a day; it is full at 06:00 on 17 May."""
    rng = np.random.default_rng(20140512)
    ts = ORDERS_DB.timestamps
    days = (ts - ORDERS_DB.start) / 86400.0
    sawtooth = 0.01 * ((ts % 86400) / 86400.0)  # logs grow during the day, rotated at midnight
    used = 0.52 + 0.002 * days + sawtooth + rng.normal(0.0, 0.002, ts.size)
    runaway = np.clip((ts - ORDERS_DB_CONFIG_PUSH) / 86400.0, 0.0, None)
    used += 0.09 * runaway
    used = np.minimum(used, 1.0)
    labels = {"__name__": "node_filesystem_used_ratio", "service": "orders-db", "mount": "/data"}
    return [("orders_db_disk", labels, used)]


def _payments() -> Built:
    """A payment provider fails suddenly: nothing creeps before, the error ratio jumps."""
    rng = np.random.default_rng(20140819)
    ts = PAYMENTS.timestamps
    down = (ts >= PAYMENTS_OUTAGE) & (ts < PAYMENTS_RECOVERY)
    errors = np.abs(0.002 + rng.normal(0.0, 0.0006, ts.size)) + np.where(down, 0.3, 0.0)
    latency = 0.42 + _daily(ts, 0.03) + rng.normal(0.0, 0.015, ts.size)
    labels = {"service": "payments", "provider": "acme"}
    return [
        ("payments_errors", {"__name__": "payment_errors_ratio", **labels}, errors),
        (
            "payments_latency",
            {"__name__": "payment_provider_latency_seconds", **labels},
            latency,
        ),
    ]


_BUILDERS = {
    CHECKOUT.name: _checkout,
    ORDERS_DB.name: _orders_db,
    PAYMENTS.name: _payments,
}


def scenario_series(scenario: Scenario) -> dict[str, Series]:
    """The scenario's series by file stem, on the 15-minute grid, rounded as the CSVs
    store them (so a Prometheus loaded from these series holds what the files hold)."""
    ts = scenario.timestamps
    return {
        stem: Series(labels, ts, _rounded(values), STEP)
        for stem, labels, values in _BUILDERS[scenario.name]()
    }


def _rounded(values: FloatArray) -> FloatArray:
    return np.asarray([float(f"{v:.6g}") for v in values], dtype=np.float64)


def write_csv(path: Path, series: Series) -> Path:
    """``timestamp,value,<labels>`` with Unix-second timestamps: what the file source reads."""
    names = sorted(series.labels)
    extra = ",".join(series.labels[n] for n in names)
    lines = [",".join(["timestamp", "value", *names])]
    lines += [
        f"{t},{v:.6g},{extra}"
        for t, v in zip(series.timestamps.tolist(), series.values.tolist(), strict=True)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_scenario_csvs(directory: Path) -> list[Path]:
    """One CSV per series (a file rule reads every series of its file)."""
    directory.mkdir(parents=True, exist_ok=True)
    return [
        write_csv(directory / f"{stem}.csv", series)
        for scenario in SCENARIOS
        for stem, series in scenario_series(scenario).items()
    ]


def _main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m adapters.backtest.scenarios DIRECTORY", file=sys.stderr)
        return 2
    for path in write_scenario_csvs(Path(argv[0])):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
