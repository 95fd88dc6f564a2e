"""Start-up of the command line: each command is imported when it runs, so ``--help``,
``--version`` and ``check`` never load the statistics libraries (seconds of start-up).

The import checks run the real entry point in a fresh interpreter and read
``sys.modules`` afterwards: what a user's shell would load, not what this test process
happens to have imported already. They assert module sets, never timings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.cli import COMMANDS, app

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "rules" / "examples"
HEAVY = ("statsmodels", "matplotlib", "ruptures", "dask", "distributed")
"""What the issue measured as seconds of start-up: never loaded by help, version, check.
Dask is loaded only by a command run with ``--scheduler`` or ``--workers``."""

LOADED = """
import json, sys
sys.argv = ["graysignal", *json.loads(sys.argv[1])]
from adapters.cli import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def modules_loaded_by(*args: str) -> set[str]:
    """Every module a fresh ``graysignal ARGS`` has imported when it exits."""
    done = subprocess.run(
        [sys.executable, "-c", LOADED, json.dumps(args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=120,
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_help_lists_every_command_with_its_help() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})

    assert result.exit_code == 0
    for command in COMMANDS:
        assert command.name in result.output
        assert command.help in result.output


def test_help_loads_no_command_and_no_statistics_library() -> None:
    loaded = modules_loaded_by("--help")

    assert not top_level(loaded) & {*HEAVY, "scipy", "pandas", "numpy"}
    entry = {"adapters.cli.lazy", "adapters.cli.guard", "adapters.cli.exitcodes"}
    assert not {m for m in loaded if m.startswith("adapters.cli.") and m not in entry}


def test_check_without_probe_loads_neither_the_engine_nor_the_statistics(tmp_path: Path) -> None:
    settings = tmp_path / "graysignal.yaml"
    settings.write_text("rules: [rules]\nresend_interval: 1m\n", encoding="utf-8")

    loaded = modules_loaded_by("check", str(EXAMPLES), "--config", str(settings))

    assert "adapters.cli.check" in loaded  # the command did run
    assert not top_level(loaded) & set(HEAVY)
    assert "detector.evaluate" not in loaded
    assert not {m for m in loaded if m.startswith("detector.kinds")}


def test_a_command_help_loads_that_command_only() -> None:
    loaded = modules_loaded_by("replay", "--help")

    assert "adapters.cli.replay" in loaded
    assert "adapters.cli.backtest" not in loaded
    assert not top_level(loaded) & set(HEAVY)


def test_version_names_graysignal_python_and_the_key_libraries() -> None:
    result = CliRunner().invoke(app, ["--version"])

    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == f"graysignal, version {version('graysignal')}"
    assert f"python:      {sys.version.split()[0]}" in result.output
    for library in ("numpy", "scipy", "pandas", "statsmodels", "ruptures", "pydantic"):
        assert f"{library}:" in result.output
        assert version(library) in result.output


@pytest.mark.parametrize("library", HEAVY)
def test_version_imports_none_of_the_libraries_it_names(library: str) -> None:
    assert library not in top_level(modules_loaded_by("--version"))
