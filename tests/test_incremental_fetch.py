"""IncrementalFetcher: fetch a rule's history once, then only the tail, and still return
exactly what a full fetch of the same range returns.

The equality is checked step by step, with series that have gaps, vanish and appear,
against three sources: an in-memory server with Prometheus' answer shape, the file
source, and a real Prometheus (``tests/servers.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adapters.errors import SourceUnavailable
from adapters.settings import PrometheusSettings
from adapters.sources import with_incremental_fetch
from adapters.sources.base import Source
from adapters.sources.files import FileSource
from adapters.sources.incremental import IncrementalFetcher, trimmed
from adapters.sources.prometheus import PrometheusSource
from detector.evaluate import required_history
from detector.rule import Rule
from detector.series import Series
from tests.servers import (
    GENERATED_START,
    RealServer,
    prometheus_server,  # noqa: F401  (the fixture `prometheus`)
)

STEP = 60
T0 = 1_709_510_400  # a midnight
DAY = 86400
RULE = Rule.model_validate(
    {
        "signal": "Incremental",
        "source": "prometheus",
        "query": "q",
        "step": STEP,
        "window": 7200,
        "seasonality": "none",
    }
)
HISTORY = required_history(RULE, STEP)  # 2h window + one step


def raw_series() -> list[Series]:
    """Two days at 1 minute: one steady series with gaps, one that vanishes after the
    first morning, one that appears in the afternoon."""
    rng = np.random.default_rng(3)
    timestamps = T0 + STEP * np.arange(2 * 1440, dtype=np.int64)
    steady = rng.normal(100, 5, timestamps.size)
    steady[200:260] = np.nan
    steady[1000] = np.nan
    vanishing = np.where(timestamps <= T0 + 8 * 3600, 1.0, np.nan)
    appearing = np.where(timestamps > T0 + 15 * 3600, 2.0, np.nan)
    return [
        Series({"name": "steady"}, timestamps, steady, STEP),
        Series({"name": "vanishing"}, timestamps, vanishing, STEP),
        Series({"name": "appearing"}, timestamps, appearing, STEP),
    ]


class MemoryServer:
    """Answers like a Prometheus range query: the stored samples in ``(start, end]``,
    each series from its first to its last sample there, NaN between; records calls."""

    def __init__(self, series: list[Series]) -> None:
        self.series = series
        self.calls: list[tuple[int, int]] = []
        self.fail_next = False

    def fetch(self, rule: Rule, start: int, end: int) -> list[Series]:
        self.calls.append((start, end))
        if self.fail_next:
            self.fail_next = False
            raise SourceUnavailable("rule Incremental: source memory: down for a moment")
        out = []
        for one in self.series:
            part = one.between(start, end)
            present = ~np.isnan(part.values)
            if present.any():
                out.append(
                    Series.regular(
                        one.labels, part.timestamps[present], part.values[present], one.step
                    )
                )
        return out


def assert_same(got: list[Series], expected: list[Series]) -> None:
    got_by = {s.fingerprint: s for s in got}
    expected_by = {s.fingerprint: s for s in expected}
    assert got_by.keys() == expected_by.keys()
    for key, want in expected_by.items():
        have = got_by[key]
        assert have.labels == want.labels
        assert have.step == want.step
        np.testing.assert_array_equal(have.timestamps, want.timestamps)
        np.testing.assert_array_equal(have.values, want.values)


def clock(start: int, end: int) -> list[int]:
    """Evaluation times: mostly one step apart, with an odd offset and a few jumps."""
    times, now = [], start
    jumps = [STEP, STEP, STEP + 17, 10 * STEP, STEP, 3 * STEP - 17, STEP]
    while now <= end:
        times.append(now)
        now += jumps[len(times) % len(jumps)]
    return times


# --- equality with a full fetch -------------------------------------------------


def test_every_incremental_fetch_equals_a_full_fetch() -> None:
    server = MemoryServer(raw_series())
    fetcher = IncrementalFetcher(server)

    times = clock(T0 + 3 * 3600, T0 + 2 * DAY)
    for now in times:
        assert_same(fetcher.fetch(RULE, now - HISTORY, now), server.fetch(RULE, now - HISTORY, now))

    assert fetcher.full_fetches == 1
    assert fetcher.tail_fetches == len(times) - 1


def test_incremental_fetches_hold_the_samples_of_full_fetches_of_a_file(tmp_path: Path) -> None:
    """The file source keeps NaN slots at the edges of a range; the fetcher answers in
    trimmed form, so the two agree sample for sample once trimmed alike."""
    path = tmp_path / "steady.csv"
    steady = raw_series()[0]
    lines = [f"{t},{v}" for t, v in zip(steady.timestamps, steady.values, strict=True)]
    path.write_text("timestamp,value\n" + "\n".join(lines) + "\n", encoding="utf-8")
    rule = RULE.model_copy(update={"source": "file", "path": str(path), "query": None})
    source = FileSource()
    fetcher = IncrementalFetcher(source)

    for now in clock(T0 + 3 * 3600, T0 + DAY):
        full = trimmed(source.fetch(rule, now - HISTORY, now))
        assert_same(fetcher.fetch(rule, now - HISTORY, now), full)

    assert fetcher.tail_fetches > 100


def test_incremental_fetches_equal_full_fetches_from_prometheus(prometheus: RealServer) -> None:
    data = prometheus.data.checkout
    rule = RULE.model_copy(update={"query": data.selector()})
    source = PrometheusSource(PrometheusSettings(url=prometheus.url, retries=0))
    fetcher = IncrementalFetcher(source)

    for now in clock(GENERATED_START + 3 * 3600, GENERATED_START + 5 * 3600):
        assert_same(fetcher.fetch(rule, now - HISTORY, now), source.fetch(rule, now - HISTORY, now))


def test_trimmed_cuts_nan_edges_and_drops_empty_series() -> None:
    values = np.array([np.nan, 1.0, np.nan, 2.0, np.nan])
    edges = Series({"a": "1"}, T0 + STEP * np.arange(5, dtype=np.int64), values, STEP)
    empty = Series({"a": "2"}, edges.timestamps, np.full(5, np.nan), STEP)

    (got,) = trimmed([edges, empty])

    assert got.timestamps.tolist() == [T0 + STEP, T0 + 2 * STEP, T0 + 3 * STEP]


# --- what is fetched ------------------------------------------------------------


def test_first_call_fetches_the_full_range() -> None:
    server = MemoryServer(raw_series())

    IncrementalFetcher(server).fetch(RULE, T0, T0 + 3 * 3600)

    assert server.calls == [(T0, T0 + 3 * 3600)]


def test_later_calls_fetch_only_the_tail_with_one_step_of_overlap() -> None:
    server = MemoryServer(raw_series())
    fetcher = IncrementalFetcher(server)
    now = T0 + 3 * 3600
    fetcher.fetch(RULE, now - HISTORY, now)

    fetcher.fetch(RULE, now + 300 - HISTORY, now + 300)

    assert server.calls[-1] == (now - STEP, now + 300)


def test_a_late_sample_in_the_last_step_is_picked_up() -> None:
    series = raw_series()[0]
    late = series.timestamps.searchsorted(T0 + 3 * 3600)
    values = series.values.copy()
    values[late] = np.nan  # not yet ingested at the first fetch
    server = MemoryServer([Series(series.labels, series.timestamps, values, STEP)])
    fetcher = IncrementalFetcher(server)
    now = T0 + 3 * 3600
    fetcher.fetch(RULE, now - HISTORY, now)

    server.series = [series]  # ... and there it is
    (got,) = fetcher.fetch(RULE, now + STEP - HISTORY, now + STEP)

    assert got.values[got.index_at(now) - 1] == series.values[late]


def test_a_failed_tail_fetch_leaves_the_buffer_usable() -> None:
    server = MemoryServer(raw_series())
    fetcher = IncrementalFetcher(server)
    now = T0 + 3 * 3600
    fetcher.fetch(RULE, now - HISTORY, now)
    server.fail_next = True

    with pytest.raises(SourceUnavailable):
        fetcher.fetch(RULE, now + STEP - HISTORY, now + STEP)
    later = now + 5 * STEP

    assert_same(
        fetcher.fetch(RULE, later - HISTORY, later), server.fetch(RULE, later - HISTORY, later)
    )


def test_a_range_reaching_before_the_buffer_is_fetched_in_full() -> None:
    server = MemoryServer(raw_series())
    fetcher = IncrementalFetcher(server)
    now = T0 + 5 * 3600
    fetcher.fetch(RULE, now - HISTORY, now)

    fetcher.fetch(RULE, now - 2 * HISTORY, now + STEP)

    assert fetcher.full_fetches == 2
    assert server.calls[-1] == (now - 2 * HISTORY, now + STEP)


def test_a_clock_going_backwards_refetches_in_full() -> None:
    server = MemoryServer(raw_series())
    fetcher = IncrementalFetcher(server)
    now = T0 + 5 * 3600
    fetcher.fetch(RULE, now - HISTORY, now)

    got = fetcher.fetch(RULE, now - 600 - HISTORY, now - 600)

    assert fetcher.full_fetches == 2
    assert_same(got, server.fetch(RULE, now - 600 - HISTORY, now - 600))


def test_an_edited_rule_starts_a_fresh_buffer() -> None:
    server = MemoryServer(raw_series())
    fetcher = IncrementalFetcher(server)
    now = T0 + 5 * 3600
    fetcher.fetch(RULE, now - HISTORY, now)

    fetcher.fetch(RULE.model_copy(update={"query": "other"}), now + STEP - HISTORY, now + STEP)

    assert fetcher.full_fetches == 2


def test_a_span_longer_than_the_rule_history_is_still_served_incrementally() -> None:
    """A caller that computed the history at another step asks for more than the
    fetcher's own estimate: it must not cause a full fetch at every call."""
    server = MemoryServer(raw_series())
    fetcher = IncrementalFetcher(server, history=lambda rule, step: 600)

    for now in clock(T0 + 3 * 3600, T0 + 6 * 3600):
        assert_same(fetcher.fetch(RULE, now - HISTORY, now), server.fetch(RULE, now - HISTORY, now))

    assert fetcher.full_fetches == 1


