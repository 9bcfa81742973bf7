"""Endpoint health, rotation, deletion, retry and replay, order per subscription, customer emails.

The domain services run over the in-memory store with the real repositories; the webhook
sender and the mailer are recording fakes, and time moves only with the fake clock.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from domain.notifications.external import EndpointChanges, NewEndpoint
from domain.notifications.internal import DeliveryOptions, NotificationsInternal
from domain.notifications.model import Channel, DeadLetterKind, Delivery, DeliveryStatus, Endpoint
from domain.notifications.ports import OutboundEmail, SendResult
from domain.notifications.retry import RetryPolicy
from domain.shared.errors import Conflict, NotFound
from domain.shared.events import DomainEvent, EventType
from domain.shared.outbox import OutboxMessage
from domain.shared.pagination import PageRequest
from domain.shared.work import WorkKind
from domain.subscriptions.model import Customer
from integrations.stores.repositories import StoreUnit
from tests.support.fakes import RecordingSender, Services, build_services, respond
from tests.support.work import deliver_due

MERCHANT = "mer_1"
SCHEDULE = (10.0, 20.0)
ORDER_WAIT = timedelta(minutes=10)


class RecordingMailer:
    """A `Mailer` answering from a script (SMTP codes); 250 once the script runs out."""

    def __init__(self, *answers: SendResult) -> None:
        self.answers = list(answers)
        self.sent: list[OutboundEmail] = []

    async def send(self, email: OutboundEmail) -> SendResult:
        self.sent.append(email)
        return self.answers.pop(0) if self.answers else respond(250)


class Journal:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))

    def events(self) -> list[str]:
        return [event for event, _ in self.lines]


@pytest.fixture
def mailer() -> RecordingMailer:
    return RecordingMailer()


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def services(mailer: RecordingMailer, journal: Journal) -> Services:
    built = build_services(policy=RetryPolicy(schedule=SCHEDULE, jitter=0.0), sender=RecordingSender())
    built.notifications = NotificationsInternal(
        built.txn,
        built.clock,
        built.signal,
        built.sender,
        built.policy,
        10.0,
        mailer=mailer,
        options=DeliveryOptions(order_wait=ORDER_WAIT, journal=journal),
    )
    return built


async def add_endpoint(services: Services, url: str = "https://hooks.example.com/a") -> Endpoint:
    return await services.notifications_external.create_endpoint(MERCHANT, NewEndpoint(url=url))


async def add_message(
    services: Services,
    event_type: EventType = EventType.SUBSCRIPTION_UPDATED,
    subject: str = "sub_1",
    data: dict[str, Any] | None = None,
) -> OutboxMessage:
    event = DomainEvent(
        type=event_type,
        merchant_id=MERCHANT,
        subject_id=subject,
        occurred_at=services.clock(),
        data=data if data is not None else {"subscription": {"id": subject, "customer_id": "cus_1"}},
    )
    message = OutboxMessage.from_event(event, {})

    async def work(unit: StoreUnit) -> None:
        await unit.outbox.append(message)

    await services.txn(work)
    return message


async def add_customer(services: Services, email: str | None) -> None:
    customer = Customer(id="cus_1", merchant_id=MERCHANT, email=email, name=None, created_at=services.clock())

    async def work(unit: StoreUnit) -> None:
        await unit.customers.add(customer)

    await services.txn(work)


async def run(services: Services) -> list[Delivery]:
    await services.notifications.dispatch_pending()
    return await deliver_due(services.notifications, "worker-1")


async def stored(services: Services, delivery_id: str) -> Delivery:
    return await services.notifications_external.get_delivery(MERCHANT, delivery_id)


def deliveries(services: Services, channel: Channel = Channel.WEBHOOK) -> list[dict[str, Any]]:
    return [d for d in services.store.inserted("deliveries") if d["channel"] == channel.value]


# --------------------------------------------------------------------------- order per subscription


async def test_a_later_notification_waits_while_an_earlier_one_is_retried_then_follows_it(
    services: Services,
) -> None:
    await add_endpoint(services)
    first = await add_message(services)
    services.sender.then(500)
    [failed] = await run(services)
    assert failed.status == DeliveryStatus.FAILED
    second = await add_message(services)
    other_subject = await add_message(services, subject="sub_2")

    sent_now = await run(services)

    # The other subscription's notification is not held up; the second of sub_1 is.
    assert [d.message_id for d in sent_now] == [other_subject.id]
    waiting = next(d for d in deliveries(services) if d["message_id"] == second.id)
    assert waiting["status"] == "pending"
    assert waiting["lease_owner"] is None
    assert waiting["next_attempt_at"] == deliveries(services)[0]["next_attempt_at"]

    # The first one's retry succeeds: the second goes at once, in order.
    services.clock.advance(SCHEDULE[0])
    [retried] = await deliver_due(services.notifications, "worker-1")
    assert retried.message_id == first.id
    assert retried.status == DeliveryStatus.SUCCEEDED
    assert services.signal.kinds[-1] == WorkKind.DELIVERIES
    [followed] = await deliver_due(services.notifications, "worker-1")
    assert followed.message_id == second.id
    assert not followed.order_given_up
    assert [w.message_id for w in services.sender.sent] == [first.id, other_subject.id, first.id, second.id]


async def test_two_notifications_claimed_together_still_go_in_order(services: Services) -> None:
    await add_endpoint(services)
    first = await add_message(services)
    second = await add_message(services)
    await services.notifications.dispatch_pending()

    claimed = await services.notifications.claim("worker-1", 10)

    assert [c.delivery.message_id for c in claimed] == [first.id]
    recorded = await services.notifications.record([await services.notifications.send(claimed[0])])
    assert recorded[0].status == DeliveryStatus.SUCCEEDED
    [then] = await deliver_due(services.notifications, "worker-1")
    assert then.message_id == second.id


async def test_after_the_bound_a_held_notification_goes_and_says_order_was_given_up(
    services: Services, journal: Journal
) -> None:
    await add_endpoint(services)
    await add_message(services)
    # The first one is asked to wait an hour (429 Retry-After), far beyond the order bound.
    services.sender.then(SendResult(status_code=429, duration_ms=1, retry_after=3600.0))
    await run(services)
    second = await add_message(services)
    assert await run(services) == []
    services.clock.advance(ORDER_WAIT - timedelta(seconds=1))
    assert await deliver_due(services.notifications, "worker-1") == []

    services.clock.advance(timedelta(seconds=1))
    sent = await deliver_due(services.notifications, "worker-1")

    assert [d.message_id for d in sent] == [second.id]
    assert sent[0].order_given_up
    assert sent[0].status == DeliveryStatus.SUCCEEDED
    assert "delivery_order_given_up" in journal.events()


# --------------------------------------------------------------------------- endpoint health


async def test_an_endpoint_failing_for_five_days_is_disabled_and_the_others_are_told(
    services: Services, journal: Journal
) -> None:
    failing = await add_endpoint(services, "https://down.example.com/hooks")
    healthy = await add_endpoint(services, "https://up.example.com/hooks")
    services.sender.then(500, 200)  # message 1: the failing endpoint 500, the healthy one 200
    await add_message(services)
    await run(services)
    assert (await services.notifications_external.get_endpoint(MERCHANT, failing.id)).enabled

    # Every attempt fails for just under five days: still enabled.
    services.sender.then(*[500] * 50)
    services.clock.advance(timedelta(days=5) - timedelta(seconds=1))
    await add_message(services, subject="sub_2")
    await run(services)
    assert (await services.notifications_external.get_endpoint(MERCHANT, failing.id)).enabled

    services.clock.advance(timedelta(seconds=1))
    await add_message(services, subject="sub_3")
    await run(services)

    assert not (await services.notifications_external.get_endpoint(MERCHANT, failing.id)).enabled
    assert ("endpoint_disabled", failing.id) in [(e, f.get("endpoint_id")) for e, f in journal.lines]
    notices = [m for m in services.store.inserted("outbox") if m["event_type"] == "endpoint.disabled"]
    assert [m["data"]["endpoint"]["id"] for m in notices] == [failing.id]
    await services.notifications.dispatch_pending()
    told = [d["endpoint_id"] for d in deliveries(services) if d["event_type"] == "endpoint.disabled"]
    assert told == [healthy.id]


async def test_a_success_starts_the_five_days_again(services: Services) -> None:
    endpoint = await add_endpoint(services)
    services.sender.then(500)
    await add_message(services)
    await run(services)
    services.clock.advance(timedelta(days=4))
    await add_message(services, subject="sub_2")
    await run(services)  # succeeds (and the first one's retry, due long ago, too)
    services.clock.advance(timedelta(days=2))
    services.sender.then(500)
    await add_message(services, subject="sub_3")
    await run(services)

    assert (await services.notifications_external.get_endpoint(MERCHANT, endpoint.id)).enabled


# --------------------------------------------------------------------------- rotation, changes, deletion


async def test_after_a_rotation_both_secrets_sign_for_a_day_then_only_the_new_one(
    services: Services,
) -> None:
    endpoint = await add_endpoint(services)
    old = endpoint.secrets[0].value

    rotated, new = await services.notifications_external.rotate_secret(MERCHANT, endpoint.id)

    assert new != old
    assert rotated.signing_secrets(services.clock()) == (new, old)
    await add_message(services)
    await run(services)
    assert services.sender.sent[-1].secrets == (new, old)
    services.clock.advance(timedelta(hours=24))
    assert rotated.signing_secrets(services.clock()) == (new,)
    # A second rotation drops what expired and keeps the other live secret for another day.
    again, newest = await services.notifications_external.rotate_secret(MERCHANT, endpoint.id)
    assert again.signing_secrets(services.clock()) == (newest, new)


async def test_enabling_an_endpoint_again_clears_its_failure_clock(services: Services) -> None:
    endpoint = await add_endpoint(services)
    services.sender.then(500)
    await add_message(services)
    await run(services)
    await services.notifications_external.update_endpoint(
        MERCHANT, endpoint.id, EndpointChanges(enabled=False, description="paused by us")
    )

    again = await services.notifications_external.update_endpoint(
        MERCHANT, endpoint.id, EndpointChanges(enabled=True)
    )

    assert again.enabled
    assert again.failing_since is None
    assert again.description == "paused by us"


async def test_deleting_an_endpoint_cancels_what_waits_for_it(services: Services) -> None:
    endpoint = await add_endpoint(services)
    services.sender.then(500)
    await add_message(services)
    await run(services)

    canceled = await services.notifications_external.delete_endpoint(MERCHANT, endpoint.id)

    assert canceled == 1
    assert [d["status"] for d in deliveries(services)] == ["canceled"]
    assert services.store.count("dead_letters") == 0
    with pytest.raises(NotFound):
        await services.notifications_external.get_endpoint(MERCHANT, endpoint.id)
    listed = await services.notifications_external.list_endpoints(MERCHANT, PageRequest())
    assert listed.items == ()
    services.clock.advance(timedelta(days=1))
    assert await deliver_due(services.notifications, "worker-1") == []


# --------------------------------------------------------------------------- retry and replay


async def kill_one(services: Services) -> Delivery:
    services.sender.then(500, 500, 500)
    await add_message(services)
    await run(services)
    for delay in SCHEDULE:
        services.clock.advance(delay)
        await deliver_due(services.notifications, "worker-1")
    [dead] = deliveries(services)
    assert dead["status"] == "dead"
    return await stored(services, dead["id"])


async def test_a_replay_keeps_the_message_restarts_the_schedule_and_uses_the_current_secret(
    services: Services,
) -> None:
    endpoint = await add_endpoint(services)
    dead = await kill_one(services)
    [letter] = (await services.notifications_external.list_dead_letters(MERCHANT, None, PageRequest())).items
    _, new_secret = await services.notifications_external.rotate_secret(MERCHANT, endpoint.id)
    services.sender.then(500)

    due = await services.notifications_external.replay_dead_letter(MERCHANT, letter.id)

    assert due.status == DeliveryStatus.PENDING
    assert due.next_attempt_at == services.clock()
    assert services.signal.kinds[-1] == WorkKind.DELIVERIES
    assert (
        await services.notifications_external.list_dead_letters(MERCHANT, None, PageRequest())
    ).items == ()
    [failed_again] = await deliver_due(services.notifications, "worker-1")
    # A fresh schedule: one failure after the replay is retried, not dead at once.
    assert failed_again.status == DeliveryStatus.FAILED
    services.clock.advance(SCHEDULE[0])
    [done] = await deliver_due(services.notifications, "worker-1")
    assert done.status == DeliveryStatus.SUCCEEDED
    assert {w.message_id for w in services.sender.sent} == {dead.message_id}
    assert services.sender.sent[-1].secrets[0] == new_secret
    with pytest.raises(Conflict):
        await services.notifications_external.replay_dead_letter(MERCHANT, letter.id)


async def test_another_merchants_dead_letter_or_delivery_is_not_found_and_untouched(
    services: Services,
) -> None:
    await add_endpoint(services)
    dead = await kill_one(services)
    [letter] = (await services.notifications_external.list_dead_letters(MERCHANT, None, PageRequest())).items

    with pytest.raises(NotFound):
        await services.notifications_external.replay_dead_letter("mer_other", letter.id)
    with pytest.raises(NotFound):
        await services.notifications_external.retry_delivery("mer_other", dead.id)
    with pytest.raises(NotFound):
        await services.notifications_external.delete_endpoint("mer_other", dead.endpoint_id or "")

    assert (await stored(services, dead.id)).status == DeliveryStatus.DEAD


async def test_replaying_to_a_disabled_endpoint_is_a_conflict_and_bulk_replay_skips_it(
    services: Services,
) -> None:
    endpoint = await add_endpoint(services)
    await kill_one(services)
    await services.notifications_external.update_endpoint(
        MERCHANT, endpoint.id, EndpointChanges(enabled=False)
    )
    [letter] = (await services.notifications_external.list_dead_letters(MERCHANT, None, PageRequest())).items

    with pytest.raises(Conflict, match="disabled"):
        await services.notifications_external.replay_dead_letter(MERCHANT, letter.id)
    summary = await services.notifications_external.replay_dead_letters(MERCHANT, None, None)

    assert summary.replayed == ()
    assert [dl_id for dl_id, _ in summary.skipped] == [letter.id]


async def test_bulk_replay_filters_by_kind_and_time(services: Services, mailer: RecordingMailer) -> None:
    await add_endpoint(services)
    await add_customer(services, "ada@example.com")
    mailer.answers = [respond(None, error="connection refused")] * 3
    services.sender.then(500, 500, 500)
    await add_message(services, EventType.SUBSCRIPTION_ACTIVATED)
    await run(services)
    for delay in SCHEDULE:
        services.clock.advance(delay)
        await deliver_due(services.notifications, "worker-1")
    letters = (await services.notifications_external.list_dead_letters(MERCHANT, None, PageRequest())).items
    assert sorted(dl.kind for dl in letters) == [DeadLetterKind.EMAIL, DeadLetterKind.WEBHOOK]

    later = services.clock() + timedelta(seconds=1)
    assert (await services.notifications_external.replay_dead_letters(MERCHANT, None, later)).replayed == ()
    emails = await services.notifications_external.replay_dead_letters(MERCHANT, DeadLetterKind.EMAIL, None)

    assert [dl.id for dl in letters if dl.kind == DeadLetterKind.EMAIL] == list(emails.replayed)
    left = (await services.notifications_external.list_dead_letters(MERCHANT, None, PageRequest())).items
    assert [dl.kind for dl in left] == [DeadLetterKind.WEBHOOK]


async def test_retry_of_a_delivery_in_flight_is_a_conflict(services: Services) -> None:
    await add_endpoint(services)
    await add_message(services)
    await services.notifications.dispatch_pending()
    [claimed] = await services.notifications.claim("worker-1", 10)

    with pytest.raises(Conflict, match="being attempted"):
        await services.notifications_external.retry_delivery(MERCHANT, claimed.delivery.id)


# --------------------------------------------------------------------------- customer emails


async def test_an_email_goes_to_the_customers_address_through_the_same_records(
    services: Services, mailer: RecordingMailer
) -> None:
    await add_customer(services, "ada@example.com")
    message = await add_message(services, EventType.SUBSCRIPTION_ACTIVATED)

    [sent] = await run(services)

    assert sent.channel == Channel.EMAIL
    assert sent.recipient == "ada@example.com"
    assert sent.endpoint_id is None
    assert sent.status == DeliveryStatus.SUCCEEDED
    assert [(e.to, e.message_id, e.event_type) for e in mailer.sent] == [
        ("ada@example.com", message.id, "subscription.activated")
    ]


async def test_the_payloads_customer_email_is_used_when_no_customer_record_has_one(
    services: Services, mailer: RecordingMailer
) -> None:
    await add_customer(services, None)
    data = {
        "subscription": {"id": "sub_1", "customer_id": "cus_1"},
        "payment": {"customer_email": "bo@example.com"},
    }
    await add_message(services, EventType.PAYMENT_FAILED, data=data)

    await run(services)

    assert [e.to for e in mailer.sent] == ["bo@example.com"]


@pytest.mark.parametrize(
    "address",
    [
        "ada@example.com\r\nBcc: eve@example.com",
        "ada@example.com\nBcc: eve@example.com",
        "Ada <ada@example.com>",
    ],
)
async def test_an_address_that_could_inject_headers_is_never_mailed(
    services: Services, mailer: RecordingMailer, journal: Journal, address: str
) -> None:
    await add_customer(services, address)
    await add_message(services, EventType.SUBSCRIPTION_CANCELED)

    assert await run(services) == []

    assert mailer.sent == []
    assert "email_not_sent" in journal.events()


async def test_only_the_customer_email_types_send_emails(services: Services, mailer: RecordingMailer) -> None:
    await add_customer(services, "ada@example.com")
    for event_type in EventType:
        await add_message(services, event_type, subject=f"sub_{event_type.value}")

    await run(services)

    assert sorted(e.event_type for e in mailer.sent) == sorted(
        [
            "subscription.activated",
            "subscription.renewed",
            "payment.failed",
            "subscription.canceled",
            "subscription.trial_will_end",
        ]
    )


async def test_a_failing_email_is_retried_then_dead_lettered_as_an_email(
    services: Services, mailer: RecordingMailer
) -> None:
    await add_customer(services, "ada@example.com")
    mailer.answers = [respond(None, error="connection refused"), respond(451), respond(None, error="timeout")]
    await add_message(services, EventType.SUBSCRIPTION_RENEWED)
    await run(services)
    for delay in SCHEDULE:
        services.clock.advance(delay)
        await deliver_due(services.notifications, "worker-1")

    [dead] = deliveries(services, Channel.EMAIL)
    assert dead["status"] == "dead"
    [letter] = (
        await services.notifications_external.list_dead_letters(MERCHANT, DeadLetterKind.EMAIL, PageRequest())
    ).items
    assert letter.delivery_id == dead["id"]
    assert len(mailer.sent) == 3


def test_options_default_to_ten_minutes_and_five_days() -> None:
    options = DeliveryOptions()
    assert options.order_wait == timedelta(minutes=10)
    assert options.disable_after == timedelta(days=5)
    assert replace(options, order_wait=timedelta(0)).order_wait == timedelta(0)


async def test_an_erased_customer_gets_no_email_even_to_an_address_the_message_carries(
    services: Services, mailer: RecordingMailer, journal: Journal
) -> None:
    await add_endpoint(services)
    await add_customer(services, "ada@example.com")
    await services.subscriptions_external.customers.erase(MERCHANT, "cus_1")
    data = {"subscription": {"id": "sub_1", "customer_id": "cus_1"}, "customer_email": "ada@example.com"}
    await add_message(services, EventType.PAYMENT_FAILED, data=data)

    settled = await run(services)

    assert mailer.sent == []
    assert deliveries(services, Channel.EMAIL) == []
    assert [d.status for d in settled] == [DeliveryStatus.SUCCEEDED]  # its webhook goes on
    assert "email_not_sent" in journal.events()


async def test_an_email_is_found_again_by_its_customer(services: Services, mailer: RecordingMailer) -> None:
    await add_customer(services, "ada@example.com")
    await add_message(services, EventType.PAYMENT_FAILED)
    await run(services)
    [sent] = deliveries(services, Channel.EMAIL)

    async def emails(unit: StoreUnit) -> tuple[list[str], str | None]:
        found, following = await unit.deliveries.emails_to(MERCHANT, "cus_1", None, 10)
        return [d.id for d in found], following

    assert sent["customer_id"] == "cus_1"
    assert await services.txn(emails) == ([sent["id"]], None)
    assert len(mailer.sent) == 1
