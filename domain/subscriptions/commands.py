"""Commands the subscriptions context accepts, already normalized from any provider."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.subscriptions.model import Interval
from domain.subscriptions.state_machine import SubscriptionStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderPrice:
    price_id: str
    amount: int
    currency: str
    interval: Interval
    interval_count: int = 1
    name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncSubscription:
    """The provider's view of a subscription at `observed_at`; newer views win."""

    source_key: str  # the input that caused it, for idempotency
    merchant_id: str
    provider: str
    provider_subscription_id: str
    provider_customer_id: str
    price: ProviderPrice
    status: SubscriptionStatus
    observed_at: datetime
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    trial_end: datetime | None = None
    canceled_at: datetime | None = None
    linked_subscription_id: str | None = None  # metadata subgate_subscription_id
    customer_email: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordPayment:
    """A paid invoice of a provider subscription."""

    source_key: str
    merchant_id: str
    provider: str
    provider_subscription_id: str
    provider_invoice_id: str
    amount_paid: int
    currency: str
    observed_at: datetime
    period_start: datetime | None = None
    period_end: datetime | None = None
    linked_subscription_id: str | None = None
