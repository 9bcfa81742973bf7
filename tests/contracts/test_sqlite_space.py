"""Space in the SQLite file: a new file is made so that freed pages can be given back; a purge's
freed pages go back (`reclaim`), and a file made by an older release (no page map) keeps them
for reuse without failing."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path

from integrations.stores.schema import COLLECTIONS
from integrations.stores.sqlite import SqliteStore
from tests.support.fakes import FakeClock
from tests.support.store_world import RECORDS, store_world


async def filled_and_purged(path: Path) -> SqliteStore:
    store = SqliteStore(path)
    await store.migrate(COLLECTIONS)
    world = await store_world(store, clock=FakeClock())
    for n in range(15):
        await world.receive(f"s{n}")
    await world.process()
    world.clock.advance(RECORDS + timedelta(days=1))
    assert (await world.purger.purge(world.purger.cutoffs())).tally.counts["inbound_events"] == 30
    return store


async def test_a_purge_frees_pages_that_reclaim_gives_back_to_the_file_system(tmp_path: Path) -> None:
    store = await filled_and_purged(tmp_path / "subgate.db")
    try:
        _, pages_before, free_before = await store.page_counts()
        given = 0
        while step := await store.reclaim(pages=7):
            assert step <= 7
            given += step
        _, pages_after, free_after = await store.page_counts()
    finally:
        await store.close()

    assert free_before > 0
    assert given == free_before
    assert (free_after, pages_after) == (0, pages_before - free_before)
    with closing(sqlite3.connect(tmp_path / "subgate.db")) as raw:
        assert raw.execute("PRAGMA auto_vacuum").fetchone() == (2,)
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_a_file_made_without_a_page_map_keeps_its_free_pages_for_reuse(tmp_path: Path) -> None:
    path = tmp_path / "subgate.db"
    with closing(sqlite3.connect(path)) as raw:  # as a release before this one made it
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute("CREATE TABLE made_before (id TEXT PRIMARY KEY)")
    store = await filled_and_purged(path)
    try:
        _, pages, free = await store.page_counts()
        assert await store.reclaim() == 0
        assert await store.page_counts() == (4096, pages, free)
    finally:
        await store.close()
    assert free > 0
