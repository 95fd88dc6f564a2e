"""What a digest reader sees: sparklines that agree with the change, one entry for many
drifting series of a rule, and no "all quiet" that hides the days since the week ended.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from adapters.cli import app
from adapters.digest.markdown import render_markdown
from adapters.digest.slack_blocks import slack_messages
from detector.digest import Digest, Section
from detector.digest.sparklines import _sparkline_ends, sparkline_view
from detector.periods import Period
from detector.series import Series
from tests.digest_fixtures import PERIOD, make_item

HOUR = 3600
DAY = 86400


def daily_wave_with_creep(creep: float) -> Series:
    """Four weeks of 15-minute samples: a strong daily wave (+-20% around 100, high at
    06:00 and low at 18:00 UTC) and, during ``PERIOD``, a steady creep to ``creep``."""
    times = np.arange(PERIOD.start - 3 * 7 * DAY, PERIOD.end + 1, 900, dtype=np.int64)
    wave = 20 * np.sin(2 * np.pi * (times % DAY) / DAY)
    progress = np.clip((times - PERIOD.start) / (PERIOD.end - PERIOD.start), 0, 1)
    noise = np.random.default_rng(4).normal(0, 1, times.size)
    return Series({"service": "checkout"}, times, 100 * (1 + creep * progress) + wave + noise, 900)


def test_the_ends_of_a_sparkline_of_a_daily_wave_move_the_way_the_change_does() -> None:
    series = daily_wave_with_creep(0.10)
    raw = [float(np.mean(series.between(PERIOD.start, PERIOD.start + 6 * HOUR).values))]
    raw.append(float(np.mean(series.between(PERIOD.end - 6 * HOUR, PERIOD.end).values)))
    assert raw[1] < raw[0], "the raw ends (a high and a low of the wave) contradict the creep"

    ends = _sparkline_ends(series, PERIOD)

    assert ends is not None
    first, last = ends
    assert last / first - 1 > 0.05  # +10% over the week, without the wave


def test_a_series_without_a_daily_wave_is_drawn_as_it_is() -> None:
    times = np.arange(PERIOD.start - 7 * DAY, PERIOD.end + 1, 900, dtype=np.int64)
    values = 100 + np.random.default_rng(4).normal(0, 1, times.size)
    series = Series({"service": "checkout"}, times, values, 900)

    assert sparkline_view(series, PERIOD) is series


def many_of_one_rule(count: int) -> Digest:
    """``count`` drifting pods of one rule, in one team, and one item of another rule."""
    items = [
        replace(
            make_item(i, Section.NEW),
            rule="PodMemoryCreep",
            title=f"PodMemoryCreep · pod=pod-{i}",
            team=(("team", "payments"),),
            change=0.05 + i / 100,
            score=50.0 - i / 10,
        )
        for i in range(count)
    ]
    other = replace(make_item(99, Section.NEW), team=(("team", "payments"),))
    return Digest(
        period=PERIOD,
        items=tuple(sorted([*items, other], key=lambda i: -i.impact)),
        blind_spots=(),
        group_labels=("team",),
        history_weeks=4,
        rules=2,
    )


def test_many_drifting_series_of_one_rule_are_one_entry_with_the_largest_listed() -> None:
    digest = many_of_one_rule(60)

    text = render_markdown(digest)

    assert "- **PodMemoryCreep** — 60 series; the 3 largest:" in text
    assert text.count("PodMemoryCreep · pod=") == 3
    assert "  - and 57 more series of PodMemoryCreep (+5.0% to +61%)" in text
    assert "**Rule99" in text  # the other rule is listed as before
    assert "### 🆕 New this week (61)" in text  # the count is still every item


def test_a_few_series_of_one_rule_are_listed_each() -> None:
    text = render_markdown(many_of_one_rule(4))

    assert text.count("PodMemoryCreep · pod=") == 4
    assert "more series of" not in text


def test_slack_rolls_up_the_same_way() -> None:
    (message,) = slack_messages(many_of_one_rule(60))

    texts = [
        block["text"]["text"] if "text" in block else block["elements"][0]["text"]
        for block in message["blocks"]
        if "text" in block or block["type"] == "context"
    ]
    assert "*PodMemoryCreep* — 60 series; the 3 largest:" in texts
    assert "and 57 more series of PodMemoryCreep (+5.0% to +61%)" in texts
    assert sum("PodMemoryCreep · pod=" in text for text in texts) == 3


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def test_a_quiet_last_week_says_that_a_rule_fired_since_and_suggests_since(
    tmp_path: Path,
) -> None:
    """The default period is the last complete ISO week; this week's drift must show."""
    now = at("2026-11-27T00:00:00")  # a Friday: 2026-W47 is the last complete week
    times = np.arange(now - 6 * 7 * DAY, now + 1, 900, dtype=np.int64)
    values = 100 + np.random.default_rng(9).normal(0, 1, times.size)
    values[times >= at("2026-11-24T06:00:00")] *= 1.6
    rows = [f"{t},{v:.4f}" for t, v in zip(times.tolist(), values.tolist(), strict=True)]
    (tmp_path / "latency.csv").write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "groups:\n  - name: g\n    interval: 15m\n    rules:\n"
        "      - signal: CheckoutLatency\n        source: file\n        path: latency.csv\n"
        "        detect: [level_shift]\n        window: 14d\n        seasonality: none\n"
        "        for: 1h\n"
    )

    quiet = CliRunner().invoke(
        app, ["digest", "--rules", str(rules), "--until", "2026-11-27T00:00:00Z"]
    )
    chosen = CliRunner().invoke(app, ["digest", "--rules", str(rules), "--period", "2026-W47"])

    assert quiet.exit_code == 0, quiet.output
    assert "Watched and quiet (1): CheckoutLatency" in quiet.stdout
    assert (
        "note: 2026-W47 was quiet, but since it ended (2026-11-23T00:00:00Z) 1 rule fired: "
        "CheckoutLatency. `graysignal digest --since 7d` covers the days since."
    ) in " ".join(quiet.stderr.split())
    assert "note:" not in chosen.stderr  # a week asked for by name is what was asked


def test_the_period_helpers_agree_with_the_cli_default() -> None:
    assert Period.week_ending_before(at("2026-11-27T00:00:00")).label == "2026-W47"
    assert math.isclose(PERIOD.end - PERIOD.start, 7 * DAY)
