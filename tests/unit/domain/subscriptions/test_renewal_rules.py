"""A paid renewal moves the paid-through period of a subscription the provider's snapshots describe.

One rule at a time (the conformance suite checks every provider and every order): a renewal
applies when it is newer than the newest snapshot, ends later than the stored period, and the
subscription is live; it leaves the status and the watermark to the snapshots; a snapshot
older than it keeps its period; `subscription.renewed` goes out once per period end.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from domain.shared.events import EventType
from domain.subscriptions.internal import renewal_key, renewed_once
from domain.subscriptions.lifecycle import apply_payment, apply_sync
from domain.subscriptions.model import Subscription
from domain.subscriptions.recording import claim_all
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.stores.repositories import StoreUnit
from tests.support.fakes import build_services
from tests.unit.domain.subscriptions.test_lifecycle_rules import NOW, day, payment, snapshot, subscription

S = SubscriptionStatus
RENEWAL = payment(renewal=True)  # paid at day 31 for days 30..60; the stored period is 0..30


def test_a_paid_renewal_moves_the_period_and_says_renewed_and_paid() -> None:
    after, events = apply_payment(subscription(), RENEWAL, NOW)

    assert (after.current_period_start, after.current_period_end) == (day(30), day(60))
    assert (after.renewal_period_start, after.renewal_period_end, after.renewal_position) == (
        day(30),
        day(60),
        day(31),
    )
    assert (after.status, after.provider_watermark, after.updated_at) == (S.ACTIVE, day(1), NOW)
    assert events == [EventType.SUBSCRIPTION_RENEWED, EventType.PAYMENT_SUCCEEDED]


def test_a_renewal_of_a_delinquent_subscription_moves_the_period_but_not_the_status() -> None:
    after, events = apply_payment(subscription(S.PAST_DUE), RENEWAL, NOW)

    assert (after.status, after.current_period_end) == (S.PAST_DUE, day(60))
    assert events == [EventType.SUBSCRIPTION_UPDATED, EventType.PAYMENT_SUCCEEDED]


@pytest.mark.parametrize(
    ("sub", "cmd"),
    [
        pytest.param(subscription(), payment(), id="not-a-renewal"),
        pytest.param(subscription(S.PAUSED), RENEWAL, id="paused"),
        pytest.param(subscription(S.CANCELED), RENEWAL, id="canceled"),
        pytest.param(subscription(S.EXPIRED), RENEWAL, id="expired"),
        pytest.param(subscription(), replace(RENEWAL, period_start=None), id="no-start"),
        pytest.param(subscription(), replace(RENEWAL, period_end=None), id="no-end"),
        pytest.param(subscription(), replace(RENEWAL, period_end=day(30)), id="not-later"),
        pytest.param(subscription(provider_watermark=day(31)), RENEWAL, id="as-old-as-the-snapshot"),
        pytest.param(subscription(provider_watermark=day(40)), RENEWAL, id="older-than-the-snapshot"),
    ],
)
def test_a_renewal_that_does_not_qualify_is_only_a_payment(sub: Subscription, cmd: object) -> None:
    assert isinstance(cmd, type(RENEWAL))
    after, events = apply_payment(sub, cmd, NOW)

    assert after == sub
    assert events == [EventType.PAYMENT_SUCCEEDED]


def test_a_free_renewal_moves_the_period_without_a_payment() -> None:
    after, events = apply_payment(subscription(), replace(RENEWAL, amount_paid=0), NOW)

    assert after.current_period_end == day(60)
    assert events == [EventType.SUBSCRIPTION_RENEWED]


def test_the_renewals_tie_break_places_it_after_a_snapshot_of_the_same_second() -> None:
    same_second = subscription(provider_watermark=day(31) + timedelta(microseconds=150))

    moved, _ = apply_payment(same_second, replace(RENEWAL, tie_break=199), NOW)
    kept, _ = apply_payment(same_second, replace(RENEWAL, tie_break=100), NOW)

    assert (moved.current_period_end, kept.current_period_end) == (day(60), day(30))


def test_a_snapshot_older_than_the_renewal_keeps_the_paid_period_and_brings_the_rest() -> None:
    renewed, _ = apply_payment(subscription(), RENEWAL, NOW)
    older = snapshot(S.PAST_DUE, observed=day(20), cancel_at_period_end=True)

    after, events = apply_sync(renewed, older, NOW)

    assert (after.status, after.cancel_at_period_end) == (S.PAST_DUE, True)
    assert (after.current_period_start, after.current_period_end) == (day(30), day(60))
    assert after.provider_watermark == day(20)
    assert events == [EventType.SUBSCRIPTION_PAST_DUE]


@pytest.mark.parametrize(
    "newer",
    [
        pytest.param(snapshot(observed=day(32)), id="newer-snapshot"),
        pytest.param(snapshot(S.CANCELED, observed=day(20), current_period_end=None), id="final"),
        pytest.param(
            snapshot(observed=day(20), current_period_start=day(30), current_period_end=day(90)),
            id="ends-later",
        ),
    ],
)
def test_a_snapshot_newer_than_the_renewal_or_final_or_ending_later_has_its_own_period(newer: object) -> None:
    assert isinstance(newer, type(snapshot()))
    renewed, _ = apply_payment(subscription(), RENEWAL, NOW)

    after, _ = apply_sync(renewed, newer, NOW)

    assert (after.current_period_start, after.current_period_end) == (
        newer.current_period_start,
        newer.current_period_end,
    )


def test_renewed_is_told_once_per_period_end() -> None:
    async def go() -> list[list[EventType]]:
        services = build_services()
        sub = replace(subscription(), current_period_end=day(60))
        told = []
        for _ in range(2):

            async def work(unit: StoreUnit) -> list[EventType]:
                events, keys = await renewed_once(
                    unit, sub, [EventType.SUBSCRIPTION_RENEWED, EventType.PAYMENT_SUCCEEDED]
                )
                await claim_all(unit, *keys)  # as the change's commit does
                return events

            told.append(await services.txn(work))
        other = replace(sub, current_period_end=day(90))

        async def later(unit: StoreUnit) -> list[EventType]:
            events, keys = await renewed_once(unit, other, [EventType.SUBSCRIPTION_RENEWED])
            await claim_all(unit, *keys)
            return events

        told.append(await services.txn(later))
        return told

    assert asyncio.run(go()) == [
        [EventType.SUBSCRIPTION_RENEWED, EventType.PAYMENT_SUCCEEDED],
        [EventType.SUBSCRIPTION_UPDATED, EventType.PAYMENT_SUCCEEDED],
        [EventType.SUBSCRIPTION_RENEWED],
    ]
    assert renewal_key("mer_1", "sub_1", day(60)) == "renewed:mer_1:sub_1:2025-04-30T00:00:00.000000Z"
