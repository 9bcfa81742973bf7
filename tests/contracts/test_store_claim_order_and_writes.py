"""More of the DocumentStore contract: claims pick by their order, not by id; writes say what failed.

Run against every backend like the rest of the contract (see conftest). Ids here run the
other way round from the due times, so that an order taken from the ids shows.
"""

from __future__ import annotations

import pytest

from integrations.stores.documents import Document, DocumentStore, Filter, In, Lte, VersionMismatch

DUE: Filter = {"status": In(("pending", "failed")), "next_attempt_at": Lte("2025-01-01T00:00:10")}


def item(doc_id: str, due: str, **fields: object) -> Document:
    return {
        "id": doc_id,
        "version": 1,
        "status": "pending",
        "next_attempt_at": due,
        "lease_owner": None,
        **fields,
    }


async def seed(store: DocumentStore, docs: list[Document]) -> None:
    async with store.session() as session:
        for doc in docs:
            await session.insert("deliveries", doc)


async def stored(store: DocumentStore, doc_id: str) -> Document | None:
    async with store.session() as session:
        return await session.get("deliveries", doc_id)


async def test_a_claim_picks_the_earliest_due_even_when_their_ids_sort_last(store: DocumentStore) -> None:
    await seed(
        store,
        [
            item("a", "2025-01-01T00:00:09"),
            item("b", "2025-01-01T00:00:05"),
            item("x", "2025-01-01T00:00:01"),
            item("w", "2025-01-01T00:00:03"),
        ],
    )

    async with store.session() as session:
        taken = await session.claim(
            "deliveries", DUE, order_by="next_attempt_at", limit=2, assign={"lease_owner": "w1"}
        )

    assert [doc["id"] for doc in taken] == ["x", "w"]  # in due order, as they were picked
    left = await stored(store, "a")
    assert left is not None
    assert left["lease_owner"] is None


# The nx-27017 stand-in stores a boolean set through $set as 0 or 1, which real MongoDB does not.
@pytest.mark.real_mongodb
async def test_false_is_assigned_as_false_by_claims_and_updates(store: DocumentStore) -> None:
    await seed(
        store, [item("a", "2025-01-01T00:00:01", flag=True), item("b", "2025-01-01T00:00:02", flag=True)]
    )

    async with store.session() as session:
        [claimed] = await session.claim(
            "deliveries", DUE, order_by="next_attempt_at", limit=1, assign={"flag": False}
        )
        changed = await session.update_where("deliveries", {"id": "b"}, {"flag": False})

    assert claimed["flag"] is False
    assert changed == 1
    for doc_id in ("a", "b"):
        doc = await stored(store, doc_id)
        assert doc is not None
        assert doc["flag"] is False
    async with store.session() as session:
        unflagged = await session.find("deliveries", {"flag": False}, limit=10)
    assert [doc["id"] for doc in unflagged] == ["a", "b"]


async def test_an_unsafe_field_in_an_assignment_is_refused_by_name(store: DocumentStore) -> None:
    await seed(store, [item("a", "2025-01-01T00:00:01")])

    async with store.session() as session:
        with pytest.raises(ValueError, match="invalid field name 'Bad-Field'"):
            await session.update_where("deliveries", {"id": "a"}, {"Bad-Field": 1})


async def test_a_negative_limit_is_refused_saying_so(store: DocumentStore) -> None:
    async with store.session() as session:
        with pytest.raises(ValueError, match="limit must not be negative, got -1"):
            await session.find("deliveries", {}, limit=-1)


async def test_a_replacement_with_the_wrong_version_or_a_lost_race_says_which(store: DocumentStore) -> None:
    await seed(store, [item("a", "2025-01-01T00:00:01")])

    async with store.session() as session:
        with pytest.raises(ValueError, match="replacement must carry version 2, got 5"):
            await session.replace("deliveries", {**item("a", "x"), "version": 5}, 1)
    async with store.session() as session:
        with pytest.raises(VersionMismatch, match="deliveries/a: stored version is not 3"):
            await session.replace("deliveries", {**item("a", "x"), "version": 4}, 3)


async def test_an_update_with_no_condition_changes_every_document(store: DocumentStore) -> None:
    await seed(store, [item("a", "2025-01-01T00:00:01"), item("b", "2025-01-01T00:00:02")])

    async with store.session() as session:
        changed = await session.update_where("deliveries", {}, {"lease_owner": "everyone"})

    assert changed == 2
    for doc_id in ("a", "b"):
        doc = await stored(store, doc_id)
        assert doc is not None
        assert (doc["lease_owner"], doc["version"]) == ("everyone", 2)
