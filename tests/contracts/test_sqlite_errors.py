"""A statement SQLite refuses surfaces as StorageError naming the operation (what logs and 503s show)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from integrations.stores.documents import DocumentSession, StorageError
from integrations.stores.schema import COLLECTIONS
from integrations.stores.sqlite import SqliteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "subgate.sqlite3")
    await opened.migrate(COLLECTIONS)
    try:
        yield opened
    finally:
        await opened.close()


async def claim(session: DocumentSession) -> None:
    await session.claim("not_migrated", {}, order_by="id", limit=1, assign={"lease_owner": "w"})


async def replace(session: DocumentSession) -> None:
    await session.replace("not_migrated", {"id": "a", "version": 2}, 1)


async def update(session: DocumentSession) -> None:
    await session.update_where("not_migrated", {"id": "a"}, {"lease_owner": "w"})


async def find(session: DocumentSession) -> None:
    await session.find("not_migrated", {}, limit=1)


async def get(session: DocumentSession) -> None:
    await session.get("not_migrated", "a")


async def insert(session: DocumentSession) -> None:
    await session.insert("not_migrated", {"id": "a", "version": 1})


@pytest.mark.parametrize(
    ("operation", "action"),
    [
        (claim, "claim"),
        (replace, "replace"),
        (update, "update"),
        (find, "find"),
        (get, "get"),
        (insert, "insert"),
    ],
    ids=["claim", "replace", "update", "find", "get", "insert"],
)
async def test_a_refused_statement_names_its_operation(
    store: SqliteStore, operation: Callable[[DocumentSession], Awaitable[None]], action: str
) -> None:
    with pytest.raises(StorageError, match=f"^sqlite {action} failed: no such table: not_migrated"):
        async with store.session() as session:
            await operation(session)
