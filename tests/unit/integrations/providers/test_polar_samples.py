"""Events made up by `subgate events send polar`, read back by the service's own Polar adapter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from domain.subscriptions.commands import RecordPayment, SyncSubscription
from domain.subscriptions.model import Interval
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.providers.interface import SignedRequest
from integrations.providers.polar.adapter import PolarAdapter
from integrations.providers.polar.samples import EVENT_TYPES, SAMPLES, build_event
from integrations.providers.samples import EventSpec, encode
from tests.support.signatures import POLAR_SECRET

NOW = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
END = datetime(2025, 2, 28, 12, 0, tzinfo=UTC)
SUBSCRIPTION = "9d3f1f0e-5b8a-4c38-9d52-0c7f0b1a2e11"
CUSTOMER = "0b7c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d"


def _spec(event_type: str, **fields: Any) -> EventSpec:
    return EventSpec(type=event_type, now=NOW, subscription_id=SUBSCRIPTION, customer_id=CUSTOMER, **fields)


def _commands(event: dict[str, Any]) -> Any:
    return PolarAdapter().normalize(encode(event), "mer_1", "src_1")


def test_a_created_subscription_syncs_with_its_period_price_and_customer() -> None:
    [command] = _commands(build_event(_spec("subscription.created", amount=900, currency="eur")))

    assert isinstance(command, SyncSubscription)
    assert (command.provider, command.provider_subscription_id) == ("polar", SUBSCRIPTION)
    assert command.provider_customer_id == CUSTOMER
    assert command.status is SubscriptionStatus.ACTIVE
    assert command.observed_at == NOW
    assert (command.current_period_start, command.current_period_end) == (NOW, END)
    assert (command.price.amount, command.price.currency, command.price.interval) == (
        900,
        "eur",
        Interval.MONTH,
    )


def test_a_revoked_subscription_is_over_and_a_canceled_one_ends_with_its_period() -> None:
    [revoked] = _commands(build_event(_spec("subscription.revoked")))
    [canceled] = _commands(build_event(_spec("subscription.canceled")))

    assert revoked.status is SubscriptionStatus.CANCELED
    assert canceled.status is SubscriptionStatus.ACTIVE
    assert canceled.cancel_at_period_end is True


def test_a_paid_order_is_a_payment_of_its_subscription() -> None:
    [command] = _commands(build_event(_spec("order.paid", amount=4200)))

    assert isinstance(command, RecordPayment)
    assert command.provider_subscription_id == SUBSCRIPTION
    assert command.amount_paid == 4200
    assert (command.period_start, command.period_end) == (NOW, END)


def test_every_offered_type_is_one_the_adapter_handles() -> None:
    for event_type in EVENT_TYPES:
        assert isinstance(_commands(build_event(_spec(event_type))), list), event_type


def test_a_signed_sample_verifies_and_its_envelope_reads() -> None:
    sample = SAMPLES.signed(_spec("subscription.updated", event_id="msg_given"), POLAR_SECRET)
    adapter = PolarAdapter()

    adapter.verify(
        SignedRequest(
            body=sample.body, headers=sample.headers, secrets=[POLAR_SECRET], now=NOW, tolerance_seconds=300
        )
    )
    envelope = adapter.envelope(sample.body, sample.headers)

    assert sample.event_id == "msg_given"
    assert (envelope.event_id, envelope.type, envelope.created_at) == (
        "msg_given",
        "subscription.updated",
        NOW,
    )


def test_ids_made_up_are_new_each_time_and_a_subscription_keeps_its_customer() -> None:
    made = {SAMPLES.new_subscription_id() for _ in range(50)}

    assert len(made) == 50
    assert SAMPLES.customer_of(SUBSCRIPTION) == SAMPLES.customer_of(SUBSCRIPTION)
    assert SAMPLES.customer_of(SUBSCRIPTION) != SAMPLES.customer_of(next(iter(made)))


def test_an_unsupported_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported event type"):
        build_event(_spec("checkout.created"))
