"""What a merchant's endpoint receives: enough to match a notification to its own records."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.notifications.payload import message_body
from domain.shared.outbox import OutboxMessage
from domain.subscriptions.commands import ProviderPrice, RecordPayment, SyncSubscription
from domain.subscriptions.model import Interval, Subscription, notification_view
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.stores.repositories import StoreUnit
from tests.support.fakes import Services, build_services

MERCHANT = "mer_1"
T0 = datetime(2025, 3, 1, tzinfo=UTC)
PERIOD_1 = (T0, T0 + timedelta(days=31))
PERIOD_2 = (PERIOD_1[1], PERIOD_1[1] + timedelta(days=30))
PRICE = ProviderPrice(price_id="price_pro", amount=4900, currency="eur", interval=Interval.MONTH, name="Pro")

# The subscription representation of the REST API (CONTRACT.md), which every body repeats.
CONTRACT_FIELDS = {
    "id",
    "customer_id",
    "plan_id",
    "status",
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "trial_end",
    "canceled_at",
    "provider",
    "provider_subscription_id",
    "created_at",
    "updated_at",
}


@pytest.fixture
def services() -> Services:
    return build_services()


def synced(status: SubscriptionStatus, observed_at: datetime) -> SyncSubscription:
    return SyncSubscription(
        source_key=f"evt_sync_{observed_at.timestamp():.0f}",
        merchant_id=MERCHANT,
        provider="stripe",
        provider_subscription_id="sub_1QxStripe",
        provider_customer_id="cus_QxStripe",
        customer_email="ada@example.com",
        price=PRICE,
        status=status,
        observed_at=observed_at,
        current_period_start=PERIOD_1[0],
        current_period_end=PERIOD_1[1],
    )


def paid_invoice(amount: int) -> RecordPayment:
    return RecordPayment(
        source_key="evt_invoice_paid",
        merchant_id=MERCHANT,
        provider="stripe",
        provider_subscription_id="sub_1QxStripe",
        provider_invoice_id="in_1QxInvoice",
        amount_paid=amount,
        currency="eur",
        observed_at=PERIOD_2[0],
        period_start=PERIOD_2[0],
        period_end=PERIOD_2[1],
    )


async def received(services: Services) -> dict[str, dict[str, Any]]:
    """The bodies of the pending outbox messages, by event type, exactly as every attempt sends them."""

    async def pending(unit: StoreUnit) -> Sequence[OutboxMessage]:
        return await unit.outbox.pending(100)

    bodies = [json.loads(message_body(message)) for message in await services.txn(pending)]
    return {body["type"]: body for body in bodies}


async def test_a_synced_subscription_body_names_the_provider_records(services: Services) -> None:

    await services.subscriptions.sync_from_provider(synced(SubscriptionStatus.ACTIVE, T0))

    body = (await received(services))["subscription.created"]
    plan = services.store.documents("plans")[0]
    customer = services.store.documents("customers")[0]
    subscription = body["data"]["subscription"]
    assert set(body) == {"id", "type", "created_at", "data"}
    assert set(body["data"]) == {"subscription"}
    assert set(subscription) >= CONTRACT_FIELDS
    assert subscription["status"] == "active"
    assert subscription["provider"] == "stripe"
    assert subscription["provider_subscription_id"] == "sub_1QxStripe"
    assert subscription["provider_customer_id"] == "cus_QxStripe"
    assert subscription["customer_id"] == customer["id"]
    assert subscription["plan_id"] == plan["id"]
    assert subscription["provider_price_id"] == "price_pro"
    assert subscription["plan_name"] == "Pro"
    assert (subscription["amount"], subscription["currency"]) == (4900, "eur")
    assert (subscription["interval"], subscription["interval_count"]) == ("month", 1)
    assert subscription["current_period_end"] == "2025-04-01T00:00:00.000000Z"


async def test_a_payment_body_carries_the_invoice_amount_and_the_subscription(services: Services) -> None:
    await services.subscriptions.sync_from_provider(synced(SubscriptionStatus.ACTIVE, T0))

    # A discounted invoice: the payment says what was paid, the subscription what the plan costs.
    await services.subscriptions.record_payment(paid_invoice(amount=3675))

    data = (await received(services))["payment.succeeded"]["data"]
    assert data["payment"] == {"provider_invoice_id": "in_1QxInvoice", "amount": 3675, "currency": "eur"}
    subscription = data["subscription"]
    assert set(subscription) >= CONTRACT_FIELDS
    assert subscription["provider_subscription_id"] == "sub_1QxStripe"
    assert subscription["provider_customer_id"] == "cus_QxStripe"
    assert subscription["provider_price_id"] == "price_pro"
    assert (subscription["amount"], subscription["currency"]) == (4900, "eur")
    # The provider's snapshots move a synced subscription, not its payments: the body shows
    # the subscription as it stands.
    assert subscription["current_period_end"] == "2025-04-01T00:00:00.000000Z"


async def test_subscription_events_next_to_a_payment_carry_no_payment(services: Services) -> None:
    await services.subscriptions.sync_from_provider(synced(SubscriptionStatus.ACTIVE, T0))
    renewal = replace(
        synced(SubscriptionStatus.ACTIVE, PERIOD_2[0]),
        current_period_start=PERIOD_2[0],
        current_period_end=PERIOD_2[1],
    )
    await services.subscriptions.sync_from_provider(renewal)
    await services.subscriptions.record_payment(paid_invoice(amount=4900))

    bodies = await received(services)

    assert set(bodies) == {"subscription.created", "subscription.renewed", "payment.succeeded"}
    assert "payment" not in bodies["subscription.renewed"]["data"]
    assert bodies["subscription.renewed"]["data"]["subscription"]["provider_customer_id"] == "cus_QxStripe"


def test_unknown_provider_records_are_null_not_missing() -> None:
    sub = Subscription(
        id="sub_ours",
        merchant_id=MERCHANT,
        customer_id="cus_ours",
        plan_id="plan_ours",
        status=SubscriptionStatus.PENDING,
        created_at=T0,
        updated_at=T0,
    )

    view = notification_view(sub, customer=None, plan=None)

    assert set(view) >= CONTRACT_FIELDS
    extra = {k: v for k, v in view.items() if k not in CONTRACT_FIELDS}
    assert extra == dict.fromkeys(
        (
            "provider_customer_id",
            "provider_price_id",
            "plan_name",
            "amount",
            "currency",
            "interval",
            "interval_count",
        )
    )
