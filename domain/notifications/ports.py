"""Repositories and outbound ports owned by the notifications context."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.notifications.model import DeadLetter, DeadLetterKind, Delivery, DeliveryStatus, Endpoint
from domain.shared.outbox import OutboxRepository
from domain.shared.pagination import Page, PageRequest


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryFilter:
    endpoint_id: str | None = None
    status: DeliveryStatus | None = None


class EndpointRepository(Protocol):
    async def add(self, endpoint: Endpoint) -> None: ...

    async def get(self, merchant_id: str, endpoint_id: str) -> Endpoint | None: ...

    async def update(self, endpoint: Endpoint) -> Endpoint: ...

    async def list(self, merchant_id: str, page: PageRequest) -> Page[Endpoint]: ...

    async def all_for(self, merchant_id: str) -> Sequence[Endpoint]: ...

    async def get_many(self, endpoint_ids: Sequence[str]) -> Sequence[Endpoint]: ...


class DeliveryRepository(Protocol):
    async def add(self, delivery: Delivery) -> None: ...

    async def get(self, delivery_id: str) -> Delivery | None: ...

    async def exists(self, message_id: str, endpoint_id: str) -> bool: ...

    async def update(self, delivery: Delivery) -> Delivery:
        """Compare-and-set on `version`; raises ConcurrencyConflict."""
        ...

    async def list(self, merchant_id: str, where: DeliveryFilter, page: PageRequest) -> Page[Delivery]: ...

    async def claim_due(
        self, now: datetime, lease_until: datetime, owner: str, limit: int
    ) -> Sequence[Delivery]:
        """Lease up to `limit` deliveries due at `now` (earliest first) to `owner`."""
        ...

    async def release_leases(self, owner: str, now: datetime) -> int:
        """Hand back every unfinished delivery leased by `owner`, due at `now`."""
        ...

    async def due(self, now: datetime, limit: int) -> Sequence[Delivery]:
        """Pending or failed deliveries whose next attempt is at or before `now`."""
        ...


class DeadLetterRepository(Protocol):
    async def add(self, dead_letter: DeadLetter) -> None: ...

    async def list(
        self, merchant_id: str | None, kind: DeadLetterKind | None, page: PageRequest
    ) -> Page[DeadLetter]: ...


class NotificationsUnit(Protocol):
    @property
    def endpoints(self) -> EndpointRepository: ...

    @property
    def deliveries(self) -> DeliveryRepository: ...

    @property
    def dead_letters(self) -> DeadLetterRepository: ...

    @property
    def outbox(self) -> OutboxRepository: ...


SUCCESS_CLASS = 2  # any 2xx answer is a success


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    status_code: int | None
    duration_ms: int
    error: str | None = None
    response_excerpt: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and self.status_code // 100 == SUCCESS_CLASS


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundWebhook:
    url: str
    message_id: str
    timestamp: datetime
    body: bytes
    secrets: tuple[str, ...]
    trace_carrier: Mapping[str, str]


class WebhookSender(Protocol):
    """Signs (Standard Webhooks) and POSTs one message; never raises for a peer's failure."""

    async def send(self, webhook: OutboundWebhook) -> SendResult: ...
