"""The replay as one self-contained HTML file: summary, timeline, a plot per signal.

One file with inline CSS and plots embedded as base64 PNG, because the page is attached
to tickets and post-mortems and opened offline months later: nothing may point at a
server. Plots are drawn with matplotlib's Agg backend (no display needed on servers or
in CI) and each figure is closed as soon as it is encoded, so a replay with hundreds of
signals does not accumulate figures in memory.
"""

from __future__ import annotations

import base64
import io
from datetime import UTC
from html import escape

import matplotlib
import numpy as np

from adapters.reports import (
    fired_signals,
    firing_note,
    firings_of,
    lead_phrase,
    series_name,
    silence_text,
    summary_text,
)
from detector.explain import when
from detector.replay import ReplayResult, RuleOutcome, Signal
from detector.series import Series

matplotlib.use("Agg")  # before pyplot: reports run headless
import matplotlib.dates as mdates
import matplotlib.pyplot as plt

DEFAULT_TITLE = "graysignal replay: what did the system know before users did?"
FIGSIZE = (9.0, 2.8)
DPI = 90

__all__ = ["DEFAULT_TITLE", "render_html"]

_COLORS = {
    "history": "#b8b8b8",
    "window": "#1f4e79",
    "onset": "#6a3d9a",
    "firing": "#ff7f0e",
    "incident": "#d62728",
}

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.5rem; margin-bottom: .3rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1rem; margin-bottom: .2rem; }
code { background: #f3f3f3; padding: 0 .2em; border-radius: 3px; font-size: .9em; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .3rem .5rem; text-align: left;
         vertical-align: top; }
