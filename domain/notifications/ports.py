"""Repositories and outbound ports owned by the notifications context."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from domain.notifications.model import Channel, DeadLetter, DeadLetterKind, Delivery, DeliveryStatus, Endpoint
from domain.notifications.stats import EndpointStatsRepository
from domain.shared.outbox import OutboxMessage, OutboxRepository
from domain.shared.pagination import Page, PageRequest


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryFilter:
    endpoint_id: str | None = None
    status: DeliveryStatus | None = None
    channel: Channel | None = None
    event_type: str | None = None
    # About one of these subjects (a subscription's id...); an empty tuple matches nothing.
    subject_ids: tuple[str, ...] | None = None
    # Made at or after / before these instants (to the millisecond, as their ids record it).
    made_from: datetime | None = None
    made_before: datetime | None = None


class EndpointRepository(Protocol):
    """`get`, `list` and `all_for` leave deleted endpoints out; `get_many` (by id) does not."""

    async def add(self, endpoint: Endpoint) -> None: ...

    async def get(self, merchant_id: str, endpoint_id: str) -> Endpoint | None: ...

    async def update(self, endpoint: Endpoint) -> Endpoint:
        """Compare-and-set on `version`; raises ConcurrencyConflict."""
        ...

    async def list(self, merchant_id: str, page: PageRequest) -> Page[Endpoint]: ...

    async def all_for(self, merchant_id: str) -> Sequence[Endpoint]: ...

    async def get_many(self, endpoint_ids: Sequence[str]) -> Sequence[Endpoint]: ...


class DeliveryRepository(Protocol):
    async def add(self, delivery: Delivery) -> None: ...

    async def get(self, delivery_id: str) -> Delivery | None: ...

    async def exists(self, message_id: str, endpoint_id: str) -> bool: ...

    async def has_email(self, message_id: str) -> bool:
        """Whether the message's customer email delivery was made already."""
        ...

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

    async def first_open_in_lane(self, lane: str) -> Delivery | None:
        """The earliest-made (lowest id) pending or failed delivery of `lane`, leased or not."""
        ...

    async def cancel_for_endpoint(self, endpoint_id: str, now: datetime) -> int:
        """End every pending or failed delivery to the endpoint as canceled; how many."""
        ...

    async def emails_to(
        self, merchant_id: str, customer_id: str, after: str | None, limit: int
    ) -> tuple[Sequence[Delivery], str | None]:
        """A page of the emails written to the merchant's customer (their `customer_id`), oldest
        first, after the id `after`; and the id the next page starts after (None: no more)."""
        ...


class DeadLetterRepository(Protocol):
    """`list` shows dead letters not yet replayed."""

    async def add(self, dead_letter: DeadLetter) -> None: ...

    async def get(self, dead_letter_id: str) -> DeadLetter | None: ...

    async def update(self, dead_letter: DeadLetter) -> DeadLetter:
        """Compare-and-set on `version`; raises ConcurrencyConflict."""
        ...

    async def list(
        self,
        merchant_id: str | None,
        kind: DeadLetterKind | None,
        page: PageRequest,
        endpoint_id: str | None = None,
    ) -> Page[DeadLetter]: ...

    async def count_open(self, merchant_id: str, endpoint_id: str | None = None) -> int:
        """Dead letters not replayed yet, of one endpoint when given."""
        ...

    async def open_for_delivery(self, delivery_id: str) -> Sequence[DeadLetter]:
        """The delivery's dead letters not yet replayed."""
        ...

    async def for_delivery(self, delivery_id: str) -> Sequence[DeadLetter]:
        """Every dead letter of the delivery, replayed or not."""
        ...


class RecipientDirectory(Protocol):
    """Who a customer email about a message goes to (a small port, so other sources can join).

    Implementations read the merchant's customer record first, then what the provider's
    payload carried. None when no usable address is known.
    """

    async def email_for(self, message: OutboxMessage) -> str | None: ...


class NotificationsUnit(Protocol):
    @property
    def endpoints(self) -> EndpointRepository: ...

    @property
    def deliveries(self) -> DeliveryRepository: ...

    @property
    def dead_letters(self) -> DeadLetterRepository: ...

    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def recipients(self) -> RecipientDirectory: ...

    @property
    def endpoint_stats(self) -> EndpointStatsRepository: ...


SUCCESS_CLASS = 2  # any 2xx answer is a success


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    status_code: int | None
    duration_ms: int
    error: str | None = None
    response_excerpt: str | None = None
    retry_after: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # the request's headers as sent
    # An email kept as a sent-mail record because no SMTP server is configured: handled, not sent.
    kept: bool = False

    @property
    def ok(self) -> bool:
        """Any 2xx: HTTP's success class, and SMTP's too (250 is "accepted")."""
        return self.kept or (self.status_code is not None and self.status_code // 100 == SUCCESS_CLASS)


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundWebhook:
    url: str
    message_id: str
    timestamp: datetime
    body: bytes
    secrets: tuple[str, ...]


class WebhookSender(Protocol):
    """Signs (Standard Webhooks) and POSTs one message; never raises for a peer's failure."""

    async def send(self, webhook: OutboundWebhook) -> SendResult: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundEmail:
    """One customer email: what to say comes from the message, rendered by the mailer's templates."""

    to: str
    delivery_id: str
    message_id: str
    event_type: str
    occurred_at: datetime
    data: Mapping[str, Any]


class Mailer(Protocol):
    """Renders and sends one customer email; never raises for the mail server's failure."""

    async def send(self, email: OutboundEmail) -> SendResult: ...
