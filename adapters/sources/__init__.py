"""Data sources by the name rule files use (``source: file``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import structlog

from adapters.errors import InputError, SourceUnavailable
from adapters.sources.base import Source
from adapters.sources.files import FileSource
from adapters.sources.incremental import IncrementalFetcher
from adapters.sources.logs import LogFileSource
from adapters.sources.loki import LokiSource
from adapters.sources.prometheus import PrometheusSource
from detector.rule import Rule
from detector.series import Series

log = structlog.get_logger("graysignal.sources")


class NotConfigured:
    """Stands in for a server source this build or configuration cannot reach.

    Fetching fails for the one rule that asked, with a message saying why; the other
    rules of the run go on.
    """

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def fetch(self, rule: Rule, start: int, end: int) -> list[Series]:
        raise SourceUnavailable(
            f"rule {rule.signal}: source '{self.name}' is not available: {self.reason}"
        )


def default_sources(
    pattern_state: Path | None = None, *, strict_order: bool = False
) -> Mapping[str, Source]:
    """The sources wired into every command, configured from the environment now.

    A server source whose ``GRAYSIGNAL_<SERVER>_*`` variables are invalid becomes a
    :class:`NotConfigured` whose error names each bad variable: the rules that use it
    fail with that message (and ``check --probe`` shows it), while rules on other
    sources run, as the design asks of a source that is down. ``strict_order`` makes the
    file source refuse out-of-order samples instead of sorting them into place.

    ``pattern_state`` is a daemon's log-pattern state directory (beside its ledger), read,
    never written: ``replay --ledger`` names templates as that daemon did.
    """
    logfile = LogFileSource()
    if pattern_state is not None:
        from adapters.logpatterns.files import LogPatternFiles  # noqa: PLC0415
        from adapters.logpatterns.state import PatternStateStore  # noqa: PLC0415

        store = PatternStateStore(pattern_state, read_only=True)
        logfile = LogFileSource(patterns=LogPatternFiles(store))
    return {
        "file": FileSource(strict_order=strict_order),
        "logfile": logfile,
        "prometheus": _configured("prometheus", PrometheusSource),
        "loki": _configured("loki", LokiSource),
    }


SERVER_SOURCES = ("prometheus", "loki")


def with_incremental_fetch(sources: Mapping[str, Source]) -> dict[str, Source]:
    """``sources`` with each server source wrapped in an :class:`IncrementalFetcher`,
    for the daemon: each cycle then fetches only the new samples. Files are re-read
    only when they change already (and replay reads each rule once), so they stay as
    they are."""
    return {
        name: IncrementalFetcher(source) if name in SERVER_SOURCES else source
        for name, source in sources.items()
    }


def following_logs(sources: Mapping[str, Source], pattern_state: Path) -> dict[str, Source]:
    """``sources`` for the daemon's log files: ``by: pattern`` rules mine only what was
    appended since the last cycle, keep their required history and no more, and save
    their miner to ``pattern_state`` (beside the ledger) to resume after a restart."""
    from adapters.logpatterns.files import LogPatternFiles  # noqa: PLC0415
    from adapters.logpatterns.state import PatternStateStore  # noqa: PLC0415

    patterns = LogPatternFiles(PatternStateStore(pattern_state), follow=True)
    return {**sources, "logfile": LogFileSource(patterns=patterns)}


def _configured(name: str, build: Callable[[], Source]) -> Source:
    try:
        return build()
    except InputError as exc:
        reason = "; ".join(str(p) for p in exc.problems)
        log.warning("source not configured", source=name, error=reason)
        return NotConfigured(name, f"invalid settings: {reason}")


__all__ = [
    "FileSource",
    "IncrementalFetcher",
    "LogFileSource",
    "LokiSource",
    "NotConfigured",
    "PrometheusSource",
    "Source",
    "default_sources",
    "following_logs",
    "with_incremental_fetch",
]
