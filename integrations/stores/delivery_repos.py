"""Deliveries and their dead letters, on top of `DocumentSession` (see `integrations.stores.repositories`).

A worker claims due deliveries strictly, one document at a time; one that cannot be read is taken
out of the queue: dead, with a dead letter (see `integrations.stores.unreadable`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from domain.notifications.model import (
    RETRYABLE,
    Channel,
    DeadLetter,
    DeadLetterKind,
    Delivery,
    DeliveryStatus,
)
from domain.notifications.ports import DeliveryFilter
from domain.shared.ids import id_time_floor, new_id
from domain.shared.pagination import Page, PageRequest
from integrations.stores import codecs, unreadable
from integrations.stores.collection import CUSTOMER_EMAILS, DEAD_LETTERS, DELIVERIES, drop_none, many, update
from integrations.stores.documents import Condition, Document, DocumentSession, Gt, In, Lte, Scalar
from integrations.stores.unreadable import SetAside, work_items

_DUE_DELIVERIES: dict[str, Condition] = {"status": In(tuple(s.value for s in RETRYABLE))}


def _due_deliveries(now: datetime) -> dict[str, Condition]:
    return _DUE_DELIVERIES | {"next_attempt_at": Lte(codecs.iso(now))}


class DeliveryRepo:
    def __init__(self, session: DocumentSession, set_aside: SetAside | None = None) -> None:
        self._s = session
        self._set_aside = set_aside or SetAside()

    async def add(self, delivery: Delivery) -> None:
        await DELIVERIES.add(self._s, delivery)
        if delivery.channel == Channel.EMAIL and delivery.customer_id is not None:
            # The customer's emails, found by an erasure without reading every delivery.
            entry = {
                "id": delivery.id,
                "version": 0,
                "merchant_id": delivery.merchant_id,
                "customer_id": delivery.customer_id,
                "created_at": codecs.iso(delivery.created_at),
            }
            await self._s.insert(CUSTOMER_EMAILS, entry)

    async def emails_to(
        self, merchant_id: str, customer_id: str, after: str | None, limit: int
    ) -> tuple[Sequence[Delivery], str | None]:
        mine_only = {"merchant_id": merchant_id, "customer_id": customer_id}
        entries = await self._s.find(CUSTOMER_EMAILS, mine_only, limit=limit, after_id=after)
        found = await many(self._s, DELIVERIES, [str(entry["id"]) for entry in entries])
        mine = [d for d in found if d.merchant_id == merchant_id]
        return mine, (str(entries[-1]["id"]) if len(entries) == limit else None)

    async def get(self, delivery_id: str) -> Delivery | None:
        return await DELIVERIES.get(self._s, delivery_id)

    async def exists(self, message_id: str, endpoint_id: str) -> bool:
        found = await self._s.find(
            DELIVERIES.name, {"message_id": message_id, "endpoint_id": endpoint_id}, limit=1
        )
        return bool(found)

    async def has_email(self, message_id: str) -> bool:
        found = await self._s.find(
            DELIVERIES.name, {"message_id": message_id, "channel": Channel.EMAIL.value}, limit=1
        )
        return bool(found)

    async def update(self, delivery: Delivery) -> Delivery:
        return await update(self._s, DELIVERIES, delivery, "delivery")

    async def list(self, merchant_id: str, where: DeliveryFilter, page: PageRequest) -> Page[Delivery]:
        status = None if where.status is None else where.status.value
        conditions = drop_none(
            merchant_id=merchant_id, endpoint_id=where.endpoint_id, status=status, event_type=where.event_type
        )
        if where.channel is not None:
            # Deliveries stored before emails existed have no channel: they are webhooks.
            wanted: tuple[Scalar, ...] = (where.channel.value,)
            conditions["channel"] = In((*wanted, None) if where.channel == Channel.WEBHOOK else wanted)
        page = made_between(conditions, where, page)
        if where.subject_ids is None:
            return await DELIVERIES.page(self._s, conditions, page)
        # One indexed range per subject, merged: an IN over the subjects would make SQLite walk
        # the merchant's whole history in id order instead.
        found: dict[str, Delivery] = {}
        more = False
        for subject in dict.fromkeys(where.subject_ids):
            one = await DELIVERIES.page(self._s, conditions | {"subject_id": subject}, page)
            found.update((d.id, d) for d in one.items)
            more = more or one.has_more
        ordered = sorted(found.values(), key=lambda d: d.id, reverse=page.newest_first)
        return Page(items=tuple(ordered[: page.limit]), has_more=more or len(ordered) > page.limit)

    async def claim_due(
        self, now: datetime, lease_until: datetime, owner: str, limit: int
    ) -> Sequence[Delivery]:
        docs = await DELIVERIES.lease(
            self._s,
            _due_deliveries(now),
            due_field="next_attempt_at",
            owner=owner,
            until=lease_until,
            limit=limit,
        )

        async def take_out(doc: Document, reason: str) -> None:
            await self._dead_unread(doc, f"the stored delivery cannot be read: {reason}", now)

        return await work_items(
            docs, DELIVERIES.from_doc, take_out, queue=unreadable.DELIVERIES, set_aside=self._set_aside
        )

    async def _dead_unread(self, doc: Document, reason: str, now: datetime) -> None:
        """An unreadable delivery ends as ever when no attempt is left: dead, with a dead letter."""
        doc_id = doc.get("id")
        dead = {"status": DeliveryStatus.DEAD.value, "next_attempt_at": None, "lease_owner": None}
        await self._s.update_where(DELIVERIES.name, {"id": doc_id}, dead | {"updated_at": codecs.iso(now)})
        merchant_id = doc.get("merchant_id")
        if not isinstance(doc_id, str) or not isinstance(merchant_id, str):
            return  # nobody could see the dead letter: the report is all there is
        letter = DeadLetter(
            id=new_id("dl"),
            merchant_id=merchant_id,
            kind=DeadLetterKind.EMAIL
            if doc.get("channel") == Channel.EMAIL.value
            else DeadLetterKind.WEBHOOK,
            delivery_id=doc_id,
            reason=reason,
            created_at=now,
            endpoint_id=endpoint_id if isinstance(endpoint_id := doc.get("endpoint_id"), str) else None,
        )
        await DEAD_LETTERS.add(self._s, letter)

    async def release_leases(self, owner: str, now: datetime) -> int:
        return await self._s.update_where(
            DELIVERIES.name,
            _DUE_DELIVERIES | {"lease_owner": owner},
            {"lease_owner": None, "next_attempt_at": codecs.iso(now)},
        )

    async def count_open(self) -> int:
        """Deliveries still to make (webhooks and emails): not tried, to retry, or claimed."""
        return await self._s.count(DELIVERIES.name, _DUE_DELIVERIES)

    async def count_due(self, now: datetime) -> int:
        """Deliveries a claim would take at `now` (a claim moves the next attempt to its lease's end)."""
        return await self._s.count(DELIVERIES.name, _due_deliveries(now))

    async def due(self, now: datetime, limit: int) -> Sequence[Delivery]:
        docs = await self._s.find(
            DELIVERIES.name,
            _due_deliveries(now),
            limit=limit,
            order_by="next_attempt_at",
        )
        return DELIVERIES.each(docs)

    async def first_open_in_lane(self, lane: str) -> Delivery | None:
        docs = await self._s.find(DELIVERIES.name, _DUE_DELIVERIES | {"lane": lane}, limit=1, order_by="id")
        # An unreadable one holds nothing back: its claim takes it out of the lane (dead).
        return next(iter(DELIVERIES.each(docs)), None)

    async def cancel_for_endpoint(self, endpoint_id: str, now: datetime) -> int:
        return await self._s.update_where(
            DELIVERIES.name,
            _DUE_DELIVERIES | {"endpoint_id": endpoint_id},
            {
                "status": DeliveryStatus.CANCELED.value,
                "next_attempt_at": None,
                "lease_owner": None,
                "updated_at": codecs.iso(now),
            },
        )


def made_between(conditions: dict[str, Condition], where: DeliveryFilter, page: PageRequest) -> PageRequest:
    """The page with `where`'s time range on delivery ids (time-ordered, see `domain.shared.ids`):
    one bound is the cursor (tightened), the other an id condition, so any index ending in the id
    serves the range."""
    low = None if where.made_from is None else id_time_floor("dlv", where.made_from)
    high = None if where.made_before is None else id_time_floor("dlv", where.made_before)
    cursor = page.starting_after
    # id > low keeps ids made at or after `made_from`; id <= high keeps those made before `made_before`.
    start, other = (high, low) if page.newest_first else (low, high)
    if start is not None:
        tighter = min if page.newest_first else max
        cursor = start if cursor is None else tighter(cursor, start)
    if other is not None:
        conditions["id"] = Gt(other) if page.newest_first else Lte(other)
    return replace(page, starting_after=cursor)


class DeadLetterRepo:
    def __init__(self, session: DocumentSession) -> None:
        self._s = session

    async def add(self, dead_letter: DeadLetter) -> None:
        await DEAD_LETTERS.add(self._s, dead_letter)

    async def get(self, dead_letter_id: str) -> DeadLetter | None:
        return await DEAD_LETTERS.get(self._s, dead_letter_id)

    async def update(self, dead_letter: DeadLetter) -> DeadLetter:
        return await update(self._s, DEAD_LETTERS, dead_letter, "dead letter")

    async def list(
        self,
        merchant_id: str | None,
        kind: DeadLetterKind | None,
        page: PageRequest,
        endpoint_id: str | None = None,
    ) -> Page[DeadLetter]:
        conditions = drop_none(
            merchant_id=merchant_id, endpoint_id=endpoint_id, kind=None if kind is None else kind.value
        )
        # Not replayed yet (`None` also matches dead letters stored before replays existed).
        return await DEAD_LETTERS.page(self._s, conditions | {"replayed_at": None}, page)

    async def count_open(self, merchant_id: str, endpoint_id: str | None = None) -> int:
        conditions = drop_none(merchant_id=merchant_id, endpoint_id=endpoint_id)
        return await self._s.count(DEAD_LETTERS.name, conditions | {"replayed_at": None})

    async def open_for_delivery(self, delivery_id: str) -> Sequence[DeadLetter]:
        docs = await self._s.find(
            DEAD_LETTERS.name, {"delivery_id": delivery_id, "replayed_at": None}, limit=1000
        )
        return DEAD_LETTERS.each(docs)

    async def for_delivery(self, delivery_id: str) -> Sequence[DeadLetter]:
        docs = await self._s.find(DEAD_LETTERS.name, {"delivery_id": delivery_id}, limit=1000)
        return DEAD_LETTERS.each(docs)
