"""``graysignal replay`` and ``graysignal demo`` end to end, through the real CLI.

Bad input must give a clear message naming the file (and line) and never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from adapters.cli import app
from detector.testing import EPOCH

runner = CliRunner()
STEP = 300
PER_DAY = 86400 // STEP


def write_csv(path: Path, values: np.ndarray, start: int = EPOCH) -> Path:
    lines = ["timestamp,value"]
    lines += [
        f"{start + i * STEP},{'' if np.isnan(v) else repr(float(v))}" for i, v in enumerate(values)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def shifted(days: int = 10) -> np.ndarray:
    values = 100 + np.random.default_rng(3).normal(0, 2, days * PER_DAY)
    values[int((days - 0.6) * PER_DAY) :] += 30
    return values


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_series_file_replay_reports_firings_as_json(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "latency.csv", shifted())

    code, output = run("replay", str(csv), "--format", "json")

    assert code == 0, output
    report = json.loads(output)
    assert report["window"]["incident"] == report["window"]["to"]
    (signal,) = report["signals"]
    assert signal["rule"] == "latency"
    assert signal["kind"] == "level_shift"
    assert signal["lead_time_seconds"] > 0
    assert signal["firings"][0]["start"].endswith("Z")


def test_rule_file_replay_with_lookback_and_markdown(tmp_path: Path) -> None:
    write_csv(tmp_path / "latency.csv", shifted())
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "groups:\n  - name: api\n    interval: 5m\n    rules:\n"
        "      - signal: LatencyShift\n        source: file\n        path: latency.csv\n"
        "        detect: [level_shift]\n        direction: up\n"
        "      - signal: LatencyJitter\n        source: file\n        path: latency.csv\n"
        "        detect: [variance]\n"
    )

    code, output = run("replay", str(rules), "--lookback", "2d", "--format", "md")

    assert code == 0, output
    assert "## What did the system know before users did?" in output
    assert "LatencyShift" in output
    assert "LatencyJitter" in output.split("Silence")[1]


def test_html_report_is_written_to_the_output_file(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "latency.csv", shifted())
    report = tmp_path / "report.html"

    code, output = run("replay", str(csv), "--format", "html", "-o", str(report))

    assert code == 0, output
    assert report.read_text().count("data:image/png;base64,") == 1


def test_demo_prints_a_timeline_and_writes_the_report(tmp_path: Path) -> None:
    report = tmp_path / "demo.html"

    code, output = run("demo", "--report", str(report))

    assert code == 0, output
    assert "MachineTemperatureShift" in output
    assert "before" in output
    assert report.exists() and "data:image/png;base64," in report.read_text()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("groups:\n  - name: g\n    rules: [\n", "rules.yaml:4: invalid YAML"),
        (
            "groups:\n  - name: g\n    rules:\n      - signal: S\n        source: file\n"
            "        path: x.csv\n        detect: [spikes]\n",
            "rules.yaml:7: ",
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - signal: S\n        source: file\n"
            "        path: x.csv\n        window: 7x\n",
            "rules.yaml:7: ",
        ),
    ],
    ids=["malformed YAML", "unknown detector", "bad duration"],
)
def test_bad_rule_file_is_rejected_with_its_location(
    tmp_path: Path, content: str, expected: str
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(content)

    code, output = run("replay", str(rules), "--at", "2026-01-01T00:00:00Z")

    assert code == 2  # usage: the input cannot be used
    assert expected in output
    assert "Traceback" not in output


def test_unknown_detector_message_names_the_choices(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "groups:\n  - name: g\n    rules:\n      - signal: S\n        source: file\n"
        "        path: x.csv\n        detect: [spikes]\n"
    )

    code, output = run("check", str(rules))

    assert code == 1
    assert "spikes" in output and "level_shift" in output


def test_missing_series_file_is_named(tmp_path: Path) -> None:
    code, output = run("replay", str(tmp_path / "nope.csv"))

    assert code == 2  # usage: the input cannot be used
    assert "nope.csv" in output
    assert "Traceback" not in output


def test_unparsable_timestamp_names_file_and_line(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("timestamp,value\n2026-01-01T00:00:00Z,1\nyesterday,2\n")

    code, output = run("replay", str(csv))

    assert code == 2  # usage: the input cannot be used
    assert "bad.csv:3:" in output
    assert "yesterday" in output


def test_non_monotonic_timestamps_with_strict_order_name_file_and_line(tmp_path: Path) -> None:
    csv = tmp_path / "order.csv"
    csv.write_text("timestamp,value\n1000,1\n2000,2\n1500,3\n")

    code, output = run("replay", str(csv), "--strict-order")

    assert code == 2  # usage: the input cannot be used
    assert "order.csv:4:" in output


def test_empty_series_file_says_there_are_no_samples(tmp_path: Path) -> None:
    csv = tmp_path / "empty.csv"
    csv.write_text("timestamp,value\n")

    code, output = run("replay", str(csv))

    assert code == 2  # usage: the input cannot be used
    assert "empty.csv" in output and "no samples" in output


@pytest.mark.parametrize(
    ("name", "values", "note"),
    [
        ("all_nan", np.full(3 * PER_DAY, np.nan), "no usable samples"),
        ("constant", np.full(10 * PER_DAY, 5.0), "constant at 5"),
        ("short", shifted(days=10)[-60:], "only 4h55m of data"),
    ],
)
def test_series_that_cannot_speak_is_silent_with_a_reason(
    tmp_path: Path, name: str, values: np.ndarray, note: str
) -> None:
    csv = write_csv(tmp_path / f"{name}.csv", values)

    code, output = run("replay", str(csv), "--format", "json")

    assert code == 0, output
    report = json.loads(output)
    assert report["signals"] == []
    (silent,) = report["silent"]
    assert any(note in text for text in silent["notes"]), silent["notes"]


def test_bad_at_option_is_a_usage_error(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "latency.csv", shifted())

    code, output = run("replay", str(csv), "--at", "soon")

    assert code == 2
    assert "--at" in output
