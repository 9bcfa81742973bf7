"""`/v1/deliveries`: the fate of each outbound message, a webhook or a customer email."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from domain.notifications.model import Channel, Delivery as DomainDelivery, DeliveryStatus
from gateway.schemas.common import Id, Page, PageQuery


class Attempt(Struct, frozen=True, kw_only=True):
    at: datetime
    status_code: Annotated[int | None, Meta(description="The endpoint's answer; null when none came.")]
    duration_ms: int
    error: str | None
    # Named as in the domain (so it converts by attribute), shown as `response_body`.
    response_excerpt: Annotated[
        str | None, Meta(description="The first 2 KB of what the endpoint answered.")
    ] = msgspec.field(name="response_body")


class Delivery(Struct, frozen=True, kw_only=True):
    """One message to one recipient, with its whole attempt log (in lists and by id)."""

    id: str
    endpoint_id: Annotated[str | None, Meta(description="Null for an email.")]
    message_id: Annotated[str, Meta(description="The `webhook-id`: the same across retries and replays.")]
    event_type: str
    status: DeliveryStatus
    attempts: list[Attempt]
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    channel: Channel
    recipient: Annotated[str | None, Meta(description="The email address, for an email.")]
    order_given_up: Annotated[
        bool, Meta(description="Sent before an earlier message of its subscription was settled.")
    ]
    payload_expired_at: Annotated[
        datetime | None,
        Meta(description="When retention removed its body (it can no longer be sent again); null if kept."),
    ] = None
    erased_at: Annotated[
        datetime | None,
        Meta(description="For an email: when its customer's personal data (recipient, body) was erased."),
    ] = None


DeliveryPage = Page[Delivery]


class DeliveryQuery(PageQuery, frozen=True, kw_only=True):
    endpoint_id: Id | None = None
    status: DeliveryStatus | None = None
    channel: Channel | None = None


def delivery(value: DomainDelivery) -> Delivery:
    # Every field of the representation is an attribute of the domain value, under the same name.
    return msgspec.convert(value, Delivery, from_attributes=True)
