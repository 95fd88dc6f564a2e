"""Template ids are the same after a daemon restart and between the daemon and replay.

The daemon here is the real :class:`~adapters.daemon.service.Service` (``run_once`` on a
frozen clock, each call a process of its own: it opens and closes its ledger), reading
a log file by template with its miner saved beside the ledger. Replay is the real
``LogFileSource`` as ``graysignal replay`` builds it, with and without the daemon's
state directory (``--ledger``).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from adapters.daemon.service import Service
from adapters.daemon.settings import DaemonSettings
from adapters.logpatterns.state import state_dir_for_ledger
from adapters.rulefiles import load_rule_files
from adapters.sources import default_sources
from adapters.timeparse import format_rfc3339
from detector.rule import Rule
from detector.series import Series

START = 1_795_000_000 - 1_795_000_000 % 86400  # a midnight
STEP = 600
USERS = ("alice", "bob", "carol")


class Frozen:
    """A clock stopped at one moment."""

    def __init__(self, moment: int) -> None:
        self.moment = moment

    def now(self) -> float:
        return float(self.moment)

    def sleep_until(self, moment: float, stop: object) -> bool:
        return True


def log_lines(first_day: int, days: int, *, first_user: int) -> list[str]:
    """A few templates every few minutes; ``first_user`` picks who logs in first, so
    the login template's first line (and so its id) depends on where a log begins."""
    lines = []
    for minute in range(first_day * 1440, (first_day + days) * 1440, 3):
        ts = format_rfc3339(START + minute * 60 + 7)
        user = USERS[(first_user + minute // 3) % len(USERS)]
        lines.append(f"{ts} INFO user {user} logged in from 10.0.0.{minute % 250}")
        lines.append(f"{ts} INFO request completed path=/api/orders/{minute} status=200")
        if minute % 9 == 0:
            lines.append(f"{ts} WARN slow query on table orders took {minute % 997} ms")
    return lines


def write(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def rules_file(directory: Path, log: Path) -> Path:
    rules = directory / "rules.yaml"
    rules.write_text(
        "groups:\n  - name: logs\n    interval: 10m\n    rules:\n"
        f"      - signal: Patterns\n        source: logfile\n        path: {log}\n"
        "        log: {by: pattern}\n        step: 10m\n        window: 1d\n"
        "        seasonality: none\n        detect: [new_pattern]\n"
    )
    return rules


def run_daemon(directory: Path, rules: Path, at: int) -> dict[tuple[str, str], str]:
    """One daemon process evaluating at ``at``; the ids its source gave each template."""
    settings = DaemonSettings(rules=[rules], ledger=directory / "ledger.db")
    daemon = Service(settings, notifiers={})
    daemon.clock = Frozen(at)
    assert daemon.run_once() == 0
    rule = only_rule(rules)
    return ids(daemon.engine.sources["logfile"].fetch(rule, at - 86400, at))


def only_rule(rules: Path) -> Rule:
    ((_, rule_file),) = load_rule_files([rules])
    return rule_file.groups[0].rules[0]


def ids(series: list[Series]) -> dict[tuple[str, str], str]:
    """Pattern id by (level, template)."""
    return {(s.labels["level"], s.labels["template"]): s.labels["pattern"] for s in series}


def replay_ids(rules: Path, at: int, ledger: Path | None) -> dict[tuple[str, str], str]:
    """The ids ``graysignal replay [--ledger ledger]`` gives, from the sources it builds."""
    sources = default_sources(state_dir_for_ledger(ledger) if ledger is not None else None)
    return ids(sources["logfile"].fetch(only_rule(rules), at - 86400, at))


def test_the_daemon_saves_its_miner_beside_the_ledger(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    write(log, log_lines(0, 2, first_user=0))
    run_daemon(tmp_path, rules_file(tmp_path, log), START + 2 * 86400)

    (saved,) = (tmp_path / "ledger.db-patterns").glob("*.json.gz")
    with gzip.open(saved, "rt") as handle:
        state = json.load(handle)
    assert state["path"] == str(log)
    assert len(state["miner"]["clusters"]) == 3


def test_template_ids_survive_a_daemon_restart_across_a_log_rotation(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    rules = rules_file(tmp_path, log)
    write(log, log_lines(0, 2, first_user=0))
    before = run_daemon(tmp_path, rules, START + 2 * 86400)
    log.rename(tmp_path / "service.log.1")  # rotated: the new file starts with bob
    write(log, log_lines(2, 1, first_user=1))

    after = run_daemon(tmp_path, rules, START + 3 * 86400)

    assert after == before
    assert len(after) == 3


def test_replay_with_the_daemons_ledger_names_templates_as_the_daemon_did(
    tmp_path: Path,
) -> None:
    log = tmp_path / "service.log"
    rules = rules_file(tmp_path, log)
    write(log, log_lines(0, 2, first_user=0))
    run_daemon(tmp_path, rules, START + 2 * 86400)
    log.rename(tmp_path / "service.log.1")
    write(log, log_lines(2, 1, first_user=1))
    daemon = run_daemon(tmp_path, rules, START + 3 * 86400)

    with_ledger = replay_ids(rules, START + 3 * 86400, tmp_path / "ledger.db")
    without = replay_ids(rules, START + 3 * 86400, None)

    assert with_ledger == daemon
    # without the daemon's state, the login template is first seen with another user
    # in what is left of the log, and gets another id
    login = ("INFO", "user <*> logged in from <IP>")
    assert without[login] != daemon[login]


def test_replay_of_a_log_that_was_never_rotated_gives_the_daemons_ids(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    rules = rules_file(tmp_path, log)
    write(log, log_lines(0, 2, first_user=0))
    run_daemon(tmp_path, rules, START + 2 * 86400)
    write(log, log_lines(2, 1, first_user=1))
    daemon = run_daemon(tmp_path, rules, START + 3 * 86400)

    assert replay_ids(rules, START + 3 * 86400, None) == daemon
    assert replay_ids(rules, START + 3 * 86400, tmp_path / "ledger.db") == daemon
