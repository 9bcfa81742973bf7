"""Stripe webhook events made up locally, in the current API shape or the legacy one.

One factory for `subgate events send stripe ...` and for the tests. Current API versions keep the
billing period on each subscription item and name an invoice's subscription under
`parent.subscription_details`; with `legacy=True` the period sits on the subscription itself and
the invoice carries a top-level `subscription`. Objects carry the fields Stripe sends. Object
builders return dicts (a test can bend them into malformed shapes); `*_event` builders return the
exact bytes Stripe would send, and `signed_headers` signs them as Stripe does.
"""

from __future__ import annotations

import itertools
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from integrations.providers.samples import EventSpec, Samples, SignedSample, check_choice, encode, period_end
from integrations.providers.stripe.signature import sign_stripe_payload

CURRENT_API_VERSION: Final = "2025-03-31.basil"  # the first version with the billing period on the items
LEGACY_API_VERSION: Final = "2024-06-20"

T0: Final = 1_735_689_600  # 2025-01-01T00:00:00Z
PERIOD_START: Final = T0
PERIOD_END: Final = T0 + 31 * 86_400

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
PRODUCT: Final = "prod_subgate_demo"

_ID_ALPHABET: Final = string.ascii_letters + string.digits
_ID_LENGTH: Final = 24
_event_ids = itertools.count(1)


def stripe_id(prefix: str) -> str:
    """`prefix_` + 24 random letters and digits, like Stripe's own ids."""
    return f"{prefix}_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


def unix(value: datetime) -> int:
    """Whole seconds since the epoch, as Stripe writes every timestamp."""
    return int(value.astimezone(UTC).timestamp())


def _next_event_id() -> str:
    return f"evt_test{next(_event_ids):08d}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceSpec:
    price_id: str = "price_test1"
    currency: str = "usd"
    unit_amount: int = 2000
    interval: str = "month"
    interval_count: int = 1
    nickname: str | None = None


def price_object(price: PriceSpec, created: int) -> dict[str, Any]:
    """A recurring `price`."""
    return {
        "id": price.price_id,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": price.currency,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": price.nickname,
        "product": PRODUCT,
        "recurring": {
            "interval": price.interval,
            "interval_count": price.interval_count,
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        },
        "tax_behavior": "unspecified",
        "type": "recurring",
        "unit_amount": price.unit_amount,
        "unit_amount_decimal": str(price.unit_amount),
    }


def subscription_object(  # noqa: PLR0913 - one keyword per field a caller may vary
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
    created = period_start if period_start is not None else T0
    price = PriceSpec(
        price_id=price_id,
        currency=currency,
        unit_amount=unit_amount,
        interval=interval,
        interval_count=interval_count,
        nickname=nickname,
    )
    sub = _subscription_fields(sub_id, created, currency, canceled_at)
    sub.update(
        customer=dict(customer) if isinstance(customer, Mapping) else customer,
        status=status,
        cancel_at=period_end if cancel_at_period_end else None,
        cancel_at_period_end=cancel_at_period_end,
        canceled_at=canceled_at,
        trial_end=trial_end,
        trial_start=created if trial_end is not None else None,
        metadata=dict(metadata or {}),
        items=_list(
            [_item(item_id, sub_id, price, created)], f"/v1/subscription_items?subscription={sub_id}"
        ),
    )
    period_holder = sub if legacy else sub["items"]["data"][0]
    period_holder["current_period_start"] = period_start
    period_holder["current_period_end"] = period_end
    return sub


def _item(item_id: str, sub_id: str, price: PriceSpec, created: int) -> dict[str, Any]:
    return {
        "id": item_id,
        "object": "subscription_item",
        "created": created,
        "discounts": [],
        "metadata": {},
        "price": price_object(price, created),
        "quantity": 1,
        "subscription": sub_id,
        "tax_rates": [],
    }


def _list(data: list[dict[str, Any]], url: str) -> dict[str, Any]:
    """A Stripe list object holding `data` whole."""
    return {"object": "list", "data": data, "has_more": False, "total_count": len(data), "url": url}


def _subscription_fields(sub_id: str, created: int, currency: str, canceled_at: int | None) -> dict[str, Any]:
    """What every subscription object carries besides the fields a caller chooses."""
    return {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": created,
        "cancellation_details": {
            "comment": None,
            "feedback": None,
            "reason": None if canceled_at is None else "cancellation_requested",
        },
        "collection_method": "charge_automatically",
        "created": created,
        "currency": currency,
        "days_until_due": None,
        "default_payment_method": None,
        "description": None,
        "discounts": [],
        "ended_at": canceled_at,
        "latest_invoice": None,
        "livemode": False,
        "pause_collection": None,
        "start_date": created,
        "test_clock": None,
    }


def invoice_object(  # noqa: PLR0913 - one keyword per field a caller may vary
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
    price_id: str = "price_test1",
    billing_reason: str = "subscription_create",
) -> dict[str, Any]:
    """An `invoice` object with one line; `subscription=None` makes a one-off invoice."""
    sub_ref = dict(subscription) if isinstance(subscription, Mapping) else subscription
    due = amount_paid if amount_due is None else amount_due
    line = _line(invoice_id, sub_ref, amount_paid, currency, price_id, (period_start, period_end))
    invoice = _invoice_fields(invoice_id, period_start, due, amount_paid)
    invoice.update(
        attempt_count=attempt_count,
        billing_reason=billing_reason,
        currency=currency,
        customer=customer,
        lines=_list([line], f"/v1/invoices/{invoice_id}/lines"),
    )
    if legacy:
        invoice["subscription"] = sub_ref
    elif sub_ref is None:
        invoice["parent"] = None
    else:
        invoice["parent"] = {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"subscription": sub_ref, "metadata": dict(metadata or {})},
        }
    return invoice


