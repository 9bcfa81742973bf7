"""Purging by age: the scheduler's small steps, the operator's whole purge, and its dry run.

Cutoffs come from the retention settings (`SUBGATE_PAYLOAD_RETENTION_DAYS`,
`SUBGATE_RECORD_RETENTION_DAYS`) or from the operator (`subgate purge --payloads-before ...`).
The work is done in batches (see `batches`), each one store session that commits on its own, so
the pipeline's sessions (in this process and in others sharing a SQLite file) get the store
between two batches. A batch's size adapts to its duration: halved when a batch took longer than
`batch_seconds`, doubled (up to `max_batch`) when one took less than half of it, so that a
batch holds the store for about that long whatever the documents' sizes.

The scheduler calls `step` on each run: at most `step_seconds` of batches, starting with the
kind the previous step did not finish. A step that got through every kind rests: the next
steps do nothing for `rest_after_pass` (what aged meanwhile waits that long), or for
`idle_after_nothing` when it found nothing to remove at all; so a steady store costs a few
small batches every few seconds, and an idle one a few index look-ups a minute.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from domain.shared.clock import Clock
from integrations.stores import idempotency
from integrations.stores.codecs import iso
from integrations.stores.documents import Condition, DocumentSession, DocumentStore, In, Lte
from integrations.stores.retention import batches as b
from integrations.stores.retention.batches import Batch, Cutoffs, Step, Tally

DEFAULT_PAYLOAD_RETENTION: Final = timedelta(days=90)
DEFAULT_RECORD_RETENTION: Final = timedelta(days=400)
FIRST_BATCH: Final = 50
MIN_BATCH: Final = 5
MAX_BATCH: Final = 500
BATCH_SECONDS: Final = 0.01
STEP_SECONDS: Final = 0.2
# Between two batches: the store is the pipeline's for at least this long.
PAUSE_SECONDS: Final = 0.005
REST_AFTER_PASS: Final = timedelta(seconds=10)
IDLE_AFTER_NOTHING: Final = timedelta(seconds=60)
_PAGE: Final = 200


@dataclass(slots=True)
class StepReport:
    """What a step (or a whole purge) did, and how long its slowest batch held the store."""

    tally: Tally = field(default_factory=Tally)
    batches: int = 0
    slowest_batch_seconds: float = 0.0
    limits: list[int] = field(default_factory=list)  # how many documents each batch could take

    def add(self, batch: Batch, seconds: float, limit: int) -> None:
        self.tally.merge(batch.tally)
        self.batches += 1
        self.slowest_batch_seconds = max(self.slowest_batch_seconds, seconds)
        self.limits.append(limit)


@dataclass(frozen=True, slots=True, kw_only=True)
class PurgeTiming:
    batch_seconds: float = BATCH_SECONDS
    step_seconds: float = STEP_SECONDS
    pause_seconds: float = PAUSE_SECONDS
    first_batch: int = FIRST_BATCH
    max_batch: int = MAX_BATCH
    rest_after_pass: timedelta = REST_AFTER_PASS
    idle_after_nothing: timedelta = IDLE_AFTER_NOTHING


class Purger:
    def __init__(
        self,
        store: DocumentStore,
        clock: Clock,
        *,
        payloads: timedelta = DEFAULT_PAYLOAD_RETENTION,
        records: timedelta = DEFAULT_RECORD_RETENTION,
        timing: PurgeTiming | None = None,
        monotonic: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._store = store
        self._clock = clock
        self._payloads = payloads
        self._records = records
        self._timing = timing or PurgeTiming()
        self._monotonic = monotonic
        self._sizes = dict.fromkeys(b.STEPS, self._timing.first_batch)
        self._next = 0
        self._rest_until: datetime | None = None

    def cutoffs(
        self, *, payloads_before: datetime | None = None, records_before: datetime | None = None
    ) -> Cutoffs:
        """The settings' cutoffs at the clock's now, unless given."""
        now = self._clock()
        return Cutoffs(
            now=now,
            payloads=payloads_before or now - self._payloads,
            records=records_before or now - self._records,
        )

    async def step(self) -> StepReport:
        """A scheduler run's share: batches for at most `step_seconds` (see the module docstring)."""
        report = StepReport()
        now = self._clock()
        if self._rest_until is not None and now < self._rest_until:
            return report
        cutoffs = self.cutoffs()
        deadline = self._monotonic() + self._timing.step_seconds
        count = len(b.STEPS)
        for offset in range(count):
            index = (self._next + offset) % count
            if not await self._drain(b.STEPS[index], cutoffs, report, deadline):
                self._next = index  # out of time with more to do: the next step starts here
                return report
        self._next = 0
        timing = self._timing
        self._rest_until = now + (timing.rest_after_pass if report.tally.total else timing.idle_after_nothing)
        return report

    async def purge(
        self, cutoffs: Cutoffs, progress: Callable[[StepReport], None] | None = None
    ) -> StepReport:
        """Everything the cutoffs allow, batch by batch (`subgate purge`)."""
        report = StepReport()
        for step in b.STEPS:
            await self._drain(step, cutoffs, report, None, progress)
        return report

    async def _drain(
        self,
        step: Step,
        cutoffs: Cutoffs,
        report: StepReport,
        deadline: float | None,
        progress: Callable[[StepReport], None] | None = None,
    ) -> bool:
        """Batches of one kind until none is left (True) or the deadline passed (False)."""
        while True:
            batch = await self._batch(step, cutoffs, report)
            if progress is not None:
                progress(report)
            if not batch.more:
                return True
            if deadline is not None and self._monotonic() >= deadline:
                return False
            await asyncio.sleep(self._timing.pause_seconds)

    async def _batch(self, step: Step, cutoffs: Cutoffs, report: StepReport) -> Batch:
        size = self._sizes[step]
        started = self._monotonic()
        async with self._store.session() as session:
            batch = await step(session, cutoffs, size)
        took = self._monotonic() - started
        report.add(batch, took, size)
        target = self._timing.batch_seconds
        if took > target:
            self._sizes[step] = max(MIN_BATCH, size // 2)
        elif took < target / 2 and batch.more:
            self._sizes[step] = min(self._timing.max_batch, size * 2)
        return batch

    async def count(self, cutoffs: Cutoffs) -> Tally:
        """What `purge(cutoffs)` would remove now (`subgate purge --dry-run`); changes nothing.

        Counted over the same indexes, except for messages: telling whether each one's
        deliveries have settled reads every dispatched message (pages of a few hundred).
        """
        tally = Tally()
        async with self._store.session() as session:
            await _count_simple(session, cutoffs, tally)
        after: str | None = None
        while True:
            async with self._store.session() as session:
                messages = await session.find(
                    b.OUTBOX_COLLECTION, {"dispatched": True}, limit=_PAGE, after_id=after
                )
                for message in messages:
                    await _count_message(session, message, cutoffs, tally)
            if len(messages) < _PAGE:
                return tally
            after = messages[-1]["id"]


async def _count_simple(session: DocumentSession, cutoffs: Cutoffs, tally: Tally) -> None:
    records, payloads = iso(cutoffs.records), iso(cutoffs.payloads)
    for status in b.SETTLED_EVENTS:
        where = {"status": status, "received_at": Lte(records)}
        tally.add(b.INBOUND_EVENTS, await session.count(b.INBOUND_COLLECTION, where))
    # Bodies of events the records cutoff leaves: those up to the payloads cutoff, less those
    # up to the earlier of the two (removed with their events).
    unexpired: dict[str, Condition] = {b.EXPIRED: None, "status": In(b.SETTLED_EVENTS)}
    upto = await session.count(b.INBOUND_COLLECTION, unexpired | {"received_at": Lte(payloads)})
    earlier = iso(min(cutoffs.payloads, cutoffs.records))
    gone = await session.count(b.INBOUND_COLLECTION, unexpired | {"received_at": Lte(earlier)})
    tally.add(b.INBOUND_PAYLOADS, upto - gone)
    expiry = iso(min(cutoffs.now, max(cutoffs.payloads, cutoffs.records)))
    tally.add(b.IDEMPOTENCY_KEYS, await session.count(idempotency.COLLECTION, {"expires_at": Lte(expiry)}))
    tally.add(b.PROCESSED_INPUTS, await session.count(b.PROCESSED_COLLECTION, {"created_at": Lte(records)}))
    retired: dict[str, Condition] = {"alive": False, "heartbeat_at": Lte(records)}
    tally.add(b.WORKERS, await session.count(b.WORKER_COLLECTION, retired))


async def _count_message(
    session: DocumentSession, message: dict[str, object], cutoffs: Cutoffs, tally: Tally
) -> None:
    occurred = str(message.get("occurred_at"))
    record = occurred <= iso(cutoffs.records)
    payload = message.get(b.EXPIRED) is None and occurred <= iso(cutoffs.payloads)
    if not (record or payload):
        return
    deliveries = await b.deliveries_of(session, str(message["id"]))
    if not b.settled(deliveries):
        return
    if record:
        tally.add(b.OUTBOX_MESSAGES)
        tally.add(b.DELIVERIES, len(deliveries))
        for delivery in deliveries:
            letters = await session.count(b.DEAD_LETTER_COLLECTION, {"delivery_id": delivery["id"]})
            tally.add(b.DEAD_LETTERS, letters)
        return
    tally.add(b.OUTBOX_PAYLOADS)
    tally.add(b.DELIVERY_PAYLOADS, sum(1 for d in deliveries if d.get(b.EXPIRED) is None))
