"""A batch of inbound events applied in one transaction keeps every guarantee of one event alone.

The newest provider snapshot wins whatever order a batch holds; an event applied once is not
applied again; its effects and outbox messages are written together with the rest of the batch,
or not at all (and then each event is applied alone, once); and an event that cannot be applied
leaves the others applied in the batch, ending `failed` with its reason as it would alone.

Everything is real except the store (the in-memory fake) and the clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest

from domain.inbound.model import InboundEvent, InboundStatus
from domain.merchants.external import NewConnection
from domain.merchants.model import Connection
from domain.subscriptions.timed_moves import Timing
from integrations.providers.stripe.samples import T0, subscription_event
from integrations.redis.signals import LocalSignal
from integrations.stores.documents import StorageError
from integrations.stores.leases import WorkerRegistry
from integrations.telemetry.tracing import Telemetry
from subgate.bootstrap import providers
from tests.support.fakes import InMemoryStore, Services, build_services
from tests.support.work import stored_event, verified_stripe_event
from workers.batches import apply_batch
from workers.deps import InboundBatches, WorkerConfig, WorkerDeps
from workers.pipeline import Pipeline
from workers.tasks import apply_inbound

OWNER = "wrk_batch"


class FailsOneWrite(InMemoryStore):
    """Fails the `fail_at`-th write (insert or replace) from now on, once, as a full disk would."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_at: int | None = None
        self.writes = 0

    def _ensure_writable(self) -> None:
        super()._ensure_writable()
        if self.fail_at is None:
            return
        self.writes += 1
        if self.writes == self.fail_at:
            raise StorageError("disk full (one write, once)")


@dataclass
class Worker:
    services: Services
    deps: WorkerDeps
    connection: Connection
    store: FailsOneWrite
    batches: InboundBatches

    async def receive(self, event_id: str, event_type: str, *, created: int = T0, **fields: Any) -> None:
        body = subscription_event(event_type, event_id=event_id, created=created, **fields)
        await self.services.inbound.receive(
            verified_stripe_event(
                merchant_id=self.connection.merchant_id,
                connection_id=self.connection.id,
                event_id=event_id,
                event_type=event_type,
                body=body,
            )
        )

    async def claim(self) -> list[InboundEvent]:
        return list(await self.services.inbound_internal.claim(OWNER, 100))

    async def stored(self, events: Sequence[InboundEvent]) -> dict[str, InboundEvent]:
        found = [await stored_event(self.services.txn, event.id) for event in events]
        return {event.provider_event_id: event for event in found if event is not None}

    def documents(self, collection: str) -> list[dict[str, object]]:
        return self.store.documents(collection)


@pytest.fixture
async def worker() -> AsyncIterator[Worker]:
    store = FailsOneWrite()
    services = build_services(store=store)
    merchant, _ = await services.merchants_internal.create_merchant("Acme")
    connection = await services.merchants.create_connection(
        merchant.id, NewConnection(provider="stripe", webhook_secrets=["whsec_batch_tests"])
    )
    telemetry = Telemetry("subgate-test")
    batches = InboundBatches(store=store, clock=services.clock, trace=dict, timing=Timing())
    deps = WorkerDeps(
        config=WorkerConfig(),
        clock=services.clock,
        telemetry=telemetry,
        providers=providers(services.merchants_internal.api_key, services.clock),
        signal=LocalSignal(),
        registry=WorkerRegistry(store, services.clock),
        redis=None,
        subscriptions=services.subscriptions,
        inbound=services.inbound_internal,
        notifications=services.notifications,
        batches=batches,
    )
    try:
        yield Worker(services=services, deps=deps, connection=connection, store=store, batches=batches)
    finally:
        telemetry.shutdown()


async def test_a_batch_applies_every_event_in_one_write(worker: Worker) -> None:
    for n in range(3):
        await worker.receive(f"evt_{n}", "customer.subscription.created", sub_id=f"sub_{n}")
    events = await worker.claim()
    opened = worker.store.sessions_opened

    result = await apply_batch(worker.deps, worker.batches, events)

    assert result.alone == []
    assert [o.status for o in result.outcomes] == [InboundStatus.APPLIED] * 3
    assert len(worker.documents("subscriptions")) == len(worker.documents("outbox")) == 3
    # Reads ahead (input keys, links, subscriptions, customers, plans) and one write for all.
    assert worker.store.sessions_opened - opened <= 6


@pytest.mark.parametrize("newest_first", [True, False], ids=["newest-first", "oldest-first"])
async def test_the_newest_snapshot_wins_in_either_order_within_one_batch(
    worker: Worker, *, newest_first: bool
) -> None:
    await worker.receive("evt_old", "customer.subscription.created", created=T0, sub_id="sub_1")
    await worker.receive(
        "evt_new", "customer.subscription.updated", created=T0 + 60, sub_id="sub_1", status="past_due"
    )
    events = await worker.claim()
    ordered = list(reversed(events)) if newest_first else events

    result = await apply_batch(worker.deps, worker.batches, ordered)

    assert result.alone == []
    [subscription] = worker.documents("subscriptions")
    assert subscription["status"] == "past_due"
    by_event = {o.event_id: o for o in result.outcomes}
    stale = events[0] if newest_first else None
    for event in events:
        expected = InboundStatus.IGNORED if event is stale else InboundStatus.APPLIED
        assert by_event[event.id].status == expected


