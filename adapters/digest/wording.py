"""The words every rendering of a digest shares, so Markdown, Slack and JSON agree."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from adapters.notify.payload import relative_change_text
from detector.digest import Digest, DigestItem, Section

__all__ = [
    "BLIND_SPOT_ICON",
    "SECTION_ICONS",
    "blind_spot_heading",
    "counts_line",
    "item_facts",
    "quiet_line",
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
    return f"Drift digest {digest.period.label}"


def counts_line(digest: Digest) -> str:
    """``2 new · 1 still drifting · 1 recovered · 0 acknowledged · 1 blind spot``."""
    counts = digest.counts()
    spots = counts["blind_spots"]
    return " · ".join(
        [
            f"{counts[Section.NEW.value]} new",
            f"{counts[Section.STILL.value]} still drifting",
            f"{counts[Section.RECOVERED.value]} recovered",
            f"{counts[Section.ACKNOWLEDGED.value]} acknowledged or expected",
            f"{spots} blind spot{'s' if spots != 1 else ''}",
        ]
    )


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
    facts = [relative_change_text(item.change), f"{item.kind.value}", f"onset {when(item.onset)}"]
    weeks = weeks_text(item)
    if weeks:
        facts.append(weeks)
    if item.resolved_at is not None and item.section is Section.RECOVERED:
        facts.append(f"recovered {when(item.resolved_at)}")
    if math.isfinite(item.score):
        facts.append(f"score {item.score:.1f}")
    if item.told:
        facts.append("alerted")
    return facts


def quiet_line(digest: Digest) -> str | None:
    """``Watched and quiet: A, B`` (rules with data that saw no drift), or ``None``."""
    if not digest.quiet:
        return None
    return f"Watched and quiet ({len(digest.quiet)}): " + ", ".join(digest.quiet)


def blind_spot_heading(count: int) -> str:
    return f"{BLIND_SPOT_ICON} Blind spots ({count})"
