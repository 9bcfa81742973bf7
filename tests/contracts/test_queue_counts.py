"""Counting documents, and the queue counts built on it, on every backend (SQLite, MongoDB, the fake).

`DocumentSession.count` must agree with `find` on every kind of condition; `QueueCounts`
must follow work through each queue, from its arrival to its settling, with the real
services moving it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from domain.inbound.external import InboundExternal
from domain.inbound.internal import InboundInternal
from domain.merchants.external import MerchantsExternal, NewConnection
from domain.merchants.internal import MerchantsInternal
from domain.merchants.model import Connection
from domain.notifications.external import NewEndpoint, NotificationsExternal
from domain.notifications.internal import NotificationsInternal
from domain.notifications.retry import RetryPolicy
from domain.subscriptions.internal import SubscriptionsInternal
from integrations.providers.stripe.samples import subscription_event
from integrations.stores.backlog import Backlogs, QueueCounts
from integrations.stores.documents import Document, DocumentStore, Filter, Gt, In, Lte
from integrations.stores.txn import StoreTxn
from tests.contracts.steps import apply_claimed
from tests.support.fakes import FakeClock, RecordingSender, RecordingSignal
from tests.support.work import verified_stripe_event

OWNER = "wrk_counts"
RETRY_SECONDS = 10.0


def subscription(doc_id: str, **fields: object) -> Document:
    return {"id": doc_id, "version": 1, "merchant_id": "m1", **fields}


@pytest.fixture
async def catalog(store: DocumentStore) -> DocumentStore:
    docs = [
        subscription("s1", status="active", seats=1, paused=False, renews_at="2025-01-03T00:00:00.000000Z"),
        subscription("s2", status="trialing", seats=5, paused=True, renews_at="2025-01-01T00:00:00.000000Z"),
        subscription("s3", status="active", seats=10, paused=False, renews_at="2025-01-02T00:00:00.000000Z"),
        subscription("s4", status="canceled", seats=2, paused=True, renews_at=None),
        subscription("s5", status="active", seats=5),  # no `paused`, no `renews_at`
    ]
    async with store.session() as session:
        for doc in docs:
            await session.insert("subscriptions", doc)
    return store


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        pytest.param({}, 5, id="everything"),
        pytest.param({"status": "active"}, 3, id="equality"),
        pytest.param({"status": "active", "paused": False}, 2, id="two-conditions"),
        pytest.param({"paused": True}, 2, id="boolean"),
        pytest.param({"renews_at": None}, 2, id="null-or-missing"),
        pytest.param({"status": In(("trialing", "canceled"))}, 2, id="in"),
        pytest.param({"paused": In((False, None))}, 3, id="in-with-null"),
        pytest.param({"seats": Lte(5)}, 4, id="lte"),
        pytest.param({"renews_at": Gt("2025-01-01T00:00:00.000000Z")}, 2, id="gt-on-times"),
        pytest.param({"status": In(("active",)), "seats": Gt(4)}, 2, id="in-and-range"),
        pytest.param({"id": In(("s2", "s9"))}, 1, id="ids"),
        pytest.param({"status": "expired"}, 0, id="nothing"),
        pytest.param({"status": In(())}, 0, id="empty-set"),
    ],
)
async def test_count_agrees_with_find(catalog: DocumentStore, where: Filter, expected: int) -> None:
    async with catalog.session() as session:
        counted = await session.count("subscriptions", where)
        found = await session.find("subscriptions", where, limit=100)

    assert counted == len(found) == expected


async def test_count_sees_the_writes_made_earlier_in_its_session(store: DocumentStore) -> None:
    async with store.session() as session:
        assert await session.count("outbox", {"dispatched": False}) == 0
        await session.insert("outbox", {"id": "msg_1", "version": 0, "dispatched": False})
        await session.insert("outbox", {"id": "msg_2", "version": 0, "dispatched": True})
        assert await session.count("outbox", {"dispatched": False}) == 1


async def test_count_refuses_a_range_on_null(store: DocumentStore) -> None:
    with pytest.raises(ValueError, match="non-null"):
        async with store.session() as session:
            await session.count("subscriptions", {"renews_at": Lte(None)})


# --------------------------------------------------------------------------- queue counts


@dataclass
class Work:
    """One merchant with a Stripe connection and an endpoint; the services that move its work."""

    store: DocumentStore
    clock: FakeClock
    merchant_id: str
    connection: Connection
    inbound: InboundExternal
    inbound_internal: InboundInternal
    subscriptions: SubscriptionsInternal
    notifications: NotificationsInternal

    async def receive(self, name: str) -> None:
        body = subscription_event(
            "customer.subscription.created", event_id=f"evt_{name}", sub_id=f"sub_{name}"
        )
        await self.inbound.receive(
            verified_stripe_event(
                merchant_id=self.merchant_id,
                connection_id=self.connection.id,
                event_id=f"evt_{name}",
                event_type="customer.subscription.created",
                body=body,
            )
        )

    async def apply(self, limit: int) -> None:
        """Claim up to `limit` events, apply them and record them (their messages wait in the outbox)."""
        await apply_claimed(self.inbound_internal, self.subscriptions, self.clock, OWNER, limit)

    async def deliver(self, limit: int) -> None:
        claimed = await self.notifications.claim(OWNER, limit)
        await self.notifications.record([await self.notifications.send(one) for one in claimed])

    async def counts(self) -> dict[str, tuple[int, int]]:
        """(depth, due) by queue."""
        found: Backlogs = await QueueCounts(self.store, self.clock).count()
        return {
            "inbound": (found.inbound.depth, found.inbound.due),
            "outbox": (found.outbox.depth, found.outbox.due),
            "deliveries": (found.deliveries.depth, found.deliveries.due),
        }


@pytest.fixture
async def work(store: DocumentStore) -> Work:
    clock = FakeClock()
    txn = StoreTxn(store)
    signal = RecordingSignal()
    merchant, _ = await MerchantsInternal(txn, clock).create_merchant("Counts")
    connection = await MerchantsExternal(txn, clock).create_connection(
        merchant.id, NewConnection(provider="stripe", webhook_secrets=["whsec_counts"])
    )
    await NotificationsExternal(txn, clock, signal).create_endpoint(
        merchant.id, NewEndpoint(url="https://hooks.example.com/counts")
    )
    # The first attempt fails (a retry is due RETRY_SECONDS later); every other one succeeds.
    sender = RecordingSender([500])
    policy = RetryPolicy(schedule=(RETRY_SECONDS,), jitter=0.0)
    return Work(
        store=store,
        clock=clock,
        merchant_id=merchant.id,
        connection=connection,
        inbound=InboundExternal(txn, clock, signal),
        inbound_internal=InboundInternal(txn, clock),
        subscriptions=SubscriptionsInternal(txn, clock, dict),
        notifications=NotificationsInternal(txn, clock, signal, sender, policy, 10.0),
    )


async def test_queue_counts_follow_work_from_its_arrival_to_its_settling(work: Work) -> None:
    empty = {"inbound": (0, 0), "outbox": (0, 0), "deliveries": (0, 0)}
    assert await work.counts() == empty

    await work.receive("one")
    await work.receive("two")
    assert await work.counts() == empty | {"inbound": (2, 2)}

    # Claimed, an event is still in the queue, but no longer due: its lease holds it.
    await work.inbound_internal.claim(OWNER, 1)
    assert await work.counts() == empty | {"inbound": (2, 1)}
    assert await work.inbound_internal.release(OWNER) == 1
    assert await work.counts() == empty | {"inbound": (2, 2)}

    await work.apply(1)
    assert await work.counts() == empty | {"inbound": (1, 1), "outbox": (1, 1)}
    await work.apply(10)
    assert await work.counts() == empty | {"outbox": (2, 2)}

    assert await work.notifications.dispatch_pending(100) == 2
    assert await work.counts() == empty | {"deliveries": (2, 2)}

    await work.notifications.claim(OWNER, 1)
    assert await work.counts() == empty | {"deliveries": (2, 1)}
    assert await work.notifications.release(OWNER) == 1

    # The first attempt fails: that delivery stays in the queue, due again after its retry delay.
    await work.deliver(1)
    assert await work.counts() == empty | {"deliveries": (2, 1)}
    work.clock.advance(timedelta(seconds=RETRY_SECONDS))
    assert await work.counts() == empty | {"deliveries": (2, 2)}

    await work.deliver(10)
    assert await work.counts() == empty
