"""Loading rule files: valid files load, and every mistake is reported at its line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from adapters.errors import InputError, Problem
from adapters.rulefiles import load_rule_file, load_rule_files
from detector.finding import Kind
from detector.rule import CounterMode, RuleFile

EXAMPLES = Path(__file__).resolve().parent.parent / "rules" / "examples"

VALID = """\
groups:
  - name: checkout
    rules:
      - signal: CheckoutLatencyCreep
        source: prometheus
        query: up
"""


def write(directory: Path, text: str, name: str = "rules.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(InputError) as caught:
        load_rule_file(path)
    return caught.value.problems


def only_problem(path: Path) -> Problem:
    problems = problems_of(path)
    assert len(problems) == 1, problems
    return problems[0]


# --- valid files ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["checkout.yaml", "logs.yaml", "capacity.yaml"])
def test_example_rule_file_loads(name: str) -> None:
    rule_file = load_rule_file(EXAMPLES / name)

    assert isinstance(rule_file, RuleFile)
    assert sum(len(group.rules) for group in rule_file.groups) >= 2


def test_valid_file_gets_schema_defaults(tmp_path: Path) -> None:
    rule = load_rule_file(write(tmp_path, VALID)).groups[0].rules[0]

    assert rule.window == 7 * 86400
    assert rule.detect == [Kind.LEVEL_SHIFT, Kind.TREND]
    assert rule.for_seconds == 15 * 60


def test_quoted_counter_mode_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + '        counter: "false"\n')

    assert load_rule_file(path).groups[0].rules[0].counter is CounterMode.FALSE


# --- field errors --------------------------------------------------------------------


def test_invalid_duration_names_line_path_and_accepted_forms(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "        window: 7x\n")

    problem = only_problem(path)

    assert problem.source == str(path)
    assert problem.line == 7
    assert problem.message == (
        "groups[0].rules[0].window: invalid duration '7x': "
        "use a number with a unit, e.g. 30s, 5m, 1h30m, 7d, 2w"
    )


def test_pydantic_value_error_prefix_is_stripped(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "        for: soon\n")

    assert "Value error" not in only_problem(path).message


def test_unknown_detector_lists_known_kinds_at_its_item_line(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "        detect:\n          - trend\n          - foo\n")

    problem = only_problem(path)

    assert problem.line == 9
    assert problem.message.endswith(
        "unknown detector 'foo' (expected one of level_shift, trend, variance, volume, exhaustion, "
        "new_pattern)"
    )


def test_unknown_detector_given_as_a_single_string_points_at_detect(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "        detect: foo\n")

    problem = only_problem(path)

    assert problem.line == 7
    assert "unknown detector 'foo'" in problem.message


def test_unknown_source_lists_known_sources(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("source: prometheus", "source: graphite"))

    problem = only_problem(path)

    assert problem.line == 5
    assert "unknown source 'graphite' (expected one of file, logfile, prometheus, loki)" in (
        problem.message
    )


def test_unknown_field_is_reported_at_its_key(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "        treshold: 3\n")

    problem = only_problem(path)

    assert problem.line == 7
    assert problem.message == "groups[0].rules[0]: unknown field 'treshold'"


def test_unknown_field_suggests_a_close_spelling(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "        windwo: 3d\n")

    assert "did you mean 'window'?" in only_problem(path).message


def test_unknown_top_level_field_has_no_path_prefix(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "version: 2\n")

    problem = only_problem(path)

    assert problem.line == 7
    assert problem.message == "unknown field 'version'"


def test_missing_field_points_at_the_mapping_that_lacks_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        groups:
          - name: checkout
            rules:
              - source: prometheus
                query: up
        """,
    )

    problem = only_problem(path)

    assert problem.line == 4
    assert problem.message == "groups[0].rules[0]: missing required field 'signal'"


def test_rule_level_check_points_at_first_line_of_the_rule(tmp_path: Path) -> None:
    disk_rule = """\
      - signal: DiskFull
        source: prometheus
        query: disk_used
        detect: [exhaustion]
"""
    path = write(tmp_path, VALID + disk_rule)

    problem = only_problem(path)

    assert problem.line == 7
    assert problem.message == (
        "groups[0].rules[1]: kind 'exhaustion' needs 'limit' (the value at which it breaks)"
    )


