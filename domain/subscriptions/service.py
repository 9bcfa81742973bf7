"""Subscription services for HTTP handlers (External). Worker operations live in `internal`."""

from __future__ import annotations

from dataclasses import dataclass

from domain.shared.errors import NotFound
from domain.shared.events import EventType
from domain.shared.pagination import Page, PageRequest
from domain.shared.txn import TxnFn
from domain.subscriptions.model import Subscription
from domain.subscriptions.ports import SubscriptionFilter, SubscriptionsUnit


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What an input did: applied (with the events it caused) or recorded without effect."""

    applied: bool
    subscription_id: str | None = None
    events: tuple[EventType, ...] = ()
    reason: str | None = None


class SubscriptionNotYetKnown(NotFound):
    """An input refers to a provider subscription we have not seen yet; retry later."""


class SubscriptionsExternal:
    """Read and manage subscriptions on behalf of an authenticated merchant."""

    def __init__(self, txn: TxnFn[SubscriptionsUnit]) -> None:
        self._txn = txn

    async def get(self, merchant_id: str, subscription_id: str) -> Subscription:
        async def work(unit: SubscriptionsUnit) -> Subscription | None:
            return await unit.subscriptions.get(merchant_id, subscription_id)

        found = await self._txn(work)
        if found is None:
            raise NotFound("subscription", subscription_id)
        return found

    async def list(
        self,
        merchant_id: str,
        where: SubscriptionFilter,
        page: PageRequest,
    ) -> Page[Subscription]:
        async def work(unit: SubscriptionsUnit) -> Page[Subscription]:
            return await unit.subscriptions.list(merchant_id, where, page)

        return await self._txn(work)
