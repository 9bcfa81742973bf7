"""The arq worker: the framework around the loops, its wake-up job and its cron.

The loops themselves (`workers.pipeline.Pipeline`) claim work from the store and do
not depend on Redis. arq adds what needs a shared broker: the `wake` job, which any
process that can reach Redis (the admin CLI after a replay, say) enqueues to make the
workers look at the store at once, and the scheduler, a cron job that carries out the
subscriptions' timed moves (trial reminders, cancellations at the period end, expiries,
unpaid after the grace period; see `domain.subscriptions.timed_moves`).

Each scheduler run also re-seals a few stored secrets with the first key of
`SUBGATE_SECRET_KEY` after a rotation (nothing once every one is sealed with it; see
`integrations.stores.sealing.resealing`), and takes a bounded step of retention: payloads and
settled records older than the retention settings are removed in small batches (see
`integrations.stores.retention.purge`).

The scheduler runs as often as the loops look at the store (`WorkerConfig.poll_seconds`,
rounded up to whole seconds, the resolution of arq's cron). With several workers, arq
enqueues each run once under a job id of its own; a run repeated anyway, or two at once,
moves nothing twice (the domain settles it on each subscription's version).

Jobs are JSON (`integrations.redis.jobs`), read and written so by the worker and by the pool
it is given: whatever else Redis holds in the queue is dropped without being run.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, Final

import structlog
from arq.cron import cron
from arq.worker import Worker, func

from domain.shared.work import WorkKind
from integrations.redis.jobs import job_from_json, job_to_json
from integrations.stores.documents import StorageError
from integrations.stores.unreadable import SUBSCRIPTIONS
from integrations.telemetry.metrics import UNEXPECTED_ERROR
from workers.deps import WorkerDeps

log = structlog.get_logger()

WAKE = "wake"
SCHEDULER = "scheduler"
POLL_DELAY_SECONDS = 0.5
SCHEDULER_TIMEOUT_SECONDS: Final = 300
SECONDS_PER_MINUTE: Final = 60
_BUSY: Final = "scheduler_busy"


async def wake(ctx: dict[str, Any], kind: str) -> str:
    deps: WorkerDeps = ctx["deps"]
    try:
        deps.signal.notify(WorkKind(kind))
    except ValueError:
        log.warning("wake_ignored", kind=kind)
        return "ignored"
    return "woken"


async def run_scheduler(ctx: dict[str, Any]) -> str:
    """One scheduler run: every timed move that is due now, and the outbox woken for its messages."""
    deps: WorkerDeps = ctx["deps"]
    busy: asyncio.Lock = ctx[_BUSY]
    if busy.locked():
        return "busy"  # the previous run of this worker is still going; the next tick comes soon
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


def scheduler_seconds(poll_seconds: float) -> set[int]:
    """The seconds of each minute at which the scheduler runs."""
    every = max(1, math.ceil(poll_seconds))
    return set(range(0, SECONDS_PER_MINUTE, every))


def build_worker(deps: WorkerDeps, *, burst: bool = False, handle_signals: bool = True) -> Worker:
    if deps.redis is None:
        raise ValueError("an arq worker needs Redis")
    if deps.redis.job_serializer is not job_to_json or deps.redis.job_deserializer is not job_from_json:
        # The worker queues its cron runs through this pool: they must be JSON too.
        raise ValueError("an arq worker needs a pool that queues JSON jobs (integrations.redis.client)")
    scheduler = cron(
        run_scheduler,
        name=SCHEDULER,
        second=scheduler_seconds(deps.config.poll_seconds),
        run_at_startup=True,
        timeout=SCHEDULER_TIMEOUT_SECONDS,
    )
    return Worker(
        functions=[func(wake, name=WAKE)],
        cron_jobs=[scheduler],
        redis_pool=deps.redis,
        # arq hands each job a copy of this dict: the lock is shared, the copy is not.
        ctx={"deps": deps, _BUSY: asyncio.Lock()},
        burst=burst,
        poll_delay=POLL_DELAY_SECONDS if not burst else 0,
        max_jobs=10,
        job_timeout=60,
        keep_result=0,
        handle_signals=handle_signals,
        log_results=False,
        # JSON both ways, never arq's pickle: a job that is not JSON is dropped unrun.
        job_serializer=job_to_json,
        job_deserializer=job_from_json,
    )
