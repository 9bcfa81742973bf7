"""Task functions. Each is idempotent: arq runs jobs at least once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import structlog

from domain.billing.model import InboundEvent, InboundStatus
from domain.shared.errors import DomainError
from domain.subscriptions.commands import RecordPayment
from domain.subscriptions.service import Outcome, SubscriptionNotYetKnown
from integrations.providers import Command, Ignored
from integrations.stripe.payloads import PayloadError
from workers.deps import WorkerDeps

log = structlog.get_logger()

# Inbound events still `accepted` this long after arrival are handed to a worker again.
STALLED_INBOUND_AFTER = timedelta(seconds=30)


def _deps(ctx: dict[str, Any]) -> WorkerDeps:
    deps: WorkerDeps = ctx["deps"]
    return deps


async def process_inbound(ctx: dict[str, Any], event_id: str, carrier: dict[str, str]) -> str:
    deps = _deps(ctx)
    with deps.telemetry.continue_trace(carrier, "process inbound event", event_id=event_id):
        event = await deps.inbound.load(event_id)
        if event is None or event.status != InboundStatus.ACCEPTED:
            return "skipped"
        status, reason = await _apply(deps, event)
        if status is None:
            log.info("inbound event postponed", event_id=event_id, reason=reason)
            return "postponed"
        await deps.inbound.finish(event_id, status, reason)
        log.info(
            "inbound event processed", event_id=event_id, type=event.type, status=status.value, reason=reason
        )
        await deps.notifications.dispatch_pending()
        return status.value


Result = tuple[InboundStatus | None, str | None]
"""An event's final status and reason; (None, reason) when it must wait and run again."""


async def _apply(deps: WorkerDeps, event: InboundEvent) -> Result:
    adapter = deps.providers.get(event.provider)
    if adapter is None:
        return InboundStatus.FAILED, f"no adapter for provider {event.provider!r}"
    try:
        normalized = adapter.normalize(event.body, event.merchant_id, event.id)
    except PayloadError as error:
        return InboundStatus.FAILED, f"unusable payload: {error}"
    if isinstance(normalized, Ignored):
        return InboundStatus.IGNORED, normalized.reason
    return await _apply_commands(deps, event, normalized)


async def _apply_commands(deps: WorkerDeps, event: InboundEvent, commands: Sequence[Command]) -> Result:
    try:
        outcomes = await _run(deps, commands)
    except SubscriptionNotYetKnown as error:
        # Out-of-order arrival: the subscription's own event has not been processed yet.
        may_retry = await deps.inbound.postpone(event.id, error.message)
        return (None if may_retry else InboundStatus.FAILED), error.message
    except DomainError as error:
        return InboundStatus.IGNORED, error.message
    if any(o.applied for o in outcomes):
        return InboundStatus.APPLIED, None
    return InboundStatus.IGNORED, "; ".join(o.reason or "no effect" for o in outcomes)


async def _run(deps: WorkerDeps, commands: Sequence[Command]) -> list[Outcome]:
    outcomes = []
    for command in commands:
        if isinstance(command, RecordPayment):
            outcomes.append(await deps.subscriptions.record_payment(command))
        else:
            outcomes.append(await deps.subscriptions.sync_from_provider(command))
    return outcomes


async def deliver_webhook(ctx: dict[str, Any], delivery_id: str, carrier: dict[str, str]) -> str:
    deps = _deps(ctx)
    with deps.telemetry.continue_trace(carrier, "deliver webhook", delivery_id=delivery_id):
        stored = await deps.notifications.attempt(delivery_id)
        if stored is None:
            return "skipped"
        last = stored.attempts[-1] if stored.attempts else None
        log.info(
            "delivery attempt",
            delivery_id=delivery_id,
            status=stored.status.value,
            status_code=last.status_code if last else None,
            attempts=len(stored.attempts),
        )
        return stored.status.value


async def sweep(deps: WorkerDeps) -> dict[str, int]:
    """Re-enqueue everything the database says is due: nothing depends on Redis keeping it."""
    dispatched = await deps.notifications.dispatch_pending(limit=500)
    due = await deps.notifications.enqueue_due(limit=1000)
    stalled = await deps.inbound.waiting(STALLED_INBOUND_AFTER, limit=500)
    for event in stalled:
        await deps.queue.enqueue_inbound(event.id, event.trace_carrier)
    return {"dispatched": dispatched, "due": due, "inbound": len(stalled)}
