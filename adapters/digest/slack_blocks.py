"""The digest as Slack Block Kit messages that read well on a phone and fit Slack's limits.

Layout: a header with the period, a context line with the counts, then per section a
bold heading, per team a context line, and per item one section block (title, the
explanation, then the week's sparkline and the facts, and the link); a rule with many
items in a group is rolled up (its largest items, then a line counting the rest).
Blind spots last.

Slack's limits (Block Kit reference): at most :data:`MAX_BLOCKS` blocks per message,
:data:`TEXT_LIMIT` characters per text field, header text :data:`HEADER_LIMIT`. Slack
also rejects messages whose blocks hold much more than about 13,000 characters in total
(``msg_blocks_too_long``, not in the reference), so a message carries at most
:data:`MESSAGE_CHARS`. Nothing is cut to fit: a long text is split over several
section blocks at line breaks, a very long item over two messages, and a long digest
over several messages, each starting with a "part i of n" line; a heading never ends
a message without its first item. Only a title or group longer than
:data:`TITLE_CHARS` / :data:`GROUP_CHARS` (a huge label value) is shortened, with a
visible "…"; the full labels are in the JSON rendering.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

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
from adapters.notify.slack import HEADER_LIMIT, TEXT_LIMIT, escape_mrkdwn
from detector.digest import BlindSpot, Digest, DigestItem, RollUp, Section

__all__ = ["MAX_BLOCKS", "MESSAGE_CHARS", "slack_messages", "split_text"]

MAX_BLOCKS: Final = 50
MESSAGE_CHARS: Final = 12_000
TITLE_CHARS: Final = 200  # longer titles (long label values) end in a visible "…"
GROUP_CHARS: Final = 300  # the same for a group's labels
UNIT_CHARS: Final = MESSAGE_CHARS // 2  # an item longer than this may span two messages
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


def shorten(text: str, limit: int) -> str:
    """``text`` (before escaping) cut to ``limit`` characters, ending in a visible "…"."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut(line: str, limit: int) -> tuple[str, str]:
    """Cut an escaped mrkdwn line in two: never inside an ``&amp;`` entity, and a
    ``*bold*`` run open at the cut is closed there and opened again after it."""
    at = limit - 1  # room for a closing "*"
    amp = line.rfind("&", max(0, at - 4), at)
    if amp > 0 and ";" not in line[amp:at]:
        at = amp
    head, rest = line[:at], line[at:]
    if head.count("*") % 2 == 1:
        return head + "*", "*" + rest
    return head, rest


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at line breaks where possible; a line
    longer than ``limit`` is cut (see :func:`_cut`), nothing is lost."""
    pieces: list[str] = []
    current = ""
    for whole in text.split("\n"):
        line = whole
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            head, line = _cut(line, limit)
            pieces.append(head)
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
    """A context line; a text longer than a field is split over its elements (up to
    ten), the last ending in a visible "…" if even that is not enough."""
    pieces = split_text(text)
    if len(pieces) > _CONTEXT_ELEMENTS:
        pieces = pieces[:_CONTEXT_ELEMENTS]
        pieces[-1] = _cut(pieces[-1], TEXT_LIMIT - 1)[0] + "…"
    return {"type": "context", "elements": [_mrkdwn(p) for p in pieces]}


_CONTEXT_ELEMENTS: Final = 10


def _item_units(item: DigestItem, where: str) -> list[_Unit]:
    """An item's blocks, as one unit unless that is longer than :data:`UNIT_CHARS`."""
    units: list[list[Block]] = [[]]
    used = 0
    for block in _sections(_item_text(item)):
        chars = _block_chars(block)
        if units[-1] and used + chars > UNIT_CHARS:
            units.append([])
            used = 0
        units[-1].append(block)
        used += chars
    return [_Unit(tuple(blocks), where=where) for blocks in units]


def _entry_units(entry: DigestItem | RollUp, where: str) -> list[_Unit]:
    """An item's units, or a roll-up's: its heading, the largest items, the rest counted."""
    if isinstance(entry, DigestItem):
        return _item_units(entry, where)
    head = (
        f"*{escape_mrkdwn(shorten(entry.rule, TITLE_CHARS))}* — {escape_mrkdwn(rollup_head(entry))}"
    )
    units = [_Unit(_sections(head), heading=True, where=where)]
    for item in entry.shown:
        units.extend(_item_units(item, where))
    units.append(_Unit((_context(escape_mrkdwn(rollup_tail(entry))),), where=where))
    return units


def _item_text(item: DigestItem) -> str:
    title = escape_mrkdwn(shorten(item.title, TITLE_CHARS))
    lines = [f"*{title}*", escape_mrkdwn(item.explanation)]
    facts = " · ".join(escape_mrkdwn(f) for f in item_facts(item))
    spark = f"{escape_mrkdwn(sparkline_text(item))} · " if item.sparkline else ""
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
        count = len(digest.section(section))
        if not count:
            continue
        heading = f"*{SECTION_ICONS[section]} {section.heading} ({count})*"
        units.append(
            _Unit(({"type": "divider"}, {"type": "section", "text": _mrkdwn(heading)}), True)
        )
        for team, entries in digest.rolled_up(section):
            group = escape_mrkdwn(shorten(team_text(team), GROUP_CHARS))
            title = f"{SECTION_ICONS[section]} {section.heading}"
            units.append(_Unit((_context(group),), heading=True, where=title))
            where = f"{title} · {group}"
            for entry in entries:
                units.extend(_entry_units(entry, where))
    if digest.blind_spots:
        title = blind_spot_heading(len(digest.blind_spots))
        units.append(
            _Unit(({"type": "divider"}, {"type": "section", "text": _mrkdwn(f"*{title}*")}), True)
        )
        units.extend(_Unit(_sections(_blind_spot_text(s)), where=title) for s in digest.blind_spots)
    if not units:
        quiet = QUIET_WEEK
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
