"""What a worker does with one claimed item. Each step is idempotent: work runs at least once."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from domain.billing.internal import Outcome
from domain.billing.model import InboundEvent, InboundStatus
from domain.notifications.internal import AttemptResult, ClaimedDelivery
from domain.shared.errors import DomainError
from domain.subscriptions.commands import RecordPayment
from domain.subscriptions.service import Outcome as Applied, SubscriptionNotYetKnown
from integrations.providers import Command, Ignored
from integrations.stripe.payloads import PayloadError
from workers.deps import WorkerDeps

log = structlog.get_logger()


async def apply_inbound(deps: WorkerDeps, event: InboundEvent) -> Outcome:
    """Apply one provider event to the subscriptions it names; the outcome is recorded later."""
    with deps.telemetry.continue_trace(event.trace_carrier, "process inbound event", event_id=event.id):
        outcome = await _apply(deps, event)
        if outcome.status is None:
            log.info("inbound_event_postponed", event_id=event.id, reason=outcome.reason)
        else:
            log.info(
                "inbound_event_processed",
                event_id=event.id,
                type=event.type,
                status=outcome.status.value,
                reason=outcome.reason,
            )
        return outcome


async def _apply(deps: WorkerDeps, event: InboundEvent) -> Outcome:
    normalized = _normalize(deps, event)
    if isinstance(normalized, Outcome):
        return normalized
    try:
        applied = await _run(deps, normalized)
    except SubscriptionNotYetKnown as error:
        # Out-of-order arrival: the subscription's own event has not been processed yet.
        return Outcome(event_id=event.id, status=None, reason=error.message)
    except DomainError as error:
        return Outcome(event_id=event.id, status=InboundStatus.IGNORED, reason=error.message)
    if any(a.applied for a in applied):
        return Outcome(event_id=event.id, status=InboundStatus.APPLIED)
    reason = "; ".join(a.reason or "no effect" for a in applied)
    return Outcome(event_id=event.id, status=InboundStatus.IGNORED, reason=reason)


def _normalize(deps: WorkerDeps, event: InboundEvent) -> Sequence[Command] | Outcome:
    """The event's commands, or its final outcome when it has none to run."""
    adapter = deps.providers.get(event.provider)
    if adapter is None:
        return Outcome(
            event_id=event.id, status=InboundStatus.FAILED, reason=f"no adapter for {event.provider!r}"
        )
    try:
        normalized = adapter.normalize(event.body, event.merchant_id, event.id)
    except PayloadError as error:
        return Outcome(event_id=event.id, status=InboundStatus.FAILED, reason=f"unusable payload: {error}")
    if isinstance(normalized, Ignored):
        return Outcome(event_id=event.id, status=InboundStatus.IGNORED, reason=normalized.reason)
    return normalized


async def _run(deps: WorkerDeps, commands: Sequence[Command]) -> list[Applied]:
    applied = []
    for command in commands:
        if isinstance(command, RecordPayment):
            applied.append(await deps.subscriptions.record_payment(command))
        else:
            applied.append(await deps.subscriptions.sync_from_provider(command))
    return applied


async def attempt_delivery(deps: WorkerDeps, claimed: ClaimedDelivery) -> AttemptResult:
    """One outbound attempt, in the trace of the event that caused the message."""
    carrier = claimed.message.trace_carrier if claimed.message is not None else {}
    with deps.telemetry.continue_trace(carrier, "deliver webhook", delivery_id=claimed.delivery.id):
        result = await deps.notifications.send(claimed)
        _log_attempt(result)  # inside the span: the line carries the event's trace id
        return result


def _log_attempt(result: AttemptResult) -> None:
    answer = result.result
    fields = {
        "delivery_id": result.claimed.id,
        "endpoint_id": result.claimed.endpoint_id,
        "attempt": len(result.claimed.attempts) + 1,
        "status_code": answer.status_code if answer else None,
        "duration_ms": answer.duration_ms if answer else None,
    }
    if answer is not None and answer.ok:
        log.debug("delivery_attempt", **fields, outcome="succeeded")
    else:
        reason = result.problem if answer is None else (answer.error or f"HTTP {answer.status_code}")
        log.warning("delivery_attempt", **fields, outcome="failed", reason=reason)
