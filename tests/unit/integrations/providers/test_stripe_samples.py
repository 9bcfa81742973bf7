"""Events made up by `subgate events send stripe`, read back by the service's own Stripe adapter."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.subscriptions.commands import RecordPayment, SyncSubscription
from domain.subscriptions.model import Interval
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.providers.samples import EventSpec, period_end
from integrations.providers.stripe.adapter import StripeAdapter
from integrations.providers.stripe.samples import (
    CURRENT_API_VERSION as API_VERSION,
    EVENT_TYPES,
    build_event,
    stripe_id,
)

NOW = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
END = datetime(2025, 2, 28, 12, 0, tzinfo=UTC)


def _spec(event_type: str, **fields: Any) -> EventSpec:
    return EventSpec(type=event_type, now=NOW, subscription_id="sub_abc", customer_id="cus_abc", **fields)


def _commands(event: dict[str, Any]) -> Any:
    return StripeAdapter().normalize(json.dumps(event).encode(), "mer_1", "src_1")


def test_created_event_becomes_a_subscription_sync_with_the_period_from_the_item() -> None:
    event = build_event(_spec("customer.subscription.created", amount=900, currency="eur"))

    [command] = _commands(event)

    assert isinstance(command, SyncSubscription)
    assert command.provider_subscription_id == "sub_abc"
    assert command.provider_customer_id == "cus_abc"
    assert command.status is SubscriptionStatus.ACTIVE
    assert command.observed_at == NOW
    assert (command.current_period_start, command.current_period_end) == (NOW, END)
    assert command.price.amount == 900
    assert command.price.currency == "eur"
    assert command.price.interval is Interval.MONTH


def test_the_shape_is_the_current_api_one() -> None:
    event = build_event(_spec("customer.subscription.updated"))
    subscription = event["data"]["object"]

    assert event["api_version"] == API_VERSION
    assert event["object"] == "event"
    assert "current_period_start" not in subscription
    assert subscription["items"]["data"][0]["current_period_end"] == int(END.timestamp())


@pytest.mark.parametrize("status", ["trialing", "past_due", "paused"])
def test_the_chosen_status_is_sent(status: str) -> None:
    [command] = _commands(build_event(_spec("customer.subscription.updated", status=status)))

    assert command.status.value == status


def test_trialing_ends_its_trial_with_the_period() -> None:
    [command] = _commands(build_event(_spec("customer.subscription.created", status="trialing")))

    assert command.trial_end == END


def test_cancel_at_period_end_is_sent() -> None:
    event = build_event(_spec("customer.subscription.updated", cancel_at_period_end=True))

    [command] = _commands(event)

    assert command.cancel_at_period_end is True
    assert event["data"]["object"]["cancel_at"] == int(END.timestamp())


def test_deleted_event_is_a_canceled_subscription() -> None:
    event = build_event(_spec("customer.subscription.deleted"))

    [command] = _commands(event)

    assert command.status is SubscriptionStatus.CANCELED
    assert command.canceled_at == NOW
    assert event["data"]["object"]["status"] == "canceled"


def test_invoice_paid_names_its_subscription_under_parent() -> None:
    event = build_event(_spec("invoice.paid", amount=4200))
    invoice = event["data"]["object"]

    [command] = _commands(event)

    assert isinstance(command, RecordPayment)
    assert command.provider_subscription_id == "sub_abc"
    assert command.amount_paid == 4200
    assert (command.period_start, command.period_end) == (NOW, END)
    assert invoice["parent"]["subscription_details"]["subscription"] == "sub_abc"
    assert "subscription" not in invoice


def test_every_offered_type_is_one_the_adapter_handles() -> None:
    for event_type in EVENT_TYPES:
        assert isinstance(_commands(build_event(_spec(event_type))), list), event_type


def test_event_ids_are_new_on_each_call_unless_given() -> None:
    first, second = build_event(_spec("invoice.paid")), build_event(_spec("invoice.paid"))

    assert first["id"] != second["id"]
    assert first["data"]["object"]["id"] != second["data"]["object"]["id"]
    assert build_event(_spec("invoice.paid", event_id="evt_given"))["id"] == "evt_given"


def test_envelope_is_readable_by_the_gateway() -> None:
    event = build_event(_spec("customer.subscription.created", event_id="evt_1"))

    envelope = StripeAdapter().envelope(json.dumps(event).encode(), {})

    assert (envelope.event_id, envelope.type, envelope.created_at) == ("evt_1", event["type"], NOW)


def test_an_unsupported_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported event type"):
        build_event(_spec("charge.succeeded"))


def test_stripe_ids_look_like_stripe_ones() -> None:
    made = {stripe_id("sub") for _ in range(100)}

    assert len(made) == 100
    assert all(m.startswith("sub_") and len(m) == 28 and m[4:].isalnum() for m in made)


@pytest.mark.parametrize(
    ("start", "interval", "end"),
    [
        (datetime(2025, 1, 31, tzinfo=UTC), "month", datetime(2025, 2, 28, tzinfo=UTC)),
        (datetime(2024, 1, 31, tzinfo=UTC), "month", datetime(2024, 2, 29, tzinfo=UTC)),
        (datetime(2025, 12, 15, tzinfo=UTC), "month", datetime(2026, 1, 15, tzinfo=UTC)),
        (datetime(2024, 2, 29, tzinfo=UTC), "year", datetime(2025, 2, 28, tzinfo=UTC)),
        (datetime(2025, 3, 1, tzinfo=UTC), "week", datetime(2025, 3, 8, tzinfo=UTC)),
        (datetime(2025, 3, 1, tzinfo=UTC), "day", datetime(2025, 3, 2, tzinfo=UTC)),
    ],
)
def test_period_end_is_one_interval_later(start: datetime, interval: str, end: datetime) -> None:
    assert period_end(start, interval) == end
