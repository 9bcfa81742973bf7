"""Notifications (fan-out, attempts, retries, dead letters), merchants and inbound intake."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from domain.billing.model import InboundStatus
from domain.billing.service import Receipt, VerifiedEvent
from domain.merchants.service import NewConnection
from domain.notifications.model import DeadLetterKind, Delivery, DeliveryStatus, Endpoint
from domain.notifications.payload import message_body
from domain.notifications.ports import OutboundWebhook, SendResult
from domain.notifications.retry import RetryPolicy
from domain.notifications.service import NewEndpoint
from domain.shared.errors import NotFound, Unauthenticated
from domain.shared.events import DomainEvent, EventType
from domain.shared.outbox import OutboxMessage
from domain.shared.pagination import PageRequest
from integrations.storage.repositories import StoreUnit
from tests.support.fakes import RecordingSender, Services, build_services, respond

MERCHANT = "mer_1"
SCHEDULE = (10.0, 20.0, 30.0)
JITTER = 0.5


class HighestDraw:
    """A deterministic `uniform`: always the top of the range, remembering each request."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, float]] = []

    def __call__(self, low: float, high: float) -> float:
        self.calls.append((low, high))
        return high


@pytest.fixture
def draw() -> HighestDraw:
    return HighestDraw()


@pytest.fixture
def services(draw: HighestDraw) -> Services:
    policy = RetryPolicy(schedule=SCHEDULE, jitter=JITTER, uniform=draw)
    return build_services(policy=policy, sender=RecordingSender())


async def add_message(
    services: Services, event_type: EventType = EventType.SUBSCRIPTION_CREATED, merchant_id: str = MERCHANT
) -> OutboxMessage:
    event = DomainEvent(
        type=event_type,
        merchant_id=merchant_id,
        subject_id="sub_ours",
        occurred_at=services.clock(),
        data={"subscription": {"id": "sub_ours", "status": "active"}},
    )
    message = OutboxMessage.from_event(event, {"traceparent": "00-abc-def-01"})

    async def work(unit: StoreUnit) -> None:
        await unit.outbox.append(message)

    await services.txn(work)
    return message


async def add_endpoint(
    services: Services,
    *event_types: str,
    merchant_id: str = MERCHANT,
    url: str = "https://hooks.example.com/a",
) -> Endpoint:
    return await services.notifications_external.create_endpoint(
        merchant_id, NewEndpoint(url=url, event_types=event_types)
    )


async def disable(services: Services, endpoint: Endpoint) -> None:
    async def work(unit: StoreUnit) -> None:
        stored = await unit.endpoints.get(endpoint.merchant_id, endpoint.id)
        assert stored is not None
        await unit.endpoints.update(replace(stored, enabled=False))

    await services.txn(work)


async def delivery(services: Services, delivery_id: str) -> Delivery:
    return await services.notifications_external.get_delivery(MERCHANT, delivery_id)


async def only_delivery(services: Services) -> Delivery:
    docs = services.store.documents("deliveries")
    assert len(docs) == 1
    return await delivery(services, docs[0]["id"])


# --------------------------------------------------------------------------- fan-out


async def test_fan_out_makes_one_delivery_per_matching_enabled_endpoint(services: Services) -> None:
    every = await add_endpoint(services)
    created_only = await add_endpoint(services, "subscription.created", "subscription.canceled")
    await add_endpoint(services, "payment.succeeded")
    await disable(services, await add_endpoint(services))
    await add_endpoint(services, merchant_id="mer_other")
    message = await add_message(services)

    made = await services.notifications.dispatch_pending()

    assert made == 2
    deliveries = services.store.documents("deliveries")
    assert {d["endpoint_id"] for d in deliveries} == {every.id, created_only.id}
    assert all(d["message_id"] == message.id and d["status"] == "pending" for d in deliveries)
    assert sorted(services.queue.delivery_ids()) == sorted(d["id"] for d in deliveries)
    assert all(call.version == 0 and call.at == services.clock() for call in services.queue.deliveries)
    assert all(call.trace_carrier == {"traceparent": "00-abc-def-01"} for call in services.queue.deliveries)
    assert services.store.documents("outbox")[0]["dispatched"] is True


