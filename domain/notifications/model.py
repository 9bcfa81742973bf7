"""Endpoints, deliveries and dead letters. A delivery row is the truth about a message's fate."""

from __future__ import annotations

import base64
import enum
import secrets
from dataclasses import dataclass
from datetime import datetime


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # not tried yet
    FAILED = "failed"  # tried, failed, another try is scheduled
    SUCCEEDED = "succeeded"
    DEAD = "dead"  # no tries left: a dead letter exists


RETRYABLE = frozenset({DeliveryStatus.PENDING, DeliveryStatus.FAILED})


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
    version: int = 0

    def wants(self, event_type: str) -> bool:
        return self.enabled and (not self.event_types or event_type in self.event_types)

    def signing_secrets(self, now: datetime) -> tuple[str, ...]:
        return tuple(s.value for s in self.secrets if s.expires_at is None or s.expires_at > now)


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None = None
    response_excerpt: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    id: str
    merchant_id: str
    endpoint_id: str
    message_id: str
    event_type: str
    status: DeliveryStatus
    attempts: tuple[Attempt, ...]
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # Set by the worker that claimed the delivery; `next_attempt_at` is then the lease's end.
    lease_owner: str | None = None
    version: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    id: str
    merchant_id: str
    kind: DeadLetterKind
    delivery_id: str
    reason: str
    created_at: datetime


def new_signing_secret() -> str:
    """Standard Webhooks secrets are `whsec_` + base64 of random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
