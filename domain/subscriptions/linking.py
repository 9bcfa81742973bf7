"""Which of our records a provider's ids stand for, and creating the ones we lack.

* subscription: the one named by the provider object's metadata `subgate_subscription_id`
  (when it is this merchant's), else the one already linked to the provider's subscription
  id, else a new one (see `SubscriptionsInternal`);
* customer: the one linked to the provider's customer id, else a new one;
* plan: the one linked to the provider's price id, else a new one.

Links live in `ProviderLinks`, unique per merchant, kind, provider and provider id. A
customer or plan created over REST with `provider_customer_ids` / `provider_price_ids`
is registered there (`register_customer`, `register_plan`), so provider events find it.

A subscription created at the provider over REST gets its id before the provider is asked
(`reserve`): the id goes into the provider's metadata, and whichever comes first, the
REST request storing it or the provider's first event creating it, uses that id.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from domain.shared.ids import new_id
from domain.subscriptions.commands import ProviderPrice
from domain.subscriptions.model import Customer, Plan, Subscription
from domain.subscriptions.ports import SubscriptionsUnit

SUBSCRIPTION = "subscription"
CUSTOMER = "customer"
PRICE = "price"
RESERVED = "reserved_subscription"  # our id, handed to a provider before it is stored
CREATE_REQUEST = "create_request"  # a REST Idempotency-Key -> the id reserved for its request


@dataclass(frozen=True, slots=True)
class Located:
    """What `locate_subscription` found."""

    sub: Subscription | None
    by_link: bool  # the provider id's link led to `sub` (that link exists, then)
    # A link whose subscription was never written: on a store whose sessions are not
    # transactions (a standalone MongoDB), a unit stopped between the two writes. Its id is the
    # one to create.
    left_link: str | None = None


async def locate_subscription(
    unit: SubscriptionsUnit,
    merchant_id: str,
    provider: str,
    provider_subscription_id: str,
    linked_id: str | None,
) -> Located:
    """Ours for a provider subscription: by metadata link first, then by provider id."""
    if linked_id is not None:
        # The repository is scoped to the merchant: another merchant's id finds nothing.
        sub = await unit.subscriptions.get(merchant_id, linked_id)
        if sub is not None:
            return Located(sub, by_link=False)
    sub_id = await unit.provider_links.find(merchant_id, SUBSCRIPTION, provider, provider_subscription_id)
    if sub_id is None:
        return Located(None, by_link=False)
    sub = await unit.subscriptions.get(merchant_id, sub_id)
    if sub is None:
        return Located(None, by_link=False, left_link=sub_id)
    return Located(sub, by_link=True)


async def adopt(
    unit: SubscriptionsUnit,
    sub: Subscription,
    provider: str,
    provider_subscription_id: str,
    *,
    linked: bool = False,
) -> Subscription:
    """Record that `sub` is paid through the provider's subscription (first link wins).

    Returns `sub` with its provider fields filled in when they were empty; the caller
    stores it with its own change. `linked`: the unit found `sub` through that very link
    (see `locate_subscription`), so it is not looked up again.
    """
    if not linked and (
        await unit.provider_links.find(sub.merchant_id, SUBSCRIPTION, provider, provider_subscription_id)
        is None
    ):
        # Unique: a concurrent unit linking the same id makes this one retry.
        await unit.provider_links.add(
            sub.merchant_id, SUBSCRIPTION, provider, provider_subscription_id, sub.id
        )
    if sub.provider is None and sub.provider_subscription_id is None:
        return replace(sub, provider=provider, provider_subscription_id=provider_subscription_id)
    return sub


async def customer_for(
    unit: SubscriptionsUnit,
    merchant_id: str,
    provider: str,
    provider_customer_id: str,
    email: str | None,
    now: datetime,
) -> tuple[str, Customer | None]:
    """Our customer's id, and the customer itself when this call created it."""
    found = await unit.provider_links.find(merchant_id, CUSTOMER, provider, provider_customer_id)
    if found is not None:
        return found, None
    customer = Customer(
        id=new_id("cus"),
        merchant_id=merchant_id,
        email=email,
        name=None,
        provider_customer_ids={provider: provider_customer_id},
        created_at=now,
    )
    await register_customer(unit, customer)
    return customer.id, customer


async def plan_for(
    unit: SubscriptionsUnit, merchant_id: str, provider: str, price: ProviderPrice, now: datetime
) -> tuple[str, Plan | None]:
    """Our plan's id, and the plan itself when this call created it."""
    found = await unit.provider_links.find(merchant_id, PRICE, provider, price.price_id)
    if found is not None:
        return found, None
    plan = Plan(
        id=new_id("plan"),
        merchant_id=merchant_id,
        name=price.name or price.price_id,
        amount=price.amount,
        currency=price.currency,
        interval=price.interval,
        interval_count=price.interval_count,
        provider_price_ids={provider: price.price_id},
        created_at=now,
    )
    await register_plan(unit, plan)
    return plan.id, plan


async def register_customer(unit: SubscriptionsUnit, customer: Customer) -> None:
    """Store a new customer and link each of its provider customer ids to it.

    Raises ConcurrencyConflict when one of those ids is already linked.
    """
    for provider, external_id in customer.provider_customer_ids.items():
        await unit.provider_links.add(customer.merchant_id, CUSTOMER, provider, external_id, customer.id)
    await unit.customers.add(customer)


async def register_plan(unit: SubscriptionsUnit, plan: Plan) -> None:
    """Store a new plan and link each of its provider price ids to it (see `register_customer`)."""
    for provider, external_id in plan.provider_price_ids.items():
        await unit.provider_links.add(plan.merchant_id, PRICE, provider, external_id, plan.id)
    await unit.plans.add(plan)


async def link_customer(
    unit: SubscriptionsUnit, merchant_id: str, provider: str, provider_customer_id: str, customer_id: str
) -> None:
    """Link a provider customer id to an existing customer, unless it is linked already."""
    if await unit.provider_links.find(merchant_id, CUSTOMER, provider, provider_customer_id) is None:
        await unit.provider_links.add(merchant_id, CUSTOMER, provider, provider_customer_id, customer_id)


async def reserve(unit: SubscriptionsUnit, merchant_id: str, provider: str, request_key: str | None) -> str:
    """The id of a subscription about to be created at `provider`.

    The same request key (a REST Idempotency-Key) always gets the same id, so a retried
    request asks the provider for the very same thing. Raises ConcurrencyConflict when a
    concurrent request with that key reserved one first (a retry then finds it).
    """
    if request_key is not None:
        found = await unit.provider_links.find(merchant_id, CREATE_REQUEST, provider, request_key)
        if found is not None:
            return found
    subscription_id = new_id("sub")
    if request_key is not None:
        await unit.provider_links.add(merchant_id, CREATE_REQUEST, provider, request_key, subscription_id)
    await unit.provider_links.add(merchant_id, RESERVED, provider, subscription_id, subscription_id)
    return subscription_id


async def reserved(unit: SubscriptionsUnit, merchant_id: str, provider: str, subscription_id: str) -> bool:
    """Whether this merchant reserved `subscription_id` for a subscription created at `provider`."""
    return await unit.provider_links.find(merchant_id, RESERVED, provider, subscription_id) is not None
