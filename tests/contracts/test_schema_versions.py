"""The store's schema version on every backend: created from nothing, upgraded step by step
(once, under a lock, whoever else migrates at the same time), and refused when newer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from integrations.stores.codecs import iso
from integrations.stores.documents import DocumentStore
from integrations.stores.migrations.runner import RECORD_ID, Migrator
from integrations.stores.migrations.state import SchemaMismatch
from integrations.stores.migrations.step import Step
from integrations.stores.schema import COLLECTIONS, SCHEMA_COLLECTION
from integrations.stores.sqlite import SqliteStore
from tests.contracts.conftest import StoreFactory
from tests.support.fakes import FakeClock


class CountingStep:
    """A step's rewrite that counts its runs and, when asked, waits for a go-ahead."""

    def __init__(self, *, hold: bool = False) -> None:
        self.runs = 0
        self.started = asyncio.Event()
        self.go = asyncio.Event()
        if not hold:
            self.go.set()

    async def __call__(self, store: DocumentStore, _now: datetime) -> int:
        self.runs += 1
        self.started.set()
        await self.go.wait()
        async with store.session() as session:
            await session.update_where("merchants", {}, {"step_ran": self.runs})
        return 0


def steps(*rewrites: Callable[..., object]) -> tuple[Step, ...]:
    return tuple(
        Step(number=n, name=f"step {n}", rewrite=rewrite)  # type: ignore[arg-type]
        for n, rewrite in enumerate(rewrites, start=1)
    )


async def _add_merchant(store: DocumentStore) -> None:
    """What a release before versions left: documents, and no version anywhere."""
    async with store.session() as session:
        await session.insert("merchants", {"id": "mer_old", "version": 0, "name": "Old", "api_key_hash": "h"})


async def _record(store: DocumentStore) -> dict[str, object] | None:
    async with store.session() as session:
        return await session.get(SCHEMA_COLLECTION, RECORD_ID)


async def test_an_empty_store_gets_the_latest_version_without_running_a_step(
    make_store: StoreFactory,
) -> None:
    store = make_store()
    if isinstance(store, SqliteStore):
        store.path.parent.mkdir(parents=True)  # as the commands make the data directory first
    try:
        first, second = CountingStep(), CountingStep()
        migrator = Migrator(store, FakeClock(), steps=steps(first, second))
        assert (await migrator.state()).empty
        done = await migrator.prepare(upgrade=False)  # what serve and worker do
        assert (done.before.version, done.after, done.applied) == (None, 2, ())
        assert (first.runs, second.runs) == (0, 0)
        assert (await migrator.state()).current
        assert set(COLLECTIONS) <= await store.collections()
    finally:
        await store.close()


async def test_a_store_of_an_earlier_release_is_version_0_refused_unless_upgraded(
    store: DocumentStore,
) -> None:
    await _add_merchant(store)
    first, second = CountingStep(), CountingStep()
    migrator = Migrator(store, FakeClock(), steps=steps(first, second))
    state = await migrator.state()
    assert (state.version, [s.number for s in state.pending]) == (0, [1, 2])
    with pytest.raises(SchemaMismatch, match="subgate migrate") as refused:
        await migrator.prepare(upgrade=False)
    assert refused.value.state.version == 0
    assert (first.runs, second.runs) == (0, 0)
    assert await _record(store) is None  # refusing changes nothing

    done = await migrator.prepare(upgrade=True)
    assert (done.before.version, done.after, [s.number for s in done.applied]) == (0, 2, [1, 2])
    assert (first.runs, second.runs) == (1, 1)
    record = await _record(store)
    assert record is not None
    assert (record["schema_version"], record["lock_owner"]) == (2, None)

    again = await migrator.prepare(upgrade=True)  # idempotent: nothing pending any more
    assert again.applied == ()
    assert (first.runs, second.runs) == (1, 1)


async def test_only_the_steps_after_the_recorded_version_run(store: DocumentStore) -> None:
    await _add_merchant(store)
    first = CountingStep()
    await Migrator(store, FakeClock(), steps=steps(first)).prepare(upgrade=True)
    second = CountingStep()
    done = await Migrator(store, FakeClock(), steps=steps(first, second)).prepare(upgrade=True)
    assert [s.number for s in done.applied] == [2]
    assert (first.runs, second.runs) == (1, 1)


async def test_a_store_newer_than_the_code_is_refused_whatever_is_asked(store: DocumentStore) -> None:
    await _add_merchant(store)
    await Migrator(store, FakeClock(), steps=steps(CountingStep(), CountingStep())).prepare(upgrade=True)
    older_code = Migrator(store, FakeClock(), steps=steps(CountingStep()))
    assert (await older_code.state()).newer
    for upgrade in (False, True):
        with pytest.raises(SchemaMismatch, match="newer than this release"):
            await older_code.prepare(upgrade=upgrade)


@pytest.mark.shared_backing_store
async def test_two_migrations_at_once_run_each_step_once(make_store: StoreFactory) -> None:
    first_store, second_store = make_store(), make_store()
    try:
        await first_store.migrate(COLLECTIONS)
        await _add_merchant(first_store)
        step = CountingStep(hold=True)
        clock = FakeClock()
        one = asyncio.create_task(Migrator(first_store, clock, steps=steps(step)).prepare(upgrade=True))
        await asyncio.wait_for(step.started.wait(), 30)
        other = asyncio.create_task(Migrator(second_store, clock, steps=steps(step)).prepare(upgrade=True))
        step.go.set()
        first_done, other_done = await asyncio.wait_for(asyncio.gather(one, other), 30)
        assert step.runs == 1
        assert sorted(len(done.applied) for done in (first_done, other_done)) == [0, 1]
        assert {first_done.after, other_done.after} == {1}
    finally:
        await first_store.close()
        await second_store.close()


async def test_a_lock_left_by_a_dead_migration_is_taken_over_once_its_lease_ends(
    store: DocumentStore,
) -> None:
    await _add_merchant(store)
    clock = FakeClock()
    lease = timedelta(seconds=60)
    async with store.session() as session:
        await session.insert(
            SCHEMA_COLLECTION,
            {
                "id": RECORD_ID,
                "version": 0,
                "schema_version": None,
                "lock_owner": "dead-host:1:mig",
                "locked_until": iso(clock() + lease),
            },
        )
    step = CountingStep()
    migrator = Migrator(store, clock, steps=steps(step), lease=lease)
    waiting = asyncio.create_task(migrator.prepare(upgrade=True))
    # Not before the lease is over: it waits (the holder may still be at work)...
    done, _ = await asyncio.wait({waiting}, timeout=0.5)
    assert not done
    assert step.runs == 0
    clock.advance(lease)  # ...and takes over once it is, running the step cut short again
    upgraded = await asyncio.wait_for(waiting, 30)
    assert [s.number for s in upgraded.applied] == [1]
    assert step.runs == 1
    record = await _record(store)
    assert record is not None
    assert (record["schema_version"], record["lock_owner"]) == (1, None)