def test_with_incremental_fetch_wraps_only_server_sources() -> None:
    loki = MemoryServer([])
    plain: dict[str, Source] = {"file": FileSource(), "prometheus": MemoryServer([]), "loki": loki}

    wrapped = with_incremental_fetch(plain)

    assert wrapped["file"] is plain["file"]
    assert isinstance(wrapped["prometheus"], IncrementalFetcher)
    assert isinstance(wrapped["loki"], IncrementalFetcher)
    assert wrapped["loki"].source is loki


# --- bounded memory -------------------------------------------------------------


def test_buffers_hold_at_most_the_required_history() -> None:
    fetcher = IncrementalFetcher(MemoryServer(raw_series()))

    for now in clock(T0 + 3 * 3600, T0 + DAY):
        fetcher.fetch(RULE, now - HISTORY, now)

    assert max(len(s) for s in fetcher.buffered(RULE)) <= HISTORY // STEP


def test_a_vanished_series_is_kept_while_in_history_then_dropped() -> None:
    fetcher = IncrementalFetcher(MemoryServer(raw_series()))
    gone = T0 + 8 * 3600  # last sample of "vanishing"

    def names_after(now: int) -> set[str]:
        for t in clock(now - 30 * STEP, now):
            fetcher.fetch(RULE, t - HISTORY, t)
        return {s.labels["name"] for s in fetcher.buffered(RULE)}

    assert "vanishing" in names_after(gone + HISTORY - 10 * STEP)
    assert "vanishing" not in names_after(gone + HISTORY + 10 * STEP)
