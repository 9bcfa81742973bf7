"""Repositories owned by the subscriptions context."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.shared.inbox import ProcessedInputs
from domain.shared.outbox import OutboxRepository
from domain.shared.pagination import Page, PageRequest
from domain.subscriptions.model import Customer, Plan, Subscription
from domain.subscriptions.state_machine import SubscriptionStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionFilter:
    status: SubscriptionStatus | None = None
    customer_id: str | None = None
    provider_subscription_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanFilter:
    archived: bool | None = None


class SubscriptionRepository(Protocol):
    async def get(self, merchant_id: str, subscription_id: str) -> Subscription | None: ...

    async def add(self, subscription: Subscription) -> None: ...

    async def update(self, subscription: Subscription) -> Subscription:
        """Compare-and-set on `version`; returns the stored value (version + 1).

        Raises ConcurrencyConflict when the stored version is not `subscription.version`.
        """
        ...

    async def list(
        self, merchant_id: str, where: SubscriptionFilter, page: PageRequest
    ) -> Page[Subscription]: ...

    async def due(self, now: datetime, limit: int) -> Sequence[Subscription]:
        """Every merchant's subscriptions whose `next_transition_at` is at or before `now`,
        earliest first, at most `limit`: an indexed range read that never touches the others.
        """
        ...

    async def past_due_since(self, cutoff: datetime, limit: int) -> Sequence[Subscription]:
        """Every merchant's subscriptions whose `past_due_since` is at or before `cutoff`,
        earliest first, at most `limit` (an indexed range read, as `due`).
        """
        ...


class CustomerRepository(Protocol):
    async def get(self, merchant_id: str, customer_id: str) -> Customer | None: ...

    async def add(self, customer: Customer) -> None: ...

    async def update(self, customer: Customer) -> Customer:
        """Compare-and-set on `version`, as `SubscriptionRepository.update`."""
        ...

    async def list(self, merchant_id: str, page: PageRequest) -> Page[Customer]: ...


class PlanRepository(Protocol):
    async def get(self, merchant_id: str, plan_id: str) -> Plan | None: ...

    async def add(self, plan: Plan) -> None: ...

    async def update(self, plan: Plan) -> Plan:
        """Compare-and-set on `version`, as `SubscriptionRepository.update`."""
        ...

    async def list(self, merchant_id: str, where: PlanFilter, page: PageRequest) -> Page[Plan]: ...


class ProviderLinks(Protocol):
    """Maps a provider's id of a customer, price or subscription to ours, uniquely."""

    async def find(self, merchant_id: str, kind: str, provider: str, external_id: str) -> str | None: ...

    async def add(
        self, merchant_id: str, kind: str, provider: str, external_id: str, internal_id: str
    ) -> None:
        """Raises Conflict when the external id is already linked."""
        ...


class SubscriptionsUnit(Protocol):
    @property
    def subscriptions(self) -> SubscriptionRepository: ...

    @property
    def customers(self) -> CustomerRepository: ...

    @property
    def plans(self) -> PlanRepository: ...

    @property
    def provider_links(self) -> ProviderLinks: ...

    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def processed(self) -> ProcessedInputs: ...
