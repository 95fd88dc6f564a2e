"""``graysignal check --probe``: run each rule's query once and report what came back.

Server rules are probed against the real test Prometheus (``tests/servers.py``), which
holds a heartbeat series ending a few minutes before the session started, so "the last
window" has data; file rules read their whole file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from adapters.cli import app
from adapters.cli.probe import needed_history
from adapters.rulefiles import load_rule_file
from detector.durations import format_duration
from tests.servers import (
    RealServer,
    free_port,
    prometheus_server,  # noqa: F401  (the fixture `prometheus`)
)

SERVER_RULE = """\
      - signal: {signal}
        source: prometheus
        query: '{query}'
        step: 1m
        window: 1h
        seasonality: {seasonality}
"""
FILE_RULE = """\
      - signal: Exported
        source: file
        path: {path}
        step: 5m
"""


def rule_file(tmp_path: Path, *rules: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text("groups:\n  - name: probe\n    rules:\n" + "".join(rules), encoding="utf-8")
    return path


def server_rule(
    query: str = 'probe_heartbeat{job="api"}',
    signal: str = "Heartbeat",
    seasonality: str = "none",
) -> str:
    return SERVER_RULE.format(signal=signal, query=query, seasonality=seasonality)


def check(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["check", *map(str, args)])


@pytest.fixture
def at_prometheus(prometheus: RealServer, monkeypatch: pytest.MonkeyPatch) -> RealServer:
    monkeypatch.setenv("GRAYSIGNAL_PROMETHEUS_URL", prometheus.url)
    return prometheus


def test_probe_reports_source_series_count_and_step_per_rule(
    at_prometheus: RealServer, tmp_path: Path
) -> None:
    csv = tmp_path / "export.csv"
    csv.write_text("timestamp,value\n1700000100,1\n1700000400,2\n1700000700,3\n", encoding="utf-8")
    rules = rule_file(tmp_path, server_rule(), FILE_RULE.format(path=csv))

    result = check("--probe", rules)

    assert result.exit_code == 0, result.output
    heartbeat, exported = result.stdout.splitlines()[1:]
    assert heartbeat == f"{rules}: probe Heartbeat: source prometheus: 1 series at step 1m"
    # (a 15-minute export is shorter than a 7d window: the history warning is tested below)
    assert exported.startswith(f"{rules}: probe Exported: source file: 1 series at step 5m")


def test_probe_of_an_unreachable_server_fails_naming_the_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAYSIGNAL_PROMETHEUS_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("GRAYSIGNAL_PROMETHEUS_RETRIES", "0")

    result = check("--probe", rule_file(tmp_path, server_rule()))

    assert result.exit_code == 1
    assert "probe Heartbeat: source prometheus: error: rule Heartbeat:" in result.stderr
    assert "cannot connect: Connection refused" in result.stderr


def test_probe_reports_a_query_the_server_rejects(
    at_prometheus: RealServer, tmp_path: Path
) -> None:
    result = check("--probe", rule_file(tmp_path, server_rule("rate(probe_heartbeat[5m]")))

    assert result.exit_code == 1
    assert "probe Heartbeat: source prometheus: error:" in result.stderr
    assert "parse error" in result.stderr


def test_probe_warns_but_passes_when_a_query_matches_nothing(
    at_prometheus: RealServer, tmp_path: Path
) -> None:
    result = check("--probe", rule_file(tmp_path, server_rule("no_such_metric")))

    assert result.exit_code == 0
    assert "0 series at step 1m (warning: the query matched nothing in the last window)" in (
        result.stdout
    )


def test_probe_names_an_invalid_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAYSIGNAL_PROMETHEUS_TIMEOUT", "soon")

    result = check("--probe", rule_file(tmp_path, server_rule()))

    assert result.exit_code == 1
    assert "GRAYSIGNAL_PROMETHEUS_TIMEOUT" in result.stderr


def test_one_failing_probe_does_not_stop_the_others(
    at_prometheus: RealServer, tmp_path: Path
) -> None:
    rules = rule_file(tmp_path, server_rule("sum(", "Broken"), server_rule())

    result = check("--probe", rules)

    assert result.exit_code == 1
    assert "probe Broken: source prometheus: error:" in result.stderr
    assert "probe Heartbeat: source prometheus: 1 series at step 1m" in result.stdout


def test_check_without_probe_contacts_no_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAYSIGNAL_PROMETHEUS_URL", f"http://127.0.0.1:{free_port()}")

    rules = rule_file(tmp_path, server_rule())

    result = check(rules)

    assert result.exit_code == 0
    assert result.output.splitlines() == [f"{rules}: 1 rule in 1 group OK"]


def test_invalid_files_are_reported_and_not_probed(tmp_path: Path) -> None:
    rules = rule_file(tmp_path, server_rule().replace("step: 1m", "step: often"))

    result = check("--probe", rules)

    assert result.exit_code == 1
    assert ": probe " not in result.output


def test_probe_warns_when_a_rule_has_less_history_than_an_evaluation_reads(
    at_prometheus: RealServer, tmp_path: Path
) -> None:
    rules = rule_file(tmp_path, server_rule(seasonality="daily"))
    rule = load_rule_file(rules).groups[0].rules[0]

    result = check("--probe", rules)

    assert result.exit_code == 0, result.output  # a warning: the rule is not broken
    (line,) = [line for line in result.stdout.splitlines() if ": probe " in line]
    needed = format_duration(needed_history(rule, 60))
    # The heartbeat began two hours before the test session: "only 2h5m", or a little more.
    assert re.search(
        rf"1 series at step 1m \(warning: only \d+h\d*m? of history; an evaluation reads "
        rf"{needed} \(the 1h window and the context of its daily seasonality\), so the "
        r"rule cannot judge fully until it has that much\)$",
        line,
    ), line


def test_probe_of_a_rule_with_enough_history_gives_no_warning(
    at_prometheus: RealServer, tmp_path: Path
) -> None:
    result = check("--probe", rule_file(tmp_path, server_rule()))

    assert "warning" not in result.output
