"""Subscription entities. All are frozen: a change produces a new value."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.shared.clock import public_time
from domain.subscriptions.state_machine import SubscriptionStatus


class Interval(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


@dataclass(frozen=True, slots=True, kw_only=True)
class Customer:
    id: str
    merchant_id: str
    email: str | None
    name: str | None
    provider_customer_ids: Mapping[str, str] = field(default_factory=dict)
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    id: str
    merchant_id: str
    name: str
    amount: int  # minor units
    currency: str
    interval: Interval
    interval_count: int = 1
    trial_days: int = 0
    provider_price_ids: Mapping[str, str] = field(default_factory=dict)
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    id: str
    merchant_id: str
    customer_id: str
    plan_id: str
    status: SubscriptionStatus
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    trial_end: datetime | None = None
    canceled_at: datetime | None = None
    provider: str | None = None
    provider_subscription_id: str | None = None
    # The newest provider timestamp already applied: anything older is stale.
    provider_watermark: datetime | None = None
    created_at: datetime
    updated_at: datetime
    version: int = 0


def subscription_view(sub: Subscription) -> dict[str, Any]:
    """The public representation, shared by the REST API and outbound notifications."""
    return {
        "id": sub.id,
        "customer_id": sub.customer_id,
        "plan_id": sub.plan_id,
        "status": sub.status.value,
        "current_period_start": public_time(sub.current_period_start),
        "current_period_end": public_time(sub.current_period_end),
        "cancel_at_period_end": sub.cancel_at_period_end,
        "trial_end": public_time(sub.trial_end),
        "canceled_at": public_time(sub.canceled_at),
        "provider": sub.provider,
        "provider_subscription_id": sub.provider_subscription_id,
        "created_at": public_time(sub.created_at),
        "updated_at": public_time(sub.updated_at),
    }
