"""``graysignal ack`` where no daemon ledger is at hand, and overlapping acks in ``check``.

An alertname with matchers says exactly which series to accept; the kinds come from
``--kind`` or from the rule files beside the suppressions file. Every test runs in an
empty working directory, so no ``graysignal.db`` is lying around.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from adapters.cli import app
from adapters.suppressions import load_suppressions
from detector.finding import Kind
from detector.suppressions import Action

RULES = """\
groups:
  - name: api
    rules:
      - signal: CheckoutLatencyCreep
        source: prometheus
        query: latency_p99
        detect: [level_shift, trend]
"""


@pytest.fixture
def rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "checkout.yaml").write_text(RULES, encoding="utf-8")
    return folder


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def test_ack_by_alertname_and_matchers_needs_no_ledger(rules: Path) -> None:
    file = rules / "suppressions.yaml"

    result = run(
        "ack", "CheckoutLatencyCreep", "--matchers", 'service="checkout"',
        "--reason", "nightly batch job", "--until", "2099-12-31", "--by", "ana",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    acks = load_suppressions(file)
    assert [(a.action, a.rule, dict(a.matchers), a.kind) for a in acks] == [
        (Action.ACK, "CheckoutLatencyCreep", {"service": "checkout"}, Kind.LEVEL_SHIFT),
        (Action.ACK, "CheckoutLatencyCreep", {"service": "checkout"}, Kind.TREND),
    ]
    assert all(a.change is None and a.by == "ana" for a in acks)  # only expiry ends them
    assert "no ledger" in result.stderr
    assert run("check", rules).exit_code == 0


def test_ack_without_ledger_takes_the_kinds_given(rules: Path) -> None:
    result = run(
        "ack", "CheckoutLatencyCreep", "--matchers", 'service="checkout"', "--kind", "trend",
        "--reason", "launch", "--file", rules / "suppressions.yaml",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    (ack,) = load_suppressions(rules / "suppressions.yaml")
    assert ack.kind is Kind.TREND


def test_ack_without_ledger_of_a_rule_nobody_defines_asks_for_the_kind(rules: Path) -> None:
    result = run("ack", "NoSuchRule", "--reason", "x", "--file", rules / "suppressions.yaml")

    assert result.exit_code == 2
    assert "no rule 'NoSuchRule'" in result.stderr
    assert "--kind" in result.stderr
    assert not (rules / "suppressions.yaml").exists()


def test_an_explicit_ledger_that_does_not_exist_is_still_an_error(rules: Path) -> None:
    result = run(
        "ack", "CheckoutLatencyCreep", "--reason", "x", "--ledger", rules / "daemon.db",
        "--file", rules / "suppressions.yaml",
    )  # fmt: skip

    assert result.exit_code == 2
    assert "no such ledger file" in result.stderr


def test_check_flags_two_acks_that_cover_the_same_series_at_the_same_time(rules: Path) -> None:
    file = rules / "suppressions.yaml"
    file.write_text(
        "suppressions:\n"
        "  - action: ack\n    rule: CheckoutLatencyCreep\n    kind: trend\n"
        "    matchers: 'service=\"checkout\"'\n    reason: batch job\n"
        "    since: 2026-01-01\n    until: 2099-01-01\n"  # line 2
        "  - action: ack\n    rule: CheckoutLatencyCreep\n    kind: trend\n"
        "    reason: everything\n    since: 2026-06-01\n    until: 2099-06-01\n"  # line 9
        "  - action: ack\n    rule: CheckoutLatencyCreep\n    kind: trend\n"
        "    matchers: 'service=\"cart\"'\n    reason: other series\n"
        "    since: 2026-01-01\n    until: 2099-01-01\n",  # line 15: overlaps line 9 only
        encoding="utf-8",
    )

    result = run("check", rules)

    assert result.exit_code == 0, result.output  # a warning, as stale entries are
    assert result.stderr.splitlines() == [
        f"{file}:9: warning: ack of CheckoutLatencyCreep trend on every series overlaps the "
        "ack at line 2 (same series, same time); only the first applies: remove one or "
        "narrow its matchers",
        f'{file}:15: warning: ack of CheckoutLatencyCreep trend on service="cart" overlaps '
        "the ack at line 9 (same series, same time); only the first applies: remove one or "
        "narrow its matchers",
    ]
    assert run("check", "--strict", rules).exit_code == 1


def test_acks_of_different_series_kinds_or_times_do_not_overlap(rules: Path) -> None:
    (rules / "suppressions.yaml").write_text(
        "suppressions:\n"
        "  - action: ack\n    rule: CheckoutLatencyCreep\n    kind: trend\n"
        "    matchers: 'service=\"checkout\"'\n    reason: a\n"
        "    since: 2026-01-01\n    until: 2099-01-01\n"
        "  - action: ack\n    rule: CheckoutLatencyCreep\n    kind: trend\n"
        "    matchers: 'service=\"cart\"'\n    reason: other series\n"
        "    since: 2026-01-01\n    until: 2099-01-01\n"
        "  - action: ack\n    rule: CheckoutLatencyCreep\n    kind: level_shift\n"
        "    matchers: 'service=\"checkout\"'\n    reason: other kind\n"
        "    since: 2026-01-01\n    until: 2099-01-01\n"
        "  - action: ack\n    rule: CheckoutLatencyCreep\n    kind: trend\n"
        "    matchers: 'service=\"checkout\"'\n    reason: after the first\n"
        "    since: 2099-01-01\n    until: 2099-06-01\n",
        encoding="utf-8",
    )

    result = run("check", rules)

    assert result.exit_code == 0
    assert result.stderr == ""
