"""A week of steady traffic, compressed: the SQLite file's size levels off once retention runs.

A fixed population of subscriptions renews every simulated hour (an inbound event each, a
webhook and an email each), through the real services on a real SQLite file, with the clock
moved an hour at a time. Retention is set through the settings (a day of payloads, two of
records) and the worker's own retention steps run after each hour, as the scheduler would. Until
the records retention is reached the file grows with the traffic; from then on the pages freed
by each purge are reused by the next hour's writes, and the file, its write-ahead log included,
stays the same size.

About half a minute. `SUBGATE_TEST_SOAK_DAYS` (7) and `SUBGATE_TEST_SOAK_SUBSCRIPTIONS` (4) make
a longer or heavier run on demand; `pytest -s` prints the sizes.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from integrations.stores.schema import COLLECTIONS
from integrations.stores.sqlite import SqliteStore
from subgate.commands.store import retention
from subgate.settings import load_settings
from tests.support.fakes import FakeClock
from tests.support.store_world import StoreWorld, store_world

DAYS = int(os.environ.get("SUBGATE_TEST_SOAK_DAYS", "7"))
SUBSCRIPTIONS = int(os.environ.get("SUBGATE_TEST_SOAK_SUBSCRIPTIONS", "4"))
SAMPLE_HOURS = 12
# Steps of the scheduler after each simulated hour (it runs every second); each rests once done.
STEPS_PER_HOUR = 50
# Leveled off: the size, once the records retention is reached, moves by less than this share.
LEVEL = 0.05


@dataclass(frozen=True, slots=True)
class Sample:
    day: float
    pages: int
    free_pages: int
    file_bytes: int
    wal_bytes: int


def sample(path: Path, day: float) -> Sample:
    with closing(sqlite3.connect(path)) as raw:
        (pages,) = raw.execute("PRAGMA page_count").fetchone()
        (free,) = raw.execute("PRAGMA freelist_count").fetchone()
    wal = path.with_name(path.name + "-wal")
    return Sample(day, pages, free, path.stat().st_size, wal.stat().st_size if wal.exists() else 0)


async def a_steady_hour(world: StoreWorld, hour: int) -> None:
    for n in range(SUBSCRIPTIONS):
        await world.renew(f"s{n}", hour)
    await world.process()
    world.clock.advance(timedelta(hours=1))
    for _ in range(STEPS_PER_HOUR):
        if not (await world.purger.step()).batches:
            break


@pytest.mark.timeout(60 + 20 * DAYS)
async def test_a_week_of_steady_traffic_levels_the_sqlite_file_off(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "SUBGATE_DATA_DIR": str(tmp_path),
            "SUBGATE_PAYLOAD_RETENTION_DAYS": "1",
            "SUBGATE_RECORD_RETENTION_DAYS": "2",
        },
        dotenv=None,
    )
    path = tmp_path / "subgate.db"
    store = SqliteStore(path)
    await store.migrate(COLLECTIONS)
    clock = FakeClock()
    try:
        world = await store_world(store, clock=clock)
        world.purger = retention(store, clock, settings)
        for n in range(SUBSCRIPTIONS):
            await world.receive(f"s{n}")
        await world.process()
        samples = []
        for hour in range(1, DAYS * 24 + 1):
            await a_steady_hour(world, hour)
            if hour % SAMPLE_HOURS == 0:
                samples.append(sample(path, hour / 24))
    finally:
        await store.close()
    for s in samples:
        shown = (
            f"day {s.day:4.1f}: {s.pages} pages ({s.free_pages} free), file {s.file_bytes}, wal {s.wal_bytes}"
        )
        print(shown)  # noqa: T201 - the measurement, for `pytest -s`

    at = {s.day: s for s in samples}
    assert at[2.0].pages > 2 * at[0.5].pages  # it grows with the traffic until records expire
    settled = [s for s in samples if s.day >= 3]
    assert max(s.pages for s in settled) <= at[3.0].pages * (1 + LEVEL)
    assert max(s.file_bytes + s.wal_bytes for s in settled) <= (at[3.0].file_bytes + at[3.0].wal_bytes) * (
        1 + LEVEL
    )
    assert all(s.free_pages < s.pages * LEVEL for s in settled)  # reused, not piling up
