"""The delivery reference: a plain arq worker running no-op jobs, as fast as arq itself goes.

`enqueue_noop_jobs` fills the queue before the worker starts (arq's own `create_pool` and
`enqueue_job`). `main` runs an arq `Worker` until every job has run, then writes `{"count",
"first", "last"}` (times from `time.monotonic()`) to the result file and exits. The worker runs
on the event loop `subgate worker` uses, with as many jobs at once as a subgate worker has
deliveries in flight (`DEFAULT_WORKER_MAX_JOBS`), arq's default job timeout, no kept results
and the JSON jobs subgate uses (`integrations.redis.jobs`) in place of arq's pickles.
Its poll delay is short (`POLL_DELAY_S`): arq sleeps that long after each batch it starts, so
a long one would cap the reference rather than measure arq.

Run: `SUBGATE_REDIS_URL=redis://:PASSWORD@host:port/0 python -m benchmarks.noop_worker JOBS RESULT_FILE`
(the URL holds a password, so it travels in the environment, not on a command line `ps` shows).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Final

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.worker import Worker, func

from benchmarks.receiver import Arrivals
from integrations.redis.jobs import job_from_json, job_to_json
from subgate.runtime import run_async
from subgate.settings import DEFAULT_WORKER_MAX_JOBS

NOOP_JOB: Final = "noop"
REDIS_URL_VARIABLE: Final = "SUBGATE_REDIS_URL"
MAX_JOBS: Final = DEFAULT_WORKER_MAX_JOBS
POLL_DELAY_S: Final = 0.05
JOB_TIMEOUT_S: Final = 300
_ENQUEUE_BATCH: Final = 100


def redis_settings(redis_url: str) -> RedisSettings:
    return RedisSettings.from_dsn(redis_url)


async def json_pool(redis_url: str) -> ArqRedis:
    return await create_pool(
        redis_settings(redis_url), job_serializer=job_to_json, job_deserializer=job_from_json
    )


async def enqueue_noop_jobs(redis_url: str, jobs: int) -> None:
    pool = await json_pool(redis_url)
    try:
        for start in range(0, jobs, _ENQUEUE_BATCH):
            numbers = range(start, min(jobs, start + _ENQUEUE_BATCH))
            # An argument shaped like the id of one delivery, as a job per delivery would carry.
            await asyncio.gather(*(pool.enqueue_job(NOOP_JOB, f"dlv_noop_{number}") for number in numbers))
    finally:
        await pool.aclose()


async def run_until_done(redis_url: str, jobs: int) -> Arrivals:
    arrivals = Arrivals()
    done = asyncio.Event()

    async def noop(ctx: dict[str, Any], delivery_id: str) -> str:  # noqa: ARG001 - a no-op uses neither
        arrivals.record()
        if arrivals.count >= jobs:
            done.set()
        return "succeeded"

    worker = Worker(
        functions=[func(noop, name=NOOP_JOB)],
        redis_pool=await json_pool(redis_url),
        poll_delay=POLL_DELAY_S,
        max_jobs=MAX_JOBS,
        job_timeout=JOB_TIMEOUT_S,
        keep_result=0,
        handle_signals=False,
        log_results=False,
        job_serializer=job_to_json,
        job_deserializer=job_from_json,
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
    jobs, result_file = argv
    redis_url = os.environ[REDIS_URL_VARIABLE]
    arrivals = run_async(run_until_done(redis_url, int(jobs)))  # the same event loop as `subgate worker`
    Path(result_file).write_text(json.dumps(arrivals.stats()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
