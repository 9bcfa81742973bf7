"""The claim-and-run loop and the batch recorder, driven with in-memory work and real asyncio timing.

The loops are polled for with a deadline (never slept on); a long `poll_seconds` makes
sure that what a test sees happened for the reason under test, not after a quiet poll.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import pytest
from structlog.testing import capture_logs

from integrations.storage.documents import StorageError
from workers.pumps import BatchRecorder, Pump

LONG_POLL = 60.0
DEADLINE = 5.0


async def until(condition: Callable[[], bool], what: str = "the loop got there") -> None:
    """Poll `condition` until it holds; fail with `what` once the deadline passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not condition():
        assert loop.time() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.005)  # polling a condition, bounded by the deadline above


class Work:
    """Items waiting in a 'store', handed out by `claim`; `run` holds each until released."""

    def __init__(self, items: int = 0, *, hold: bool = False) -> None:
        self.waiting: deque[int] = deque(range(items))
        self.claims: list[int] = []  # how many were asked for, claim by claim
        self.running: set[int] = set()
        self.done: list[int] = []
        self.most_at_once = 0
        self.release = asyncio.Event()
        if not hold:
            self.release.set()
        self.failures: deque[Exception] = deque()
        self.freed: set[int] = set()  # items let through while the rest are held
        self.freeing = asyncio.Event()

    def free(self, item: int) -> None:
        self.freed.add(item)
        self.freeing.set()

    async def claim(self, wanted: int) -> Sequence[int]:
        self.claims.append(wanted)
        if self.failures:
            raise self.failures.popleft()
        return [self.waiting.popleft() for _ in range(min(wanted, len(self.waiting)))]

    async def run(self, item: int) -> None:
        self.running.add(item)
        self.most_at_once = max(self.most_at_once, len(self.running))
        try:
            while not (self.release.is_set() or item in self.freed):
                self.freeing.clear()
                waiters = [
                    asyncio.ensure_future(self.release.wait()),
                    asyncio.ensure_future(self.freeing.wait()),
                ]
                try:
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()
            if item < 0:
                raise RuntimeError("this item breaks")
            self.done.append(item)
        finally:
            self.running.discard(item)


@asynccontextmanager
async def pumping(
    work: Work, *, batch: int, max_in_flight: int, poll_seconds: float = LONG_POLL
) -> AsyncIterator[tuple[Pump[int], asyncio.Event]]:
    pump = Pump(
        "test", work.claim, work.run, batch=batch, max_in_flight=max_in_flight, poll_seconds=poll_seconds
    )
    stop = asyncio.Event()
    loop = asyncio.create_task(pump.run(stop))
    try:
        yield pump, stop
    finally:
        stop.set()
        work.release.set()
        await asyncio.wait_for(loop, 5)


async def test_full_batches_are_claimed_one_after_another_without_waiting_for_a_poll() -> None:
    work = Work(10)

    async with pumping(work, batch=4, max_in_flight=100):
        await until(lambda: len(work.done) == 10)
        await asyncio.sleep(0.05)
        # 4 + 4 + 2: a short batch says nothing more is due, so the loop waits for a wake-up.
        assert work.claims == [4, 4, 4]

    assert sorted(work.done) == list(range(10))


async def test_no_more_than_max_in_flight_items_run_at_once() -> None:
    work = Work(12, hold=True)

    async with pumping(work, batch=10, max_in_flight=3) as (pump, _):
        await until(lambda: len(work.running) == 3)
        assert pump.in_flight == 3
        assert work.claims == [3]  # only as many as there is room for
        work.release.set()
        await until(lambda: len(work.done) == 12)

    assert work.most_at_once == 3


async def test_a_freed_slot_makes_a_full_loop_claim_again() -> None:
    work = Work(2, hold=True)

    async with pumping(work, batch=2, max_in_flight=2):
        await until(lambda: len(work.running) == 2)
        work.waiting.extend([7, 8])
        claims_before = len(work.claims)
        work.release.set()
        await until(lambda: sorted(work.done) == [0, 1, 7, 8])

    assert len(work.claims) > claims_before


