"""The store is the queue of record; a work signal only says "look now".

Inbound events, outbox messages and deliveries wait in the store with their status
and due time, and workers claim them in batches. A signal lets a worker look at once
instead of at its next poll. Losing a signal delays work by at most one poll
interval; it never loses work, so sending one is best effort and never fails a caller.
"""

from __future__ import annotations

import enum
from typing import Protocol


class WorkKind(enum.StrEnum):
    INBOUND = "inbound"  # accepted inbound events to apply
    OUTBOX = "outbox"  # outbox messages to fan out into deliveries
    DELIVERIES = "deliveries"  # deliveries due for an attempt


class WorkSignal(Protocol):
    def notify(self, kind: WorkKind) -> None:
        """Tell workers that work of `kind` is due. Never blocks, never raises."""
        ...
