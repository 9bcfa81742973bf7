"""SubscriptionsInternal over the real repositories on an in-memory store."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from domain.shared.errors import NotFound
from domain.shared.events import EventType
from domain.shared.pagination import PageRequest
from domain.subscriptions.commands import ProviderPrice, RecordPayment, SyncSubscription
from domain.subscriptions.model import Interval, Subscription
from domain.subscriptions.ports import SubscriptionFilter
from domain.subscriptions.service import SubscriptionNotYetKnown
from domain.subscriptions.state_machine import SubscriptionStatus
from tests.support.fakes import Services, build_services

S = SubscriptionStatus
MERCHANT = "mer_1"
PROVIDER_SUB = "sub_stripe_1"
T0 = datetime(2025, 1, 1, tzinfo=UTC)
PERIOD_1 = (T0, T0 + timedelta(days=31))
PERIOD_2 = (PERIOD_1[1], PERIOD_1[1] + timedelta(days=28))
PRICE = ProviderPrice(
    price_id="price_basic", amount=2000, currency="usd", interval=Interval.MONTH, name="Basic"
)


def sync(
    source_key: str,
    status: SubscriptionStatus,
    observed_at: datetime,
    **fields: Any,
) -> SyncSubscription:
    defaults: dict[str, Any] = {
        "merchant_id": MERCHANT,
        "provider": "stripe",
        "provider_subscription_id": PROVIDER_SUB,
        "provider_customer_id": "cus_stripe_1",
        "price": PRICE,
        "current_period_start": PERIOD_1[0],
        "current_period_end": PERIOD_1[1],
    }
    return SyncSubscription(
        source_key=source_key, status=status, observed_at=observed_at, **{**defaults, **fields}
    )


def payment(
    source_key: str,
    observed_at: datetime,
    *,
    invoice: str = "in_1",
    amount: int = 2000,
    period: tuple[datetime, datetime] = PERIOD_1,
    provider_subscription_id: str = PROVIDER_SUB,
) -> RecordPayment:
    return RecordPayment(
        source_key=source_key,
        merchant_id=MERCHANT,
        provider="stripe",
        provider_subscription_id=provider_subscription_id,
        provider_invoice_id=invoice,
        amount_paid=amount,
        currency="usd",
        observed_at=observed_at,
        period_start=period[0],
        period_end=period[1],
    )


def outbox_types(services: Services) -> list[str]:
    return [doc["event_type"] for doc in services.store.inserted("outbox")]


async def the_subscription(services: Services) -> Subscription:
    page = await services.subscriptions_external.list(MERCHANT, SubscriptionFilter(), PageRequest())
    assert len(page.items) == 1
    return page.items[0]


@pytest.fixture
def services() -> Services:
    return build_services()


# --------------------------------------------------------------------------- sync


async def test_first_snapshot_creates_customer_plan_subscription_and_one_message(services: Services) -> None:
    outcome = await services.subscriptions.sync_from_provider(
        sync("evt_1", S.TRIALING, T0, customer_email="ada@example.com", trial_end=PERIOD_1[1])
    )

    assert outcome.applied
    assert outcome.events == (EventType.SUBSCRIPTION_CREATED,)
    store = services.store
    assert (store.count("customers"), store.count("plans"), store.count("subscriptions")) == (1, 1, 1)
    customer, plan = store.documents("customers")[0], store.documents("plans")[0]
    assert customer["email"] == "ada@example.com"
    assert customer["provider_customer_ids"] == {"stripe": "cus_stripe_1"}
    assert (plan["name"], plan["amount"], plan["interval"]) == ("Basic", 2000, "month")

    sub = await services.subscriptions_external.get(MERCHANT, outcome.subscription_id or "")
    assert sub.status == S.TRIALING
    assert (sub.customer_id, sub.plan_id) == (customer["id"], plan["id"])
    assert (sub.current_period_start, sub.current_period_end) == PERIOD_1
    assert sub.provider_watermark == T0

    messages = store.documents("outbox")
    assert [m["event_type"] for m in messages] == ["subscription.created"]
    assert messages[0]["subject_id"] == sub.id
    assert messages[0]["data"]["subscription"]["status"] == "trialing"
    assert messages[0]["dispatched"] is False


async def test_second_subscription_reuses_customer_and_plan(services: Services) -> None:
    await services.subscriptions.sync_from_provider(sync("evt_1", S.ACTIVE, T0))
    await services.subscriptions.sync_from_provider(
        sync("evt_2", S.ACTIVE, T0, provider_subscription_id="sub_stripe_2")
    )
    assert services.store.count("subscriptions") == 2
    assert (services.store.count("customers"), services.store.count("plans")) == (1, 1)


async def test_the_same_source_key_twice_is_applied_once(services: Services) -> None:
    command = sync("evt_1", S.ACTIVE, T0)
    first = await services.subscriptions.sync_from_provider(command)
    second = await services.subscriptions.sync_from_provider(command)

    assert first.applied
    assert not second.applied
    assert second.reason == "already applied"
    assert outbox_types(services) == ["subscription.created"]
    assert services.store.count("subscriptions") == 1


async def test_an_older_snapshot_is_recorded_but_not_applied(services: Services) -> None:
    await services.subscriptions.sync_from_provider(sync("evt_new", S.PAST_DUE, T0 + timedelta(hours=1)))

    late = await services.subscriptions.sync_from_provider(sync("evt_old", S.ACTIVE, T0))

    assert not late.applied
    assert late.reason is not None
    assert "older" in late.reason
    sub = await the_subscription(services)
    assert sub.status == S.PAST_DUE
    assert sub.provider_watermark == T0 + timedelta(hours=1)
    assert outbox_types(services) == ["subscription.created"]
    # Recorded: replaying it is now a plain duplicate.
    again = await services.subscriptions.sync_from_provider(sync("evt_old", S.ACTIVE, T0))
    assert again.reason == "already applied"


async def test_a_newer_snapshot_moves_the_status_and_says_so(services: Services) -> None:
    await services.subscriptions.sync_from_provider(sync("evt_1", S.ACTIVE, T0))

    outcome = await services.subscriptions.sync_from_provider(
        sync("evt_2", S.PAST_DUE, T0 + timedelta(minutes=1))
    )

    assert outcome.applied
    assert outcome.events == (EventType.SUBSCRIPTION_PAST_DUE,)
    assert outbox_types(services) == ["subscription.created", "subscription.past_due"]
    assert (await the_subscription(services)).version == 1


async def test_a_canceled_subscription_stays_canceled(services: Services) -> None:
    await services.subscriptions.sync_from_provider(sync("evt_1", S.ACTIVE, T0))
    canceled = await services.subscriptions.sync_from_provider(
        sync("evt_2", S.CANCELED, T0 + timedelta(minutes=1), canceled_at=T0 + timedelta(minutes=1))
    )
    assert canceled.events == (EventType.SUBSCRIPTION_CANCELED,)

    revived = await services.subscriptions.sync_from_provider(
        sync("evt_3", S.ACTIVE, T0 + timedelta(minutes=2))
    )

    assert not revived.applied
    assert (await the_subscription(services)).status == S.CANCELED
    assert outbox_types(services) == ["subscription.created", "subscription.canceled"]


# --------------------------------------------------------------------------- payments


async def test_payment_activates_a_pending_subscription(services: Services) -> None:
    await services.subscriptions.sync_from_provider(
        sync("evt_1", S.PENDING, T0, current_period_start=None, current_period_end=None)
    )

    outcome = await services.subscriptions.record_payment(payment("evt_2", T0 + timedelta(seconds=5)))

    assert outcome.applied
    assert outcome.events == (EventType.SUBSCRIPTION_ACTIVATED, EventType.PAYMENT_SUCCEEDED)
    sub = await the_subscription(services)
    assert sub.status == S.ACTIVE
    assert (sub.current_period_start, sub.current_period_end) == PERIOD_1
    messages = services.store.inserted("outbox")
    assert [m["event_type"] for m in messages] == [
        "subscription.created",
        "subscription.activated",
        "payment.succeeded",
    ]
    assert messages[-1]["data"]["payment"] == {
        "amount": 2000,
        "currency": "usd",
        "provider_invoice_id": "in_1",
    }


async def test_payment_for_a_later_period_renews_an_active_subscription(services: Services) -> None:
    await services.subscriptions.sync_from_provider(sync("evt_1", S.ACTIVE, T0))

    outcome = await services.subscriptions.record_payment(
        payment("evt_2", PERIOD_2[0], invoice="in_2", period=PERIOD_2)
    )

    assert outcome.events == (EventType.SUBSCRIPTION_RENEWED, EventType.PAYMENT_SUCCEEDED)
    sub = await the_subscription(services)
    assert sub.status == S.ACTIVE
    assert (sub.current_period_start, sub.current_period_end) == PERIOD_2


async def test_payment_for_the_current_period_is_only_a_payment(services: Services) -> None:
    await services.subscriptions.sync_from_provider(sync("evt_1", S.ACTIVE, T0))

    outcome = await services.subscriptions.record_payment(payment("evt_2", T0))

    assert outcome.events == (EventType.PAYMENT_SUCCEEDED,)


async def test_zero_amount_invoice_causes_no_events(services: Services) -> None:
    await services.subscriptions.sync_from_provider(sync("evt_1", S.TRIALING, T0))

    outcome = await services.subscriptions.record_payment(payment("evt_2", T0, amount=0))

    assert outcome.events == ()
    assert outbox_types(services) == ["subscription.created"]
    assert (await the_subscription(services)).status == S.TRIALING


async def test_payment_for_an_unknown_subscription_asks_for_a_retry(services: Services) -> None:
    with pytest.raises(SubscriptionNotYetKnown) as raised:
        await services.subscriptions.record_payment(payment("evt_pay", T0))
    assert isinstance(raised.value, NotFound)
    assert services.store.count("processed_inputs") == 0

    # Once the subscription arrives, the very same input applies.
    await services.subscriptions.sync_from_provider(sync("evt_sub", S.PENDING, T0))
    retried = await services.subscriptions.record_payment(payment("evt_pay", T0))
    assert retried.applied
    assert EventType.PAYMENT_SUCCEEDED in retried.events


async def test_one_invoice_through_two_source_keys_is_recorded_once(services: Services) -> None:
    await services.subscriptions.sync_from_provider(sync("evt_1", S.PENDING, T0))

    first = await services.subscriptions.record_payment(payment("evt_invoice_paid", T0))
    second = await services.subscriptions.record_payment(payment("evt_invoice_payment_succeeded", T0))

    assert first.applied
    assert not second.applied
    assert second.reason == "invoice already recorded"
    assert outbox_types(services).count("payment.succeeded") == 1


async def test_payment_on_a_canceled_subscription_is_recorded_without_effect(services: Services) -> None:
    await services.subscriptions.sync_from_provider(sync("evt_1", S.CANCELED, T0))

    outcome = await services.subscriptions.record_payment(payment("evt_2", T0))

    assert not outcome.applied
    assert outbox_types(services) == ["subscription.created"]
    again = await services.subscriptions.record_payment(payment("evt_3", T0))
    assert again.reason == "invoice already recorded"


# --------------------------------------------------------------------------- arrival order


@dataclass(frozen=True, slots=True)
class Input:
    """One delivery of a provider event; a duplicate delivery repeats the source key."""

    key: str
    command: SyncSubscription | RecordPayment


def _lifecycle() -> list[Input]:
    def t(minutes: int) -> datetime:
        return T0 + timedelta(minutes=minutes)

    created = Input("evt_created", sync("evt_created", S.TRIALING, t(1), trial_end=PERIOD_1[1]))
    active = Input("evt_active", sync("evt_active", S.ACTIVE, t(2)))
    past_due = Input("evt_past_due", sync("evt_past_due", S.PAST_DUE, t(3)))
    recovered = Input("evt_recovered", sync("evt_recovered", S.ACTIVE, t(4)))
    ending = Input("evt_ending", sync("evt_ending", S.ACTIVE, t(5), cancel_at_period_end=True))
    deleted = Input(
        "evt_deleted",
        sync("evt_deleted", S.CANCELED, t(6), cancel_at_period_end=True, canceled_at=t(6)),
    )
    paid = Input("evt_paid", payment("evt_paid", t(2)))
    return [created, active, paid, past_due, recovered, ending, deleted, active, past_due, paid]


LIFECYCLE = _lifecycle()


async def _feed(services: Services, inputs: list[Input]) -> None:
    """What the worker does: apply in arrival order, retry payments that came too early."""
    waiting: list[RecordPayment] = []
    for item in inputs:
        if isinstance(item.command, RecordPayment):
            try:
                await services.subscriptions.record_payment(item.command)
            except SubscriptionNotYetKnown:
                waiting.append(item.command)
        else:
            await services.subscriptions.sync_from_provider(item.command)
    for command in waiting:
        await services.subscriptions.record_payment(command)


async def _final_state(inputs: list[Input]) -> tuple[Subscription, list[str]]:
    services = build_services()
    await _feed(services, inputs)
    return await the_subscription(services), outbox_types(services)


def _comparable(sub: Subscription) -> tuple[object, ...]:
    return (
        sub.status,
        sub.current_period_start,
        sub.current_period_end,
        sub.cancel_at_period_end,
        sub.canceled_at,
        sub.provider_watermark,
    )


async def test_the_lifecycle_in_order_ends_canceled() -> None:
    sub, types = await _final_state(LIFECYCLE)

    assert sub.status == S.CANCELED
    assert types == [
        "subscription.created",
        "subscription.activated",
        "payment.succeeded",
        "subscription.past_due",
        "subscription.activated",
        "subscription.updated",
        "subscription.canceled",
    ]


@settings(deadline=None, max_examples=150)
@given(order=st.permutations(LIFECYCLE))
def test_any_arrival_order_ends_where_the_ordered_stream_ends(order: list[Input]) -> None:
    expected, _ = asyncio.run(_final_state(LIFECYCLE))

    sub, types = asyncio.run(_final_state(order))

    assert _comparable(sub) == _comparable(expected)
    assert types[0] == "subscription.created"
    assert types.count("subscription.created") == 1
    # A stream that starts with the deletion creates the subscription already canceled, so
    # `subscription.created` (carrying status canceled) is the only message about it.
    assert types.count("subscription.canceled") <= 1
    assert types.count("payment.succeeded") <= 1
