"""Fixtures for the storage contract: every test runs once per backend.

The backends are the two real adapters (SQLite, MongoDB) and the `InMemoryStore`
fake the unit tests run on: passing the same contract keeps the fake honest.

`make_store` is the backend switch (a factory, so a test can open a second
store on the same data); `store` is a migrated, empty store from it. MongoDB
comes from `tests.support.mongo` once per session, and each test gets a
database of its own that is dropped afterwards, so tests never see each
other's documents and an external server is left clean.

Tests marked ``real_mongodb`` need behaviour the nx-27017 stand-in lacks
(e.g. transaction isolation); on the stand-in their mongo variant is skipped.
Tests marked ``shared_backing_store`` open a second store on the first one's
data, which separate `InMemoryStore` objects never share; their memory variant
is skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from integrations.stores.documents import DocumentStore
from integrations.stores.mongo import MongoStore
from integrations.stores.schema import COLLECTIONS
from integrations.stores.sqlite import SqliteStore
from tests.support.fakes import InMemoryStore
from tests.support.mongo import (
    MONGO_DATABASE,
    MongoTarget,
    collect_abandoned_sockets,
    database_url,
    mongo_server,
)

StoreFactory = Callable[[], SqliteStore | MongoStore | InMemoryStore]

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("mongo", id="mongo"),
    pytest.param("memory", id="memory"),
]
_ADMIN_TIMEOUT_MS = 5_000


@pytest.fixture(scope="session")
def mongo_target() -> Iterator[MongoTarget]:
    with mongo_server() as target:
        yield target


@pytest.fixture(scope="session")
def mongo_admin(mongo_target: MongoTarget) -> Iterator[MongoClient[dict[str, Any]]]:
    # Synchronous on purpose: it only drops databases from sync fixture code,
    # outside any test's event loop.
    client: MongoClient[dict[str, Any]] = MongoClient(
        mongo_target.url, serverSelectionTimeoutMS=_ADMIN_TIMEOUT_MS
    )
    try:
        yield client
    finally:
        client.close()
        collect_abandoned_sockets()


def _skip_unless_real_mongodb(request: pytest.FixtureRequest, target: MongoTarget) -> None:
    marker = request.node.get_closest_marker("real_mongodb")
    if marker is not None and target.kind == "standin":
        pytest.skip("needs real MongoDB semantics; the nx-27017 stand-in is in use")


@pytest.fixture(params=BACKENDS)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens stores on one test-private backing store; the caller closes each."""
    if request.param == "sqlite":
        # A not-yet-existing directory also checks that migrate creates it.
        path = tmp_path / "data" / "subgate.sqlite3"
        yield lambda: SqliteStore(path)
        return
    if request.param == "memory":
        if request.node.get_closest_marker("shared_backing_store") is not None:
            pytest.skip("separate InMemoryStore objects never share data, so there is no second store")
        # Starts without collections, so that the `store` fixture's migrate() declares them.
        yield lambda: InMemoryStore(collections=None)
        return
    # Looked up lazily so that SQLite-only runs never start a MongoDB server.
    target: MongoTarget = request.getfixturevalue("mongo_target")
    _skip_unless_real_mongodb(request, target)
    admin: MongoClient[dict[str, Any]] = request.getfixturevalue("mongo_admin")
    database = f"subgate_t_{uuid.uuid4().hex[:16]}"
    url = database_url(target.url, database)
    request.node.stash[MONGO_DATABASE] = database
    try:
        yield lambda: MongoStore(url)
    finally:
        admin.drop_database(database)


@pytest.fixture
async def store(make_store: StoreFactory) -> AsyncIterator[DocumentStore]:
    opened = make_store()
    try:
        await opened.migrate(COLLECTIONS)
        yield opened
    finally:
        await opened.close()
