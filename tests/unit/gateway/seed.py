"""Seeding data through the real repositories, and assertion helpers for the REST tests."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx

from domain.merchants.model import Merchant
from domain.notifications.model import (
    Attempt,
    DeadLetter,
    DeadLetterKind,
    Delivery,
    DeliveryStatus,
)
from domain.shared.ids import new_id
from domain.subscriptions.model import Subscription
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.stores.repositories import StoreUnit
from tests.unit.gateway.fakes import Gateway

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
SECRET = "whsec_rest_tests_secret"


async def new_subscription(
    gateway: Gateway, merchant: Merchant, status: SubscriptionStatus = SubscriptionStatus.ACTIVE, **extra: Any
) -> Subscription:
    now = gateway.clock()
    subscription = Subscription(
        id=new_id("sub"),
        merchant_id=merchant.id,
        status=status,
        current_period_start=now,
        current_period_end=now + timedelta(days=30),
        created_at=now,
        updated_at=now,
        **{"customer_id": "cus_1", "plan_id": "plan_1", **extra},
    )

    async def work(unit: StoreUnit) -> None:
        await unit.subscriptions.add(subscription)

    await gateway.run(work)
    return subscription


async def new_delivery(
    gateway: Gateway, merchant: Merchant, endpoint_id: str, status: DeliveryStatus = DeliveryStatus.FAILED
) -> Delivery:
    now = gateway.clock()
    delivery = Delivery(
        id=new_id("dlv"),
        merchant_id=merchant.id,
        endpoint_id=endpoint_id,
        message_id=new_id("msg"),
        event_type="subscription.activated",
        status=status,
        attempts=(
            Attempt(at=now, status_code=500, duration_ms=120, error="server error"),
            Attempt(at=now + timedelta(seconds=5), status_code=None, duration_ms=15000, error="timeout"),
        ),
        next_attempt_at=now + timedelta(minutes=5),
        created_at=now,
        updated_at=now,
    )

    async def work(unit: StoreUnit) -> None:
        await unit.deliveries.add(delivery)

    await gateway.run(work)
    return delivery


async def new_dead_letter(gateway: Gateway, merchant: Merchant, kind: DeadLetterKind) -> DeadLetter:
    dead = DeadLetter(
        id=new_id("dl"),
        merchant_id=merchant.id,
        kind=kind,
        delivery_id=new_id("dlv"),
        reason="retries exhausted",
        created_at=gateway.clock(),
    )

    async def work(unit: StoreUnit) -> None:
        await unit.dead_letters.add(dead)

    await gateway.run(work)
    return dead


async def create(client: httpx.AsyncClient, path: str, body: Any) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def assert_error(response: httpx.Response, status: int, error_type: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["type"] == error_type
    assert isinstance(response.json()["error"]["message"], str)
