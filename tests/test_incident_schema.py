"""Incident files: the shipped library loads, and every mistake is reported at its line."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.backtest.library import (
    incident_json_schema,
    is_incident_file,
    load_incident_file,
    load_incidents,
)
from adapters.backtest.scenarios import write_scenario_csvs
from adapters.cli import app
from adapters.errors import InputError, Problem
from detector.incident import DetectionChannel, IncidentCategory, parse_rfc3339

REPO = Path(__file__).resolve().parent.parent
INCIDENTS = REPO / "incidents"

VALID = """\
id: checkout-latency-2026-11
title: Checkout p99 crept past the timeout
impact:
  start: 2026-11-20T09:30:00Z
  end: "2026-11-20T11:00:00+01:00"
detected:
  at: 2026-11-20T09:50:00Z
  how: customer_ticket
services:
  - 'service="checkout"'
  - 'job=~"api.*", env!="dev"'
category: code
changes:
  - at: 2026-11-19T16:00:00Z
    what: deploy checkout v2.14.0
"""

PROBLEM_LINE = re.compile(r"^.+:\d+: \S.*$")


def write(directory: Path, text: str, name: str = "incident.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(InputError) as caught:
        load_incident_file(path)
    return caught.value.problems


def test_a_valid_incident_loads_with_times_as_unix_seconds(tmp_path: Path) -> None:
    incident = load_incident_file(write(tmp_path, VALID))

    assert incident.impact.start == parse_rfc3339("2026-11-20T09:30:00Z")
    assert incident.impact.end == parse_rfc3339("2026-11-20T10:00:00Z")  # +01:00
    assert incident.detected.how is DetectionChannel.CUSTOMER_TICKET
    assert incident.category is IncidentCategory.CODE
    assert [str(s) for s in incident.services] == ['service="checkout"', 'job=~"api.*", env!="dev"']
    assert incident.time_to_detect == 20 * 60


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("start: 2026-11-20T09:30:00Z", "start: 2026-11-20 09:30:00", 4, "has no zone"),
        ("how: customer_ticket", "how: pager", 8, "unknown detection channel 'pager'"),
        ("category: code", "category: network", 12, "unknown category 'network'"),
        ('\'job=~"api.*", env!="dev"\'', "'job=~\"api(\"'", 11, "invalid regular expression"),
        ("'service=\"checkout\"'", "'service=\"checkout\" env'", 10, "expected ',' between"),
        (
            "v2.14.0\n",
            "v2.14.0\nnotez: urgent\n",
            16,
            "unknown field 'notez' (did you mean 'notes'?)",
        ),
        ("id: checkout-latency-2026-11", "id: Checkout Latency", 1, "must be lower case"),
        ('  end: "2026-11-20T11:00:00+01:00"', "  end: 2026-11-20T08:00:00Z", 3, "'end' must"),
    ],
)
def test_schema_errors_name_the_line(
    tmp_path: Path, old: str, new: str, line: int, message: str
) -> None:
    assert old in VALID
    (problem,) = problems_of(write(tmp_path, VALID.replace(old, new)))

    assert problem.line == line
    assert message in problem.message
    assert PROBLEM_LINE.match(str(problem))


def test_every_problem_of_a_file_is_reported_in_one_pass(tmp_path: Path) -> None:
    text = VALID.replace("how: customer_ticket", "how: pager").replace(
        "category: code", "category: network"
    )

    assert [p.line for p in problems_of(write(tmp_path, text))] == [8, 12]


def test_two_files_with_one_id_are_an_error_at_the_second_id_line(tmp_path: Path) -> None:
    write(tmp_path, VALID, "a.yaml")
    write(tmp_path, "# the same incident again\n" + VALID, "b.yaml")

    with pytest.raises(InputError) as caught:
        load_incidents([tmp_path])

    (problem,) = caught.value.problems
    assert (Path(problem.source).name, problem.line) == ("b.yaml", 2)
    assert "already used by" in problem.message


@pytest.mark.parametrize(
    ("directory", "text", "incident"),
    [
        ("rules", "groups: []\n", False),
        ("rules", "id: x\n", True),
        ("rules", "impact: {}\n", True),
        ("incidents", "", True),
        ("rules", "", False),
        ("incidents", "title: half-written\n", True),
    ],
)
def test_which_yaml_files_are_incident_files(
    tmp_path: Path, directory: str, text: str, incident: bool
) -> None:
    folder = tmp_path / directory
    folder.mkdir()

    assert is_incident_file(write(folder, text)) is incident


def test_the_shipped_library_loads_and_skips_its_rules_directory() -> None:
    library = load_incidents([INCIDENTS])

    assert len(library) >= 5
    assert len({i.category for _, i in library}) >= 4
    assert [i.impact.start for _, i in library] == sorted(i.impact.start for _, i in library)


def test_check_validates_incident_files_next_to_rule_files() -> None:
    result = CliRunner().invoke(app, ["check", str(INCIDENTS), str(INCIDENTS / "rules")])

    assert result.exit_code == 0, result.output
    assert "incident plant-machine-2014-02 (operational) OK" in result.stdout
    assert "library.yaml: 9 rules in 7 groups OK" in result.stdout


def test_check_reports_a_bad_incident_as_file_line_message(tmp_path: Path) -> None:
    folder = tmp_path / "incidents"
    folder.mkdir()
    write(folder, VALID.replace("category: code", "category: network"))

    result = CliRunner().invoke(app, ["check", str(folder)])

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{folder / 'incident.yaml'}:12: category: unknown category 'network' (expected one of "
        "requirements, architecture, code, deployment, configuration, capacity, dependency, "
        "operational)"
    ]
    assert "Traceback" not in result.output


def test_the_committed_editor_schema_is_current() -> None:
    assert (INCIDENTS / "schema.json").read_text(encoding="utf-8") == incident_json_schema()


def test_the_shipped_scenario_data_is_what_the_generator_makes(tmp_path: Path) -> None:
    for path in write_scenario_csvs(tmp_path):
        assert path.read_bytes() == (INCIDENTS / "data" / path.name).read_bytes(), path.name
