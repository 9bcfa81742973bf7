"""Closing a unit of work: the change stored, the outbox messages it tells, its inputs' keys
claimed last.

Where a unit is one transaction (SQLite, a MongoDB replica set) all of it commits or none.
Where it is not (a MongoDB server without replica set: each write stands on its own), a unit
cut short (the process killed, a lost race) keeps the writes made before the cut. So there a
change carries what is left to do in the subscription's own document (`Unfinished`, written
with the change in one document write), and is only then told and claimed; whoever reads that
subscription next (the same input run again, another change, the scheduler) finishes it
first. Nothing told is lost, and nothing is told twice: a message goes into the outbox only
when its id is not there yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from domain.shared.errors import ConcurrencyConflict
from domain.shared.events import PAYMENT_EVENTS, DomainEvent, EventType
from domain.shared.outbox import OutboxMessage, TraceCarrier
from domain.subscriptions.model import Customer, Plan, Subscription, Unfinished, notification_view
from domain.subscriptions.ports import SubscriptionsUnit


@dataclass(frozen=True, slots=True, kw_only=True)
class Written:
    """A customer and plan the unit has just stored (None: not written by it), taken as they
    were written instead of being read back for the notification."""

    customer: Customer | None = None
    plan: Plan | None = None


_NOTHING_WRITTEN = Written()


class ChangeRecorder:
    """Stores a change with what it tells. `carried`: units are not transactions (see the module)."""

    def __init__(self, trace: TraceCarrier, *, carried: bool = False) -> None:
        self._trace = trace
        self._carried = carried

    async def commit(
        self,
        unit: SubscriptionsUnit,
        after: Subscription,
        events: Sequence[EventType],
        now: datetime,
        *,
        before: Subscription | None,
        keys: Sequence[str] = (),
        payment: Mapping[str, object] | None = None,
        written: Written = _NOTHING_WRITTEN,
    ) -> Subscription:
        """Store `after` (a new subscription when `before` is None; nothing is written when it
        equals `before` and nothing is carried), append one message per event, claim `keys`.

        `payment` (the invoice behind it: its own amount and currency, not the plan's) goes
        into the payment events only. Returns the subscription as stored.
        """
        messages = await self._messages(unit, after, events, now, payment, written)
        if before is not None and before.unfinished is not None:
            await finish_unfinished(unit, before)
            after = replace(after, unfinished=None)
        # Keys alone need not travel: a run again finds nothing to tell and claims them anyway.
        carried = self._carried and bool(messages)
        if carried:
            after = replace(after, unfinished=Unfinished(keys=tuple(keys), messages=tuple(messages)))
        stored = await _store(unit, before, after)
        for message in messages:
            await unit.outbox.append(message)
        # Claimed last: if anything above lost a race, the retry must not find it claimed.
        await claim_all(unit, *keys)
        if carried:
            # Done: the document no longer needs to carry it.
            stored = await unit.subscriptions.update(replace(stored, unfinished=None))
        return stored

    async def settled(
        self, unit: SubscriptionsUnit, sub: Subscription, *keys: str
    ) -> tuple[Subscription, bool]:
        """`sub` with what its last change left undone finished, and whether the input of
        `keys` was applied already: that change was made for one of them, or, where units are
        not transactions (a check made before `sub` was read may be stale by now), one of them
        is claimed. Read `sub` first, then ask: a change stored after the read loses its race
        to store, one stored before it claimed its keys or carries them."""
        left = sub.unfinished
        if left is not None:
            return await settle(unit, sub), not set(keys).isdisjoint(left.keys)
        if self._carried:
            for key in keys:
                if not await first_time(unit, key):
                    return sub, True
        return sub, False

    async def _messages(
        self,
        unit: SubscriptionsUnit,
        sub: Subscription,
        events: Sequence[EventType],
        now: datetime,
        payment: Mapping[str, object] | None,
        written: Written,
    ) -> list[OutboxMessage]:
        """One outbox message per event; a change without events reads nothing."""
        if not events:
            return []
        view = await _notification_view(unit, sub, written)
        carrier = self._trace()
        messages = []
        for event_type in events:
            data: dict[str, object] = {"subscription": view}
            if payment is not None and event_type in PAYMENT_EVENTS:
                data["payment"] = dict(payment)
            event = DomainEvent(
                type=event_type, merchant_id=sub.merchant_id, subject_id=sub.id, occurred_at=now, data=data
            )
            messages.append(OutboxMessage.from_event(event, carrier))
        return messages


async def _store(unit: SubscriptionsUnit, before: Subscription | None, after: Subscription) -> Subscription:
    if before is None:
        await unit.subscriptions.add(after)
        return after
    if after == before:
        return before
    return await unit.subscriptions.update(after)


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


async def finish_unfinished(unit: SubscriptionsUnit, sub: Subscription) -> None:
    """What the change stored in `sub` left undone, done now: its messages that are not in the
    outbox yet appended (same ids), its keys that are not claimed yet claimed."""
    left = sub.unfinished
    if left is None:
        return
    there = {message.id for message in await unit.outbox.get_many([m.id for m in left.messages])}
    for message in left.messages:
        if message.id not in there:
            await unit.outbox.append(message)
    for key in left.keys:
        if not await unit.processed.seen(key):
            await unit.processed.claim(key)


async def settle(unit: SubscriptionsUnit, sub: Subscription) -> Subscription:
    """`sub` with what its last change left undone finished, stored without it (as returned)."""
    if sub.unfinished is None:
        return sub
    await finish_unfinished(unit, sub)
    return await unit.subscriptions.update(replace(sub, unfinished=None))


async def first_time(unit: SubscriptionsUnit, key: str) -> bool:
    """Peek without claiming; the claim is written at the end of a successful unit."""
    return not await unit.processed.seen(key)


async def claim_all(unit: SubscriptionsUnit, *keys: str) -> None:
    """A key claimed meanwhile means a concurrent run applied the input: roll back and retry."""
    for key in keys:
        if not await unit.processed.claim(key):
            raise ConcurrencyConflict("processed input", key)
