"""SubscriptionsInternal over the real repositories on an in-memory store."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings, strategies as st

from domain.shared.errors import NotFound
from domain.shared.events import EventType
from domain.shared.ids import new_id
from domain.shared.pagination import PageRequest
from domain.subscriptions.commands import (
    AnnounceTrialEnd,
    FailureKind,
    LinkSubscription,
    ProviderPrice,
    RecordPayment,
    RecordPaymentFailure,
    SyncSubscription,
)
from domain.subscriptions.internal import SubscriptionsInternal
from domain.subscriptions.linking import register_customer, register_plan
from domain.subscriptions.model import Customer, Interval, Plan, Subscription
from domain.subscriptions.outcome import SubscriptionNotYetKnown
from domain.subscriptions.ports import SubscriptionFilter
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.stores.repositories import StoreUnit
from tests.support.fakes import Services, build_services
from tests.support.lifecycle import (
    LIFECYCLE,
    ORDERED_TYPES,
    Delivery,
    Note,
    check_against_the_ordered_stream,
    deliver,
    expected_final,
    final_fields,
    outcome,
)

T = TypeVar("T")

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


async def test_the_newest_snapshot_wins_even_where_the_table_has_no_row(services: Services) -> None:
    """The three-event order that once left a subscription `active` for good."""
    created = sync("evt_created", S.PENDING, T0)
    past_due = sync("evt_past_due", S.PAST_DUE, T0 + timedelta(minutes=2))
    older_active = sync("evt_active", S.ACTIVE, T0 + timedelta(minutes=1))

    for command in (created, past_due, older_active):
        await services.subscriptions.sync_from_provider(command)

    assert (await the_subscription(services)).status == S.PAST_DUE
    assert outbox_types(services) == ["subscription.created", "subscription.past_due"]


async def test_a_resume_is_announced_as_such(services: Services) -> None:
    await services.subscriptions.sync_from_provider(sync("evt_1", S.ACTIVE, T0))
    paused = await services.subscriptions.sync_from_provider(sync("evt_2", S.PAUSED, T0 + timedelta(days=1)))
    resumed = await services.subscriptions.sync_from_provider(sync("evt_3", S.ACTIVE, T0 + timedelta(days=2)))

    assert paused.events == (EventType.SUBSCRIPTION_PAUSED,)
    assert resumed.events == (EventType.SUBSCRIPTION_RESUMED,)


# --------------------------------------------------------------------------- payments


async def test_a_payment_of_a_synced_subscription_is_news_only(services: Services) -> None:
    await services.subscriptions.sync_from_provider(
        sync("evt_1", S.PENDING, T0, current_period_start=None, current_period_end=None)
    )

    outcome = await services.subscriptions.record_payment(payment("evt_2", T0 + timedelta(seconds=5)))

    assert outcome.applied
    assert outcome.events == (EventType.PAYMENT_SUCCEEDED,)
    # The provider's own snapshot (`updated`, status active) moves the subscription.
    assert (await the_subscription(services)).status == S.PENDING
    messages = services.store.inserted("outbox")
    assert messages[-1]["data"]["payment"] == {
        "amount": 2000,
        "currency": "usd",
        "provider_invoice_id": "in_1",
    }


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


async def test_a_payment_is_told_even_when_the_cancellation_arrived_first(services: Services) -> None:
    await services.subscriptions.sync_from_provider(sync("evt_1", S.CANCELED, T0))

    outcome = await services.subscriptions.record_payment(payment("evt_2", T0 - timedelta(days=1)))

    assert outcome.events == (EventType.PAYMENT_SUCCEEDED,)
    assert (await the_subscription(services)).status == S.CANCELED
    again = await services.subscriptions.record_payment(payment("evt_3", T0))
    assert again.reason == "invoice already recorded"


def failure(
    source_key: str, *, attempt: int | None = 1, kind: FailureKind = FailureKind.DECLINED
) -> RecordPaymentFailure:
    return RecordPaymentFailure(
        source_key=source_key,
        merchant_id=MERCHANT,
        provider="stripe",
        provider_subscription_id=PROVIDER_SUB,
        provider_invoice_id="in_9",
        amount_due=2000,
        currency="usd",
        observed_at=T0,
        kind=kind,
        attempt=attempt,
    )


async def test_a_failed_payment_is_told_once_per_attempt(services: Services) -> None:
    await services.subscriptions.sync_from_provider(sync("evt_1", S.ACTIVE, T0))

    first = await services.subscriptions.apply(failure("evt_failed"))
    same_attempt = await services.subscriptions.apply(failure("evt_action", kind=FailureKind.ACTION_REQUIRED))
    next_attempt = await services.subscriptions.apply(failure("evt_failed_again", attempt=2))

    assert first.events == (EventType.PAYMENT_FAILED,)
    assert not same_attempt.applied
    assert next_attempt.events == (EventType.PAYMENT_FAILED,)
    messages = [m for m in services.store.inserted("outbox") if m["event_type"] == "payment.failed"]
    assert messages[0]["data"]["payment"] == {
        "provider_invoice_id": "in_9",
        "amount": 2000,
        "currency": "usd",
        "failure": "declined",
        "attempt": 1,
    }
    # The provider's snapshot, not the failure, moves the status.
    assert (await the_subscription(services)).status == S.ACTIVE


def reminder(source_key: str, trial_end: datetime = PERIOD_1[1]) -> AnnounceTrialEnd:
    return AnnounceTrialEnd(
        source_key=source_key,
        merchant_id=MERCHANT,
        provider="stripe",
        provider_subscription_id=PROVIDER_SUB,
        trial_end=trial_end,
        observed_at=T0,
    )


async def test_a_trial_reminder_is_told_once_while_trialing(services: Services) -> None:
    await services.subscriptions.sync_from_provider(sync("evt_1", S.TRIALING, T0, trial_end=PERIOD_1[1]))

    told = await services.subscriptions.apply(reminder("evt_reminder"))
    again = await services.subscriptions.apply(reminder("evt_reminder_resent_by_another_event"))

    assert told.events == (EventType.SUBSCRIPTION_TRIAL_WILL_END,)
    assert not again.applied
    assert outbox_types(services) == ["subscription.created", "subscription.trial_will_end"]


async def test_a_trial_reminder_after_the_trial_ended_says_nothing(services: Services) -> None:
    await services.subscriptions.sync_from_provider(sync("evt_1", S.ACTIVE, T0))

    late = await services.subscriptions.apply(reminder("evt_reminder"))

    assert not late.applied
    assert late.reason is not None
    assert "not trialing" in late.reason


# --------------------------------------------------------------------------- linking


async def a_rest_subscription(services: Services, *, provider_customer: str | None = None) -> Subscription:
    """A customer, plan and subscription as the REST API creates them (no provider has spoken)."""
    now = services.clock()
    customer = Customer(
        id=new_id("cus"),
        merchant_id=MERCHANT,
        email="ada@example.com",
        name="Ada",
        provider_customer_ids={} if provider_customer is None else {"stripe": provider_customer},
        created_at=now,
    )
    plan = Plan(
        id=new_id("plan"),
        merchant_id=MERCHANT,
        name="Basic",
        amount=2000,
        currency="usd",
        interval=Interval.MONTH,
        provider_price_ids={"stripe": PRICE.price_id},
        created_at=now,
    )
    sub = Subscription(
        id=new_id("sub"),
        merchant_id=MERCHANT,
        customer_id=customer.id,
        plan_id=plan.id,
        status=S.PENDING,
        created_at=now,
        updated_at=now,
    )

    async def work(unit: StoreUnit) -> None:
        await register_customer(unit, customer)
        await register_plan(unit, plan)
        await unit.subscriptions.add(sub)

    await services.txn(work)
    return sub


async def test_metadata_links_the_provider_subscription_to_ours(services: Services) -> None:
    ours = await a_rest_subscription(services)

    outcome = await services.subscriptions.sync_from_provider(
        sync("evt_1", S.ACTIVE, T0, linked_subscription_id=ours.id)
    )
    # Later events without the metadata find it by the provider's id.
    later = await services.subscriptions.sync_from_provider(sync("evt_2", S.PAST_DUE, T0 + timedelta(days=1)))

    assert outcome.subscription_id == later.subscription_id == ours.id
    assert outcome.events == (EventType.SUBSCRIPTION_ACTIVATED,)
    stored = await services.subscriptions_external.get(MERCHANT, ours.id)
    assert (stored.provider, stored.provider_subscription_id, stored.status) == (
        "stripe",
        PROVIDER_SUB,
        S.PAST_DUE,
    )
    assert services.store.count("subscriptions") == 1
    # The provider's customer is now our REST customer: its next subscription reuses it.
    second = await services.subscriptions.sync_from_provider(
        sync("evt_3", S.ACTIVE, T0, provider_subscription_id="sub_second")
    )
    assert (
        await services.subscriptions_external.get(MERCHANT, second.subscription_id or "")
    ).customer_id == (ours.customer_id)


async def test_another_merchants_subscription_id_in_metadata_links_nothing(services: Services) -> None:
    ours = await a_rest_subscription(services)
    theirs = sync("evt_1", S.ACTIVE, T0, linked_subscription_id=ours.id)

    outcome = await services.subscriptions.sync_from_provider(replace(theirs, merchant_id="mer_2"))

    assert outcome.subscription_id != ours.id
    assert (await services.subscriptions_external.get(MERCHANT, ours.id)).status == S.PENDING


async def test_a_rest_customer_and_plan_are_the_ones_linked(services: Services) -> None:
    ours = await a_rest_subscription(services, provider_customer="cus_stripe_1")

    outcome = await services.subscriptions.sync_from_provider(
        sync("evt_1", S.ACTIVE, T0, provider_subscription_id="sub_new_one")
    )

    created = await services.subscriptions_external.get(MERCHANT, outcome.subscription_id or "")
    assert created.id != ours.id
    assert (created.customer_id, created.plan_id) == (ours.customer_id, ours.plan_id)
    assert (services.store.count("customers"), services.store.count("plans")) == (1, 1)


async def test_a_checkout_links_before_the_subscriptions_own_events(services: Services) -> None:
    ours = await a_rest_subscription(services)
    link = LinkSubscription(
        source_key="evt_checkout",
        merchant_id=MERCHANT,
        provider="stripe",
        provider_subscription_id=PROVIDER_SUB,
        linked_subscription_id=ours.id,
        provider_customer_id="cus_stripe_1",
    )

    linked = await services.subscriptions.apply(link)
    synced = await services.subscriptions.sync_from_provider(sync("evt_1", S.ACTIVE, T0))

    assert linked.applied
    assert synced.subscription_id == ours.id
    assert services.store.count("subscriptions") == 1
    # The provider's customer is now ours too: a second subscription of it reuses the customer.
    second = await services.subscriptions.sync_from_provider(
        sync("evt_2", S.ACTIVE, T0, provider_subscription_id="sub_second")
    )
    assert (
        await services.subscriptions_external.get(MERCHANT, second.subscription_id or "")
    ).customer_id == (ours.customer_id)


async def test_a_checkout_naming_an_unknown_subscription_is_recorded_without_effect(
    services: Services,
) -> None:
    outcome = await services.subscriptions.apply(
        LinkSubscription(
            source_key="evt_checkout",
            merchant_id=MERCHANT,
            provider="stripe",
            provider_subscription_id=PROVIDER_SUB,
            linked_subscription_id="sub_nope",
        )
    )
    assert not outcome.applied
    assert services.store.count("provider_links") == 0


async def test_a_payment_activates_a_rest_subscription_no_snapshot_reached(services: Services) -> None:
    ours = await a_rest_subscription(services)
    paid = replace(payment("evt_paid", T0 + timedelta(seconds=2)), linked_subscription_id=ours.id)

    outcome = await services.subscriptions.record_payment(paid)
    # The provider's creation snapshot, older than the payment, arrives afterwards: it is stale.
    late = await services.subscriptions.sync_from_provider(sync("evt_created", S.PENDING, T0))

    assert outcome.events == (EventType.SUBSCRIPTION_ACTIVATED, EventType.PAYMENT_SUCCEEDED)
    assert not late.applied
    assert (await services.subscriptions_external.get(MERCHANT, ours.id)).status == S.ACTIVE


# --------------------------------------------------------------------------- arrival order


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


async def _lifecycle(
    deliveries: Sequence[Delivery], pauses: Sequence[Sequence[int]] = (), workers: int = 2
) -> tuple[Subscription, list[Note]]:
    services = build_services()
    # More workers over the same store, as several worker processes share one database.
    internals = [services.subscriptions] + [
        SubscriptionsInternal(services.txn, services.clock, dict) for _ in range(workers - 1)
    ]
    await deliver(internals, MERCHANT, deliveries, pauses)
    return await outcome(services.txn, MERCHANT)


ORDERED = run(_lifecycle(LIFECYCLE, workers=1))


def test_the_lifecycle_in_order_tells_every_transition() -> None:
    sub, notes = ORDERED
    assert final_fields(sub) == expected_final()
    assert tuple(n.type for n in notes) == ORDERED_TYPES


deliveries_with_repeats = st.lists(st.sampled_from(LIFECYCLE), max_size=6).flatmap(
    lambda repeats: st.permutations([*LIFECYCLE, *repeats])
)
interleavings = st.lists(st.lists(st.integers(min_value=0, max_value=3), max_size=20), min_size=2, max_size=2)


@settings(deadline=None, max_examples=60)
@given(order=deliveries_with_repeats, pauses=interleavings)
def test_any_order_with_repeats_and_two_workers_ends_at_the_newest_snapshot(
    order: list[Delivery], pauses: list[list[int]]
) -> None:
    sub, notes = run(_lifecycle(order, pauses))

    check_against_the_ordered_stream(sub, notes, ORDERED[1])


@st.composite
def snapshots_in_provider_order(draw: st.DrawFn) -> list[Delivery]:
    """Snapshots in their order; invoices anywhere; repeats of anything after its first delivery."""
    snapshots = [d for d in LIFECYCLE if d.snapshot]
    invoices = [d for d in LIFECYCLE if not d.snapshot]
    slots: list[list[Delivery]] = [[] for _ in range(len(snapshots) + 1)]
    for invoice in invoices:
        slots[draw(st.integers(min_value=0, max_value=len(snapshots)))].append(invoice)
    for n, snapshot in enumerate(draw(st.lists(st.sampled_from(snapshots), max_size=4))):
        first = snapshots.index(snapshot) + 1
        slots[draw(st.integers(min_value=first, max_value=len(snapshots)))].append(snapshot)
        if n < len(invoices):
            slots[len(snapshots)].append(invoices[n])
    merged: list[Delivery] = []
    for n, slot in enumerate(slots):
        merged.extend(draw(st.permutations(slot)))
        if n < len(snapshots):
            merged.append(snapshots[n])
    return merged


@settings(deadline=None, max_examples=40)
@given(deliveries=snapshots_in_provider_order())
def test_snapshots_in_provider_order_tell_the_ordered_stream_whatever_the_invoices_do(
    deliveries: list[Delivery],
) -> None:
    sub, notes = run(_lifecycle(deliveries, workers=1))

    check_against_the_ordered_stream(sub, notes, ORDERED[1])
    states = [n.type for n in notes if n.type.startswith("subscription.")]
    assert states == [t for t in ORDERED_TYPES if t.startswith("subscription.")]
    assert {n.type for n in notes} == set(ORDERED_TYPES)


async def test_a_link_left_without_its_subscription_is_completed_not_fought_over(services: Services) -> None:
    """On a store without transactions a worker killed between the link and the subscription
    leaves the link alone; the next run creates the subscription under the link's id instead of
    losing to the link for ever."""

    async def leave_a_link(unit: StoreUnit) -> None:
        await unit.provider_links.add(MERCHANT, "subscription", "stripe", PROVIDER_SUB, "sub_left_behind")

    await services.txn(leave_a_link)
    outcome = await services.subscriptions.sync_from_provider(sync("evt_1", S.ACTIVE, T0))
    assert outcome.applied
    assert outcome.subscription_id == "sub_left_behind"
    assert services.store.count("subscriptions") == 1
    assert services.store.count("provider_links") == 3  # the subscription's, its customer's, its price's
