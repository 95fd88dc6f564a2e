"""``--by category``: incident counts and early-signal coverage by category and quarter."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from adapters.backtest.engine import (
    Backtest,
    BacktestSettings,
    IncidentResult,
    TrendCell,
    category_trends,
    classify,
)
from adapters.backtest.markdown import render_backtest_markdown
from adapters.cli import app
from detector.incident import IncidentCategory, quarter_of
from tests.backtest_fixtures import (
    HOUR,
    T0,
    hand_incident,
    hand_outcome,
    hand_result,
    hand_signal,
    write_mini_incident,
    write_mini_rules,
)

QUARTER = 92 * 86400


def judged(incident_id: str, category: str, start: int, caught: bool) -> IncidentResult:
    incident = hand_incident(incident_id=incident_id, category=category, start=start)
    firings = [(start - HOUR, None)] if caught else []
    signals = [hand_signal("Creep", {"service": "checkout"}, *firings)] if caught else []
    result = hand_result(signals, [hand_outcome("Creep")], incident=start)
    return IncidentResult(incident, result, *classify(incident, result))


def library() -> Backtest:
    return Backtest(
        BacktestSettings(quiet_weeks=0),
        rules=1,
        incidents=[
            judged("a", "code", T0, caught=True),
            judged("b", "code", T0 + 2 * 86400, caught=False),
            judged("c", "capacity", T0 + QUARTER, caught=True),
            judged("d", "code", T0 + QUARTER, caught=True),
        ],
    )


def test_quarters_are_calendar_quarters_in_utc() -> None:
    assert quarter_of(T0) == "2026-Q4"
    assert quarter_of(T0 + QUARTER) == "2027-Q1"


def test_incidents_and_early_signals_are_counted_per_category_and_quarter() -> None:
    trends = category_trends(library().incidents)

    assert trends.quarters == ("2026-Q4", "2027-Q1")
    rows = {category: (cells, total) for category, cells, total in trends.rows}
    assert [category for category, _, _ in trends.rows] == [
        IncidentCategory.CODE,
        IncidentCategory.CAPACITY,
    ]  # in the schema's order
    assert rows[IncidentCategory.CODE] == (
        {"2026-Q4": TrendCell(2, 1), "2027-Q1": TrendCell(1, 1)},
        TrendCell(3, 2),
    )
    assert trends.per_quarter == {"2026-Q4": TrendCell(2, 1), "2027-Q1": TrendCell(2, 2)}
    assert trends.total == TrendCell(4, 3)


def test_markdown_by_category_table() -> None:
    text = render_backtest_markdown(library(), by_category=True)

    table = text.split("## By category and quarter", 1)[1].split("\n\n")[2].splitlines()
    assert table == [
        "| Category | 2026-Q4 | 2027-Q1 | Total | Coverage |",
        "| --- | --- | --- | --- | --- |",
        "| code | 1/2 | 1/1 | 2/3 | 67% |",
        "| capacity |  | 1/1 | 1/1 | 100% |",
        "| all | 1/2 | 2/2 | 3/4 | 75% |",
    ]


def test_without_by_category_there_is_no_table() -> None:
    assert "By category" not in render_backtest_markdown(library())


def test_by_category_through_the_command_line(tmp_path: Path) -> None:
    incidents = tmp_path / "incidents"
    write_mini_incident(incidents, "slow-checkout", category="code")
    write_mini_incident(incidents, "quiet-cart", service="cart", category="capacity")

    result = CliRunner().invoke(
        app,
        [
            "backtest",
            str(incidents),
            "--rules",
            str(write_mini_rules(tmp_path)),
            "--lookback",
            "3d",
            "--quiet-weeks",
            "0",
            "--by",
            "category",
            "--format",
            "json",
        ],
    )

    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["by_category"]["rows"]
    assert [(r["category"], r["incidents"], r["early"]) for r in rows] == [
        ("code", 1, 1),
        ("capacity", 1, 0),
    ]
