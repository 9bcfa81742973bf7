"""The worker's loops: inbound events, outbox fan-out, deliveries, and its heartbeat.

Each loop claims due work from the store (see `workers.pumps`). The inbound loop
applies provider events and wakes the outbox loop, which turns new outbox messages
into deliveries and wakes the delivery loop. The heartbeat loop keeps this worker
registered and hands back the leases of workers that stopped beating. Beside them, the
queue gauges are sampled from the store (see `workers.gauges`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import structlog

from domain.inbound.internal import ProcessingOutcome
from domain.inbound.model import InboundEvent
from domain.notifications.internal import AttemptResult, ClaimedDelivery
from domain.notifications.model import Delivery
from domain.shared.ids import new_id
from domain.shared.work import WorkKind
from integrations.redis.signals import listen
from integrations.stores.documents import StorageError
from integrations.telemetry.metrics import DELIVERIES, INBOUND
from workers.batches import BatchOutcomes, apply_alone, apply_batch
from workers.deps import WorkerDeps
from workers.fairness import EndpointBusy, EndpointGate
from workers.gauges import QueueGauges
from workers.pumps import BatchRecorder, Pump
from workers.tasks import apply_inbound, attempt_delivery

log = structlog.get_logger()

# A delivery for a slow endpoint goes back to the store, due again after this long (no
# attempt is counted), so that it does not hold one of this worker's slots while it waits.
ENDPOINT_BUSY_DEFER_SECONDS = 1.0
# How long an outcome that the store refuses (an outage) is kept and retried before its item
# is left to its lease: within the leases (an inbound event's 60 s, a delivery's attempt
# timeout plus 30 s), so that a short outage neither makes the item wait for its lease to
# run out nor runs it twice (a delivery sent again).
RECORD_PATIENCE_SECONDS = 30.0
# Customer emails are deliveries of the email channel, claimed by the same loop; they share
# the per-endpoint limit as if the SMTP server were one more endpoint.
EMAIL_SHARE = "email"


# How many claimed batches of inbound events one worker applies at once: some are applied while
# the others wait for the store (its write lock, shared with the server, and each commit's fsync).
INBOUND_BATCHES_IN_FLIGHT = 4


@dataclass(frozen=True, slots=True)
class _Loops:
    inbound: Pump[Sequence[InboundEvent]]
    outbox: Pump[int]
    deliveries: Pump[ClaimedDelivery]


class Pipeline:
    """Every loop of one worker process, under one owner name for its leases."""

    def __init__(self, deps: WorkerDeps, owner: str | None = None) -> None:
        self.deps = deps
        self.owner = owner or new_id("wrk")
        config = deps.config
        self._metrics = deps.telemetry.metrics
        self._held = {queue: self._metrics.in_flight.series(queue) for queue in (INBOUND, DELIVERIES)}
        self._inbound_results = BatchRecorder[ProcessingOutcome](
            "inbound", self._record_outcomes, patience=RECORD_PATIENCE_SECONDS
        )
        self._delivery_results = BatchRecorder[AttemptResult](
            "deliveries", self._record_attempts, patience=RECORD_PATIENCE_SECONDS
        )
        self._gates: dict[str, EndpointGate] = {}
        # Samples the store's queues for the queue gauges while the loops run.
        self.gauges = None if deps.queues is None else QueueGauges(deps.queues, self._metrics)
        self.loops = _Loops(
            inbound=Pump(
                "inbound",
                self._claim_inbound,
                self.process_batch,
                batch=1,
                max_in_flight=INBOUND_BATCHES_IN_FLIGHT,
                poll_seconds=config.poll_seconds,
            ),
            outbox=Pump(
                "outbox",
                self._fan_out,
                _nothing,
                batch=1,
                max_in_flight=1,
                poll_seconds=config.poll_seconds,
            ),
            deliveries=Pump(
                "deliveries",
                lambda n: deps.notifications.claim(self.owner, n),
                self.deliver,
                batch=config.batch,
                max_in_flight=config.max_in_flight,
                poll_seconds=config.poll_seconds,
            ),
        )
        deps.signal.subscribe(WorkKind.INBOUND, self.loops.inbound.wake)
        deps.signal.subscribe(WorkKind.OUTBOX, self.loops.outbox.wake)
        deps.signal.subscribe(WorkKind.DELIVERIES, self.loops.deliveries.wake)

    async def run(self, stop: asyncio.Event) -> None:
        """Run every loop until `stop`; then finish what is in flight and hand back the rest."""
        log.info("worker_started", owner=self.owner)
        tasks = [
            asyncio.create_task(self.loops.inbound.run(stop)),
            asyncio.create_task(self.loops.outbox.run(stop)),
            asyncio.create_task(self.loops.deliveries.run(stop)),
            asyncio.create_task(self._heartbeat(stop)),
        ]
        if self.deps.redis is not None:
            tasks.append(asyncio.create_task(listen(self.deps.redis, self.deps.signal, stop)))
        if self.gauges is not None:
            tasks.append(asyncio.create_task(self.gauges.run(stop)))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(StorageError):
                await self._hand_back(self.owner)
                await self.deps.registry.retire(self.owner)
            log.info("worker_stopped", owner=self.owner)

    async def _claim_inbound(self, _: int) -> Sequence[Sequence[InboundEvent]]:
        """One batch of due events (the loop's work item), or none."""
        events = await self.deps.inbound.claim(self.owner, self.deps.config.batch)
        return [events] if events else []

    async def process_batch(self, events: Sequence[InboundEvent]) -> None:
        """Apply claimed events in one transaction (see `workers.batches`) and record their
        outcomes; without `deps.batches`, each event alone (`process`), as many at once."""
        batches = self.deps.batches
        if batches is None:
            _log_failures(await asyncio.gather(*map(self.process, events), return_exceptions=True))
            return
        now = self.deps.clock()
        for event in events:
            self._metrics.inbound_claimed(event, now)
        self._held[INBOUND].add(len(events))
        try:
            result = await apply_batch(self.deps, batches, events)
            if result.outcomes:
                self.deps.signal.notify(WorkKind.OUTBOX)
            recorded = map(self._record_outcome, result.outcomes)
            alone = (self._apply_alone(result, event) for event in result.alone)
            _log_failures(await asyncio.gather(*recorded, *alone, return_exceptions=True))
        finally:
            self._held[INBOUND].add(-len(events))

    async def _apply_alone(self, result: BatchOutcomes, event: InboundEvent) -> None:
        outcome = await apply_alone(self.deps, result, event)
        self.deps.signal.notify(WorkKind.OUTBOX)
        await self._record_outcome(outcome)

    async def _record_outcome(self, outcome: ProcessingOutcome) -> None:
        carrier = {} if outcome.claimed is None else outcome.claimed.trace_carrier
        with self.deps.telemetry.recorded_span(carrier, "record inbound outcome"):
            await self._inbound_results.add(outcome)

    async def process(self, event: InboundEvent) -> None:
        """Apply one claimed event and record its outcome (the inbound loop's work item)."""
        self._metrics.inbound_claimed(event, self.deps.clock())
        self._held[INBOUND].add()
        try:
            outcome = await apply_inbound(self.deps, event)
            # Its effects (and their outbox messages) are committed: fan them out now.
            self.deps.signal.notify(WorkKind.OUTBOX)
            with self.deps.telemetry.recorded_span(event.trace_carrier, "record inbound outcome"):
                await self._inbound_results.add(outcome)
        finally:
            self._held[INBOUND].add(-1)

    async def _record_outcomes(self, outcomes: list[ProcessingOutcome]) -> list[InboundEvent]:
        # One write for the events of many traces: it belongs to none of them (each item's
        # `record inbound outcome` span shows its wait for this write).
        with self.deps.telemetry.detached():
            stored = await self.deps.inbound.record(outcomes)
        self._metrics.inbound_recorded(stored)
        return stored

    async def _fan_out(self, _: int) -> Sequence[int]:
        made = await self.deps.notifications.dispatch_pending(limit=self.deps.config.batch)
        # A non-empty answer makes the loop look again at once: there may be more pending.
        return [made] if made else []

    async def deliver(self, claimed: ClaimedDelivery) -> None:
        """Attempt one claimed delivery and record the attempt (the delivery loop's work item)."""
        self._held[DELIVERIES].add()
        try:
            result = await self._attempt(claimed)
            with self.deps.telemetry.recorded_span(claimed.trace_carrier, "record delivery attempt"):
                await self._delivery_results.add(result)
            self._metrics.attempt_recorded(result, claimed.message, self.deps.clock())
        finally:
            self._held[DELIVERIES].add(-1)

    async def _record_attempts(self, results: list[AttemptResult]) -> list[Delivery]:
        with self.deps.telemetry.detached():  # many traces' write, as in _record_outcomes
            stored = await self.deps.notifications.record(results)
        self._metrics.deliveries_recorded(results, stored)
        return stored

    async def _attempt(self, claimed: ClaimedDelivery) -> AttemptResult:
        """Attempt one delivery within its endpoint's share of this worker (see workers.fairness)."""
        # Emails share one gate: their recipient is the mail server.
        endpoint = claimed.delivery.endpoint_id or EMAIL_SHARE
        gate = self._gates.get(endpoint)
        if gate is None:
            gate = self._gates[endpoint] = EndpointGate(self.deps.config.per_endpoint)
        gate.users += 1
        try:
            async with gate.slot():
                self._metrics.attempt_started(claimed.delivery, claimed.message, self.deps.clock())
                result = await attempt_delivery(self.deps, claimed)
        except EndpointBusy:
            result = AttemptResult(
                claimed=claimed.delivery, deferred=True, defer_seconds=ENDPOINT_BUSY_DEFER_SECONDS
            )
        finally:
            gate.users -= 1
            if not gate.users:
                del self._gates[endpoint]
        return result

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.beat()
            except StorageError as error:
                log.warning("heartbeat_failed", owner=self.owner, error=str(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.deps.config.heartbeat_seconds)

    async def beat(self) -> int:
        """Say this worker is alive; hand back the leases of workers that went silent.

        Returns how many leased items were handed back.
        """
        registry = self.deps.registry
        if await registry.beat(self.owner):
            # Silent for too long (the store was unavailable, say): another worker handed back
            # this one's leases, so what it still runs may run twice; it is registered again.
            log.warning("worker_revived", owner=self.owner)
        handed = 0
        cutoff = registry.cutoff(timedelta(seconds=self.deps.config.dead_after_seconds))
        for silent in await registry.silent_since(cutoff):
            if silent != self.owner and await registry.retire(silent):
                released = await self._hand_back(silent)
                log.warning("worker_presumed_dead", owner=silent, leases_handed_back=released)
                handed += released
        return handed

    async def _hand_back(self, owner: str) -> int:
        handed = await self.deps.inbound.release(owner) + await self.deps.notifications.release(owner)
        if handed:
            self.deps.signal.notify(WorkKind.INBOUND)
            self.deps.signal.notify(WorkKind.DELIVERIES)
        return handed


async def _nothing(_: int) -> None:
    return None


def _log_failures(results: Sequence[object]) -> None:
    """One item's failure must not end the loop; its lease brings it back."""
    for result in results:
        if isinstance(result, Exception):
            log.error("work_item_failed", pump="inbound", error=type(result).__name__, exc_info=result)