async def test_dispatching_twice_creates_nothing_new(services: Services) -> None:
    await add_endpoint(services)
    await add_message(services)
    assert await services.notifications.dispatch_pending() == 1

    assert await services.notifications.dispatch_pending() == 0

    assert services.store.count("deliveries") == 1
    assert len(services.queue.deliveries) == 1


async def test_a_message_nobody_wants_is_still_marked_dispatched(services: Services) -> None:
    await add_endpoint(services, "payment.failed")
    await add_message(services)

    assert await services.notifications.dispatch_pending() == 0

    assert services.store.documents("outbox")[0]["dispatched"] is True
    assert services.store.count("deliveries") == 0


# --------------------------------------------------------------------------- attempts


async def test_a_successful_attempt_marks_the_delivery_succeeded(services: Services) -> None:
    endpoint = await add_endpoint(services)
    message = await add_message(services)
    await services.notifications.dispatch_pending()
    pending = await only_delivery(services)
    services.clock.advance(1)

    stored = await services.notifications.attempt(pending.id)

    assert stored is not None
    assert stored.status == DeliveryStatus.SUCCEEDED
    assert stored.next_attempt_at is None
    assert [a.status_code for a in stored.attempts] == [200]
    assert stored == await delivery(services, pending.id)
    [sent] = services.sender.sent
    assert sent.url == endpoint.url
    assert sent.message_id == message.id
    assert sent.body == message_body(message)
    assert sent.timestamp == services.clock()
    assert sent.secrets == endpoint.signing_secrets(services.clock())
    assert sent.trace_carrier == {"traceparent": "00-abc-def-01"}
    # Done is done: another run neither sends nor changes anything.
    assert await services.notifications.attempt(pending.id) is None
    assert len(services.sender.sent) == 1


async def test_failures_follow_the_retry_schedule_then_die_once(
    services: Services, draw: HighestDraw
) -> None:
    await add_endpoint(services)
    message = await add_message(services)
    await services.notifications.dispatch_pending()
    delivery_id = (await only_delivery(services)).id
    services.sender.then(500, respond(None, error="connect timeout"), 503, 500)
    expected_delays = [base * (1 + JITTER) for base in SCHEDULE]

    for n, delay in enumerate(expected_delays, start=1):
        stored = await services.notifications.attempt(delivery_id)
        assert stored is not None
        assert stored.status == DeliveryStatus.FAILED
        assert len(stored.attempts) == n
        assert stored.next_attempt_at == services.clock() + timedelta(seconds=delay)
        assert services.queue.deliveries[-1].delivery_id == delivery_id
        assert services.queue.deliveries[-1].at == stored.next_attempt_at
        assert services.queue.deliveries[-1].version == stored.version
        services.clock.advance(delay)

    final = await services.notifications.attempt(delivery_id)

    assert final is not None
    assert final.status == DeliveryStatus.DEAD
    assert len(final.attempts) == len(SCHEDULE) + 1 == services.policy.max_attempts
    assert final.next_attempt_at is None
    assert [a.status_code for a in final.attempts] == [500, None, 503, 500]
    assert final.attempts[1].error == "connect timeout"
    assert draw.calls == [(1 - JITTER, 1 + JITTER)] * len(SCHEDULE)
    letters = await services.dead_letters.list(MERCHANT, DeadLetterKind.WEBHOOK, PageRequest())
    assert [(dl.delivery_id, dl.reason) for dl in letters.items] == [
        (delivery_id, "gave up after 4 attempts; last: HTTP 500")
    ]
    # Every attempt carried the same message: same webhook-id, same bytes.
    assert {w.message_id for w in services.sender.sent} == {message.id}
    assert {w.body for w in services.sender.sent} == {message_body(message)}
    # A dead delivery is never tried again, whatever the clock says.
    services.clock.advance(timedelta(days=1))
    assert await services.notifications.attempt(delivery_id) is None
    assert len(services.sender.sent) == 4
    assert services.store.count("dead_letters") == 1


