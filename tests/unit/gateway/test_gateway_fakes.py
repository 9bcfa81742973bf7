"""The in-memory store keeps the `DocumentStore` promises the real repositories rely on."""

from __future__ import annotations

import pytest

from subgate.integrations.storage.documents import (
    DuplicateDocument,
    Gt,
    In,
    Lte,
    StorageError,
    VersionMismatch,
)
from tests.unit.gateway.fakes import MemoryStore


def event(
    doc_id: str, connection: str = "conn_1", provider_event: str = "evt_1", **extra: object
) -> dict[str, object]:
    return {
        "id": doc_id,
        "version": 0,
        "connection_id": connection,
        "provider_event_id": provider_event,
        **extra,
    }


async def test_unique_index_and_primary_key_clash() -> None:
    store = MemoryStore()
    async with store.session() as session:
        await session.insert("inbound_events", event("a"))
        with pytest.raises(DuplicateDocument):
            await session.insert("inbound_events", event("b"))
        with pytest.raises(DuplicateDocument):
            await session.insert("inbound_events", event("a", provider_event="evt_2"))
        await session.insert("inbound_events", event("c", connection="conn_2"))

    assert sorted(d["id"] for d in store.documents("inbound_events")) == ["a", "c"]


async def test_a_failed_block_rolls_back() -> None:
    store = MemoryStore()

    async def insert_then_fail() -> None:
        async with store.session() as session:
            await session.insert("connections", {"id": "conn_1", "version": 0})
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        await insert_then_fail()

    assert store.documents("connections") == []


async def test_replace_is_compare_and_set() -> None:
    store = MemoryStore()
    async with store.session() as session:
        await session.insert("endpoints", {"id": "ep", "version": 0, "url": "a"})
        await session.replace("endpoints", {"id": "ep", "version": 1, "url": "b"}, expected_version=0)
        with pytest.raises(VersionMismatch):
            await session.replace("endpoints", {"id": "ep", "version": 1, "url": "c"}, expected_version=0)
        with pytest.raises(VersionMismatch):
            await session.replace("endpoints", {"id": "nope", "version": 1}, expected_version=0)

    assert store.documents("endpoints") == [{"id": "ep", "version": 1, "url": "b"}]


async def test_find_filters_orders_and_pages() -> None:
    store = MemoryStore()
    async with store.session() as session:
        for doc_id, when, flag in (("c", "2025-01-03", True), ("a", "2025-01-02", False), ("b", None, True)):
            await session.insert("outbox", {"id": doc_id, "version": 0, "at": when, "flag": flag, "n": 1})
        by_id = await session.find("outbox", {}, limit=10)
        after = await session.find("outbox", {}, limit=1, after_id="a")
        flagged = await session.find("outbox", {"flag": True}, limit=10)
        not_one = await session.find("outbox", {"n": True}, limit=10)
        upto = await session.find("outbox", {"at": Lte("2025-01-02")}, limit=10)
        later = await session.find("outbox", {"at": Gt("2025-01-02")}, limit=10, order_by="at")
        chosen = await session.find("outbox", {"id": In(("a", "c"))}, limit=10)

    assert [d["id"] for d in by_id] == ["a", "b", "c"]
    assert [d["id"] for d in after] == ["b"]
    assert [d["id"] for d in flagged] == ["b", "c"]
    assert not_one == []
    assert [d["id"] for d in upto] == ["a"]
    assert [d["id"] for d in later] == ["c"]
    assert [d["id"] for d in chosen] == ["a", "c"]


async def test_failure_switches() -> None:
    store = MemoryStore()
    store.failing_writes = True
    async with store.session() as session:
        assert await session.get("connections", "x") is None
        with pytest.raises(StorageError):
            await session.insert("connections", {"id": "x", "version": 0})
    store.unavailable = True
    with pytest.raises(StorageError):
        async with store.session():
            pass
    with pytest.raises(StorageError):
        await store.ping()
