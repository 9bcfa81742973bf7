"""A realistic Stripe subscription lifecycle, and a harness that feeds it to workers in any order.

The lifecycle: incomplete -> active -> past_due -> unpaid -> active -> renewal -> cancel at
period end -> canceled, as the Stripe events it produces (several of them in one second,
as Stripe sends them). `deliver` applies deliveries one event at a time through the
Stripe adapter and `SubscriptionsInternal`, with two (or more) workers taking them from
one queue concurrently; an event that cannot apply yet (its subscription is not known,
or it kept losing races) goes back to the end of the queue, as the pipeline postpones it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from domain.shared.errors import ConcurrencyConflict
from domain.shared.pagination import PageRequest
from domain.shared.txn import TxnFn
from domain.subscriptions.internal import SubscriptionsInternal
from domain.subscriptions.model import Subscription
from domain.subscriptions.outcome import SubscriptionNotYetKnown
from domain.subscriptions.ports import SubscriptionFilter, SubscriptionsUnit
from integrations.providers.interface import Ignored
from integrations.providers.stripe.adapter import StripeAdapter
from integrations.providers.stripe.samples import T0, invoice_paid_event, subscription_event

DAY: Final = 86_400
P1: Final = (T0, T0 + 31 * DAY)
P2: Final = (P1[1], P1[1] + 28 * DAY)
P3: Final = (P2[1], P2[1] + 31 * DAY)
PROVIDER_SUB: Final = "sub_lifecycle"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery of a provider event (a duplicate delivery repeats the event id)."""

    event_id: str
    body: bytes
    snapshot: bool  # a subscription snapshot (as opposed to an invoice event)


def _sub(
    event_id: str,
    event_type: str,
    created: int,
    status: str,
    period: tuple[int, int],
    previous: dict[str, Any] | None = None,
    **fields: Any,
) -> Delivery:
    body = subscription_event(
        event_type,
        event_id=event_id,
        created=created,
        previous_attributes=previous,
        sub_id=PROVIDER_SUB,
        status=status,
        period_start=period[0],
        period_end=period[1],
        **fields,
    )
    return Delivery(event_id, body, snapshot=True)


def _invoice(event_id: str, event_type: str, created: int, invoice: str, period: tuple[int, int]) -> Delivery:
    body = invoice_paid_event(
        event_type=event_type,
        event_id=event_id,
        created=created,
        subscription=PROVIDER_SUB,
        invoice_id=invoice,
        amount_paid=2000 if event_type == "invoice.paid" else 0,
        amount_due=2000,
        period_start=period[0],
        period_end=period[1],
    )
    return Delivery(event_id, body, snapshot=False)


UPDATED: Final = "customer.subscription.updated"

LIFECYCLE: Final[tuple[Delivery, ...]] = (
    _sub("evt_created", "customer.subscription.created", T0, "incomplete", P1),
    # Paid at once: the invoice and the activation come within the creation's second.
    _invoice("evt_paid_1", "invoice.paid", T0, "in_1", P1),
    _sub("evt_active", UPDATED, T0, "active", P1, {"status": "incomplete"}),
    # The renewal's payment fails: the period moves on, the status to past_due.
    _invoice("evt_failed_2", "invoice.payment_failed", P1[1], "in_2", P2),
    _sub("evt_past_due", UPDATED, P1[1], "past_due", P2, {"status": "active"}),
    _sub("evt_unpaid", UPDATED, P1[1] + 7 * DAY, "unpaid", P2, {"status": "past_due"}),
    _invoice("evt_paid_2", "invoice.paid", P1[1] + 8 * DAY, "in_2", P2),
    _sub("evt_recovered", UPDATED, P1[1] + 8 * DAY, "active", P2, {"status": "unpaid"}),
    _sub("evt_renewed", UPDATED, P2[1], "active", P3, {"current_period_end": P2[1]}),
    _invoice("evt_paid_3", "invoice.paid", P2[1], "in_3", P3),
    _sub(
        "evt_ending",
        UPDATED,
        P2[1] + DAY,
        "active",
        P3,
        {"cancel_at_period_end": False},
        cancel_at_period_end=True,
    ),
    _sub(
        "evt_deleted",
        "customer.subscription.deleted",
        P3[1],
        "canceled",
        P3,
        cancel_at_period_end=True,
        canceled_at=P3[1],
    ),
)

# What merchants hear when the lifecycle arrives in order, once each.
ORDERED_TYPES: Final = (
    "subscription.created",
    "payment.succeeded",
    "subscription.activated",
    "payment.failed",
    "subscription.past_due",
    "subscription.updated",
    "payment.succeeded",
    "subscription.activated",
    "subscription.renewed",
    "payment.succeeded",
    "subscription.updated",
    "subscription.canceled",
)


