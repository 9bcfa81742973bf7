"""The domain's repository ports, implemented once on top of `DocumentSession`.

Look-ups and listings read leniently (one unreadable field never fails a read); what a worker
takes from a queue is read strictly, one document at a time, and an unreadable one is taken out
of its queue (see `integrations.stores.unreadable`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cached_property

from domain.inbound.model import InboundEvent, InboundStatus
from domain.inbound.ports import InboundFilter
from domain.merchants.model import Connection, Merchant
from domain.notifications.model import Endpoint
from domain.shared.clock import Clock, system_clock
from domain.shared.errors import ConcurrencyConflict, NotFound
from domain.shared.outbox import OutboxMessage
from domain.shared.pagination import Page, PageRequest
from domain.subscriptions.model import Customer, Plan, Subscription
from domain.subscriptions.ports import PlanFilter, SubscriptionFilter
from integrations.stores import codecs, unreadable
from integrations.stores.collection import (
    CONNECTIONS,
    CUSTOMERS,
    ENDPOINTS,
    INBOUND,
    MERCHANTS,
    OUTBOX,
    PLANS,
    SUBSCRIPTIONS,
    drop_none,
    many,
    update,
)
from integrations.stores.delivery_repos import DeadLetterRepo, DeliveryRepo
from integrations.stores.documents import Condition, Document, DocumentSession, DuplicateDocument, In, Lte
from integrations.stores.endpoint_stats import EndpointStatsRepo
from integrations.stores.portal_sessions import PortalSessionRepo
from integrations.stores.recipients import CustomerEmails
from integrations.stores.unreadable import SetAside, work_items
from integrations.stores.versioned import replace_or_conflict

_OPEN_INBOUND: dict[str, Condition] = {"status": InboundStatus.ACCEPTED.value}


def _due_inbound(now: datetime) -> dict[str, Condition]:
    return _OPEN_INBOUND | {"due_at": Lte(codecs.iso(now))}


# Set on a deleted connection (a tombstone); a connection without it is live.
_DELETED_AT = "deleted_at"


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
        return await update(self._s, CUSTOMERS, customer, "customer")

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
        return await update(self._s, PLANS, plan, "plan")

    async def list(self, merchant_id: str, where: PlanFilter, page: PageRequest) -> Page[Plan]:
        # Plans stored before archiving existed have no field: they are not archived.
        archived: Condition = (
            None if where.archived is None else In((True,) if where.archived else (False, None))
        )
        return await PLANS.page(self._s, drop_none(merchant_id=merchant_id, archived=archived), page)


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
        return await update(self._s, SUBSCRIPTIONS, subscription, "subscription")

    async def list(
        self, merchant_id: str, where: SubscriptionFilter, page: PageRequest
    ) -> Page[Subscription]:
        status = None if where.status is None else where.status.value
        conditions = drop_none(
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
        return await many(self._s, OUTBOX, message_ids)

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
        return await update(self._s, INBOUND, event, "inbound event")

    async def list(self, merchant_id: str, where: InboundFilter, page: PageRequest) -> Page[InboundEvent]:
        status = None if where.status is None else where.status.value
        conditions = drop_none(merchant_id=merchant_id, connection_id=where.connection_id, status=status)
        return await INBOUND.page(self._s, conditions, page)

    async def claim_due(
        self, now: datetime, lease_until: datetime, owner: str, limit: int
    ) -> Sequence[InboundEvent]:
        docs = await INBOUND.lease(
            self._s, _due_inbound(now), due_field="due_at", owner=owner, until=lease_until, limit=limit
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
        return await update(self._s, ENDPOINTS, endpoint, "endpoint")

    async def list(self, merchant_id: str, page: PageRequest) -> Page[Endpoint]:
        # `deleted_at: None` also matches endpoints stored before deletion existed (no field).
        return await ENDPOINTS.page(self._s, {"merchant_id": merchant_id, "deleted_at": None}, page)

    async def all_for(self, merchant_id: str) -> Sequence[Endpoint]:
        docs = await self._s.find(
            ENDPOINTS.name, {"merchant_id": merchant_id, "deleted_at": None}, limit=10_000
        )
        return ENDPOINTS.each(docs)

    async def get_many(self, endpoint_ids: Sequence[str]) -> Sequence[Endpoint]:
        return await many(self._s, ENDPOINTS, endpoint_ids)


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
