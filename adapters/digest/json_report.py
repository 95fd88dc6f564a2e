"""The digest as JSON (``--format json``); the schema is documented in docs/digest.md.

Times are Unix seconds *and* RFC 3339 where a person may read them; non-finite numbers
are ``null``; ``version`` changes when a field changes meaning or disappears.
"""

from __future__ import annotations

import json
from typing import Any

from adapters.timeparse import format_rfc3339
from detector.digest import DIGEST_VERSION, Digest, Section

__all__ = ["digest_to_dict", "render_json"]


def digest_to_dict(digest: Digest) -> dict[str, Any]:
    sections: dict[str, list[dict[str, Any]]] = {}
    for section in Section:
        entries = []
        for item in digest.section(section):
            entry = item.to_dict()
            entry["onset_rfc3339"] = format_rfc3339(item.onset)
            entry["first_firing_rfc3339"] = format_rfc3339(item.first_firing)
            if item.resolved_at is not None:
                entry["resolved_at_rfc3339"] = format_rfc3339(item.resolved_at)
            entries.append(entry)
        sections[section.value] = entries
    return {
        "version": DIGEST_VERSION,
        "period": {
            "label": digest.period.label,
            "start": digest.period.start,
            "end": digest.period.end,
            "start_rfc3339": format_rfc3339(digest.period.start),
            "end_rfc3339": format_rfc3339(digest.period.end),
        },
        "rules": digest.rules,
        "scope": digest.scope or None,
        "group_labels": list(digest.group_labels),
        "history_weeks": digest.history_weeks,
        "counts": digest.counts(),
        "sections": sections,
        "blind_spots": [
            {"rule": s.rule, "group": s.group, "reasons": list(s.reasons)}
            for s in digest.blind_spots
        ],
        "quiet_rules": list(digest.quiet),
        "summary": digest.summary(),
    }


def render_json(digest: Digest) -> str:
    return json.dumps(digest_to_dict(digest), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