@dataclass(frozen=True, slots=True)
class Note:
    """One outbox message, reduced to what the properties compare."""

    type: str
    status: str
    period_end: str | None
    cancel_at_period_end: bool
    invoice: str | None

    @property
    def view(self) -> tuple[str, str | None, bool]:
        return (self.status, self.period_end, self.cancel_at_period_end)


async def deliver(
    internals: Sequence[SubscriptionsInternal],
    merchant_id: str,
    deliveries: Sequence[Delivery],
    pauses: Sequence[Sequence[int]] = (),
) -> None:
    """Apply every delivery once it can apply.

    `pauses[w][n]`: how often worker `w` yields before taking its n-th item (the interleaving).
    """
    adapter = StripeAdapter()
    queue = deque(deliveries)
    budget = [50 * len(deliveries) + 50]

    async def worker(internal: SubscriptionsInternal, plan: Iterator[int]) -> None:
        while queue:
            budget[0] -= 1
            assert budget[0] > 0, "deliveries never settled"
            item = queue.popleft()
            for _ in range(next(plan, 0)):
                await asyncio.sleep(0)
            # Our stored event's id is the source key: unique per merchant and provider event.
            commands = adapter.normalize(item.body, merchant_id, f"{merchant_id}/{item.event_id}")
            assert not isinstance(commands, Ignored), commands
            try:
                for command in commands:
                    await internal.apply(command)
            except (SubscriptionNotYetKnown, ConcurrencyConflict):
                queue.append(item)  # postponed, as the pipeline does
                await asyncio.sleep(0)

    plans = [iter(pauses[n]) if n < len(pauses) else iter(()) for n in range(len(internals))]
    await asyncio.gather(*(worker(internal, plan) for internal, plan in zip(internals, plans, strict=True)))


async def outcome(txn: TxnFn[SubscriptionsUnit], merchant_id: str) -> tuple[Subscription, list[Note]]:
    """The merchant's one subscription and its notifications in the order they were made."""

    async def read(unit: SubscriptionsUnit) -> tuple[Subscription, list[Note]]:
        found = await unit.subscriptions.list(merchant_id, SubscriptionFilter(), PageRequest(limit=10))
        assert len(found.items) == 1, found.items
        messages = [m for m in await unit.outbox.pending(10_000) if m.merchant_id == merchant_id]
        notes = []
        for message in sorted(messages, key=lambda m: m.id):
            sub = message.data["subscription"]
            payment = message.data.get("payment")
            notes.append(
                Note(
                    type=message.event_type.value,
                    status=sub["status"],
                    period_end=sub["current_period_end"],
                    cancel_at_period_end=sub["cancel_at_period_end"],
                    invoice=payment["provider_invoice_id"] if payment else None,
                )
            )
        return found.items[0], notes

    return await txn(read)


def expected_final() -> dict[str, Any]:
    """The newest snapshot's word: canceled at the end of the third period, flagged."""
    end = datetime.fromtimestamp(P3[1], UTC)
    return {
        "status": "canceled",
        "current_period_start": datetime.fromtimestamp(P3[0], UTC),
        "current_period_end": end,
        "cancel_at_period_end": True,
        "canceled_at": end,
    }


def final_fields(sub: Subscription) -> dict[str, Any]:
    return {
        "status": sub.status.value,
        "current_period_start": sub.current_period_start,
        "current_period_end": sub.current_period_end,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "canceled_at": sub.canceled_at,
    }


def is_subsequence(items: Sequence[object], of: Sequence[object]) -> bool:
    remaining = iter(of)
    return all(any(item == candidate for candidate in remaining) for item in items)


def check_against_the_ordered_stream(sub: Subscription, notes: list[Note], ordered: list[Note]) -> None:
    """The properties every arrival order must have (see the tests that call it)."""
    assert final_fields(sub) == expected_final()
    states = [n for n in notes if n.type.startswith("subscription.")]
    ordered_states = [n for n in ordered if n.type.startswith("subscription.")]
    # Created once, first; every other message tells of a real change, in provider order.
    assert [n.type for n in states].count("subscription.created") == 1
    assert states[0].type == "subscription.created"
    assert is_subsequence([n.view for n in states], [n.view for n in ordered_states]), states
    assert all(a.view != b.view for a, b in itertools.pairwise(states)), states
    assert states[-1].status == sub.status.value
    # Payments are facts: each one told exactly once, whatever the order.
    payments = sorted((n.type, n.invoice) for n in notes if n.type.startswith("payment."))
    assert payments == sorted((n.type, n.invoice) for n in ordered if n.type.startswith("payment."))
    assert {n.type for n in notes} <= set(ORDERED_TYPES)
