"""The TxnFn adapter: run a domain closure inside one store session."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from domain.shared.clock import Clock, system_clock
from integrations.stores.documents import DocumentStore
from integrations.stores.repositories import StoreUnit
from integrations.stores.unreadable import Report, SetAside, log_unreadable

T = TypeVar("T")


class StoreTxn:
    """Satisfies every context's `TxnFn[...Unit]`: StoreUnit structurally implements them all.

    `report` hears of each unreadable work item a unit took out of its queue, once that unit
    has committed (see `integrations.stores.unreadable`). `clock` dates what the units write
    on their own (the processed inputs' keys, which retention removes by age).
    """

    def __init__(
        self, store: DocumentStore, report: Report = log_unreadable, *, clock: Clock = system_clock
    ) -> None:
        self._store = store
        self._report = report
        self._clock = clock

    async def __call__(self, work: Callable[[StoreUnit], Awaitable[T]], /) -> T:
        set_aside = SetAside()
        async with self._store.session() as session:
            result = await work(StoreUnit(session, set_aside, self._clock))
        for item in set_aside.items:
            self._report(item)
        return result
