"""Build and run the arq worker, with the sweeper as a background loop."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from arq.worker import Worker, func

from integrations.redis.queue import DELIVER_WEBHOOK, PROCESS_INBOUND
from integrations.storage.documents import StorageError
from workers.deps import WorkerDeps
from workers.tasks import deliver_webhook, process_inbound, sweep

log = structlog.get_logger()

POLL_DELAY_SECONDS = 0.05


async def sweep_forever(deps: WorkerDeps, interval: float) -> None:
    while True:
        try:
            counts = await sweep(deps)
            if any(counts.values()):
                log.info("sweep", **counts)
        except StorageError as error:
            log.warning("sweep skipped: store unavailable", error=str(error))
        except Exception:  # the loop must outlive any single failure; it is logged with its traceback
            log.exception("sweep failed")
        await asyncio.sleep(interval)


def build_worker(
    deps: WorkerDeps,
    *,
    burst: bool = False,
    max_jobs: int | None = None,
    handle_signals: bool = True,
    sweeper: bool = True,
) -> Worker:
    sweeper_task: asyncio.Task[None] | None = None

    async def on_startup(ctx: dict[str, Any]) -> None:  # noqa: ARG001 - arq calls hooks with ctx by name
        nonlocal sweeper_task
        if sweeper:
            sweeper_task = asyncio.create_task(sweep_forever(deps, deps.config.sweep_interval_seconds))

    async def on_shutdown(ctx: dict[str, Any]) -> None:  # noqa: ARG001 - arq calls hooks with ctx by name
        if sweeper_task is not None:
            sweeper_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper_task

    timeout = int(deps.config.delivery_timeout_seconds) + 60
    return Worker(
        functions=[func(process_inbound, name=PROCESS_INBOUND), func(deliver_webhook, name=DELIVER_WEBHOOK)],
        redis_pool=deps.queue.pool,
        ctx={"deps": deps},
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        burst=burst,
        poll_delay=POLL_DELAY_SECONDS if not burst else 0,
        max_jobs=max_jobs or deps.config.max_jobs,
        job_timeout=timeout,
        keep_result=0,
        max_tries=1000,  # a job interrupted by a dying worker runs again; the database bounds real retries
        handle_signals=handle_signals,
        log_results=False,
    )
