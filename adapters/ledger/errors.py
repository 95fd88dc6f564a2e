"""The ledger's error type."""

from __future__ import annotations


class LedgerError(Exception):
    """The ledger cannot be used as asked: a newer schema, not a database, closed."""
