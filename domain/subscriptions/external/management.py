"""Creating, canceling, pausing and resuming subscriptions on a merchant's request (External).

Where it happens depends on who runs the subscription:

* subgate runs it (no provider key, or a plan without a price at a provider it can act
  at): the change is made here (see `changes`), stored and announced in one unit of work;
* a provider runs it (created there, or first seen in its events): the request is vetted
  against the stored state, then made at the provider with an idempotency key (see
  `provider`); the stored state follows the provider's webhooks, and the answer shows the
  provider's view meanwhile. A provider's refusal or silence stores nothing here.

A new subscription is created at a provider when the plan has a price there, the merchant's
connection to it holds an `api_key`, and subgate can act at it; the customer must then have
that provider's customer id. Its id is reserved first (see `linking.reserve`), so the
provider's first event and the request agree on it, whichever is stored first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from domain.shared.clock import Clock
from domain.shared.errors import Conflict, NotFound, ValidationFailed
from domain.shared.events import EventType
from domain.shared.ids import new_id
from domain.shared.txn import with_retries
from domain.subscriptions import changes
from domain.subscriptions.external.catalog import MAX_TRIAL_DAYS
from domain.subscriptions.lifecycle import events_for_change
from domain.subscriptions.linking import SUBSCRIPTION, reserve
from domain.subscriptions.model import Customer, Plan, Subscription, terms_of
from domain.subscriptions.ports import SubscriptionsUnit
from domain.subscriptions.provider import (
    NotManagedHere,
    ProviderAccounts,
    ProviderActions,
    ProviderCreate,
    ProviderDirectory,
    ProviderView,
    idempotency_key,
)
from domain.subscriptions.recording import ChangeRecorder
from domain.subscriptions.timed_moves import StampingTxn


@dataclass(frozen=True, slots=True, kw_only=True)
class NewSubscription:
    customer_id: str
    plan_id: str
    trial_days: int | None = None  # None: the plan's
    request_key: str | None = None  # the request's Idempotency-Key, if it had one


@dataclass(frozen=True, slots=True, kw_only=True)
class _Remote:
    provider: str
    api_key: str
    actions: ProviderActions


class SubscriptionManagement:
    def __init__(
        self,
        txn: StampingTxn,
        clock: Clock,
        recorder: ChangeRecorder,
        accounts: ProviderAccounts,
        providers: ProviderDirectory,
    ) -> None:
        self._txn = txn
        self._clock = clock
        self._record = recorder
        self._accounts = accounts
        self._providers = providers

    # -- create

    async def create(self, merchant_id: str, new: NewSubscription) -> Subscription:
        if new.trial_days is not None and not 0 <= new.trial_days <= MAX_TRIAL_DAYS:
            raise ValidationFailed("trial_days", f"must be an integer from 0 to {MAX_TRIAL_DAYS}")
        customer, plan = await self._txn(lambda unit: _customer_and_plan(unit, merchant_id, new))
        trial_days = plan.trial_days if new.trial_days is None else new.trial_days
        for provider in sorted(plan.provider_price_ids):
            remote = await self._remote(merchant_id, provider)
            if remote is not None and remote.actions.creates_subscriptions:
                return await self._create_at(remote, customer, plan, trial_days, new.request_key)
        return await self._create_here(merchant_id, new, trial_days)

    async def _create_here(self, merchant_id: str, new: NewSubscription, trial_days: int) -> Subscription:
        subscription_id = new_id("sub")

        async def work(unit: SubscriptionsUnit) -> Subscription:
            customer, plan = await _customer_and_plan(unit, merchant_id, new)
            now = self._clock()
            sub = changes.new_local(
                subscription_id=subscription_id, customer=customer, plan=plan, trial_days=trial_days, now=now
            )
            await self._record.commit(unit, sub, [EventType.SUBSCRIPTION_CREATED], now, before=None)
            return sub

        return await with_retries(self._txn, work)

    async def _create_at(
        self, remote: _Remote, customer: Customer, plan: Plan, trial_days: int, request_key: str | None
    ) -> Subscription:
        provider = remote.provider
        provider_customer = customer.provider_customer_ids.get(provider)
        if provider_customer is None:
            raise ValidationFailed(
                "customer_id",
                f"customer {customer.id!r} has no {provider} customer id (provider_customer_ids.{provider}), "
                f"which a subscription created at {provider} needs",
            )
        merchant_id = customer.merchant_id
        subscription_id = await with_retries(
            self._txn, lambda unit: reserve(unit, merchant_id, provider, request_key)
        )
        view = await remote.actions.create(
            remote.api_key,
            ProviderCreate(
                subscription_id=subscription_id,
                provider_customer_id=provider_customer,
                provider_price_id=plan.provider_price_ids[provider],
                trial_days=trial_days,
                idempotency_key=idempotency_key(merchant_id, subscription_id, "create", request_key),
            ),
        )

        async def store(unit: SubscriptionsUnit) -> Subscription:
            found = await unit.subscriptions.get(merchant_id, subscription_id)
            if found is not None:
                return found  # the provider's first event stored it already
            now = self._clock()
            sub = _from_provider(subscription_id, customer, plan, provider, view, now)
            # Unique: the provider's first event storing it at the same moment makes this retry.
            await unit.provider_links.add(
                merchant_id, SUBSCRIPTION, provider, view.provider_subscription_id, subscription_id
            )
            await self._record.commit(unit, sub, [EventType.SUBSCRIPTION_CREATED], now, before=None)
            return sub

        return await with_retries(self._txn, store)

    # -- changes

    async def cancel(
        self, merchant_id: str, subscription_id: str, *, at_period_end: bool, request_key: str | None
    ) -> Subscription:
        def rule(sub: Subscription, now: datetime) -> Subscription:
            return changes.cancel(sub, at_period_end=at_period_end, now=now)

        operation = "cancel_at_period_end" if at_period_end else "cancel"
        return await self._change(merchant_id, subscription_id, rule, operation, request_key)

    async def pause(self, merchant_id: str, subscription_id: str, *, request_key: str | None) -> Subscription:
        def rule(sub: Subscription, now: datetime) -> Subscription:
            return changes.pause(sub, now=now)

        return await self._change(merchant_id, subscription_id, rule, "pause", request_key)

    async def resume(
        self, merchant_id: str, subscription_id: str, *, request_key: str | None
    ) -> Subscription:
        def rule(sub: Subscription, now: datetime) -> Subscription:
            return changes.resume(sub, now=now)

        return await self._change(merchant_id, subscription_id, rule, "resume", request_key)

    async def _change(
        self,
        merchant_id: str,
        subscription_id: str,
        rule: Callable[[Subscription, datetime], Subscription],
        operation: str,
        request_key: str | None,
    ) -> Subscription:
        current = await self._txn(lambda unit: _subscription(unit, merchant_id, subscription_id))
        if current.provider_managed:
            return await self._change_at_provider(current, rule, operation, request_key)

        async def work(unit: SubscriptionsUnit) -> Subscription:
            sub = await _subscription(unit, merchant_id, subscription_id)
            now = self._clock()
            after = rule(sub, now)
            if after == sub:
                return sub
            return await self._record.commit(unit, after, events_for_change(sub, after), now, before=sub)

        return await with_retries(self._txn, work)

    async def _change_at_provider(
        self,
        sub: Subscription,
        rule: Callable[[Subscription, datetime], Subscription],
        operation: str,
        request_key: str | None,
    ) -> Subscription:
        rule(sub, self._clock())  # refused here (409) before the provider is asked
        provider, provider_sub = sub.provider, sub.provider_subscription_id
        if provider is None or provider_sub is None:
            raise NotManagedHere(f"subscription {sub.id!r} names no provider subscription to change")
        remote = await self._remote(sub.merchant_id, provider)
        if remote is None:
            raise NotManagedHere(_no_remote(provider, provider_sub, provider in self._providers))
        key = idempotency_key(sub.merchant_id, sub.id, operation, request_key)
        actions, api_key = remote.actions, remote.api_key
        if operation == "pause":
            view = await actions.pause(api_key, provider_sub, idempotency_key=key)
        elif operation == "resume":
            view = await actions.resume(api_key, provider_sub, idempotency_key=key)
        else:
            at_period_end = operation == "cancel_at_period_end"
            view = await actions.cancel(
                api_key, provider_sub, at_period_end=at_period_end, idempotency_key=key
            )
        return _as_the_provider_says(sub, view)

    async def _remote(self, merchant_id: str, provider: str) -> _Remote | None:
        actions = self._providers.get(provider)
        if actions is None:
            return None
        api_key = await self._accounts.api_key(merchant_id, provider)
        return None if api_key is None else _Remote(provider=provider, api_key=api_key, actions=actions)


async def _subscription(unit: SubscriptionsUnit, merchant_id: str, subscription_id: str) -> Subscription:
    found = await unit.subscriptions.get(merchant_id, subscription_id)
    if found is None:
        raise NotFound("subscription", subscription_id)
    return found


async def _customer_and_plan(
    unit: SubscriptionsUnit, merchant_id: str, new: NewSubscription
) -> tuple[Customer, Plan]:
    customer = await unit.customers.get(merchant_id, new.customer_id)
    if customer is None:
        raise NotFound("customer", new.customer_id)
    plan = await unit.plans.get(merchant_id, new.plan_id)
    if plan is None:
        raise NotFound("plan", new.plan_id)
    if plan.archived:
        raise Conflict(f"plan {plan.id!r} is archived: it takes no new subscriptions")
    return customer, plan


def _no_remote(provider: str, provider_sub: str, can_act: bool) -> str:
    if not can_act:
        return f"subscription is run by {provider} ({provider_sub}); change it there"
    return (
        f"subscription is run by {provider} ({provider_sub}), and the merchant's {provider} connection "
        "has no api_key to change it with: set one (PATCH /v1/connections/{id}) or change it at "
        f"{provider}"
    )


def _from_provider(
    subscription_id: str, customer: Customer, plan: Plan, provider: str, view: ProviderView, now: datetime
) -> Subscription:
    """Stored without a watermark: the provider's events about it all apply after this."""
    return Subscription(
        id=subscription_id,
        merchant_id=customer.merchant_id,
        customer_id=customer.id,
        plan_id=plan.id,
        **terms_of(view),
        provider=provider,
        provider_subscription_id=view.provider_subscription_id,
        provider_managed=True,
        created_at=now,
        updated_at=now,
    )


def _as_the_provider_says(sub: Subscription, view: ProviderView) -> Subscription:
    """The answer to a change made at the provider: its view, until its webhook brings it here."""
    return replace(sub, **terms_of(view))
