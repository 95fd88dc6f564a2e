"""The baseline: losing a caught incident fails the backtest, everything else passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from adapters.backtest.baseline import BaselineEntry, ChangeKind, compare, read_baseline
from adapters.backtest.engine import Backtest, BacktestSettings, IncidentResult, Verdict, classify
from adapters.cli import app
from adapters.errors import InputError
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

CHECKOUT = {"__name__": "latency", "service": "checkout"}


def backtest_of(*firings: tuple[int, int | None]) -> Backtest:
    """A one-incident backtest whose only rule fired over ``firings`` (none: silent)."""
    incident = hand_incident()
    signals = [hand_signal("Creep", CHECKOUT, *firings)] if firings else []
    result = hand_result(signals, [hand_outcome("Creep")])
    judged = IncidentResult(incident, result, *classify(incident, result))
    return Backtest(BacktestSettings(), rules=1, incidents=[judged])


CAUGHT = BaselineEntry(Verdict.EARLY, 5 * HOUR, ("Creep",))
MISSED = BaselineEntry(Verdict.MISSED, None, ())


@pytest.mark.parametrize(
    ("baseline", "backtest", "kind"),
    [
        ({"checkout-2026-11": CAUGHT}, backtest_of(), ChangeKind.REGRESSION),
        ({"checkout-2026-11": CAUGHT}, backtest_of((T0 + HOUR, None)), ChangeKind.REGRESSION),
        ({"checkout-2026-11": MISSED}, backtest_of((T0 - HOUR, None)), ChangeKind.IMPROVEMENT),
        ({}, backtest_of(), ChangeKind.NEW),
        ({"checkout-2026-11": CAUGHT}, backtest_of((T0 - 2 * HOUR, None)), ChangeKind.LEAD),
        ({"checkout-2026-11": MISSED}, backtest_of((T0 + HOUR, None)), ChangeKind.VERDICT),
    ],
)
def test_comparison_with_the_baseline(
    baseline: dict[str, BaselineEntry], backtest: Backtest, kind: ChangeKind
) -> None:
    (change,) = compare(baseline, backtest)

    assert change.kind is kind
    assert change.fails is (kind is ChangeKind.REGRESSION)


def test_an_unchanged_result_is_no_change() -> None:
    assert compare({"checkout-2026-11": CAUGHT}, backtest_of((T0 - 5 * HOUR, None))) == []


def test_an_incident_removed_from_the_library_is_reported_but_passes() -> None:
    baseline = {"checkout-2026-11": CAUGHT, "gone-2025-01": CAUGHT}

    changes = compare(baseline, backtest_of((T0 - 5 * HOUR, None)))

    assert [(c.incident, c.kind, c.fails) for c in changes] == [
        ("gone-2025-01", ChangeKind.REMOVED, False)
    ]


def backtest(tmp_path: Path, rules: Path, *args: str) -> Result:
    return CliRunner().invoke(
        app,
        [
            "backtest",
            str(tmp_path / "incidents"),
            "--rules",
            str(rules),
            "--lookback",
            "3d",
            "--quiet-weeks",
            "0",
            "--baseline",
            str(tmp_path / "baseline.json"),
            *args,
        ],
    )


def test_update_baseline_writes_what_was_caught(tmp_path: Path) -> None:
    write_mini_incident(tmp_path / "incidents")
    rules = write_mini_rules(tmp_path)

    result = backtest(tmp_path, rules, "--update-baseline", "--format", "json")

    assert result.exit_code == 0, result.output
    entry = read_baseline(tmp_path / "baseline.json")["checkout-slow"]
    assert entry.verdict is Verdict.EARLY
    assert entry.early_rules == ("CheckoutLatencyShift",)


def test_a_rule_change_that_loses_a_caught_incident_exits_1(tmp_path: Path) -> None:
    write_mini_incident(tmp_path / "incidents")
    assert backtest(tmp_path, write_mini_rules(tmp_path), "--update-baseline").exit_code == 0

    # The edit: the rule now only watches for drops, and the incident was a rise.
    result = backtest(tmp_path, write_mini_rules(tmp_path, direction="down"), "--format", "md")

    assert result.exit_code == 1
    assert "1 regression: checkout-slow regression: was caught early by CheckoutLatencyShift" in (
        result.stdout
    )


def test_the_same_rules_against_their_baseline_exit_0(tmp_path: Path) -> None:
    write_mini_incident(tmp_path / "incidents")
    rules = write_mini_rules(tmp_path)
    assert backtest(tmp_path, rules, "--update-baseline").exit_code == 0

    result = backtest(tmp_path, rules, "--format", "json")

    assert result.exit_code == 0
    assert json.loads(result.stdout)["baseline"] == {
        "path": str(tmp_path / "baseline.json"),
        "regressions": 0,
        "changes": [],
    }


def test_a_missing_baseline_is_bad_input_exit_2(tmp_path: Path) -> None:
    write_mini_incident(tmp_path / "incidents")

    result = backtest(tmp_path, write_mini_rules(tmp_path))

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"{tmp_path / 'baseline.json'}: no such baseline file; create it with --update-baseline"
    )


def test_a_malformed_baseline_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text('{\n  "schema_version": 1,\n  "incidents": {,}\n}\n')

    with pytest.raises(InputError) as caught:
        read_baseline(path)

    (problem,) = caught.value.problems
    assert problem.line == 3
