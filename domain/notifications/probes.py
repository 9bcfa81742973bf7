"""`endpoint.test`: a message a merchant asks for, to check one endpoint end to end.

Made together with its one delivery (the outbox row already dispatched, so the fan-out never
sends it elsewhere); from there it is signed, sent, recorded, retried and dead-lettered like
any other message.
"""

from __future__ import annotations

from datetime import datetime

from domain.notifications.model import Delivery, DeliveryStatus, Endpoint
from domain.shared.clock import public_time
from domain.shared.events import EventType
from domain.shared.ids import new_id
from domain.shared.outbox import OutboxMessage


def probe_message(endpoint: Endpoint, now: datetime) -> OutboxMessage:
    return OutboxMessage(
        id=new_id("msg"),
        merchant_id=endpoint.merchant_id,
        event_type=EventType.ENDPOINT_TEST,
        subject_id=endpoint.id,
        occurred_at=now,
        data={
            "endpoint": {"id": endpoint.id, "url": endpoint.url, "description": endpoint.description},
            "requested_at": public_time(now),
        },
        dispatched=True,
    )


def probe_delivery(message: OutboxMessage, endpoint: Endpoint, now: datetime) -> Delivery:
    return Delivery(
        id=new_id("dlv"),
        merchant_id=message.merchant_id,
        endpoint_id=endpoint.id,
        message_id=message.id,
        event_type=message.event_type.value,
        status=DeliveryStatus.PENDING,
        attempts=(),
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
        subject_id=endpoint.id,
    )
