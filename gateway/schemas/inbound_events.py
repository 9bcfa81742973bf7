"""`/v1/inbound-events`: the provider events a merchant's connections received."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from domain.inbound.model import InboundEvent as DomainInboundEvent, InboundStatus
from gateway.schemas.common import Id, Page, PageQuery


class InboundEvent(Struct, frozen=True, kw_only=True):
    """The raw body and trace context stay internal."""

    id: str
    connection_id: str
    provider: str
    provider_event_id: str
    type: str
    status: InboundStatus
    source_ip: str | None
    received_at: datetime
    reason: Annotated[str | None, Meta(description="Why it was ignored or failed.")]
    payload_expired_at: Annotated[
        datetime | None,
        Meta(description="When retention removed its body (it can no longer be reprocessed); null if kept."),
    ] = None


InboundEventPage = Page[InboundEvent]


class InboundEventQuery(PageQuery, frozen=True, kw_only=True):
    connection_id: Id | None = None
    status: InboundStatus | None = None


def inbound_event(value: DomainInboundEvent) -> InboundEvent:
    return msgspec.convert(value, InboundEvent, from_attributes=True)
