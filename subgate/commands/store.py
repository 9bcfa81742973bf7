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

from domain.shared.clock import Clock, system_clock
from integrations.stores.documents import DocumentStore
from integrations.stores.migrations.runner import Migrator, Upgrade
from integrations.stores.migrations.state import SchemaMismatch, SchemaState
from integrations.stores.retention.purge import Purger
from integrations.stores.sealing.keyring import Keyring
from integrations.stores.sealing.sealed import SealedStore
from subgate.settings import Settings


def keyring(settings: Settings) -> Keyring:
    return Keyring(settings.secret_keys, source=settings.secret_key_source)


def backend(database_url: str) -> DocumentStore:
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
    return SealedStore(backend(settings.database_url), keyring(settings))


async def schema_state(store: DocumentStore) -> SchemaState:
    return await Migrator(store, system_clock).state()


async def prepare_schema(store: DocumentStore, *, upgrade: bool) -> Upgrade:
    """An empty store created, an older one upgraded when `upgrade` (`migrate`, `dev`); else
    SchemaMismatch naming `subgate migrate` (and for a newer store in any case)."""
    return await Migrator(store, system_clock).prepare(upgrade=upgrade)


@asynccontextmanager
async def opened_store(settings: Settings, *, create: bool = False) -> AsyncIterator[SealedStore]:
    """The store, closed on exit. Its schema must be this release's (SchemaMismatch otherwise);
    an empty one is created first when `create`, else left as it is."""
    store = open_store(settings)
    try:
        if create:
            await prepare_schema(store.inner, upgrade=False)
        elif (state := await schema_state(store.inner)).pending or state.newer:
            raise SchemaMismatch(state)
        yield store
    finally:
        await store.close()
