"""Migrating a store made with an earlier declaration of its indexes: every backend takes the new
one (an index renamed, one made partial, one no longer declared); SQLite drops what is no longer
declared, and makes the sparse ones partial (documents whose field is null left out).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from integrations.stores.documents import IndexSpec, Lte
from integrations.stores.schema import COLLECTIONS
from integrations.stores.sqlite import SqliteStore
from tests.contracts.conftest import StoreFactory

EARLIER = {
    **COLLECTIONS,
    "subscriptions": (
        IndexSpec("subscriptions_merchant", ("merchant_id", "id")),
        IndexSpec("subscriptions_due", ("next_transition_at", "id")),
    ),
}


async def test_a_store_migrated_before_takes_the_current_declaration(make_store: StoreFactory) -> None:
    store = make_store()
    try:
        await store.migrate(EARLIER)
        async with store.session() as session:
            await session.insert("subscriptions", {"id": "sub_1", "version": 0, "next_transition_at": "2026"})
            await session.insert("subscriptions", {"id": "sub_2", "version": 0, "next_transition_at": None})

        await store.migrate(COLLECTIONS)
        await store.migrate(COLLECTIONS)  # and again: nothing left to do

        async with store.session() as session:
            due = await session.find(
                "subscriptions", {"next_transition_at": Lte("2027")}, limit=10, order_by="next_transition_at"
            )
        assert [doc["id"] for doc in due] == ["sub_1"]
    finally:
        await store.close()


def _indexes(path: Path) -> dict[str, str]:
    """The declared indexes of the file, with their SQL."""
    with closing(sqlite3.connect(path)) as raw:
        rows = raw.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        return {str(name): str(sql) for name, sql in rows}


async def test_sqlite_drops_what_is_no_longer_declared_and_makes_sparse_indexes_partial(
    tmp_path: Path,
) -> None:
    path = tmp_path / "subgate.sqlite3"
    store = SqliteStore(path)
    try:
        await store.migrate(EARLIER)
        async with store.session() as session:
            for n, due in enumerate(("2026", None, None)):
                await session.insert(
                    "subscriptions", {"id": f"sub_{n}", "version": 0, "next_transition_at": due}
                )
        await store.migrate(COLLECTIONS)
    finally:
        await store.close()

    indexes = _indexes(path)
    declared = {spec.name for specs in COLLECTIONS.values() for spec in specs}
    assert set(indexes) == declared
    assert indexes["subscriptions_due_set"].endswith(
        "WHERE json_extract(doc, '$.next_transition_at') IS NOT NULL"
    )
    assert "WHERE" not in indexes["subscriptions_merchant"]
