"""The TaskQueue port on arq. Redis only executes; the database remains the truth.

Job ids are derived from the database state a job acts on, so enqueuing the same
work twice (the sweeper racing a worker) collapses into one queued job. Results
are not kept, so the same id can be queued again once the job has finished.
A failed enqueue is logged and dropped: the sweeper finds the work again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timedelta

import structlog
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import default_queue_name, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from redis.exceptions import RedisError

from domain.shared.clock import Clock, system_clock

PROCESS_INBOUND = "process_inbound"
DELIVER_WEBHOOK = "deliver_webhook"

log = structlog.get_logger()

# arq's own enqueue takes three round trips (WATCH, EXISTS, MULTI/EXEC). This script does the
# same in one: refuse a job id that is queued or has a result, else store the job and queue it.
_ENQUEUE_SCRIPT = """
if redis.call('exists', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('psetex', KEYS[1], ARGV[1], ARGV[2])
redis.call('zadd', KEYS[3], ARGV[3], ARGV[4])
return 1
"""


def redis_settings(url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = 2
    settings.conn_retries = 2
    return settings


class ArqQueue:
    def __init__(self, pool: ArqRedis, clock: Clock = system_clock) -> None:
        self.pool = pool
        self._script = pool.register_script(_ENQUEUE_SCRIPT)
        # The same clock as the domain: a due time it computed is turned into a delay from its "now".
        self._clock = clock

    @classmethod
    async def connect(cls, url: str, clock: Clock = system_clock) -> ArqQueue:
        return cls(await create_pool(redis_settings(url)), clock)

    async def enqueue_inbound(self, event_id: str, trace_carrier: Mapping[str, str]) -> None:
        await self._enqueue(PROCESS_INBOUND, f"inbound:{event_id}", None, event_id, dict(trace_carrier))

    async def enqueue_delivery(
        self, delivery_id: str, version: int, at: datetime, trace_carrier: Mapping[str, str]
    ) -> None:
        delay = at - self._clock()
        await self._enqueue(
            DELIVER_WEBHOOK,
            f"deliver:{delivery_id}:{version}",
            delay if delay > timedelta(0) else None,
            delivery_id,
            dict(trace_carrier),
        )

    async def _enqueue(self, function: str, job_id: str, delay: timedelta | None, *args: object) -> None:
        """Queue a job in arq's format; an id already queued (or with a kept result) is left alone."""
        # arq schedules by wall-clock milliseconds, so its scores come from real time.
        now_ms = time.time_ns() // 1_000_000
        delay_ms = 0 if delay is None else int(delay.total_seconds() * 1000)
        job = serialize_job(function, args, {}, None, now_ms)
        expires_ms = delay_ms + self.pool.expires_extra_ms
        keys = [job_key_prefix + job_id, result_key_prefix + job_id, default_queue_name]
        try:
            await self._script(keys=keys, args=[expires_ms, job, now_ms + delay_ms, job_id])
        except (RedisError, OSError) as error:
            log.warning("enqueue failed; the sweeper will retry", job_id=job_id, error=str(error))

    async def ping(self) -> bool:
        try:
            return bool(await self.pool.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self.pool.aclose()
