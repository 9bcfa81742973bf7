"""Shortcuts tests take through the Internal services and the worker's loops: read an event back,
settle one, deliver what is due, run every loop until nothing is left.

The worker does each of these through its loops (claims, batched records, wake-ups); a test
often wants one step, done plainly and in turn.
"""

from __future__ import annotations

import asyncio

from domain.inbound.external import VerifiedEvent
from domain.inbound.internal import InboundInternal, ProcessingOutcome
from domain.inbound.model import InboundEvent, InboundStatus
from domain.inbound.ports import InboundUnit
from domain.notifications.internal import NotificationsInternal
from domain.notifications.model import Delivery
from domain.shared.txn import TxnFn
from workers.pipeline import Pipeline


async def stored_event(txn: TxnFn[InboundUnit], event_id: str) -> InboundEvent | None:
    """The inbound event as the store holds it now."""

    async def work(unit: InboundUnit) -> InboundEvent | None:
        return await unit.inbound_events.get(event_id)

    return await txn(work)


async def record_final(
    inbound: InboundInternal, event_id: str, status: InboundStatus, reason: str | None = None
) -> None:
    """Record one final outcome, as the worker records a batch of them."""
    await inbound.record([ProcessingOutcome(event_id=event_id, status=status, reason=reason)])


async def deliver_due(notifications: NotificationsInternal, owner: str, limit: int = 100) -> list[Delivery]:
    """Claim what is due, attempt each in turn and record them: the plain, sequential path."""
    claimed = await notifications.claim(owner, limit)
    return await notifications.record([await notifications.send(one) for one in claimed])


async def run_until_idle(pipeline: Pipeline, max_rounds: int = 1000) -> int:
    """Claim and run until nothing is due, then return how many items were handled.

    The burst mode of the worker's loops; retries that are due at once (a zero retry
    schedule) run in the same call.
    """
    deps = pipeline.deps
    batch = deps.config.batch
    total = 0
    for _ in range(max_rounds):
        events = await deps.inbound.claim(pipeline.owner, batch)
        if events:
            await pipeline.process_batch(events)
        made = await deps.notifications.dispatch_pending(limit=batch)
        claimed = await deps.notifications.claim(pipeline.owner, batch)
        await asyncio.gather(*(pipeline.deliver(one) for one in claimed))
        handled = len(events) + made + len(claimed)
        if not handled:
            break
        total += handled
    return total


def verified_stripe_event(
    *, merchant_id: str, connection_id: str, event_id: str, event_type: str, body: bytes
) -> VerifiedEvent:
    """A Stripe event as the gateway passes it on once its signature checked out (no client
    address, no creation time read from the payload, no trace)."""
    return VerifiedEvent(
        merchant_id=merchant_id,
        connection_id=connection_id,
        provider="stripe",
        provider_event_id=event_id,
        type=event_type,
        body=body,
        source_ip=None,
        provider_created_at=None,
        trace_carrier={},
    )