def _invoice_fields(invoice_id: str, created: int, due: int, paid: int) -> dict[str, Any]:
    """What every invoice object carries besides the fields a caller chooses."""
    settled = paid >= due
    return {
        "id": invoice_id,
        "object": "invoice",
        "amount_due": due,
        "amount_paid": paid,
        "amount_remaining": 0 if settled else due - paid,
        "attempted": True,
        "billing_reason": "subscription_create",
        "collection_method": "charge_automatically",
        "created": created,
        "livemode": False,
        "metadata": {},
        "period_end": created,
        "period_start": created,
        "status": "paid" if settled else "open",
        "status_transitions": {
            "finalized_at": created,
            "marked_uncollectible_at": None,
            "paid_at": created if settled else None,
            "voided_at": None,
        },
        "subtotal": due,
        "total": due,
    }


def _line(
    invoice_id: str,
    subscription: str | dict[str, Any] | None,
    amount: int,
    currency: str,
    price_id: str,
    period: tuple[int, int],
) -> dict[str, Any]:
    sub_id = subscription.get("id") if isinstance(subscription, dict) else subscription
    item = None if sub_id is None else "si_" + str(sub_id).removeprefix("sub_")
    return {
        "id": "il_" + invoice_id.removeprefix("in_"),
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "description": f"1 x subscription ({price_id})",
        "invoice": invoice_id,
        "livemode": False,
        "metadata": {},
        "parent": None
        if sub_id is None
        else {
            "type": "subscription_item_details",
            "subscription_item_details": {
                "proration": False,
                "subscription": sub_id,
                "subscription_item": item,
            },
        },
        "period": {"start": period[0], "end": period[1]},
        "pricing": {
            "type": "price_details",
            "price_details": {"price": price_id, "product": PRODUCT},
            "unit_amount_decimal": str(amount),
        },
        "quantity": 1,
    }


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
        "api_version": api_version,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
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


def event_body(event_type: str, obj: Mapping[str, Any], **envelope: Any) -> bytes:
    """The bytes of `event(event_type, obj, **envelope)`."""
    return encode(event(event_type, obj, **envelope))


def subscription_event(
    event_type: str = "customer.subscription.updated",
    *,
    event_id: str | None = None,
    created: int = T0,
    previous_attributes: Mapping[str, Any] | None = None,
    **fields: Any,
) -> bytes:
    """Bytes of a `customer.subscription.*` event; `fields` go to `subscription_object`."""
    return event_body(
        event_type,
        subscription_object(**fields),
        event_id=event_id,
        created=created,
        api_version=_api_version(fields),
        previous_attributes=previous_attributes,
    )


def invoice_paid_event(
    *, event_id: str | None = None, created: int = T0, event_type: str = "invoice.paid", **fields: Any
) -> bytes:
    """Bytes of an `invoice.*` event (`invoice.paid` unless told); `fields` go to `invoice_object`."""
    return event_body(
        event_type,
        invoice_object(**fields),
        event_id=event_id,
        created=created,
        api_version=_api_version(fields),
    )


def _api_version(fields: Mapping[str, Any]) -> str:
    """The API version of an event whose object is made of `fields`: the legacy one for a legacy object."""
    return LEGACY_API_VERSION if fields.get("legacy") else CURRENT_API_VERSION


def signed_headers(body: bytes, secret: str, t: int) -> dict[str, str]:
    """The headers Stripe sends with `body`, signed with `secret` at unix time `t`."""
    return {
        "content-type": "application/json; charset=utf-8",
        "stripe-signature": sign_stripe_payload(body, secret, t),
    }


# --------------------------------------------------------------------------- `subgate events send`


def build_event(spec: EventSpec) -> dict[str, Any]:
    """The event Stripe would send for `spec`."""
    check_choice(spec.type, EVENT_TYPES, "event type")
    start, end = unix(spec.now), unix(period_end(spec.now, spec.interval))
    if spec.type == INVOICE_PAID:
        obj = invoice_object(
            invoice_id=stripe_id("in"),
            subscription=spec.subscription_id,
            customer=spec.customer_id,
            amount_paid=spec.amount,
            currency=spec.currency,
            period_start=start,
            period_end=end,
            price_id=spec.price_id,
        )
    else:
        deleted = spec.type == "customer.subscription.deleted"
        status = "canceled" if deleted else spec.status
        obj = subscription_object(
            sub_id=spec.subscription_id,
            customer=spec.customer_id,
            status=status,
            period_start=start,
            period_end=end,
            cancel_at_period_end=spec.cancel_at_period_end,
            canceled_at=start if deleted else None,
            trial_end=end if status == "trialing" else None,
            item_id="si_" + spec.subscription_id.removeprefix("sub_"),
            price_id=spec.price_id,
            currency=spec.currency,
            unit_amount=spec.amount,
            interval=spec.interval,
        )
    return event(spec.type, obj, event_id=spec.event_id or stripe_id("evt"), created=start)


def signed(spec: EventSpec, secret: str) -> SignedSample:
    """The event for `spec`, signed with `secret` as Stripe signs it."""
    document = build_event(spec)
    body = encode(document)
    return SignedSample(
        event_id=document["id"], body=body, headers=signed_headers(body, secret, document["created"])
    )


SAMPLES: Final = Samples(
    event_types=EVENT_TYPES,
    statuses=STATUSES,
    payments=frozenset({INVOICE_PAID}),
    new_subscription_id=lambda: stripe_id("sub"),
    customer_of=lambda subscription_id: "cus_" + subscription_id.removeprefix("sub_"),
    signed=signed,
)
