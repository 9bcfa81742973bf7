"""SQLite writes an assigned `False` as the JSON boolean false, by update and by claim alike.

The contract suite assigns `True` only; a store that wrote every bool as true, or wrote
false in a form JSON does not accept, would pass it. Here a flag goes from true to false.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from integrations.stores.documents import Document
from integrations.stores.schema import COLLECTIONS
from integrations.stores.sqlite import SqliteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "flags.sqlite3")
    await opened.migrate(COLLECTIONS)
    try:
        yield opened
    finally:
        await opened.close()


def flagged(doc_id: str) -> Document:
    return {"id": doc_id, "version": 1, "dispatched": True, "due_at": "2025-01-01T00:00:00"}


async def stored(store: SqliteStore, doc_id: str) -> Document | None:
    async with store.session() as session:
        return await session.get("outbox", doc_id)


async def test_update_where_writes_false_as_a_json_false(store: SqliteStore) -> None:
    async with store.session() as session:
        await session.insert("outbox", flagged("o1"))
        changed = await session.update_where("outbox", {"dispatched": True}, {"dispatched": False})

    assert changed == 1
    assert await stored(store, "o1") == {**flagged("o1"), "version": 2, "dispatched": False}


async def test_a_claim_writes_false_as_a_json_false(store: SqliteStore) -> None:
    async with store.session() as session:
        await session.insert("outbox", flagged("o2"))
        [claimed] = await session.claim(
            "outbox", {"dispatched": True}, order_by="due_at", limit=1, assign={"dispatched": False}
        )

    assert claimed["dispatched"] is False
    assert await stored(store, "o2") == {**flagged("o2"), "version": 2, "dispatched": False}
