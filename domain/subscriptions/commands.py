"""Commands the subscriptions context accepts, already normalized from any provider.

Every command names the provider's subscription it is about and, when the provider
object carries one, the id of our own subscription it belongs to (its metadata
`subgate_subscription_id`). Every command is idempotent per `source_key`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.subscriptions.model import Interval, Standing

# A tie-break is a count of microseconds added to the provider's event time (see
# `SyncSubscription.position`); it must stay below the providers' time resolution.
MAX_TIE_BREAK = 999


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderPrice:
    price_id: str
    amount: int
    currency: str
    interval: Interval
    interval_count: int = 1
    name: str | None = None


class InProviderTimeline:
    """A command dated by the provider: `observed_at`, then `tie_break` among the same instant.

    Its `position` is where it sits in the provider's own timeline: a view's becomes the
    subscription's watermark once applied, and a payment's is compared with views' positions.
    """

    __slots__ = ()
    observed_at: datetime
    tie_break: int

    def __post_init__(self) -> None:
        if not 0 <= self.tie_break <= MAX_TIE_BREAK:
            raise ValueError(f"tie_break must be between 0 and {MAX_TIE_BREAK}, got {self.tie_break}")

    @property
    def position(self) -> datetime:
        return self.observed_at + timedelta(microseconds=self.tie_break)


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncSubscription(InProviderTimeline, Standing):
    """The provider's view of a subscription at `observed_at`; the newest view wins.

    `tie_break` orders views the provider dated the same instant (providers whose event
    times have one-second resolution): a higher value is the later view. Views at the very
    same position are settled by their content (see `lifecycle`), never by arrival order.
    """

    source_key: str  # the input that caused it, for idempotency
    merchant_id: str
    provider: str
    provider_subscription_id: str
    provider_customer_id: str
    price: ProviderPrice
    observed_at: datetime
    tie_break: int = 0
    linked_subscription_id: str | None = None  # metadata subgate_subscription_id
    customer_email: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordPayment(InProviderTimeline):
    """A paid invoice (or order, or transaction) of a provider subscription.

    `renewal`: the provider says it pays for a new billing cycle (Stripe's billing reason
    `subscription_cycle`, Polar's `subscription_cycle` order, a Paddle subscription
    transaction), so its period (`period_start`..`period_end`) is the paid-through period.
    `tie_break` places it among snapshots the provider dated the same instant, as theirs does.
    """

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
    renewal: bool = False
    tie_break: int = 0


class FailureKind(enum.StrEnum):
    DECLINED = "declined"  # the attempt failed
    ACTION_REQUIRED = "action_required"  # the customer must authenticate the payment


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordPaymentFailure:
    """A failed payment attempt on an invoice of a provider subscription.

    Two provider events about the same attempt (`attempt`) are one failure.
    """

    source_key: str
    merchant_id: str
    provider: str
    provider_subscription_id: str
    provider_invoice_id: str
    amount_due: int
    currency: str
    observed_at: datetime
    kind: FailureKind = FailureKind.DECLINED
    attempt: int | None = None
    linked_subscription_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnounceTrialEnd:
    """The provider's reminder that a trial ends soon (usually three days before)."""

    source_key: str
    merchant_id: str
    provider: str
    provider_subscription_id: str
    trial_end: datetime | None
    observed_at: datetime
    linked_subscription_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkSubscription:
    """Tie a provider subscription (and its customer) to one of our subscriptions.

    A checkout completed for our subscription says which provider subscription pays
    for it, before (or without) that subscription's own events naming us.
    """

    source_key: str
    merchant_id: str
    provider: str
    provider_subscription_id: str
    linked_subscription_id: str
    provider_customer_id: str | None = None


ProviderCommand = (
    SyncSubscription | RecordPayment | RecordPaymentFailure | AnnounceTrialEnd | LinkSubscription
)
