"""What every part of the ledger uses: one connection guarded by one lock."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from adapters.ledger.errors import LedgerError


class LedgerBase:
    """The connection, its lock and transactions; :class:`Ledger` adds the methods."""

    def __init__(self, connection: sqlite3.Connection, path: str) -> None:
        """Use :meth:`open`; this only wraps a connection that is already migrated."""
        self._connection: sqlite3.Connection | None = connection
        self._lock = threading.RLock()
        self.path = path

    # -- internals ---------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            raise LedgerError(f"ledger {self.path} is closed")
        return self._connection

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on any exception."""
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
