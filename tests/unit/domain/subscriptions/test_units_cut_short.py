"""Units of work cut short on a store without transactions (a MongoDB server without replica
set), at every write: whatever the cut, once the work runs again (the input's retry, or the
scheduler), every message is told exactly once and the subscription ends as an uncut run
leaves it.

The in-memory store keeps the writes a session made before it raised (`transactions` off) and
stops the process before the n-th write (`writes_left`), for each n the uncut run makes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from domain.shared.errors import ConcurrencyConflict
from domain.shared.events import DomainEvent, EventType
from domain.shared.outbox import OutboxMessage
from domain.subscriptions.commands import (
    AnnounceTrialEnd,
    FailureKind,
    ProviderCommand,
    ProviderPrice,
    RecordPayment,
    RecordPaymentFailure,
    SyncSubscription,
)
from domain.subscriptions.external.catalog import NewCustomer, NewPlan
from domain.subscriptions.external.management import NewSubscription
from domain.subscriptions.internal import SubscriptionsInternal
from domain.subscriptions.model import Interval, Subscription
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.stores import codecs
from integrations.stores.repositories import StoreUnit
from tests.support.fakes import CutShort, InMemoryStore, Services, build_services

S = SubscriptionStatus
T = TypeVar("T")
MERCHANT = "mer_1"
PROVIDER_SUB = "sub_stripe_1"
T0 = datetime(2025, 1, 1, tzinfo=UTC)
PERIOD_1 = (T0, T0 + timedelta(days=31))
PERIOD_2 = (PERIOD_1[1], PERIOD_1[1] + timedelta(days=28))
PRICE = ProviderPrice(price_id="price_basic", amount=2000, currency="usd", interval=Interval.MONTH)


def snapshot(
    key: str, status: SubscriptionStatus, observed_at: datetime, **fields: object
) -> SyncSubscription:
    return SyncSubscription(
        source_key=key,
        merchant_id=MERCHANT,
        provider="stripe",
        provider_subscription_id=PROVIDER_SUB,
        provider_customer_id="cus_stripe_1",
        price=PRICE,
        status=status,
        observed_at=observed_at,
        **{"current_period_start": PERIOD_1[0], "current_period_end": PERIOD_1[1], **fields},  # type: ignore[arg-type]
    )


RENEWAL = RecordPayment(
    source_key="evt_paid",
    merchant_id=MERCHANT,
    provider="stripe",
    provider_subscription_id=PROVIDER_SUB,
    provider_invoice_id="in_2",
    amount_paid=2000,
    currency="usd",
    observed_at=PERIOD_2[0],
    period_start=PERIOD_2[0],
    period_end=PERIOD_2[1],
    renewal=True,
)
FAILURE = RecordPaymentFailure(
    source_key="evt_failed",
    merchant_id=MERCHANT,
    provider="stripe",
    provider_subscription_id=PROVIDER_SUB,
    provider_invoice_id="in_2",
    amount_due=2000,
    currency="usd",
    observed_at=PERIOD_2[0],
    kind=FailureKind.DECLINED,
    attempt=1,
)
TRIAL_END = PERIOD_1[1]
TRIAL_NOTICE = AnnounceTrialEnd(
    source_key="evt_trial",
    merchant_id=MERCHANT,
    provider="stripe",
    provider_subscription_id=PROVIDER_SUB,
    trial_end=TRIAL_END,
    observed_at=T0 + timedelta(days=28),
)


@dataclass(frozen=True)
class Case:
    """`arrange` runs uncut; `act` is the work cut short; `again` what runs after the cut.

    `retried`: the input comes again (an inbound event's lease brings it back). A REST
    request is not: its change happens whole or not at all (its client sees an error).
    """

    arrange: Callable[[Services], Awaitable[None]]
    act: Callable[[Services], Awaitable[object]]
    again: Callable[[Services], Awaitable[object]]
    retried: bool = True


def provider(before: list[ProviderCommand], command: ProviderCommand) -> Case:
    async def arrange(services: Services) -> None:
        for earlier in before:
            await services.subscriptions.apply(earlier)

    async def act(services: Services) -> object:
        return await services.subscriptions.apply(command)

    async def again(services: Services) -> object:
        # The inbound event's lease brings the same input back; the scheduler runs meanwhile.
        await act(services)
        return await schedule(services)

    return Case(arrange, act, again)


async def local_subscription(services: Services) -> Subscription:
    external = services.subscriptions_external
    customer = await external.customers.create(MERCHANT, NewCustomer(email="ada@example.com"))
    plan = await external.plans.create(
        MERCHANT, NewPlan(name="Basic", amount=900, currency="usd", interval=Interval.MONTH)
    )
    new = NewSubscription(customer_id=customer.id, plan_id=plan.id, trial_days=7)
    return await external.create(MERCHANT, new)


async def schedule(services: Services) -> object:
    return await services.subscriptions.run_schedule()


async def local_cancel(services: Services) -> object:
    (sub,) = services.store.documents("subscriptions")
    return await services.subscriptions_external.cancel(MERCHANT, sub["id"], at_period_end=False)


async def reminder_due(services: Services) -> None:
    await local_subscription(services)
    services.clock.advance(timedelta(days=4, seconds=1))  # three days before its trial ends


async def nothing(_: Services) -> None:
    return None


async def created_locally(services: Services) -> None:
    await local_subscription(services)


CASES = {
    "first snapshot": provider([], snapshot("evt_1", S.ACTIVE, T0)),
    "later snapshot": provider(
        [snapshot("evt_1", S.ACTIVE, T0)], snapshot("evt_2", S.PAST_DUE, T0 + timedelta(hours=1))
    ),
    "paid renewal": provider([snapshot("evt_1", S.ACTIVE, T0)], RENEWAL),
    "failed payment": provider([snapshot("evt_1", S.ACTIVE, T0)], FAILURE),
    "trial reminder": provider([snapshot("evt_1", S.TRIALING, T0, trial_end=TRIAL_END)], TRIAL_NOTICE),
    # A REST request has no retry of its own: the scheduler finishes what it left.
    "local create": Case(nothing, local_subscription, schedule, retried=False),
    "local cancel": Case(created_locally, local_cancel, schedule, retried=False),
    "scheduler reminder": Case(reminder_due, schedule, schedule),
}


def world(*, carried: bool = True) -> Services:
    store = InMemoryStore()
    store.transactions = False
    return build_services(store=store, carried=carried)


@dataclass(frozen=True)
class Outcome:
    told: Counter[str]
    standing: list[tuple[object, ...]]
    keys: frozenset[str]
    carrying: int


def _ours(key: str) -> str:
    """A processed input's key with subgate's own subscription ids left out (each run makes its own)."""
    return re.sub(r"subsg_[0-9a-z]+", "<sub>", key)


def outcome(services: Services) -> Outcome:
    subs = [codecs.subscription_from(doc) for doc in services.store.documents("subscriptions")]
    return Outcome(
        told=Counter(doc["event_type"] for doc in services.store.documents("outbox")),
        standing=sorted(
            (s.status.value, s.current_period_start, s.current_period_end, s.trial_notice_for, s.canceled_at)
            for s in subs
        ),
        keys=frozenset(_ours(doc["id"]) for doc in services.store.documents("processed_inputs")),
        carrying=sum(s.unfinished is not None for s in subs),
    )


async def uncut(case: Case, *, carried: bool = True) -> tuple[Outcome, Outcome, int]:
    """What the arrangement leaves, what the work leaves after it, and how many writes it makes."""
    services = world(carried=carried)
    await case.arrange(services)
    arranged = outcome(services)
    before = services.store.writes
    await case.act(services)
    return arranged, outcome(services), services.store.writes - before


async def cut_after(case: Case, writes: int, *, carried: bool = True) -> Outcome:
    services = world(carried=carried)
    await case.arrange(services)
    services.store.writes_left = writes
    with contextlib.suppress(CutShort):
        await case.act(services)
    services.store.writes_left = None
    services.clock.advance(timedelta(seconds=1))
    await case.again(services)
    return outcome(services)


@pytest.mark.parametrize("name", sorted(CASES))
async def test_a_unit_cut_at_any_write_is_finished_by_its_next_run(name: str) -> None:
    case = CASES[name]
    arranged, expected, writes = await uncut(case)
    assert writes > 1, "nothing to cut"
    assert expected.told.total() > arranged.told.total(), "it tells nothing"
    assert expected.carrying == 0
    for cut in range(writes):
        got = await cut_after(case, cut)
        if not case.retried and got == arranged:
            continue  # cut before its first write: the request failed, nothing changed
        assert got.told == expected.told, f"cut before write {cut + 1} of {writes}"
        assert got.standing == expected.standing, f"cut before write {cut + 1} of {writes}"
        assert got.keys >= expected.keys, f"cut before write {cut + 1} of {writes}"
        assert got.carrying == 0, f"cut before write {cut + 1} of {writes}"


@pytest.mark.parametrize("name", ["first snapshot", "paid renewal", "failed payment"])
async def test_without_carrying_the_change_some_cut_loses_what_it_told(name: str) -> None:
    """The same cuts over a store without transactions, the change not carried: a message is
    lost (or told twice) at some cut. What the test above relies on is the carrying."""
    case = CASES[name]
    _, expected, writes = await uncut(case, carried=False)
    outcomes = [await cut_after(case, cut, carried=False) for cut in range(writes)]
    assert any(got.told != expected.told for got in outcomes)


async def test_a_cut_change_is_finished_by_the_next_change_before_its_own_retry() -> None:
    """The next provider event for the subscription comes first: the cut payment is told once,
    and the retry of its own event then finds it applied."""
    for cut in range(10):
        services = world()
        await services.subscriptions.apply(snapshot("evt_1", S.ACTIVE, T0))
        services.store.writes_left = cut
        with pytest.raises(CutShort):
            await services.subscriptions.apply(RENEWAL)
        services.store.writes_left = None
        (doc,) = services.store.documents("subscriptions")
        if codecs.subscription_from(doc).unfinished is not None:
            break
    else:
        pytest.fail("no cut left the change carried")
    later = snapshot("evt_3", S.ACTIVE, PERIOD_2[0] + timedelta(hours=1), current_period_start=PERIOD_2[0])
    await services.subscriptions.apply(later)
    retried = await services.subscriptions.apply(RENEWAL)

    assert not retried.applied
    told = Counter(doc["event_type"] for doc in services.store.documents("outbox"))
    assert told["payment.succeeded"] == 1
    assert "evt_paid" in {doc["id"] for doc in services.store.documents("processed_inputs")}


async def test_a_message_appended_meanwhile_is_a_lost_race_not_an_error() -> None:
    """Two finishers of one carried change (its retry and the scheduler) append the same
    message: the second loses a race, runs again and finds it there."""
    services = world()
    message = OutboxMessage.from_event(
        DomainEvent(
            type=EventType.SUBSCRIPTION_UPDATED,
            merchant_id=MERCHANT,
            subject_id="subsg_1",
            occurred_at=T0,
            data={"subscription": {"id": "subsg_1"}},
        ),
        {},
    )

    async def append(unit: StoreUnit) -> None:
        await unit.outbox.append(message)

    await services.txn(append)
    with pytest.raises(ConcurrencyConflict):
        await services.txn(append)
    assert len(services.store.documents("outbox")) == 1


class _ThenMeanwhile:
    """A unit whose look at whether `key` was processed lets `meanwhile` run to its end just
    after, as another worker's unit may between this one's check and its next read."""

    def __init__(self, unit: StoreUnit, key: str, meanwhile: list[Callable[[], Awaitable[object]]]) -> None:
        self._unit = unit
        self._key = key
        self._meanwhile = meanwhile  # run once, by whichever unit looks first

    def __getattr__(self, name: str) -> object:
        return getattr(self._unit, name)

    @property
    def processed(self) -> _ThenMeanwhile:
        return self

    async def seen(self, key: str) -> bool:
        answer = await self._unit.processed.seen(key)
        if key == self._key and self._meanwhile:
            await self._meanwhile.pop()()
        return answer

    async def claim(self, key: str) -> bool:
        return await self._unit.processed.claim(key)


async def test_an_invoice_applied_by_another_worker_between_the_check_and_the_read_is_told_once() -> None:
    """Two of the provider's events for one invoice, on two workers: the second checks the
    invoice's key, the first then applies it whole, and only then the second reads the
    subscription. Where units are not transactions, the key is asked again after the read."""
    services = world()
    await services.subscriptions.apply(snapshot("evt_1", S.ACTIVE, T0))
    invoice_key = f"invoice:stripe:{MERCHANT}:{RENEWAL.provider_invoice_id}"

    async def first() -> object:
        return await services.subscriptions.apply(RENEWAL)

    meanwhile: list[Callable[[], Awaitable[object]]] = [first]

    async def looked(work: Callable[[Any], Awaitable[T]]) -> T:
        return await services.txn(lambda unit: work(_ThenMeanwhile(unit, invoice_key, meanwhile)))

    second = SubscriptionsInternal(looked, services.clock, dict, carried=True)
    outcome = await second.apply(dataclasses.replace(RENEWAL, source_key="evt_paid_too"))

    assert not meanwhile, "the other worker never ran"
    assert not outcome.applied
    told = Counter(doc["event_type"] for doc in services.store.documents("outbox"))
    assert told["payment.succeeded"] == 1
