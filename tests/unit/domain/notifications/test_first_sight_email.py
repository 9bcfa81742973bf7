"""A subscription first seen already active (the usual checkout) welcomes its customer, once.

Its `subscription.created` message makes the activation email (an email delivery of type
`subscription.activated`); one first seen in any other status waits for its move to active,
which sends it then. Either way the customer gets one activation email per subscription.
"""

from __future__ import annotations

from typing import Any

import pytest

from domain.notifications.model import Channel
from domain.shared.events import EventType
from integrations.providers.interface import Ignored
from integrations.providers.stripe.adapter import StripeAdapter
from integrations.providers.stripe.samples import T0, subscription_event
from tests.support.fakes import Services
from tests.unit.domain.notifications.test_outbound_management import (
    MERCHANT,
    Journal,
    RecordingMailer,
    add_customer,
    add_message,
    deliveries,
    journal,
    mailer,
    run,
    services,
)

__all__ = ["journal", "mailer", "services"]  # fixtures this module uses


def created(status: str) -> dict[str, Any]:
    return {"subscription": {"id": "sub_1", "customer_id": "cus_1", "status": status}}


async def test_a_subscription_created_active_sends_the_activation_email(
    services: Services, mailer: RecordingMailer
) -> None:
    await add_customer(services, "ada@example.com")
    message = await add_message(services, EventType.SUBSCRIPTION_CREATED, data=created("active"))

    [sent] = await run(services)

    assert (sent.channel, sent.event_type, sent.message_id) == (
        Channel.EMAIL,
        "subscription.activated",
        message.id,
    )
    assert [(e.to, e.event_type, e.message_id) for e in mailer.sent] == [
        ("ada@example.com", "subscription.activated", message.id)
    ]


@pytest.mark.parametrize("status", ["pending", "trialing", "past_due", "paused", "canceled"])
async def test_a_subscription_created_in_another_status_sends_no_email(
    services: Services, mailer: RecordingMailer, status: str
) -> None:
    await add_customer(services, "ada@example.com")
    await add_message(services, EventType.SUBSCRIPTION_CREATED, data=created(status))

    assert await run(services) == []
    assert mailer.sent == []


async def test_a_subscription_created_active_without_a_known_address_sends_nothing_quietly(
    services: Services, mailer: RecordingMailer, journal: Journal
) -> None:
    await add_message(services, EventType.SUBSCRIPTION_CREATED, data=created("active"))

    assert await run(services) == []
    assert mailer.sent == []
    # A welcome is only for a customer with an address: its absence is not a failure to report.
    assert "email_not_sent" not in journal.events()


async def test_a_cancellation_without_a_known_address_is_reported(
    services: Services, mailer: RecordingMailer, journal: Journal
) -> None:
    await add_message(services, EventType.SUBSCRIPTION_CANCELED)

    assert await run(services) == []
    assert mailer.sent == []
    assert "email_not_sent" in journal.events()


async def apply(services: Services, *bodies: bytes) -> None:
    adapter = StripeAdapter()
    for n, body in enumerate(bodies):
        commands = adapter.normalize(body, MERCHANT, f"src_{n}")
        assert not isinstance(commands, Ignored)
        for command in commands:
            await services.subscriptions.apply(command)


@pytest.mark.parametrize(
    "first",
    ["active", "incomplete", "trialing"],
    ids=["born-active", "paid-later", "trial-first"],
)
async def test_one_activation_email_per_subscription_whatever_it_was_first_seen_as(
    services: Services, mailer: RecordingMailer, first: str
) -> None:
    customer = {"id": "cus_stripe_ada", "email": "ada@example.com"}
    await apply(
        services,
        subscription_event("customer.subscription.created", created=T0, customer=customer, status=first),
        subscription_event(created=T0 + 60, customer=customer, status="active"),
        subscription_event(created=T0 + 120, customer=customer, status="active", cancel_at_period_end=True),
    )

    await run(services)

    assert [(e.to, e.event_type) for e in mailer.sent] == [("ada@example.com", "subscription.activated")]
    assert len(deliveries(services, Channel.EMAIL)) == 1