async def test_a_wake_up_claims_at_once_what_arrived_after_an_empty_look() -> None:
    work = Work(0)

    async with pumping(work, batch=5, max_in_flight=5) as (pump, _):
        await until(lambda: len(work.claims) == 1)
        work.waiting.extend([1, 2])
        await asyncio.sleep(0.05)
        assert work.done == []  # nothing looks before the long poll without a wake-up
        pump.wake()
        await until(lambda: sorted(work.done) == [1, 2])


async def test_a_failing_store_is_tried_again_and_the_loop_carries_on() -> None:
    work = Work(3)
    work.failures.extend([StorageError("database is locked"), StorageError("still locked")])

    async with pumping(work, batch=5, max_in_flight=5):
        await until(lambda: sorted(work.done) == [0, 1, 2])

    assert work.claims[:3] == [5, 5, 5]


async def test_one_item_that_raises_does_not_stop_the_others() -> None:
    work = Work(0)
    work.waiting.extend([-1, 1, 2])

    async with pumping(work, batch=5, max_in_flight=5):
        await until(lambda: sorted(work.done) == [1, 2])


async def test_stopping_lets_the_items_in_flight_finish_and_claims_nothing_more() -> None:
    work = Work(2, hold=True)
    pump = Pump("test", work.claim, work.run, batch=2, max_in_flight=2, poll_seconds=LONG_POLL)
    stop = asyncio.Event()
    loop = asyncio.create_task(pump.run(stop))
    await until(lambda: len(work.running) == 2)
    work.waiting.extend([5, 6])
    claims = len(work.claims)

    stop.set()
    await asyncio.sleep(0.05)
    assert not loop.done()  # still waiting for the two in flight
    work.release.set()
    await asyncio.wait_for(loop, 5)

    assert sorted(work.done) == [0, 1]
    assert len(work.claims) == claims
    assert list(work.waiting) == [5, 6]


# --------------------------------------------------------------------------- the recorder


class Flushes:
    def __init__(self, failures: int = 0) -> None:
        self.batches: list[list[str]] = []
        self.failures = failures

    async def __call__(self, results: list[str]) -> None:
        if self.failures:
            self.failures -= 1
            raise StorageError("disk I/O error")
        self.batches.append(list(results))


async def test_results_finished_together_are_written_in_one_batch() -> None:
    flushes = Flushes()
    recorder = BatchRecorder[str]("test", flushes)

    await asyncio.gather(*(recorder.add(f"r{n}") for n in range(5)))

    assert flushes.batches == [["r0", "r1", "r2", "r3", "r4"]]


async def test_a_batch_is_never_larger_than_its_limit() -> None:
    flushes = Flushes()
    recorder = BatchRecorder[str]("test", flushes, max_batch=2)

    await asyncio.gather(*(recorder.add(f"r{n}") for n in range(5)))

    assert flushes.batches == [["r0", "r1"], ["r2", "r3"], ["r4"]]


async def test_add_returns_only_once_its_result_is_written() -> None:
    gate = asyncio.Event()
    written: list[str] = []

    async def slow_flush(results: list[str]) -> None:
        await gate.wait()
        written.extend(results)

    recorder = BatchRecorder[str]("test", slow_flush)
    adding = asyncio.create_task(recorder.add("r1"))
    await asyncio.sleep(0.02)
    assert not adding.done()

    gate.set()
    await asyncio.wait_for(adding, 5)

    assert written == ["r1"]


async def test_a_failing_store_is_retried_until_the_batch_is_written() -> None:
    flushes = Flushes(failures=2)
    recorder = BatchRecorder[str]("test", flushes, attempts=3)

    await asyncio.wait_for(recorder.add("r1"), 10)

    assert flushes.batches == [["r1"]]


