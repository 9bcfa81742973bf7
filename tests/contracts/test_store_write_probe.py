"""The readiness write probe on every backend: it really writes (one document, rewritten each
time), two stores on one backing store share that document, and a store that cannot take the
write answers False instead of raising."""

from __future__ import annotations

import pytest

from integrations.stores.documents import DocumentStore
from integrations.stores.probe import COLLECTION, DOCUMENT_ID, WriteProbe
from integrations.stores.schema import COLLECTIONS
from tests.contracts.conftest import StoreFactory
from tests.support.fakes import FakeClock


async def probe_document(store: DocumentStore) -> dict[str, object] | None:
    async with store.session() as session:
        return await session.get(COLLECTION, DOCUMENT_ID)


async def test_each_probe_writes_the_one_document(store: DocumentStore) -> None:
    clock = FakeClock()
    probe = WriteProbe(store, clock, fresh_for=0)

    first = await probe.writable()
    written = await probe_document(store)
    clock.advance(1)
    second = await probe.writable()
    rewritten = await probe_document(store)
    async with store.session() as session:
        documents = await session.find(COLLECTION, {}, limit=10)

    assert (first, second) == (True, True)
    assert written is not None
    assert rewritten is not None
    assert (written["version"], rewritten["version"]) == (1, 2)
    assert written["written_at"] != rewritten["written_at"]
    assert len(documents) == 1


@pytest.mark.shared_backing_store
async def test_probes_of_two_processes_share_the_document(make_store: StoreFactory) -> None:
    first, second = make_store(), make_store()
    try:
        await first.migrate(COLLECTIONS)
        answers = [
            await WriteProbe(first, FakeClock()).writable(),
            await WriteProbe(second, FakeClock()).writable(),
        ]
        async with first.session() as session:
            documents = await session.find(COLLECTION, {}, limit=10)
    finally:
        await first.close()
        await second.close()

    assert answers == [True, True]
    assert [document["version"] for document in documents] == [2]


async def test_a_closed_store_is_not_writable(make_store: StoreFactory) -> None:
    store = make_store()
    await store.migrate(COLLECTIONS)
    await store.close()

    assert await WriteProbe(store, FakeClock()).writable() is False
