"""An endpoint's gate: deliveries wait their turn at a fast endpoint and go back at a slow one."""

from __future__ import annotations

import asyncio

import pytest

from workers.fairness import SLOW_AFTER_SECONDS, EndpointBusy, EndpointGate


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_busy_but_fast_endpoint_makes_deliveries_wait_their_turn() -> None:
    ticks = Ticks()
    gate = EndpointGate(1, now=ticks)
    order: list[str] = []
    release = asyncio.Event()

    async def first() -> None:
        async with gate.slot():
            order.append("first")
            await release.wait()

    async def second() -> None:
        async with gate.slot():
            order.append("second")

    running = asyncio.create_task(first())
    await asyncio.sleep(0)  # let the first take the slot
    waiting = asyncio.create_task(second())
    await asyncio.sleep(0)
    assert order == ["first"]
    ticks.now += SLOW_AFTER_SECONDS / 2  # busy, not slow: the second keeps waiting
    assert not gate.slow()
    release.set()
    await asyncio.gather(running, waiting)
    assert order == ["first", "second"]


async def test_a_slow_endpoint_sends_its_other_deliveries_back() -> None:
    ticks = Ticks()
    gate = EndpointGate(2, now=ticks)
    hold = asyncio.Event()

    async def hang() -> None:
        async with gate.slot():
            await hold.wait()

    hung = [asyncio.create_task(hang()) for _ in range(2)]
    await asyncio.sleep(0)
    assert not gate.slow()
    ticks.now += SLOW_AFTER_SECONDS

    assert gate.slow()
    with pytest.raises(EndpointBusy):
        async with gate.slot():
            pass
    hold.set()
    await asyncio.gather(*hung)
    assert not gate.slow()  # the slots are free again
    async with gate.slot():
        pass


async def test_one_long_attempt_does_not_make_an_endpoint_with_free_slots_slow() -> None:
    ticks = Ticks()
    gate = EndpointGate(2, now=ticks)
    hold = asyncio.Event()

    async def hang() -> None:
        async with gate.slot():
            await hold.wait()

    hung = asyncio.create_task(hang())
    await asyncio.sleep(0)
    ticks.now += 10 * SLOW_AFTER_SECONDS
    assert not gate.slow()
    async with gate.slot():
        pass
    hold.set()
    await hung
