"""Paddle Billing webhook events made up locally, in the shapes Paddle publishes.

One factory for `subgate events send paddle ...` and for the tests. Learned from the example
notifications Paddle documents and its Python SDK's test data (`subscription.*` and
`transaction.*` entities): a body is ``{"event_id", "event_type", "occurred_at",
"notification_id", "data"}``, times are ISO 8601 with microseconds, amounts strings of minor
units, currency codes upper case. Object builders return dicts (so a test can bend them);
`paddle_event` returns bytes, and `paddle_headers` signs them as Paddle does.
"""

from __future__ import annotations

import itertools
import secrets
import string
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from integrations.providers.paddle.signature import sign_paddle_payload
from integrations.providers.samples import EventSpec, Samples, SignedSample, check_choice, encode, period_end

T0: Final = datetime(2025, 1, 1, tzinfo=UTC)
PERIOD_START: Final = T0
PERIOD_END: Final = T0 + timedelta(days=31)
SUB_ID: Final = "sub_01jfq2vd4kb7a1x9m3c5t8w2yn"
CUSTOMER_ID: Final = "ctm_01jfq2t7y1c3d5f7h9k1m3p5r7"
PRICE_ID: Final = "pri_01jfq2r4bz6w0n2p4r6t8v0x2z"
PRODUCT_ID: Final = "pro_01jfq2pz0a2c4e6g8j0l2n4q6s"

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
_ids = itertools.count(1)


def paddle_id(prefix: str) -> str:
    """`prefix_` + 26 lower-case letters and digits, like Paddle's own ids."""
    return f"{prefix}_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


def iso(value: datetime | None) -> str | None:
    """Paddle's time format: ISO 8601 with microseconds and a `Z`."""
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _period(start: datetime | None, end: datetime | None) -> dict[str, Any] | None:
    return None if start is None and end is None else {"starts_at": iso(start), "ends_at": iso(end)}


def _price(price_id: str, amount: int, currency: str, interval: str, name: str | None) -> dict[str, Any]:
    return {
        "id": price_id,
        "name": name,
        "type": "standard",
        "status": "active",
        "quantity": {"maximum": 999, "minimum": 1},
        "tax_mode": "account_setting",
        "product_id": PRODUCT_ID,
        "unit_price": {"amount": str(amount), "currency_code": currency},
        "custom_data": None,
        "description": "Monthly",
        "trial_period": None,
        "billing_cycle": {"interval": interval, "frequency": 1},
        "unit_price_overrides": [],
    }


