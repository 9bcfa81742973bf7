"""While another process holds the SQLite write lock, the store waits for it one busy timeout
per session at most, and after a brief wait lets its other sessions (reads above all) go on.

Without that, sessions queued behind a locked file failed one busy timeout after another:
the last of a few webhooks answered 503 long after the provider had given up on it, and
every REST read waited behind writes that could not start.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from integrations.stores.documents import StorageError
from integrations.stores.schema import COLLECTIONS
from integrations.stores.sqlite import SqliteStore

BUSY_TIMEOUT_S = 2.0
SESSIONS = 5
# How long a read may wait behind a write that waits for the lock (the store's brief wait,
# a quarter of a second, plus slack for a busy machine): well under one busy timeout.
READ_WAITS_AT_MOST_S = 1.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "subgate.sqlite3", busy_timeout_s=BUSY_TIMEOUT_S)
    await opened.migrate(COLLECTIONS)
    async with opened.session() as session:
        await session.insert("customers", {"id": "c0", "version": 1, "merchant_id": "m"})
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def other_process(store: SqliteStore) -> Iterator[sqlite3.Connection]:
    """Another connection to the file, holding the write lock until the test releases it."""
    with closing(sqlite3.connect(store.path, isolation_level=None)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
        if conn.in_transaction:
            conn.execute("ROLLBACK")


async def write(store: SqliteStore, doc_id: str) -> None:
    async with store.session() as session:
        await session.insert("customers", {"id": doc_id, "version": 1, "merchant_id": "m"})


async def read(store: SqliteStore) -> list[str]:
    async with store.session() as session:
        return [doc["id"] for doc in await session.find("customers", {}, limit=100)]


async def test_sessions_queued_behind_a_locked_file_all_fail_within_one_busy_timeout(
    store: SqliteStore, other_process: sqlite3.Connection
) -> None:
    started = time.monotonic()
    results = await asyncio.gather(
        *(write(store, f"c{n}") for n in range(1, SESSIONS + 1)), return_exceptions=True
    )
    waited = time.monotonic() - started

    assert all(isinstance(result, StorageError) and "locked" in str(result) for result in results), results
    # One after another they would take SESSIONS busy timeouts.
    assert BUSY_TIMEOUT_S <= waited < 2 * BUSY_TIMEOUT_S
    other_process.execute("ROLLBACK")
    assert await read(store) == ["c0"]


async def test_reads_go_on_while_a_write_waits_for_the_lock_and_the_write_then_succeeds(
    store: SqliteStore, other_process: sqlite3.Connection
) -> None:
    waiting = asyncio.create_task(write(store, "c1"))
    await asyncio.sleep(0)  # lets the write start and find the lock taken

    started = time.monotonic()
    assert await read(store) == ["c0"]
    assert time.monotonic() - started < READ_WAITS_AT_MOST_S
    assert not waiting.done()  # still waiting for the lock, not given up

    other_process.execute("ROLLBACK")  # released before the write's busy timeout is over
    await waiting
    assert await read(store) == ["c0", "c1"]


async def test_writes_cancelled_while_they_wait_for_the_lock_leave_the_store_usable(
    store: SqliteStore, other_process: sqlite3.Connection
) -> None:
    briefly = asyncio.create_task(write(store, "lost-1"))
    await asyncio.sleep(0)  # lets the write start: it waits briefly, keeping the connection
    briefly.cancel()
    with pytest.raises(asyncio.CancelledError):
        await briefly

    longer = asyncio.create_task(write(store, "lost-2"))
    await asyncio.sleep(0)  # lets the write start
    await read(store)  # done once the write let go of the connection to wait longer
    longer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await longer

    other_process.execute("ROLLBACK")
    await asyncio.gather(write(store, "c1"), write(store, "c2"))
    assert await read(store) == ["c0", "c1", "c2"]
