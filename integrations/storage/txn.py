"""The TxnFn adapter: run a domain closure inside one store session."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from integrations.storage.documents import DocumentStore
from integrations.storage.repositories import StoreUnit

T = TypeVar("T")


class StoreTxn:
    """Satisfies every context's `TxnFn[...Unit]`: StoreUnit structurally implements them all."""

    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    async def __call__(self, work: Callable[[StoreUnit], Awaitable[T]], /) -> T:
        async with self._store.session() as session:
            return await work(StoreUnit(session))
