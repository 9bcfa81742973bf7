"""Notifications (fan-out, attempts, retries, dead letters), merchants and inbound intake."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from domain.inbound.external import Receipt, VerifiedEvent
from domain.inbound.model import InboundStatus
from domain.merchants.external import NewConnection
from domain.notifications.external import NewEndpoint
from domain.notifications.internal import AttemptResult
from domain.notifications.model import DeadLetterKind, Delivery, DeliveryStatus, Endpoint
from domain.notifications.payload import message_body
from domain.notifications.ports import SendResult
from domain.notifications.retry import RetryPolicy
from domain.shared.errors import NotFound, Unauthenticated
from domain.shared.events import DomainEvent, EventType
from domain.shared.outbox import OutboxMessage
from domain.shared.pagination import PageRequest
from domain.shared.work import WorkKind
from integrations.stores.codecs import iso
from integrations.stores.repositories import StoreUnit
from tests.support.fakes import RecordingSender, Services, build_services, respond
from tests.support.work import deliver_due, stored_event

MERCHANT = "mer_1"
SCHEDULE = (10.0, 20.0, 30.0)
JITTER = 0.5
ATTEMPT_TIMEOUT = 10.0


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
    return build_services(policy=policy, sender=RecordingSender(), attempt_timeout=ATTEMPT_TIMEOUT)


async def attempt_due(services: Services) -> Delivery | None:
    """Claim what is due and attempt it: the one delivery as stored afterwards, or None."""
    stored = await deliver_due(services.notifications, "worker-1")
    assert len(stored) <= 1
    return stored[0] if stored else None


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
    assert all(d["next_attempt_at"] == iso(services.clock()) and d["lease_owner"] is None for d in deliveries)
    assert services.signal.kinds == [WorkKind.DELIVERIES]
    assert services.store.documents("outbox")[0]["dispatched"] is True


async def test_dispatching_twice_creates_nothing_new(services: Services) -> None:
    await add_endpoint(services)
    await add_message(services)
    assert await services.notifications.dispatch_pending() == 1

    assert await services.notifications.dispatch_pending() == 0

    assert services.store.count("deliveries") == 1
    assert services.signal.count(WorkKind.DELIVERIES) == 1


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

    stored = await attempt_due(services)

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
    # Done is done: another run neither sends nor changes anything.
    assert await attempt_due(services) is None
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
        stored = await attempt_due(services)
        assert stored is not None
        assert stored.status == DeliveryStatus.FAILED
        assert len(stored.attempts) == n
        assert stored.next_attempt_at == services.clock() + timedelta(seconds=delay)
        assert stored.lease_owner is None
        services.clock.advance(delay)

    final = await attempt_due(services)

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
    assert await attempt_due(services) is None
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

    stored = await attempt_due(services)

    assert stored is not None
    assert stored.status == DeliveryStatus.FAILED
    assert stored.next_attempt_at == services.clock() + timedelta(seconds=expected)


async def test_gone_kills_the_delivery_and_disables_the_endpoint(services: Services) -> None:
    endpoint = await add_endpoint(services)
    await add_message(services)
    await services.notifications.dispatch_pending()
    services.sender.then(410)

    stored = await attempt_due(services)

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
    failed = await attempt_due(services)
    assert failed is not None
    assert failed.next_attempt_at is not None
    services.clock.set(failed.next_attempt_at - timedelta(microseconds=1))

    assert await attempt_due(services) is None

    assert len(services.sender.sent) == 1
    assert await delivery(services, delivery_id) == failed
    services.clock.advance(timedelta(microseconds=1))
    retried = await attempt_due(services)
    assert retried is not None
    assert retried.status == DeliveryStatus.SUCCEEDED


async def test_a_disabled_endpoint_gets_nothing_and_the_delivery_dies(services: Services) -> None:
    endpoint = await add_endpoint(services)
    await add_message(services)
    await services.notifications.dispatch_pending()
    await disable(services, endpoint)

    stored = await attempt_due(services)

    assert stored is not None
    assert stored.status == DeliveryStatus.DEAD
    assert services.sender.sent == []
    assert services.store.count("dead_letters") == 1


async def test_nothing_due_means_nothing_sent(services: Services) -> None:
    assert await attempt_due(services) is None
    assert services.sender.sent == []


# --------------------------------------------------------------------------- claims and leases


async def test_a_claim_leases_only_due_deliveries_and_hides_them_from_other_workers(
    services: Services,
) -> None:
    await add_endpoint(services, url="https://hooks.example.com/one")
    await add_endpoint(services, url="https://hooks.example.com/two")
    await add_message(services)
    await services.notifications.dispatch_pending()
    first, second = (d["id"] for d in services.store.documents("deliveries"))

    claimed = await services.notifications.claim("w1", limit=1)

    assert [c.delivery.id for c in claimed] == [first]
    assert claimed[0].delivery.lease_owner == "w1"
    assert claimed[0].endpoint is not None
    assert claimed[0].message is not None
    # Another worker gets only what is left; once everything is leased, nothing.
    assert [c.delivery.id for c in await services.notifications.claim("w2", limit=10)] == [second]
    assert await services.notifications.claim("w3", limit=10) == []
    # A lease ends: the delivery is due again for anyone.
    services.clock.advance(timedelta(seconds=ATTEMPT_TIMEOUT + 30))
    assert len(await services.notifications.claim("w3", limit=10)) == 2


async def test_handing_back_a_dead_workers_leases_makes_them_due_now(services: Services) -> None:
    await add_endpoint(services)
    await add_message(services)
    await services.notifications.dispatch_pending()
    [claimed] = await services.notifications.claim("w1", limit=10)

    assert await services.notifications.release("w2") == 0
    assert await services.notifications.release("w1") == 1

    [again] = await services.notifications.claim("w2", limit=10)
    assert again.delivery.id == claimed.delivery.id
    assert again.delivery.lease_owner == "w2"
    assert services.sender.sent == []


async def test_a_record_after_the_lease_was_taken_over_is_dropped(services: Services) -> None:
    await add_endpoint(services)
    await add_message(services)
    await services.notifications.dispatch_pending()
    [slow] = await services.notifications.claim("slow", limit=1)
    services.clock.advance(timedelta(seconds=ATTEMPT_TIMEOUT + 31))
    [fast] = await services.notifications.claim("fast", limit=1)
    fast_result = await services.notifications.send(fast)
    [recorded] = await services.notifications.record([fast_result])
    services.sender.then(500)
    slow_result = await services.notifications.send(slow)

    assert await services.notifications.record([slow_result]) == []

    assert await delivery(services, slow.delivery.id) == recorded
    assert recorded.status == DeliveryStatus.SUCCEEDED


async def test_many_results_are_recorded_in_one_transaction(services: Services) -> None:
    for n in range(5):
        await add_endpoint(services, url=f"https://hooks.example.com/{n}")
    await add_message(services)
    await services.notifications.dispatch_pending()
    claimed = await services.notifications.claim("w1", limit=10)
    results = [await services.notifications.send(one) for one in claimed]
    sessions_before = services.store.sessions_opened

    stored = await services.notifications.record(results)

    assert services.store.sessions_opened == sessions_before + 1
    assert [d.status for d in stored] == [DeliveryStatus.SUCCEEDED] * 5


async def test_a_deferred_delivery_goes_back_without_an_attempt(services: Services) -> None:
    await add_endpoint(services)
    await add_message(services)
    await services.notifications.dispatch_pending()
    [claimed] = await services.notifications.claim("w1", limit=1)

    [stored] = await services.notifications.record(
        [AttemptResult(claimed=claimed.delivery, deferred=True, defer_seconds=2.0)]
    )

    assert stored.attempts == ()
    assert stored.status == DeliveryStatus.PENDING
    assert stored.lease_owner is None
    assert stored.next_attempt_at == services.clock() + timedelta(seconds=2)


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


async def test_receive_accepts_once_and_signals_once(services: Services) -> None:
    first = await services.inbound.receive(verified())
    second = await services.inbound.receive(verified())

    assert (first, second) == (Receipt.ACCEPTED, Receipt.DUPLICATE)
    [stored] = services.store.documents("inbound_events")
    # The stored event is the work item: due now, leased by nobody; workers are woken once.
    assert services.signal.kinds == [WorkKind.INBOUND]
    assert stored["trace_carrier"] == {"traceparent": "00-1-2-01"}
    assert stored["due_at"] == iso(services.clock())
    assert stored["lease_owner"] is None
    event = await stored_event(services.txn, stored["id"])
    assert event is not None
    assert event.status == InboundStatus.ACCEPTED
    assert event.body == verified().body
    assert event.received_at == services.clock()


async def test_the_same_provider_event_on_another_connection_is_new(services: Services) -> None:
    assert await services.inbound.receive(verified("conn_1")) == Receipt.ACCEPTED
    assert await services.inbound.receive(verified("conn_2")) == Receipt.ACCEPTED
    assert await services.inbound.receive(verified("conn_1", "evt_stripe_2")) == Receipt.ACCEPTED
    assert services.signal.kinds == [WorkKind.INBOUND] * 3
