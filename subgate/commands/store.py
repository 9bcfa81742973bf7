"""The store for admin commands, opened without the server's imports.

`subgate.bootstrap` wires the whole service (HTTP, arq, telemetry) and imports all of it; the admin
commands need only a store, and the MongoDB driver only for a `mongodb://` URL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from integrations.storage.documents import DocumentStore
from integrations.storage.schema import COLLECTIONS


def open_store(database_url: str) -> DocumentStore:
    if database_url.startswith("sqlite:///"):
        from integrations.sqlite.store import SqliteStore  # noqa: PLC0415 - only the backend in use

        return SqliteStore(Path(database_url.removeprefix("sqlite:///")))
    from integrations.mongo.store import MongoStore  # noqa: PLC0415 - pymongo only for mongodb:// URLs

    return MongoStore(database_url)


@asynccontextmanager
async def opened_store(database_url: str, *, migrate: bool = False) -> AsyncIterator[DocumentStore]:
    """The store, migrated first when asked (creating tables is idempotent), closed on exit."""
    store = open_store(database_url)
    try:
        if migrate:
            await store.migrate(COLLECTIONS)
        yield store
    finally:
        await store.close()
