"""The domain's repository ports, implemented once on top of `DocumentSession`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import Generic, Protocol, TypeVar

from domain.billing.model import InboundEvent, InboundStatus
from domain.billing.ports import InboundFilter
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
from domain.shared.errors import ConcurrencyConflict, NotFound
from domain.shared.outbox import OutboxMessage
from domain.shared.pagination import Page, PageRequest, page_from_overfetch
from domain.subscriptions.model import Customer, Plan, Subscription
from domain.subscriptions.ports import PlanFilter, SubscriptionFilter
from integrations.storage import codecs
from integrations.storage.documents import (
    Condition,
    Document,
    DocumentSession,
    DuplicateDocument,
    In,
    Lte,
    Scalar,
    VersionMismatch,
)
from integrations.storage.recipients import CustomerEmails

T = TypeVar("T")


class _Versioned(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def version(self) -> int: ...


V = TypeVar("V", bound=_Versioned)


@dataclass(frozen=True, slots=True)
class _Collection(Generic[T]):
    """One collection with its codec: the common moves every repository makes."""

    name: str
    to_doc: Callable[[T], Document]
    from_doc: Callable[[Document], T]

    async def add(self, session: DocumentSession, value: T) -> None:
        await session.insert(self.name, self.to_doc(value))

    async def get(self, session: DocumentSession, doc_id: str) -> T | None:
        found = await session.get(self.name, doc_id)
        return None if found is None else self.from_doc(found)

    async def owned(self, session: DocumentSession, merchant_id: str, doc_id: str) -> T | None:
        found = await session.get(self.name, doc_id)
        return None if found is None or found.get("merchant_id") != merchant_id else self.from_doc(found)

    async def page(self, session: DocumentSession, where: dict[str, Condition], page: PageRequest) -> Page[T]:
        docs = await session.find(self.name, where, limit=page.limit + 1, after_id=page.starting_after)
        return page_from_overfetch([self.from_doc(d) for d in docs], page.limit)


async def _update(session: DocumentSession, col: _Collection[V], value: V, entity: str) -> V:
    """Compare-and-set: store value with version + 1 if the stored version is value.version."""
    bumped = replace(value, version=value.version + 1)  # type: ignore[type-var]
    try:
        await session.replace(col.name, col.to_doc(bumped), value.version)
    except VersionMismatch:
        raise ConcurrencyConflict(entity, value.id) from None
    return bumped


async def _many(session: DocumentSession, col: _Collection[T], ids: Sequence[str]) -> list[T]:
    """Documents by id, in one query; ids that do not exist are left out."""
    wanted = tuple(dict.fromkeys(ids))
    if not wanted:
        return []
    docs = await session.find(col.name, {"id": In(wanted)}, limit=len(wanted))
    return [col.from_doc(d) for d in docs]


_DUE_DELIVERIES: dict[str, Condition] = {"status": In(tuple(s.value for s in RETRYABLE))}
_OPEN_INBOUND: dict[str, Condition] = {"status": InboundStatus.ACCEPTED.value}


def _due_inbound(now: datetime) -> dict[str, Condition]:
    return _OPEN_INBOUND | {"due_at": Lte(codecs.iso(now))}


def _due_deliveries(now: datetime) -> dict[str, Condition]:
    return _DUE_DELIVERIES | {"next_attempt_at": Lte(codecs.iso(now))}


def _drop_none(**conditions: Condition) -> dict[str, Condition]:
    return {k: v for k, v in conditions.items() if v is not None}


MERCHANTS = _Collection("merchants", codecs.merchant_doc, codecs.merchant_from)
CONNECTIONS = _Collection("connections", codecs.connection_doc, codecs.connection_from)
# Set on a deleted connection (a tombstone); a connection without it is live.
_DELETED_AT = "deleted_at"
CUSTOMERS = _Collection("customers", codecs.customer_doc, codecs.customer_from)
PLANS = _Collection("plans", codecs.plan_doc, codecs.plan_from)
SUBSCRIPTIONS = _Collection("subscriptions", codecs.subscription_doc, codecs.subscription_from)
OUTBOX = _Collection("outbox", codecs.outbox_doc, codecs.outbox_from)
INBOUND = _Collection("inbound_events", codecs.inbound_doc, codecs.inbound_from)
ENDPOINTS = _Collection("endpoints", codecs.endpoint_doc, codecs.endpoint_from)
DELIVERIES = _Collection("deliveries", codecs.delivery_doc, codecs.delivery_from)
DEAD_LETTERS = _Collection("dead_letters", codecs.dead_letter_doc, codecs.dead_letter_from)


class MerchantRepo:
    def __init__(self, session: DocumentSession) -> None:
        self._s = session

    async def add(self, merchant: Merchant) -> None:
        await MERCHANTS.add(self._s, merchant)

    async def get(self, merchant_id: str) -> Merchant | None:
        return await MERCHANTS.get(self._s, merchant_id)

    async def by_key_hash(self, api_key_hash: str) -> Merchant | None:
        docs = await self._s.find(MERCHANTS.name, {"api_key_hash": api_key_hash}, limit=1)
        return MERCHANTS.from_doc(docs[0]) if docs else None

    async def update(self, merchant: Merchant) -> None:
        # Merchants change rarely (a key rotation) and carry no version of their own: the stored
        # document's version still guards the write against a concurrent one.
        stored = await self._s.get(MERCHANTS.name, merchant.id)
        if stored is None:
            raise NotFound("merchant", merchant.id)
        version = int(stored["version"])
        doc = {**MERCHANTS.to_doc(merchant), "version": version + 1}
        try:
            await self._s.replace(MERCHANTS.name, doc, version)
        except VersionMismatch:
            raise ConcurrencyConflict("merchant", merchant.id) from None


class ConnectionRepo:
    def __init__(self, session: DocumentSession) -> None:
        self._s = session

    async def add(self, connection: Connection) -> None:
        await CONNECTIONS.add(self._s, connection)

    async def get(self, connection_id: str) -> Connection | None:
        doc = await self._s.get(CONNECTIONS.name, connection_id)
        return None if doc is None or doc.get(_DELETED_AT) is not None else CONNECTIONS.from_doc(doc)

    async def list_for(self, merchant_id: str) -> Sequence[Connection]:
        docs = await self._s.find(
            CONNECTIONS.name, {"merchant_id": merchant_id, _DELETED_AT: None}, limit=1000
        )
        return [CONNECTIONS.from_doc(d) for d in docs]

    async def update(self, connection: Connection) -> None:
        # Connections carry no version of their own (like merchants): the stored document's
        # version still guards the write against a concurrent one.
        stored = await self._s.get(CONNECTIONS.name, connection.id)
        if stored is None or stored.get(_DELETED_AT) is not None:
            raise NotFound("connection", connection.id)
        version = int(stored["version"])
        doc = {**CONNECTIONS.to_doc(connection), "version": version + 1}
        try:
            await self._s.replace(CONNECTIONS.name, doc, version)
        except VersionMismatch:
            raise ConcurrencyConflict("connection", connection.id) from None

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
    def __init__(self, session: DocumentSession) -> None:
        self._s = session

    async def get(self, merchant_id: str, subscription_id: str) -> Subscription | None:
        return await SUBSCRIPTIONS.owned(self._s, merchant_id, subscription_id)

    async def add(self, subscription: Subscription) -> None:
        await SUBSCRIPTIONS.add(self._s, subscription)

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
        return [SUBSCRIPTIONS.from_doc(d) for d in docs]

    async def past_due_since(self, cutoff: datetime, limit: int) -> Sequence[Subscription]:
        docs = await self._s.find(
            SUBSCRIPTIONS.name,
            {"past_due_since": Lte(codecs.iso(cutoff))},
            limit=limit,
            order_by="past_due_since",
        )
        return [SUBSCRIPTIONS.from_doc(d) for d in docs]


class ProviderLinkRepo:
    def __init__(self, session: DocumentSession) -> None:
        self._s = session

    @staticmethod
    def _key(merchant_id: str, kind: str, provider: str, external_id: str) -> str:
        return f"{merchant_id}:{kind}:{provider}:{external_id}"

    async def find(self, merchant_id: str, kind: str, provider: str, external_id: str) -> str | None:
        doc = await self._s.get("provider_links", self._key(merchant_id, kind, provider, external_id))
        return None if doc is None else str(doc["internal_id"])

    async def add(
        self, merchant_id: str, kind: str, provider: str, external_id: str, internal_id: str
    ) -> None:
        key = self._key(merchant_id, kind, provider, external_id)
        try:
            await self._s.insert("provider_links", {"id": key, "version": 0, "internal_id": internal_id})
        except DuplicateDocument:
            # Another transaction linked it first (two workers creating the same customer or
            # plan at once): a conflict that a retry resolves, since it then finds that link.
            raise ConcurrencyConflict(f"{kind} link", f"{provider}:{external_id}") from None


class ProcessedInputRepo:
    def __init__(self, session: DocumentSession) -> None:
        self._s = session

    async def seen(self, key: str) -> bool:
        return await self._s.get("processed_inputs", key) is not None

    async def claim(self, key: str) -> bool:
        try:
            await self._s.insert("processed_inputs", {"id": key, "version": 0})
        except DuplicateDocument:
            return False
        return True


class OutboxRepo:
    def __init__(self, session: DocumentSession) -> None:
        self._s = session

    async def append(self, message: OutboxMessage) -> None:
        await OUTBOX.add(self._s, message)

    async def get(self, message_id: str) -> OutboxMessage | None:
        return await OUTBOX.get(self._s, message_id)

    async def get_many(self, message_ids: Sequence[str]) -> Sequence[OutboxMessage]:
        return await _many(self._s, OUTBOX, message_ids)

    async def pending(self, limit: int) -> Sequence[OutboxMessage]:
        docs = await self._s.find(OUTBOX.name, {"dispatched": False}, limit=limit)
        return [OUTBOX.from_doc(d) for d in docs]

    async def count_pending(self) -> int:
        """Messages not fanned out yet (each is due as soon as it is written)."""
        return await self._s.count(OUTBOX.name, {"dispatched": False})

    async def mark_dispatched(self, message_id: str) -> None:
        doc = await self._s.get(OUTBOX.name, message_id)
        if doc is None or doc["dispatched"]:
            raise ConcurrencyConflict("outbox message", message_id)
        try:
            await self._s.replace(
                OUTBOX.name, {**doc, "dispatched": True, "version": doc["version"] + 1}, doc["version"]
            )
        except VersionMismatch:
            raise ConcurrencyConflict("outbox message", message_id) from None


class InboundEventRepo:
    def __init__(self, session: DocumentSession) -> None:
        self._s = session

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
        return [INBOUND.from_doc(d) for d in docs]

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

    async def accepted_before(self, cutoff: datetime, limit: int) -> Sequence[InboundEvent]:
        docs = await self._s.find(
            INBOUND.name,
            {"status": InboundStatus.ACCEPTED.value, "received_at": Lte(codecs.iso(cutoff))},
            limit=limit,
            order_by="received_at",
        )
        return [INBOUND.from_doc(d) for d in docs]


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
        return [ENDPOINTS.from_doc(d) for d in docs]

    async def get_many(self, endpoint_ids: Sequence[str]) -> Sequence[Endpoint]:
        return await _many(self._s, ENDPOINTS, endpoint_ids)


class DeliveryRepo:
    def __init__(self, session: DocumentSession) -> None:
        self._s = session

    async def add(self, delivery: Delivery) -> None:
        await DELIVERIES.add(self._s, delivery)

    async def get(self, delivery_id: str) -> Delivery | None:
        return await DELIVERIES.get(self._s, delivery_id)

    async def exists(self, message_id: str, endpoint_id: str) -> bool:
        found = await self._s.find(
            DELIVERIES.name, {"message_id": message_id, "endpoint_id": endpoint_id}, limit=1
        )
        return bool(found)

    async def update(self, delivery: Delivery) -> Delivery:
        return await _update(self._s, DELIVERIES, delivery, "delivery")

    async def list(self, merchant_id: str, where: DeliveryFilter, page: PageRequest) -> Page[Delivery]:
        status = None if where.status is None else where.status.value
        conditions = _drop_none(merchant_id=merchant_id, endpoint_id=where.endpoint_id, status=status)
        if where.channel is not None:
            # Deliveries stored before emails existed have no channel: they are webhooks.
            wanted: tuple[Scalar, ...] = (where.channel.value,)
            conditions["channel"] = In((*wanted, None) if where.channel == Channel.WEBHOOK else wanted)
        return await DELIVERIES.page(self._s, conditions, page)

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
        return [DELIVERIES.from_doc(d) for d in docs]

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
        return [DELIVERIES.from_doc(d) for d in docs]

    async def first_open_in_lane(self, lane: str) -> Delivery | None:
        docs = await self._s.find(DELIVERIES.name, _DUE_DELIVERIES | {"lane": lane}, limit=1, order_by="id")
        return DELIVERIES.from_doc(docs[0]) if docs else None

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
        self, merchant_id: str | None, kind: DeadLetterKind | None, page: PageRequest
    ) -> Page[DeadLetter]:
        conditions = _drop_none(merchant_id=merchant_id, kind=None if kind is None else kind.value)
        # Not replayed yet (`None` also matches dead letters stored before replays existed).
        return await DEAD_LETTERS.page(self._s, conditions | {"replayed_at": None}, page)

    async def open_for_delivery(self, delivery_id: str) -> Sequence[DeadLetter]:
        docs = await self._s.find(
            DEAD_LETTERS.name, {"delivery_id": delivery_id, "replayed_at": None}, limit=1000
        )
        return [DEAD_LETTERS.from_doc(d) for d in docs]


class StoreUnit:
    """Every repository bound to one session. Each context sees it through its own unit Protocol.

    Each repository is made when first used: a unit of work uses a few of them.
    """

    def __init__(self, session: DocumentSession) -> None:
        self._s = session

    @cached_property
    def merchants(self) -> MerchantRepo:
        return MerchantRepo(self._s)

    @cached_property
    def connections(self) -> ConnectionRepo:
        return ConnectionRepo(self._s)

    @cached_property
    def customers(self) -> CustomerRepo:
        return CustomerRepo(self._s)

    @cached_property
    def plans(self) -> PlanRepo:
        return PlanRepo(self._s)

    @cached_property
    def subscriptions(self) -> SubscriptionRepo:
        return SubscriptionRepo(self._s)

    @cached_property
    def provider_links(self) -> ProviderLinkRepo:
        return ProviderLinkRepo(self._s)

    @cached_property
    def processed(self) -> ProcessedInputRepo:
        return ProcessedInputRepo(self._s)

    @cached_property
    def outbox(self) -> OutboxRepo:
        return OutboxRepo(self._s)

    @cached_property
    def inbound_events(self) -> InboundEventRepo:
        return InboundEventRepo(self._s)

    @cached_property
    def endpoints(self) -> EndpointRepo:
        return EndpointRepo(self._s)

    @cached_property
    def deliveries(self) -> DeliveryRepo:
        return DeliveryRepo(self._s)

    @cached_property
    def dead_letters(self) -> DeadLetterRepo:
        return DeadLetterRepo(self._s)

    @cached_property
    def recipients(self) -> CustomerEmails:
        return CustomerEmails(self._s)
