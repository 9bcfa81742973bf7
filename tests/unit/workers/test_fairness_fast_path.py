"""An endpoint's gate on its common path: a free slot is taken at once, without a recheck timer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from workers.fairness import EndpointGate


class CountedTimeouts:
    """asyncio.timeout, counting how often the gate arms a recheck timer."""

    def __init__(self, real: Callable[[float | None], asyncio.Timeout]) -> None:
        self._real = real
        self.armed = 0

    def __call__(self, delay: float | None) -> asyncio.Timeout:
        self.armed += 1
        return self._real(delay)


async def test_a_free_slot_is_taken_without_arming_a_recheck_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    timeouts = CountedTimeouts(asyncio.timeout)
    monkeypatch.setattr(asyncio, "timeout", timeouts)
    gate = EndpointGate(2)

    async with gate.slot(), gate.slot():
        pass

    assert timeouts.armed == 0


async def test_a_waiting_delivery_is_rechecked_and_gets_the_slot_once_it_frees(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timeouts = CountedTimeouts(asyncio.timeout)
    monkeypatch.setattr(asyncio, "timeout", timeouts)
    gate = EndpointGate(1)
    release = asyncio.Event()
    order: list[str] = []

    async def hold() -> None:
        async with gate.slot():
            order.append("holder")
            await release.wait()

    async def wait() -> None:
        async with gate.slot():
            order.append("waiter")

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(wait())
    await asyncio.sleep(0)
    assert timeouts.armed == 1  # the slot is taken: the waiter waits with its recheck timer
    release.set()
    await asyncio.gather(holder, waiter)
    assert order == ["holder", "waiter"]
