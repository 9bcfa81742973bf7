"""Stripe webhook events made up locally, in the shape of Stripe's current API.

What `subgate events send stripe ...` posts: the envelope, the subscription (billing period on its
items) and the invoice (its subscription under `parent.subscription_details`) carry the fields
Stripe sends, with ids that are unique per call unless given.
"""

from __future__ import annotations

import calendar
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

API_VERSION: Final = "2025-03-31.basil"  # the first version with the billing period on the items
SUBSCRIPTION_EVENTS: Final = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)
INVOICE_PAID: Final = "invoice.paid"
EVENT_TYPES: Final = (*SUBSCRIPTION_EVENTS, INVOICE_PAID)
STATUSES: Final = (
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "unpaid",
    "canceled",
    "paused",
)
INTERVALS: Final = ("day", "week", "month", "year")
_ID_ALPHABET = string.ascii_letters + string.digits
_ID_LENGTH = 24


def stripe_id(prefix: str) -> str:
    """`prefix_` + 24 random letters and digits, like Stripe's own ids."""
    return f"{prefix}_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


@dataclass(frozen=True, slots=True, kw_only=True)
class EventSpec:
    """What the caller chose; everything else is made up per call."""

    type: str
    now: datetime
    subscription_id: str
    customer_id: str
    status: str = "active"
    price_id: str = "price_subgate_demo"
    amount: int = 2000
    currency: str = "usd"
    interval: str = "month"
    cancel_at_period_end: bool = False
    event_id: str | None = None


def build_event(spec: EventSpec) -> dict[str, Any]:
    """The event Stripe would send for `spec`."""
    if spec.type not in EVENT_TYPES:
        raise ValueError(f"unsupported event type {spec.type!r}; one of {', '.join(EVENT_TYPES)}")
    created = _unix(spec.now)
    obj = _invoice(spec) if spec.type == INVOICE_PAID else _subscription(spec)
    return {
        "id": spec.event_id or stripe_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": spec.type,
    }


def period_end(start: datetime, interval: str) -> datetime:
    """One billing interval after `start`; months and years keep the day (clamped to month end)."""
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(weeks=1)
    months = {"month": 1, "year": 12}[interval]
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def _unix(value: datetime) -> int:
    return int(value.astimezone(UTC).timestamp())


def _price(spec: EventSpec, created: int) -> dict[str, Any]:
    return {
        "id": spec.price_id,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": spec.currency,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": "prod_subgate_demo",
        "recurring": {
            "interval": spec.interval,
            "interval_count": 1,
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        },
        "tax_behavior": "unspecified",
        "type": "recurring",
        "unit_amount": spec.amount,
        "unit_amount_decimal": str(spec.amount),
    }


def _subscription(spec: EventSpec) -> dict[str, Any]:
    start = _unix(spec.now)
    end = _unix(period_end(spec.now, spec.interval))
    deleted = spec.type == "customer.subscription.deleted"
    status = "canceled" if deleted else spec.status
    trialing = status == "trialing"
    item = {
        "id": "si_" + spec.subscription_id.removeprefix("sub_"),
        "object": "subscription_item",
        "created": start,
        "current_period_end": end,
        "current_period_start": start,
        "discounts": [],
        "metadata": {},
        "price": _price(spec, start),
        "quantity": 1,
        "subscription": spec.subscription_id,
        "tax_rates": [],
    }
    return {
        "id": spec.subscription_id,
        "object": "subscription",
        "application": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": start,
        "cancel_at": end if spec.cancel_at_period_end else None,
        "cancel_at_period_end": spec.cancel_at_period_end,
        "canceled_at": start if deleted else None,
        "cancellation_details": {
            "comment": None,
            "feedback": None,
            "reason": "cancellation_requested" if deleted else None,
        },
        "collection_method": "charge_automatically",
        "created": start,
        "currency": spec.currency,
        "customer": spec.customer_id,
        "days_until_due": None,
        "default_payment_method": None,
        "description": None,
        "discounts": [],
        "ended_at": start if deleted else None,
        "items": {
            "object": "list",
            "data": [item],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/subscription_items?subscription={spec.subscription_id}",
        },
        "latest_invoice": None,
        "livemode": False,
        "metadata": {},
        "pause_collection": None,
        "start_date": start,
        "status": status,
        "test_clock": None,
        "trial_end": end if trialing else None,
        "trial_start": start if trialing else None,
    }


def _invoice(spec: EventSpec) -> dict[str, Any]:
    start = _unix(spec.now)
    end = _unix(period_end(spec.now, spec.interval))
    invoice_id = stripe_id("in")
    line = {
        "id": stripe_id("il"),
        "object": "line_item",
        "amount": spec.amount,
        "currency": spec.currency,
        "description": f"1 x subscription ({spec.price_id})",
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": {},
        "parent": {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": spec.subscription_id,
                "subscription_item": "si_" + spec.subscription_id.removeprefix("sub_"),
            },
        },
        "period": {"end": end, "start": start},
        "pricing": {
            "type": "price_details",
            "price_details": {"price": spec.price_id, "product": "prod_subgate_demo"},
            "unit_amount_decimal": str(spec.amount),
        },
        "quantity": 1,
    }
    return {
        "id": invoice_id,
        "object": "invoice",
        "amount_due": spec.amount,
        "amount_paid": spec.amount,
        "amount_remaining": 0,
        "attempt_count": 1,
        "attempted": True,
        "billing_reason": "subscription_create",
        "collection_method": "charge_automatically",
        "created": start,
        "currency": spec.currency,
        "customer": spec.customer_id,
        "lines": {
            "object": "list",
            "data": [line],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": spec.subscription_id},
        },
        "period_end": start,
        "period_start": start,
        "status": "paid",
        "status_transitions": {
            "finalized_at": start,
            "marked_uncollectible_at": None,
            "paid_at": start,
            "voided_at": None,
        },
        "subtotal": spec.amount,
        "total": spec.amount,
    }
