"""Closing a unit of work: the outbox messages of a change, and the claim of its input's key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from domain.shared.errors import ConcurrencyConflict
from domain.shared.events import PAYMENT_EVENTS, DomainEvent, EventType
from domain.shared.outbox import OutboxMessage, TraceCarrier
from domain.subscriptions.model import Customer, Plan, Subscription, notification_view
from domain.subscriptions.outcome import CommandOutcome
from domain.subscriptions.ports import SubscriptionsUnit


@dataclass(frozen=True, slots=True, kw_only=True)
class Written:
    """A customer and plan the unit has just stored (None: not written by it), taken as they
    were written instead of being read back for the notification."""

    customer: Customer | None = None
    plan: Plan | None = None


_NOTHING_WRITTEN = Written()


class ChangeRecorder:
    def __init__(self, trace: TraceCarrier) -> None:
        self._trace = trace

    async def finish(
        self,
        unit: SubscriptionsUnit,
        source_key: str,
        sub: Subscription,
        events: list[EventType],
        now: datetime,
        payment: Mapping[str, object] | None = None,
        *,
        written: Written = _NOTHING_WRITTEN,
    ) -> CommandOutcome:
        """Append one outbox message per event, then claim `source_key`.

        `payment` (the invoice behind it: its own amount and currency, not the plan's)
        goes into the payment events only.
        """
        await self.announce(unit, sub, events, now, payment, written=written)
        # Claimed last: if anything above lost a race, the retry must not find it claimed.
        await claim_all(unit, source_key)
        return CommandOutcome(applied=True, subscription_id=sub.id, events=tuple(events))

    async def announce(
        self,
        unit: SubscriptionsUnit,
        sub: Subscription,
        events: list[EventType],
        now: datetime,
        payment: Mapping[str, object] | None = None,
        *,
        written: Written = _NOTHING_WRITTEN,
    ) -> None:
        """Append one outbox message per event; a change without events reads nothing."""
        if not events:
            return
        view = await _notification_view(unit, sub, written)
        carrier = self._trace()
        for event_type in events:
            data: dict[str, object] = {"subscription": view}
            if payment is not None and event_type in PAYMENT_EVENTS:
                data["payment"] = dict(payment)
            event = DomainEvent(
                type=event_type, merchant_id=sub.merchant_id, subject_id=sub.id, occurred_at=now, data=data
            )
            await unit.outbox.append(OutboxMessage.from_event(event, carrier))


async def _notification_view(
    unit: SubscriptionsUnit, sub: Subscription, written: Written
) -> dict[str, object]:
    """Read in the same unit as the change, so the message describes exactly what was committed
    (what the unit wrote itself is that already)."""
    customer = written.customer
    if customer is None or (customer.merchant_id, customer.id) != (sub.merchant_id, sub.customer_id):
        customer = await unit.customers.get(sub.merchant_id, sub.customer_id)
    plan = written.plan
    if plan is None or (plan.merchant_id, plan.id) != (sub.merchant_id, sub.plan_id):
        plan = await unit.plans.get(sub.merchant_id, sub.plan_id)
    return notification_view(sub, customer=customer, plan=plan)


async def first_time(unit: SubscriptionsUnit, key: str) -> bool:
    """Peek without claiming; the claim is written at the end of a successful unit."""
    return not await unit.processed.seen(key)


async def claim_all(unit: SubscriptionsUnit, *keys: str) -> None:
    """A key claimed meanwhile means a concurrent run applied the input: roll back and retry."""
    for key in keys:
        if not await unit.processed.claim(key):
            raise ConcurrencyConflict("processed input", key)
