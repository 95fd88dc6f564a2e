"""Turn benchmark results into one table and one JSON document.

The JSON (``benchmarks/results/latest.json``) keeps every figure the table shows and
the detail behind it (per-category NAB counts, per-kind recall, every scenario's
bookkeeping and alerts), so a reader can check a summary without re-running it.
"""

from __future__ import annotations

import math
import os
import platform
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.table import Table

from benchmarks.leadtime import LABELS, LeadTimeResult
from benchmarks.nab.causal import ConfigurationResult, category_breakdown

PUBLISHED_STANDARD: tuple[tuple[str, float], ...] = (
    ("ARTime", 74.9),
    ("Numenta HTM", 70.5),
    ("CAD OSE", 69.9),
    ("earthgecko Skyline", 58.2),
    ("KNN CAD", 58.0),
    ("Relative Entropy", 54.6),
    ("Random Cut Forest", 51.7),
    ("Twitter ADVec", 47.1),
    ("Windowed Gaussian", 39.6),
    ("Etsy Skyline", 35.7),
    ("Bayesian changepoint", 17.7),
)
"""NAB's published scoreboard (standard profile) as given in the benchmark issue."""

NAB_GOAL = 50.0
CYCLE_GOAL_SERIES = 10_000
CYCLE_GOAL_CPU_SECONDS = 10.0
"""Detection v2's goal: a steady-state cycle over 10,000 series in under 10 s of CPU..."""
CYCLE_GOAL_MB = 1024
"""...and under 1 GiB."""
REPLAY_GOAL_SECONDS = 0.5
EARLINESS_REFERENCE = "predict_linear"
FALSE_ALARM_FACTOR = 0.1
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def machine() -> dict[str, Any]:
    """The facts BENCHMARKS.md records about the machine a run was made on."""
    cpu = "unknown"
    memory = "unknown"
    try:
        text = Path("/proc/cpuinfo").read_text()
        found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
        mem = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
        memory = f"{int(mem.group(1)) / 1024**2:.1f} GiB" if mem else memory
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


# --------------------------------------------------------------------------- JSON


def nab_json(results: Sequence[ConfigurationResult], files: int) -> dict[str, Any]:
    configurations = []
    for result in results:
        profiles = {
            name: {
                "normalized": score.normalized,
                "threshold": score.threshold,
                "raw": score.raw,
                "windows_detected": score.windows_detected,
                "windows_missed": score.windows_missed,
                "tp_rows": score.tp,
                "fp_rows": score.fp,
            }
            for name, score in result.scores.items()
        }
        configurations.append(
            {
                "name": result.configuration.name,
                "label": result.configuration.label,
                "default": result.configuration.default,
                "rule_fields": dict(result.configuration.fields),
                "cpu_seconds": result.cpu_seconds,
                "profiles": profiles,
                "standard_by_category": category_breakdown(result.scores["standard"]),
                "standard_by_file": {
                    f.name: {
                        "raw": f.raw,
                        "windows_detected": f.windows_detected,
                        "windows_missed": f.windows_missed,
                        "fp_rows": f.fp,
                    }
                    for f in result.scores["standard"].files
                },
            }
        )
    default = next(r for r in results if r.configuration.default)
    standard = default.scores["standard"].normalized
    return {
        "files": files,
        "configurations": configurations,
        "published_standard": dict(PUBLISHED_STANDARD),
        "goal": {
            "standard_at_least": NAB_GOAL,
            "default_standard": standard,
            "met": standard >= NAB_GOAL,
        },
    }


