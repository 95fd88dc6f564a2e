"""Fault injection: nothing the ledger queued is lost, whatever happens to the daemon.

The daemon runs as a real process against a real Alertmanager (Debian's
prometheus-alertmanager) and a loopback webhook receiver standing in for a generic JSON
webhook (it records each notification's ``notification_id`` and answers what a test
scripts: 500, 429, slowly). Each scenario makes alerts fire and resolve by rewriting a
series file with or without a clear step (tests/fault_rig.py), injects one kind of
fault, lets the daemon settle and then checks (``FaultRig.check``): no transition lost,
duplicates only inside the documented window (a kill between a receiver's answer and
the ledger's commit, or an answer after the notifier's timeout), each with the same
``notification_id``, and Alertmanager's API v2 showing exactly the ledger's firing
alerts. ``GRAYSIGNAL_FAULT_REPORT=file`` collects each scenario's figures
(docs/ledger.md quotes them).
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.alertmanager_server import Reply, recording_server, running_alertmanager, wait_until
from tests.fault_rig import NOTIFY_TIMEOUT, FaultRig, Outage, report

pytestmark = pytest.mark.faults

KILL_ROUNDS = 10
SEED = 1616


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[FaultRig]:
    outage = Outage()
    with (
        running_alertmanager(tmp_path / "alertmanager") as (alertmanager, _),
        recording_server(outage.responder) as receiver,
    ):
        rig = FaultRig(tmp_path, alertmanager, receiver, outage)
        try:
            yield rig
        finally:
            rig.stop()


def flip(rig: FaultRig, rng: random.Random) -> None:
    """Shift or un-shift a random non-empty set of hosts."""
    hosts = rng.sample(rig.hosts, rng.randint(1, len(rig.hosts)))
    rig.set_data({host: not rig.shifted[host] for host in hosts})


def test_kill_minus_nine_at_random_moments_loses_no_transition(rig: FaultRig) -> None:
    rng = random.Random(SEED)
    # The receiver takes 0.4 s to accept: a kill in that time is a kill between its
    # answer and the ledger's commit, the window in which a notification may repeat.
    rig.outage.delay = 0.4
    for _ in range(KILL_ROUNDS):
        flip(rig, rng)
        rig.start()
        time.sleep(rng.uniform(0.0, 3.0))  # a random moment: evaluating, delivering, idle
        rig.kill()
    rig.start()
    rig.settle()
    assert rig.terminate() == 0

    tally = rig.check()
    report("kill -9", tally, rig.directory)
    assert tally.restarts >= 10
    assert tally.sent == tally.transitions and tally.transitions > 0
    assert tally.duplicated <= len(rig.kills)


def test_alertmanager_down_and_back_gets_every_transition(rig: FaultRig) -> None:
    rig.set_data({"a": True})
    rig.start()
    rig.settle()
    rig.alertmanager.stop()
    rig.set_data({"a": False, "b": True})
    wait_until(lambda: rig.transitions() >= 3, timeout=60)  # fired a; resolved a, fired b
    wait_until(lambda: rig.pending() == 2, timeout=60)  # the two wait for Alertmanager
    rig.alertmanager.start()
    rig.settle()
    assert rig.terminate() == 0

    tally = rig.check()
    report("Alertmanager down and back", tally, rig.directory)
    assert tally.duplicated == 0


def test_a_receiver_answering_500_429_and_slowly_gets_every_transition(rig: FaultRig) -> None:
    rig.receiver.script(
        Reply(500, "upstream broke"),
        Reply(429, "slow down", headers=(("Retry-After", "1"),)),
        Reply(delay=NOTIFY_TIMEOUT + 1.0),  # accepted after the daemon gave up: sent again
        Reply(delay=NOTIFY_TIMEOUT / 3),  # slow but in time
    )
    rig.start()
    rig.set_data({"a": True, "b": True})
    rig.settle()
    rig.set_data({"a": False})
    rig.settle()
    assert rig.terminate() == 0

    tally = rig.check()
    report("receiver 500/429/slow", tally, rig.directory)
    statuses = [reply.status for _, reply in rig.receiver.exchanges()]
    assert statuses[:2] == [500, 429]
    assert tally.duplicated == 1  # the answer that came after the timeout


def test_a_full_disk_under_the_ledger_loses_and_repeats_nothing(rig: FaultRig) -> None:
    rig.receiver.script(Reply(503), Reply(503), Reply(503))
    rig.start()
    assert rig.process is not None
    rig.set_data({"a": True})
    wait_until(lambda: rig.transitions() == 1, timeout=60)  # queued; the receiver says 503
    # The disk fills: no file of the daemon may grow by a byte (RLIMIT_FSIZE on the
    # running process; its log goes through a pipe, which the limit does not apply to).
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.prlimit(rig.process.pid, resource.RLIMIT_FSIZE, (1, hard))
    rig.set_data({"b": True})
    wait_until(lambda: len(rig.receiver.received()) >= 4, timeout=60)  # a's firing got through
    wait_until(lambda: "rule evaluation failed" in rig.log.read_text(), timeout=60)
    resource.prlimit(rig.process.pid, resource.RLIMIT_FSIZE, (hard, hard))
    rig.settle()
    assert rig.terminate() == 0

    tally = rig.check()
    report("disk full", tally, rig.directory)
    log = rig.log.read_text()
    assert "the ledger cannot record it yet; it will not be sent again" in log
    assert tally.duplicated == 0


def test_a_read_only_ledger_is_refused_at_start_and_loses_nothing(rig: FaultRig) -> None:
    rig.outage.on = True  # the webhook receiver is down: its notification stays queued
    rig.start()
    rig.set_data({"a": True})
    wait_until(lambda: rig.transitions() == 1 and len(rig.receiver.received()) >= 1, timeout=60)
    rig.kill()  # the host goes down with the item queued (attempted once, refused)
    rig.outage.on = False
    modes = {path: path.stat().st_mode for path in (rig.directory, rig.ledger)}
    rig.ledger.chmod(0o444)
    rig.directory.chmod(0o555)
    try:
        process = rig.start(prefix=without_write_override(), wait=False)
        code = rig.wait()
    finally:
        for path, mode in modes.items():
            path.chmod(stat.S_IMODE(mode))
    assert code == 2
    assert f"graysignal run: ledger {rig.ledger} cannot be opened" in rig.tail()
    assert process.returncode == 2
    rig.start()
    rig.settle()
    assert rig.terminate() == 0

    tally = rig.check()
    report("ledger read-only", tally, rig.directory)
    assert tally.duplicated == 0


def test_sighup_with_a_broken_rule_file_keeps_alerting_and_loses_nothing(rig: FaultRig) -> None:
    rig.start()
    rig.set_data({"a": True})
    rig.settle()
    good = rig.rules.read_text()
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)
    )
    rig.rules.write_text(bomb + good.replace("labels: {severity: warning}", "labels: *a8"))
    rig.hup()
    wait_until(lambda: rig.metric("graysignal_config_last_reload_successful") == 0, timeout=30)
    rig.set_data({"a": False, "b": True})  # the last good rules go on firing and resolving
    rig.settle()
    rig.rules.write_text(good)
    rig.hup()
    wait_until(lambda: rig.metric("graysignal_config_last_reload_successful") == 1, timeout=30)
    rig.set_data({"c": True})
    rig.settle()
    assert rig.terminate() == 0

    tally = rig.check()
    report("SIGHUP with a broken file", tally, rig.directory)
    assert "GRAYSIGNAL_MAX_YAML_NODES" in rig.log.read_text()
    assert tally.duplicated == 0


def without_write_override() -> list[str]:
    """A command prefix that takes away root's power to write read-only files, so a
    read-only ledger is read-only to the daemon as it would be to a service user."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("setpriv (util-linux) is needed to drop root's file permissions")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--inh-caps=-all"]
