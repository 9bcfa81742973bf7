"""`DocumentSession.delete_where` on every backend: the first matching documents, by an order,
at most a limit, and only those that still match when they are removed."""

from __future__ import annotations

import asyncio

import pytest

from integrations.stores.documents import Document, DocumentStore, In, Lte
from integrations.stores.mongo import MongoStore


def item(doc_id: str, at: str, status: str = "succeeded") -> Document:
    return {"id": doc_id, "version": 1, "status": status, "updated_at": at}


async def seed(store: DocumentStore, docs: list[Document]) -> None:
    async with store.session() as session:
        for doc in docs:
            await session.insert("deliveries", doc)


async def remaining(store: DocumentStore) -> list[str]:
    async with store.session() as session:
        return [d["id"] for d in await session.find("deliveries", {}, limit=100)]


async def delete(store: DocumentStore, limit: int, upto: str = "2025-01-01T00:00:05") -> int:
    async with store.session() as session:
        return await session.delete_where(
            "deliveries",
            {"status": In(("succeeded", "dead")), "updated_at": Lte(upto)},
            order_by="updated_at",
            limit=limit,
        )


async def test_the_first_matching_documents_by_the_order_go_at_most_the_limit(store: DocumentStore) -> None:
    await seed(
        store,
        [
            item("c", "2025-01-01T00:00:03"),
            item("a", "2025-01-01T00:00:01"),
            item("b", "2025-01-01T00:00:02", status="dead"),
            item("open", "2025-01-01T00:00:00", status="pending"),
            item("young", "2025-01-01T00:00:09"),
        ],
    )

    assert await delete(store, limit=2) == 2
    assert await remaining(store) == ["c", "open", "young"]
    assert await delete(store, limit=10) == 1
    assert await delete(store, limit=10) == 0
    assert await remaining(store) == ["open", "young"]


async def test_a_limit_of_zero_removes_nothing_and_a_negative_one_is_refused(store: DocumentStore) -> None:
    await seed(store, [item("a", "2025-01-01T00:00:01")])

    assert await delete(store, limit=0) == 0
    with pytest.raises(ValueError, match="limit"):
        await delete(store, limit=-1)
    assert await remaining(store) == ["a"]


@pytest.mark.real_mongodb
async def test_a_removal_rolls_back_with_its_session(store: DocumentStore) -> None:
    if isinstance(store, MongoStore) and not await store.supports_transactions():
        pytest.skip("this MongoDB is a standalone server: sessions are not transactions")
    await seed(store, [item("a", "2025-01-01T00:00:01")])

    removed: list[int] = []

    async def failing_unit() -> None:
        async with store.session() as session:
            removed.append(await session.delete_where("deliveries", {}, limit=5))
            raise RuntimeError("the unit of work failed")

    with pytest.raises(RuntimeError):
        await failing_unit()
    assert removed == [1]

    assert await remaining(store) == ["a"]


async def test_a_document_changed_so_that_it_no_longer_matches_stays(store: DocumentStore) -> None:
    await seed(store, [item("a", "2025-01-01T00:00:01"), item("b", "2025-01-01T00:00:02")])
    async with store.session() as session:
        # A retry made "a" due again meanwhile: no longer settled.
        await session.replace("deliveries", {**item("a", "2025-01-01T00:00:01", "pending"), "version": 2}, 1)

    assert await delete(store, limit=10) == 1
    assert await remaining(store) == ["a"]


async def test_concurrent_removals_remove_each_document_once(store: DocumentStore) -> None:
    await seed(store, [item(f"d{n:02}", f"2025-01-01T00:00:0{n % 5}") for n in range(30)])

    async def drain() -> int:
        total = 0
        while removed := await delete(store, limit=4):
            total += removed
        return total

    counts = await asyncio.gather(*(drain() for _ in range(5)))

    assert sum(counts) == 30
    assert await remaining(store) == []