@pytest.mark.parametrize(("retry_after", "expected"), [(3600.0, 3600.0), (0.5, SCHEDULE[0] * (1 + JITTER))])
async def test_retry_after_lengthens_but_never_shortens_the_wait(
    services: Services, retry_after: float, expected: float
) -> None:
    await add_endpoint(services)
    await add_message(services)
    await services.notifications.dispatch_pending()
    services.sender.then(SendResult(status_code=429, duration_ms=3, retry_after=retry_after))

    stored = await services.notifications.attempt((await only_delivery(services)).id)

    assert stored is not None
    assert stored.status == DeliveryStatus.FAILED
    assert stored.next_attempt_at == services.clock() + timedelta(seconds=expected)


async def test_gone_kills_the_delivery_and_disables_the_endpoint(services: Services) -> None:
    endpoint = await add_endpoint(services)
    await add_message(services)
    await services.notifications.dispatch_pending()
    services.sender.then(410)

    stored = await services.notifications.attempt((await only_delivery(services)).id)

    assert stored is not None
    assert stored.status == DeliveryStatus.DEAD
    assert len(stored.attempts) == 1
    assert not (await services.notifications_external.get_endpoint(MERCHANT, endpoint.id)).enabled
    [letter] = (await services.dead_letters.list(None, None, PageRequest())).items
    assert "410" in letter.reason
    # Later messages skip the disabled endpoint.
    await add_message(services, EventType.SUBSCRIPTION_RENEWED)
    assert await services.notifications.dispatch_pending() == 0


async def test_an_attempt_before_the_delivery_is_due_does_nothing(services: Services) -> None:
    await add_endpoint(services)
    await add_message(services)
    await services.notifications.dispatch_pending()
    services.sender.then(500)
    delivery_id = (await only_delivery(services)).id
    failed = await services.notifications.attempt(delivery_id)
    assert failed is not None
    assert failed.next_attempt_at is not None
    services.clock.set(failed.next_attempt_at - timedelta(microseconds=1))

    assert await services.notifications.attempt(delivery_id) is None

    assert len(services.sender.sent) == 1
    assert await delivery(services, delivery_id) == failed
    services.clock.advance(timedelta(microseconds=1))
    retried = await services.notifications.attempt(delivery_id)
    assert retried is not None
    assert retried.status == DeliveryStatus.SUCCEEDED


async def test_a_disabled_endpoint_gets_nothing_and_the_delivery_dies(services: Services) -> None:
    endpoint = await add_endpoint(services)
    await add_message(services)
    await services.notifications.dispatch_pending()
    await disable(services, endpoint)

    stored = await services.notifications.attempt((await only_delivery(services)).id)

    assert stored is not None
    assert stored.status == DeliveryStatus.DEAD
    assert services.sender.sent == []
    assert services.store.count("dead_letters") == 1


async def test_an_unknown_delivery_is_skipped(services: Services) -> None:
    assert await services.notifications.attempt("dlv_missing") is None
    assert services.sender.sent == []


# --------------------------------------------------------------------------- the sweeper


async def test_enqueue_due_finds_only_due_deliveries(services: Services) -> None:
    await add_endpoint(services, url="https://hooks.example.com/one")
    await add_endpoint(services, url="https://hooks.example.com/two")
    await add_message(services)
    await services.notifications.dispatch_pending()
    first, second = (d["id"] for d in services.store.documents("deliveries"))
    services.sender.then(500)
    failed = await services.notifications.attempt(first)
    assert failed is not None
    assert failed.next_attempt_at is not None
    services.queue.deliveries.clear()

    assert await services.notifications.enqueue_due() == 1
    assert services.queue.delivery_ids() == [second]

    services.clock.set(failed.next_attempt_at)
    services.queue.deliveries.clear()
    assert await services.notifications.enqueue_due() == 2
    assert sorted(services.queue.delivery_ids()) == sorted([first, second])

    for delivery_id in (first, second):
        await services.notifications.attempt(delivery_id)
    services.queue.deliveries.clear()
    services.clock.advance(timedelta(days=1))
    assert await services.notifications.enqueue_due() == 0
    assert services.queue.deliveries == []


