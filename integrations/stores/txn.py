"""The TxnFn adapter: run a domain closure inside one store session."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from domain.shared.clock import Clock, system_clock
from integrations.stores.documents import (
    Document,
    DocumentSession,
    DocumentStore,
    Filter,
    ForwardingSession,
    Scalar,
    StorageError,
)
from integrations.stores.idempotency import held, mark_applied
from integrations.stores.repositories import StoreUnit
from integrations.stores.unreadable import Report, SetAside, log_unreadable

T = TypeVar("T")


async def runs_transactions(store: DocumentStore) -> bool:
    """Whether a session of `store` is one transaction: every backend's is but a MongoDB
    server's without replica set. When the server cannot be asked, no (the careful answer:
    see `domain.subscriptions.recording`)."""
    backend = getattr(store, "inner", store)  # under the sealing layer
    ask = getattr(backend, "supports_transactions", None)
    if ask is None:
        return True
    try:
        return bool(await ask())
    except StorageError:
        return False


class StoreTxn:
    """Satisfies every context's `TxnFn[...Unit]`: StoreUnit structurally implements them all.

    `report` hears of each unreadable work item a unit took out of its queue, once that unit
    has committed (see `integrations.stores.unreadable`). `clock` dates what the units write
    on their own (the processed inputs' keys, which retention removes by age). While a REST
    request holds an Idempotency-Key, a unit that writes also marks the key's record `applied`
    in its own transaction (see `integrations.stores.idempotency`).
    """

    def __init__(
        self, store: DocumentStore, report: Report = log_unreadable, *, clock: Clock = system_clock
    ) -> None:
        self._store = store
        self._report = report
        self._clock = clock

    async def __call__(self, work: Callable[[StoreUnit], Awaitable[T]], /) -> T:
        set_aside = SetAside()
        key = held()
        if key is None:
            async with self._store.session() as session:
                result = await work(StoreUnit(session, set_aside, self._clock))
        else:
            async with self._store.session() as session:
                watched = WriteWatch(session)
                result = await work(StoreUnit(watched, set_aside, self._clock))
                if watched.wrote:
                    await mark_applied(session, key)
            if watched.wrote:
                key.version += 1  # committed: the record is at the next version now
        for item in set_aside.items:
            self._report(item)
        return result


class WriteWatch(ForwardingSession):
    """A session that notes whether anything was written through it."""

    __slots__ = ("wrote",)

    def __init__(self, inner: DocumentSession) -> None:
        super().__init__(inner)
        self.wrote = False

    async def insert(self, collection: str, doc: Document) -> None:
        await super().insert(collection, doc)
        self.wrote = True

    async def replace(self, collection: str, doc: Document, expected_version: int) -> None:
        await super().replace(collection, doc, expected_version)
        self.wrote = True

    async def claim(
        self, collection: str, where: Filter, *, order_by: str, limit: int, assign: Mapping[str, Scalar]
    ) -> list[Document]:
        taken = await super().claim(collection, where, order_by=order_by, limit=limit, assign=assign)
        self.wrote = self.wrote or bool(taken)
        return taken

    async def update_where(self, collection: str, where: Filter, assign: Mapping[str, Scalar]) -> int:
        changed = await super().update_where(collection, where, assign)
        self.wrote = self.wrote or changed > 0
        return changed

    async def delete_where(self, collection: str, where: Filter, *, order_by: str = "id", limit: int) -> int:
        removed = await super().delete_where(collection, where, order_by=order_by, limit=limit)
        self.wrote = self.wrote or removed > 0
        return removed
