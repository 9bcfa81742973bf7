"""Domain events: facts other contexts (and merchants) are told about."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class EventType(enum.StrEnum):
    """Every type of the outbound contract; an endpoint may subscribe to any of them.

    Not every type has a producer yet; docs/notifications.md ("What merchants receive") says which
    ones are sent today and what is sent instead of the others.
    """

    SUBSCRIPTION_CREATED = "subscription.created"
    SUBSCRIPTION_ACTIVATED = "subscription.activated"
    SUBSCRIPTION_RENEWED = "subscription.renewed"
    SUBSCRIPTION_UPDATED = "subscription.updated"
    SUBSCRIPTION_PAST_DUE = "subscription.past_due"
    SUBSCRIPTION_CANCELED = "subscription.canceled"
    SUBSCRIPTION_EXPIRED = "subscription.expired"
    SUBSCRIPTION_TRIAL_WILL_END = "subscription.trial_will_end"
    SUBSCRIPTION_PAUSED = "subscription.paused"
    SUBSCRIPTION_RESUMED = "subscription.resumed"
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    ENDPOINT_DISABLED = "endpoint.disabled"
    # Sent on request (the portal's "Send test event"), to one endpoint only.
    ENDPOINT_TEST = "endpoint.test"


PAYMENT_EVENTS: frozenset[EventType] = frozenset({EventType.PAYMENT_SUCCEEDED, EventType.PAYMENT_FAILED})


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    type: EventType
    merchant_id: str
    subject_id: str
    occurred_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)
