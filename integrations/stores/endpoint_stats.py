"""Endpoint health counters in the store (the notifications context's `EndpointStatsRepository`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from domain.notifications.stats import HOUR, EndpointHour
from domain.shared.errors import ConcurrencyConflict
from integrations.stores.codecs import DocumentCodec, iso
from integrations.stores.documents import DocumentSession, DuplicateDocument, Gt
from integrations.stores.versioned import bumped

COLLECTION: Final = "endpoint_hours"  # its index: integrations.stores.schema
CODEC: Final = DocumentCodec(EndpointHour)
# A merchant's hours of one day: 24 per endpoint and recording worker.
_MAX_ROWS: Final = 20_000


class EndpointStatsRepo:
    def __init__(self, session: DocumentSession) -> None:
        self._s = session

    async def get(self, hour_id: str) -> EndpointHour | None:
        found = await self._s.get(COLLECTION, hour_id)
        return None if found is None else CODEC.from_doc(found)

    async def add(self, hour: EndpointHour) -> None:
        try:
            await self._s.insert(COLLECTION, CODEC.to_doc(hour))
        except DuplicateDocument:
            # Written meanwhile (a store without transactions kept a failed batch's write): a
            # conflict, so the batch is recorded again, adding to the stored counts this time.
            raise ConcurrencyConflict("endpoint hour", hour.id) from None

    async def update(self, hour: EndpointHour) -> EndpointHour:
        return await bumped(self._s, COLLECTION, CODEC.to_doc, hour, "endpoint hour")

    async def since(self, merchant_id: str, start: datetime) -> Sequence[EndpointHour]:
        # Hours are stored as their start: those after the hour before `start` begin at or after it.
        docs = await self._s.find(
            COLLECTION,
            {"merchant_id": merchant_id, "hour": Gt(iso(start - HOUR))},
            limit=_MAX_ROWS,
            order_by="hour",
        )
        return [CODEC.from_doc(doc) for doc in docs]
