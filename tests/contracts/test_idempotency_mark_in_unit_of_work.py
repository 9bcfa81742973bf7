"""While a request holds an Idempotency-Key, a unit of work that writes marks the key's record
`applied` in its own transaction, on every backend: both commit, or neither does (on MongoDB,
where sessions are transactions: a replica set, as the compose stack runs)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.merchants.model import Merchant
from domain.shared.errors import ConcurrencyConflict
from integrations.stores.documents import DocumentStore
from integrations.stores.idempotency import (
    KeyedRequest,
    KeyTakenOver,
    Started,
    StoredIdempotencyKeys,
    holding,
)
from integrations.stores.repositories import StoreUnit
from integrations.stores.txn import StoreTxn
from tests.support.fakes import FakeClock

REQUEST = KeyedRequest(merchant_id="mer_1", key="order-7", fingerprint="f" * 64)


async def _record(store: DocumentStore) -> dict[str, object]:
    async with store.session() as session:
        [found] = await session.find("idempotency_keys", {"merchant_id": "mer_1", "key": "order-7"}, limit=1)
    return found


async def _begun(store: DocumentStore) -> Started:
    started = await StoredIdempotencyKeys(store, FakeClock()).begin(REQUEST)
    assert isinstance(started, Started)
    return started


async def _write(unit: StoreUnit) -> None:
    merchant = Merchant(
        id="mer_effect", name="Effect", api_key_hash="h", created_at=datetime(2025, 1, 1, tzinfo=UTC)
    )
    await unit.merchants.add(merchant)


async def _read(unit: StoreUnit) -> None:
    await unit.merchants.get("mer_effect")


async def _effects(store: DocumentStore) -> int:
    async with store.session() as session:
        return len(await session.find("merchants", {}, limit=10))


async def test_a_writing_unit_marks_the_record_and_a_reading_one_does_not(store: DocumentStore) -> None:
    started = await _begun(store)
    with holding(started):
        await StoreTxn(store)(_read)
        assert (await _record(store))["state"] == "in_progress"
        await StoreTxn(store)(_write)
    record = await _record(store)
    assert (record["state"], record["version"], started.version) == ("applied", 1, 1)
    assert await _effects(store) == 1
    # The answer is then kept by compare-and-set on the version the units left.
    assert await StoredIdempotencyKeys(store, FakeClock()).release(started)


@pytest.mark.real_mongodb  # a standalone server (the stand-in) keeps a failed unit's earlier writes
async def test_a_unit_that_fails_after_writing_leaves_neither_effect_nor_mark(store: DocumentStore) -> None:
    started = await _begun(store)

    async def write_then_fail(unit: StoreUnit) -> None:
        await _write(unit)
        raise ConcurrencyConflict("merchant", "mer_effect")

    with holding(started), pytest.raises(ConcurrencyConflict):
        await StoreTxn(store)(write_then_fail)
    assert (await _record(store))["state"] == "in_progress"
    assert started.version == 0
    assert await _effects(store) == 0


@pytest.mark.real_mongodb  # as above: the refusal rolls the unit back where sessions are transactions
async def test_a_key_taken_over_meanwhile_refuses_the_write(store: DocumentStore) -> None:
    started = await _begun(store)
    async with store.session() as session:  # another request took the key over (its lease ran out)
        await session.update_where("idempotency_keys", {"key": "order-7"}, {"locked_until": None})
    with holding(started), pytest.raises(KeyTakenOver):
        await StoreTxn(store)(_write)
    assert await _effects(store) == 0