async def test_an_event_applied_in_an_earlier_batch_is_not_applied_again(worker: Worker) -> None:
    await worker.receive("evt_1", "customer.subscription.created", sub_id="sub_1")
    events = await worker.claim()
    await apply_batch(worker.deps, worker.batches, events)

    # Its outcome was never recorded (the worker stopped): the lease brings it back.
    again = await apply_batch(worker.deps, worker.batches, events)

    [outcome] = again.outcomes
    assert (outcome.status, outcome.reason) == (InboundStatus.IGNORED, "already applied")
    assert len(worker.documents("outbox")) == 1
    assert len(worker.documents("subscriptions")) == 1


async def test_a_refused_batch_writes_nothing_and_each_event_is_applied_once_alone(worker: Worker) -> None:
    await worker.receive("evt_a", "customer.subscription.created", sub_id="sub_a")
    await worker.receive("evt_b", "customer.subscription.created", sub_id="sub_b")
    events = await worker.claim()
    # The batch's write fails halfway, after the first event's documents (eight of them).
    worker.store.fail_at = 10

    result = await apply_batch(worker.deps, worker.batches, events)
    outcomes = [await apply_inbound(worker.deps, event) for event in result.alone]

    assert [event.id for event in result.alone] == [event.id for event in events]
    assert [o.status for o in outcomes] == [InboundStatus.APPLIED] * 2
    assert len(worker.documents("subscriptions")) == 2
    assert len(worker.documents("outbox")) == 2


async def test_one_bad_event_fails_alone_with_its_reason_and_the_rest_of_the_batch_is_applied(
    worker: Worker,
) -> None:
    await worker.receive("evt_bad_sub", "customer.subscription.created", sub_id="sub_bad")
    await worker.receive("evt_first", "customer.subscription.created", sub_id="sub_first")
    bad_one = await worker.claim()
    await apply_batch(worker.deps, worker.batches, bad_one)
    # The stored subscription of sub_bad cannot be read any more (an unknown status).
    async with worker.store.session() as session:
        [doc] = await session.find("subscriptions", {"provider_subscription_id": "sub_bad"}, limit=1)
        await session.replace(
            "subscriptions", doc | {"status": "bogus", "version": doc["version"] + 1}, doc["version"]
        )
    await worker.receive("evt_before", "customer.subscription.created", sub_id="sub_before")
    await worker.receive("evt_bad", "customer.subscription.updated", created=T0 + 60, sub_id="sub_bad")
    await worker.receive("evt_after", "customer.subscription.created", sub_id="sub_after")
    events = await worker.claim()

    result = await apply_batch(worker.deps, worker.batches, events)
    [alone] = result.alone
    outcome = await apply_inbound(worker.deps, alone)

    assert alone.provider_event_id == "evt_bad"
    assert [o.status for o in result.outcomes] == [InboundStatus.APPLIED] * 2
    assert outcome.status == InboundStatus.FAILED
    assert outcome.reason is not None
    assert outcome.reason.startswith("unexpected error while applying the event: UnreadableDocument")
    statuses = {doc["provider_subscription_id"]: doc["status"] for doc in worker.documents("subscriptions")}
    assert statuses == {
        "sub_bad": "bogus",
        "sub_first": "active",
        "sub_before": "active",
        "sub_after": "active",
    }


async def test_the_inbound_loop_records_the_outcomes_of_a_batch_and_of_the_events_left_alone(
    worker: Worker,
) -> None:
    await worker.receive("evt_ok", "customer.subscription.created", sub_id="sub_ok")
    await worker.receive("evt_none", "customer.created")  # nothing to apply: ignored
    events = await worker.claim()
    pipeline = Pipeline(worker.deps, OWNER)

    await pipeline.process_batch(events)

    stored = await worker.stored(events)
    assert stored["evt_ok"].status == InboundStatus.APPLIED
    assert stored["evt_none"].status == InboundStatus.IGNORED
    worker.services.clock.advance(timedelta(minutes=5))  # past any lease
    assert await worker.claim() == []


async def test_without_batches_each_event_is_applied_alone(worker: Worker) -> None:
    await worker.receive("evt_ok", "customer.subscription.created", sub_id="sub_ok")
    events = await worker.claim()
    pipeline = Pipeline(replace(worker.deps, batches=None), OWNER)

    await pipeline.process_batch(events)

    assert (await worker.stored(events))["evt_ok"].status == InboundStatus.APPLIED
