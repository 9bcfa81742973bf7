"""The domain's repository ports, implemented once on top of `DocumentSession`.

Look-ups and listings read leniently (one unreadable field never fails a read); what a worker
takes from a queue is read strictly, one document at a time, and an unreadable one is taken out
of its queue (see `integrations.stores.unreadable`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import Generic, TypeVar

from domain.inbound.model import InboundEvent, InboundStatus
from domain.inbound.ports import InboundFilter
from domain.merchants.model import Connection, Merchant
from domain.notifications.model import (
    RETRYABLE,
    Channel,
    DeadLetter,
    DeadLetterKind,
    Delivery,
    DeliveryStatus,
    Endpoint,
)
from domain.notifications.ports import DeliveryFilter
from domain.shared.clock import Clock, system_clock
from domain.shared.errors import ConcurrencyConflict, NotFound
from domain.shared.ids import id_time_floor, new_id
from domain.shared.outbox import OutboxMessage
from domain.shared.pagination import Page, PageRequest
from domain.subscriptions.model import Customer, Plan, Subscription
from domain.subscriptions.ports import PlanFilter, SubscriptionFilter
from integrations.stores import codecs, unreadable
from integrations.stores.codecs import Readout
from integrations.stores.documents import (
    Condition,
    Document,
    DocumentSession,
    DuplicateDocument,
    Gt,
    In,
    Lte,
    Scalar,
)
from integrations.stores.endpoint_stats import EndpointStatsRepo
from integrations.stores.portal_sessions import PortalSessionRepo
from integrations.stores.recipients import CustomerEmails
from integrations.stores.unreadable import SetAside, rendered, work_items
from integrations.stores.versioned import V, bumped, replace_or_conflict

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Collection(Generic[T]):
    """One collection with its codec: the common moves every repository makes."""

    name: str
    to_doc: Callable[[T], Document]
    # Strict: the value exactly, or UnreadableDocument (what a worker takes from a queue).
    from_doc: Callable[[Document], T]
    # Lenient: what can be read (look-ups and listings).
    read: Callable[[Document], Readout[T]]

    async def add(self, session: DocumentSession, value: T) -> None:
        await session.insert(self.name, self.to_doc(value))

    def one(self, doc: Document) -> T:
        """A looked-up document as far as it can be read; UnreadableDocument when not at all."""
        value = rendered(self.name, doc, self.read(doc))
        if value is None:
            return self.from_doc(doc)  # raises UnreadableDocument, saying why
        return value

    def each(self, docs: Sequence[Document]) -> list[T]:
        """Listed documents as far as they can be read; those of which nothing can be made left out."""
        return [value for doc in docs if (value := rendered(self.name, doc, self.read(doc))) is not None]

    async def get(self, session: DocumentSession, doc_id: str) -> T | None:
        found = await session.get(self.name, doc_id)
        return None if found is None else self.one(found)

    async def owned(self, session: DocumentSession, merchant_id: str, doc_id: str) -> T | None:
        found = await session.get(self.name, doc_id)
        return None if found is None or found.get("merchant_id") != merchant_id else self.one(found)

    async def page(self, session: DocumentSession, where: dict[str, Condition], page: PageRequest) -> Page[T]:
        docs = await session.find(
            self.name, where, limit=page.limit + 1, after_id=page.starting_after, descending=page.newest_first
        )
        # Over-fetched by one, to tell whether more exist; this holds even when an unreadable
        # document was left out (the next page starts after the last one shown).
        return Page(items=tuple(self.each(docs)[: page.limit]), has_more=len(docs) > page.limit)


async def _update(session: DocumentSession, col: _Collection[V], value: V, entity: str) -> V:
    """Compare-and-set: store value with version + 1 if the stored version is value.version."""
    return await bumped(session, col.name, col.to_doc, value, entity)


async def _many(session: DocumentSession, col: _Collection[T], ids: Sequence[str]) -> list[T]:
    """Documents by id, in one query; ids that do not exist are left out."""
    wanted = tuple(dict.fromkeys(ids))
    if not wanted:
        return []
    docs = await session.find(col.name, {"id": In(wanted)}, limit=len(wanted))
    return col.each(docs)


_DUE_DELIVERIES: dict[str, Condition] = {"status": In(tuple(s.value for s in RETRYABLE))}
_OPEN_INBOUND: dict[str, Condition] = {"status": InboundStatus.ACCEPTED.value}


def _due_inbound(now: datetime) -> dict[str, Condition]:
    return _OPEN_INBOUND | {"due_at": Lte(codecs.iso(now))}


def _due_deliveries(now: datetime) -> dict[str, Condition]:
    return _DUE_DELIVERIES | {"next_attempt_at": Lte(codecs.iso(now))}


def _drop_none(**conditions: Condition) -> dict[str, Condition]:
    return {k: v for k, v in conditions.items() if v is not None}


def _collection(
    name: str, codec: codecs.DocumentCodec[T], to_doc: Callable[[T], Document] | None = None
) -> _Collection[T]:
    return _Collection(name, to_doc or codec.to_doc, codec.from_doc, codec.read)


MERCHANTS = _collection("merchants", codecs.MERCHANTS)
CONNECTIONS = _collection("connections", codecs.CONNECTIONS)
# Set on a deleted connection (a tombstone); a connection without it is live.
_DELETED_AT = "deleted_at"
CUSTOMERS = _collection("customers", codecs.CUSTOMERS)
PLANS = _collection("plans", codecs.PLANS)
SUBSCRIPTIONS = _collection("subscriptions", codecs.SUBSCRIPTIONS)
OUTBOX = _collection("outbox", codecs.OUTBOX)
INBOUND = _collection("inbound_events", codecs.INBOUND, codecs.inbound_doc)
ENDPOINTS = _collection("endpoints", codecs.ENDPOINTS)
DELIVERIES = _collection("deliveries", codecs.DELIVERIES)
DEAD_LETTERS = _collection("dead_letters", codecs.DEAD_LETTERS)
# One entry per customer email (id = the delivery's), by merchant and customer.
CUSTOMER_EMAILS = "customer_emails"


class MerchantRepo:
    def __init__(self, session: DocumentSession) -> None:
        self._s = session

    async def add(self, merchant: Merchant) -> None:
        await MERCHANTS.add(self._s, merchant)

    async def get(self, merchant_id: str) -> Merchant | None:
        return await MERCHANTS.get(self._s, merchant_id)

    async def by_key_hash(self, api_key_hash: str) -> Merchant | None:
        docs = await self._s.find(MERCHANTS.name, {"api_key_hash": api_key_hash}, limit=1)
        return MERCHANTS.one(docs[0]) if docs else None

    async def update(self, merchant: Merchant) -> None:
        # Merchants change rarely (a key rotation) and carry no version of their own: the stored
        # document's version still guards the write against a concurrent one.
        stored = await self._s.get(MERCHANTS.name, merchant.id)
        if stored is None:
            raise NotFound("merchant", merchant.id)
        version = int(stored["version"])
        doc = {**MERCHANTS.to_doc(merchant), "version": version + 1}
        await replace_or_conflict(self._s, MERCHANTS.name, doc, version, "merchant")


class ConnectionRepo:
    def __init__(self, session: DocumentSession) -> None:
        self._s = session

    async def add(self, connection: Connection) -> None:
        await CONNECTIONS.add(self._s, connection)

    async def get(self, connection_id: str) -> Connection | None:
        doc = await self._s.get(CONNECTIONS.name, connection_id)
        return None if doc is None or doc.get(_DELETED_AT) is not None else CONNECTIONS.one(doc)

    async def list_for(self, merchant_id: str) -> Sequence[Connection]:
        docs = await self._s.find(
            CONNECTIONS.name, {"merchant_id": merchant_id, _DELETED_AT: None}, limit=1000
        )
        return CONNECTIONS.each(docs)

    async def update(self, connection: Connection) -> None:
        # Connections carry no version of their own (like merchants): the stored document's
        # version still guards the write against a concurrent one.
        stored = await self._s.get(CONNECTIONS.name, connection.id)
        if stored is None or stored.get(_DELETED_AT) is not None:
            raise NotFound("connection", connection.id)
        version = int(stored["version"])
        doc = {**CONNECTIONS.to_doc(connection), "version": version + 1}
        await replace_or_conflict(self._s, CONNECTIONS.name, doc, version, "connection")

    async def remove(self, connection_id: str, at: datetime) -> bool:
        # A tombstone, not a deletion: the id is never reused, and the inbound events that
        # name it stay meaningful. Every read above treats it as gone.
        changed = await self._s.update_where(
            CONNECTIONS.name, {"id": connection_id, _DELETED_AT: None}, {_DELETED_AT: codecs.iso(at)}
        )
        return changed > 0


class CustomerRepo:
    def __init__(self, session: DocumentSession) -> None:
        self._s = session

    async def get(self, merchant_id: str, customer_id: str) -> Customer | None:
        return await CUSTOMERS.owned(self._s, merchant_id, customer_id)

    async def add(self, customer: Customer) -> None:
        await CUSTOMERS.add(self._s, customer)

    async def update(self, customer: Customer) -> Customer:
        return await _update(self._s, CUSTOMERS, customer, "customer")

    async def list(self, merchant_id: str, page: PageRequest) -> Page[Customer]:
        return await CUSTOMERS.page(self._s, {"merchant_id": merchant_id}, page)


class PlanRepo:
    def __init__(self, session: DocumentSession) -> None:
        self._s = session

    async def get(self, merchant_id: str, plan_id: str) -> Plan | None:
        return await PLANS.owned(self._s, merchant_id, plan_id)

    async def add(self, plan: Plan) -> None:
        await PLANS.add(self._s, plan)

    async def update(self, plan: Plan) -> Plan:
        return await _update(self._s, PLANS, plan, "plan")

    async def list(self, merchant_id: str, where: PlanFilter, page: PageRequest) -> Page[Plan]:
        # Plans stored before archiving existed have no field: they are not archived.
        archived: Condition = (
            None if where.archived is None else In((True,) if where.archived else (False, None))
        )
        return await PLANS.page(self._s, _drop_none(merchant_id=merchant_id, archived=archived), page)


class SubscriptionRepo:
    def __init__(self, session: DocumentSession, set_aside: SetAside | None = None) -> None:
        self._s = session
        self._set_aside = set_aside or SetAside()

    async def get(self, merchant_id: str, subscription_id: str) -> Subscription | None:
        return await SUBSCRIPTIONS.owned(self._s, merchant_id, subscription_id)

    async def add(self, subscription: Subscription) -> None:
        try:
            await SUBSCRIPTIONS.add(self._s, subscription)
        except DuplicateDocument:
            # Another unit created it with this id first (see `_create_from_provider`): retry.
            raise ConcurrencyConflict("subscription", subscription.id) from None

    async def update(self, subscription: Subscription) -> Subscription:
        return await _update(self._s, SUBSCRIPTIONS, subscription, "subscription")

    async def list(
        self, merchant_id: str, where: SubscriptionFilter, page: PageRequest
    ) -> Page[Subscription]:
        status = None if where.status is None else where.status.value
        conditions = _drop_none(
            merchant_id=merchant_id,
            status=status,
            customer_id=where.customer_id,
            provider_subscription_id=where.provider_subscription_id,
        )
        return await SUBSCRIPTIONS.page(self._s, conditions, page)

    async def due(self, now: datetime, limit: int) -> Sequence[Subscription]:
        docs = await self._s.find(
            SUBSCRIPTIONS.name,
            {"next_transition_at": Lte(codecs.iso(now))},
            limit=limit,
            order_by="next_transition_at",
        )
        return await self._due_ones(docs)

    async def past_due_since(self, cutoff: datetime, limit: int) -> Sequence[Subscription]:
        docs = await self._s.find(
            SUBSCRIPTIONS.name,
            {"past_due_since": Lte(codecs.iso(cutoff))},
            limit=limit,
            order_by="past_due_since",
        )
        return await self._due_ones(docs)

    async def _due_ones(self, docs: Sequence[Document]) -> Sequence[Subscription]:
        """What the scheduler takes; an unreadable subscription leaves its indexes (see `unreadable`)."""

        async def take_out(doc: Document, reason: str) -> None:
            await self._s.update_where(
                SUBSCRIPTIONS.name,
                {"id": doc.get("id")},
                {"next_transition_at": None, "past_due_since": None, "schedule_failure": reason},
            )

        return await work_items(
            docs,
            SUBSCRIPTIONS.from_doc,
            take_out,
            queue=unreadable.SUBSCRIPTIONS,
            set_aside=self._set_aside,
        )


class ProviderLinkRepo:
    def __init__(self, session: DocumentSession) -> None:
        self._s = session

    @staticmethod
    def link_key(merchant_id: str, kind: str, provider: str, external_id: str) -> str:
        return f"{merchant_id}:{kind}:{provider}:{external_id}"

    async def find(self, merchant_id: str, kind: str, provider: str, external_id: str) -> str | None:
        doc = await self._s.get("provider_links", self.link_key(merchant_id, kind, provider, external_id))
        return None if doc is None else str(doc["internal_id"])

    async def add(
        self, merchant_id: str, kind: str, provider: str, external_id: str, internal_id: str
    ) -> None:
        key = self.link_key(merchant_id, kind, provider, external_id)
        try:
            await self._s.insert("provider_links", {"id": key, "version": 0, "internal_id": internal_id})
        except DuplicateDocument:
            # Another transaction linked it first (two workers creating the same customer or
            # plan at once): a conflict that a retry resolves, since it then finds that link.
            raise ConcurrencyConflict(f"{kind} link", f"{provider}:{external_id}") from None


class ProcessedInputRepo:
    def __init__(self, session: DocumentSession, clock: Clock) -> None:
        self._s = session
        self._clock = clock

    async def seen(self, key: str) -> bool:
        return await self._s.get("processed_inputs", key) is not None

    async def claim(self, key: str) -> bool:
        # `created_at`: retention removes keys once their input is long settled (see `retention`).
        doc = {"id": key, "version": 0, "created_at": codecs.iso(self._clock())}
        try:
            await self._s.insert("processed_inputs", doc)
        except DuplicateDocument:
            return False
        return True


class OutboxRepo:
    def __init__(self, session: DocumentSession, set_aside: SetAside | None = None) -> None:
        self._s = session
        self._set_aside = set_aside or SetAside()

    async def append(self, message: OutboxMessage) -> None:
        try:
            await OUTBOX.add(self._s, message)
        except DuplicateDocument:
            # Appended meanwhile by whoever finished the change that carries it (a store without
            # transactions, see `domain.subscriptions.recording`): the unit runs again and finds it.
            raise ConcurrencyConflict("outbox message", message.id) from None

    async def get(self, message_id: str) -> OutboxMessage | None:
        return await OUTBOX.get(self._s, message_id)

    async def get_many(self, message_ids: Sequence[str]) -> Sequence[OutboxMessage]:
        return await _many(self._s, OUTBOX, message_ids)

    async def pending(self, limit: int) -> Sequence[OutboxMessage]:
        docs = await self._s.find(OUTBOX.name, {"dispatched": False}, limit=limit)

        async def take_out(doc: Document, reason: str) -> None:
            await self._s.update_where(
                OUTBOX.name, {"id": doc.get("id")}, {"dispatched": True, "failure": reason}
            )

        return await work_items(
            docs, OUTBOX.from_doc, take_out, queue=unreadable.OUTBOX, set_aside=self._set_aside
        )

    async def count_pending(self) -> int:
        """Messages not fanned out yet (each is due as soon as it is written)."""
        return await self._s.count(OUTBOX.name, {"dispatched": False})

    async def mark_dispatched(self, message_id: str) -> None:
        doc = await self._s.get(OUTBOX.name, message_id)
        if doc is None or doc["dispatched"]:
            raise ConcurrencyConflict("outbox message", message_id)
        dispatched = {**doc, "dispatched": True, "version": doc["version"] + 1}
        await replace_or_conflict(self._s, OUTBOX.name, dispatched, doc["version"], "outbox message")


class InboundEventRepo:
    def __init__(self, session: DocumentSession, set_aside: SetAside | None = None) -> None:
        self._s = session
        self._set_aside = set_aside or SetAside()

    async def add_if_new(self, event: InboundEvent) -> bool:
        try:
            await INBOUND.add(self._s, event)
        except DuplicateDocument:
            return False
        return True

    async def get(self, event_id: str) -> InboundEvent | None:
        return await INBOUND.get(self._s, event_id)

    async def update(self, event: InboundEvent) -> InboundEvent:
        return await _update(self._s, INBOUND, event, "inbound event")

    async def list(self, merchant_id: str, where: InboundFilter, page: PageRequest) -> Page[InboundEvent]:
        status = None if where.status is None else where.status.value
        conditions = _drop_none(merchant_id=merchant_id, connection_id=where.connection_id, status=status)
        return await INBOUND.page(self._s, conditions, page)

    async def claim_due(
        self, now: datetime, lease_until: datetime, owner: str, limit: int
    ) -> Sequence[InboundEvent]:
        docs = await self._s.claim(
            INBOUND.name,
            _due_inbound(now),
            order_by="due_at",
            limit=limit,
            assign={"lease_owner": owner, "due_at": codecs.iso(lease_until)},
        )

        async def take_out(doc: Document, reason: str) -> None:
            failed = {
                "status": InboundStatus.FAILED.value,
                "reason": f"the stored event cannot be read: {reason}",
                "processed_at": codecs.iso(now),
                "lease_owner": None,
            }
            await self._s.update_where(INBOUND.name, {"id": doc.get("id")}, failed)

        return await work_items(
            docs, INBOUND.from_doc, take_out, queue=unreadable.INBOUND, set_aside=self._set_aside
        )

    async def release_leases(self, owner: str, now: datetime) -> int:
        return await self._s.update_where(
            INBOUND.name,
            {"lease_owner": owner, "status": InboundStatus.ACCEPTED.value},
            {"lease_owner": None, "due_at": codecs.iso(now)},
        )

    async def count_open(self) -> int:
        """Events not processed to an end yet: waiting, postponed, or claimed by a worker."""
        return await self._s.count(INBOUND.name, _OPEN_INBOUND)

    async def count_due(self, now: datetime) -> int:
        """Events a claim would take at `now` (a claim moves an event's due time to its lease's end)."""
        return await self._s.count(INBOUND.name, _due_inbound(now))


class EndpointRepo:
    def __init__(self, session: DocumentSession) -> None:
        self._s = session

    async def add(self, endpoint: Endpoint) -> None:
        await ENDPOINTS.add(self._s, endpoint)

    async def get(self, merchant_id: str, endpoint_id: str) -> Endpoint | None:
        found = await ENDPOINTS.owned(self._s, merchant_id, endpoint_id)
        return None if found is None or found.deleted_at is not None else found

    async def update(self, endpoint: Endpoint) -> Endpoint:
        return await _update(self._s, ENDPOINTS, endpoint, "endpoint")

    async def list(self, merchant_id: str, page: PageRequest) -> Page[Endpoint]:
        # `deleted_at: None` also matches endpoints stored before deletion existed (no field).
        return await ENDPOINTS.page(self._s, {"merchant_id": merchant_id, "deleted_at": None}, page)

    async def all_for(self, merchant_id: str) -> Sequence[Endpoint]:
        docs = await self._s.find(
            ENDPOINTS.name, {"merchant_id": merchant_id, "deleted_at": None}, limit=10_000
        )
        return ENDPOINTS.each(docs)

    async def get_many(self, endpoint_ids: Sequence[str]) -> Sequence[Endpoint]:
        return await _many(self._s, ENDPOINTS, endpoint_ids)


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
        found = await _many(self._s, DELIVERIES, [str(entry["id"]) for entry in entries])
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
        return await _update(self._s, DELIVERIES, delivery, "delivery")

    async def list(self, merchant_id: str, where: DeliveryFilter, page: PageRequest) -> Page[Delivery]:
        status = None if where.status is None else where.status.value
        conditions = _drop_none(
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
        docs = await self._s.claim(
            DELIVERIES.name,
            _due_deliveries(now),
            order_by="next_attempt_at",
            limit=limit,
            assign={"lease_owner": owner, "next_attempt_at": codecs.iso(lease_until)},
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
        return await _update(self._s, DEAD_LETTERS, dead_letter, "dead letter")

    async def list(
        self,
        merchant_id: str | None,
        kind: DeadLetterKind | None,
        page: PageRequest,
        endpoint_id: str | None = None,
    ) -> Page[DeadLetter]:
        conditions = _drop_none(
            merchant_id=merchant_id, endpoint_id=endpoint_id, kind=None if kind is None else kind.value
        )
        # Not replayed yet (`None` also matches dead letters stored before replays existed).
        return await DEAD_LETTERS.page(self._s, conditions | {"replayed_at": None}, page)

    async def count_open(self, merchant_id: str, endpoint_id: str | None = None) -> int:
        conditions = _drop_none(merchant_id=merchant_id, endpoint_id=endpoint_id)
        return await self._s.count(DEAD_LETTERS.name, conditions | {"replayed_at": None})

    async def open_for_delivery(self, delivery_id: str) -> Sequence[DeadLetter]:
        docs = await self._s.find(
            DEAD_LETTERS.name, {"delivery_id": delivery_id, "replayed_at": None}, limit=1000
        )
        return DEAD_LETTERS.each(docs)

    async def for_delivery(self, delivery_id: str) -> Sequence[DeadLetter]:
        docs = await self._s.find(DEAD_LETTERS.name, {"delivery_id": delivery_id}, limit=1000)
        return DEAD_LETTERS.each(docs)


class StoreUnit:
    """Every repository bound to one session. Each context sees it through its own unit Protocol.

    Each repository is made when first used: a unit of work uses a few of them.
    """

    def __init__(
        self, session: DocumentSession, set_aside: SetAside | None = None, clock: Clock = system_clock
    ) -> None:
        self._s = session
        # What its queues' reads took out as unreadable, for `StoreTxn` to report after the commit.
        self.set_aside = set_aside or SetAside()
        self._clock = clock

    @cached_property
    def merchants(self) -> MerchantRepo:
        return MerchantRepo(self._s)

    @cached_property
    def connections(self) -> ConnectionRepo:
        return ConnectionRepo(self._s)

    @cached_property
    def portal_sessions(self) -> PortalSessionRepo:
        return PortalSessionRepo(self._s)

    @cached_property
    def customers(self) -> CustomerRepo:
        return CustomerRepo(self._s)

    @cached_property
    def plans(self) -> PlanRepo:
        return PlanRepo(self._s)

    @cached_property
    def subscriptions(self) -> SubscriptionRepo:
        return SubscriptionRepo(self._s, self.set_aside)

    @cached_property
    def provider_links(self) -> ProviderLinkRepo:
        return ProviderLinkRepo(self._s)

    @cached_property
    def processed(self) -> ProcessedInputRepo:
        return ProcessedInputRepo(self._s, self._clock)

    @cached_property
    def outbox(self) -> OutboxRepo:
        return OutboxRepo(self._s, self.set_aside)

    @cached_property
    def inbound_events(self) -> InboundEventRepo:
        return InboundEventRepo(self._s, self.set_aside)

    @cached_property
    def endpoints(self) -> EndpointRepo:
        return EndpointRepo(self._s)

    @cached_property
    def deliveries(self) -> DeliveryRepo:
        return DeliveryRepo(self._s, self.set_aside)

    @cached_property
    def dead_letters(self) -> DeadLetterRepo:
        return DeadLetterRepo(self._s)

    @cached_property
    def recipients(self) -> CustomerEmails:
        return CustomerEmails(self._s)

    @cached_property
    def endpoint_stats(self) -> EndpointStatsRepo:
        return EndpointStatsRepo(self._s)
