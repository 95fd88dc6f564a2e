"""The reviewed suppressions file: written by ``ack``/``expect``, checked by ``check``.

Everything goes through the real command line (typer's runner) and real files; the
ledger that ``ack`` reads is written by the daemon's own engine.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from adapters.errors import InputError
from adapters.suppressions import (
    append_entries,
    append_entry,
    format_change,
    load_suppressions,
    parse_change,
    suppressions_file_json_schema,
)
from detector.finding import Kind
from detector.suppressions import Action, Suppression
from tests.test_feedback_engine import RULE, drive, make_engine, write_series

SCHEMA = Path(__file__).resolve().parent.parent / "rules" / "suppressions.schema.json"
REGENERATE = (
    ".venv/bin/python -m adapters.suppressions --write-schema rules/suppressions.schema.json"
)
RULES = f"""\
groups:
  - name: api
    interval: 10m
    rules:
      - signal: {RULE}
        source: file
        path: latency.csv
        detect: [level_shift]
        window: 7d
"""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def rule_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir()
    (directory / "checkout.yaml").write_text(RULES)
    write_series(directory / "latency.csv", step=15)
    return directory


def test_committed_schema_matches_the_suppressions_model() -> None:
    committed = SCHEMA.read_text(encoding="utf-8") if SCHEMA.exists() else "<missing>"

    assert committed == suppressions_file_json_schema(), f"regenerate with `{REGENERATE}`"


def test_expect_writes_an_entry_that_check_accepts_and_that_loads_back(tmp_path: Path) -> None:
    rules = rule_dir(tmp_path)
    file = rules / "suppressions.yaml"
    file.write_text("# Reviewed by the payments team.\nsuppressions:  # newest last\n")

    code, out, err = run(
        "expect", RULE, "--matchers", 'service="checkout",region="eu"', "--change", "+20%",
        "--reason", "new feature launched", "--since", "2099-01-05", "--by", "ana",
        "--file", str(file),
    )  # fmt: skip

    assert code == 0, err
    assert f"{file}:3: expected {RULE}" in out
    assert "Review and commit" in out
    text = file.read_text()
    assert text.startswith("# Reviewed by the payments team.\nsuppressions:  # newest last\n")
    (entry,) = load_suppressions(file)
    assert entry.action is Action.EXPECT
    assert entry.matchers == {"service": "checkout", "region": "eu"}
    assert entry.change == pytest.approx(0.20)
    assert entry.by == "ana"
    assert entry.where == f"{file}:3"
    code, out, err = run("check", str(rules))
    assert code == 0, err
    assert f"{file}: 1 suppression OK" in out
    assert err == ""


def test_ack_takes_the_alert_and_its_effect_from_the_ledger(tmp_path: Path) -> None:
    rules = rule_dir(tmp_path)
    write_series(tmp_path / "latency.csv", step=15)
    engine = make_engine(tmp_path, [])
    assert [k for _, k in drive(engine, 7.4, 8.0)] == [Kind.LEVEL_SHIFT]
    engine.ledger.close()
    file = rules / "suppressions.yaml"
    file.write_text(
        "suppressions:\n  # keep: the nightly export\n"
        f"  - action: expect\n    rule: {RULE}\n    change: +5%\n    reason: export\n"
        "    since: 2099-01-01\n"
    )

    code, out, err = run(
        "ack", RULE, "--reason", "known batch job", "--until", "2099-12-31", "--by", "ana",
        "--ledger", str(tmp_path / "ledger.db"), "--file", str(file),
    )  # fmt: skip

    assert code == 0, err
    assert 'acknowledged LatencyShift level_shift on series="latency", effect +15' in out
    assert "# keep: the nightly export" in file.read_text()
    expected, acked = load_suppressions(file)
    assert expected.action is Action.EXPECT
    assert acked.action is Action.ACK
    assert acked.kind is Kind.LEVEL_SHIFT
    assert acked.change == pytest.approx(0.15, abs=0.01)
    assert acked.by == "ana"
    assert run("check", str(rules))[0] == 0


def test_ack_of_an_alert_the_ledger_does_not_know_says_so(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, [])
    engine.ledger.close()

    code, _, err = run(
        "ack", "NoSuchAlert", "--reason", "x", "--ledger", str(tmp_path / "ledger.db"),
        "--file", str(tmp_path / "suppressions.yaml"),
    )  # fmt: skip

    assert code == 2
    assert "no alert 'NoSuchAlert'" in err
    assert not (tmp_path / "suppressions.yaml").exists()


def test_check_reports_expired_and_stale_entries_with_file_and_line(tmp_path: Path) -> None:
    rules = rule_dir(tmp_path)
    file = rules / "suppressions.yaml"
    file.write_text(
        "suppressions:\n"
        f"  - action: ack\n    rule: {RULE}\n    kind: level_shift\n    reason: old\n"
        "    since: 2020-01-01\n    until: 2020-02-01\n"  # line 2: expired
        "  - action: ack\n    rule: GoneRule\n    kind: trend\n    reason: renamed\n"
        "    since: 2020-01-01\n    until: 2999-01-01\n"  # line 8: rule is gone
        f"  - action: expect\n    rule: {RULE}\n    change: +20%\n    reason: launch\n"
        "    since: 2020-01-01\n"  # line 14: older than the 7d window
    )

    code, _, err = run("check", str(rules))

    assert code == 0, err  # warnings: the daemon ignores such entries safely
    lines = err.splitlines()
    assert lines[0].startswith(f"{file}:2: warning: ack of {RULE} expired at 2020-02-01")
    assert lines[1].startswith(f"{file}:8: warning: stale: rule 'GoneRule' is not defined")
    assert lines[2].startswith(f"{file}:14: warning: stale: the expected change of {RULE}")
    assert len(lines) == 3
    assert run("check", "--strict", str(rules))[0] == 1


def test_check_reports_schema_errors_in_the_suppressions_file_at_their_line(
    tmp_path: Path,
) -> None:
    rules = rule_dir(tmp_path)
    (rules / "suppressions.yaml").write_text(
        "suppressions:\n"
        f"  - action: ack\n    rule: {RULE}\n    reason: no kind, no expiry\n"
        "    since: 2020-01-01\n"
        f"  - action: expect\n    rule: {RULE}\n    change: twenty\n    reason: x\n"
        "    since: 2020-01-01\n"
    )

    code, _, err = run("check", str(rules))

    assert code == 1
    assert f"{rules / 'suppressions.yaml'}:2: suppressions[0]: an ack needs 'kind'" in err
    assert f"{rules / 'suppressions.yaml'}:8: suppressions[1].change: invalid change" in err


def test_a_rule_directory_with_a_suppressions_file_still_loads_as_rules(tmp_path: Path) -> None:
    rules = rule_dir(tmp_path)
    (rules / "suppressions.yaml").write_text("suppressions: []\n")

    code, out, err = run("replay", str(rules), "--format", "json")

    assert code == 0, err
    assert json.loads(out)["rules"][0]["rule"] == RULE


def test_ack_by_fingerprint_acknowledges_exactly_that_alert(tmp_path: Path) -> None:
    write_series(tmp_path / "latency.csv", step=15)
    engine = make_engine(tmp_path, [])
    drive(engine, 7.4, 8.0)
    (alert,) = engine.ledger.known_alerts()
    engine.ledger.close()
    file = tmp_path / "suppressions.yaml"

    code, _, err = run(
        "ack", alert.alert_fingerprint, "--reason", "seen", "--matchers", 'series="latency"',
        "--ledger", str(tmp_path / "ledger.db"), "--file", str(file),
    )  # fmt: skip

    assert code == 0, err
    (entry,) = load_suppressions(file)
    assert (entry.rule, entry.kind, entry.matchers) == (
        RULE,
        Kind.LEVEL_SHIFT,
        alert.finding.labels,
    )
    assert entry.until is not None
    assert entry.since is not None
    assert entry.until - entry.since == 30 * 86400


def expectation(rule: str) -> Suppression:
    return Suppression(
        action=Action.EXPECT,
        rule=rule,
        matchers={"service": "checkout"},
        reason=f"launch of {rule}",
        since=1_795_000_000,
        until=None,
        change=0.2,
    )


def test_simultaneous_appends_all_land_and_leave_no_stray_file(tmp_path: Path) -> None:
    file = tmp_path / "suppressions.yaml"
    append_entry(file, expectation("Seed"))
    rules = [f"Rule{i}" for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda rule: append_entry(file, expectation(rule)), rules))

    assert sorted(s.rule for s in load_suppressions(file)) == sorted(["Seed", *rules])
    assert [p.name for p in tmp_path.iterdir()] == ["suppressions.yaml"]


def test_append_keeps_windows_line_endings_and_permissions(tmp_path: Path) -> None:
    file = tmp_path / "suppressions.yaml"
    original = b"# reviewed\r\nsuppressions:\r\n  - action: expect\r\n    rule: A\r\n"
    original += b'    change: "+20%"\r\n    reason: r\r\n    since: 2026-11-01\r\n'
    file.write_bytes(original)
    file.chmod(0o640)

    line = append_entry(file, expectation("B"))

    written = file.read_bytes()
    assert written.startswith(original)
    assert b"\n" not in written.replace(b"\r\n", b"")  # every line still ends in CRLF
    assert line == 8
    assert file.stat().st_mode & 0o777 == 0o640
    assert [s.rule for s in load_suppressions(file)] == ["A", "B"]


@pytest.mark.parametrize(
    ("fraction", "text"),
    [(0.1234, "+12.3%"), (0.0004, "+0.04%"), (-0.05, "-5%"), (1.5, "+150%"), (12.34, "+1234%")],
)
def test_effects_are_written_with_enough_digits_to_mean_something(
    fraction: float, text: str
) -> None:
    assert format_change(fraction) == text
    assert parse_change(text) == pytest.approx(fraction, rel=5e-3)  # three digits


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("kind: trend\n    change: 0%", "must not be zero"),
        ("kind: exhaustion", "needs 'time_to_limit'"),
        ("kind: trend\n    time_to_limit: 3d", "exhaustion acks only"),
    ],
)
def test_acks_that_could_never_hold_or_never_end_are_rejected(
    fields: str, message: str, tmp_path: Path
) -> None:
    file = tmp_path / "suppressions.yaml"
    file.write_text(
        "suppressions:\n  - action: ack\n    rule: R\n    reason: r\n"
        f"    {fields}\n    since: 2026-11-01\n    until: 2026-12-01\n"
    )

    with pytest.raises(InputError) as raised:
        load_suppressions(file)

    assert message in str(raised.value)
    assert f"{file}:2" in str(raised.value)


def test_an_exhaustion_ack_round_trips_its_time_to_limit(tmp_path: Path) -> None:
    file = tmp_path / "suppressions.yaml"
    entry = Suppression(
        action=Action.ACK,
        rule="DiskFull",
        matchers={},
        reason="cleanup job scheduled",
        since=1_795_000_000,
        until=1_796_000_000,
        kind=Kind.EXHAUSTION,
        change=0.25,
        time_to_limit=25 * 86400 + 22 * 3600,
    )
    append_entry(file, entry)

    assert "time_to_limit: 25d22h" in file.read_text()
    assert load_suppressions(file) == [entry]


def test_several_entries_are_written_all_or_none(tmp_path: Path) -> None:
    file = tmp_path / "suppressions.yaml"
    append_entry(file, expectation("Seed"))
    before = file.read_bytes()
    broken = Suppression(
        action=Action.EXPECT, rule="C", matchers={}, reason="r", since=2, until=1, change=0.1
    )

    with pytest.raises(InputError):
        append_entries(file, [expectation("A"), broken])
    assert file.read_bytes() == before

    lines = append_entries(file, [expectation("A"), expectation("B")])
    loaded = load_suppressions(file)
    assert [s.rule for s in loaded] == ["Seed", "A", "B"]
    assert [s.where for s in loaded[1:]] == [f"{file}:{line}" for line in lines]
