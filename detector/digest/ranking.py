"""Items' titles and their order: by impact within each section, groups by their best item."""

from __future__ import annotations

from dataclasses import replace

from detector.digest.impact import _magnitude
from detector.digest.model import DigestItem, Section

_HIDDEN_LABELS = frozenset({"alertname", "graysignal_kind", "severity", "__name__"})


def _with_titles(items: list[DigestItem], group_labels: tuple[str, ...]) -> list[DigestItem]:
    """Rule name plus the labels that tell its series apart (``rule · pod=a``)."""
    by_rule: dict[str, list[DigestItem]] = {}
    for item in items:
        by_rule.setdefault(item.rule, []).append(item)
    titled: list[DigestItem] = []
    for rule, members in by_rule.items():
        keys = sorted({k for m in members for k in m.labels} - _HIDDEN_LABELS - set(group_labels))
        varying = [k for k in keys if len({m.labels.get(k) for m in members}) > 1]
        for member in members:
            parts = [f"{k}={member.labels[k]}" for k in varying if k in member.labels]
            kinds = {m.kind for m in members if m.labels == member.labels}
            suffix = f" ({member.kind.value})" if len(kinds) > 1 else ""
            title = rule + (" · " + ", ".join(parts) if parts else "") + suffix
            titled.append(replace(member, title=title))
    return titled


def _ranked(items: list[DigestItem]) -> list[DigestItem]:
    """Highest impact first within each section; groups follow their best item."""
    ordered = sorted(items, key=lambda i: (-i.impact, -_magnitude(i.change), i.title, i.key))
    best_group_rank: dict[tuple[Section, tuple[tuple[str, str], ...]], int] = {}
    for rank, item in enumerate(ordered):
        best_group_rank.setdefault((item.section, item.team), rank)
    section_order = {section: index for index, section in enumerate(Section)}
    ranked = sorted(
        enumerate(ordered),
        key=lambda pair: (
            section_order[pair[1].section],
            best_group_rank[(pair[1].section, pair[1].team)],
            pair[0],
        ),
    )
    return [item for _, item in ranked]
