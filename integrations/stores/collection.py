"""The stored collections, each with its codec, and the moves every repository makes on them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from domain.shared.pagination import Page, PageRequest
from integrations.stores import codecs
from integrations.stores.codecs import Readout
from integrations.stores.documents import Condition, Document, DocumentSession, In
from integrations.stores.unreadable import rendered
from integrations.stores.versioned import V, bumped

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Collection(Generic[T]):
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

    async def lease(
        self,
        session: DocumentSession,
        due: dict[str, Condition],
        *,
        due_field: str,
        owner: str,
        until: datetime,
        limit: int,
    ) -> list[Document]:
        """Claim up to `limit` documents matching `due`, the earliest `due_field` first, for `owner`:
        each is due again at `until` (its lease's end), so no other worker takes it meanwhile."""
        return await session.claim(
            self.name,
            due,
            order_by=due_field,
            limit=limit,
            assign={"lease_owner": owner, due_field: codecs.iso(until)},
        )

    async def page(self, session: DocumentSession, where: dict[str, Condition], page: PageRequest) -> Page[T]:
        docs = await session.find(
            self.name, where, limit=page.limit + 1, after_id=page.starting_after, descending=page.newest_first
        )
        # Over-fetched by one, to tell whether more exist; this holds even when an unreadable
        # document was left out (the next page starts after the last one shown).
        return Page(items=tuple(self.each(docs)[: page.limit]), has_more=len(docs) > page.limit)


async def update(session: DocumentSession, col: Collection[V], value: V, entity: str) -> V:
    """Compare-and-set: store value with version + 1 if the stored version is value.version."""
    return await bumped(session, col.name, col.to_doc, value, entity)


async def many(session: DocumentSession, col: Collection[T], ids: Sequence[str]) -> list[T]:
    """Documents by id, in one query; ids that do not exist are left out."""
    wanted = tuple(dict.fromkeys(ids))
    if not wanted:
        return []
    docs = await session.find(col.name, {"id": In(wanted)}, limit=len(wanted))
    return col.each(docs)


def drop_none(**conditions: Condition) -> dict[str, Condition]:
    return {k: v for k, v in conditions.items() if v is not None}


def collection(
    name: str, codec: codecs.DocumentCodec[T], to_doc: Callable[[T], Document] | None = None
) -> Collection[T]:
    return Collection(name, to_doc or codec.to_doc, codec.from_doc, codec.read)


MERCHANTS = collection("merchants", codecs.MERCHANTS)
CONNECTIONS = collection("connections", codecs.CONNECTIONS)
CUSTOMERS = collection("customers", codecs.CUSTOMERS)
PLANS = collection("plans", codecs.PLANS)
SUBSCRIPTIONS = collection("subscriptions", codecs.SUBSCRIPTIONS)
OUTBOX = collection("outbox", codecs.OUTBOX)
INBOUND = collection("inbound_events", codecs.INBOUND, codecs.inbound_doc)
ENDPOINTS = collection("endpoints", codecs.ENDPOINTS)
DELIVERIES = collection("deliveries", codecs.DELIVERIES)
DEAD_LETTERS = collection("dead_letters", codecs.DEAD_LETTERS)
# One entry per customer email (id = the delivery's), by merchant and customer.
CUSTOMER_EMAILS = "customer_emails"
