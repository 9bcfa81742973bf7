"""`/v1/subscriptions`: a customer on a plan, run here or at the provider that bills it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from domain.subscriptions.external.catalog import MAX_TRIAL_DAYS
from domain.subscriptions.model import Subscription as DomainSubscription
from domain.subscriptions.state_machine import SubscriptionStatus
from gateway.schemas.common import Id, Page, PageQuery
from gateway.schemas.plans import documented_range

TrialDays = Annotated[
    int, documented_range(0, MAX_TRIAL_DAYS, "Free days before the first charge; null: the plan's.")
]
AtPeriodEnd = Annotated[
    bool, Meta(description="At the end of the current period, or now (false or null, the default).")
]


class SubscriptionCreate(Struct, frozen=True, kw_only=True):
    customer_id: str
    plan_id: str
    trial_days: TrialDays | None = None


class SubscriptionCancel(Struct, frozen=True, kw_only=True):
    at_period_end: AtPeriodEnd | None = None


class SubscriptionQuery(PageQuery, frozen=True, kw_only=True):
    status: SubscriptionStatus | None = None
    customer_id: Id | None = None
    provider_subscription_id: Id | None = None


class SubscriptionStanding(Struct, frozen=True, kw_only=True):
    """The fields a subscription's representation starts with, in the API and in notifications."""

    id: str
    customer_id: str
    plan_id: str
    status: SubscriptionStatus
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    trial_end: datetime | None
    canceled_at: datetime | None


class Subscription(SubscriptionStanding, frozen=True, kw_only=True):
    """`pending` awaits its first payment; `canceled` and `expired` are final."""

    provider: Annotated[
        str | None, Meta(description="The provider it belongs to; null for one made here without a provider.")
    ]
    provider_subscription_id: str | None
    created_at: datetime
    updated_at: datetime


SubscriptionPage = Page[Subscription]


def subscription(value: DomainSubscription) -> Subscription:
    # Every field of the representation is an attribute of the domain value, under the same name.
    return msgspec.convert(value, Subscription, from_attributes=True)
