"""The TxnFn adapter: run a domain closure inside one store session."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from integrations.stores.documents import Document, DocumentSession, DocumentStore, Filter, Scalar
from integrations.stores.idempotency import held, mark_applied
from integrations.stores.repositories import StoreUnit
from integrations.stores.unreadable import Report, SetAside, log_unreadable

T = TypeVar("T")


class StoreTxn:
    """Satisfies every context's `TxnFn[...Unit]`: StoreUnit structurally implements them all.

    `report` hears of each unreadable work item a unit took out of its queue, once that unit
    has committed (see `integrations.stores.unreadable`). While a REST request holds an
    Idempotency-Key, a unit that writes also marks the key's record `applied` in its own
    transaction (see `integrations.stores.idempotency`).
    """

    def __init__(self, store: DocumentStore, report: Report = log_unreadable) -> None:
        self._store = store
        self._report = report

    async def __call__(self, work: Callable[[StoreUnit], Awaitable[T]], /) -> T:
        set_aside = SetAside()
        key = held()
        if key is None:
            async with self._store.session() as session:
                result = await work(StoreUnit(session, set_aside))
        else:
            async with self._store.session() as session:
                watched = WriteWatch(session)
                result = await work(StoreUnit(watched, set_aside))
                if watched.wrote:
                    await mark_applied(session, key)
            if watched.wrote:
                key.version += 1  # committed: the record is at the next version now
        for item in set_aside.items:
            self._report(item)
        return result


class WriteWatch:
    """A session that notes whether anything was written through it."""

    __slots__ = ("_inner", "wrote")

    def __init__(self, inner: DocumentSession) -> None:
        self._inner = inner
        self.wrote = False

    async def insert(self, collection: str, doc: Document) -> None:
        await self._inner.insert(collection, doc)
        self.wrote = True

    async def get(self, collection: str, doc_id: str) -> Document | None:
        return await self._inner.get(collection, doc_id)

    async def find(
        self,
        collection: str,
        where: Filter,
        *,
        limit: int,
        after_id: str | None = None,
        order_by: str = "id",
    ) -> list[Document]:
        return await self._inner.find(collection, where, limit=limit, after_id=after_id, order_by=order_by)

    async def count(self, collection: str, where: Filter) -> int:
        return await self._inner.count(collection, where)

    async def replace(self, collection: str, doc: Document, expected_version: int) -> None:
        await self._inner.replace(collection, doc, expected_version)
        self.wrote = True

    async def claim(
        self, collection: str, where: Filter, *, order_by: str, limit: int, assign: Mapping[str, Scalar]
    ) -> list[Document]:
        taken = await self._inner.claim(collection, where, order_by=order_by, limit=limit, assign=assign)
        self.wrote = self.wrote or bool(taken)
        return taken

    async def update_where(self, collection: str, where: Filter, assign: Mapping[str, Scalar]) -> int:
        changed = await self._inner.update_where(collection, where, assign)
        self.wrote = self.wrote or changed > 0
        return changed
