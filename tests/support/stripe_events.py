"""Stripe webhook payloads built in code, in the current API shape or the legacy one.

Current API versions keep the billing period on each subscription item and name
an invoice's subscription under `parent.subscription_details`; with `legacy=True`
the period sits on the subscription itself and the invoice carries a top-level
`subscription`. Object builders return dicts (so a test can bend them into
malformed shapes); `*_event` builders return the exact bytes Stripe would send.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from domain.inbound.external import VerifiedEvent
from integrations.providers.stripe.signature import sign_stripe_payload

__all__ = [
    "CURRENT_API_VERSION",
    "LEGACY_API_VERSION",
    "PERIOD_END",
    "PERIOD_START",
    "T0",
    "checkout_session_object",
    "encode",
    "event",
    "event_body",
    "invoice_object",
    "invoice_paid_event",
    "signed_headers",
    "subscription_event",
    "subscription_object",
    "thin_event_body",
    "unix",
]

CURRENT_API_VERSION: Final = "2025-03-31.basil"
LEGACY_API_VERSION: Final = "2024-06-20"

T0: Final = 1_735_689_600  # 2025-01-01T00:00:00Z
PERIOD_START: Final = T0
PERIOD_END: Final = T0 + 31 * 86_400

_event_ids = itertools.count(1)


def unix(value: datetime) -> int:
    """Whole seconds since the epoch, as Stripe writes every timestamp."""
    return int(value.astimezone(UTC).timestamp())


def _next_event_id() -> str:
    return f"evt_test{next(_event_ids):08d}"


def subscription_object(  # noqa: PLR0913 - one keyword per field a test may vary
    *,
    sub_id: str = "sub_test1",
    customer: str | Mapping[str, Any] = "cus_test1",
    status: str = "active",
    period_start: int | None = PERIOD_START,
    period_end: int | None = PERIOD_END,
    cancel_at_period_end: bool = False,
    canceled_at: int | None = None,
    trial_end: int | None = None,
    metadata: Mapping[str, str] | None = None,
    item_id: str = "si_test1",
    price_id: str = "price_test1",
    currency: str = "usd",
    unit_amount: int = 2000,
    interval: str = "month",
    interval_count: int = 1,
    nickname: str | None = None,
    legacy: bool = False,
) -> dict[str, Any]:
    """A `subscription` object with one item."""
    item: dict[str, Any] = {
        "id": item_id,
        "object": "subscription_item",
        "price": {
            "id": price_id,
            "object": "price",
            "currency": currency,
            "unit_amount": unit_amount,
            "recurring": {"interval": interval, "interval_count": interval_count},
            "nickname": nickname,
        },
        "quantity": 1,
    }
    sub: dict[str, Any] = {
        "id": sub_id,
        "object": "subscription",
        "customer": dict(customer) if isinstance(customer, Mapping) else customer,
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": canceled_at,
        "trial_end": trial_end,
        "metadata": dict(metadata or {}),
        "items": {"object": "list", "data": [item], "has_more": False},
    }
    period_holder = sub if legacy else item
    period_holder["current_period_start"] = period_start
    period_holder["current_period_end"] = period_end
    return sub


def invoice_object(  # noqa: PLR0913 - one keyword per field a test may vary
    *,
    invoice_id: str = "in_test1",
    subscription: str | Mapping[str, Any] | None = "sub_test1",
    customer: str = "cus_test1",
    amount_paid: int = 2000,
    currency: str = "usd",
    period_start: int = PERIOD_START,
    period_end: int = PERIOD_END,
    metadata: Mapping[str, str] | None = None,
    legacy: bool = False,
    amount_due: int | None = None,
    attempt_count: int = 1,
    billing_reason: str | None = None,
) -> dict[str, Any]:
    """An `invoice` object with one line; `subscription=None` makes a one-off invoice."""
    sub_ref = dict(subscription) if isinstance(subscription, Mapping) else subscription
    invoice: dict[str, Any] = {
        "id": invoice_id,
        "object": "invoice",
        "amount_paid": amount_paid,
        "amount_due": amount_paid if amount_due is None else amount_due,
        "attempt_count": attempt_count,
        "currency": currency,
        "customer": customer,
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": "il_test1",
                    "object": "line_item",
                    "period": {"start": period_start, "end": period_end},
                }
            ],
        },
    }
    if billing_reason is not None:
        invoice["billing_reason"] = billing_reason
    if legacy:
        invoice["subscription"] = sub_ref
    elif sub_ref is None:
        invoice["parent"] = None
    else:
        invoice["parent"] = {
            "type": "subscription_details",
            "subscription_details": {"subscription": sub_ref, "metadata": dict(metadata or {})},
        }
    return invoice


def checkout_session_object(
    *,
    session_id: str = "cs_test1",
    mode: str = "subscription",
    subscription: str | Mapping[str, Any] | None = "sub_test1",
    customer: str | None = "cus_test1",
    metadata: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A completed `checkout.session` (the fields we read, as in the current API)."""
    return {
        "id": session_id,
        "object": "checkout.session",
        "mode": mode,
        "status": "complete",
        "payment_status": "paid",
        "customer": customer,
        "subscription": dict(subscription) if isinstance(subscription, Mapping) else subscription,
        "metadata": dict(metadata or {}),
        "client_reference_id": None,
    }


