"""The arq worker: the framework around the loops, its wake-up job and its cron.

The loops themselves (`workers.pipeline.Pipeline`) claim work from the store and do
not depend on Redis. arq adds what needs a shared broker: the `wake` job, which any
process that can reach Redis (the admin CLI after a replay, say) enqueues to make the
workers look at the store at once, and the scheduler's cron (`workers.scheduling`: the
same step runs from the worker's own loop while Redis is away).

The scheduler runs as often as the loops look at the store (`WorkerConfig.poll_seconds`,
rounded up to whole seconds, the resolution of arq's cron). With several workers, arq
enqueues each run once under a job id of its own; a run repeated anyway, or two at once,
moves nothing twice (the domain settles it on each subscription's version).

Jobs are JSON (`integrations.redis.jobs`), read and written so by the worker and by the pool
it is given: whatever else Redis holds in the queue is dropped without being run.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import structlog
from arq.cron import cron
from arq.typing import StartupShutdown
from arq.worker import Worker, func

from domain.shared.work import WorkKind
from integrations.redis.jobs import job_from_json, job_to_json
from workers.deps import WorkerDeps
from workers.scheduling import scheduler_seconds, scheduler_step

log = structlog.get_logger()

WAKE = "wake"
SCHEDULER = "scheduler"
POLL_DELAY_SECONDS = 0.5
SCHEDULER_TIMEOUT_SECONDS: Final = 300
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
    """The cron's run of the scheduler's step (see `workers.scheduling`)."""
    return await scheduler_step(ctx["deps"], ctx[_BUSY])


def build_worker(
    deps: WorkerDeps,
    *,
    burst: bool = False,
    handle_signals: bool = True,
    busy: asyncio.Lock | None = None,
    on_startup: StartupShutdown | None = None,
) -> Worker:
    """The arq Worker; `busy` is the lock its scheduler runs share with the stand-in (one of its
    own when None), `on_startup` runs once it has reached Redis."""
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
        ctx={"deps": deps, _BUSY: busy or asyncio.Lock()},
        on_startup=on_startup,
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
