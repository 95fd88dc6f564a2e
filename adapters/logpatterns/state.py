"""Where a miner's state lives between runs: a directory beside the daemon's ledger.

``graysignal run`` keeps, per ``by: pattern`` rule source (file, ``log`` options, step
and retention), the template miner, the file position and the recent counts in
``<ledger>-patterns/<key>.json.gz``, written atomically (a temporary file renamed over
the old one) at most every :data:`SAVE_INTERVAL` seconds. A restarted daemon resumes
from it: the same ids, the same counts, and only the lines appended meanwhile to read.
``graysignal replay --ledger`` reads the same directory (never writes it) so that a
replay names templates as the daemon did (docs/sources.md, "Log patterns").

A state that cannot be read (damaged, another version, other parameters) is logged and
ignored: the miner starts afresh, which costs ids but never stops a rule.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("graysignal.sources")

SAVE_INTERVAL = 60.0
SUFFIX = ".json.gz"


def state_dir_for_ledger(ledger: Path) -> Path:
    """``/var/lib/graysignal/ledger.db`` -> ``/var/lib/graysignal/ledger.db-patterns``."""
    return ledger.with_name(ledger.name + "-patterns")


def state_key(parts: Mapping[str, Any]) -> str:
    """A file name for one source: a hash of what the state depends on."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


class PatternStateStore:
    """Loads and (unless ``read_only``) saves miner states in ``directory``."""

    def __init__(
        self,
        directory: Path,
        *,
        read_only: bool = False,
        save_interval: float = SAVE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory
        self.read_only = read_only
        self.save_interval = save_interval
        self._clock = clock
        self._saved: dict[str, float] = {}
        self._lock = threading.Lock()

    def path(self, key: str) -> Path:
        return self.directory / f"{key}{SUFFIX}"

    def load(self, key: str) -> dict[str, Any] | None:
        path = self.path(key)
        try:
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                state = json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError) as exc:
            log.warning(
                "log pattern state unreadable; mining afresh", path=str(path), error=str(exc)
            )
            return None
        if not isinstance(state, dict):
            log.warning("log pattern state unreadable; mining afresh", path=str(path))
            return None
        return state

    def due(self, key: str) -> bool:
        """Whether :meth:`save` would write now (the first save always does)."""
        if self.read_only:
            return False
        last = self._saved.get(key)
        return last is None or self._clock() - last >= self.save_interval

    def save(self, key: str, state: Mapping[str, Any]) -> None:
        """Write ``state`` atomically; an I/O error is logged, never raised."""
        if self.read_only:
            return
        with self._lock:
            self._saved[key] = self._clock()
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
                try:
                    with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb") as gz:
                        gz.write(json.dumps(state, separators=(",", ":")).encode("utf-8"))
                    os.replace(tmp, self.path(key))
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
            except OSError as exc:
                log.warning("log pattern state not saved", path=str(self.path(key)), error=str(exc))
