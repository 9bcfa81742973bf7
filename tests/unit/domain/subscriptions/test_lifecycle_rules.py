"""The lifecycle rules one case at a time: what a snapshot or a payment sets, and what it announces.

The property tests in `test_state_machine` check the rules' shape over random inputs; these
pin down the values: which fields a snapshot copies, when a payment moves the period, and
how two snapshots at the same position are settled.

Also two snapshots at one position that differ only in a scheduled cancel still settle one way.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.shared.events import EventType
from domain.subscriptions.commands import ProviderPrice, RecordPayment, SyncSubscription
from domain.subscriptions.lifecycle import StaleUpdate, apply_payment, apply_sync, events_for_change
from domain.subscriptions.model import Interval, Subscription
from domain.subscriptions.state_machine import SubscriptionStatus

S = SubscriptionStatus
BASE = datetime(2025, 3, 1, tzinfo=UTC)
NOW = BASE + timedelta(days=400)
PRICE = ProviderPrice(price_id="price_1", amount=2000, currency="usd", interval=Interval.MONTH)


def day(n: int) -> datetime:
    return BASE + timedelta(days=n)


def subscription(status: SubscriptionStatus = S.ACTIVE, **fields: Any) -> Subscription:
    base = Subscription(
        id="sub_ours",
        merchant_id="mer_1",
        customer_id="cus_ours",
        plan_id="plan_ours",
        status=status,
        current_period_start=day(0),
        current_period_end=day(30),
        provider="stripe",
        provider_subscription_id="sub_theirs",
        provider_watermark=day(1),
        created_at=BASE,
        updated_at=BASE,
    )
    return replace(base, **fields)


def snapshot(
    status: SubscriptionStatus = S.ACTIVE, observed: datetime | None = None, **fields: Any
) -> SyncSubscription:
    base = SyncSubscription(
        source_key="src_1",
        merchant_id="mer_1",
        provider="stripe",
        provider_subscription_id="sub_theirs",
        provider_customer_id="cus_theirs",
        price=PRICE,
        status=status,
        observed_at=observed or day(2),
        current_period_start=day(0),
        current_period_end=day(30),
    )
    return replace(base, **fields)


def payment(amount: int = 2000, **fields: Any) -> RecordPayment:
    base = RecordPayment(
        source_key="in_1",
        merchant_id="mer_1",
        provider="stripe",
        provider_subscription_id="sub_theirs",
        provider_invoice_id="in_1",
        amount_paid=amount,
        currency="usd",
        observed_at=day(31),
        period_start=day(30),
        period_end=day(60),
    )
    return replace(base, **fields)


# --------------------------------------------------------------------------- snapshots


def test_a_snapshot_sets_every_field_it_carries_and_dates_the_change() -> None:
    cmd = snapshot(
        S.TRIALING,
        current_period_start=day(5),
        current_period_end=day(35),
        cancel_at_period_end=True,
        trial_end=day(12),
        canceled_at=day(4),
    )

    after, events = apply_sync(subscription(S.PAUSED), cmd, NOW)

    assert (after.status, after.current_period_start, after.current_period_end) == (
        S.TRIALING,
        day(5),
        day(35),
    )
    assert (after.cancel_at_period_end, after.trial_end, after.canceled_at) == (True, day(12), day(4))
    assert after.provider_watermark == cmd.position
    assert after.updated_at == NOW
    assert events == [EventType.SUBSCRIPTION_RESUMED]


def test_a_snapshot_fills_in_the_provider_link_only_where_none_is_known() -> None:
    unlinked = subscription(S.PENDING, provider=None, provider_subscription_id=None, provider_watermark=None)
    linked = subscription(provider="polar", provider_subscription_id="sub_first")

    filled, _ = apply_sync(unlinked, snapshot(), NOW)
    kept, _ = apply_sync(linked, snapshot(), NOW)

    assert (filled.provider, filled.provider_subscription_id) == ("stripe", "sub_theirs")
    assert (kept.provider, kept.provider_subscription_id) == ("polar", "sub_first")


def test_a_snapshot_that_changes_nothing_visible_announces_nothing_and_keeps_the_date() -> None:
    before = subscription()

    after, events = apply_sync(before, snapshot(), NOW)

    assert events == []
    assert after.updated_at == before.updated_at
    assert after.provider_watermark == day(2)


@pytest.mark.parametrize(
    "change",
    [
        {"current_period_start": day(1)},
        {"cancel_at_period_end": True},
        {"trial_end": day(9)},
        {"canceled_at": day(3)},
    ],
    ids=["period-start", "cancel-at-period-end", "trial-end", "canceled-at"],
)
def test_a_visible_field_alone_is_an_update(change: dict[str, Any]) -> None:
    before = subscription()

    after, events = apply_sync(before, snapshot(**change), NOW)

    assert events == [EventType.SUBSCRIPTION_UPDATED]
    assert after.updated_at == NOW


def test_a_later_period_end_while_active_is_a_renewal_and_an_earlier_one_an_update() -> None:
    before = subscription()

    renewed = events_for_change(before, replace(before, current_period_end=day(60)))
    shortened = events_for_change(before, replace(before, current_period_end=day(20)))
    unchanged = events_for_change(before, before)

    assert renewed == [EventType.SUBSCRIPTION_RENEWED]
    assert shortened == [EventType.SUBSCRIPTION_UPDATED]
    assert unchanged == []


@pytest.mark.parametrize(
    ("stored", "incoming"),
    [
        ({"current_period_start": day(0)}, {"current_period_start": day(3)}),
        ({"current_period_end": day(30)}, {"current_period_end": day(33)}),
        ({"trial_end": day(7)}, {"trial_end": day(8)}),
        ({"canceled_at": day(4)}, {"canceled_at": day(5)}),
        ({"trial_end": None}, {"trial_end": day(8)}),
    ],
    ids=["period-start", "period-end", "trial-end", "canceled-at", "a-date-against-none"],
)
def test_two_snapshots_at_one_position_settle_on_the_same_one_whatever_their_order(
    stored: dict[str, Any], incoming: dict[str, Any]
) -> None:
    # Same position, same status: only the differing date decides, and always the same way.
    first = snapshot(observed=day(2), **stored)
    second = snapshot(observed=day(2), **incoming)
    start = subscription(S.PENDING, provider_watermark=None)

    one, _ = apply_sync(apply_sync(start, first, NOW)[0], second, NOW)
    with pytest.raises(StaleUpdate, match="already applied"):
        apply_sync(apply_sync(start, second, NOW)[0], first, NOW)
    other, _ = apply_sync(start, second, NOW)

    assert one == other
    for name, value in incoming.items():
        assert getattr(one, name) == value


def test_at_one_position_a_final_status_outranks_a_live_one() -> None:
    start = subscription(S.PENDING, provider_watermark=None)
    canceled = snapshot(S.CANCELED, observed=day(2), canceled_at=day(2))
    active = snapshot(S.ACTIVE, observed=day(2), current_period_end=day(90))

    ended, _ = apply_sync(apply_sync(start, active, NOW)[0], canceled, NOW)
    with pytest.raises(StaleUpdate):
        apply_sync(ended, active, NOW)

    assert ended.status == S.CANCELED


# --------------------------------------------------------------------------- payments


def test_a_payment_on_a_subscription_no_snapshot_reached_activates_it_for_the_paid_period() -> None:
    before = subscription(S.PENDING, provider_watermark=None)

    after, events = apply_payment(before, payment(), NOW)

    assert after.status == S.ACTIVE
    assert (after.current_period_start, after.current_period_end) == (day(30), day(60))
    assert after.provider_watermark == day(31)
    assert after.updated_at == NOW
    assert events == [EventType.SUBSCRIPTION_ACTIVATED, EventType.PAYMENT_SUCCEEDED]


def test_a_payment_renews_an_active_subscription_no_snapshot_reached() -> None:
    before = subscription(S.ACTIVE, provider_watermark=None)

    after, events = apply_payment(before, payment(), NOW)

    assert (after.status, after.current_period_start, after.current_period_end) == (
        S.ACTIVE,
        day(30),
        day(60),
    )
    assert events == [EventType.SUBSCRIPTION_RENEWED, EventType.PAYMENT_SUCCEEDED]


@pytest.mark.parametrize(
    "paid_until",
    [pytest.param(day(30), id="the-same-period"), pytest.param(day(20), id="an-older-period")],
)
def test_a_payment_for_a_period_not_after_the_current_one_leaves_the_dates(paid_until: datetime) -> None:
    before = subscription(S.ACTIVE, provider_watermark=None)

    after, events = apply_payment(before, payment(period_start=day(-10), period_end=paid_until), NOW)

    assert after == before
    assert events == [EventType.PAYMENT_SUCCEEDED]


def test_a_payment_without_a_period_activates_but_keeps_the_dates() -> None:
    before = subscription(S.PAST_DUE, provider_watermark=None)

    after, events = apply_payment(before, payment(period_start=None, period_end=None), NOW)

    assert after.status == S.ACTIVE
    assert (after.current_period_start, after.current_period_end) == (day(0), day(30))
    assert events == [EventType.SUBSCRIPTION_ACTIVATED, EventType.PAYMENT_SUCCEEDED]


def test_a_payment_of_a_subscription_with_no_period_yet_takes_the_paid_one() -> None:
    before = subscription(
        S.PENDING, provider_watermark=None, current_period_start=None, current_period_end=None
    )

    after, _ = apply_payment(before, payment(), NOW)

    assert (after.current_period_start, after.current_period_end) == (day(30), day(60))


@pytest.mark.parametrize("status", [S.ACTIVE, S.PAUSED, S.CANCELED])
def test_a_payment_never_activates_a_status_that_is_not_waiting_for_one(status: SubscriptionStatus) -> None:
    before = subscription(status, provider_watermark=None, current_period_end=day(90))

    after, _ = apply_payment(before, payment(), NOW)

    assert after.status == status


# --- ties that differ only in a scheduled cancel --------------------------------------------------
START = datetime(2025, 6, 1, tzinfo=UTC)
TIE_NOW = START + timedelta(days=90)
TIE_PRICE = ProviderPrice(price_id="price_basic", amount=900, currency="usd", interval=Interval.MONTH)


def unsynced() -> Subscription:
    return Subscription(
        id="sub_local",
        merchant_id="mer_tie",
        customer_id="cus_local",
        plan_id="plan_local",
        status=S.PENDING,
        provider="stripe",
        provider_subscription_id="sub_remote",
        created_at=START,
        updated_at=START,
    )


def active_snapshot(*, cancel_at_period_end: bool) -> SyncSubscription:
    return SyncSubscription(
        source_key=f"evt_cancel_{cancel_at_period_end}",
        merchant_id="mer_tie",
        provider="stripe",
        provider_subscription_id="sub_remote",
        provider_customer_id="cus_remote",
        price=TIE_PRICE,
        status=S.ACTIVE,
        observed_at=START + timedelta(days=1),
        current_period_start=START,
        current_period_end=START + timedelta(days=30),
        cancel_at_period_end=cancel_at_period_end,
    )


def test_a_scheduled_cancel_alone_settles_a_tie_the_same_way_in_either_order() -> None:
    keeps = active_snapshot(cancel_at_period_end=False)
    ends = active_snapshot(cancel_at_period_end=True)
    assert keeps.position == ends.position

    keeps_first, _ = apply_sync(apply_sync(unsynced(), keeps, TIE_NOW)[0], ends, TIE_NOW)
    ends_first, _ = apply_sync(unsynced(), ends, TIE_NOW)
    with pytest.raises(StaleUpdate, match="already applied"):
        apply_sync(ends_first, keeps, TIE_NOW)

    assert keeps_first == ends_first
    assert keeps_first.cancel_at_period_end is True
