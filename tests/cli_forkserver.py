"""Run ``graysignal`` command lines as child processes without paying the import each time.

``python -m tests.cli_forkserver`` imports the CLI and the detection libraries once,
warms them up with a tiny replay, then reads one JSON request per line on stdin::

    {"argv": ["replay", "x.csv"], "stdout": "/tmp/o", "stderr": "/tmp/e", "timeout": 60}

and for each forks a child that runs ``adapters.cli.main()`` on that command line, with
its stdout and stderr in the given files, exactly as the ``graysignal`` script would.
It answers one JSON line per request: the exit code, the signal that killed the child
if any, and the child's peak resident memory (``ru_maxrss`` from ``wait4``, in KiB).
The first line it writes is ``{"ready": true, "rss_kib": <its own resident memory>}``,
the baseline every child starts from (a forked child shares its parent's pages).

A child that outlives its ``timeout`` is killed (SIGKILL) and reported with
``"timed_out": true``: a guard against a hang in a shared test run, not a measurement.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

POLL_SECONDS = 0.01


def _resident_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _warm_up() -> None:
    """Import and exercise what the commands use, so children only pay for their work."""
    from adapters.cli import app  # noqa: PLC0415 - the point is to import here, once

    with tempfile.TemporaryDirectory() as directory:
        series = Path(directory, "warm.csv")
        rows = "".join(f"{1_700_000_000 + 3600 * i},{100 + i % 24}\n" for i in range(200))
        series.write_text("timestamp,value\n" + rows, encoding="utf-8")
        with (
            open(os.devnull, "w") as sink,
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
            contextlib.suppress(SystemExit),
        ):
            app(args=["replay", str(series), "--format", "json"], prog_name="graysignal")


def _child(request: dict[str, Any]) -> None:
    """In the forked child: run the command line, then leave without running the parent's
    clean-up (``os._exit``)."""
    code = 70
    try:
        os.environ.update(request.get("env", {}))
        quiet = os.open(os.devnull, os.O_RDONLY)
        os.dup2(quiet, 0)  # the parent's stdin carries the requests, not the child's input
        os.close(quiet)
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        if request.get("cwd"):
            os.chdir(request["cwd"])
        sys.argv = ["graysignal", *request["argv"]]
        from adapters.cli import main  # noqa: PLC0415 - already imported by the parent

        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _run(request: dict[str, Any]) -> dict[str, Any]:
    pid = os.fork()
    if pid == 0:
        _child(request)
    deadline = time.monotonic() + float(request.get("timeout", 60))
    timed_out = False
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done == pid:
            break
        if time.monotonic() > deadline and not timed_out:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
        time.sleep(POLL_SECONDS)
    return {
        "code": os.waitstatus_to_exitcode(status),
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "maxrss_kib": usage.ru_maxrss,
        "timed_out": timed_out,
    }


def main() -> None:
    _warm_up()
    out = sys.stdout
    out.write(json.dumps({"ready": True, "rss_kib": _resident_kib()}) + "\n")
    out.flush()
    for line in sys.stdin:
        if line.strip():
            out.write(json.dumps(_run(json.loads(line))) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
