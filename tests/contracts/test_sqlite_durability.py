"""What the SQLite store promises a provider that got a 2xx: its event survives a power cut.

These settings are per connection, so they are read on the store's own connection: another
connection to the same file would show its own defaults, not what the store runs with.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest

from integrations.stores.schema import COLLECTIONS
from integrations.stores.sqlite import SqliteStore

# PRAGMA synchronous answers a number: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA.
SYNCHRONOUS_FULL = 2


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "subgate.sqlite3")
    await opened.migrate(COLLECTIONS)
    try:
        yield opened
    finally:
        await opened.close()


def own_connection(store: SqliteStore) -> sqlite3.Connection:
    conn = store._conn  # the store's connection itself: the pragmas below are per connection
    assert conn is not None, "migrate opened the connection"
    return conn


async def test_every_commit_is_synced_to_disk(store: SqliteStore) -> None:
    async with store.session() as session:
        await session.insert("merchants", {"id": "m1", "version": 1, "api_key_hash": "h1"})

    [(level,)] = own_connection(store).execute("PRAGMA synchronous").fetchall()

    assert level == SYNCHRONOUS_FULL


async def test_the_file_is_in_write_ahead_log_mode(store: SqliteStore) -> None:
    [(mode,)] = own_connection(store).execute("PRAGMA journal_mode").fetchall()

    assert mode == "wal"
    # WAL is a property of the file: a fresh connection sees it too (other processes rely on it).
    with closing(sqlite3.connect(store.path)) as other:
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_the_store_begins_its_own_transactions_and_waits_its_turn_behind_other_writers(
    store: SqliteStore,
) -> None:
    conn = own_connection(store)

    # No implicit BEGIN from the sqlite3 module: the store's BEGIN IMMEDIATE and savepoints rule.
    assert conn.isolation_level is None
    # Another process's write lock is waited for (10 s by default), not failed on at once.
    [(busy_timeout_ms,)] = conn.execute("PRAGMA busy_timeout").fetchall()
    assert busy_timeout_ms == 10_000
