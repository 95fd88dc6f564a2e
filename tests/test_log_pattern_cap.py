"""At most ``max_patterns`` templates per rule; the rest count as ``other``, with a warning
and a daemon metric; the daemon's memory stays bounded however long it follows a file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from structlog.testing import capture_logs

from adapters.daemon.engine import Engine
from adapters.daemon.metrics import DaemonMetrics
from adapters.ledger import Ledger
from adapters.logpatterns.counts import PatternCounts
from adapters.logpatterns.files import LogPatternFiles
from adapters.logpatterns.state import PatternStateStore
from adapters.rulefiles import load_rule_files
from adapters.sources.logs import LogFileSource
from adapters.timeparse import format_rfc3339
from detector.evaluate import required_history
from detector.rule import Rule

START = 1_795_000_000 - 1_795_000_000 % 86400
MESSAGES = (
    "request served in {} ms",
    "cache miss for key {}",
    "payment declined code {}",
    "disk almost full on {}",
)


def write_log(path: Path, minutes: int, *, first_minute: int = 0) -> None:
    """Every minute one line of each template in turn (template 4 first at minute 3)."""
    with path.open("a") as handle:
        for minute in range(first_minute, first_minute + minutes):
            text = MESSAGES[minute % len(MESSAGES)].format(minute)
            handle.write(f"{format_rfc3339(START + 60 * minute + 5)} INFO {text}\n")


def rule_for(path: Path, cap: int) -> Rule:
    return Rule.model_validate(
        {
            "signal": "Capped",
            "source": "logfile",
            "path": str(path),
            "log": {"by": "pattern", "max_patterns": cap},
            "step": 600,
            "window": 86400,
            "seasonality": "none",
            "detect": ["new_pattern"],
        }
    )


def test_templates_over_the_cap_count_as_other_with_a_warning(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write_log(log, 120)

    with capture_logs() as logs:
        series = LogFileSource().fetch(rule_for(log, cap=2), -(2**62), 2**62)

    templates = {s.labels["template"]: float(np.nansum(s.values)) for s in series}
    assert templates == {
        "request served in <NUM> ms": 30,
        "cache miss for key <NUM>": 30,
        "(templates over the cap)": 60,
    }
    (other,) = [s for s in series if s.labels["pattern"] == "other"]
    assert other.labels["level"] == "INFO"
    (warning,) = [e for e in logs if e["event"].startswith("log pattern cap reached")]
    assert warning["max_patterns"] == 2
    assert warning["rule"] == "Capped"


def test_the_daemon_says_when_a_rule_hits_its_cap(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write_log(log, 120)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "groups:\n  - name: logs\n    interval: 10m\n    rules:\n"
        f"      - signal: Capped\n        source: logfile\n        path: {log}\n"
        "        log: {by: pattern, max_patterns: 2}\n        step: 10m\n        window: 1d\n"
        "        seasonality: none\n        detect: [new_pattern]\n"
    )
    metrics = DaemonMetrics()
    store = PatternStateStore(tmp_path / "ledger.db-patterns")
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        engine = Engine(
            sources={"logfile": LogFileSource(patterns=LogPatternFiles(store, follow=True))},
            ledger=ledger,
            notifier_names=[],
            resend_interval=60,
            replay_hint=lambda at: "",
            metrics=metrics,
        )
        engine.load(load_rule_files([rules]))
        engine.run_group("logs", START + 7200)

    def value(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(
            name, {"group": "logs", "rule": "Capped", **labels}
        )

    assert value("graysignal_log_pattern_cap_reached") == 1
    assert value("graysignal_log_patterns") == 2
    assert value("graysignal_log_lines_skipped", reason="unparsed") == 0


def test_a_silent_template_makes_room_once_it_is_older_than_the_history(tmp_path: Path) -> None:
    counts = PatternCounts(step=600, cap=1, retention=3600, keep_all=True)
    old = counts.row_for("INFO", "a1", "old template", "", 600)
    counts.touch(old, 600)
    refused = counts.row_for("INFO", "b2", "new template", "", 1800)  # a is still recent
    later = counts.row_for("INFO", "b2", "new template", "", 6000)  # a silent for > 1 h

    assert counts.rows[refused].pattern == "other"
    assert counts.rows[later].pattern == "b2"


def test_following_a_file_for_weeks_keeps_only_the_history_an_evaluation_needs(
    tmp_path: Path,
) -> None:
    log = tmp_path / "app.log"
    rule = rule_for(log, cap=10)
    source = LogFileSource(
        patterns=LogPatternFiles(PatternStateStore(tmp_path / "state"), follow=True)
    )
    day = 1440
    for first in range(0, 21 * day, day):  # three weeks, read a day at a time
        write_log(log, day, first_minute=first)
        written = START + 60 * (first + day)  # when these lines were written, as their
        os.utime(log, (written, written))  # file says (lines after that are rejected)
        source.fetch(rule, START + 60 * first - 86400, START + 60 * (first + day))

    index = source.patterns.index(rule, refresh=False)
    kept = index.counts.to_state()["columns"]
    assert kept * 600 <= 2 * required_history(rule, 600)
    assert index.stats["parsed"] == 21 * day
