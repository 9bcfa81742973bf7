"""Each endpoint's share of a worker: a few attempts at once, and no waiting behind a slow one.

A fast endpoint with a backlog gets its deliveries through one slot after another: they
wait here for a slot, which costs nothing. A slow endpoint (every slot taken by an attempt
that has been running for a while, as when it hangs until the timeout) would hold the
worker's capacity hostage if its deliveries waited here, so they go back to the store
instead, due again a moment later, and the worker's slots go to other endpoints.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

# An attempt running longer than this, with every slot of its endpoint taken, makes the
# endpoint slow: its other deliveries stop waiting and go back to the store.
SLOW_AFTER_SECONDS = 1.0
# How often a waiting delivery looks again whether its endpoint became slow.
RECHECK_SECONDS = 0.25


class EndpointBusy(Exception):
    """The endpoint is slow and its slots are taken: put the delivery back for later."""


class EndpointGate:
    def __init__(self, slots: int, now: Callable[[], float] | None = None) -> None:
        # Monotonic seconds: the event loop's clock unless a test passes its own.
        self._now = now or asyncio.get_running_loop().time
        self._slots = asyncio.Semaphore(slots)
        self._limit = slots
        self._started: list[float] = []  # start times of the running attempts
        self.users = 0  # running or waiting; the gate is dropped when this reaches zero

    def slow(self) -> bool:
        return len(self._started) >= self._limit and min(self._started) <= self._now() - SLOW_AFTER_SECONDS

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the endpoint's slots; raises EndpointBusy while the endpoint is slow."""
        if self._slots.locked():
            await self._wait_for_slot()
        else:
            # A slot is free and nobody waits for one: the endpoint cannot be slow (its running
            # attempts hold fewer than all of its slots), and acquire returns at once.
            await self._slots.acquire()
        started = self._now()
        self._started.append(started)
        try:
            yield
        finally:
            self._started.remove(started)
            self._slots.release()

    async def _wait_for_slot(self) -> None:
        """Wait in line for a slot, looking now and then whether the endpoint became slow."""
        while True:
            if self.slow():
                raise EndpointBusy
            try:
                async with asyncio.timeout(RECHECK_SECONDS):
                    await self._slots.acquire()
                return
            except TimeoutError:
                continue