def leadtime_json(result: LeadTimeResult, seed: int) -> dict[str, Any]:
    summaries = {s.detector: s for s in result.summaries}
    out: dict[str, Any] = {
        "seed": seed,
        "scenarios": len(result.scenarios),
        "injected": sum(1 for s in result.scenarios if s.timeline.injected),
        "controls": sum(1 for s in result.scenarios if not s.timeline.injected),
        "summaries": [
            {**asdict(s), "label": LABELS.get(s.detector, s.detector)} for s in result.summaries
        ],
        "scenario_list": [
            {
                "index": s.index,
                "kind": s.kind,
                "base": s.base,
                "start": int(s.timestamps[0]),
                "eval_start": s.timeline.eval_start,
                "onset": s.timeline.onset,
                "incident": s.timeline.incident,
                "time_to_incident": s.time_to_incident,
                "slo": s.slo,
                "alerts": {d: result.alerts[d][s.index] for d in result.alerts},
            }
            for s in result.scenarios
        ],
    }
    if "graysignal" in summaries and EARLINESS_REFERENCE in summaries:
        ours, ref = summaries["graysignal"], summaries[EARLINESS_REFERENCE]
        allowed = FALSE_ALARM_FACTOR * ref.false_alarms_per_100_days
        out["goal"] = {
            "earliness_at_least": ref.mean_earliness,
            "false_alarms_per_100_days_at_most": allowed,
            "earliness": ours.mean_earliness,
            "false_alarms_per_100_days": ours.false_alarms_per_100_days,
            "earliness_met": ours.mean_earliness >= ref.mean_earliness,
            "false_alarms_met": ours.false_alarms_per_100_days <= allowed,
        }
        out["goal"]["met"] = out["goal"]["earliness_met"] and out["goal"]["false_alarms_met"]
    return out


# --------------------------------------------------------------------------- table


