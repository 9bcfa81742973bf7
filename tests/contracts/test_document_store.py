"""The DocumentStore contract, run against SQLite, MongoDB and the in-memory test fake alike.

Written to pass unchanged on a real MongoDB (SUBGATE_TEST_MONGODB_URL), a
Docker one, and the nx-27017 stand-in; the few checks the stand-in cannot
honour carry the ``real_mongodb`` marker. The fake (`tests.support.fakes.InMemoryStore`)
runs every backend-neutral test; the one that needs two stores on the same data
carries ``shared_backing_store`` and is skipped for it.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from integrations.stores.documents import (
    Document,
    DocumentStore,
    DuplicateDocument,
    Filter,
    Gt,
    In,
    Lte,
    StorageError,
    VersionMismatch,
)
from integrations.stores.mongo import MongoStore
from integrations.stores.schema import COLLECTIONS
from integrations.stores.sqlite import SqliteStore
from integrations.stores.sqlite.sql import compile_claim, compile_find
from tests.support.fakes import InMemoryStore
from tests.support.mongo import collect_abandoned_sockets

StoreFactory = Callable[[], SqliteStore | MongoStore | InMemoryStore]


async def insert_all(store: DocumentStore, collection: str, docs: list[Document]) -> None:
    async with store.session() as session:
        for doc in docs:
            await session.insert(collection, doc)


async def get(store: DocumentStore, collection: str, doc_id: str) -> Document | None:
    async with store.session() as session:
        return await session.get(collection, doc_id)


async def find_ids(
    store: DocumentStore,
    collection: str,
    where: Filter,
    *,
    limit: int = 100,
    after_id: str | None = None,
    order_by: str = "id",
) -> list[str]:
    async with store.session() as session:
        found = await session.find(collection, where, limit=limit, after_id=after_id, order_by=order_by)
    return [doc["id"] for doc in found]


def subscription(doc_id: str, **fields: Any) -> Document:
    return {"id": doc_id, "version": 1, "merchant_id": "m1", **fields}


# --------------------------------------------------------------------------- round trip


async def test_insert_then_get_round_trips_every_json_type(store: DocumentStore) -> None:
    doc: Document = {
        "id": "sub_1",
        "version": 1,
        "merchant_id": "m1",
        "status": "active",
        "seats": 3,
        "price": 12.5,
        "trial": False,
        "cancelled_at": None,
        "tags": ["a", "b"],
        "meta": {"plan": {"code": "pro"}, "note": "grüße ✓"},
    }
    await insert_all(store, "subscriptions", [doc])

    assert await get(store, "subscriptions", "sub_1") == doc
    assert await get(store, "subscriptions", "nope") is None


async def test_insert_leaves_the_callers_dict_untouched(store: DocumentStore) -> None:
    doc = subscription("sub_1")
    before = dict(doc)
    await insert_all(store, "subscriptions", [doc])
    assert doc == before


async def test_collections_are_separate(store: DocumentStore) -> None:
    await insert_all(store, "plans", [{"id": "x", "version": 1, "merchant_id": "m1"}])
    assert await get(store, "customers", "x") is None


async def test_session_writes_are_visible_later_in_the_same_session(store: DocumentStore) -> None:
    async with store.session() as session:
        await session.insert("subscriptions", subscription("sub_1"))
        assert await session.get("subscriptions", "sub_1") == subscription("sub_1")
        assert [d["id"] for d in await session.find("subscriptions", {}, limit=10)] == ["sub_1"]


# --------------------------------------------------------------------------- uniqueness


async def test_duplicate_id_raises_duplicate_document(store: DocumentStore) -> None:
    await insert_all(store, "customers", [{"id": "c1", "version": 1, "merchant_id": "m1"}])

    with pytest.raises(DuplicateDocument):
        await insert_all(store, "customers", [{"id": "c1", "version": 1, "merchant_id": "m2"}])

    assert await get(store, "customers", "c1") == {"id": "c1", "version": 1, "merchant_id": "m1"}


async def test_unique_index_clash_raises_duplicate_document(store: DocumentStore) -> None:
    await insert_all(store, "merchants", [{"id": "m1", "version": 1, "api_key_hash": "h1"}])

    with pytest.raises(DuplicateDocument):
        await insert_all(store, "merchants", [{"id": "m2", "version": 1, "api_key_hash": "h1"}])

    assert await get(store, "merchants", "m2") is None


async def test_compound_unique_index_only_rejects_the_full_key(store: DocumentStore) -> None:
    def event(doc_id: str, connection: str, provider_event: str) -> Document:
        return {
            "id": doc_id,
            "version": 1,
            "merchant_id": "m1",
            "connection_id": connection,
            "provider_event_id": provider_event,
        }

    await insert_all(store, "inbound_events", [event("e1", "conn_a", "evt_1")])
    # Same provider event on another connection, and another event on the same one: both fine.
    await insert_all(store, "inbound_events", [event("e2", "conn_b", "evt_1")])
    await insert_all(store, "inbound_events", [event("e3", "conn_a", "evt_2")])

    with pytest.raises(DuplicateDocument):
        await insert_all(store, "inbound_events", [event("e4", "conn_a", "evt_1")])


async def test_replace_into_a_unique_clash_raises_duplicate_document(store: DocumentStore) -> None:
    await insert_all(
        store,
        "merchants",
        [
            {"id": "m1", "version": 1, "api_key_hash": "h1"},
            {"id": "m2", "version": 1, "api_key_hash": "h2"},
        ],
    )

    with pytest.raises(DuplicateDocument):
        async with store.session() as session:
            await session.replace("merchants", {"id": "m2", "version": 2, "api_key_hash": "h1"}, 1)

    assert await get(store, "merchants", "m2") == {"id": "m2", "version": 1, "api_key_hash": "h2"}


# --------------------------------------------------------------------------- compare-and-set


async def test_replace_with_the_stored_version_succeeds(store: DocumentStore) -> None:
    await insert_all(store, "subscriptions", [subscription("sub_1", status="trialing")])

    async with store.session() as session:
        await session.replace("subscriptions", subscription("sub_1", version=2, status="active"), 1)

    assert await get(store, "subscriptions", "sub_1") == subscription("sub_1", version=2, status="active")


async def test_replace_with_a_stale_version_raises_version_mismatch(store: DocumentStore) -> None:
    await insert_all(store, "subscriptions", [subscription("sub_1", version=3, status="active")])

    with pytest.raises(VersionMismatch):
        async with store.session() as session:
            await session.replace("subscriptions", subscription("sub_1", version=3, status="x"), 2)

    assert await get(store, "subscriptions", "sub_1") == subscription("sub_1", version=3, status="active")


async def test_replace_of_a_missing_document_raises_version_mismatch(store: DocumentStore) -> None:
    with pytest.raises(VersionMismatch):
        async with store.session() as session:
            await session.replace("subscriptions", subscription("ghost", version=2), 1)

    assert await get(store, "subscriptions", "ghost") is None


async def test_replace_insists_on_the_next_version(store: DocumentStore) -> None:
    await insert_all(store, "subscriptions", [subscription("sub_1")])

    with pytest.raises(ValueError, match="version 2"):
        async with store.session() as session:
            await session.replace("subscriptions", subscription("sub_1", version=1), 1)


# --------------------------------------------------------------------------- find


@pytest.fixture
async def catalog(store: DocumentStore) -> DocumentStore:
    """Subscriptions with a spread of statuses, numbers, booleans and missing fields."""
    docs = [
        subscription("s1", status="active", seats=1, paused=False, renews_at="2025-01-03T00:00:00.000000Z"),
        subscription("s2", status="trialing", seats=5, paused=True, renews_at="2025-01-01T00:00:00.000000Z"),
        subscription("s3", status="active", seats=10, paused=False, renews_at="2025-01-02T00:00:00.000000Z"),
        subscription("s4", status="canceled", seats=2, paused=True, renews_at=None),
        subscription("s5", status="active", seats=5),  # no `paused`, no `renews_at`
        {"id": "s6", "version": 1, "merchant_id": "m2", "status": "active", "seats": 7, "paused": False},
    ]
    await insert_all(store, "subscriptions", docs)
    return store


async def test_find_without_conditions_returns_everything_by_id(catalog: DocumentStore) -> None:
    assert await find_ids(catalog, "subscriptions", {}) == ["s1", "s2", "s3", "s4", "s5", "s6"]


async def test_find_by_equality_ands_all_conditions(catalog: DocumentStore) -> None:
    assert await find_ids(catalog, "subscriptions", {"status": "active"}) == ["s1", "s3", "s5", "s6"]
    assert await find_ids(catalog, "subscriptions", {"merchant_id": "m1", "status": "active"}) == [
        "s1",
        "s3",
        "s5",
    ]
    assert await find_ids(catalog, "subscriptions", {"status": "paused"}) == []


async def test_find_by_integer_equality(catalog: DocumentStore) -> None:
    assert await find_ids(catalog, "subscriptions", {"seats": 5}) == ["s2", "s5"]


async def test_find_by_boolean(catalog: DocumentStore) -> None:
    assert await find_ids(catalog, "subscriptions", {"paused": True}) == ["s2", "s4"]
    assert await find_ids(catalog, "subscriptions", {"paused": False}) == ["s1", "s3", "s6"]


async def test_find_by_none_matches_null_and_missing(catalog: DocumentStore) -> None:
    assert await find_ids(catalog, "subscriptions", {"renews_at": None}) == ["s4", "s5", "s6"]
    assert await find_ids(catalog, "subscriptions", {"paused": None}) == ["s5"]


async def test_find_by_in(catalog: DocumentStore) -> None:
    assert await find_ids(catalog, "subscriptions", {"status": In(("trialing", "canceled"))}) == ["s2", "s4"]
    assert await find_ids(catalog, "subscriptions", {"seats": In((1, 10))}) == ["s1", "s3"]
    assert await find_ids(catalog, "subscriptions", {"paused": In((True,))}) == ["s2", "s4"]
    assert await find_ids(catalog, "subscriptions", {"status": In(())}) == []


async def test_find_by_in_with_none_also_matches_null_and_missing(catalog: DocumentStore) -> None:
    where: Filter = {"paused": In((True, None))}
    assert await find_ids(catalog, "subscriptions", where) == ["s2", "s4", "s5"]


async def test_find_by_lte_and_gt(catalog: DocumentStore) -> None:
    assert await find_ids(catalog, "subscriptions", {"seats": Lte(5)}) == ["s1", "s2", "s4", "s5"]
    assert await find_ids(catalog, "subscriptions", {"seats": Gt(5)}) == ["s3", "s6"]
    # Fixed-width ISO strings compare as times; null and missing never match a range.
    assert await find_ids(catalog, "subscriptions", {"renews_at": Lte("2025-01-02T00:00:00.000000Z")}) == [
        "s2",
        "s3",
    ]
    assert await find_ids(catalog, "subscriptions", {"renews_at": Gt("2025-01-01T00:00:00.000000Z")}) == [
        "s1",
        "s3",
    ]


async def test_find_by_range_on_id(catalog: DocumentStore) -> None:
    where: Filter = {"id": Gt("s2"), "merchant_id": "m1"}
    assert await find_ids(catalog, "subscriptions", where) == ["s3", "s4", "s5"]
    assert await find_ids(catalog, "subscriptions", {"id": "s3"}) == ["s3"]


async def test_find_range_on_null_is_refused(catalog: DocumentStore) -> None:
    with pytest.raises(ValueError, match="non-null"):
        await find_ids(catalog, "subscriptions", {"renews_at": Gt(None)})


async def test_find_orders_by_the_given_field_then_id(catalog: DocumentStore) -> None:
    ids = await find_ids(catalog, "subscriptions", {"merchant_id": "m1"}, order_by="seats")
    assert ids == ["s1", "s4", "s2", "s5", "s3"]  # s2 and s5 tie on 5 seats: id decides
    ids = await find_ids(catalog, "subscriptions", {"renews_at": Gt("2000")}, order_by="renews_at")
    assert ids == ["s2", "s3", "s1"]


async def test_find_respects_limit(catalog: DocumentStore) -> None:
    assert await find_ids(catalog, "subscriptions", {"status": "active"}, limit=2) == ["s1", "s3"]
    assert await find_ids(catalog, "subscriptions", {"status": "active"}, limit=0) == []


async def test_find_paginates_with_after_id(catalog: DocumentStore) -> None:
    pages: list[list[str]] = []
    after: str | None = None
    while True:
        page = await find_ids(catalog, "subscriptions", {"merchant_id": "m1"}, limit=2, after_id=after)
        if not page:
            break
        pages.append(page)
        after = page[-1]

    assert pages == [["s1", "s2"], ["s3", "s4"], ["s5"]]


async def test_after_id_combines_with_a_condition_on_id(catalog: DocumentStore) -> None:
    ids = await find_ids(catalog, "subscriptions", {"id": Lte("s5")}, after_id="s2")
    assert ids == ["s3", "s4", "s5"]


async def test_find_returns_documents_as_stored(catalog: DocumentStore) -> None:
    async with catalog.session() as session:
        found = await session.find("subscriptions", {"id": "s4"}, limit=1)
    assert found == [subscription("s4", status="canceled", seats=2, paused=True, renews_at=None)]


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize("bad", ["Drop", "a-b", "x;--", "a.b", "$where", "", "1abc", 'q"'])
async def test_unsafe_names_are_rejected(store: DocumentStore, bad: str) -> None:
    async with store.session() as session:
        with pytest.raises(ValueError, match="invalid"):
            await session.get(bad, "x")
        with pytest.raises(ValueError, match="invalid"):
            await session.find("subscriptions", {bad: 1}, limit=1)
        with pytest.raises(ValueError, match="invalid"):
            await session.find("subscriptions", {}, limit=1, order_by=bad)


async def test_session_cannot_be_used_after_it_ended(store: DocumentStore) -> None:
    async with store.session() as session:
        pass
    with pytest.raises(RuntimeError, match="ended"):
        await session.get("subscriptions", "x")


# --------------------------------------------------------------------------- transactions


@pytest.mark.real_mongodb
async def test_exception_inside_a_session_rolls_everything_back(store: DocumentStore) -> None:
    if isinstance(store, MongoStore) and not await store.supports_transactions():
        pytest.skip("this MongoDB is a standalone server: sessions are not transactions")
    await insert_all(store, "subscriptions", [subscription("sub_1")])

    class Boom(Exception):
        pass

    async def unit_of_work_that_fails() -> None:
        async with store.session() as session:
            await session.insert("subscriptions", subscription("sub_2"))
            await session.replace("subscriptions", subscription("sub_1", version=2, status="x"), 1)
            raise Boom

    with pytest.raises(Boom):
        await unit_of_work_that_fails()

    assert await get(store, "subscriptions", "sub_2") is None
    assert await get(store, "subscriptions", "sub_1") == subscription("sub_1")


async def test_a_session_commits_when_the_block_exits_normally(store: DocumentStore) -> None:
    async with store.session() as session:
        await session.insert("subscriptions", subscription("sub_1"))
        await session.insert("subscriptions", subscription("sub_2"))

    assert await find_ids(store, "subscriptions", {}) == ["sub_1", "sub_2"]


async def test_concurrent_inserts_of_one_unique_key_let_exactly_one_win(store: DocumentStore) -> None:
    async def attempt(n: int) -> None:
        async with store.session() as session:
            await session.insert("merchants", {"id": f"m{n}", "version": 1, "api_key_hash": "same"})

    outcomes = await asyncio.gather(*(attempt(n) for n in range(50)), return_exceptions=True)

    assert sum(outcome is None for outcome in outcomes) == 1
    failures = [outcome for outcome in outcomes if outcome is not None]
    assert len(failures) == 49
    assert all(isinstance(failure, DuplicateDocument) for failure in failures), failures
    assert len(await find_ids(store, "merchants", {"api_key_hash": "same"})) == 1


@pytest.mark.shared_backing_store
async def test_concurrent_compare_and_set_lets_exactly_one_win(
    store: DocumentStore, make_store: StoreFactory
) -> None:
    # Two processes (two stores on the same data: on SQLite two connections) each read version 1
    # in an open session, and only then do both write: one builds on it, the other finds it gone.
    await insert_all(store, "subscriptions", [subscription("sub_1", status="trialing")])
    other = make_store()
    both_read = asyncio.Barrier(2)
    seen: dict[str, int] = {}

    async def contend(target: DocumentStore, name: str) -> None:
        async with target.session() as session:
            current = await session.get("subscriptions", "sub_1")
            assert current is not None
            seen[name] = current["version"]
            await both_read.wait()
            changed = {**current, "version": current["version"] + 1, "status": f"by-{name}"}
            await session.replace("subscriptions", changed, current["version"])

    try:
        async with asyncio.timeout(30):
            outcomes = await asyncio.gather(contend(store, "a"), contend(other, "b"), return_exceptions=True)
    finally:
        await other.close()

    assert seen == {"a": 1, "b": 1}
    winners = [name for name, outcome in zip("ab", outcomes, strict=True) if outcome is None]
    assert len(winners) == 1, outcomes
    [loser] = [outcome for outcome in outcomes if outcome is not None]
    assert isinstance(loser, VersionMismatch), loser
    stored = await get(store, "subscriptions", "sub_1")
    assert stored == subscription("sub_1", version=2, status=f"by-{winners[0]}")


# --------------------------------------------------------------------------- claims


def due_item(doc_id: str, due: str, status: str = "pending", **fields: Any) -> Document:
    return {
        "id": doc_id,
        "version": 1,
        "status": status,
        "next_attempt_at": due,
        "lease_owner": None,
        **fields,
    }


DUE: Filter = {"status": In(("pending", "failed")), "next_attempt_at": Lte("2025-01-01T00:00:10")}
LEASE = {"lease_owner": "w1", "next_attempt_at": "2025-01-01T00:01:00"}


async def claim(store: DocumentStore, limit: int, owner: str = "w1") -> list[Document]:
    async with store.session() as session:
        return await session.claim(
            "deliveries", DUE, order_by="next_attempt_at", limit=limit, assign={**LEASE, "lease_owner": owner}
        )


async def test_claim_takes_the_due_documents_in_order_and_leases_them(store: DocumentStore) -> None:
    await insert_all(
        store,
        "deliveries",
        [
            due_item("d3", "2025-01-01T00:00:03"),
            due_item("d1", "2025-01-01T00:00:01"),
            due_item("d2", "2025-01-01T00:00:02", status="failed"),
            due_item("later", "2025-01-01T00:00:11"),
            due_item("done", "2025-01-01T00:00:01", status="succeeded"),
        ],
    )

    taken = await claim(store, limit=2)

    assert [d["id"] for d in taken] == ["d1", "d2"]
    assert all(d["lease_owner"] == "w1" and d["version"] == 2 for d in taken)
    assert taken[1]["status"] == "failed"
    assert await get(store, "deliveries", "d1") == taken[0]
    assert await get(store, "deliveries", "d3") == due_item("d3", "2025-01-01T00:00:03")
    # Leased work is no longer due, so the next claim moves on to what is left.
    assert [d["id"] for d in await claim(store, limit=10)] == ["d3"]
    assert await claim(store, limit=10) == []


async def test_concurrent_claims_never_take_one_document_twice(store: DocumentStore) -> None:
    await insert_all(
        store, "deliveries", [due_item(f"d{n:02}", f"2025-01-01T00:00:0{n % 10}") for n in range(40)]
    )

    async def drain(owner: str) -> list[Document]:
        mine: list[Document] = []
        while batch := await claim(store, limit=7, owner=owner):
            mine.extend(batch)
        return mine

    batches = await asyncio.gather(*(drain(f"w{n}") for n in range(8)))

    taken = [doc["id"] for batch in batches for doc in batch]
    assert len(taken) == len(set(taken))
    assert sorted(taken) == [f"d{n:02}" for n in range(40)]
    for n, batch in enumerate(batches):
        for doc in batch:
            stored = await get(store, "deliveries", doc["id"])
            assert stored is not None
            assert stored["lease_owner"] == f"w{n}"


@pytest.mark.shared_backing_store
async def test_claims_from_two_stores_on_the_same_data_never_overlap(
    store: DocumentStore, make_store: StoreFactory
) -> None:
    # What two worker processes on one database do.
    await insert_all(store, "deliveries", [due_item(f"d{n:02}", "2025-01-01T00:00:01") for n in range(30)])
    other = make_store()
    try:

        async def drain(target: DocumentStore, owner: str) -> list[str]:
            mine: list[str] = []
            while batch := await claim(target, limit=4, owner=owner):
                mine.extend(doc["id"] for doc in batch)
            return mine

        first, second = await asyncio.gather(drain(store, "a"), drain(other, "b"))
    finally:
        await other.close()

    assert not set(first) & set(second)
    assert sorted(first + second) == [f"d{n:02}" for n in range(30)]


async def test_claim_refuses_to_assign_the_id_or_version(store: DocumentStore) -> None:
    async with store.session() as session:
        for field in ("id", "version"):
            with pytest.raises(ValueError, match="cannot be assigned"):
                await session.claim(
                    "deliveries", DUE, order_by="next_attempt_at", limit=1, assign={field: "x"}
                )


async def test_update_where_changes_only_the_matching_documents(store: DocumentStore) -> None:
    await insert_all(
        store,
        "deliveries",
        [
            due_item("a", "2025-01-01T00:01:00", lease_owner="dead"),
            due_item("b", "2025-01-01T00:01:00", lease_owner="dead", status="succeeded"),
            due_item("c", "2025-01-01T00:01:00", lease_owner="alive"),
        ],
    )

    async with store.session() as session:
        changed = await session.update_where(
            "deliveries",
            {"lease_owner": "dead", "status": In(("pending", "failed"))},
            {"lease_owner": None, "next_attempt_at": "2025-01-01T00:00:05", "flag": True},
        )

    assert changed == 1
    assert await get(store, "deliveries", "a") == {
        **due_item("a", "2025-01-01T00:00:05"),
        "version": 2,
        "flag": True,
    }
    assert await get(store, "deliveries", "b") == due_item(
        "b", "2025-01-01T00:01:00", lease_owner="dead", status="succeeded"
    )
    assert await get(store, "deliveries", "c") == due_item("c", "2025-01-01T00:01:00", lease_owner="alive")


@pytest.mark.shared_backing_store
async def test_two_stores_on_the_same_data_write_concurrently(
    store: DocumentStore, make_store: StoreFactory
) -> None:
    # A second store is what another process (admin CLI, worker) would hold;
    # on SQLite it is a second connection contending for the file's write lock.
    other = make_store()
    try:

        async def write(target: DocumentStore, prefix: str) -> None:
            for n in range(25):
                async with target.session() as session:
                    await session.insert(
                        "customers", {"id": f"{prefix}{n:02}", "version": 1, "merchant_id": "m"}
                    )

        await asyncio.gather(write(store, "a"), write(other, "b"))

        ids = await find_ids(other, "customers", {}, limit=100)
        assert len(ids) == 50
        assert await find_ids(store, "customers", {}, limit=100) == ids
    finally:
        await other.close()


# --------------------------------------------------------------------------- lifecycle


async def test_migrate_twice_is_harmless(store: DocumentStore) -> None:
    await insert_all(store, "merchants", [{"id": "m1", "version": 1, "api_key_hash": "h1"}])

    await store.migrate(COLLECTIONS)
    await store.migrate(COLLECTIONS)

    assert await get(store, "merchants", "m1") == {"id": "m1", "version": 1, "api_key_hash": "h1"}
    with pytest.raises(DuplicateDocument):  # the unique index is still there
        await insert_all(store, "merchants", [{"id": "m2", "version": 1, "api_key_hash": "h1"}])


async def test_ping_answers(store: DocumentStore) -> None:
    await store.ping()


async def test_close_is_idempotent_and_final(make_store: StoreFactory) -> None:
    opened = make_store()
    await opened.migrate(COLLECTIONS)
    await opened.close()
    await opened.close()

    with pytest.raises(StorageError):
        await opened.ping()


def _closed_local_port() -> int:
    # Bound and released at once: nothing listens there for the test's lifetime
    # (another process could grab it, but only a MongoDB would change the outcome).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("mongo", id="mongo"),
        pytest.param("memory", id="memory"),
    ]
)
async def unreachable_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DocumentStore]:
    opened: SqliteStore | MongoStore | InMemoryStore
    if request.param == "sqlite":
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("a file where the database directory should be")
        opened = SqliteStore(blocker / "data" / "subgate.sqlite3")
    elif request.param == "memory":
        # The switch the gateway tests use for "store down" must fail where a real outage does.
        opened = InMemoryStore(collections=None)
        opened.unavailable = True
    else:
        url = f"mongodb://127.0.0.1:{_closed_local_port()}/subgate?directConnection=true"
        opened = MongoStore(url, server_selection_timeout_ms=300)
    try:
        yield opened
    finally:
        await opened.close()
        if isinstance(opened, MongoStore):
            await asyncio.sleep(0)  # let the cancelled monitor task unwind and drop its socket
            collect_abandoned_sockets()


async def test_unreachable_store_raises_storage_error(unreachable_store: DocumentStore) -> None:
    with pytest.raises(StorageError):
        await unreachable_store.ping()
    with pytest.raises(StorageError):
        await unreachable_store.migrate(COLLECTIONS)
    with pytest.raises(StorageError):
        async with unreachable_store.session() as session:
            await session.insert("customers", {"id": "c1", "version": 1, "merchant_id": "m"})


# --------------------------------------------------------------------------- SQLite specifics


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "subgate.sqlite3")
    try:
        await opened.migrate(COLLECTIONS)
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def raw_sqlite(sqlite_store: SqliteStore) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(sqlite_store.path)
    try:
        yield conn
    finally:
        conn.close()


def test_sqlite_file_is_in_wal_mode(raw_sqlite: sqlite3.Connection) -> None:
    assert raw_sqlite.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_sqlite_claim_picks_through_the_due_index(raw_sqlite: sqlite3.Connection) -> None:
    sql, params = compile_claim("deliveries", DUE, order_by="next_attempt_at", limit=100, assign=LEASE)
    plan = " / ".join(row[3] for row in raw_sqlite.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "USING INDEX deliveries_due" in plan, plan


@pytest.mark.parametrize(
    ("collection", "where", "order_by", "index"),
    [
        ("subscriptions", {"merchant_id": "m1", "status": "active"}, "id", "subscriptions_merchant_status"),
        ("merchants", {"api_key_hash": "h"}, "id", "merchants_key_hash"),
        (
            "deliveries",
            {"status": "pending", "next_attempt_at": Lte("2025")},
            "next_attempt_at",
            "deliveries_due",
        ),
        ("outbox", {"dispatched": False}, "id", "outbox_pending"),
    ],
)
def test_sqlite_queries_use_the_expression_indexes(
    raw_sqlite: sqlite3.Connection, collection: str, where: Filter, order_by: str, index: str
) -> None:
    sql, params = compile_find(collection, where, limit=10, after_id="x", order_by=order_by)
    plan = " / ".join(row[3] for row in raw_sqlite.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    assert f"USING INDEX {index}" in plan, plan


async def test_sqlite_write_lock_held_beyond_the_busy_timeout_is_a_storage_error(
    sqlite_store: SqliteStore,
) -> None:
    impatient = SqliteStore(sqlite_store.path, busy_timeout_s=0.1)
    try:
        async with sqlite_store.session() as holder:
            await holder.insert("customers", {"id": "c1", "version": 1, "merchant_id": "m"})
            with pytest.raises(StorageError, match="locked"):
                async with impatient.session() as blocked:
                    await blocked.insert("customers", {"id": "c2", "version": 1, "merchant_id": "m"})
        # Once the lock is gone the impatient store works normally.
        async with impatient.session() as session:
            await session.insert("customers", {"id": "c2", "version": 1, "merchant_id": "m"})
    finally:
        await impatient.close()
    assert await find_ids(sqlite_store, "customers", {}) == ["c1", "c2"]


async def test_sqlite_commit_is_visible_to_another_connection(
    sqlite_store: SqliteStore, raw_sqlite: sqlite3.Connection
) -> None:
    await insert_all(sqlite_store, "customers", [{"id": "c1", "version": 1, "merchant_id": "m"}])
    rows = raw_sqlite.execute("SELECT id, json_extract(doc, '$.merchant_id') FROM customers").fetchall()
    assert rows == [("c1", "m")]


async def test_sqlite_survives_a_cancelled_session(sqlite_store: SqliteStore) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def stuck() -> None:
        async with sqlite_store.session() as session:
            await session.insert("customers", {"id": "lost", "version": 1, "merchant_id": "m"})
            entered.set()
            await release.wait()

    task = asyncio.create_task(stuck())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await insert_all(sqlite_store, "customers", [{"id": "kept", "version": 1, "merchant_id": "m"}])
    assert await find_ids(sqlite_store, "customers", {}) == ["kept"]


async def test_sqlite_concurrent_sessions_share_commits_and_fail_alone(sqlite_store: SqliteStore) -> None:
    """Sessions committed together are each durable, and one failing session takes only itself down."""

    async def write(n: int) -> None:
        async with sqlite_store.session() as session:
            await session.insert("customers", {"id": f"c{n:03}", "version": 1, "merchant_id": "m"})
            if n % 10 == 0:
                raise RuntimeError(f"session {n} fails after writing")

    results = await asyncio.gather(*(write(n) for n in range(100)), return_exceptions=True)

    failed = [r for r in results if isinstance(r, RuntimeError)]
    assert len(failed) == 10
    expected = sorted(f"c{n:03}" for n in range(100) if n % 10)
    # Read through a separate connection: only committed rows are visible there.
    with closing(sqlite3.connect(sqlite_store.path)) as other:
        stored = [row[0] for row in other.execute('SELECT id FROM "customers" ORDER BY id')]
    assert stored == expected
