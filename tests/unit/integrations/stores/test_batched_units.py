"""Units of work in a batch: each sees what the earlier ones kept, a failed unit or event leaves
nothing, the store's checks hold in memory, and everything is written in one session or not at all.
"""

from __future__ import annotations

import pytest

from integrations.stores.batch import Batch, BatchConflict, Unbatchable
from integrations.stores.documents import DuplicateDocument, VersionMismatch
from integrations.stores.repositories import StoreUnit
from tests.support.fakes import InMemoryStore

LINKS = "provider_links"


def link(doc_id: str, internal_id: str = "sub_1", version: int = 0) -> dict[str, object]:
    return {"id": doc_id, "version": version, "internal_id": internal_id}


async def insert(unit: StoreUnit, doc: dict[str, object]) -> None:
    await unit._s.insert(LINKS, doc)


async def stored(store: InMemoryStore) -> dict[str, object]:
    return {doc["id"]: doc["internal_id"] for doc in store.documents(LINKS)}


class Boom(Exception):
    pass


async def test_an_event_sees_what_earlier_events_kept_and_all_commit_together() -> None:
    store = InMemoryStore()
    batch = Batch(store)
    async with batch.event():
        await batch.txn(lambda unit: insert(unit, link("a")))
    async with batch.event():
        found = await batch.txn(lambda unit: unit.provider_links.find("m", "k", "p", "x"))
        seen = await batch.txn(lambda unit: unit._s.get(LINKS, "a"))
    assert found is None
    assert seen == link("a")
    assert await stored(store) == {}  # nothing before the commit

    opened = store.sessions_opened
    await batch.commit()

    assert await stored(store) == {"a": "sub_1"}
    assert store.sessions_opened == opened + 1


async def test_a_unit_that_raises_leaves_nothing_and_the_event_goes_on() -> None:
    store = InMemoryStore()
    batch = Batch(store)

    async def fails(unit: StoreUnit) -> None:
        await insert(unit, link("lost"))
        raise Boom

    async with batch.event():
        with pytest.raises(Boom):
            await batch.txn(fails)
        assert await batch.txn(lambda unit: unit._s.get(LINKS, "lost")) is None
        await batch.txn(lambda unit: insert(unit, link("kept")))
    await batch.commit()

    assert await stored(store) == {"kept": "sub_1"}


async def test_an_event_that_raises_leaves_nothing_of_its_earlier_units() -> None:
    store = InMemoryStore()
    batch = Batch(store)

    async def event_that_raises() -> None:
        async with batch.event():
            await batch.txn(lambda unit: insert(unit, link("first unit")))
            raise Boom

    with pytest.raises(Boom):
        await event_that_raises()
    async with batch.event():
        assert await batch.txn(lambda unit: unit._s.get(LINKS, "first unit")) is None
        await batch.txn(lambda unit: insert(unit, link("next event")))
    await batch.commit()

    assert await stored(store) == {"next event": "sub_1"}


async def test_the_stores_checks_hold_in_memory() -> None:
    store = InMemoryStore()
    async with store.session() as session:
        await session.insert(LINKS, link("there"))
    batch = Batch(store)
    await batch.read_ahead(LINKS, ["there", "absent"])
    async with batch.event():
        with pytest.raises(DuplicateDocument):
            await batch.txn(lambda unit: insert(unit, link("there")))
        await batch.txn(lambda unit: insert(unit, link("absent")))
        with pytest.raises(DuplicateDocument):
            await batch.txn(lambda unit: insert(unit, link("absent")))
        with pytest.raises(VersionMismatch):
            await batch.txn(lambda unit: unit._s.replace(LINKS, link("there", "sub_2", 6), 5))
        await batch.txn(lambda unit: unit._s.replace(LINKS, link("there", "sub_2", 1), 0))
        assert await batch.txn(lambda unit: unit.provider_links.find("m", "k", "p", "x")) is None
    await batch.commit()

    assert await stored(store) == {"there": "sub_2", "absent": "sub_1"}


async def test_what_memory_cannot_answer_is_refused() -> None:
    batch = Batch(InMemoryStore())
    async with batch.event():
        with pytest.raises(Unbatchable):
            await batch.txn(lambda unit: unit.outbox.pending(10))
        with pytest.raises(Unbatchable):
            await batch.txn(lambda unit: unit._s.insert("inbound_events", {"id": "e", "version": 0}))


async def test_a_clash_at_commit_writes_nothing_of_the_batch() -> None:
    store = InMemoryStore()
    batch = Batch(store)
    async with batch.event():
        await batch.txn(lambda unit: insert(unit, link("mine")))
        await batch.txn(lambda unit: insert(unit, link("taken")))
    async with store.session() as session:  # another process, meanwhile
        await session.insert(LINKS, link("taken", "sub_other"))

    with pytest.raises(BatchConflict):
        await batch.commit()

    assert await stored(store) == {"taken": "sub_other"}
