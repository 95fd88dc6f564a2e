"""Replay reports: JSON schema, Markdown post-mortem, self-contained HTML, terminal.

The replay result is built by hand so each assertion checks the rendering, not the
detectors: two signals (one fired twice, one still firing at the window end), a signal
that only went pending (must not be listed), a silent rule and a rule that errored.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re

import numpy as np
import pytest
from rich.console import Console

from adapters.reports import fired_signals, human_duration, lead_phrase
from adapters.reports.html_report import render_html
from adapters.reports.json_report import SCHEMA_VERSION, render_json, replay_to_dict
from adapters.reports.markdown_report import TITLE, render_markdown
from adapters.reports.terminal_report import print_summary
from detector.finding import Direction, Finding, Kind
from detector.replay import Firing, ReplayResult, RuleOutcome, Signal
from detector.series import Series

HOUR = 3600
DAY = 86400
INCIDENT = 1795168800  # 2026-11-20T10:00:00Z
START = INCIDENT - 7 * DAY
END = INCIDENT + 2 * HOUR

LATENCY_LABELS = {"__name__": "latency_p99", "service": "checkout"}
ERROR_LABELS = {"__name__": "errors_total", "route": "/a|/b"}

# The latency signal fires first (3d 4h before), then again; the error signal fires
# 5h before and never resolves.
LATENCY_FIRST_START = INCIDENT - (3 * DAY + 4 * HOUR)
LATENCY_SECOND_START = INCIDENT - 10 * HOUR
ERRORS_START = INCIDENT - 5 * HOUR

RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

SIGNAL_KEYS = [
    "rule",
    "group",
    "series",
    "alert_labels",
    "kind",
    "firings",
    "first_firing",
    "onset",
    "lead_time_seconds",
]
FIRING_KEYS = [
    "start",
    "end",
    "pending_since",
    "onset",
    "explanation",
    "score",
    "peak_score",
    "before",
    "after",
    "relative_change",
    "slope_per_day",
    "time_to_limit_seconds",
    "seasonality",
    "lead_time_seconds",
    "told",
    "reaction",
]
OUTCOME_KEYS = ["rule", "group", "kinds", "series_count", "evaluations", "error", "notes"]


def finding(
    *,
    rule: str,
    labels: dict[str, str],
    kind: Kind,
    onset: int,
    detected_at: int,
    explanation: str,
    relative_change: float = 0.18,
    slope_per_day: float | None = None,
) -> Finding:
    return Finding(
        rule=rule,
        labels=labels,
        kind=kind,
        onset=onset,
        detected_at=detected_at,
        direction=Direction.UP,
        before=210.0,
        after=248.0,
        relative_change=relative_change,
        score=6.5,
        explanation=explanation,
        slope_per_day=slope_per_day,
        seasonality="daily",
    )


def firing(start: int, end: int | None, onset: int, found: Finding, peak: float) -> Firing:
    return Firing(
        start=start,
        end=end,
        pending_since=start - 30 * 60,
        first=found,
        latest=found,
        peak_score=peak,
    )


def latency_series() -> Series:
    """Nine days at a 1-hour step: two days of history, then the window, with a gap."""
    timestamps = np.arange(START - 2 * DAY, END + HOUR, HOUR, dtype=np.int64)
    values = 210.0 + np.where(timestamps >= LATENCY_FIRST_START - 6 * HOUR, 38.0, 0.0)
    values[5] = np.nan
    return Series(LATENCY_LABELS, timestamps, values, HOUR)


def make_result() -> ReplayResult:
    latency_finding = finding(
        rule="CheckoutLatencyCreep",
        labels=LATENCY_LABELS,
        kind=Kind.LEVEL_SHIFT,
        onset=LATENCY_FIRST_START - 6 * HOUR,
        detected_at=LATENCY_FIRST_START,
        explanation='latency_p99{service="checkout"} rose 18% (210 -> 248).',
        slope_per_day=2.5,
    )
    latency_again = finding(
        rule="CheckoutLatencyCreep",
        labels=LATENCY_LABELS,
        kind=Kind.LEVEL_SHIFT,
        onset=LATENCY_SECOND_START - 2 * HOUR,
        detected_at=LATENCY_SECOND_START,
        explanation="latency rose again.",
    )
    errors_finding = finding(
        rule="ErrorVolume",
        labels=ERROR_LABELS,
        kind=Kind.VOLUME,
        onset=ERRORS_START - HOUR,
        detected_at=ERRORS_START,
        explanation='errors_total{route="/a|/b"} rose from zero (0 -> 12).',
        relative_change=math.inf,
        slope_per_day=math.nan,
    )
    series = latency_series()
    latency = Signal(
        rule="CheckoutLatencyCreep",
        group="checkout",
        labels=LATENCY_LABELS,
        alert_labels={"alertname": "CheckoutLatencyCreep", "service": "checkout"},
        kind=Kind.LEVEL_SHIFT,
        series_fingerprint=series.fingerprint,
        firings=[
            firing(
                LATENCY_FIRST_START,
                INCIDENT - 2 * DAY,
                LATENCY_FIRST_START - 6 * HOUR,
                latency_finding,
                8.0,
            ),
            firing(
                LATENCY_SECOND_START,
                INCIDENT - 6 * HOUR,
                LATENCY_SECOND_START - 2 * HOUR,
                latency_again,
                7.0,
            ),
        ],
    )
    errors = Signal(
        rule="ErrorVolume",
        group="checkout",
        labels=ERROR_LABELS,
        alert_labels={"alertname": "ErrorVolume", "route": "/a|/b"},
        kind=Kind.VOLUME,
        series_fingerprint="no-samples-kept",
        firings=[firing(ERRORS_START, None, ERRORS_START - HOUR, errors_finding, math.inf)],
    )
    pending_only = Signal(
        rule="OrdersDrop",
        group="orders",
        labels={"__name__": "orders_total"},
        alert_labels={"alertname": "OrdersDrop"},
        kind=Kind.LEVEL_SHIFT,
        series_fingerprint="pending",
    )
    outcomes = [
        RuleOutcome("CheckoutLatencyCreep", "checkout", (Kind.LEVEL_SHIFT, Kind.TREND), 1, 170),
        RuleOutcome("ErrorVolume", "checkout", (Kind.VOLUME,), 4, 170),
        RuleOutcome("OrdersDrop", "orders", (Kind.LEVEL_SHIFT, Kind.TREND), 3, 170),
        RuleOutcome(
            "DiskExhaustion", "capacity", (Kind.EXHAUSTION,), 0, 0, error="source down: refused"
        ),
    ]
    # Deliberately out of first-firing order: the reports must sort.
    return ReplayResult(
        start=START,
        end=END,
        incident=INCIDENT,
        signals=[errors, pending_only, latency],
        outcomes=outcomes,
        series={series.fingerprint: series},
    )


@pytest.fixture
def result() -> ReplayResult:
    return make_result()


# --- shared helpers -------------------------------------------------------------------


def test_lead_phrase_says_before_at_and_after() -> None:
    assert lead_phrase(3 * DAY + 4 * HOUR) == "3d 4h before"
    assert lead_phrase(0) == "at the incident"
    assert lead_phrase(-2 * HOUR) == "2h after"
    assert human_duration(90) == "1m 30s"


def test_only_fired_signals_in_first_firing_order(result: ReplayResult) -> None:
    assert [s.rule for s in fired_signals(result)] == ["CheckoutLatencyCreep", "ErrorVolume"]


# --- JSON ------------------------------------------------------------------------------


def test_json_parses_with_documented_schema_and_key_order(result: ReplayResult) -> None:
    data = json.loads(render_json(result))
    assert list(data) == ["schema_version", "window", "signals", "silent", "rules"]
    assert data["schema_version"] == SCHEMA_VERSION == 1
    assert list(data["window"]) == ["from", "to", "incident"]
    for signal in data["signals"]:
        assert list(signal) == SIGNAL_KEYS
        for item in signal["firings"]:
            assert list(item) == FIRING_KEYS
    for outcome in data["silent"] + data["rules"]:
        assert list(outcome) == OUTCOME_KEYS


def test_json_window_times_are_rfc3339_utc(result: ReplayResult) -> None:
    window = replay_to_dict(result)["window"]
    assert window == {
        "from": "2026-11-13T10:00:00Z",
        "to": "2026-11-20T12:00:00Z",
        "incident": "2026-11-20T10:00:00Z",
    }


def test_json_every_time_field_is_rfc3339_z(result: ReplayResult) -> None:
    data = replay_to_dict(result)
    for signal in data["signals"]:
        assert RFC3339_Z.match(signal["first_firing"])
        assert RFC3339_Z.match(signal["onset"])
        for item in signal["firings"]:
            for key in ("start", "pending_since", "onset"):
                assert RFC3339_Z.match(item[key]), (key, item[key])
            assert item["end"] is None or RFC3339_Z.match(item["end"])


def test_json_signals_sorted_by_first_firing_and_pending_only_left_out(
    result: ReplayResult,
) -> None:
    signals = replay_to_dict(result)["signals"]
    assert [s["rule"] for s in signals] == ["CheckoutLatencyCreep", "ErrorVolume"]
    assert signals[0]["first_firing"] == "2026-11-17T06:00:00Z"


def test_json_lists_every_firing_not_only_the_first(result: ReplayResult) -> None:
    latency = replay_to_dict(result)["signals"][0]
    assert [f["start"] for f in latency["firings"]] == [
        "2026-11-17T06:00:00Z",
        "2026-11-20T00:00:00Z",
    ]
    assert [f["explanation"] for f in latency["firings"]][1] == "latency rose again."
    assert latency["firings"][0]["end"] == "2026-11-18T10:00:00Z"
    assert latency["firings"][0]["peak_score"] == 8.0


def test_json_lead_times_are_incident_minus_start(result: ReplayResult) -> None:
    latency, errors = replay_to_dict(result)["signals"]
    assert latency["lead_time_seconds"] == 3 * DAY + 4 * HOUR
    assert [f["lead_time_seconds"] for f in latency["firings"]] == [3 * DAY + 4 * HOUR, 10 * HOUR]
    assert errors["lead_time_seconds"] == 5 * HOUR
    assert latency["onset"] == "2026-11-17T00:00:00Z"


def test_json_open_firing_has_null_end(result: ReplayResult) -> None:
    errors = replay_to_dict(result)["signals"][1]
    assert errors["firings"][0]["end"] is None
    assert errors["firings"][0]["pending_since"] == "2026-11-20T04:30:00Z"


def test_json_non_finite_floats_become_null(result: ReplayResult) -> None:
    text = render_json(result)
    errors = json.loads(text)["signals"][1]["firings"][0]
    assert errors["relative_change"] is None
    assert errors["slope_per_day"] is None
    assert errors["peak_score"] is None
    assert errors["time_to_limit_seconds"] is None
    assert "Infinity" not in text
    assert "NaN" not in text
    latency = json.loads(text)["signals"][0]["firings"][0]
    assert latency["relative_change"] == pytest.approx(0.18)
    assert latency["slope_per_day"] == pytest.approx(2.5)


def test_json_labels_kind_and_silent_rules(result: ReplayResult) -> None:
    data = replay_to_dict(result)
    errors = data["signals"][1]
    assert errors["series"] == ERROR_LABELS
    assert errors["alert_labels"]["alertname"] == "ErrorVolume"
    assert errors["kind"] == "volume"
    assert [o["rule"] for o in data["silent"]] == ["OrdersDrop", "DiskExhaustion"]
    assert data["silent"][0] == {
        "rule": "OrdersDrop",
        "group": "orders",
        "kinds": ["level_shift", "trend"],
        "series_count": 3,
        "evaluations": 170,
        "error": None,
        "notes": [],
    }
    assert data["silent"][1]["error"] == "source down: refused"
    assert [o["rule"] for o in data["rules"]] == [
        "CheckoutLatencyCreep",
        "ErrorVolume",
        "OrdersDrop",
        "DiskExhaustion",
    ]


def test_json_ends_with_newline_and_is_indented(result: ReplayResult) -> None:
    text = render_json(result)
    assert text.endswith("}\n")
    assert text.startswith('{\n  "schema_version": 1,')


# --- Markdown --------------------------------------------------------------------------


def table_rows(markdown: str) -> list[list[str]]:
    """Table body rows split on unescaped pipes (the header and rule line dropped)."""
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows[2:]]


def test_markdown_title_and_summary(result: ReplayResult) -> None:
    markdown = render_markdown(result)
    assert markdown.startswith(TITLE + "\n")
    assert TITLE == "## What did the system know before users did?"
    summary = markdown.split("\n\n")[1]
    assert "Fri 2026-11-20 10:00 UTC" in summary
    assert "2 of 4 rules fired before the incident" in summary
    assert "`CheckoutLatencyCreep`" in summary
    assert "3d 4h before" in summary


def test_markdown_table_rows_in_first_firing_order(result: ReplayResult) -> None:
    rows = table_rows(render_markdown(result))
    assert len(rows) == 2
    assert all(len(row) == 7 for row in rows)
    assert rows[0][0] == "Tue 2026-11-17 06:00 UTC"
    assert rows[0][1] == "3d 4h before"
    assert rows[0][2] == "`CheckoutLatencyCreep`"
    assert rows[0][5] == "Tue 2026-11-17 00:00 UTC"
    assert "Fired 2 times" in rows[0][6]
    assert rows[1][2] == "`ErrorVolume`"
    assert rows[1][1] == "5h before"
    assert "Still firing at the end of the window" in rows[1][6]


def test_markdown_escapes_pipes_in_cells(result: ReplayResult) -> None:
    rows = table_rows(render_markdown(result))
    assert rows[1][3] == '`errors_total{route="/a\\|/b"}`'
    assert 'route="/a\\|/b"} rose from zero' in rows[1][6]


def test_markdown_silence_and_how_to_read(result: ReplayResult) -> None:
    markdown = render_markdown(result)
    silence = markdown.split("### Silence")[1].split("### How to read this")[0]
    assert "`OrdersDrop`" in silence
    assert "level_shift, trend on 3 series" in silence
    assert "`DiskExhaustion`" in silence
    assert "could not be replayed: source down: refused" in silence
    assert "`CheckoutLatencyCreep`" not in silence
    how = markdown.split("### How to read this")[1]
    assert "causal" in how
    assert "onset" in how


def test_markdown_when_nothing_fired() -> None:
    quiet = make_result()
    quiet.signals = []
    markdown = render_markdown(quiet)
    assert "None of the 4 rules fired before the incident" in markdown
    assert "No rule fired in the replay window." in markdown
    assert "| First firing" not in markdown


# --- HTML ------------------------------------------------------------------------------


def test_html_is_one_self_contained_document(result: ReplayResult) -> None:
    page = render_html(result, title="Checkout <outage> 2026-11-20")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<html") == 1
    assert page.rstrip().endswith("</html>")
    assert "<title>Checkout &lt;outage&gt; 2026-11-20</title>" in page
    assert "<h1>Checkout &lt;outage&gt; 2026-11-20</h1>" in page
    assert "http://" not in page
    assert "https://" not in page
    assert "<link" not in page
    assert "<script" not in page


def test_html_plots_once_per_signal_with_a_series(result: ReplayResult) -> None:
    page = render_html(result)
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 1
    assert page.count('<img src="data:image/png;base64,') == 1
    assert base64.b64decode(images[0]).startswith(b"\x89PNG\r\n\x1a\n")
    assert "No plot: the replay result does not hold the samples" in page


def test_html_has_summary_timeline_and_silence(result: ReplayResult) -> None:
    page = render_html(result)
    assert "3d 4h before" in page
    assert page.index("<code>CheckoutLatencyCreep</code>") < page.index("<code>ErrorVolume</code>")
    assert "errors_total{route=&quot;/a|/b&quot;}" in page
    silence = page.split("<h2>Silence</h2>")[1]
    assert "<code>OrdersDrop</code>" in silence
    assert "source down: refused" in silence


# --- terminal --------------------------------------------------------------------------


def terminal_text(result: ReplayResult, width: int = 120) -> str:
    console = Console(record=True, width=width, file=io.StringIO())
    print_summary(result, console)
    return console.export_text()


def test_terminal_lists_rules_lead_time_and_silence(result: ReplayResult) -> None:
    text = terminal_text(result)
    assert "Fri 2026-11-20 10:00 UTC" in text.splitlines()[0]
    assert "2 of 4 rules fired before the incident" in text
    assert "CheckoutLatencyCreep" in text
    assert "ErrorVolume" in text
    assert "3d 4h before" in text
    assert "5h before" in text
    assert text.index("CheckoutLatencyCreep") < text.index("ErrorVolume")
    silent = text.split("Silent")[1]
    assert "OrdersDrop" in silent
    assert "DiskExhaustion" in silent
    assert "source down: refused" in silent


def test_terminal_prints_label_values_literally() -> None:
    bracketed = make_result()
    bracketed.signals[2].labels = {"__name__": "latency_p99", "env": "[prod]"}
    text = terminal_text(bracketed)
    assert "[prod]" in text


def test_terminal_narrow_console_folds_columns_but_keeps_names_whole(
    result: ReplayResult,
) -> None:
    text = terminal_text(result, width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "CheckoutLatencyCreep (level_shift)" in text
    assert "ErrorVolume (volume)" in text
    assert "3d 4h before" in text
    assert "| Series " not in text and " Kind " not in text


def at_the_incident() -> ReplayResult:
    """Two rules; one fired exactly at the incident, none before it."""
    found = finding(
        rule="CheckoutLatencyCreep",
        labels=LATENCY_LABELS,
        kind=Kind.LEVEL_SHIFT,
        onset=INCIDENT - 6 * HOUR,
        detected_at=INCIDENT,
        explanation='latency_p99{service="checkout"} rose 18% (210 -> 248).',
    )
    signal = Signal(
        rule="CheckoutLatencyCreep",
        group="checkout",
        labels=LATENCY_LABELS,
        alert_labels={"alertname": "CheckoutLatencyCreep", "service": "checkout"},
        kind=Kind.LEVEL_SHIFT,
        series_fingerprint="latency",
        firings=[firing(INCIDENT, None, INCIDENT - 6 * HOUR, found, 7.0)],
    )
    outcomes = [
        RuleOutcome("CheckoutLatencyCreep", "checkout", (Kind.LEVEL_SHIFT,), 1, 170),
        RuleOutcome("ErrorVolume", "checkout", (Kind.VOLUME,), 1, 170),
    ]
    return ReplayResult(START, END, INCIDENT, [signal], outcomes)


def test_terminal_sentence_says_at_the_incident_when_the_table_does() -> None:
    text = " ".join(terminal_text(at_the_incident()).split())

    assert "None of 2 rules fired before the incident. 1 fired at the incident." in text
    assert "14h" not in text and "only after" not in text
    assert text.count("at the incident") == 2  # the sentence and the row


def test_markdown_summary_says_at_the_incident_when_the_table_does() -> None:
    text = render_markdown(at_the_incident())

    assert "None of the 2 rules fired before the incident; 1 fired at the incident." in text
    assert "only after" not in text


LONG_LABELS = {
    "__name__": "http_request_duration_seconds_p99",
    "instance": "checkout-7d9f8b6c5-abcde.prod.eu-west-1.internal:9090",
    "job": "checkout",
}


def with_long_labels() -> ReplayResult:
    long = make_result()
    latency = next(s for s in long.signals if s.rule == "CheckoutLatencyCreep")
    latency.labels = LONG_LABELS
    name = 'http_request_duration_seconds_p99{instance="checkout-7d9f8b6c5-abcde.prod.eu-west-1.internal:9090", job="checkout"}'  # noqa: E501
    first = latency.firings[0]
    latency.firings[0] = Firing(
        start=first.start,
        end=first.end,
        pending_since=first.pending_since,
        first=finding(
            rule=latency.rule,
            labels=LONG_LABELS,
            kind=Kind.LEVEL_SHIFT,
            onset=first.onset,
            detected_at=first.start,
            explanation=f"{name} rose 18% (210 ms -> 248 ms) since Tue 03:10 UTC, still "
            "rising 2.1%/day; daily seasonality removed.",
        ),
        latest=first.latest,
        peak_score=first.peak_score,
    )
    return long


def test_terminal_at_80_columns_prints_each_series_once() -> None:
    text = " ".join(terminal_text(with_long_labels(), width=80).split())

    assert text.count('instance="checkout-7d9f8b6c5-abcde.prod.eu-west-1.internal:9090"') == 1
    assert text.count('job="checkout"}') == 1
    assert "rose 18% (210 ms -> 248 ms) since Tue 03:10 UTC" in text


def words(text: str) -> set[str]:
    """Words, and a label set's ``metric{`` apart from its labels (a place to break)."""
    return {w for w in re.split(r"\s+|(?<=\{)", text) if w}


@pytest.mark.parametrize("width", [80, 100, 120])
def test_terminal_breaks_lines_between_words_only(width: int) -> None:
    """Every word of a narrow rendering is a whole word of the unwrapped one."""
    result = with_long_labels()
    whole = words(terminal_text(result, width=10_000)) | {"·", "(level_shift)", "(volume)"}

    narrow = terminal_text(result, width=width)

    assert max(len(line) for line in narrow.splitlines()) <= width
    assert words(narrow) <= whole, words(narrow) - whole
