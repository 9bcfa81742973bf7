"""Stored documents: every domain value round-trips, in the stored forms the stores rely on.

Times are fixed-width ISO 8601 UTC strings (string order is time order in the indexes),
bytes are base64, enums their values, tuples arrays; documents written before a field
existed still read, with the field's default.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from domain.inbound.model import InboundEvent, InboundStatus
from domain.merchants.model import Connection, Merchant, Provider
from domain.notifications.model import (
    Attempt,
    Channel,
    DeadLetter,
    DeadLetterKind,
    Delivery,
    DeliveryStatus,
    Endpoint,
    SigningSecret,
)
from domain.shared.events import EventType
from domain.shared.outbox import OutboxMessage
from domain.subscriptions.model import Customer, Interval, Plan, Subscription, Unfinished
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.stores import codecs
from integrations.stores.codecs import DocumentCodec

FIXED_WIDTH = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
ON_THE_SECOND = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
LATER = ON_THE_SECOND + timedelta(microseconds=250_000)


def every_field_set() -> list[Any]:
    """One value of each stored type, with no field left at its default."""
    t = ON_THE_SECOND
    return [
        Merchant(id="mer_1", name="Acme", api_key_hash="h" * 64, created_at=t),
        Connection(
            id="conn_1",
            merchant_id="mer_1",
            provider=Provider.POLAR,
            webhook_secrets=("whsec_a", "whsec_b"),
            api_key="sk_1",
            created_at=LATER,
            signing_scheme="standard_webhooks",
        ),
        Customer(
            id="cus_1",
            merchant_id="mer_1",
            email="a@example.com",
            name="Ann",
            provider_customer_ids={"stripe": "cus_S"},
            created_at=t,
            erased_at=LATER,
            version=3,
        ),
        Plan(
            id="plan_1",
            merchant_id="mer_1",
            name="Pro",
            amount=1200,
            currency="eur",
            interval=Interval.YEAR,
            interval_count=2,
            trial_days=14,
            provider_price_ids={"stripe": "price_S"},
            archived=True,
            created_at=t,
            version=2,
        ),
        Subscription(
            id="sub_1",
            merchant_id="mer_1",
            customer_id="cus_1",
            plan_id="plan_1",
            status=SubscriptionStatus.PAST_DUE,
            current_period_start=t,
            current_period_end=t + timedelta(days=30),
            cancel_at_period_end=True,
            trial_end=LATER,
            canceled_at=LATER,
            provider="stripe",
            provider_subscription_id="sub_S",
            provider_watermark=LATER,
            renewal_period_start=t + timedelta(days=30),
            renewal_period_end=t + timedelta(days=60),
            renewal_position=LATER,
            provider_managed=True,
            past_due_since=t,
            trial_notice_for=LATER,
            next_transition_at=t + timedelta(days=7),
            created_at=t,
            updated_at=LATER,
            unfinished=Unfinished(
                keys=("invoice:stripe:mer_1:in_1",),
                messages=(
                    OutboxMessage(
                        id="msg_0",
                        merchant_id="mer_1",
                        event_type=EventType.PAYMENT_SUCCEEDED,
                        subject_id="sub_1",
                        occurred_at=t,
                        data={"payment": {"amount": 1200}},
                    ),
                ),
            ),
            version=5,
        ),
        OutboxMessage(
            id="msg_1",
            merchant_id="mer_1",
            event_type=EventType.PAYMENT_FAILED,
            subject_id="sub_1",
            occurred_at=LATER,
            data={"subscription": {"id": "sub_1", "amount": 1200}},
            dispatched=True,
            trace_carrier={"traceparent": "00-a-b-01"},
            payload_expired_at=LATER,
        ),
        InboundEvent(
            id="evt_1",
            merchant_id="mer_1",
            connection_id="conn_1",
            provider="stripe",
            provider_event_id="evt_S",
            type="invoice.paid",
            status=InboundStatus.FAILED,
            source_ip="203.0.113.7",
            received_at=t,
            body=b'{"id": "evt_S"}\xff\x00',
            provider_created_at=LATER,
            reason="boom",
            attempts=2,
            processed_at=LATER,
            trace_carrier={"traceparent": "00-a-b-01"},
            due_at=t + timedelta(seconds=30),
            lease_owner="worker-1",
            payload_expired_at=LATER,
            version=4,
        ),
        Endpoint(
            id="ep_1",
            merchant_id="mer_1",
            url="https://hooks.example.com",
            event_types=("payment.failed",),
            description="main",
            enabled=False,
            secrets=(SigningSecret(value="whsec_new"), SigningSecret(value="whsec_old", expires_at=LATER)),
            created_at=t,
            failing_since=t,
            deleted_at=LATER,
            version=6,
        ),
        Delivery(
            id="dlv_1",
            merchant_id="mer_1",
            endpoint_id=None,
            message_id="msg_1",
            event_type="payment.failed",
            status=DeliveryStatus.FAILED,
            attempts=(
                Attempt(
                    at=t,
                    status_code=500,
                    duration_ms=12,
                    error="HTTP 500",
                    response_excerpt="no",
                    headers={"webhook-id": "msg_1"},
                ),
                Attempt(at=LATER, status_code=None, duration_ms=15000, error="timeout"),
            ),
            next_attempt_at=LATER,
            created_at=t,
            updated_at=LATER,
            lease_owner="worker-2",
            channel=Channel.EMAIL,
            recipient="a@example.com",
            lane="a@example.com|sub_1",
            order_given_up=True,
            retry_from=1,
            customer_id="cus_1",
            payload_expired_at=LATER,
            erased_at=LATER,
            subject_id="sub_1",
            version=7,
        ),
        DeadLetter(
            id="dl_1",
            merchant_id="mer_1",
            kind=DeadLetterKind.EMAIL,
            delivery_id="dlv_1",
            reason="retries exhausted",
            created_at=t,
            replayed_at=LATER,
            endpoint_id="ep_1",
            version=1,
        ),
    ]


CODECS: dict[type[Any], tuple[Any, Any]] = {
    Merchant: (codecs.merchant_doc, codecs.merchant_from),
    Connection: (codecs.connection_doc, codecs.connection_from),
    Customer: (codecs.customer_doc, codecs.customer_from),
    Plan: (codecs.plan_doc, codecs.plan_from),
    Subscription: (codecs.subscription_doc, codecs.subscription_from),
    OutboxMessage: (codecs.outbox_doc, codecs.outbox_from),
    InboundEvent: (codecs.inbound_doc, codecs.inbound_from),
    Endpoint: (codecs.endpoint_doc, codecs.endpoint_from),
    Delivery: (codecs.delivery_doc, codecs.delivery_from),
    DeadLetter: (codecs.dead_letter_doc, codecs.dead_letter_from),
}
VALUES = every_field_set()


def test_every_value_sets_every_field_away_from_its_default() -> None:
    """Otherwise a field the codec dropped would come back equal, by its default."""
    for value in VALUES:
        for f in fields(value):
            default = f.default_factory() if callable(f.default_factory) else f.default
            assert getattr(value, f.name) != default, (type(value).__name__, f.name)
    assert {type(v) for v in VALUES} == set(CODECS)


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_a_value_comes_back_equal_from_its_document(value: Any) -> None:
    to_doc, from_doc = CODECS[type(value)]
    doc = to_doc(value)

    assert from_doc(doc) == value
    assert from_doc(json.loads(json.dumps(doc))) == value  # what a JSON store hands back


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_documents_hold_only_json_values_with_fixed_width_times(value: Any) -> None:
    to_doc, _ = CODECS[type(value)]
    doc = to_doc(value)

    assert doc["id"] == value.id
    assert isinstance(doc["version"], int)
    for path, leaf in leaves(doc):
        assert leaf is None or isinstance(leaf, str | int | float | bool), path
        if isinstance(leaf, str) and re.match(r"^\d{4}-\d{2}-\d{2}T", leaf):
            assert FIXED_WIDTH.match(leaf), (path, leaf)


def leaves(value: Any, path: str = "$") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in leaves(item, f"{path}.{key}")]
    assert not isinstance(value, tuple), f"{path} is a tuple, not a list"
    if isinstance(value, list):
        return [leaf for i, item in enumerate(value) for leaf in leaves(item, f"{path}[{i}]")]
    return [(path, value)]


def test_the_stored_shape_of_a_delivery() -> None:
    delivery = next(v for v in VALUES if isinstance(v, Delivery))

    assert codecs.delivery_doc(delivery) == {
        "id": "dlv_1",
        "version": 7,
        "merchant_id": "mer_1",
        "endpoint_id": None,
        "message_id": "msg_1",
        "event_type": "payment.failed",
        "status": "failed",
        "attempts": [
            {
                "at": "2025-06-01T12:00:00.000000Z",
                "status_code": 500,
                "duration_ms": 12,
                "error": "HTTP 500",
                "response_excerpt": "no",
                "headers": {"webhook-id": "msg_1"},
            },
            {
                "at": "2025-06-01T12:00:00.250000Z",
                "status_code": None,
                "duration_ms": 15000,
                "error": "timeout",
                "response_excerpt": None,
                "headers": {},
            },
        ],
        "next_attempt_at": "2025-06-01T12:00:00.250000Z",
        "created_at": "2025-06-01T12:00:00.000000Z",
        "updated_at": "2025-06-01T12:00:00.250000Z",
        "lease_owner": "worker-2",
        "channel": "email",
        "recipient": "a@example.com",
        "lane": "a@example.com|sub_1",
        "order_given_up": True,
        "retry_from": 1,
        "customer_id": "cus_1",
        "payload_expired_at": "2025-06-01T12:00:00.250000Z",
        "erased_at": "2025-06-01T12:00:00.250000Z",
        "subject_id": "sub_1",
    }


def test_bytes_are_base64_and_a_time_on_the_second_sorts_before_one_just_after() -> None:
    event = next(v for v in VALUES if isinstance(v, InboundEvent))
    doc = codecs.inbound_doc(event)
    endpoint = codecs.endpoint_doc(next(v for v in VALUES if isinstance(v, Endpoint)))

    assert base64.b64decode(doc["body"]) == event.body
    assert doc["received_at"] < doc["provider_created_at"]  # 12:00:00 before 12:00:00.25, as strings
    assert endpoint["secrets"] == [
        {"value": "whsec_new", "expires_at": None},
        {"value": "whsec_old", "expires_at": "2025-06-01T12:00:00.250000Z"},
    ]


def test_values_without_a_version_of_their_own_are_stored_at_version_0() -> None:
    for value in VALUES:
        if not hasattr(value, "version"):
            to_doc, _ = CODECS[type(value)]
            assert to_doc(value)["version"] == 0


def test_an_inbound_event_without_a_due_time_is_due_on_arrival() -> None:
    event = next(v for v in VALUES if isinstance(v, InboundEvent))
    unset = InboundEvent(**{f.name: getattr(event, f.name) for f in fields(event)} | {"due_at": None})

    doc = codecs.inbound_doc(unset)

    assert doc["due_at"] == doc["received_at"] == "2025-06-01T12:00:00.000000Z"


def test_documents_stored_before_newer_fields_existed_read_with_their_defaults() -> None:
    t = "2025-01-15T12:00:00.000000Z"
    delivery = codecs.delivery_from(
        {
            "id": "dlv_old",
            "version": 2,
            "merchant_id": "mer_1",
            "endpoint_id": "ep_1",
            "message_id": "msg_1",
            "event_type": "subscription.activated",
            "status": "succeeded",
            "attempts": [
                {"at": t, "status_code": 200, "duration_ms": 5, "error": None, "response_excerpt": None}
            ],
            "next_attempt_at": None,
            "created_at": t,
            "updated_at": t,
        }
    )
    endpoint = codecs.endpoint_from(
        {
            "id": "ep_old",
            "version": 0,
            "merchant_id": "mer_1",
            "url": "https://a.example.com",
            "event_types": [],
            "description": None,
            "enabled": True,
            "secrets": [{"value": "whsec_x", "expires_at": None}],
            "created_at": t,
        }
    )
    subscription = codecs.subscription_from(
        {
            "id": "sub_old",
            "version": 1,
            "merchant_id": "mer_1",
            "customer_id": "cus_1",
            "plan_id": "plan_1",
            "status": "active",
            "current_period_start": t,
            "current_period_end": None,
            "cancel_at_period_end": False,
            "trial_end": None,
            "canceled_at": None,
            "provider": "stripe",
            "provider_subscription_id": "sub_S",
            "provider_watermark": t,
            "created_at": t,
            "updated_at": t,
        }
    )
    plan = codecs.plan_from(
        {
            "id": "plan_old",
            "version": 0,
            "merchant_id": "mer_1",
            "name": "Pro",
            "amount": 100,
            "currency": "usd",
            "interval": "month",
            "interval_count": 1,
            "trial_days": 0,
            "provider_price_ids": {},
            "created_at": t,
        }
    )

    assert (delivery.channel, delivery.recipient, delivery.lane) == (Channel.WEBHOOK, None, None)
    assert (delivery.order_given_up, delivery.retry_from, delivery.lease_owner) == (False, 0, None)
    assert delivery.attempts[0].at == datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
    assert (endpoint.failing_since, endpoint.deleted_at) == (None, None)
    # Every subscription stored before subgate ran its own came from a provider.
    assert subscription.provider_managed is True
    assert (subscription.past_due_since, subscription.next_transition_at) == (None, None)
    assert plan.archived is False


def test_a_subscription_without_a_provider_stored_before_provider_managed_is_run_here() -> None:
    doc = codecs.subscription_doc(next(v for v in VALUES if isinstance(v, Subscription)))
    del doc["provider_managed"]

    assert codecs.subscription_from(doc | {"provider": None}).provider_managed is False
    assert codecs.subscription_from(doc).provider_managed is True


@dataclass(frozen=True, slots=True, kw_only=True)
class Dated:
    id: str
    on: date


def test_a_stored_shape_without_a_defined_form_is_refused_up_front() -> None:
    with pytest.raises(TypeError, match="no stored form"):
        DocumentCodec(Dated)
