"""Stdout: one JSON line per notification, for pipes, containers and local runs.

Logs go to stderr (adapters/logging.py), so stdout carries nothing but notifications and
``graysignal run --stdout-notifications | jq`` works.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping
from typing import Any, TextIO

__all__ = ["StdoutNotifier"]


class StdoutNotifier:
    """Prints each payload as one line of strict JSON and flushes (a line is a delivery)."""

    def __init__(self, *, name: str = "stdout", stream: TextIO | None = None) -> None:
        self.name = name
        self._stream = stream
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"StdoutNotifier(name={self.name!r})"

    def deliver(self, payload: Mapping[str, Any]) -> None:
        line = json.dumps(dict(payload), allow_nan=False, separators=(",", ":"))
        stream = self._stream or sys.stdout  # looked up late: tests and the CLI swap it
        with self._lock:
            stream.write(line + "\n")
            stream.flush()
