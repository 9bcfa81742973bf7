"""Subscription entities. All are frozen: a change produces a new value."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Final

from domain.shared.clock import public_time
from domain.shared.outbox import OutboxMessage
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
    # When its personal data was erased: email and name stay empty, and no email is written to it.
    erased_at: datetime | None = None
    version: int = 0


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
    # An archived plan takes no new subscriptions; the ones it has go on.
    archived: bool = False
    created_at: datetime
    version: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Standing:
    """A subscription's status and periods as a provider states them: the subscription's own,
    and those of the provider's answers (`ProviderView`) and views (`SyncSubscription`).
    """

    status: SubscriptionStatus
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    trial_end: datetime | None = None
    canceled_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Unfinished:
    """What a change stored in a subscription's document must still do: put its messages in the
    outbox and claim its inputs' keys.

    Written only where a unit of work is not one transaction (a MongoDB server without
    replica set): the change and this travel in one document write, which is atomic on any
    store, so a unit cut short after it loses nothing. The run of the same input again, or the
    next change to the subscription, finishes it (see `recording`).
    """

    keys: tuple[str, ...] = ()
    messages: tuple[OutboxMessage, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription(Standing):
    id: str
    merchant_id: str
    customer_id: str
    plan_id: str
    provider: str | None = None
    provider_subscription_id: str | None = None
    # The newest provider timestamp already applied: anything older is stale.
    provider_watermark: datetime | None = None
    # The paid renewal whose period the subscription shows (see `lifecycle`): its period and
    # its place in the provider's timeline. A snapshot older than it does not take that period back.
    renewal_period_start: datetime | None = None
    renewal_period_end: datetime | None = None
    renewal_position: datetime | None = None
    # True when the provider runs the subscription (created there, or first seen in its events):
    # changes are asked of the provider and its webhooks bring them. False: subgate runs it,
    # and the scheduler makes its timed moves (see `schedule`).
    provider_managed: bool = False
    # When it last became past_due, for one subgate runs (None otherwise); its grace runs from here.
    past_due_since: datetime | None = None
    # The trial end whose reminder was already told (the provider's or the scheduler's).
    trial_notice_for: datetime | None = None
    # The earliest instant the scheduler has something to do for it; kept by `schedule.stamped`
    # on every write, so that the scheduler reads only subscriptions that are due.
    next_transition_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    # Left by a change whose unit was cut short, on a store without transactions (see `Unfinished`).
    unfinished: Unfinished | None = None
    version: int = 0


_STANDING: Final = tuple(f.name for f in fields(Standing))


def terms_of(source: Standing) -> dict[str, Any]:
    """`source`'s status and periods, as keyword arguments of `Subscription` or `replace`."""
    return {name: getattr(source, name) for name in _STANDING}


def subscription_view(sub: Subscription) -> dict[str, Any]:
    """The public representation of the REST API; notifications extend it (`notification_view`)."""
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


def notification_view(sub: Subscription, *, customer: Customer | None, plan: Plan | None) -> dict[str, Any]:
    """`data.subscription` of an outbound notification: the public representation plus what a
    merchant needs to match it to its own records (the provider's customer and price ids, the
    plan's amount, currency and billing interval). Unknown values are null, never left out.
    """
    provider = sub.provider
    return {
        **subscription_view(sub),
        "provider_customer_id": _provider_id(customer.provider_customer_ids, provider) if customer else None,
        "provider_price_id": _provider_id(plan.provider_price_ids, provider) if plan else None,
        "plan_name": plan.name if plan else None,
        "amount": plan.amount if plan else None,
        "currency": plan.currency if plan else None,
        "interval": plan.interval.value if plan else None,
        "interval_count": plan.interval_count if plan else None,
    }


def _provider_id(ids: Mapping[str, str], provider: str | None) -> str | None:
    return None if provider is None else ids.get(provider)
