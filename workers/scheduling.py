"""The scheduler's step, and the stand-in that runs it while Redis is away.

The step carries out the subscriptions' timed moves that are due (trial reminders,
cancellations at the period end, expiries, unpaid after the grace period; see
`domain.subscriptions.scheduler`) and re-seals a few stored secrets with the first key of
`SUBGATE_SECRET_KEY` after a rotation (nothing once every one is sealed with it; see
`integrations.stores.sealing.resealing`), and takes a bounded step of retention: payloads and
settled records older than the retention settings are removed in small batches (see
`integrations.stores.retention.purge`).

arq's cron runs it (`workers.runner`), as often as the loops look at the store
(`WorkerConfig.poll_seconds`, rounded up to whole seconds). While this worker's arq Worker is
down (Redis cannot be reached), `SchedulerStandIn` runs the same step from the worker's own
loop at the same pace, so that timed moves never wait for Redis. A run repeated (by another
worker's cron, or at the moment Redis comes back) moves nothing twice: the domain settles each
move on the subscription's version. One lock per worker keeps its runs from overlapping.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Mapping
from typing import Any, Final

import structlog

from domain.shared.work import WorkKind
from integrations.stores.documents import StorageError
from integrations.stores.unreadable import SUBSCRIPTIONS
from integrations.telemetry.metrics import UNEXPECTED_ERROR
from workers.deps import WorkerDeps

log = structlog.get_logger()

SECONDS_PER_MINUTE: Final = 60
BUSY: Final = "busy"


def interval_seconds(poll_seconds: float) -> int:
    """How many seconds apart the scheduler runs: the loops' pace, in whole seconds."""
    return max(1, math.ceil(poll_seconds))


def scheduler_seconds(poll_seconds: float) -> set[int]:
    """The seconds of each minute at which arq's cron runs the scheduler."""
    return set(range(0, SECONDS_PER_MINUTE, interval_seconds(poll_seconds)))


async def scheduler_step(deps: WorkerDeps, busy: asyncio.Lock) -> str:
    """One scheduler run: every timed move due now, and the outbox woken for its messages."""
    if busy.locked():
        return BUSY  # the previous run of this worker is still going; the next tick comes soon
    async with busy:
        run = await deps.subscriptions.run_schedule()
        if run.events:
            deps.signal.notify(WorkKind.OUTBOX)
        resealed = 0 if deps.secrets is None else await deps.secrets.step()
        await _retention_step(deps)
    if run.moves:
        log.info("scheduler_ran", moves=run.moves, notifications=run.events)
    if resealed:
        log.info("secrets_resealed", documents=resealed)
    for subscription_id, error in run.failures:
        _log_failure(deps, subscription_id, error)
    return f"{run.moves} moves"


async def _retention_step(deps: WorkerDeps) -> None:
    """One bounded step of retention; a failing store only delays it to a later run."""
    if deps.retention is None:
        return
    try:
        report = await deps.retention.step()
    except (StorageError, OSError) as error:
        log.warning("retention_store_failed", error=str(error))
        return
    except Exception as error:  # retention never stops the scheduler's other work; it tries again later
        log.exception("retention_failed", error=f"{type(error).__name__}: {error}")
        return
    if report.tally.total:
        deps.telemetry.metrics.purged_items(report.tally.counts)
        removed = {kind: count for kind, count in report.tally.counts.items() if count}
        log.info(
            "store_purged",
            **removed,
            batches=report.batches,
            slowest_batch_ms=round(report.slowest_batch_seconds * 1000, 1),
        )


def _log_failure(deps: WorkerDeps, subscription_id: str, error: Exception) -> None:
    """A subscription the scheduler could not move: tried again at its next run."""
    if isinstance(error, StorageError | OSError):
        log.warning("scheduler_store_failed", subscription_id=subscription_id, error=str(error))
        return
    log.error(
        "scheduler_subscription_failed",
        subscription_id=subscription_id,
        error=f"{type(error).__name__}: {error}",
        exc_info=error,
    )
    deps.telemetry.metrics.work_item_failed(SUBSCRIPTIONS, UNEXPECTED_ERROR)


class SchedulerStandIn:
    """Runs the scheduler's step while this worker's arq Worker is down (see the module docstring).

    The arq Worker says when it is running (`redis_answered`, from its start-up hook) and when it
    stopped (`redis_lost`); until it first answers, Redis counts as away.
    """

    def __init__(self, deps: WorkerDeps, busy: asyncio.Lock) -> None:
        self._deps = deps
        # Shared with the arq Worker's cron runs, so that this worker's runs never overlap.
        self.busy = busy
        self._every = interval_seconds(deps.config.poll_seconds)
        self._arq_running = False
        self._covering = False

    async def redis_answered(self, ctx: Mapping[str, Any] | None = None) -> None:  # noqa: ARG002 - arq's hook signature
        """The arq Worker runs: its cron keeps time. (Its `on_startup` hook, hence the context.)"""
        self._arq_running = True
        if self._covering:
            self._covering = False
            log.info("scheduler_back_on_cron")

    def redis_lost(self) -> None:
        """The arq Worker stopped (Redis failed it, or the worker is stopping)."""
        self._arq_running = False

    async def tick(self) -> bool:
        """One look: the scheduler's step if the arq Worker is down. Whether it ran."""
        if self._arq_running:
            return False
        if not self._covering:
            self._covering = True
            log.warning("scheduler_without_redis", every_seconds=self._every)
        try:
            await scheduler_step(self._deps, self.busy)
        except Exception as error:  # noqa: BLE001 - a failed run (the store away) is tried at the next tick
            log.warning("scheduler_run_failed", error=f"{type(error).__name__}: {error}")
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: a look every interval, the first one an interval after the start (the arq
        Worker, starting beside it, normally answers first and runs the scheduler at once)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._every)
            if not stop.is_set():
                await self.tick()
