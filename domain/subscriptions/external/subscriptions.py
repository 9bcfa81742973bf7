"""Subscription services for HTTP handlers (External). Worker operations live in `internal`.

`SubscriptionsExternal` is the context's one External service: subscriptions themselves
(read, and managed through `management`), and its `plans` and `customers` (see `catalog`).
"""

from __future__ import annotations

from collections.abc import Mapping

from domain.shared.clock import Clock
from domain.shared.errors import existing
from domain.shared.outbox import TraceCarrier
from domain.shared.pagination import Page, PageRequest
from domain.shared.txn import TxnFn
from domain.subscriptions.external.catalog import CustomersExternal, PlansExternal
from domain.subscriptions.external.management import NewSubscription, SubscriptionManagement
from domain.subscriptions.model import Subscription
from domain.subscriptions.ports import SubscriptionFilter, SubscriptionsUnit
from domain.subscriptions.provider import NoProviderAccounts, ProviderAccounts, ProviderDirectory
from domain.subscriptions.recording import ChangeRecorder
from domain.subscriptions.timed_moves import StampingTxn, Timing


def _no_trace() -> Mapping[str, str]:
    return {}


class SubscriptionsExternal:
    """Read and manage subscriptions, plans and customers on behalf of an authenticated merchant.

    Without `accounts` and `providers`, every new subscription is run by subgate.
    """

    def __init__(
        self,
        txn: TxnFn[SubscriptionsUnit],
        clock: Clock,
        *,
        trace: TraceCarrier = _no_trace,
        timing: Timing | None = None,
        accounts: ProviderAccounts | None = None,
        providers: ProviderDirectory | None = None,
        carried: bool = False,
    ) -> None:
        """`carried`: the store's units of work are not transactions (see `recording`)."""
        stamping = StampingTxn(txn, timing or Timing(), clock)
        self._txn = stamping
        self.plans = PlansExternal(stamping, clock)
        self.customers = CustomersExternal(stamping, clock)
        self._manage = SubscriptionManagement(
            stamping,
            clock,
            ChangeRecorder(trace, carried=carried),
            accounts or NoProviderAccounts(),
            providers or {},
        )

    async def get(self, merchant_id: str, subscription_id: str) -> Subscription:
        async def work(unit: SubscriptionsUnit) -> Subscription | None:
            return await unit.subscriptions.get(merchant_id, subscription_id)

        return existing(await self._txn(work), "subscription", subscription_id)

    async def list(
        self,
        merchant_id: str,
        where: SubscriptionFilter,
        page: PageRequest,
    ) -> Page[Subscription]:
        async def work(unit: SubscriptionsUnit) -> Page[Subscription]:
            return await unit.subscriptions.list(merchant_id, where, page)

        return await self._txn(work)

    async def create(self, merchant_id: str, new: NewSubscription) -> Subscription:
        """Trialing for the trial's length, else pending until the first payment (see `management`)."""
        return await self._manage.create(merchant_id, new)

    async def cancel(
        self, merchant_id: str, subscription_id: str, *, at_period_end: bool, request_key: str | None = None
    ) -> Subscription:
        return await self._manage.cancel(
            merchant_id, subscription_id, at_period_end=at_period_end, request_key=request_key
        )

    async def pause(
        self, merchant_id: str, subscription_id: str, *, request_key: str | None = None
    ) -> Subscription:
        return await self._manage.pause(merchant_id, subscription_id, request_key=request_key)

    async def resume(
        self, merchant_id: str, subscription_id: str, *, request_key: str | None = None
    ) -> Subscription:
        """Lift a pause, or undo a scheduled cancel (both when both apply)."""
        return await self._manage.resume(merchant_id, subscription_id, request_key=request_key)
