"""Repositories owned by the billing context."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.inbound.model import InboundEvent, InboundStatus
from domain.shared.pagination import Page, PageRequest
from domain.shared.personal import Person


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundFilter:
    connection_id: str | None = None
    status: InboundStatus | None = None


class InboundEventRepository(Protocol):
    async def add_if_new(self, event: InboundEvent) -> bool:
        """Store unless (connection_id, provider_event_id) exists; False for a duplicate."""
        ...

    async def get(self, event_id: str) -> InboundEvent | None: ...

    async def update(self, event: InboundEvent) -> InboundEvent:
        """Compare-and-set on `version`; raises ConcurrencyConflict."""
        ...

    async def list(self, merchant_id: str, where: InboundFilter, page: PageRequest) -> Page[InboundEvent]: ...

    async def claim_due(
        self, now: datetime, lease_until: datetime, owner: str, limit: int
    ) -> Sequence[InboundEvent]:
        """Lease up to `limit` accepted events due at `now` (oldest first) to `owner`."""
        ...

    async def release_leases(self, owner: str, now: datetime) -> int:
        """Hand back every accepted event leased by `owner`, due at `now`."""
        ...


class PersonalData(Protocol):
    """Where each provider's payloads carry a customer's personal data (an adapter's knowledge)."""

    def without(self, provider: str, body: bytes, person: Person) -> bytes | None:
        """`body` with `person`'s personal fields emptied; None when it holds none of them, or
        when the provider's fields are not known."""
        ...


class InboundUnit(Protocol):
    @property
    def inbound_events(self) -> InboundEventRepository: ...
