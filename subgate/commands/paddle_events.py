"""Paddle Billing webhook events made up locally, in the shape Paddle sends them.

What `subgate events send paddle ...` posts: the envelope (`event_id`, `event_type`,
`occurred_at`, `notification_id`, `data`), a subscription with its item's price and product,
or a completed transaction of a subscription, with ids unique per call unless given.
"""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime
from typing import Any, Final

from subgate.commands.stripe_events import EventSpec, period_end

SUBSCRIPTION_EVENTS: Final = (
    "subscription.created",
    "subscription.activated",
    "subscription.updated",
    "subscription.canceled",
)
TRANSACTION_COMPLETED: Final = "transaction.completed"
EVENT_TYPES: Final = (*SUBSCRIPTION_EVENTS, TRANSACTION_COMPLETED)
STATUSES: Final = ("active", "trialing", "past_due", "paused", "canceled")
_ID_ALPHABET: Final = string.ascii_lowercase + string.digits
_ID_LENGTH: Final = 26


def paddle_id(prefix: str) -> str:
    """`prefix_` + 26 lower-case letters and digits, like Paddle's own ids."""
    return f"{prefix}_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


def iso(value: datetime) -> str:
    """Paddle's time format: ISO 8601 with microseconds and a `Z`."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_event(spec: EventSpec) -> dict[str, Any]:
    """The event Paddle would send for `spec`."""
    if spec.type not in EVENT_TYPES:
        raise ValueError(f"unsupported Paddle event type {spec.type!r}; one of {', '.join(EVENT_TYPES)}")
    if spec.status not in STATUSES:
        raise ValueError(f"unsupported Paddle status {spec.status!r}; one of {', '.join(STATUSES)}")
    data = _transaction(spec) if spec.type == TRANSACTION_COMPLETED else _subscription(spec)
    return {
        "event_id": spec.event_id or paddle_id("evt"),
        "event_type": spec.type,
        "occurred_at": iso(spec.now),
        "notification_id": paddle_id("ntf"),
        "data": data,
    }


def _price(spec: EventSpec) -> dict[str, Any]:
    return {
        "id": spec.price_id,
        "name": None,
        "product_id": "pro_subgate_demo",
        "unit_price": {"amount": str(spec.amount), "currency_code": spec.currency.upper()},
        "billing_cycle": {"interval": spec.interval, "frequency": 1},
        "trial_period": None,
        "custom_data": None,
    }


def _subscription(spec: EventSpec) -> dict[str, Any]:
    start, end = spec.now, period_end(spec.now, spec.interval)
    canceled = spec.type == "subscription.canceled"
    status = "canceled" if canceled else spec.status
    scheduled = {"action": "cancel", "effective_at": iso(end), "resume_at": None}
    return {
        "id": spec.subscription_id,
        "status": status,
        "customer_id": spec.customer_id,
        "address_id": None,
        "business_id": None,
        "currency_code": spec.currency.upper(),
        "created_at": iso(start),
        "updated_at": iso(spec.now),
        "started_at": iso(start),
        "first_billed_at": iso(start),
        "next_billed_at": None if canceled else iso(end),
        "paused_at": None,
        "canceled_at": iso(spec.now) if canceled else None,
        "collection_mode": "automatic",
        "billing_details": None,
        "current_billing_period": None if canceled else {"starts_at": iso(start), "ends_at": iso(end)},
        "billing_cycle": {"interval": spec.interval, "frequency": 1},
        "scheduled_change": scheduled if spec.cancel_at_period_end and not canceled else None,
        "items": [
            {
                "status": "active",
                "quantity": 1,
                "recurring": True,
                "created_at": iso(start),
                "updated_at": iso(spec.now),
                "trial_dates": {"starts_at": iso(start), "ends_at": iso(end)}
                if status == "trialing"
                else None,
                "price": _price(spec),
                "product": {"id": "pro_subgate_demo", "name": "subgate demo"},
            }
        ],
        "custom_data": None,
        "discount": None,
        "import_meta": None,
    }


def _transaction(spec: EventSpec) -> dict[str, Any]:
    start, end = spec.now, period_end(spec.now, spec.interval)
    amount = str(spec.amount)
    return {
        "id": paddle_id("txn"),
        "status": "completed",
        "origin": "subscription_recurring",
        "customer_id": spec.customer_id,
        "subscription_id": spec.subscription_id,
        "currency_code": spec.currency.upper(),
        "billing_period": {"starts_at": iso(start), "ends_at": iso(end)},
        "created_at": iso(spec.now),
        "updated_at": iso(spec.now),
        "billed_at": iso(spec.now),
        "custom_data": None,
        "items": [{"price": _price(spec), "quantity": 1}],
        "details": {
            "totals": {
                "subtotal": amount,
                "tax": "0",
                "total": amount,
                "grand_total": amount,
                "currency_code": spec.currency.upper(),
            }
        },
        "payments": [{"amount": amount, "status": "captured", "error_code": None}],
    }
