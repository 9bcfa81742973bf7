"""The TxnFn adapter: run a domain closure inside one store session."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from integrations.stores.documents import DocumentStore
from integrations.stores.repositories import StoreUnit
from integrations.stores.unreadable import Report, SetAside, log_unreadable

T = TypeVar("T")


class StoreTxn:
    """Satisfies every context's `TxnFn[...Unit]`: StoreUnit structurally implements them all.

    `report` hears of each unreadable work item a unit took out of its queue, once that unit
    has committed (see `integrations.stores.unreadable`).
    """

    def __init__(self, store: DocumentStore, report: Report = log_unreadable) -> None:
        self._store = store
        self._report = report

    async def __call__(self, work: Callable[[StoreUnit], Awaitable[T]], /) -> T:
        set_aside = SetAside()
        async with self._store.session() as session:
            result = await work(StoreUnit(session, set_aside))
        for item in set_aside.items:
            self._report(item)
        return result
