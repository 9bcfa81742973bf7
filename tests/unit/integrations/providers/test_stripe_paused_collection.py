"""A Stripe subscription whose payment collection is paused is `paused` here (how subgate pauses one).

Stripe keeps such a subscription's status (`active`, say) and sets `pause_collection`;
subgate reports it `paused`, orders it like a pause among same-second snapshots, and reads
a snapshot whose `previous_attributes.pause_collection` was set as a resumption.
"""

from __future__ import annotations

from typing import Any

import pytest

from domain.subscriptions.commands import SyncSubscription
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.providers.samples import encode
from integrations.providers.stripe.adapter import StripeAdapter
from integrations.providers.stripe.management import view_of
from integrations.providers.stripe.ordering import tie_break
from integrations.providers.stripe.samples import event, subscription_object

PAUSED = {"behavior": "void", "resumes_at": None}


def sync(obj: dict[str, Any], previous: dict[str, Any] | None = None) -> SyncSubscription:
    body = encode(event("customer.subscription.updated", obj, previous_attributes=previous))
    [command] = StripeAdapter().normalize(body, "mer_1", "evt_1")  # type: ignore[misc]  # one command, a sync
    assert isinstance(command, SyncSubscription)
    return command


@pytest.mark.parametrize("status", ["active", "trialing", "past_due", "unpaid"])
def test_paused_collection_reads_as_paused(status: str) -> None:
    obj = {**subscription_object(status=status), "pause_collection": PAUSED}

    assert sync(obj).status == SubscriptionStatus.PAUSED
    assert view_of(obj).status == SubscriptionStatus.PAUSED


@pytest.mark.parametrize(("status", "ours"), [("canceled", "canceled"), ("incomplete", "pending")])
def test_a_pause_of_collection_does_not_hide_a_final_or_first_status(status: str, ours: str) -> None:
    obj = {**subscription_object(status=status), "pause_collection": PAUSED}

    assert sync(obj).status.value == ours


def test_collection_not_paused_keeps_the_status() -> None:
    obj = {**subscription_object(status="active"), "pause_collection": None}

    assert sync(obj).status == SubscriptionStatus.ACTIVE


def test_within_one_second_a_pause_comes_after_the_activation_and_the_resume_after_the_pause() -> None:
    active = sync(
        {**subscription_object(status="active"), "pause_collection": None}, {"status": "incomplete"}
    )
    paused = sync(
        {**subscription_object(status="active"), "pause_collection": PAUSED}, {"pause_collection": None}
    )
    resumed = sync(
        {**subscription_object(status="active"), "pause_collection": None}, {"pause_collection": PAUSED}
    )

    assert active.tie_break < paused.tie_break < resumed.tie_break
    assert resumed.tie_break == tie_break("customer.subscription.updated", "active", {"status": "paused"})
