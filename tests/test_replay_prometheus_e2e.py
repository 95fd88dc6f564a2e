"""Acceptance: ``graysignal replay`` over a rule file that reads a real Prometheus finds
exactly what the same replay finds reading the same data from a CSV file.

The Prometheus (``tests/servers.py``) holds NAB series backfilled with ``promtool``;
the CSV holds the same samples with the same labels (``__name__`` and ``instance``
columns), so the two JSON reports must be identical, firings, onsets and explanations
included. The command runs through ``typer.testing.CliRunner`` on the real app, with
``GRAYSIGNAL_PROMETHEUS_URL`` pointing at the test server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from adapters.timeparse import format_rfc3339
from tests.servers import (
    Dataset,
    RealServer,
    prometheus_server,  # noqa: F401  (the fixture `prometheus`)
)

RULES = """\
groups:
  - name: nab
    interval: 5m
    rules:
      - signal: {signal}Shift
        source: {source}
        {where}
        step: 5m
        window: {window}
        detect: [level_shift, trend]
        for: 15m
      - signal: {signal}Jitter
        source: {source}
        {where}
        step: 5m
        window: 2d
        detect: [variance]
        seasonality: none
        for: 15m
"""


def replay(rules: Path, at: int) -> dict[str, Any]:
    result = CliRunner().invoke(
        app,
        ["replay", str(rules), "--at", format_rfc3339(at), "--lookback", "5d", "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def write_rules(path: Path, signal: str, source: str, where: str, window: str) -> Path:
    text = RULES.format(signal=signal, source=source, where=where, window=window)
    path.write_text(text, encoding="utf-8")
    return path


def reports(
    prometheus: RealServer,
    data: Dataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    window: str = "3d",
) -> tuple[dict[str, Any], dict[str, Any]]:
    monkeypatch.setenv("GRAYSIGNAL_PROMETHEUS_URL", prometheus.url)
    csv = data.write_csv(tmp_path / "data.csv")
    signal = data.labels["instance"].capitalize()
    from_server = write_rules(
        tmp_path / "server.yaml", signal, "prometheus", f"query: '{data.selector()}'", window
    )
    from_file = write_rules(tmp_path / "file.yaml", signal, "file", f"path: {csv}", window)
    return replay(from_server, data.series.end), replay(from_file, data.series.end)


def test_replay_from_prometheus_fires_exactly_as_from_the_file(
    prometheus: RealServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, file = reports(prometheus, prometheus.data.jumps_up, tmp_path, monkeypatch)

    assert server["signals"], "the artificial jump should fire"
    assert server == file


def test_replay_of_a_series_with_gaps_matches_the_file(
    prometheus: RealServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 2-day window: the latency's last hours stand out from it (the failure).
    server, file = reports(prometheus, prometheus.data.ec2_latency, tmp_path, monkeypatch, "2d")

    assert [r["series_count"] for r in server["rules"]] == [1, 1]
    assert server["signals"], "the latency's shift before the failure should fire"
    assert server == file
