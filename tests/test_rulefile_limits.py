"""Rule files over a stated limit are refused before the work the limit bounds.

Each test names one limit (adapters/limits.py, docs/rules.md "Limits"): the refusal says
which file and line, which limit, and which ``GRAYSIGNAL_MAX_*`` variable raises it, and
it is marked *unreadable* so that ``check`` exits 2 rather than judging the file (1).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from adapters.cli.check import check_command
from adapters.errors import InputError, Problem
from adapters.rulefiles import load_rule_file, top_level_keys
from tests.test_rulefiles import write

RULE = """\
      - signal: S{n}
        source: prometheus
        query: up
"""


def refusal(path: Path) -> Problem:
    with pytest.raises(InputError) as caught:
        load_rule_file(path)
    (problem,) = caught.value.problems
    return problem


def bomb(levels: int = 9, width: int = 9) -> str:
    """Anchors whose aliases expand to ``width ** levels`` strings: a billion for 9, 9."""
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def rule_with(field: str, value: str) -> str:
    rule = {"signal": "S", "source": "file", "path": "x.csv", field: value}
    body = "".join(f"        {key}: {item}\n" for key, item in rule.items())
    return "groups:\n  - name: g\n    rules:\n      -" + body[7:]


@pytest.mark.parametrize("field", ["labels", "detect", "path", "query", "annotations"])
def test_alias_bomb_is_refused_without_expanding_it(tmp_path: Path, field: str) -> None:
    path = write(tmp_path, bomb() + rule_with(field, f"*a{8}"))

    problem = refusal(path)

    assert problem.source == str(path)
    assert "expands to more than 100,000 nodes" in problem.message
    assert "GRAYSIGNAL_MAX_YAML_NODES" in problem.message
    assert problem.unreadable
    assert len(str(problem)) < 300


def test_more_aliases_than_the_limit_are_refused_at_the_first_one_over(tmp_path: Path) -> None:
    aliases = "".join(f"        n{i}: *v\n" for i in range(101))
    text = "defaults: &v x\n" + rule_with("annotations", "\n" + aliases)

    problem = refusal(write(tmp_path, text))

    assert "more than 100 YAML aliases" in problem.message
    assert problem.line == 8 + 101  # the 101st alias, after the rule's first 8 lines


def test_an_alias_inside_the_node_it_names_is_refused(tmp_path: Path) -> None:
    problem = refusal(write(tmp_path, "groups: &g\n  - *g\n"))

    assert problem.line == 2
    assert "alias *g is used inside the node it names" in problem.message


def test_a_few_anchors_and_aliases_are_fine(tmp_path: Path) -> None:
    text = (
        "groups:\n  - name: g\n    rules:\n"
        "      - signal: A\n        source: &source prometheus\n        query: up\n"
        "        labels: &team {team: plant}\n"
        "      - signal: B\n        source: *source\n        query: up\n"
        "        labels: *team\n"
    )

    loaded = load_rule_file(write(tmp_path, text))

    assert [rule.labels for rule in loaded.groups[0].rules] == [{"team": "plant"}] * 2


@pytest.mark.parametrize(
    ("nested", "line"),
    [
        ("".join("  " * i + f"k{i}:\n" for i in range(40)) + "  " * 40 + "v: 1\n", 33),
        ("k: " + "[" * 5000 + "]" * 5000 + "\n", 1),
    ],
    ids=["block", "flow"],
)
def test_nesting_deeper_than_the_limit_is_refused_at_its_line(
    tmp_path: Path, nested: str, line: int
) -> None:
    problem = refusal(write(tmp_path, nested))

    assert "YAML nested more than 32 levels deep" in problem.message
    assert "GRAYSIGNAL_MAX_YAML_DEPTH" in problem.message
    assert problem.line == line
    assert problem.unreadable


def test_a_nul_byte_is_reported_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("groups:\n  - name: g\x00\n", encoding="utf-8")

    problem = refusal(path)

    assert (problem.line, problem.message) == (
        2,
        "invalid YAML: a NUL byte (0x00); rule files are text",
    )


def test_a_file_larger_than_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    with path.open("wb") as handle:  # 2 GB that take no disk: a sparse file
        handle.truncate(2 << 30)

    problem = refusal(path)

    assert problem.message.startswith("file is larger than the limit (limit 1.0 MiB;")
    assert "GRAYSIGNAL_MAX_RULE_FILE_BYTES raises it" in problem.message


def test_a_line_longer_than_the_limit_is_refused_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, rule_with("query", "up" + " " * 70_000 + "# long"))

    problem = refusal(path)

    assert problem.line == 7
    assert "characters (limit 65,536; GRAYSIGNAL_MAX_LINE_CHARS raises it)" in problem.message


def test_more_rules_than_the_limit_are_refused_before_validation(tmp_path: Path) -> None:
    rules = "".join(RULE.format(n=n) for n in range(1001))
    path = write(tmp_path, "groups:\n  - name: g\n    rules:\n" + rules)

    problem = refusal(path)

    assert problem.message == (
        "the file defines 1,001 rules (limit 1,000; GRAYSIGNAL_MAX_RULES_PER_FILE raises it)"
    )


def test_a_rule_with_more_labels_than_the_limit_is_refused_at_its_labels(tmp_path: Path) -> None:
    labels = "{" + ", ".join(f"l{i}: v" for i in range(65)) + "}"
    problem = refusal(write(tmp_path, rule_with("labels", labels)))

    assert problem.line == 7
    assert "65 labels (limit 64; GRAYSIGNAL_MAX_LABELS raises it)" in problem.message


def test_a_label_value_longer_than_the_limit_is_refused_at_its_line(tmp_path: Path) -> None:
    problem = refusal(write(tmp_path, rule_with("labels", "{team: " + "x" * 5000 + "}")))

    assert problem.line == 7
    assert "labels.team: the value has 5,000 characters (limit 4,096;" in problem.message


def test_an_environment_variable_raises_a_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels = "{" + ", ".join(f"l{i}: v" for i in range(65)) + "}"
    path = write(tmp_path, rule_with("labels", labels))
    monkeypatch.setenv("GRAYSIGNAL_MAX_LABELS", "100")

    loaded = load_rule_file(path)

    assert len(loaded.groups[0].rules[0].labels) == 65


def test_a_malformed_limit_variable_is_named_not_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAYSIGNAL_MAX_RULE_FILE_BYTES", "lots")

    problem = refusal(write(tmp_path, rule_with("query", "up")))

    assert problem.source == "GRAYSIGNAL_MAX_RULE_FILE_BYTES"


def test_a_wrong_value_is_quoted_in_a_message_of_bounded_length(tmp_path: Path) -> None:
    huge_list = "\n" + "".join("          - lol\n" for _ in range(20_000))

    with pytest.raises(InputError) as caught:
        load_rule_file(write(tmp_path, rule_with("labels", huge_list)))

    (problem,) = caught.value.problems
    assert "expected a mapping" in problem.message
    assert len(problem.message) < 200


def test_top_level_keys_of_a_bomb_are_none_and_cost_nothing(tmp_path: Path) -> None:
    assert top_level_keys(write(tmp_path, bomb() + "groups: *a8\n")) == frozenset()


def run_check(*paths: Path) -> tuple[int, str]:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test app holding only the check command."""

    app.command("check")(check_command)
    result = CliRunner().invoke(app, ["check", *map(str, paths)])
    return result.exit_code, result.output


def test_check_exits_2_for_a_file_over_a_limit(tmp_path: Path) -> None:
    code, output = run_check(write(tmp_path, bomb() + rule_with("labels", "*a8")))

    assert code == 2
    assert "rules.yaml:" in output and "GRAYSIGNAL_MAX_YAML_NODES" in output


def test_check_exits_1_for_a_file_it_can_read_and_finds_wrong(tmp_path: Path) -> None:
    code, output = run_check(write(tmp_path, rule_with("detect", "[spikes]")))

    assert code == 1
    assert "unknown detector 'spikes'" in output
