"""What a claim hands a worker, what its records keep, and what operators read in the journal.

A delivery whose endpoint is gone, belongs to someone else or is disabled is never sent;
the attempt says why in words. A batch of records in which one lost its lease still keeps
the others, also when the store aborts the whole transaction on that one conflict.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar

import pytest

from domain.notifications.external import NewEndpoint
from domain.notifications.internal import DeliveryOptions, NotificationsInternal
from domain.notifications.model import Delivery, DeliveryStatus, Endpoint
from domain.notifications.ports import NotificationsUnit, SendResult
from domain.notifications.retry import RetryPolicy
from domain.shared.errors import ConcurrencyConflict
from domain.shared.events import DomainEvent, EventType
from domain.shared.outbox import OutboxMessage
from integrations.stores.repositories import StoreUnit
from integrations.stores.txn import StoreTxn
from tests.support.fakes import RecordingSender, Services, build_services
from tests.support.work import deliver_due

T = TypeVar("T")
MERCHANT = "mer_1"
ORDER_WAIT = timedelta(minutes=10)
LEASE_ENDS = timedelta(seconds=10 + 31)  # attempt timeout + 30 s, and one more


class Journal:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))

    def fields(self, event: str) -> list[dict[str, Any]]:
        return [fields for name, fields in self.lines if name == event]


class AbortingTxn:
    """The store's transaction, except that an armed one fails whole on a conflict (as MongoDB may)."""

    def __init__(self, txn: StoreTxn) -> None:
        self._txn = txn
        self.armed = False
        self.calls = 0

    async def __call__(self, work: Callable[[NotificationsUnit], Awaitable[T]], /) -> T:
        self.calls += 1
        if self.armed:
            self.armed = False
            raise ConcurrencyConflict("delivery", "one of the batch")
        return await self._txn(work)


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def services(journal: Journal) -> Services:
    built = build_services(policy=RetryPolicy(schedule=(10.0, 20.0), jitter=0.0), sender=RecordingSender())
    built.notifications = NotificationsInternal(
        built.txn,
        built.clock,
        built.signal,
        built.sender,
        built.policy,
        10.0,
        options=DeliveryOptions(order_wait=ORDER_WAIT, journal=journal),
    )
    return built


async def add_endpoint(services: Services, url: str, merchant_id: str = MERCHANT) -> Endpoint:
    return await services.notifications_external.create_endpoint(merchant_id, NewEndpoint(url=url))


async def add_message(services: Services, subject: str = "sub_1") -> OutboxMessage:
    event = DomainEvent(
        type=EventType.SUBSCRIPTION_UPDATED,
        merchant_id=MERCHANT,
        subject_id=subject,
        occurred_at=services.clock(),
        data={"subscription": {"id": subject}},
    )
    message = OutboxMessage.from_event(event, {})

    async def work(unit: StoreUnit) -> None:
        await unit.outbox.append(message)

    await services.txn(work)
    return message


async def change_endpoint(services: Services, endpoint: Endpoint, **changes: Any) -> None:
    async def work(unit: StoreUnit) -> None:
        [stored] = await unit.endpoints.get_many([endpoint.id])
        await unit.endpoints.update(replace(stored, **changes))

    await services.txn(work)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"deleted_at": True}, "the endpoint was deleted"),
        ({"enabled": False}, "the endpoint is disabled"),
    ],
    ids=["deleted-while-due", "disabled"],
)
async def test_a_delivery_to_an_unusable_endpoint_is_claimed_without_it_and_never_sent(
    services: Services, changes: dict[str, Any], problem: str
) -> None:
    endpoint = await add_endpoint(services, "https://hooks.example.com/a")
    await add_message(services)
    await services.notifications.dispatch_pending()
    # Deleted in a way that left its delivery due (the endpoint itself stays enabled).
    await change_endpoint(
        services, endpoint, **{k: services.clock() if v is True else v for k, v in changes.items()}
    )

    [claimed] = await services.notifications.claim("w1", 10)
    attempt = await services.notifications.send(claimed)
    [recorded] = await services.notifications.record([attempt])

    assert claimed.endpoint is None
    assert claimed.problem == problem
    assert attempt.result is None
    assert attempt.problem == problem
    assert services.sender.sent == []
    assert recorded.attempts[-1].error == problem


