"""The queue gauges (`subgate.queue.depth`, `subgate.queue.due`), sampled from the store.

OpenTelemetry reads a gauge through a synchronous callback, at collection time, while the
store only answers asynchronously; so the worker counts the queues every few seconds, in a
loop of its own, and leaves the figures in `Metrics`, where each collection (a `/metrics`
scrape, an OTLP export) reads the latest ones. A store that cannot be counted does not stop
the worker: the gauges report nothing until it answers again (a stale figure would look
current), and the outage is logged once, when it starts, and once more when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

import structlog

from integrations.stores.backlog import QueueCounts
from integrations.stores.documents import StorageError
from integrations.telemetry.metrics import DELIVERIES, INBOUND, OUTBOX, Metrics

log = structlog.get_logger()

# Seconds between two counts: each is a few index counts, cheap enough to repeat this often,
# and finer than a usual scrape interval (15 s or more).
SAMPLE_SECONDS: Final = 5.0


class QueueGauges:
    """Counts the store's queues into the metrics, now (`sample`) or every `every` seconds (`run`)."""

    def __init__(self, counts: QueueCounts, metrics: Metrics, *, every: float = SAMPLE_SECONDS) -> None:
        self._counts = counts
        self._metrics = metrics
        self._every = every
        self._failing = False

    async def sample(self) -> bool:
        """Count once; False when the store could not be counted (the gauges then report nothing)."""
        try:
            backlogs = await self._counts.count()
        except StorageError as error:
            self._metrics.queues_unknown()
            if not self._failing:
                self._failing = True
                log.warning("queue_count_failed", error=str(error))
            return False
        if self._failing:
            self._failing = False
            log.info("queue_count_recovered")
        queues = {INBOUND: backlogs.inbound, OUTBOX: backlogs.outbox, DELIVERIES: backlogs.deliveries}
        self._metrics.queues_counted(
            depth={queue: backlog.depth for queue, backlog in queues.items()},
            due={queue: backlog.due for queue, backlog in queues.items()},
        )
        return True

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._every)
