"""The words every rendering of a digest shares, so Markdown, Slack and JSON agree."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from adapters.notify.payload import relative_change_text
from detector.digest import FIRING_SCORE, Digest, DigestItem, RollUp, Section

__all__ = [
    "BLIND_SPOT_ICON",
    "SECTION_ICONS",
    "blind_spot_heading",
    "counts_line",
    "evidence_text",
    "human_span",
    "item_facts",
    "quiet_line",
    "rollup_head",
    "rollup_tail",
    "sparkline_text",
    "team_text",
    "title_line",
    "when",
]

SECTION_ICONS = {
    Section.NEW: "🆕",
    Section.STILL: "📈",
    Section.RECOVERED: "✅",
    Section.ACKNOWLEDGED: "🔕",
}
BLIND_SPOT_ICON = "🙈"
NO_TEAM = "no team or service label"


def when(ts: int) -> str:
    """``Fri 07 Feb 02:40 UTC``: the week is known from the heading, the day is enough."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%a %d %b %H:%M UTC")


def title_line(digest: Digest) -> str:
    """``Drift digest 2026-W47`` for a week, ``Drift digest Sat 1 – Sat 8 Feb 2014`` else."""
    period = digest.period
    scope = f" ({digest.scope})" if digest.scope else ""
    if period.is_iso_week:
        return f"Drift digest {period.label}{scope}"
    return f"Drift digest {human_span(period.start, period.end)}{scope}"


def human_span(start: int, end: int) -> str:
    """``Sat 1 – Sat 8 Feb 2014``, ``Fri 31 Jan – Fri 7 Feb 2014``, with the years if two."""
    first = datetime.fromtimestamp(start, tz=UTC)
    last = datetime.fromtimestamp(end, tz=UTC)
    tail = f"{last:%a} {last.day} {last:%b %Y}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first:%a} {first.day} – {tail}"
    if first.year == last.year:
        return f"{first:%a} {first.day} {first:%b} – {tail}"
    return f"{first:%a} {first.day} {first:%b %Y} – {tail}"


def counts_line(digest: Digest) -> str:
    """``2 new · 1 still drifting · 1 blind spot``: the sections that hold something."""
    counts = digest.counts()
    spots = counts["blind_spots"]
    parts = [
        f"{counts[Section.NEW.value]} new",
        f"{counts[Section.STILL.value]} still drifting",
        f"{counts[Section.RECOVERED.value]} recovered",
        f"{counts[Section.ACKNOWLEDGED.value]} acknowledged or expected",
        f"{spots} blind spot{'s' if spots != 1 else ''}",
    ]
    shown = [part for part in parts if not part.startswith("0 ")]
    return " · ".join(shown) if shown else "nothing drifted"


def evidence_text(score: float) -> str:
    """The score in words: how far past what makes a detector report (about 5)."""
    if score < 2 * FIRING_SCORE:
        return "faint evidence"
    if score < 4 * FIRING_SCORE:
        return "clear evidence"
    if score < 20 * FIRING_SCORE:
        return "strong evidence"
    return "overwhelming evidence"


def sparkline_text(item: DigestItem) -> str:
    """The sparkline with the level at its start and end: ``▇▇▆▃▂▁ 89.4→22.1``."""
    if not item.sparkline:
        return ""
    if item.sparkline_ends is None:
        return f"`{item.sparkline}`"
    first, last = item.sparkline_ends
    return f"`{item.sparkline}` {first:.3g}→{last:.3g}"


def team_text(team: tuple[tuple[str, str], ...]) -> str:
    """``team=payments, service=checkout``, or a plain phrase when no label is set."""
    return ", ".join(f"{k}={v}" for k, v in team) if team else NO_TEAM


def weeks_text(item: DigestItem) -> str | None:
    if item.section is not Section.STILL and not (
        item.section is Section.ACKNOWLEDGED and item.weeks > 1
    ):
        return None
    plus = "+" if item.weeks_at_least else ""
    return f"drifting for {item.weeks}{plus} weeks"


def item_facts(item: DigestItem) -> list[str]:
    """Short facts after the explanation: change, onset, weeks, score, recovery, told."""
    facts = [relative_change_text(item.change), f"{item.kind.value}"]
    said = datetime.fromtimestamp(item.onset, tz=UTC).strftime("%Y-%m-%d %H:%M")
    if said not in item.explanation:  # the sentence usually says "since <onset>" already
        facts.append(f"onset {when(item.onset)}")
    weeks = weeks_text(item)
    if weeks:
        facts.append(weeks)
    if item.resolved_at is not None and item.section is Section.RECOVERED:
        facts.append(f"recovered {when(item.resolved_at)}")
    if math.isfinite(item.score):
        facts.append(evidence_text(item.score))
    if item.told:
        facts.append("alerted")
    return facts


def quiet_line(digest: Digest) -> str | None:
    """``Watched and quiet: A, B`` (rules with data that saw no drift), or ``None``."""
    if not digest.quiet:
        return None
    return f"Watched and quiet ({len(digest.quiet)}): " + ", ".join(digest.quiet)


def rollup_head(rollup: RollUp) -> str:
    """``60 series drifting; the 3 largest:`` after the rule's name."""
    return f"{rollup.count} series; the {len(rollup.shown)} largest:"


def rollup_tail(rollup: RollUp) -> str:
    """``and 57 more series of RuleName (+3% to +28%)``."""
    span = rollup.change_range()
    changes = ""
    if span is not None:
        low, high = (relative_change_text(v) for v in span)
        changes = f" ({low})" if low == high else f" ({low} to {high})"
    return f"and {len(rollup.hidden)} more series of {rollup.rule}{changes}"


def blind_spot_heading(count: int) -> str:
    return f"{BLIND_SPOT_ICON} Blind spots ({count})"


QUIET_WEEK = "Nothing drifted, and every rule had data to judge. A quiet week."
"""What a digest with no item and no blind spot says, in every rendering."""