async def test_a_delivery_naming_another_merchants_endpoint_is_never_sent_there(services: Services) -> None:
    foreign = await add_endpoint(services, "https://someone-else.example.com/hooks", merchant_id="mer_2")
    message = await add_message(services)
    now = services.clock()
    forged = Delivery(
        id="dlv_forged",
        merchant_id=MERCHANT,
        endpoint_id=foreign.id,
        message_id=message.id,
        event_type=message.event_type.value,
        status=DeliveryStatus.PENDING,
        attempts=(),
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )

    async def work(unit: StoreUnit) -> None:
        await unit.deliveries.add(forged)

    await services.txn(work)

    [claimed] = await services.notifications.claim("w1", 10)
    attempt = await services.notifications.send(claimed)

    assert claimed.endpoint is None
    assert claimed.problem == "the endpoint was deleted"
    assert attempt.problem == "the endpoint was deleted"
    assert services.sender.sent == []


async def test_giving_up_the_order_is_journaled_with_the_delivery_the_blocker_and_the_lane(
    services: Services, journal: Journal
) -> None:
    await add_endpoint(services, "https://hooks.example.com/a")
    await add_message(services)
    services.sender.then(SendResult(status_code=429, duration_ms=1, retry_after=3600.0))
    await services.notifications.dispatch_pending()
    [first] = await deliver_due(services.notifications, "w1")
    await add_message(services)
    await services.notifications.dispatch_pending()
    services.clock.advance(ORDER_WAIT)

    [sent] = await deliver_due(services.notifications, "w1")

    assert sent.order_given_up
    assert journal.fields("delivery_order_given_up") == [
        {"delivery_id": sent.id, "waited_for": first.id, "lane": sent.lane}
    ]
    assert sent.lane is not None


async def test_a_gone_endpoint_is_journaled_with_its_merchant_url_and_reason(
    services: Services, journal: Journal
) -> None:
    endpoint = await add_endpoint(services, "https://gone.example.com/hooks")
    await add_message(services)
    services.sender.then(410)
    await services.notifications.dispatch_pending()

    await deliver_due(services.notifications, "w1")

    assert journal.fields("endpoint_disabled") == [
        {
            "endpoint_id": endpoint.id,
            "merchant_id": MERCHANT,
            "url": "https://gone.example.com/hooks",
            "reason": "the endpoint answered 410 Gone",
        }
    ]


async def claimed_twice(services: Services) -> tuple[list[Any], list[Any]]:
    """Two deliveries claimed by a slow worker; after its lease ran out, the first taken over."""
    await add_endpoint(services, "https://hooks.example.com/a")
    await add_endpoint(services, "https://hooks.example.com/b")
    await add_message(services)
    await services.notifications.dispatch_pending()
    slow = await services.notifications.claim("slow", 10)
    assert len(slow) == 2
    services.clock.advance(LEASE_ENDS)
    fast = await services.notifications.claim("fast", 1)
    assert [c.delivery.id for c in fast] == [slow[0].delivery.id]
    await services.notifications.record([await services.notifications.send(fast[0])])
    return slow, fast


async def test_a_lost_lease_in_a_batch_does_not_cost_the_other_records(services: Services) -> None:
    slow, _ = await claimed_twice(services)
    services.sender.then(500, 500)

    recorded = await services.notifications.record([await services.notifications.send(c) for c in slow])

    assert [d.id for d in recorded] == [slow[1].delivery.id]
    assert recorded[0].status == DeliveryStatus.FAILED


async def test_a_store_that_aborts_the_whole_batch_gets_the_records_one_by_one(services: Services) -> None:
    aborting = AbortingTxn(services.txn)
    services.notifications = NotificationsInternal(
        aborting, services.clock, services.signal, services.sender, services.policy, 10.0
    )
    await add_endpoint(services, "https://hooks.example.com/a")
    await add_endpoint(services, "https://hooks.example.com/b")
    await add_message(services)
    await services.notifications.dispatch_pending()
    claimed = await services.notifications.claim("w1", 10)
    results = [await services.notifications.send(c) for c in claimed]
    aborting.armed = True
    calls = aborting.calls

    recorded = await services.notifications.record(results)

    assert sorted(d.id for d in recorded) == sorted(c.delivery.id for c in claimed)
    assert {d.status for d in recorded} == {DeliveryStatus.SUCCEEDED}
    assert aborting.calls == calls + 3  # the aborted batch, then one transaction each


async def test_a_deleted_endpoint_is_stored_disabled_as_well(services: Services) -> None:
    endpoint = await add_endpoint(services, "https://hooks.example.com/a")

    await services.notifications_external.delete_endpoint(MERCHANT, endpoint.id)

    [stored] = services.store.documents("endpoints")
    assert stored["deleted_at"] is not None
    assert stored["enabled"] is False