def subscription_object(  # noqa: PLR0913 - one keyword per field a caller may vary
    *,
    sub_id: str = SUB_ID,
    status: str = "active",
    updated_at: datetime | None = T0,
    created_at: datetime = T0,
    customer_id: str = CUSTOMER_ID,
    price_id: str = PRICE_ID,
    price_name: str | None = "Monthly (per seat)",
    product_name: str | None = "AeroEdit Pro",
    amount: int = 3000,
    currency: str = "USD",
    interval: str = "month",
    period_start: datetime | None = PERIOD_START,
    period_end: datetime | None = PERIOD_END,
    scheduled_change: Mapping[str, Any] | None = None,
    canceled_at: datetime | None = None,
    trial_end: datetime | None = None,
    custom_data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A `subscription` entity with one item."""
    product = None if product_name is None else {"id": PRODUCT_ID, "name": product_name}
    item = {
        "price": _price(price_id, amount, currency, interval, price_name),
        "product": product,
        "status": "trialing" if trial_end is not None else "active",
        "quantity": 1,
        "recurring": True,
        "created_at": iso(created_at),
        "updated_at": iso(updated_at),
        "trial_dates": _period(created_at, trial_end) if trial_end is not None else None,
        "next_billed_at": iso(period_end),
        "previously_billed_at": iso(period_start),
    }
    return {
        "id": sub_id,
        "items": [item],
        "status": status,
        "discount": None,
        "paused_at": None,
        "address_id": "add_01jfq2s2x4z6b8d0f2h4k6m8p0",
        "created_at": iso(created_at),
        "started_at": iso(created_at),
        "updated_at": iso(updated_at),
        "business_id": None,
        "canceled_at": iso(canceled_at),
        "custom_data": None if custom_data is None else dict(custom_data),
        "customer_id": customer_id,
        "import_meta": None,
        "billing_cycle": {"interval": interval, "frequency": 1},
        "currency_code": currency,
        "next_billed_at": iso(period_end),
        "billing_details": None,
        "collection_mode": "automatic",
        "first_billed_at": iso(created_at),
        "scheduled_change": None if scheduled_change is None else dict(scheduled_change),
        "current_billing_period": _period(period_start, period_end),
    }


def transaction_object(  # noqa: PLR0913 - one keyword per field a caller may vary
    *,
    txn_id: str = "txn_01jfq2w8c0e2g4j6l8n0q2s4u6",
    subscription_id: str | None = SUB_ID,
    customer_id: str = CUSTOMER_ID,
    status: str = "completed",
    origin: str = "subscription_recurring",
    price_id: str = PRICE_ID,
    grand_total: int = 3000,
    currency: str = "USD",
    period_start: datetime | None = PERIOD_START,
    period_end: datetime | None = PERIOD_END,
    updated_at: datetime = T0,
    payments: Sequence[Mapping[str, Any]] = ({"status": "captured", "error_code": None},),
    custom_data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A `transaction` entity with one item, its totals and its payment attempts."""
    total = str(grand_total)
    totals = dict.fromkeys(("fee", "tax", "credit", "balance", "discount"), "0")
    totals |= {"total": total, "earnings": total, "subtotal": total, "grand_total": total}
    return {
        "id": txn_id,
        "items": [{"price": _price(price_id, grand_total, currency, "month", None), "quantity": 1}],
        "origin": origin,
        "status": status,
        "details": {"totals": totals | {"currency_code": currency}, "line_items": []},
        "payments": [{"amount": total, "created_at": iso(updated_at), **dict(p)} for p in payments],
        "billed_at": iso(updated_at),
        "address_id": "add_01jfq2s2x4z6b8d0f2h4k6m8p0",
        "created_at": iso(updated_at),
        "invoice_id": "inv_01jfq2x0d2f4h6k8m0p2r4t6v8",
        "updated_at": iso(updated_at),
        "business_id": None,
        "custom_data": None if custom_data is None else dict(custom_data),
        "customer_id": customer_id,
        "discount_id": None,
        "currency_code": currency,
        "billing_period": _period(period_start, period_end),
        "invoice_number": "325-10566",
        "billing_details": None,
        "collection_mode": "automatic",
        "subscription_id": subscription_id,
    }


def paddle_document(
    event_type: str,
    data: Mapping[str, Any],
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = T0,
) -> dict[str, Any]:
    """The envelope Paddle wraps `data` in; without `occurred_at` when it is None."""
    document: dict[str, Any] = {
        "event_id": event_id or f"evt_01jfq2{next(_ids):020d}",
        "event_type": event_type,
        "notification_id": f"ntf_01jfq2{next(_ids):020d}",
        "data": dict(data),
    }
    if occurred_at is not None:
        document["occurred_at"] = iso(occurred_at)
    return document


def paddle_event(
    event_type: str,
    data: Mapping[str, Any],
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = T0,
) -> bytes:
    return encode(paddle_document(event_type, data, event_id=event_id, occurred_at=occurred_at))


def subscription_event(
    event_type: str = "subscription.updated", *, event_id: str | None = None, **fields: Any
) -> bytes:
    obj = subscription_object(**fields)
    return paddle_event(event_type, obj, event_id=event_id, occurred_at=fields.get("updated_at") or T0)


def transaction_event(
    event_type: str = "transaction.completed", *, event_id: str | None = None, **fields: Any
) -> bytes:
    obj = transaction_object(**fields)
    return paddle_event(event_type, obj, event_id=event_id, occurred_at=fields.get("updated_at") or T0)


def paddle_headers(body: bytes, secrets: Sequence[str], timestamp: int) -> dict[str, str]:
    """The headers Paddle sends with `body`, one `h1` per secret."""
    return {
        "content-type": "application/json",
        "paddle-signature": sign_paddle_payload(body, secrets, timestamp),
    }


# --------------------------------------------------------------------------- `subgate events send`


def build_event(spec: EventSpec) -> dict[str, Any]:
    """The event Paddle would send for `spec`."""
    check_choice(spec.type, EVENT_TYPES, "Paddle event type")
    check_choice(spec.status, STATUSES, "Paddle status")
    data = _transaction_of(spec) if spec.type == TRANSACTION_COMPLETED else _subscription_of(spec)
    return paddle_document(spec.type, data, event_id=spec.event_id or paddle_id("evt"), occurred_at=spec.now)


def _subscription_of(spec: EventSpec) -> dict[str, Any]:
    end = period_end(spec.now, spec.interval)
    canceled = spec.type == "subscription.canceled"
    status = "canceled" if canceled else spec.status
    scheduled = {"action": "cancel", "effective_at": iso(end), "resume_at": None}
    return subscription_object(
        sub_id=spec.subscription_id,
        status=status,
        updated_at=spec.now,
        created_at=spec.now,
        customer_id=spec.customer_id,
        price_id=spec.price_id,
        price_name=None,
        product_name="subgate demo",
        amount=spec.amount,
        currency=spec.currency.upper(),
        interval=spec.interval,
        period_start=None if canceled else spec.now,
        period_end=None if canceled else end,
        scheduled_change=scheduled if spec.cancel_at_period_end and not canceled else None,
        canceled_at=spec.now if canceled else None,
        trial_end=end if status == "trialing" else None,
    )


def _transaction_of(spec: EventSpec) -> dict[str, Any]:
    return transaction_object(
        txn_id=paddle_id("txn"),
        subscription_id=spec.subscription_id,
        customer_id=spec.customer_id,
        price_id=spec.price_id,
        grand_total=spec.amount,
        currency=spec.currency.upper(),
        period_start=spec.now,
        period_end=period_end(spec.now, spec.interval),
        updated_at=spec.now,
    )


def signed(spec: EventSpec, secret: str) -> SignedSample:
    """The event for `spec`, signed with `secret` as Paddle signs it."""
    document = build_event(spec)
    body = encode(document)
    return SignedSample(
        event_id=document["event_id"],
        body=body,
        headers=paddle_headers(body, [secret], int(spec.now.timestamp())),
    )


SAMPLES: Final = Samples(
    event_types=EVENT_TYPES,
    statuses=STATUSES,
    payments=frozenset({TRANSACTION_COMPLETED}),
    new_subscription_id=lambda: paddle_id("sub"),
    customer_of=lambda subscription_id: "ctm_" + subscription_id.removeprefix("sub_"),
    signed=signed,
)
