"""Notifications' units cut short at any write on a store without transactions (a MongoDB
server without replica set): the next fan-out makes exactly the deliveries missing, and the
next claim finishes a give-up, so nothing is lost or made twice."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from domain.notifications.external import NewEndpoint
from domain.notifications.retry import RetryPolicy
from domain.shared.events import DomainEvent, EventType
from domain.shared.outbox import OutboxMessage
from integrations.stores.repositories import StoreUnit
from tests.support.fakes import CutShort, InMemoryStore, RecordingSender, Services, build_services
from tests.support.work import deliver_due

MERCHANT = "mer_1"
URLS = ("https://hooks.example.com/a", "https://hooks.example.com/b")


async def world(*urls: str) -> tuple[Services, OutboxMessage]:
    store = InMemoryStore()
    store.transactions = False
    # One attempt only: its failure is the last, and the delivery is given up on.
    services = build_services(
        store=store, carried=True, sender=RecordingSender([500] * 3), policy=RetryPolicy(schedule=())
    )
    for url in urls or URLS:
        await services.notifications_external.create_endpoint(MERCHANT, NewEndpoint(url=url))
    event = DomainEvent(
        type=EventType.SUBSCRIPTION_CREATED,
        merchant_id=MERCHANT,
        subject_id="subsg_1",
        occurred_at=services.clock(),
        data={"subscription": {"id": "subsg_1", "status": "active"}},
    )
    message = OutboxMessage.from_event(event, {})

    async def append(unit: StoreUnit) -> None:
        await unit.outbox.append(message)

    await services.txn(append)
    return services, message


async def test_a_fan_out_cut_at_any_write_is_completed_by_the_next() -> None:
    services, _ = await world()
    before = services.store.writes
    assert await services.notifications.dispatch_pending() == len(URLS)
    writes = services.store.writes - before

    for cut in range(writes):
        services, message = await world()
        services.store.writes_left = cut
        with contextlib.suppress(CutShort):
            await services.notifications.dispatch_pending()
        services.store.writes_left = None
        await services.notifications.dispatch_pending()

        deliveries = services.store.documents("deliveries")
        assert sorted(d["endpoint_id"] for d in deliveries) == sorted(
            e["id"] for e in services.store.documents("endpoints")
        ), f"cut before write {cut + 1} of {writes}"
        assert {d["message_id"] for d in deliveries} == {message.id}
        (stored,) = services.store.documents("outbox")
        assert stored["dispatched"], f"cut before write {cut + 1} of {writes}"


async def test_a_give_up_cut_at_any_write_is_finished_by_the_next_claim() -> None:
    services, _ = await world(URLS[0])
    await services.notifications.dispatch_pending()
    before = services.store.writes
    (dead,) = await deliver_due(services.notifications, "worker-1")
    assert dead.status.value == "dead"
    writes = services.store.writes - before

    for cut in range(writes):
        services, _ = await world(URLS[0])
        await services.notifications.dispatch_pending()
        services.store.writes_left = cut
        with contextlib.suppress(CutShort):
            await deliver_due(services.notifications, "worker-1")
        services.store.writes_left = None
        services.clock.advance(timedelta(hours=1))  # past any lease
        await deliver_due(services.notifications, "worker-2")

        where = f"cut before write {cut + 1} of {writes}"
        (delivery,) = services.store.documents("deliveries")
        assert delivery["status"] == "dead", where
        letters = services.store.documents("dead_letters")
        assert [letter["delivery_id"] for letter in letters] == [delivery["id"]], where
        # Sent again only when the cut came before the give-up was written at all.
        assert len(services.sender.sent) <= 2, where
