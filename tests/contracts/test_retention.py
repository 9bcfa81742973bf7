"""Retention on every backend: old payloads emptied with their metadata kept, old settled
records removed, and nothing that is still work (due, leased, waiting for a retry) touched.

The traffic goes through the real services (`tests.support.store_world`); the clock is moved
past the retention periods instead of waiting for them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from domain.inbound.model import InboundStatus
from domain.notifications.model import DeliveryStatus
from domain.shared.clock import utc_text
from domain.shared.errors import PayloadExpired
from integrations.stores import idempotency
from integrations.stores.codecs import iso
from integrations.stores.documents import Document, DocumentStore
from integrations.stores.idempotency import KeyedRequest, StoredIdempotencyKeys
from integrations.stores.leases import WorkerRegistry
from integrations.stores.retention.batches import KINDS
from tests.support.fakes import respond
from tests.support.store_world import PAYLOADS, RECORDS, StoreWorld, store_world

KEPT = ("merchants", "connections", "customers", "plans", "subscriptions", "endpoints", "provider_links")


@pytest.fixture
async def world(store: DocumentStore) -> StoreWorld:
    return await store_world(store)


async def documents(store: DocumentStore, collection: str) -> list[Document]:
    async with store.session() as session:
        return await session.find(collection, {}, limit=1000)


async def by_id(store: DocumentStore, collection: str, doc_id: str) -> Document | None:
    async with store.session() as session:
        return await session.get(collection, doc_id)


async def kept_counts(store: DocumentStore) -> dict[str, int]:
    return {collection: len(await documents(store, collection)) for collection in KEPT}


def only(counts: dict[str, int]) -> dict[str, int]:
    return {kind: count for kind, count in counts.items() if count}


async def traffic(world: StoreWorld, *, unprocessed: bool = True) -> None:
    """Two subscriptions whose notifications were all delivered (two webhooks, an email each);
    one whose first webhook failed and waits for a retry (its second waits behind it); one whose
    events are received but not processed yet."""
    await world.receive("done1")
    await world.receive("done2")
    await world.process()
    world.sender.then(respond(500))  # the next webhook fails: retried in 10 s
    await world.receive("waiting")
    await world.process()
    if unprocessed:
        await world.receive("unprocessed")


async def test_old_payloads_are_emptied_and_their_metadata_stays(world: StoreWorld) -> None:
    await traffic(world)
    store = world.store
    before = {d["id"]: d for d in await documents(store, "deliveries")}
    world.clock.advance(PAYLOADS + timedelta(days=1))
    cutoffs = world.purger.cutoffs()
    planned = await world.purger.count(cutoffs)

    report = await world.purger.purge(cutoffs)

    removed = {"inbound_payloads": 6, "outbox_payloads": 4, "delivery_payloads": 6}
    assert only(report.tally.counts) == only(planned.counts) == removed
    events = {d["provider_event_id"]: d for d in await documents(store, "inbound_events")}
    for name in ("done1", "done2", "waiting"):
        for event_id in (f"evt_{name}", f"evt_{name}_active"):
            assert events[event_id]["body"] == ""
            assert events[event_id]["payload_expired_at"] == iso(world.clock())
            assert events[event_id]["status"] == InboundStatus.APPLIED.value
    for event_id in ("evt_unprocessed", "evt_unprocessed_active"):
        assert events[event_id]["body"] != ""  # still work: accepted, due
        assert events[event_id]["payload_expired_at"] is None
    messages = await documents(store, "outbox")
    # The waiting subscription's two messages keep their bodies: a delivery of each still waits.
    assert sorted(bool(m["data"]) for m in messages) == [False, False, False, False, True, True]
    for delivery in await documents(store, "deliveries"):
        old = before[delivery["id"]]
        same = ("status", "event_type", "message_id", "endpoint_id", "created_at", "channel")
        assert {k: delivery[k] for k in same} == {k: old[k] for k in same}
        assert [a["at"] for a in delivery["attempts"]] == [a["at"] for a in old["attempts"]]
        if delivery["message_id"] in {m["id"] for m in messages if m["data"]}:
            assert delivery == old  # its message waits for a delivery: all of it untouched
            continue
        assert delivery["payload_expired_at"] is not None
        assert all(a["response_excerpt"] is None for a in delivery["attempts"])
        if delivery["channel"] == "email":
            assert old["recipient"] is not None
            assert "Subject:" in old["attempts"][0]["response_excerpt"]  # the email as kept
            assert (delivery["recipient"], delivery["lane"]) == (None, None)
    assert (await world.purger.purge(world.purger.cutoffs())).tally.total == 0  # nothing twice
    assert (await world.purger.count(world.purger.cutoffs())).total == 0


async def test_a_replay_or_reprocess_of_an_expired_payload_is_refused_naming_the_date(
    world: StoreWorld,
) -> None:
    await world.receive("done")
    world.mailer.refusing = respond(550)  # the email dies: a dead letter
    await world.process()
    world.clock.advance(10)
    await world.process()
    [letter] = (await world.dead_letters.list(world.merchant_id, None, page())).items
    event, _ = (await world.inbound.list(world.merchant_id, filter_all(), page())).items
    world.clock.advance(PAYLOADS)
    await world.purger.purge(world.purger.cutoffs())
    removed_on = utc_text(world.clock())

    with pytest.raises(PayloadExpired, match=removed_on) as replayed:
        await world.dead_letters.replay(letter.id)
    with pytest.raises(PayloadExpired, match=removed_on):
        await world.notifications_external.retry_delivery(world.merchant_id, letter.delivery_id)
    with pytest.raises(PayloadExpired, match=removed_on) as reprocessed:
        await world.inbound.reprocess(world.merchant_id, event.id)

    assert replayed.value.kind == reprocessed.value.kind == "payload_expired"
    stored = await by_id(world.store, "deliveries", letter.delivery_id)
    assert stored is not None
    assert stored["status"] == DeliveryStatus.DEAD.value


async def test_old_settled_records_go_and_work_or_entities_stay(world: StoreWorld) -> None:
    await traffic(world, unprocessed=False)
    world.mailer.refusing = respond(550)
    await world.receive("dead")
    await world.process()
    world.clock.advance(10)
    await world.process()  # the failing webhook gets its retry (200) and the email dies
    world.sender.then(respond(500))
    await world.receive("still_waiting")
    await world.process()
    await world.receive("unprocessed")
    entities = await kept_counts(world.store)
    world.clock.advance(RECORDS + timedelta(days=1))
    cutoffs = world.purger.cutoffs()
    planned = await world.purger.count(cutoffs)

    report = await world.purger.purge(cutoffs)

    assert only(report.tally.counts) == only(planned.counts)
    # Applied: two events of each subscription but the unprocessed one; the messages and
    # deliveries (two webhooks and an email a subscription) of all but the one still waiting.
    assert report.tally.counts["inbound_events"] == 10
    assert report.tally.counts["outbox_messages"] == 8
    assert report.tally.counts["deliveries"] == 12
    assert report.tally.counts["dead_letters"] == 1
    assert report.tally.counts["processed_inputs"] >= 10
    events = await documents(world.store, "inbound_events")
    assert sorted(e["provider_event_id"] for e in events) == ["evt_unprocessed", "evt_unprocessed_active"]
    waiting = await documents(world.store, "deliveries")
    assert sorted(d["status"] for d in waiting) == ["failed", "failed", "pending"]
    assert {m["id"] for m in await documents(world.store, "outbox")} == {d["message_id"] for d in waiting}
    assert await documents(world.store, "dead_letters") == []
    assert await kept_counts(world.store) == entities
    assert (await world.purger.count(world.purger.cutoffs())).total == 0


async def test_expired_idempotency_records_retired_workers_and_old_keys_go(world: StoreWorld) -> None:
    keys = StoredIdempotencyKeys(world.store, world.clock)
    registry = WorkerRegistry(world.store, world.clock)
    await keys.begin(KeyedRequest(merchant_id=world.merchant_id, key="old", fingerprint="f"))
    await registry.beat("wrk_gone")
    await registry.retire("wrk_gone")
    await registry.beat("wrk_running")
    world.clock.advance(RECORDS + timedelta(days=1))
    await registry.beat("wrk_running")
    await keys.begin(KeyedRequest(merchant_id=world.merchant_id, key="live", fingerprint="f"))

    report = await world.purger.purge(world.purger.cutoffs())

    assert only(report.tally.counts) == {"idempotency_keys": 1, "workers": 1}
    assert [d["key"] for d in await documents(world.store, idempotency.COLLECTION)] == ["live"]
    assert [d["id"] for d in await documents(world.store, "workers")] == ["wrk_running"]


async def test_an_old_idempotency_record_that_has_not_expired_stays(world: StoreWorld) -> None:
    keys = StoredIdempotencyKeys(world.store, world.clock)
    await keys.begin(KeyedRequest(merchant_id=world.merchant_id, key="live", fingerprint="f"))
    # Cutoffs later than now (an operator's `--payloads-before <future>`): still not a live one.
    future = world.clock() + timedelta(days=30)

    report = await world.purger.purge(world.purger.cutoffs(payloads_before=future, records_before=future))

    assert report.tally.counts["idempotency_keys"] == 0
    assert len(await documents(world.store, idempotency.COLLECTION)) == 1


async def test_a_purge_within_the_retention_periods_removes_nothing(world: StoreWorld) -> None:
    await traffic(world)
    world.clock.advance(PAYLOADS - timedelta(minutes=1))

    report = await world.purger.purge(world.purger.cutoffs())

    assert report.tally.total == 0
    assert set(report.tally.counts) == set(KINDS)


def page() -> Any:
    from domain.shared.pagination import PageRequest  # noqa: PLC0415 - a helper of two tests

    return PageRequest(limit=100)


def filter_all() -> Any:
    from domain.inbound.ports import InboundFilter  # noqa: PLC0415 - a helper of one test

    return InboundFilter()
