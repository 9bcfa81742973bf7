"""The scheduler's share of retention: a step holds the store for a bounded time, in batches
whose size follows their duration, picks up where the last one stopped, and rests afterwards."""

from __future__ import annotations

from datetime import timedelta

from integrations.stores.retention.purge import MIN_BATCH, Purger, PurgeTiming
from tests.support.fakes import FakeClock, InMemoryStore
from tests.support.store_world import PAYLOADS, StoreWorld, store_world


class Ticking:
    """A monotonic clock that moves `tick` seconds each time it is read."""

    def __init__(self, tick: float) -> None:
        self.tick = tick
        self.now = 0.0

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


async def world_with_old_payloads(names: int) -> StoreWorld:
    world = await store_world(InMemoryStore(), clock=FakeClock())
    for n in range(names):
        await world.receive(f"s{n}")
    await world.process()
    world.clock.advance(PAYLOADS + timedelta(days=1))
    return world


def purger(world: StoreWorld, tick: float, *, first_batch: int = 4, step_seconds: float = 0.2) -> Purger:
    settings = PurgeTiming(first_batch=first_batch, step_seconds=step_seconds, pause_seconds=0)
    return Purger(world.store, world.clock, payloads=PAYLOADS, timing=settings, monotonic=Ticking(tick))


async def test_a_step_stops_once_its_time_is_spent_and_the_next_goes_on_from_there() -> None:
    world = await world_with_old_payloads(6)  # 12 inbound bodies, 12 messages
    # Every batch seems to take 0.004 s, under the 0.01 s target: a step of 0.02 s runs a few.
    steps = purger(world, tick=0.002, step_seconds=0.02)

    first = await steps.step()
    second = await steps.step()
    rest = [await steps.step() for _ in range(10)]

    assert 0 < first.tally.total < 12 + 12 + 18
    assert first.batches <= 6
    assert second.tally.total > 0
    done = first.tally.total + second.tally.total + sum(r.tally.total for r in rest)
    assert done == 12 + 12 + 18  # inbound bodies, messages, and their deliveries (two webhooks, an email)


async def test_after_a_whole_pass_the_steps_rest_and_after_finding_nothing_they_idle_longer() -> None:
    world = await store_world(InMemoryStore(), clock=FakeClock())
    await world.receive("first")
    await world.process()
    world.clock.advance(5)
    await world.receive("second")  # 5 s younger
    await world.process()
    world.clock.advance(PAYLOADS - timedelta(seconds=5) + timedelta(seconds=2.5))
    steps = purger(world, tick=0.0)

    assert (await steps.step()).tally.total == 2 + 2 + 3  # the first one's bodies only
    world.clock.advance(5)  # the second one's have aged too, but the steps rest for 10 s
    assert (await steps.step()).batches == 0
    world.clock.advance(5)
    assert (await steps.step()).tally.total == 2 + 2 + 3
    world.clock.advance(10)
    assert (await steps.step()).tally.total == 0  # nothing to do: idle for a minute
    world.clock.advance(59)
    assert (await steps.step()).batches == 0
    world.clock.advance(1)
    assert (await steps.step()).batches > 0


async def test_a_slow_batch_makes_the_next_ones_smaller_and_a_quick_one_larger() -> None:
    slow_world = await world_with_old_payloads(12)
    quick_world = await world_with_old_payloads(12)
    slow = purger(slow_world, tick=1.0, first_batch=8)  # each batch takes a second: far too long
    quick = purger(quick_world, tick=0.0, first_batch=8)

    slowly = await slow.purge(slow.cutoffs())
    quickly = await quick.purge(quick.cutoffs())

    assert slowly.tally.counts == quickly.tally.counts
    assert slowly.batches > quickly.batches
    assert slowly.slowest_batch_seconds >= 1.0
    assert max(slowly.limits) == 8
    assert MIN_BATCH in slowly.limits  # halved down to the smallest batch
    assert max(quickly.limits) > 8  # doubled
    assert slowly.tally.counts["inbound_payloads"] == 24
