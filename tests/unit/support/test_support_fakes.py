"""The outage switches of the shared fakes; the rest of `InMemoryStore` is held to the
storage contract in `tests/contracts` (its ``memory`` backend), including `unavailable`."""

from __future__ import annotations

import pytest

from integrations.stores.documents import StorageError
from tests.support.fakes import InMemoryStore


async def test_failing_writes_let_reads_through_and_roll_the_session_back() -> None:
    store = InMemoryStore()
    async with store.session() as session:
        await session.insert("connections", {"id": "kept", "version": 1})
    store.failing_writes = True

    async def read_then_insert() -> None:
        async with store.session() as session:
            assert await session.get("connections", "kept") == {"id": "kept", "version": 1}
            await session.insert("connections", {"id": "lost", "version": 1})

    with pytest.raises(StorageError):
        await read_then_insert()
    with pytest.raises(StorageError):
        async with store.session() as session:
            await session.replace("connections", {"id": "kept", "version": 2}, expected_version=1)

    assert store.documents("connections") == [{"id": "kept", "version": 1}]
    assert store.rollbacks == 2
    store.failing_writes = False
    async with store.session() as session:
        await session.insert("connections", {"id": "later", "version": 1})
    assert store.count("connections") == 2
