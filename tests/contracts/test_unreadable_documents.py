"""No stored document can stop a worker, on every backend.

Rows written by earlier releases with short years (`999-12-31T...`) are claimed and listed as
the values they always meant. A row that cannot be read at all is taken out of its queue by
the claim that met it (an inbound event `failed` with its reason, a delivery `dead` with a
dead letter, an outbox message set aside, a subscription out of the scheduler's indexes),
reported once after the commit, and the rest of the batch goes on. Listings render it as far
as they can.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.inbound.external import InboundExternal
from domain.inbound.internal import InboundInternal
from domain.inbound.model import InboundEvent, InboundStatus
from domain.inbound.ports import InboundFilter
from domain.notifications.model import Delivery, DeliveryStatus
from domain.shared.events import EventType
from domain.shared.outbox import OutboxMessage
from domain.shared.pagination import PageRequest
from domain.subscriptions.model import Subscription
from domain.subscriptions.ports import SubscriptionFilter
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.stores import codecs
from integrations.stores.documents import Document, DocumentStore
from integrations.stores.repositories import StoreUnit
from integrations.stores.txn import StoreTxn
from integrations.stores.unreadable import Unreadable
from tests.support.fakes import DEFAULT_START, FakeClock, RecordingSignal

MERCHANT = "mer_1"
OWNER = "wrk_1"
BROKEN_TIME = "0000-01-01T00:00:00.000000Z"  # no year 0: no datetime can hold it


class Reported:
    """The store's report of unreadable items, as the composition root's would hear it."""

    def __init__(self) -> None:
        self.items: list[Unreadable] = []

    def __call__(self, item: Unreadable) -> None:
        self.items.append(item)


async def insert(store: DocumentStore, collection: str, *docs: Document) -> None:
    async with store.session() as session:
        for doc in docs:
            await session.insert(collection, doc)


async def stored(store: DocumentStore, collection: str, doc_id: str) -> Document:
    async with store.session() as session:
        found = await session.get(collection, doc_id)
    assert found is not None
    return found


def inbound(event_id: str, **changes: Any) -> Document:
    event = InboundEvent(
        id=event_id,
        merchant_id=MERCHANT,
        connection_id="conn_1",
        provider="stripe",
        provider_event_id=f"p_{event_id}",
        type="invoice.paid",
        status=InboundStatus.ACCEPTED,
        source_ip=None,
        received_at=DEFAULT_START - timedelta(minutes=1),
        body=b"{}",
        provider_created_at=DEFAULT_START,
    )
    return codecs.inbound_doc(event) | changes


def delivery(delivery_id: str, **changes: Any) -> Document:
    made = Delivery(
        id=delivery_id,
        merchant_id=MERCHANT,
        endpoint_id="ep_1",
        message_id=f"msg_{delivery_id}",
        event_type="subscription.created",
        status=DeliveryStatus.PENDING,
        attempts=(),
        next_attempt_at=DEFAULT_START - timedelta(minutes=1),
        created_at=DEFAULT_START,
        updated_at=DEFAULT_START,
    )
    return codecs.delivery_doc(made) | changes


def subscription(subscription_id: str, **changes: Any) -> Document:
    sub = Subscription(
        id=subscription_id,
        merchant_id=MERCHANT,
        customer_id="cus_1",
        plan_id="plan_1",
        status=SubscriptionStatus.TRIALING,
        trial_end=DEFAULT_START + timedelta(days=1),
        next_transition_at=DEFAULT_START - timedelta(days=2),
        created_at=DEFAULT_START,
        updated_at=DEFAULT_START,
    )
    return codecs.subscription_doc(sub) | changes


def message(message_id: str, **changes: Any) -> Document:
    made = OutboxMessage(
        id=message_id,
        merchant_id=MERCHANT,
        event_type=EventType.SUBSCRIPTION_CREATED,
        subject_id="sub_1",
        occurred_at=DEFAULT_START,
        data={},
    )
    return codecs.outbox_doc(made) | changes


async def test_rows_with_the_short_years_of_earlier_releases_are_claimed_and_listed(
    store: DocumentStore,
) -> None:
    await insert(
        store, "inbound_events", inbound("evt_old", provider_created_at="999-12-31T00:00:00.000000Z")
    )
    await insert(
        store, "subscriptions", subscription("sub_old", current_period_start="500-06-01T00:00:00.000000Z")
    )
    txn = StoreTxn(store)

    [claimed] = await InboundInternal(txn, FakeClock()).claim(OWNER, 10)
    listed = await txn(lambda unit: unit.subscriptions.list(MERCHANT, SubscriptionFilter(), PageRequest()))

    assert claimed.provider_created_at == datetime(999, 12, 31, tzinfo=UTC)
    assert [s.current_period_start for s in listed.items] == [datetime(500, 6, 1, tzinfo=UTC)]


async def test_an_unreadable_event_fails_with_its_reason_and_the_rest_of_its_batch_is_claimed(
    store: DocumentStore,
) -> None:
    await insert(
        store,
        "inbound_events",
        inbound("evt_a"),
        inbound("evt_b", provider_created_at=BROKEN_TIME),
        inbound("evt_c"),
    )
    reported = Reported()
    txn = StoreTxn(store, reported)
    clock = FakeClock()

    claimed = await InboundInternal(txn, clock).claim(OWNER, 10)

    assert [event.id for event in claimed] == ["evt_a", "evt_c"]
    bad = await stored(store, "inbound_events", "evt_b")
    assert (bad["status"], bad["lease_owner"]) == ("failed", None)
    assert "provider_created_at" in bad["reason"]
    assert [(item.queue, item.item_id) for item in reported.items] == [("inbound", "evt_b")]
    assert await InboundInternal(txn, clock).claim(OWNER, 10) == []  # out of the queue for good
    assert len(reported.items) == 1  # reported once

    # Listed as far as it can be read, and reprocessed: accepted again, and claimed this time.
    external = InboundExternal(txn, clock, RecordingSignal())
    listed = await external.list(MERCHANT, InboundFilter(status=InboundStatus.FAILED), PageRequest())
    assert [(e.id, e.provider_created_at) for e in listed.items] == [("evt_b", None)]
    assert (await external.reprocess(MERCHANT, "evt_b")).status == InboundStatus.ACCEPTED
    assert [event.id for event in await InboundInternal(txn, clock).claim(OWNER, 10)] == ["evt_b"]


@pytest.mark.real_mongodb  # a rollback needs transactions, which the stand-in lacks
async def test_a_claim_that_rolls_back_reports_nothing_and_changes_nothing(store: DocumentStore) -> None:
    await insert(store, "inbound_events", inbound("evt_bad", provider_created_at=BROKEN_TIME))
    reported = Reported()
    now = FakeClock()()

    async def claim_then_fail(unit: StoreUnit) -> None:
        await unit.inbound_events.claim_due(now, now + timedelta(seconds=60), OWNER, 10)
        raise RuntimeError("the rest of the unit failed")

    with pytest.raises(RuntimeError):
        await StoreTxn(store, reported)(claim_then_fail)

    assert reported.items == []
    assert (await stored(store, "inbound_events", "evt_bad"))["status"] == "accepted"


async def test_an_unreadable_delivery_ends_dead_with_a_dead_letter_and_the_others_are_claimed(
    store: DocumentStore,
) -> None:
    await insert(
        store,
        "deliveries",
        delivery("dlv_a", attempts=[{"at": BROKEN_TIME, "status_code": 500, "duration_ms": 1}]),
        delivery("dlv_b"),
    )
    reported = Reported()
    now = FakeClock()()

    async def claim(unit: StoreUnit) -> list[str]:
        taken = await unit.deliveries.claim_due(now, now + timedelta(seconds=60), OWNER, 10)
        return [d.id for d in taken]

    assert await StoreTxn(store, reported)(claim) == ["dlv_b"]
    dead = await stored(store, "deliveries", "dlv_a")
    assert (dead["status"], dead["next_attempt_at"], dead["lease_owner"]) == ("dead", None, None)
    letters = await StoreTxn(store)(lambda unit: unit.dead_letters.open_for_delivery("dlv_a"))
    assert [(letter.merchant_id, letter.kind.value) for letter in letters] == [(MERCHANT, "webhook")]
    assert "attempts" in letters[0].reason
    assert [(item.queue, item.item_id) for item in reported.items] == [("deliveries", "dlv_a")]


async def test_an_unreadable_outbox_message_is_set_aside_and_the_others_fan_out(store: DocumentStore) -> None:
    await insert(store, "outbox", message("msg_a", occurred_at=BROKEN_TIME), message("msg_b"))
    reported = Reported()

    txn = StoreTxn(store, reported)

    pending = await txn(lambda unit: unit.outbox.pending(10))

    assert [m.id for m in pending] == ["msg_b"]
    assert "occurred_at" in (await stored(store, "outbox", "msg_a"))["failure"]
    assert [m.id for m in await txn(lambda unit: unit.outbox.pending(10))] == ["msg_b"]
    assert [(item.queue, item.item_id) for item in reported.items] == [("outbox", "msg_a")]


async def test_an_unreadable_due_subscription_leaves_the_schedule_and_the_others_stay_due(
    store: DocumentStore,
) -> None:
    await insert(store, "subscriptions", subscription("sub_a", status="exploded"), subscription("sub_b"))
    reported = Reported()
    now = FakeClock()()

    due = await StoreTxn(store, reported)(lambda unit: unit.subscriptions.due(now, 10))

    assert [s.id for s in due] == ["sub_b"]
    aside = await stored(store, "subscriptions", "sub_a")
    assert (aside["next_transition_at"], aside["past_due_since"]) == (None, None)
    assert "status" in aside["schedule_failure"]
    assert [(item.queue, item.item_id) for item in reported.items] == [("subscriptions", "sub_a")]


async def test_a_listing_renders_what_it_can_and_leaves_out_what_it_cannot(store: DocumentStore) -> None:
    await insert(
        store,
        "subscriptions",
        subscription("sub_a", current_period_end="the day after never"),
        subscription("sub_b", created_at=BROKEN_TIME),
        subscription("sub_c"),
    )
    txn = StoreTxn(store)

    page = await txn(
        lambda unit: unit.subscriptions.list(MERCHANT, SubscriptionFilter(), PageRequest(limit=2))
    )
    got = await txn(lambda unit: unit.subscriptions.get(MERCHANT, "sub_a"))

    assert [s.id for s in page.items] == ["sub_a", "sub_c"]
    assert page.has_more is True
    assert got is not None
    assert got == replace(codecs.subscription_from(subscription("sub_a")), current_period_end=None)
