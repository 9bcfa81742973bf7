"""The inbound event: raw provider input, kept exactly as received."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


class InboundStatus(enum.StrEnum):
    ACCEPTED = "accepted"  # stored, waiting to be processed
    APPLIED = "applied"
    IGNORED = "ignored"  # unknown type, or recorded without effect (stale, duplicate effect)
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundEvent:
    id: str
    merchant_id: str
    connection_id: str
    provider: str
    provider_event_id: str
    type: str
    status: InboundStatus
    source_ip: str | None
    received_at: datetime
    body: bytes  # the exact bytes that were verified
    provider_created_at: datetime | None = None
    reason: str | None = None
    attempts: int = 0
    processed_at: datetime | None = None
    trace_carrier: Mapping[str, str] = field(default_factory=dict)
    # The queue of record: an `accepted` event is due for processing at `due_at` (its arrival,
    # or a later time after a postponement); a worker that claims it sets `lease_owner` and
    # moves `due_at` to the lease's end, so no other worker takes it while the lease holds.
    due_at: datetime | None = None
    lease_owner: str | None = None
    # When retention removed `body` (see `integrations.stores.retention`): the event can no
    # longer be processed again.
    payload_expired_at: datetime | None = None
    version: int = 0