def test_log_pattern_check_points_at_the_log_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        groups:
          - name: logs
            rules:
              - signal: ApiErrors
                source: logfile
                path: api.log
                log:
                  pattern: '^(?P<level>[A-Z]+) '
        """,
    )

    problem = only_problem(path)

    assert problem.line == 7
    assert "missing: timestamp" in problem.message


def test_unquoted_boolean_counter_mode_means_the_word(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "        counter: true\n")

    rule = load_rule_file(path).groups[0].rules[0]

    assert rule.counter is CounterMode.TRUE


def test_numeric_label_value_suggests_quoting(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "        labels:\n          priority: 1\n")

    problem = only_problem(path)

    assert problem.line == 8
    assert problem.message.startswith("groups[0].rules[0].labels.priority: expected a string")
    assert "quote" in problem.message


def test_numeric_label_key_is_reported_at_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "        labels:\n          team: payments\n          1: x\n")

    problem = only_problem(path)

    assert problem.line == 9
    assert problem.message == (
        "groups[0].rules[0].labels: keys must be strings, got a number 1; quote the key"
    )


def test_rule_that_is_not_a_mapping_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "      - CheckoutErrors\n")

    problem = only_problem(path)

    assert problem.line == 7
    assert "expected a mapping" in problem.message


def test_empty_rules_list_is_reported_at_its_key(tmp_path: Path) -> None:
    path = write(tmp_path, "groups:\n  - name: checkout\n    rules: []\n")

    problem = only_problem(path)

    assert problem.line == 3
    assert problem.message.startswith("groups[0].rules: needs at least 1 entry")


def test_value_from_a_merge_key_points_at_the_anchor(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        defaults: &defaults
          window: 7x
        groups:
          - name: checkout
            rules:
              - <<: *defaults
                signal: CheckoutLatencyCreep
                source: prometheus
                query: up
        """,
    )

    problems = problems_of(path)

    window = [p for p in problems if "window" in p.message]
    assert [p.line for p in window] == [2]


# --- several problems at once ------------------------------------------------------


