"""What a fleet's workers run: top-level functions on plain, picklable data.

A task fetches its own share of a rule's data from the source (through the source's
ordinary chunking), so series go from the source to the worker that replays them and
never through the client. What comes back is the replay's findings (signals and the
rule's outcome) and only the series the caller's reports need.

Shares: a ``file`` rule whose ``path`` names many files (a directory or a glob) is
listed first (:func:`list_rule_files`, on a worker, whose file system is the one that
counts) and split into tasks of a few files each; any other rule is one task, because a
PromQL or LogQL query cannot be split by series without rewriting it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from adapters.errors import InputError, SourceUnavailable
from adapters.replaying import ScheduledRule, fetch_history
from adapters.sources.base import Source
from adapters.sources.files import matching_files, names_many_files
from detector.replay import RuleOutcome, Signal, replay_rule
from detector.series import Series

__all__ = ["Batch", "BatchResult", "Keep", "Listing", "list_rule_files", "replay_batch"]


class Keep(StrEnum):
    """Which series a task sends back with its findings."""

    ALL = "all"
    """Every series read (the digest judges coverage, a backtest checks for data)."""
    SIGNALS = "signals"
    """Only the series of alerts (what a replay report plots or tells a story about)."""


@dataclass(frozen=True)
class Listing:
    """A rule's files, in reading order, or why they could not be listed. ``files`` is
    ``None`` for a rule that is replayed as one task."""

    files: tuple[str, ...] | None = None
    error: str | None = None


@dataclass(frozen=True)
class Batch:
    """One task: rule ``rule`` (its index in the plan), share ``index``; ``files`` are the
    files to read, or ``None`` for all of the rule's data."""

    rule: int
    index: int
    entry: ScheduledRule
    files: tuple[str, ...] | None
    start: int
    end: int
    keep: Keep = Keep.ALL


@dataclass(frozen=True)
class BatchResult:
    """A task's findings for its share: the key it is merged by, the rule's signals on
    the share's series, the share's outcome (or the error that stopped it) and the
    series kept (:class:`Keep`)."""

    rule: int
    index: int
    signals: list[Signal] = field(default_factory=list)
    outcome: RuleOutcome | None = None
    error: str | None = None
    series: list[Series] = field(default_factory=list)


def list_rule_files(rule: ScheduledRule) -> Listing:
    """The files of a ``file`` rule whose path names many (see the module doc)."""
    path = rule.rule.path
    if rule.rule.source != "file" or not path or not names_many_files(path):
        return Listing()
    try:
        return Listing(files=tuple(str(p) for p in matching_files(path)))
    except InputError as exc:
        return Listing(error=str(exc))


def replay_batch(batch: Batch, sources: Mapping[str, Source]) -> BatchResult:
    """Fetch the batch's series and replay its rule on them."""
    entry = batch.entry
    try:
        series = _fetch(batch, sources)
    except (SourceUnavailable, InputError) as exc:
        return BatchResult(batch.rule, batch.index, error=str(exc))
    signals, outcome = replay_rule(
        entry.rule,
        group=entry.group,
        interval=entry.interval,
        series=series,
        start=batch.start,
        end=batch.end,
        offset=entry.offset,
    )
    if batch.keep is Keep.SIGNALS:
        wanted = {s.series_fingerprint for s in signals}
        series = [s for s in series if s.fingerprint in wanted]
    return BatchResult(batch.rule, batch.index, signals, outcome, series=series)


def _fetch(batch: Batch, sources: Mapping[str, Source]) -> list[Series]:
    if batch.files is None:
        return fetch_history(batch.entry, sources, batch.start, batch.end)
    # One file at a time through the same source (and any scope wrapping it), as the
    # source itself reads a many-file path: file by file, in the listing's order.
    rule = batch.entry.rule
    return [
        one
        for path in batch.files
        for one in fetch_history(
            replace(batch.entry, rule=rule.model_copy(update={"path": path})),
            sources,
            batch.start,
            batch.end,
        )
    ]
