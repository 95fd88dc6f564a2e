"""Housekeeping of a long-running daemon: ledger retention and metrics of removed rules."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from structlog.testing import capture_logs

from adapters.daemon.service import Service
from adapters.daemon.settings import DaemonSettings
from adapters.sources import FileSource
from detector.testing import EPOCH
from tests.test_daemon_engine import GROUP, Frozen, Recorder, write_rules

DAY = 86_400
REPO = Path(__file__).resolve().parents[1]
SHIFTED = EPOCH + int(8.9 * DAY)  # inside the planted shift of write_rules' series


def daemon(tmp_path: Path, rules: Path, **settings: object) -> Service:
    config = DaemonSettings(rules=[rules], ledger=tmp_path / "ledger.db", **settings)  # type: ignore[arg-type]
    service = Service(config, sources={"file": FileSource()}, notifiers={"recorder": Recorder()})
    service.clock = Frozen(SHIFTED)
    return service


def count(ledger: Path, table: str) -> int:
    with sqlite3.connect(ledger) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_findings_older_than_the_retention_are_pruned_and_transitions_kept(
    tmp_path: Path,
) -> None:
    rules = write_rules(tmp_path, pending_for="0s")
    service = daemon(tmp_path, rules, finding_retention="7d")
    assert service.reload()
    service.engine.run_group(GROUP, SHIFTED)
    ledger = tmp_path / "ledger.db"
    findings, transitions = count(ledger, "findings"), count(ledger, "transitions")
    assert findings > 0 and transitions > 0

    service.prune_ledger(SHIFTED + 6 * DAY)  # still within the retention
    assert count(ledger, "findings") == findings
    service.prune_ledger(SHIFTED + 8 * DAY)

    assert count(ledger, "findings") == 0
    assert count(ledger, "transitions") == transitions  # replay and the digest read these
    pruned = service.metrics.registry.get_sample_value("graysignal_ledger_pruned_findings_total")
    assert pruned == findings
    service.ledger.close()


def test_a_rule_removed_by_reload_takes_its_metric_series_with_it(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, pending_for="0s")
    service = daemon(tmp_path, rules)
    assert service.reload()
    service.engine.run_group(GROUP, SHIFTED)
    registry = service.metrics.registry
    source_up = {"group": GROUP, "rule": "LatencyShift", "source": "file"}
    evaluations = {"group": GROUP, "rule": "LatencyShift"}
    assert registry.get_sample_value("graysignal_source_up", source_up) == 1
    assert registry.get_sample_value("graysignal_rule_evaluations_total", evaluations) == 1
    assert registry.get_sample_value(
        "graysignal_group_last_success_timestamp_seconds", {"group": GROUP}
    )

    rules.write_text(rules.read_text().replace(f"name: {GROUP}", "name: web"))
    assert service.reload()

    assert registry.get_sample_value("graysignal_source_up", source_up) is None
    assert registry.get_sample_value("graysignal_rule_evaluations_total", evaluations) is None
    assert (
        registry.get_sample_value(
            "graysignal_group_last_success_timestamp_seconds", {"group": GROUP}
        )
        is None
    )
    service.engine.run_group("web", SHIFTED)  # the rule lives on under its new group
    moved = {**source_up, "group": "web"}
    assert registry.get_sample_value("graysignal_source_up", moved) == 1
    service.ledger.close()


def test_the_command_line_does_not_load_matplotlib_until_a_report_needs_it() -> None:
    """The daemon runs from the same CLI; plotting is for HTML reports only."""
    probe = "import sys, adapters.cli; print('matplotlib' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert result.stdout.strip() == "False"


def test_a_configured_suppressions_file_that_does_not_exist_is_said_not_fatal(
    tmp_path: Path,
) -> None:
    rules = write_rules(tmp_path)
    missing = tmp_path / "reviewed" / "suppressions.yaml"
    service = daemon(tmp_path, rules, suppressions=missing)

    with capture_logs() as logs:
        assert service.reload()

    assert service.engine.suppressions() == []
    (warning,) = [e for e in logs if e["log_level"] == "warning"]
    assert warning["path"] == str(missing)
    service.ledger.close()


def test_delivery_outcomes_are_counted_per_notifier(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, pending_for="0s")
    service = daemon(tmp_path, rules)
    assert service.reload()
    service.engine.run_group(GROUP, SHIFTED)

    service.dispatcher.deliver_due(SHIFTED)

    delivered = service.metrics.registry.get_sample_value(
        "graysignal_notifications_total", {"notifier": "recorder", "outcome": "delivered"}
    )
    assert delivered == 1
    service.ledger.close()