def event(
    event_type: str,
    obj: Mapping[str, Any],
    *,
    event_id: str | None = None,
    created: int = T0,
    api_version: str = CURRENT_API_VERSION,
    previous_attributes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The event envelope around `obj`; `previous_attributes` as Stripe adds them to `*.updated`."""
    data: dict[str, Any] = {"object": dict(obj)}
    if previous_attributes is not None:
        data["previous_attributes"] = dict(previous_attributes)
    return {
        "id": event_id or _next_event_id(),
        "object": "event",
        "type": event_type,
        "created": created,
        "api_version": api_version,
        "livemode": False,
        "data": data,
    }


def thin_event_body(
    event_type: str,
    related_type: str,
    related_id: str,
    *,
    event_id: str | None = None,
    created: str = "2025-01-01T00:00:00.000Z",
) -> bytes:
    """A thin event (`v2.core.event`): it names its object in `related_object` and carries none."""
    plural = {"subscription": "subscriptions", "invoice": "invoices", "checkout.session": "checkout/sessions"}
    return encode(
        {
            "id": event_id or _next_event_id(),
            "object": "v2.core.event",
            "type": f"v1.{event_type}",
            "created": created,
            "livemode": False,
            "context": None,
            "related_object": {
                "id": related_id,
                "type": related_type,
                "url": f"/v1/{plural.get(related_type, related_type)}/{related_id}",
            },
            "reason": None,
        }
    )


def encode(document: Any) -> bytes:
    return orjson.dumps(document)


def event_body(
    event_type: str,
    obj: Mapping[str, Any],
    *,
    event_id: str | None = None,
    created: int = T0,
    api_version: str = CURRENT_API_VERSION,
    previous_attributes: Mapping[str, Any] | None = None,
) -> bytes:
    return encode(
        event(
            event_type,
            obj,
            event_id=event_id,
            created=created,
            api_version=api_version,
            previous_attributes=previous_attributes,
        )
    )


def subscription_event(
    event_type: str = "customer.subscription.updated",
    *,
    event_id: str | None = None,
    created: int = T0,
    previous_attributes: Mapping[str, Any] | None = None,
    **fields: Any,
) -> bytes:
    """Bytes of a `customer.subscription.*` event; `fields` go to `subscription_object`."""
    legacy = bool(fields.get("legacy"))
    return event_body(
        event_type,
        subscription_object(**fields),
        event_id=event_id,
        created=created,
        api_version=LEGACY_API_VERSION if legacy else CURRENT_API_VERSION,
        previous_attributes=previous_attributes,
    )


def invoice_paid_event(
    *, event_id: str | None = None, created: int = T0, event_type: str = "invoice.paid", **fields: Any
) -> bytes:
    """Bytes of an `invoice.*` event (`invoice.paid` unless told); `fields` go to `invoice_object`."""
    legacy = bool(fields.get("legacy"))
    return event_body(
        event_type,
        invoice_object(**fields),
        event_id=event_id,
        created=created,
        api_version=LEGACY_API_VERSION if legacy else CURRENT_API_VERSION,
    )


def signed_headers(body: bytes, secret: str, t: int) -> dict[str, str]:
    """The headers Stripe sends with `body`, signed with `secret` at unix time `t`."""
    return {
        "content-type": "application/json; charset=utf-8",
        "stripe-signature": sign_stripe_payload(body, secret, t),
    }


def verified_stripe_event(
    *, merchant_id: str, connection_id: str, event_id: str, event_type: str, body: bytes
) -> VerifiedEvent:
    """A Stripe event as the gateway passes it on once its signature checked out (no client
    address, no creation time read from the payload, no trace)."""
    return VerifiedEvent(
        merchant_id=merchant_id,
        connection_id=connection_id,
        provider="stripe",
        provider_event_id=event_id,
        type=event_type,
        body=body,
        source_ip=None,
        provider_created_at=None,
        trace_carrier={},
    )
