"""The store for admin commands, opened without the server's imports.

`subgate.bootstrap` wires the whole service (HTTP, arq, telemetry) and imports all of it; the admin
commands need only a store, and the MongoDB driver only for a `mongodb://` URL. Every store is
opened sealing with the configured keys (`integrations.stores.sealing.sealed`): whoever opens one
reads and writes secrets as every other process on the same data does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from domain.shared.clock import Clock
from integrations.stores.documents import DocumentStore
from integrations.stores.retention.purge import Purger
from integrations.stores.schema import COLLECTIONS
from integrations.stores.sealing.keyring import Keyring
from integrations.stores.sealing.sealed import SealedStore
from subgate.settings import Settings


def keyring(settings: Settings) -> Keyring:
    return Keyring(settings.secret_keys, source=settings.secret_key_source)


def _backend(database_url: str) -> DocumentStore:
    if database_url.startswith("sqlite:///"):
        from integrations.stores.sqlite.store import SqliteStore  # noqa: PLC0415 - only the backend in use

        return SqliteStore(Path(database_url.removeprefix("sqlite:///")))
    from integrations.stores.mongo.store import MongoStore  # noqa: PLC0415 - pymongo only for mongodb:// URLs

    return MongoStore(database_url)


def retention(store: DocumentStore, clock: Clock, settings: Settings) -> Purger:
    """What removes payloads and settled records older than the retention settings (the worker's
    steps and `subgate purge` alike)."""
    return Purger(
        store,
        clock,
        payloads=timedelta(days=settings.payload_retention_days),
        records=timedelta(days=settings.record_retention_days),
    )


def open_store(settings: Settings) -> SealedStore:
    return SealedStore(_backend(settings.database_url), keyring(settings))


@asynccontextmanager
async def opened_store(settings: Settings, *, migrate: bool = False) -> AsyncIterator[SealedStore]:
    """The store, migrated first when asked (creating tables is idempotent), closed on exit."""
    store = open_store(settings)
    try:
        if migrate:
            await store.migrate(COLLECTIONS)
        yield store
    finally:
        await store.close()
