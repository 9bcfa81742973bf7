"""The inbound loop's batch: many claimed events applied in one store transaction.

Per event the guarantees are those of `workers.tasks.apply_inbound`: each event's commands run
as they would alone (the same subscriptions service, over `integrations.stores.batch` instead
of a transaction of its own), in the order claimed, each seeing what the earlier ones wrote,
so a later provider snapshot wins whatever order they came in and an input applied once is
not applied again; its outbox messages are written with its effects. All of the batch's effects
commit together.

An event that cannot be applied in the batch (it raised anything: an error it will end
`failed` or `ignored` with, a subscription not known yet that the provider may be asked for,
a lost race, an operation the batch does not take) leaves nothing in it, and is applied alone
after the batch, in a transaction of its own, exactly as one event is: so one bad event never
fails the others, and ends with its reason as ever. If the batch's own write is refused (a
clash with a write made meanwhile, or the store failing), nothing of it was written and every
event is applied alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from domain.inbound.internal import ProcessingOutcome
from domain.inbound.model import InboundEvent
from domain.subscriptions.commands import ProviderCommand
from domain.subscriptions.internal import SubscriptionsInternal
from integrations.providers.interface import ProviderAdapter
from integrations.stores.batch import Batch, BatchConflict
from integrations.stores.documents import StorageError
from integrations.stores.subscription_reads import read_ahead
from workers.deps import InboundBatches, WorkerDeps
from workers.tasks import apply_inbound, apply_prepared, finished, outcome_of, prepare

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class _Ready:
    event: InboundEvent
    adapter: ProviderAdapter
    commands: Sequence[ProviderCommand]


@dataclass(slots=True)
class BatchOutcomes:
    """The outcomes of the events applied in the batch (or with nothing to apply), and the
    events left to apply alone (`apply_alone`)."""

    outcomes: list[ProcessingOutcome] = field(default_factory=list)
    alone: list[InboundEvent] = field(default_factory=list)
    prepared: dict[str, _Ready] = field(default_factory=dict)


async def apply_batch(
    deps: WorkerDeps, batches: InboundBatches, events: Sequence[InboundEvent]
) -> BatchOutcomes:
    """Apply `events` in one transaction; see the module docstring for the events left alone."""
    result = BatchOutcomes()
    ready: list[_Ready] = []
    for event in events:
        try:
            prepared = await prepare(deps, event)
        except (StorageError, OSError):
            result.alone.append(event)  # applied alone, it fails alone (its lease brings it back)
            continue
        if isinstance(prepared, ProcessingOutcome):
            result.outcomes.append(finished(event, prepared))
        else:
            ready.append(_Ready(event, *prepared))
    if ready:
        await _apply_ready(deps, batches, ready, result)
    return result


async def _apply_ready(
    deps: WorkerDeps, batches: InboundBatches, ready: list[_Ready], result: BatchOutcomes
) -> None:
    batch = Batch(batches.store, batches.clock)
    service = batches.subscriptions(batch)
    applied: list[ProcessingOutcome] = []
    left: list[_Ready] = []
    try:
        await read_ahead(batch, [command for one in ready for command in one.commands])
        for one in ready:
            outcome = await _in_batch(deps, service, batch, one)
            if outcome is None:
                left.append(one)
            else:
                applied.append(outcome)
        await batch.commit()
    except (BatchConflict, StorageError) as error:
        log.warning("inbound_batch_refused", events=len(ready), error=str(error))
        applied, left = [], ready
    except Exception:  # not the store: a defect; the events still run, alone
        log.exception("inbound_batch_crashed", events=len(ready))
        applied, left = [], ready
    result.outcomes += applied
    for one in left:
        result.alone.append(one.event)
        result.prepared[one.event.id] = one


async def _in_batch(
    deps: WorkerDeps, service: SubscriptionsInternal, batch: Batch, one: _Ready
) -> ProcessingOutcome | None:
    """The event applied in the batch and its outcome; None when it must be applied alone."""
    event = one.event
    with deps.telemetry.continue_trace(event.trace_carrier, "process inbound event", event_id=event.id):
        try:
            async with batch.event():
                applied = [await service.apply(command) for command in one.commands]
        except Exception as error:  # noqa: BLE001 - whatever it was, the event runs alone next
            log.debug("inbound_event_applied_alone", event_id=event.id, cause=type(error).__name__)
            return None
        return finished(event, outcome_of(event, applied))


async def apply_alone(deps: WorkerDeps, result: BatchOutcomes, event: InboundEvent) -> ProcessingOutcome:
    """An event the batch left: applied in a transaction of its own, as `apply_inbound` does."""
    ready = result.prepared.get(event.id)
    if ready is None:
        return await apply_inbound(deps, event)
    return await apply_prepared(deps, event, ready.adapter, ready.commands)
