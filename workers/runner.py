"""The arq worker: the framework around the loops, its wake-up job and its cron.

The loops themselves (`workers.pipeline.Pipeline`) claim work from the store and do
not depend on Redis. arq adds what needs a shared broker: the `wake` job, which any
process that can reach Redis (the admin CLI after a replay, say) enqueues to make the
workers look at the store at once, and cron jobs.
"""

from __future__ import annotations

from typing import Any

import structlog
from arq.worker import Worker, func

from domain.shared.work import WorkKind
from workers.deps import WorkerDeps

log = structlog.get_logger()

WAKE = "wake"
POLL_DELAY_SECONDS = 0.5


async def wake(ctx: dict[str, Any], kind: str) -> str:
    deps: WorkerDeps = ctx["deps"]
    try:
        deps.signal.notify(WorkKind(kind))
    except ValueError:
        log.warning("wake_ignored", kind=kind)
        return "ignored"
    return "woken"


def build_worker(deps: WorkerDeps, *, burst: bool = False, handle_signals: bool = True) -> Worker:
    if deps.redis is None:
        raise ValueError("an arq worker needs Redis")
    return Worker(
        functions=[func(wake, name=WAKE)],
        redis_pool=deps.redis,
        ctx={"deps": deps},
        burst=burst,
        poll_delay=POLL_DELAY_SECONDS if not burst else 0,
        max_jobs=10,
        job_timeout=60,
        keep_result=0,
        handle_signals=handle_signals,
        log_results=False,
    )
