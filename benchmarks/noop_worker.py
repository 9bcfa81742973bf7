"""The delivery reference: a plain arq worker running no-op jobs, configured like subgate's worker.

`enqueue_noop_jobs` fills the queue before the worker starts, with the same arguments and job id
shape as `deliver_webhook` jobs. `main` runs an arq `Worker` with the settings of
`workers.runner.build_worker` (max_jobs 200, poll_delay 0.05, keep_result 0, the same job
timeout and retry count, a pool from the same Redis settings) until every job has run, then writes
`{"count", "first", "last"}` (times from `time.monotonic()`) to the result file and exits.

Run: `python -m benchmarks.noop_worker REDIS_URL JOBS RESULT_FILE`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any, Final

from arq.connections import create_pool
from arq.worker import Worker, func

from benchmarks.receiver import Arrivals
from integrations.redis.queue import redis_settings
from subgate.runtime import run_async
from subgate.settings import DEFAULT_WORKER_MAX_JOBS
from workers import runner

NOOP_JOB: Final = "noop"
# As in workers.runner.build_worker.
MAX_JOBS: Final = DEFAULT_WORKER_MAX_JOBS
POLL_DELAY_S: Final = runner.POLL_DELAY_SECONDS
JOB_TIMEOUT_S: Final = 15 + 60
MAX_TRIES: Final = 1000
_ENQUEUE_BATCH: Final = 100


async def enqueue_noop_jobs(redis_url: str, jobs: int) -> None:
    pool = await create_pool(redis_settings(redis_url))
    try:
        for start in range(0, jobs, _ENQUEUE_BATCH):
            await asyncio.gather(
                *(
                    pool.enqueue_job(
                        NOOP_JOB, f"dlv_noop_{number}", {}, _job_id=f"deliver:dlv_noop_{number}:0"
                    )
                    for number in range(start, min(jobs, start + _ENQUEUE_BATCH))
                )
            )
    finally:
        await pool.aclose()


async def run_until_done(redis_url: str, jobs: int) -> Arrivals:
    arrivals = Arrivals()
    done = asyncio.Event()

    # Same signature as subgate's `deliver_webhook`; a no-op has no use for the arguments.
    async def noop(ctx: dict[str, Any], delivery_id: str, carrier: dict[str, str]) -> str:  # noqa: ARG001
        arrivals.record()
        if arrivals.count >= jobs:
            done.set()
        return "succeeded"

    worker = Worker(
        functions=[func(noop, name=NOOP_JOB)],
        redis_pool=await create_pool(redis_settings(redis_url)),
        poll_delay=POLL_DELAY_S,
        max_jobs=MAX_JOBS,
        job_timeout=JOB_TIMEOUT_S,
        keep_result=0,
        max_tries=MAX_TRIES,
        handle_signals=False,
        log_results=False,
    )
    running = asyncio.create_task(worker.async_run())
    finished = asyncio.create_task(done.wait())
    await asyncio.wait([running, finished], return_when=asyncio.FIRST_COMPLETED)
    finished.cancel()
    # close() cancels jobs still finishing their bookkeeping; let the last ones complete first.
    in_flight = [task for task in worker.tasks.values() if not task.done()]
    if in_flight:
        await asyncio.wait(in_flight, timeout=JOB_TIMEOUT_S)
    if running.done():
        running.result()  # the worker stopped by itself: surface its error
    await worker.close()  # also cancels the worker's main task
    with contextlib.suppress(asyncio.CancelledError):
        await running
    return arrivals


def main(argv: list[str]) -> int:
    redis_url, jobs, result_file = argv
    arrivals = run_async(run_until_done(redis_url, int(jobs)))  # the same event loop as `subgate worker`
    Path(result_file).write_text(
        json.dumps({"count": arrivals.count, "first": arrivals.first, "last": arrivals.last})
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
