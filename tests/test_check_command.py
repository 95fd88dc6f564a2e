"""``graysignal check``: exit codes, ``file:line: message`` output, no tracebacks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from adapters.cli.check import check_command

EXAMPLES = Path(__file__).resolve().parent.parent / "rules" / "examples"

VALID = """\
groups:
  - name: checkout
    rules:
      - signal: CheckoutLatencyCreep
        source: prometheus
        query: up
"""

PROBLEM_LINE = re.compile(r"^.+:\d+: \S.*$")


def run_check(*args: str | Path) -> Result:
    """Run ``check`` the way the real app does: as a subcommand of a typer app."""
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test app holding only the check command."""

    app.command("check")(check_command)
    return CliRunner().invoke(app, ["check", *map(str, args)])


def test_valid_examples_exit_zero() -> None:
    assert run_check(EXAMPLES).exit_code == 0


def test_valid_files_print_one_summary_line_per_file() -> None:
    result = run_check(EXAMPLES)

    assert result.stdout.splitlines() == [
        f"{EXAMPLES / 'capacity.yaml'}: 2 rules in 1 group OK",
        f"{EXAMPLES / 'checkout.yaml'}: 3 rules in 2 groups OK",
        f"{EXAMPLES / 'logs.yaml'}: 4 rules in 2 groups OK",
    ]
    assert result.stderr == ""


def test_summary_uses_singular_for_one_rule(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text(VALID, encoding="utf-8")

    assert run_check(path).stdout == f"{path}: 1 rule in 1 group OK\n"


def test_invalid_file_exits_one(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(VALID + "        window: 7x\n", encoding="utf-8")

    assert run_check(path).exit_code == 1


def test_problems_go_to_stderr_as_file_line_message(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(VALID + "        window: 7x\n        treshold: 3\n", encoding="utf-8")

    result = run_check(path)

    assert result.stderr.splitlines() == [
        f"{path}:7: groups[0].rules[0].window: invalid duration '7x': "
        "use a number with a unit, e.g. 30s, 5m, 1h30m, 7d, 2w",
        f"{path}:8: groups[0].rules[0]: unknown field 'treshold'",
    ]
    assert result.stdout == ""


def test_one_bad_file_fails_the_whole_check_and_prints_no_summary(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups: [\n", encoding="utf-8")

    result = run_check(EXAMPLES, bad)

    assert result.exit_code == 1
    assert "OK" not in result.stdout
    assert all(PROBLEM_LINE.match(line) for line in result.stderr.splitlines())


@pytest.mark.parametrize(
    "content",
    [
        "groups: [\n",
        "",
        "- just a list\n",
        "groups:\n  - name: x\n    rules:\n      - signal: 1 bad\n        source: nowhere\n",
        b"groups: \xff\n",
    ],
    ids=["yaml-syntax", "empty", "top-level-list", "bad-fields", "not-utf8"],
)
def test_bad_input_never_prints_a_traceback(tmp_path: Path, content: str | bytes) -> None:
    path = tmp_path / "bad.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")

    result = run_check(path)

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stderr.startswith(f"{path}:")


def test_missing_file_is_a_usage_error_reported_without_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"

    result = run_check(missing)

    assert result.exit_code == 2
    assert result.stderr == f"{missing}: no such file\n"


def test_directory_argument_checks_every_rule_file_in_it(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "b.yml").write_text(VALID + "        window: 7x\n", encoding="utf-8")

    result = run_check(tmp_path)

    assert result.exit_code == 1
    assert result.stderr.startswith(f"{tmp_path / 'b.yml'}:7: ")


def test_no_arguments_is_a_usage_error() -> None:
    assert run_check().exit_code == 2
