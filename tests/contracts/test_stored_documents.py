"""Documents as the stores hold them, on every backend: older documents still read, and stored
times compare as times in range filters and ordering (they are fixed-width strings)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from domain.notifications.model import Channel, Delivery, DeliveryStatus
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.stores.documents import Document, DocumentStore
from integrations.stores.repositories import StoreUnit
from integrations.stores.txn import StoreTxn

T = TypeVar("T")
STORED_AT = "2025-01-15T12:00:00.000000Z"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


async def in_unit(store: DocumentStore, work: Callable[[StoreUnit], Awaitable[T]]) -> T:
    return await StoreTxn(store)(work)


async def insert(store: DocumentStore, collection: str, doc: Document) -> None:
    async with store.session() as session:
        await session.insert(collection, doc)


OLD_DELIVERY: Document = {
    "id": "dlv_old",
    "version": 1,
    "merchant_id": "mer_1",
    "endpoint_id": "ep_1",
    "message_id": "msg_1",
    "event_type": "subscription.activated",
    "status": "failed",
    "attempts": [
        {"at": STORED_AT, "status_code": 500, "duration_ms": 9, "error": "HTTP 500", "response_excerpt": None}
    ],
    "next_attempt_at": STORED_AT,
    "created_at": STORED_AT,
    "updated_at": STORED_AT,
}
OLD_SUBSCRIPTION: Document = {
    "id": "sub_old",
    "version": 3,
    "merchant_id": "mer_1",
    "customer_id": "cus_1",
    "plan_id": "plan_1",
    "status": "active",
    "current_period_start": STORED_AT,
    "current_period_end": None,
    "cancel_at_period_end": False,
    "trial_end": None,
    "canceled_at": None,
    "provider": "stripe",
    "provider_subscription_id": "sub_S",
    "provider_watermark": STORED_AT,
    "created_at": STORED_AT,
    "updated_at": STORED_AT,
}


async def test_documents_stored_before_newer_fields_read_with_their_defaults(store: DocumentStore) -> None:
    await insert(store, "deliveries", OLD_DELIVERY)
    await insert(store, "subscriptions", OLD_SUBSCRIPTION)

    async def read(unit: StoreUnit) -> tuple[Delivery | None, object]:
        return await unit.deliveries.get("dlv_old"), await unit.subscriptions.get("mer_1", "sub_old")

    delivery, subscription = await in_unit(store, read)

    assert delivery is not None
    assert (delivery.channel, delivery.lane, delivery.retry_from, delivery.version) == (
        Channel.WEBHOOK,
        None,
        0,
        1,
    )
    assert delivery.attempts[0].at == datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
    assert getattr(subscription, "status", None) == SubscriptionStatus.ACTIVE
    assert getattr(subscription, "provider_managed", None) is True


async def test_times_on_the_second_and_just_after_compare_as_times(store: DocumentStore) -> None:
    """`12:00:00` must come before `12:00:00.5`: with msgspec's own (variable-width) form it would not."""
    on_the_second = NOW
    just_after = NOW + timedelta(microseconds=500_000)

    def due(doc_id: str, at: datetime) -> Delivery:
        return Delivery(
            id=doc_id,
            merchant_id="mer_1",
            endpoint_id="ep_1",
            message_id=f"msg_{doc_id}",
            event_type="payment.failed",
            status=DeliveryStatus.PENDING,
            attempts=(),
            next_attempt_at=at,
            created_at=NOW,
            updated_at=NOW,
        )

    async def seed(unit: StoreUnit) -> None:
        # Ids in the opposite order of the times, so id order cannot pass for time order.
        await unit.deliveries.add(due("dlv_a", just_after))
        await unit.deliveries.add(due("dlv_b", on_the_second))

    await in_unit(store, seed)

    async def due_at(now: datetime) -> list[str]:
        async def work(unit: StoreUnit) -> list[str]:
            return [d.id for d in await unit.deliveries.due(now, limit=10)]

        return await in_unit(store, work)

    assert await due_at(on_the_second) == ["dlv_b"]
    assert await due_at(just_after) == ["dlv_b", "dlv_a"]
