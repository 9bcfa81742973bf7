"""A store written before retention and erasure: what the migration step's backfills give it."""

from __future__ import annotations

from datetime import timedelta

from integrations.stores.documents import Document, DocumentStore
from integrations.stores.migrations.runner import Migrator
from integrations.stores.migrations.steps import STEPS
from integrations.stores.retention.backfill import date_processed_inputs, index_customer_emails
from tests.support.fakes import DEFAULT_START, FakeClock
from tests.support.store_world import RECORDS, store_world

OLD_EMAIL: Document = {
    "id": "dlv_old_email",
    "version": 3,
    "merchant_id": "mer_1",
    "endpoint_id": None,
    "message_id": "msg_old",
    "event_type": "payment.failed",
    "status": "succeeded",
    "attempts": [],
    "next_attempt_at": None,
    "created_at": "2024-01-01T00:00:00.000000Z",
    "updated_at": "2024-01-01T00:00:00.000000Z",
    "channel": "email",
    "recipient": "ada@example.com",
}
OLD_MESSAGE: Document = {
    "id": "msg_old",
    "version": 1,
    "merchant_id": "mer_1",
    "event_type": "payment.failed",
    "subject_id": "sub_1",
    "occurred_at": "2024-01-01T00:00:00.000000Z",
    "data": {"subscription": {"id": "sub_1", "customer_id": "cus_1"}},
    "dispatched": True,
}


async def test_undated_keys_are_dated_and_then_age_out(store: DocumentStore) -> None:
    async with store.session() as session:
        for n in range(7):
            await session.insert("processed_inputs", {"id": f"evt_{n}", "version": 0})
    world = await store_world(store)

    assert await date_processed_inputs(store, DEFAULT_START, batch=3) == 7
    assert await date_processed_inputs(store, DEFAULT_START, batch=3) == 0
    world.clock.advance(RECORDS + timedelta(days=1))
    report = await world.purger.purge(world.purger.cutoffs())

    assert report.tally.counts["processed_inputs"] == 7


async def test_an_older_email_is_indexed_by_its_customer(
    store: DocumentStore,
) -> None:
    async with store.session() as session:
        await session.insert("outbox", OLD_MESSAGE)
        await session.insert("deliveries", OLD_EMAIL)
        await session.insert("deliveries", {**OLD_EMAIL, "id": "dlv_webhook", "channel": "webhook"})

    assert await index_customer_emails(store, batch=1) == 1
    assert await index_customer_emails(store, batch=1) == 0

    async with store.session() as session:
        email = await session.get("deliveries", "dlv_old_email")
        entries = await session.find(
            "customer_emails", {"merchant_id": "mer_1", "customer_id": "cus_1"}, limit=10
        )
    assert email is not None
    assert (email["customer_id"], email["version"]) == ("cus_1", 4)
    assert [e["id"] for e in entries] == ["dlv_old_email"]


async def test_subgate_migrate_runs_both_backfills_on_a_store_from_before_retention(
    store: DocumentStore,
) -> None:
    clock = FakeClock(DEFAULT_START)
    before_retention = [step for step in STEPS if step.number < 2]
    await Migrator(store, clock, steps=before_retention).prepare(upgrade=True)
    async with store.session() as session:
        await session.insert("processed_inputs", {"id": "evt_undated", "version": 0})
        await session.insert("outbox", OLD_MESSAGE)
        await session.insert("deliveries", OLD_EMAIL)

    done = await Migrator(store, clock).prepare(upgrade=True)

    assert 2 in [step.number for step in done.applied]
    async with store.session() as session:
        key = await session.get("processed_inputs", "evt_undated")
        entries = await session.find(
            "customer_emails", {"merchant_id": "mer_1", "customer_id": "cus_1"}, limit=10
        )
    assert key is not None
    assert key["created_at"] == "2025-01-01T00:00:00.000000Z"
    assert [e["id"] for e in entries] == ["dlv_old_email"]
