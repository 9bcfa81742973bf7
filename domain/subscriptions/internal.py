"""Subscription operations for workers (Internal); HTTP handlers cannot import this module."""

from __future__ import annotations

from datetime import datetime

from domain.shared.clock import Clock
from domain.shared.errors import ConcurrencyConflict
from domain.shared.events import PAYMENT_EVENTS, DomainEvent, EventType
from domain.shared.ids import new_id
from domain.shared.outbox import OutboxMessage, TraceCarrier
from domain.shared.txn import TxnFn, with_retries
from domain.subscriptions.commands import RecordPayment, SyncSubscription
from domain.subscriptions.lifecycle import StaleUpdate, apply_payment, apply_sync
from domain.subscriptions.model import Customer, Plan, Subscription, notification_view
from domain.subscriptions.ports import SubscriptionsUnit
from domain.subscriptions.service import Outcome, SubscriptionNotYetKnown


class SubscriptionsInternal:
    """Apply normalized provider inputs. Every method is idempotent per `source_key`."""

    def __init__(self, txn: TxnFn[SubscriptionsUnit], clock: Clock, trace: TraceCarrier) -> None:
        self._txn = txn
        self._clock = clock
        self._trace = trace

    async def sync_from_provider(self, cmd: SyncSubscription) -> Outcome:
        async def work(unit: SubscriptionsUnit) -> Outcome:
            if not await _first_time(unit, cmd.source_key):
                return Outcome(applied=False, reason="already applied")
            now = self._clock()
            sub = await _find_linked(
                unit, cmd.merchant_id, cmd.provider, cmd.provider_subscription_id, cmd.linked_subscription_id
            )
            if sub is None:
                created = await self._create_from_provider(unit, cmd, now)
                return await self._finish(
                    unit, cmd.source_key, created, [EventType.SUBSCRIPTION_CREATED], now
                )
            try:
                after, events = apply_sync(sub, cmd, now)
            except StaleUpdate as stale:
                await _claim_all(unit, cmd.source_key)
                return Outcome(applied=False, subscription_id=sub.id, reason=stale.message)
            stored = await unit.subscriptions.update(after)
            return await self._finish(unit, cmd.source_key, stored, events, now)

        return await with_retries(self._txn, work)

    async def record_payment(self, cmd: RecordPayment) -> Outcome:
        async def work(unit: SubscriptionsUnit) -> Outcome:
            if not await _first_time(unit, cmd.source_key):
                return Outcome(applied=False, reason="already applied")
            invoice_key = f"invoice:{cmd.provider}:{cmd.merchant_id}:{cmd.provider_invoice_id}"
            if not await _first_time(unit, invoice_key):
                return Outcome(applied=False, reason="invoice already recorded")
            sub = await _find_linked(
                unit, cmd.merchant_id, cmd.provider, cmd.provider_subscription_id, cmd.linked_subscription_id
            )
            if sub is None:
                raise SubscriptionNotYetKnown("provider subscription", cmd.provider_subscription_id)
            now = self._clock()
            try:
                after, events = apply_payment(sub, cmd, now)
            except StaleUpdate as stale:
                await _claim_all(unit, cmd.source_key, invoice_key)
                return Outcome(applied=False, subscription_id=sub.id, reason=stale.message)
            stored = await unit.subscriptions.update(after) if after is not sub else sub
            await _claim_all(unit, invoice_key)
            return await self._finish(unit, cmd.source_key, stored, events, now, payment=cmd)

        return await with_retries(self._txn, work)

    async def _create_from_provider(
        self, unit: SubscriptionsUnit, cmd: SyncSubscription, now: datetime
    ) -> Subscription:
        customer_id = await self._customer_for(unit, cmd, now)
        plan_id = await self._plan_for(unit, cmd, now)
        sub = Subscription(
            id=new_id("sub"),
            merchant_id=cmd.merchant_id,
            customer_id=customer_id,
            plan_id=plan_id,
            status=cmd.status,
            current_period_start=cmd.current_period_start,
            current_period_end=cmd.current_period_end,
            cancel_at_period_end=cmd.cancel_at_period_end,
            trial_end=cmd.trial_end,
            canceled_at=cmd.canceled_at,
            provider=cmd.provider,
            provider_subscription_id=cmd.provider_subscription_id,
            provider_watermark=cmd.observed_at,
            created_at=now,
            updated_at=now,
        )
        # The link is unique: a concurrent creator of the same subscription fails here.
        await unit.provider_links.add(
            cmd.merchant_id, "subscription", cmd.provider, cmd.provider_subscription_id, sub.id
        )
        await unit.subscriptions.add(sub)
        return sub

    async def _customer_for(self, unit: SubscriptionsUnit, cmd: SyncSubscription, now: datetime) -> str:
        found = await unit.provider_links.find(
            cmd.merchant_id, "customer", cmd.provider, cmd.provider_customer_id
        )
        if found is not None:
            return found
        customer = Customer(
            id=new_id("cus"),
            merchant_id=cmd.merchant_id,
            email=cmd.customer_email,
            name=None,
            provider_customer_ids={cmd.provider: cmd.provider_customer_id},
            created_at=now,
        )
        await unit.provider_links.add(
            cmd.merchant_id, "customer", cmd.provider, cmd.provider_customer_id, customer.id
        )
        await unit.customers.add(customer)
        return customer.id

    async def _plan_for(self, unit: SubscriptionsUnit, cmd: SyncSubscription, now: datetime) -> str:
        price = cmd.price
        found = await unit.provider_links.find(cmd.merchant_id, "price", cmd.provider, price.price_id)
        if found is not None:
            return found
        plan = Plan(
            id=new_id("plan"),
            merchant_id=cmd.merchant_id,
            name=price.name or price.price_id,
            amount=price.amount,
            currency=price.currency,
            interval=price.interval,
            interval_count=price.interval_count,
            provider_price_ids={cmd.provider: price.price_id},
            created_at=now,
        )
        await unit.provider_links.add(cmd.merchant_id, "price", cmd.provider, price.price_id, plan.id)
        await unit.plans.add(plan)
        return plan.id

    async def _finish(
        self,
        unit: SubscriptionsUnit,
        source_key: str,
        sub: Subscription,
        events: list[EventType],
        now: datetime,
        payment: RecordPayment | None = None,
    ) -> Outcome:
        view = await _notification_view(unit, sub)
        carrier = self._trace()
        for event_type in events:
            data: dict[str, object] = {"subscription": view}
            if payment is not None and event_type in PAYMENT_EVENTS:
                data["payment"] = _payment_view(payment)
            event = DomainEvent(
                type=event_type, merchant_id=sub.merchant_id, subject_id=sub.id, occurred_at=now, data=data
            )
            await unit.outbox.append(OutboxMessage.from_event(event, carrier))
        # Claimed last: if anything above lost a race, the retry must not find it claimed.
        await _claim_all(unit, source_key)
        return Outcome(applied=True, subscription_id=sub.id, events=tuple(events))


