"""The ledger: every finding, alert transition and notification, in one SQLite file.

Why a ledger at all (DESIGN.md sections 2 and 6):

- **Nothing lost.** A transition users must hear about is written in the *same*
  transaction as one outbox row per notifier, so a crash can never leave a transition
  without its notifications. The dispatcher delivers the outbox and records every attempt;
  an undelivered row survives restarts and is retried with backoff.
- **Resume after a restart.** Each rule's active alerts (pending timers, firing since)
  are stored with the transitions that produced them, so a restarted daemon neither
  re-sends alerts that were already firing nor restarts their ``for`` timers.
- **"We were told" vs "we could have known".** Replay reads back transitions and who
  was told when (:meth:`Ledger.transitions_for`, :meth:`Ledger.deliveries_for`).

Storage choices: SQLite in WAL mode with ``synchronous=NORMAL`` (a committed transaction
survives a crash of the process; a power loss may lose the last few commits, and then
alert state and transitions roll back *together*, so the next evaluation re-derives the
lost transitions) and a ``busy_timeout`` so another process reading the file (``graysignal
replay``) never makes the daemon fail. The schema is versioned: ``schema_version`` holds
one row per applied migration, migrations run in one transaction at open, and a file
written by a newer graysignal is refused instead of being misread.

Threads: one process, several threads (evaluation loops, the delivery thread, /metrics).
The ledger holds **one connection guarded by a lock**; every public method takes it, so
calls are serialised. SQLite serialises writers anyway and each call is short, so this
costs nothing measurable and keeps each transaction on one connection.

Delivery is at-least-once: a crash between a successful delivery and
:meth:`Ledger.mark_delivered` re-sends that one notification after the restart
(Alertmanager de-duplicates by labels; a chat message may appear twice). The schema is
documented in ``docs/ledger.md``.
"""

from __future__ import annotations

from adapters.ledger.core import Ledger, notifies
from adapters.ledger.errors import LedgerError
from adapters.ledger.records import (
    DeliveryRecord,
    DigestRecord,
    KnownAlert,
    OutboxItem,
    SilenceRecord,
    SuppressedRecord,
    TransitionRecord,
)
from adapters.ledger.schema import MIGRATIONS, SCHEMA_VERSION

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "DeliveryRecord",
    "DigestRecord",
    "KnownAlert",
    "Ledger",
    "LedgerError",
    "OutboxItem",
    "SilenceRecord",
    "SuppressedRecord",
    "TransitionRecord",
    "notifies",
]
