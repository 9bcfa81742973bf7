"""The registry of outbound notification types: complete, and true to the bodies really sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import msgspec

from domain.notifications.health import disabled_message
from domain.notifications.model import Endpoint, SigningSecret
from domain.notifications.payload import message_body
from domain.notifications.probes import probe_message
from domain.shared.events import EventType
from domain.shared.outbox import OutboxMessage
from domain.subscriptions.model import Customer, Interval, Plan, Subscription, notification_view
from domain.subscriptions.state_machine import SubscriptionStatus
from gateway.openapi import document
from gateway.schemas.notifications import NOTIFICATION_TYPES

NOW = datetime(2025, 1, 15, 12, tzinfo=UTC)
ENDPOINT = Endpoint(
    id="ep_1",
    merchant_id="mer_1",
    url="https://hooks.example.com/a",
    event_types=(),
    description="Orders",
    enabled=True,
    secrets=(SigningSecret(value="whsec_dGVzdA=="),),
    created_at=NOW,
)


def conforms(event_type: EventType, body: bytes) -> None:
    msgspec.json.decode(body, type=NOTIFICATION_TYPES[event_type].body)


def test_every_type_is_registered_with_an_example_of_its_own_shape() -> None:
    assert set(NOTIFICATION_TYPES) == set(EventType)
    for kind in NOTIFICATION_TYPES.values():
        conforms(kind.event_type, json.dumps(kind.example).encode())
        assert kind.example["type"] == kind.event_type.value
        assert kind.schema()["$ref"].startswith("#/$defs/")


def test_the_bodies_the_service_sends_match_their_registered_schema() -> None:
    subscription = Subscription(
        id="sub_1",
        merchant_id="mer_1",
        customer_id="cus_1",
        plan_id="plan_1",
        status=SubscriptionStatus.ACTIVE,
        current_period_start=NOW,
        current_period_end=NOW + timedelta(days=30),
        created_at=NOW,
        updated_at=NOW,
        provider="stripe",
        provider_subscription_id="sub_stripe",
    )
    plan = Plan(
        id="plan_1",
        merchant_id="mer_1",
        name="Pro",
        amount=900,
        currency="usd",
        interval=Interval.MONTH,
        created_at=NOW,
    )
    customer = Customer(id="cus_1", merchant_id="mer_1", email=None, name=None, created_at=NOW)
    view = notification_view(subscription, customer=customer, plan=plan)
    payments = {
        EventType.PAYMENT_SUCCEEDED: {"provider_invoice_id": "in_1", "amount": 900, "currency": "usd"},
        EventType.PAYMENT_FAILED: {
            "provider_invoice_id": "in_1",
            "amount": 900,
            "currency": "usd",
            "failure": "declined",
            "attempt": 2,
        },
    }
    for event_type in EventType:
        if event_type.value.startswith("endpoint."):
            continue
        data = {"subscription": view} | ({"payment": payments[event_type]} if event_type in payments else {})
        message = OutboxMessage(
            id="msg_1",
            merchant_id="mer_1",
            event_type=event_type,
            subject_id="sub_1",
            occurred_at=NOW,
            data=data,
        )
        conforms(event_type, message_body(message))
    conforms(EventType.ENDPOINT_DISABLED, message_body(disabled_message(ENDPOINT, NOW, "410 Gone")))
    conforms(EventType.ENDPOINT_TEST, message_body(probe_message(ENDPOINT, NOW)))


def test_openapi_describes_every_type_under_webhooks() -> None:
    described = document([])
    components = described["components"]["schemas"]
    for event_type in EventType:
        post = described["webhooks"][event_type.value]["post"]
        ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.removeprefix("#/components/schemas/") in components