class SweepingSender(RecordingSender):
    """Runs the sweeper in the middle of each send, as a concurrent sweep process might."""

    def __init__(self) -> None:
        super().__init__()
        self.services: Services | None = None
        self.due_during_send: list[int] = []

    async def send(self, webhook: OutboundWebhook) -> SendResult:
        assert self.services is not None
        self.due_during_send.append(await self.services.notifications.enqueue_due())
        return await super().send(webhook)


async def test_a_running_attempt_is_leased_away_from_the_sweeper() -> None:
    sender = SweepingSender()
    services = build_services(sender=sender)
    sender.services = services
    await add_endpoint(services)
    await add_message(services)
    await services.notifications.dispatch_pending()

    await services.notifications.attempt((await only_delivery(services)).id)

    assert sender.due_during_send == [0]


# --------------------------------------------------------------------------- retry policy


def test_retry_policy_stops_after_the_schedule() -> None:
    policy = RetryPolicy(schedule=(1.0, 2.0), jitter=0.0)
    assert policy.max_attempts == 3
    assert [policy.delay_after(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, None, None]


def test_retry_policy_never_returns_a_negative_delay() -> None:
    policy = RetryPolicy(schedule=(5.0,), jitter=2.0, uniform=lambda low, _high: low)
    assert policy.delay_after(1) == 0.0


# --------------------------------------------------------------------------- merchants


async def test_authenticate_accepts_the_issued_key_only(services: Services) -> None:
    merchant, api_key = await services.merchants_internal.create_merchant("  Acme  ")
    assert merchant.name == "Acme"

    assert await services.merchants.authenticate(api_key) == merchant
    for wrong in ("sg_" + "x" * 43, api_key + "x", api_key[3:], "", "Bearer " + api_key):
        with pytest.raises(Unauthenticated):
            await services.merchants.authenticate(wrong)


async def test_connection_lookup_for_webhooks_checks_the_provider(services: Services) -> None:
    merchant, _ = await services.merchants_internal.create_merchant("Acme")
    connection = await services.merchants.create_connection(
        merchant.id, NewConnection(provider="stripe", webhook_secrets=["whsec_0123456789"])
    )

    assert await services.merchants.connection_for_webhook("stripe", connection.id) == connection
    with pytest.raises(NotFound):
        await services.merchants.connection_for_webhook("polar", connection.id)
    with pytest.raises(NotFound):
        await services.merchants.connection_for_webhook("stripe", "conn_missing")
    with pytest.raises(NotFound):
        await services.merchants.get_connection("mer_someone_else", connection.id)


# --------------------------------------------------------------------------- inbound intake


def verified(connection_id: str = "conn_1", provider_event_id: str = "evt_stripe_1") -> VerifiedEvent:
    return VerifiedEvent(
        merchant_id=MERCHANT,
        connection_id=connection_id,
        provider="stripe",
        provider_event_id=provider_event_id,
        type="customer.subscription.created",
        body=b'{"id":"evt_stripe_1","object":"event","bytes":"\xff kept"}',
        source_ip="203.0.113.9",
        provider_created_at=None,
        trace_carrier={"traceparent": "00-1-2-01"},
    )


async def test_receive_accepts_once_and_enqueues_once(services: Services) -> None:
    first = await services.inbound.receive(verified())
    second = await services.inbound.receive(verified())

    assert (first, second) == (Receipt.ACCEPTED, Receipt.DUPLICATE)
    [stored] = services.store.documents("inbound_events")
    assert [call.event_id for call in services.queue.inbound] == [stored["id"]]
    assert services.queue.inbound[0].trace_carrier == {"traceparent": "00-1-2-01"}
    event = await services.inbound_internal.load(stored["id"])
    assert event is not None
    assert event.status == InboundStatus.ACCEPTED
    assert event.body == verified().body
    assert event.received_at == services.clock()


async def test_the_same_provider_event_on_another_connection_is_new(services: Services) -> None:
    assert await services.inbound.receive(verified("conn_1")) == Receipt.ACCEPTED
    assert await services.inbound.receive(verified("conn_2")) == Receipt.ACCEPTED
    assert await services.inbound.receive(verified("conn_1", "evt_stripe_2")) == Receipt.ACCEPTED
    assert len(services.queue.inbound) == 3
