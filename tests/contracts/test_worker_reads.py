"""What the worker reads to apply a provider event and record its outcome, on a real SQLite store.

Every read is a statement (and a document decoded) on the worker's hot path, so the few it
can do without are checked here: a customer or plan the unit has just created is not read
back for the notification; a subscription found through its provider link does not look that
link up again; an outcome is recorded without reading its event, as long as the event is
stored as the worker's claim left it; when it is not, the outcome is recorded as ever.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from domain.inbound.external import InboundExternal
from domain.inbound.internal import InboundInternal, ProcessingOutcome
from domain.inbound.model import InboundEvent, InboundStatus
from domain.notifications.internal import NotificationsInternal
from domain.notifications.retry import RetryPolicy
from domain.subscriptions.internal import SubscriptionsInternal
from integrations.providers.interface import Ignored
from integrations.providers.stripe.adapter import StripeAdapter
from integrations.providers.stripe.samples import subscription_event
from integrations.redis.signals import LocalSignal
from integrations.stores.leases import WorkerRegistry
from integrations.stores.schema import COLLECTIONS
from integrations.stores.sqlite import SqliteStore
from integrations.stores.txn import StoreTxn
from integrations.telemetry.tracing import Telemetry
from tests.support.fakes import FakeClock, RecordingSender, RecordingSignal
from tests.support.work import record_final, stored_event, verified_stripe_event
from workers.deps import WorkerConfig, WorkerDeps
from workers.tasks import apply_inbound

MERCHANT = "mer_reads"
OWNER = "wrk_reads"
_READ = re.compile(r'^\s*SELECT doc FROM "(\w+)" WHERE id = \'([^\']*)\'', re.IGNORECASE)


@dataclass
class World:
    statements: list[str]
    store: SqliteStore
    txn: StoreTxn
    clock: FakeClock
    inbound: InboundExternal
    inbound_internal: InboundInternal
    subscriptions: SubscriptionsInternal

    async def receive(self, name: str, event_type: str, **fields: Any) -> None:
        body = subscription_event(event_type, event_id=f"evt_{name}", **fields)
        await self.inbound.receive(
            verified_stripe_event(
                merchant_id=MERCHANT,
                connection_id="conn_reads",
                event_id=f"evt_{name}",
                event_type=event_type,
                body=body,
            )
        )

    async def apply(self, events: Sequence[InboundEvent]) -> None:
        adapter = StripeAdapter(clock=self.clock)
        for event in events:
            commands = await adapter.commands(event)
            assert not isinstance(commands, Ignored)
            for command in commands:
                assert (await self.subscriptions.apply(command)).applied

    def reads(self) -> list[tuple[str, str]]:
        """(collection, id) of every read by id since the last call."""
        found = [(m.group(1), m.group(2)) for sql in self.statements if (m := _READ.match(sql))]
        self.statements.clear()
        return found


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    statements: list[str] = []
    store = SqliteStore(tmp_path / "subgate.sqlite3", trace=statements.append)
    await store.migrate(COLLECTIONS)
    clock = FakeClock()
    txn = StoreTxn(store)
    try:
        yield World(
            statements=statements,
            store=store,
            txn=txn,
            clock=clock,
            inbound=InboundExternal(txn, clock, RecordingSignal()),
            inbound_internal=InboundInternal(txn, clock),
            subscriptions=SubscriptionsInternal(txn, clock, dict),
        )
    finally:
        await store.close()


def collections(reads: list[tuple[str, str]]) -> list[str]:
    return [collection for collection, _ in reads]


async def test_a_new_subscription_reads_neither_its_new_customer_nor_its_new_plan(world: World) -> None:
    await world.receive("first", "customer.subscription.created", sub_id="sub_1", customer="cus_1")
    events = await world.inbound_internal.claim(OWNER, 10)
    world.reads()

    await world.apply(events)

    # Its key, then the links of the subscription, the customer and the price: all new.
    assert collections(world.reads()) == ["processed_inputs", *["provider_links"] * 3]


async def test_a_new_subscription_of_a_known_plan_reads_that_plan_once(world: World) -> None:
    await world.receive("first", "customer.subscription.created", sub_id="sub_1", customer="cus_1")
    await world.apply(await world.inbound_internal.claim(OWNER, 10))
    await world.receive("second", "customer.subscription.created", sub_id="sub_2", customer="cus_2")
    events = await world.inbound_internal.claim(OWNER, 10)
    world.reads()

    await world.apply(events)

    assert collections(world.reads()) == ["processed_inputs", *["provider_links"] * 3, "plans"]


async def test_an_update_looks_up_the_subscription_link_once(world: World) -> None:
    await world.receive("first", "customer.subscription.created", sub_id="sub_1", customer="cus_1")
    await world.apply(await world.inbound_internal.claim(OWNER, 10))
    world.clock.advance(1)
    await world.receive("second", "customer.subscription.updated", sub_id="sub_1", status="past_due")
    events = await world.inbound_internal.claim(OWNER, 10)
    world.reads()

    await world.apply(events)

    links = [key for collection, key in world.reads() if collection == "provider_links"]
    assert links == [f"{MERCHANT}:subscription:stripe:sub_1", f"{MERCHANT}:customer:stripe:cus_test1"]


async def test_outcomes_of_events_as_claimed_are_recorded_without_reading_them(world: World) -> None:
    for name in ("one", "two"):
        await world.receive(name, "customer.subscription.created", sub_id=f"sub_{name}")
    claimed = await world.inbound_internal.claim(OWNER, 10)
    world.reads()

    stored = await world.inbound_internal.record(
        [
            ProcessingOutcome(event_id=event.id, status=InboundStatus.APPLIED, claimed=event)
            for event in claimed
        ]
    )

    assert world.reads() == []
    assert [(event.id, event.status, event.lease_owner) for event in stored] == [
        (event.id, InboundStatus.APPLIED, None) for event in claimed
    ]
    for event in claimed:
        loaded = await stored_event(world.txn, event.id)
        assert loaded is not None
        assert (loaded.status, loaded.version) == (InboundStatus.APPLIED, event.version + 1)


async def test_an_event_changed_since_its_claim_keeps_what_was_recorded_first(world: World) -> None:
    for name in ("late", "fresh"):
        await world.receive(name, "customer.subscription.created", sub_id=f"sub_{name}")
    late, fresh = await world.inbound_internal.claim(OWNER, 10)
    # The lease ran out and another run got to it first.
    await record_final(world.inbound_internal, late.id, InboundStatus.IGNORED, "recorded first")
    world.reads()

    stored = await world.inbound_internal.record(
        [
            ProcessingOutcome(event_id=late.id, status=InboundStatus.APPLIED, claimed=late),
            ProcessingOutcome(event_id=fresh.id, status=InboundStatus.APPLIED, claimed=fresh),
        ]
    )

    assert [(event.id, event.status) for event in stored] == [(fresh.id, InboundStatus.APPLIED)]
    kept = await stored_event(world.txn, late.id)
    assert kept is not None
    assert (kept.status, kept.reason) == (InboundStatus.IGNORED, "recorded first")
    applied = await stored_event(world.txn, fresh.id)
    assert applied is not None
    assert applied.status == InboundStatus.APPLIED


async def test_a_final_event_handed_in_as_claimed_is_not_overwritten(world: World) -> None:
    await world.receive("done", "customer.subscription.created", sub_id="sub_done")
    [event] = await world.inbound_internal.claim(OWNER, 10)
    await record_final(world.inbound_internal, event.id, InboundStatus.IGNORED, "recorded first")
    finished = await stored_event(world.txn, event.id)
    assert finished is not None

    # The event as stored now: its version matches, but it is final already.
    stored = await world.inbound_internal.record(
        [ProcessingOutcome(event_id=event.id, status=InboundStatus.APPLIED, claimed=finished)]
    )

    assert stored == []
    kept = await stored_event(world.txn, event.id)
    assert kept is not None
    assert kept == finished


async def test_the_worker_hands_its_outcomes_in_as_claimed(world: World) -> None:
    deps = WorkerDeps(
        config=WorkerConfig(),
        clock=world.clock,
        telemetry=Telemetry("subgate-test"),
        providers={"stripe": StripeAdapter(clock=world.clock)},
        signal=LocalSignal(),
        registry=WorkerRegistry(world.store, world.clock),
        redis=None,
        subscriptions=world.subscriptions,
        inbound=world.inbound_internal,
        notifications=NotificationsInternal(
            world.txn, world.clock, RecordingSignal(), RecordingSender(), RetryPolicy(schedule=(1.0,)), 1.0
        ),
    )
    await world.receive("one", "customer.subscription.created", sub_id="sub_1")
    [event] = await world.inbound_internal.claim(OWNER, 10)
    outcome = await apply_inbound(deps, event)
    world.reads()

    [stored] = await world.inbound_internal.record([outcome])

    assert "inbound_events" not in collections(world.reads())
    assert (stored.id, stored.status) == (event.id, InboundStatus.APPLIED)
