"""The log pattern mining benchmark measures what it says, on a small log."""

from __future__ import annotations

from benchmarks import logpatterns


def test_every_generated_line_is_mined_and_the_figures_are_reported() -> None:
    figures = logpatterns.run(1 << 20, log=lambda _: None)

    assert figures["bytes"] >= 1 << 20
    assert figures["parsed"] == figures["lines"] >= 10_000
    assert figures["templates"] >= 10
    assert figures["lines_per_second_per_core"] == figures["lines"] / figures["cpu_seconds"]
    assert figures["goal_met"] is (figures["lines_per_second_per_core"] >= 50_000)
    assert figures["rss_peak_mb"] >= figures["rss_start_mb"] > 0
