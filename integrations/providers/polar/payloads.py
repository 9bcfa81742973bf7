"""Reading Polar webhook objects defensively.

A Polar webhook body is ``{"type": ..., "timestamp": ..., "data": {...}}``; its id is the
``webhook-id`` header. Times are ISO 8601 text with microseconds. A subscription carries
its product (the plan) and customer expanded. Every time is read by
`integrations.providers.readers.provider_time`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from domain.subscriptions.commands import ProviderPrice
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.providers import readers

__all__ = [
    "STATUS_MAP",
    "customer_of",
    "modified_at",
    "price_of",
    "status_of",
    "time",
]

# Polar sends Stripe's status words, but never `paused`.
STATUS_MAP: Final = {word: ours for word, ours in readers.STATUS_WORDS.items() if word != "paused"}


def time(value: Any, what: str) -> datetime | None:
    """ISO 8601 text with a zone (or null)."""
    return readers.provider_time(value, what, unix=False)


def status_of(subscription: dict[str, Any]) -> SubscriptionStatus:
    return readers.status(subscription.get("status"), STATUS_MAP)


def customer_of(subscription: dict[str, Any]) -> tuple[str, str | None]:
    """(Polar customer id, email if known)."""
    customer = subscription.get("customer")
    email = customer.get("email") if isinstance(customer, dict) else None
    customer_id = subscription.get("customer_id")
    if customer_id is None and isinstance(customer, dict):
        customer_id = customer.get("id")
    return readers.text(customer_id, "subscription.customer_id"), email if isinstance(
        email, str
    ) and email else None


def price_of(subscription: dict[str, Any]) -> ProviderPrice:
    """The plan of a Polar subscription: its product (what `provider_price_ids.polar` names)."""
    product = subscription.get("product")
    product_id = subscription.get("product_id")
    if product_id is None and isinstance(product, dict):
        product_id = product.get("id")
    name = product.get("name") if isinstance(product, dict) else None
    raw_count = subscription.get("recurring_interval_count")
    interval_count = 1 if raw_count is None else max(readers.count(raw_count, "recurring_interval_count"), 1)
    return ProviderPrice(
        price_id=readers.text(product_id, "subscription.product_id"),
        amount=readers.count(subscription.get("amount"), "subscription.amount"),
        currency=readers.text(subscription.get("currency"), "subscription.currency"),
        interval=readers.interval(subscription.get("recurring_interval"), "recurring_interval"),
        interval_count=interval_count,
        name=name if isinstance(name, str) and name else None,
    )


def modified_at(document: dict[str, Any], what: str) -> datetime | None:
    """When Polar last changed the object: `modified_at`, else `created_at`."""
    return time(document.get("modified_at"), f"{what}.modified_at") or time(
        document.get("created_at"), f"{what}.created_at"
    )