def test_every_problem_in_a_file_is_reported_in_one_pass(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        groups:
          - name: checkout
            interval: soon
            rules:
              - signal: CheckoutLatencyCreep
                source: prometheus
                query: up
                window: 7x
                detect: [foo]
              - signal: CheckoutErrors
                source: prometheus
                query: up
                treshold: 3
          - name: capacity
            rules:
              - signal: CheckoutLatencyCreep
                source: file
        """,
    )

    problems = problems_of(path)

    assert [p.line for p in problems] == [3, 8, 9, 13, 16, 16]
    assert all(p.source == str(path) for p in problems)
    assert "already defined at line 5" in problems[4].message
    assert "source 'file' needs 'path'" in problems[5].message


# --- YAML-level problems -------------------------------------------------------------


def test_yaml_syntax_error_is_one_problem_at_the_error_line(tmp_path: Path) -> None:
    path = write(tmp_path, "groups:\n  - name: checkout\n    rules: [\n      oops: {\n")

    problem = only_problem(path)

    assert problem.line is not None
    assert problem.line >= 4
    assert problem.message.startswith("invalid YAML:")


def test_bad_indentation_is_reported_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "groups:\n  - name: checkout\n   rules: []\n")

    problem = only_problem(path)

    assert problem.line == 3
    assert problem.message.startswith("invalid YAML:")


def test_several_yaml_documents_are_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "---\n" + VALID)

    problem = only_problem(path)

    assert problem.line == 7
    assert "single document" in problem.message


def test_duplicate_key_is_reported_at_the_second_occurrence(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "        window: 1d\n        window: 2d\n")

    problem = only_problem(path)

    assert problem.line == 8
    assert problem.message == (
        "groups[0].rules[0]: duplicate key 'window' (first at line 7); "
        "YAML would keep only the last one"
    )


def test_error_in_a_duplicated_key_points_at_the_value_yaml_kept(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "        window: 1d\n        window: 7x\n")

    problems = problems_of(path)

    assert [(p.line, "invalid duration" in p.message) for p in problems] == [
        (8, False),
        (8, True),
    ]


def test_duplicate_signal_across_groups_is_reported_at_the_second(tmp_path: Path) -> None:
    second_group = VALID.replace("groups:\n", "").replace("name: checkout", "name: other")
    path = write(tmp_path, VALID + second_group)

    problem = only_problem(path)

    assert problem.line == 9
    assert "signal 'CheckoutLatencyCreep' is already defined at line 4" in problem.message


def test_duplicate_group_name_is_reported_once_at_the_second(tmp_path: Path) -> None:
    second_group = VALID.replace("groups:\n", "").replace("CheckoutLatencyCreep", "Other")
    path = write(tmp_path, VALID + second_group)

    problem = only_problem(path)

    assert problem.line == 7
    assert "group name 'checkout' is used twice (first at line 2)" in problem.message


# --- whole-file problems -------------------------------------------------------------


def test_empty_file_is_one_clear_problem(tmp_path: Path) -> None:
    problem = only_problem(write(tmp_path, ""))

    assert problem.message.startswith("file is empty")


def test_comment_only_file_counts_as_empty(tmp_path: Path) -> None:
    problem = only_problem(write(tmp_path, "# nothing here yet\n"))

    assert problem.message.startswith("file is empty")


def test_top_level_list_is_rejected(tmp_path: Path) -> None:
    problem = only_problem(write(tmp_path, "- name: checkout\n"))

    assert problem.line == 1
    assert problem.message == "expected a mapping with 'groups:' at the top level, got a list"


def test_missing_file_is_one_problem_naming_the_path_as_given(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"

    problem = only_problem(missing)

    assert problem == Problem(str(missing), "no such file")


def test_directory_given_as_a_file_is_a_clear_problem(tmp_path: Path) -> None:
    assert "is a directory" in only_problem(tmp_path).message


def test_non_utf8_file_reports_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_bytes(VALID.encode() + b"        labels: {team: caf\xe9}\n")

    problem = only_problem(path)

    assert problem.line == 7
    assert "not UTF-8" in problem.message


def test_unreadable_file_is_a_clear_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, VALID)

    def refuse(self: Path, *args: object, **kwargs: object) -> bytes:
        # chmod 000 does not stop root, so simulate what the kernel would say.
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)

    assert only_problem(path) == Problem(str(path), "cannot read file: Permission denied")


# --- paths -----------------------------------------------------------------------------


def test_relative_log_path_is_resolved_against_the_rule_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    path = write(
        rules_dir,
        """\
        groups:
          - name: logs
            rules:
              - signal: ApiErrors
                source: logfile
                path: ../logs/api.log
        """,
    )
    monkeypatch.chdir(Path("/"))

    rule = load_rule_file(path).groups[0].rules[0]

    assert rule.path == str(tmp_path / "logs" / "api.log")


def test_relative_rule_file_path_still_gives_absolute_data_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        tmp_path,
        VALID.replace(
            "source: prometheus\n        query: up", "source: file\n        path: data.csv"
        ),
    )
    monkeypatch.chdir(tmp_path)

    rule = load_rule_file("rules.yaml").groups[0].rules[0]

    assert rule.path == str(tmp_path / "data.csv")


def test_absolute_data_path_is_kept(tmp_path: Path) -> None:
    text = VALID.replace(
        "source: prometheus\n        query: up", "source: file\n        path: /data/x.csv"
    )

    assert load_rule_file(write(tmp_path, text)).groups[0].rules[0].path == "/data/x.csv"


# --- several files -------------------------------------------------------------------


def test_directory_loads_yaml_and_yml_files_sorted_and_not_recursively(tmp_path: Path) -> None:
    write(tmp_path, VALID, "b.yml")
    write(tmp_path, VALID, "a.yaml")
    write(tmp_path, "not a rule file", "notes.txt")
    (tmp_path / "nested").mkdir()
    write(tmp_path / "nested", "broken: [", "c.yaml")

    loaded = load_rule_files([tmp_path])

    assert [path.name for path, _ in loaded] == ["a.yaml", "b.yml"]


def test_files_and_directories_can_be_mixed(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    write(tmp_path / "dir", VALID, "a.yaml")
    single = write(tmp_path, VALID, "single.yaml")

    loaded = load_rule_files([single, tmp_path / "dir"])

    assert [path.name for path, _ in loaded] == ["single.yaml", "a.yaml"]


def test_directory_without_rule_files_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_rule_files([tmp_path])

    assert caught.value.problems == [
        Problem(str(tmp_path), "directory holds no *.yaml or *.yml rule files")
    ]


def test_problems_from_all_files_are_reported_together(tmp_path: Path) -> None:
    bad_one = write(tmp_path, VALID + "        window: 7x\n", "a.yaml")
    bad_two = write(tmp_path, VALID + "        treshold: 3\n", "b.yaml")
    write(tmp_path, VALID, "c.yaml")

    with pytest.raises(InputError) as caught:
        load_rule_files([tmp_path, tmp_path / "missing.yaml"])

    sources = [p.source for p in caught.value.problems]
    assert sources == [str(bad_one), str(bad_two), str(tmp_path / "missing.yaml")]
