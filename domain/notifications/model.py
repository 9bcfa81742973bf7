"""Endpoints, deliveries and dead letters. A delivery row is the truth about a message's fate."""

from __future__ import annotations

import base64
import enum
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # not tried yet (or made due again by a retry or replay)
    FAILED = "failed"  # tried, failed, another try is scheduled
    SUCCEEDED = "succeeded"
    DEAD = "dead"  # no tries left: a dead letter exists
    CANCELED = "canceled"  # its endpoint was deleted before it could be delivered


RETRYABLE = frozenset({DeliveryStatus.PENDING, DeliveryStatus.FAILED})


class Channel(enum.StrEnum):
    """How a delivery reaches its recipient: a merchant's endpoint, or a customer's inbox."""

    WEBHOOK = "webhook"
    EMAIL = "email"


class DeadLetterKind(enum.StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"


@dataclass(frozen=True, slots=True, kw_only=True)
class SigningSecret:
    value: str
    expires_at: datetime | None = None  # set on the old secret after a rotation


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    id: str
    merchant_id: str
    url: str
    event_types: tuple[str, ...]  # empty means every type
    description: str | None
    enabled: bool
    secrets: tuple[SigningSecret, ...]
    created_at: datetime
    # Set by the first failed attempt after a success (or ever); cleared by a success.
    failing_since: datetime | None = None
    deleted_at: datetime | None = None  # deleted endpoints are kept, hidden, for their deliveries
    version: int = 0

    @property
    def usable(self) -> bool:
        return self.enabled and self.deleted_at is None

    def wants(self, event_type: str) -> bool:
        return self.usable and (not self.event_types or event_type in self.event_types)

    def signing_secrets(self, now: datetime) -> tuple[str, ...]:
        return tuple(s.value for s in self.secrets if s.expires_at is None or s.expires_at > now)


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None = None
    response_excerpt: str | None = None
    # The request's headers as sent; empty for emails and attempts never made.
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One message to one recipient: a webhook to an endpoint, or an email to a customer."""

    id: str
    merchant_id: str
    endpoint_id: str | None  # None for an email
    message_id: str
    event_type: str
    status: DeliveryStatus
    attempts: tuple[Attempt, ...]
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # Set by the worker that claimed the delivery; `next_attempt_at` is then the lease's end.
    lease_owner: str | None = None
    channel: Channel = Channel.WEBHOOK
    recipient: str | None = None  # the email address, for an email
    # Deliveries with the same lane (one subject, e.g. a subscription, to one recipient) go out
    # in creation order; see `domain.notifications.ordering`.
    lane: str | None = None
    order_given_up: bool = False  # sent before an earlier one of its lane was settled
    # Attempts made before the latest retry or replay: the retry schedule restarts there.
    retry_from: int = 0
    # For an email: the customer it was written to (what an erasure of that customer finds).
    customer_id: str | None = None
    # When retention removed its message's body and its own (answers' excerpts, an email's
    # recipient): it cannot be sent again.
    payload_expired_at: datetime | None = None
    # When the customer's personal data was erased (an email's recipient and body): it is never
    # sent again.
    erased_at: datetime | None = None
    # What the message is about (a subscription's id, an endpoint's); None for deliveries made
    # before it was recorded.
    subject_id: str | None = None
    version: int = 0

    @property
    def attempts_in_round(self) -> int:
        """Attempts since the delivery was last made due by hand (retry or replay)."""
        return len(self.attempts) - self.retry_from


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    id: str
    merchant_id: str
    kind: DeadLetterKind
    delivery_id: str
    reason: str
    created_at: datetime
    replayed_at: datetime | None = None  # replayed dead letters leave the list
    endpoint_id: str | None = None  # its delivery's endpoint (None for emails, and older ones)
    version: int = 0


def lane_of(recipient: str, subject_id: str) -> str:
    """The ordering lane of a subject's deliveries to one recipient (endpoint id or address)."""
    return f"{recipient}|{subject_id}"


def new_signing_secret() -> str:
    """Standard Webhooks secrets are `whsec_` + base64 of random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
