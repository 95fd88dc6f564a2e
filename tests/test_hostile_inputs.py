"""Every input of the generated hostile corpus gets a clear answer, never a crash.

The corpus (tests/hostile_corpus.py, about 140 cases written fresh by each run) goes
through ``graysignal replay`` and ``graysignal check`` as child processes, one per case
(forked from tests/cli_forkserver.py, which has imported the CLI once, so the corpus
costs seconds rather than an import per case). For each case:

- the exit code is one the convention allows for it (adapters/cli/exitcodes.py);
- no Python traceback and no numpy warning reaches stdout or stderr;
- when the command fails or warns, its message names the file (or the flag) at fault;
- the child's peak resident memory (``ru_maxrss`` from ``wait4``) stays within a bound
  above the size it was forked at: alias bombs, 10,000 label columns, a few samples
  years apart and gigabyte files are refused before they cost memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from tests.hostile_corpus import Case, corpus

REPO = Path(__file__).resolve().parents[1]
MEMORY_BOUND_KIB = 128 * 1024
"""Peak resident memory a case may add to what its process was forked with."""
CASE_TIMEOUT = 120.0
"""A hang guard for a shared machine, not a measurement: cases take well under a second."""


@dataclass
class ForkServer:
    process: subprocess.Popen[str]
    baseline_kib: int

    def run(self, argv: list[str], directory: Path) -> tuple[dict[str, Any], str, str]:
        stdout, stderr = directory / "stdout.txt", directory / "stderr.txt"
        request = {
            "argv": argv,
            "stdout": str(stdout),
            "stderr": str(stderr),
            "timeout": CASE_TIMEOUT,
        }
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        read = lambda path: path.read_text(encoding="utf-8", errors="replace")  # noqa: E731
        return answer, read(stdout), read(stderr)


@pytest.fixture(scope="module")
def forkserver() -> Iterator[ForkServer]:
    env = {
        **os.environ,
        # One thread per child: 2 shared cores, and forking is simplest single-threaded.
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "COLUMNS": "120",
    }
    env.pop("GRAYSIGNAL_DEBUG", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.cli_forkserver"],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        stdout: IO[str] | None = process.stdout
        assert stdout is not None
        ready = json.loads(stdout.readline() or "{}")
        assert ready.get("ready"), "the fork server did not start"
        yield ForkServer(process, int(ready["rss_kib"]))
    finally:
        if process.stdin is not None:
            process.stdin.close()
        process.wait(30)


CASES = corpus()


def test_the_corpus_has_at_least_100_cases_over_both_commands() -> None:
    commands = {case.argv[0] for case in CASES}
    assert len(CASES) >= 100
    assert commands == {"replay", "check"}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input_gets_a_clear_answer_in_bounded_memory(
    case: Case, forkserver: ForkServer, tmp_path: Path
) -> None:
    argv = case.write(tmp_path)

    answer, stdout, stderr = forkserver.run(argv, tmp_path)

    output = stdout + stderr
    assert not answer["timed_out"], f"{case.name} ran past {CASE_TIMEOUT:.0f}s"
    assert answer["code"] in case.expect, f"exit {answer['code']}:\n{stderr[-2000:]}"
    assert "Traceback (most recent call last)" not in output
    assert "internal error" not in output
    assert "Warning:" not in stderr, stderr[-2000:]  # e.g. numpy's RuntimeWarning
    warned = "warning" in stderr.lower()
    if case.names and (answer["code"] != 0 or warned):
        assert case.names in output, f"the message does not name {case.names}:\n{output[-2000:]}"
    assert answer["maxrss_kib"] - forkserver.baseline_kib <= MEMORY_BOUND_KIB, (
        f"peak {answer['maxrss_kib'] // 1024} MiB, forked at {forkserver.baseline_kib // 1024} MiB"
    )
