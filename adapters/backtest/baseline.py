"""The backtest baseline: rule changes get regression-tested like code.

``--update-baseline`` writes, per incident, whether the rules caught it early, the
earliest lead time and which rules gave it. A later backtest compares itself with the
file: an incident that was caught and no longer is, is a *regression* and fails the
command (exit 1), so a rule edit that silences the only early warning of a past
incident fails CI before it is deployed. Improvements, new incidents and lead times
that moved are reported but pass.

The file is JSON with sorted keys and no timestamps, so regenerating it after an
intentional change gives a small, reviewable diff.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from adapters.backtest.engine import Backtest, IncidentResult, Verdict
from adapters.errors import InputError
from adapters.reports import human_duration

__all__ = [
    "BASELINE_SCHEMA_VERSION",
    "BaselineChange",
    "BaselineEntry",
    "ChangeKind",
    "baseline_of",
    "compare",
    "read_baseline",
    "render_baseline",
    "write_baseline",
]

BASELINE_SCHEMA_VERSION = 1

LEAD_TOLERANCE = 3600
"""Lead times that moved by less than this are not reported (an evaluation or two)."""


@dataclass(frozen=True)
class BaselineEntry:
    verdict: Verdict
    earliest_lead: int | None
    early_rules: tuple[str, ...]

    @property
    def caught(self) -> bool:
        return self.verdict is Verdict.EARLY


class ChangeKind(StrEnum):
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    NEW = "new"
    REMOVED = "removed"
    VERDICT = "verdict"
    LEAD = "lead"


@dataclass(frozen=True)
class BaselineChange:
    """One difference from the baseline; only a regression fails the backtest."""

    incident: str
    kind: ChangeKind
    before: BaselineEntry | None
    after: BaselineEntry | None
    text: str

    @property
    def fails(self) -> bool:
        return self.kind is ChangeKind.REGRESSION


def entry_of(result: IncidentResult) -> BaselineEntry:
    return BaselineEntry(
        verdict=result.verdict,
        earliest_lead=result.earliest_lead,
        early_rules=tuple(sorted({t.signal.rule for t in result.early})),
    )


def baseline_of(backtest: Backtest) -> dict[str, BaselineEntry]:
    return {r.incident.id: entry_of(r) for r in backtest.incidents}


def render_baseline(backtest: Backtest) -> str:
    entries = {
        incident: {
            "verdict": entry.verdict.value,
            "caught": entry.caught,
            "earliest_lead_seconds": entry.earliest_lead,
            "early_rules": list(entry.early_rules),
        }
        for incident, entry in baseline_of(backtest).items()
    }
    document = {"schema_version": BASELINE_SCHEMA_VERSION, "incidents": entries}
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def write_baseline(path: Path, backtest: Backtest) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_baseline(backtest), encoding="utf-8")
    except OSError as exc:
        raise InputError.at(
            str(path), f"cannot write the baseline: {exc.strerror or exc}"
        ) from None


def read_baseline(path: Path) -> dict[str, BaselineEntry]:
    """Read a baseline written by :func:`write_baseline`; problems name the file."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError.at(
            source, "no such baseline file; create it with --update-baseline"
        ) from None
    except OSError as exc:
        raise InputError.at(source, f"cannot read the baseline: {exc.strerror or exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError.at(source, f"not valid JSON: {exc.msg}", exc.lineno) from None
    if not isinstance(document, dict) or not isinstance(document.get("incidents"), dict):
        raise InputError.at(source, "not a backtest baseline: expected 'incidents' in an object")
    version = document.get("schema_version")
    if version != BASELINE_SCHEMA_VERSION:
        raise InputError.at(
            source,
            f"baseline schema_version {version!r} is not {BASELINE_SCHEMA_VERSION}; "
            "regenerate it with --update-baseline",
        )
    entries = {}
    for incident, raw in document["incidents"].items():
        entries[str(incident)] = _entry(raw, source, str(incident))
    return entries


def _entry(raw: Any, source: str, incident: str) -> BaselineEntry:
    try:
        verdict = Verdict(raw["verdict"])
        lead = raw.get("earliest_lead_seconds")
        rules = tuple(str(r) for r in raw.get("early_rules", []))
        if lead is not None and not isinstance(lead, int):
            raise TypeError("earliest_lead_seconds")
    except (KeyError, TypeError, ValueError, AttributeError):
        raise InputError.at(
            source, f"incident '{incident}': malformed entry; regenerate with --update-baseline"
        ) from None
    return BaselineEntry(verdict, lead, rules)


def compare(baseline: Mapping[str, BaselineEntry], backtest: Backtest) -> list[BaselineChange]:
    """Differences between ``baseline`` and ``backtest``, regressions first."""
    current = baseline_of(backtest)
    changes: list[BaselineChange] = []
    for incident, now in current.items():
        before = baseline.get(incident)
        if before is None:
            changes.append(
                BaselineChange(incident, ChangeKind.NEW, None, now, f"new: {now.verdict.value}")
            )
        elif before.caught and not now.caught:
            text = f"regression: was caught early by {', '.join(before.early_rules)}"
            if before.earliest_lead is not None:
                text += f" ({human_duration(before.earliest_lead)} ahead)"
            text += f", now {now.verdict.value}"
            changes.append(BaselineChange(incident, ChangeKind.REGRESSION, before, now, text))
        elif now.caught and not before.caught:
            text = f"improvement: was {before.verdict.value}, now caught early"
            changes.append(BaselineChange(incident, ChangeKind.IMPROVEMENT, before, now, text))
        elif before.verdict is not now.verdict:
            text = f"was {before.verdict.value}, now {now.verdict.value}"
            changes.append(BaselineChange(incident, ChangeKind.VERDICT, before, now, text))
        elif (
            before.earliest_lead is not None
            and now.earliest_lead is not None
            and abs(now.earliest_lead - before.earliest_lead) >= LEAD_TOLERANCE
        ):
            delta = now.earliest_lead - before.earliest_lead
            text = (
                f"earliest warning {human_duration(abs(delta))} "
                f"{'earlier' if delta > 0 else 'later'} than in the baseline "
                f"({human_duration(before.earliest_lead)} → {human_duration(now.earliest_lead)} "
                "ahead)"
            )
            changes.append(BaselineChange(incident, ChangeKind.LEAD, before, now, text))
    for incident, before in baseline.items():
        if incident not in current:
            text = "removed: in the baseline but not in the library (not compared)"
            changes.append(BaselineChange(incident, ChangeKind.REMOVED, before, None, text))
    order = list(ChangeKind)
    return sorted(changes, key=lambda c: (order.index(c.kind), c.incident))
