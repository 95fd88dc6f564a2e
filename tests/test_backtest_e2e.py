"""Acceptance: the example incident library backtests end to end against a real Prometheus.

The library's series (four NAB failures and three generated scenarios) are backfilled
into Prometheus with promtool (``tests/backtest_fixtures.py``); the shipped rules are
rewritten to query it; ``graysignal backtest`` runs once per module through the real
CLI, with the shipped baseline (made from the CSV files), ``--by category`` and a
``--changes-query``. Each test then checks one thing the report must say.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from tests.backtest_fixtures import (
    CHANGES_QUERY,
    INCIDENTS,
    BacktestServer,
    backtest_prometheus_fixture,  # noqa: F401  (the fixture `backtest_prometheus`)
)

BASELINE = INCIDENTS / "backtest-baseline.json"


@pytest.fixture(scope="module", name="report")
def report_fixture(
    backtest_prometheus: BacktestServer, tmp_path_factory: pytest.TempPathFactory
) -> tuple[int, dict[str, Any]]:
    """Exit code and JSON report of one backtest of the whole library."""
    output = tmp_path_factory.mktemp("backtest") / "report.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRAYSIGNAL_PROMETHEUS_URL", backtest_prometheus.url)
        result = CliRunner().invoke(
            app,
            [
                "backtest",
                str(INCIDENTS),
                "--rules",
                str(backtest_prometheus.rules),
                "--baseline",
                str(BASELINE),
                "--by",
                "category",
                "--changes-query",
                CHANGES_QUERY,
                "--quiet-weeks",
                "3",
                "--format",
                "json",
                "--output",
                str(output),
            ],
        )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(output.read_text(encoding="utf-8"))


def incident(report: tuple[int, dict[str, Any]], incident_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [i for i in report[1]["incidents"] if i["id"] == incident_id]
    assert len(found) == 1
    return found[0]


def test_the_library_has_at_least_five_incidents_over_real_and_generated_data(
    report: tuple[int, dict[str, Any]],
) -> None:
    ids = {i["id"] for i in report[1]["incidents"]}
    nab = {"plant-machine-2014-02", "ec2-api-2014-03", "office-hvac-2013-12"}

    assert len(ids) >= 5
    assert nab <= ids
    assert "checkout-memory-leak-2014-04" in ids


def test_machine_failure_is_caught_early_from_prometheus(
    report: tuple[int, dict[str, Any]],
) -> None:
    machine = incident(report, "plant-machine-2014-02")

    assert machine["verdict"] == "early"
    (signal,) = machine["early"]
    assert signal["rule"] == "MachineTemperatureShift"
    assert signal["series"]["service"] == "plant-machine"
    # The fall that preceded the failure is judged against the window's own swings (a
    # 12-hour dip to 48 five days before): the trend fires once the fall outgrows them.
    assert 0 < signal["lead_time_seconds"] < 6 * 3600


def test_an_incident_the_rules_miss_is_reported_missed_with_the_silent_rule(
    report: tuple[int, dict[str, Any]],
) -> None:
    ec2 = incident(report, "ec2-api-2014-03")

    assert ec2["verdict"] == "missed"
    assert ec2["early"] == [] and ec2["late"] == []
    assert [o["rule"] for o in ec2["silent"]] == ["Ec2LatencyCreep"]
    assert ec2["verdict_text"].startswith("missed")


def test_an_incident_caught_only_after_impact_is_reported_as_late(
    report: tuple[int, dict[str, Any]],
) -> None:
    payments = incident(report, "payments-provider-outage-2014-08")

    assert payments["verdict"] == "late"
    assert payments["caught"] is False
    (signal,) = payments["late"]
    assert signal["rule"] == "PaymentsErrorRatioShift"
    assert signal["lead_time_seconds"] < 0
    assert "after" in payments["verdict_text"]


def test_a_service_no_rule_watches_is_unwatched(report: tuple[int, dict[str, Any]]) -> None:
    search = incident(report, "search-out-of-stock-2014-11")

    assert search["verdict"] == "unwatched"
    assert "PaymentsErrorRatioShift" in search["unwatched_rules"]


def test_prometheus_backtest_matches_the_baseline_made_from_the_files(
    report: tuple[int, dict[str, Any]],
) -> None:
    code, data = report

    assert code == 0
    assert data["baseline"]["regressions"] == 0
    assert data["baseline"]["changes"] == []


def test_library_summary_counts_early_signals_and_false_alarms(
    report: tuple[int, dict[str, Any]],
) -> None:
    summary = report[1]["summary"]
    quiet = report[1]["quiet"]

    assert summary["early"] == 4
    assert summary["early_share"] == pytest.approx(4 / summary["incidents"])
    early_leads = [
        i["earliest_lead_seconds"] for i in report[1]["incidents"] if i["verdict"] == "early"
    ]
    assert len(early_leads) == 4
    assert summary["median_lead_seconds"] == pytest.approx(statistics.median(early_leads))
    assert len(quiet["weeks"]) == 3
    assert quiet["false_alarms_per_week"] == pytest.approx(quiet["firings"] / 3)


def test_changes_query_events_are_overlaid_on_the_checkout_story(
    report: tuple[int, dict[str, Any]],
) -> None:
    story = incident(report, "checkout-memory-leak-2014-04")["story"]

    from_query = [c["at"] for c in story["changes"] if c["origin"] == "query"]
    assert from_query == ["2014-04-10T12:00:00Z", "2014-04-14T13:00:00Z"]
    kinds = [e["kind"] for e in story["events"]]
    assert kinds.index("change") < kinds.index("firing") < kinds.index("impact")


def test_checkout_story_says_memory_moved_before_latency(
    report: tuple[int, dict[str, Any]],
) -> None:
    story = incident(report, "checkout-memory-leak-2014-04")["story"]

    (hint,) = story["hints"]
    assert hint["leader"].startswith("process_resident_memory_mb")
    assert abs(hint["lag_seconds"]) == 2 * 3600
    assert story["first_mover"].startswith("process_resident_memory_mb")


def test_by_category_table_counts_incidents_per_quarter(
    report: tuple[int, dict[str, Any]],
) -> None:
    trends = report[1]["by_category"]
    rows = {row["category"]: row for row in trends["rows"]}

    assert rows["configuration"]["incidents"] == 2
    assert rows["configuration"]["early"] == 1
    assert rows["configuration"]["by_quarter"]["2014-Q3"] == {
        "incidents": 1,
        "early": 0,
        "coverage": 0.0,
    }
    assert trends["total"]["incidents"] == len(report[1]["incidents"])
