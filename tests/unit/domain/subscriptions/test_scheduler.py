"""The scheduler's timed moves, at their boundaries, on the real repositories over the store fake.

Every move is checked one microsecond before its time (nothing happens), at its time and
one microsecond after (it happens, once): trial reminder, cancel at the period end,
pending expiry and past_due -> unpaid. Time comes from the fake clock only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pytest

from domain.shared.events import EventType
from domain.subscriptions.commands import (
    AnnounceTrialEnd,
    ProviderPrice,
    RecordPayment,
    SyncSubscription,
)
from domain.subscriptions.external.catalog import NewCustomer, NewPlan
from domain.subscriptions.external.management import NewSubscription
from domain.subscriptions.internal import SubscriptionsInternal
from domain.subscriptions.model import Interval, Subscription
from domain.subscriptions.state_machine import SubscriptionStatus
from domain.subscriptions.timed_moves import Timing
from integrations.stores.repositories import StoreUnit
from tests.support.fakes import Services, build_services

S = SubscriptionStatus
MERCHANT = "mer_1"
MICROSECOND = timedelta(microseconds=1)
DAY = timedelta(days=1)
PRICE = ProviderPrice(price_id="price_1", amount=900, currency="usd", interval=Interval.MONTH)


@dataclass
class World:
    services: Services

    @property
    def now(self) -> datetime:
        return self.services.clock()

    async def subscription(self, *, trial_days: int = 0) -> Subscription:
        external = self.services.subscriptions_external
        customer = await external.customers.create(MERCHANT, NewCustomer(email="ada@example.com"))
        plan = await external.plans.create(
            MERCHANT, NewPlan(name="Basic", amount=900, currency="usd", interval=Interval.MONTH)
        )
        return await external.create(
            MERCHANT, NewSubscription(customer_id=customer.id, plan_id=plan.id, trial_days=trial_days)
        )

    async def paid(self, sub: Subscription, period_days: int = 30) -> Subscription:
        """A provider invoice naming the subscription (metadata): it becomes active for a period."""
        now = self.now
        await self.services.subscriptions.apply(
            RecordPayment(
                source_key=f"evt_paid_{sub.id}",
                merchant_id=MERCHANT,
                provider="stripe",
                provider_subscription_id=f"sub_stripe_{sub.id}",
                provider_invoice_id=f"in_{sub.id}",
                amount_paid=900,
                currency="usd",
                observed_at=now,
                period_start=now,
                period_end=now + timedelta(days=period_days),
                linked_subscription_id=sub.id,
            )
        )
        return await self.get(sub.id)

    async def snapshot(self, sub: Subscription, status: SubscriptionStatus, **fields: object) -> Subscription:
        """The provider's view of the subscription it pays for, linked to ours by metadata."""
        await self.services.subscriptions.apply(
            SyncSubscription(
                source_key=f"evt_{status.value}_{sub.id}_{self.now.isoformat()}",
                merchant_id=MERCHANT,
                provider="stripe",
                provider_subscription_id=f"sub_stripe_{sub.id}",
                provider_customer_id="cus_stripe_1",
                price=PRICE,
                status=status,
                observed_at=self.now,
                linked_subscription_id=sub.id,
                **fields,  # type: ignore[arg-type]  # the snapshot's optional fields, as a test varies them
            )
        )
        return await self.get(sub.id)

    async def get(self, subscription_id: str) -> Subscription:
        return await self.services.subscriptions_external.get(MERCHANT, subscription_id)

    def at(self, when: datetime) -> None:
        self.services.clock.set(when)

    def told(self) -> list[str]:
        return [doc["event_type"] for doc in self.services.store.inserted("outbox")]


@pytest.fixture
def world() -> World:
    return World(build_services())


Arrange = Callable[[World], Awaitable[tuple[str, datetime]]]


async def trial_reminder(world: World) -> tuple[str, datetime]:
    sub = await world.subscription(trial_days=14)
    assert sub.trial_end is not None
    return sub.id, sub.trial_end - timedelta(days=3)


async def cancel_at_period_end(world: World) -> tuple[str, datetime]:
    sub = await world.paid(await world.subscription())
    canceling = await world.services.subscriptions_external.cancel(MERCHANT, sub.id, at_period_end=True)
    assert canceling.current_period_end is not None
    return sub.id, canceling.current_period_end


async def pending_expiry(world: World) -> tuple[str, datetime]:
    sub = await world.subscription()
    return sub.id, sub.created_at + timedelta(hours=23)


async def past_due_grace(world: World) -> tuple[str, datetime]:
    sub = await world.paid(await world.subscription())
    world.services.clock.advance(timedelta(hours=5))
    late = await world.snapshot(sub, S.PAST_DUE)
    assert late.past_due_since == world.now
    return sub.id, world.now + timedelta(days=7)


@dataclass(frozen=True)
class Case:
    arrange: Arrange
    status_after: SubscriptionStatus
    event: EventType


