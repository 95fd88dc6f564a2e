"""``python -m benchmarks``: NAB, lead time, throughput and log pattern mining in one run,
one table, one JSON.

``make bench`` runs this. ``--quick`` runs a subset (12 NAB files, 20 scenarios, a
1,000-series cycle and 10 naive Pelt steps) for a check in a couple of minutes; the
figures in BENCHMARKS.md come from the full run. Results: NAB result files under
``<results>/nab/`` and every figure in ``<results>/latest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks import fleet, leadtime, logpatterns, report, throughput
from benchmarks.nab.causal import CONFIGURATIONS, QUICK_FILES, run_configurations
from benchmarks.nab.corpus import load_corpus

PARTS = ("nab", "leadtime", "throughput", "logpatterns", "fleet")
DEFAULT_SEED = 20_240_601
FULL_SCENARIOS = 210
QUICK_SCENARIOS = 20
TABLE_WIDTH = 160
DEFAULT_RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="graysignal benchmarks: NAB, lead time against today's rules, throughput.",
    )
    parser.add_argument("--quick", action="store_true", help="a subset, for a quick check")
    parser.add_argument(
        "--only", nargs="+", choices=PARTS, default=list(PARTS), help="run only these parts"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes (default: all cores)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="lead-time scenario seed")
    parser.add_argument(
        "--scenarios",
        type=int,
        default=None,
        help=f"lead-time scenarios (default {FULL_SCENARIOS}, --quick {QUICK_SCENARIOS})",
    )
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="output directory")
    parser.add_argument(
        "--nab-root", type=Path, default=None, help="NAB corpus root (default: shared dataset)"
    )
    parser.add_argument(
        "--fleet-series",
        type=int,
        default=None,
        help="fleet replay: series (default 200, --quick 50; 10,000 takes hours on 2 cores)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(stderr=True)
    out = Console()
    if out.width < TABLE_WIDTH:  # a pipe or a narrow terminal: keep the table readable
        out = Console(width=TABLE_WIDTH)
    started = time.perf_counter()
    doc: dict[str, Any] = {
        "command": (
            "python -m benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv)
        ).strip(),
        "quick": args.quick,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": report.machine(),
        "processes": args.processes,
        "seconds": {},
    }
    args.results.mkdir(parents=True, exist_ok=True)

    if "nab" in args.only:
        t0 = time.perf_counter()
        names = QUICK_FILES if args.quick else None
        corpus = load_corpus(args.nab_root, names=names)
        console.log(
            f"NAB: {len(corpus.names)} files x {len(CONFIGURATIONS)} configurations, "
            f"{args.processes} processes"
        )
        results = run_configurations(
            corpus, CONFIGURATIONS, args.processes, results_dir=args.results / "nab"
        )
        doc["nab"] = report.nab_json(results, len(corpus.names))
        doc["seconds"]["nab"] = time.perf_counter() - t0

    if "leadtime" in args.only:
        t0 = time.perf_counter()
        count = args.scenarios or (QUICK_SCENARIOS if args.quick else FULL_SCENARIOS)
        pool = leadtime.load_pool(root=args.nab_root)
        scenarios = leadtime.generate(count, args.seed, pool)
        console.log(f"lead time: {count} scenarios (seed {args.seed})")
        result = leadtime.run(scenarios, processes=args.processes)
        doc["leadtime"] = report.leadtime_json(result, args.seed)
        doc["seconds"]["leadtime"] = time.perf_counter() - t0

    if "throughput" in args.only:
        t0 = time.perf_counter()
        plan = (
            throughput.ThroughputPlan.quick(args.processes)
            if args.quick
            else throughput.ThroughputPlan(processes=args.processes)
        )
        doc["throughput"] = throughput.run(plan, log=lambda m: console.log(f"throughput: {m}"))
        doc["seconds"]["throughput"] = time.perf_counter() - t0

    if "logpatterns" in args.only:
        t0 = time.perf_counter()
        size = logpatterns.QUICK_BYTES if args.quick else logpatterns.FULL_BYTES
        doc["logpatterns"] = logpatterns.run(size, log=lambda m: console.log(f"log patterns: {m}"))
        doc["seconds"]["logpatterns"] = time.perf_counter() - t0

    if "fleet" in args.only:
        t0 = time.perf_counter()
        fleet_plan = fleet.FleetPlan.quick() if args.quick else fleet.FleetPlan()
        if args.fleet_series is not None:
            fleet_plan = fleet.FleetPlan(series=args.fleet_series)
        doc["fleet"] = fleet.run(fleet_plan, log=lambda m: console.log(f"fleet: {m}"))
        doc["seconds"]["fleet"] = time.perf_counter() - t0

    doc["seconds"]["total"] = time.perf_counter() - started
    path = args.results / "latest.json"
    path.write_text(json.dumps(doc, indent=1, default=_json_default) + "\n")
    out.print(report.build_table(doc))
    timings = ", ".join(f"{k} {v:.0f} s" for k, v in doc["seconds"].items())
    out.print(f"wall time: {timings}; results in {path}")
    return 0


def _json_default(value: object) -> object:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


if __name__ == "__main__":
    sys.exit(main())
