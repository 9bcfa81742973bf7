"""Conversions between domain values and stored documents."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from domain.billing.model import InboundEvent, InboundStatus
from domain.merchants.model import Connection, Merchant, Provider
from domain.notifications.model import (
    Attempt,
    Channel,
    DeadLetter,
    DeadLetterKind,
    Delivery,
    DeliveryStatus,
    Endpoint,
    SigningSecret,
)
from domain.shared.events import EventType
from domain.shared.outbox import OutboxMessage
from domain.subscriptions.model import Customer, Interval, Plan, Subscription
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.storage.documents import Document

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def iso(value: datetime) -> str:
    """Fixed width, so string order is time order in every backend."""
    return value.astimezone(UTC).strftime(_FORMAT)


def iso_or_none(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


def parse_time(value: str) -> datetime:
    # fromisoformat reads our fixed format (with its `Z`) at a fraction of strptime's cost,
    # which matters: every claimed item and outbox message is decoded on a hot path.
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"stored time without a zone: {value!r}")
    return parsed


def time_or_none(value: Any) -> datetime | None:
    return None if value is None else parse_time(value)


def merchant_doc(m: Merchant) -> Document:
    return {
        "id": m.id,
        "version": 0,
        "name": m.name,
        "api_key_hash": m.api_key_hash,
        "created_at": iso(m.created_at),
    }


def merchant_from(d: Document) -> Merchant:
    return Merchant(
        id=d["id"], name=d["name"], api_key_hash=d["api_key_hash"], created_at=parse_time(d["created_at"])
    )


def connection_doc(c: Connection) -> Document:
    return {
        "id": c.id,
        "version": 0,
        "merchant_id": c.merchant_id,
        "provider": c.provider.value,
        "webhook_secrets": list(c.webhook_secrets),
        "api_key": c.api_key,
        "created_at": iso(c.created_at),
    }


def connection_from(d: Document) -> Connection:
    return Connection(
        id=d["id"],
        merchant_id=d["merchant_id"],
        provider=Provider(d["provider"]),
        webhook_secrets=tuple(d["webhook_secrets"]),
        api_key=d["api_key"],
        created_at=parse_time(d["created_at"]),
    )


def customer_doc(c: Customer) -> Document:
    return {
        "id": c.id,
        "version": 0,
        "merchant_id": c.merchant_id,
        "email": c.email,
        "name": c.name,
        "provider_customer_ids": dict(c.provider_customer_ids),
        "created_at": iso(c.created_at),
    }


def customer_from(d: Document) -> Customer:
    return Customer(
        id=d["id"],
        merchant_id=d["merchant_id"],
        email=d["email"],
        name=d["name"],
        provider_customer_ids=dict(d["provider_customer_ids"]),
        created_at=parse_time(d["created_at"]),
    )


def plan_doc(p: Plan) -> Document:
    return {
        "id": p.id,
        "version": 0,
        "merchant_id": p.merchant_id,
        "name": p.name,
        "amount": p.amount,
        "currency": p.currency,
        "interval": p.interval.value,
        "interval_count": p.interval_count,
        "trial_days": p.trial_days,
        "provider_price_ids": dict(p.provider_price_ids),
        "created_at": iso(p.created_at),
    }


def plan_from(d: Document) -> Plan:
    return Plan(
        id=d["id"],
        merchant_id=d["merchant_id"],
        name=d["name"],
        amount=d["amount"],
        currency=d["currency"],
        interval=Interval(d["interval"]),
        interval_count=d["interval_count"],
        trial_days=d["trial_days"],
        provider_price_ids=dict(d["provider_price_ids"]),
        created_at=parse_time(d["created_at"]),
    )


def subscription_doc(s: Subscription) -> Document:
    return {
        "id": s.id,
        "version": s.version,
        "merchant_id": s.merchant_id,
        "customer_id": s.customer_id,
        "plan_id": s.plan_id,
        "status": s.status.value,
        "current_period_start": iso_or_none(s.current_period_start),
        "current_period_end": iso_or_none(s.current_period_end),
        "cancel_at_period_end": s.cancel_at_period_end,
        "trial_end": iso_or_none(s.trial_end),
        "canceled_at": iso_or_none(s.canceled_at),
        "provider": s.provider,
        "provider_subscription_id": s.provider_subscription_id,
        "provider_watermark": iso_or_none(s.provider_watermark),
        "created_at": iso(s.created_at),
        "updated_at": iso(s.updated_at),
    }


def subscription_from(d: Document) -> Subscription:
    return Subscription(
        id=d["id"],
        version=d["version"],
        merchant_id=d["merchant_id"],
        customer_id=d["customer_id"],
        plan_id=d["plan_id"],
        status=SubscriptionStatus(d["status"]),
        current_period_start=time_or_none(d["current_period_start"]),
        current_period_end=time_or_none(d["current_period_end"]),
        cancel_at_period_end=d["cancel_at_period_end"],
        trial_end=time_or_none(d["trial_end"]),
        canceled_at=time_or_none(d["canceled_at"]),
        provider=d["provider"],
        provider_subscription_id=d["provider_subscription_id"],
        provider_watermark=time_or_none(d["provider_watermark"]),
        created_at=parse_time(d["created_at"]),
        updated_at=parse_time(d["updated_at"]),
    )


def outbox_doc(m: OutboxMessage) -> Document:
    return {
        "id": m.id,
        "version": 0,
        "merchant_id": m.merchant_id,
        "event_type": m.event_type.value,
        "subject_id": m.subject_id,
        "occurred_at": iso(m.occurred_at),
        "data": dict(m.data),
        "dispatched": m.dispatched,
        "trace_carrier": dict(m.trace_carrier),
    }


def outbox_from(d: Document) -> OutboxMessage:
    return OutboxMessage(
        id=d["id"],
        merchant_id=d["merchant_id"],
        event_type=EventType(d["event_type"]),
        subject_id=d["subject_id"],
        occurred_at=parse_time(d["occurred_at"]),
        data=d["data"],
        dispatched=d["dispatched"],
        trace_carrier=d["trace_carrier"],
    )


def inbound_doc(e: InboundEvent) -> Document:
    return {
        "id": e.id,
        "version": e.version,
        "merchant_id": e.merchant_id,
        "connection_id": e.connection_id,
        "provider": e.provider,
        "provider_event_id": e.provider_event_id,
        "type": e.type,
        "status": e.status.value,
        "source_ip": e.source_ip,
        "received_at": iso(e.received_at),
        # Base64 keeps the exact bytes, whatever they are, in a JSON document.
        "body": base64.b64encode(e.body).decode(),
        "provider_created_at": iso_or_none(e.provider_created_at),
        "reason": e.reason,
        "attempts": e.attempts,
        "processed_at": iso_or_none(e.processed_at),
        "trace_carrier": dict(e.trace_carrier),
        "due_at": iso(e.due_at or e.received_at),
        "lease_owner": e.lease_owner,
    }


def inbound_from(d: Document) -> InboundEvent:
    return InboundEvent(
        id=d["id"],
        version=d["version"],
        merchant_id=d["merchant_id"],
        connection_id=d["connection_id"],
        provider=d["provider"],
        provider_event_id=d["provider_event_id"],
        type=d["type"],
        status=InboundStatus(d["status"]),
        source_ip=d["source_ip"],
        received_at=parse_time(d["received_at"]),
        body=base64.b64decode(d["body"]),
        provider_created_at=time_or_none(d["provider_created_at"]),
        reason=d["reason"],
        attempts=d["attempts"],
        processed_at=time_or_none(d["processed_at"]),
        trace_carrier=d["trace_carrier"],
        due_at=time_or_none(d.get("due_at")),
        lease_owner=d.get("lease_owner"),
    )


def endpoint_doc(e: Endpoint) -> Document:
    return {
        "id": e.id,
        "version": e.version,
        "merchant_id": e.merchant_id,
        "url": e.url,
        "event_types": list(e.event_types),
        "description": e.description,
        "enabled": e.enabled,
        "secrets": [{"value": s.value, "expires_at": iso_or_none(s.expires_at)} for s in e.secrets],
        "created_at": iso(e.created_at),
        "failing_since": iso_or_none(e.failing_since),
        "deleted_at": iso_or_none(e.deleted_at),
    }


def endpoint_from(d: Document) -> Endpoint:
    return Endpoint(
        id=d["id"],
        version=d["version"],
        merchant_id=d["merchant_id"],
        url=d["url"],
        event_types=tuple(d["event_types"]),
        description=d["description"],
        enabled=d["enabled"],
        secrets=tuple(
            SigningSecret(value=s["value"], expires_at=time_or_none(s["expires_at"])) for s in d["secrets"]
        ),
        created_at=parse_time(d["created_at"]),
        failing_since=time_or_none(d.get("failing_since")),
        deleted_at=time_or_none(d.get("deleted_at")),
    )


def _attempt_doc(a: Attempt) -> Document:
    return {
        "at": iso(a.at),
        "status_code": a.status_code,
        "duration_ms": a.duration_ms,
        "error": a.error,
        "response_excerpt": a.response_excerpt,
    }


def delivery_doc(d: Delivery) -> Document:
    return {
        "id": d.id,
        "version": d.version,
        "merchant_id": d.merchant_id,
        "endpoint_id": d.endpoint_id,
        "message_id": d.message_id,
        "event_type": d.event_type,
        "status": d.status.value,
        "attempts": [_attempt_doc(a) for a in d.attempts],
        "next_attempt_at": iso_or_none(d.next_attempt_at),
        "created_at": iso(d.created_at),
        "updated_at": iso(d.updated_at),
        "lease_owner": d.lease_owner,
        "channel": d.channel.value,
        "recipient": d.recipient,
        "lane": d.lane,
        "order_given_up": d.order_given_up,
        "retry_from": d.retry_from,
    }


def delivery_from(d: Document) -> Delivery:
    attempts = tuple(
        Attempt(
            at=parse_time(a["at"]),
            status_code=a["status_code"],
            duration_ms=a["duration_ms"],
            error=a["error"],
            response_excerpt=a["response_excerpt"],
        )
        for a in d["attempts"]
    )
    return Delivery(
        id=d["id"],
        version=d["version"],
        merchant_id=d["merchant_id"],
        endpoint_id=d["endpoint_id"],
        message_id=d["message_id"],
        event_type=d["event_type"],
        status=DeliveryStatus(d["status"]),
        attempts=attempts,
        next_attempt_at=time_or_none(d["next_attempt_at"]),
        created_at=parse_time(d["created_at"]),
        updated_at=parse_time(d["updated_at"]),
        lease_owner=d.get("lease_owner"),
        # Deliveries stored before emails and ordering existed lack these fields.
        channel=Channel(d.get("channel", Channel.WEBHOOK.value)),
        recipient=d.get("recipient"),
        lane=d.get("lane"),
        order_given_up=d.get("order_given_up", False),
        retry_from=d.get("retry_from", 0),
    )


def dead_letter_doc(x: DeadLetter) -> Document:
    return {
        "id": x.id,
        "version": x.version,
        "merchant_id": x.merchant_id,
        "kind": x.kind.value,
        "delivery_id": x.delivery_id,
        "reason": x.reason,
        "created_at": iso(x.created_at),
        "replayed_at": iso_or_none(x.replayed_at),
    }


def dead_letter_from(d: Document) -> DeadLetter:
    return DeadLetter(
        id=d["id"],
        merchant_id=d["merchant_id"],
        kind=DeadLetterKind(d["kind"]),
        delivery_id=d["delivery_id"],
        reason=d["reason"],
        created_at=parse_time(d["created_at"]),
        replayed_at=time_or_none(d.get("replayed_at")),
        version=d["version"],
    )
