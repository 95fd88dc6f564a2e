"""Log pattern mining: lines per second per core and peak memory on a log streamed from disk.

A realistic service log (by default 1 GB: about 7 million lines over two weeks, a dozen
templates, values in every line) is generated to a temporary file, then mined the way
the daemon mines a ``by: pattern`` rule's file (``LogPatternIndex``: read in chunks,
parse, mask, Drain, count, with the default rule's bounded history) in a fresh process,
so that its peak RSS is the miner's own. Throughput is lines per second of that process's
CPU time (one core); the goal is at least 50,000.

``python -m benchmarks --only logpatterns`` runs it; ``--quick`` mines 100 MB.
"""

from __future__ import annotations

import multiprocessing
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

FULL_BYTES = 1 << 30
QUICK_BYTES = 100 << 20
GOAL_LINES_PER_SECOND = 50_000
END = 1_795_167_000  # Fri 2026-11-20 09:30 UTC
SPAN = 14 * 86400
BLOCK = 50_000
LINE_BYTES = 93
"""About the average line of :data:`TEMPLATES`, for the first estimate of the line count."""

TEMPLATES = (
    ("INFO", "[api] request completed method=GET path=/api/orders/{n} status=200 duration_ms={ms}"),
    ("INFO", "[api] request completed method=POST path=/api/cart/{n} status=201 duration_ms={ms}"),
    ("INFO", "[auth] user {user} logged in from {ip}"),
    ("DEBUG", "[cache] cache hit key=session:{hex}"),
    ("DEBUG", "[cache] cache miss key=product:{n} loading from {db}"),
    ("INFO", "[jobs] scheduled job {job} finished in {ms} ms"),
    ("WARN", "[db] slow query on table {table} took {ms} ms"),
    ("WARN", "[api] retrying request to {svc} attempt {n}"),
    ("ERROR", "[api] upstream {svc} returned status 503 after {ms} ms"),
    ("INFO", "[payments] charge {uuid} captured amount={n}.{n2} EUR"),
    ("ERROR", "[db] connection pool exhausted for {db} after {ms} ms"),
    ("INFO", "[api] GET /healthz 200"),
)
WEIGHTS = np.array([30, 10, 8, 20, 8, 2, 4, 3, 1, 6, 0.5, 7.5])


def generate(path: Path, size: int, seed: int = 1) -> int:
    """Write about ``size`` bytes of log to ``path``, streamed in blocks; returns lines."""
    rng = np.random.default_rng(seed)
    probabilities = WEIGHTS / WEIGHTS.sum()
    users, tables = ("alice", "bob", "carol", "dave"), ("orders", "users", "payments")
    services, jobs, dbs = ("billing", "search", "auth"), ("cleanup", "report"), ("db-7", "db-9")
    lines = 0
    written = 0
    estimate = max(1000, size // LINE_BYTES)  # lines in all, refined after the first block
    block = min(BLOCK, estimate)
    with path.open("w", encoding="utf-8") as handle:
        while written < size:
            # timestamps spread the lines evenly over SPAN, never past END
            at = np.minimum(lines + np.arange(block), estimate - 1)
            stamps = END - SPAN + at * SPAN // estimate
            which = rng.choice(len(TEMPLATES), block, p=probabilities)
            numbers = rng.integers(1, 5000, (block, 2))
            durations = rng.integers(1, 30000, block)
            octets = rng.integers(0, 256, (block, 2))
            hexes = rng.integers(0, 2**62, (block, 2))
            picks = rng.integers(0, 12, block)
            out = []
            for i in range(block):
                level, template = TEMPLATES[which[i]]
                p = int(picks[i])
                low, high = hexes[i, 0] & 0xFFFFFFFF, hexes[i, 1] & 0xFFFFFFFFFFFF
                message = template.format(
                    n=numbers[i, 0],
                    n2=numbers[i, 1] % 100,
                    ms=durations[i],
                    user=users[p % 4],
                    ip=f"10.0.{octets[i, 0]}.{octets[i, 1]}",
                    hex=f"{hexes[i, 0]:x}",
                    uuid=f"{low:08x}-{p:04x}-4abc-8def-{high:012x}",
                    job=jobs[p % 2],
                    table=tables[p % 3],
                    svc=services[p % 3],
                    db=dbs[p % 2],
                )
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(stamps[i])))
                out.append(f"{stamp}.{p:03d}Z {level} {message}\n")
            text = "".join(out)
            handle.write(text)
            size_of_block = len(text.encode())
            if lines == 0:
                estimate = max(block, size * block // size_of_block)
            written += size_of_block
            lines += block
    return lines


def _mine(path: str, queue: Any) -> None:
    """In a fresh process: mine the file as the daemon would, report time and memory."""
    from adapters.logpatterns.index import LogPatternIndex  # noqa: PLC0415
    from detector.evaluate import required_history  # noqa: PLC0415
    from detector.rule import LogOptions, Rule  # noqa: PLC0415

    rule = Rule.model_validate(
        {
            "signal": "Bench",
            "source": "logfile",
            "path": path,
            "log": {"by": "pattern"},
            "detect": ["new_pattern", "volume"],
        }
    )
    assert rule.log is not None
    # peak RSS so far: the interpreter and its imports, before any line is read
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    index = LogPatternIndex(
        Path(path),
        LogOptions.model_validate(rule.log.model_dump()),
        step=60,
        retention=required_history(rule, 60),
        keep_all=False,
    )
    cpu, wall = time.process_time(), time.perf_counter()
    read = index.update()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    queue.put(
        {
            "lines": read,
            "parsed": index.stats["parsed"],
            "cpu_seconds": cpu,
            "wall_seconds": wall,
            "templates": len(index.miner),
            "rss_start_mb": rss_start,
            "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


def run(size: int = FULL_BYTES, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Generate ``size`` bytes of log, mine it in a fresh process, return the figures."""
    with tempfile.TemporaryDirectory(prefix="graysignal-logbench-") as directory:
        path = Path(directory) / "service.log"
        started = time.perf_counter()
        generated = generate(path, size)
        size_on_disk = path.stat().st_size
        log(
            f"generated {size_on_disk / 2**20:,.0f} MB, {generated:,} lines "
            f"in {time.perf_counter() - started:.0f} s; mining"
        )
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        process = context.Process(target=_mine, args=(str(path), queue))
        process.start()
        figures: dict[str, Any] = queue.get()
        process.join()
    per_core = figures["lines"] / figures["cpu_seconds"]
    figures.update(
        bytes=size_on_disk,
        lines_per_second_per_core=per_core,
        megabytes_per_second_per_core=size_on_disk / 2**20 / figures["cpu_seconds"],
        goal_lines_per_second=GOAL_LINES_PER_SECOND,
        goal_met=per_core >= GOAL_LINES_PER_SECOND,
    )
    log(
        f"{figures['lines']:,} lines in {figures['cpu_seconds']:.0f} s CPU: "
        f"{per_core:,.0f} lines/s/core, peak RSS {figures['rss_peak_mb']:.0f} MB"
    )
    return figures
