"""Secrets sealed at rest, on every backend: what the backend holds, what the domain reads back.

Each test writes through `SealedStore` over one backend and then looks at what that backend
really holds: the SQLite file's bytes (the database and its write-ahead log), the MongoDB
documents read with pymongo, the in-memory store's documents.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import MongoClient

from domain.merchants.model import Connection, Provider
from domain.notifications.model import Endpoint, SigningSecret
from integrations.stores.documents import (
    Document,
    DocumentSession,
    DocumentStore,
    Filter,
    IndexSpec,
    StorageError,
)
from integrations.stores.idempotency import (
    KeyedRequest,
    Replay,
    SavedResponse,
    Started,
    StoredIdempotencyKeys,
)
from integrations.stores.mongo import MongoStore
from integrations.stores.repositories import StoreUnit
from integrations.stores.sealing.keyring import SEALED_PREFIX, Keyring, SecretUnreadable
from integrations.stores.sealing.keys import SETTING, key_id, new_key
from integrations.stores.sealing.resealing import Resealer
from integrations.stores.sealing.sealed import SEALED_COLLECTIONS, SEALED_WITH, SealedStore
from integrations.stores.sqlite import SqliteStore
from integrations.stores.txn import StoreTxn
from tests.support.fakes import FakeClock, InMemoryStore
from tests.support.mongo import MONGO_DATABASE

NOW = datetime(2025, 3, 1, tzinfo=UTC)
OLD_KEY, NEW_KEY = new_key(), new_key()
WEBHOOK_SECRETS = ("whsec_first_Zq8vXk2LmP0rT", "whsec_second_Hb3nWc7YeR1sU")
API_KEY = "sk_test_provider_api_key_J4kD9fQ2"
ENDPOINT_SECRETS = ("whsec_endpoint_current_N6tB1xV8", "whsec_endpoint_expiring_C5mL0pR3")
ANSWER = json.dumps({"id": "ep_1", "secret": "whsec_answered_once_G7hY2wQ9"}).encode()
EVERY_SECRET = (*WEBHOOK_SECRETS, API_KEY, *ENDPOINT_SECRETS, "whsec_answered_once_G7hY2wQ9")


def connection(connection_id: str = "conn_1") -> Connection:
    return Connection(
        id=connection_id,
        merchant_id="mer_1",
        provider=Provider.STRIPE,
        webhook_secrets=WEBHOOK_SECRETS,
        api_key=API_KEY,
        created_at=NOW,
    )


def endpoint(endpoint_id: str = "ep_1") -> Endpoint:
    current, expiring = ENDPOINT_SECRETS
    return Endpoint(
        id=endpoint_id,
        merchant_id="mer_1",
        url="https://merchant.example/hooks",
        event_types=(),
        description=None,
        enabled=True,
        secrets=(
            SigningSecret(value=current),
            SigningSecret(value=expiring, expires_at=NOW + timedelta(hours=24)),
        ),
        created_at=NOW,
    )


@pytest.fixture
def backend(store: DocumentStore) -> DocumentStore:
    """The migrated backend itself: each test seals over it with the keys it chooses."""
    return store


def sealed(backend: DocumentStore, *keys: str) -> SealedStore:
    return SealedStore(backend, Keyring(keys))


async def write_everything(store: SealedStore, *, count: int = 1) -> None:
    """Connections, endpoints and an idempotency answer that shows a secret, through the repositories."""

    async def work(unit: StoreUnit) -> None:
        for n in range(count):
            await unit.connections.add(connection(f"conn_{n}"))
            await unit.endpoints.add(endpoint(f"ep_{n}"))

    await StoreTxn(store)(work)
    keys = StoredIdempotencyKeys(store, FakeClock(NOW))
    started = await keys.begin(KeyedRequest(merchant_id="mer_1", key="idem-1", fingerprint="f"))
    assert isinstance(started, Started)
    answer = SavedResponse(status=201, content_type="application/json", body=ANSWER)
    assert await keys.complete(started, answer)


async def read_back(store: SealedStore, *, count: int = 1) -> None:
    """Everything `write_everything` wrote reads back in clear, as the domain wrote it."""

    async def work(unit: StoreUnit) -> None:
        for n in range(count):
            assert await unit.connections.get(f"conn_{n}") == connection(f"conn_{n}")
            stored = await unit.endpoints.get("mer_1", f"ep_{n}")
            assert stored is not None
            assert stored.secrets == endpoint().secrets

    await StoreTxn(store)(work)
    replayed = await StoredIdempotencyKeys(store, FakeClock(NOW)).begin(
        KeyedRequest(merchant_id="mer_1", key="idem-1", fingerprint="f")
    )
    assert isinstance(replayed, Replay)
    assert replayed.response.body == ANSWER


async def raw_documents(backend: DocumentStore, request: pytest.FixtureRequest) -> list[Document]:
    """Every document of the collections that hold secrets, as the backend holds it."""
    if isinstance(backend, InMemoryStore):
        return [doc for name in SEALED_COLLECTIONS for doc in backend.documents(name)]
    if isinstance(backend, MongoStore):
        admin: MongoClient[dict[str, Any]] = request.getfixturevalue("mongo_admin")
        database = admin[request.node.stash[MONGO_DATABASE]]
        return [dict(doc) for name in SEALED_COLLECTIONS for doc in database[name].find({})]
    found: list[Document] = []
    async with backend.session() as session:
        for name in SEALED_COLLECTIONS:
            found.extend(await session.find(name, {}, limit=10_000))
    return found


async def stored_text(backend: DocumentStore, request: pytest.FixtureRequest) -> str:
    """What the backend keeps, as text: the SQLite files' bytes, or the documents themselves."""
    if isinstance(backend, SqliteStore):
        path = backend.path
        files = [path, *(path.with_name(path.name + tail) for tail in ("-wal", "-shm"))]
        return b"".join(path.read_bytes() for path in files if path.exists()).decode("latin-1")
    return json.dumps(await raw_documents(backend, request), default=str)


