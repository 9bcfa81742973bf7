"""Reading Paddle Billing webhook objects defensively.

A Paddle webhook body is ``{"event_id", "event_type", "occurred_at", "notification_id",
"data"}``. Times are ISO 8601 text with microseconds, each read by
`integrations.providers.readers.provider_time`. Amounts are strings of minor units
(``"3000"``), currency codes upper case (``"USD"``). A subscription carries its items, each
with its price and product; our own subscription's id travels in ``custom_data``.

What a Paddle payload says about the customer, for those who must find or erase it: the
fields named in `CUSTOMER_FIELDS` (on subscriptions and transactions) and `PAYMENT_PERSONAL`
(inside each of a transaction's `payments`). subgate keeps only the customer id from them.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final

from domain.subscriptions.commands import ProviderPrice
from domain.subscriptions.state_machine import SubscriptionStatus as S
from integrations.providers.interface import PayloadError
from integrations.providers.readers import (
    count,
    interval,
    metadata_link,
    obj,
    provider_time,
    status,
    text,
)

__all__ = [
    "CUSTOMER_FIELDS",
    "PAYMENT_PERSONAL",
    "STATUS_MAP",
    "amount",
    "customer_id",
    "first_item",
    "link",
    "obj",
    "period",
    "price_of",
    "status_of",
    "text",
    "time",
    "trial_end",
]

# Paddle's subscription statuses, all of which are ours too.
STATUS_MAP: Final = {
    "active": S.ACTIVE,
    "trialing": S.TRIALING,
    "past_due": S.PAST_DUE,
    "paused": S.PAUSED,
    "canceled": S.CANCELED,
}
CUSTOMER_FIELDS: Final = ("customer_id", "address_id", "business_id", "billing_details")
PAYMENT_PERSONAL: Final = ("method_details",)
_AMOUNT: Final = re.compile(r"[0-9]{1,18}")  # minor units; eighteen digits fit in a 64-bit integer


def time(value: Any, what: str) -> datetime | None:
    """ISO 8601 text with a zone (or null)."""
    return provider_time(value, what, unix=False)


def amount(value: Any, what: str) -> int:
    """Minor units, as Paddle writes them: a string of ASCII digits (an integer is read too)."""
    if isinstance(value, str) and _AMOUNT.fullmatch(value) is not None:
        return int(value)
    return count(value, what)


def status_of(subscription: dict[str, Any]) -> S:
    return status(subscription.get("status"), STATUS_MAP)


def customer_id(document: dict[str, Any], what: str) -> str:
    return text(document.get("customer_id"), f"{what}.customer_id")


def link(document: Any) -> str | None:
    """Our subscription's id in an object's `custom_data.subgate_subscription_id`."""
    return metadata_link(document, field="custom_data")


def first_item(subscription: dict[str, Any]) -> dict[str, Any]:
    items = subscription.get("items")
    if not isinstance(items, list) or not items:
        raise PayloadError("subscription.items is empty")
    return obj(items[0], "subscription.items[0]")


def period(container: Any, what: str) -> tuple[datetime | None, datetime | None]:
    """A `{starts_at, ends_at}` period (a null one is two unknowns)."""
    if container is None:
        return None, None
    found = obj(container, what)
    return time(found.get("starts_at"), f"{what}.starts_at"), time(found.get("ends_at"), f"{what}.ends_at")


def trial_end(item: dict[str, Any]) -> datetime | None:
    return period(item.get("trial_dates"), "items[0].trial_dates")[1]


def price_of(item: dict[str, Any]) -> ProviderPrice:
    """The plan of a Paddle subscription: its first item's price (what `provider_price_ids.paddle`
    names), named after the item's product, else the price's own name."""
    price = obj(item.get("price"), "items[0].price")
    unit_price = obj(price.get("unit_price"), "price.unit_price")
    cycle = obj(price.get("billing_cycle"), "price.billing_cycle")
    frequency = cycle.get("frequency")
    return ProviderPrice(
        price_id=text(price.get("id"), "price.id"),
        amount=amount(unit_price.get("amount"), "price.unit_price.amount"),
        currency=text(unit_price.get("currency_code"), "price.unit_price.currency_code").lower(),
        interval=interval(cycle.get("interval"), "price.billing_cycle.interval"),
        interval_count=max(count(frequency, "price.billing_cycle.frequency"), 1)
        if frequency is not None
        else 1,
        name=_name(item.get("product"), price),
    )


def _name(product: Any, price: dict[str, Any]) -> str | None:
    candidates = (product.get("name") if isinstance(product, dict) else None, price.get("name"))
    return next((name for name in candidates if isinstance(name, str) and name.strip()), None)
