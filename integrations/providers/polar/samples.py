"""Polar webhook events made up locally, in the shape Polar's API documents.

One factory for `subgate events send polar ...` and for the tests. A body is
``{"type", "timestamp", "data"}``; the event id travels in the `webhook-id` header. Object
builders return dicts (so a test can bend them); `*_event` builders return bytes, and
`polar_headers` signs them as Polar does (the secret's own UTF-8 bytes are the HMAC key).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from integrations.providers.polar.signature import sign_polar_payload
from integrations.providers.samples import EventSpec, Samples, SignedSample, check_choice, encode, period_end

T0: Final = datetime(2025, 1, 1, tzinfo=UTC)
PERIOD_START: Final = T0
PERIOD_END: Final = T0 + timedelta(days=31)
SUBSCRIPTION_EVENTS: Final = (
    "subscription.created",
    "subscription.updated",
    "subscription.active",
    "subscription.canceled",
    "subscription.revoked",
)
ORDER_PAID: Final = "order.paid"
EVENT_TYPES: Final = (*SUBSCRIPTION_EVENTS, ORDER_PAID)
STATUSES: Final = ("incomplete", "incomplete_expired", "trialing", "active", "past_due", "unpaid", "canceled")

_ids = itertools.count(1)


def iso(value: datetime | None) -> str | None:
    """Polar's time format: ISO 8601 with microseconds and a `Z`."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def subscription_object(  # noqa: PLR0913 - one keyword per field a test may vary
    *,
    sub_id: str = "b6a3c5e2-polar-sub-1",
    status: str = "active",
    modified_at: datetime | None = T0,
    created_at: datetime = T0,
    customer_id: str = "c0ffee00-polar-cus-1",
    email: str | None = "ada@example.com",
    product_id: str = "prod-polar-pro",
    product_name: str = "Pro",
    amount: int = 1500,
    currency: str = "usd",
    interval: str = "month",
    interval_count: int | None = 1,
    period_start: datetime | None = PERIOD_START,
    period_end: datetime | None = PERIOD_END,
    cancel_at_period_end: bool = False,
    canceled_at: datetime | None = None,
    trial_end: datetime | None = None,
    metadata: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "id": sub_id,
        "created_at": iso(created_at),
        "modified_at": iso(modified_at),
        "amount": amount,
        "currency": currency,
        "recurring_interval": interval,
        "recurring_interval_count": interval_count,
        "status": status,
        "current_period_start": iso(period_start),
        "current_period_end": iso(period_end),
        "trial_start": None,
        "trial_end": iso(trial_end),
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": iso(canceled_at),
        "started_at": iso(created_at),
        "ends_at": None,
        "ended_at": None,
        "customer_id": customer_id,
        "product_id": product_id,
        "discount_id": None,
        "checkout_id": None,
        "metadata": dict(metadata or {}),
        "customer": {"id": customer_id, "email": email, "name": None, "metadata": {}},
        "product": {"id": product_id, "name": product_name, "is_recurring": True},
        "prices": [{"id": "price-polar-1", "amount_type": "fixed", "price_amount": amount}],
        "meters": [],
    }


def order_object(
    *,
    order_id: str = "0rder000-polar-1",
    subscription_id: str | None = "b6a3c5e2-polar-sub-1",
    total_amount: int = 1500,
    currency: str = "usd",
    created_at: datetime = T0,
    billing_reason: str = "subscription_create",
) -> dict[str, Any]:
    subscription = None
    if subscription_id is not None:
        subscription = subscription_object(sub_id=subscription_id) | {"customer": None, "product": None}
    return {
        "id": order_id,
        "created_at": iso(created_at),
        "modified_at": iso(created_at),
        "status": "paid",
        "paid": True,
        "subtotal_amount": total_amount,
        "discount_amount": 0,
        "net_amount": total_amount,
        "tax_amount": 0,
        "total_amount": total_amount,
        "currency": currency,
        "billing_reason": billing_reason,
        "customer_id": "c0ffee00-polar-cus-1",
        "product_id": "prod-polar-pro",
        "subscription_id": subscription_id,
        "subscription": subscription,
        "metadata": {},
    }


def polar_event(event_type: str, data: Mapping[str, Any], *, timestamp: datetime | None = T0) -> bytes:
    document: dict[str, Any] = {"type": event_type, "data": dict(data)}
    if timestamp is not None:
        document["timestamp"] = iso(timestamp)
    return encode(document)


def subscription_event(event_type: str = "subscription.updated", **fields: Any) -> bytes:
    obj = subscription_object(**fields)
    return polar_event(event_type, obj, timestamp=fields.get("modified_at") or T0)


def order_event(**fields: Any) -> bytes:
    return polar_event("order.paid", order_object(**fields))


def polar_headers(body: bytes, secret: str, timestamp: int, message_id: str | None = None) -> dict[str, str]:
    """The headers Polar sends with `body`."""
    return {
        "content-type": "application/json",
        **sign_polar_payload(body, secret, message_id or f"msg_polar_{next(_ids)}", timestamp),
    }


def build_event(spec: EventSpec) -> dict[str, Any]:
    """The event Polar would send for `spec` (the body; its id goes in the `webhook-id` header)."""
    check_choice(spec.type, EVENT_TYPES, "event type")
    end = period_end(spec.now, spec.interval)
    subscription = _subscription_of(spec, end)
    if spec.type == ORDER_PAID:
        data = order_object(
            order_id=str(uuid.uuid4()),
            subscription_id=spec.subscription_id,
            total_amount=spec.amount,
            currency=spec.currency,
            created_at=spec.now,
        ) | {"subscription": subscription | {"customer": None, "product": None}}
    else:
        data = subscription
    return {"type": spec.type, "timestamp": iso(spec.now), "data": data}


def _subscription_of(spec: EventSpec, end: datetime) -> dict[str, Any]:
    ended = spec.type == "subscription.revoked"
    status = "canceled" if ended else spec.status
    return subscription_object(
        sub_id=spec.subscription_id,
        status=status,
        modified_at=spec.now,
        created_at=spec.now,
        customer_id=spec.customer_id,
        email=None,
        product_id=spec.price_id,
        amount=spec.amount,
        currency=spec.currency,
        interval=spec.interval,
        period_start=spec.now,
        period_end=end,
        cancel_at_period_end=spec.cancel_at_period_end or spec.type == "subscription.canceled",
        canceled_at=spec.now if ended or spec.type == "subscription.canceled" else None,
        trial_end=end if status == "trialing" else None,
    )


def signed(spec: EventSpec, secret: str) -> SignedSample:
    """The event for `spec`, signed with `secret` as Polar signs it."""
    body = encode(build_event(spec))
    event_id = spec.event_id or f"msg_{uuid.uuid4().hex}"
    return SignedSample(
        event_id=event_id, body=body, headers=polar_headers(body, secret, int(spec.now.timestamp()), event_id)
    )


SAMPLES: Final = Samples(
    event_types=EVENT_TYPES,
    statuses=STATUSES,
    payments=frozenset({ORDER_PAID}),
    new_subscription_id=lambda: str(uuid.uuid4()),
    customer_of=lambda subscription_id: str(uuid.uuid5(uuid.NAMESPACE_URL, f"customer-of:{subscription_id}")),
    signed=signed,
)