def assert_no_secret_in(text: str) -> None:
    for secret in EVERY_SECRET:
        assert secret not in text
    assert base64.b64encode(ANSWER).decode() not in text  # the idempotency answer, as it was stored


def sealed_values(doc: Document) -> list[str]:
    """The secret values a raw document holds."""
    values: list[str] = list(doc.get("webhook_secrets") or ())
    values += [secret["value"] for secret in doc.get("secrets") or ()]
    values += [doc[name] for name in ("api_key", "response_body") if doc.get(name) is not None]
    return values


async def test_secrets_are_sealed_in_what_the_backend_holds_and_read_back_in_clear(
    backend: DocumentStore, request: pytest.FixtureRequest
) -> None:
    store = sealed(backend, NEW_KEY)

    await write_everything(store)

    await read_back(store)
    assert_no_secret_in(await stored_text(backend, request))
    docs = await raw_documents(backend, request)
    assert {doc[SEALED_WITH] for doc in docs} == {key_id(NEW_KEY)}
    values = [value for doc in docs for value in sealed_values(doc)]
    assert len(values) == len(EVERY_SECRET)
    assert all(value.startswith(f"{SEALED_PREFIX}{key_id(NEW_KEY)}:") for value in values)


async def test_without_a_key_secrets_are_kept_in_clear(
    backend: DocumentStore, request: pytest.FixtureRequest
) -> None:
    store = sealed(backend)

    await write_everything(store)

    await read_back(store)
    assert WEBHOOK_SECRETS[0] in await stored_text(backend, request)
    assert {doc.get(SEALED_WITH) for doc in await raw_documents(backend, request)} == {None}


async def test_secrets_kept_in_clear_before_a_key_read_and_are_sealed_over_time(
    backend: DocumentStore, request: pytest.FixtureRequest
) -> None:
    await write_everything(sealed(backend))
    store = sealed(backend, NEW_KEY)
    await read_back(store)  # readable as they are, before anything is re-sealed

    resealer = Resealer(store, FakeClock(NOW))
    assert [c.clear for c in await resealer.census()] == [1, 1, 1]
    resealed = await resealer.reseal_all()

    assert resealed == 3
    assert [(c.current, c.clear) for c in await resealer.census()] == [(1, 0)] * 3
    await read_back(store)
    docs = await raw_documents(backend, request)
    assert all(value.startswith(SEALED_PREFIX) for doc in docs for value in sealed_values(doc))
    if not isinstance(backend, SqliteStore):  # SQLite's write-ahead log keeps older pages until reused
        assert_no_secret_in(await stored_text(backend, request))


