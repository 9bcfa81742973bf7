"""A batch of inbound events on every backend: applied once, in one write; and, on SQLite, read
with one query per collection for the whole batch instead of look-ups per event.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from domain.inbound.external import InboundExternal
from domain.inbound.internal import InboundInternal
from domain.inbound.model import InboundEvent, InboundStatus
from domain.notifications.internal import NotificationsInternal
from domain.notifications.retry import RetryPolicy
from domain.subscriptions.internal import SubscriptionsInternal
from domain.subscriptions.timed_moves import Timing
from integrations.providers.stripe.adapter import StripeAdapter
from integrations.providers.stripe.samples import T0, subscription_event
from integrations.redis.signals import LocalSignal
from integrations.stores.batch import Batch, BatchConflict
from integrations.stores.documents import DocumentStore
from integrations.stores.leases import WorkerRegistry
from integrations.stores.schema import COLLECTIONS
from integrations.stores.sqlite import SqliteStore
from integrations.stores.txn import StoreTxn
from integrations.telemetry.tracing import Telemetry
from tests.support.fakes import FakeClock, RecordingSender, RecordingSignal
from tests.support.work import verified_stripe_event
from workers.batches import BatchOutcomes, apply_batch
from workers.deps import InboundBatches, WorkerConfig, WorkerDeps

OWNER = "wrk_batches"
_SELECT = re.compile(r'^\s*SELECT doc FROM "(\w+)"', re.IGNORECASE)


class World:
    def __init__(self, store: DocumentStore) -> None:
        self.store = store
        self.clock = FakeClock()
        txn = StoreTxn(store)
        self.inbound = InboundExternal(txn, self.clock, RecordingSignal())
        self.inbound_internal = InboundInternal(txn, self.clock)
        self.telemetry = Telemetry("subgate-test")
        batches = InboundBatches(store=store, clock=self.clock, trace=dict, timing=Timing())
        self.deps = WorkerDeps(
            config=WorkerConfig(),
            clock=self.clock,
            telemetry=self.telemetry,
            providers={"stripe": StripeAdapter(clock=self.clock)},
            signal=LocalSignal(),
            registry=WorkerRegistry(store, self.clock),
            redis=None,
            subscriptions=SubscriptionsInternal(txn, self.clock, dict),
            inbound=self.inbound_internal,
            notifications=NotificationsInternal(
                txn, self.clock, RecordingSignal(), RecordingSender(), RetryPolicy(schedule=(1.0,)), 1.0
            ),
            batches=batches,
        )
        self.batches = batches

    async def receive(self, event_id: str, event_type: str, *, created: int = T0, **fields: Any) -> None:
        body = subscription_event(event_type, event_id=event_id, created=created, **fields)
        await self.inbound.receive(
            verified_stripe_event(
                merchant_id="mer_batches",
                connection_id="conn_batches",
                event_id=event_id,
                event_type=event_type,
                body=body,
            )
        )

    async def claim(self) -> Sequence[InboundEvent]:
        return await self.inbound_internal.claim(OWNER, 100)

    async def apply(self, events: Sequence[InboundEvent]) -> BatchOutcomes:
        return await apply_batch(self.deps, self.batches, events)

    async def count(self, collection: str) -> int:
        async with self.store.session() as session:
            return len(await session.find(collection, {}, limit=1000))


@pytest.fixture
async def world(store: DocumentStore) -> AsyncIterator[World]:
    made = World(store)
    try:
        yield made
    finally:
        made.telemetry.shutdown()


async def test_a_batch_is_applied_once_on_every_backend(world: World) -> None:
    for n in range(4):
        await world.receive(
            f"evt_{n}", "customer.subscription.created", sub_id=f"sub_{n}", customer=f"cus_{n % 2}"
        )
    await world.receive(
        "evt_later", "customer.subscription.updated", created=T0 + 60, sub_id="sub_0", status="past_due"
    )
    events = await world.claim()

    first = await world.apply(events)
    again = await world.apply(events)  # the lease brought them back before their outcomes were written

    assert first.alone == again.alone == []
    assert [o.status for o in first.outcomes] == [InboundStatus.APPLIED] * 5
    assert {(o.status, o.reason) for o in again.outcomes} == {(InboundStatus.IGNORED, "already applied")}
    assert await world.count("subscriptions") == 4
    assert await world.count("customers") == 2
    assert await world.count("plans") == 1
    assert await world.count("outbox") == 5


@pytest.mark.real_mongodb  # a standalone server has no transactions: a failed write leaves its start
async def test_a_batch_whose_write_clashes_writes_nothing(store: DocumentStore) -> None:
    batch = Batch(store)
    async with batch.event():
        await batch.txn(lambda unit: unit.provider_links.add("mer", "customer", "stripe", "cus_a", "cus_1"))
        await batch.txn(lambda unit: unit.provider_links.add("mer", "customer", "stripe", "cus_b", "cus_2"))
    async with store.session() as session:  # another process, meanwhile
        await session.insert(
            "provider_links", {"id": "mer:customer:stripe:cus_b", "version": 0, "internal_id": "x"}
        )

    with pytest.raises(BatchConflict):
        await batch.commit()

    async with store.session() as session:
        assert await session.get("provider_links", "mer:customer:stripe:cus_a") is None


@pytest.fixture
async def traced(tmp_path: Path) -> AsyncIterator[tuple[World, list[str]]]:
    statements: list[str] = []
    store = SqliteStore(tmp_path / "subgate.sqlite3", trace=statements.append)
    await store.migrate(COLLECTIONS)
    made = World(store)
    try:
        yield made, statements
    finally:
        made.telemetry.shutdown()
        await store.close()


async def test_a_batch_reads_with_one_query_per_collection(traced: tuple[World, list[str]]) -> None:
    world, statements = traced
    for n in range(10):
        await world.receive(
            f"evt_new_{n}", "customer.subscription.created", sub_id=f"sub_{n}", customer=f"cus_{n}"
        )
    await world.apply(await world.claim())
    for n in range(10):
        await world.receive(
            f"evt_upd_{n}",
            "customer.subscription.updated",
            created=T0 + 60,
            sub_id=f"sub_{n}",
            status="past_due",
        )
    events = await world.claim()
    statements.clear()

    result = await world.apply(events)

    assert [o.status for o in result.outcomes] == [InboundStatus.APPLIED] * 10
    read = [m.group(1) for sql in statements if (m := _SELECT.match(sql))]
    # The keys, the links, the subscriptions, their customers and their plans: one query each.
    assert read == ["processed_inputs", "provider_links", "subscriptions", "customers", "plans"]
