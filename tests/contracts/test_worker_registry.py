"""The workers' heartbeats (`integrations.stores.leases.WorkerRegistry`) on every backend.

A worker that could not beat for a while (the store was unavailable, or the process paused)
may be presumed dead by another one, which hands its leases back. If it is in fact still
running, its next beat registers it alive again: otherwise nobody would ever hand back what it
leases from then on, should it die.
"""

from __future__ import annotations

from datetime import timedelta

from integrations.stores.documents import DocumentStore
from integrations.stores.leases import WorkerRegistry
from tests.support.fakes import FakeClock

DEAD_AFTER = timedelta(seconds=5)


async def test_a_silent_worker_is_found_and_retired_once(store: DocumentStore) -> None:
    clock = FakeClock()
    registry = WorkerRegistry(store, clock)
    assert await registry.beat("w_quiet") is False
    clock.advance(DEAD_AFTER)
    assert await registry.beat("w_busy") is False

    assert await registry.silent_since(registry.cutoff(DEAD_AFTER)) == ["w_quiet"]
    assert await registry.retire("w_quiet") is True
    assert await registry.retire("w_quiet") is False
    assert not await registry.alive("w_quiet")
    assert await registry.alive("w_busy")
    assert await registry.silent_since(registry.cutoff(DEAD_AFTER)) == []


async def test_a_retired_worker_that_beats_again_is_alive_again(store: DocumentStore) -> None:
    clock = FakeClock()
    registry = WorkerRegistry(store, clock)
    await registry.beat("w_paused")
    clock.advance(DEAD_AFTER)
    assert await registry.retire("w_paused")

    assert await registry.beat("w_paused") is True  # it was presumed dead
    assert await registry.beat("w_paused") is False
    assert await registry.alive("w_paused")
    clock.advance(DEAD_AFTER)
    # Found silent once more after another long pause, and retired again by whoever finds it.
    assert await registry.silent_since(registry.cutoff(DEAD_AFTER)) == ["w_paused"]
    assert await registry.retire("w_paused")
