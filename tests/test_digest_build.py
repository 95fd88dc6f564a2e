"""The digest from real rule files and CSV series: sections, ranking, weeks, blind spots.

The data (tests/digest_fixtures.py) plants three drifts and one recovery in ISO week
2026-W47 and the week before; the rules are evaluated by the replay engine through the
file source, exactly as ``graysignal digest`` does.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from adapters.cli.replay import rule_files_plan
from adapters.digest.json_report import digest_to_dict
from adapters.digest.markdown import render_markdown
from adapters.replaying import replay_rules
from adapters.sources import default_sources
from detector.digest import Digest, Section, build_digest, check_link_template, format_link
from detector.finding import Kind
from detector.periods import Period
from detector.replay import ReplayResult
from detector.sparkline import GAP, sparkline
from detector.suppressions import Action, Suppression
from tests.digest_fixtures import (
    BLIND,
    HISTORY_WEEKS,
    PERIOD,
    RECOVERED,
    make_item,
    write_rules,
)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> ReplayResult:
    rules = write_rules(tmp_path_factory.mktemp("digest"))
    start = PERIOD.start - HISTORY_WEEKS * (PERIOD.end - PERIOD.start)
    return replay_rules(
        rule_files_plan([rules]),
        default_sources(),
        start=start,
        end=PERIOD.end,
        incident=PERIOD.end,
    )


@pytest.fixture(scope="module")
def digest(result: ReplayResult) -> Digest:
    return build_digest(result, PERIOD, history_weeks=HISTORY_WEEKS)


def rules_in(digest: Digest, section: Section) -> list[str]:
    return [item.rule for item in digest.section(section)]


# -- sections ------------------------------------------------------------------------------


def test_three_planted_drifts_and_one_recovery_land_in_exactly_the_right_sections(
    digest: Digest,
) -> None:
    assert rules_in(digest, Section.NEW) == ["SearchErrors", "CheckoutLatency"]
    assert rules_in(digest, Section.STILL) == ["QueueDepth"]
    assert rules_in(digest, Section.RECOVERED) == [RECOVERED]
    assert rules_in(digest, Section.ACKNOWLEDGED) == []
    assert len(digest.items) == 4  # nothing else: the quiet series is not an item


def test_a_rule_that_returned_no_data_is_a_blind_spot_and_a_quiet_rule_is_named(
    digest: Digest,
) -> None:
    (spot,) = digest.blind_spots
    assert spot.rule == BLIND
    assert "file not found" in spot.reasons[0]
    assert digest.quiet == ("DiskQuiet",)


def test_items_are_ranked_largest_and_most_certain_first(digest: Digest) -> None:
    first, second = digest.section(Section.NEW)
    assert first.impact > second.impact
    assert abs(first.change) > abs(second.change)


def test_items_are_grouped_by_team_and_service(digest: Digest) -> None:
    groups = [team for team, _ in digest.grouped(Section.NEW)]
    assert groups == [(("team", "search"),), (("team", "payments"), ("service", "checkout"))]


def test_each_item_carries_explanation_onset_change_and_a_sparkline_of_the_week(
    digest: Digest,
) -> None:
    (item,) = [i for i in digest.items if i.rule == "CheckoutLatency"]
    assert "rose 60%" in item.explanation
    assert item.onset == int(PERIOD.start + 2 * 86400 + 6 * 3600)  # Wed 06:00 UTC
    assert item.change == pytest.approx(0.6, abs=0.02)
    assert len(item.sparkline) == 28
    assert item.sparkline.startswith("▁") and item.sparkline.endswith("█")


def test_still_drifting_counts_weeks_from_the_evaluation_of_earlier_weeks(digest: Digest) -> None:
    (item,) = digest.section(Section.STILL)
    assert (item.weeks, item.weeks_at_least) == (2, False)


def test_a_stored_summary_of_the_previous_week_decides_the_weeks(
    result: ReplayResult, digest: Digest
) -> None:
    (still,) = digest.section(Section.STILL)
    previous = {
        "version": 1,
        "period": PERIOD.previous().label,
        "end": PERIOD.start,
        "drifting": {still.key: 5},
    }
    rebuilt = build_digest(result, PERIOD, history_weeks=HISTORY_WEEKS, previous_summary=previous)
    (item,) = rebuilt.section(Section.STILL)
    assert item.weeks == 6
    assert rebuilt.summary()["drifting"][still.key]["weeks"] == 6


def test_at_least_n_weeks_keeps_its_plus_from_one_digest_to_the_next(
    result: ReplayResult, digest: Digest
) -> None:
    (still,) = digest.section(Section.STILL)
    previous = {
        "version": 2,
        "period": PERIOD.previous().label,
        "end": PERIOD.start,
        "drifting": {still.key: {"weeks": 5, "at_least": True}},
    }
    rebuilt = build_digest(result, PERIOD, history_weeks=HISTORY_WEEKS, previous_summary=previous)
    (item,) = rebuilt.section(Section.STILL)
    assert (item.weeks, item.weeks_at_least) == (6, True)
    stored = rebuilt.summary()["drifting"][still.key]
    assert (stored["weeks"], stored["at_least"]) == (6, True)


def test_a_summary_of_another_period_ending_at_the_start_is_not_the_previous_week(
    result: ReplayResult, digest: Digest
) -> None:
    (still,) = digest.section(Section.STILL)
    rolling = Period.since(3 * 86400, PERIOD.start)  # ends where the week starts
    previous = {
        "version": 2,
        "period": rolling.label,
        "end": PERIOD.start,
        "drifting": {still.key: {"weeks": 7, "at_least": False}},
    }
    rebuilt = build_digest(result, PERIOD, history_weeks=HISTORY_WEEKS, previous_summary=previous)
    (item,) = rebuilt.section(Section.STILL)
    assert item.weeks == 2  # from the evaluation, not from the rolling digest


def test_a_recovered_item_says_when_it_recovered(digest: Digest) -> None:
    (item,) = digest.section(Section.RECOVERED)
    assert item.resolved_at is not None
    assert PERIOD.start < item.resolved_at < PERIOD.end


def test_the_summary_lists_what_is_still_drifting_for_next_week(digest: Digest) -> None:
    summary = digest.summary()
    drifting = {
        i.rule: summary["drifting"][i.key]["weeks"]
        for i in digest.items
        if i.key in summary["drifting"]
    }
    assert drifting == {"SearchErrors": 1, "CheckoutLatency": 1, "QueueDepth": 2}
    assert summary["end"] == PERIOD.end


def test_an_acknowledged_drift_moves_to_its_own_section_with_reason_and_expiry(
    result: ReplayResult,
) -> None:
    ack = Suppression(
        action=Action.ACK,
        rule="CheckoutLatency",
        matchers={},
        reason="known batch job",
        since=PERIOD.start,
        until=PERIOD.end + 30 * 86400,
        by="ana",
        kind=Kind.LEVEL_SHIFT,
        change=0.6,
        where="rules/suppressions.yaml:3",
    )
    rebuilt = build_digest(result, PERIOD, history_weeks=HISTORY_WEEKS, suppressions=[ack])
    assert rules_in(rebuilt, Section.NEW) == ["SearchErrors"]
    (item,) = rebuilt.section(Section.ACKNOWLEDGED)
    assert item.rule == "CheckoutLatency"
    assert item.suppression is not None
    assert "ana" in item.suppression and "known batch job" in item.suppression
    assert "2026-12-23" in item.suppression


# -- renderings ----------------------------------------------------------------------------


def test_markdown_has_every_section_and_every_item(digest: Digest) -> None:
    text = render_markdown(digest)
    for heading in ("New this week (2)", "Still drifting (1)", "Recovered (1)", "Blind spots (1)"):
        assert heading in text
    for item in digest.items:
        assert item.title in text and item.sparkline in text
    assert "drifting for 2 weeks" in text


def test_json_is_strict_versioned_and_holds_the_same_items(digest: Digest) -> None:
    data = json.loads(json.dumps(digest_to_dict(digest), allow_nan=False))
    assert data["version"] == 2
    assert data["period"]["label"] == "2026-W47"
    assert [i["rule"] for i in data["sections"]["new"]] == ["SearchErrors", "CheckoutLatency"]
    assert data["counts"] == {
        "new": 2,
        "still_drifting": 1,
        "recovered": 1,
        "acknowledged": 0,
        "blind_spots": 1,
    }
    assert data["blind_spots"][0]["rule"] == BLIND


# -- links ---------------------------------------------------------------------------------


def test_link_template_placeholders_are_url_encoded() -> None:
    period = Period.iso_week("2026-W47")
    link = format_link(
        "https://grafana.example/explore?expr={query}&from={start_ms}&to={end_ms}",
        query='rate(http_requests_total{job="api"}[5m])',
        rule="R",
        series="job=api",
        period=period,
    )
    assert link == (
        "https://grafana.example/explore?expr=rate%28http_requests_total%7Bjob%3D%22api%22%7D"
        f"%5B5m%5D%29&from={period.start * 1000}&to={period.end * 1000}"
    )


@pytest.mark.parametrize("template", ["https://x/{qurey}", "https://x/{}", "https://x/{query"])
def test_a_link_template_with_an_unknown_placeholder_is_rejected(template: str) -> None:
    with pytest.raises(ValueError, match="link template"):
        check_link_template(template)


# -- sparkline and periods -----------------------------------------------------------------


def test_sparkline_survives_nan_gaps_and_constant_series() -> None:
    times = list(range(1, 9))
    assert sparkline([math.nan] * 8, timestamps=times, start=0, end=8, width=4) == GAP * 4
    assert sparkline([5.0] * 8, timestamps=times, start=0, end=8, width=4) == "▄▄▄▄"
    gappy = [1.0, 1.0, math.nan, math.nan, 2.0, 2.0, 3.0, 3.0]
    assert sparkline(gappy, timestamps=times, start=0, end=8, width=4) == "▁·▅█"


def test_sparkline_reads_high_when_the_whole_week_sits_above_its_old_level() -> None:
    times = list(range(1, 9))
    values = [140.0, 141.0, 139.0, 140.0, 141.0, 139.0, 140.0, 140.0]
    assert set(sparkline(values, timestamps=times, start=0, end=8, width=4, reference=100.0)) == {
        "█"
    }


def test_iso_weeks_are_utc_mondays_and_the_previous_week_crosses_the_year() -> None:
    week = Period.iso_week("2026-W01")
    assert week.start == 1766966400  # Mon 2025-12-29 00:00 UTC
    assert week.previous().label == "2025-W52"
    assert Period.week_ending_before(week.end).label == "2026-W01"
    assert Period.week_ending_before(week.end - 1).label == "2025-W52"


@pytest.mark.parametrize("text", ["2026-47", "2026-W54", "last week"])
def test_a_malformed_period_is_rejected_with_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match=r"2026-W47|no ISO week"):
        Period.iso_week(text)


def test_a_fall_to_zero_outranks_a_rise_and_a_stronger_change_outranks_a_weaker_one() -> None:
    base = make_item(1, Section.NEW)
    fall = replace(base, key="fall", change=-1.0, score=40.0)
    rise = replace(base, key="rise", change=1.5, score=40.0)
    assert fall.impact > rise.impact
    halved = replace(base, key="halved", change=-0.5, score=40.0)
    doubled = replace(base, key="doubled", change=1.0, score=40.0)
    assert math.isclose(halved.impact, doubled.impact)
    strong = replace(base, key="strong", change=0.4, score=60.0)
    weak = replace(base, key="weak", change=0.4, score=25.0)
    assert strong.impact > weak.impact  # both far past the old cap of 20
