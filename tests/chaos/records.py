"""What the service recorded, read the way a merchant reads it (REST) and, for the outbox, from the store.

Outbox messages have no REST resource: they are read from the store itself, as it lays them
out: from the SQLite file, read-only (WAL readers never block the service's writers; one
table per collection, each row's document as JSON), or from the MongoDB collection.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, Protocol

import httpx
from pymongo import MongoClient

PAGE: Final = 100


class MerchantApi:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def every(self, path: str, **params: str) -> list[dict[str, Any]]:
        """Every item of a list resource, page by page."""
        items: list[dict[str, Any]] = []
        while True:
            page_params = {**params, "limit": str(PAGE)}
            if items:
                page_params["starting_after"] = items[-1]["id"]
            response = await self._client.get(path, params=page_params)
            assert response.status_code == 200, response.text
            page = response.json()
            items.extend(page["data"])
            if not page["has_more"]:
                return items

    async def none(self, path: str, **params: str) -> bool:
        """Whether the list resource is empty with these filters."""
        response = await self._client.get(path, params={**params, "limit": "1"})
        assert response.status_code == 200, response.text
        return not response.json()["data"]

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self._client.post(path, json=body)
        assert response.status_code in (200, 201), response.text
        answer: dict[str, Any] = response.json()
        return answer


class Outbox(Protocol):
    async def undispatched(self) -> int: ...

    async def message_ids(self) -> set[str]: ...


class OutboxFile:
    """The `outbox` collection of a SQLite store, read-only."""

    def __init__(self, database: Path) -> None:
        self._uri = f"file:{database}?mode=ro"

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self._uri, uri=True, timeout=10)
        try:
            yield connection
        finally:
            connection.close()

    def _undispatched(self) -> int:
        with self._connection() as db:
            row = db.execute(
                "SELECT count(*) FROM outbox WHERE json_extract(doc, '$.dispatched') = 0"
            ).fetchone()
        count: int = row[0]
        return count

    def _message_ids(self) -> set[str]:
        with self._connection() as db:
            return {row[0] for row in db.execute("SELECT id FROM outbox")}

    async def undispatched(self) -> int:
        return await asyncio.to_thread(self._undispatched)

    async def message_ids(self) -> set[str]:
        return await asyncio.to_thread(self._message_ids)


class OutboxCollection:
    """The `outbox` collection of a MongoDB store (the database the URL names)."""

    def __init__(self, url: str) -> None:
        self._client: MongoClient[dict[str, Any]] = MongoClient(url, serverSelectionTimeoutMS=10_000)
        self._outbox = self._client.get_default_database()["outbox"]

    def _undispatched(self) -> int:
        # The stand-in keeps a boolean that `$set` wrote as 0 or 1: both spellings of false.
        return self._outbox.count_documents({"dispatched": {"$in": [False, 0]}})

    def _message_ids(self) -> set[str]:
        return {str(doc["_id"]) for doc in self._outbox.find({}, {"_id": 1})}

    async def undispatched(self) -> int:
        return await asyncio.to_thread(self._undispatched)

    async def message_ids(self) -> set[str]:
        return await asyncio.to_thread(self._message_ids)

    def close(self) -> None:
        self._client.close()
