"""The virtual-time loop of the test support: time jumps only when every task waits."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.virtual_time import advance, in_virtual_time


@in_virtual_time
async def test_a_long_wait_jumps_the_clock_to_exactly_its_end() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()

    await advance(3600)

    assert loop.time() - start == pytest.approx(3600)


@in_virtual_time
async def test_timers_fire_in_order_at_their_own_times() -> None:
    loop = asyncio.get_running_loop()
    fired: list[tuple[str, float]] = []

    async def after(name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        fired.append((name, loop.time()))

    await asyncio.gather(after("c", 0.3), after("a", 0.1), after("b", 0.2))

    assert [name for name, _ in fired] == ["a", "b", "c"]
    assert [at for _, at in fired] == pytest.approx([0.1, 0.2, 0.3])


@in_virtual_time
async def test_the_clock_stands_still_while_anything_can_run() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    timer = asyncio.create_task(asyncio.sleep(1))

    for _ in range(1000):
        await asyncio.sleep(0)  # always something ready: the pending timer must not be reached

    assert loop.time() == start
    assert not timer.done()
    await timer


@in_virtual_time
async def test_real_io_still_wakes_the_loop_without_moving_the_clock() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()

    assert await asyncio.to_thread(sum, [1, 2, 3]) == 6

    assert loop.time() == start
