"""Creating and changing subscriptions on a merchant's request: here, or at a provider (a fake).

The fake provider keeps its subscriptions and answers like one; a hook lets its webhook
about a new subscription be applied before its answer reaches us, as happens when the
provider's event is quicker than the HTTP response.

Also a merchant's Idempotency-Key reaches the provider through every change of a provider's subscription.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta

import pytest

from domain.shared.errors import Conflict, InvalidTransition
from domain.shared.events import EventType
from domain.subscriptions.commands import ProviderPrice, SyncSubscription
from domain.subscriptions.external.catalog import NewCustomer, NewPlan
from domain.subscriptions.external.management import NewSubscription
from domain.subscriptions.external.subscriptions import SubscriptionsExternal
from domain.subscriptions.model import Interval, Subscription
from domain.subscriptions.provider import ProviderCreate, ProviderUnreachable, ProviderView, idempotency_key
from domain.subscriptions.state_machine import SubscriptionStatus
from tests.support.fakes import Services, build_services

S = SubscriptionStatus
MERCHANT = "mer_1"
API_KEY = "sk_test_1"
PRICE = ProviderPrice(price_id="price_pro", amount=4900, currency="eur", interval=Interval.MONTH)


class KeyBook:
    def __init__(self, keys: dict[tuple[str, str], str]) -> None:
        self.keys = keys

    async def api_key(self, merchant_id: str, provider: str) -> str | None:
        return self.keys.get((merchant_id, provider))


@dataclass
class FakeProvider:
    """`ProviderActions` with a memory: what was created, and each request's idempotency key."""

    creates_subscriptions: bool = True
    created: dict[str, ProviderCreate] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    before_answer: Callable[[ProviderCreate], Awaitable[None]] | None = None
    down: bool = False

    async def create(self, api_key: str, request: ProviderCreate) -> ProviderView:
        assert api_key == API_KEY
        self.keys.append(request.idempotency_key)
        if self.down:
            raise ProviderUnreachable("the provider did not answer")
        first = self.created.setdefault(request.idempotency_key, request)
        if self.before_answer is not None:
            await self.before_answer(first)
        return ProviderView(provider_subscription_id=f"sub_remote_{first.subscription_id}", status=S.PENDING)

    async def cancel(
        self, api_key: str, provider_subscription_id: str, *, at_period_end: bool, idempotency_key: str
    ) -> ProviderView:
        assert api_key == API_KEY
        self.keys.append(idempotency_key)
        status = S.ACTIVE if at_period_end else S.CANCELED
        return ProviderView(
            provider_subscription_id=provider_subscription_id,
            status=status,
            cancel_at_period_end=at_period_end,
        )

    async def pause(
        self, api_key: str, provider_subscription_id: str, *, idempotency_key: str
    ) -> ProviderView:
        assert api_key == API_KEY
        self.keys.append(idempotency_key)
        return ProviderView(provider_subscription_id=provider_subscription_id, status=S.PAUSED)

    async def resume(
        self, api_key: str, provider_subscription_id: str, *, idempotency_key: str
    ) -> ProviderView:
        assert api_key == API_KEY
        self.keys.append(idempotency_key)
        return ProviderView(provider_subscription_id=provider_subscription_id, status=S.ACTIVE)


@dataclass
class World:
    services: Services
    provider: FakeProvider
    external: SubscriptionsExternal
    customer_id: str = ""
    plan_id: str = ""

    def told(self) -> list[str]:
        return [doc["event_type"] for doc in self.services.store.inserted("outbox")]

    async def new(self, request_key: str | None = None, trial_days: int | None = None) -> Subscription:
        return await self.external.create(
            MERCHANT,
            NewSubscription(
                customer_id=self.customer_id,
                plan_id=self.plan_id,
                trial_days=trial_days,
                request_key=request_key,
            ),
        )

    def webhook(self, sub: Subscription, status: SubscriptionStatus, seconds: int = 1) -> SyncSubscription:
        assert sub.provider_subscription_id is not None
        return SyncSubscription(
            source_key=f"evt_{status.value}_{seconds}",
            merchant_id=MERCHANT,
            provider="stripe",
            provider_subscription_id=sub.provider_subscription_id,
            provider_customer_id="cus_remote",
            price=PRICE,
            status=status,
            observed_at=self.services.clock() + timedelta(seconds=seconds),
            current_period_start=self.services.clock(),
            current_period_end=self.services.clock() + timedelta(days=30),
            linked_subscription_id=sub.id,
        )


