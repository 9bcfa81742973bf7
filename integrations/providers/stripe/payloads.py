"""Reading Stripe objects across API versions, defensively.

Current API versions keep the billing period on the subscription's items and
name an invoice's subscription under `parent.subscription_details`; older ones
had `current_period_*` on the subscription and a top-level `subscription`.
Both shapes are accepted. Every time is read by `integrations.providers.readers.provider_time`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.subscriptions.commands import ProviderPrice
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.providers import readers
from integrations.providers.interface import PayloadError

__all__ = [
    "STATUS_MAP",
    "billing_period",
    "collection_paused",
    "event_time",
    "first_item",
    "invoice_period",
    "invoice_subscription",
    "ordering_status",
    "price_of",
    "ref_id",
    "status_of",
    "when",
]

STATUS_MAP = readers.STATUS_WORDS


def ref_id(value: Any, what: str) -> str:
    """A reference is an id string, or an expanded object carrying `id`."""
    if isinstance(value, dict):
        value = value.get("id")
    return readers.text(value, what)


def when(value: Any, what: str) -> datetime | None:
    """A time in a Stripe object: unix seconds (or null)."""
    return readers.provider_time(value, what, text=False)


def event_time(value: Any, what: str) -> datetime | None:
    """An event's `created`: unix seconds (snapshot events) or ISO 8601 text (thin events)."""
    return readers.provider_time(value, what)


def first_item(subscription: dict[str, Any]) -> dict[str, Any]:
    items = readers.obj(subscription.get("items"), "subscription.items")
    data = items.get("data")
    if not isinstance(data, list) or not data:
        raise PayloadError("subscription.items.data is empty")
    return readers.obj(data[0], "subscription.items.data[0]")


def billing_period(
    subscription: dict[str, Any], item: dict[str, Any]
) -> tuple[datetime | None, datetime | None]:
    start = item.get("current_period_start", subscription.get("current_period_start"))
    end = item.get("current_period_end", subscription.get("current_period_end"))
    return when(start, "current_period_start"), when(end, "current_period_end")


def price_of(item: dict[str, Any]) -> ProviderPrice:
    price = item.get("price") or item.get("plan")
    price = readers.obj(price, "subscription item price")
    recurring = price.get("recurring")
    period = recurring.get("interval") if isinstance(recurring, dict) else price.get("interval")
    count = recurring.get("interval_count") if isinstance(recurring, dict) else price.get("interval_count")
    unit_amount = price.get("unit_amount", price.get("amount"))
    return ProviderPrice(
        price_id=readers.text(price.get("id"), "price.id"),
        amount=unit_amount if isinstance(unit_amount, int) and not isinstance(unit_amount, bool) else 0,
        currency=readers.text(price.get("currency"), "price.currency"),
        interval=readers.interval(period, "price interval"),
        interval_count=count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 1,
        name=_price_name(price),
    )


def _price_name(price: dict[str, Any]) -> str | None:
    """The product's name when the event carries the product expanded, else the price's nickname."""
    product = price.get("product")
    for name in (product.get("name") if isinstance(product, dict) else None, price.get("nickname")):
        if isinstance(name, str) and name.strip():
            return name
    return None


# Statuses in which Stripe can pause payment collection (`pause_collection`) while the status
# itself stays as it is. subgate reports such a subscription as `paused`.
COLLECTION_PAUSABLE = frozenset({"active", "trialing", "past_due", "unpaid"})


def collection_paused(subscription: dict[str, Any]) -> bool:
    status = subscription.get("status")
    return (
        isinstance(status, str)
        and status in COLLECTION_PAUSABLE
        and isinstance(subscription.get("pause_collection"), dict)
    )


def status_of(subscription: dict[str, Any]) -> SubscriptionStatus:
    """Stripe's status in ours; a subscription whose payment collection is paused is `paused`."""
    stated = readers.status(subscription.get("status"), STATUS_MAP)
    return SubscriptionStatus.PAUSED if collection_paused(subscription) else stated


def ordering_status(subscription: dict[str, Any]) -> str:
    """The status to order same-second snapshots by (see `ordering`): `paused` while collection is."""
    return "paused" if collection_paused(subscription) else str(subscription.get("status"))


def invoice_subscription(invoice: dict[str, Any]) -> tuple[str | None, str | None]:
    """(provider subscription id, our linked id) of an invoice, in either API shape."""
    parent = invoice.get("parent")
    details = parent.get("subscription_details") if isinstance(parent, dict) else None
    if isinstance(details, dict) and details.get("subscription"):
        return ref_id(details["subscription"], "invoice subscription"), readers.metadata_link(details)
    legacy = invoice.get("subscription")
    if legacy:
        return ref_id(legacy, "invoice subscription"), readers.metadata_link(legacy)
    return None, None


def invoice_period(invoice: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """The service period the invoice pays for: its subscription line's period."""
    lines = invoice.get("lines")
    data = lines.get("data") if isinstance(lines, dict) else None
    if isinstance(data, list):
        for line in data:
            period = line.get("period") if isinstance(line, dict) else None
            if isinstance(period, dict):
                return when(period.get("start"), "line period start"), when(
                    period.get("end"), "line period end"
                )
    return None, None
