"""The notification repositories' newer queries, on every backend (SQLite, MongoDB, the fake).

Lanes (order per subscription), cancellation when an endpoint is deleted, hidden deleted
endpoints, dead letters leaving the list once replayed, and the customer email look-up;
also that the lane look-up goes through its index on SQLite.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from domain.notifications.model import (
    Channel,
    DeadLetter,
    DeadLetterKind,
    Delivery,
    DeliveryStatus,
    Endpoint,
    SigningSecret,
)
from domain.shared.events import EventType
from domain.shared.outbox import OutboxMessage
from domain.shared.pagination import PageRequest
from domain.subscriptions.model import Customer
from integrations.stores.documents import DocumentStore, In
from integrations.stores.repositories import StoreUnit
from integrations.stores.schema import COLLECTIONS
from integrations.stores.sqlite import SqliteStore
from integrations.stores.sqlite.sql import compile_find
from integrations.stores.txn import StoreTxn

T = TypeVar("T")
NOW = datetime(2025, 6, 1, tzinfo=UTC)


async def in_unit(store: DocumentStore, work: Callable[[StoreUnit], Awaitable[T]]) -> T:
    return await StoreTxn(store)(work)


def delivery(
    doc_id: str, *, lane: str | None, status: DeliveryStatus = DeliveryStatus.PENDING, endpoint: str = "ep_1"
) -> Delivery:
    return Delivery(
        id=doc_id,
        merchant_id="mer_1",
        endpoint_id=endpoint,
        message_id=f"msg_{doc_id}",
        event_type="subscription.updated",
        status=status,
        attempts=(),
        next_attempt_at=NOW,
        created_at=NOW,
        updated_at=NOW,
        lane=lane,
    )


async def test_the_first_open_delivery_of_a_lane_is_the_lowest_id_not_settled(store: DocumentStore) -> None:
    async def seed(unit: StoreUnit) -> None:
        await unit.deliveries.add(delivery("dlv_1", lane="ep_1|sub_1", status=DeliveryStatus.SUCCEEDED))
        await unit.deliveries.add(delivery("dlv_2", lane="ep_1|sub_1", status=DeliveryStatus.FAILED))
        await unit.deliveries.add(delivery("dlv_3", lane="ep_1|sub_1"))
        await unit.deliveries.add(delivery("dlv_0", lane="ep_1|sub_2"))

    await in_unit(store, seed)

    async def first(unit: StoreUnit) -> list[str | None]:
        found = [
            await unit.deliveries.first_open_in_lane(lane) for lane in ("ep_1|sub_1", "ep_1|sub_2", "ep_9|x")
        ]
        return [d.id if d else None for d in found]

    assert await in_unit(store, first) == ["dlv_2", "dlv_0", None]


async def test_cancel_for_endpoint_ends_only_its_open_deliveries(store: DocumentStore) -> None:
    async def seed(unit: StoreUnit) -> None:
        await unit.deliveries.add(delivery("dlv_1", lane=None))
        await unit.deliveries.add(delivery("dlv_2", lane=None, status=DeliveryStatus.FAILED))
        await unit.deliveries.add(delivery("dlv_3", lane=None, status=DeliveryStatus.SUCCEEDED))
        await unit.deliveries.add(delivery("dlv_4", lane=None, endpoint="ep_2"))

    await in_unit(store, seed)

    async def cancel(unit: StoreUnit) -> int:
        return await unit.deliveries.cancel_for_endpoint("ep_1", NOW + timedelta(minutes=1))

    assert await in_unit(store, cancel) == 2

    async def statuses(unit: StoreUnit) -> list[tuple[str, str, object]]:
        found = [await unit.deliveries.get(f"dlv_{n}") for n in range(1, 5)]
        return [(d.id, d.status.value, d.next_attempt_at) for d in found if d]

    assert await in_unit(store, statuses) == [
        ("dlv_1", "canceled", None),
        ("dlv_2", "canceled", None),
        ("dlv_3", "succeeded", NOW),
        ("dlv_4", "pending", NOW),
    ]


async def test_deleted_endpoints_are_hidden_except_by_id_lists(store: DocumentStore) -> None:
    live = Endpoint(
        id="ep_1",
        merchant_id="mer_1",
        url="https://a.example.com",
        event_types=(),
        description=None,
        enabled=True,
        secrets=(SigningSecret(value="whsec_x"),),
        created_at=NOW,
    )

    async def seed(unit: StoreUnit) -> None:
        await unit.endpoints.add(live)
        await unit.endpoints.add(replace(live, id="ep_2", deleted_at=NOW))

    await in_unit(store, seed)

    async def views(unit: StoreUnit) -> tuple[object, ...]:
        return (
            await unit.endpoints.get("mer_1", "ep_2"),
            [e.id for e in await unit.endpoints.all_for("mer_1")],
            [e.id for e in (await unit.endpoints.list("mer_1", PageRequest())).items],
            sorted(e.id for e in await unit.endpoints.get_many(["ep_1", "ep_2"])),
        )

    assert await in_unit(store, views) == (None, ["ep_1"], ["ep_1"], ["ep_1", "ep_2"])


async def test_replayed_dead_letters_leave_the_list(store: DocumentStore) -> None:
    letters = [
        DeadLetter(
            id=f"dl_{n}",
            merchant_id="mer_1",
            kind=DeadLetterKind.EMAIL if n == 3 else DeadLetterKind.WEBHOOK,
            delivery_id=f"dlv_{n}",
            reason="gave up",
            created_at=NOW,
        )
        for n in (1, 2, 3)
    ]

    async def seed(unit: StoreUnit) -> None:
        for letter in letters:
            await unit.dead_letters.add(letter)
        stored = await unit.dead_letters.get("dl_2")
        assert stored is not None
        await unit.dead_letters.update(replace(stored, replayed_at=NOW))

    await in_unit(store, seed)

    async def listed(unit: StoreUnit) -> tuple[list[str], list[str], list[str]]:
        every = await unit.dead_letters.list("mer_1", None, PageRequest())
        emails = await unit.dead_letters.list(None, DeadLetterKind.EMAIL, PageRequest())
        open_2 = await unit.dead_letters.open_for_delivery("dlv_2")
        return [d.id for d in every.items], [d.id for d in emails.items], [d.id for d in open_2]

    assert await in_unit(store, listed) == (["dl_1", "dl_3"], ["dl_3"], [])


async def test_the_customer_email_comes_from_the_customer_record_of_the_same_merchant(
    store: DocumentStore,
) -> None:
    async def seed(unit: StoreUnit) -> None:
        await unit.customers.add(
            Customer(id="cus_1", merchant_id="mer_1", email="ada@example.com", name=None, created_at=NOW)
        )
        await unit.customers.add(
            Customer(id="cus_2", merchant_id="mer_2", email="eve@example.com", name=None, created_at=NOW)
        )

    await in_unit(store, seed)

    def message(customer_id: str, **extra: object) -> OutboxMessage:
        return OutboxMessage(
            id="msg_1",
            merchant_id="mer_1",
            event_type=EventType.SUBSCRIPTION_ACTIVATED,
            subject_id="sub_1",
            occurred_at=NOW,
            data={"subscription": {"customer_id": customer_id}, **extra},
        )

    async def look_up(unit: StoreUnit) -> list[str | None]:
        return [
            await unit.recipients.email_for(message("cus_1")),
            await unit.recipients.email_for(message("cus_2")),  # another merchant's customer
            await unit.recipients.email_for(message("cus_9", customer_email="bo@example.com")),
        ]

    assert await in_unit(store, look_up) == ["ada@example.com", None, "bo@example.com"]


async def test_an_erased_customer_has_no_email_address_whatever_the_message_carries(
    store: DocumentStore,
) -> None:
    async def seed(unit: StoreUnit) -> None:
        await unit.customers.add(
            Customer(id="cus_1", merchant_id="mer_1", email=None, name=None, created_at=NOW, erased_at=NOW)
        )

    await in_unit(store, seed)
    message = OutboxMessage(
        id="msg_1",
        merchant_id="mer_1",
        event_type=EventType.PAYMENT_FAILED,
        subject_id="sub_1",
        occurred_at=NOW,
        data={"subscription": {"customer_id": "cus_1"}, "customer_email": "ada@example.com"},
    )

    async def look_up(unit: StoreUnit) -> str | None:
        return await unit.recipients.email_for(message)

    assert await in_unit(store, look_up) is None


async def test_a_delivery_stored_before_emails_existed_reads_as_a_webhook(store: DocumentStore) -> None:
    async with store.session() as session:
        await session.insert(
            "deliveries",
            {
                "id": "dlv_old",
                "version": 0,
                "merchant_id": "mer_1",
                "endpoint_id": "ep_1",
                "message_id": "msg_1",
                "event_type": "subscription.created",
                "status": "pending",
                "attempts": [],
                "next_attempt_at": None,
                "created_at": "2025-06-01T00:00:00.000000Z",
                "updated_at": "2025-06-01T00:00:00.000000Z",
            },
        )

    async def read(unit: StoreUnit) -> Delivery | None:
        return await unit.deliveries.get("dlv_old")

    old = await in_unit(store, read)
    assert old is not None
    assert (old.channel, old.lane, old.retry_from) == (Channel.WEBHOOK, None, 0)


async def test_sqlite_lane_lookup_uses_the_lane_index(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "lanes.sqlite3")
    try:
        await store.migrate(COLLECTIONS)
        sql, params = compile_find(
            "deliveries", {"status": In(("pending", "failed")), "lane": "ep_1|sub_1"}, limit=1, order_by="id"
        )
        with sqlite3.connect(store.path) as raw:
            plan = " / ".join(row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    finally:
        await store.close()
    assert "USING INDEX deliveries_lane" in plan, plan
