"""Building the digest of one period: every alert classified, suppressions applied, titled,
ranked, with the blind spots and the quiet rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from detector.digest.activities import _activities, _Activity, _latest_finding
from detector.digest.blind_spots import _blind_spots
from detector.digest.classify import _classify, _from_summary
from detector.digest.history import _previous_weeks, _weeks_before
from detector.digest.links import _link_for, check_link_template
from detector.digest.model import DEFAULT_GROUP_LABELS, Digest, DigestItem, RecordedFiring, Section
from detector.digest.ranking import _ranked, _with_titles
from detector.finding import Direction, Finding
from detector.periods import Period
from detector.series import Series
from detector.suppressions import Suppression, split_suppressed

if TYPE_CHECKING:
    from detector.replay import (
        ReplayResult,  # types only: the engine is not imported with the digest
    )


def build_digest(
    result: ReplayResult,
    period: Period,
    *,
    suppressions: Sequence[Suppression] = (),
    recorded: Sequence[RecordedFiring] = (),
    previous_summary: Mapping[str, Any] | None = None,
    history_weeks: int = 4,
    group_labels: Sequence[str] = DEFAULT_GROUP_LABELS,
    queries: Mapping[str, str] | None = None,
    link_template: str | None = None,
    rule_series: Mapping[str, Sequence[Series]] | None = None,
) -> Digest:
    """The digest of ``period`` from an evaluation that covers it and the weeks before.

    ``result`` should span ``history_weeks`` periods before ``period``: consecutive weeks
    are counted that far back, and "at least" when every one of them was drifting.
    ``recorded`` adds firings from a daemon's ledger for alerts the evaluation did not
    produce (rules since removed, data no longer retained); an alert both saw is taken
    from the evaluation, marked as told.
    ``previous_summary`` is :meth:`Digest.summary` of the period before, when stored.
    ``queries`` maps a rule to the query (or file) its link shows.
    ``rule_series`` maps a rule to every series it fetched, so a series that went
    silent is a blind spot even when it never fired; without it only the series of
    alerts are checked.
    """
    if link_template is not None:
        check_link_template(link_template)
    activities = _activities(result, recorded)
    weeks_before = _weeks_before(period, history_weeks)
    previous_drifting = _previous_weeks(previous_summary, period)
    items: list[DigestItem] = []
    unknown: list[DigestItem] = []
    for key, activity in activities.items():
        classified = _classify(
            key,
            activity,
            period,
            weeks_before=weeks_before,
            previous_drifting=previous_drifting,
            series=result.series.get(activity.series_fingerprint),
            group_labels=tuple(group_labels),
            link=_link_for(activity, period, queries or {}, link_template),
        )
        if classified is not None:
            (unknown if classified[1] else items).append(classified[0])
    known_rules = {o.rule for o in result.outcomes}
    for key, entry in (previous_drifting or {}).items():
        if key in activities or entry.get("rule") not in known_rules:
            continue
        carried = _from_summary(key, entry, period, result, tuple(group_labels))
        if carried is not None:
            (unknown if carried[1] else items).append(carried[0])
    items = _apply_suppressions(items, activities, suppressions, period)
    items = _with_titles(items, tuple(group_labels))
    spots = _blind_spots(result, period, rule_series, unknown)
    noisy = {i.rule for i in items} | {s.rule for s in spots}
    return Digest(
        period=period,
        items=tuple(_ranked(items)),
        blind_spots=tuple(spots),
        group_labels=tuple(group_labels),
        history_weeks=history_weeks,
        rules=len(result.outcomes),
        quiet=tuple(sorted(known_rules - noisy)),
        unknown=tuple(unknown),
    )


def _apply_suppressions(
    items: list[DigestItem],
    activities: Mapping[str, _Activity],
    suppressions: Sequence[Suppression],
    period: Period,
) -> list[DigestItem]:
    if not suppressions:
        return items
    out: list[DigestItem] = []
    for item in items:
        if item.section not in (Section.NEW, Section.STILL):
            out.append(item)
            continue
        activity = activities.get(item.key)
        # An item carried from last week's summary has no activity in this evaluation
        # (the detector no longer flags a drift that settled): judge what it stored.
        latest = _latest_finding(activity) if activity else _stored_finding(item, period)
        _, covered = split_suppressed([latest], suppressions, now=period.end)
        if covered:
            out.append(
                replace(
                    item,
                    section=Section.ACKNOWLEDGED,
                    suppression=covered[0].suppression.describe(),
                )
            )
        else:
            out.append(item)
    return out


def _stored_finding(item: DigestItem, period: Period) -> Finding:
    """The finding an item carried from a stored summary stands for, as of the period end."""
    return Finding(
        rule=item.rule,
        labels=item.labels,
        kind=item.kind,
        onset=item.onset,
        detected_at=period.end,
        direction=Direction.UP if item.change >= 0 else Direction.DOWN,
        before=item.baseline,
        after=item.level,
        relative_change=item.change,
        score=item.score,
        explanation=item.explanation,
    )
