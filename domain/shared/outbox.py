"""The transactional outbox: events committed together with the change that caused them.

A context appends events in the same transaction as its state change. The
notifications context later turns each pending event into deliveries. The
outbox row is also the message: its id is the stable `webhook-id`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from domain.shared.events import DomainEvent, EventType
from domain.shared.ids import new_id


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxMessage:
    id: str
    merchant_id: str
    event_type: EventType
    subject_id: str
    occurred_at: datetime
    data: Mapping[str, Any]
    dispatched: bool = False
    trace_carrier: Mapping[str, str] = field(default_factory=dict)
    # When retention removed `data` (the body of its webhooks and emails): it cannot be sent again.
    payload_expired_at: datetime | None = None

    @classmethod
    def from_event(cls, event: DomainEvent, trace_carrier: Mapping[str, str]) -> OutboxMessage:
        return cls(
            id=new_id("msg"),
            merchant_id=event.merchant_id,
            event_type=event.type,
            subject_id=event.subject_id,
            occurred_at=event.occurred_at,
            data=event.data,
            trace_carrier=dict(trace_carrier),
        )


class OutboxRepository(Protocol):
    async def append(self, message: OutboxMessage) -> None: ...

    async def get(self, message_id: str) -> OutboxMessage | None: ...

    async def get_many(self, message_ids: Sequence[str]) -> Sequence[OutboxMessage]: ...

    async def pending(self, limit: int) -> Sequence[OutboxMessage]: ...

    async def mark_dispatched(self, message_id: str) -> None: ...


class TraceCarrier(Protocol):
    """Captures the current trace context so work done later joins the same trace."""

    def __call__(self) -> Mapping[str, str]: ...
