"""Edges of the claim loop and the recorder: single-item claims, cancelled items, patience, jitter.

Like the main pump tests these drive real asyncio timing and poll for a condition with a
deadline. Where a delay matters, the module's random source is replaced by one that records
the jitter bounds it is asked for and answers a fixed factor, so a wrong formula shows up as
a wait far past the deadline rather than as a few milliseconds of difference.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence

import pytest

from integrations.storage.documents import StorageError
from workers import pumps
from workers.pumps import BatchRecorder, Pump

LONG_POLL = 60.0
DEADLINE = 5.0


async def until(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not condition():
        assert loop.time() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.005)  # polling a condition, bounded by the deadline above


class FixedJitter:
    """Stands in for the `random` module: records each `uniform` range, answers `factor`."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, low: float, high: float) -> float:
        self.ranges.append((low, high))
        return self.factor


class Queue:
    """Items handed out by `claim`; each item runs until the test releases it."""

    def __init__(self, items: Sequence[str]) -> None:
        self.waiting: deque[str] = deque(items)
        self.claims: list[int] = []
        self.failures: deque[StorageError] = deque()
        self.running: set[str] = set()
        self.finished: list[str] = []
        self.release: dict[str, asyncio.Event] = {item: asyncio.Event() for item in items}

    async def claim(self, wanted: int) -> Sequence[str]:
        self.claims.append(wanted)
        if self.failures:
            raise self.failures.popleft()
        return [self.waiting.popleft() for _ in range(min(wanted, len(self.waiting)))]

    async def run(self, item: str) -> None:
        self.running.add(item)
        try:
            await self.release[item].wait()
            if item.startswith("cancelled"):
                raise asyncio.CancelledError
            self.finished.append(item)
        finally:
            self.running.discard(item)

    def release_all(self) -> None:
        for event in self.release.values():
            event.set()


def pump_of(queue: Queue, *, batch: int, max_in_flight: int) -> Pump[str]:
    return Pump(
        "edges", queue.claim, queue.run, batch=batch, max_in_flight=max_in_flight, poll_seconds=LONG_POLL
    )


async def test_a_one_item_batch_that_came_back_full_is_followed_by_another_claim_at_once() -> None:
    queue = Queue(["a", "b", "c"])
    pump = pump_of(queue, batch=1, max_in_flight=3)
    stop = asyncio.Event()
    loop = asyncio.create_task(pump.run(stop))

    # A full batch of one says more may be due: the free slots fill without a poll or a wake-up.
    await until(lambda: queue.running == {"a", "b", "c"}, "every slot was claimed")
    assert queue.claims == [1, 1, 1]

    stop.set()
    queue.release_all()
    await asyncio.wait_for(loop, DEADLINE)


async def test_stopping_waits_for_every_item_even_when_one_of_them_was_cancelled() -> None:
    queue = Queue(["cancelled", "slow"])
    pump = pump_of(queue, batch=2, max_in_flight=2)
    stop = asyncio.Event()
    loop = asyncio.create_task(pump.run(stop))
    await until(lambda: queue.running == {"cancelled", "slow"}, "both items run")

    stop.set()
    await asyncio.sleep(0.05)  # the loop notices the stop and waits for the items in flight
    queue.release["cancelled"].set()
    await until(lambda: queue.running == {"slow"}, "the cancelled item ended")
    await asyncio.sleep(0.05)
    assert not loop.done()  # a cancelled item neither ends the wait nor escapes from it

    queue.release["slow"].set()
    await asyncio.wait_for(loop, DEADLINE)
    assert queue.finished == ["slow"]


async def test_a_claim_retry_waits_its_backoff_scaled_by_a_jitter_of_twenty_percent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    jitter = FixedJitter(0.01)
    monkeypatch.setattr(pumps, "random", jitter)
    queue = Queue(["a"])
    queue.failures.append(StorageError("locked"))
    pump = pump_of(queue, batch=1, max_in_flight=1)
    stop = asyncio.Event()
    loop = asyncio.create_task(pump.run(stop))

    # 0.1 s times 0.01 is a millisecond; dividing instead would wait ten seconds.
    await until(lambda: queue.running == {"a"}, "the claim was retried after its short pause")
    assert jitter.ranges == [(0.8, 1.2)]

    stop.set()
    queue.release_all()
    await asyncio.wait_for(loop, DEADLINE)


async def test_a_recording_retry_waits_its_backoff_scaled_by_a_jitter_of_twenty_percent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    jitter = FixedJitter(0.01)
    monkeypatch.setattr(pumps, "random", jitter)
    written: list[list[str]] = []
    failures = [StorageError("disk I/O error")]

    async def flush(results: list[str]) -> None:
        if failures:
            raise failures.pop()
        written.append(list(results))

    recorder = BatchRecorder[str]("edges", flush, attempts=3)

    await asyncio.wait_for(recorder.add("r1"), DEADLINE)

    assert written == [["r1"]]
    assert jitter.ranges == [(0.8, 1.2)]


async def test_patience_keeps_a_batch_retrying_after_its_attempts_ran_out() -> None:
    written: list[list[str]] = []
    failures = [StorageError("disk I/O error"), StorageError("disk I/O error")]

    async def flush(results: list[str]) -> None:
        if failures:
            raise failures.pop()
        written.append(list(results))

    # One attempt only, but a minute of patience: the third try, well inside it, succeeds.
    recorder = BatchRecorder[str]("edges", flush, attempts=1, patience=60.0)

    await asyncio.wait_for(recorder.add("r1"), DEADLINE)

    assert written == [["r1"]]
