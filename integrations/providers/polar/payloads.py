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
from domain.subscriptions.model import Interval
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.providers.interface import PayloadError
from integrations.providers.readers import provider_time

S = SubscriptionStatus

STATUS_MAP: Final = {
    "incomplete": S.PENDING,
    "incomplete_expired": S.EXPIRED,
    "trialing": S.TRIALING,
    "active": S.ACTIVE,
    "past_due": S.PAST_DUE,
    "unpaid": S.UNPAID,
    "canceled": S.CANCELED,
}


def obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"{what} is not an object")
    return value


def text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{what} is missing or not a string")
    return value


def time(value: Any, what: str) -> datetime | None:
    """ISO 8601 text with a zone (or null)."""
    return provider_time(value, what, unix=False)


def count(value: Any, what: str) -> int:
    """A non-negative integer (amounts in minor units, interval counts)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PayloadError(f"{what} is not a non-negative integer")
    return value


def status_of(subscription: dict[str, Any]) -> SubscriptionStatus:
    raw = subscription.get("status")
    if not isinstance(raw, str) or raw not in STATUS_MAP:
        raise PayloadError(f"unknown subscription status {raw!r}")
    return STATUS_MAP[raw]


def customer_of(subscription: dict[str, Any]) -> tuple[str, str | None]:
    """(Polar customer id, email if known)."""
    customer = subscription.get("customer")
    email = customer.get("email") if isinstance(customer, dict) else None
    customer_id = subscription.get("customer_id")
    if customer_id is None and isinstance(customer, dict):
        customer_id = customer.get("id")
    return text(customer_id, "subscription.customer_id"), email if isinstance(email, str) and email else None


def price_of(subscription: dict[str, Any]) -> ProviderPrice:
    """The plan of a Polar subscription: its product (what `provider_price_ids.polar` names)."""
    product = subscription.get("product")
    product_id = subscription.get("product_id")
    if product_id is None and isinstance(product, dict):
        product_id = product.get("id")
    name = product.get("name") if isinstance(product, dict) else None
    interval = subscription.get("recurring_interval")
    try:
        parsed_interval = Interval(str(interval))
    except ValueError:
        raise PayloadError(f"recurring_interval {interval!r} is not day, week, month or year") from None
    raw_count = subscription.get("recurring_interval_count")
    interval_count = 1 if raw_count is None else max(count(raw_count, "recurring_interval_count"), 1)
    return ProviderPrice(
        price_id=text(product_id, "subscription.product_id"),
        amount=count(subscription.get("amount"), "subscription.amount"),
        currency=text(subscription.get("currency"), "subscription.currency"),
        interval=parsed_interval,
        interval_count=interval_count,
        name=name if isinstance(name, str) and name else None,
    )


def modified_at(document: dict[str, Any], what: str) -> datetime | None:
    """When Polar last changed the object: `modified_at`, else `created_at`."""
    return time(document.get("modified_at"), f"{what}.modified_at") or time(
        document.get("created_at"), f"{what}.created_at"
    )


def metadata_link(container: Any) -> str | None:
    metadata = container.get("metadata") if isinstance(container, dict) else None
    link = metadata.get("subgate_subscription_id") if isinstance(metadata, dict) else None
    return link if isinstance(link, str) and link else None
