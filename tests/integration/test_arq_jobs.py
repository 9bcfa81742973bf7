"""arq jobs in a real Redis are JSON: the service queues them so, and the worker runs nothing else.

A pickled job is put into Redis by hand, the way arq stores jobs by default (its own
`serialize_job`, a job key and the queue's sorted set), with a payload that creates a
directory when unpickled. The worker that `subgate worker` and `subgate dev` run drops it
without reading it as a pickle and goes on running the service's JSON jobs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis
from arq.constants import default_queue_name, job_key_prefix
from arq.jobs import serialize_job

from domain.shared.work import WorkKind
from integrations.telemetry.tracing import Telemetry
from subgate.bootstrap import Deps, build, migrate
from subgate.settings import load_settings
from subgate.supervise import supervised_arq_worker
from tests.support.mongo import collect_abandoned_sockets
from tests.support.service_processes import eventually
from workers.runner import WAKE

DEADLINE_SECONDS = 15.0


class _CreatesADirectoryWhenUnpickled:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.mkdir, (str(self.path),))


async def queue_a_pickled_job(redis: ArqRedis, mark: Path) -> str:
    """A `wake` job as arq's default (pickle) serialiser writes it, queued by hand; its id."""
    now_ms = int(time.time() * 1000)
    job_id = "hostile-pickle"
    data = serialize_job(WAKE, (_CreatesADirectoryWhenUnpickled(mark),), {}, None, now_ms)
    await redis.psetex(job_key_prefix + job_id, 60_000, data)
    await redis.zadd(default_queue_name, {job_id: now_ms})
    return job_id


@pytest.fixture
async def deps(tmp_path: Path, redis_url: str) -> AsyncIterator[Deps]:
    settings = load_settings(
        {"SUBGATE_DATA_DIR": str(tmp_path), "SUBGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.db'}"},
        dotenv=None,
    )
    built = await build(settings, redis_url=redis_url, telemetry=Telemetry("subgate-test"))
    try:
        await built.redis.flushdb()
        await migrate(built.store)  # the scheduler's cron runs as the worker starts
        yield built
    finally:
        await built.close()
        collect_abandoned_sockets()


async def test_the_service_queues_jobs_as_json(deps: Deps) -> None:
    job = await deps.redis.enqueue_job(WAKE, "inbound")
    assert job is not None

    stored = await deps.redis.get(job_key_prefix + job.job_id)

    assert isinstance(stored, bytes)
    assert json.loads(stored)["f"] == WAKE
    assert json.loads(stored)["a"] == ["inbound"]


async def test_a_pickled_job_is_dropped_unrun_and_the_worker_goes_on(
    deps: Deps, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mark = tmp_path / "created-by-unpickling"
    woken = asyncio.Event()
    deps.worker.signal.subscribe(WorkKind.INBOUND, woken.set)
    hostile = await queue_a_pickled_job(deps.redis, mark)
    stop = asyncio.Event()
    caplog.set_level(logging.ERROR, logger="arq.worker")
    worker = asyncio.create_task(supervised_arq_worker(deps.worker, stop))
    try:

        async def dropped() -> bool:
            return await deps.redis.zscore(default_queue_name, hostile) is None

        await eventually(dropped, "the worker has taken the pickled job off the queue", DEADLINE_SECONDS)
        assert not mark.exists(), "the pickled job was unpickled"
        assert not woken.is_set(), "the pickled job ran"
        assert await deps.redis.exists(job_key_prefix + hostile) == 0  # dropped, not kept for a retry
        assert f"deserializing job {hostile} failed" in caplog.text

        assert await deps.redis.enqueue_job(WAKE, "inbound") is not None
        async with asyncio.timeout(DEADLINE_SECONDS):
            await woken.wait()  # the JSON job queued next runs in the same worker
        assert not worker.done()
    finally:
        stop.set()
        await worker
    assert not mark.exists()
