"""Two snapshots at one position that differ only in a scheduled cancel still settle one way.

The tie-break over a snapshot's content has to see every field a snapshot sets; a field it
ignored would let the arrival order decide, and two workers could store different states.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.subscriptions.commands import ProviderPrice, SyncSubscription
from domain.subscriptions.lifecycle import StaleUpdate, apply_sync
from domain.subscriptions.model import Interval, Subscription
from domain.subscriptions.state_machine import SubscriptionStatus

S = SubscriptionStatus
START = datetime(2025, 6, 1, tzinfo=UTC)
NOW = START + timedelta(days=90)
PRICE = ProviderPrice(price_id="price_basic", amount=900, currency="usd", interval=Interval.MONTH)


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
        price=PRICE,
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

    keeps_first, _ = apply_sync(apply_sync(unsynced(), keeps, NOW)[0], ends, NOW)
    ends_first, _ = apply_sync(unsynced(), ends, NOW)
    with pytest.raises(StaleUpdate, match="already applied"):
        apply_sync(ends_first, keeps, NOW)

    assert keeps_first == ends_first
    assert keeps_first.cancel_at_period_end is True