def _hours(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    return f"{seconds / 3600:.1f} h"


def _mark(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.2f} s"


def build_table(report: Mapping[str, Any]) -> Table:
    """Every headline figure of a run in one table, one section per benchmark."""
    table = Table(title="graysignal benchmarks", show_lines=False, header_style="bold")
    table.add_column("Benchmark", overflow="fold", max_width=10)
    table.add_column("Subject", overflow="fold")
    for column in ("A", "B", "C", "D"):
        table.add_column(column, overflow="fold")
    if "nab" in report:
        _nab_rows(table, report["nab"])
    if "leadtime" in report:
        table.add_section()
        _leadtime_rows(table, report["leadtime"])
    if "throughput" in report:
        table.add_section()
        _throughput_rows(table, report["throughput"])
    if "logpatterns" in report:
        table.add_section()
        _logpattern_rows(table, report["logpatterns"])
    if "fleet" in report:
        table.add_section()
        _fleet_rows(table, report["fleet"])
    goals = _goal_rows(report)
    if goals:
        table.add_section()
        for row in goals:
            table.add_row(*row)
    return table


def _nab_rows(table: Table, nab: Mapping[str, Any]) -> None:
    table.add_row(
        "NAB",
        f"[dim]detector ({nab['files']} files; * = default)[/dim]",
        "[dim]standard[/dim]",
        "[dim]reward_low_FP[/dim]",
        "[dim]reward_low_FN[/dim]",
        "[dim]windows hit / FP rows (std)[/dim]",
    )
    for config in nab["configurations"]:
        p = config["profiles"]
        std = p["standard"]
        mark = " *" if config["default"] else ""
        table.add_row(
            "",
            f"graysignal: {config['label']}{mark}",
            f"{std['normalized']:.1f}",
            f"{p['reward_low_FP_rate']['normalized']:.1f}",
            f"{p['reward_low_FN_rate']['normalized']:.1f}",
            f"{std['windows_detected']}/{std['windows_detected'] + std['windows_missed']}, "
            f"{std['fp_rows']} FP",
        )
    for name, value in PUBLISHED_STANDARD:
        table.add_row("", f"[dim]{name} (published)[/dim]", f"{value:.1f}", "", "", "")


def _leadtime_rows(table: Table, lead: Mapping[str, Any]) -> None:
    table.add_row(
        "Lead time",
        f"[dim]detector ({lead['injected']} injected, {lead['controls']} controls)[/dim]",
        "[dim]recall[/dim]",
        "[dim]median lead[/dim]",
        "[dim]mean earliness[/dim]",
        "[dim]false alarms / 100 series-days[/dim]",
    )
    for s in lead["summaries"]:
        table.add_row(
            "",
            s["label"],
            f"{s['recall']:.0%} ({s['detected']}/{s['injected']})",
            _hours(s["median_lead_s"]),
            f"{s['mean_earliness']:.2f}",
            f"{s['false_alarms_per_100_days']:.1f} ({s['false_alarms']} in "
            f"{s['exposure_days']:.0f} d)",
        )


def _throughput_rows(table: Table, tp: Mapping[str, Any]) -> None:
    table.add_row(
        "Throughput",
        "[dim]measurement[/dim]",
        "[dim]time[/dim]",
        "[dim]rate[/dim]",
        "[dim]peak RSS (at start)[/dim]",
        "[dim]note[/dim]",
    )
    for r in tp["replay"]:
        table.add_row(
            "",
            f"replay 14 d @ 1 min, every minute ({r['series']})",
            f"{r['seconds']:.2f} s (best of {len(r.get('all_seconds', [0]))})",
            f"{r['samples_per_second']:,.0f} samples/s",
            f"{r['rss_peak_mb']:.0f} MB ({r['rss_start_mb']:.0f})",
            f"{r['evaluations']:,} evaluations, {len(r['firings'])} firing(s)",
        )
    warm = tp["warm_up"]
    table.add_row(
        "",
        f"cold warm-up: {warm['series']:,} series x {warm['days']} d @ 1 min, one batch",
        f"{warm['cpu_seconds']:.1f} s CPU",
        f"{warm['ms_per_series']:.0f} ms CPU/series",
        f"{warm['rss_peak_mb']:.0f} MB ({warm['rss_start_mb']:.0f})",
        f"state {warm['state_bytes_per_series'] / 1000:.0f} KB/series",
    )
    for r in tp["cycle"]:
        table.add_row(
            "",
            f"daemon cycle, warm state, one new sample x {r['series']:,} series",
            f"{r['cpu_median_s']:.2f} s CPU median (max {r['cpu_max_s']:.1f} s)",
            f"mean {r['cpu_mean_s']:.2f} s CPU over {r['cycles']} cycles",
            _cycle_memory(r),
            f"state {r['state_mb']:,.0f} MB, {r['findings_last_cycle']:,} findings",
        )
    pelt = tp["pelt"]
    table.add_row(
        "",
        f"naive Pelt(l2) on the 7-day window at every step ({pelt['steps_run']} steps timed)",
        f"{pelt['seconds_per_step']:.2f} s/step",
        f"~{_duration(pelt['extrapolated_seconds'])} for 20,160 steps (extrapolated)",
        f"{pelt['rss_peak_mb']:.0f} MB ({pelt['rss_start_mb']:.0f})",
        f"{pelt['speedup_vs_replay']:,.0f}x the creep replay",
    )


def _cycle_peak(r: Mapping[str, Any]) -> float:
    """The cycles' own peak RSS where it was measured apart from the warm-up."""
    peak = r.get("rss_peak_cycles_mb")
    return float(peak if peak is not None else r["rss_peak_mb"])


def _cycle_memory(r: Mapping[str, Any]) -> str:
    if r.get("rss_peak_cycles_mb") is None:
        return f"{r['rss_peak_mb']:.0f} MB peak incl. warm-up ({r['rss_start_mb']:.0f})"
    peak, before = r["rss_peak_cycles_mb"], r["rss_before_cycles_mb"]
    return f"{peak:.0f} MB peak in cycles ({before:.0f} before)"


def _logpattern_rows(table: Table, lp: Mapping[str, Any]) -> None:
    table.add_row(
        "Log patterns",
        f"mining {lp['bytes'] / 2**20:,.0f} MB streamed from disk ({lp['lines']:,} lines)",
        f"{lp['cpu_seconds']:.0f} s CPU",
        f"{lp['lines_per_second_per_core']:,.0f} lines/s/core",
        f"{lp['rss_peak_mb']:.0f} MB peak RSS ({lp['rss_start_mb']:.0f} after imports)",
        f"{lp['templates']} templates",
    )


def _goal_rows(report: Mapping[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    rows: list[tuple[str, str, str, str, str, str]] = []
    if "nab" in report:
        goal = report["nab"]["goal"]
        rows.append(
            (
                "Goals",
                f"NAB standard >= {goal['standard_at_least']:.0f} (default rule)",
                f"{goal['default_standard']:.1f}",
                _mark(goal["met"]),
                "",
                "",
            )
        )
    if "leadtime" in report and "goal" in report["leadtime"]:
        goal = report["leadtime"]["goal"]
        rows.append(
            (
                "" if rows else "Goals",
                "earliness >= predict_linear's, false alarms <= 1/10 of its rate",
                f"{goal['earliness']:.2f} vs >= {goal['earliness_at_least']:.2f}",
                _mark(goal["earliness_met"]),
                f"{goal['false_alarms_per_100_days']:.1f} vs <= "
                f"{goal['false_alarms_per_100_days_at_most']:.1f}",
                _mark(goal["false_alarms_met"]),
            )
        )
    if "throughput" in report:
        creep = next(r for r in report["throughput"]["replay"] if r["series"] == "creep")
        slowest = max(r["seconds"] for r in report["throughput"]["replay"])
        rows.append(
            (
                "" if rows else "Goals",
                f"14-day one-series replay < {REPLAY_GOAL_SECONDS} s",
                f"{slowest:.2f} s (creep {creep['seconds']:.2f} s)",
                _mark(slowest < REPLAY_GOAL_SECONDS),
                "",
                "",
            )
        )
    for r in report.get("throughput", {}).get("cycle", []):
        if r["series"] != CYCLE_GOAL_SERIES:
            continue
        rows.append(
            (
                "" if rows else "Goals",
                f"cycle over {CYCLE_GOAL_SERIES:,} series < {CYCLE_GOAL_CPU_SECONDS:.0f} s CPU, "
                f"< {CYCLE_GOAL_MB:,} MB",
                f"{r['cpu_mean_s']:.2f} s mean (max {r['cpu_max_s']:.1f} s)",
                _mark(r["cpu_max_s"] < CYCLE_GOAL_CPU_SECONDS),
                f"state {r['state_mb']:,.0f} MB; {_cycle_memory(r)}",
                _mark(_cycle_peak(r) < CYCLE_GOAL_MB),
            )
        )
    if "logpatterns" in report:
        lp = report["logpatterns"]
        rows.append(
            (
                "" if rows else "Goals",
                f"log pattern mining >= {lp['goal_lines_per_second']:,} lines/s/core",
                f"{lp['lines_per_second_per_core']:,.0f}",
                _mark(lp["goal_met"]),
                "",
                "",
            )
        )
    return rows


def _fleet_rows(table: Table, fl: Mapping[str, Any]) -> None:
    """One process against a local Dask cluster (benchmarks/fleet.py)."""
    one, cluster = fl["one_process"], fl["cluster"]
    subject = f"replay {fl['series']:,} series x {fl['days']} d @ 1 min"
    table.add_row(
        "Fleet",
        f"{subject}, one process",
        f"{one['seconds']:.0f} s wall",
        f"{one['cpu_seconds']:.0f} s CPU ({fl['one_process_cpu_seconds_per_series']:.2f} s/series)",
        f"{one['rss_peak_mb']:.0f} MB peak RSS",
        f"{one['firings']:,} firings",
    )
    workers = ", ".join(
        f"{w['cpu_seconds']:.0f} s CPU / {w['rss_peak_mb']:.0f} MB" for w in cluster["workers"]
    )
    table.add_row(
        "",
        f"{subject}, {fl['workers']} Dask workers",
        f"{cluster['seconds']:.0f} s wall (x{fl['scaling']:.2f})",
        f"per worker: {workers}",
        f"{fl['cpu_seconds_per_series']:.2f} s CPU/series; 100k: "
        f"{fl['cpu_hours_for_100k_series']:.0f} CPU-h",
        "same firings" if fl["same_firings"] else "FIRINGS DIFFER",
    )
