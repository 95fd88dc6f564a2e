"""``graysignal run`` as a process: SIGHUP with a broken suppressions file.

The suppressions file is configuration like the rules: a broken edit is rejected with its
``file:line`` in the log and the last good suppressions keep applying.
"""

from __future__ import annotations

import signal
from pathlib import Path

from tests.alertmanager_server import wait_until
from tests.daemon_helpers import daemon, metric
from tests.test_daemon_process import write_rules

SUPPRESSED = 'graysignal_suppressed_alerts{action="ack",group="api",rule="LatencyShift"}'
GOOD = """\
# accepted changes, reviewed like rules
suppressions:
  - action: ack
    rule: LatencyShift
    kind: level_shift
    reason: known batch job
    by: ana
    since: 2000-01-01
    until: 2999-01-01
"""


def test_sighup_with_a_broken_suppressions_file_keeps_the_last_good_set(tmp_path: Path) -> None:
    write_rules(tmp_path)
    suppressions = tmp_path / "suppressions.yaml"
    suppressions.write_text(GOOD)
    with daemon(tmp_path) as (process, base):
        wait_until(lambda: metric(base, SUPPRESSED) == 1)
        assert (metric(base, 'graysignal_alerts{state="firing"}') or 0) == 0

        suppressions.write_text(GOOD.replace("kind: level_shift", "kind: levelshift"))
        process.send_signal(signal.SIGHUP)
        wait_until(lambda: metric(base, "graysignal_config_last_reload_successful") == 0)
        evaluated = metric(base, "graysignal_rule_evaluations_total") or 0
        wait_until(lambda: (metric(base, "graysignal_rule_evaluations_total") or 0) > evaluated)

        assert metric(base, SUPPRESSED) == 1
    log = (tmp_path / "daemon.log").read_text()
    assert f"{suppressions}:5" in log
    assert "keeping the last good rules and suppressions" in log
    assert "suppression covers alert" in log
