"""Data sources by the name rule files use (``source: file``)."""

from __future__ import annotations

from collections.abc import Mapping

from adapters.errors import SourceUnavailable
from adapters.sources.base import Source
from adapters.sources.files import FileSource
from adapters.sources.logs import LogFileSource
from detector.rule import Rule
from detector.series import Series


class NotConfigured:
    """Stands in for a server source this build or configuration cannot reach.

    Fetching fails for the one rule that asked, with a message saying why; the other
    rules of the run go on.
    """

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def fetch(self, rule: Rule, start: int, end: int) -> list[Series]:
        raise SourceUnavailable(f"source '{self.name}' is not available: {self.reason}")


def default_sources() -> Mapping[str, Source]:
    """The sources wired into every command."""
    return {
        "file": FileSource(),
        "logfile": LogFileSource(),
        "prometheus": NotConfigured("prometheus", "the Prometheus source is not built yet"),
        "loki": NotConfigured("loki", "the Loki source is not built yet"),
    }


__all__ = ["FileSource", "LogFileSource", "NotConfigured", "Source", "default_sources"]
