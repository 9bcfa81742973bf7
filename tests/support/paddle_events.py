"""Paddle Billing webhook payloads built in code, in the shapes Paddle publishes.

Learned from the example notifications Paddle documents and its Python SDK's test data
(`subscription.*` and `transaction.*` entities): a body is ``{"event_id", "event_type",
"occurred_at", "notification_id", "data"}``, times are ISO 8601 with microseconds, amounts
strings of minor units, currency codes upper case. Object builders return dicts (so a
test can bend them); `paddle_event` returns bytes, and `paddle_headers` signs them as
Paddle does, with plain `hmac` (never the project's own signer).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

__all__ = [
    "PERIOD_END",
    "PERIOD_START",
    "SECRET",
    "T0",
    "iso",
    "paddle_event",
    "paddle_headers",
    "paddle_signature",
    "subscription_event",
    "subscription_object",
    "transaction_event",
    "transaction_object",
]

T0: Final = datetime(2025, 1, 1, tzinfo=UTC)
PERIOD_START: Final = T0
PERIOD_END: Final = T0 + timedelta(days=31)
# As Paddle shows a notification destination's secret key.
SECRET: Final = "pdl_ntfset_01jfq2v6m5a7c9x3tz8k4d2w1e_c2VjcmV0LWZvci10ZXN0cy1vbmx5"
SUB_ID: Final = "sub_01jfq2vd4kb7a1x9m3c5t8w2yn"
CUSTOMER_ID: Final = "ctm_01jfq2t7y1c3d5f7h9k1m3p5r7"
PRICE_ID: Final = "pri_01jfq2r4bz6w0n2p4r6t8v0x2z"

_ids = itertools.count(1)


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
        "product_id": "pro_01jfq2pz0a2c4e6g8j0l2n4q6s",
        "unit_price": {"amount": str(amount), "currency_code": currency},
        "custom_data": None,
        "description": "Monthly",
        "trial_period": None,
        "billing_cycle": {"interval": interval, "frequency": 1},
        "unit_price_overrides": [],
    }


def subscription_object(  # noqa: PLR0913 - one keyword per field a test may vary
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
    product = None if product_name is None else {"id": "pro_01jfq2pz0a2c4e6g8j0l2n4q6s", "name": product_name}
    return {
        "id": sub_id,
        "items": [
            {
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
        ],
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


def transaction_object(  # noqa: PLR0913 - one keyword per field a test may vary
    *,
    txn_id: str = "txn_01jfq2w8c0e2g4j6l8n0q2s4u6",
    subscription_id: str | None = SUB_ID,
    status: str = "completed",
    origin: str = "subscription_recurring",
    grand_total: int = 3000,
    currency: str = "USD",
    period_start: datetime | None = PERIOD_START,
    period_end: datetime | None = PERIOD_END,
    updated_at: datetime = T0,
    payments: Sequence[Mapping[str, Any]] = ({"status": "captured", "error_code": None},),
    custom_data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    total = str(grand_total)
    return {
        "id": txn_id,
        "items": [{"price": _price(PRICE_ID, grand_total, currency, "month", None), "quantity": 1}],
        "origin": origin,
        "status": status,
        "details": {
            "totals": {
                "fee": "0",
                "tax": "0",
                "total": total,
                "credit": "0",
                "balance": "0",
                "discount": "0",
                "earnings": total,
                "subtotal": total,
                "grand_total": total,
                "currency_code": currency,
            },
            "line_items": [],
        },
        "payments": [{"amount": total, "created_at": iso(updated_at), **dict(p)} for p in payments],
        "billed_at": iso(updated_at),
        "address_id": "add_01jfq2s2x4z6b8d0f2h4k6m8p0",
        "created_at": iso(updated_at),
        "invoice_id": "inv_01jfq2x0d2f4h6k8m0p2r4t6v8",
        "updated_at": iso(updated_at),
        "business_id": None,
        "custom_data": None if custom_data is None else dict(custom_data),
        "customer_id": CUSTOMER_ID,
        "discount_id": None,
        "currency_code": currency,
        "billing_period": _period(period_start, period_end),
        "invoice_number": "325-10566",
        "billing_details": None,
        "collection_mode": "automatic",
        "subscription_id": subscription_id,
    }


def paddle_event(
    event_type: str,
    data: Mapping[str, Any],
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = T0,
) -> bytes:
    document: dict[str, Any] = {
        "event_id": event_id or f"evt_01jfq2{next(_ids):020d}",
        "event_type": event_type,
        "notification_id": f"ntf_01jfq2{next(_ids):020d}",
        "data": dict(data),
    }
    if occurred_at is not None:
        document["occurred_at"] = iso(occurred_at)
    return orjson.dumps(document)


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


def paddle_signature(body: bytes, secrets: Sequence[str], timestamp: int) -> str:
    """`ts=...;h1=...` with one `h1` per secret, computed here with plain hmac."""
    signed = f"{timestamp}:".encode() + body
    digests = [hmac.new(s.encode("utf-8"), signed, hashlib.sha256).hexdigest() for s in secrets]
    return ";".join([f"ts={timestamp}", *(f"h1={digest}" for digest in digests)])


def paddle_headers(body: bytes, secrets: Sequence[str], timestamp: int) -> dict[str, str]:
    """The headers Paddle sends with `body`."""
    return {
        "content-type": "application/json",
        "paddle-signature": paddle_signature(body, secrets, timestamp),
    }