CASES = {
    "trial reminder": Case(trial_reminder, S.TRIALING, EventType.SUBSCRIPTION_TRIAL_WILL_END),
    "cancel at period end": Case(cancel_at_period_end, S.CANCELED, EventType.SUBSCRIPTION_CANCELED),
    "pending expiry": Case(pending_expiry, S.EXPIRED, EventType.SUBSCRIPTION_EXPIRED),
    "past_due to unpaid": Case(past_due_grace, S.UNPAID, EventType.SUBSCRIPTION_UPDATED),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_nothing_moves_one_microsecond_before_its_time(world: World, case: Case) -> None:
    subscription_id, due = await case.arrange(world)
    before = await world.get(subscription_id)
    told = world.told()
    world.at(due - MICROSECOND)

    run = await world.services.subscriptions.run_schedule()

    assert run.moves == 0
    assert world.told() == told
    assert await world.get(subscription_id) == before


@pytest.mark.parametrize("offset", [timedelta(0), MICROSECOND], ids=["at its time", "one microsecond after"])
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_a_move_happens_at_its_time_once(world: World, case: Case, offset: timedelta) -> None:
    subscription_id, due = await case.arrange(world)
    told = world.told()
    world.at(due + offset)

    first = await world.services.subscriptions.run_schedule()
    second = await world.services.subscriptions.run_schedule()

    after = await world.get(subscription_id)
    assert after.status == case.status_after
    assert world.told() == [*told, case.event.value]
    assert (first.moves, first.events) == (1, 1)
    assert (second.moves, second.events) == (0, 0)
    assert after.next_transition_at is None or after.next_transition_at > world.now


async def test_a_cancellation_at_the_period_end_is_dated_at_the_period_end(world: World) -> None:
    subscription_id, period_end = await cancel_at_period_end(world)
    world.at(period_end + timedelta(minutes=5))  # the scheduler ran a little late

    await world.services.subscriptions.run_schedule()

    after = await world.get(subscription_id)
    assert (after.status, after.canceled_at) == (S.CANCELED, period_end)


async def test_the_grace_period_follows_the_setting(world: World) -> None:
    subscription_id, _ = await past_due_grace(world)
    since = (await world.get(subscription_id)).past_due_since
    assert since is not None
    services = world.services
    short = SubscriptionsInternal(services.txn, services.clock, dict, timing=Timing(past_due_grace=DAY))
    world.at(since + DAY - MICROSECOND)
    assert (await short.run_schedule()).moves == 0

    world.at(since + DAY)
    await short.run_schedule()

    assert (await world.get(subscription_id)).status == S.UNPAID


async def test_a_longer_grace_period_holds_for_subscriptions_already_past_due(world: World) -> None:
    subscription_id, _ = await past_due_grace(world)
    services = world.services
    since = (await world.get(subscription_id)).past_due_since
    assert since is not None
    longer = SubscriptionsInternal(services.txn, services.clock, dict, timing=Timing(past_due_grace=10 * DAY))
    world.at(since + 10 * DAY - MICROSECOND)  # past the 7 days it had when it became past_due

    assert (await longer.run_schedule()).moves == 0
    world.at(since + 10 * DAY)
    assert (await longer.run_schedule()).moves == 1
    assert (await world.get(subscription_id)).status == S.UNPAID


async def test_a_due_time_out_of_step_with_the_rules_is_set_again_without_a_move(world: World) -> None:
    sub = await world.subscription(trial_days=14)
    wrong = sub.created_at + timedelta(hours=1)  # as if stored by rules that no longer hold

    stored = await world.get(sub.id)

    async def store_as_is(unit: StoreUnit) -> None:
        await unit.subscriptions.update(replace(stored, next_transition_at=wrong))

    await world.services.txn(store_as_is)  # the bare store: no stamping
    world.at(wrong)

    run = await world.services.subscriptions.run_schedule()

    after = await world.get(sub.id)
    assert run.moves == 0
    assert after.status == S.TRIALING
    assert sub.trial_end is not None
    assert after.next_transition_at == sub.trial_end - timedelta(days=3)


async def test_moves_due_together_are_made_earliest_first_in_one_run(world: World) -> None:
    sub = await world.subscription(trial_days=14)
    assert sub.trial_end is not None
    await world.services.subscriptions_external.cancel(MERCHANT, sub.id, at_period_end=True)
    world.at(sub.trial_end + DAY)  # the reminder's time passed unseen, and the period ended

    run = await world.services.subscriptions.run_schedule()

    # The reminder came too late to be told (the trial is over); the cancellation happens.
    assert run.moves == 2
    assert world.told()[-2:] == ["subscription.updated", "subscription.canceled"]
    assert (await world.get(sub.id)).status == S.CANCELED


async def test_a_trial_shorter_than_the_notice_is_reminded_at_once(world: World) -> None:
    sub = await world.subscription(trial_days=2)

    run = await world.services.subscriptions.run_schedule()

    assert run.events == 1
    assert world.told()[-1] == EventType.SUBSCRIPTION_TRIAL_WILL_END.value
    assert (await world.get(sub.id)).trial_notice_for == sub.trial_end


async def test_the_providers_reminder_and_the_schedulers_are_one(world: World) -> None:
    sub = await world.subscription(trial_days=14)
    assert sub.trial_end is not None
    world.at(sub.trial_end - timedelta(days=3))
    reminder = AnnounceTrialEnd(
        source_key="evt_trial_will_end",
        merchant_id=MERCHANT,
        provider="stripe",
        provider_subscription_id="sub_stripe_1",
        trial_end=sub.trial_end,
        observed_at=world.now,
        linked_subscription_id=sub.id,
    )

    told_first = await world.services.subscriptions.apply(reminder)
    run = await world.services.subscriptions.run_schedule()

    assert told_first.events == (EventType.SUBSCRIPTION_TRIAL_WILL_END,)
    assert run.moves == 0
    assert world.told().count(EventType.SUBSCRIPTION_TRIAL_WILL_END.value) == 1


async def test_the_scheduler_first_makes_the_providers_reminder_a_repeat(world: World) -> None:
    sub = await world.subscription(trial_days=14)
    assert sub.trial_end is not None
    world.at(sub.trial_end - timedelta(days=2))
    await world.services.subscriptions.run_schedule()

    outcome = await world.services.subscriptions.apply(
        AnnounceTrialEnd(
            source_key="evt_trial_will_end",
            merchant_id=MERCHANT,
            provider="stripe",
            provider_subscription_id="sub_stripe_1",
            trial_end=sub.trial_end,
            observed_at=world.now,
            linked_subscription_id=sub.id,
        )
    )

    assert not outcome.applied
    assert world.told().count(EventType.SUBSCRIPTION_TRIAL_WILL_END.value) == 1


async def test_the_provider_runs_the_clock_of_its_own_subscriptions(world: World) -> None:
    now = world.now
    await world.services.subscriptions.apply(
        SyncSubscription(
            source_key="evt_created",
            merchant_id=MERCHANT,
            provider="stripe",
            provider_subscription_id="sub_stripe_own",
            provider_customer_id="cus_stripe_1",
            price=PRICE,
            status=S.ACTIVE,
            observed_at=now,
            current_period_start=now,
            current_period_end=now + 30 * DAY,
            cancel_at_period_end=True,
        )
    )
    [doc] = world.services.store.documents("subscriptions")
    assert doc["provider_managed"] is True
    assert doc["next_transition_at"] is None
    world.at(now + 31 * DAY)

    run = await world.services.subscriptions.run_schedule()

    assert run.moves == 0
    assert (await world.get(doc["id"])).status == S.ACTIVE  # Stripe's `deleted` event will say


async def test_a_providers_trialing_subscription_is_reminded_too(world: World) -> None:
    now = world.now
    trial_end = now + 10 * DAY
    await world.services.subscriptions.apply(
        SyncSubscription(
            source_key="evt_created",
            merchant_id=MERCHANT,
            provider="polar",
            provider_subscription_id="sub_polar_1",
            provider_customer_id="cus_polar_1",
            price=PRICE,
            status=S.TRIALING,
            observed_at=now,
            trial_end=trial_end,
        )
    )
    world.at(trial_end - timedelta(days=3))

    run = await world.services.subscriptions.run_schedule()

    assert run.events == 1
    assert world.told()[-1] == EventType.SUBSCRIPTION_TRIAL_WILL_END.value


async def test_leaving_past_due_clears_the_grace_clock(world: World) -> None:
    subscription_id, _ = await past_due_grace(world)
    sub = await world.get(subscription_id)
    world.services.clock.advance(DAY)

    recovered = await world.snapshot(sub, S.ACTIVE)
    world.services.clock.advance(DAY)
    again = await world.snapshot(recovered, S.PAST_DUE)

    assert recovered.past_due_since is None
    assert again.past_due_since == world.now


async def test_a_large_batch_is_worked_through_in_one_run(world: World) -> None:
    services = world.services
    small_batches = SubscriptionsInternal(services.txn, services.clock, dict)
    small_batches._scheduler._batch = 2  # smaller than the work: runs cross batches
    ids = [(await world.subscription()).id for _ in range(5)]
    world.at(world.now + timedelta(hours=23))

    run = await small_batches.run_schedule()

    assert run.moves == 5
    assert {(await world.get(i)).status for i in ids} == {S.EXPIRED}


def test_stamping_keeps_what_it_does_not_own() -> None:
    from domain.subscriptions.timed_moves import stamped  # noqa: PLC0415 - the function under test

    now = datetime(2025, 1, 1).astimezone()
    sub = Subscription(
        id="sub_1",
        merchant_id=MERCHANT,
        customer_id="cus_1",
        plan_id="plan_1",
        status=S.ACTIVE,
        created_at=now,
        updated_at=now,
    )
    assert replace(stamped(sub, Timing(), now), next_transition_at=None) == sub
