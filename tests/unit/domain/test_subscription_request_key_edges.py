"""A merchant's Idempotency-Key reaches the provider through every change of a provider's subscription.

A retried cancel, pause or resume must ask the provider with the key the first try used,
or the provider would act twice; the key is derived from the merchant's request key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from domain.subscriptions.commands import ProviderPrice, SyncSubscription
from domain.subscriptions.external.catalog import NewCustomer, NewPlan
from domain.subscriptions.external.management import NewSubscription
from domain.subscriptions.external.subscriptions import SubscriptionsExternal
from domain.subscriptions.model import Interval, Subscription
from domain.subscriptions.provider import ProviderCreate, ProviderView, idempotency_key
from domain.subscriptions.state_machine import SubscriptionStatus
from tests.support.fakes import Services, build_services

S = SubscriptionStatus
MERCHANT = "mer_keys"
API_KEY = "sk_test_keys"


class OneAccount:
    async def api_key(self, merchant_id: str, provider: str) -> str | None:
        return API_KEY if (merchant_id, provider) == (MERCHANT, "stripe") else None


@dataclass
class KeyRecordingProvider:
    """Answers every request like a provider would and remembers the idempotency keys, in order."""

    creates_subscriptions: bool = True
    keys: list[str] = field(default_factory=list)

    async def create(self, api_key: str, request: ProviderCreate) -> ProviderView:
        assert api_key == API_KEY
        return ProviderView(
            provider_subscription_id=f"sub_remote_{request.subscription_id}", status=S.PENDING
        )

    async def cancel(
        self, api_key: str, provider_subscription_id: str, *, at_period_end: bool, idempotency_key: str
    ) -> ProviderView:
        assert api_key == API_KEY
        self.keys.append(idempotency_key)
        return ProviderView(
            provider_subscription_id=provider_subscription_id,
            status=S.ACTIVE if at_period_end else S.CANCELED,
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
                merchant_id=MERCHANT,
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
        MERCHANT, NewCustomer(email="grace@example.com", provider_customer_ids={"stripe": "cus_remote"})
    )
    plan = await external.plans.create(
        MERCHANT,
        NewPlan(
            name="Pro",
            amount=4900,
            currency="EUR",
            interval=Interval.MONTH,
            provider_price_ids={"stripe": "price_pro"},
        ),
    )
    sub = await external.create(MERCHANT, NewSubscription(customer_id=customer.id, plan_id=plan.id))
    ready = Setup(services, provider, external, sub)
    await ready.provider_says(S.ACTIVE, seconds=1)
    return ready


async def test_a_cancel_asks_the_provider_with_the_key_of_the_merchants_request(setup: Setup) -> None:
    await setup.external.cancel(MERCHANT, setup.sub.id, at_period_end=True, request_key="req-cancel")

    assert setup.provider.keys == [
        idempotency_key(MERCHANT, setup.sub.id, "cancel_at_period_end", "req-cancel")
    ]


async def test_a_pause_asks_the_provider_with_the_key_of_the_merchants_request(setup: Setup) -> None:
    await setup.external.pause(MERCHANT, setup.sub.id, request_key="req-pause")

    assert setup.provider.keys == [idempotency_key(MERCHANT, setup.sub.id, "pause", "req-pause")]


async def test_a_resume_asks_the_provider_with_the_key_of_the_merchants_request(setup: Setup) -> None:
    await setup.provider_says(S.PAUSED, seconds=2)

    await setup.external.resume(MERCHANT, setup.sub.id, request_key="req-resume")

    assert setup.provider.keys == [idempotency_key(MERCHANT, setup.sub.id, "resume", "req-resume")]
