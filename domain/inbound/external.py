"""Inbound event services: External stores what the gateway verified; Internal tracks processing."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from domain.inbound.model import InboundEvent, InboundStatus
from domain.inbound.ports import InboundFilter, InboundUnit, PersonalData
from domain.shared.clock import Clock
from domain.shared.errors import Conflict, PayloadExpired, owned
from domain.shared.ids import new_id
from domain.shared.pagination import MAX_LIMIT, Page, PageRequest
from domain.shared.personal import Person
from domain.shared.txn import TxnFn, with_retries
from domain.shared.work import WorkKind, WorkSignal


class Receipt(enum.StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedEvent:
    """An event whose signature the gateway has checked, ready to be stored."""

    merchant_id: str
    connection_id: str
    provider: str
    provider_event_id: str
    type: str
    body: bytes
    source_ip: str | None
    provider_created_at: datetime | None
    trace_carrier: Mapping[str, str]


class InboundExternal:
    """`personal_data` knows the providers' personal fields; without it, an erasure leaves the
    stored payloads as they are."""

    def __init__(
        self,
        txn: TxnFn[InboundUnit],
        clock: Clock,
        signal: WorkSignal,
        *,
        personal_data: PersonalData | None = None,
    ) -> None:
        self._txn = txn
        self._clock = clock
        self._signal = signal
        self._personal = personal_data

    async def receive(self, verified: VerifiedEvent) -> Receipt:
        """Store durably; the stored event is the work item. Accepted means committed."""
        now = self._clock()
        event = InboundEvent(
            id=new_id("evt"),
            merchant_id=verified.merchant_id,
            connection_id=verified.connection_id,
            provider=verified.provider,
            provider_event_id=verified.provider_event_id,
            type=verified.type,
            status=InboundStatus.ACCEPTED,
            source_ip=verified.source_ip,
            received_at=now,
            due_at=now,  # pragma: no mutate - stored as received_at when None
            body=verified.body,
            provider_created_at=verified.provider_created_at,
            trace_carrier=dict(verified.trace_carrier),
        )

        async def work(unit: InboundUnit) -> bool:
            return await unit.inbound_events.add_if_new(event)

        if not await self._txn(work):
            return Receipt.DUPLICATE
        # Workers claim accepted events from the store; the signal only wakes them early.
        self._signal.notify(WorkKind.INBOUND)
        return Receipt.ACCEPTED

    async def get(self, merchant_id: str, event_id: str) -> InboundEvent:
        async def work(unit: InboundUnit) -> InboundEvent | None:
            return await unit.inbound_events.get(event_id)

        found = await self._txn(work)
        return owned(found, merchant_id, "inbound event", event_id)

    async def reprocess(self, merchant_id: str, event_id: str) -> InboundEvent:
        """Run a `failed` or `ignored` event again: it becomes `accepted` and due now.

        Idempotent: an event already waiting (`accepted`) is left as it is, except that one
        waiting for a later retry (and leased by no worker) is made due now. An `applied`
        event has nothing left to run (409), nor has one whose body retention removed
        (409 `payload_expired`).
        """

        async def work(unit: InboundUnit) -> InboundEvent:
            found = owned(await unit.inbound_events.get(event_id), merchant_id, "inbound event", event_id)
            if found.payload_expired_at is not None:
                raise PayloadExpired("inbound event", event_id, found.payload_expired_at)
            if found.status == InboundStatus.APPLIED:
                raise Conflict(f"inbound event {event_id!r} is already applied: nothing to run again")
            now = self._clock()
            if found.status == InboundStatus.ACCEPTED:
                if found.lease_owner is not None or (found.due_at is not None and found.due_at <= now):
                    return found
                return await unit.inbound_events.update(replace(found, due_at=now))
            again = replace(
                found,
                status=InboundStatus.ACCEPTED,
                reason=None,
                attempts=0,
                processed_at=None,
                due_at=now,
                lease_owner=None,
            )
            return await unit.inbound_events.update(again)

        event = await with_retries(self._txn, work)
        self._signal.notify(WorkKind.INBOUND)
        return event

    async def erase(self, merchant_id: str, person: Person) -> int:
        """Empty `person`'s personal fields in the bodies of the merchant's stored events (those
        retention has not emptied yet); returns how many bodies changed. Idempotent.

        Reads every stored event of the merchant, a page per transaction; a body changed is
        written back by compare-and-set (a page that loses to a worker runs again).
        """
        personal = self._personal
        if personal is None:
            return 0
        changed: set[str] = set()  # a page run again after a conflict counts once
        cursor: str | None = None
        while True:

            async def page(unit: InboundUnit, after: str | None = cursor) -> str | None:
                listed = await unit.inbound_events.list(
                    merchant_id, InboundFilter(), PageRequest(limit=MAX_LIMIT, starting_after=after)
                )
                for event in listed.items:
                    if event.payload_expired_at is not None or not event.body:
                        continue
                    redacted = personal.without(event.provider, event.body, person)
                    if redacted is not None and redacted != event.body:
                        await unit.inbound_events.update(replace(event, body=redacted))
                        changed.add(event.id)
                return listed.items[-1].id if listed.has_more and listed.items else None

            cursor = await with_retries(self._txn, page)
            if cursor is None:
                return len(changed)

    async def list(self, merchant_id: str, where: InboundFilter, page: PageRequest) -> Page[InboundEvent]:
        async def work(unit: InboundUnit) -> Page[InboundEvent]:
            return await unit.inbound_events.list(merchant_id, where, page)

        return await self._txn(work)