async def test_a_store_that_keeps_failing_fails_the_items_after_the_last_attempt() -> None:
    flushes = Flushes(failures=3)
    recorder = BatchRecorder[str]("test", flushes, attempts=3)

    with pytest.raises(StorageError, match="disk I/O error"):
        await asyncio.wait_for(recorder.add("r1"), 10)

    assert flushes.batches == []
    await asyncio.wait_for(recorder.add("r2"), 10)  # the next batch gets its own attempts
    assert flushes.batches == [["r2"]]


# --------------------------------------------------------------------------- more of the loop


async def test_one_slot_is_enough_to_work_through_a_backlog_one_at_a_time() -> None:
    work = Work(3)

    async with pumping(work, batch=1, max_in_flight=1):
        await until(lambda: work.done == [0, 1, 2])

    assert work.most_at_once == 1
    assert set(work.claims) == {1}


async def test_the_first_slot_freed_in_a_full_loop_is_claimed_again_at_once() -> None:
    work = Work(3, hold=True)

    async with pumping(work, batch=3, max_in_flight=3):
        await until(lambda: len(work.running) == 3)
        work.waiting.append(7)
        work.free(0)
        # Two items still hold their slots: the one freed slot alone brings item 7 in.
        await until(lambda: 7 in work.running, "the freed slot was claimed")
        assert work.running == {1, 2, 7}


async def test_work_that_arrives_unannounced_is_found_at_the_next_poll() -> None:
    work = Work(0)

    async with pumping(work, batch=5, max_in_flight=5, poll_seconds=0.05):
        await until(lambda: len(work.claims) >= 1)
        work.waiting.extend([4, 5])
        await until(lambda: sorted(work.done) == [4, 5], "a poll found the new work")


async def test_claim_failures_are_logged_with_a_wait_that_doubles_and_starts_over_after_a_success() -> None:
    work = Work(1)
    work.failures.extend([StorageError("locked"), StorageError("still locked")])

    with capture_logs() as logs:
        async with pumping(work, batch=5, max_in_flight=5, poll_seconds=0.05) as (pump, _):
            await until(lambda: work.done == [0])
            work.failures.append(StorageError("locked again"))
            pump.wake()
            await until(lambda: len([line for line in logs if line["event"] == "claim_failed"]) == 3)

    failed = [line for line in logs if line["event"] == "claim_failed"]
    assert [(line["pump"], line["error"], line["retry_in"]) for line in failed] == [
        ("test", "locked", 0.1),
        ("test", "still locked", 0.2),
        ("test", "locked again", 0.1),
    ]
    assert {line["log_level"] for line in failed} == {"warning"}


async def test_an_item_that_raises_is_logged_with_its_loop() -> None:
    work = Work(0)
    work.waiting.append(-1)

    with capture_logs() as logs:
        async with pumping(work, batch=5, max_in_flight=5):
            await until(lambda: any(line["event"] == "work_item_failed" for line in logs))

    [line] = [line for line in logs if line["event"] == "work_item_failed"]
    assert (line["pump"], line["log_level"]) == ("test", "error")
    assert line["exc_info"] is True


async def test_recording_retries_are_logged_doubling_and_the_give_up_names_the_batch() -> None:
    flushes = Flushes(failures=3)
    recorder = BatchRecorder[str]("deliveries", flushes, attempts=3)

    with capture_logs() as logs, pytest.raises(StorageError):
        await asyncio.wait_for(asyncio.gather(recorder.add("r1"), recorder.add("r2")), 10)

    retries = [line for line in logs if line["event"] == "record_retry"]
    assert [(line["recorder"], line["error"], line["retry_in"]) for line in retries] == [
        ("deliveries", "disk I/O error", 0.1),
        ("deliveries", "disk I/O error", 0.2),
    ]
    [failed] = [line for line in logs if line["event"] == "record_failed"]
    assert (failed["log_level"], failed["recorder"], failed["items"], failed["error"]) == (
        "error",
        "deliveries",
        2,
        "disk I/O error",
    )


async def test_a_result_is_written_without_waiting_for_more_to_join() -> None:
    flushes = Flushes()
    recorder = BatchRecorder[str]("test", flushes)

    await asyncio.wait_for(recorder.add("r1"), 0.9)

    assert flushes.batches == [["r1"]]