async def world_with(keys: dict[tuple[str, str], str]) -> World:
    services = build_services()
    provider = FakeProvider()
    external = SubscriptionsExternal(
        services.txn, services.clock, accounts=KeyBook(keys), providers={"stripe": provider}
    )
    customer = await external.customers.create(
        MERCHANT, NewCustomer(email="ada@example.com", provider_customer_ids={"stripe": "cus_remote"})
    )
    plan = await external.plans.create(
        MERCHANT,
        NewPlan(
            name="Pro",
            amount=4900,
            currency="EUR",
            interval=Interval.MONTH,
            trial_days=14,
            provider_price_ids={"stripe": "price_pro"},
        ),
    )
    return World(services, provider, external, customer.id, plan.id)


@pytest.fixture
async def remote() -> World:
    return await world_with({(MERCHANT, "stripe"): API_KEY})


@pytest.fixture
async def local() -> World:
    return await world_with({})


# --------------------------------------------------------------------------- at the provider


async def test_a_subscription_made_at_the_provider_then_follows_its_webhooks(remote: World) -> None:
    sub = await remote.new()

    await remote.services.subscriptions.apply(remote.webhook(sub, S.ACTIVE))

    request = remote.provider.created[remote.provider.keys[0]]
    assert (request.subscription_id, request.provider_price_id, request.trial_days) == (
        sub.id,
        "price_pro",
        14,
    )
    assert sub.provider_managed
    assert (await remote.external.get(MERCHANT, sub.id)).status == S.ACTIVE
    assert remote.told() == ["subscription.created", "subscription.activated"]


async def test_the_providers_first_webhook_may_store_it_first_under_the_same_id(remote: World) -> None:
    async def webhook_first(request: ProviderCreate) -> None:
        racing = SyncSubscription(
            source_key="evt_created",
            merchant_id=MERCHANT,
            provider="stripe",
            provider_subscription_id=f"sub_remote_{request.subscription_id}",
            provider_customer_id="cus_remote",
            price=PRICE,
            status=S.TRIALING,
            observed_at=remote.services.clock(),
            linked_subscription_id=request.subscription_id,
        )
        await remote.services.subscriptions.apply(racing)

    remote.provider.before_answer = webhook_first

    sub = await remote.new()

    [stored] = remote.services.store.documents("subscriptions")
    assert stored["id"] == sub.id
    assert sub.status == S.TRIALING  # as the webhook stored it
    assert remote.told() == ["subscription.created"]


async def test_an_id_in_metadata_that_was_never_reserved_is_not_taken(remote: World) -> None:
    forged = SyncSubscription(
        source_key="evt_forged",
        merchant_id=MERCHANT,
        provider="stripe",
        provider_subscription_id="sub_remote_x",
        provider_customer_id="cus_remote",
        price=PRICE,
        status=S.ACTIVE,
        observed_at=remote.services.clock(),
        linked_subscription_id="sub_chosen_by_someone",
    )

    await remote.services.subscriptions.apply(forged)

    [stored] = remote.services.store.documents("subscriptions")
    assert stored["id"] != "sub_chosen_by_someone"


async def test_the_same_request_key_asks_for_the_same_subscription(remote: World) -> None:
    remote.provider.down = True
    with pytest.raises(ProviderUnreachable):
        await remote.new(request_key="order-1")
    assert remote.services.store.documents("subscriptions") == []
    remote.provider.down = False

    sub = await remote.new(request_key="order-1")
    other = await remote.new(request_key="order-2")

    first_key, second_key, third_key = remote.provider.keys
    assert first_key == second_key != third_key
    assert remote.provider.created[first_key].subscription_id == sub.id != other.id


async def test_without_a_request_key_each_change_is_a_new_request_at_the_provider(remote: World) -> None:
    sub = await remote.new()
    await remote.services.subscriptions.apply(remote.webhook(sub, S.ACTIVE))

    for _ in range(2):
        await remote.external.cancel(MERCHANT, sub.id, at_period_end=True)

    # The same request again before the webhook: a new request, never the first one replayed.
    assert len(set(remote.provider.keys)) == 3


async def test_a_change_at_the_provider_answers_its_view_and_stores_nothing(remote: World) -> None:
    sub = await remote.new()
    await remote.services.subscriptions.apply(remote.webhook(sub, S.ACTIVE))
    stored = await remote.external.get(MERCHANT, sub.id)
    told = remote.told()

    paused = await remote.external.pause(MERCHANT, sub.id)

    assert paused.status == S.PAUSED
    assert await remote.external.get(MERCHANT, sub.id) == stored
    assert remote.told() == told


# --------------------------------------------------------------------------- here


