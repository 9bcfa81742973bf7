"""The readiness write probe stays cheap: an answer is reused for a second, callers at once share
one write, a write that hangs answers False in time without a second one piling up, and an
outage is logged when it starts and when it ends, not at every probe."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from structlog.testing import capture_logs

from integrations.stores.documents import DocumentSession
from integrations.stores.probe import COLLECTION, WriteProbe
from tests.support.fakes import FakeClock, InMemoryStore


class SteppedMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class HeldStore(InMemoryStore):
    """Sessions wait until the test lets them go (a store stuck on a lock, a disk that hangs)."""

    def __init__(self) -> None:
        super().__init__()
        self.go_on = asyncio.Event()
        self.waiting = 0

    def session(self) -> AbstractAsyncContextManager[DocumentSession]:
        return self._held()

    @asynccontextmanager
    async def _held(self) -> AsyncIterator[DocumentSession]:
        self.waiting += 1
        await self.go_on.wait()
        async with super().session() as session:
            yield session


async def test_an_answer_is_reused_for_a_second_then_written_again() -> None:
    store, monotonic = InMemoryStore(), SteppedMonotonic()
    probe = WriteProbe(store, FakeClock(), fresh_for=1.0, monotonic=monotonic)

    answers = [await probe.writable()]
    after_first = store.sessions_opened
    monotonic.now += 0.9
    answers += [await probe.writable() for _ in range(50)]
    reused = store.sessions_opened
    monotonic.now += 0.2
    answers.append(await probe.writable())

    assert answers == [True] * 52
    assert reused == after_first
    assert store.sessions_opened == after_first + 1
    assert [doc["version"] for doc in store.documents(COLLECTION)] == [2]


async def test_callers_at_once_share_one_write() -> None:
    store = InMemoryStore()
    probe = WriteProbe(store, FakeClock())

    answers = await asyncio.gather(*(probe.writable() for _ in range(20)))

    assert answers == [True] * 20
    assert store.sessions_opened == 1


async def test_a_write_that_hangs_answers_false_in_time_and_none_piles_up() -> None:
    store = HeldStore()
    probe = WriteProbe(store, FakeClock(), patience=0.01)

    hung = [await probe.writable() for _ in range(3)]
    waiting = store.waiting
    store.go_on.set()
    await probe.close()  # the write in progress ends
    after = await probe.writable()

    assert hung == [False, False, False]
    assert waiting == 1  # one write at a time, however often readiness is asked
    assert after is True


async def test_failing_writes_answer_false_and_the_outage_is_logged_once_each_way() -> None:
    store, monotonic = InMemoryStore(), SteppedMonotonic()
    probe = WriteProbe(store, FakeClock(), fresh_for=1.0, monotonic=monotonic)
    with capture_logs() as logs:
        before = await probe.writable()
        store.failing_writes = True
        during = []
        for _ in range(3):
            monotonic.now += 1.5
            during.append(await probe.writable())
        store.failing_writes = False
        monotonic.now += 1.5
        after = await probe.writable()

    assert (before, during, after) == (True, [False, False, False], True)
    events = [entry["event"] for entry in logs]
    assert events == ["store_not_writable", "store_writable_again"]


async def test_a_store_that_cannot_be_reached_is_not_writable() -> None:
    store = InMemoryStore()
    store.unavailable = True

    assert await WriteProbe(store, FakeClock()).writable() is False