async def _notification_view(unit: SubscriptionsUnit, sub: Subscription) -> dict[str, object]:
    """Read in the same unit as the change, so the message describes exactly what was committed."""
    customer = await unit.customers.get(sub.merchant_id, sub.customer_id)
    plan = await unit.plans.get(sub.merchant_id, sub.plan_id)
    return notification_view(sub, customer=customer, plan=plan)


def _payment_view(payment: RecordPayment) -> dict[str, object]:
    """The invoice behind a payment event: its own amount and currency, not the plan's."""
    return {
        "provider_invoice_id": payment.provider_invoice_id,
        "amount": payment.amount_paid,
        "currency": payment.currency,
    }


async def _first_time(unit: SubscriptionsUnit, key: str) -> bool:
    """Peek without claiming; the claim is written at the end of a successful unit."""
    return not await unit.processed.seen(key)


async def _claim_all(unit: SubscriptionsUnit, *keys: str) -> None:
    """A key claimed meanwhile means a concurrent run applied the input: roll back and retry."""
    for key in keys:
        if not await unit.processed.claim(key):
            raise ConcurrencyConflict("processed input", key)


async def _find_linked(
    unit: SubscriptionsUnit,
    merchant_id: str,
    provider: str,
    provider_subscription_id: str,
    linked_id: str | None,
) -> Subscription | None:
    if linked_id is not None:
        sub = await unit.subscriptions.get(merchant_id, linked_id)
        if sub is not None:
            return sub
    sub_id = await unit.provider_links.find(merchant_id, "subscription", provider, provider_subscription_id)
    return None if sub_id is None else await unit.subscriptions.get(merchant_id, sub_id)