async def test_a_rotation_reseals_everything_with_the_new_key_in_small_steps(
    backend: DocumentStore, request: pytest.FixtureRequest
) -> None:
    await write_everything(sealed(backend, OLD_KEY), count=3)
    rotated = sealed(backend, NEW_KEY, OLD_KEY)
    await read_back(rotated, count=3)  # the old key still opens what it sealed
    resealer = Resealer(rotated, FakeClock(NOW), step_documents=2)

    steps = []
    while resealed := await resealer.step():
        steps.append(resealed)

    assert steps == [2, 2, 2, 1]  # 3 connections, 3 endpoints, 1 idempotency answer, 2 at a time
    census = await resealer.census()
    counts = [(c.current, c.older, c.clear, c.unreadable) for c in census]
    assert counts == [(3, 0, 0, 0), (3, 0, 0, 0), (1, 0, 0, 0)]
    await read_back(sealed(backend, NEW_KEY), count=3)  # the new key alone opens everything
    only_old = Keyring([OLD_KEY])
    docs = await raw_documents(backend, request)
    for doc in docs:
        assert doc[SEALED_WITH] == key_id(NEW_KEY)
        for value in sealed_values(doc):
            with pytest.raises(SecretUnreadable):
                only_old.open(value, "test")


async def test_a_step_after_nothing_was_left_stays_idle_for_a_while(backend: DocumentStore) -> None:
    clock = FakeClock(NOW)
    store = sealed(backend, NEW_KEY, OLD_KEY)
    resealer = Resealer(store, clock, idle_after_nothing=timedelta(seconds=60))
    assert await resealer.step() == 0  # nothing stored yet: idle from now on
    await write_everything(sealed(backend, OLD_KEY))

    assert await resealer.step() == 0
    clock.advance(61)
    assert await resealer.step() == 3


async def test_a_reseal_never_overwrites_a_change_made_meanwhile(backend: DocumentStore) -> None:
    await write_everything(sealed(backend, OLD_KEY))
    rotated = sealed(backend, NEW_KEY, OLD_KEY)
    async with rotated.session() as session:
        stale_connection = await session.get("connections", "conn_0")
        stale_endpoint = await session.get("endpoints", "ep_0")
    assert stale_connection is not None
    assert stale_endpoint is not None
    rotated_secrets = ("whsec_rotated_by_the_merchant_K2",)
    new_signing = (SigningSecret(value="whsec_endpoint_rotated_P9"),)

    async def merchant_rotates(unit: StoreUnit) -> None:
        await unit.connections.update(replace(connection("conn_0"), webhook_secrets=rotated_secrets))
        current = await unit.endpoints.get("mer_1", "ep_0")
        assert current is not None
        await unit.endpoints.update(replace(current, secrets=new_signing))

    await StoreTxn(rotated)(merchant_rotates)
    resealer = Resealer(rotated, FakeClock(NOW))

    assert not await resealer.reseal("connections", stale_connection, NOW)
    assert not await resealer.reseal("endpoints", stale_endpoint, NOW)

    async def read(unit: StoreUnit) -> tuple[Connection | None, Endpoint | None]:
        return await unit.connections.get("conn_0"), await unit.endpoints.get("mer_1", "ep_0")

    kept_connection, kept_endpoint = await StoreTxn(sealed(backend, NEW_KEY))(read)
    assert kept_connection is not None
    assert kept_connection.webhook_secrets == rotated_secrets
    assert kept_endpoint is not None
    assert kept_endpoint.secrets == new_signing


async def test_a_secret_no_configured_key_opens_stops_the_start_and_names_the_setting(
    backend: DocumentStore,
) -> None:
    await write_everything(sealed(backend, OLD_KEY))
    await Resealer(sealed(backend, NEW_KEY, OLD_KEY), FakeClock(NOW)).check()  # both keys listed: fine

    for keys in ((NEW_KEY,), ()):
        store = sealed(backend, *keys)
        with pytest.raises(SecretUnreadable) as refused:
            await Resealer(store, FakeClock(NOW)).check()
        message = str(refused.value)
        assert SETTING in message
        assert "conn_0" in message
        assert key_id(OLD_KEY) in message
        assert OLD_KEY not in message

        async def work(unit: StoreUnit) -> Connection | None:
            return await unit.connections.get("conn_0")

        with pytest.raises(StorageError, match=SETTING):  # a request answers 503, never 500
            await StoreTxn(store)(work)


