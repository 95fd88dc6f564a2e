"""Acceptance: ``graysignal replay`` over a realistic service log, by message template.

Three weeks of a generated service log (``tests/logpattern_fixtures.py``): templates
with a daily rhythm, one WARN template growing slowly to three times its rate over the
last five days, one ERROR template never seen before appearing two days before the
incident. Replay must fire for both before the incident and name the templates; the
same log without either change must fire nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from adapters.timeparse import format_rfc3339, parse_timestamp
from tests.logpattern_fixtures import (
    INCIDENT,
    NEW_ERROR_TEMPLATE,
    WARN_TEMPLATE,
    write_service_log,
)

runner = CliRunner()

RULES = """\
groups:
  - name: service-logs
    interval: 10m
    rules:
      - signal: ServiceLogPatterns
        source: logfile
        path: {path}
        log: {{by: pattern}}
        step: 10m
        window: 7d
        detect: [new_pattern, volume]
        seasonality: daily
        direction: up
        for: 30m
        labels: {{team: api}}
"""


def replay(directory: Path, *, warn_growth: bool, new_error: bool) -> dict[str, Any]:
    log = write_service_log(directory / "service.log", warn_growth=warn_growth, new_error=new_error)
    rules = directory / "rules.yaml"
    rules.write_text(RULES.format(path=log))
    result = runner.invoke(
        app,
        [
            "replay",
            str(rules),
            "--at",
            format_rfc3339(INCIDENT),
            "--lookback",
            "14d",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.fixture(scope="module")
def changed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return replay(tmp_path_factory.mktemp("changed"), warn_growth=True, new_error=True)


@pytest.fixture(scope="module")
def control(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return replay(tmp_path_factory.mktemp("control"), warn_growth=False, new_error=False)


def fired_before_incident(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        signal
        for signal in report["signals"]
        if signal["firings"] and parse_timestamp(signal["first_firing"]) < INCIDENT
    ]


def test_a_new_error_template_fires_new_pattern_before_the_incident(
    changed: dict[str, Any],
) -> None:
    found = [
        s
        for s in fired_before_incident(changed)
        if s["kind"] == "new_pattern" and NEW_ERROR_TEMPLATE in s["series"]["template"]
    ]

    assert len(found) == 1
    signal = found[0]
    assert signal["series"]["level"] == "ERROR"
    first = signal["firings"][0]
    assert NEW_ERROR_TEMPLATE in first["explanation"]
    assert "first seen" in first["explanation"]
    assert "/h" in first["explanation"]
    # it appeared two days before the incident: onset within an hour of that
    assert abs(parse_timestamp(first["onset"]) - (INCIDENT - 2 * 86400)) <= 3600


def test_a_slowly_growing_warn_template_fires_volume_on_its_own_series(
    changed: dict[str, Any],
) -> None:
    found = [
        s
        for s in fired_before_incident(changed)
        if s["kind"] == "volume" and WARN_TEMPLATE in s["series"]["template"]
    ]

    assert len(found) == 1
    assert found[0]["series"]["level"] == "WARN"
    assert WARN_TEMPLATE in found[0]["firings"][0]["explanation"]
    assert "rose" in found[0]["firings"][0]["explanation"]


def test_only_the_changed_templates_fire(changed: dict[str, Any]) -> None:
    templates = {s["series"]["template"] for s in changed["signals"] if s["firings"]}

    assert templates
    assert all(WARN_TEMPLATE in t or NEW_ERROR_TEMPLATE in t for t in templates)


def test_the_same_log_without_the_changes_fires_nothing(control: dict[str, Any]) -> None:
    assert [s for s in control["signals"] if s["firings"]] == []
    assert [r["rule"] for r in control["silent"]] == ["ServiceLogPatterns"]
