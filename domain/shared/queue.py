"""The job queue port. The database is the source of truth; the queue only executes.

Losing a queued job is never fatal: the sweeper finds due work in the database
and enqueues it again. Enqueuing the same job twice is harmless because job ids
are derived from the database state they act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol


class TaskQueue(Protocol):
    async def enqueue_inbound(self, event_id: str, trace_carrier: Mapping[str, str]) -> None: ...

    async def enqueue_delivery(
        self, delivery_id: str, version: int, at: datetime, trace_carrier: Mapping[str, str]
    ) -> None: ...