class WritesWhileCounted:
    """A backend with a writer that adds a connection just before each total is counted: what a
    store shared with a running service sees while another process starts."""

    def __init__(self, inner: DocumentStore) -> None:
        self.inner = inner
        self.added = 0

    @asynccontextmanager
    async def session(self) -> AsyncIterator[DocumentSession]:
        async with self.inner.session() as session:
            yield _CountingSession(session, self)

    async def migrate(self, collections: Mapping[str, Sequence[IndexSpec]]) -> None:
        await self.inner.migrate(collections)

    async def collections(self) -> frozenset[str]:
        return await self.inner.collections()

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()


class _CountingSession:
    def __init__(self, inner: DocumentSession, backend: WritesWhileCounted) -> None:
        self._inner = inner
        self._backend = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def count(self, collection: str, where: Filter) -> int:
        if collection == "connections" and not where:
            self._backend.added += 1
            doc = {"id": f"conn_late_{self._backend.added}", "version": 0, "webhook_secrets": ["whsec_late"]}
            await self._inner.insert(collection, doc)
        return await self._inner.count(collection, where)


async def test_documents_written_while_the_start_counts_are_no_reason_to_refuse(
    backend: DocumentStore,
) -> None:
    await write_everything(sealed(backend, OLD_KEY))
    racing = WritesWhileCounted(backend)
    store = SealedStore(racing, Keyring([NEW_KEY, OLD_KEY]))

    await Resealer(store, FakeClock(NOW)).check()

    assert racing.added == 1
    census = {
        c.collection: c for c in await Resealer(sealed(backend, NEW_KEY, OLD_KEY), FakeClock(NOW)).census()
    }
    assert census["connections"].unreadable == 0


async def test_a_merchant_secret_shaped_like_a_sealed_value_is_only_ever_a_secret(
    backend: DocumentStore,
) -> None:
    lookalike = f"{SEALED_PREFIX}{key_id(OLD_KEY)}:gAAAAABnot-a-real-token"
    hostile = replace(connection("conn_hostile"), webhook_secrets=(lookalike,), api_key=lookalike)

    async def add(unit: StoreUnit) -> None:
        await unit.connections.add(hostile)

    async def read(unit: StoreUnit) -> Connection | None:
        return await unit.connections.get("conn_hostile")

    await StoreTxn(sealed(backend))(add)
    await Resealer(sealed(backend), FakeClock(NOW)).check()
    assert await StoreTxn(sealed(backend))(read) == hostile

    keyed = sealed(backend, NEW_KEY)
    await Resealer(keyed, FakeClock(NOW)).check()
    assert await Resealer(keyed, FakeClock(NOW)).reseal_all() == 1
    assert await StoreTxn(keyed)(read) == hostile


async def test_an_idempotency_key_its_request_still_holds_is_left_to_that_request(
    backend: DocumentStore,
) -> None:
    clock = FakeClock(NOW)
    keys = StoredIdempotencyKeys(sealed(backend), clock)
    started = await keys.begin(KeyedRequest(merchant_id="mer_1", key="idem-held", fingerprint="f"))
    assert isinstance(started, Started)
    keyed = sealed(backend, NEW_KEY)

    assert await Resealer(keyed, clock).reseal_all() == 0

    answer = SavedResponse(status=201, content_type="application/json", body=ANSWER)
    assert await StoredIdempotencyKeys(keyed, clock).complete(started, answer)
    census = {c.collection: c for c in await Resealer(keyed, clock).census()}
    assert (census["idempotency_keys"].current, census["idempotency_keys"].clear) == (1, 0)


async def test_secret_fields_cannot_be_assigned_in_bulk(backend: DocumentStore) -> None:
    store = sealed(backend, NEW_KEY)
    async with store.session() as session:
        secret_fields = (("connections", "api_key"), ("endpoints", "secrets"), ("connections", SEALED_WITH))
        for collection, field in secret_fields:
            with pytest.raises(ValueError, match=field):
                await session.update_where(collection, {"id": "x"}, {field: "in clear"})
