"""Steps of the worker's inbound path, run by hand in contract tests that watch the store."""

from __future__ import annotations

from domain.inbound.internal import InboundInternal, ProcessingOutcome
from domain.inbound.model import InboundStatus
from domain.shared.clock import Clock
from domain.subscriptions.internal import SubscriptionsInternal
from integrations.providers.interface import Ignored
from integrations.providers.stripe.adapter import StripeAdapter


async def apply_claimed(
    inbound: InboundInternal, subscriptions: SubscriptionsInternal, clock: Clock, owner: str, limit: int
) -> None:
    """Claim up to `limit` accepted Stripe events, apply them and record them as applied (their
    outbox messages wait to be fanned out)."""
    adapter = StripeAdapter(clock=clock)
    events = await inbound.claim(owner, limit)
    for event in events:
        commands = await adapter.commands(event)
        assert not isinstance(commands, Ignored)
        for command in commands:
            await subscriptions.apply(command)
    await inbound.record(
        [ProcessingOutcome(event_id=event.id, status=InboundStatus.APPLIED) for event in events]
    )
