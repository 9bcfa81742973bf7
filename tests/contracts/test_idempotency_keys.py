"""Idempotency keys on every store (SQLite, MongoDB, in memory): one holder per merchant and key.

Each test reads the stored documents back, not only what `StoredIdempotencyKeys` answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from integrations.stores.documents import Document, DocumentStore, DuplicateDocument
from integrations.stores.idempotency import (
    COLLECTION,
    LEASE,
    REPLAY_WINDOW,
    KeyedRequest,
    Refused,
    Replay,
    SavedResponse,
    Started,
    StoredIdempotencyKeys,
)
from integrations.stores.mongo import MongoStore
from integrations.stores.schema import COLLECTIONS
from integrations.stores.sqlite import SqliteStore
from tests.support.fakes import FakeClock, InMemoryStore

StoreFactory = Callable[[], SqliteStore | MongoStore | InMemoryStore]

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
REQUEST = KeyedRequest(merchant_id="mer_a", key="key-1", fingerprint="f1")
ANSWER = SavedResponse(
    status=201, content_type="application/json", body=b'{"id": "ep_1", "secret": "\xc3\xa9"}'
)


async def stored(store: DocumentStore) -> list[Document]:
    async with store.session() as session:
        return await session.find(COLLECTION, {}, limit=100)


async def started(keys: StoredIdempotencyKeys, request: KeyedRequest = REQUEST) -> Started:
    begun = await keys.begin(request)
    assert isinstance(begun, Started), begun
    return begun


def test_the_collection_is_declared_with_a_unique_key_and_an_expiry_index() -> None:
    indexes = {spec.name: spec for spec in COLLECTIONS[COLLECTION]}

    assert indexes["idempotency_keys_merchant_key"].fields == ("merchant_id", "key")
    assert indexes["idempotency_keys_merchant_key"].unique
    assert indexes["idempotency_keys_expiry"].fields == ("expires_at",)


async def test_first_use_takes_the_key_and_records_it_in_progress(store: DocumentStore) -> None:
    keys = StoredIdempotencyKeys(store, FakeClock(NOW))

    taken = await started(keys)

    [doc] = await stored(store)
    assert doc["id"] == taken.record_id
    assert (doc["merchant_id"], doc["key"], doc["fingerprint"], doc["state"]) == (
        "mer_a",
        "key-1",
        "f1",
        "in_progress",
    )
    assert doc["expires_at"] == "2025-03-02T09:30:00.000000Z"
    assert doc["locked_until"] == "2025-03-01T09:31:30.000000Z"


async def test_a_completed_answer_is_replayed_byte_for_byte(store: DocumentStore) -> None:
    keys = StoredIdempotencyKeys(store, FakeClock(NOW))
    taken = await started(keys)

    assert await keys.complete(taken, ANSWER)
    again = await keys.begin(REQUEST)

    assert again == Replay(response=ANSWER)
    [doc] = await stored(store)
    assert (doc["state"], doc["response_status"], doc["locked_until"]) == ("completed", 201, None)


async def test_while_in_progress_the_same_request_is_refused_and_another_is_told_so(
    store: DocumentStore,
) -> None:
    keys = StoredIdempotencyKeys(store, FakeClock(NOW))
    await started(keys)

    assert await keys.begin(REQUEST) == Refused.IN_PROGRESS
    other = KeyedRequest(merchant_id="mer_a", key="key-1", fingerprint="f2")
    assert await keys.begin(other) == Refused.OTHER_REQUEST
    assert len(await stored(store)) == 1


async def test_a_completed_key_refuses_another_request(store: DocumentStore) -> None:
    keys = StoredIdempotencyKeys(store, FakeClock(NOW))
    await keys.complete(await started(keys), ANSWER)

    other = KeyedRequest(merchant_id="mer_a", key="key-1", fingerprint="f2")

    assert await keys.begin(other) == Refused.OTHER_REQUEST


async def test_the_same_key_of_another_merchant_is_another_record(store: DocumentStore) -> None:
    keys = StoredIdempotencyKeys(store, FakeClock(NOW))
    await keys.complete(await started(keys), ANSWER)

    await started(keys, KeyedRequest(merchant_id="mer_b", key="key-1", fingerprint="f1"))

    assert sorted(doc["merchant_id"] for doc in await stored(store)) == ["mer_a", "mer_b"]


async def test_the_unique_index_refuses_a_second_record_for_one_merchant_and_key(
    store: DocumentStore,
) -> None:
    await started(StoredIdempotencyKeys(store, FakeClock(NOW)))
    [doc] = await stored(store)

    with pytest.raises(DuplicateDocument):
        async with store.session() as session:
            await session.insert(COLLECTION, {**doc, "id": "idk_second", "version": 0})
    assert len(await stored(store)) == 1


async def test_an_expired_record_is_ignored_and_taken_over(store: DocumentStore) -> None:
    clock = FakeClock(NOW)
    keys = StoredIdempotencyKeys(store, clock)
    first = await started(keys)
    await keys.complete(first, ANSWER)

    clock.advance(REPLAY_WINDOW - timedelta(microseconds=1))
    assert isinstance(await keys.begin(REQUEST), Replay)
    clock.advance(timedelta(microseconds=1))
    renewed = await started(keys, KeyedRequest(merchant_id="mer_a", key="key-1", fingerprint="f2"))

    [doc] = await stored(store)
    assert doc["id"] == first.record_id == renewed.record_id
    assert (doc["fingerprint"], doc["state"], doc["response_body"]) == ("f2", "in_progress", None)
    assert doc["expires_at"] == "2025-03-03T09:30:00.000000Z"


async def test_a_holder_whose_lease_ran_out_loses_the_key(store: DocumentStore) -> None:
    clock = FakeClock(NOW)
    keys = StoredIdempotencyKeys(store, clock)
    dead = await started(keys)

    clock.advance(LEASE - timedelta(microseconds=1))
    assert await keys.begin(REQUEST) == Refused.IN_PROGRESS
    clock.advance(timedelta(microseconds=1))
    successor = await started(keys)

    assert await keys.complete(dead, ANSWER) is False  # too late: its answer is not kept
    assert await keys.complete(successor, ANSWER)
    [doc] = await stored(store)
    assert doc["version"] == successor.version + 1


async def test_a_released_key_runs_the_next_request_afresh(store: DocumentStore) -> None:
    keys = StoredIdempotencyKeys(store, FakeClock(NOW))
    failed = await started(keys)

    assert await keys.release(failed)
    [doc] = await stored(store)
    assert (doc["state"], doc["response_status"]) == ("released", None)
    retried = await started(keys)
    assert retried.record_id == failed.record_id


async def test_concurrent_first_uses_take_the_key_once(store: DocumentStore) -> None:
    keys = StoredIdempotencyKeys(store, FakeClock(NOW))

    outcomes = await asyncio.gather(*(keys.begin(REQUEST) for _ in range(8)))

    assert sum(isinstance(outcome, Started) for outcome in outcomes) == 1
    assert all(isinstance(o, Started) or o == Refused.IN_PROGRESS for o in outcomes)
    assert len(await stored(store)) == 1


@pytest.mark.shared_backing_store
async def test_two_processes_racing_for_one_key_take_it_once(
    store: DocumentStore, make_store: StoreFactory
) -> None:
    second = make_store()
    try:
        first_keys = StoredIdempotencyKeys(store, FakeClock(NOW))
        second_keys = StoredIdempotencyKeys(second, FakeClock(NOW))
        outcomes = await asyncio.gather(
            *(keys.begin(REQUEST) for _ in range(4) for keys in (first_keys, second_keys))
        )
    finally:
        await second.close()

    assert sum(isinstance(outcome, Started) for outcome in outcomes) == 1
    assert len(await stored(store)) == 1