th { background: #f6f6f6; }
td.nowrap { white-space: nowrap; }
.summary { font-size: 1.05rem; background: #fff8ec; border-left: 4px solid #ff7f0e;
           padding: .6rem .9rem; }
.note { color: #666; font-size: .9rem; }
.signal { margin-bottom: 1.5rem; }
img { max-width: 100%; height: auto; }
ul.firings { margin: .2rem 0 .5rem; font-size: .9rem; }
"""

_HOW_TO_READ = (
    "Replay is causal: the rules were re-run on a simulated clock over the window, and "
    "each evaluation only saw data up to its own time, exactly as the daemon would have. "
    "<em>First firing</em> is when the alert would have fired (after its <code>for</code> "
    "duration); <em>onset</em> is the detector's estimate of when the change itself "
    "started, earlier than the firing by construction. <em>Lead time</em> is the incident "
    "time minus the first firing. In the plots, grey is data outside the replay window "
    "(mostly the history before it), the dashed line the estimated onset, the orange line "
    "the first firing, shaded bands the firing intervals and the red line the incident."
)


def _code(text: str) -> str:
    return f"<code>{escape(text)}</code>"


def _dt(ts: int) -> float:
    """Matplotlib's date number for Unix seconds ``ts`` (UTC), as ``axvline`` wants."""
    # matplotlib.dates has no type hints, hence the ignores on its calls.
    return float(mdates.date2num(np.datetime64(int(ts), "s")))  # type: ignore[no-untyped-call]


def _plot(signal: Signal, series: Series, result: ReplayResult) -> str:
    """One signal's series with its markers, as base64 PNG text."""
    firings = firings_of(signal)
    first = firings[0]
    # History as long as the window at most (but always back to the onset): the window
    # keeps at least half the width however much history the source returned.
    span = max(result.end - result.start, 1)
    shown_from = min(result.start - span, first.onset - span // 20)
    keep = series.timestamps >= shown_from
    timestamps = series.timestamps[keep]
    values = series.values[keep]
    times = timestamps.astype("datetime64[s]")
    in_window = (timestamps > result.start) & (timestamps <= result.end)
    buffer = io.BytesIO()
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    try:
        if not in_window.all():
            ax.plot(
                times,
                np.where(in_window, np.nan, values),
                color=_COLORS["history"],
                linewidth=0.9,
                label="outside window",
            )
        ax.plot(
            times,
            np.where(in_window, values, np.nan),
            color=_COLORS["window"],
            linewidth=1.0,
            label="replay window",
        )
        for i, firing in enumerate(firings):
            end = firing.end if firing.end is not None else result.end
            ax.axvspan(
                _dt(firing.start),
                _dt(end),
                color=_COLORS["firing"],
                alpha=0.15,
                linewidth=0,
                label="firing" if i == 0 else None,
            )
        ax.axvline(
            _dt(first.onset), color=_COLORS["onset"], linestyle="--", label="estimated onset"
        )
        ax.axvline(_dt(first.start), color=_COLORS["firing"], linewidth=1.6, label="first firing")
        ax.axvline(_dt(result.incident), color=_COLORS["incident"], linewidth=1.6, label="incident")
        locator = mdates.AutoDateLocator(tz=UTC)  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_locator(locator)
        formatter = mdates.ConciseDateFormatter(locator, tz=UTC)  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_formatter(formatter)
        ax.set_xlabel("time (UTC)")
        ax.set_ylabel(signal.labels.get("__name__") or "value", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False)
        fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    finally:
        plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _timeline(result: ReplayResult) -> str:
    signals = fired_signals(result)
    if not signals:
        return "<p>No rule fired in the replay window.</p>"
    head = "".join(
        f"<th>{name}</th>"
        for name in (
            "First firing",
            "Lead time",
            "Rule",
            "Series",
            "Kind",
            "Onset",
            "Explanation",
        )
    )
    rows = []
    for signal in signals:
        first = firings_of(signal)[0]
        note = firing_note(signal, result)
        explanation = escape(first.first.explanation)
        if note:
            explanation += f' <span class="note">({escape(note)})</span>'
        rows.append(
            "<tr>"
            f'<td class="nowrap">{escape(when(first.start))}</td>'
            f'<td class="nowrap">{escape(lead_phrase(result.incident - first.start))}</td>'
            f"<td>{_code(signal.rule)}</td>"
            f"<td>{_code(series_name(signal))}</td>"
            f"<td>{escape(signal.kind.value)}</td>"
            f'<td class="nowrap">{escape(when(first.onset))}</td>'
            f"<td>{explanation}</td>"
            "</tr>"
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _signal_section(signal: Signal, result: ReplayResult) -> str:
    firings = firings_of(signal)
    items = []
    for firing in firings:
        end = "still firing at the end of the window" if firing.end is None else when(firing.end)
        items.append(
            f"<li>{escape(when(firing.start))} → {escape(end)} "
            f"({escape(lead_phrase(result.incident - firing.start))} the incident; "
            f"onset {escape(when(firing.onset))}): {escape(firing.first.explanation)}</li>"
        )
    series = result.series.get(signal.series_fingerprint)
    if series is None or len(series) == 0:
        figure = (
            '<p class="note">No plot: the replay result does not hold the samples of this '
            "series.</p>"
        )
    else:
        alt = f"{signal.rule} on {series_name(signal)}"
        figure = (
            f'<img src="data:image/png;base64,{_plot(signal, series, result)}" alt="{escape(alt)}">'
        )
    return (
        '<div class="signal">'
        f"<h3>{_code(signal.rule)} on {_code(series_name(signal))} "
        f"({escape(signal.kind.value)})</h3>"
        f'<ul class="firings">{"".join(items)}</ul>'
        f"{figure}</div>"
    )


def _silent_item(outcome: RuleOutcome) -> str:
    name = f"{_code(outcome.rule)} (group {_code(outcome.group)})"
    return f"<li>{name}: {escape(silence_text(outcome))}.</li>"


def render_html(result: ReplayResult, title: str = DEFAULT_TITLE) -> str:
    """A complete HTML document for the replay; every asset is inline.

    Signals whose series is not in ``result.series`` get a note instead of a plot.
    """
    silent = result.silent
    if silent:
        silence = (
            "<p>Rules that were replayed over the window and never fired:</p><ul>"
            + "".join(_silent_item(o) for o in silent)
            + "</ul>"
        )
    else:
        silence = "<p>Every replayed rule fired at least once.</p>"
    signals = "".join(_signal_section(s, result) for s in fired_signals(result))
    body = (
        f"<h1>{escape(title)}</h1>"
        f'<p class="summary">{summary_text(result, code=_code, plain=escape)}</p>'
        f"<h2>Timeline</h2>{_timeline(result)}"
        f"<h2>Signals</h2>{signals or '<p>No signals.</p>'}"
        f"<h2>Silence</h2>{silence}"
        f"<h2>How to read this</h2><p>{_HOW_TO_READ}</p>"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