async def test_a_plan_with_a_trial_starts_trialing_for_its_length(local: World) -> None:
    sub = await local.new()

    assert sub.status == S.TRIALING
    assert sub.trial_end == sub.created_at + timedelta(days=14)
    assert (sub.current_period_start, sub.current_period_end) == (sub.created_at, sub.trial_end)
    assert not sub.provider_managed
    assert local.provider.keys == []


async def test_no_trial_is_pending_until_the_first_payment(local: World) -> None:
    sub = await local.new(trial_days=0)

    assert sub.status == S.PENDING
    assert (sub.trial_end, sub.current_period_end) == (None, None)
    assert local.told() == ["subscription.created"]


CHANGES = {
    "cancel now": (
        lambda w, s: w.external.cancel(MERCHANT, s.id, at_period_end=False),
        S.CANCELED,
        EventType.SUBSCRIPTION_CANCELED,
    ),
    "cancel at period end": (
        lambda w, s: w.external.cancel(MERCHANT, s.id, at_period_end=True),
        S.TRIALING,
        EventType.SUBSCRIPTION_UPDATED,
    ),
    "pause": (lambda w, s: w.external.pause(MERCHANT, s.id), S.PAUSED, EventType.SUBSCRIPTION_PAUSED),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
async def test_a_change_here_is_stored_and_told(
    local: World,
    change: tuple[Callable[[World, Subscription], Awaitable[Subscription]], SubscriptionStatus, EventType],
) -> None:
    request, status, event = change
    sub = await local.new()

    changed = await request(local, sub)

    assert changed.status == status
    assert await local.external.get(MERCHANT, sub.id) == changed
    assert local.told() == ["subscription.created", event.value]


async def test_resume_undoes_a_pause_and_a_scheduled_cancel(local: World) -> None:
    sub = await local.new()
    await local.external.cancel(MERCHANT, sub.id, at_period_end=True)
    await local.external.pause(MERCHANT, sub.id)

    resumed = await local.external.resume(MERCHANT, sub.id)

    assert (resumed.status, resumed.cancel_at_period_end) == (S.TRIALING, False)
    assert local.told()[-1] == EventType.SUBSCRIPTION_RESUMED.value


async def test_resume_after_the_trial_is_active(local: World) -> None:
    sub = await local.new()
    await local.external.pause(MERCHANT, sub.id)
    local.services.clock.advance(timedelta(days=15))

    assert (await local.external.resume(MERCHANT, sub.id)).status == S.ACTIVE


async def test_the_same_change_twice_is_told_once(local: World) -> None:
    sub = await local.new()

    first = await local.external.cancel(MERCHANT, sub.id, at_period_end=True)
    second = await local.external.cancel(MERCHANT, sub.id, at_period_end=True)

    assert first == second
    assert local.told().count(EventType.SUBSCRIPTION_UPDATED.value) == 1


async def test_invalid_moves_name_the_current_status(local: World) -> None:
    sub = await local.new(trial_days=0)
    with pytest.raises(InvalidTransition, match="'pending'"):
        await local.external.pause(MERCHANT, sub.id)
    with pytest.raises(Conflict, match="pending"):
        await local.external.cancel(MERCHANT, sub.id, at_period_end=True)
    with pytest.raises(Conflict, match="pending"):
        await local.external.resume(MERCHANT, sub.id)
    await local.external.cancel(MERCHANT, sub.id, at_period_end=False)
    for again in (
        local.external.cancel(MERCHANT, sub.id, at_period_end=False),
        local.external.pause(MERCHANT, sub.id),
        local.external.resume(MERCHANT, sub.id),
    ):
        with pytest.raises(InvalidTransition, match="'canceled'"):
            await again


async def test_an_archived_plan_takes_no_new_subscriptions(local: World) -> None:
    from domain.subscriptions.external.catalog import PlanChange  # noqa: PLC0415 - only this test uses it

    await local.external.plans.update(MERCHANT, local.plan_id, PlanChange(archived=True))

    with pytest.raises(Conflict, match="archived"):
        await local.new()


async def test_a_canceled_subscription_is_stored_with_its_time(local: World) -> None:
    sub = await local.new()
    local.services.clock.advance(timedelta(hours=1))

    canceled = await local.external.cancel(MERCHANT, sub.id, at_period_end=False)

    assert canceled.canceled_at == local.services.clock()
    assert replace(
        canceled, status=S.TRIALING, canceled_at=None, updated_at=sub.updated_at, version=0
    ) == replace(sub, next_transition_at=canceled.next_transition_at)


# --- the merchant's Idempotency-Key reaches the provider ------------------------------------------
KEYS_MERCHANT = "mer_keys"
KEYS_API_KEY = "sk_test_keys"


class OneAccount:
    async def api_key(self, merchant_id: str, provider: str) -> str | None:
        return KEYS_API_KEY if (merchant_id, provider) == (KEYS_MERCHANT, "stripe") else None


@dataclass
class KeyRecordingProvider:
    """Answers every request like a provider would and remembers the idempotency keys, in order."""

    creates_subscriptions: bool = True
    keys: list[str] = field(default_factory=list)

    async def create(self, api_key: str, request: ProviderCreate) -> ProviderView:
        assert api_key == KEYS_API_KEY
        return ProviderView(
            provider_subscription_id=f"sub_remote_{request.subscription_id}", status=S.PENDING
        )

    async def cancel(
        self, api_key: str, provider_subscription_id: str, *, at_period_end: bool, idempotency_key: str
    ) -> ProviderView:
        assert api_key == KEYS_API_KEY
        self.keys.append(idempotency_key)
        return ProviderView(
            provider_subscription_id=provider_subscription_id,
            status=S.ACTIVE if at_period_end else S.CANCELED,
            cancel_at_period_end=at_period_end,
        )

    async def pause(
        self, api_key: str, provider_subscription_id: str, *, idempotency_key: str
    ) -> ProviderView:
        assert api_key == KEYS_API_KEY
        self.keys.append(idempotency_key)
        return ProviderView(provider_subscription_id=provider_subscription_id, status=S.PAUSED)

    async def resume(
        self, api_key: str, provider_subscription_id: str, *, idempotency_key: str
    ) -> ProviderView:
        assert api_key == KEYS_API_KEY
        self.keys.append(idempotency_key)
        return ProviderView(provider_subscription_id=provider_subscription_id, status=S.ACTIVE)


@dataclass
class Setup:
    services: Services
    provider: KeyRecordingProvider
    external: SubscriptionsExternal
    sub: Subscription

    async def provider_says(self, status: SubscriptionStatus, seconds: int) -> None:
        assert self.sub.provider_subscription_id is not None
        now = self.services.clock()
        await self.services.subscriptions.apply(
            SyncSubscription(
                source_key=f"evt_{status.value}",
                merchant_id=KEYS_MERCHANT,
                provider="stripe",
                provider_subscription_id=self.sub.provider_subscription_id,
                provider_customer_id="cus_remote",
                price=ProviderPrice(
                    price_id="price_pro", amount=4900, currency="eur", interval=Interval.MONTH
                ),
                status=status,
                observed_at=now + timedelta(seconds=seconds),
                current_period_start=now,
                current_period_end=now + timedelta(days=30),
                linked_subscription_id=self.sub.id,
            )
        )


@pytest.fixture
async def setup() -> Setup:
    services = build_services()
    provider = KeyRecordingProvider()
    external = SubscriptionsExternal(
        services.txn, services.clock, accounts=OneAccount(), providers={"stripe": provider}
    )
    customer = await external.customers.create(
        KEYS_MERCHANT, NewCustomer(email="grace@example.com", provider_customer_ids={"stripe": "cus_remote"})
    )
    plan = await external.plans.create(
        KEYS_MERCHANT,
        NewPlan(
            name="Pro",
            amount=4900,
            currency="EUR",
            interval=Interval.MONTH,
            provider_price_ids={"stripe": "price_pro"},
        ),
    )
    sub = await external.create(KEYS_MERCHANT, NewSubscription(customer_id=customer.id, plan_id=plan.id))
    ready = Setup(services, provider, external, sub)
    await ready.provider_says(S.ACTIVE, seconds=1)
    return ready


async def test_a_cancel_asks_the_provider_with_the_key_of_the_merchants_request(setup: Setup) -> None:
    await setup.external.cancel(KEYS_MERCHANT, setup.sub.id, at_period_end=True, request_key="req-cancel")

    assert setup.provider.keys == [
        idempotency_key(KEYS_MERCHANT, setup.sub.id, "cancel_at_period_end", "req-cancel")
    ]


async def test_a_pause_asks_the_provider_with_the_key_of_the_merchants_request(setup: Setup) -> None:
    await setup.external.pause(KEYS_MERCHANT, setup.sub.id, request_key="req-pause")

    assert setup.provider.keys == [idempotency_key(KEYS_MERCHANT, setup.sub.id, "pause", "req-pause")]


async def test_a_resume_asks_the_provider_with_the_key_of_the_merchants_request(setup: Setup) -> None:
    await setup.provider_says(S.PAUSED, seconds=2)

    await setup.external.resume(KEYS_MERCHANT, setup.sub.id, request_key="req-resume")

    assert setup.provider.keys == [idempotency_key(KEYS_MERCHANT, setup.sub.id, "resume", "req-resume")]
