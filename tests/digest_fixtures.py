"""A synthetic week (plus history) with planted drifts, as rule files and CSV series.

The digest period is ISO week 2026-W47 (Mon 16 Nov to Mon 23 Nov 2026, UTC). Every
series is 100 plus seeded noise, sampled every 15 minutes for six weeks, except:

- ``CheckoutLatency`` (team payments, service checkout): +60% from Wed 18 Nov -> new;
- ``SearchErrors`` (team search): +150% from Fri 20 Nov -> new, and the largest;
- ``QueueDepth`` (team payments, service queue): +40% from Fri 13 Nov (the week
  before), still there -> still drifting for 2 weeks;
- ``MemoryUse`` (team search): +50% from Thu 12 Nov, back to normal on Tue 17 Nov ->
  recovered;
- ``DiskQuiet`` (team storage): never changes -> not in the digest;
- ``LostExporter`` reads a file that does not exist -> a blind spot.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from detector.digest import BlindSpot, Digest, DigestItem, Section
from detector.finding import Kind
from detector.periods import Period

PERIOD = Period.iso_week("2026-W47")
STEP = 900
HISTORY_WEEKS = 2
START = PERIOD.end - 6 * 7 * 86400


def _at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


# (rule, labels, [(from, to, relative change)])
PLANTED: dict[str, tuple[dict[str, str], list[tuple[int, int | None, float]]]] = {
    "CheckoutLatency": (
        {"team": "payments", "service": "checkout"},
        [(_at("2026-11-18T06:00:00"), None, 0.60)],
    ),
    "SearchErrors": ({"team": "search"}, [(_at("2026-11-20T03:00:00"), None, 1.50)]),
    "QueueDepth": (
        {"team": "payments", "service": "queue"},
        [(_at("2026-11-13T12:00:00"), None, 0.40)],
    ),
    "MemoryUse": (
        {"team": "search"},
        [(_at("2026-11-12T12:00:00"), _at("2026-11-17T12:00:00"), 0.50)],
    ),
    "DiskQuiet": ({"team": "storage"}, []),
}
DRIFTS = {"CheckoutLatency", "SearchErrors", "QueueDepth"}
RECOVERED = "MemoryUse"
BLIND = "LostExporter"


def write_series(folder: Path, name: str, changes: list[tuple[int, int | None, float]]) -> Path:
    rng = np.random.default_rng(len(name) * 7919)  # seeded: the same data every run
    times = np.arange(START, PERIOD.end + 1, STEP, dtype=np.int64)
    values = 100.0 + rng.normal(0.0, 1.0, times.size)
    for begin, end, change in changes:
        mask = (times >= begin) & ((times < end) if end is not None else True)
        values[mask] *= 1.0 + change
    path = folder / f"{name}.csv"
    lines = ["timestamp,value"] + [f"{t},{v:.4f}" for t, v in zip(times, values, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_rules(folder: Path) -> Path:
    """The CSVs and one rule file watching them; returns the rule file."""
    rules = ["groups:", "  - name: synthetic", "    interval: 15m", "    rules:"]
    for name, (labels, changes) in PLANTED.items():
        path = write_series(folder, name, changes)
        rules += _rule(name, str(path), labels)
    rules += _rule(BLIND, str(folder / "missing.csv"), {"team": "storage"})
    file = folder / "rules.yaml"
    file.write_text("\n".join(rules) + "\n")
    return file


def _rule(name: str, path: str, labels: dict[str, str]) -> list[str]:
    shown = ", ".join(f"{k}: {v}" for k, v in labels.items())
    return [
        f"      - signal: {name}",
        "        source: file",
        f"        path: {path}",
        "        detect: [level_shift]",
        "        window: 14d",
        "        seasonality: none",
        "        for: 1h",
        f"        labels: {{{shown}}}",
    ]


# -- built digests (no evaluation) ---------------------------------------------------------


def make_item(index: int, section: Section, *, explanation_chars: int = 180) -> DigestItem:
    """An item of rule ``Rule{index}`` on its own pod, with a long-enough explanation."""
    sentence = f"latency of pod-{index} rose {10 + index}% since Wed 18 Nov 06:00 UTC. "
    explanation = (sentence * (explanation_chars // len(sentence) + 1))[:explanation_chars]
    labels = {"pod": f"pod-{index}"}
    team = (("team", f"team-{index % 3}"),)
    return DigestItem(
        key=f"key-{index:04d}",
        section=section,
        rule=f"Rule{index}",
        group="many",
        kind=Kind.LEVEL_SHIFT,
        labels=labels,
        alert_labels={**labels, "team": team[0][1], "alertname": f"Rule{index}"},
        team=team,
        title=f"Rule{index} · pod=pod-{index}",
        explanation=explanation,
        onset=PERIOD.start + 3600 * index,
        first_firing=PERIOD.start + 3600 * (index + 1),
        change=0.1 + index / 100,
        score=5.0 + index,
        weeks=1,
        weeks_at_least=False,
        resolved_at=None,
        sparkline="▁▂▃▄▅▆▇█" * 3 + "▁▂▃▄",
        link=f"https://grafana.example/explore?item={index}&a=<b>",
    )


def big_digest(count: int = 120, *, explanation_chars: int = 180) -> Digest:
    """A long digest: ``count`` items spread over the sections, two blind spots."""
    sections = [Section.NEW, Section.STILL, Section.RECOVERED, Section.ACKNOWLEDGED]
    items = tuple(
        make_item(i, sections[i % len(sections)], explanation_chars=explanation_chars)
        for i in range(count)
    )
    ordered = tuple(sorted(items, key=lambda i: (sections.index(i.section), i.team, i.key)))
    return Digest(
        period=PERIOD,
        items=ordered,
        blind_spots=(
            BlindSpot("LostExporter", "many", ("could not be evaluated: file not found",)),
            BlindSpot("Empty", "many", ("returned no data",)),
        ),
        group_labels=("team", "service"),
        history_weeks=4,
        rules=count + 2,
    )
