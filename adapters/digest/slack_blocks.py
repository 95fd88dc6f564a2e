"""The digest as Slack Block Kit messages that read well on a phone and fit Slack's limits.

Layout: a header with the period, a context line with the counts, then per section a
bold heading, per team a context line, and per item one section block (title, the
explanation, then the week's sparkline and the facts, and the link). Blind spots last.

Slack's limits (Block Kit reference): at most :data:`MAX_BLOCKS` blocks per message,
:data:`TEXT_LIMIT` characters per text field, header text :data:`HEADER_LIMIT`. Slack
also rejects messages whose blocks hold much more than about 13,000 characters in total
(``msg_blocks_too_long``, not in the reference), so a message carries at most
:data:`MESSAGE_CHARS`. Nothing is cut to fit: a long text is split over several
section blocks at line breaks, and a long digest over several messages, each starting
with a "part i of n" line; a heading never ends a message without its first item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from adapters.digest.wording import (
    SECTION_ICONS,
    blind_spot_heading,
    counts_line,
    item_facts,
    quiet_line,
    team_text,
    title_line,
)
from adapters.notify.slack import HEADER_LIMIT, TEXT_LIMIT, escape_mrkdwn
from detector.digest import BlindSpot, Digest, DigestItem, Section

__all__ = ["MAX_BLOCKS", "MESSAGE_CHARS", "slack_messages", "split_text"]

MAX_BLOCKS: Final = 50
MESSAGE_CHARS: Final = 12_000
Block = dict[str, Any]


@dataclass(frozen=True)
class _Unit:
    """Blocks that belong together; a ``heading`` unit must be followed in its message.

    ``where`` names the section and group of an item, repeated ("continued") when a new
    part starts in the middle of them, so every part reads on its own.
    """

    blocks: tuple[Block, ...]
    heading: bool = False
    where: str | None = None

    @property
    def chars(self) -> int:
        return sum(_block_chars(b) for b in self.blocks)


def _block_chars(block: Block) -> int:
    if "text" in block:
        return len(block["text"]["text"])
    return sum(len(e["text"]) for e in block.get("elements", []))


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at line breaks where possible."""
    pieces: list[str] = []
    current = ""
    for whole in text.split("\n"):
        line = whole
        while len(line) > limit:  # one line longer than a block: cut it, nothing is lost
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current or not pieces:
        pieces.append(current)
    return pieces


def _sections(text: str) -> tuple[Block, ...]:
    return tuple({"type": "section", "text": _mrkdwn(piece)} for piece in split_text(text))


def _context(text: str) -> Block:
    return {"type": "context", "elements": [_mrkdwn(text[:TEXT_LIMIT])]}


def _item_text(item: DigestItem) -> str:
    lines = [f"*{escape_mrkdwn(item.title)}*", escape_mrkdwn(item.explanation)]
    facts = " · ".join(escape_mrkdwn(f) for f in item_facts(item))
    spark = f"`{item.sparkline}`  " if item.sparkline else ""
    link = f"  <{escape_mrkdwn(item.link)}|graph>" if item.link else ""
    lines.append(f"{spark}{facts}{link}")
    if item.suppression:
        lines.append(f"_{escape_mrkdwn(item.suppression)}_")
    return "\n".join(lines)


def _blind_spot_text(spot: BlindSpot) -> str:
    reasons = "; ".join(escape_mrkdwn(r) for r in spot.reasons)
    return f"*{escape_mrkdwn(spot.rule)}* ({escape_mrkdwn(spot.group)}): {reasons}"


def _units(digest: Digest) -> list[_Unit]:
    units: list[_Unit] = []
    for section in Section:
        grouped = digest.grouped(section)
        if not grouped:
            continue
        count = sum(len(items) for _, items in grouped)
        heading = f"*{SECTION_ICONS[section]} {section.heading} ({count})*"
        units.append(
            _Unit(({"type": "divider"}, {"type": "section", "text": _mrkdwn(heading)}), True)
        )
        for team, items in grouped:
            group = escape_mrkdwn(team_text(team))
            title = f"{SECTION_ICONS[section]} {section.heading}"
            units.append(_Unit((_context(group),), heading=True, where=title))
            where = f"{title} · {group}"
            units.extend(_Unit(_sections(_item_text(item)), where=where) for item in items)
    if digest.blind_spots:
        title = blind_spot_heading(len(digest.blind_spots))
        units.append(
            _Unit(({"type": "divider"}, {"type": "section", "text": _mrkdwn(f"*{title}*")}), True)
        )
        units.extend(_Unit(_sections(_blind_spot_text(s)), where=title) for s in digest.blind_spots)
    if not units:
        quiet = "Nothing drifted, and every rule had data to judge. A quiet week."
        units.append(_Unit(_sections(quiet)))
    watched = quiet_line(digest)
    if watched:
        units.append(_Unit(tuple(_context(p) for p in split_text(escape_mrkdwn(watched)))))
    return units


def _pack(units: Sequence[_Unit], first_blocks: int, first_chars: int) -> list[list[_Unit]]:
    """Greedy packing under both limits; every message reserves room for its part line."""
    messages: list[list[_Unit]] = [[]]
    used_blocks, used_chars = first_blocks, first_chars
    part_line = (1, 40)  # a context block "part i of n", about 40 characters
    for unit in units:
        blocks, chars = len(unit.blocks), unit.chars
        if messages[-1] and (
            used_blocks + blocks > MAX_BLOCKS or used_chars + chars > MESSAGE_CHARS
        ):
            carried: list[_Unit] = []
            while messages[-1] and messages[-1][-1].heading:  # never end on a heading
                carried.insert(0, messages[-1].pop())
            first = carried[0] if carried else unit
            if first.where is not None:  # a part starting inside a section says which
                carried.insert(0, _Unit((_context(f"_{first.where} (continued)_"),), True))
            messages.append(carried)
            used_blocks = part_line[0] + sum(len(u.blocks) for u in carried)
            used_chars = part_line[1] + sum(u.chars for u in carried)
        messages[-1].append(unit)
        used_blocks += blocks
        used_chars += chars
    return [m for m in messages if m] or [[]]


def slack_messages(digest: Digest) -> list[dict[str, Any]]:
    """Webhook/``chat.postMessage`` bodies (``text`` + ``blocks``), first message first."""
    title = title_line(digest)
    counts = counts_line(digest)
    head: list[Block] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"📉 {title}"[:HEADER_LIMIT], "emoji": True},
        },
        _context(escape_mrkdwn(f"{digest.period.describe()} · {digest.rules} rules · {counts}")),
    ]
    packed = _pack(_units(digest), len(head) + 1, sum(_block_chars(b) for b in head) + 40)
    total = len(packed)
    messages: list[dict[str, Any]] = []
    for index, units in enumerate(packed, start=1):
        blocks: list[Block] = list(head) if index == 1 else []
        if total > 1:
            blocks.append(_context(f"{escape_mrkdwn(title)} · part {index} of {total}"))
        for unit in units:
            blocks.extend(unit.blocks)
        text = f"{title}: {counts}" if index == 1 else f"{title} (part {index} of {total})"
        messages.append({"text": escape_mrkdwn(text)[:TEXT_LIMIT], "blocks": blocks})
    return messages
