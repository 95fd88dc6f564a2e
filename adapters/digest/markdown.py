"""The digest as Markdown, for email, wikis and ``$GITHUB_STEP_SUMMARY``."""

from __future__ import annotations

from adapters.digest.wording import (
    QUIET_WEEK,
    SECTION_ICONS,
    blind_spot_heading,
    counts_line,
    item_facts,
    quiet_line,
    rollup_head,
    rollup_tail,
    sparkline_text,
    team_text,
    title_line,
)
from detector.digest import Digest, DigestItem, RollUp, Section

__all__ = ["render_markdown"]


def _cell(text: str) -> str:
    """Markdown-safe inline text: no stray emphasis or table pipes from label values."""
    return text.replace("|", "\\|").replace("*", "\\*")


def _item(item: DigestItem, indent: str = "") -> list[str]:
    link = f" · [graph]({item.link})" if item.link else ""
    lines = [f"{indent}- **{_cell(item.title)}** — {_cell(item.explanation)}"]
    spark = f"{sparkline_text(item)} · " if item.sparkline else ""
    lines.append(f"{indent}  {spark}{' · '.join(item_facts(item))}{link}")
    if item.suppression:
        lines.append(f"{indent}  *{_cell(item.suppression)}*")
    return lines


def _entry(entry: DigestItem | RollUp) -> list[str]:
    """An item, or a rule's many items rolled up: the largest nested, the rest counted."""
    if isinstance(entry, DigestItem):
        return _item(entry)
    lines = [f"- **{_cell(entry.rule)}** — {_cell(rollup_head(entry))}"]
    for item in entry.shown:
        lines += _item(item, indent="  ")
    lines.append(f"  - {_cell(rollup_tail(entry))}")
    return lines


def render_markdown(digest: Digest) -> str:
    """Sections in reading order, items grouped by team labels, best first."""
    lines = [
        f"## {title_line(digest)}",
        "",
        f"{digest.period.describe()} · {digest.rules} rules · {counts_line(digest)}",
        "",
    ]
    if not digest.items and not digest.blind_spots:
        lines += [QUIET_WEEK, ""]
    for section in Section:
        count = len(digest.section(section))
        if not count:
            continue
        lines += [f"### {SECTION_ICONS[section]} {section.heading} ({count})", ""]
        for team, entries in digest.rolled_up(section):
            lines.append(f"**{_cell(team_text(team))}**")
            lines.append("")
            for entry in entries:
                lines += _entry(entry)
            lines.append("")
    if digest.blind_spots:
        lines += [f"### {blind_spot_heading(len(digest.blind_spots))}", ""]
        for spot in digest.blind_spots:
            lines.append(
                f"- **{_cell(spot.rule)}** ({_cell(spot.group)}): "
                + "; ".join(_cell(r) for r in spot.reasons)
            )
        lines.append("")
    quiet = quiet_line(digest)
    if quiet:
        lines += [_cell(quiet), ""]
    return "\n".join(lines).rstrip() + "\n"
