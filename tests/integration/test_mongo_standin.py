"""The MongoDB test endpoint (nx-27017 stand-in here) speaks enough MongoDB for CRUD."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from integrations.stores.mongo.store import MongoStore
from subgate.commands.service import STANDALONE_MONGODB, _prepared_schema
from subgate.settings import load_settings
from tests.support.mongo import MongoTarget, database_url, mongo_server

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

_TIMEOUT_MS = 5_000


@pytest.fixture(scope="module")
def mongo_target() -> Iterator[MongoTarget]:
    with mongo_server() as target:
        yield target


@pytest.fixture
async def mongo_client(
    mongo_target: MongoTarget,
) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_target.url, serverSelectionTimeoutMS=_TIMEOUT_MS
    )
    try:
        yield client
    finally:
        await client.close()


async def test_ping(mongo_client: AsyncMongoClient[dict[str, Any]]) -> None:
    reply = await mongo_client.admin.command("ping")
    assert reply["ok"] == 1


async def test_insert_find_round_trip(
    mongo_client: AsyncMongoClient[dict[str, Any]],
) -> None:
    collection = mongo_client["subgate_test_roundtrip"]["merchants"]
    await collection.delete_many({})
    inserted = await collection.insert_one({"slug": "acme", "plan": "pro", "seats": 3})

    found = await collection.find_one({"slug": "acme"})

    assert found is not None
    assert found["_id"] == inserted.inserted_id
    assert (found["plan"], found["seats"]) == ("pro", 3)


async def test_unique_index_rejects_duplicates(
    mongo_client: AsyncMongoClient[dict[str, Any]],
) -> None:
    collection = mongo_client["subgate_test_unique"]["events"]
    await collection.drop()
    await collection.create_index("event_id", unique=True)
    await collection.insert_one({"event_id": "evt_1"})

    with pytest.raises(DuplicateKeyError):
        await collection.insert_one({"event_id": "evt_1"})
    assert await collection.count_documents({"event_id": "evt_1"}) == 1


def test_standin_stops_on_exit() -> None:
    with mongo_server() as target:
        if target.kind != "standin":
            pytest.skip(f"lifecycle check only applies to the stand-in, got {target.kind}")
        port = int(target.url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    # terminate() + wait() already ran, so the listening socket is closed.
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=5),
    ):
        pass


async def test_serve_and_worker_warn_of_a_mongodb_without_transactions(
    mongo_target: MongoTarget, tmp_path: Path
) -> None:
    url = database_url(mongo_target.url, f"subgate_warn_{uuid.uuid4().hex[:12]}")
    env = {"SUBGATE_DATABASE_URL": url, "SUBGATE_DATA_DIR": str(tmp_path)}

    lines = await _prepared_schema(load_settings(env, dotenv=None), upgrade=False)

    store = MongoStore(url)
    try:
        transactions = await store.supports_transactions()
    finally:
        await store.close()
    assert (STANDALONE_MONGODB in lines) is not transactions
    assert transactions or mongo_target.kind != "standin" or STANDALONE_MONGODB in lines
