"""What became of a merchant's notifications, for the pages that show it (External).

Endpoint health over the last day comes from the hourly counters (`stats`), never from the
deliveries; everything else is one indexed look-up or one page of a list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.notifications.model import DeadLetter, Delivery, Endpoint
from domain.notifications.payload import message_body
from domain.notifications.ports import NotificationsUnit
from domain.notifications.stats import EndpointHealth, day_window, health_of
from domain.shared.clock import Clock
from domain.shared.errors import owned
from domain.shared.pagination import Page, PageRequest
from domain.shared.txn import TxnFn


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryRecord:
    """A delivery with what it carries: the message's body as sent (None once it is gone)."""

    delivery: Delivery
    body: bytes | None
    endpoint: Endpoint | None


class NotificationHistory:
    def __init__(self, txn: TxnFn[NotificationsUnit], clock: Clock) -> None:
        self._txn = txn
        self._clock = clock

    async def health(self, merchant_id: str, endpoints: Sequence[Endpoint]) -> list[EndpointHealth]:
        """The last 24 hours of each of the merchant's `endpoints`, hour by hour."""
        now = self._clock()

        async def work(unit: NotificationsUnit) -> list[EndpointHealth]:
            stored = await unit.endpoint_stats.since(merchant_id, day_window(now)[0])
            return health_of([e.id for e in endpoints if e.merchant_id == merchant_id], stored, now)

        return await self._txn(work)

    async def open_dead_letters(self, merchant_id: str, endpoint_id: str | None = None) -> int:
        async def work(unit: NotificationsUnit) -> int:
            return await unit.dead_letters.count_open(merchant_id, endpoint_id)

        return await self._txn(work)

    async def dead_letters(
        self, merchant_id: str, endpoint_id: str | None, page: PageRequest
    ) -> Page[DeadLetter]:
        """Open dead letters, of one endpoint when given."""

        async def work(unit: NotificationsUnit) -> Page[DeadLetter]:
            return await unit.dead_letters.list(merchant_id, None, page, endpoint_id=endpoint_id)

        return await self._txn(work)

    async def delivery(self, merchant_id: str, delivery_id: str) -> DeliveryRecord:
        async def work(unit: NotificationsUnit) -> DeliveryRecord:
            delivery = owned(await unit.deliveries.get(delivery_id), merchant_id, "delivery", delivery_id)
            message = await unit.outbox.get(delivery.message_id)
            endpoint = None
            if delivery.endpoint_id is not None:
                [*endpoints] = await unit.endpoints.get_many([delivery.endpoint_id])
                endpoint = next((e for e in endpoints if e.merchant_id == merchant_id), None)
            body = None if message is None or message.merchant_id != merchant_id else message_body(message)
            return DeliveryRecord(delivery=delivery, body=body, endpoint=endpoint)

        return await self._txn(work)
