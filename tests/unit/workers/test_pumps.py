"""The claim-and-run loop and the batch recorder, driven with in-memory work on a virtual clock.

Every test runs on `VirtualTimeLoop`: time passes only when every task waits, and jumps straight
to the next timer. So each claim is stamped with the (virtual) time it happened at, and "nothing
looked before the poll" is read off those stamps or checked after `advance`, never after a
real sleep that a busy machine could make too short. Where the random jitter of a wait matters,
the module's random source is replaced by one that records the bounds it is asked for and answers
a fixed factor, so the wait is known to the microsecond.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager

import pytest
from structlog.testing import capture_logs

from integrations.stores.documents import StorageError
from tests.support.virtual_time import advance, in_virtual_time
from workers import pumps
from workers.pumps import BatchRecorder, Pump

LONG_POLL = 60.0
DEADLINE = 5.0  # virtual seconds: far more than anything here takes, far less than LONG_POLL


async def until(
    condition: Callable[[], bool], what: str = "the loop got there", within: float = DEADLINE
) -> None:
    """Poll `condition` until it holds; fail with `what` once `within` virtual seconds passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.005)  # virtual: moves the clock only when nothing else can run


class Work:
    """Items waiting in a 'store', handed out by `claim`; `run` holds each until it is let go.

    Each claim is recorded with how many were asked for and the loop's time when it was made.
    An item in `cancelled` ends as if cancelled once let go; a negative item raises.
    """

    def __init__(self, items: Iterable[int] = (), *, hold: bool = False) -> None:
        self.waiting: deque[int] = deque(items)
        self.claims: list[int] = []
        self.claimed_at: list[float] = []
        self.running: set[int] = set()
        self.done: list[int] = []
        self.most_at_once = 0
        self.failures: deque[Exception] = deque()
        self.cancelled: set[int] = set()
        self.release = asyncio.Event()  # lets every item go
        if not hold:
            self.release.set()
        self.freed: set[int] = set()  # items let go one by one
        self.freeing = asyncio.Event()

    def free(self, item: int) -> None:
        self.freed.add(item)
        self.freeing.set()

    async def claim(self, wanted: int) -> Sequence[int]:
        self.claims.append(wanted)
        self.claimed_at.append(asyncio.get_running_loop().time())
        if self.failures:
            raise self.failures.popleft()
        return [self.waiting.popleft() for _ in range(min(wanted, len(self.waiting)))]

    async def run(self, item: int) -> None:
        self.running.add(item)
        self.most_at_once = max(self.most_at_once, len(self.running))
        try:
            await self._held(item)
            if item in self.cancelled:
                raise asyncio.CancelledError
            if item < 0:
                raise RuntimeError("this item breaks")
            self.done.append(item)
        finally:
            self.running.discard(item)

    async def _held(self, item: int) -> None:
        while not (self.release.is_set() or item in self.freed):
            self.freeing.clear()
            waiters = [asyncio.ensure_future(self.release.wait()), asyncio.ensure_future(self.freeing.wait())]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()


@asynccontextmanager
async def pumping(
    work: Work, *, batch: int, max_in_flight: int, poll_seconds: float = LONG_POLL
) -> AsyncIterator[tuple[Pump[int], asyncio.Task[None]]]:
    pump = Pump(
        "test", work.claim, work.run, batch=batch, max_in_flight=max_in_flight, poll_seconds=poll_seconds
    )
    stop = asyncio.Event()
    loop = asyncio.create_task(pump.run(stop))
    try:
        yield pump, loop
    finally:
        stop.set()
        work.release.set()
        await asyncio.wait_for(loop, DEADLINE)


