"""A loop that claims due work from the store in batches and runs it, a bounded number at once.

The store is the queue of record. A `Pump` asks its `claim` function for as many
items as it has free slots, runs each in its own task, and looks again when a slot
frees up, when it is woken (`wake`), or after `poll_seconds` of quiet. Results are
recorded by a `BatchRecorder`, which writes the outcomes of many items in one store
transaction. A store that fails is retried with backoff; nothing here gives up. Nor does
anything here die of an error it did not expect (a bug in a claim, say): it is logged and
retried with the same backoff, and the loop goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import structlog

from integrations.stores.documents import StorageError

log = structlog.get_logger()

T = TypeVar("T")
R = TypeVar("R")

_MAX_BACKOFF_SECONDS = 5.0


class Pump(Generic[T]):
    def __init__(
        self,
        name: str,
        claim: Callable[[int], Awaitable[Sequence[T]]],
        run: Callable[[T], Awaitable[None]],
        *,
        batch: int,
        max_in_flight: int,
        poll_seconds: float,
    ) -> None:
        self.name = name
        self._claim = claim
        self._run = run
        self._batch = batch
        self._max_in_flight = max_in_flight
        self._poll = poll_seconds
        self._nudge = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def wake(self) -> None:
        self._nudge.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and run until `stop` is set, then let the items in flight finish."""
        backoff = 0.1
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                room = self._max_in_flight - len(self._tasks)
                wanted = min(self._batch, room)
                claimed: Sequence[T] = ()
                if wanted > 0:
                    try:
                        claimed = await self._claim(wanted)
                    except Exception as error:  # noqa: BLE001 - the loop outlives any one claim
                        self._claim_failed(error, backoff)
                        await _pause(stopping, backoff)
                        backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
                        continue
                    backoff = 0.1
                    for item in claimed:
                        self._start(item)
                if wanted > 0 and len(claimed) == wanted:
                    continue  # a full batch: more may be due right now
                self._nudge.clear()
                await _first_of(stopping, self._nudge, self._poll)
        finally:
            stopping.cancel()
            await self.drain()

    def _claim_failed(self, error: Exception, backoff: float) -> None:
        if isinstance(error, StorageError):
            log.warning("claim_failed", pump=self.name, error=str(error), retry_in=round(backoff, 2))
        else:
            # Not the store being away: a defect. Logged with its traceback; the loop goes on.
            log.exception(
                "claim_crashed", pump=self.name, error=type(error).__name__, retry_in=round(backoff, 2)
            )

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _start(self, item: T) -> None:
        task = asyncio.create_task(self._guarded(item))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if len(self._tasks) == self._max_in_flight - 1:
            self._nudge.set()  # was full: a slot is free again

    async def _guarded(self, item: T) -> None:
        try:
            await self._run(item)
        except Exception:  # one item's failure must not end the loop; its lease brings it back
            log.exception("work_item_failed", pump=self.name)


class BatchRecorder(Generic[R]):
    """Collects results and writes them with one call to `flush` per batch.

    `add` returns once its result is written, so an item holds its slot (and its lease)
    until its outcome is durable. A failing store is retried with backoff until the
    batch is written, or until `attempts` ran out and `patience` seconds went by; then
    the items' leases bring them back (and they run again).
    """

    def __init__(
        self,
        name: str,
        flush: Callable[[list[R]], Awaitable[object]],
        *,
        max_batch: int = 200,
        attempts: int = 8,
        patience: float = 0.0,
    ) -> None:
        self._name = name
        self._flush = flush
        self._max_batch = max_batch
        self._attempts = attempts
        self._patience = patience
        self._pending: list[tuple[R, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def add(self, result: R) -> None:
        done = asyncio.get_running_loop().create_future()
        self._pending.append((result, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        await asyncio.shield(done)

    async def _write(self) -> None:
        while self._pending:
            # Let every item that finished in this turn of the loop join the batch.
            await asyncio.sleep(0)
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            try:
                failure: Exception | None = await self._flush_with_retries([result for result, _ in batch])
            except Exception as error:
                # Not the store being away (that is retried above): handed to the batch's items,
                # so that none of them waits for an answer that never comes.
                log.exception("record_crashed", recorder=self._name, items=len(batch))
                failure = error
            for _, done in batch:
                if done.done():
                    continue
                if failure is None:
                    done.set_result(None)
                else:
                    done.set_exception(failure)

    async def _flush_with_retries(self, results: list[R]) -> StorageError | None:
        backoff = 0.1
        failure: StorageError | None = None
        give_up_at = asyncio.get_running_loop().time() + self._patience
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._flush(results)
            except StorageError as error:
                failure = error
            else:
                return None
            if attempt >= self._attempts and asyncio.get_running_loop().time() >= give_up_at:
                break
            log.warning("record_retry", recorder=self._name, error=str(failure), retry_in=round(backoff, 2))
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))  # noqa: S311 - jitter only
            backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
        # Their leases bring the items back once they run out.
        log.error("record_failed", recorder=self._name, items=len(results), error=str(failure))
        return failure


async def _pause(stopping: asyncio.Future[Any], seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(stopping), seconds * random.uniform(0.8, 1.2))  # noqa: S311


async def _first_of(stopping: asyncio.Future[Any], nudge: asyncio.Event, seconds: float) -> None:
    """Return when stopping, nudged, or after `seconds`."""
    if nudge.is_set() or stopping.done():
        return
    waiter = asyncio.ensure_future(nudge.wait())
    try:
        await asyncio.wait((waiter, stopping), timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
