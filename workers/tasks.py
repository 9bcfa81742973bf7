"""What a worker does with one claimed item. Each step is idempotent: work runs at least once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import structlog

from domain.inbound.internal import ProcessingOutcome
from domain.inbound.model import InboundEvent, InboundStatus
from domain.notifications.internal import AttemptResult, ClaimedDelivery
from domain.notifications.model import Channel
from domain.shared.errors import ConcurrencyConflict, DomainError
from domain.subscriptions.commands import ProviderCommand
from domain.subscriptions.outcome import CommandOutcome, SubscriptionNotYetKnown
from integrations.providers.interface import (
    Ignored,
    PayloadError,
    ProviderAdapter,
    ProviderRefused,
    ProviderUnavailable,
)
from integrations.stores.documents import StorageError
from integrations.telemetry.metrics import INBOUND, UNEXPECTED_ERROR
from workers.deps import WorkerDeps

log = structlog.get_logger()

# An exception's message can be long (a whole document in it, say); the reason keeps its start.
MAX_REASON_LENGTH = 500


async def apply_inbound(deps: WorkerDeps, event: InboundEvent) -> ProcessingOutcome:
    """Apply one provider event to the subscriptions it names; the outcome is recorded later."""
    with deps.telemetry.continue_trace(event.trace_carrier, "process inbound event", event_id=event.id):
        return finished(event, await _apply(deps, event))


async def apply_prepared(
    deps: WorkerDeps, event: InboundEvent, adapter: ProviderAdapter, commands: Sequence[ProviderCommand]
) -> ProcessingOutcome:
    """`apply_inbound` for an event whose commands are known already (see `prepare`)."""
    with deps.telemetry.continue_trace(event.trace_carrier, "process inbound event", event_id=event.id):
        return finished(event, await _apply_commands(deps, event, adapter, commands))


def finished(event: InboundEvent, outcome: ProcessingOutcome) -> ProcessingOutcome:
    """The outcome, logged, carrying the event as claimed (so that recording the outcome need
    not read it again)."""
    outcome = replace(outcome, claimed=event)
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


Prepared = tuple[ProviderAdapter, Sequence[ProviderCommand]]


async def prepare(deps: WorkerDeps, event: InboundEvent) -> Prepared | ProcessingOutcome:
    """The event's adapter and commands; or its outcome, when there is nothing to apply."""
    adapter = deps.providers.get(event.provider)
    if adapter is None:
        return ProcessingOutcome(
            event_id=event.id, status=InboundStatus.FAILED, reason=f"no adapter for {event.provider!r}"
        )
    try:
        normalized = await adapter.commands(event)
    except (PayloadError, ProviderRefused, ProviderUnavailable, DomainError) as error:
        return _when_raised(event, error)
    except (StorageError, OSError):
        raise  # the store (or a raw socket under it) failed: transient, the lease brings it back
    except Exception as error:  # noqa: BLE001 - one event's surprise must not come back forever
        return _unexpected(deps, event, error)
    if isinstance(normalized, Ignored):
        return ProcessingOutcome(event_id=event.id, status=InboundStatus.IGNORED, reason=normalized.reason)
    return adapter, normalized


async def _apply(deps: WorkerDeps, event: InboundEvent) -> ProcessingOutcome:
    prepared = await prepare(deps, event)
    if isinstance(prepared, ProcessingOutcome):
        return prepared
    return await _apply_commands(deps, event, *prepared)


async def _apply_commands(
    deps: WorkerDeps, event: InboundEvent, adapter: ProviderAdapter, commands: Sequence[ProviderCommand]
) -> ProcessingOutcome:
    try:
        applied = await _run(deps, adapter, event, commands)
    except (PayloadError, ProviderRefused, ProviderUnavailable, DomainError) as error:
        return _when_raised(event, error)
    except (StorageError, OSError):
        raise  # as in `prepare`
    except Exception as error:  # noqa: BLE001 - as in `prepare`: the event fails, once
        return _unexpected(deps, event, error)
    return outcome_of(event, applied)


def outcome_of(event: InboundEvent, applied: Sequence[CommandOutcome]) -> ProcessingOutcome:
    """Applied when any of its commands changed something; otherwise ignored, saying why."""
    if any(a.applied for a in applied):
        return ProcessingOutcome(event_id=event.id, status=InboundStatus.APPLIED)
    reason = "; ".join(a.reason or "no effect" for a in applied)
    return ProcessingOutcome(event_id=event.id, status=InboundStatus.IGNORED, reason=reason)


def _unexpected(deps: WorkerDeps, event: InboundEvent, error: Exception) -> ProcessingOutcome:
    """An error nothing expected: the event fails with it (reprocess it once the cause is fixed),
    rather than run again and again through its lease."""
    log.exception("inbound_event_crashed", event_id=event.id, type=event.type, error=type(error).__name__)
    deps.telemetry.metrics.work_item_failed(INBOUND, UNEXPECTED_ERROR)
    reason = f"unexpected error while applying the event: {type(error).__name__}: {error}"
    return ProcessingOutcome(
        event_id=event.id, status=InboundStatus.FAILED, reason=reason[:MAX_REASON_LENGTH]
    )


def _when_raised(event: InboundEvent, error: Exception) -> ProcessingOutcome:
    """A final status, or `None` (postponed) for what a later attempt can get past."""
    if isinstance(error, PayloadError):
        return ProcessingOutcome(
            event_id=event.id, status=InboundStatus.FAILED, reason=f"unusable payload: {error}"
        )
    if isinstance(error, ProviderRefused):
        return ProcessingOutcome(event_id=event.id, status=InboundStatus.FAILED, reason=str(error))
    if isinstance(error, ConcurrencyConflict | ProviderUnavailable):
        # A unit that kept losing races, or the provider's API timing out or failing: never
        # final on a transient cause; the event stays accepted and runs again later.
        return ProcessingOutcome(event_id=event.id, status=None, reason=str(error), transient=True)
    if isinstance(error, SubscriptionNotYetKnown):
        # Out-of-order arrival: the subscription's own event has not been processed yet.
        return ProcessingOutcome(event_id=event.id, status=None, reason=str(error))
    return ProcessingOutcome(event_id=event.id, status=InboundStatus.IGNORED, reason=str(error))


async def _run(
    deps: WorkerDeps, adapter: ProviderAdapter, event: InboundEvent, commands: Sequence[ProviderCommand]
) -> list[CommandOutcome]:
    applied = []
    for command in commands:
        try:
            applied.append(await deps.subscriptions.apply(command))
        except SubscriptionNotYetKnown as unknown:
            # An invoice of a subscription no event has shown yet: ask the provider for it,
            # when the connection holds an API key; otherwise wait for its own event.
            fetched = await adapter.fetch_subscription(event, unknown.entity_id)
            if fetched is None:
                raise
            await deps.subscriptions.apply(fetched)
            applied.append(await deps.subscriptions.apply(command))
    return applied


async def attempt_delivery(deps: WorkerDeps, claimed: ClaimedDelivery) -> AttemptResult:
    """One outbound attempt, in the trace of the event that caused the message."""
    name = "deliver email" if claimed.delivery.channel == Channel.EMAIL else "deliver webhook"
    with deps.telemetry.continue_trace(claimed.trace_carrier, name, delivery_id=claimed.delivery.id):
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