class FixedJitter:
    """Stands in for the `random` module: records each `uniform` range, answers `factor`."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, low: float, high: float) -> float:
        self.ranges.append((low, high))
        return self.factor


# --------------------------------------------------------------------------- the claim loop


@in_virtual_time
async def test_full_batches_are_claimed_at_once_and_a_short_one_waits_for_the_poll() -> None:
    work = Work(range(10))

    async with pumping(work, batch=4, max_in_flight=100):
        await until(lambda: len(work.claims) == 4, "the poll after the short batch", within=2 * LONG_POLL)

    # 4 + 4 + 2 at once; a short batch says nothing more is due, so the next look is the poll's.
    assert work.claims == [4, 4, 4, 4]
    assert work.claimed_at == pytest.approx([0, 0, 0, LONG_POLL])
    assert sorted(work.done) == list(range(10))


@in_virtual_time
async def test_no_more_than_max_in_flight_items_run_at_once() -> None:
    work = Work(range(12), hold=True)

    async with pumping(work, batch=10, max_in_flight=3) as (pump, _):
        await until(lambda: len(work.running) == 3)
        assert pump.in_flight == 3
        assert work.claims == [3]  # only as many as there is room for
        work.release.set()
        await until(lambda: len(work.done) == 12)

    assert work.most_at_once == 3


@in_virtual_time
async def test_one_slot_is_enough_to_work_through_a_backlog_one_at_a_time() -> None:
    work = Work(range(3))

    async with pumping(work, batch=1, max_in_flight=1):
        await until(lambda: work.done == [0, 1, 2])

    assert work.most_at_once == 1
    assert set(work.claims) == {1}


@in_virtual_time
async def test_a_one_item_batch_that_came_back_full_is_followed_by_another_claim_at_once() -> None:
    work = Work(range(3), hold=True)

    async with pumping(work, batch=1, max_in_flight=3):
        # A full batch of one says more may be due: the free slots fill without a poll or a wake-up.
        await until(lambda: work.running == {0, 1, 2}, "every slot was claimed")

    assert work.claims[:3] == [1, 1, 1]
    assert work.claimed_at[:3] == [0, 0, 0]


@in_virtual_time
async def test_a_freed_slot_makes_a_full_loop_claim_again_at_once() -> None:
    work = Work(range(2), hold=True)

    async with pumping(work, batch=2, max_in_flight=2):
        await until(lambda: len(work.running) == 2)
        work.waiting.extend([7, 8])
        freed_at = asyncio.get_running_loop().time()
        work.release.set()
        await until(lambda: sorted(work.done) == [0, 1, 7, 8])

    assert work.claims[:2] == [2, 2]
    assert work.claimed_at[1] == pytest.approx(freed_at)  # not a poll later


@in_virtual_time
async def test_the_first_slot_freed_in_a_full_loop_is_claimed_again_at_once() -> None:
    work = Work(range(3), hold=True)

    async with pumping(work, batch=3, max_in_flight=3):
        await until(lambda: len(work.running) == 3)
        work.waiting.append(7)
        work.free(0)
        # Two items still hold their slots: the one freed slot alone brings item 7 in.
        await until(lambda: 7 in work.running, "the freed slot was claimed")
        assert work.running == {1, 2, 7}


@in_virtual_time
async def test_a_wake_up_claims_at_once_what_arrived_after_an_empty_look() -> None:
    work = Work()

    async with pumping(work, batch=5, max_in_flight=5) as (pump, _):
        await until(lambda: len(work.claims) == 1)
        work.waiting.extend([1, 2])
        await advance(LONG_POLL / 2)
        assert (work.claims, work.done) == ([5], [])  # no look before the poll without a wake-up
        woken_at = asyncio.get_running_loop().time()
        pump.wake()
        await until(lambda: sorted(work.done) == [1, 2])

    assert work.claimed_at[:2] == pytest.approx([0, woken_at])


@in_virtual_time
async def test_work_that_arrives_unannounced_is_found_at_the_next_poll() -> None:
    work = Work()

    async with pumping(work, batch=5, max_in_flight=5, poll_seconds=0.05):
        await until(lambda: len(work.claims) == 1)
        work.waiting.extend([4, 5])
        await until(lambda: sorted(work.done) == [4, 5], "a poll found the new work")

    assert work.claimed_at[:2] == pytest.approx([0, 0.05])


@in_virtual_time
async def test_a_failing_store_is_tried_again_and_the_loop_carries_on() -> None:
    work = Work(range(3))
    work.failures.extend([StorageError("database is locked"), StorageError("still locked")])

    async with pumping(work, batch=5, max_in_flight=5):
        await until(lambda: sorted(work.done) == [0, 1, 2])

    assert work.claims[:3] == [5, 5, 5]


@in_virtual_time
async def test_a_claim_retry_waits_its_backoff_scaled_by_a_jitter_of_twenty_percent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    jitter = FixedJitter(0.5)
    monkeypatch.setattr(pumps, "random", jitter)
    work = Work([1])
    work.failures.append(StorageError("locked"))

    async with pumping(work, batch=1, max_in_flight=1):
        await until(lambda: work.done == [1], "the claim was retried")

    assert jitter.ranges == [(0.8, 1.2)]
    assert work.claimed_at[:2] == pytest.approx([0, 0.1 * 0.5])  # the first backoff, times the jitter


@in_virtual_time
async def test_claim_failures_are_logged_with_a_wait_that_doubles_and_starts_over_after_a_success() -> None:
    work = Work([0])
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


@in_virtual_time
async def test_one_item_that_raises_does_not_stop_the_others_and_is_logged_with_its_loop() -> None:
    work = Work([-1, 1, 2])

    with capture_logs() as logs:
        async with pumping(work, batch=5, max_in_flight=5):
            await until(lambda: sorted(work.done) == [1, 2])

    [line] = [line for line in logs if line["event"] == "work_item_failed"]
    assert (line["pump"], line["log_level"]) == ("test", "error")
    assert line["exc_info"] is True


def started(work: Work, *, batch: int, max_in_flight: int) -> tuple[asyncio.Event, asyncio.Task[None]]:
    pump = Pump(
        "test", work.claim, work.run, batch=batch, max_in_flight=max_in_flight, poll_seconds=LONG_POLL
    )
    stop = asyncio.Event()
    return stop, asyncio.create_task(pump.run(stop))


@in_virtual_time
async def test_stopping_lets_the_items_in_flight_finish_and_claims_nothing_more() -> None:
    work = Work(range(2), hold=True)
    stop, loop = started(work, batch=2, max_in_flight=2)
    await until(lambda: len(work.running) == 2)
    work.waiting.extend([5, 6])
    claims = len(work.claims)

    stop.set()
    await advance(2 * LONG_POLL)  # well past any poll: all the loop would do by itself is done
    assert not loop.done()  # still waiting for the two in flight
    work.release.set()
    await asyncio.wait_for(loop, DEADLINE)

    assert sorted(work.done) == [0, 1]
    assert len(work.claims) == claims  # the slots freed after the stop were not filled
    assert list(work.waiting) == [5, 6]


@in_virtual_time
async def test_stopping_waits_for_every_item_even_when_one_of_them_was_cancelled() -> None:
    work = Work([1, 2], hold=True)
    work.cancelled.add(1)
    stop, loop = started(work, batch=2, max_in_flight=2)
    await until(lambda: work.running == {1, 2}, "both items run")

    stop.set()
    work.free(1)
    await until(lambda: work.running == {2}, "the cancelled item ended")
    await advance(2 * LONG_POLL)
    assert not loop.done()  # a cancelled item neither ends the wait nor escapes from it

    work.free(2)
    await asyncio.wait_for(loop, DEADLINE)
    assert work.done == [2]


# --------------------------------------------------------------------------- the recorder


class Flushes:
    """The store's side of a recorder: keeps each batch written; fails the first `failures` tries."""

    def __init__(self, failures: int = 0, *, hold: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.written_at: list[float] = []
        self.failures = failures
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        if not hold:
            self.gate.set()

    async def __call__(self, results: list[str]) -> None:
        self.entered.set()
        await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise StorageError("disk I/O error")
        self.batches.append(list(results))
        self.written_at.append(asyncio.get_running_loop().time())


@in_virtual_time
async def test_results_finished_together_are_written_in_one_batch() -> None:
    flushes = Flushes()
    recorder = BatchRecorder[str]("test", flushes)

    await asyncio.gather(*(recorder.add(f"r{n}") for n in range(5)))

    assert flushes.batches == [["r0", "r1", "r2", "r3", "r4"]]


@in_virtual_time
async def test_a_batch_is_never_larger_than_its_limit() -> None:
    flushes = Flushes()
    recorder = BatchRecorder[str]("test", flushes, max_batch=2)

    await asyncio.gather(*(recorder.add(f"r{n}") for n in range(5)))

    assert flushes.batches == [["r0", "r1"], ["r2", "r3"], ["r4"]]


@in_virtual_time
async def test_a_result_is_written_without_waiting_for_more_to_join() -> None:
    flushes = Flushes()
    recorder = BatchRecorder[str]("test", flushes)

    await recorder.add("r1")

    assert flushes.batches == [["r1"]]
    assert flushes.written_at == [0]  # no timer was waited on


@in_virtual_time
async def test_add_returns_only_once_its_result_is_written() -> None:
    flushes = Flushes(hold=True)
    recorder = BatchRecorder[str]("test", flushes)
    adding = asyncio.create_task(recorder.add("r1"))

    await asyncio.wait_for(flushes.entered.wait(), DEADLINE)
    await advance(3600)  # an hour with the write held
    assert not adding.done()

    flushes.gate.set()
    await asyncio.wait_for(adding, DEADLINE)
    assert flushes.batches == [["r1"]]


@in_virtual_time
async def test_a_failing_store_is_retried_until_the_batch_is_written() -> None:
    flushes = Flushes(failures=2)
    recorder = BatchRecorder[str]("test", flushes, attempts=3)

    await asyncio.wait_for(recorder.add("r1"), DEADLINE)

    assert flushes.batches == [["r1"]]


@in_virtual_time
async def test_a_store_that_keeps_failing_fails_the_items_after_the_last_attempt() -> None:
    flushes = Flushes(failures=3)
    recorder = BatchRecorder[str]("test", flushes, attempts=3)

    with pytest.raises(StorageError, match="disk I/O error"):
        await asyncio.wait_for(recorder.add("r1"), DEADLINE)

    assert flushes.batches == []
    await asyncio.wait_for(recorder.add("r2"), DEADLINE)  # the next batch gets its own attempts
    assert flushes.batches == [["r2"]]


@in_virtual_time
async def test_a_recording_retry_waits_its_backoff_scaled_by_a_jitter_of_twenty_percent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    jitter = FixedJitter(0.5)
    monkeypatch.setattr(pumps, "random", jitter)
    flushes = Flushes(failures=1)
    recorder = BatchRecorder[str]("test", flushes, attempts=3)

    await asyncio.wait_for(recorder.add("r1"), DEADLINE)

    assert flushes.batches == [["r1"]]
    assert jitter.ranges == [(0.8, 1.2)]
    assert flushes.written_at == pytest.approx([0.1 * 0.5])  # the first backoff, times the jitter


@in_virtual_time
async def test_patience_keeps_a_batch_retrying_after_its_attempts_ran_out() -> None:
    flushes = Flushes(failures=2)
    # One attempt only, but a minute of patience: the third try, well inside it, succeeds.
    recorder = BatchRecorder[str]("test", flushes, attempts=1, patience=60.0)

    await asyncio.wait_for(recorder.add("r1"), DEADLINE)

    assert flushes.batches == [["r1"]]


@in_virtual_time
async def test_recording_retries_are_logged_doubling_and_the_give_up_names_the_batch() -> None:
    flushes = Flushes(failures=3)
    recorder = BatchRecorder[str]("deliveries", flushes, attempts=3)

    with capture_logs() as logs, pytest.raises(StorageError):
        await asyncio.wait_for(asyncio.gather(recorder.add("r1"), recorder.add("r2")), DEADLINE)

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
