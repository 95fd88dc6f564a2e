"""No traceback reaches a user: an unexpected error is one line and exit code 70.

A bug cannot be produced on demand from the outside, so each test runs the real
``main()`` in a child Python whose ``check`` command has been made to raise, exactly as
a bug deep in a command would; everything else (argument parsing, the top-level
handler, the exit status, what lands on stderr) is the real process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from adapters.cli.guard import debug_requested

REPO = Path(__file__).resolve().parents[1]
SECRET = "tok-3f9a1c77e2"

BROKEN_CHECK = textwrap.dedent(
    f"""
    import sys
    import adapters.cli.check as check

    def broken(paths):
        raise RuntimeError("lost the plot reading with {SECRET}\\nsecond line of the message")

    check.load_checked_files = broken
    from adapters.cli import main

    sys.argv = ["graysignal", *sys.argv[1:]]
    main()
    """
)

VALID_RULES = """\
groups:
  - name: g
    rules:
      - signal: S
        source: prometheus
        query: up
"""


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "GRAYSIGNAL_DEBUG"}
    environment["GRAYSIGNAL_PROMETHEUS_BEARER_TOKEN"] = SECRET
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", BROKEN_CHECK, *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_an_unexpected_error_is_one_line_with_a_hint_and_exit_code_70(tmp_path: Path) -> None:
    result = run("check", str(tmp_path))

    assert result.returncode == 70
    assert result.stderr == (
        "graysignal: internal error: RuntimeError: lost the plot reading with ********** "
        "(run with --debug for the traceback)\n"
    )


def test_debug_anywhere_on_the_command_line_prints_the_traceback_too(tmp_path: Path) -> None:
    result = run("check", str(tmp_path), "--debug")

    assert result.returncode == 70
    assert "Traceback (most recent call last)" in result.stderr
    assert 'File "<string>", line 6, in broken' in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "graysignal: internal error: RuntimeError: lost the plot reading with **********"
    )
    assert SECRET not in result.stderr


def test_graysignal_debug_variable_prints_the_traceback(tmp_path: Path) -> None:
    result = run("check", str(tmp_path), env={"GRAYSIGNAL_DEBUG": "1"})

    assert result.returncode == 70
    assert "Traceback (most recent call last)" in result.stderr


def test_the_debug_flag_is_not_passed_on_to_the_command(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(VALID_RULES, encoding="utf-8")
    script = "import sys; from adapters.cli import main; sys.argv[0] = 'graysignal'; main()"

    result = subprocess.run(
        [sys.executable, "-c", script, "--debug", "check", str(rules)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{rules}: 1 rule in 1 group OK\n"


def test_debug_is_read_from_the_flag_before_a_double_dash_or_the_environment() -> None:
    assert debug_requested(["--debug", "check", "x"], {}) == (True, ["check", "x"])
    assert debug_requested(["check", "x", "--debug"], {}) == (True, ["check", "x"])
    assert debug_requested(["check", "--", "--debug"], {}) == (False, ["check", "--", "--debug"])
    assert debug_requested(["check"], {"GRAYSIGNAL_DEBUG": "true"}) == (True, ["check"])
    assert debug_requested(["check"], {"GRAYSIGNAL_DEBUG": "0"}) == (False, ["check"])
